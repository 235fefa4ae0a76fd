//! PromQL helpers on top of `promql-parser`: the selectors of an expression, and label checks against the
//! metric catalogue of /work/CATALOGUE.md (names and labels fixed by the operators' dashboards).

use promql_parser::label::MatchOp;
use promql_parser::parser::{self, Expr, LabelModifier, VectorSelector};
use std::collections::BTreeSet;

/// Labels added by Prometheus or the exporter to every series: target labels and global labels.
pub const GLOBAL_LABELS: &[&str] = &["job", "instance", "env"];

/// `(metric, labels, is_histogram)` for every metric the crate exports.
pub const CATALOGUE: &[(&str, &[&str], bool)] = &[
    (
        "openrouter_errors_total",
        &["status", "code", "component", "model"],
        false,
    ),
    (
        "openrouter_calls_total",
        &["component", "model", "outcome"],
        false,
    ),
    ("openrouter_call_latency_seconds", &["model"], true),
    ("openrouter_cost_usd_total", &["model"], false),
    ("daily_cost_usd", &["model"], false),
    ("translations_total", &["component"], false),
    ("translation_latency_seconds", &[], true),
    ("pipeline_runs_total", &["result"], false),
    ("queue_pending_jobs", &[], false),
    ("telemetry_events_total", &["evt", "level", "source"], false),
    ("telemetry_dropped_events_total", &["reason"], false),
    ("telemetry_write_errors_total", &[], false),
    (
        "telemetry_rejected_values_total",
        &["metric", "reason"],
        false,
    ),
    ("telemetry_label_overflow_total", &["metric"], false),
    ("telemetry_exemplars_cut_total", &["metric"], false),
    ("telemetry_start_time_seconds", &[], false),
    ("telemetry_exporter_connections_total", &["outcome"], false),
];

/// Parses PromQL (Grafana variables must already be substituted).
pub fn parse(expr: &str) -> Result<Expr, String> {
    parser::parse(expr)
}

/// Labels a series of `metric` may carry according to the catalogue, `None` for unknown metrics.
/// Histogram series `_bucket` (plus `le`), `_sum` and `_count` are included.
pub fn catalogue_labels(metric: &str) -> Option<BTreeSet<String>> {
    for (name, labels, histogram) in CATALOGUE {
        let mut set: BTreeSet<String> = labels
            .iter()
            .chain(GLOBAL_LABELS)
            .map(|l| l.to_string())
            .collect();
        if metric == *name && !histogram {
            return Some(set);
        }
        if *histogram
            && metric
                .strip_prefix(name)
                .is_some_and(|s| ["_bucket", "_sum", "_count"].contains(&s))
        {
            if metric.ends_with("_bucket") {
                set.insert("le".into());
            }
            return Some(set);
        }
    }
    None
}

/// Every vector selector of `expr` (including those inside range selectors), in source order.
pub fn selectors(expr: &Expr) -> Vec<VectorSelector> {
    let mut out = Vec::new();
    walk(expr, &mut |e| match e {
        Expr::VectorSelector(vs) => out.push(vs.clone()),
        Expr::MatrixSelector(ms) => out.push(ms.vs.clone()),
        _ => {}
    });
    out
}

/// Calls `f` on `expr` and every sub-expression.
pub fn walk(expr: &Expr, f: &mut dyn FnMut(&Expr)) {
    f(expr);
    match expr {
        Expr::Aggregate(a) => {
            walk(&a.expr, f);
            if let Some(p) = &a.param {
                walk(p, f);
            }
        }
        Expr::Unary(u) => walk(&u.expr, f),
        Expr::Binary(b) => {
            walk(&b.lhs, f);
            walk(&b.rhs, f);
        }
        Expr::Paren(p) => walk(&p.expr, f),
        Expr::Subquery(s) => walk(&s.expr, f),
        Expr::Call(c) => c.args.args.iter().for_each(|arg| walk(arg, f)),
        _ => {}
    }
}

/// A selector as an instant query without `offset` / `@`: "does this series exist now?".
pub fn selector_query(vs: &VectorSelector) -> String {
    let mut plain = vs.clone();
    plain.offset = None;
    plain.at = None;
    plain.to_string()
}

/// The metric name of a selector (from its name or a `__name__` matcher).
pub fn metric_name(vs: &VectorSelector) -> Option<String> {
    vs.name.clone().or_else(|| {
        vs.matchers
            .matchers
            .iter()
            .find(|m| m.name == "__name__" && m.op == MatchOp::Equal)
            .map(|m| m.value.clone())
    })
}

/// Labels the result of `expr` may carry, given `known(metric)` for selectors; `None` when unknown.
pub fn result_labels(
    expr: &Expr,
    known: &dyn Fn(&str) -> Option<BTreeSet<String>>,
) -> Option<BTreeSet<String>> {
    match expr {
        Expr::VectorSelector(vs) => known(&metric_name(vs)?),
        Expr::MatrixSelector(ms) => known(&metric_name(&ms.vs)?),
        Expr::Aggregate(a) => match &a.modifier {
            Some(LabelModifier::Include(l)) => Some(l.labels.iter().cloned().collect()),
            Some(LabelModifier::Exclude(l)) => {
                let inner = result_labels(&a.expr, known)?;
                Some(
                    inner
                        .into_iter()
                        .filter(|x| !l.labels.contains(x))
                        .collect(),
                )
            }
            None if ["topk", "bottomk"].contains(&a.op.to_string().as_str()) => {
                result_labels(&a.expr, known)
            }
            None => Some(BTreeSet::new()),
        },
        Expr::Binary(b) => {
            let lhs = result_labels(&b.lhs, known).unwrap_or_default();
            Some(
                lhs.union(&result_labels(&b.rhs, known).unwrap_or_default())
                    .cloned()
                    .collect(),
            )
        }
        Expr::Paren(p) => result_labels(&p.expr, known),
        Expr::Unary(u) => result_labels(&u.expr, known),
        Expr::Subquery(s) => result_labels(&s.expr, known),
        Expr::Call(c) => call_labels(c, known),
        _ => Some(BTreeSet::new()),
    }
}

fn call_labels(
    c: &parser::Call,
    known: &dyn Fn(&str) -> Option<BTreeSet<String>>,
) -> Option<BTreeSet<String>> {
    let vector_arg = c
        .args
        .args
        .iter()
        .find(|a| !matches!(***a, Expr::NumberLiteral(_) | Expr::StringLiteral(_)));
    let mut labels = match vector_arg {
        Some(arg) => result_labels(arg, known)?,
        None => BTreeSet::new(),
    };
    match c.func.name {
        "histogram_quantile" => {
            labels.remove("le");
        }
        "label_replace" => {
            if let Some(Expr::StringLiteral(dst)) = c.args.args.get(2).map(|a| &**a) {
                labels.insert(dst.val.clone());
            }
        }
        _ => {}
    }
    Some(labels)
}

/// Grouping and matching labels (`by`, `without`, `on`, `ignoring`, `group_left/right`) that the operand they
/// apply to cannot carry: typos or labels the crate does not export. Empty when all is well.
pub fn unknown_grouping_labels(
    expr: &Expr,
    known: &dyn Fn(&str) -> Option<BTreeSet<String>>,
) -> Vec<String> {
    let mut bad = Vec::new();
    walk(expr, &mut |e| {
        let (used, operands): (Vec<String>, Vec<&Expr>) = match e {
            Expr::Aggregate(a) => (
                a.modifier
                    .iter()
                    .flat_map(|m| m.labels().labels.clone())
                    .collect(),
                vec![&*a.expr],
            ),
            Expr::Binary(b) => {
                let Some(m) = &b.modifier else { return };
                let mut used: Vec<String> = m
                    .matching
                    .iter()
                    .flat_map(|l| l.labels().labels.clone())
                    .collect();
                used.extend(m.card.labels().into_iter().flat_map(|l| l.labels.clone()));
                (used, vec![&*b.lhs, &*b.rhs])
            }
            _ => return,
        };
        let available: BTreeSet<String> = operands
            .iter()
            .filter_map(|op| result_labels(op, known))
            .flatten()
            .collect();
        bad.extend(
            used.into_iter()
                .filter(|l| !available.contains(l))
                .map(|l| format!("{l} (in `{e}`)")),
        );
    });
    bad
}

/// Labels matched by a selector that the catalogue does not give its metric, or the metric itself if unknown.
pub fn unknown_matcher_labels(
    vs: &VectorSelector,
    known: &dyn Fn(&str) -> Option<BTreeSet<String>>,
) -> Vec<String> {
    let Some(name) = metric_name(vs) else {
        return vec![format!("selector without metric name: {vs}")];
    };
    let Some(labels) = known(&name) else {
        return vec![format!("unknown metric {name}")];
    };
    vs.matchers
        .matchers
        .iter()
        .filter(|m| m.name != "__name__" && !labels.contains(&m.name))
        .map(|m| format!("{name} has no label {}", m.name))
        .collect()
}

/// If `expr` is `X <cmp> number` (optionally parenthesised), returns `X`: the value being thresholded.
pub fn strip_threshold(expr: &Expr) -> Option<&Expr> {
    match expr {
        Expr::Paren(p) => strip_threshold(&p.expr),
        Expr::Binary(b)
            if b.op.is_comparison_operator() && matches!(*b.rhs, Expr::NumberLiteral(_)) =>
        {
            Some(&b.lhs)
        }
        _ => None,
    }
}
