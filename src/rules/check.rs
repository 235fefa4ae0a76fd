//! The checks of one rule, alone: metric and label names as Prometheus and
//! its conventions want them, values, options, buckets and precreated sets.
//! (What needs several rules, such as two rules of one metric agreeing, is
//! [`compile`](super::compile)'s.)

use crate::error::Error;
use crate::rules::compile::{label_names, rule_error};
use crate::rules::rule::{Kind, MetricRule};

/// The most UTF-8 characters of an exemplar's label names and values together (OpenMetrics 1.0).
pub(crate) const MAX_EXEMPLAR_CHARS: usize = 128;

// === one rule ===

pub(crate) fn check_rule(rule: &MetricRule) -> Result<(), Error> {
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
    check_exemplar(rule).map_err(bad)?;
    Ok(())
}

/// Exemplar fields: counters and histograms only, valid distinct label
/// names that leave room for a value each within the OpenMetrics limit.
fn check_exemplar(rule: &MetricRule) -> Result<(), String> {
    if rule.exemplar.is_empty() {
        return Ok(());
    }
    if !matches!(rule.kind, Kind::Counter | Kind::Histogram) {
        let k = rule.kind.as_str();
        return Err(format!(
            "`exemplar` is only for counters and histograms, not a {k}"
        ));
    }
    for (i, field) in rule.exemplar.iter().enumerate() {
        check_label_name(field).map_err(|m| format!("exemplar {m}"))?;
        if rule.exemplar[..i].contains(field) {
            return Err(format!("exemplar field {field:?} is given twice"));
        }
    }
    let needed: usize = rule.exemplar.iter().map(|f| f.chars().count() + 1).sum();
    if needed > MAX_EXEMPLAR_CHARS {
        return Err(format!(
            "exemplar fields {:?} need {needed} characters with one per value, more than the {MAX_EXEMPLAR_CHARS} OpenMetrics allows",
            rule.exemplar
        ));
    }
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
    if let Some(help) = &rule.help
        && help.trim().is_empty()
    {
        return Err("`help` is empty".into());
    }
    if let Some(unit) = &rule.unit
        && (unit.is_empty() || !unit.bytes().all(|b| b.is_ascii_alphabetic() || b == b'_'))
    {
        return Err(format!(
            "unit {unit:?} is not a word like \"seconds\" or \"usd\""
        ));
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
