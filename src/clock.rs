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

/// Days since the Unix epoch of a millisecond timestamp (UTC).
pub(crate) fn day_of(unix_ms: i64) -> i64 {
    unix_ms.div_euclid(86_400_000)
}

/// The civil UTC date (year, month, day) of a day number (days since 1970-01-01).
///
/// Howard Hinnant's `civil_from_days`; exact for every `i32` year.
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Day number of a civil UTC date (inverse of [`civil_from_days`]).
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from(if m > 2 { m - 3 } else { m + 9 });
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DD` of a day number.
pub(crate) fn date_string(day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_round_trip_and_match_known_days() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_367), (2025, 10, 6));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        for day in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(day);
            assert_eq!(days_from_civil(y, m, d), day);
        }
    }

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

    #[test]
    fn day_of_negative_millis_is_the_previous_day() {
        assert_eq!(day_of(-1), -1);
        assert_eq!(day_of(86_399_999), 0);
        assert_eq!(day_of(86_400_000), 1);
        assert_eq!(date_string(day_of(1_759_758_190_123)), "2025-10-06");
    }
}
