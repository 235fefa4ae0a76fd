//! Metric rules from a TOML document.
//!
//! Each `[[metric]]` table is one [`MetricRule`]; unknown keys are errors.
//!
//! The format, every key with its default, is documented once, in the
//! README's "Rules in TOML" section; the tests below hold it to that.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::{self, Deserializer};

use crate::contract::level::LineLevel;
use crate::error::Error;
use crate::rules::rule::{Kind, MetricRule};

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
    #[serde(default)]
    exemplar: Vec<String>,
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
#[serde(
    untagged,
    expecting = "`when` as a table of field = value, {field = \"…\", equals = \"…\"}, or a list of those"
)]
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
#[serde(untagged, expecting = "a string, integer, float or boolean")]
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
#[serde(untagged, expecting = "a label value, or a list of label values")]
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
    rule.exemplar = m.exemplar;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The README's "Rules in TOML" block, the one copy of the format.
    fn readme_schema() -> &'static str {
        let readme = include_str!("../../README.md");
        let section = &readme[readme.find("#### Rules in TOML").expect("the section")..];
        let start = section.find("```toml\n").expect("a toml block") + "```toml\n".len();
        &section[start..start + section[start..].find("```").expect("its end")]
    }

    #[test]
    fn the_documented_format_parses_and_names_every_key() {
        let rules = parse_rules_toml(readme_schema(), "README").expect("the README's example");
        assert_eq!(rules.len(), 1);
        // The parser lists the keys it knows when it meets one it does not.
        let probe = "[[metric]]\nname = \"x\"\nkind = \"counter\"\nevt = \"e\"\nbogus = 1\n";
        let err = parse_rules_toml(probe, "probe")
            .expect_err("an unknown key")
            .to_string();
        let known = &err[err.find("expected one of").expect("the known keys")..];
        let keys: Vec<&str> = known.split('`').skip(1).step_by(2).collect();
        assert_eq!(keys.len(), 14, "{err}");
        for key in keys {
            let written = format!("\n{key} = ");
            assert!(readme_schema().contains(&written), "the README omits {key}");
        }
    }

    use crate::rules::engine::MetricsEngine;
    use crate::rules::engine::tests::{Ev, render_with, without_self};

    fn toml_error(text: &str) -> String {
        match parse_rules_toml(text, "rules.toml") {
            Err(Error::Toml { origin, message }) => {
                assert_eq!(origin, "rules.toml");
                message
            }
            other => panic!("expected a TOML error, got {other:?}"),
        }
    }

    #[test]
    fn every_key_maps_to_the_builder() {
        let text = r#"
[[metric]]
name = "limited_total"
kind = "counter"
evt = "call"
levels = ["error", "CRITICAL", "warn"]
when = { status = 429, retry = true }
labels = ["model"]
static_labels = { team = "nlp", app = "x" }
help = "Limited calls"
max_series = 10
precreate = [{ model = ["a", "b"] }, { model = "c" }]

[[metric]]
name = "lat_seconds"
kind = "histogram"
evt = "call"
when = [{ field = "outcome", equals = "success" }, { field = "ratio", equals = 0.5 }]
value = "latency_s"
unit = "seconds"
buckets = [0.5, 1.0]
exemplar = ["paper_id", "run_id"]

[[metric]]
name = "d_usd"
kind = "daily_sum"
evt = "call"
when = { field = "outcome", equals = "error" }
value = "cost_usd"
"#;
        let rules = parse_rules_toml(text, "<string>").expect("valid");
        let want = vec![
            MetricRule::counter("limited_total")
                .on("call")
                .labels(["model"])
                .levels([LineLevel::Error, LineLevel::Critical, LineLevel::Warning])
                .when("retry", "true")
                .when("status", "429")
                .static_label("app", "x")
                .static_label("team", "nlp")
                .help("Limited calls")
                .max_series(10)
                .precreate([[("model", "a")], [("model", "b")], [("model", "c")]]),
            MetricRule::histogram("lat_seconds")
                .on("call")
                .when("outcome", "success")
                .when("ratio", "0.5")
                .value("latency_s")
                .unit("seconds")
                .buckets([0.5, 1.0])
                .exemplar(["paper_id", "run_id"]),
            MetricRule::daily_sum("d_usd")
                .on("call")
                .when("outcome", "error")
                .value("cost_usd"),
        ];
        assert_eq!(rules, want);
        assert_eq!(parse_rules_toml("", "<string>").expect("empty is fine"), []);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_reported_with_their_position() {
        let unknown = toml_error(
            "[[metric]]\nname = \"a_total\"\nkind = \"counter\"\nevt = \"e\"\nlabel = [\"x\"]\n",
        );
        assert!(
            unknown.contains("line 5, column 1") && unknown.contains("unknown field `label`"),
            "{unknown}"
        );
        let kind = toml_error("[[metric]]\nname = \"a\"\nkind = \"summary\"\nevt = \"e\"\n");
        assert!(
            kind.contains("line 3") && kind.contains("unknown variant `summary`"),
            "{kind}"
        );
        let level = toml_error(
            "[[metric]]\nname = \"a_total\"\nkind = \"counter\"\nevt = \"e\"\nlevels = [\"loud\"]\n",
        );
        assert!(
            level.contains("line 5") && level.contains(r#"unknown level "loud""#),
            "{level}"
        );
        let missing = toml_error("[[metric]]\nname = \"a_total\"\nkind = \"counter\"\n");
        assert!(missing.contains("missing field `evt`"), "{missing}");
        let top = toml_error("[[metrics]]\nname = \"a_total\"\n");
        assert!(
            top.contains("line 1") && top.contains("unknown field `metrics`"),
            "{top}"
        );
        let syntax = toml_error("[[metric]\n");
        assert!(syntax.contains("line 1"), "{syntax}");
        let when = toml_error(
            "[[metric]]\nname = \"a_total\"\nkind = \"counter\"\nevt = \"e\"\nwhen = 3\n",
        );
        assert!(
            when.contains("line 5") && when.contains("`when` as a table of field = value"),
            "{when}"
        );
        let pre = toml_error(
            "[[metric]]\nname = \"a_total\"\nkind = \"counter\"\nevt = \"e\"\nlabels = [\"x\"]\nprecreate = [{ x = {} }]\n",
        );
        assert!(
            pre.contains("line 6") && pre.contains("a label value, or a list of label values"),
            "{pre}"
        );
    }

    #[test]
    fn a_huge_precreate_product_is_refused() {
        let values: Vec<String> = (0..1_000).map(|i| format!("\"{i}\"")).collect();
        let list = values.join(",");
        let text = format!(
            "[[metric]]\nname = \"a_total\"\nkind = \"counter\"\nevt = \"e\"\nlabels = [\"x\", \"y\"]\nprecreate = [{{ x = [{list}], y = [{list}] }}]\n"
        );
        assert_eq!(
            toml_error(&text),
            "metric \"a_total\": precreate expands to more than 100000 label sets"
        );
    }

    const PRESET: &str = include_str!("../../examples/telemetry.toml");
    const MODELS: [&str; 4] = [
        "anthropic/claude-3.5-haiku",
        "deepseek/deepseek-v3.2-exp",
        "google/gemini-2.0-flash-001",
        "openai/gpt-4o-mini",
    ];

    #[test]
    fn the_preset_parses_and_builds_with_the_dashboard_names() {
        let rules = parse_rules_toml(PRESET, "examples/telemetry.toml").expect("preset parses");
        let names: Vec<&str> = rules.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "openrouter_errors_total",
                "openrouter_calls_total",
                "openrouter_call_latency_seconds",
                "openrouter_cost_usd_total",
                "daily_cost_usd",
                "translations_total",
                "translation_latency_seconds",
                "pipeline_runs_total",
                "queue_pending_jobs",
            ]
        );
        assert!(rules.iter().all(|r| r.help.is_some()));
        let engine = MetricsEngine::new(rules, 1_000).expect("preset builds");
        assert_eq!(
            engine.catalogue().float_counters(),
            ["openrouter_cost_usd_total"]
        );
    }

    #[test]
    fn the_preset_precreates_the_alerted_errors_for_every_model() {
        let rules = parse_rules_toml(PRESET, "examples/telemetry.toml").expect("preset parses");
        let text = render_with(rules, |e| {
            e.ensure_init();
        });
        let mut want = String::from(
            "# HELP openrouter_errors_total Failed OpenRouter API calls, by HTTP status, error code, component and model\n\
             # TYPE openrouter_errors_total counter\n",
        );
        for (status, code) in [
            ("401", "invalid_key"),
            ("402", "payment_required"),
            ("429", "rate_limited"),
        ] {
            for model in MODELS {
                want += &format!(
                    "openrouter_errors_total{{status=\"{status}\",code=\"{code}\",component=\"translation_service\",model=\"{model}\"}} 0\n"
                );
            }
        }
        let errors = without_self(&text);
        let block = errors
            .split_inclusive("\n\n")
            .find(|b| b.contains("# TYPE openrouter_errors_total"));
        assert_eq!(block, Some(format!("{want}\n").as_str()));
        assert!(
            text.contains("pipeline_runs_total{result=\"failure\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("translation_latency_seconds_count 0\n"),
            "{text}"
        );
    }

    #[test]
    fn the_preset_turns_catalogue_events_into_every_metric() {
        let rules = parse_rules_toml(PRESET, "examples/telemetry.toml").expect("preset parses");
        let text = render_with(rules, |e| {
            let call = Ev::new("openrouter_call")
                .s("model", "openai/gpt-4o-mini")
                .s("component", "translation_service")
                .f("latency_s", 1.5)
                .u("tokens_in", 1200)
                .u("tokens_out", 800)
                .f("cost_usd", 0.0021)
                .s("outcome", "success")
                .u("status", 200);
            e.on_event(&call);
            e.on_event(
                &Ev::new("translation_done")
                    .s("component", "translation_service")
                    .f("latency_s", 42.0)
                    .s("paper_id", "p1"),
            );
            e.on_event(
                &Ev::new("pipeline_run")
                    .s("result", "success")
                    .f("duration_s", 90.0)
                    .s("run_id", "r1"),
            );
            e.on_event(&Ev::new("queue_depth").u("pending", 17));
        });
        for line in [
            "openrouter_calls_total{component=\"translation_service\",model=\"openai/gpt-4o-mini\",outcome=\"success\"} 1\n",
            "openrouter_call_latency_seconds_bucket{model=\"openai/gpt-4o-mini\",le=\"2\"} 1\n",
            "openrouter_cost_usd_total{model=\"openai/gpt-4o-mini\"} 0.0021\n",
            "daily_cost_usd{model=\"openai/gpt-4o-mini\"} 0.0021\n",
            "translations_total{component=\"translation_service\"} 1\n",
            "translation_latency_seconds_bucket{le=\"60\"} 1\n",
            "pipeline_runs_total{result=\"success\"} 1\n",
            "queue_pending_jobs 17\n",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
    }
}
