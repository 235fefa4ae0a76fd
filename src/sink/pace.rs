//! How fast lines arrive, as the writer sees it, so that it can sleep until
//! a batch is there instead of being woken by a caller (see the queue's
//! `linger`).

use std::time::{Duration, Instant};

use crate::sink::queue::LINGER;

/// The rate lines arrive at, as the writer sees it between two batches.
#[derive(Debug, Default)]
pub(crate) struct Pace {
    last_take: Option<Instant>,
    /// Bytes per second over the last batch.
    rate: f64,
}

impl Pace {
    /// A batch of `bytes` was taken now.
    pub(crate) fn took(&mut self, bytes: usize) {
        let now = Instant::now();
        if let Some(last) = self.last_take {
            let secs = now.duration_since(last).as_secs_f64();
            self.rate = if secs > 0.0 { bytes as f64 / secs } else { 0.0 };
        }
        self.last_take = Some(now);
    }

    /// How long `missing` bytes should take to arrive: at the rate seen
    /// `since` the linger started (bytes arrived, time), or at the last
    /// batch's rate before the first sleep. No arrivals, no estimate: the
    /// whole linger.
    pub(crate) fn time_for(&self, missing: usize, since: Option<(usize, Duration)>) -> Duration {
        let rate = match since {
            None => self.rate,
            Some((bytes, time)) if !time.is_zero() => bytes as f64 / time.as_secs_f64(),
            Some(_) => 0.0,
        };
        match rate > 0.0 {
            true => Duration::from_secs_f64((missing as f64 / rate).min(LINGER.as_secs_f64())),
            false => LINGER,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_linger_lasts_as_long_as_the_arrival_rate_says() {
        let ms = Duration::from_millis;
        let pace = Pace {
            last_take: None,
            rate: 1_000_000.0,
        };
        // Before the first sleep: the last batch's rate (1 MB/s).
        assert_eq!(pace.time_for(1_000, None), ms(1));
        // Then the rate since the linger started: 500 bytes in 1 ms.
        assert_eq!(pace.time_for(1_000, Some((500, ms(1)))), ms(2));
        // Nothing arrived, or no rate known: the whole linger.
        assert_eq!(pace.time_for(1_000, Some((0, ms(1)))), LINGER);
        assert_eq!(Pace::default().time_for(1_000, None), LINGER);
        // Never past the linger.
        assert_eq!(pace.time_for(1 << 30, None), LINGER);
    }

    #[test]
    fn the_rate_is_what_a_batch_brought_since_the_last_one() {
        let mut pace = Pace::default();
        pace.took(1 << 20);
        assert_eq!(pace.rate, 0.0, "no rate from a first batch");
        std::thread::sleep(Duration::from_millis(2));
        pace.took(1_000);
        // 1,000 bytes in at least 2 ms: at most 500 kB/s.
        assert!(pace.rate > 0.0 && pace.rate <= 500_000.0, "{}", pace.rate);
    }
}
