//! `report`: one self-contained HTML file with SVG charts — events, errors
//! and the error rate over time, errors by HTTP status, latency percentiles
//! by model (successful and failed calls apart), daily cost by model, top
//! error codes — and tables of critical incidents (401/402) and failed
//! pipeline runs.
//! One streaming pass; memory depends on the time span and the number of
//! models, statuses and codes, not on the number of lines.

pub(crate) mod html;
mod svg;
mod timeline;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::Write;
use std::path::Path;

use evt_telemetry::LineLevel;
use serde_json::json;

use crate::args::{Common, CostFields};
use crate::costs::CostRollup;
use crate::error::CliError;
use crate::files::Input;
use crate::grafana;
use crate::line::Line;
use crate::output::{fmt_human, write_json};
use crate::quantiles::ValueStats;
use crate::scan::{self, Flow, Summary};
use crate::timespec;
use svg::{Frame, Series};
use timeline::Timeline;

/// Incidents kept for the table (the most recent ones).
const MAX_INCIDENTS: usize = 100;
/// Error codes shown.
const TOP_CODES: usize = 10;

/// What `report` writes, and where.
#[derive(Debug, Clone)]
pub(crate) struct ReportSpec<'a> {
    pub(crate) out: &'a Path,
    pub(crate) title: &'a str,
    /// Time bucket width; `None` fits about 120 buckets to the data.
    pub(crate) every_ms: Option<i64>,
    /// `--grafana-url`: link each section to its dashboard panel.
    pub(crate) grafana: Option<&'a str>,
}

/// A critical incident: an `openrouter_error` with status 401 or 402, or
/// any event at level `critical`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Incident {
    cells: Vec<String>,
}

/// Everything the report shows, built one line at a time.
#[derive(Debug)]
struct Aggregate {
    timeline: Timeline,
    /// By model, then `true` for successful calls.
    latency: BTreeMap<(String, bool), ValueStats>,
    costs: CostRollup,
    codes: HashMap<String, u64>,
    incidents: VecDeque<Incident>,
    incident_count: u64,
    failed_runs: VecDeque<Vec<String>>,
    failed_run_count: u64,
    range: Option<(i64, i64)>,
    links: Option<Links>,
    events: u64,
    errors: u64,
}

/// Runs `report`: writes the HTML file, then a one-line summary (or, with
/// `--json`, a JSON document) to `out`.
///
/// # Errors
/// A missing directory, a failure to write the HTML file or `out`.
pub(crate) fn run(
    common: &Common,
    spec: &ReportSpec<'_>,
    out: &mut impl Write,
) -> Result<(), CliError> {
    let mut agg = Aggregate::new(spec.every_ms);
    let summary = scan::scan(common, |line| {
        agg.add(line);
        Ok(Flow::Continue)
    })?;
    agg.links = spec.grafana.map(|base| {
        let (a, b) = agg.range.unwrap_or((0, 0));
        Links {
            base: base.to_owned(),
            from_ms: common.filter.from_ms.unwrap_or(a),
            to_ms: common.filter.to_ms.unwrap_or(b + 1),
        }
    });
    let html = agg.render(spec.title, &summary, &common.input);
    std::fs::write(spec.out, html)
        .map_err(|e| CliError::Failed(format!("cannot write {}: {e}", spec.out.display())))?;
    if common.json {
        let doc = json!({
            "out": spec.out.display().to_string(),
            "events": agg.events,
            "errors": agg.errors,
            "incidents": agg.incident_count,
            "cost_usd": crate::output::json_f64(agg.costs.total().usd),
            "malformed": summary.malformed,
        });
        write_json(out, &doc)?;
    } else {
        writeln!(
            out,
            "wrote {} ({} events, {} errors)",
            spec.out.display(),
            agg.events,
            agg.errors
        )?;
    }
    Ok(())
}

/// Whether a call or run succeeded: its `meta.KEY` says `success`, or it
/// has no such member and a level below error.
fn succeeded(line: &Line<'_>, key: &str) -> bool {
    match line.meta(key) {
        Some(v) => v.text() == "success",
        None => line.level < LineLevel::Error,
    }
}

/// Where Grafana is and the report's time range, for panel links.
#[derive(Debug, Clone)]
struct Links {
    base: String,
    from_ms: i64,
    to_ms: i64,
}

/// The `meta` member `key` as text (`""` when absent).
fn meta_text(line: &Line<'_>, key: &str) -> String {
    line.meta(key)
        .map(|v| v.text().into_owned())
        .unwrap_or_default()
}

/// The incidents table's cells: time, level, evt, status, code, model,
/// component, message.
fn incident_cells(line: &Line<'_>, status: Option<&str>) -> Vec<String> {
    vec![
        timespec::format_ms(line.ts_ms),
        line.level.as_str().to_owned(),
        line.evt.text().into_owned(),
        status.unwrap_or_default().to_owned(),
        meta_text(line, "code"),
        meta_text(line, "model"),
        meta_text(line, "component"),
        line.msg.text().into_owned(),
    ]
}

/// The incidents table's header.
pub(crate) const INCIDENT_COLUMNS: [&str; 8] = [
    "ts",
    "level",
    "evt",
    "status",
    "code",
    "model",
    "component",
    "msg",
];

/// A critical incident's cells: an `openrouter_error` with status 401 or
/// 402, or any event at level `critical`.
pub(crate) fn incident_row(line: &Line<'_>) -> Option<Vec<String>> {
    let or_error = line.evt.is("openrouter_error");
    let status = line.meta("status").filter(|_| or_error).map(|v| v.text());
    let auth = matches!(status.as_deref(), Some("401" | "402"));
    (auth || line.level == LineLevel::Critical).then(|| incident_cells(line, status.as_deref()))
}

/// The failed runs table's header.
pub(crate) const FAILED_RUN_COLUMNS: [&str; 5] = ["ts", "run_id", "result", "duration (s)", "msg"];

/// A failed `pipeline_run`'s cells: time, run id, result, duration, message.
pub(crate) fn failed_run_row(line: &Line<'_>) -> Option<Vec<String>> {
    if !line.evt.is("pipeline_run") || succeeded(line, "result") {
        return None;
    }
    let duration = line.meta("duration_s").and_then(|v| v.as_f64());
    Some(vec![
        timespec::format_ms(line.ts_ms),
        meta_text(line, "run_id"),
        meta_text(line, "result"),
        duration.map(|d| format!("{d:.1}")).unwrap_or_default(),
        line.msg.text().into_owned(),
    ])
}

// === impl Aggregate ===

impl Aggregate {
    fn new(every_ms: Option<i64>) -> Self {
        Aggregate {
            timeline: Timeline::new(every_ms),
            latency: BTreeMap::new(),
            costs: CostRollup::new(CostFields::default()),
            codes: HashMap::new(),
            incidents: VecDeque::new(),
            incident_count: 0,
            failed_runs: VecDeque::new(),
            failed_run_count: 0,
            range: None,
            links: None,
            events: 0,
            errors: 0,
        }
    }

    fn add(&mut self, line: &Line<'_>) {
        let is_error = line.level >= LineLevel::Error;
        let is_or_error = line.evt.is("openrouter_error");
        let status = line
            .meta("status")
            .filter(|_| is_or_error)
            .map(|v| v.text());
        self.events += 1;
        self.errors += u64::from(is_error);
        self.range = Some(self.range.map_or((line.ts_ms, line.ts_ms), |(a, b)| {
            (a.min(line.ts_ms), b.max(line.ts_ms))
        }));
        self.timeline.add(line.ts_ms, is_error, status.as_deref());
        if is_or_error {
            self.error_event(line);
        } else if line.evt.is("openrouter_call") {
            self.call_event(line);
        } else if line.evt.is("pipeline_run") {
            self.run_event(line);
        }
        if let Some(cells) = incident_row(line) {
            self.incident(cells);
        }
    }

    fn call_event(&mut self, line: &Line<'_>) {
        self.costs.add(line);
        let Some(latency) = line.meta("latency_s").and_then(|v| v.as_f64()) else {
            return;
        };
        let model = line.meta("model").map(|v| v.text()).unwrap_or_default();
        let ok = succeeded(line, "outcome");
        self.latency
            .entry((model.into_owned(), ok))
            .or_default()
            .push(latency);
    }

    fn run_event(&mut self, line: &Line<'_>) {
        let Some(row) = failed_run_row(line) else {
            return;
        };
        self.failed_run_count += 1;
        if self.failed_runs.len() == MAX_INCIDENTS {
            self.failed_runs.pop_front();
        }
        self.failed_runs.push_back(row);
    }

    fn error_event(&mut self, line: &Line<'_>) {
        let code = line.meta("code").map(|v| v.text()).unwrap_or_default();
        match self.codes.get_mut(code.as_ref()) {
            Some(n) => *n += 1,
            None => drop(self.codes.insert(code.into_owned(), 1)),
        }
    }

    fn incident(&mut self, cells: Vec<String>) {
        self.incident_count += 1;
        if self.incidents.len() == MAX_INCIDENTS {
            self.incidents.pop_front();
        }
        self.incidents.push_back(Incident { cells });
    }

    // === rendering ===

    fn render(&mut self, title: &str, summary: &Summary, input: &Input) -> String {
        let range = match self.range {
            Some((a, b)) => format!("{} to {}", timespec::format_ms(a), timespec::format_ms(b)),
            None => "no events".into(),
        };
        let subtitle = format!(
            "{range} · {} events · {} errors · {} malformed lines skipped · {} files from {}",
            self.events,
            self.errors,
            summary.malformed,
            summary.files,
            input.describe()
        );
        let sections = [
            self.over_time(),
            self.latency_section(),
            self.cost_section(),
            self.codes_section(),
            self.incidents_section(),
            self.failed_runs_section(),
        ];
        html::page(title, &subtitle, &sections.concat())
    }

    /// A link to `panel` over the report's time range (nothing without
    /// `--grafana-url`).
    fn link(&self, panel: grafana::Panel) -> String {
        let Some(l) = &self.links else {
            return String::new();
        };
        let url = grafana::panel_url(&l.base, panel, l.from_ms, l.to_ms);
        format!(
            r#"<p class="links"><a href="{}">Open in Grafana: {} › {}</a></p>"#,
            html::esc(&url),
            html::esc(panel.dashboard.title),
            html::esc(panel.title)
        )
    }

    fn over_time(&mut self) -> Vec<String> {
        let t = self.timeline.finish();
        let every = timespec::format_duration(t.width_ms);
        let x_label = format!("time (UTC), {every} buckets");
        let chart = |title: &str, y_label: &str, name: &str, values: Vec<f64>| {
            let frame = Frame {
                title,
                x_label: &x_label,
                y_label,
            };
            let series = [Series {
                name: name.into(),
                values,
            }];
            svg::line_chart(&frame, &t.labels, &series)
        };
        let rate: Vec<f64> = t
            .events
            .iter()
            .zip(&t.errors)
            .map(|(&n, &e)| if n > 0.0 { 100.0 * e / n } else { 0.0 })
            .collect();
        let status_frame = Frame {
            title: "OpenRouter errors over time by HTTP status",
            x_label: &x_label,
            y_label: &format!("errors per {every}"),
        };
        let statuses: Vec<Series> = t
            .statuses
            .into_iter()
            .map(|(name, values)| Series {
                name: format!("HTTP {name}"),
                values,
            })
            .collect();
        // Each on its own scale: errors drawn against the events scale
        // would lie flat.
        let charts = [
            self.link(grafana::EVENTS),
            chart(
                "Events over time",
                &format!("events per {every}"),
                "all events",
                t.events.clone(),
            ),
            self.link(grafana::CALLS),
            chart(
                "Errors over time",
                &format!("errors per {every}"),
                "errors (level error or critical)",
                t.errors.clone(),
            ),
            self.link(grafana::ERROR_RATIO),
            chart(
                "Error rate over time",
                "errors per event (%)",
                "error rate",
                rate,
            ),
        ];
        vec![
            html::section("", "", &charts.concat()),
            html::section(
                "",
                "openrouter_error events by meta.status, stacked.",
                &(self.link(grafana::ERRORS_BY_STATUS)
                    + &svg::stacked_bars(&status_frame, &t.labels, &statuses, |v| {
                        format!("{v} errors")
                    })),
            ),
        ]
    }

    fn latency_section(&mut self) -> Vec<String> {
        let mut labels = Vec::new();
        let mut p95 = Vec::new();
        let mut rows = Vec::new();
        for ((model, ok), stats) in &mut self.latency {
            let Some(s) = stats.summary() else { continue };
            let name = if model.is_empty() { "-" } else { model };
            if *ok {
                labels.push(format!("{name} (n={})", s.n));
                p95.push(s.p95);
            }
            let mark = if s.exact { "" } else { "~" };
            let p = |v: f64| format!("{mark}{}", fmt_human(v));
            rows.push(vec![
                name.to_owned(),
                if *ok { "success" } else { "failed" }.to_owned(),
                s.n.to_string(),
                p(s.p50),
                p(s.p95),
                p(s.p99),
            ]);
        }
        let frame = Frame {
            title: "P95 latency of successful calls by model",
            x_label: "P95 of meta.latency_s (seconds)",
            y_label: "model",
        };
        let svg = svg::hbars(&frame, &labels, &p95, "P95 latency (s)", |v| {
            format!("{v:.2} s")
        });
        let table = html::table(
            &["model", "outcome", "calls", "P50 (s)", "P95 (s)", "P99 (s)"],
            &[false, false, true, true, true, true],
            &rows,
        );
        vec![html::section(
            "",
            "openrouter_call events, nearest-rank percentiles, successful (meta.outcome success) and failed calls apart; ~ marks a sketched percentile (within 0.5 %).",
            &(self.link(grafana::LATENCY) + &svg + &table),
        )]
    }

    fn cost_section(&self) -> Vec<String> {
        let models = self.costs.models();
        let days = self.costs.days();
        let labels: Vec<String> = days.iter().map(|d| timespec::day_string(d.day)).collect();
        let series: Vec<Series> = models
            .iter()
            .map(|(m, _)| Series {
                name: if m.is_empty() {
                    "-".into()
                } else {
                    (*m).into()
                },
                values: days
                    .iter()
                    .map(|d| {
                        d.models
                            .iter()
                            .find(|(n, _)| n == m)
                            .map_or(0.0, |(_, s)| s.usd)
                    })
                    .collect(),
            })
            .collect();
        let frame = Frame {
            title: "Daily cost by model",
            x_label: "day (UTC)",
            y_label: "cost (USD)",
        };
        let chart = svg::stacked_bars(&frame, &labels, &series, |v| format!("{v:.6} USD"));
        let mut rows: Vec<Vec<String>> = models
            .iter()
            .map(|(m, s)| vec![(*m).to_owned(), s.calls.to_string(), fmt_human(s.usd)])
            .collect();
        let total = self.costs.total();
        rows.push(vec![
            "(all models)".into(),
            total.calls.to_string(),
            fmt_human(total.usd),
        ]);
        let table = html::table(
            &["model", "calls", "cost (USD)"],
            &[false, true, true],
            &rows,
        );
        let note = "Sum of meta.cost_usd over openrouter_call events (as openrouter_cost_usd_total; rounded to 6 significant digits here, every digit in costs --json).";
        vec![html::section(
            "",
            note,
            &(self.link(grafana::DAILY_COST) + &chart + &table),
        )]
    }

    fn codes_section(&self) -> Vec<String> {
        let mut codes: Vec<(&String, &u64)> = self.codes.iter().collect();
        codes.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        codes.truncate(TOP_CODES);
        let labels: Vec<String> = codes
            .iter()
            .map(|(c, _)| {
                if c.is_empty() {
                    "-".into()
                } else {
                    (*c).clone()
                }
            })
            .collect();
        let values: Vec<f64> = codes.iter().map(|&(_, &n)| n as f64).collect();
        let frame = Frame {
            title: "Top error codes",
            x_label: "openrouter_error events (count)",
            y_label: "meta.code",
        };
        let svg = svg::hbars(&frame, &labels, &values, "errors", |v| format!("{v}"));
        vec![html::section(
            "",
            "openrouter_error events by meta.code, the 10 most frequent.",
            &(self.link(grafana::TOP_CODES) + &svg),
        )]
    }

    fn incidents_section(&self) -> Vec<String> {
        let rows: Vec<Vec<String>> = self.incidents.iter().map(|i| i.cells.clone()).collect();
        let header = INCIDENT_COLUMNS;
        let note = format!(
            "openrouter_error with status 401/402 and every critical event: {} in range{}.",
            self.incident_count,
            if self.incident_count > MAX_INCIDENTS as u64 {
                format!(", latest {MAX_INCIDENTS} shown")
            } else {
                String::new()
            }
        );
        let body = if rows.is_empty() {
            "<p>None.</p>".to_owned()
        } else {
            format!(
                r#"<div class="wide-last">{}</div>"#,
                html::table(&header, &[], &rows)
            )
        };
        vec![html::section(
            "Critical incidents (401/402)",
            &note,
            &(self.link(grafana::INCIDENTS) + &body),
        )]
    }

    fn failed_runs_section(&self) -> Vec<String> {
        let rows: Vec<Vec<String>> = self.failed_runs.iter().cloned().collect();
        let header = FAILED_RUN_COLUMNS;
        let shown = if self.failed_run_count > MAX_INCIDENTS as u64 {
            format!(", latest {MAX_INCIDENTS} shown")
        } else {
            String::new()
        };
        let note = format!(
            "pipeline_run events whose meta.result is not success: {} in range{shown}.",
            self.failed_run_count
        );
        let body = if rows.is_empty() {
            "<p>None.</p>".to_owned()
        } else {
            let table = html::table(&header, &[false, false, false, true], &rows);
            format!(r#"<div class="wide-last">{table}</div>"#)
        };
        vec![html::section(
            "Failed pipeline runs",
            &note,
            &(self.link(grafana::RUNS) + &body),
        )]
    }
}
