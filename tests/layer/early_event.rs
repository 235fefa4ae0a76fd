//! One evt event logged before the application installs its recorder must
//! not detach every metric: nothing is bound to the no-op recorder, the
//! early event's updates are skipped (its line is written) and stderr says
//! so once, and everything after the install is counted, pre-created series
//! and self-metrics included. The exact sequence of issue 12, section 3, in
//! a process of its own (global recorder).

use crate::common;

use common::reliability::in_own_process_with_env;
use common::*;
use metrics_exporter_prometheus::PrometheusBuilder;
use tracing_subscriber::layer::SubscriberExt as _;

const PRESET: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/telemetry.toml");

const NO_RECORDER: &str = "evt-telemetry: an evt event arrived before a metrics recorder \
     was installed: its metric updates are skipped (its line is written), and metrics start with the first \
     event after one is installed. Install the recorder (install_prometheus(), or your own followed by \
     guard.register_metrics()) before logging";

fn sample<'a>(text: &'a str, series: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
}

#[test]
fn an_event_before_the_recorder_detaches_nothing() {
    let name = "early_event::an_event_before_the_recorder_detaches_nothing";
    let Some(said) = in_own_process_with_env(name, &[], || {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::at_ms(T0_MS);
        let (layer, guard) = builder(dir.path(), &clock)
            .rules_toml_file(PRESET)
            .build()
            .unwrap();
        let subscriber = tracing_subscriber::registry().with(layer);
        let handle = tracing::subscriber::with_default(subscriber, || {
            // Start-up work logs before the recorder is installed...
            tracing::info!(
                evt = "pipeline_run",
                result = "success",
                duration_s = 1.0,
                run_id = "r0",
                "warm-up run"
            );
            let handle = PrometheusBuilder::new().install_recorder().unwrap();
            // ...and the first 429 comes after.
            tracing::error!(
                evt = "openrouter_error",
                status = 429u64,
                code = "rate_limited",
                component = "translation_service",
                model = "openai/gpt-4o-mini",
                "429 Rate limit"
            );
            handle
        });
        drop(guard);
        assert_eq!(lines(day_file(dir.path(), "2025-10-06")).len(), 2);

        let text = handle.render();
        let series = |s: &str| sample(&text, s);
        let err = |status: &str, code: &str| {
            format!(
                r#"openrouter_errors_total{{status="{status}",code="{code}",component="translation_service",model="openai/gpt-4o-mini"}}"#
            )
        };
        assert_eq!(series(&err("429", "rate_limited")), Some("1"));
        assert_eq!(series(&err("401", "invalid_key")), Some("0"));
        assert_eq!(series(&err("402", "payment_required")), Some("0"));
        // The early run's update was skipped, not sent to a no-op recorder:
        // its series are the pre-created zeros.
        assert_eq!(
            series(r#"pipeline_runs_total{result="success"}"#),
            Some("0")
        );
        assert_eq!(
            series(
                r#"telemetry_events_total{evt="openrouter_error",level="error",source="layer::early_event"}"#
            ),
            Some("1")
        );
        assert_eq!(
            series(r#"telemetry_dropped_events_total{reason="queue_full"}"#),
            Some("0")
        );
        eprintln!(
            "early event, then install, then a 429: {} exposition lines",
            text.lines().count()
        );
    }) else {
        return;
    };
    let (notes, figures): (Vec<&str>, Vec<&str>) =
        said.lines().partition(|l| l.starts_with("evt-telemetry:"));
    assert_eq!(notes, [NO_RECORDER]);
    figures.iter().for_each(|f| eprintln!("{f}"));
}
