//! Where "now" comes from: the system clock, or an injected one in tests.

use std::fmt::Debug;
use std::time::SystemTime;

/// A source of wall-clock time.
///
/// The layer stamps each event with [`Clock::now`] and files it under that
/// instant's UTC date; the writer uses it to decide when a day has ended
/// (retention, compression, daily sums). Inject your own to simulate time in
/// tests or replays.
pub trait Clock: Send + Sync + Debug + 'static {
    /// The current time.
    fn now(&self) -> SystemTime;
}

/// The operating system's clock ([`SystemTime::now`]). The default.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// Milliseconds since the Unix epoch (negative before 1970).
pub(crate) fn unix_millis(t: SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => whole_millis(d),
        Err(e) => -whole_millis(e.duration()),
    }
}

/// `d` in whole milliseconds, saturating at `i64::MAX` (without the
/// 128-bit arithmetic of `Duration::as_millis`).
fn whole_millis(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_secs())
        .ok()
        .and_then(|s| s.checked_mul(1000))
        .and_then(|ms| ms.checked_add(i64::from(d.subsec_millis())))
        .unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_millis_truncates_to_whole_milliseconds_and_saturates() {
        use std::time::Duration;
        let at = |d: Duration| unix_millis(SystemTime::UNIX_EPOCH + d);
        assert_eq!(at(Duration::ZERO), 0);
        assert_eq!(
            at(Duration::from_nanos(1_759_758_190_123_999_999)),
            1_759_758_190_123
        );
        let before = SystemTime::UNIX_EPOCH - Duration::from_micros(2_500);
        assert_eq!(unix_millis(before), -2);
        assert_eq!(whole_millis(Duration::MAX), i64::MAX);
        assert_eq!(
            whole_millis(Duration::from_secs(i64::MAX as u64 / 1000)),
            i64::MAX / 1000 * 1000
        );
    }
}
