//! Which events and values reach a metric: levels and `when`, bad values
//! counted by reason, missing or long label values, the label-set cap.

use super::*;

#[test]
fn bad_values_are_counted_by_reason_and_never_applied() {
    let rules = vec![
        MetricRule::counter("cost_usd_total")
            .on("call")
            .value("cost"),
        MetricRule::histogram("lat_seconds")
            .on("call")
            .value("lat")
            .buckets([1.0]),
    ];
    let text = render_with(rules, |e| {
        let c = || Ev::new("call").f("lat", 0.5);
        events(
            e,
            &[
                c().f("cost", 0.5),
                c(),
                c().s("cost", "abc"),
                c().b("cost", true),
                c().f("cost", -1.0),
                c().s("cost", "-2"),
                c().f("cost", f64::NAN),
                c().s("cost", "NaN"),
                c().f("cost", f64::INFINITY),
                c().s("cost", " 0.25 "),
                Ev::new("call").f("cost", 1.0).f("lat", f64::NEG_INFINITY),
                Ev::new("call").f("cost", 1.0).f("lat", -3.0),
            ],
        );
    });
    let got = only(
        &text,
        &["cost_usd_total", "telemetry_rejected_values_total"],
    );
    assert_eq!(
            got,
            "# HELP cost_usd_total Sum of cost over call events
# TYPE cost_usd_total counter
cost_usd_total 2.75

# HELP telemetry_rejected_values_total Metric updates skipped for a bad value, by metric and reason (missing, not_numeric, negative, nan, infinite)
# TYPE telemetry_rejected_values_total counter
telemetry_rejected_values_total{metric=\"cost_usd_total\",reason=\"infinite\"} 1
telemetry_rejected_values_total{metric=\"cost_usd_total\",reason=\"missing\"} 1
telemetry_rejected_values_total{metric=\"cost_usd_total\",reason=\"nan\"} 2
telemetry_rejected_values_total{metric=\"cost_usd_total\",reason=\"negative\"} 2
telemetry_rejected_values_total{metric=\"cost_usd_total\",reason=\"not_numeric\"} 2
telemetry_rejected_values_total{metric=\"lat_seconds\",reason=\"infinite\"} 1
telemetry_rejected_values_total{metric=\"lat_seconds\",reason=\"missing\"} 0
telemetry_rejected_values_total{metric=\"lat_seconds\",reason=\"nan\"} 0
telemetry_rejected_values_total{metric=\"lat_seconds\",reason=\"not_numeric\"} 0

"
        );
    assert!(
        text.contains("lat_seconds_count 11\n") && text.contains("lat_seconds_sum 2\n"),
        "{text}"
    );
}

#[test]
fn label_sets_past_the_cap_go_to_one_overflow_series_and_are_counted() {
    let rule = MetricRule::counter("calls_total")
        .on("call")
        .labels(["model", "status"])
        .static_label("team", "nlp")
        .max_series(2);
    let text = render_with(vec![rule], |e| {
        for m in ["a", "b", "c", "d", "a", "e"] {
            e.on_event(&Ev::new("call").s("model", m).u("status", 200));
        }
    });
    assert_eq!(
            only(&text, &["calls_total", "telemetry_label_overflow_total"]),
            "# HELP calls_total Count of call events
# TYPE calls_total counter
calls_total{model=\"__overflow__\",status=\"__overflow__\",team=\"__overflow__\"} 3
calls_total{model=\"a\",status=\"200\",team=\"nlp\"} 2
calls_total{model=\"b\",status=\"200\",team=\"nlp\"} 1

# HELP telemetry_label_overflow_total Metric updates sent to the __overflow__ series because the metric had reached its label-set cap
# TYPE telemetry_label_overflow_total counter
telemetry_label_overflow_total{metric=\"calls_total\"} 3

"
        );
}

#[test]
fn a_label_flood_keeps_each_metric_at_its_cap() {
    let rules = vec![
        MetricRule::counter("calls_total")
            .on("call")
            .labels(["model"])
            .max_series(100),
        MetricRule::histogram("lat_seconds")
            .on("call")
            .value("lat")
            .labels(["model"])
            .max_series(50),
    ];
    let text = render_with(rules, |e| {
        let mut ev = Ev::new("call").s("model", "").f("lat", 0.1);
        for i in 0..200_000 {
            ev.fields[0].1 = OwnedValue::Str(format!("model-{i}"));
            e.on_event(&ev);
        }
        assert_eq!((e.tables[0].len(), e.tables[1].len()), (100, 50));
    });
    let series = |name: &str| text.lines().filter(|l| l.starts_with(name)).count();
    assert_eq!(series("calls_total{"), 101);
    assert_eq!(series("lat_seconds_count{"), 51);
    assert!(
        text.contains("calls_total{model=\"__overflow__\"} 199900\n"),
        "{text}"
    );
    assert!(text.contains("telemetry_label_overflow_total{metric=\"calls_total\"} 199900\n"));
    assert!(text.contains("telemetry_label_overflow_total{metric=\"lat_seconds\"} 199950\n"));
}

#[test]
fn missing_label_fields_give_empty_values_and_long_ones_are_cut() {
    let rule = MetricRule::counter("calls_total")
        .on("call")
        .labels(["model", "status"]);
    let long = "x".repeat(300);
    let text = render_with(vec![rule], |e| {
        events(
            e,
            &[
                Ev::new("call").s("model", &long),
                Ev::new("call").u("status", 7),
            ],
        );
    });
    let cut = "x".repeat(256);
    assert_eq!(
        without_self(&text),
        format!(
            "# HELP calls_total Count of call events\n# TYPE calls_total counter\n\
                 calls_total{{model=\"\",status=\"7\"}} 1\ncalls_total{{model=\"{cut}\",status=\"\"}} 1\n\n"
        )
    );
}

#[test]
fn levels_and_when_select_events() {
    let rules = vec![
        MetricRule::counter("failed_total")
            .on("call")
            .levels([LineLevel::Error, LineLevel::Critical]),
        MetricRule::counter("limited_total")
            .on("call")
            .when("status", "429")
            .when("retry", "true"),
        MetricRule::counter("half_total")
            .on("call")
            .when("ratio", "0.5"),
    ];
    let text = render_with(rules, |e| {
        events(
            e,
            &[
                Ev::new("call")
                    .u("status", 429)
                    .b("retry", true)
                    .f("ratio", 0.5),
                Ev::new("call")
                    .level(LineLevel::Error)
                    .u("status", 429)
                    .b("retry", false),
                Ev::new("call")
                    .level(LineLevel::Critical)
                    .s("status", "429")
                    .s("retry", "true"),
                Ev::new("call").level(LineLevel::Warning).f("ratio", 0.25),
            ],
        );
    });
    assert_eq!(
        without_self(&text),
        "# HELP failed_total Count of call events\n# TYPE failed_total counter\nfailed_total 2\n\n\
             # HELP half_total Count of call events\n# TYPE half_total counter\nhalf_total 1\n\n\
             # HELP limited_total Count of call events\n# TYPE limited_total counter\nlimited_total 2\n\n"
    );
}
