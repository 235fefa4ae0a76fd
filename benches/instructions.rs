//! The bench event under callgrind: instructions per event are steady on a
//! busy machine where times are not. `bash benches/instructions.sh` builds
//! this and prints the count per event for cases 1 and 2 of `layer.rs`.
//!
//! Usage: `instructions CASE N` emits the event N times (after 1,000 to warm
//! up) through our layer with discarded lines; CASE 1 has no rules, CASE 2
//! the three rules of `layer.rs`'s case 2 under a local Prometheus recorder.
//! Without arguments (as `cargo bench` runs it) it emits a few events of each.

use evt_telemetry::{MetricRule, Telemetry};
use tracing_subscriber::layer::SubscriberExt;

/// The emitting loop, the one function callgrind counts (`--toggle-collect`).
#[inline(never)]
fn run_events(n: u64) {
    for _ in 0..n {
        tracing::error!(
            evt = "openrouter_error",
            status = 429,
            code = "rate_limited",
            model = "deepseek/deepseek-v3.2-exp",
            component = "translation_service",
            "429 Rate limit"
        );
    }
}

fn run_case(case: u32, n: u64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let _local = metrics::set_default_local_recorder(&recorder);
    let mut b = Telemetry::builder()
        .log_dir(dir.path())
        .discard_lines_for_benchmarks(true);
    if case == 2 {
        b = b
            .rule(
                MetricRule::counter("openrouter_errors_total")
                    .on("openrouter_error")
                    .labels(["status", "code", "component", "model"])
                    .help("Errors"),
            )
            .rule(
                MetricRule::histogram("openrouter_error_status")
                    .on("openrouter_error")
                    .value("status")
                    .help("Status histogram (bench)"),
            )
            .rule(
                MetricRule::daily_sum("daily_error_status")
                    .on("openrouter_error")
                    .value("status")
                    .labels(["model"])
                    .help("Daily sum (bench)"),
            );
    }
    let (layer, guard) = b.build().expect("build");
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    tracing::dispatcher::with_default(&dispatch, || {
        run_events(1_000);
        run_events(n);
    });
    drop(guard);
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    match args.as_slice() {
        [case, n] => run_case(
            case.parse().expect("CASE: 1 or 2"),
            n.parse().expect("N: a count"),
        ),
        _ => (1..=2).for_each(|case| run_case(case, 100)),
    }
}
