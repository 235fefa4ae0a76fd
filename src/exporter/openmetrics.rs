//! OpenMetrics 1.0 text, made from the finished Prometheus text and the
//! rules' exemplars, and the content negotiation that picks it.
//!
//! The differences from the Prometheus text format: counter families are
//! named without `_total` in `# TYPE`/`# HELP` (samples keep it), `# UNIT`
//! where a rule sets a unit the name ends with, `"` escaped in help text,
//! exemplars after histogram buckets and counter samples, no blank lines,
//! and `# EOF` at the end.

use std::collections::HashMap;

use crate::rules::exemplars::{Exemplar, MetricExemplars};

/// The content type of the Prometheus text format.
pub(crate) const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
/// The content type of OpenMetrics 1.0 text.
pub(crate) const OPENMETRICS_TEXT: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Whether an `Accept` header prefers OpenMetrics text to the Prometheus
/// text format: `application/openmetrics-text` with a quality above 0 and
/// at least that of `text/plain` (or a wildcard). No header: no.
pub(crate) fn wants_openmetrics(accept: Option<&str>) -> bool {
    let (mut openmetrics, mut text) = (0.0_f64, 0.0_f64);
    for range in accept.unwrap_or("").split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
            .map_or(Some(1.0), |(_, v)| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0);
        match media.as_str() {
            "application/openmetrics-text" => openmetrics = openmetrics.max(q),
            "text/plain" | "text/*" | "*/*" => text = text.max(q),
            _ => {}
        }
    }
    openmetrics > 0.0 && openmetrics >= text
}

/// What OpenMetrics text needs beside the Prometheus text.
#[derive(Debug, Default)]
pub(crate) struct OpenMetricsInfo {
    /// Metric name and unit, for `# UNIT`.
    pub(crate) units: Vec<(String, String)>,
    /// The exporter's global label names (not part of a series' own labels).
    pub(crate) global_labels: Vec<String>,
}

/// One family's exemplars: per series (its own labels as rendered), one
/// slot per bucket or one for a counter.
struct FamilyExemplars<'a> {
    bounds: &'a [f64],
    series: HashMap<String, &'a [Option<Exemplar>]>,
}

/// The OpenMetrics text of `prometheus` (the finished Prometheus text: one
/// block per family, `# HELP` then `# TYPE` then samples).
pub(crate) fn to_openmetrics(
    prometheus: &str,
    info: &OpenMetricsInfo,
    exemplars: &[MetricExemplars],
) -> String {
    let by_family: HashMap<&str, FamilyExemplars<'_>> = exemplars
        .iter()
        .map(|m| (m.name.as_str(), family_exemplars(m)))
        .collect();
    let mut out = String::with_capacity(prometheus.len() + 64);
    let mut help: Option<&str> = None;
    let mut family: Option<(&str, Option<&FamilyExemplars<'_>>)> = None;
    for line in prometheus.lines().filter(|l| !l.is_empty()) {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            help = Some(rest);
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "unknown"));
            write_metadata(&mut out, name, kind, help.take(), info);
            family = Some((name, by_family.get(name)));
        } else if !line.starts_with('#') {
            out.push_str(line);
            if let Some((name, Some(ex))) = family {
                write_exemplar(&mut out, line, name, ex, &info.global_labels);
            }
            out.push('\n');
        }
    }
    out.push_str("# EOF\n");
    out
}

fn family_exemplars(m: &MetricExemplars) -> FamilyExemplars<'_> {
    let series = m.series.iter().map(|(values, slots)| {
        let mut body = String::new();
        for (i, (name, value)) in m.label_names.iter().zip(values).enumerate() {
            if i > 0 {
                body.push(',');
            }
            body.push_str(name);
            body.push_str("=\"");
            escape_prometheus(&mut body, value);
            body.push('"');
        }
        (body, slots.as_slice())
    });
    FamilyExemplars {
        bounds: &m.bounds,
        series: series.collect(),
    }
}

/// A label value as the Prometheus text escapes it (and the OpenMetrics text
/// reads it): `\\`, `\"`, `\n`.
fn escape_prometheus(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn write_metadata(
    out: &mut String,
    name: &str,
    kind: &str,
    help: Option<&str>,
    info: &OpenMetricsInfo,
) {
    let family = match kind {
        "counter" => name.strip_suffix("_total").unwrap_or(name),
        _ => name,
    };
    if let Some(text) = help.and_then(|h| h.split_once(' ')).map(|(_, t)| t) {
        out.push_str("# HELP ");
        out.push_str(family);
        out.push(' ');
        // Prometheus help text escapes `\` and newlines already; OpenMetrics
        // also wants `"` escaped.
        out.push_str(&text.replace('"', "\\\""));
        out.push('\n');
    }
    out.push_str("# TYPE ");
    out.push_str(family);
    out.push(' ');
    out.push_str(kind);
    out.push('\n');
    let unit = info.units.iter().find(|(n, _)| n == name).map(|(_, u)| u);
    // OpenMetrics wants the unit as the name's last word: units that are not
    // are left out rather than making the text invalid.
    if let Some(unit) = unit.filter(|u| {
        family
            .strip_suffix(u.as_str())
            .is_some_and(|f| f.ends_with('_'))
    }) {
        out.push_str("# UNIT ");
        out.push_str(family);
        out.push(' ');
        out.push_str(unit);
        out.push('\n');
    }
}

/// Appends the exemplar of the sample `line` of family `name`, if it has one.
fn write_exemplar(
    out: &mut String,
    line: &str,
    name: &str,
    ex: &FamilyExemplars<'_>,
    global: &[String],
) {
    let sample = line.split(['{', ' ']).next().unwrap_or("");
    let wanted = if !ex.bounds.is_empty() {
        sample == format!("{name}_bucket")
    } else {
        sample == name
    };
    if !wanted {
        return;
    }
    let Some(labels) = parse_labels(&line[sample.len()..]) else {
        return;
    };
    let mut body = String::new();
    let mut slot = 0;
    for (k, v) in labels {
        if k == "le" {
            slot = bucket_slot(ex.bounds, v);
            continue;
        }
        if global.iter().any(|g| g == k) {
            continue;
        }
        if !body.is_empty() {
            body.push(',');
        }
        body.push_str(k);
        body.push_str("=\"");
        body.push_str(v);
        body.push('"');
    }
    let found = ex.series.get(&body).and_then(|slots| slots.get(slot));
    if let Some(Some(exemplar)) = found {
        exemplar.write_suffix(out);
    }
}

/// The slot of bucket `le` among `bounds` (`+Inf` and unknown bounds: last).
fn bucket_slot(bounds: &[f64], le: &str) -> usize {
    let le: Option<f64> = le.parse().ok();
    le.and_then(|le| bounds.iter().position(|b| *b == le))
        .unwrap_or(bounds.len())
}

/// The label pairs of `{k="v",...} value` (values as escaped in the text);
/// an empty list without braces; `None` if malformed.
fn parse_labels(rest: &str) -> Option<Vec<(&str, &str)>> {
    let Some(mut rest) = rest.strip_prefix('{') else {
        return Some(Vec::new());
    };
    let mut pairs = Vec::new();
    loop {
        if let Some(after) = rest.strip_prefix('}') {
            let _ = after;
            return Some(pairs);
        }
        let (name, after) = rest.split_once("=\"")?;
        let end = closing_quote(after)?;
        pairs.push((name.trim_start_matches(','), &after[..end]));
        rest = after[end + 1..].trim_start_matches(',');
    }
}

/// The position of the first `"` in `s` not escaped by a backslash.
fn closing_quote(s: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, b) in s.bytes().enumerate() {
        match b {
            b'\\' if !escaped => escaped = true,
            b'"' if !escaped => return Some(i),
            _ => escaped = false,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exporter::{ExporterConfig, build_recorder, exposition::finish_exposition};
    use crate::rules::engine::MetricsEngine;
    use crate::rules::engine::tests::{Ev, TS};
    use crate::rules::rule::MetricRule;

    #[test]
    fn prometheus_scrapers_get_openmetrics_and_others_the_text_format() {
        let prometheus_2_42 = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert!(wants_openmetrics(Some(prometheus_2_42)));
        assert!(wants_openmetrics(Some("application/openmetrics-text")));
        assert!(wants_openmetrics(Some(
            "Application/OpenMetrics-Text; q=0.9, text/plain; q=0.5"
        )));
        assert!(!wants_openmetrics(None));
        assert!(!wants_openmetrics(Some("*/*")));
        assert!(!wants_openmetrics(Some("text/plain;version=0.0.4")));
        assert!(!wants_openmetrics(Some("application/openmetrics-text;q=0")));
        assert!(!wants_openmetrics(Some(
            "application/openmetrics-text;q=0.4,text/plain;q=0.5"
        )));
        assert!(!wants_openmetrics(Some("application/openmetrics-text;q=x")));
    }

    const PROM: &str = "\
# HELP a_seconds Lat \"quoted\" \\\\ back\\nslash
# TYPE a_seconds histogram
a_seconds_bucket{env=\"prod\",m=\"a\\\"b\",le=\"0.5\"} 1
a_seconds_bucket{env=\"prod\",m=\"a\\\"b\",le=\"+Inf\"} 2
a_seconds_sum{env=\"prod\",m=\"a\\\"b\"} 3.25
a_seconds_count{env=\"prod\",m=\"a\\\"b\"} 2

# HELP b_total B
# TYPE b_total counter
b_total{env=\"prod\",x=\"1\"} 5
b_total{env=\"prod\",x=\"2\"} 1

# TYPE g gauge
g{env=\"prod\"} -1.5

";

    fn exemplar(labels: &str, value: f64, ts_ms: i64) -> Option<Exemplar> {
        let labels = labels.to_string();
        Some(Exemplar {
            labels,
            value,
            ts_ms,
        })
    }

    #[test]
    fn openmetrics_text_names_counter_families_without_total_and_carries_exemplars() {
        let info = OpenMetricsInfo {
            units: vec![
                ("a_seconds".into(), "seconds".into()),
                ("b_total".into(), "usd".into()),
            ],
            global_labels: vec!["env".into()],
        };
        let exemplars = [
            MetricExemplars {
                name: "a_seconds".into(),
                label_names: vec!["m".into()],
                bounds: vec![0.5],
                series: vec![(
                    vec!["a\"b".into()],
                    vec![
                        exemplar("paper_id=\"p-1\"", 0.25, TS),
                        exemplar("paper_id=\"p-2\"", 2.75, TS + 5),
                    ],
                )],
            },
            MetricExemplars {
                name: "b_total".into(),
                label_names: vec!["x".into()],
                bounds: vec![],
                series: vec![
                    (
                        vec!["2".into()],
                        vec![exemplar("request_id=\"r-9\"", 1.0, TS - 1)],
                    ),
                    (
                        vec!["3".into()],
                        vec![exemplar("request_id=\"r-0\"", 1.0, TS)],
                    ),
                ],
            },
        ];
        let want = "\
# HELP a_seconds Lat \\\"quoted\\\" \\\\ back\\nslash
# TYPE a_seconds histogram
# UNIT a_seconds seconds
a_seconds_bucket{env=\"prod\",m=\"a\\\"b\",le=\"0.5\"} 1 # {paper_id=\"p-1\"} 0.25 1759758190.123
a_seconds_bucket{env=\"prod\",m=\"a\\\"b\",le=\"+Inf\"} 2 # {paper_id=\"p-2\"} 2.75 1759758190.128
a_seconds_sum{env=\"prod\",m=\"a\\\"b\"} 3.25
a_seconds_count{env=\"prod\",m=\"a\\\"b\"} 2
# HELP b B
# TYPE b counter
b_total{env=\"prod\",x=\"1\"} 5
b_total{env=\"prod\",x=\"2\"} 1 # {request_id=\"r-9\"} 1 1759758190.122
# TYPE g gauge
g{env=\"prod\"} -1.5
# EOF
";
        assert_eq!(to_openmetrics(PROM, &info, &exemplars), want);
    }

    #[test]
    fn without_exemplars_only_the_format_changes() {
        let want = "\
# HELP a_seconds Lat \\\"quoted\\\" \\\\ back\\nslash
# TYPE a_seconds histogram
a_seconds_bucket{env=\"prod\",m=\"a\\\"b\",le=\"0.5\"} 1
a_seconds_bucket{env=\"prod\",m=\"a\\\"b\",le=\"+Inf\"} 2
a_seconds_sum{env=\"prod\",m=\"a\\\"b\"} 3.25
a_seconds_count{env=\"prod\",m=\"a\\\"b\"} 2
# HELP b B
# TYPE b counter
b_total{env=\"prod\",x=\"1\"} 5
b_total{env=\"prod\",x=\"2\"} 1
# TYPE g gauge
g{env=\"prod\"} -1.5
# EOF
";
        assert_eq!(to_openmetrics(PROM, &OpenMetricsInfo::default(), &[]), want);
    }

    /// From events through the engine and the recorder to the text.
    #[test]
    fn events_become_exemplars_of_their_bucket_and_counter_series() {
        let rules = vec![
            MetricRule::histogram("lat_seconds")
                .on("call")
                .value("latency_s")
                .labels(["model"])
                .buckets([0.5, 1.0])
                .exemplar(["request_id", "attempt"]),
            MetricRule::counter("errors_total")
                .on("call")
                .when("outcome", "error")
                .labels(["model"])
                .exemplar(["request_id"]),
            MetricRule::counter("calls_total").on("call"),
        ];
        let engine = MetricsEngine::new(rules, 100).expect("valid");
        let recorder = build_recorder(&ExporterConfig::default(), &engine).expect("recorder");
        let call = |id: &str, s: f64, ts: i64| {
            Ev::new("call")
                .s("model", "m")
                .s("request_id", id)
                .f("latency_s", s)
                .at(ts)
        };
        metrics::with_local_recorder(&recorder, || {
            engine.on_event(&call("r1", 0.2, TS).u("attempt", 1));
            engine.on_event(&call("r2", 0.3, TS + 1).s("outcome", "error"));
            // No exemplar field: the previous exemplars stay.
            engine.on_event(
                &Ev::new("call")
                    .s("model", "m")
                    .f("latency_s", 0.4)
                    .s("outcome", "error"),
            );
            engine.on_event(&call("r3", 7.0, TS + 2).b("attempt", false));
            engine.on_event(&call(&"x".repeat(200), 0.9, TS + 3));
        });
        let prom = finish_exposition(&recorder.handle().render(), &[]);
        let info = OpenMetricsInfo::default();
        let text = to_openmetrics(&prom, &info, &engine.exemplars().snapshot());
        let lines: Vec<&str> = text.lines().filter(|l| l.contains(" # {")).collect();
        let long = "x".repeat(128 - "request_id".len());
        assert_eq!(
            lines,
            [
                "errors_total{model=\"m\"} 2 # {request_id=\"r2\"} 1 1759758190.124".to_string(),
                "lat_seconds_bucket{model=\"m\",le=\"0.5\"} 3 # {request_id=\"r2\"} 0.3 1759758190.124".to_string(),
                format!("lat_seconds_bucket{{model=\"m\",le=\"1\"}} 4 # {{request_id=\"{long}\"}} 0.9 1759758190.126"),
                "lat_seconds_bucket{model=\"m\",le=\"+Inf\"} 5 # {request_id=\"r3\",attempt=\"false\"} 7 1759758190.125".to_string(),
            ]
        );
        let cut = |m: &str| format!("telemetry_exemplars_cut_total{{metric=\"{m}\"}}");
        assert!(
            text.contains(&format!("{} 1\n", cut("lat_seconds"))),
            "{text}"
        );
        assert!(
            text.contains(&format!("{} 0\n", cut("errors_total"))),
            "{text}"
        );
        assert!(!text.contains(&cut("calls_total")), "{text}");
    }
}
