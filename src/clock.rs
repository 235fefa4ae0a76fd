//! Where "now" comes from: the system clock, or an injected one in tests.

use std::fmt::Debug;
use std::sync::{Arc, OnceLock};
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

// === EventClock ===

/// How often a thread reads the system clock again, at most: in between,
/// the time of an event is the last reading plus the CPU counter's
/// nanoseconds since. The counter runs at a constant rate, so the error is
/// what the system clock is slewed by in that time (NTP slews by at most
/// 500 ppm: 25 µs in 50 ms), and a step of the clock shows within 50 ms.
const REREAD_NS: u64 = 50_000_000;

/// How the layer reads the time of each event.
///
/// Reading the system clock costs a `clock_gettime` (20–30 ns, a tenth of
/// the layer's work on an event); a calibrated CPU counter read
/// (`quanta`, already used by the Prometheus exporter) costs a third of
/// that. An injected [`Clock`] is read for every event.
#[derive(Debug, Clone)]
pub(crate) enum EventClock {
    /// The system clock, through the CPU counter between readings.
    System(quanta::Clock),
    /// An injected clock.
    Custom(Arc<dyn Clock>),
}

/// A thread's last reading of the system clock, and the counter then.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Anchor {
    raw: u64,
    wall_ns: i64,
    set: bool,
}

impl EventClock {
    /// The system clock (through the counter) when `system`, else `clock`.
    pub(crate) fn new(clock: Arc<dyn Clock>, system: bool) -> Self {
        static COUNTER: OnceLock<quanta::Clock> = OnceLock::new();
        match system {
            // The first one calibrates the counter (about a millisecond, once).
            true => EventClock::System(COUNTER.get_or_init(quanta::Clock::new).clone()),
            false => EventClock::Custom(clock),
        }
    }

    /// Now, in milliseconds since the Unix epoch; `anchor` is the calling
    /// thread's.
    #[inline]
    pub(crate) fn now_ms(&self, anchor: &mut Anchor) -> i64 {
        let counter = match self {
            EventClock::System(counter) => counter,
            EventClock::Custom(clock) => return unix_millis(clock.now()),
        };
        let raw = counter.raw();
        let since = counter.delta_as_nanos(anchor.raw, raw);
        // The counter going back (another core's, or after a suspend) reads again too.
        if !anchor.set || raw < anchor.raw || since >= REREAD_NS {
            let wall_ns = unix_nanos(SystemTime::now());
            *anchor = Anchor {
                raw: counter.raw(),
                wall_ns,
                set: true,
            };
            return wall_ns.div_euclid(1_000_000);
        }
        // `since` < 50 ms: no overflow.
        (anchor.wall_ns + since as i64).div_euclid(1_000_000)
    }
}

/// Nanoseconds since the Unix epoch (negative before 1970), saturating.
fn unix_nanos(t: SystemTime) -> i64 {
    let nanos = |d: std::time::Duration| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => nanos(d),
        Err(e) => -nanos(e.duration()),
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
    fn the_counter_clock_agrees_with_the_system_clock() {
        let clock = EventClock::new(Arc::new(SystemClock), true);
        let mut anchor = Anchor::default();
        for _ in 0..3 {
            let before = unix_millis(SystemTime::now());
            let first = clock.now_ms(&mut anchor);
            std::thread::sleep(std::time::Duration::from_millis(30));
            let later = clock.now_ms(&mut anchor);
            let after = unix_millis(SystemTime::now());
            // Within a millisecond of the system clock, both times.
            assert!(
                before - 1 <= first && first <= after + 1,
                "{before} {first} {after}"
            );
            assert!(
                first + 29 <= later && later <= after + 1,
                "{first} {later} {after}"
            );
        }
    }

    #[test]
    fn an_injected_clock_is_read_for_every_event() {
        #[derive(Debug)]
        struct Fixed;
        impl Clock for Fixed {
            fn now(&self) -> SystemTime {
                SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(1_759_758_190_123)
            }
        }
        let clock = EventClock::new(Arc::new(Fixed), false);
        assert_eq!(clock.now_ms(&mut Anchor::default()), 1_759_758_190_123);
        let before = SystemTime::UNIX_EPOCH - std::time::Duration::from_nanos(2_500_001);
        assert_eq!(unix_nanos(before), -2_500_001);
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
}
