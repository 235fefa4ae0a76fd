//! Event counts over time in bounded memory: buckets start at one second
//! and merge into wider ones (each width a multiple of the last, so merging
//! is exact) whenever too many are held.

use std::collections::BTreeMap;

use crate::timespec::{self, DAY_MS};

/// Bucket widths (ms); each divides the next.
const LADDER: [i64; 14] = [
    1_000,
    5_000,
    15_000,
    30_000,
    60_000,
    300_000,
    900_000,
    1_800_000,
    3_600_000,
    10_800_000,
    21_600_000,
    43_200_000,
    DAY_MS,
    7 * DAY_MS,
];
/// Buckets held while scanning before merging into wider ones.
const MAX_HELD: usize = 480;
/// Buckets shown at most when the width is chosen automatically.
const MAX_SHOWN: i64 = 120;

#[derive(Debug, Default, Clone, PartialEq)]
struct Bucket {
    events: u64,
    errors: u64,
    /// `openrouter_error` count per HTTP status text.
    statuses: BTreeMap<String, u64>,
}

/// Counts per time bucket.
#[derive(Debug)]
pub(crate) struct Timeline {
    width_ms: i64,
    /// Set by `--every`: never merged.
    fixed: bool,
    buckets: BTreeMap<i64, Bucket>,
}

/// Dense series over consecutive buckets, ready to chart.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Rendered {
    pub(crate) width_ms: i64,
    pub(crate) labels: Vec<String>,
    pub(crate) events: Vec<f64>,
    pub(crate) errors: Vec<f64>,
    /// Per HTTP status, in status order.
    pub(crate) statuses: Vec<(String, Vec<f64>)>,
}

impl Timeline {
    /// A timeline with fixed buckets of `every_ms`, or fitted ones.
    pub(crate) fn new(every_ms: Option<i64>) -> Self {
        Timeline {
            width_ms: every_ms.unwrap_or(LADDER[0]),
            fixed: every_ms.is_some(),
            buckets: BTreeMap::new(),
        }
    }

    /// Counts an event at `ts_ms`.
    pub(crate) fn add(&mut self, ts_ms: i64, is_error: bool, status: Option<&str>) {
        let b = self
            .buckets
            .entry(ts_ms.div_euclid(self.width_ms) * self.width_ms)
            .or_default();
        b.events += 1;
        b.errors += u64::from(is_error);
        if let Some(s) = status {
            match b.statuses.get_mut(s) {
                Some(n) => *n += 1,
                None => drop(b.statuses.insert(s.to_owned(), 1)),
            }
        }
        while !self.fixed && self.buckets.len() > MAX_HELD {
            let Some(&wider) = LADDER.iter().find(|&&w| w > self.width_ms) else {
                break;
            };
            self.merge_into(wider);
        }
    }

    fn merge_into(&mut self, width_ms: i64) {
        let mut merged: BTreeMap<i64, Bucket> = BTreeMap::new();
        for (start, b) in std::mem::take(&mut self.buckets) {
            let m = merged
                .entry(start.div_euclid(width_ms) * width_ms)
                .or_default();
            m.events += b.events;
            m.errors += b.errors;
            for (s, n) in b.statuses {
                *m.statuses.entry(s).or_default() += n;
            }
        }
        self.buckets = merged;
        self.width_ms = width_ms;
    }

    /// The buckets from the first to the last (empty ones included), merged
    /// to at most [`MAX_SHOWN`] unless the width is fixed.
    pub(crate) fn finish(&mut self) -> Rendered {
        let span = |t: &Timeline| match (t.buckets.first_key_value(), t.buckets.last_key_value()) {
            (Some((a, _)), Some((b, _))) => (b - a) / t.width_ms + 1,
            _ => 0,
        };
        while !self.fixed && span(self) > MAX_SHOWN {
            let Some(&wider) = LADDER.iter().find(|&&w| w > self.width_ms) else {
                break;
            };
            self.merge_into(wider);
        }
        self.dense()
    }

    fn dense(&self) -> Rendered {
        let first = self.buckets.first_key_value().map_or(0, |(k, _)| *k);
        let n = self
            .buckets
            .last_key_value()
            .map_or(0, |(k, _)| (k - first) / self.width_ms + 1);
        let starts: Vec<i64> = (0..n).map(|i| first + i * self.width_ms).collect();
        let empty = Bucket::default();
        let at = |s: &i64| self.buckets.get(s).unwrap_or(&empty);
        let mut names: Vec<&String> = self
            .buckets
            .values()
            .flat_map(|b| b.statuses.keys())
            .collect();
        names.sort();
        names.dedup();
        Rendered {
            width_ms: self.width_ms,
            labels: starts.iter().map(|&s| label(s, self.width_ms)).collect(),
            events: starts.iter().map(|s| at(s).events as f64).collect(),
            errors: starts.iter().map(|s| at(s).errors as f64).collect(),
            statuses: names
                .into_iter()
                .map(|n| {
                    (
                        n.clone(),
                        starts
                            .iter()
                            .map(|s| at(s).statuses.get(n).copied().unwrap_or(0) as f64)
                            .collect(),
                    )
                })
                .collect(),
        }
    }
}

/// Axis text of a bucket start: the date for day buckets, else date and
/// time (with seconds below a minute).
fn label(start_ms: i64, width_ms: i64) -> String {
    let t = timespec::format_ms(start_ms);
    match width_ms {
        w if w >= DAY_MS => t[..10].to_owned(),
        w if w >= 60_000 => format!("{} {}", &t[5..10], &t[11..16]),
        _ => t[11..19].to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_759_708_800_000; // 2025-10-06T00:00:00Z

    #[test]
    fn fixed_buckets_are_dense_and_count_statuses() {
        let mut t = Timeline::new(Some(60_000));
        t.add(T0 + 5_000, false, None);
        t.add(T0 + 10_000, true, Some("429"));
        t.add(T0 + 125_000, true, Some("500"));
        let r = t.finish();
        assert_eq!(r.labels, ["10-06 00:00", "10-06 00:01", "10-06 00:02"]);
        assert_eq!(
            (r.events, r.errors),
            (vec![2.0, 0.0, 1.0], vec![1.0, 0.0, 1.0])
        );
        assert_eq!(
            r.statuses,
            [
                ("429".to_owned(), vec![1.0, 0.0, 0.0]),
                ("500".to_owned(), vec![0.0, 0.0, 1.0])
            ]
        );
    }

    #[test]
    fn fitted_buckets_merge_exactly_to_a_bounded_count() {
        let mut t = Timeline::new(None);
        let n = 3 * 24 * 3600; // one event a second for three days
        for i in 0..n {
            t.add(T0 + i * 1000, i % 10 == 0, None);
        }
        assert!(t.buckets.len() <= MAX_HELD);
        let r = t.finish();
        assert_eq!(r.width_ms, 3_600_000);
        assert_eq!(r.labels.len(), 72);
        assert_eq!(r.events.iter().sum::<f64>(), n as f64);
        assert_eq!(r.errors.iter().sum::<f64>(), (n / 10) as f64);
        assert_eq!(label(T0, DAY_MS), "2025-10-06");
        assert_eq!(label(T0 + 61_000, 1_000), "00:01:01");
    }
}
