//! The Prometheus config, rules and alert unit tests pass promtool; the Alertmanager config passes amtool and
//! routes only `severity="critical"` alerts to Discord.

use crate::common::kit as support;

use std::path::Path;
use std::process::Command;
use support::{kit, output_text, run, tool};

fn promtool(args: &[&str]) -> Option<String> {
    let promtool = tool("promtool", "prometheus")?;
    let out = run(Command::new(promtool)
        .args(args)
        .current_dir(kit("prometheus")));
    assert!(
        out.status.success(),
        "promtool {args:?} failed\n{}",
        output_text(&out)
    );
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn prometheus_config_and_its_rule_files_pass_promtool_check_config() {
    let Some(stdout) = promtool(&["check", "config", "prometheus.yml"]) else {
        return;
    };
    assert!(stdout.contains("SUCCESS: 2 rule files found"), "{stdout}");
}

#[test]
fn rule_files_pass_promtool_check_rules() {
    let Some(stdout) = promtool(&["check", "rules", "rules/alerts.yml", "rules/recording.yml"])
    else {
        return;
    };
    assert!(
        stdout.contains("SUCCESS: 3 rules found") && stdout.contains("SUCCESS: 8 rules found"),
        "{stdout}"
    );
}

#[test]
fn alert_unit_tests_pass_promtool_test_rules() {
    // alerts_test.yml: 429 fires after 15 min and not before; a first-ever 401 sample fires at once;
    // normal traffic stays quiet. recording_test.yml: cost and error-budget rollups give exact values.
    let Some(stdout) = promtool(&[
        "test",
        "rules",
        "tests/alerts_test.yml",
        "tests/recording_test.yml",
    ]) else {
        return;
    };
    assert_eq!(stdout.matches("SUCCESS").count(), 2, "{stdout}");
}

#[test]
fn first_occurrence_unit_test_fails_without_the_new_series_branch() {
    // The promtool test must really depend on the `unless ... offset` branch: with a plain
    // `increase() > 0` rule the first-ever 401 goes unnoticed and the unit test fails.
    let Some(promtool) = tool("promtool", "prometheus") else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let rules = support::read(&kit("prometheus/rules/alerts.yml"));
    let start = rules
        .find("          sum by (status, code, component, model) (\n")
        .expect("401 rule body");
    let end = rules[start..]
        .find("        for: 0m")
        .expect("401 rule for")
        + start;
    let naive = "          sum by (status, code, component, model) (increase(openrouter_errors_total{status=~\"401|402\"}[5m]) > 0)\n";
    std::fs::create_dir_all(dir.path().join("rules")).expect("mkdir");
    std::fs::create_dir_all(dir.path().join("tests")).expect("mkdir");
    std::fs::write(
        dir.path().join("rules/alerts.yml"),
        format!("{}{naive}{}", &rules[..start], &rules[end..]),
    )
    .expect("write");
    std::fs::copy(
        kit("prometheus/tests/alerts_test.yml"),
        dir.path().join("tests/alerts_test.yml"),
    )
    .expect("copy");
    let out = run(Command::new(promtool)
        .args(["test", "rules", "tests/alerts_test.yml"])
        .current_dir(dir.path()));
    let text = output_text(&out);
    assert!(
        !out.status.success(),
        "the naive rule should fail the unit tests\n{text}"
    );
    assert!(
        text.contains("alertname: OpenRouterAuthOrPaymentFailure, time: 10m"),
        "{text}"
    );
}

fn amtool(args: &[&str]) -> Option<(bool, String)> {
    let amtool = tool("amtool", "prometheus-alertmanager")?;
    let out = run(Command::new(amtool)
        .args(args)
        .current_dir(kit("alertmanager")));
    Some((out.status.success(), output_text(&out)))
}

#[test]
fn alertmanager_config_passes_amtool_check_config() {
    let Some((ok, text)) = amtool(&["check-config", "alertmanager.yml"]) else {
        return;
    };
    assert!(
        ok && text.contains("SUCCESS") && text.contains("2 receivers"),
        "{text}"
    );
}

/// Runs `amtool config routes test` for an alert with `labels`, expecting exactly `receiver`.
fn routes_to(receiver: &str, labels: &[&str]) -> Option<(bool, String)> {
    let verify = format!("--verify.receivers={receiver}");
    let mut args = vec![
        "config",
        "routes",
        "test",
        "--config.file=alertmanager.yml",
        verify.as_str(),
    ];
    args.extend_from_slice(labels);
    amtool(&args)
}

#[test]
fn only_critical_alerts_reach_discord_and_the_rest_go_to_email_and_slack() {
    let critical = [
        "alertname=OpenRouterAuthOrPaymentFailure",
        "severity=critical",
        "status=401",
        "model=m",
    ];
    let Some((ok, text)) = routes_to("ops-discord-critical", &critical) else {
        return;
    };
    assert!(ok, "critical 401 alert must go to Discord\n{text}");
    let cases: [(&[&str], &str); 4] = [
        (
            &[
                "alertname=OpenRouterRateLimitedSustained",
                "severity=warning",
                "model=m",
            ],
            "sustained 429",
        ),
        (
            &["alertname=TranslationLatencyP95High", "severity=warning"],
            "latency",
        ),
        (&["alertname=SomethingElse", "severity=info"], "info"),
        (&["alertname=Unlabelled"], "no severity"),
    ];
    for (labels, what) in cases {
        let (ok, text) = routes_to("ops-email-slack", labels).expect("amtool found above");
        assert!(ok, "{what} alert must go to email + Slack\n{text}");
        let (ok, text) = routes_to("ops-discord-critical", labels).expect("amtool found above");
        assert!(!ok, "{what} alert must not reach Discord\n{text}");
    }
}

#[test]
fn discord_is_configured_only_on_the_critical_receiver() {
    let am = support::yaml(Path::new(&kit("alertmanager/alertmanager.yml")));
    let receivers = am["receivers"].as_sequence().expect("receivers");
    let discord: Vec<&str> = receivers
        .iter()
        .filter(|r| r.get("discord_configs").is_some())
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert_eq!(discord, ["ops-discord-critical"]);
    let routes = am["route"]["routes"].as_sequence().expect("routes");
    let to_discord: Vec<String> = routes
        .iter()
        .filter(|r| r["receiver"] == "ops-discord-critical")
        .map(|r| serde_yaml::to_string(&r["matchers"]).unwrap_or_default())
        .collect();
    assert_eq!(to_discord, ["- severity=\"critical\"\n"]);
    assert_ne!(
        am["route"]["receiver"], "ops-discord-critical",
        "the default route must not be Discord"
    );
}
