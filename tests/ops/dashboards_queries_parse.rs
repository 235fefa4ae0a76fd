//! The Grafana dashboards are valid, linked to each other, and every PromQL expression in dashboards, rules and
//! docs parses and names only metrics and labels the crate exports.

use crate::common::kit as support;

use std::collections::{BTreeMap, BTreeSet};
use support::promql;
use support::queries::{self, Kind, Lang};

const UIDS: &[&str] = &[
    "evt-costs-budgets",
    "evt-openrouter-health",
    "evt-pipeline-overview",
];

fn dashboards() -> Vec<(String, serde_json::Value)> {
    queries::dashboard_files()
        .iter()
        .map(|p| {
            (
                p.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                support::json(p),
            )
        })
        .collect()
}

#[test]
fn three_dashboards_with_stable_uids_named_after_their_files() {
    let found: Vec<(String, String)> = dashboards()
        .iter()
        .map(|(file, d)| {
            (
                file.clone(),
                d["uid"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = UIDS
        .iter()
        .map(|u| (format!("{u}.json"), u.to_string()))
        .collect();
    assert_eq!(found, expected);
    for (file, d) in dashboards() {
        assert!(
            d["title"].as_str().is_some_and(|t| !t.is_empty()),
            "{file}: title"
        );
        assert!(
            d.get("id").is_none_or(|id| id.is_null()),
            "{file}: a provisioned dashboard carries no numeric id"
        );
        assert_eq!(
            d["tags"],
            serde_json::json!(["evt-telemetry"]),
            "{file}: tags"
        );
    }
}

#[test]
fn every_panel_and_target_uses_a_datasource_variable() {
    for (file, d) in dashboards() {
        let vars: BTreeMap<&str, &str> = d["templating"]["list"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|v| v["type"] == "datasource")
            .map(|v| {
                (
                    v["name"].as_str().unwrap_or_default(),
                    v["query"].as_str().unwrap_or_default(),
                )
            })
            .collect();
        assert_eq!(
            vars.get("datasource"),
            Some(&"prometheus"),
            "{file}: needs a prometheus datasource variable"
        );
        let check = |ds: &serde_json::Value, what: &str| {
            let uid = ds["uid"].as_str().unwrap_or_default();
            let name = uid.strip_prefix("${").and_then(|s| s.strip_suffix('}'));
            let kind = name.and_then(|n| vars.get(n));
            assert_eq!(
                kind.copied(),
                ds["type"].as_str(),
                "{file}: {what}: datasource {ds} is not a matching variable"
            );
        };
        for panel in queries::panels(&d)
            .into_iter()
            .filter(|p| p["type"] != "row")
        {
            check(&panel["datasource"], &format!("panel {}", panel["title"]));
            for t in panel["targets"].as_array().into_iter().flatten() {
                check(
                    &t["datasource"],
                    &format!("panel {} target {}", panel["title"], t["refId"]),
                );
            }
        }
        for ann in d["annotations"]["list"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["builtIn"] != 1)
        {
            check(&ann["datasource"], &format!("annotation {}", ann["name"]));
        }
        for var in d["templating"]["list"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|v| v["type"] == "query")
        {
            check(&var["datasource"], &format!("variable {}", var["name"]));
        }
    }
}

#[test]
fn panels_have_unique_ids_titles_and_fit_the_grid() {
    for (file, d) in dashboards() {
        let mut ids = BTreeSet::new();
        for panel in queries::panels(&d) {
            let id = panel["id"]
                .as_u64()
                .unwrap_or_else(|| panic!("{file}: panel without id: {}", panel["title"]));
            assert!(ids.insert(id), "{file}: duplicate panel id {id}");
            assert!(
                panel["title"].as_str().is_some_and(|t| !t.is_empty()),
                "{file}: panel {id} has no title"
            );
            let g = &panel["gridPos"];
            let (x, w) = (g["x"].as_u64().unwrap_or(99), g["w"].as_u64().unwrap_or(99));
            assert!(
                x + w <= 24 && g["h"].as_u64().is_some_and(|h| h > 0),
                "{file}: panel {id} gridPos {g}"
            );
            if panel["type"] != "row" {
                let targets = panel["targets"].as_array().map_or(0, Vec::len);
                assert!(targets > 0, "{file}: panel {} has no query", panel["title"]);
            }
        }
    }
}

#[test]
fn each_dashboard_links_to_the_other_two_and_every_link_resolves() {
    for (file, d) in dashboards() {
        let top: BTreeSet<String> = d["links"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|l| {
                l["url"]
                    .as_str()
                    .and_then(|u| u.strip_prefix("/d/"))
                    .map(str::to_owned)
            })
            .collect();
        let others: BTreeSet<String> = UIDS
            .iter()
            .filter(|u| d["uid"] != **u)
            .map(|u| u.to_string())
            .collect();
        assert_eq!(top, others, "{file}: dashboard links");
        // Every "/d/<uid>" anywhere (panel data links included) names an existing dashboard.
        let text = d.to_string();
        for (pos, _) in text.match_indices("/d/") {
            let uid: String = text[pos + 3..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            assert!(
                UIDS.contains(&uid.as_str()),
                "{file}: link to unknown dashboard uid {uid:?}"
            );
        }
    }
}

#[test]
fn template_variables_are_used_only_as_regex_matchers() {
    let all = queries::all_dashboard_queries();
    assert!(
        all.len() > 40,
        "expected the dashboards' queries, found {}",
        all.len()
    );
    for q in &all {
        let bad = queries::variable_misuse(&q.expr);
        assert!(
            bad.is_empty(),
            "{}: variables {bad:?} outside `=~\"$var\"` in {}",
            q.origin,
            q.expr
        );
    }
    for (origin, metric, label) in queries::label_value_variables() {
        let known = promql::catalogue_labels(&metric)
            .unwrap_or_else(|| panic!("{origin}: unknown metric {metric}"));
        assert!(
            known.contains(&label),
            "{origin}: {metric} has no label {label}"
        );
    }
}

#[test]
fn rates_in_dashboards_use_the_rate_interval_or_the_range() {
    for q in queries::all_dashboard_queries()
        .into_iter()
        .filter(|q| q.lang == Lang::PromQl)
    {
        let expr = promql::parse(&queries::substitute_grafana_vars(&q.expr))
            .expect("parses (checked elsewhere)");
        let mut windows = Vec::new();
        promql::walk(&expr, &mut |e| {
            if let promql_parser::parser::Expr::MatrixSelector(_) = e {
                windows.push(e.to_string());
            }
        });
        for (pos, _) in q.expr.match_indices('[') {
            let window: String = q.expr[pos + 1..]
                .chars()
                .take_while(|c| *c != ']')
                .collect();
            let fixed_24h = window == "24h" && q.origin.contains("evt-costs-budgets");
            assert!(
                ["$__rate_interval", "$__range"].contains(&window.as_str()) || fixed_24h,
                "{}: range [{window}] should be $__rate_interval or $__range (fixed windows belong in rules): {}",
                q.origin,
                q.expr
            );
        }
        assert!(!windows.is_empty() || !q.expr.contains('['), "{}", q.origin);
    }
}

#[test]
fn every_promql_expression_parses_after_variable_substitution() {
    let all = queries::all_promql();
    let count = |k: Kind| all.iter().filter(|q| q.kind == k).count();
    assert!(
        count(Kind::Panel) >= 40
            && count(Kind::Alert) == 3
            && count(Kind::Recording) == 8
            && count(Kind::Doc) >= 5
    );
    let mut failures = Vec::new();
    for q in &all {
        let expr = queries::substitute_grafana_vars(&q.expr);
        if let Err(e) = promql::parse(&expr) {
            failures.push(format!("{}: {e}\n    {expr}", q.origin));
        }
    }
    assert!(
        failures.is_empty(),
        "{} expressions do not parse:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_promql_expression_names_only_catalogued_metrics_and_labels() {
    let known = support::known_labels();
    let mut failures = Vec::new();
    for q in queries::all_promql() {
        let Ok(expr) = promql::parse(&queries::substitute_grafana_vars(&q.expr)) else {
            continue;
        };
        let mut bad: Vec<String> = promql::selectors(&expr)
            .iter()
            .flat_map(|vs| promql::unknown_matcher_labels(vs, &known))
            .collect();
        bad.extend(promql::unknown_grouping_labels(&expr, &known));
        if !bad.is_empty() {
            failures.push(format!("{}: {}\n    {}", q.origin, bad.join("; "), q.expr));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_label_checker_rejects_unknown_metrics_and_labels() {
    let known = support::known_labels();
    let check = |src: &str| {
        let expr = promql::parse(src).expect("valid PromQL");
        let mut bad: Vec<String> = promql::selectors(&expr)
            .iter()
            .flat_map(|vs| promql::unknown_matcher_labels(vs, &known))
            .collect();
        bad.extend(promql::unknown_grouping_labels(&expr, &known));
        bad
    };
    assert_eq!(
        check("sum by (model) (rate(openrouter_calls_total[1m]))"),
        Vec::<String>::new()
    );
    assert_eq!(
        check("openrouter_call_total"),
        vec!["unknown metric openrouter_call_total"]
    );
    assert_eq!(
        check(r#"openrouter_calls_total{status="429"}"#),
        vec!["openrouter_calls_total has no label status"]
    );
    assert_eq!(
        check("sum by (modle) (rate(openrouter_calls_total[1m]))"),
        vec!["modle (in `sum by (modle) (rate(openrouter_calls_total[1m]))`)"]
    );
    assert_eq!(
        check(
            "histogram_quantile(0.95, sum by (le) (rate(translation_latency_seconds_bucket[5m])))"
        ),
        Vec::<String>::new()
    );
    assert_eq!(
        check("sum by (le) (daily_cost_usd)"),
        vec!["le (in `sum by (le) (daily_cost_usd)`)"]
    );
    assert_eq!(
        check("sum by (model) (model:daily_cost_usd:sum)"),
        Vec::<String>::new()
    );
}

#[test]
fn grafana_variable_substitution_yields_prometheus_syntax() {
    assert_eq!(
        queries::substitute_grafana_vars(
            r#"sum(rate(x{model=~"$model",c=~"${component:regex}"}[$__rate_interval]))"#
        ),
        r#"sum(rate(x{model=~".*",c=~".*"}[1m]))"#
    );
    assert_eq!(
        queries::substitute_grafana_vars("increase(x[$__range]) + y[$__interval]"),
        "increase(x[1h]) + y[15s]"
    );
    assert_eq!(
        queries::variable_misuse(r#"x{model="$model", c=~"$c"}"#),
        vec!["model"]
    );
}
