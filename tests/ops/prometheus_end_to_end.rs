//! End to end, in one run shared by all checks (each server starts once): two instances of the example app and
//! a synthetic target served by the test, a real Prometheus (127.0.0.1, free port) scraping them every second
//! with the committed rules, the real Alertmanager with the committed config paging a webhook sink, and, past
//! one Prometheus, VictoriaMetrics fed by Prometheus's remote_write with vmalert on the committed alerting rules.
//!
//! What "works" means:
//! - every expression of dashboards, rule files and docs (Grafana variables substituted) answers `success`;
//! - dashboard, recording-rule and doc expressions return data;
//! - alert conditions are empty on healthy traffic by design: for them, the thresholded value (`X` of
//!   `X > number`) must return data;
//! - every selector of every expression returns series, so a metric or label value the crate does not export fails;
//! - every catalogued metric is exported with exactly its catalogued labels (plus job/instance/env), so
//!   `by (...)` labels checked statically against the catalogue exist for real;
//! - `label_values(metric, label)` template variables find their label;
//! - a first-ever 401 pages Discord once and shows as 1 on every incident panel (first_incident_pages_once.rs);
//! - VictoriaMetrics answers every query like Prometheus and vmalert fires the same 401 once
//!   (victoria_metrics_agrees.rs).
//!
//! This relies on the crate creating its series at zero where a dashboard needs them before the first event:
//! the self-metrics (drop reasons, write errors, rejected values and label overflow per metric) and the
//! preset's `precreate` sets (401/402/429 per model).

use crate::common::kit as support;

use super::first_incident_pages_once as first_incident;
use super::logql_queries_run_on_the_example_output as logql_run;
use super::victoria_metrics_agrees as victoria;
use serde_json::Value as Json;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use support::queries::{self, Kind};
use support::stack::{self, Running, TestServer, query};
use support::{promql, repo_root, require, tool};

/// Seconds of 1 s scrapes to collect before querying: enough for `rate(...[1m])` and the recording rules.
const DATA_SECONDS: u64 = 15;

// === checks ===

/// Failures collected over all checks, reported at once.
#[derive(Default)]
pub(crate) struct Report {
    pub(crate) checks: usize,
    pub(crate) failures: Vec<String>,
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
fn the_kit_works_on_real_prometheus_alertmanager_victoria_metrics_and_vmalert() {
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
    let Some(alertmanager_bin) = tool("prometheus-alertmanager", "prometheus-alertmanager") else {
        return;
    };
    let vm_bins = victoria::binaries();
    let dir = tempfile::tempdir().expect("temp dir");
    let dir = dir.path();
    let bin = stack::example_binary();

    let hooks = TestServer::start("");
    let synthetic = TestServer::start(&first_incident::page(false));
    let (mut alertmanager, am_port) =
        first_incident::start_alertmanager(&alertmanager_bin, dir, hooks.port);
    first_incident::post_warning(&mut alertmanager, am_port);
    let warned = Instant::now();
    let mut vm = vm_bins
        .as_ref()
        .map(|(vm_bin, _)| victoria::start_victoria_metrics(vm_bin, dir));

    let mut examples = Vec::new();
    let mut targets = Vec::new();
    // Instance a runs with the example's default seed: the docs name its runs (run-8 is its first failure).
    for (name, seed) in [("a", 42), ("b", 8)] {
        std::fs::create_dir_all(dir.join(name)).expect("mkdir");
        let (example, port) = stack::start_example(&bin, &dir.join(name), seed);
        examples.push(example);
        targets.push(format!("127.0.0.1:{port}"));
    }
    targets.push(format!("127.0.0.1:{}", synthetic.port));
    let mut config = stack::prometheus_config(&targets);
    stack::with_alertmanager(&mut config, am_port);
    if let Some((_, vm_port)) = &vm {
        victoria::with_remote_write(&mut config, *vm_port);
    }
    let (mut prometheus, port) = stack::start_prometheus(&prometheus_bin, dir, &config);
    let mut vmalert = match (&vm_bins, &vm) {
        (Some((_, vmalert_bin)), Some((_, vm_port))) => Some(victoria::start_vmalert(
            vmalert_bin,
            dir,
            *vm_port,
            hooks.port,
        )),
        _ => None,
    };
    stack::wait_for_targets_up(&mut prometheus, port, targets.len());
    let scraping = Instant::now();
    std::thread::sleep(Duration::from_secs(DATA_SECONDS));
    synthetic.set_page(&first_incident::page(true));
    let failed_at = Instant::now();
    for example in &mut examples {
        example.assert_alive();
    }
    prometheus.assert_alive();

    let mut report = Report::default();
    check_expressions(port, &mut report);
    check_catalogue(port, &mut report);
    check_variables(port, &mut report);
    check_log_files(&dir.join("a"), &mut report);
    first_incident::check_first_401(&hooks, port, failed_at, &mut report);
    if let Some((vmalert_process, vmalert_port)) = &mut vmalert {
        victoria::check_vmalert(vmalert_process, *vmalert_port, &mut report);
    }
    first_incident::check_routing(&hooks, warned, &mut report);
    if let Some((vm_process, vm_port)) = &mut vm {
        // Dashboard windows ($__rate_interval = 1m) filled on both engines before comparing them.
        let filled = Duration::from_secs(65).saturating_sub(scraping.elapsed());
        std::thread::sleep(filled);
        vm_process.assert_alive();
        victoria::check_queries_agree(port, *vm_port, &mut report);
    }
    // Instance a flushes every line on SIGTERM; then the LogQL queries run over all of them.
    let stopping = Instant::now();
    examples[0].terminate();
    let stopped = stopping.elapsed();
    logql_run::check_on_example_output(&dir.join("a/logs"), &mut report);
    support::note(&format!(
        "example a stopped (lines flushed) in {:.1} s, LogQL emulation in {:.1} s",
        stopped.as_secs_f64(),
        (stopping.elapsed() - stopped).as_secs_f64()
    ));

    support::note(&format!(
        "end-to-end: {} checks, {} failures in {:.1} s",
        report.checks,
        report.failures.len(),
        started.elapsed().as_secs_f64()
    ));
    let mut logs = vec![prometheus.log_tail(), alertmanager.log_tail()];
    logs.extend(examples.iter().map(Running::log_tail));
    logs.extend(vm.iter().map(|(r, _)| r.log_tail()));
    logs.extend(vmalert.iter().map(|(r, _)| r.log_tail()));
    assert!(
        report.failures.is_empty(),
        "{} of {} checks failed:\n{}\n{}",
        report.failures.len(),
        report.checks,
        report.failures.join("\n"),
        logs.join("\n")
    );
}
