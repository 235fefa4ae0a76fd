//! Percentiles of a numeric field in bounded memory: exact (nearest rank)
//! up to [`EXACT_CAP`] values per group, then a log-bucket sketch with at
//! most [`RELATIVE_ERROR`] relative error (the DDSketch idea).

use std::collections::BTreeMap;

/// Values kept exactly per group before switching to the sketch.
pub(crate) const EXACT_CAP: usize = 4096;
/// Worst relative error of a sketched percentile.
pub(crate) const RELATIVE_ERROR: f64 = 0.005;

/// Count, min, max, mean and percentiles of the values seen.
#[derive(Debug, Clone, Default)]
pub(crate) struct ValueStats {
    n: u64,
    sum: f64,
    min: f64,
    max: f64,
    exact: Vec<f64>,
    /// Boxed: most groups never need one, and a group's size is the
    /// memory of `stats` with many groups.
    sketch: Option<Box<Sketch>>,
}

/// Log-spaced buckets: index `i` holds magnitudes in `(γ^(i-1), γ^i]`.
#[derive(Debug, Clone, Default)]
struct Sketch {
    positive: BTreeMap<i32, u64>,
    negative: BTreeMap<i32, u64>,
    zeros: u64,
}

/// What [`ValueStats::summary`] reports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Summary {
    pub(crate) n: u64,
    pub(crate) p50: f64,
    pub(crate) p95: f64,
    pub(crate) p99: f64,
    pub(crate) min: f64,
    pub(crate) max: f64,
    pub(crate) mean: f64,
    /// The sum, in the order the values came.
    pub(crate) sum: f64,
    /// False once the group outgrew [`EXACT_CAP`] and percentiles are sketched.
    pub(crate) exact: bool,
}

fn gamma() -> f64 {
    (1.0 + RELATIVE_ERROR) / (1.0 - RELATIVE_ERROR)
}

impl ValueStats {
    /// Adds a value; non-finite values are ignored.
    pub(crate) fn push(&mut self, v: f64) {
        if !v.is_finite() {
            return;
        }
        if self.n == 0 {
            (self.min, self.max) = (v, v);
        }
        self.n += 1;
        self.sum += v;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        match &mut self.sketch {
            Some(s) => s.push(v),
            None if self.exact.len() < EXACT_CAP => self.exact.push(v),
            None => {
                let mut s = Sketch::default();
                self.exact.drain(..).chain([v]).for_each(|x| s.push(x));
                self.sketch = Some(Box::new(s));
            }
        }
    }

    /// The summary, or `None` if no value was seen.
    pub(crate) fn summary(&mut self) -> Option<Summary> {
        if self.n == 0 {
            return None;
        }
        self.exact.sort_by(f64::total_cmp);
        let q = |p| self.quantile(p).clamp(self.min, self.max);
        Some(Summary {
            n: self.n,
            p50: q(0.50),
            p95: q(0.95),
            p99: q(0.99),
            min: self.min,
            max: self.max,
            mean: self.sum / self.n as f64,
            sum: self.sum,
            exact: self.sketch.is_none(),
        })
    }

    /// Nearest rank: the smallest value with at least `p·n` values at or
    /// below it. Expects `exact` sorted.
    fn quantile(&self, p: f64) -> f64 {
        let rank = ((p * self.n as f64).ceil() as u64).clamp(1, self.n);
        match &self.sketch {
            Some(s) => s.at_rank(rank),
            None => self.exact[(rank - 1) as usize],
        }
    }
}

impl Sketch {
    fn index(magnitude: f64) -> i32 {
        (magnitude.ln() / gamma().ln()).ceil() as i32
    }

    fn value(index: i32) -> f64 {
        2.0 * gamma().powi(index) / (gamma() + 1.0)
    }

    fn push(&mut self, v: f64) {
        if v > 0.0 {
            *self.positive.entry(Self::index(v)).or_default() += 1;
        } else if v < 0.0 {
            *self.negative.entry(Self::index(-v)).or_default() += 1;
        } else {
            self.zeros += 1;
        }
    }

    /// The representative value of the `rank`-th smallest value (1-based).
    fn at_rank(&self, rank: u64) -> f64 {
        let negatives = self
            .negative
            .iter()
            .rev()
            .map(|(&i, &c)| (-Self::value(i), c));
        let zeros = std::iter::once((0.0, self.zeros));
        let positives = self.positive.iter().map(|(&i, &c)| (Self::value(i), c));
        let mut seen = 0;
        for (value, count) in negatives.chain(zeros).chain(positives) {
            seen += count;
            if seen >= rank {
                return value;
            }
        }
        f64::NAN
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_groups_give_exact_nearest_rank_percentiles() {
        let mut s = ValueStats::default();
        for v in [0.5, 0.1, 0.4, 0.2, 0.3, f64::NAN] {
            s.push(v);
        }
        let sum = s.summary().expect("values");
        // n = 5: P50 is rank ceil(2.5) = 3, P95 and P99 rank 5.
        assert_eq!((sum.n, sum.p50, sum.p95, sum.p99), (5, 0.3, 0.5, 0.5));
        assert_eq!((sum.min, sum.max, sum.exact), (0.1, 0.5, true));
        assert_eq!(sum.mean, (0.5 + 0.1 + 0.4 + 0.2 + 0.3) / 5.0);
        assert!(ValueStats::default().summary().is_none());
    }

    #[test]
    fn large_groups_stay_within_the_relative_error() {
        let mut s = ValueStats::default();
        let n = 100_000;
        for i in 1..=n {
            s.push(i as f64 / 1000.0);
        }
        let sum = s.summary().expect("values");
        assert!(!sum.exact);
        for (got, want) in [(sum.p50, 50.0), (sum.p95, 95.0), (sum.p99, 99.0)] {
            assert!(
                (got - want).abs() <= want * RELATIVE_ERROR * 1.01,
                "{got} vs {want}"
            );
        }
        assert_eq!((sum.min, sum.max), (0.001, 100.0));
    }

    #[test]
    fn sketches_order_negatives_zeros_and_positives() {
        let mut s = ValueStats::default();
        for i in 0..=EXACT_CAP {
            s.push([-2.0, 0.0, 3.0][i % 3]);
        }
        let sum = s.summary().expect("values");
        assert!((sum.p50 - 0.0).abs() < 1e-12);
        assert!((sum.p99 - 3.0).abs() <= 3.0 * RELATIVE_ERROR);
        assert_eq!(sum.min, -2.0);
    }
}
