//! `install_prometheus` end to end: the global recorder, the `/metrics`
//! listener on a free loopback port, real `_bucket` series, and output that
//! `promtool check metrics` accepts. (One global recorder per process: this
//! file holds the only test that installs it.)

use crate::common;
use crate::common::reliability;

use std::net::TcpStream;

use common::*;
use reliability::promtool_check_metrics;
use tracing::{error, info};
use tracing_subscriber::layer::SubscriberExt;

fn scrape(addr: std::net::SocketAddr) -> (String, String) {
    let response = http::get(addr, "/metrics").unwrap();
    (response.head, response.body)
}

#[test]
fn events_become_series_served_on_metrics_and_promtool_accepts_them() {
    reliability::in_own_process(
        "exporter_serves_metrics::events_become_series_served_on_metrics_and_promtool_accepts_them",
        || {
            let dir = tempfile::tempdir().unwrap();
            let clock = ManualClock::at_ms(T0_MS);
            let preset = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/telemetry.toml");
            let (layer, guard) = builder(dir.path(), &clock)
                .rules_toml_file(preset)
                .prometheus_listen("127.0.0.1:0".parse().unwrap())
                .prometheus_global_label("env", "test")
                .install_prometheus()
                .unwrap();
            let addr = guard.prometheus().unwrap().local_addr();
            assert!(addr.ip().is_loopback() && addr.port() != 0);
            tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
                info!(
                    evt = "openrouter_call",
                    model = "m",
                    component = "c",
                    latency_s = 1.5,
                    cost_usd = 0.25,
                    outcome = "success",
                    status = 200u64
                );
                error!(
                    evt = "openrouter_error",
                    status = 429u64,
                    code = "rate_limited",
                    component = "c",
                    model = "m",
                    "429"
                );
                info!(
                    evt = "openrouter_call",
                    model = "m",
                    component = "c",
                    latency_s = 0.2,
                    cost_usd = -2.0,
                    outcome = "error",
                    status = 429u64
                );
            });
            let (head, body) = scrape(addr);
            assert!(head.starts_with("HTTP/1.1 200"), "{head}");
            assert!(
                head.to_ascii_lowercase()
                    .contains("content-type: text/plain; version=0.0.4"),
                "{head}"
            );
            for line in [
                "# TYPE openrouter_cost_usd_total counter",
                "openrouter_cost_usd_total{env=\"test\",model=\"m\"} 0.25",
                "openrouter_errors_total{env=\"test\",status=\"429\",code=\"rate_limited\",component=\"c\",model=\"m\"} 1",
                "openrouter_calls_total{env=\"test\",component=\"c\",model=\"m\",outcome=\"success\"} 1",
                "openrouter_call_latency_seconds_bucket{env=\"test\",model=\"m\",le=\"0.25\"} 1",
                "openrouter_call_latency_seconds_bucket{env=\"test\",model=\"m\",le=\"2\"} 2",
                "openrouter_call_latency_seconds_count{env=\"test\",model=\"m\"} 2",
                "telemetry_rejected_values_total{env=\"test\",metric=\"openrouter_cost_usd_total\",reason=\"negative\"} 1",
                "telemetry_events_total{env=\"test\",evt=\"openrouter_error\",level=\"error\",source=\"exporter::exporter_serves_metrics\"} 1",
                "openrouter_errors_total{env=\"test\",status=\"401\",code=\"invalid_key\",component=\"translation_service\",model=\"openai/gpt-4o-mini\"} 0",
            ] {
                assert!(
                    body.lines().any(|l| l == line),
                    "missing {line:?} in\n{body}"
                );
            }
            // Panics on any complaint; without promtool, fails in CI and skips elsewhere.
            promtool_check_metrics(&body);
            drop(guard);
            assert!(
                TcpStream::connect(addr).is_err() || scrape_fails(addr),
                "listener still serving after the guard dropped"
            );
        },
    );
}

fn scrape_fails(addr: std::net::SocketAddr) -> bool {
    std::panic::catch_unwind(|| scrape(addr)).is_err()
}
