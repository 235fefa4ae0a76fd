//! Checking metric rules once, and merging the rules of each metric into one
//! definition the engine runs.

use std::collections::HashMap;

use crate::contract::level::LineLevel;
use crate::error::Error;
use crate::rules::rule::{Kind, MetricRule};

/// What a metric is once its rules are merged. A counter fed by a value
/// field keeps a float total: a kind of its own, recorded as a gauge and
/// exposed as a counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MetricKind {
    Counter,
    FloatCounter,
    Gauge,
    Histogram,
    DailySum,
}

impl MetricKind {
    fn of(rule: &MetricRule) -> Self {
        match rule.kind {
            Kind::Counter if rule.value.is_some() => MetricKind::FloatCounter,
            Kind::Counter => MetricKind::Counter,
            Kind::Gauge => MetricKind::Gauge,
            Kind::Histogram => MetricKind::Histogram,
            Kind::DailySum => MetricKind::DailySum,
        }
    }

    /// The rule kind that declares it.
    pub(crate) fn rule_kind(self) -> Kind {
        match self {
            MetricKind::Counter | MetricKind::FloatCounter => Kind::Counter,
            MetricKind::Gauge => Kind::Gauge,
            MetricKind::Histogram => Kind::Histogram,
            MetricKind::DailySum => Kind::DailySum,
        }
    }

    /// The reasons its values can be rejected for.
    pub(crate) fn reject_reasons(self) -> &'static [&'static str] {
        match self {
            MetricKind::Counter => &[],
            MetricKind::FloatCounter | MetricKind::DailySum => {
                &["missing", "not_numeric", "negative", "nan", "infinite"]
            }
            MetricKind::Gauge | MetricKind::Histogram => {
                &["missing", "not_numeric", "nan", "infinite"]
            }
        }
    }
}

/// One metric, fed by one or more rules.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MetricDef {
    pub(crate) name: String,
    pub(crate) kind: MetricKind,
    /// Label names: the first rule's field labels, then its static labels.
    pub(crate) labels: Vec<String>,
    pub(crate) help: String,
    pub(crate) unit: Option<String>,
    pub(crate) buckets: Option<Vec<f64>>,
    pub(crate) max_series: usize,
    /// Which options a rule set explicitly (two rules must agree on those).
    pub(crate) given: Given,
}

/// Options set explicitly by some rule of a metric.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct Given {
    pub(crate) help: bool,
    pub(crate) buckets: bool,
    pub(crate) max_series: bool,
}

/// Where one label value of a rule comes from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum LabelSource {
    Field(String),
    Static(String),
}

/// One rule, ready to run against events.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RuleDef {
    pub(crate) metric: usize,
    pub(crate) evt: String,
    /// Bit `1 << level as u8` set for each accepted level.
    pub(crate) level_mask: u8,
    pub(crate) when: Vec<(String, String)>,
    pub(crate) value: Option<String>,
    /// One source per label of the metric, in the metric's label order.
    pub(crate) sources: Vec<LabelSource>,
    /// Label values (in the metric's label order) to create at zero.
    pub(crate) precreate: Vec<Vec<String>>,
}

/// All rules, checked and merged.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Compiled {
    pub(crate) metrics: Vec<MetricDef>,
    pub(crate) rules: Vec<RuleDef>,
}

fn rule_error(metric: &str, message: impl Into<String>) -> Error {
    Error::Rule {
        metric: metric.to_string(),
        message: message.into(),
    }
}

pub(crate) fn level_bit(level: LineLevel) -> u8 {
    1 << (level as u8)
}

/// Checks every rule and merges rules feeding the same metric.
pub(crate) fn compile(
    rules: Vec<MetricRule>,
    default_max_series: usize,
) -> Result<Compiled, Error> {
    let mut out = Compiled::default();
    let mut by_name: HashMap<String, usize> = HashMap::new();
    for rule in rules {
        check_rule(&rule)?;
        let metric = match by_name.get(&rule.name) {
            Some(&i) => {
                merge_into(&mut out.metrics[i], &rule)?;
                i
            }
            None => {
                out.metrics.push(new_def(&rule, default_max_series));
                by_name.insert(rule.name.clone(), out.metrics.len() - 1);
                out.metrics.len() - 1
            }
        };
        out.rules
            .push(rule_def(&rule, metric, &out.metrics[metric].labels));
    }
    for (i, m) in out.metrics.iter().enumerate() {
        let sets: usize = out
            .rules
            .iter()
            .filter(|r| r.metric == i)
            .map(|r| r.precreate.len())
            .sum();
        if sets > m.max_series {
            let message = format!(
                "precreate has {sets} label sets, more than max_series {}",
                m.max_series
            );
            return Err(rule_error(&m.name, message));
        }
    }
    Ok(out)
}

fn new_def(rule: &MetricRule, default_max_series: usize) -> MetricDef {
    MetricDef {
        name: rule.name.clone(),
        kind: MetricKind::of(rule),
        labels: label_names(rule).map(str::to_string).collect(),
        help: rule.effective_help(),
        unit: rule.unit.clone(),
        buckets: (rule.kind == Kind::Histogram).then(|| rule.effective_buckets()),
        max_series: rule.max_series.unwrap_or(default_max_series).max(1),
        given: Given {
            help: rule.help.is_some(),
            buckets: rule.buckets.is_some(),
            max_series: rule.max_series.is_some(),
        },
    }
}

fn label_names(rule: &MetricRule) -> impl Iterator<Item = &str> {
    let statics = rule.static_labels.iter().map(|(k, _)| k.as_str());
    rule.labels.iter().map(String::as_str).chain(statics)
}

/// Merges a second rule for an existing metric, refusing any disagreement.
fn merge_into(def: &mut MetricDef, rule: &MetricRule) -> Result<(), Error> {
    let bad = |what: String| rule_error(&rule.name, what);
    if def.kind.rule_kind() != rule.kind {
        let (was, now) = (def.kind.rule_kind().as_str(), rule.kind.as_str());
        return Err(bad(format!("is a {was} in an earlier rule, here a {now}")));
    }
    let mut a: Vec<&str> = def.labels.iter().map(String::as_str).collect();
    let mut b: Vec<&str> = label_names(rule).collect();
    a.sort_unstable();
    b.sort_unstable();
    if a != b {
        return Err(bad(format!(
            "has labels {a:?} in an earlier rule, here {b:?}"
        )));
    }
    if let Some(help) = &rule.help {
        if def.given.help && def.help != *help {
            return Err(bad(format!(
                "has help {:?} in an earlier rule, here {help:?}",
                def.help
            )));
        }
        (def.help, def.given.help) = (help.clone(), true);
    }
    merge_same(&mut def.unit, rule.unit.as_ref(), "unit", &rule.name)?;
    if let Some(mine) = &rule.buckets {
        if def.given.buckets && def.buckets.as_ref() != Some(mine) {
            let was = def.buckets.clone().unwrap_or_default();
            return Err(bad(format!(
                "has buckets {was:?} in an earlier rule, here {mine:?}"
            )));
        }
        (def.buckets, def.given.buckets) = (Some(mine.clone()), true);
    }
    if let Some(n) = rule.max_series {
        if def.given.max_series && def.max_series != n {
            let was = def.max_series;
            return Err(bad(format!(
                "has max_series {was} in an earlier rule, here {n}"
            )));
        }
        (def.max_series, def.given.max_series) = (n, true);
    }
    if MetricKind::of(rule) == MetricKind::FloatCounter {
        def.kind = MetricKind::FloatCounter;
    }
    Ok(())
}

fn merge_same(
    have: &mut Option<String>,
    new: Option<&String>,
    what: &str,
    metric: &str,
) -> Result<(), Error> {
    match (have.as_ref(), new) {
        (Some(a), Some(b)) if a != b => Err(rule_error(
            metric,
            format!("has {what} {a:?} in an earlier rule, here {b:?}"),
        )),
        (None, Some(b)) => {
            *have = Some(b.clone());
            Ok(())
        }
        _ => Ok(()),
    }
}

// === one rule ===

fn check_rule(rule: &MetricRule) -> Result<(), Error> {
    let name = rule.name.as_str();
    let bad = |m: String| rule_error(name, m);
    check_metric_name(name, rule.kind).map_err(bad)?;
    match rule.evt.as_deref() {
        None => return Err(bad("missing `on` (the evt the rule listens to)".into())),
        Some("") => return Err(bad("`on` is empty".into())),
        Some(_) => {}
    }
    if rule.levels.as_ref().is_some_and(Vec::is_empty) {
        return Err(bad("`levels` is empty: the rule would never match".into()));
    }
    check_value(rule).map_err(bad)?;
    check_labels(rule).map_err(bad)?;
    check_options(rule).map_err(bad)?;
    Ok(())
}

fn check_value(rule: &MetricRule) -> Result<(), String> {
    match (&rule.value, rule.kind) {
        (None, Kind::Counter) => Ok(()),
        (None, kind) => Err(format!(
            "missing `value`: a {} needs a value field",
            kind.as_str()
        )),
        (Some(v), _) if v.is_empty() => Err("`value` is empty".into()),
        _ => Ok(()),
    }
}

fn check_labels(rule: &MetricRule) -> Result<(), String> {
    let mut seen: Vec<&str> = Vec::new();
    for label in label_names(rule) {
        check_label_name(label)?;
        if seen.contains(&label) {
            return Err(format!("label {label:?} is given twice"));
        }
        seen.push(label);
    }
    for (field, _) in &rule.when {
        if field.is_empty() {
            return Err("a `when` condition has an empty field name".into());
        }
    }
    Ok(())
}

fn check_options(rule: &MetricRule) -> Result<(), String> {
    if let Some(help) = &rule.help {
        if help.trim().is_empty() {
            return Err("`help` is empty".into());
        }
    }
    if let Some(unit) = &rule.unit {
        if unit.is_empty() || !unit.bytes().all(|b| b.is_ascii_alphabetic() || b == b'_') {
            return Err(format!(
                "unit {unit:?} is not a word like \"seconds\" or \"usd\""
            ));
        }
    }
    match (&rule.buckets, rule.kind) {
        (Some(_), k) if k != Kind::Histogram => {
            return Err(format!(
                "`buckets` are only for histograms, not a {}",
                k.as_str()
            ));
        }
        (Some(b), _) => check_buckets(b)?,
        _ => {}
    }
    if rule.max_series == Some(0) {
        return Err("`max_series` is 0: it must be at least 1".into());
    }
    for set in &rule.precreate {
        check_precreate(rule, set)?;
    }
    Ok(())
}

/// Bucket bounds: not empty, finite, strictly increasing.
pub(crate) fn check_buckets(bounds: &[f64]) -> Result<(), String> {
    if bounds.is_empty() {
        return Err("`buckets` is empty".into());
    }
    if let Some(b) = bounds.iter().find(|b| !b.is_finite()) {
        return Err(format!(
            "bucket bound {b} is not finite (+Inf is always added)"
        ));
    }
    for w in bounds.windows(2) {
        if w[1] == w[0] {
            return Err(format!("bucket bound {} is given twice", w[0]));
        }
        if w[1] < w[0] {
            return Err(format!(
                "buckets are not sorted: {} comes after {}",
                w[1], w[0]
            ));
        }
    }
    Ok(())
}

fn check_precreate(rule: &MetricRule, set: &[(String, String)]) -> Result<(), String> {
    for (k, _) in set {
        if !rule.labels.contains(k) {
            return Err(format!(
                "precreate label {k:?} is not one of the labels {:?}",
                rule.labels
            ));
        }
        if set.iter().filter(|(k2, _)| k2 == k).count() > 1 {
            return Err(format!("precreate label {k:?} is given twice"));
        }
    }
    if let Some(missing) = rule
        .labels
        .iter()
        .find(|l| !set.iter().any(|(k, _)| k == *l))
    {
        return Err(format!(
            "precreate label set {set:?} lacks label {missing:?}"
        ));
    }
    Ok(())
}

fn rule_def(rule: &MetricRule, metric: usize, labels: &[String]) -> RuleDef {
    let source = |label: &String| {
        if rule.labels.contains(label) {
            return LabelSource::Field(label.clone());
        }
        // merge_into checked that the rule has every label of the metric.
        let value = rule
            .static_labels
            .iter()
            .find(|(k, _)| k == label)
            .map(|(_, v)| v.clone());
        LabelSource::Static(value.unwrap_or_default())
    };
    let sources: Vec<LabelSource> = labels.iter().map(source).collect();
    let precreate = rule
        .precreate
        .iter()
        .map(|set| precreate_values(set, &sources))
        .collect();
    let levels = rule.levels.clone().unwrap_or_else(|| ALL_LEVELS.to_vec());
    RuleDef {
        metric,
        // check_rule refused rules without `on`.
        evt: rule.evt.clone().unwrap_or_default(),
        level_mask: levels.into_iter().fold(0, |m, l| m | level_bit(l)),
        when: rule.when.clone(),
        value: rule.value.clone(),
        sources,
        precreate,
    }
}

fn precreate_values(set: &[(String, String)], sources: &[LabelSource]) -> Vec<String> {
    let value_of = |src: &LabelSource| match src {
        LabelSource::Field(f) => set.iter().find(|(k, _)| k == f).map(|(_, v)| v.clone()),
        LabelSource::Static(v) => Some(v.clone()),
    };
    sources
        .iter()
        .map(|s| value_of(s).unwrap_or_default())
        .collect()
}

const ALL_LEVELS: [LineLevel; 6] = [
    LineLevel::Trace,
    LineLevel::Debug,
    LineLevel::Info,
    LineLevel::Warning,
    LineLevel::Error,
    LineLevel::Critical,
];

// === names ===

/// A label name: `[a-zA-Z_][a-zA-Z0-9_]*`, not `__…`, not `le`/`quantile`, not camelCase.
pub(crate) fn check_label_name(label: &str) -> Result<(), String> {
    if !is_identifier(label, false) {
        return Err(format!(
            "label name {label:?} does not match [a-zA-Z_][a-zA-Z0-9_]*"
        ));
    }
    if label.starts_with("__") {
        return Err(format!(
            "label name {label:?} starts with `__` (reserved by Prometheus)"
        ));
    }
    if label == "le" || label == "quantile" {
        return Err(format!(
            "label name {label:?} is reserved for histograms and summaries"
        ));
    }
    if is_camel_case(label) {
        return Err(format!("label name {label:?} is camelCase; use snake_case"));
    }
    Ok(())
}

/// A metric name: valid for Prometheus and clean under `promtool check metrics`.
pub(crate) fn check_metric_name(name: &str, kind: Kind) -> Result<(), String> {
    if !is_identifier(name, true) {
        return Err(format!(
            "metric name {name:?} does not match [a-zA-Z_:][a-zA-Z0-9_:]*"
        ));
    }
    if name.contains(':') {
        return Err(format!(
            "metric name {name:?} contains ':' (reserved for recording rules)"
        ));
    }
    if crate::self_metrics::NAMES.contains(&name) {
        return Err(format!("metric name {name:?} is a built-in self-metric"));
    }
    check_suffixes(name, kind)?;
    if is_camel_case(name) {
        return Err(format!("metric name {name:?} is camelCase; use snake_case"));
    }
    check_name_words(name)
}

fn check_suffixes(name: &str, kind: Kind) -> Result<(), String> {
    let total = name.ends_with("_total");
    if kind == Kind::Counter && !total {
        return Err(format!("counter name {name:?} must end in `_total`"));
    }
    if kind != Kind::Counter && total {
        let k = kind.as_str();
        return Err(format!(
            "{k} name {name:?} must not end in `_total` (counters only)"
        ));
    }
    let reserved = ["_bucket", "_sum", "_count"];
    if let Some(s) = reserved.iter().find(|s| name.ends_with(*s)) {
        return Err(format!(
            "metric name {name:?} ends in `{s}`, reserved for histogram series"
        ));
    }
    Ok(())
}

/// Kind names, abbreviated units and non-base units in the name's words.
fn check_name_words(name: &str) -> Result<(), String> {
    let lower = name.to_ascii_lowercase();
    let has_word = |w: &str| lower.contains(&format!("_{w}_")) || lower.ends_with(&format!("_{w}"));
    const KINDS: [&str; 5] = [
        "counter",
        "gauge",
        "histogram",
        "summary",
        "gauge_histogram",
    ];
    if let Some(k) = KINDS.iter().find(|k| has_word(k)) {
        return Err(format!("metric name {name:?} contains the type {k:?}"));
    }
    const ABBREVIATIONS: [&str; 14] = [
        "s", "ms", "us", "ns", "sec", "b", "kb", "mb", "gb", "tb", "pb", "m", "h", "d",
    ];
    if let Some(a) = ABBREVIATIONS.iter().find(|a| has_word(a)) {
        return Err(format!(
            "metric name {name:?} contains the abbreviated unit {a:?}"
        ));
    }
    for word in name.split('_') {
        if let Some(base) = non_base_unit(word) {
            return Err(format!(
                "metric name {name:?}: use base unit {base:?} instead of {word:?}"
            ));
        }
    }
    Ok(())
}

/// The base unit to use instead of `word`, if `word` is a prefixed or non-base unit.
fn non_base_unit(word: &str) -> Option<&'static str> {
    const UNITS: [(&str, &str); 24] = [
        ("amperes", "amperes"),
        ("bytes", "bytes"),
        ("celsius", "celsius"),
        ("grams", "grams"),
        ("joules", "joules"),
        ("kelvin", "kelvin"),
        ("meters", "meters"),
        ("metres", "metres"),
        ("seconds", "seconds"),
        ("volts", "volts"),
        ("minutes", "seconds"),
        ("hours", "seconds"),
        ("days", "seconds"),
        ("weeks", "seconds"),
        ("kelvins", "kelvin"),
        ("fahrenheit", "celsius"),
        ("rankine", "celsius"),
        ("inches", "meters"),
        ("yards", "meters"),
        ("miles", "meters"),
        ("bits", "bytes"),
        ("calories", "joules"),
        ("pounds", "grams"),
        ("ounces", "grams"),
    ];
    const PREFIXES: [&str; 19] = [
        "", "pico", "nano", "micro", "milli", "centi", "deci", "deca", "hecto", "kilo", "kibi",
        "mega", "mibi", "giga", "gibi", "tera", "tebi", "peta", "pebi",
    ];
    for (unit, base) in UNITS {
        let Some(prefix) = word.strip_suffix(unit) else {
            continue;
        };
        if PREFIXES.contains(&prefix) && word != base {
            return Some(base);
        }
    }
    None
}

fn is_identifier(s: &str, allow_colon: bool) -> bool {
    let ok_first = |c: u8| c.is_ascii_alphabetic() || c == b'_' || (allow_colon && c == b':');
    let ok_rest = |c: &u8| ok_first(*c) || c.is_ascii_digit();
    match s.as_bytes().split_first() {
        Some((&first, rest)) => ok_first(first) && rest.iter().all(ok_rest),
        None => false,
    }
}

fn is_camel_case(s: &str) -> bool {
    s.as_bytes()
        .windows(2)
        .any(|w| w[0].is_ascii_lowercase() && w[1].is_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(rules: Vec<MetricRule>) -> (String, String) {
        match compile(rules, 1_000) {
            Err(Error::Rule { metric, message }) => (metric, message),
            other => panic!("expected a rule error, got {other:?}"),
        }
    }

    fn one(rule: MetricRule) -> (String, String) {
        error_of(vec![rule])
    }

    fn c(name: &str) -> MetricRule {
        MetricRule::counter(name).on("e")
    }

    #[test]
    fn invalid_metric_names_are_named_in_the_error() {
        let cases: [(MetricRule, &str); 14] = [
            (
                c("9lives_total"),
                r#"metric name "9lives_total" does not match [a-zA-Z_:][a-zA-Z0-9_:]*"#,
            ),
            (
                c("a-b_total"),
                r#"metric name "a-b_total" does not match [a-zA-Z_:][a-zA-Z0-9_:]*"#,
            ),
            (
                c(""),
                r#"metric name "" does not match [a-zA-Z_:][a-zA-Z0-9_:]*"#,
            ),
            (
                c("a:b_total"),
                r#"metric name "a:b_total" contains ':' (reserved for recording rules)"#,
            ),
            (c("calls"), r#"counter name "calls" must end in `_total`"#),
            (
                MetricRule::gauge("x_total").on("e").value("v"),
                r#"gauge name "x_total" must not end in `_total` (counters only)"#,
            ),
            (
                MetricRule::histogram("x_bucket").on("e").value("v"),
                r#"metric name "x_bucket" ends in `_bucket`, reserved for histogram series"#,
            ),
            (
                MetricRule::gauge("x_count").on("e").value("v"),
                r#"metric name "x_count" ends in `_count`, reserved for histogram series"#,
            ),
            (
                MetricRule::daily_sum("x_sum").on("e").value("v"),
                r#"metric name "x_sum" ends in `_sum`, reserved for histogram series"#,
            ),
            (
                c("fooBar_total"),
                r#"metric name "fooBar_total" is camelCase; use snake_case"#,
            ),
            (
                c("latency_ms_total"),
                r#"metric name "latency_ms_total" contains the abbreviated unit "ms""#,
            ),
            (
                MetricRule::gauge("queue_gauge").on("e").value("v"),
                r#"metric name "queue_gauge" contains the type "gauge""#,
            ),
            (
                MetricRule::histogram("lat_milliseconds").on("e").value("v"),
                r#"metric name "lat_milliseconds": use base unit "seconds" instead of "milliseconds""#,
            ),
            (
                c("telemetry_events_total"),
                r#"metric name "telemetry_events_total" is a built-in self-metric"#,
            ),
        ];
        for (rule, want) in cases {
            let name = rule.name.clone();
            assert_eq!(one(rule), (name, want.to_string()));
        }
    }

    #[test]
    fn invalid_label_names_are_named_in_the_error() {
        let cases = [
            (
                c("a_total").labels(["1x"]),
                r#"label name "1x" does not match [a-zA-Z_][a-zA-Z0-9_]*"#,
            ),
            (
                c("a_total").labels(["http.status"]),
                r#"label name "http.status" does not match [a-zA-Z_][a-zA-Z0-9_]*"#,
            ),
            (
                c("a_total").static_label("__name", "x"),
                r#"label name "__name" starts with `__` (reserved by Prometheus)"#,
            ),
            (
                c("a_total").labels(["le"]),
                r#"label name "le" is reserved for histograms and summaries"#,
            ),
            (
                c("a_total").labels(["quantile"]),
                r#"label name "quantile" is reserved for histograms and summaries"#,
            ),
            (
                c("a_total").labels(["httpStatus"]),
                r#"label name "httpStatus" is camelCase; use snake_case"#,
            ),
            (
                c("a_total").labels(["m"]).static_label("m", "x"),
                r#"label "m" is given twice"#,
            ),
        ];
        for (rule, want) in cases {
            assert_eq!(one(rule).1, want);
        }
    }

    #[test]
    fn missing_or_empty_parts_are_refused() {
        let cases = [
            (
                MetricRule::counter("a_total"),
                "missing `on` (the evt the rule listens to)",
            ),
            (MetricRule::counter("a_total").on(""), "`on` is empty"),
            (
                c("a_total").levels([]),
                "`levels` is empty: the rule would never match",
            ),
            (
                MetricRule::gauge("g").on("e"),
                "missing `value`: a gauge needs a value field",
            ),
            (
                MetricRule::histogram("h").on("e"),
                "missing `value`: a histogram needs a value field",
            ),
            (
                MetricRule::daily_sum("d").on("e"),
                "missing `value`: a daily_sum needs a value field",
            ),
            (c("a_total").value(""), "`value` is empty"),
            (
                c("a_total").when("", "x"),
                "a `when` condition has an empty field name",
            ),
            (c("a_total").help("  "), "`help` is empty"),
            (
                c("a_total").unit("m/s"),
                r#"unit "m/s" is not a word like "seconds" or "usd""#,
            ),
            (
                c("a_total").max_series(0),
                "`max_series` is 0: it must be at least 1",
            ),
        ];
        for (rule, want) in cases {
            assert_eq!(one(rule).1, want);
        }
    }

    #[test]
    fn bad_buckets_are_refused() {
        let h = |b: Vec<f64>| {
            MetricRule::histogram("h_seconds")
                .on("e")
                .value("v")
                .buckets(b)
        };
        let cases = [
            (h(vec![]), "`buckets` is empty".to_string()),
            (
                h(vec![1.0, f64::NAN]),
                "bucket bound NaN is not finite (+Inf is always added)".into(),
            ),
            (
                h(vec![1.0, f64::INFINITY]),
                "bucket bound inf is not finite (+Inf is always added)".into(),
            ),
            (
                h(vec![1.0, 0.5]),
                "buckets are not sorted: 0.5 comes after 1".into(),
            ),
            (h(vec![1.0, 1.0]), "bucket bound 1 is given twice".into()),
            (
                c("a_total").buckets([1.0]),
                "`buckets` are only for histograms, not a counter".into(),
            ),
        ];
        for (rule, want) in cases {
            assert_eq!(one(rule).1, want);
        }
    }

    #[test]
    fn precreate_sets_must_name_exactly_the_field_labels() {
        let r = || c("a_total").labels(["status", "code"]);
        let cases = [
            (
                r().precreate([[("status", "401")]]),
                r#"precreate label set [("status", "401")] lacks label "code""#,
            ),
            (
                r().precreate([[("status", "1"), ("code", "x"), ("model", "m")]]),
                r#"precreate label "model" is not one of the labels ["status", "code"]"#,
            ),
            (
                r().precreate([[("status", "1"), ("status", "2"), ("code", "x")]]),
                r#"precreate label "status" is given twice"#,
            ),
        ];
        for (rule, want) in cases {
            assert_eq!(one(rule).1, want);
        }
        let too_many = c("b_total")
            .labels(["s"])
            .max_series(1)
            .precreate([[("s", "1")], [("s", "2")]]);
        assert_eq!(
            one(too_many).1,
            "precreate has 2 label sets, more than max_series 1"
        );
    }

    #[test]
    fn rules_sharing_a_metric_must_agree() {
        let g = || MetricRule::gauge("g").on("e").value("v");
        let cases = [
            (
                vec![g(), MetricRule::histogram("g").on("e").value("v")],
                "is a gauge in an earlier rule, here a histogram",
            ),
            (
                vec![g().labels(["a"]), g().labels(["b"])],
                r#"has labels ["a"] in an earlier rule, here ["b"]"#,
            ),
            (
                vec![g().help("x"), g().help("y")],
                r#"has help "x" in an earlier rule, here "y""#,
            ),
            (
                vec![g().unit("seconds"), g().unit("bytes")],
                r#"has unit "seconds" in an earlier rule, here "bytes""#,
            ),
            (
                vec![g().max_series(5), g().max_series(6)],
                "has max_series 5 in an earlier rule, here 6",
            ),
        ];
        for (rules, want) in cases {
            assert_eq!(error_of(rules), ("g".to_string(), want.to_string()));
        }
        let h = |b: f64| MetricRule::histogram("h").on("e").value("v").buckets([b]);
        assert_eq!(
            error_of(vec![h(1.0), h(2.0)]).1,
            "has buckets [1.0] in an earlier rule, here [2.0]"
        );
    }

    #[test]
    fn rules_sharing_a_metric_merge_into_one_definition() {
        let rules = vec![
            MetricRule::counter("calls_total")
                .on("a")
                .labels(["m"])
                .static_label("src", "a"),
            MetricRule::counter("calls_total")
                .on("b")
                .static_label("src", "b")
                .labels(["m"])
                .help("Calls"),
            MetricRule::counter("calls_total")
                .on("c")
                .value("n")
                .labels(["m"])
                .static_label("src", "c"),
        ];
        let compiled = compile(rules, 7).expect("valid");
        assert_eq!(compiled.metrics.len(), 1);
        let m = &compiled.metrics[0];
        assert_eq!(
            (m.labels.clone(), m.help.as_str(), m.kind, m.max_series),
            (
                vec!["m".to_string(), "src".into()],
                "Calls",
                MetricKind::FloatCounter,
                7
            )
        );
        let sources: Vec<_> = compiled
            .rules
            .iter()
            .map(|r| (r.metric, r.sources.clone()))
            .collect();
        let want = |v: &str| {
            (
                0,
                vec![
                    LabelSource::Field("m".into()),
                    LabelSource::Static(v.into()),
                ],
            )
        };
        assert_eq!(sources, [want("a"), want("b"), want("c")]);
    }

    #[test]
    fn the_error_message_reads_well() {
        let err = compile(vec![c("calls")], 10).expect_err("invalid");
        assert_eq!(
            err.to_string(),
            r#"metric rule "calls": counter name "calls" must end in `_total`"#
        );
    }
}
