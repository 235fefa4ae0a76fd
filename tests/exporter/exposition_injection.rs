//! Injection into the exposition text: metric and label names with quotes,
//! newlines or `}` are refused when telemetry is built; hostile label
//! VALUES (from event fields, `evt`, `source`, static and global labels)
//! and hostile field names cannot corrupt `/metrics`: it parses strictly,
//! `promtool check metrics` stays clean, and each value is exposed as the
//! documented cleaning of itself.
//!
//! One test installs the global recorder: keep it the only one in this file.

use crate::common;
use crate::common::reliability;

use std::collections::BTreeMap;

use common::*;
use evt_telemetry::{Error, MetricRule, TelemetryBuilder};
use reliability::{emit, parse_exposition, promtool_check_metrics};
use tracing::{Level, info};

fn build_err(b: evt_telemetry::TelemetryBuilder) -> Error {
    let dir = tempfile::tempdir().unwrap();
    b.log_dir(dir.path())
        .build::<tracing_subscriber::Registry>()
        .expect_err("must be refused")
}

#[test]
fn metric_and_label_names_with_quotes_newlines_or_braces_are_refused_at_build() {
    let bad_names = [
        "a\"b_total",
        "a\nb_total",
        "a}b_total",
        "a{b=\"c\"}_total",
        "a b_total",
        "",
    ];
    for name in bad_names {
        let toml = format!(
            "[[metric]]\nname = {}\nkind = \"counter\"\nevt = \"x\"\n",
            toml_str(name)
        );
        let err = build_err(TelemetryBuilder::new().rules_toml(toml));
        assert!(
            matches!(err, Error::Rule { .. } | Error::Toml { .. }),
            "{name:?}: {err}"
        );
        let err = build_err(TelemetryBuilder::new().rule(MetricRule::counter(name).on("x")));
        assert!(matches!(err, Error::Rule { .. }), "{name:?}: {err}");
    }
    for label in [
        "mo\"del", "mo\ndel", "model}", "a=b", "le", "__name__", "", "é",
    ] {
        let toml = format!(
            "[[metric]]\nname = \"x_total\"\nkind = \"counter\"\nevt = \"x\"\nlabels = [{}]\n",
            toml_str(label)
        );
        let err = build_err(TelemetryBuilder::new().rules_toml(toml));
        assert!(matches!(err, Error::Rule { .. }), "{label:?}: {err}");
        let toml = format!(
            "[[metric]]\nname = \"x_total\"\nkind = \"counter\"\nevt = \"x\"\nstatic_labels = {{ {} = \"v\" }}\n",
            toml_str(label)
        );
        let err = build_err(TelemetryBuilder::new().rules_toml(toml));
        assert!(matches!(err, Error::Rule { .. }), "{label:?}: {err}");
        let rule = MetricRule::counter("x_total").on("x").labels([label]);
        let err = build_err(TelemetryBuilder::new().rule(rule));
        assert!(matches!(err, Error::Rule { .. }), "{label:?}: {err}");
    }
    // A bad global label name fails in build() itself, before any recorder
    // is installed or any file is touched.
    let dir = tempfile::tempdir().unwrap();
    let err = TelemetryBuilder::new()
        .log_dir(dir.path().join("never-created"))
        .prometheus_global_label("in\"stance", "x")
        .build::<tracing_subscriber::Registry>()
        .expect_err("a bad global label name");
    assert!(matches!(err, Error::Config(_)), "{err}");
    assert!(!dir.path().join("never-created").exists());
    let err = TelemetryBuilder::new()
        .log_dir(dir.path())
        .prometheus_global_label("in\"stance", "x")
        .prometheus_listen("127.0.0.1:0".parse().unwrap())
        .install_prometheus::<tracing_subscriber::Registry>()
        .expect_err("a bad global label name");
    assert!(matches!(err, Error::Config(_)), "{err}");
}

/// A TOML basic string holding `s` exactly.
fn toml_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The documented cleaning of a label value: cut to 256 bytes, `\` → `/`,
/// control characters other than tab and newline → U+FFFD.
fn cleaned(value: &str) -> String {
    let cut = |s: &str| {
        let mut end = s.len().min(256);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s[..end].to_owned()
    };
    let mapped: String = cut(value)
        .chars()
        .map(|c| match c {
            '\\' => '/',
            '\t' | '\n' => c,
            c if c.is_control() => '\u{FFFD}',
            c => c,
        })
        .collect();
    cut(&mapped)
}

fn hostile_values() -> Vec<String> {
    let mut v: Vec<String> = [
        "a\"b",
        "line1\nline2",
        "x\"} fake_metric 1\n# TYPE fake_metric counter\nfake_metric 2",
        "back\\slash\\",
        "\\\"",
        "\\n",
        "\r\u{0}\u{7}\u{1b}[31m\u{7f}",
        "}{,=\"",
        "\u{2028}\u{feff}é漢🦀",
        "",
        " ",
        "\t",
        "__overflow__",
        "# HELP calls_total injected",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push("\"".repeat(300));
    v.push("é".repeat(200));
    v
}

#[test]
fn hostile_label_values_and_field_names_cannot_corrupt_the_exposition() {
    reliability::in_own_process(
        "exposition_injection::hostile_label_values_and_field_names_cannot_corrupt_the_exposition",
        || {
            let dir = tempfile::tempdir().unwrap();
            let clock = ManualClock::at_ms(T0_MS);
            let (layer, guard) = builder(dir.path(), &clock)
                .prometheus_listen("127.0.0.1:0".parse().unwrap())
                .prometheus_global_label("instance", "host \"a\"\n} \\x\\")
                .rule(
                    MetricRule::counter("calls_total")
                        .on("call")
                        .labels(["model", "component"]),
                )
                .rule(
                    MetricRule::histogram("call_latency_seconds")
                        .on("call")
                        .value("latency_s")
                        .labels(["model"]),
                )
                .rules_toml(
                    "[[metric]]\nname = \"marked_total\"\nkind = \"counter\"\nevt = \"call\"\n\
                 static_labels = { note = \"q\\\" nl\\n brace} bs\\\\\" }\n",
                )
                .install_prometheus()
                .expect("install");
            let addr = guard.prometheus().expect("exporter").local_addr();
            let values = hostile_values();
            let subscriber = tracing_subscriber::layer::SubscriberExt::with(
                tracing_subscriber::registry(),
                layer,
            );
            tracing::subscriber::with_default(subscriber, || {
                for v in &values {
                    let v = v.as_str();
                    info!(evt = "call", model = v, component = %v, latency_s = 0.5);
                    info!(
                        evt = v,
                        source = v,
                        "evt and source become labels of telemetry_events_total"
                    );
                }
                // Field names are never label names: only the rule's allowlist is.
                let weird: Vec<(String, &dyn tracing::field::Value)> =
                    ["model\"} injected_total 1\n", "le", "__name__", "}"]
                        .iter()
                        .map(|n| (n.to_string(), &"x" as &dyn tracing::field::Value))
                        .collect();
                emit(Level::INFO, "call", &weird);
            });
            let (status, text) = crate::common::http::get(addr, "/metrics")
                .map(|r| (r.status, r.body))
                .expect("scrape");
            assert_eq!(status, 200);
            let samples = parse_exposition(&text);
            for s in &samples {
                assert!(
                    !s.name.starts_with("fake") && !s.name.starts_with("injected"),
                    "injected series {s:?}"
                );
                let names: Vec<&str> = s.labels.iter().map(|(k, _)| k.as_str()).collect();
                assert!(names.contains(&"instance"), "{s:?}");
            }
            // Each hostile value is exposed as its cleaning, once per distinct result.
            let mut want: BTreeMap<String, f64> = BTreeMap::new();
            for v in &values {
                *want.entry(cleaned(v)).or_default() += 1.0;
            }
            *want.entry(String::new()).or_default() += 1.0; // the event with weird names has no model
            let label = |s: &reliability::Sample, k: &str| {
                s.labels
                    .iter()
                    .find(|(n, _)| n == k)
                    .map(|(_, v)| v.clone())
            };
            let mut got: BTreeMap<String, f64> = BTreeMap::new();
            for s in samples.iter().filter(|s| s.name == "calls_total") {
                let model = label(s, "model").unwrap();
                assert_eq!(label(s, "component"), Some(model.clone()), "{s:?}");
                *got.entry(model).or_default() += s.value;
            }
            assert_eq!(got, want);
            let events: f64 = samples
                .iter()
                .filter(|s| s.name == "telemetry_events_total")
                .map(|s| s.value)
                .sum();
            assert_eq!(events, 2.0 * values.len() as f64 + 1.0);
            let note = samples
                .iter()
                .find(|s| s.name == "marked_total")
                .and_then(|s| label(s, "note"));
            assert_eq!(note.as_deref(), Some("q\" nl\n brace} bs/"));
            let checked = promtool_check_metrics(&text);
            eprintln!(
                "{} samples parsed strictly; promtool {}",
                samples.len(),
                if checked { "clean" } else { "skipped" }
            );
            drop(guard);
        },
    );
}
