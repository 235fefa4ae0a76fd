//! `report`: one self-contained HTML file with SVG charts — events, errors
//! and the error rate over time, errors by HTTP status, latency percentiles
//! by model (successful and failed calls apart), daily cost by model, top
//! error codes — and tables of critical incidents (401/402) and failed
//! pipeline runs.
//! One streaming pass; memory depends on the time span and the number of
//! models, statuses and codes, not on the number of lines.

pub(crate) mod html;
mod sections;
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
}
