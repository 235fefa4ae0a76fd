//! Every LogQL query of the dashboards and docs makes sense beyond its syntax (tests/common/kit/logql.rs):
//! range aggregations that need `| unwrap` have it, `quantile_over_time` has its quantile, metric queries name
//! the `| json` fields they need; and, on the example's own JSON lines (the end-to-end run), every query
//! returns lines, finds every label it uses and unwraps only numbers.

use crate::common::kit as support;

use super::prometheus_end_to_end::Report;
use serde_json::Value as Json;
use std::path::Path;
use support::logql::{self, Stage};
use support::queries::{self, Lang, Query};

/// Every LogQL query of dashboards and docs, Grafana variables substituted.
fn logql_queries() -> Vec<Query> {
    let mut all = queries::all_dashboard_queries();
    all.extend(queries::doc_queries());
    all.retain(|q| q.lang == Lang::LogQl);
    for q in &mut all {
        q.expr = queries::substitute_grafana_vars(&q.expr);
    }
    all
}

#[test]
fn every_logql_query_passes_the_semantic_checks() {
    let all = logql_queries();
    assert!(all.len() >= 8, "{} LogQL queries", all.len());
    let mut failures = Vec::new();
    for q in &all {
        match logql::parse(&q.expr) {
            Ok(parsed) => failures.extend(
                logql::semantic_problems(&parsed)
                    .into_iter()
                    .map(|p| format!("{}: {p}", q.origin)),
            ),
            Err(e) => failures.push(format!("{}: {e}", q.origin)),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_semantic_checks_reject_what_the_grammar_accepts() {
    // Each of these parses with Grafana's Lezer grammar.
    let sel = r#"{job="chinaxiv-telemetry", evt="openrouter_call"}"#;
    let cases = [
        (
            format!(r#"quantile_over_time({sel} | json l="meta.latency_s" | unwrap l [5m])"#),
            "quantile_over_time needs a quantile in [0, 1], got None",
        ),
        (
            format!(r#"sum_over_time({sel} | json c="meta.cost_usd" [1d])"#),
            "sum_over_time needs exactly one `| unwrap`, found 0",
        ),
        (
            format!(r#"count_over_time({sel} | json c="meta.cost_usd" | unwrap c [1m])"#),
            "count_over_time counts lines: `| unwrap` makes no sense",
        ),
        (
            format!(r#"sum by (meta_model) (count_over_time({sel} | json [1m]))"#),
            "a metric query extracts all fields with a bare `| json`: name the fields it needs",
        ),
    ];
    for (query, problem) in cases {
        let parsed = logql::parse(&query).unwrap_or_else(|e| panic!("{query}: {e}"));
        assert_eq!(logql::semantic_problems(&parsed), [problem], "{query}");
    }
}

#[test]
fn the_emulation_applies_json_filters_and_unwrap_like_loki() {
    let lines: Vec<Json> = [
        r#"{"ts":"2025-10-06T13:43:10.123Z","level":"error","evt":"openrouter_error","source":"s","msg":"429","meta":{"status":429,"code":"rate_limited","model":"a"}}"#,
        r#"{"ts":"2025-10-06T13:43:11.123Z","level":"error","evt":"openrouter_error","source":"s","msg":"502","meta":{"status":502,"code":"bad_gateway","model":"b"}}"#,
        r#"{"ts":"2025-10-06T13:43:12.123Z","level":"info","evt":"openrouter_call","source":"s","msg":"ok","meta":{"model":"a","cost_usd":0.25}}"#,
    ]
    .iter()
    .map(|l| serde_json::from_str(l).expect("json"))
    .collect();
    let run = |q: &str| logql::run(&logql::parse(q).expect("parses"), &lines);
    // Bare json flattens meta.code to meta_code; level clashes with the stream label.
    let all = run(
        r#"{job="chinaxiv-telemetry"} | json | level_extracted = "error" | meta_code =~ "rate.*""#,
    );
    assert_eq!((all.lines, all.missing_labels.len()), (1, 0));
    let named = run(r#"{evt="openrouter_error"} | json s="meta.status" | s >= 500"#);
    assert_eq!(named.lines, 1);
    assert_eq!(run(r#"{evt=~"openrouter_.*"} |= "bad_gateway""#).lines, 1);
    assert_eq!(
        run(r#"{evt=~"openrouter_.*"} != "bad_gateway" |~ "rate_lim""#).lines,
        1
    );
    let cost =
        run(r#"sum_over_time({evt="openrouter_call"} | json c="meta.cost_usd" | unwrap c [1d])"#);
    assert_eq!((cost.lines, cost.values.clone()), (1, vec![0.25]));
    let missing = run(
        r#"{evt="openrouter_error"} | json code="meta.code" | line_format "{{.nope}} {{.code}}""#,
    );
    assert_eq!(
        missing.missing_labels.into_iter().collect::<Vec<_>>(),
        ["nope"]
    );
    let not_a_number =
        run(r#"sum_over_time({evt="openrouter_error"} | json m="meta.model" | unwrap m [1m])"#);
    assert_eq!((not_a_number.lines, not_a_number.unwrap_errors), (0, 2));
}

/// Runs every query over the JSON lines in `logs` (the example's output): each must return lines, find every
/// label it uses, and unwrap only numbers.
pub(crate) fn check_on_example_output(logs: &Path, report: &mut Report) {
    let mut lines = Vec::new();
    for entry in std::fs::read_dir(logs).expect("log dir").flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        lines.extend(
            text.lines()
                .filter_map(|l| serde_json::from_str::<Json>(l).ok()),
        );
    }
    for q in logql_queries() {
        report.checks += 1;
        let Ok(parsed) = logql::parse(&q.expr) else {
            report
                .failures
                .push(format!("{}: does not parse", q.origin));
            continue;
        };
        let out = logql::run(&parsed, &lines);
        let unwraps = parsed.stages.iter().any(|s| matches!(s, Stage::Unwrap(_)));
        if out.lines == 0 || !out.missing_labels.is_empty() || out.unwrap_errors > 0 {
            report.failures.push(format!(
                "{}: on {} example lines: {} lines pass, labels missing {:?}, unwrap errors {}{}: {}",
                q.origin,
                lines.len(),
                out.lines,
                out.missing_labels,
                out.unwrap_errors,
                if unwraps { " (unwrap)" } else { "" },
                q.expr
            ));
        }
    }
}
