//! End to end, exemplars: the example app (the preset names exemplar fields) is scraped by a real Prometheus
//! with `--enable-feature=exemplar-storage` on free 127.0.0.1 ports; `/api/v1/query_exemplars` must return
//! exemplars for the two latency histograms and the error counter, and each exemplar's id must find a line
//! of the JSONL files with the same value and the same `ts` to the millisecond. The OpenMetrics text is also
//! checked by an independent strict parser (PyPI `prometheus-client`), and Prometheus must ingest it
//! without scrape errors or out-of-order exemplars.

use crate::common::kit as support;

use serde_json::Value as Json;
use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use support::stack::{
    example_binary, get, percent_encode, prometheus_config, query_at, row_value, start_example,
    start_prometheus_with, wait_for_targets_up,
};
use support::{note, repo_root, require, tool};

/// Seconds of 1 s scrapes before checking: each histogram bucket's exemplar changes often meanwhile.
const SCRAPE_SECONDS: u64 = 8;

/// (metric of `query_exemplars`, the `evt` of its lines, the exemplar label naming the line, the line field
/// holding the exemplar's value, or none for a counter's `1`).
const EXPECTED: [(&str, &str, &str, Option<&str>); 3] = [
    (
        "openrouter_call_latency_seconds_bucket",
        "openrouter_call",
        "request_id",
        Some("latency_s"),
    ),
    (
        "translation_latency_seconds_bucket",
        "translation_done",
        "paper_id",
        Some("latency_s"),
    ),
    (
        "openrouter_errors_total",
        "openrouter_error",
        "request_id",
        None,
    ),
];

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Whether python3 can import the `prometheus_client` OpenMetrics parser; fails under CI when it cannot.
fn python_parser_present() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import prometheus_client.openmetrics.parser"])
        .output()
        .is_ok_and(|o| o.status.success());
    require(
        "python3 with prometheus_client",
        ok,
        "PyPI package prometheus-client (pip install -r dashboards/tests/requirements.txt)",
    )
}

/// Parses `text` with `prometheus_client.openmetrics.parser`; the number of exemplars it read, or its error.
fn python_parse(text: &str, dir: &Path) -> Result<usize, String> {
    let file = dir.join("openmetrics.txt");
    std::fs::write(&file, text).map_err(|e| e.to_string())?;
    let script = "import sys\nfrom prometheus_client.openmetrics.parser import text_string_to_metric_families as p\n\
                  fams = list(p(open(sys.argv[1]).read()))\n\
                  print(sum(1 for f in fams for s in f.samples if s.exemplar))\n";
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(&file)
        .output()
        .map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    stdout.trim().parse().map_err(|e| format!("{e}: {stdout}"))
}

/// The lines of every JSONL file under `dir` (parsed, and as written), by (`evt`, id field, id): event
/// fields are under `meta`.
fn lines_by_id(dir: &Path) -> HashMap<(String, String, String), (Json, String)> {
    let mut out = HashMap::new();
    let files = support::files_in(dir, &[".jsonl"]);
    assert!(!files.is_empty(), "no JSONL files in {}", dir.display());
    for file in files {
        for line in support::read(&file).lines() {
            let Ok(json) = serde_json::from_str::<Json>(line) else {
                continue;
            };
            let evt = json["evt"].as_str().unwrap_or("").to_string();
            for id in ["request_id", "paper_id"] {
                if let Some(v) = json["meta"][id].as_str() {
                    let key = (evt.clone(), id.to_string(), v.to_string());
                    out.insert(key, (json.clone(), line.to_string()));
                }
            }
        }
    }
    out
}

/// The number `field` of a line as written, read with std's correctly rounded parser (serde_json's default
/// one may be a unit in the last place off).
fn number_in(raw: &str, field: &str) -> Option<f64> {
    let pattern = format!("\"{field}\":");
    let rest = &raw[raw.find(&pattern)? + pattern.len()..];
    rest[..rest.find([',', '}'])?].parse().ok()
}

/// A line's `ts` (RFC 3339, UTC) in Unix milliseconds.
fn ts_ms(line: &Json) -> i64 {
    let ts = line["ts"].as_str().expect("ts");
    let t = time::OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("ts {ts:?}: {e}"));
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

/// The exemplars of `metric` between `start` and `end` (Unix seconds): (labels, value, timestamp in ms).
fn exemplars(
    port: u16,
    metric: &str,
    start: f64,
    end: f64,
) -> Vec<(HashMap<String, String>, f64, i64)> {
    let path = format!(
        "/api/v1/query_exemplars?query={}&start={start:.3}&end={end:.3}",
        percent_encode(metric)
    );
    let body = get(port, &path).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert_eq!(body["status"], "success", "{path}: {body}");
    let series = body["data"].as_array().cloned().unwrap_or_default();
    let all = series
        .iter()
        .flat_map(|s| s["exemplars"].as_array().cloned().unwrap_or_default());
    all.map(|e| {
        let labels = e["labels"].as_object().expect("labels").iter();
        let labels = labels.map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()));
        let value: f64 = e["value"]
            .as_str()
            .and_then(|v| v.parse().ok())
            .expect("value");
        let ts = e["timestamp"].as_f64().expect("timestamp");
        (labels.collect(), value, (ts * 1000.0).round() as i64)
    })
    .collect()
}

/// The one number of an instant query at `at` (Unix seconds).
fn scalar_at(port: u16, expr: &str, at: f64) -> f64 {
    let rows = query_at(port, expr, Some(at)).unwrap_or_else(|e| panic!("{expr}: {e}"));
    assert_eq!(rows.len(), 1, "{expr}: {rows:?}");
    row_value(&rows[0])
}

/// One of Prometheus's own counters, from its `/metrics`.
fn prometheus_counter(port: u16, name: &str) -> f64 {
    let text = crate::common::http::get(("127.0.0.1", port), "/metrics")
        .expect("prometheus /metrics")
        .body;
    let line = text
        .lines()
        .find(|l| l.strip_prefix(name).is_some_and(|r| r.starts_with(' ')));
    let value = line
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok());
    value.unwrap_or_else(|| panic!("no {name} in Prometheus's /metrics"))
}

const OUT_OF_ORDER: &str = "prometheus_target_scrapes_exemplar_out_of_order_total";

#[test]
fn exemplars_from_a_real_prometheus_find_their_json_lines() {
    let started = Instant::now();
    let example_present = repo_root().join("examples/pipeline.rs").is_file();
    if !require(
        "examples/pipeline.rs",
        example_present,
        "the example app is needed",
    ) {
        return;
    }
    let Some(prometheus_bin) = tool("prometheus", "prometheus") else {
        return;
    };
    let python = python_parser_present();
    let dir = tempfile::tempdir().expect("temp dir");
    let bin = example_binary();
    let t0 = now_secs();
    let (mut example, example_port) = start_example(&bin, dir.path(), 7);
    let config = prometheus_config(&[format!("127.0.0.1:{example_port}")]);
    let flags = ["--enable-feature=exemplar-storage"];
    let (mut prometheus, port) =
        start_prometheus_with(&prometheus_bin, dir.path(), &config, &flags);
    wait_for_targets_up(&mut prometheus, port, 1);
    std::thread::sleep(Duration::from_secs(SCRAPE_SECONDS));
    example.assert_alive();

    // The text Prometheus gets, read by an independent strict parser.
    let accept = [(
        "Accept",
        "application/openmetrics-text;version=1.0.0,text/plain;q=0.5",
    )];
    let response = crate::common::http::get_with(("127.0.0.1", example_port), "/metrics", &accept)
        .expect("scrape the example");
    assert!(
        response.head.contains(
            "\r\nContent-Type: application/openmetrics-text; version=1.0.0; charset=utf-8\r\n"
        ),
        "{}",
        response.head
    );
    assert!(response.body.ends_with("\n# EOF\n"), "no # EOF at the end");
    if python {
        let parsed = python_parse(&response.body, dir.path());
        let n = parsed
            .unwrap_or_else(|e| panic!("prometheus_client refuses the OpenMetrics text: {e}"));
        assert!(n > 0, "the parser read no exemplar in\n{}", response.body);
        note(&format!(
            "prometheus_client parsed the OpenMetrics text: {n} exemplars"
        ));
    }

    // Prometheus ingested every scrape so far without errors or exemplars out of order.
    let mid = now_secs();
    assert_eq!(
        scalar_at(port, "min_over_time(up[5s])", mid),
        1.0,
        "a scrape failed"
    );
    assert_eq!(prometheus_counter(port, OUT_OF_ORDER), 0.0);

    // The example's lines are complete once it has exited (it flushes them on SIGTERM).
    example.terminate();
    let lines = lines_by_id(&dir.path().join("logs"));
    let mut checked = 0;
    for (metric, evt, id, field) in EXPECTED {
        let found = exemplars(port, metric, t0 - 60.0, now_secs() + 60.0);
        assert!(
            !found.is_empty(),
            "no exemplars for {metric}\n{}",
            prometheus.log_tail()
        );
        for (labels, value, ts) in found {
            let key = (
                evt.to_string(),
                id.to_string(),
                labels.get(id).cloned().unwrap_or_default(),
            );
            let (line, raw) = lines
                .get(&key)
                .unwrap_or_else(|| panic!("{metric}: no {evt} line with {id}={:?}", key.2));
            let want = field.map_or(Some(1.0), |f| number_in(raw, f));
            assert_eq!(Some(value), want, "{metric}: value of {labels:?} vs {line}");
            assert_eq!(ts, ts_ms(line), "{metric}: ts of {labels:?} vs {line}");
            checked += 1;
        }
    }
    assert_eq!(prometheus_counter(port, OUT_OF_ORDER), 0.0);
    note(&format!(
        "exemplars end-to-end: {checked} exemplars matched their lines in {:.1} s",
        started.elapsed().as_secs_f64()
    ));
}
