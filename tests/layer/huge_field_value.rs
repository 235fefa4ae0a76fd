//! 10 MB field values (plain, escape-heavy, redaction-adversarial, Debug,
//! invalid UTF-8): each gives one line under the cap with an exact
//! `...[truncated N bytes]` marker, a label cut to 256 bytes, no stall, and
//! memory that does not grow with the number of such events.
//!
//! One test in its own file, so the peak RSS it reads is its own.

use crate::common;
use crate::common::reliability;

use std::time::Instant;

use common::*;
use evt_telemetry::{MetricRule, Redactor};
use metrics_exporter_prometheus::PrometheusBuilder;
use reliability::{contract_line, proc_status_kib};
use tracing::info;

const MB10: usize = 10 * 1024 * 1024;

fn repeat_to(unit: &str, len: usize) -> String {
    unit.repeat(len / unit.len())
}

#[test]
fn ten_megabyte_values_are_cut_with_bounded_memory_and_no_stall() {
    // Redaction-adversarial shapes at 1 MB (100 x the cap; linear, see the
    // redactor's tests; 10 MB of them take 0.1-0.4 s in release, 5-7 s in debug).
    let strings: Vec<(&str, String)> = vec![
        ("plain", "a".repeat(MB10)),
        ("quotes", repeat_to("\"", MB10)),
        ("control", repeat_to("\u{1}", MB10)),
        ("unicode", repeat_to("é漢🦀", MB10)),
        ("cookie", repeat_to("cookie:", MB10 / 10)),
        ("quoted_keys", repeat_to("key='", MB10 / 10)),
        ("bearer", repeat_to("Bearer ", MB10 / 10)),
        ("sk_keys", repeat_to("sk-or-v1-", MB10 / 10)),
    ];
    let debug_items: Vec<String> = (0..MB10 / 64).map(|i| format!("{i:060}")).collect();
    let bytes: Vec<u8> = (0..MB10)
        .map(|i| if i % 3 == 0 { 0xff } else { b'x' })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at_ms(T0_MS);
    let b = builder(dir.path(), &clock)
        .rule(MetricRule::counter("big_total").on("big").labels(["model"]));
    let recorder = PrometheusBuilder::new().build_recorder();
    let rounds = 3;
    let mut hwm_after = Vec::new();
    let mut slowest = std::time::Duration::ZERO;
    let before = proc_status_kib("VmHWM");
    metrics::with_local_recorder(&recorder, || {
        run_with(b, || {
            for _ in 0..rounds {
                for (kind, s) in &strings {
                    let t = Instant::now();
                    info!(evt = "big", kind, model = s.as_str(), value = s.as_str());
                    slowest = slowest.max(t.elapsed());
                    if std::env::var_os("EVT_TIMES").is_some() {
                        eprintln!("{kind}: {:?}", t.elapsed());
                    }
                }
                let t = Instant::now();
                info!(evt = "big", kind = "debug", model = "d", value = ?debug_items);
                info!(
                    evt = "big",
                    kind = "bytes",
                    model = "b",
                    value = bytes.as_slice()
                );
                slowest = slowest.max(t.elapsed() / 2);
                hwm_after.push(proc_status_kib("VmHWM"));
            }
        })
    });
    let lines = lines(day_file(dir.path(), "2025-10-06"));
    assert_eq!(lines.len(), rounds * (strings.len() + 2));
    let red = Redactor::default();
    let expected: Vec<(&str, String)> = strings
        .iter()
        .map(|(k, s)| (*k, red.redact(s).into_owned()))
        .collect();
    for line in &lines {
        assert!(line.len() < 64 * 1024, "{} bytes", line.len());
        let obj = contract_line(line);
        let value = obj["meta"]["value"].as_str().unwrap();
        let kind = obj["meta"]["kind"].as_str().unwrap();
        let Some((_, want)) = expected.iter().find(|(k, _)| *k == kind) else {
            assert!(value.contains("...[truncated "), "{kind}: no cut marker");
            continue;
        };
        // The value after redaction, or a prefix of it with the exact count cut.
        match value.rfind("...[truncated ") {
            None => assert_eq!(value, want, "{kind}"),
            Some(marker) => {
                let n: usize = value[marker + 14..value.len() - 7].parse().unwrap();
                let kept = &value[..marker];
                assert!(want.starts_with(kept), "{kind}");
                assert_eq!(kept.len() + n, want.len(), "{kind}");
            }
        }
    }
    // Labels are cut to 256 bytes (a quote renders as two).
    let text = recorder.handle().render();
    let series = text.lines().filter(|l| l.starts_with("big_total{"));
    assert_eq!(series.clone().count(), strings.len() + 2, "{text}");
    for l in series {
        assert!(l.len() < 2 * 256 + 32, "{l}");
    }
    eprintln!(
        "10 MB values: slowest event {slowest:?}; VmHWM before {before:?} KiB, after each round {hwm_after:?} KiB"
    );
    if let (Some(Some(first)), Some(Some(last))) = (hwm_after.first(), hwm_after.last()) {
        assert!(
            last - first < 32 * 1024,
            "peak RSS grew by {} KiB over {} rounds of the same events",
            last - first,
            rounds - 1
        );
    }
}
