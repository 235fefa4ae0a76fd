//! A corpus of secret shapes (Authorization headers, Bearer tokens,
//! `sk-or-v1-…` keys, keys in URLs, keys inside Debug-formatted structs and
//! JSON-in-strings), put into messages, event fields, span fields, `evt`,
//! `source` and metric label fields: no secret, and no piece of one, appears
//! in the day files or in the exposition text.

use crate::common;

use std::path::Path;

use common::*;
use evt_telemetry::MetricRule;
use metrics_exporter_prometheus::PrometheusBuilder;
use tracing::{error, info, info_span};

/// A distinctive secret body: 30 characters nobody else writes.
fn body(k: usize) -> String {
    format!("Zq{k:02}x7Vb9Kp2Lm4Nn6Rt8Wy0Hs3D")
}

/// The corpus: each entry embeds `body(k)` in a secret shape.
fn corpus() -> Vec<String> {
    let shapes: Vec<fn(&str) -> String> = vec![
        |b| format!("Authorization: Bearer {b}"),
        |b| format!("authorization: Basic {b}=="),
        |b| format!("got 401 with bearer {b}"),
        |b| format!("using sk-or-v1-{b}"),
        |b| format!("sk-{b}"),
        |b| format!("GET https://openrouter.ai/api/v1/chat?api_key={b}&page=2"),
        |b| format!("GET /v1/models?key={b}"),
        |b| format!("postgres://app:{b}@db.internal:5432/app"),
        |b| format!("Config {{ api_key: \"{b}\", retries: 3 }}"),
        |b| format!("Creds {{ token: Some(\"{b}\") }}"),
        |b| format!(r#"{{"password":"{b}","user":"x"}}"#),
        |b| format!(r#"{{\"access_token\":\"{b}\"}}"#),
        |b| format!(r#"{{ "refresh_token" : "{b}" }}"#),
        |b| format!("Cookie: session={b}; theme=dark"),
        |b| format!("Set-Cookie: id={b}"),
        |b| format!("X-Api-Key: {b}"),
        |b| format!("client_secret={b}"),
        |b| format!("Proxy-Authorization: Digest {b}"),
        |b| format!("openrouter_api_key='{b}'"),
    ];
    shapes
        .iter()
        .enumerate()
        .map(|(k, f)| f(&body(k)))
        .collect()
}

#[derive(Debug)]
#[allow(dead_code)]
struct Request {
    url: String,
    api_key: String,
    headers: Vec<(String, String)>,
}

/// Every secret body, and its first 8 characters alone, must be absent.
fn assert_clean(what: &str, text: &str, n: usize) {
    for k in 0..n {
        let b = body(k);
        assert!(!text.contains(&b), "secret {k} leaked into {what}:\n{text}");
        assert!(
            !text.contains(&b[..8]),
            "part of secret {k} leaked into {what}:\n{text}"
        );
    }
}

fn all_text(dir: &Path) -> String {
    let mut text = String::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        // The writer's lock file (`.evt-telemetry.lock`) holds only its pid.
        if !entry.file_name().to_string_lossy().starts_with('.') {
            text.push_str(&std::fs::read_to_string(entry.path()).unwrap());
        }
    }
    text
}

/// What the planted secrets became: the day files' text and the exposition.
pub(crate) struct Planted {
    pub(crate) files: String,
    pub(crate) exposition: String,
}

/// Plants each secret in the message, plain fields, metric label fields
/// (Display and Debug), `evt` and `source`, fields with secret names, a
/// Debug-formatted struct and span fields (at creation and recorded later),
/// through the layer into day files and a local Prometheus recorder.
pub(crate) fn plant_everywhere(secrets: &[String]) -> Planted {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at_ms(T0_MS);
    let b = builder(dir.path(), &clock)
        .rule(MetricRule::counter("calls_total").on("call").labels([
            "model",
            "component",
            "detail",
        ]))
        .rule(
            MetricRule::counter("spans_total")
                .on("in_span")
                .labels(["run_id"]),
        );
    let recorder = PrometheusBuilder::new().build_recorder();
    metrics::with_local_recorder(&recorder, || {
        run_with(b, || {
            for s in secrets {
                let s = s.as_str();
                // In the message, plain fields, label fields, evt and source.
                error!(evt = "call", model = s, component = %s, detail = ?s, "{s}");
                info!(evt = s, source = s, "x");
                // In fields whose names are secret, whatever the type.
                info!(evt = "call", api_key = s, password = 123_456_789, token = ?s);
                // Inside a Debug-formatted struct.
                let req = Request {
                    url: format!("https://u:{s}@h/"),
                    api_key: s.to_owned(),
                    headers: vec![("Authorization".into(), s.into())],
                };
                info!(evt = "call", model = "m", request = ?req);
                // In span fields, at creation and recorded later.
                let span = info_span!("job", run_id = s, note = tracing::field::Empty);
                span.record("note", s);
                let _in = span.enter();
                info!(evt = "in_span", "inside");
            }
        })
    });
    let files = all_text(dir.path());
    assert!(files.lines().count() >= 5 * secrets.len());
    let exposition = recorder.handle().render();
    assert!(exposition.contains("calls_total{"), "{exposition}");
    Planted { files, exposition }
}

#[test]
fn no_secret_reaches_the_files_or_the_exposition() {
    let secrets = corpus();
    let planted = plant_everywhere(&secrets);
    assert_clean("the day files", &planted.files, secrets.len());
    assert_clean("the exposition", &planted.exposition, secrets.len());
}

#[test]
fn a_debug_value_cut_at_its_read_limit_keeps_no_piece_of_a_secret() {
    // Debug output is read up to 4 x the line cap, redacted, then cut. Long
    // keys shrink to [REDACTED], so the piece at the read limit can end up
    // inside the line: it must not be the start of a secret.
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at_ms(T0_MS);
    let max = 1024;
    let key = |k: usize| format!("sk-or-v1-{}{}", body(k), "0".repeat(170));
    let url = |k: usize| format!("https://u:{}{}@h", body(k), "0".repeat(170));
    let limit = 4 * max;
    let mut cases = Vec::new();
    for shape in [key as fn(usize) -> String, url] {
        for cut_at in [3, 6, 9, 12, 20, 30] {
            // Pad the first element so the read limit falls `cut_at`
            // characters into a secret.
            let found = (0..400).find_map(|pad| {
                let mut items = vec!["p".repeat(pad)];
                items.extend((0..40).map(shape));
                let text = format!("{items:?}");
                (0..40)
                    .any(|k| text.find(&body(k)).is_some_and(|at| at + cut_at == limit))
                    .then_some(items)
            });
            cases.push(found.expect("a padding that cuts into a secret"));
        }
    }
    run_with(builder(dir.path(), &clock).max_line_bytes(max), || {
        for items in &cases {
            info!(evt = "cut", items = ?items);
        }
    });
    let files = all_text(dir.path());
    assert_eq!(files.lines().count(), cases.len());
    assert_clean("the day file", &files, 40);
    for line in files.lines() {
        assert!(line.len() < max, "{line}");
    }
}

/// The values one field of one callsite takes, in turn: the layer
/// remembers the last redaction per field, so repeats, secrets after clean
/// text and clean text after secrets must each come out as if new.
fn value_sequence() -> Vec<String> {
    let secret = |k| format!("Authorization: Bearer {}", body(k));
    let v = |s: &str| s.to_owned();
    // Clean text as long as a secret: equal lengths are not equal texts.
    let same_length = "x".repeat(secret(1).len());
    vec![
        v("rate_limited"),
        v("rate_limited"),
        secret(0),
        secret(0),
        v("rate_limited"),
        secret(1),
        v("rate_limited."),
        v("rate_limite"),
        v("a \"quoted\"\nvalue"),
        v("a \"quoted\"\nvalue"),
        v(""),
        secret(1),
        same_length.clone(),
        secret(1),
    ]
}

fn emit_repeated(v: &str) {
    info!(evt = "repeat", code = v, "{v}");
}

#[test]
fn a_value_repeated_on_a_callsite_is_redacted_like_a_new_one() {
    let values = value_sequence();
    // Two layers on one thread, the second with its own pattern: each keeps
    // its own memory of the callsite.
    let custom = evt_telemetry::Redactor::builder()
        .pattern("rate_[a-z]+")
        .build()
        .unwrap();
    for redactor in [evt_telemetry::Redactor::default(), custom] {
        let (dir, clock) = (tempfile::tempdir().unwrap(), ManualClock::at_ms(T0_MS));
        let b = builder(dir.path(), &clock).redactor(redactor.clone());
        run_with(b, || values.iter().for_each(|v| emit_repeated(v)));
        let lines = lines(day_file(dir.path(), "2025-10-06"));
        assert_eq!(lines.len(), values.len());
        for (line, v) in lines.iter().zip(&values) {
            let json: serde_json::Value = serde_json::from_str(line).unwrap();
            let want = redactor.redact(v);
            assert_eq!(json["msg"], *want, "{line}");
            assert_eq!(json["meta"]["code"], *want, "{line}");
        }
        assert_clean("repeated values", &lines.join("\n"), 2);
    }
}
