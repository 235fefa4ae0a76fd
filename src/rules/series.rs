//! The label sets of one metric and their cached handles, bounded by a cap.
//!
//! Registering a series with the `metrics` recorder costs a few hundred
//! nanoseconds (owned key, registry lookup); updating a cached handle a few.
//! So each metric keeps its handles in a map keyed by a seeded hash of the
//! label values (with the values kept to check collisions), behind a
//! read-first lock: a known label set costs one hash, one read lock and no
//! allocation.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::sync::{Arc, OnceLock, PoisonError, RwLock};

use metrics::{Counter, Gauge, Histogram, Key, Label, Level, Metadata, SharedString};

use crate::capture::value::FieldValue;
use crate::rules::daily::DailyGauge;
use crate::words::bytes_eq;

/// Label values longer than this many bytes are cut (at a character boundary).
pub(crate) const MAX_LABEL_BYTES: usize = 256;

/// The value of every label of the one series taking updates past the cap.
pub(crate) const OVERFLOW: &str = "__overflow__";

static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

/// The label values of one update, in the metric's label order; reused
/// across events so a known label set allocates nothing.
#[derive(Debug, Default)]
pub(crate) struct LabelKey {
    text: String,
    ends: Vec<u32>,
}

impl LabelKey {
    pub(crate) fn clear(&mut self) {
        self.text.clear();
        self.ends.clear();
    }

    /// Appends a field's value as label text (`""` when missing), made safe
    /// by [`clean_label`].
    pub(crate) fn push_value(&mut self, value: Option<FieldValue<'_>>) {
        match value {
            Some(FieldValue::U64(v)) => self.push_clean(itoa::Buffer::new().format(v)),
            Some(FieldValue::I64(v)) => self.push_clean(itoa::Buffer::new().format(v)),
            Some(FieldValue::Str(s)) => self.push_str(s),
            Some(v) => {
                let start = self.text.len();
                v.write_label(&mut self.text);
                self.clean_from(start);
                self.end_value();
            }
            None => self.end_value(),
        }
    }

    /// Appends a value known to be clean (see [`clean_label`]) as is.
    pub(crate) fn push_clean(&mut self, value: &str) {
        debug_assert!(!needs_cleaning(value) && value.len() <= MAX_LABEL_BYTES);
        self.text.push_str(value);
        self.end_value();
    }

    /// Appends a fixed label value, made safe by [`clean_label`].
    pub(crate) fn push_str(&mut self, value: &str) {
        if value.len() <= MAX_LABEL_BYTES && !needs_cleaning(value) {
            return self.push_clean(value);
        }
        self.text.push_str(&clean_label(cut(value)));
        self.end_value();
    }

    fn clean_from(&mut self, start: usize) {
        let value = &self.text[start..];
        if value.len() > MAX_LABEL_BYTES || needs_cleaning(value) {
            let clean = clean_label(value);
            self.text.truncate(start);
            self.text.push_str(cut(&clean));
        }
    }

    fn end_value(&mut self) {
        // Label values are cut to 256 bytes, so the text stays far below 4 GiB.
        self.ends
            .push(u32::try_from(self.text.len()).unwrap_or(u32::MAX));
    }

    /// The label values, in order.
    pub(crate) fn values(&self) -> impl Iterator<Item = &str> {
        let starts = std::iter::once(0).chain(self.ends.iter().map(|&e| e as usize));
        starts
            .zip(self.ends.iter())
            .map(|(s, &e)| self.text.get(s..e as usize).unwrap_or(""))
    }

    /// The values' text and where each ends: the key's identity.
    pub(crate) fn parts(&self) -> (&str, &[u32]) {
        (&self.text, &self.ends)
    }

    fn matches(&self, entry: &Entry) -> bool {
        entry.ends.len() == self.ends.len()
            && entry.ends.iter().zip(self.ends.iter()).all(|(x, y)| x == y)
            && bytes_eq(entry.text.as_bytes(), self.text.as_bytes())
    }
}

/// A label value as exposed: cut to [`MAX_LABEL_BYTES`] at a character
/// boundary, backslashes replaced by `/` and control characters other than
/// tab and newline by U+FFFD.
///
/// metrics-exporter-prometheus escapes `"` and newlines faithfully but not
/// every backslash (`a\\b` and `a\b` render alike), so distinct values could
/// render as one duplicated series; without backslashes its escaping is exact.
pub(crate) fn clean_label(value: &str) -> String {
    let clean: String = value
        .chars()
        .map(|c| match c {
            '\\' => '/',
            '\t' | '\n' => c,
            c if c.is_control() => '\u{FFFD}',
            c => c,
        })
        .collect();
    cut(&clean).to_string()
}

/// Whether [`clean_label`] would change `value`. Printable ASCII without a
/// backslash, the usual case, is decided by the byte scan alone.
fn needs_cleaning(value: &str) -> bool {
    // A fold without early exit, so the compiler vectorises it.
    let odd = |b: u8| u8::from(b.wrapping_sub(0x20) >= 0x5f) | u8::from(b == b'\\');
    value.bytes().fold(0, |acc, b| acc | odd(b)) != 0
        && value
            .chars()
            .any(|c| c == '\\' || (c.is_control() && c != '\t' && c != '\n'))
}

/// `s` cut to at most [`MAX_LABEL_BYTES`] at a character boundary.
fn cut(s: &str) -> &str {
    &s[..s.floor_char_boundary(MAX_LABEL_BYTES)]
}

/// What kind of handle a metric's series hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HandleKind {
    Counter,
    Gauge,
    Histogram,
    Daily,
}

/// One series' handle; clones update the same series.
#[derive(Debug, Clone)]
pub(crate) enum Handle {
    Counter(Counter),
    /// Gauges, and counters with fractional increments.
    Gauge(Gauge),
    Histogram(Histogram),
    Daily(Arc<DailyGauge>),
}

#[derive(Debug)]
struct Entry {
    text: Box<str>,
    ends: Box<[u32]>,
    handle: Handle,
}

/// The hash map key is already a seeded hash: use it as is.
#[derive(Debug, Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type Slots = HashMap<u64, Vec<Entry>, BuildHasherDefault<PassThrough>>;

#[derive(Debug, Default)]
struct Inner {
    slots: Slots,
    len: usize,
}

/// The series of one metric: at most `cap` label sets, then one overflow series.
#[derive(Debug)]
pub(crate) struct SeriesTable {
    name: Arc<str>,
    label_names: Vec<Arc<str>>,
    kind: HandleKind,
    cap: usize,
    seed: foldhash::fast::RandomState,
    inner: RwLock<Inner>,
    overflow: OnceLock<Handle>,
}

/// Whether an update found room for its label set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Placed {
    Own,
    Overflow,
}

impl SeriesTable {
    pub(crate) fn new(name: &str, label_names: &[String], kind: HandleKind, cap: usize) -> Self {
        SeriesTable {
            name: Arc::from(name),
            label_names: label_names.iter().map(|l| Arc::from(l.as_str())).collect(),
            kind,
            cap,
            seed: foldhash::fast::RandomState::default(),
            inner: RwLock::new(Inner::default()),
            overflow: OnceLock::new(),
        }
    }

    /// Runs `f` on the handle of this label set, registering it with the
    /// current recorder on first sight; past the cap, on the overflow series.
    pub(crate) fn with_handle(&self, key: &LabelKey, f: impl FnOnce(&Handle)) -> Placed {
        let hash = self.seed.hash_one((key.text.as_str(), key.ends.as_slice()));
        {
            let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(entry) = find(&inner.slots, hash, key) {
                f(&entry.handle);
                return Placed::Own;
            }
            if inner.len >= self.cap {
                // A flood of new label sets must not queue up on the write lock.
                drop(inner);
                f(self.overflow());
                return Placed::Overflow;
            }
        }
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        if find(&inner.slots, hash, key).is_none() {
            if inner.len >= self.cap {
                drop(inner);
                f(self.overflow());
                return Placed::Overflow;
            }
            let handle = self.register(key.values());
            let entry = Entry {
                text: key.text.as_str().into(),
                ends: key.ends.as_slice().into(),
                handle,
            };
            inner.slots.entry(hash).or_default().push(entry);
            inner.len += 1;
        }
        if let Some(entry) = find(&inner.slots, hash, key) {
            f(&entry.handle);
        }
        Placed::Own
    }

    /// Creates the series of these label values (at zero) if there is room.
    pub(crate) fn precreate<'a>(&self, values: impl IntoIterator<Item = &'a str>) {
        let mut key = LabelKey::default();
        values.into_iter().for_each(|v| key.push_str(v));
        self.with_handle(&key, |_| {});
    }

    /// Runs `f` on every handle, the overflow series included.
    pub(crate) fn for_each(&self, mut f: impl FnMut(&Handle)) {
        let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        inner.slots.values().flatten().for_each(|e| f(&e.handle));
        if let Some(h) = self.overflow.get() {
            f(h);
        }
    }

    /// The number of label sets held (the overflow series not included).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.inner
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len
    }

    fn overflow(&self) -> &Handle {
        self.overflow
            .get_or_init(|| self.register(self.label_names.iter().map(|_| OVERFLOW)))
    }

    fn register<'a>(&self, values: impl Iterator<Item = &'a str>) -> Handle {
        let labels: Vec<Label> = self
            .label_names
            .iter()
            .zip(values)
            .map(|(k, v)| Label::new(SharedString::from(Arc::clone(k)), v.to_string()))
            .collect();
        let key = Key::from_parts(SharedString::from(Arc::clone(&self.name)), labels);
        metrics::with_recorder(|r| match self.kind {
            HandleKind::Counter => Handle::Counter(r.register_counter(&key, &METADATA)),
            HandleKind::Gauge => Handle::Gauge(r.register_gauge(&key, &METADATA)),
            HandleKind::Histogram => Handle::Histogram(r.register_histogram(&key, &METADATA)),
            HandleKind::Daily => {
                Handle::Daily(Arc::new(DailyGauge::new(r.register_gauge(&key, &METADATA))))
            }
        })
    }
}

fn find<'a>(slots: &'a Slots, hash: u64, key: &LabelKey) -> Option<&'a Entry> {
    slots.get(&hash)?.iter().find(|e| key.matches(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_key_keeps_values_apart_and_cuts_long_ones() {
        let mut k = LabelKey::default();
        k.push_value(Some(FieldValue::U64(429)));
        k.push_value(None);
        k.push_value(Some(FieldValue::Bool(true)));
        k.push_str("ab");
        assert_eq!(k.values().collect::<Vec<_>>(), ["429", "", "true", "ab"]);
        k.clear();
        let long = "é".repeat(200); // 400 bytes
        k.push_value(Some(FieldValue::Str(&long)));
        k.push_value(Some(FieldValue::F64(0.5)));
        let v: Vec<&str> = k.values().collect();
        assert_eq!(v[0].len(), 256);
        assert_eq!(v[1], "0.5");
    }

    #[test]
    fn label_values_lose_backslashes_and_control_characters() {
        let mut k = LabelKey::default();
        for v in [
            "a\\b",
            "a\\\\b",
            "q\\\"",
            "tab\tnl\n",
            "nul\0cr\r",
            "c1\u{85}",
            "é✓ ok",
        ] {
            k.push_str(v);
        }
        let got: Vec<&str> = k.values().collect();
        assert_eq!(
            got,
            [
                "a/b",
                "a//b",
                "q/\"",
                "tab\tnl\n",
                "nul\u{FFFD}cr\u{FFFD}",
                "c1\u{FFFD}",
                "é✓ ok"
            ]
        );
        for v in ["plain", "é✓ ok", "x\ty"] {
            assert!(!needs_cleaning(v), "{v:?}");
        }
        let long = format!("{}\\", "x".repeat(255));
        assert_eq!(clean_label(&long), format!("{}/", "x".repeat(255)));
        assert_eq!(clean_label(&"\0".repeat(200)).len(), 255);
    }

    #[test]
    fn same_text_split_differently_is_another_series() {
        let t = SeriesTable::new(
            "x_total",
            &["a".into(), "b".into()],
            HandleKind::Counter,
            10,
        );
        let (mut k1, mut k2) = (LabelKey::default(), LabelKey::default());
        k1.push_str("ab");
        k1.push_str("c");
        k2.push_str("a");
        k2.push_str("bc");
        assert_eq!(t.with_handle(&k1, |_| {}), Placed::Own);
        assert_eq!(t.with_handle(&k2, |_| {}), Placed::Own);
        assert_eq!(t.with_handle(&k1, |_| {}), Placed::Own);
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn past_the_cap_updates_go_to_overflow() {
        let t = SeriesTable::new("x_total", &["a".into()], HandleKind::Counter, 2);
        let place = |v: &str| {
            let mut k = LabelKey::default();
            k.push_str(v);
            t.with_handle(&k, |_| {})
        };
        assert_eq!(place("1"), Placed::Own);
        assert_eq!(place("2"), Placed::Own);
        assert_eq!(place("3"), Placed::Overflow);
        assert_eq!(place("1"), Placed::Own);
        assert_eq!(t.len(), 2);
    }
}
