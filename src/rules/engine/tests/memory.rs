//! The per-thread memory of label sets never stands for another set.

use super::*;

#[test]
fn remembered_label_sets_never_stand_for_another_set() {
    let rule = MetricRule::counter("calls_total")
        .on("call")
        .labels(["a", "b"]);
    let ev = |a: &str, b: &str| Ev::new("call").s("a", a).s("b", b);
    let text = render_with(vec![rule], |e| {
        events(
            e,
            &[
                ev("x", "y"),
                ev("x", "y"),
                // The same values in the other fields.
                ev("y", "x"),
                ev("x", "y"),
                // Values that are prefixes of each other, or join alike.
                ev("xy", ""),
                ev("x", "y"),
                ev("x", "yz"),
                ev("x", "y"),
                ev("xy", "z"),
                ev("x", "yz"),
                // Values that clean to the same label text.
                ev("a\\b", "y"),
                ev("a/b", "y"),
                ev("a\\b", "y"),
                // Typed and text values written alike; missing and empty.
                Ev::new("call").u("a", 429).s("b", "y"),
                Ev::new("call").s("a", "429").s("b", "y"),
                Ev::new("call").s("a", "x"),
                Ev::new("call").s("a", "x").s("b", ""),
            ],
        );
    });
    assert_eq!(
        without_self(&text),
        "# HELP calls_total Count of call events
# TYPE calls_total counter
calls_total{a=\"429\",b=\"y\"} 2
calls_total{a=\"a/b\",b=\"y\"} 3
calls_total{a=\"x\",b=\"\"} 2
calls_total{a=\"x\",b=\"y\"} 5
calls_total{a=\"x\",b=\"yz\"} 2
calls_total{a=\"xy\",b=\"\"} 1
calls_total{a=\"xy\",b=\"z\"} 1
calls_total{a=\"y\",b=\"x\"} 1

"
    );
}

#[test]
fn remembered_typed_values_keep_their_own_text() {
    let rule = MetricRule::counter("calls_total").on("call").labels(["v"]);
    let text = render_with(vec![rule], |e| {
        let ev = |v: OwnedValue| {
            let mut ev = Ev::new("call");
            ev.fields.push(("v", v));
            ev
        };
        events(
            e,
            &[
                ev(OwnedValue::F64(0.0)),
                ev(OwnedValue::F64(-0.0)),
                ev(OwnedValue::F64(0.0)),
                ev(OwnedValue::I64(-1)),
                ev(OwnedValue::U64(1)),
                ev(OwnedValue::I64(1)),
                ev(OwnedValue::Bool(true)),
                ev(OwnedValue::Str("true".into())),
                ev(OwnedValue::Bool(false)),
            ],
        );
    });
    assert_eq!(
        without_self(&text),
        "# HELP calls_total Count of call events
# TYPE calls_total counter
calls_total{v=\"-0\"} 1
calls_total{v=\"-1\"} 1
calls_total{v=\"0\"} 2
calls_total{v=\"1\"} 2
calls_total{v=\"false\"} 1
calls_total{v=\"true\"} 2

"
    );
}

#[test]
fn long_values_are_cut_alike_whether_remembered_or_not() {
    let rule = MetricRule::counter("calls_total")
        .on("call")
        .labels(["model", "code"]);
    let base = "m".repeat(300);
    let (long_a, long_b) = (format!("{base}-a"), format!("{base}-b"));
    let long_c = format!("{}{}", "m".repeat(2_000), "c");
    let text = render_with(vec![rule], |e| {
        let ev = |m: &str| Ev::new("call").s("model", m).s("code", "x");
        events(
            e,
            &[
                ev(&long_a),
                ev(&long_a),
                ev(&long_b),
                ev(&long_c),
                ev(&long_c),
                ev("m"),
            ],
        );
    });
    // All three long values share their first 256 bytes.
    let cut = "m".repeat(256);
    assert_eq!(
        without_self(&text),
        format!(
            "# HELP calls_total Count of call events\n# TYPE calls_total counter\n\
                 calls_total{{model=\"m\",code=\"x\"}} 1\ncalls_total{{model=\"{cut}\",code=\"x\"}} 5\n\n"
        )
    );
}

#[test]
fn overflowing_label_sets_are_counted_each_time_while_kept_ones_stay_their_own() {
    let rule = MetricRule::counter("calls_total")
        .on("call")
        .labels(["model"])
        .max_series(2);
    let text = render_with(vec![rule], |e| {
        for m in ["a", "b", "c", "c", "a", "a", "c", "b"] {
            e.on_event(&Ev::new("call").s("model", m));
        }
    });
    assert_eq!(
            only(&text, &["calls_total", "telemetry_label_overflow_total"]),
            "# HELP calls_total Count of call events
# TYPE calls_total counter
calls_total{model=\"__overflow__\"} 3
calls_total{model=\"a\"} 3
calls_total{model=\"b\"} 2

# HELP telemetry_label_overflow_total Metric updates sent to the __overflow__ series because the metric had reached its label-set cap
# TYPE telemetry_label_overflow_total counter
telemetry_label_overflow_total{metric=\"calls_total\"} 3

"
        );
}

#[test]
fn rules_sharing_fields_and_levels_keep_their_own_series() {
    let rules = vec![
        MetricRule::counter("by_model_total")
            .on("call")
            .labels(["model"]),
        MetricRule::counter("by_status_total")
            .on("call")
            .labels(["status", "model"])
            .levels([LineLevel::Error]),
        MetricRule::histogram("status_value")
            .on("call")
            .value("status")
            .buckets([500.0]),
    ];
    let text = render_with(rules, |e| {
        let ev = |m: &str, status: u64, level| {
            Ev::new("call")
                .level(level)
                .s("model", m)
                .u("status", status)
        };
        events(
            e,
            &[
                ev("a", 200, LineLevel::Info),
                ev("a", 500, LineLevel::Error),
                ev("a", 200, LineLevel::Info),
                ev("b", 200, LineLevel::Error),
                ev("b", 500, LineLevel::Error),
                ev("a", 500, LineLevel::Error),
            ],
        );
    });
    let got = only(&text, &["by_model_total", "by_status_total"]);
    assert_eq!(
        got,
        "# HELP by_model_total Count of call events
# TYPE by_model_total counter
by_model_total{model=\"a\"} 4
by_model_total{model=\"b\"} 2

# HELP by_status_total Count of call events
# TYPE by_status_total counter
by_status_total{status=\"200\",model=\"b\"} 1
by_status_total{status=\"500\",model=\"a\"} 2
by_status_total{status=\"500\",model=\"b\"} 1

"
    );
    assert!(
        text.contains("status_value_bucket{le=\"500\"} 6\n"),
        "{text}"
    );
    assert!(text.contains("status_value_sum 2100\n"), "{text}");
}

#[test]
fn two_engines_on_one_thread_never_share_remembered_series() {
    let rule = || {
        MetricRule::counter("calls_total")
            .on("call")
            .labels(["model"])
    };
    let engine = |cap| {
        let e = MetricsEngine::new(vec![rule().max_series(cap)], 10).expect("valid");
        let r = build_recorder(&ExporterConfig::default(), &e).expect("recorder");
        (e, r)
    };
    let ((e1, r1), (e2, r2)) = (engine(10), engine(1));
    for m in ["a", "a", "b", "b", "a"] {
        let ev = Ev::new("call").s("model", m);
        metrics::with_local_recorder(&r1, || e1.on_event(&ev));
        metrics::with_local_recorder(&r2, || e2.on_event(&ev));
    }
    let render = |e: &MetricsEngine, r: &metrics_exporter_prometheus::PrometheusRecorder| {
        let text = finish_exposition(&r.handle().render(), &e.catalogue().float_counters());
        only(&text, &["calls_total"])
    };
    let head = "# HELP calls_total Count of call events\n# TYPE calls_total counter\n";
    assert_eq!(
        render(&e1, &r1),
        format!("{head}calls_total{{model=\"a\"}} 3\ncalls_total{{model=\"b\"}} 2\n\n")
    );
    assert_eq!(
        render(&e2, &r2),
        format!("{head}calls_total{{model=\"__overflow__\"}} 2\ncalls_total{{model=\"a\"}} 3\n\n")
    );
}
