//! `evt-telemetry costs` gives the numbers of the `openrouter_cost_usd_total`
//! and `daily_cost_usd` metrics for the same events: bit for bit when one
//! thread logs them, within the documented bound when several do.

use crate::common;

use std::collections::BTreeMap;
use std::process::Command;

use common::*;
use tracing_subscriber::layer::SubscriberExt;

const MODELS: [&str; 3] = [
    "deepseek/deepseek-v3.2-exp",
    "openai/gpt-4o-mini",
    "anthropic/claude-3.5-haiku",
];

/// `name{...model="m"...} value` lines of one metric, by model.
fn metric_by_model(text: &str, name: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .map(|l| {
            let model = l
                .split("model=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap()
                .to_owned();
            let value: f64 = l.rsplit(' ').next().unwrap().parse().unwrap();
            (model, value)
        })
        .collect()
}

/// `cost_usd` of the `i`-th call: awkward binary fractions, so any
/// reordering of the additions would show.
fn cost(i: u64) -> f64 {
    (i as f64 * 0.000_137_3) % 0.01 + 1e-7
}

/// `costs --json` of `dir`.
/// One successful `openrouter_call` of `model` costing `cost_usd`.
fn emit_call(model: &str, cost_usd: f64) {
    tracing::info!(
        evt = "openrouter_call",
        model,
        component = "translation_service",
        latency_s = 1.5,
        cost_usd,
        outcome = "success",
        status = 200u64
    );
}

fn costs_json(dir: &std::path::Path) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_evt-telemetry"))
        .args(["costs", "--json", "--dir"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Units in the last place between two positive floats.
fn ulps(a: f64, b: f64) -> u64 {
    a.to_bits().abs_diff(b.to_bits())
}

#[test]
fn costs_stay_within_the_bound_when_threads_log_concurrently() {
    reliability::in_own_process(
        "costs_match_metrics::costs_stay_within_the_bound_when_threads_log_concurrently",
        concurrent_costs,
    );
}

fn concurrent_costs() {
    const THREADS: u64 = 4;
    const PER_THREAD: u64 = 3000;
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at_ms(T0_MS);
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).unwrap();
    let preset = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/telemetry.toml");
    let (layer, guard) = builder(dir.path(), &clock)
        .rules_toml_file(preset)
        .build()
        .unwrap();
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer)).unwrap();
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            std::thread::spawn(move || {
                for i in 0..PER_THREAD {
                    emit_call(MODELS[(i % 3) as usize], cost(t * PER_THREAD + i));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    drop(guard);
    let text = handle.render();
    let total = metric_by_model(&text, "openrouter_cost_usd_total");
    let daily = metric_by_model(&text, "daily_cost_usd");
    let json = costs_json(dir.path());
    // Both sides add the same n non-negative values one at a time, in two
    // orders; each is within gamma(n-1) * sum of the exact sum (Higham,
    // "Accuracy and Stability of Numerical Algorithms", 4.2), so they are
    // within 2 * gamma(n-1) * sum of each other.
    let u = f64::EPSILON / 2.0;
    for m in json["models"].as_array().unwrap() {
        let model = m["model"].as_str().unwrap();
        let cli = m["cost_usd"].as_f64().unwrap();
        let n = m["calls"].as_u64().unwrap();
        assert_eq!(n, THREADS * PER_THREAD / 3);
        let gamma = (n - 1) as f64 * u / (1.0 - (n - 1) as f64 * u);
        let bound = 2.0 * gamma * cli / (1.0 - gamma);
        for (name, metric) in [("counter", total[model]), ("daily", daily[model])] {
            assert!(
                (cli - metric).abs() <= bound,
                "{model}: cli {cli} vs {name} {metric}, bound {bound}"
            );
            println!(
                "{model}: cli {cli} vs {name} {metric}: {} ulp apart (bound {:.0} ulp)",
                ulps(cli, metric),
                bound / (cli * f64::EPSILON)
            );
        }
    }
}

#[test]
fn costs_equal_the_cost_metrics_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at_ms(T0_MS);
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let _local = metrics::set_default_local_recorder(&recorder);
    let preset = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/telemetry.toml");
    let (layer, guard) = builder(dir.path(), &clock)
        .rules_toml_file(preset)
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for i in 0..300u64 {
            // Awkward binary fractions, so any reordering would show.
            emit_call(MODELS[(i % 3) as usize], cost(i));
        }
    });
    drop(guard);
    let text = handle.render();
    let total = metric_by_model(&text, "openrouter_cost_usd_total");
    let daily = metric_by_model(&text, "daily_cost_usd");
    assert_eq!(total.len(), 3, "{text}");

    let out = Command::new(env!("CARGO_BIN_EXE_evt-telemetry"))
        .args(["costs", "--json", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for m in json["models"].as_array().unwrap() {
        let model = m["model"].as_str().unwrap();
        let cli = m["cost_usd"].as_f64().unwrap();
        assert_eq!(
            cli.to_bits(),
            total[model].to_bits(),
            "{model}: cli {cli} vs counter {}",
            total[model]
        );
        assert_eq!(
            cli.to_bits(),
            daily[model].to_bits(),
            "{model}: cli {cli} vs daily {}",
            daily[model]
        );
        assert_eq!(m["calls"], 100);
    }
    assert_eq!(json["models"].as_array().unwrap().len(), 3);
}
