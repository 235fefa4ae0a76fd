//! What `layer.rs` and `instructions.rs` share: the event of the performance
//! issue and the layer of cases 1 and 2.

use evt_telemetry::{Guard, MetricRule, TelemetryBuilder};
use tracing::Dispatch;
use tracing_subscriber::layer::SubscriberExt;

/// The event of the performance issue. A macro, not a function: each bench
/// needs its own callsite, because `tracing` caches a callsite's interest
/// across every live subscriber, and one subscriber's interest must not
/// change what another bench measures.
macro_rules! the_event {
    () => {
        tracing::error!(
            evt = "openrouter_error",
            status = 429,
            code = "rate_limited",
            model = "deepseek/deepseek-v3.2-exp",
            component = "translation_service",
            "429 Rate limit"
        )
    };
}
pub(crate) use the_event;

/// Our layer with discarded lines, with case 2's three rules (4-label
/// counter, histogram, daily sum) when `rules` is true.
pub fn ours(dir: &std::path::Path, rules: bool) -> (Dispatch, Guard) {
    ours_with(dir, rules, 0)
}

/// Case 2's layer with `exemplars` of its rules keeping exemplars labelled
/// by `model` (the cost of [`MetricRule::exemplar`]): 1 is the counter, as
/// the preset's `openrouter_errors_total`; 2 adds the histogram.
pub fn ours_with(dir: &std::path::Path, rules: bool, exemplars: usize) -> (Dispatch, Guard) {
    let fields = |n: usize| {
        if exemplars >= n {
            &["model"][..]
        } else {
            &[][..]
        }
    };
    let mut b = TelemetryBuilder::new()
        .log_dir(dir)
        .discard_lines_for_benchmarks(true);
    if rules {
        b = b
            .rule(
                MetricRule::counter("openrouter_errors_total")
                    .on("openrouter_error")
                    .labels(["status", "code", "component", "model"])
                    .help("Errors")
                    .exemplar(fields(1).iter().copied()),
            )
            .rule(
                MetricRule::histogram("openrouter_error_status")
                    .on("openrouter_error")
                    .value("status")
                    .help("Status histogram (bench)")
                    .exemplar(fields(2).iter().copied()),
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
    (
        Dispatch::new(tracing_subscriber::registry().with(layer)),
        guard,
    )
}
