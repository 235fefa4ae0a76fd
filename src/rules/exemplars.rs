//! The exemplars of the metrics whose rules name exemplar fields, kept
//! beside their series (metrics-exporter-prometheus cannot carry them) and
//! read by the OpenMetrics rendering.
//!
//! Each series keeps one exemplar per histogram bucket (`+Inf` last) or one
//! per counter series: the most recent event, by its `ts`, that fell into
//! the bucket or incremented the counter. A metric keeps exemplars for at
//! most its `max_series` label sets, so memory is bounded like its series.
//! Only rules naming exemplar fields reach this module.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use crate::capture::value::FieldValue;
use crate::rules::check::MAX_EXEMPLAR_CHARS;
use crate::rules::compile::{MetricDef, MetricKind, RuleDef};
use crate::rules::series::LabelKey;
use crate::words::{bytes_eq, json_special, word_at};

/// One exemplar: its label set as OpenMetrics text (`paper_id="p-1"`,
/// escaped), the observed value, and the event's `ts` in Unix milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Exemplar {
    pub(crate) labels: String,
    pub(crate) value: f64,
    pub(crate) ts_ms: i64,
}

impl Exemplar {
    /// The exemplar as it follows a sample: ` # {labels} value ts`.
    pub(crate) fn write_suffix(&self, out: &mut String) {
        let (secs, ms) = (self.ts_ms.div_euclid(1000), self.ts_ms.rem_euclid(1000));
        // Writing to a String cannot fail.
        let _ = write!(out, " # {{{}}} {} {secs}.{ms:03}", self.labels, self.value);
    }
}

/// The exemplar field names of one rule, shared by its plan and its kept
/// exemplars.
pub(crate) type Names = Arc<[Box<str>]>;

/// One exemplar as kept on the hot path: the raw (redacted) text of its
/// present fields, escaped and cut only when a scrape renders it.
#[derive(Debug)]
pub(crate) struct Kept {
    /// The field names of the rule that recorded it.
    names: Names,
    /// The present fields' values, one after another.
    values: String,
    /// Per present field: its index in `names` and where its value ends.
    fields: Vec<(u16, u32)>,
    value: f64,
    ts_ms: i64,
}

impl Kept {
    fn pairs(&self) -> impl Iterator<Item = (&str, FieldValue<'_>)> + Clone {
        let starts = std::iter::once(0).chain(self.fields.iter().map(|f| f.1 as usize));
        (self.fields.iter().zip(starts)).map(|(&(name, end), start)| {
            let name = self.names.get(usize::from(name)).map_or("", |n| &**n);
            (
                name,
                FieldValue::Str(self.values.get(start..end as usize).unwrap_or("")),
            )
        })
    }

    fn render(&self) -> Exemplar {
        let mut labels = String::new();
        write_labels(&mut labels, self.pairs());
        Exemplar {
            labels,
            value: self.value,
            ts_ms: self.ts_ms,
        }
    }

    /// Whether rendering will cut a value: names and values over 128
    /// characters. Bytes are at least characters: only long ones are counted.
    fn needs_cut(&self) -> bool {
        let names: usize = self.pairs().map(|(n, _)| n.len()).sum();
        names + self.values.len() > MAX_EXEMPLAR_CHARS
            && names + self.values.chars().count() > MAX_EXEMPLAR_CHARS
    }
}

/// The exemplars of one series: one slot per bucket (`+Inf` last), or one
/// for a counter. Shared with the threads that remember it.
pub(crate) type Slots = Arc<[Mutex<Option<Kept>>]>;

#[derive(Debug)]
struct Entry {
    text: Box<str>,
    ends: Box<[u32]>,
    slots: Slots,
}

/// The exemplars of one metric.
#[derive(Debug)]
pub(crate) struct ExemplarTable {
    /// Histogram bucket bounds (empty for a counter).
    bounds: Box<[f64]>,
    cap: usize,
    seed: foldhash::fast::RandomState,
    series: RwLock<(HashMap<u64, Vec<Entry>>, usize)>,
}

/// One metric's exemplars as the exporter reads them: per series (label
/// values in the metric's order), one slot per bucket or one for a counter.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct MetricExemplars {
    pub(crate) name: String,
    pub(crate) label_names: Vec<String>,
    pub(crate) bounds: Vec<f64>,
    pub(crate) series: Vec<(Vec<String>, Vec<Option<Exemplar>>)>,
}

impl ExemplarTable {
    fn new(bounds: &[f64], cap: usize) -> Self {
        ExemplarTable {
            bounds: bounds.into(),
            cap,
            seed: foldhash::fast::RandomState::default(),
            series: RwLock::new((HashMap::new(), 0)),
        }
    }

    /// The exemplar slots of the series `key`, created on first use; `None`
    /// past the cap (new series then get no exemplars).
    pub(crate) fn slots_for(&self, key: &LabelKey) -> Option<Slots> {
        let (text, ends) = key.parts();
        let hash = self.seed.hash_one((text, ends));
        {
            let series = self.series.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(entry) = find(&series.0, hash, key) {
                return Some(Arc::clone(&entry.slots));
            }
            if series.1 >= self.cap {
                return None;
            }
        }
        let mut series = self.series.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = find(&series.0, hash, key) {
            return Some(Arc::clone(&entry.slots));
        }
        if series.1 >= self.cap {
            return None;
        }
        let slots: Slots = (0..=self.bounds.len()).map(|_| Mutex::new(None)).collect();
        let entry = Entry {
            text: text.into(),
            ends: ends.into(),
            slots: Arc::clone(&slots),
        };
        series.0.entry(hash).or_default().push(entry);
        series.1 += 1;
        Some(slots)
    }

    /// Keeps an exemplar in the slot of `value` (its bucket) of a series'
    /// `slots`, unless the slot holds a later one: the `fields` present
    /// (index in `names`, value). Returns whether rendering it will cut a
    /// value (to count it once, here).
    #[inline]
    pub(crate) fn record<'v>(
        &self,
        slots: &Slots,
        names: &Names,
        fields: impl Iterator<Item = (usize, FieldValue<'v>)>,
        value: f64,
        ts_ms: i64,
    ) -> bool {
        let i = self.bounds.partition_point(|b| *b < value);
        let Some(slot) = slots.get(i) else {
            return false;
        };
        let mut slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
        // An older event applied late (another thread): the later one stays,
        // so a scraper never sees an exemplar go back in time.
        if slot.as_ref().is_some_and(|k| k.ts_ms > ts_ms) {
            return false;
        }
        let kept = slot.get_or_insert_with(|| Kept {
            names: Arc::clone(names),
            values: String::new(),
            fields: Vec::new(),
            value,
            ts_ms,
        });
        if !Arc::ptr_eq(&kept.names, names) {
            kept.names = Arc::clone(names);
        }
        (kept.value, kept.ts_ms) = (value, ts_ms);
        kept.values.clear();
        kept.fields.clear();
        for (name, v) in fields {
            match v {
                FieldValue::Str(s) => kept.values.push_str(s),
                v => v.write_label(&mut kept.values),
            }
            let end = u32::try_from(kept.values.len()).unwrap_or(u32::MAX);
            kept.fields
                .push((u16::try_from(name).unwrap_or(u16::MAX), end));
        }
        let names_len: usize = names.iter().map(|n| n.len()).sum();
        kept.values.len() + names_len > MAX_EXEMPLAR_CHARS && kept.needs_cut()
    }

    fn snapshot(&self) -> Vec<(Vec<String>, Vec<Option<Exemplar>>)> {
        let series = self.series.read().unwrap_or_else(PoisonError::into_inner);
        let entries = series.0.values().flatten();
        entries
            .map(|e| {
                let slots = e.slots.iter();
                let slots = slots.map(|s| {
                    let kept = s.lock().unwrap_or_else(PoisonError::into_inner);
                    kept.as_ref().map(Kept::render)
                });
                (values(&e.text, &e.ends), slots.collect())
            })
            .collect()
    }
}

fn find<'a>(slots: &'a HashMap<u64, Vec<Entry>>, hash: u64, key: &LabelKey) -> Option<&'a Entry> {
    let (text, ends) = key.parts();
    slots
        .get(&hash)?
        .iter()
        .find(|e| *e.ends == *ends && bytes_eq(e.text.as_bytes(), text.as_bytes()))
}

fn values(text: &str, ends: &[u32]) -> Vec<String> {
    let starts = std::iter::once(0).chain(ends.iter().map(|&e| e as usize));
    let pairs = starts.zip(ends.iter().map(|&e| e as usize));
    pairs
        .map(|(s, e)| text.get(s..e).unwrap_or("").to_string())
        .collect()
}

// === Exemplars ===

/// The exemplar tables of every metric, shared by the engine and the exporter.
#[derive(Debug, Default)]
pub(crate) struct Exemplars {
    /// Per metric index: its name, label names and table, if a rule of it
    /// names exemplar fields.
    tables: Vec<Option<(String, Vec<String>, ExemplarTable)>>,
}

impl Exemplars {
    pub(crate) fn new(metrics: &[MetricDef], rules: &[RuleDef]) -> Self {
        let tables = (metrics.iter().enumerate())
            .map(|(i, m)| {
                let wanted = rules
                    .iter()
                    .any(|r| r.metric == i && !r.exemplar.is_empty());
                let bounds = match m.kind {
                    MetricKind::Histogram => m.buckets.clone().unwrap_or_default(),
                    _ => Vec::new(),
                };
                let table = ExemplarTable::new(&bounds, m.max_series);
                wanted.then(|| (m.name.clone(), m.labels.clone(), table))
            })
            .collect();
        Exemplars { tables }
    }

    /// Metric `i`'s table, if a rule of it names exemplar fields.
    #[inline]
    pub(crate) fn table(&self, i: usize) -> Option<&ExemplarTable> {
        self.tables.get(i)?.as_ref().map(|t| &t.2)
    }

    /// A copy of every exemplar, for one scrape.
    pub(crate) fn snapshot(&self) -> Vec<MetricExemplars> {
        let tables = self.tables.iter().flatten();
        tables
            .map(|(name, labels, table)| MetricExemplars {
                name: name.clone(),
                label_names: labels.clone(),
                bounds: table.bounds.to_vec(),
                series: table.snapshot(),
            })
            .collect()
    }
}

// === label text ===

/// Writes the exemplar label set of `fields` (name and value pairs; missing
/// values are left out) into `out` as OpenMetrics text, values escaped and
/// cut so names and values stay within 128 characters. Returns whether a
/// value was cut.
pub(crate) fn write_labels<'a>(
    out: &mut String,
    fields: impl Iterator<Item = (&'a str, FieldValue<'a>)> + Clone,
) -> bool {
    let start = out.len();
    let mut raw = 0;
    for (i, (name, value)) in fields.clone().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(name);
        out.push_str("=\"");
        let at = out.len();
        match value {
            FieldValue::Str(s) => {
                raw += s.len();
                escape_into(out, s);
            }
            // Numbers and booleans: ASCII, nothing to escape.
            v => {
                v.write_label(out);
                raw += out.len() - at;
            }
        }
        raw += name.len();
        out.push('"');
    }
    // Bytes are at least characters: only a long label set can need a cut.
    if raw <= MAX_EXEMPLAR_CHARS {
        return false;
    }
    out.truncate(start);
    write_cut(out, fields)
}

/// [`write_labels`] for a label set that may exceed 128 characters.
#[cold]
fn write_cut<'a>(
    out: &mut String,
    fields: impl Iterator<Item = (&'a str, FieldValue<'a>)> + Clone,
) -> bool {
    // Label names are ASCII (checked in `build()`): bytes are characters.
    let names: usize = fields.clone().map(|(n, _)| n.len()).sum();
    let mut budget = MAX_EXEMPLAR_CHARS.saturating_sub(names);
    let mut cut = false;
    let mut text = String::new();
    for (i, (name, value)) in fields.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(name);
        out.push_str("=\"");
        let value = match value {
            FieldValue::Str(s) => s,
            v => {
                text.clear();
                v.write_label(&mut text);
                text.as_str()
            }
        };
        let (kept, chars) = cut_to_chars(value, budget);
        cut |= kept.len() < value.len();
        budget -= chars;
        escape_into(out, kept);
        out.push('"');
    }
    cut
}

/// Whether `bytes` hold a byte JSON escapes (a superset of what OpenMetrics
/// escapes), a word at a time.
#[inline]
fn json_special_in(bytes: &[u8]) -> bool {
    let mut at = 0;
    while let Some(w) = word_at(bytes, at) {
        if json_special(w) != 0 {
            return true;
        }
        at += 8;
    }
    (bytes[at..].iter()).any(|&b| b < 0x20 || b == b'"' || b == b'\\')
}

/// `s` cut to at most `max` characters, and how many it keeps.
fn cut_to_chars(s: &str, max: usize) -> (&str, usize) {
    if s.len() <= max && s.is_ascii() {
        return (s, s.len());
    }
    match s.char_indices().nth(max) {
        Some((end, _)) => (&s[..end], max),
        None => (s, s.chars().count()),
    }
}

/// A label value escaped per the OpenMetrics ABNF: `\\`, `\"` and `\n`.
fn escape_into(out: &mut String, value: &str) {
    if !json_special_in(value.as_bytes()) {
        return out.push_str(value);
    }
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels<'a>(fields: &[(&'a str, FieldValue<'a>)]) -> (String, bool) {
        let mut out = String::new();
        let cut = write_labels(&mut out, fields.iter().copied());
        (out, cut)
    }

    #[test]
    fn values_are_escaped_and_non_text_written_as_text() {
        let got = labels(&[
            ("paper_id", FieldValue::Str("a\"b\\c\nd")),
            ("attempt", FieldValue::U64(3)),
            ("ok", FieldValue::Bool(true)),
            ("ratio", FieldValue::F64(0.5)),
        ]);
        let want = r#"paper_id="a\"b\\c\nd",attempt="3",ok="true",ratio="0.5""#;
        assert_eq!(got, (want.to_string(), false));
    }

    #[test]
    fn names_and_values_are_cut_to_128_characters_in_total() {
        let long = "é".repeat(200);
        let (text, cut) = labels(&[
            ("id", FieldValue::Str("x")),
            ("run", FieldValue::Str(&long)),
        ]);
        assert!(cut);
        // 2 + 1 + 3 + 122 = 128 characters.
        assert_eq!(text, format!("id=\"x\",run=\"{}\"", "é".repeat(122)));
        let exact = "a".repeat(128 - 3);
        let (text, cut) = labels(&[("run", FieldValue::Str(&exact))]);
        assert_eq!((text, cut), (format!("run=\"{exact}\""), false));
    }

    fn key(values: &[&str]) -> LabelKey {
        let mut k = LabelKey::default();
        values.iter().for_each(|v| k.push_str(v));
        k
    }

    fn put(t: &ExemplarTable, k: &LabelKey, v: f64, ts: i64, id: &str) -> bool {
        let Some(slots) = t.slots_for(k) else {
            return false;
        };
        let names: Names = Arc::from([Box::from("id")]);
        t.record(
            &slots,
            &names,
            [(0, FieldValue::Str(id))].into_iter(),
            v,
            ts,
        )
    }

    fn ex(id: &str, value: f64, ts_ms: i64) -> Option<Exemplar> {
        Some(Exemplar {
            labels: format!("id=\"{id}\""),
            value,
            ts_ms,
        })
    }

    #[test]
    fn each_bucket_keeps_its_latest_event_and_older_ones_do_not_replace_it() {
        let t = ExemplarTable::new(&[0.5, 1.0], 10);
        let a = key(&["m1"]);
        put(&t, &a, 0.2, 1_000, "first");
        put(&t, &a, 0.4, 2_000, "second");
        put(&t, &a, 0.5, 1_500, "late");
        put(&t, &a, 0.7, 3_000, "middle");
        put(&t, &a, 9.0, 4_000, "inf");
        put(&t, &key(&["m2"]), 1.0, 5_000, "other");
        let mut got = t.snapshot();
        got.sort_by(|x, y| x.0.cmp(&y.0));
        assert_eq!(
            got,
            [
                (
                    vec!["m1".to_string()],
                    vec![
                        ex("second", 0.4, 2_000),
                        ex("middle", 0.7, 3_000),
                        ex("inf", 9.0, 4_000)
                    ]
                ),
                (
                    vec!["m2".to_string()],
                    vec![None, ex("other", 1.0, 5_000), None]
                ),
            ]
        );
    }

    #[test]
    fn series_past_the_cap_get_no_exemplars() {
        let t = ExemplarTable::new(&[], 2);
        for (i, m) in ["a", "b", "c", "a"].iter().enumerate() {
            put(&t, &key(&[m]), 1.0, i as i64, m);
        }
        let mut got = t.snapshot();
        got.sort_by(|x, y| x.0.cmp(&y.0));
        assert_eq!(
            got,
            [
                (vec!["a".to_string()], vec![ex("a", 1.0, 3)]),
                (vec!["b".to_string()], vec![ex("b", 1.0, 1)]),
            ]
        );
    }

    #[test]
    fn the_suffix_has_the_value_and_the_ts_in_seconds_to_the_millisecond() {
        let mut out = String::new();
        ex("p", 0.25, 1_759_758_190_023)
            .expect("some")
            .write_suffix(&mut out);
        assert_eq!(out, " # {id=\"p\"} 0.25 1759758190.023");
    }
}
