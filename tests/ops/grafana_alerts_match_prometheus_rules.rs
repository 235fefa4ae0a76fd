//! Grafana-managed alerts and Prometheus alerting rules are the same alerts: identical expressions, `for`
//! and severity, and both routings send only critical alerts to Discord.

use crate::common::kit as support;

use serde_yaml::Value;
use std::collections::BTreeMap;
use support::{kit, queries, read, yaml};

/// (expr, for, severity) per alert name.
type Alerts = BTreeMap<String, (String, String, String)>;

fn prometheus_alerts() -> Alerts {
    queries::prometheus_rules()
        .into_iter()
        .filter(|r| r.alert)
        .map(|r| {
            let for_ = r.raw["for"].as_str().unwrap_or("0s").to_owned();
            let severity = r.raw["labels"]["severity"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            (r.name, (r.expr, for_, severity))
        })
        .collect()
}

fn grafana_rules() -> Vec<Value> {
    let doc = yaml(&kit("grafana/alerting/rules.yaml"));
    doc["groups"]
        .as_sequence()
        .into_iter()
        .flatten()
        .flat_map(|g| g["rules"].as_sequence().cloned().unwrap_or_default())
        .collect()
}

fn grafana_alerts() -> Alerts {
    grafana_rules()
        .iter()
        .map(|rule| {
            let title = rule["title"].as_str().expect("title").to_owned();
            let data = rule["data"].as_sequence().expect("data");
            let a = data.iter().find(|d| d["refId"] == "A").expect("query A");
            let expr = a["model"]["expr"]
                .as_str()
                .expect("A.model.expr")
                .to_owned();
            let for_ = rule["for"].as_str().unwrap_or("0s").to_owned();
            let severity = rule["labels"]["severity"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            (title, (expr, for_, severity))
        })
        .collect()
}

#[test]
fn grafana_and_prometheus_alerts_have_identical_expressions_durations_and_severities() {
    let prometheus = prometheus_alerts();
    assert_eq!(
        prometheus.keys().collect::<Vec<_>>(),
        [
            "OpenRouterAuthOrPaymentFailure",
            "OpenRouterRateLimitedSustained",
            "TranslationLatencyP95High"
        ]
    );
    assert_eq!(grafana_alerts(), prometheus);
}

#[test]
fn grafana_rules_query_prometheus_and_fire_on_any_returned_series() {
    for rule in grafana_rules() {
        let title = &rule["title"];
        assert_eq!(rule["condition"], "B", "{title:?}");
        assert_eq!(
            rule["noDataState"], "OK",
            "{title:?}: no series back means no breach"
        );
        let data = rule["data"].as_sequence().expect("data");
        let a = data.iter().find(|d| d["refId"] == "A").expect("A");
        let b = data.iter().find(|d| d["refId"] == "B").expect("B");
        assert_eq!(a["datasourceUid"], "prometheus", "{title:?}");
        assert_eq!(a["model"]["instant"], true, "{title:?}");
        assert_eq!(
            (
                &b["datasourceUid"],
                &b["model"]["type"],
                &b["model"]["expression"]
            ),
            (&"__expr__".into(), &"threshold".into(), &"A".into())
        );
        let evaluator = &b["model"]["conditions"][0]["evaluator"];
        assert_eq!(
            (&evaluator["type"], evaluator["params"][0].as_f64()),
            (&"gt".into(), Some(0.0)),
            "{title:?}"
        );
        let uid = rule["uid"].as_str().unwrap_or_default();
        assert!(
            uid.starts_with("evt-") && uid.len() <= 40,
            "{title:?}: stable uid, got {uid:?}"
        );
    }
}

#[test]
fn grafana_rule_file_has_no_dollar_outside_comments() {
    // Grafana expands $VAR in provisioning files: a `$labels` or `$value` here would silently become empty.
    let text = read(&kit("grafana/alerting/rules.yaml"));
    let offending: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#') && l.contains('$'))
        .collect();
    assert!(offending.is_empty(), "{offending:?}");
}

#[test]
fn grafana_datasource_uids_used_by_alerts_are_provisioned() {
    let ds = yaml(&kit("grafana/provisioning/datasources/datasources.yaml"));
    let uids: Vec<(&str, &str)> = ds["datasources"]
        .as_sequence()
        .into_iter()
        .flatten()
        .map(|d| {
            (
                d["uid"].as_str().unwrap_or_default(),
                d["type"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(uids, [("prometheus", "prometheus"), ("loki", "loki")]);
}

#[test]
fn grafana_policy_sends_only_critical_alerts_to_the_discord_contact_point() {
    let cp = yaml(&kit("grafana/alerting/contact-points.yaml"));
    let mut kinds = BTreeMap::new();
    for point in cp["contactPoints"].as_sequence().into_iter().flatten() {
        let types: Vec<String> = point["receivers"]
            .as_sequence()
            .into_iter()
            .flatten()
            .filter_map(|r| r["type"].as_str().map(str::to_owned))
            .collect();
        kinds.insert(point["name"].as_str().unwrap_or_default().to_owned(), types);
    }
    let expected: BTreeMap<String, Vec<String>> = [
        (
            "ops-discord-critical".to_owned(),
            vec!["discord".to_owned()],
        ),
        (
            "ops-email-slack".to_owned(),
            vec!["email".to_owned(), "slack".to_owned()],
        ),
    ]
    .into();
    assert_eq!(kinds, expected);

    let policies = yaml(&kit("grafana/alerting/policies.yaml"));
    let root = &policies["policies"][0];
    assert_eq!(
        root["receiver"], "ops-email-slack",
        "default: email + Slack"
    );
    let routes = root["routes"].as_sequence().expect("routes");
    let discord: Vec<&Value> = routes
        .iter()
        .filter(|r| r["receiver"] == "ops-discord-critical")
        .collect();
    assert_eq!(discord.len(), 1);
    assert_eq!(
        serde_yaml::to_string(&discord[0]["object_matchers"]).unwrap_or_default(),
        "- - severity\n  - =\n  - critical\n"
    );
    assert_eq!(discord[0]["continue"], false);
    // The severities used by the rules are exactly those routed.
    let severities: Vec<String> = grafana_alerts().into_values().map(|(_, _, s)| s).collect();
    assert!(
        severities.iter().all(|s| s == "critical" || s == "warning"),
        "{severities:?}"
    );
}

#[test]
fn alerts_point_at_the_dashboard_panel_that_shows_them() {
    let dashboards: BTreeMap<String, serde_json::Value> = queries::dashboard_files()
        .iter()
        .map(|p| support::json(p))
        .map(|d| (d["uid"].as_str().unwrap_or_default().to_owned(), d))
        .collect();
    let mut linked = Vec::new();
    for rule in grafana_rules() {
        let uid = rule["dashboardUid"].as_str().unwrap_or_default();
        let dashboard = dashboards
            .get(uid)
            .unwrap_or_else(|| panic!("{:?}: unknown dashboard {uid:?}", rule["title"]));
        let id = rule["panelId"].as_u64();
        let panel = queries::panels(dashboard)
            .into_iter()
            .find(|p| p["id"].as_u64() == id);
        let title = panel
            .and_then(|p| p["title"].as_str())
            .unwrap_or_else(|| panic!("{uid}: no panel {id:?}"));
        linked.push((
            rule["title"].as_str().unwrap_or_default().to_owned(),
            uid.to_owned(),
            title.to_owned(),
        ));
    }
    let expected = [
        (
            "OpenRouterRateLimitedSustained",
            "evt-openrouter-health",
            "Errors per interval: 429, 5xx, 401, 402",
        ),
        (
            "OpenRouterAuthOrPaymentFailure",
            "evt-costs-budgets",
            "Auth / payment incidents (401 / 402)",
        ),
        (
            "TranslationLatencyP95High",
            "evt-pipeline-overview",
            "Translation latency P50 / P95",
        ),
    ];
    let expected: Vec<(String, String, String)> = expected
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect();
    assert_eq!(linked, expected);
    // Prometheus rules name the same dashboards in their annotations.
    for rule in queries::prometheus_rules().into_iter().filter(|r| r.alert) {
        let uid = rule.raw["annotations"]["dashboard_uid"]
            .as_str()
            .unwrap_or_default();
        let grafana = linked
            .iter()
            .find(|(name, _, _)| *name == rule.name)
            .map(|(_, u, _)| u.as_str());
        assert_eq!(Some(uid), grafana, "{}", rule.name);
    }
}

/// The receiver Grafana's policy tree picks for an alert with `labels`: the first matching child route
/// (`continue: false` everywhere), else the root's. Matchers `=`, `!=`, `=~`, `!~` (regexes anchored).
fn grafana_receiver(labels: &[(&str, &str)]) -> String {
    let policies = yaml(&kit("grafana/alerting/policies.yaml"));
    let root = &policies["policies"][0];
    let matches = |m: &Value| {
        let (name, op, want) = (
            m[0].as_str().unwrap_or_default(),
            m[1].as_str().unwrap_or_default(),
            m[2].as_str().unwrap_or_default(),
        );
        let value = labels
            .iter()
            .find(|(l, _)| *l == name)
            .map_or("", |(_, v)| *v);
        let regex = || regex_lite::Regex::new(&format!("^(?:{want})$")).expect("matcher regex");
        match op {
            "=" => value == want,
            "!=" => value != want,
            "=~" => regex().is_match(value),
            "!~" => !regex().is_match(value),
            other => panic!("unknown matcher operator {other:?}"),
        }
    };
    for route in root["routes"].as_sequence().into_iter().flatten() {
        assert_ne!(
            route["continue"], true,
            "the emulation assumes continue: false"
        );
        let matchers = route["object_matchers"]
            .as_sequence()
            .expect("object_matchers");
        if matchers.iter().all(matches) {
            return route["receiver"].as_str().unwrap_or_default().to_owned();
        }
    }
    root["receiver"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn grafana_datasource_errors_of_the_critical_rule_never_reach_discord() {
    // execErrState: Error turns a failing query into a DatasourceError alert with the rule's labels, so
    // severity=critical: without its own route it would page Discord like a real 401.
    let critical = grafana_rules()
        .into_iter()
        .find(|r| r["labels"]["severity"] == "critical")
        .expect("a critical rule");
    assert_eq!(critical["execErrState"], "Error");
    let cases: [(&[(&str, &str)], &str); 5] = [
        (
            &[
                ("alertname", "OpenRouterAuthOrPaymentFailure"),
                ("severity", "critical"),
            ],
            "ops-discord-critical",
        ),
        (
            &[("alertname", "DatasourceError"), ("severity", "critical")],
            "ops-email-slack",
        ),
        (
            &[("alertname", "DatasourceNoData"), ("severity", "critical")],
            "ops-email-slack",
        ),
        (
            &[
                ("alertname", "OpenRouterRateLimitedSustained"),
                ("severity", "warning"),
            ],
            "ops-email-slack",
        ),
        (&[("alertname", "Unlabelled")], "ops-email-slack"),
    ];
    for (labels, receiver) in cases {
        assert_eq!(grafana_receiver(labels), receiver, "{labels:?}");
    }
}

#[test]
fn dashboards_and_alert_rules_name_the_same_folder_by_title_only() {
    // Grafana provisions alert rules first and creates their folder by title with a random uid; a dashboards
    // provider asking for a folderUid would then create a second folder of the same title (or fail).
    let provider = yaml(&kit("grafana/provisioning/dashboards/dashboards.yaml"));
    let provider = &provider["providers"][0];
    assert!(
        provider.get("folderUid").is_none(),
        "no folderUid: {provider:?}"
    );
    let rules = yaml(&kit("grafana/alerting/rules.yaml"));
    let folders: Vec<&Value> = rules["groups"]
        .as_sequence()
        .into_iter()
        .flatten()
        .map(|g| &g["folder"])
        .collect();
    assert_eq!(folders, [&provider["folder"]]);
    assert_eq!(provider["folder"], "evt-telemetry");
}
