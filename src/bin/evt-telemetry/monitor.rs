//! `monitor`: one self-contained HTML status page (no scripts, styles or
//! images from elsewhere) that links to the Grafana dashboards by their
//! stable uids, and stays useful when Grafana is down: today's cost by
//! model, errors by HTTP status over the last hour and day, the error budget
//! spent over 24 h, the last critical incidents and the last failed pipeline
//! run — all computed from the event files in one streaming pass.

use std::collections::{BTreeMap, VecDeque};
use std::io::Write;
use std::path::Path;

use crate::args::{Common, CostFields};
use crate::costs::CostRollup;
use crate::error::CliError;
use crate::grafana;
use crate::line::Line;
use crate::output::fmt_human;
use crate::report::html::{esc, page, section, table};
use crate::report::{FAILED_RUN_COLUMNS, INCIDENT_COLUMNS, failed_run_row, incident_row};
use crate::scan::{self, Flow};
use crate::timespec::{self, DAY_MS};

/// The availability objective of the dashboards' error budget: 99 % of
/// `openrouter_call` events succeed (`dashboards/prometheus/rules/recording.yml`).
const SLO: f64 = 0.99;
/// Incidents listed, newest first.
const LAST_INCIDENTS: usize = 10;
const HOUR_MS: i64 = 3_600_000;

/// What `monitor` writes, and where.
#[derive(Debug, Clone)]
pub(crate) struct MonitorSpec<'a> {
    pub(crate) out: &'a Path,
    pub(crate) grafana: &'a str,
    pub(crate) alertmanager: Option<&'a str>,
    pub(crate) explore: Option<&'a str>,
    /// The end of the time windows (`--now`, else the clock).
    pub(crate) now_ms: i64,
}

/// The status, built one line at a time.
#[derive(Debug)]
struct Status {
    now_ms: i64,
    /// Cost events of the UTC day of `now_ms`.
    cost_today: CostRollup,
    /// `openrouter_error` by `meta.status`: (last hour, last 24 h).
    errors: BTreeMap<String, (u64, u64)>,
    /// `openrouter_call` in the last 24 h, and those with `meta.outcome` "error".
    calls_24h: u64,
    failed_24h: u64,
    incidents: VecDeque<Vec<String>>,
    incident_count: u64,
    last_failed_run: Option<Vec<String>>,
    range: Option<(i64, i64)>,
    events: u64,
}

/// Runs `monitor`: writes the page, then `wrote PATH` (or, with `--json`,
/// a JSON summary) to `out`.
///
/// # Errors
/// A missing directory, a failure to write the page or `out`.
pub(crate) fn run(
    common: &Common,
    spec: &MonitorSpec<'_>,
    out: &mut impl Write,
) -> Result<(), CliError> {
    let mut status = Status::new(spec.now_ms);
    let summary = scan::scan(common, |line| {
        status.add(line);
        Ok(Flow::Continue)
    })?;
    let html = status.render(spec, summary.files, &common.input.describe());
    let failed =
        |e: std::io::Error| CliError::Failed(format!("cannot write {}: {e}", spec.out.display()));
    if let Some(parent) = spec.out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(failed)?;
    }
    std::fs::write(spec.out, html).map_err(failed)?;
    if common.json {
        let doc = serde_json::json!({
            "out": spec.out.display().to_string(),
            "events": status.events,
            "calls_24h": status.calls_24h,
            "failed_24h": status.failed_24h,
            "incidents": status.incident_count,
            "cost_today_usd": crate::output::json_f64(status.cost_today.total().usd),
        });
        crate::output::write_json(out, &doc)?;
    } else {
        writeln!(out, "wrote {}", spec.out.display())?;
    }
    Ok(())
}

// === impl Status ===

impl Status {
    fn new(now_ms: i64) -> Self {
        Status {
            now_ms,
            cost_today: CostRollup::new(CostFields::default()),
            errors: BTreeMap::new(),
            calls_24h: 0,
            failed_24h: 0,
            incidents: VecDeque::new(),
            incident_count: 0,
            last_failed_run: None,
            range: None,
            events: 0,
        }
    }

    /// Whether `ts_ms` is in the `window_ms` ending at (and including) now.
    fn within(&self, ts_ms: i64, window_ms: i64) -> bool {
        ts_ms <= self.now_ms && ts_ms > self.now_ms - window_ms
    }

    fn add(&mut self, line: &Line<'_>) {
        self.events += 1;
        self.range = Some(self.range.map_or((line.ts_ms, line.ts_ms), |(a, b)| {
            (a.min(line.ts_ms), b.max(line.ts_ms))
        }));
        let today = self.now_ms.div_euclid(DAY_MS);
        if line.ts_ms.div_euclid(DAY_MS) == today && line.ts_ms <= self.now_ms {
            self.cost_today.add(line);
        }
        if line.evt.is("openrouter_call") && self.within(line.ts_ms, 24 * HOUR_MS) {
            self.calls_24h += 1;
            self.failed_24h += u64::from(line.meta("outcome").is_some_and(|o| o.text() == "error"));
        }
        if line.evt.is("openrouter_error") && self.within(line.ts_ms, 24 * HOUR_MS) {
            let status = line.meta("status").map(|v| v.text()).unwrap_or_default();
            let last_hour = u64::from(self.within(line.ts_ms, HOUR_MS));
            let counts = self.errors.entry(status.into_owned()).or_default();
            counts.0 += last_hour;
            counts.1 += 1;
        }
        if let Some(row) = incident_row(line) {
            self.incident_count += 1;
            if self.incidents.len() == LAST_INCIDENTS {
                self.incidents.pop_front();
            }
            self.incidents.push_back(row);
        }
        if let Some(row) = failed_run_row(line) {
            self.last_failed_run = Some(row);
        }
    }

    // === rendering ===

    fn render(&self, spec: &MonitorSpec<'_>, files: u64, input: &str) -> String {
        let range = match self.range {
            Some((a, b)) => format!("{} to {}", timespec::format_ms(a), timespec::format_ms(b)),
            None => "no events".into(),
        };
        let subtitle = format!(
            "Built at {} (the windows below end then) from {} events ({range}) in {files} files from {input}.",
            timespec::format_ms(self.now_ms),
            self.events,
        );
        let sections = [
            links_section(spec),
            self.cost_section(),
            self.errors_section(),
            self.budget_section(),
            self.incidents_section(),
            self.failed_run_section(),
        ];
        page("evt-telemetry monitor", &subtitle, &sections)
    }

    fn cost_section(&self) -> String {
        let day = timespec::day_string(self.now_ms.div_euclid(DAY_MS));
        let mut rows: Vec<Vec<String>> = self
            .cost_today
            .models()
            .into_iter()
            .map(|(m, s)| vec![model_name(m), s.calls.to_string(), fmt_human(s.usd)])
            .collect();
        let total = self.cost_today.total();
        rows.push(vec![
            "(all models)".into(),
            total.calls.to_string(),
            fmt_human(total.usd),
        ]);
        let note = format!("openrouter_call meta.cost_usd on {day} (UTC) up to the build time.");
        let body = table(
            &["model", "calls", "cost (USD)"],
            &[false, true, true],
            &rows,
        );
        section(&format!("Cost today ({day})"), &note, &body)
    }

    fn errors_section(&self) -> String {
        let mut rows: Vec<Vec<String>> = self
            .errors
            .iter()
            .map(|(s, (h, d))| vec![model_name(s), h.to_string(), d.to_string()])
            .collect();
        let (h, d) = self
            .errors
            .values()
            .fold((0, 0), |(a, b), (h, d)| (a + h, b + d));
        rows.push(vec!["(all)".into(), h.to_string(), d.to_string()]);
        let body = table(
            &["HTTP status", "last 1 h", "last 24 h"],
            &[false, true, true],
            &rows,
        );
        section(
            "Errors by HTTP status",
            "openrouter_error events by meta.status.",
            &body,
        )
    }

    fn budget_section(&self) -> String {
        let allowed = 1.0 - SLO;
        let ratio = if self.calls_24h > 0 {
            self.failed_24h as f64 / self.calls_24h as f64
        } else {
            0.0
        };
        let spent = ratio / allowed;
        let rows = vec![vec![
            self.calls_24h.to_string(),
            self.failed_24h.to_string(),
            format!("{:.2} %", 100.0 * ratio),
            format!("{:.1} %", 100.0 * spent),
            format!("{:.1} %", 100.0 * (1.0 - spent)),
        ]];
        let body = table(
            &[
                "calls",
                "failed",
                "error ratio",
                "budget spent",
                "budget remaining",
            ],
            &[true; 5],
            &rows,
        );
        let note = format!(
            "Last 24 h, SLO {} % of openrouter_call succeed: failed = meta.outcome \"error\"; spent = error ratio / {} % (as openrouter:error_budget_remaining:ratio24h).",
            100.0 * SLO,
            fmt_human(100.0 * allowed)
        );
        section("Error budget (24 h)", &note, &body)
    }

    fn incidents_section(&self) -> String {
        let rows: Vec<Vec<String>> = self.incidents.iter().rev().cloned().collect();
        let note = format!(
            "openrouter_error with status 401/402 and every critical event: {} in the files, the last {LAST_INCIDENTS} here, newest first.",
            self.incident_count
        );
        let body = if rows.is_empty() {
            "<p>None.</p>".to_owned()
        } else {
            format!(
                r#"<div class="wide-last">{}</div>"#,
                table(&INCIDENT_COLUMNS, &[], &rows)
            )
        };
        section("Last critical incidents (401/402)", &note, &body)
    }

    fn failed_run_section(&self) -> String {
        let body = match &self.last_failed_run {
            Some(row) => {
                let t = table(
                    &FAILED_RUN_COLUMNS,
                    &[false, false, false, true],
                    std::slice::from_ref(row),
                );
                format!(r#"<div class="wide-last">{t}</div>"#)
            }
            None => "<p>None.</p>".to_owned(),
        };
        section(
            "Last failed pipeline run",
            "The latest pipeline_run whose meta.result is not success.",
            &body,
        )
    }
}

fn model_name(m: &str) -> String {
    if m.is_empty() { "-".into() } else { m.into() }
}

/// Links to the dashboards, and to Alertmanager and Explore when given.
fn links_section(spec: &MonitorSpec<'_>) -> String {
    let mut items: Vec<(String, String)> = grafana::DASHBOARDS
        .iter()
        .map(|d| (grafana::dashboard_url(spec.grafana, *d), d.title.to_owned()))
        .collect();
    if let Some(am) = spec.alertmanager {
        items.push((
            format!("{am}/#/alerts"),
            "Alertmanager: firing alerts".into(),
        ));
    }
    if let Some(explore) = spec.explore {
        items.push((explore.to_owned(), "Loki logs in Grafana Explore".into()));
    }
    let list: String = items
        .iter()
        .map(|(url, text)| format!(r#"<li><a href="{}">{}</a></li>"#, esc(url), esc(text)))
        .collect();
    section(
        "Dashboards",
        "Grafana, by the dashboards' stable uids.",
        &format!("<ul class=\"links\">{list}</ul>"),
    )
}
