//! Exemplars through the real layer and the installed exporter: a field of an enclosing span labels an
//! exemplar like an event field does, exemplar values are redacted exactly as the line's, the line carries
//! the same value and `ts`, and a scraper not asking for OpenMetrics sees no exemplar. (Installs the global
//! recorder: runs in its own process.)

use crate::common;
use crate::common::reliability;

use common::*;
use evt_telemetry::MetricRule;
use tracing::{info, info_span};
use tracing_subscriber::layer::SubscriberExt;

const OPENMETRICS: (&str, &str) = ("Accept", "application/openmetrics-text;version=1.0.0");

#[test]
fn span_fields_and_redacted_values_label_exemplars_that_find_their_line() {
    reliability::in_own_process(
        "exemplars_from_the_layer::span_fields_and_redacted_values_label_exemplars_that_find_their_line",
        || {
            let dir = tempfile::tempdir().unwrap();
            let clock = ManualClock::at_ms(T0_MS);
            let (layer, guard) = builder(dir.path(), &clock)
                .rule(
                    MetricRule::histogram("step_seconds")
                        .on("step")
                        .value("latency_s")
                        .buckets([1.0])
                        .exemplar(["trace_id", "token"]),
                )
                .rule(
                    MetricRule::counter("steps_total")
                        .on("step")
                        .exemplar(["trace_id"]),
                )
                .prometheus_listen("127.0.0.1:0".parse().unwrap())
                .install_prometheus()
                .unwrap();
            let addr = guard.prometheus().unwrap().local_addr();
            let secret = "sk-or-v1-0123456789abcdef0123456789abcdef";
            tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
                let span = info_span!("job", trace_id = "t-1");
                let _entered = span.enter();
                info!(evt = "step", latency_s = 0.25, token = secret, "step done");
            });
            let open = http::get_with(addr, "/metrics", &[OPENMETRICS])
                .unwrap()
                .body;
            let plain = http::get(addr, "/metrics").unwrap().body;
            drop(guard);

            let lines = lines(day_file(dir.path(), "2025-10-06"));
            assert_eq!(lines.len(), 1, "{lines:?}");
            let line: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
            let token = line["meta"]["token"].as_str().expect("token in the line");
            assert!(!token.contains("0123456789abcdef"), "{token}");
            assert!(lines[0].contains("\"trace_id\":\"t-1\""), "{}", lines[0]);
            assert_eq!(line["ts"], "2025-10-06T13:43:10.123Z");
            let with_exemplars: Vec<&str> = open.lines().filter(|l| l.contains(" # {")).collect();
            assert_eq!(
                with_exemplars,
                [
                    format!(
                        "step_seconds_bucket{{le=\"1\"}} 1 # {{trace_id=\"t-1\",token=\"{token}\"}} 0.25 1759758190.123"
                    ),
                    "steps_total 1 # {trace_id=\"t-1\"} 1 1759758190.123".to_string(),
                ]
            );
            assert!(!open.contains(secret) && !plain.contains(secret));
            assert!(
                !plain.contains(" # {") && !plain.contains("# EOF"),
                "{plain}"
            );
        },
    );
}
