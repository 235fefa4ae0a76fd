//! Checks of the end-to-end run (prometheus_end_to_end.rs) on a target the test serves itself: a first-ever
//! 401 (a new series whose first sample is 1) pages Discord exactly once through the real Alertmanager with the
//! committed config, reaches nothing else, and shows as 1 on every incident/error panel; warnings reach Slack
//! through the committed, relative `slack_api_url_file`.

use crate::common::kit as support;

use super::prometheus_end_to_end::Report;
use promql_parser::label::MatchOp;
use serde_json::Value as Json;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use support::queries::{self, Kind, Lang};
use support::stack::{self, Running, TestServer, query, row_value};
use support::{kit, promql};

/// The model of the synthetic 401: no other series has it.
pub(crate) const MODEL: &str = "first/401";

/// The synthetic target's exposition: an app started an hour ago, with (`failed`) or without its first 401.
pub(crate) fn page(failed: bool) -> String {
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
        - 3600;
    let mut text = format!(
        "# TYPE telemetry_start_time_seconds gauge\ntelemetry_start_time_seconds {started}\n"
    );
    if failed {
        text.push_str(&format!(
            "# TYPE openrouter_errors_total counter\nopenrouter_errors_total{{status=\"401\",code=\"invalid_key\",component=\"translation_service\",model=\"{MODEL}\"}} 1\n"
        ));
    }
    text
}

/// Alertmanager with the committed config, its placeholders pointed at `hooks` as compose's `sed` does, and the
/// Slack secret written where the relative `slack_api_url_file` points; started from the config's directory as
/// the docs and compose do (Alertmanager 0.25 reads that path relative to its working directory).
pub(crate) fn start_alertmanager(bin: &Path, dir: &Path, hooks: u16) -> (Running, u16) {
    let conf_dir = dir.join("alertmanager");
    std::fs::create_dir_all(conf_dir.join("secrets")).expect("mkdir");
    let config = support::read(&kit("alertmanager/alertmanager.yml")).replace(
        "http://127.0.0.1:9/discord-webhook-placeholder",
        &format!("http://127.0.0.1:{hooks}/discord"),
    );
    std::fs::write(conf_dir.join("alertmanager.yml"), config).expect("write config");
    std::fs::write(
        conf_dir.join("secrets/slack_webhook_url"),
        format!("http://127.0.0.1:{hooks}/slack\n"),
    )
    .expect("write secret");
    let port = stack::free_port();
    let running = Running::spawn(
        "alertmanager",
        Command::new(bin)
            .current_dir(&conf_dir)
            .arg("--config.file=alertmanager.yml")
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .arg(format!("--storage.path={}", dir.join("am-data").display())),
        dir.join("alertmanager.log"),
    );
    (running, port)
}

/// Sends a warning straight to Alertmanager: it must reach Slack (after the default route's 30 s group_wait).
pub(crate) fn post_warning(alertmanager: &mut Running, port: u16) {
    let body = r#"[{"labels":{"alertname":"EndToEndWarning","severity":"warning","model":"m"},"annotations":{"summary":"end-to-end warning"}}]"#;
    stack::wait_for(
        "Alertmanager accepts alerts",
        Duration::from_secs(20),
        || {
            alertmanager.assert_alive();
            crate::common::http::post_json(("127.0.0.1", port), "/api/v2/alerts", body)
                .ok()
                .filter(|r| r.status == 200)
        },
    );
}

/// Discord posts that mention `what`.
fn discord_posts(hooks: &TestServer, what: &str) -> Vec<String> {
    hooks
        .received("/discord")
        .into_iter()
        .map(|(_, body)| body)
        .filter(|body| body.contains(what))
        .collect()
}

/// Waits for the page of the synthetic 401 (sent at `since`) and checks the panels and the alert on Prometheus.
pub(crate) fn check_first_401(hooks: &TestServer, port: u16, since: Instant, report: &mut Report) {
    let summary = format!("OpenRouter 401 invalid_key for {MODEL} (translation_service)");
    stack::wait_for(
        "a Discord post for the synthetic 401",
        Duration::from_secs(20),
        || (!discord_posts(hooks, &summary).is_empty()).then_some(()),
    );
    support::note(&format!(
        "first 401 -> Discord in {:.1} s (1 s scrapes and rule evaluations)",
        since.elapsed().as_secs_f64()
    ));
    check_panels(port, report);
    report.checks += 1;
    let alerts = query(
        port,
        &format!("ALERTS{{alertname=\"OpenRouterAuthOrPaymentFailure\",alertstate=\"firing\",model=\"{MODEL}\"}}"),
    )
    .unwrap_or_default();
    let labels: Vec<&Json> = alerts.iter().map(|a| &a["metric"]).collect();
    if alerts.len() != 1 || labels.iter().any(|l| l.get("instance").is_some()) {
        report.failures.push(format!(
            "expected one firing 401 alert without instance, got {labels:?}"
        ));
    }
}

/// Every incident/error panel (a query over openrouter_errors_total that is not a ratio) shows the first 401
/// as exactly 1 when its status matcher admits 401, and 0 (or nothing) otherwise.
fn check_panels(port: u16, report: &mut Report) {
    let mut seen = 0;
    for q in queries::all_dashboard_queries() {
        if q.lang != Lang::PromQl
            || q.kind != Kind::Panel
            || !q.expr.contains("openrouter_errors_total")
            || q.expr.contains("/ sum")
        {
            continue;
        }
        seen += 1;
        report.checks += 1;
        let text = queries::substitute_grafana_vars(&q.expr.replace("$model", MODEL));
        let expected = if admits_401(&text) { 1.0 } else { 0.0 };
        match query(port, &text) {
            Ok(rows) => {
                let total: f64 = rows.iter().map(row_value).sum();
                if total != expected {
                    report.failures.push(format!(
                        "{}: the first 401 shows as {total}, expected {expected}: {rows:?}",
                        q.origin
                    ));
                }
            }
            Err(e) => report.failures.push(format!("{}: {e}", q.origin)),
        }
    }
    assert_eq!(seen, 13, "incident/error panel queries");
    // What the panels showed before issue 13: increase() skips a series' first sample.
    report.checks += 1;
    let old = format!("sum(increase(openrouter_errors_total{{model=\"{MODEL}\"}}[1m]))");
    let old_total: f64 = query(port, &old)
        .unwrap_or_default()
        .iter()
        .map(row_value)
        .sum();
    if old_total != 0.0 {
        report.failures.push(format!(
            "{old}: expected 0 (increase() skips the first sample), got {old_total}"
        ));
    }
}

/// Whether the `status` matcher of the query's first openrouter_errors_total selector admits "401".
fn admits_401(expr: &str) -> bool {
    let parsed = promql::parse(expr).expect("parses");
    let selector = promql::selectors(&parsed)
        .into_iter()
        .find(|vs| promql::metric_name(vs).as_deref() == Some("openrouter_errors_total"))
        .expect("selector");
    let Some(status) = selector
        .matchers
        .matchers
        .iter()
        .find(|m| m.name == "status")
    else {
        return true;
    };
    let regex = |v: &str| {
        regex_lite::Regex::new(&format!("^(?:{v})$"))
            .expect("regex")
            .is_match("401")
    };
    match &status.op {
        MatchOp::Equal => status.value == "401",
        MatchOp::NotEqual => status.value != "401",
        MatchOp::Re(_) => regex(&status.value),
        MatchOp::NotRe(_) => !regex(&status.value),
    }
}

/// At the end of the run: exactly one Discord post for the synthetic 401, no warning on Discord, and the
/// warning on Slack (waiting out the 30 s group_wait counted from `warned`).
pub(crate) fn check_routing(hooks: &TestServer, warned: Instant, report: &mut Report) {
    let wait = Duration::from_secs(45).saturating_sub(warned.elapsed());
    let deadline = Instant::now() + wait;
    while hooks.received("/slack").is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    report.checks += 3;
    let summary = format!("for {MODEL} (");
    let pages = discord_posts(hooks, &summary);
    if pages.len() != 1 || !pages[0].contains("OpenRouterAuthOrPaymentFailure (firing)") {
        report.failures.push(format!(
            "expected exactly one Discord page for the first 401, got {pages:?}"
        ));
    }
    let warnings = discord_posts(hooks, "EndToEndWarning");
    if !warnings.is_empty() {
        report
            .failures
            .push(format!("a warning reached Discord: {warnings:?}"));
    }
    let slack: Vec<String> = hooks
        .received("/slack")
        .into_iter()
        .map(|(_, b)| b)
        .collect();
    if !slack.iter().any(|b| b.contains("end-to-end warning"))
        || slack.iter().any(|b| b.contains(&summary))
    {
        report.failures.push(format!(
            "Slack must get the warning (through the relative secret file) and not the 401: {slack:?}"
        ));
    }
}
