//! Daily sums: adding up the day, rolling at midnight, restoring.

use super::*;

fn daily_rule() -> MetricRule {
    MetricRule::daily_sum("daily_cost_usd")
        .on("call")
        .value("cost_usd")
        .labels(["model"])
        .help("Cost today")
}

fn call(model: &str, cost: f64, ts: i64) -> Ev {
    Ev::new("call").s("model", model).f("cost_usd", cost).at(ts)
}

fn daily_text(body: &str) -> String {
    format!("# HELP daily_cost_usd Cost today\n# TYPE daily_cost_usd gauge\n{body}\n")
}

#[test]
fn a_daily_sum_adds_up_the_day_and_ignores_late_events() {
    let text = render_with(vec![daily_rule()], |e| {
        events(
            e,
            &[
                call("m", 1.5, TS),
                call("m", 2.0, TS + 1000),
                call("m", 100.0, TS - DAY_MS),
                call("n", 0.25, TS),
            ],
        );
    });
    assert_eq!(
        without_self(&text),
        daily_text("daily_cost_usd{model=\"m\"} 3.5\ndaily_cost_usd{model=\"n\"} 0.25\n")
    );
}

#[test]
fn a_late_event_does_not_create_a_daily_sum_for_a_new_label_set() {
    let text = render_with(vec![daily_rule()], |e| {
        events(e, &[call("m", 1.5, TS), call("late", 7.0, TS - DAY_MS)]);
    });
    assert_eq!(
        without_self(&text),
        daily_text("daily_cost_usd{model=\"m\"} 1.5\n")
    );
}

#[test]
fn a_daily_sum_resets_at_midnight_by_event_or_by_tick() {
    let midnight = (TS / DAY_MS + 1) * DAY_MS;
    let text = render_with(vec![daily_rule()], |e| {
        events(
            e,
            &[
                call("m", 1.5, TS),
                call("n", 2.0, TS),
                call("m", 0.5, midnight),
            ],
        );
    });
    assert_eq!(
        without_self(&text),
        daily_text("daily_cost_usd{model=\"m\"} 0.5\ndaily_cost_usd{model=\"n\"} 0\n")
    );
    let text = render_with(vec![daily_rule()], |e| {
        events(e, &[call("m", 1.5, TS)]);
        e.tick(midnight - 1);
        e.tick(midnight);
        events(e, &[call("m", 9.0, midnight - 1)]);
    });
    assert_eq!(
        without_self(&text),
        daily_text("daily_cost_usd{model=\"m\"} 0\n")
    );
}

#[test]
fn daily_sums_are_restored_from_todays_lines() {
    let line = |ts: &str, level: &str, evt: &str, meta: &str| {
        format!(
            r#"{{"ts":"{ts}","level":"{level}","evt":"{evt}","source":"app","msg":"","meta":{meta}}}"#
        )
    };
    let lines = vec![
            line("2025-10-06T00:00:00.000Z", "info", "call", r#"{"model":"m","cost_usd":0.5}"#),
            line("2025-10-06T23:59:59.999Z", "error", "call", r#"{"model":"m","cost_usd":0.25}"#),
            line("2025-10-06T10:00:00.000Z", "info", "call", r#"{"model":"n","cost_usd":"1.5"}"#),
            line("2025-10-05T23:59:59.999Z", "info", "call", r#"{"model":"m","cost_usd":100}"#),
            line("2025-10-06T10:00:00.000Z", "info", "other", r#"{"model":"m","cost_usd":100}"#),
            line("2025-10-06T10:00:00.000Z", "info", "call", r#"{"model":"m","cost_usd":-4}"#),
            line("2025-10-06T10:00:00.000Z", "info", "call", r#"{"model":"m"}"#),
            r#"{"ts":"2025-10-06T10:00:00.000Z","level":"info","evt":"call","meta":{"model":"m","cost_"#.to_string(),
            "not json at all \"evt\":\"call\"".to_string(),
        ];
    let today = TS / DAY_MS;
    let text = render_with(vec![daily_rule()], |e| {
        e.restore_daily_sums(today, &mut lines.into_iter());
        events(e, &[call("m", 1.0, TS)]);
    });
    assert_eq!(
        without_self(&text),
        daily_text("daily_cost_usd{model=\"m\"} 1.75\ndaily_cost_usd{model=\"n\"} 1.5\n")
    );
    // Restoring does not count the bad values again.
    assert!(
        text.contains(
            "telemetry_rejected_values_total{metric=\"daily_cost_usd\",reason=\"negative\"} 0\n"
        ),
        "{text}"
    );
}

#[test]
fn a_remembered_daily_sum_rolls_at_midnight_and_refuses_late_events() {
    let midnight = (TS / DAY_MS + 1) * DAY_MS;
    let text = render_with(vec![daily_rule()], |e| {
        events(e, &[call("m", 1.5, TS), call("m", 1.0, TS)]);
        e.tick(midnight);
        events(
            e,
            &[
                call("m", 7.0, TS),
                call("m", 0.25, midnight),
                call("m", 0.5, midnight),
            ],
        );
    });
    assert_eq!(
        without_self(&text),
        daily_text("daily_cost_usd{model=\"m\"} 0.75\n")
    );
}
