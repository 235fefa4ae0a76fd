//! `EnvFilter` / `RUST_LOG` in the two places services put it, for RUST_LOG
//! unset, `info`, `debug` and `my_crate=debug` (set in a child process
//! only): as a global filter (`.with(EnvFilter)`, which drops callsites
//! before every layer, and the layer says so once on stderr with the fix),
//! and as the console's own filter (`fmt::layer().with_filter(EnvFilter)`,
//! the recommended set-up: every evt event arrives, nothing is said).

use crate::common;

use common::reliability::in_own_process_with_env;
use common::*;
use evt_telemetry::MetricRule;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

#[derive(Clone, Copy)]
enum Setup {
    /// `registry().with(EnvFilter::from_default_env()).with(layer)`.
    Global,
    /// `registry().with(layer).with(fmt::layer().with_filter(EnvFilter::from_default_env()))`.
    PerLayer,
}

const TS: &str = "2025-10-06T13:43:10.123Z";
const SPAN_META: &str = r#""component":"translation_service","model":"openai/gpt-4o-mini""#;

/// The application's events: an `#[instrument]`-like INFO span with
/// `component` and `model`, a 401, a successful call, a DEBUG queue depth
/// (all from `my_crate`), and a run finished by another crate.
fn emit() {
    let span = tracing::info_span!(target: "my_crate::worker", "call",
        component = "translation_service", model = "openai/gpt-4o-mini");
    let entered = span.enter();
    tracing::error!(target: "my_crate::worker", evt = "openrouter_error", status = 401u64,
        code = "invalid_key", "401 Invalid key");
    tracing::info!(target: "my_crate::worker", evt = "openrouter_call", outcome = "success", "ok");
    tracing::debug!(target: "my_crate::worker", evt = "queue_depth", pending = 3u64, "queue depth");
    drop(entered);
    tracing::info!(target: "other_crate", evt = "pipeline_run", result = "success", "done");
}

fn line(level: &str, evt: &str, source: &str, msg: &str, meta: &str) -> String {
    format!(
        r#"{{"ts":"{TS}","level":"{level}","evt":"{evt}","source":"{source}","msg":"{msg}","meta":{{{meta}}}}}"#
    )
}

fn error_line(spans: bool) -> String {
    let meta = r#""status":401,"code":"invalid_key""#;
    let meta = if spans {
        format!("{meta},{SPAN_META}")
    } else {
        meta.into()
    };
    line(
        "error",
        "openrouter_error",
        "my_crate::worker",
        "401 Invalid key",
        &meta,
    )
}

fn call_line() -> String {
    let meta = format!(r#""outcome":"success",{SPAN_META}"#);
    line("info", "openrouter_call", "my_crate::worker", "ok", &meta)
}

fn queue_line() -> String {
    let meta = format!(r#""pending":3,{SPAN_META}"#);
    line(
        "debug",
        "queue_depth",
        "my_crate::worker",
        "queue depth",
        &meta,
    )
}

fn run_line() -> String {
    line(
        "info",
        "pipeline_run",
        "other_crate",
        "done",
        r#""result":"success""#,
    )
}

/// In the child: emits the events under `setup` and checks the exact lines
/// and the 401's series.
fn check(setup: Setup, want_lines: Vec<String>, want_401: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at_ms(T0_MS);
    let b = builder(dir.path(), &clock).rule(
        MetricRule::counter("openrouter_errors_total")
            .on("openrouter_error")
            .labels(["component", "model"])
            .precreate([[
                ("component", "translation_service"),
                ("model", "openai/gpt-4o-mini"),
            ]]),
    );
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let _local = metrics::set_default_local_recorder(&recorder);
    // The layer's type names the subscriber below it: build it where the
    // stack is composed.
    let guard = match setup {
        Setup::Global => {
            let (layer, guard) = b.build().unwrap();
            let subscriber = tracing_subscriber::registry()
                .with(EnvFilter::from_default_env())
                .with(layer);
            tracing::subscriber::with_default(subscriber, emit);
            guard
        }
        Setup::PerLayer => {
            let (layer, guard) = b.build().unwrap();
            let console = tracing_subscriber::fmt::layer()
                .with_writer(std::io::sink)
                .with_filter(EnvFilter::from_default_env());
            let subscriber = tracing_subscriber::registry().with(layer).with(console);
            tracing::subscriber::with_default(subscriber, emit);
            guard
        }
    };
    drop(guard);
    assert_eq!(lines(day_file(dir.path(), "2025-10-06")), want_lines);
    let text = handle.render();
    let mut series: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("openrouter_errors_total{"))
        .collect();
    series.sort_unstable();
    assert_eq!(series, want_401);
}

const COUNTED_WITH_LABELS: &[&str] =
    &[r#"openrouter_errors_total{component="translation_service",model="openai/gpt-4o-mini"} 1"#];

/// Runs `check` in a child with `RUST_LOG` as given; returns the child's
/// stderr in the parent, `None` in the child.
fn case(
    name: &str,
    rust_log: Option<&str>,
    setup: Setup,
    lines: Vec<String>,
    s401: &[&str],
) -> Option<String> {
    let env = [("RUST_LOG", rust_log)];
    in_own_process_with_env(name, &env, || check(setup, lines, s401))
}

/// The stderr message for these dropped levels (the one the layer prints).
fn warning(events: &str, spans: &str) -> String {
    format!(
        "evt-telemetry: a global filter drops evt events at {events} and spans at {spans} (their fields) \
         before the evt-telemetry layer sees them: their lines, labels and metrics are lost. \
         Filter the console layer only:\n    \
         tracing_subscriber::registry()\n        \
         .with(evt_layer)\n        \
         .with(tracing_subscriber::fmt::layer().with_filter(tracing_subscriber::EnvFilter::from_default_env()))\n        \
         .init();\n\
         (see \"Using with EnvFilter / RUST_LOG\" in the evt-telemetry docs)\n"
    )
}

// === a global EnvFilter: what is lost, and the message ===

#[test]
fn global_filter_rust_log_unset_keeps_errors_only_and_says_so() {
    let Some(said) = case(
        "env_filter::global_filter_rust_log_unset_keeps_errors_only_and_says_so",
        None,
        Setup::Global,
        // EnvFilter's default is ERROR: the span is off too, so the 401
        // loses component and model, in its line and its labels.
        vec![error_line(false)],
        &[
            r#"openrouter_errors_total{component="",model=""} 1"#,
            r#"openrouter_errors_total{component="translation_service",model="openai/gpt-4o-mini"} 0"#,
        ],
    ) else {
        return;
    };
    assert_eq!(said, warning("warn, info, debug", "warn, info, debug"));
}

#[test]
fn global_filter_rust_log_info_loses_debug_events_and_says_so() {
    let Some(said) = case(
        "env_filter::global_filter_rust_log_info_loses_debug_events_and_says_so",
        Some("info"),
        Setup::Global,
        vec![error_line(true), call_line(), run_line()],
        COUNTED_WITH_LABELS,
    ) else {
        return;
    };
    assert_eq!(said, warning("debug", "debug"));
}

#[test]
fn global_filter_rust_log_debug_keeps_everything_and_says_nothing() {
    let Some(said) = case(
        "env_filter::global_filter_rust_log_debug_keeps_everything_and_says_nothing",
        Some("debug"),
        Setup::Global,
        vec![error_line(true), call_line(), queue_line(), run_line()],
        COUNTED_WITH_LABELS,
    ) else {
        return;
    };
    assert_eq!(said, "");
}

#[test]
fn global_filter_for_my_crate_loses_other_targets_and_says_so() {
    let Some(said) = case(
        "env_filter::global_filter_for_my_crate_loses_other_targets_and_says_so",
        Some("my_crate=debug"),
        Setup::Global,
        vec![error_line(true), call_line(), queue_line()],
        COUNTED_WITH_LABELS,
    ) else {
        return;
    };
    let want = warning("error, warn, info, debug", "error, warn, info, debug");
    assert_eq!(said, want);
}

// === the recommended set-up: the filter on the console only ===

fn per_layer(name: &str, rust_log: Option<&str>) {
    let Some(said) = case(
        name,
        rust_log,
        Setup::PerLayer,
        vec![error_line(true), call_line(), queue_line(), run_line()],
        COUNTED_WITH_LABELS,
    ) else {
        return;
    };
    assert_eq!(said, "", "RUST_LOG={rust_log:?}");
}

#[test]
fn console_filter_rust_log_unset_keeps_every_evt_event() {
    per_layer(
        "env_filter::console_filter_rust_log_unset_keeps_every_evt_event",
        None,
    );
}

#[test]
fn console_filter_rust_log_info_keeps_every_evt_event() {
    per_layer(
        "env_filter::console_filter_rust_log_info_keeps_every_evt_event",
        Some("info"),
    );
}

#[test]
fn console_filter_rust_log_debug_keeps_every_evt_event() {
    per_layer(
        "env_filter::console_filter_rust_log_debug_keeps_every_evt_event",
        Some("debug"),
    );
}

#[test]
fn console_filter_for_my_crate_keeps_every_evt_event() {
    per_layer(
        "env_filter::console_filter_for_my_crate_keeps_every_evt_event",
        Some("my_crate=debug"),
    );
}
