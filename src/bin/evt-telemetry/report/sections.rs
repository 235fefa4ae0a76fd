//! The report's sections, rendered from the aggregate: activity over time,
//! latency, costs, error codes, incidents and failed runs, each linked to
//! its Grafana panel when a Grafana URL is given.

use super::*;

impl Aggregate {
    pub(super) fn render(&mut self, title: &str, summary: &Summary, input: &Input) -> String {
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
