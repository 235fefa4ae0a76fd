//! `stats`: counts grouped by fields (`--by`), optionally per time bucket
//! (`--every`), with percentiles of a numeric field (`--value`).

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::io::Write;

use evt_telemetry::LineLevel;
use serde_json::{Map, Value, json};

use crate::args::Common;
use crate::error::CliError;
use crate::json::JsonValue;
use crate::line::{Field, Line};
use crate::output::{Style, Table, TableFormat, json_f64};
use crate::quantiles::{Summary as ValueSummary, ValueStats};
use crate::scan::{self, Flow};
use crate::timespec;

/// What to group by and measure.
#[derive(Debug, Clone, Default)]
pub(crate) struct StatsSpec<'a> {
    pub(crate) by: &'a [Field],
    pub(crate) every_ms: Option<i64>,
    pub(crate) value: Option<&'a Field>,
    /// `--distinct FIELD`: distinct values of a field per group.
    pub(crate) distinct: Option<&'a Field>,
    /// `--error-rate`: lines at level error or above, and their share.
    pub(crate) error_rate: bool,
    /// `--limit N`: the N largest groups (per bucket).
    pub(crate) limit: Option<usize>,
}

/// The groups seen so far. Lines find their group through a byte key built
/// in a reused buffer, so only a new group allocates.
#[derive(Debug, Default)]
pub(crate) struct Groups {
    index: HashMap<Box<[u8]>, usize, BuildHasherDefault<FxHasher>>,
    groups: Vec<Group>,
    key: Vec<u8>,
}

/// One group: its bucket and key values, its count and value statistics.
#[derive(Debug)]
pub(crate) struct Group {
    pub(crate) bucket_ms: Option<i64>,
    /// One per `--by` field; `None` where the line lacks the field.
    pub(crate) keys: Vec<Option<Value>>,
    pub(crate) count: u64,
    pub(crate) errors: u64,
    pub(crate) values: ValueStats,
    /// 64-bit hashes of the `--distinct` values seen (missing counts as
    /// none); allocates nothing without `--distinct`.
    distinct: HashSet<u64, BuildHasherDefault<FxHasher>>,
}

/// Runs `stats`, writing a table or (`--json`) one JSON document to `out`.
///
/// # Errors
/// A missing directory, or a failure to write `out`.
pub(crate) fn run(
    common: &Common,
    spec: &StatsSpec<'_>,
    out: &mut impl Write,
) -> Result<(), CliError> {
    let mut groups = Groups::default();
    let summary = scan::scan(common, |line| {
        groups.add(spec, line);
        Ok(Flow::Continue)
    })?;
    let rows = limit(groups.into_sorted(), spec.limit);
    if common.json {
        write_json_doc(out, spec, rows, summary.matched, summary.malformed)?;
    } else {
        write_table(out, spec, &common.style, rows)?;
    }
    Ok(())
}

/// The first `limit` groups of each bucket (groups come sorted by bucket,
/// then by count).
fn limit(groups: Vec<Group>, limit: Option<usize>) -> impl Iterator<Item = Group> {
    let mut bucket = None;
    let mut taken = 0;
    groups.into_iter().filter(move |g| {
        if bucket != Some(g.bucket_ms) {
            (bucket, taken) = (Some(g.bucket_ms), 0);
        }
        taken += 1;
        limit.is_none_or(|n| taken <= n)
    })
}

// === impl Groups ===

impl Groups {
    /// Counts `line` in its group.
    pub(crate) fn add(&mut self, spec: &StatsSpec<'_>, line: &Line<'_>) {
        let bucket = spec
            .every_ms
            .map(|every| line.ts_ms.div_euclid(every) * every);
        self.key.clear();
        if let Some(b) = bucket {
            self.key.extend_from_slice(&b.to_le_bytes());
        }
        for field in spec.by {
            push_key(&mut self.key, line.get(field));
        }
        let i = match self.index.get(self.key.as_slice()) {
            Some(&i) => i,
            None => self.insert(spec, bucket, line),
        };
        let group = &mut self.groups[i];
        group.count += 1;
        group.errors += u64::from(line.level >= LineLevel::Error);
        if let Some(v) = spec.distinct.and_then(|f| line.get(f)) {
            let mut h = FxHasher::default();
            self.key.clear();
            push_key(&mut self.key, Some(v));
            h.write(&self.key);
            group.distinct.insert(h.finish());
        }
        if let Some(v) = spec
            .value
            .and_then(|f| line.get(f))
            .and_then(|v| v.as_f64())
        {
            group.values.push(v);
        }
    }

    fn insert(&mut self, spec: &StatsSpec<'_>, bucket_ms: Option<i64>, line: &Line<'_>) -> usize {
        let keys = spec
            .by
            .iter()
            .map(|f| line.get(f).map(JsonValue::to_json))
            .collect();
        self.groups.push(Group {
            bucket_ms,
            keys,
            count: 0,
            errors: 0,
            values: ValueStats::default(),
            distinct: HashSet::default(),
        });
        self.index
            .insert(self.key.as_slice().into(), self.groups.len() - 1);
        self.groups.len() - 1
    }

    /// The groups by bucket, then by count (largest first), then by key text.
    /// Sorted in place without a buffer (keys are distinct within a bucket,
    /// so an unstable sort is deterministic) and without allocating per
    /// comparison for string keys.
    pub(crate) fn into_sorted(self) -> Vec<Group> {
        let mut groups = self.groups;
        groups.sort_unstable_by(|a, b| {
            a.bucket_ms
                .cmp(&b.bucket_ms)
                .then(b.count.cmp(&a.count))
                .then_with(|| cmp_keys(&a.keys, &b.keys))
        });
        groups
    }
}

/// Key values by their table text, then (for equal texts, such as the
/// string `"429"` and the number `429`) missing < string < other.
fn cmp_keys(a: &[Option<Value>], b: &[Option<Value>]) -> std::cmp::Ordering {
    let rank = |v: &Option<Value>| match v {
        None => 0,
        Some(Value::String(_)) => 1,
        Some(_) => 2,
    };
    fn text(v: &Option<Value>) -> std::borrow::Cow<'_, str> {
        match v {
            None => "-".into(),
            Some(Value::String(s)) => s.as_str().into(),
            Some(other) => other.to_string().into(),
        }
    }
    a.iter()
        .zip(b)
        .map(|(x, y)| text(x).cmp(&text(y)).then(rank(x).cmp(&rank(y))))
        .find(|o| o.is_ne())
        .unwrap_or(std::cmp::Ordering::Equal)
}

fn distinct_count(g: &Group) -> usize {
    g.distinct.len()
}

/// rustc's FxHash: group keys are short and local, so a fast hash beats the
/// DoS-resistant default (which was ~7% of a `stats` scan).
#[derive(Debug, Default, Clone, Copy)]
struct FxHasher(u64);

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Appends one field value to a group key: a tag, then the length and
/// bytes of the decoded text (strings) or the text as written (others).
fn push_key(key: &mut Vec<u8>, value: Option<JsonValue<'_>>) {
    let (tag, text) = match value {
        None => (0, Default::default()),
        Some(v @ JsonValue::Str(_)) => (1, v.text()),
        Some(v) => (2, v.text()),
    };
    key.push(tag);
    key.extend_from_slice(&(text.len() as u64).to_le_bytes());
    key.extend_from_slice(text.as_bytes());
}

fn key_text(v: &Option<Value>) -> String {
    match v {
        None => "-".into(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

fn key_texts(g: &Group) -> Vec<String> {
    g.keys.iter().map(key_text).collect()
}

// === output ===

const VALUE_COLUMNS: [&str; 8] = ["n", "p50", "p95", "p99", "min", "max", "mean", "sum"];

fn header(spec: &StatsSpec<'_>) -> Vec<String> {
    let mut header: Vec<String> = spec.every_ms.map(|_| "bucket".into()).into_iter().collect();
    header.extend(spec.by.iter().map(Field::name));
    header.push("count".into());
    if spec.error_rate {
        header.extend(["errors".into(), "error_rate".into()]);
    }
    if let Some(f) = spec.distinct {
        header.push(format!("distinct({})", f.name()));
    }
    if spec.value.is_some() {
        header.extend(VALUE_COLUMNS.map(String::from));
    }
    header
}

fn write_table(
    out: &mut impl Write,
    spec: &StatsSpec<'_>,
    style: &Style,
    groups: impl Iterator<Item = Group>,
) -> std::io::Result<()> {
    let header = header(spec);
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    let mut table = Table::new(&header, *style);
    for mut g in groups {
        let bucket = g.bucket_ms.map(|b| timespec::format_ms_styled(b, style));
        let mut row: Vec<String> = bucket.into_iter().collect();
        row.extend(key_texts(&g));
        row.push(g.count.to_string());
        if spec.error_rate {
            row.push(g.errors.to_string());
            row.push(style.number(g.errors as f64 / g.count as f64));
        }
        if spec.distinct.is_some() {
            row.push(distinct_count(&g).to_string());
        }
        if spec.value.is_some() {
            row.extend(value_cells(g.values.summary(), style));
        }
        table.push(out, row)?;
    }
    table.flush(out)
}

/// `n`, the percentiles (marked `~` when sketched), min, max, mean, sum.
fn value_cells(s: Option<ValueSummary>, style: &Style) -> Vec<String> {
    let Some(s) = s else {
        let mut cells = vec!["0".to_owned()];
        cells.extend(std::iter::repeat_n("-".to_owned(), VALUE_COLUMNS.len() - 1));
        return cells;
    };
    let mark = if s.exact || style.format != TableFormat::Aligned {
        ""
    } else {
        "~"
    };
    let mut cells = vec![s.n.to_string()];
    cells.extend([s.p50, s.p95, s.p99].map(|p| format!("{mark}{}", style.number(p))));
    cells.extend([s.min, s.max, s.mean, s.sum].map(|v| style.number(v)));
    cells
}

/// Writes the `--json` document (schema in docs/CLI.md) one group at a
/// time, so memory stays that of the groups themselves. Keys come in
/// alphabetical order, as serde_json prints the small objects.
fn write_json_doc(
    out: &mut impl Write,
    spec: &StatsSpec<'_>,
    groups: impl Iterator<Item = Group>,
    total: u64,
    malformed: u64,
) -> std::io::Result<()> {
    let names: Vec<String> = spec.by.iter().map(Field::name).collect();
    let every_s = spec.every_ms.map(|ms| ms as f64 / 1000.0);
    write!(out, "{{\"by\":")?;
    serde_json::to_writer(&mut *out, &names)?;
    write!(out, ",\"every_s\":")?;
    serde_json::to_writer(&mut *out, &every_s)?;
    write!(out, ",\"groups\":[")?;
    for (i, mut g) in groups.enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        serde_json::to_writer(&mut *out, &group_json(spec, &names, &mut g))?;
    }
    write!(
        out,
        "],\"malformed\":{malformed},\"total\":{total},\"value\":"
    )?;
    serde_json::to_writer(&mut *out, &spec.value.map(Field::name))?;
    writeln!(out, "}}")
}

fn group_json(spec: &StatsSpec<'_>, names: &[String], g: &mut Group) -> Value {
    let mut row = Map::new();
    if let Some(b) = g.bucket_ms {
        row.insert("bucket".into(), timespec::format_ms(b).into());
    }
    // A field the line lacks is left out; a JSON null stays null.
    let keys: Map<String, Value> = names
        .iter()
        .zip(g.keys.iter_mut())
        .filter_map(|(n, k)| Some((n.clone(), k.take()?)))
        .collect();
    row.insert("key".into(), keys.into());
    row.insert("count".into(), g.count.into());
    if spec.error_rate {
        row.insert("errors".into(), g.errors.into());
        row.insert(
            "error_rate".into(),
            json_f64(g.errors as f64 / g.count as f64),
        );
    }
    if spec.distinct.is_some() {
        row.insert("distinct".into(), distinct_count(g).into());
    }
    if spec.value.is_some() {
        row.insert(
            "value".into(),
            g.values.summary().map_or(Value::Null, summary_json),
        );
    }
    row.into()
}

/// A value summary as JSON.
pub(crate) fn summary_json(s: ValueSummary) -> Value {
    json!({
        "n": s.n,
        "p50": json_f64(s.p50),
        "p95": json_f64(s.p95),
        "p99": json_f64(s.p99),
        "min": json_f64(s.min),
        "max": json_f64(s.max),
        "mean": json_f64(s.mean),
        "sum": json_f64(s.sum),
        "exact": s.exact,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(evt: &str, meta: &str, ts: &str) -> String {
        format!(
            r#"{{"ts":"{ts}","level":"info","evt":"{evt}","source":"s","msg":"","meta":{meta}}}"#
        )
    }

    #[test]
    fn groups_count_by_key_and_bucket_and_sort_by_count() {
        let by = [Field::Evt, Field::Meta("code".into())];
        let spec = StatsSpec {
            by: &by,
            every_ms: Some(60_000),
            ..StatsSpec::default()
        };
        let texts = [
            line("a", "{}", "2025-10-06T00:00:10.000Z"),
            line("b", r#"{"code":"x"}"#, "2025-10-06T00:00:20.000Z"),
            line("b", r#"{"code":"x"}"#, "2025-10-06T00:00:30.000Z"),
            line("a", "{}", "2025-10-06T00:01:00.000Z"),
        ];
        let mut groups = Groups::default();
        for t in &texts {
            groups.add(&spec, &Line::parse(t).expect("valid"));
        }
        let rows: Vec<(String, Vec<String>, u64)> = groups
            .into_sorted()
            .iter()
            .map(|g| {
                (
                    timespec::format_ms(g.bucket_ms.unwrap_or(0)),
                    key_texts(g),
                    g.count,
                )
            })
            .collect();
        let expected = [
            ("2025-10-06T00:00:00Z", ["b", "x"], 2),
            ("2025-10-06T00:00:00Z", ["a", "-"], 1),
            ("2025-10-06T00:01:00Z", ["a", "-"], 1),
        ];
        let expected: Vec<_> = expected
            .iter()
            .map(|(b, k, c)| {
                (
                    b.to_string(),
                    k.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                    *c,
                )
            })
            .collect();
        assert_eq!(rows, expected);
    }

    #[test]
    fn a_string_and_a_number_with_the_same_text_are_different_keys() {
        let by = [Field::Meta("status".into())];
        let spec = StatsSpec {
            by: &by,
            ..StatsSpec::default()
        };
        let mut groups = Groups::default();
        for meta in [
            r#"{"status":429}"#,
            r#"{"status":"429"}"#,
            r#"{"status":429}"#,
        ] {
            groups.add(
                &spec,
                &Line::parse(&line("e", meta, "2025-10-06T00:00:00.000Z")).expect("valid"),
            );
        }
        let keys: Vec<_> = groups
            .into_sorted()
            .into_iter()
            .map(|g| (g.keys, g.count))
            .collect();
        assert_eq!(
            keys,
            [(vec![Some(json!(429))], 2), (vec![Some(json!("429"))], 1)]
        );
    }
}
