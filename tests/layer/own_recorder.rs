//! An application with its own metrics-exporter-prometheus recorder gets the
//! exposition the built-in exporter serves (real histogram buckets, series
//! created up front, fractional counters typed `counter` when served through
//! `Guard::render_prometheus`), and the built-in exporter renders the
//! application's own histograms with the buckets it was given.
//! Global recorders: each scenario runs in its own process.

use crate::common;

use common::reliability::in_own_process;
use common::*;
use evt_telemetry::{Error, MetricRule, TelemetryBuilder};
use metrics_exporter_prometheus::PrometheusBuilder;
use tracing_subscriber::layer::SubscriberExt as _;

const PRESET: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/telemetry.toml");

/// The lines of `text` for the family `name` (its `# TYPE` line included),
/// sorted.
fn family<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    let mut lines: Vec<&str> = text
        .lines()
        .filter(|l| {
            let rest = l.strip_prefix("# TYPE ").unwrap_or(l);
            rest.strip_prefix(name)
                .is_some_and(|r| r.starts_with(['{', ' ', '_']))
        })
        .filter(|l| !l.starts_with("# HELP"))
        .collect();
    lines.sort_unstable();
    lines
}

#[test]
fn own_prometheus_builder_gets_buckets_precreated_series_and_counter_types() {
    in_own_process(
        "own_recorder::own_prometheus_builder_gets_buckets_precreated_series_and_counter_types",
        || {
            let dir = tempfile::tempdir().unwrap();
            let clock = ManualClock::at_ms(T0_MS);
            let (layer, guard) = builder(dir.path(), &clock)
                .rules_toml_file(PRESET)
                .build()
                .unwrap();
            let handle = guard
                .configure_prometheus(PrometheusBuilder::new())
                .unwrap()
                .install_recorder()
                .unwrap();
            guard.register_metrics();

            // Before any event: every pre-created series is there.
            let before = guard.render_prometheus(&handle);
            let errors = family(&before, "openrouter_errors_total");
            assert_eq!(errors.len(), 1 + 12, "{errors:#?}");
            assert!(errors.contains(
                &r#"openrouter_errors_total{status="401",code="invalid_key",component="translation_service",model="openai/gpt-4o-mini"} 0"#
            ));
            assert_eq!(
                family(&before, "pipeline_runs_total"),
                [
                    "# TYPE pipeline_runs_total counter",
                    r#"pipeline_runs_total{result="failure"} 0"#,
                    r#"pipeline_runs_total{result="success"} 0"#,
                ]
            );
            println!(
                "\nown recorder, before any event: {} exposition lines",
                before.lines().count()
            );

            let subscriber = tracing_subscriber::registry().with(layer);
            tracing::subscriber::with_default(subscriber, || {
                tracing::info!(
                    evt = "openrouter_call",
                    model = "openai/gpt-4o-mini",
                    component = "translation_service",
                    latency_s = 1.5,
                    tokens_in = 10u64,
                    tokens_out = 20u64,
                    cost_usd = 0.0025,
                    outcome = "success",
                    status = 200u64,
                    "OpenRouter call ok"
                );
            });
            let after = guard.render_prometheus(&handle);
            assert_eq!(
                family(&after, "openrouter_call_latency_seconds"),
                [
                    "# TYPE openrouter_call_latency_seconds histogram",
                    r#"openrouter_call_latency_seconds_bucket{model="openai/gpt-4o-mini",le="+Inf"} 1"#,
                    r#"openrouter_call_latency_seconds_bucket{model="openai/gpt-4o-mini",le="0.05"} 0"#,
                    r#"openrouter_call_latency_seconds_bucket{model="openai/gpt-4o-mini",le="0.1"} 0"#,
                    r#"openrouter_call_latency_seconds_bucket{model="openai/gpt-4o-mini",le="0.25"} 0"#,
                    r#"openrouter_call_latency_seconds_bucket{model="openai/gpt-4o-mini",le="0.5"} 0"#,
                    r#"openrouter_call_latency_seconds_bucket{model="openai/gpt-4o-mini",le="1"} 0"#,
                    r#"openrouter_call_latency_seconds_bucket{model="openai/gpt-4o-mini",le="10"} 1"#,
                    r#"openrouter_call_latency_seconds_bucket{model="openai/gpt-4o-mini",le="120"} 1"#,
                    r#"openrouter_call_latency_seconds_bucket{model="openai/gpt-4o-mini",le="180"} 1"#,
                    r#"openrouter_call_latency_seconds_bucket{model="openai/gpt-4o-mini",le="2"} 1"#,
                    r#"openrouter_call_latency_seconds_bucket{model="openai/gpt-4o-mini",le="20"} 1"#,
                    r#"openrouter_call_latency_seconds_bucket{model="openai/gpt-4o-mini",le="30"} 1"#,
                    r#"openrouter_call_latency_seconds_bucket{model="openai/gpt-4o-mini",le="300"} 1"#,
                    r#"openrouter_call_latency_seconds_bucket{model="openai/gpt-4o-mini",le="5"} 1"#,
                    r#"openrouter_call_latency_seconds_bucket{model="openai/gpt-4o-mini",le="60"} 1"#,
                    r#"openrouter_call_latency_seconds_count{model="openai/gpt-4o-mini"} 1"#,
                    r#"openrouter_call_latency_seconds_sum{model="openai/gpt-4o-mini"} 1.5"#,
                ]
            );
            assert_eq!(
                family(&after, "openrouter_cost_usd_total"),
                [
                    "# TYPE openrouter_cost_usd_total counter",
                    r#"openrouter_cost_usd_total{model="openai/gpt-4o-mini"} 0.0025"#,
                ]
            );
            // What the recorder renders by itself (its own HTTP listener
            // serves this): the fractional counter is a gauge there.
            assert_eq!(
                family(&handle.render(), "openrouter_cost_usd_total"),
                [
                    "# TYPE openrouter_cost_usd_total gauge",
                    r#"openrouter_cost_usd_total{model="openai/gpt-4o-mini"} 0.0025"#,
                ]
            );
            println!(
                "own recorder, after one call: {} exposition lines",
                after.lines().count()
            );
        },
    );
}

#[test]
fn the_builtin_exporter_renders_the_apps_own_histograms_with_their_buckets() {
    in_own_process(
        "own_recorder::the_builtin_exporter_renders_the_apps_own_histograms_with_their_buckets",
        || {
            let dir = tempfile::tempdir().unwrap();
            let (_layer, guard) = TelemetryBuilder::new()
                .log_dir(dir.path())
                .prometheus_listen(([127, 0, 0, 1], 0).into())
                .prometheus_buckets("http_request_duration_seconds", [0.1, 0.5, 1.0])
                .install_prometheus::<tracing_subscriber::Registry>()
                .unwrap();
            metrics::histogram!("http_request_duration_seconds", "route" => "/papers").record(0.3);
            let text = guard.prometheus().unwrap().render();
            assert_eq!(
                family(&text, "http_request_duration_seconds"),
                [
                    "# TYPE http_request_duration_seconds histogram",
                    r#"http_request_duration_seconds_bucket{route="/papers",le="+Inf"} 1"#,
                    r#"http_request_duration_seconds_bucket{route="/papers",le="0.1"} 0"#,
                    r#"http_request_duration_seconds_bucket{route="/papers",le="0.5"} 1"#,
                    r#"http_request_duration_seconds_bucket{route="/papers",le="1"} 1"#,
                    r#"http_request_duration_seconds_count{route="/papers"} 1"#,
                    r#"http_request_duration_seconds_sum{route="/papers"} 0.3"#,
                ]
            );
        },
    );
}

#[test]
fn bad_app_buckets_are_refused_when_built() {
    let dir = tempfile::tempdir().unwrap();
    let refused = |b: evt_telemetry::TelemetryBuilder| -> String {
        match b
            .log_dir(dir.path())
            .build::<tracing_subscriber::Registry>()
        {
            Err(Error::Config(m)) => m,
            other => panic!("expected a Config error, got {other:?}"),
        }
    };
    assert_eq!(
        refused(TelemetryBuilder::new().prometheus_buckets("h_seconds", [])),
        r#"prometheus_buckets("h_seconds"): `buckets` is empty"#
    );
    assert_eq!(
        refused(TelemetryBuilder::new().prometheus_buckets("h_seconds", [1.0, 0.5])),
        r#"prometheus_buckets("h_seconds"): buckets are not sorted: 0.5 comes after 1"#
    );
    assert_eq!(
        refused(
            TelemetryBuilder::new()
                .prometheus_buckets("h_seconds", [1.0])
                .prometheus_buckets("h_seconds", [2.0])
        ),
        r#"prometheus_buckets("h_seconds"): given twice"#
    );
    let rule = MetricRule::histogram("latency_seconds")
        .on("call")
        .value("s");
    assert_eq!(
        refused(
            TelemetryBuilder::new()
                .rule(rule)
                .prometheus_buckets("latency_seconds", [1.0])
        ),
        r#"prometheus_buckets("latency_seconds"): a rule's histogram: set its buckets in the rule"#
    );
}
