//! Label flood: 1,000,000 distinct `model` values through the real layer,
//! from 4 threads.
//! Each metric keeps at most its cap of series plus the `__overflow__` one,
//! every overflowed update is counted, and memory stays bounded (peak RSS
//! printed). One test in its own file, so the peak RSS it reads is its own.

use crate::common;
use crate::common::reliability;

use std::fmt::Write as _;
use std::time::Instant;

use common::*;
use evt_telemetry::MetricRule;
use metrics_exporter_prometheus::PrometheusBuilder;
use reliability::proc_status_kib;
use tracing::info;

const CAP: usize = 1_000;
const THREADS: u64 = 4;

fn sample(text: &str, series: &str) -> f64 {
    let prefix = format!("{series} ");
    text.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .unwrap_or_else(|| panic!("no {series}"))
        .parse()
        .unwrap()
}

#[test]
fn a_million_distinct_models_keep_each_metric_at_its_cap() {
    let n: u64 = std::env::var("EVT_FLOOD_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at_ms(T0_MS);
    let b = builder(dir.path(), &clock)
        .max_series_per_metric(CAP)
        .rule(
            MetricRule::counter("calls_total")
                .on("call")
                .labels(["model"]),
        )
        .rule(
            MetricRule::histogram("call_latency_seconds")
                .on("call")
                .value("latency_s")
                .labels(["model"]),
        )
        .rule(
            MetricRule::daily_sum("daily_cost_usd")
                .on("call")
                .value("cost_usd")
                .labels(["model"]),
        );
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let rss_before = proc_status_kib("VmHWM").unwrap_or(0);
    let started = Instant::now();
    let (layer, guard) = b.build().unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::layer::SubscriberExt::with(
        tracing_subscriber::registry(),
        layer,
    ));
    // The upkeep drains histogram samples; one pushed at that very instant
    // can be lost in metrics-util (README, known limits). This test counts
    // our updates exactly, so no event is logged while the upkeep runs.
    let upkeep = std::sync::RwLock::new(());
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (dispatch, recorder, handle) = (dispatch.clone(), &recorder, &handle);
            let upkeep = &upkeep;
            s.spawn(move || {
                let mut model = String::new();
                metrics::with_local_recorder(recorder, || {
                    tracing::dispatcher::with_default(&dispatch, || {
                        for i in (t..n).step_by(THREADS as usize) {
                            model.clear();
                            write!(model, "vendor/model-{i}").unwrap();
                            let logging = upkeep.read().unwrap();
                            info!(
                                evt = "call",
                                model = model.as_str(),
                                latency_s = 0.5,
                                cost_usd = 0.25
                            );
                            drop(logging);
                            if i % 100_000 == 0 {
                                // What the exporter's upkeep does every 5 s.
                                let _alone = upkeep.write().unwrap();
                                handle.run_upkeep();
                            }
                        }
                    })
                })
            });
        }
    });
    let stats = guard.shutdown();
    assert_eq!(stats.lines_written, n);
    let elapsed = started.elapsed();
    let text = handle.render();
    let rss_after = proc_status_kib("VmHWM").unwrap_or(0);
    let rate = n as f64 / elapsed.as_secs_f64();
    eprintln!(
        "label flood: {n} events in {elapsed:?} ({rate:.0}/s); peak RSS {rss_before} KiB before, \
         {rss_after} KiB after (+{} KiB)",
        rss_after.saturating_sub(rss_before)
    );
    let over = (n - CAP as u64) as f64;
    // The overflow series takes every update past the cap (0.25 USD each).
    for (family, overflow_value) in [
        ("calls_total", over),
        ("call_latency_seconds_count", over),
        ("daily_cost_usd", over * 0.25),
    ] {
        let prefix = format!("{family}{{");
        let series = text.lines().filter(|l| l.starts_with(&prefix)).count();
        assert_eq!(series, CAP + 1, "{family}");
        let overflow = sample(&text, &format!("{family}{{model=\"__overflow__\"}}"));
        assert_eq!(overflow, overflow_value, "{family}");
    }
    for metric in ["calls_total", "call_latency_seconds", "daily_cost_usd"] {
        assert_eq!(
            sample(
                &text,
                &format!("telemetry_label_overflow_total{{metric=\"{metric}\"}}")
            ) as u64,
            n - CAP as u64,
            "{metric}"
        );
    }
    assert_eq!(lines(day_file(dir.path(), "2025-10-06")).len() as u64, n);
    // Bounded: a million label sets kept would need hundreds of MB.
    assert!(
        rss_after.saturating_sub(rss_before) < 128 * 1024,
        "peak RSS grew by {} KiB",
        rss_after - rss_before
    );
}
