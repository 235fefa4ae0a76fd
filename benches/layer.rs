//! Criterion benches: each case of ours beside its anchor, in the same run.
//! `benches/ratios.py` prints the ratios from criterion's estimates.
//!
//! The event of the performance issue:
//! `error!(evt="openrouter_error", status=429, code="rate_limited",
//!  model="deepseek/deepseek-v3.2-exp", component="translation_service", "429 Rate limit")`

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};

use criterion::{Criterion, criterion_group, criterion_main};

mod common;
use common::{ours, ours_with, the_event};
use tracing::dispatcher::{self, Dispatch};
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{Layer, fmt};

fn emit() {
    the_event!();
}

fn emit_anchor() {
    the_event!();
}

fn emit_floor() {
    the_event!();
}

fn emit_loaded() {
    the_event!();
}

fn emit_anchor_loaded() {
    the_event!();
}

fn emit_exemplars() {
    the_event!();
}

fn fmt_json() -> impl tracing::Subscriber + Send + Sync {
    tracing_subscriber::registry().with(
        fmt::layer()
            .json()
            .flatten_event(true)
            .with_writer(std::io::sink),
    )
}

/// Case 1: formatting only (no-op writer) — ours vs fmt json.
fn format_only(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut g = c.benchmark_group("1_format_only");
    let (ours, guard) = ours(dir.path(), false);
    dispatcher::with_default(&ours, || g.bench_function("evt_layer", |b| b.iter(emit)));
    let anchor = Dispatch::new(fmt_json());
    dispatcher::with_default(&anchor, || {
        g.bench_function("fmt_json", |b| b.iter(emit_anchor))
    });
    // The floor: dispatch to a layer that wants `evt` events and does nothing.
    let wants_evt = filter_fn(|m| m.fields().field("evt").is_some());
    let floor = Dispatch::new(tracing_subscriber::registry().with(Noop.with_filter(wants_evt)));
    dispatcher::with_default(&floor, || {
        g.bench_function("floor_noop_layer", |b| b.iter(emit_floor))
    });
    g.finish();
    drop(guard);
}

/// A layer that does nothing with what it is given.
struct Noop;

impl<S: tracing::Subscriber> Layer<S> for Noop {}

/// Case 2: line + 3 metric updates — ours vs fmt json + the same 3 updates via macros.
///
/// The recorder's histogram upkeep runs every second, as the exporter's does
/// (every 5 s by default): without it every sample of the run stays queued
/// in memory, and both sides would measure that growth.
fn log_and_metrics(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let _local = metrics::set_default_local_recorder(&recorder);
    let (handle, stop) = (
        recorder.handle(),
        std::sync::Arc::new(AtomicBool::new(false)),
    );
    let upkeep = std::thread::spawn({
        let stop = stop.clone();
        move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(std::time::Duration::from_secs(1));
                handle.run_upkeep();
            }
        }
    });
    let mut g = c.benchmark_group("2_log_and_3_metrics");
    let (ours, guard) = ours(dir.path(), true);
    dispatcher::with_default(&ours, || g.bench_function("evt_layer", |b| b.iter(emit)));
    drop(guard);
    // The same rules, the counter keeping exemplars (as the preset does).
    let (ours, guard) = ours_with(dir.path(), true, 1);
    dispatcher::with_default(&ours, || {
        g.bench_function("evt_layer_exemplars", |b| b.iter(emit_exemplars))
    });
    let anchor = Dispatch::new(fmt_json());
    dispatcher::with_default(&anchor, || {
        g.bench_function("fmt_json_plus_macros", |b| {
            b.iter(|| {
                emit_anchor();
                let (status, code, component, model) = ("429", "rate_limited", "translation_service", "deepseek/deepseek-v3.2-exp");
                metrics::counter!("openrouter_errors_total", "status" => status.to_string(), "code" => code.to_string(),
                                  "component" => component.to_string(), "model" => model.to_string()).increment(1);
                metrics::histogram!("openrouter_error_status").record(black_box(429.0));
                metrics::gauge!("daily_error_status", "model" => model.to_string()).increment(black_box(429.0));
            })
        })
    });
    dispatcher::with_default(&anchor, || {
        g.bench_function("fmt_json_alone", |b| b.iter(emit_anchor))
    });
    g.finish();
    drop(guard);
    stop.store(true, Ordering::Relaxed);
    upkeep.join().unwrap();
}

/// Case 3: an event without `evt` through registry + our layer vs an event no layer wants.
fn event_without_evt(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut g = c.benchmark_group("3_event_without_evt");
    let (ours, guard) = ours(dir.path(), false);
    dispatcher::with_default(&ours, || {
        g.bench_function("evt_layer", |b| {
            b.iter(|| tracing::info!(status = 200, model = "m", "no evt field"))
        })
    });
    drop(ours);
    let nobody = Dispatch::new(
        tracing_subscriber::registry().with(
            fmt::layer()
                .with_writer(std::io::sink)
                .with_filter(filter_fn(|_| false)),
        ),
    );
    dispatcher::with_default(&nobody, || {
        g.bench_function("no_layer_wants_it", |b| {
            b.iter(|| tracing::info!(status = 200, model = "m", "wanted by nobody"))
        })
    });
    g.finish();
    drop(guard);
}

/// One busy-spinning thread per core, in this process, until dropped: the
/// loaded machine of case 6, the same for both sides.
struct Spinners {
    stop: std::sync::Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Spinners {
    fn start() -> Self {
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let threads = (0..cores)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        black_box(0u64);
                    }
                })
            })
            .collect();
        Spinners { stop, threads }
    }
}

impl Drop for Spinners {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.threads.drain(..).for_each(|t| t.join().unwrap());
    }
}

/// Case 6: case 1 while every core also runs a busy-spinning thread. Prints
/// how often a caller waited for room in the queue, per 100,000 events.
fn format_only_under_load(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut g = c.benchmark_group("6_format_only_under_load");
    let (ours, guard) = ours(dir.path(), false);
    let spinners = Spinners::start();
    dispatcher::with_default(&ours, || {
        g.bench_function("evt_layer", |b| b.iter(emit_loaded))
    });
    let anchor = Dispatch::new(fmt_json());
    dispatcher::with_default(&anchor, || {
        g.bench_function("fmt_json", |b| b.iter(emit_anchor_loaded))
    });
    drop(spinners);
    g.finish();
    let stats = guard.shutdown();
    let per_100k = stats.queue_waits as f64 * 100_000.0 / stats.lines_queued.max(1) as f64;
    eprintln!(
        "case 6: {} of {} events waited for the queue ({per_100k:.3} per 100,000)",
        stats.queue_waits, stats.lines_queued
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(3)).warm_up_time(std::time::Duration::from_secs(1));
    targets = format_only, log_and_metrics, event_without_evt, format_only_under_load
}
criterion_main!(benches);
