//! The same label sets logged again and again through the layer (the case
//! the per-thread memory of label values speeds up): exact counts for
//! alternating sets, and two layers in one subscriber keeping their own
//! series, caps and overflow.

use crate::common;

use common::*;
use evt_telemetry::MetricRule;
use tracing::error;
use tracing_subscriber::layer::SubscriberExt;

/// The series lines of `prefix`, sorted (the raw recorder renders in hash order).
fn series<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
    let mut lines: Vec<&str> = text.lines().filter(|l| l.starts_with(prefix)).collect();
    lines.sort_unstable();
    lines
}

fn emit(model: &str, status: u64) {
    error!(
        evt = "openrouter_error",
        status,
        code = "rate_limited",
        model,
        "failed"
    );
}

#[test]
fn alternating_label_sets_through_the_layer_count_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at_ms(T0_MS);
    let b = builder(dir.path(), &clock)
        .rule(
            MetricRule::counter("errors_total")
                .on("openrouter_error")
                .labels(["status", "code", "model"]),
        )
        .rule(
            MetricRule::daily_sum("daily_status")
                .on("openrouter_error")
                .value("status")
                .labels(["model"]),
        );
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let _local = metrics::set_default_local_recorder(&recorder);
    run_with(b, || {
        for _ in 0..50 {
            emit("m", 429);
            emit("mm", 429);
            emit("m", 500);
            emit("m/x", 429);
            emit("m\\x", 429);
        }
    });
    let text = handle.render();
    assert_eq!(
        series(&text, "errors_total{"),
        [
            "errors_total{status=\"429\",code=\"rate_limited\",model=\"m\"} 50",
            "errors_total{status=\"429\",code=\"rate_limited\",model=\"m/x\"} 100",
            "errors_total{status=\"429\",code=\"rate_limited\",model=\"mm\"} 50",
            "errors_total{status=\"500\",code=\"rate_limited\",model=\"m\"} 50",
        ]
    );
    assert_eq!(
        series(&text, "daily_status{"),
        [
            "daily_status{model=\"m\"} 46450",
            "daily_status{model=\"m/x\"} 42900",
            "daily_status{model=\"mm\"} 21450",
        ]
    );
}

#[test]
fn two_layers_in_one_subscriber_keep_their_own_series_and_caps() {
    let (dir1, dir2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let clock = ManualClock::at_ms(T0_MS);
    let rule = |name: &str, cap| {
        MetricRule::counter(name)
            .on("openrouter_error")
            .labels(["model"])
            .max_series(cap)
    };
    let (layer1, guard1) = builder(dir1.path(), &clock)
        .rule(rule("wide_total", 10))
        .build()
        .expect("build");
    let (layer2, guard2) = builder(dir2.path(), &clock)
        .rule(rule("narrow_total", 1))
        .build()
        .expect("build");
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let _local = metrics::set_default_local_recorder(&recorder);
    let subscriber = tracing_subscriber::registry().with(layer1).with(layer2);
    tracing::subscriber::with_default(subscriber, || {
        for model in ["a", "a", "b", "b", "a", "b"] {
            emit(model, 429);
        }
    });
    drop((guard1, guard2));
    let text = handle.render();
    assert_eq!(
        series(&text, "wide_total{"),
        ["wide_total{model=\"a\"} 3", "wide_total{model=\"b\"} 3"]
    );
    assert_eq!(
        series(&text, "narrow_total{"),
        [
            "narrow_total{model=\"__overflow__\"} 3",
            "narrow_total{model=\"a\"} 3"
        ]
    );
}
