//! End to end: the example app serves /metrics, a real Prometheus (127.0.0.1, free port) scrapes it every second
//! with the committed rules loaded, and every PromQL expression of the dashboards, rule files and docs is run
//! through Prometheus's HTTP API.
//!
//! What "works" means:
//! - every expression (Grafana variables substituted) answers `success`;
//! - dashboard, recording-rule and doc expressions return data;
//! - alert conditions are empty on healthy traffic by design: for them, the thresholded value (`X` of
//!   `X > number`) must return data;
//! - every selector of every expression returns series, so a metric or label value the crate does not export fails;
//! - every catalogued metric is exported with exactly its catalogued labels (plus job/instance/env), so
//!   `by (...)` labels checked statically against the catalogue exist for real;
//! - `label_values(metric, label)` template variables find their label.
//!
//! This relies on the crate creating its series at zero where a dashboard needs them before the first event:
//! the self-metrics (drop reasons, write errors, rejected values and label overflow per metric) and the
//! preset's `precreate` sets (401/402/429 per model).

use crate::common::kit as support;

use serde_json::Value as Json;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use support::queries::{self, Kind};
use support::{kit, promql, repo_root, require, tool};

/// Seconds of 1 s scrapes to collect before querying: enough for `rate(...[1m])` and the recording rules.
const DATA_SECONDS: u64 = 15;

// === child processes ===

/// A child process killed (and reaped) on drop, so a failing test leaves nothing running.
struct Running {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Running {
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let start = (text.len().saturating_sub(4000)..text.len())
            .find(|i| text.is_char_boundary(*i))
            .unwrap_or(0);
        format!(
            "--- {} log ({})\n{}",
            self.name,
            self.log.display(),
            &text[start..]
        )
    }

    fn assert_alive(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "{} exited early with {status}\n{}",
                self.name,
                self.log_tail()
            );
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Builds the example (a no-op when `cargo test` already did) and returns its path.
fn example_binary() -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "build",
            "--example",
            "pipeline",
            "--message-format=json-render-diagnostics",
        ])
        .current_dir(repo_root())
        .stderr(Stdio::inherit())
        .output()
        .expect("run cargo build --example pipeline");
    assert!(
        out.status.success(),
        "cargo build --example pipeline failed"
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Json>(line).ok())
        .filter(|msg| msg["reason"] == "compiler-artifact" && msg["target"]["name"] == "pipeline")
        .find_map(|msg| msg["executable"].as_str().map(PathBuf::from))
        .expect("cargo reported no executable for the pipeline example")
}

/// Starts the example on a free port and returns it with the port it printed.
fn start_example(bin: &Path, dir: &Path) -> (Running, u16) {
    let log = dir.join("example.stderr");
    let child = Command::new(bin)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--duration",
            "60",
            "--rate",
            "2000",
            "--seed",
            "7",
            "--log-dir",
        ])
        .arg(dir.join("logs"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).expect("example log file"))
        .spawn()
        .expect("start the example");
    let mut running = Running {
        name: "example",
        child,
        log,
    };
    let stdout = running.child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    // Keeps draining stdout (status lines) so the example never blocks on a full pipe.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        running.assert_alive();
        let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) else {
            continue;
        };
        let port = line
            .strip_prefix("metrics: http://127.0.0.1:")
            .and_then(|r| r.strip_suffix("/metrics"));
        if let Some(port) = port {
            return (
                running,
                port.parse()
                    .unwrap_or_else(|e| panic!("bad port in {line:?}: {e}")),
            );
        }
    }
    panic!(
        "the example printed no `metrics: http://127.0.0.1:PORT/metrics` line in 30 s\n{}",
        running.log_tail()
    );
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// The committed prometheus.yml, scraping `target` every second, evaluating rules every second, without Alertmanager.
fn prometheus_config(target: &str) -> String {
    let mut config = support::yaml(&kit("prometheus/prometheus.yml"));
    config["global"]["scrape_interval"] = "1s".into();
    config["global"]["evaluation_interval"] = "1s".into();
    config.as_mapping_mut().expect("mapping").remove("alerting");
    let rules: Vec<serde_yaml::Value> = queries::rule_files()
        .iter()
        .map(|p| p.to_string_lossy().into_owned().into())
        .collect();
    config["rule_files"] = rules.into();
    let scrape = &mut config["scrape_configs"][0];
    assert_eq!(
        scrape["static_configs"][0]["targets"][0], "127.0.0.1:9000",
        "committed target"
    );
    scrape["static_configs"][0]["targets"][0] = target.into();
    serde_yaml::to_string(&config).expect("serialize config")
}

fn start_prometheus(bin: &Path, dir: &Path, example_port: u16) -> (Running, u16) {
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        prometheus_config(&format!("127.0.0.1:{example_port}")),
    )
    .expect("write config");
    let port = free_port();
    let log = dir.join("prometheus.log");
    let child = Command::new(bin)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("tsdb").display()
        ))
        .arg("--log.level=warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("prometheus log file"))
        .spawn()
        .expect("start prometheus");
    (
        Running {
            name: "prometheus",
            child,
            log,
        },
        port,
    )
}

// === HTTP API ===

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// GET on the local port, returning the JSON body.
fn get(port: u16, path: &str) -> Result<Json, String> {
    let response =
        crate::common::http::get(("127.0.0.1", port), path).map_err(|e| e.to_string())?;
    serde_json::from_str(&response.body).map_err(|e| format!("{e}: {}", response.body))
}

/// Runs an instant query; `Ok(result array)` on success, `Err(message)` otherwise.
fn query(port: u16, expr: &str) -> Result<Vec<Json>, String> {
    let body = get(
        port,
        &format!("/api/v1/query?query={}", percent_encode(expr)),
    )?;
    if body["status"] != "success" {
        return Err(format!("{}: {}", body["errorType"], body["error"]));
    }
    match &body["data"]["result"] {
        Json::Array(items) => Ok(items.clone()),
        scalar => Ok(vec![scalar.clone()]),
    }
}

fn wait_for_target_up(prometheus: &mut Running, port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        prometheus.assert_alive();
        if let Ok(body) = get(port, "/api/v1/targets") {
            let targets = body["data"]["activeTargets"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if targets.len() == 1 && targets[0]["health"] == "up" {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!(
        "the scrape target never became healthy\n{}",
        prometheus.log_tail()
    );
}

// === checks ===

/// Failures collected over all checks, reported at once.
#[derive(Default)]
struct Report {
    checks: usize,
    failures: Vec<String>,
}

impl Report {
    /// Records a check that needs data back.
    fn expect_data(&mut self, what: String, result: Result<Vec<Json>, String>) {
        self.checks += 1;
        match result {
            Ok(rows) if !rows.is_empty() => {}
            Ok(_) => self.failures.push(format!("no data: {what}")),
            Err(e) => self.failures.push(format!("error: {what}: {e}")),
        }
    }
}

/// Every expression of dashboards, rules and docs.
fn check_expressions(port: u16, report: &mut Report) {
    let all = queries::all_promql();
    for q in &all {
        let text = queries::substitute_grafana_vars(&q.expr);
        let expr = match promql::parse(&text) {
            Ok(expr) => expr,
            Err(e) => {
                report
                    .failures
                    .push(format!("{}: does not parse: {e}", q.origin));
                continue;
            }
        };
        for vs in promql::selectors(&expr) {
            let sel = promql::selector_query(&vs);
            report.expect_data(format!("{}: selector {sel}", q.origin), query(port, &sel));
        }
        let full = query(port, &text);
        if q.kind != Kind::Alert {
            report.expect_data(format!("{}: {}", q.origin, text.trim()), full);
            continue;
        }
        report.checks += 1;
        if let Err(e) = full {
            report.failures.push(format!("error: {}: {e}", q.origin));
        }
        if let Some(value) = promql::strip_threshold(&expr) {
            let value = value.to_string();
            let what = format!("{}: thresholded value {value}", q.origin);
            report.expect_data(what, query(port, &value));
        }
    }
    assert!(
        report.checks > all.len(),
        "expected several checks per expression"
    );
}

/// Labels of every series of `metric` that break the catalogue (missing or extra), as messages.
fn catalogue_mismatches(metric: &str, rows: &[Json]) -> Vec<String> {
    let allowed = promql::catalogue_labels(metric).expect("catalogued");
    let required: Vec<&String> = allowed
        .iter()
        .filter(|l| !promql::GLOBAL_LABELS.contains(&l.as_str()))
        .collect();
    let mut out = Vec::new();
    for row in rows {
        let labels: std::collections::BTreeSet<String> = row["metric"]
            .as_object()
            .map(|m| m.keys().filter(|k| *k != "__name__").cloned().collect())
            .unwrap_or_default();
        if !required.iter().all(|l| labels.contains(*l)) || !labels.is_subset(&allowed) {
            out.push(format!(
                "{metric}: series labels {labels:?}, catalogue {allowed:?}"
            ));
        }
    }
    out.dedup();
    out
}

/// Every catalogued metric is exported with exactly its catalogued labels.
fn check_catalogue(port: u16, report: &mut Report) {
    for (name, _, histogram) in promql::CATALOGUE {
        let suffixes: &[&str] = if *histogram {
            &["_bucket", "_sum", "_count"]
        } else {
            &[""]
        };
        for metric in suffixes.iter().map(|s| format!("{name}{s}")) {
            let result = query(port, &format!("{{__name__=\"{metric}\"}}"));
            if let Ok(rows) = &result {
                report.failures.extend(catalogue_mismatches(&metric, rows));
            }
            report.expect_data(format!("catalogue metric {metric}"), result);
        }
    }
}

/// `label_values(metric, label)` template variables.
fn check_variables(port: u16, report: &mut Report) {
    for (origin, metric, label) in queries::label_value_variables() {
        let result = query(
            port,
            &format!("count by ({label}) ({metric}{{{label}!=\"\"}})"),
        );
        report.expect_data(format!("{origin}: label_values({metric}, {label})"), result);
    }
}

/// The JSON lines the Loki agents ship exist and carry the fields they parse.
fn check_log_files(dir: &Path, report: &mut Report) {
    report.checks += 1;
    let logs: Vec<PathBuf> = std::fs::read_dir(dir.join("logs"))
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    let Some(file) = logs
        .iter()
        .find(|p| p.to_string_lossy().ends_with(".jsonl"))
    else {
        report.failures.push(format!(
            "no events-*.jsonl in {}: {logs:?}",
            dir.join("logs").display()
        ));
        return;
    };
    let text = std::fs::read_to_string(file).unwrap_or_default();
    let first = text.lines().next().unwrap_or_default();
    let line: Json = serde_json::from_str(first).unwrap_or_default();
    let ok = ["ts", "level", "evt"].iter().all(|k| line[k].is_string())
        && line["ts"].as_str().is_some_and(|t| t.ends_with('Z'));
    if !ok {
        report.failures.push(format!(
            "{}: first line lacks ts/level/evt: {first}",
            file.display()
        ));
    }
}

#[test]
fn every_dashboard_rule_and_doc_query_returns_data_from_a_real_prometheus() {
    let started = Instant::now();
    let example_present = repo_root().join("examples/pipeline.rs").is_file();
    if !require(
        "examples/pipeline.rs",
        example_present,
        "the example app is needed for the end-to-end test",
    ) {
        return;
    }
    let Some(prometheus_bin) = tool("prometheus", "prometheus") else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let bin = example_binary();

    let (mut example, example_port) = start_example(&bin, dir.path());
    let (mut prometheus, port) = start_prometheus(&prometheus_bin, dir.path(), example_port);
    wait_for_target_up(&mut prometheus, port);
    std::thread::sleep(Duration::from_secs(DATA_SECONDS));
    example.assert_alive();
    prometheus.assert_alive();

    let mut report = Report::default();
    check_expressions(port, &mut report);
    check_catalogue(port, &mut report);
    check_variables(port, &mut report);
    check_log_files(dir.path(), &mut report);

    support::note(&format!(
        "end-to-end: {} checks, {} failures in {:.1} s",
        report.checks,
        report.failures.len(),
        started.elapsed().as_secs_f64()
    ));
    assert!(
        report.failures.is_empty(),
        "{} of {} checks failed:\n{}\n{}\n{}",
        report.failures.len(),
        report.checks,
        report.failures.join("\n"),
        example.log_tail(),
        prometheus.log_tail()
    );
}
