//! What each thread remembers of its last updates through one engine, so a
//! repeated event with the same labels skips key building, hashing and the
//! series lock.

use std::cell::RefCell;

use thread_local::ThreadLocal;

use crate::capture::value::{EventView, FieldValue, FoundAt};
use crate::contract::level::LineLevel;
use crate::rules::exemplars::Slots;
use crate::rules::plan::Plans;
use crate::rules::series::{Handle, LabelKey, MAX_LABEL_BYTES};
use crate::words::bytes_eq;

/// Every thread's [`Recent`] for one engine.
#[derive(Debug, Default)]
pub(crate) struct RecentMemory(ThreadLocal<RefCell<Recent>>);

impl RecentMemory {
    /// Runs `f` on this thread's [`Recent`] (sized for `plans` and `rules`
    /// rules), or on a fresh, forgetful one when re-entered (a recorder
    /// logging from inside an update).
    pub(crate) fn with<R>(
        &self,
        plans: &Plans,
        rules: usize,
        f: impl FnOnce(&mut Recent) -> R,
    ) -> R {
        let fresh = || {
            RefCell::new(Recent {
                labels: plans.groups.iter().map(|_| Default::default()).collect(),
                series: vec![None; rules],
                exemplars: vec![None; rules],
                ..Recent::default()
            })
        };
        match self.0.get_or(fresh).try_borrow_mut() {
            Ok(mut recent) => f(&mut recent),
            Err(_) => f(&mut Recent::default()),
        }
    }
}

/// What one thread remembers of its last updates through one engine: most
/// callsites log the same event with the same labels again and again, and a
/// repeat then costs a few compares instead of key building, hashing and a
/// lock per metric. Kept per engine, so engines never share entries and the
/// memory goes with the engine.
#[derive(Debug, Default)]
pub(crate) struct Recent {
    pub(crate) key: LabelKey,
    pub(crate) events: Option<LastEvents>,
    /// Per `evt` with rules (empty when re-entered: nothing is remembered then).
    pub(crate) labels: Vec<RecentLabels>,
    /// Per rule: the handle last found, and the stamp of the label values
    /// it was found for (see [`RecentLabels`]).
    pub(crate) series: Vec<Option<(Handle, u64)>>,
    /// Per rule: the exemplar slots last found (for rules with exemplar
    /// fields), and the stamp of the label values they were found for.
    pub(crate) exemplars: Vec<Option<(Slots, u64)>>,
}

/// The `telemetry_events_total` series this thread counted last, and the
/// rules of its `evt`.
#[derive(Debug)]
pub(crate) struct LastEvents {
    pub(crate) evt: String,
    pub(crate) level: LineLevel,
    pub(crate) source: String,
    pub(crate) counter: metrics::Counter,
    pub(crate) group: Option<usize>,
}

impl LastEvents {
    pub(crate) fn matches(&self, ev: &dyn EventView, level: LineLevel) -> bool {
        self.level == level
            && bytes_eq(self.evt.as_bytes(), ev.evt().as_bytes())
            && bytes_eq(self.source.as_bytes(), ev.source().as_bytes())
    }
}

// === RecentLabels ===

/// Field text a thread keeps per `evt`, at most: longer values are never
/// taken as unchanged, so their rules look their series up each time.
const MAX_REMEMBERED_TEXT: usize = 4 * MAX_LABEL_BYTES;

/// The label field values of a thread's last event of one `evt`, as field
/// values (not label text), and when each last changed.
///
/// Label text is a function of the field value alone (its type and
/// contents), so a rule whose fields have not changed since its handle was
/// found needs the same series: no cleaning, key, hash or lock. Values that
/// render alike but differ (`429` and `"429"`, `0.0` and `-0.0`) count as
/// changed. Each distinct field is compared once per event, however many
/// rules use it.
#[derive(Debug, Default)]
pub(crate) struct RecentLabels {
    seen: Vec<Seen>,
    text: String,
    /// Per value: the stamp of the event that last changed it.
    changed_at: Vec<u64>,
    /// Counts events whose values changed.
    stamp: u64,
    /// Where each field of the `evt`'s rules was in the last event.
    found_at: Vec<Option<FoundAt>>,
}

/// One field value as seen, its text held in [`RecentLabels::text`].
#[derive(Debug, Clone, Copy)]
enum Seen {
    /// Never equal: not seen yet, or too long to keep.
    Unknown,
    Missing,
    I64(i64),
    U64(u64),
    I128(i128),
    U128(u128),
    /// The bits, so `0.0` and `-0.0` (written differently) stay apart.
    F64(u64),
    Bool(bool),
    Str(usize, usize),
}

impl RecentLabels {
    /// Compares `values` (`value_of(0..n)`) with the last ones and keeps
    /// them; returns the stamp of these values.
    pub(crate) fn observe<'v>(
        &mut self,
        n: usize,
        value_of: impl Fn(usize) -> Option<FieldValue<'v>>,
    ) -> u64 {
        if self.seen.len() != n {
            *self = RecentLabels {
                seen: vec![Seen::Unknown; n],
                changed_at: vec![0; n],
                ..RecentLabels::default()
            };
        }
        let mut changed = false;
        let (seen, changed_at) = (&self.seen[..n], &mut self.changed_at[..n]);
        for i in 0..n {
            if !same(&self.text, seen[i], value_of(i)) {
                changed_at[i] = self.stamp + 1;
                changed = true;
            }
        }
        if changed {
            self.stamp += 1;
            self.keep(n, value_of);
        }
        self.stamp
    }

    fn keep<'v>(&mut self, n: usize, value_of: impl Fn(usize) -> Option<FieldValue<'v>>) {
        self.text.clear();
        for i in 0..n {
            let value = value_of(i);
            let start = self.text.len();
            if let Some(FieldValue::Str(s)) = value {
                self.text.push_str(s);
            }
            self.seen[i] = match value {
                _ if self.text.len() > MAX_REMEMBERED_TEXT => {
                    self.text.truncate(start);
                    Seen::Unknown
                }
                None => Seen::Missing,
                Some(v) => Seen::of(v, start..self.text.len()),
            };
        }
    }

    /// Where the `n` fields of the `evt`'s rules were in the last event
    /// (see [`EventView::lookup`]).
    pub(crate) fn found_at(&mut self, n: usize) -> &mut [Option<FoundAt>] {
        if self.found_at.len() != n {
            self.found_at = vec![None; n];
        }
        &mut self.found_at
    }

    /// Whether none of the values at `indices` changed after `stamp`.
    pub(crate) fn unchanged_since(&self, indices: &[usize], stamp: u64) -> bool {
        (indices.iter()).all(|&i| self.changed_at.get(i).is_some_and(|&at| at <= stamp))
    }
}

/// Whether `value` is the one `seen` (with its text in `text`).
fn same(text: &str, seen: Seen, value: Option<FieldValue<'_>>) -> bool {
    match (seen, value) {
        (Seen::Str(start, end), Some(FieldValue::Str(s))) => (text.as_bytes())
            .get(start..end)
            .is_some_and(|t| bytes_eq(t, s.as_bytes())),
        (Seen::U64(a), Some(FieldValue::U64(b))) => a == b,
        (Seen::I64(a), Some(FieldValue::I64(b))) => a == b,
        (Seen::F64(a), Some(FieldValue::F64(b))) => a == b.to_bits(),
        (Seen::Bool(a), Some(FieldValue::Bool(b))) => a == b,
        (Seen::I128(a), Some(FieldValue::I128(b))) => a == b,
        (Seen::U128(a), Some(FieldValue::U128(b))) => a == b,
        (Seen::Missing, None) => true,
        _ => false,
    }
}

impl Seen {
    fn of(value: FieldValue<'_>, text: std::ops::Range<usize>) -> Self {
        match value {
            FieldValue::I64(v) => Seen::I64(v),
            FieldValue::U64(v) => Seen::U64(v),
            FieldValue::I128(v) => Seen::I128(v),
            FieldValue::U128(v) => Seen::U128(v),
            FieldValue::F64(v) => Seen::F64(v.to_bits()),
            FieldValue::Bool(v) => Seen::Bool(v),
            FieldValue::Str(_) => Seen::Str(text.start, text.end),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_labels_stamp_each_value_when_it_changes() {
        let mut r = RecentLabels::default();
        let vals = |a: &'static str, n: u64| {
            move |i| match i {
                0 => Some(FieldValue::Str(a)),
                1 => Some(FieldValue::U64(n)),
                _ => None,
            }
        };
        let first = r.observe(3, vals("x", 1));
        assert_eq!(first, 1);
        assert!(r.unchanged_since(&[0, 1, 2], first));
        assert_eq!(r.observe(3, vals("x", 1)), first);
        let second = r.observe(3, vals("xy", 1));
        assert_eq!(second, 2);
        assert!(!r.unchanged_since(&[0], first));
        assert!(r.unchanged_since(&[1, 2], first));
        assert!(r.unchanged_since(&[0, 1], second));
        // Back to an earlier value is still a change.
        let third = r.observe(3, vals("x", 1));
        assert!(!r.unchanged_since(&[0], second) && r.unchanged_since(&[0], third));
        // A typed value and its text differ; an index out of range is never unchanged.
        r.observe(3, |i| (i == 1).then_some(FieldValue::Str("1")));
        assert!(!r.unchanged_since(&[1], third) && !r.unchanged_since(&[3], u64::MAX));
    }

    #[test]
    fn recent_labels_never_keep_values_longer_than_the_limit() {
        let mut r = RecentLabels::default();
        let long = "x".repeat(MAX_REMEMBERED_TEXT + 1);
        let value = |_| Some(FieldValue::Str(long.as_str()));
        let first = r.observe(1, value);
        assert!(r.unchanged_since(&[0], first));
        let second = r.observe(1, value);
        assert!(second > first && !r.unchanged_since(&[0], first));
        assert!(r.text.len() <= MAX_REMEMBERED_TEXT);
    }
}
