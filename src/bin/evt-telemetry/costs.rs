//! `costs`: the cost field of the cost events, summed by UTC day and model,
//! with totals per model, per day and overall.
//!
//! Every sum is a sequential `f64` addition in file order, starting at 0 —
//! the operations the `openrouter_cost_usd_total` counter (per model) and
//! `daily_cost_usd` gauge (per day and model) perform on the same events.
//! When the lines reach the file in the order the metric was updated (one
//! logging thread) the numbers are equal bit for bit; with several logging
//! threads the two orders can differ, and the two sums of the same `n`
//! non-negative costs are then within `2·γ(n−1)·Σ` of each other
//! (`γ(k) = k·u / (1 − k·u)`, `u = 2⁻⁵³`; docs/CLI.md). Like those
//! metrics, negative or non-finite costs are rejected.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;

use serde_json::{Value, json};

use crate::args::{Common, CostFields};
use crate::error::CliError;
use crate::line::Line;
use crate::output::{Style, Table, json_f64, write_json};
use crate::scan::{self, Flow};
use crate::timespec::{self, DAY_MS};

/// A number of cost events and the sum of their costs.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Sum {
    pub(crate) calls: u64,
    pub(crate) usd: f64,
}

impl Sum {
    fn add(&mut self, usd: f64) {
        self.calls += 1;
        self.usd += usd;
    }
}

/// One day of costs: its total and its models sorted by name.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DayCosts<'a> {
    pub(crate) day: i64,
    pub(crate) total: Sum,
    pub(crate) models: Vec<(&'a str, Sum)>,
}

/// The costs of one model: its total and its sum per day.
#[derive(Debug, Default)]
struct ModelCosts {
    total: Sum,
    days: BTreeMap<i64, Sum>,
}

/// Costs by model and day, built one line at a time.
#[derive(Debug)]
pub(crate) struct CostRollup {
    fields: CostFields,
    /// By model (empty when the line has none, as for a metric label).
    by_model: HashMap<String, ModelCosts>,
    day_totals: BTreeMap<i64, Sum>,
    total: Sum,
    /// Cost events without a numeric cost field.
    missing: u64,
    /// Cost events with a negative or non-finite cost.
    rejected: u64,
}

impl CostRollup {
    pub(crate) fn new(fields: CostFields) -> Self {
        CostRollup {
            fields,
            by_model: HashMap::new(),
            day_totals: BTreeMap::new(),
            total: Sum::default(),
            missing: 0,
            rejected: 0,
        }
    }

    /// Adds `line` if it is a cost event with a valid cost.
    pub(crate) fn add(&mut self, line: &Line<'_>) {
        if !line.evt.is(&self.fields.evt) {
            return;
        }
        let Some(usd) = line.get(&self.fields.cost).and_then(|v| v.as_f64()) else {
            self.missing += 1;
            return;
        };
        if !usd.is_finite() || usd < 0.0 {
            self.rejected += 1;
            return;
        }
        let model = line
            .get(&self.fields.model)
            .map(|v| v.text())
            .unwrap_or_default();
        let day = line.ts_ms.div_euclid(DAY_MS);
        if !self.by_model.contains_key(model.as_ref()) {
            self.by_model
                .insert(model.to_string(), ModelCosts::default());
        }
        // UNWRAP: the model was inserted just above if it was missing.
        let costs = self.by_model.get_mut(model.as_ref()).unwrap();
        costs.total.add(usd);
        costs.days.entry(day).or_default().add(usd);
        self.day_totals.entry(day).or_default().add(usd);
        self.total.add(usd);
    }

    /// The grand total.
    pub(crate) fn total(&self) -> Sum {
        self.total
    }

    /// Models, sorted by name.
    pub(crate) fn models(&self) -> Vec<(&str, Sum)> {
        let mut models: Vec<(&str, Sum)> = self
            .by_model
            .iter()
            .map(|(m, c)| (m.as_str(), c.total))
            .collect();
        models.sort_by(|a, b| a.0.cmp(b.0));
        models
    }

    /// Days in order.
    pub(crate) fn days(&self) -> Vec<DayCosts<'_>> {
        let models = self.models();
        let per_day = |day: i64| -> Vec<(&str, Sum)> {
            models
                .iter()
                .filter_map(|&(m, _)| Some((m, *self.by_model.get(m)?.days.get(&day)?)))
                .collect()
        };
        self.day_totals
            .iter()
            .map(|(&day, &total)| DayCosts {
                day,
                total,
                models: per_day(day),
            })
            .collect()
    }

    /// Prints a note on stderr for cost events that were not added.
    fn note_skipped(&self) {
        let CostFields { evt, cost, .. } = &self.fields;
        if self.missing > 0 {
            eprintln!(
                "evt-telemetry: costs: {} {evt} event(s) without a numeric {} skipped",
                self.missing,
                cost.name()
            );
        }
        if self.rejected > 0 {
            eprintln!(
                "evt-telemetry: costs: {} {evt} event(s) with a negative or non-finite cost skipped",
                self.rejected
            );
        }
    }
}

/// Runs `costs`, writing a table or (`--json`) one JSON document to `out`.
///
/// # Errors
/// A missing directory, or a failure to write `out`.
pub(crate) fn run(
    common: &Common,
    fields: &CostFields,
    out: &mut impl Write,
) -> Result<(), CliError> {
    let mut rollup = CostRollup::new(fields.clone());
    let summary = scan::scan(common, |line| {
        rollup.add(line);
        Ok(Flow::Continue)
    })?;
    rollup.note_skipped();
    if common.json {
        write_json(out, &to_json(&rollup, summary.malformed))?;
    } else {
        write_table(out, &rollup, common.style)?;
    }
    Ok(())
}

fn model_label(m: &str) -> String {
    if m.is_empty() { "-".into() } else { m.into() }
}

fn write_table(out: &mut impl Write, r: &CostRollup, style: Style) -> std::io::Result<()> {
    let row = |first: &str, model: &str, sum: Sum| {
        vec![
            first.into(),
            model.into(),
            sum.calls.to_string(),
            style.number(sum.usd),
        ]
    };
    let mut table = Table::new(&["day", "model", "calls", "cost_usd"], style);
    for DayCosts {
        day,
        total: sum,
        models,
    } in r.days()
    {
        let day = timespec::day_string(day);
        for (m, s) in models {
            table.push(out, row(&day, &model_label(m), s))?;
        }
        table.push(out, row(&day, "(all models)", sum))?;
    }
    for (m, s) in r.models() {
        table.push(out, row("total", &model_label(m), s))?;
    }
    table.push(out, row("total", "(all models)", r.total))?;
    table.flush(out)
}

fn sum_json(sum: Sum) -> Value {
    json!({ "calls": sum.calls, "cost_usd": json_f64(sum.usd) })
}

fn with_model(model: &str, sum: Sum) -> Value {
    json!({ "model": model, "calls": sum.calls, "cost_usd": json_f64(sum.usd) })
}

/// The `--json` document (schema in docs/CLI.md).
fn to_json(r: &CostRollup, malformed: u64) -> Value {
    let days: Vec<Value> = r
        .days()
        .into_iter()
        .map(|DayCosts { day, total: sum, models }| {
            let models: Vec<Value> = models.into_iter().map(|(m, s)| with_model(m, s)).collect();
            json!({ "day": timespec::day_string(day), "calls": sum.calls, "cost_usd": json_f64(sum.usd), "models": models })
        })
        .collect();
    let models: Vec<Value> = r
        .models()
        .into_iter()
        .map(|(m, s)| with_model(m, s))
        .collect();
    json!({
        "cost_evt": r.fields.evt,
        "cost_field": r.fields.cost.name(),
        "model_field": r.fields.model.name(),
        "days": days,
        "models": models,
        "total": sum_json(r.total),
        "skipped": { "missing": r.missing, "rejected": r.rejected },
        "malformed": malformed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(ts: &str, model: &str, cost: &str) -> String {
        format!(
            r#"{{"ts":"{ts}","level":"info","evt":"openrouter_call","source":"s","msg":"","meta":{{"model":"{model}","cost_usd":{cost}}}}}"#
        )
    }

    #[test]
    fn sums_are_sequential_in_file_order_per_day_model_and_total() {
        let mut r = CostRollup::new(CostFields::default());
        let lines = [
            call("2025-10-06T01:00:00.000Z", "m", "0.1"),
            call("2025-10-06T02:00:00.000Z", "m", "0.2"),
            call("2025-10-06T03:00:00.000Z", "n", "0.5"),
            call("2025-10-07T01:00:00.000Z", "m", "0.3"),
            call("2025-10-07T02:00:00.000Z", "m", "-1"),
            call("2025-10-07T03:00:00.000Z", "m", "\"x\""),
        ];
        for l in &lines {
            r.add(&Line::parse(l).expect("valid"));
        }
        assert_eq!(
            r.models(),
            [
                (
                    "m",
                    Sum {
                        calls: 3,
                        usd: 0.1 + 0.2 + 0.3
                    }
                ),
                ("n", Sum { calls: 1, usd: 0.5 })
            ]
        );
        assert_eq!(
            r.total(),
            Sum {
                calls: 4,
                usd: 0.1 + 0.2 + 0.5 + 0.3
            }
        );
        assert_eq!(r.models()[0].1.usd.to_string(), "0.6000000000000001");
        let days = r.days();
        assert_eq!(
            days[0].total,
            Sum {
                calls: 3,
                usd: 0.1 + 0.2 + 0.5
            }
        );
        assert_eq!(days[1].models, [("m", Sum { calls: 1, usd: 0.3 })]);
        assert_eq!((r.missing, r.rejected), (1, 1));
    }
}
