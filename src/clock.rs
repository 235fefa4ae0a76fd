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
/// nanoseconds since. The counter runs at a constant rate, so the drift is
/// what the system clock is slewed by in that time (NTP slews by at most
/// 500 ppm: 2.5 µs in 5 ms), and a step of the clock shows within 5 ms.
const REREAD_NS: u64 = 5_000_000;

/// An event whose counter time falls this close to a millisecond boundary
/// reads the system clock itself: the drift (far below this) can then
/// never put its `ts` in another millisecond than the system clock's.
const NEAR_BOUNDARY_NS: i64 = 20_000;

/// A reading of the system clock is kept only when the counter moved less
/// than this around it (the thread was not preempted in between).
const STEADY_READ_NS: u64 = 10_000;

/// How the layer reads the time of each event.
///
/// Reading the system clock costs a `clock_gettime` (20–30 ns, a tenth of
/// the layer's work on an event); a calibrated CPU counter read
/// (`quanta`, already used by the Prometheus exporter) costs a third of
/// that. The system clock is read again every 5 ms and whenever the
/// counter's time is within 20 µs of a millisecond boundary (4 % of
/// events), so a line's `ts` is never in another millisecond than the
/// system clock's. An injected [`Clock`] is read for every event.
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
    /// thread's. With the system clock, the millisecond is always the one
    /// `SystemTime::now()` would give at some instant during the call.
    #[inline]
    pub(crate) fn now_ms(&self, anchor: &mut Anchor) -> i64 {
        let counter = match self {
            EventClock::System(counter) => counter,
            EventClock::Custom(clock) => return unix_millis(clock.now()),
        };
        let raw = counter.raw();
        let since = counter.delta_as_nanos(anchor.raw, raw);
        // The counter going back (another core's, or after a suspend) reads again too.
        if anchor.set && raw >= anchor.raw && since < REREAD_NS {
            // `since` < 5 ms: no overflow.
            let ns = anchor.wall_ns + since as i64;
            let in_ms = ns.rem_euclid(1_000_000);
            if (NEAR_BOUNDARY_NS..1_000_000 - NEAR_BOUNDARY_NS).contains(&in_ms) {
                return ns.div_euclid(1_000_000);
            }
        }
        *anchor = Anchor::read(counter);
        anchor.wall_ns.div_euclid(1_000_000)
    }
}

impl Anchor {
    /// The system clock and the counter read together: a reading the
    /// thread was preempted during is taken again (up to 3 times).
    fn read(counter: &quanta::Clock) -> Anchor {
        let mut anchor = Anchor::default();
        for _ in 0..3 {
            let before = counter.raw();
            let wall_ns = unix_nanos(SystemTime::now());
            let after = counter.raw();
            anchor = Anchor {
                raw: before,
                wall_ns,
                set: true,
            };
            if counter.delta_as_nanos(before, after) < STEADY_READ_NS {
                break;
            }
        }
        anchor
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

    /// Stamps `n` events, after `pause(i)` each, and checks each is a
    /// millisecond the system clock showed during the call.
    fn stamps_within_the_system_clock(n: u32, pause: impl Fn(u32) -> std::time::Duration) {
        let clock = EventClock::new(Arc::new(SystemClock), true);
        let mut anchor = Anchor::default();
        for i in 0..n {
            std::thread::sleep(pause(i));
            let before = unix_millis(SystemTime::now());
            let ms = clock.now_ms(&mut anchor);
            let after = unix_millis(SystemTime::now());
            assert!(before <= ms && ms <= after, "{before} {ms} {after}");
        }
    }

    #[test]
    fn the_counter_clock_never_leaves_the_system_clocks_millisecond() {
        stamps_within_the_system_clock(200_000, |_| std::time::Duration::ZERO);
    }

    #[test]
    fn the_same_holds_after_pauses_shorter_and_longer_than_a_reread() {
        // 0 to 9.5 ms: the counter path after idle time, and fresh readings.
        stamps_within_the_system_clock(40, |i| {
            std::time::Duration::from_micros(250 * u64::from(i))
        });
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
