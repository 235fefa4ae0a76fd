//! The engine's tests: exact exposition text for each rule kind.

use super::*;
use crate::capture::value::OwnedValue;
use crate::contract::level::LineLevel;
use crate::exporter::exposition::finish_exposition;
use crate::exporter::{ExporterConfig, build_recorder};

/// 2025-10-06T13:43:10.123Z, day 20367.
pub(crate) const TS: i64 = 1_759_758_190_123;
pub(crate) const DAY_MS: i64 = 86_400_000;

/// A synthetic logged event.
#[derive(Debug, Clone)]
pub(crate) struct Ev {
    pub(crate) evt: &'static str,
    pub(crate) level: LineLevel,
    pub(crate) source: &'static str,
    pub(crate) ts: i64,
    pub(crate) fields: Vec<(&'static str, OwnedValue)>,
}

impl Ev {
    pub(crate) fn new(evt: &'static str) -> Self {
        Ev {
            evt,
            level: LineLevel::Info,
            source: "app",
            ts: TS,
            fields: Vec::new(),
        }
    }
    pub(crate) fn level(mut self, level: LineLevel) -> Self {
        self.level = level;
        self
    }
    pub(crate) fn at(mut self, ts: i64) -> Self {
        self.ts = ts;
        self
    }
    pub(crate) fn s(mut self, k: &'static str, v: &str) -> Self {
        self.fields.push((k, OwnedValue::Str(v.to_string())));
        self
    }
    pub(crate) fn u(mut self, k: &'static str, v: u64) -> Self {
        self.fields.push((k, OwnedValue::U64(v)));
        self
    }
    pub(crate) fn f(mut self, k: &'static str, v: f64) -> Self {
        self.fields.push((k, OwnedValue::F64(v)));
        self
    }
    pub(crate) fn b(mut self, k: &'static str, v: bool) -> Self {
        self.fields.push((k, OwnedValue::Bool(v)));
        self
    }
}

impl EventView for Ev {
    fn evt(&self) -> &str {
        self.evt
    }
    fn level(&self) -> LineLevel {
        self.level
    }
    fn source(&self) -> &str {
        self.source
    }
    fn ts_unix_ms(&self) -> i64 {
        self.ts
    }
    fn field(&self, name: &str) -> Option<FieldValue<'_>> {
        self.fields
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_value())
    }
}

/// Runs `f` against a fresh engine and a local Prometheus recorder, and
/// returns the finished exposition text.
pub(crate) fn render_with(rules: Vec<MetricRule>, f: impl FnOnce(&MetricsEngine)) -> String {
    let engine = MetricsEngine::new(rules, 1_000).expect("valid rules");
    let recorder = build_recorder(&ExporterConfig::default(), &engine).expect("recorder");
    let handle = recorder.handle();
    metrics::with_local_recorder(&recorder, || f(&engine));
    finish_exposition(&handle.render(), &engine.catalogue().float_counters())
}

/// The exposition text without the `telemetry_*` self-metrics.
pub(crate) fn without_self(text: &str) -> String {
    let families = text.split_inclusive("\n\n");
    families
        .filter(|f| !f.starts_with("# HELP telemetry_"))
        .collect()
}

/// Only the self-metric families named `names`.
fn only(text: &str, names: &[&str]) -> String {
    let wanted = |f: &&str| names.iter().any(|n| f.starts_with(&format!("# HELP {n} ")));
    text.split_inclusive("\n\n").filter(wanted).collect()
}

fn events(engine: &MetricsEngine, evs: &[Ev]) {
    evs.iter().for_each(|e| engine.on_event(e));
}

fn error_ev(status: u64, code: &str, model: &str) -> Ev {
    Ev::new("openrouter_error")
        .level(LineLevel::Error)
        .u("status", status)
        .s("code", code)
        .s("component", "translation_service")
        .s("model", model)
}

#[test]
fn a_counter_counts_events_per_label_set_with_precreated_zeros() {
    let rule = MetricRule::counter("openrouter_errors_total")
        .on("openrouter_error")
        .labels(["status", "code", "component", "model"])
        .help("Failed OpenRouter calls")
        .precreate([[
            ("status", "401"),
            ("code", "invalid_key"),
            ("component", "translation_service"),
            ("model", "m1"),
        ]]);
    let text = render_with(vec![rule], |e| {
        events(
            e,
            &[
                error_ev(429, "rate_limited", "m1"),
                error_ev(429, "rate_limited", "m1"),
                error_ev(500, "server_error", "m2"),
            ],
        );
    });
    assert_eq!(
            without_self(&text),
            "# HELP openrouter_errors_total Failed OpenRouter calls
# TYPE openrouter_errors_total counter
openrouter_errors_total{status=\"401\",code=\"invalid_key\",component=\"translation_service\",model=\"m1\"} 0
openrouter_errors_total{status=\"429\",code=\"rate_limited\",component=\"translation_service\",model=\"m1\"} 2
openrouter_errors_total{status=\"500\",code=\"server_error\",component=\"translation_service\",model=\"m2\"} 1

"
        );
}

#[test]
fn a_counter_with_a_value_is_a_float_total_typed_counter() {
    let rules = vec![
        MetricRule::counter("cost_usd_total")
            .on("call")
            .value("cost_usd")
            .labels(["model"])
            .help("Cost")
            .unit("usd"),
        MetricRule::counter("cost_usd_total")
            .on("bonus")
            .labels(["model"]),
    ];
    let text = render_with(rules, |e| {
        let call = |c: f64| Ev::new("call").s("model", "m").f("cost_usd", c);
        events(
            e,
            &[
                call(0.25),
                call(0.5),
                call(0.0),
                Ev::new("bonus").s("model", "m"),
            ],
        );
    });
    assert_eq!(
        without_self(&text),
        "# HELP cost_usd_total Cost
# TYPE cost_usd_total counter
cost_usd_total{model=\"m\"} 1.75

"
    );
}

#[test]
fn a_gauge_holds_the_last_value_and_starts_absent() {
    let rule = MetricRule::gauge("queue_pending_jobs")
        .on("queue_depth")
        .value("pending")
        .help("Jobs waiting");
    assert_eq!(
        without_self(&render_with(vec![rule.clone()], |e| e.tick(TS))),
        ""
    );
    let text = render_with(vec![rule], |e| {
        events(
            e,
            &[
                Ev::new("queue_depth").u("pending", 5),
                Ev::new("queue_depth").u("pending", 3),
            ],
        );
    });
    assert_eq!(
        without_self(&text),
        "# HELP queue_pending_jobs Jobs waiting\n# TYPE queue_pending_jobs gauge\nqueue_pending_jobs 3\n\n"
    );
}

#[test]
fn a_histogram_has_bucket_sum_and_count_series() {
    let rule = MetricRule::histogram("call_latency_seconds")
        .on("call")
        .value("latency_s")
        .labels(["model"])
        .buckets([0.5, 1.0, 5.0])
        .help("Call latency");
    let text = render_with(vec![rule], |e| {
        let call = |l: f64| Ev::new("call").s("model", "m").f("latency_s", l);
        events(e, &[call(0.2), call(0.7), call(3.0), call(10.0)]);
    });
    assert_eq!(
        without_self(&text),
        "# HELP call_latency_seconds Call latency
# TYPE call_latency_seconds histogram
call_latency_seconds_bucket{model=\"m\",le=\"0.5\"} 1
call_latency_seconds_bucket{model=\"m\",le=\"1\"} 2
call_latency_seconds_bucket{model=\"m\",le=\"5\"} 3
call_latency_seconds_bucket{model=\"m\",le=\"+Inf\"} 4
call_latency_seconds_sum{model=\"m\"} 13.9
call_latency_seconds_count{model=\"m\"} 4

"
    );
}

#[test]
fn a_histogram_without_labels_is_there_from_the_start_with_default_buckets() {
    let rule = MetricRule::histogram("translation_latency_seconds")
        .on("done")
        .value("latency_s");
    let text = render_with(vec![rule], |e| {
        e.ensure_init();
    });
    let want_buckets: String = crate::rules::rule::LATENCY_BUCKETS
        .iter()
        .map(|b| format!("translation_latency_seconds_bucket{{le=\"{b}\"}} 0\n"))
        .collect();
    assert_eq!(
        without_self(&text),
        format!(
            "# HELP translation_latency_seconds Distribution of latency_s over done events
# TYPE translation_latency_seconds histogram
{want_buckets}translation_latency_seconds_bucket{{le=\"+Inf\"}} 0
translation_latency_seconds_sum 0
translation_latency_seconds_count 0

"
        )
    );
}

#[test]
fn self_metrics_count_events_drops_and_write_errors() {
    let text = render_with(vec![MetricRule::counter("x_total").on("x")], |e| {
        events(
            e,
            &[
                Ev::new("x"),
                Ev::new("x"),
                Ev::new("y").level(LineLevel::Debug),
            ],
        );
        use crate::self_metrics::DropReason;
        e.self_metrics().dropped(DropReason::QueueFull, 5);
        e.self_metrics().dropped(DropReason::ShutdownTimeout, 1);
        e.self_metrics().write_error();
        e.self_metrics().write_error();
    });
    assert_eq!(
            only(&text, &["telemetry_events_total", "telemetry_dropped_events_total", "telemetry_write_errors_total"]),
            "# HELP telemetry_dropped_events_total Event lines not written, by reason (queue_full, write_failed, shutdown_timeout)
# TYPE telemetry_dropped_events_total counter
telemetry_dropped_events_total{reason=\"queue_full\"} 5
telemetry_dropped_events_total{reason=\"shutdown_timeout\"} 1
telemetry_dropped_events_total{reason=\"write_failed\"} 0

# HELP telemetry_events_total Events logged as lines, by evt, level and source
# TYPE telemetry_events_total counter
telemetry_events_total{evt=\"x\",level=\"info\",source=\"app\"} 2
telemetry_events_total{evt=\"y\",level=\"debug\",source=\"app\"} 1

# HELP telemetry_write_errors_total Errors writing event lines to the daily files
# TYPE telemetry_write_errors_total counter
telemetry_write_errors_total 2

"
        );
}

#[test]
fn handles_resolved_once_serve_every_thread() {
    let rule = MetricRule::counter("calls_total")
        .on("call")
        .labels(["model"]);
    let text = render_with(vec![rule], |e| {
        e.on_event(&Ev::new("call").s("model", "m"));
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| (0..1_000).for_each(|_| e.on_event(&Ev::new("call").s("model", "m"))));
            }
        });
    });
    assert!(text.contains("calls_total{model=\"m\"} 4001\n"), "{text}");
    assert!(
        text.contains("telemetry_events_total{evt=\"call\",level=\"info\",source=\"app\"} 4001\n"),
        "{text}"
    );
}

#[test]
fn the_engine_is_send_and_sync_and_reports_buckets_and_float_counters() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<MetricsEngine>();
    let engine = MetricsEngine::new(
        vec![
            MetricRule::histogram("h_seconds").on("e").value("v"),
            MetricRule::counter("c_usd_total").on("e").value("v"),
            MetricRule::counter("n_total").on("e"),
        ],
        10,
    )
    .expect("valid");
    assert_eq!(
        engine.catalogue().histogram_buckets(),
        [(
            "h_seconds".to_string(),
            crate::rules::rule::LATENCY_BUCKETS.to_vec()
        )]
    );
    assert_eq!(engine.catalogue().float_counters(), ["c_usd_total"]);
}

#[test]
fn descriptions_and_units_reach_the_recorder() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let engine = MetricsEngine::new(
        vec![
            MetricRule::histogram("lat_seconds")
                .on("e")
                .value("v")
                .unit("seconds")
                .help("Latency"),
        ],
        10,
    )
    .expect("valid");
    metrics::with_local_recorder(&recorder, || engine.on_event(&Ev::new("e").f("v", 0.5)));
    let found = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .find(|(k, ..)| k.key().name() == "lat_seconds");
    let (_, unit, help, value) = found.expect("lat_seconds registered");
    assert_eq!(
        (unit, help.as_deref()),
        (Some(metrics::Unit::Seconds), Some("Latency"))
    );
    assert!(matches!(value, DebugValue::Histogram(v) if v.len() == 1));
}

// === Remembered label sets (the per-thread memory) ===

mod daily;
mod memory;
mod values;
