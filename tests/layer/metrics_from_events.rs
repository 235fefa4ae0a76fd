//! Metric rules driven by real events through the layer, with a local
//! Prometheus recorder (no globals): exact exposition lines, restore of
//! today's daily sums at start-up, and build errors from the builder.

use crate::common;

use common::*;
use evt_telemetry::{Error, MetricRule, TelemetryBuilder};
use tracing::info;
use tracing_subscriber::layer::SubscriberExt;

const PRESET: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/telemetry.toml");

/// Runs `f` under the layer and a fresh local Prometheus recorder; returns the exposition.
fn render_after(b: evt_telemetry::TelemetryBuilder, f: impl FnOnce()) -> String {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets_for_metric(
            metrics_exporter_prometheus::Matcher::Full("latency_seconds".into()),
            &[0.5, 1.0, 5.0],
        )
        .unwrap()
        .build_recorder();
    let handle = recorder.handle();
    let _local = metrics::set_default_local_recorder(&recorder);
    run_with(b, f);
    handle.render()
}

/// The series lines of `prefix`, sorted: the local recorder renders series
/// in hash order (our exporter sorts them; this recorder is the raw one).
fn series<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
    let mut lines: Vec<&str> = text.lines().filter(|l| l.starts_with(prefix)).collect();
    lines.sort_unstable();
    lines
}

#[test]
fn counters_gauges_and_histograms_follow_the_events() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at_ms(T0_MS);
    let b = builder(dir.path(), &clock)
        .rule(
            MetricRule::counter("calls_total")
                .on("call")
                .labels(["model", "outcome"])
                .help("Calls"),
        )
        .rule(
            MetricRule::gauge("queue_jobs")
                .on("queue")
                .value("pending")
                .help("Queue"),
        )
        .rule(
            MetricRule::histogram("latency_seconds")
                .on("call")
                .value("latency_s")
                .help("Latency")
                .buckets([0.5, 1.0, 5.0]),
        );
    let text = render_after(b, || {
        info!(
            evt = "call",
            model = "m1",
            outcome = "success",
            latency_s = 0.3
        );
        info!(
            evt = "call",
            model = "m1",
            outcome = "success",
            latency_s = 2.0
        );
        info!(
            evt = "call",
            model = "m2",
            outcome = "error",
            latency_s = 0.7
        );
        info!(evt = "queue", pending = 7u64);
        info!(evt = "queue", pending = 3u64);
    });
    assert_eq!(
        series(&text, "calls_total{"),
        [
            "calls_total{model=\"m1\",outcome=\"success\"} 2",
            "calls_total{model=\"m2\",outcome=\"error\"} 1"
        ]
    );
    assert_eq!(series(&text, "queue_jobs"), ["queue_jobs 3"]);
    assert_eq!(
        series(&text, "latency_seconds"),
        [
            "latency_seconds_bucket{le=\"+Inf\"} 3",
            "latency_seconds_bucket{le=\"0.5\"} 1",
            "latency_seconds_bucket{le=\"1\"} 2",
            "latency_seconds_bucket{le=\"5\"} 3",
            "latency_seconds_count 3",
            "latency_seconds_sum 3",
        ]
    );
    assert!(text.contains("# HELP calls_total Calls\n"), "{text}");
}

#[test]
fn secrets_in_label_fields_are_redacted_before_they_become_labels() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at_ms(T0_MS);
    let b = builder(dir.path(), &clock).rule(
        MetricRule::counter("seen_total")
            .on("seen")
            .labels(["model", "api_key"])
            .help("Seen"),
    );
    let text = render_after(b, || {
        info!(
            evt = "seen",
            model = "Bearer abcdefghijklmnopqrstuvwxyz",
            api_key = "sk-or-v1-0123456789abcdef0123456789"
        );
    });
    assert_eq!(
        series(&text, "seen_total{"),
        ["seen_total{model=\"Bearer [REDACTED]\",api_key=\"[REDACTED]\"} 1"]
    );
}

#[test]
fn the_start_time_gauge_tells_a_restart_from_an_old_value() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at_ms(T0_MS);
    let emit = || info!(evt = "openrouter_error", status = 401u64, model = "m");
    let first = render_after(builder(dir.path(), &clock).rules_toml_file(PRESET), emit);
    let gauge = "# TYPE telemetry_start_time_seconds gauge\ntelemetry_start_time_seconds ";
    assert!(
        first.contains(&format!("{gauge}1759758190.123\n")),
        "{first}"
    );
    // A restart an hour later: a new start time, counters from zero again.
    clock.set_ms(T0_MS + 3_600_000);
    let second = render_after(builder(dir.path(), &clock).rules_toml_file(PRESET), emit);
    assert!(
        second.contains(&format!("{gauge}1759761790.123\n")),
        "{second}"
    );
    assert_eq!(
        series(&second, "telemetry_events_total{"),
        [
            "telemetry_events_total{evt=\"openrouter_error\",level=\"info\",source=\"layer::metrics_from_events\"} 1"
        ]
    );
}

#[test]
fn todays_daily_cost_is_restored_from_the_file_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at_ms(T0_MS);
    let first = render_after(builder(dir.path(), &clock).rules_toml_file(PRESET), || {
        info!(
            evt = "openrouter_call",
            model = "m",
            cost_usd = 0.25,
            latency_s = 1.0,
            outcome = "success"
        );
        info!(
            evt = "openrouter_call",
            model = "m",
            cost_usd = 0.5,
            latency_s = 1.0,
            outcome = "success"
        );
    });
    assert_eq!(
        series(&first, "daily_cost_usd{"),
        ["daily_cost_usd{model=\"m\"} 0.75"]
    );
    // Restart the same day: the gauge starts from today's file, not zero.
    clock.set_ms(T0_MS + 3_600_000);
    let second = render_after(builder(dir.path(), &clock).rules_toml_file(PRESET), || {
        info!(
            evt = "openrouter_call",
            model = "m",
            cost_usd = 0.125,
            latency_s = 1.0,
            outcome = "success"
        );
    });
    assert_eq!(
        series(&second, "daily_cost_usd{"),
        ["daily_cost_usd{model=\"m\"} 0.875"]
    );
    // The next day starts again from zero.
    clock.set_ms(T0_MS + 86_400_000);
    let third = render_after(builder(dir.path(), &clock).rules_toml_file(PRESET), || {
        info!(
            evt = "openrouter_call",
            model = "m",
            cost_usd = 0.0625,
            latency_s = 1.0,
            outcome = "success"
        );
    });
    assert_eq!(
        series(&third, "daily_cost_usd{"),
        ["daily_cost_usd{model=\"m\"} 0.0625"]
    );
}

#[test]
fn bad_rules_fail_build_with_a_message_naming_them() {
    let bad_toml = TelemetryBuilder::new().rules_toml(
        "[[metric]]\nname = \"x_total\"\nkind = \"counter\"\nevt = \"e\"\nlabelz = []\n",
    );
    let err = bad_toml
        .build::<tracing_subscriber::Registry>()
        .unwrap_err();
    assert!(matches!(err, Error::Toml { .. }), "{err}");
    assert!(err.to_string().contains("labelz"), "{err}");

    let bad_name =
        TelemetryBuilder::new().rule(MetricRule::counter("bad-name_total").on("e").help("x"));
    let err = bad_name
        .build::<tracing_subscriber::Registry>()
        .unwrap_err();
    assert!(matches!(err, Error::Rule { .. }), "{err}");
    assert!(err.to_string().contains("bad-name_total"), "{err}");

    let missing = TelemetryBuilder::new().rules_toml_file("/nonexistent/rules.toml");
    let err = missing.build::<tracing_subscriber::Registry>().unwrap_err();
    assert!(matches!(err, Error::Read { .. }), "{err}");
    assert!(err.to_string().contains("/nonexistent/rules.toml"), "{err}");
}

#[test]
fn a_subscriber_with_other_layers_still_sees_events_without_evt() {
    // Our per-layer filter must not disable callsites other layers want.
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    struct Count(Arc<AtomicUsize>);
    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Count {
        fn on_event(&self, _: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at_ms(T0_MS);
    let seen = Arc::new(AtomicUsize::new(0));
    let (layer, guard) = builder(dir.path(), &clock).build().unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(layer)
        .with(Count(seen.clone()));
    tracing::subscriber::with_default(subscriber, || {
        info!(plain = 1, "no evt");
        info!(evt = "with_evt");
    });
    drop(guard);
    assert_eq!(seen.load(Ordering::Relaxed), 2);
    assert_eq!(lines(day_file(dir.path(), "2025-10-06")).len(), 1);
}
