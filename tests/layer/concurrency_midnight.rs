//! 8 threads emitting with spans and metrics at full speed while midnight
//! passes: exact line counts per day file, every counter equal to the number
//! of events, daily sums equal to the new day's events.
//!
//! Each thread runs its own simulated time (a thread-local clock), crossing
//! midnight at its own moment, so what belongs to which day is known
//! exactly; the writer's clock is moved across midnight by the test thread
//! while the emitters run.

use crate::common;

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use common::*;
use evt_telemetry::{Clock, MetricRule, TelemetryBuilder};
use metrics_exporter_prometheus::PrometheusBuilder;
use tracing::{info, info_span};

const THREADS: u64 = 8;
const PER_THREAD: u64 = 25_000;
/// 2025-10-07T00:00:00.000Z
const MIDNIGHT: u64 = 1_759_795_200_000;

thread_local! {
    static SIM_MS: Cell<Option<u64>> = const { Cell::new(None) };
}

/// Emitting threads read their own simulated time; others (the writer) the shared one.
#[derive(Debug, Clone)]
struct SimClock(Arc<AtomicU64>);

impl Clock for SimClock {
    fn now(&self) -> SystemTime {
        let ms = SIM_MS
            .get()
            .unwrap_or_else(|| self.0.load(Ordering::SeqCst));
        SystemTime::UNIX_EPOCH + Duration::from_millis(ms)
    }
}

/// Thread `t`'s event `i`: from 500 ms (+ 10 ms per thread) before midnight
/// to about as long after.
fn sim_ms(t: u64, i: u64) -> u64 {
    MIDNIGHT - 500 - 10 * t + i * 1000 / PER_THREAD
}

fn expected_day1(t: u64) -> u64 {
    (0..PER_THREAD).filter(|&i| sim_ms(t, i) < MIDNIGHT).count() as u64
}

fn sample(text: &str, series: &str) -> f64 {
    let prefix = format!("{series} ");
    text.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
        .parse()
        .unwrap()
}

#[test]
fn eight_threads_across_midnight_give_exact_files_and_counters() {
    let dir = tempfile::tempdir().unwrap();
    let writer_ms = Arc::new(AtomicU64::new(MIDNIGHT - 1000));
    let (layer, guard) = TelemetryBuilder::new()
        .log_dir(dir.path())
        .clock(SimClock(writer_ms.clone()))
        .queue_capacity_bytes(256 * 1024)
        .rule(
            MetricRule::counter("work_total")
                .on("work")
                .labels(["component"]),
        )
        .rule(
            MetricRule::daily_sum("work_cost_usd")
                .on("work")
                .value("cost_usd")
                .labels(["component"]),
        )
        .rule(
            MetricRule::histogram("work_latency_seconds")
                .on("work")
                .value("latency_s"),
        )
        .build()
        .unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::layer::SubscriberExt::with(
        tracing_subscriber::registry(),
        layer,
    ));
    let recorder = PrometheusBuilder::new().build_recorder();
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (dispatch, recorder) = (dispatch.clone(), &recorder);
            s.spawn(move || {
                let component = format!("c{t}");
                metrics::with_local_recorder(recorder, || {
                    tracing::dispatcher::with_default(&dispatch, || {
                        let span = info_span!("worker", component = %component, run_id = "r-1");
                        let _in = span.enter();
                        for i in 0..PER_THREAD {
                            SIM_MS.set(Some(sim_ms(t, i)));
                            info!(evt = "work", t, i, cost_usd = 0.25, latency_s = 0.5);
                        }
                    })
                })
            });
        }
        // The writer's clock passes midnight while the emitters run.
        std::thread::sleep(Duration::from_millis(20));
        writer_ms.store(MIDNIGHT + 1, Ordering::SeqCst);
    });
    let stats = guard.shutdown();
    let total = THREADS * PER_THREAD;
    assert_eq!((stats.lines_queued, stats.lines_written), (total, total));

    // Files: exact counts per day, every line in its own day's file, each
    // thread's events in order.
    let mut next: HashMap<u64, u64> = HashMap::new();
    let mut per_day = Vec::new();
    for date in ["2025-10-06", "2025-10-07"] {
        let lines = lines(day_file(dir.path(), date));
        for line in &lines {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(&v["ts"].as_str().unwrap()[..10], date);
            let meta = &v["meta"];
            let (t, i) = (meta["t"].as_u64().unwrap(), meta["i"].as_u64().unwrap());
            assert_eq!(
                meta["component"],
                format!("c{t}"),
                "span field missing: {line}"
            );
            let expected = next.entry(t).or_insert(0);
            assert_eq!(
                i, *expected,
                "thread {t}: out of order or missing in {date}"
            );
            *expected += 1;
        }
        per_day.push(lines.len() as u64);
    }
    let day1: u64 = (0..THREADS).map(expected_day1).sum();
    assert_eq!(per_day, [day1, total - day1]);
    eprintln!("{} lines on 10-06, {} on 10-07", per_day[0], per_day[1]);

    // Metrics: counters equal the events; daily sums hold only 10-07's.
    let text = recorder.handle().render();
    assert_eq!(
        sample(
            &text,
            "telemetry_events_total{evt=\"work\",level=\"info\",source=\"layer::concurrency_midnight\"}"
        ),
        total as f64
    );
    assert_eq!(sample(&text, "work_latency_seconds_count"), total as f64);
    assert_eq!(
        sample(&text, "work_latency_seconds_sum"),
        total as f64 * 0.5
    );
    for t in 0..THREADS {
        let c = format!("{{component=\"c{t}\"}}");
        assert_eq!(sample(&text, &format!("work_total{c}")), PER_THREAD as f64);
        let new_day = (PER_THREAD - expected_day1(t)) as f64;
        assert_eq!(sample(&text, &format!("work_cost_usd{c}")), new_day * 0.25);
    }
}
