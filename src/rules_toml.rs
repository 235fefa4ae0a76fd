//! Metric rules from a TOML document.
//!
//! Each `[[metric]]` table is one [`MetricRule`]; unknown keys are errors.
//!
//! ```toml
//! [[metric]]
//! name = "openrouter_errors_total"     # required
//! kind = "counter"                     # required: counter | gauge | histogram | daily_sum
//! evt = "openrouter_error"             # required: the events' `evt`
//! levels = ["error", "critical"]       # default: all levels
//! when = { outcome = "error" }         # default: always; also {field = "outcome", equals = "error"}
//!                                      #   or a list of those; all must hold
//! value = "cost_usd"                   # counters: default +1; required for the other kinds
//! labels = ["status", "code", "model"] # event/span fields used as labels, in order
//! static_labels = { team = "nlp" }     # fixed labels, after the field labels, in name order
//! help = "Failed OpenRouter calls"     # default: generated from the rule
//! unit = "seconds"                     # default: none
//! buckets = [0.1, 0.5, 1.0]            # histograms only; default by unit/name
//! max_series = 1000                    # default: the builder's (1,000)
//! # Label sets created at zero. A list of values stands for each of them.
//! precreate = [
//!   { status = 401, code = "invalid_key", model = ["openai/gpt-4o-mini", "google/gemini-2.0-flash-001"] },
//! ]
//! ```
//!
//! `when` and `precreate` values may be strings, integers, floats or booleans;
//! they are compared as the text a field value is written as (`429`, `0.5`,
//! `true`).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::{self, Deserializer};

use crate::error::Error;
use crate::rule::{Kind, MetricRule};
use crate::value::LineLevel;

/// Most label sets one `precreate` entry may expand to.
const MAX_PRECREATE: usize = 100_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    #[serde(default)]
    metric: Vec<MetricToml>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MetricToml {
    name: String,
    kind: KindToml,
    evt: String,
    levels: Option<Vec<LevelToml>>,
    when: Option<WhenToml>,
    value: Option<String>,
    #[serde(default)]
    labels: Vec<String>,
    #[serde(default)]
    static_labels: BTreeMap<String, String>,
    help: Option<String>,
    unit: Option<String>,
    buckets: Option<Vec<f64>>,
    max_series: Option<usize>,
    #[serde(default)]
    precreate: Vec<BTreeMap<String, OneOrMany>>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum KindToml {
    Counter,
    Gauge,
    Histogram,
    DailySum,
}

#[derive(Debug)]
struct LevelToml(LineLevel);

impl<'de> Deserialize<'de> for LevelToml {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        LineLevel::parse(&s).map(LevelToml).ok_or_else(|| {
            de::Error::custom(format!(
                "unknown level {s:?}, expected one of trace, debug, info, warning, error, critical"
            ))
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum WhenToml {
    One(Condition),
    Many(Vec<Condition>),
    Table(BTreeMap<String, Scalar>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Condition {
    field: String,
    equals: Scalar,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Scalar {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl Scalar {
    fn into_text(self) -> String {
        match self {
            Scalar::Str(s) => s,
            Scalar::Int(i) => i.to_string(),
            Scalar::Float(f) => f.to_string(),
            Scalar::Bool(b) => b.to_string(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(Scalar),
    Many(Vec<Scalar>),
}

/// Parses the rules of a TOML document; `origin` (a path, or `<string>`)
/// names it in errors.
///
/// # Errors
///
/// [`Error::Toml`] with the parser's message (line and column included) for
/// invalid TOML, unknown keys, wrong types, unknown kinds or levels, or a
/// `precreate` entry expanding to more than 100,000 label sets. The rules
/// themselves are checked when telemetry is built.
pub(crate) fn parse_rules_toml(text: &str, origin: &str) -> Result<Vec<MetricRule>, Error> {
    let toml_error = |message: String| Error::Toml {
        origin: origin.to_string(),
        message,
    };
    let file: RulesFile = toml::from_str(text).map_err(|e| toml_error(e.to_string()))?;
    file.metric
        .into_iter()
        .map(|m| into_rule(m).map_err(toml_error))
        .collect()
}

fn into_rule(m: MetricToml) -> Result<MetricRule, String> {
    let kind = match m.kind {
        KindToml::Counter => Kind::Counter,
        KindToml::Gauge => Kind::Gauge,
        KindToml::Histogram => Kind::Histogram,
        KindToml::DailySum => Kind::DailySum,
    };
    let mut rule = MetricRule::new(kind, m.name.clone())
        .on(m.evt)
        .labels(m.labels);
    if let Some(levels) = m.levels {
        rule = rule.levels(levels.into_iter().map(|l| l.0));
    }
    for (field, value) in conditions(m.when) {
        rule = rule.when(field, value);
    }
    for (k, v) in m.static_labels {
        rule = rule.static_label(k, v);
    }
    rule.value = m.value;
    rule.help = m.help;
    rule.unit = m.unit;
    rule.buckets = m.buckets;
    rule.max_series = m.max_series;
    for entry in m.precreate {
        let sets = expand(entry).ok_or_else(|| {
            format!(
                "metric {:?}: precreate expands to more than {MAX_PRECREATE} label sets",
                m.name
            )
        })?;
        rule = rule.precreate(sets);
    }
    Ok(rule)
}

fn conditions(when: Option<WhenToml>) -> Vec<(String, String)> {
    match when {
        None => Vec::new(),
        Some(WhenToml::One(c)) => vec![(c.field, c.equals.into_text())],
        Some(WhenToml::Many(cs)) => cs
            .into_iter()
            .map(|c| (c.field, c.equals.into_text()))
            .collect(),
        Some(WhenToml::Table(t)) => t.into_iter().map(|(k, v)| (k, v.into_text())).collect(),
    }
}

/// Every combination of the entry's values; `None` past [`MAX_PRECREATE`].
fn expand(entry: BTreeMap<String, OneOrMany>) -> Option<Vec<Vec<(String, String)>>> {
    let mut sets: Vec<Vec<(String, String)>> = vec![Vec::new()];
    for (label, values) in entry {
        let values: Vec<String> = match values {
            OneOrMany::One(s) => vec![s.into_text()],
            OneOrMany::Many(v) => v.into_iter().map(Scalar::into_text).collect(),
        };
        if sets.len().saturating_mul(values.len()) > MAX_PRECREATE {
            return None;
        }
        sets = sets
            .into_iter()
            .flat_map(|set| {
                let label = &label;
                values.iter().map(move |v| {
                    let mut next = set.clone();
                    next.push((label.clone(), v.clone()));
                    next
                })
            })
            .collect();
    }
    Some(sets)
}
