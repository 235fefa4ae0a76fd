//! Checking metric rules once, and merging the rules of each metric into one
//! definition the engine runs.

use std::collections::HashMap;

use crate::contract::level::LineLevel;
use crate::error::Error;
use crate::rules::check::check_rule;
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
    /// Fields labelling the metric's exemplars; empty for none.
    pub(crate) exemplar: Vec<String>,
}

/// All rules, checked and merged.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Compiled {
    pub(crate) metrics: Vec<MetricDef>,
    pub(crate) rules: Vec<RuleDef>,
}

pub(crate) fn rule_error(metric: &str, message: impl Into<String>) -> Error {
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

pub(crate) fn label_names(rule: &MetricRule) -> impl Iterator<Item = &str> {
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
        exemplar: rule.exemplar.clone(),
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
        let cases: [(MetricRule, &str); 15] = [
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
            (
                c("telemetry_exporter_connections_total"),
                r#"metric name "telemetry_exporter_connections_total" is a built-in self-metric"#,
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
    fn exemplar_fields_that_cannot_work_are_refused_naming_the_metric() {
        let long: Vec<String> = (0..10).map(|i| format!("exemplar_field_{i:02}")).collect();
        let cases = [
            (
                MetricRule::gauge("g").on("e").value("v").exemplar(["id"]),
                "`exemplar` is only for counters and histograms, not a gauge",
            ),
            (
                MetricRule::daily_sum("d")
                    .on("e")
                    .value("v")
                    .exemplar(["id"]),
                "`exemplar` is only for counters and histograms, not a daily_sum",
            ),
            (
                c("a_total").exemplar(["id", "id"]),
                "exemplar field \"id\" is given twice",
            ),
            (
                c("a_total").exemplar(["request-id"]),
                "exemplar label name \"request-id\" does not match [a-zA-Z_][a-zA-Z0-9_]*",
            ),
            (
                c("a_total").exemplar(long.clone()),
                &format!(
                    "exemplar fields {long:?} need 180 characters with one per value, more than the 128 OpenMetrics allows"
                ),
            ),
        ];
        for (rule, want) in cases {
            let name = rule.name.clone();
            assert_eq!(one(rule), (name, want.to_string()));
        }
        let fits: Vec<String> = (0..7).map(|i| format!("exemplar_field_{i:02}")).collect();
        let ok = compile(vec![c("a_total").exemplar(fits.clone())], 10).expect("fits");
        assert_eq!(ok.rules[0].exemplar, fits);
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
