//! Checks of the end-to-end run (prometheus_end_to_end.rs) past one Prometheus: Prometheus `remote_write`s
//! everything it scrapes from the two example instances and the synthetic target (and its recording rules)
//! to a single-node VictoriaMetrics (the same query and write API as its cluster version); vmalert evaluates
//! the committed alerting rules against VictoriaMetrics. Every query of dashboards, rules and docs must give
//! the same series and values on both engines, and the first 401 must fire once in vmalert too.

use crate::common::kit as support;

use super::first_incident_pages_once::MODEL;
use super::prometheus_end_to_end::Report;
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use support::queries::{self, Kind};
use support::stack::{self, Running, query_at, row_value};
use support::tool;

/// Relative difference allowed between the engines. Both read the same samples; rate() and increase()
/// differ by design at the window edges (Prometheus extrapolates to the window, VictoriaMetrics uses the
/// last sample before it), a few percent at 1 s scrapes and `[1m]` windows.
pub(crate) const TOLERANCE: f64 = 0.15;

/// `victoria-metrics` and `vmalert` (Debian package victoria-metrics), or `None` (skipped outside CI).
pub(crate) fn binaries() -> Option<(PathBuf, PathBuf)> {
    Some((
        tool("victoria-metrics", "victoria-metrics")?,
        tool("vmalert", "victoria-metrics")?,
    ))
}

pub(crate) fn start_victoria_metrics(bin: &Path, dir: &Path) -> (Running, u16) {
    let port = stack::free_port();
    let running = Running::spawn(
        "victoria-metrics",
        Command::new(bin)
            .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
            .arg(format!(
                "-storageDataPath={}",
                dir.join("vm-data").display()
            ))
            // Samples are queryable at once (default: 30 s later), and nothing is cached between checks.
            .arg("-search.latencyOffset=0s")
            .arg("-search.disableCache")
            .arg("-loggerLevel=WARN"),
        dir.join("victoria-metrics.log"),
    );
    (running, port)
}

/// Adds `remote_write` to VictoriaMetrics on `port`, flushed every second.
pub(crate) fn with_remote_write(config: &mut serde_yaml::Value, port: u16) {
    config["remote_write"] = serde_yaml::from_str(&format!(
        "[{{url: 'http://127.0.0.1:{port}/api/v1/write', queue_config: {{batch_send_deadline: 1s}}}}]"
    ))
    .expect("remote_write section");
}

/// vmalert on the committed alerting rules, querying VictoriaMetrics every second, notifying `hooks`.
pub(crate) fn start_vmalert(bin: &Path, dir: &Path, vm: u16, hooks: u16) -> (Running, u16) {
    let port = stack::free_port();
    let running = Running::spawn(
        "vmalert",
        Command::new(bin)
            .arg(format!(
                "-rule={}",
                support::kit("prometheus/rules/alerts.yml").display()
            ))
            .arg(format!("-datasource.url=http://127.0.0.1:{vm}"))
            .arg(format!("-notifier.url=http://127.0.0.1:{hooks}/vmalert"))
            .arg("-evaluationInterval=1s")
            .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
            .arg("-loggerLevel=WARN"),
        dir.join("vmalert.log"),
    );
    (running, port)
}

/// Result rows as labels (without `__name__`) -> value.
fn by_labels(rows: &[Json]) -> BTreeMap<String, f64> {
    rows.iter()
        .map(|row| {
            let mut labels = row["metric"].as_object().cloned().unwrap_or_default();
            labels.remove("__name__");
            (Json::Object(labels).to_string(), row_value(row))
        })
        .collect()
}

fn close(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || (a - b).abs() <= 1e-9 + TOLERANCE * a.abs().max(b.abs())
}

/// Every PromQL query at the same instant on both engines: the same series, and for dashboard queries (whose
/// `$__rate_interval` windows the run fills) values within [`TOLERANCE`].
pub(crate) fn check_queries_agree(prometheus: u16, vm: u16, report: &mut Report) {
    let at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs_f64()
        - 3.0;
    // Remote write flushes every second: wait until VictoriaMetrics holds the instant queried.
    stack::wait_for(
        "VictoriaMetrics has the samples",
        Duration::from_secs(20),
        || {
            let rows = query_at(vm, "max(timestamp(telemetry_start_time_seconds))", None).ok()?;
            (rows.first().map(row_value)? >= at).then_some(())
        },
    );
    let (mut dashboards, mut dashboards_agree, mut exact) = (0, 0, 0);
    for q in queries::all_promql() {
        report.checks += 1;
        let text = queries::substitute_grafana_vars(&q.expr);
        let (p, v) = (
            query_at(prometheus, &text, Some(at)),
            query_at(vm, &text, Some(at)),
        );
        let (p, v) = match (p, v) {
            (Ok(p), Ok(v)) => (by_labels(&p), by_labels(&v)),
            (p, v) => {
                report.failures.push(format!(
                    "{}: prometheus {p:?}, victoria-metrics {v:?}",
                    q.origin
                ));
                continue;
            }
        };
        let same_series = p.keys().eq(v.keys());
        let agree = same_series
            && p.iter()
                .all(|(k, a)| v.get(k).is_some_and(|b| close(*a, *b)));
        exact += usize::from(p == v);
        // Rule and doc windows ([5m] to [24h]) are longer than the run: Prometheus extrapolates a partly
        // filled window to its full length and VictoriaMetrics does not, so only their series must agree.
        let required = if q.kind == Kind::Panel {
            agree
        } else {
            same_series
        };
        if q.kind == Kind::Panel {
            dashboards += 1;
            dashboards_agree += usize::from(agree);
        }
        if !required {
            report.failures.push(format!(
                "{}: engines disagree on {}\n  prometheus {p:?}\n  victoria-metrics {v:?}",
                q.origin,
                text.trim()
            ));
        }
    }
    support::note(&format!(
        "victoria-metrics: {dashboards_agree} of {dashboards} dashboard queries agree with Prometheus \
         (all queries: {exact} identical, tolerance {TOLERANCE})"
    ));
}

/// vmalert fires the synthetic 401 as one alert without an instance label.
pub(crate) fn check_vmalert(vmalert: &mut Running, port: u16, report: &mut Report) {
    report.checks += 1;
    let firing = stack::wait_for(
        "vmalert fires the first 401",
        Duration::from_secs(20),
        || {
            vmalert.assert_alive();
            let body = stack::get(port, "/api/v1/alerts").ok()?;
            let alerts: Vec<Json> = body["data"]["alerts"]
                .as_array()?
                .iter()
                .filter(|a| a["labels"]["model"] == MODEL && a["state"] == "firing")
                .cloned()
                .collect();
            (!alerts.is_empty()).then_some(alerts)
        },
    );
    let ok = firing.len() == 1
        && firing[0]["labels"]["alertname"] == "OpenRouterAuthOrPaymentFailure"
        && firing[0]["labels"].get("instance").is_none();
    if !ok {
        report.failures.push(format!(
            "vmalert: expected one 401 alert without instance, got {firing:?}"
        ));
    }
}
