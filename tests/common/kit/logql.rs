//! A small LogQL emulation over the JSON lines the layer writes (Loki cannot run here): the stream selector,
//! line filters (`|=`, `!=`, `|~`, `!~`), `| json` (bare or with `name="a.b"` fields), label filters (`=`, `!=`,
//! `=~`, `!~`, numeric comparisons), `| line_format`, `| unwrap`, and the range aggregation around them; plus
//! the semantic checks a parser cannot make: range aggregations that need `unwrap` have it, `quantile_over_time`
//! has its quantile, metric queries extract only the fields they need, and every label used exists.
//!
//! Stream labels are those the committed Alloy/Promtail configs set: job, env, level, evt.

use regex_lite::Regex;
use serde_json::Value as Json;
use std::collections::{BTreeMap, BTreeSet};

/// Range aggregations whose samples come from `| unwrap`.
const UNWRAP_FNS: &[&str] = &[
    "sum_over_time",
    "avg_over_time",
    "max_over_time",
    "min_over_time",
    "first_over_time",
    "last_over_time",
    "stdvar_over_time",
    "stddev_over_time",
    "quantile_over_time",
    "rate_counter",
];
/// Range aggregations that count lines.
const COUNT_FNS: &[&str] = &[
    "count_over_time",
    "rate",
    "bytes_over_time",
    "bytes_rate",
    "absent_over_time",
];

/// One stage of a log pipeline.
#[derive(Debug, Clone, PartialEq)]
pub enum Stage {
    /// `|= "s"` (true) or `!= "s"` (false).
    Contains(String, bool),
    /// `|~ "re"` (true) or `!~ "re"` (false).
    Matches(String, bool),
    /// `| json` with its `(label, path)` fields; empty for a bare `| json`.
    Json(Vec<(String, String)>),
    /// `| name op value`.
    Filter(String, String, String),
    /// `| line_format "template"`.
    LineFormat(String),
    /// `| unwrap name`.
    Unwrap(String),
}

/// A parsed query: the log pipeline and, for a metric query, its range function, parameter and grouping.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub matchers: Vec<(String, String, String)>,
    pub stages: Vec<Stage>,
    /// Range aggregation name (`count_over_time`, ...), `None` for a log query.
    pub range_fn: Option<String>,
    /// Its numeric parameter (`quantile_over_time(0.95, ...)`).
    pub param: Option<f64>,
    /// Labels of every `by (...)` around or after it.
    pub by: Vec<String>,
}

// === tokens ===

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(f64),
    Range(String),
    Op(String),
}

fn tokenize(text: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let rest: String = chars[i..chars.len().min(i + 2)].iter().collect();
        if c.is_whitespace() {
            i += 1;
        } else if c == '"' || c == '`' {
            let mut s = String::new();
            i += 1;
            while i < chars.len() && chars[i] != c {
                if c == '"' && chars[i] == '\\' && i + 1 < chars.len() {
                    i += 1;
                }
                s.push(chars[i]);
                i += 1;
            }
            if i == chars.len() {
                return Err(format!("unterminated string in {text}"));
            }
            i += 1;
            out.push(Tok::Str(s));
        } else if c == '[' {
            let end = chars[i..]
                .iter()
                .position(|c| *c == ']')
                .ok_or("unclosed [")?
                + i;
            out.push(Tok::Range(chars[i + 1..end].iter().collect()));
            i = end + 1;
        } else if ["|=", "|~", "!=", "!~", "=~", ">=", "<=", "=="].contains(&rest.as_str()) {
            out.push(Tok::Op(rest));
            i += 2;
        } else if "{}(),|=<>".contains(c) {
            out.push(Tok::Op(c.to_string()));
            i += 1;
        } else if c.is_ascii_digit() {
            let end = chars[i..]
                .iter()
                .position(|c| !(c.is_ascii_digit() || *c == '.'))
                .map_or(chars.len(), |p| p + i);
            let s: String = chars[i..end].iter().collect();
            out.push(Tok::Num(s.parse().map_err(|_| format!("bad number {s}"))?));
            i = end;
        } else if c.is_alphabetic() || c == '_' {
            let end = chars[i..]
                .iter()
                .position(|c| !(c.is_alphanumeric() || *c == '_'))
                .map_or(chars.len(), |p| p + i);
            out.push(Tok::Ident(chars[i..end].iter().collect()));
            i = end;
        } else {
            return Err(format!("unexpected {c:?} in {text}"));
        }
    }
    Ok(out)
}

// === parser ===

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    query: Query,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Result<Tok, String> {
        let tok = self.toks.get(self.pos).cloned().ok_or("unexpected end")?;
        self.pos += 1;
        Ok(tok)
    }

    fn op(&mut self, want: &str) -> Result<(), String> {
        match self.next()? {
            Tok::Op(o) if o == want => Ok(()),
            other => Err(format!("expected {want}, got {other:?}")),
        }
    }

    fn at_op(&self, want: &str) -> bool {
        matches!(self.peek(), Some(Tok::Op(o)) if o == want)
    }

    fn string(&mut self) -> Result<String, String> {
        match self.next()? {
            Tok::Str(s) => Ok(s),
            other => Err(format!("expected a string, got {other:?}")),
        }
    }

    fn ident(&mut self) -> Result<String, String> {
        match self.next()? {
            Tok::Ident(s) => Ok(s),
            other => Err(format!("expected a name, got {other:?}")),
        }
    }

    /// `expr := aggregation | range_fn | log_query`.
    fn expr(&mut self) -> Result<(), String> {
        match self.peek() {
            Some(Tok::Op(o)) if o == "{" => self.log_query(),
            Some(Tok::Ident(name)) => {
                let name = name.clone();
                self.pos += 1;
                if UNWRAP_FNS.contains(&name.as_str()) || COUNT_FNS.contains(&name.as_str()) {
                    self.range_fn(name)
                } else {
                    self.aggregation()
                }
            }
            other => Err(format!("unexpected {other:?}")),
        }
    }

    fn grouping(&mut self) -> Result<(), String> {
        if matches!(self.peek(), Some(Tok::Ident(k)) if k == "by" || k == "without") {
            self.pos += 1;
            self.op("(")?;
            while !self.at_op(")") {
                let label = self.ident()?;
                self.query.by.push(label);
                if self.at_op(",") {
                    self.pos += 1;
                }
            }
            self.op(")")?;
        }
        Ok(())
    }

    fn aggregation(&mut self) -> Result<(), String> {
        self.grouping()?;
        self.op("(")?;
        if let Some(Tok::Num(_)) = self.peek() {
            self.pos += 1;
            self.op(",")?;
        }
        self.expr()?;
        self.op(")")?;
        self.grouping()
    }

    fn range_fn(&mut self, name: String) -> Result<(), String> {
        self.op("(")?;
        if let Some(Tok::Num(q)) = self.peek() {
            self.query.param = Some(*q);
            self.pos += 1;
            self.op(",")?;
        }
        self.log_query()?;
        match self.next()? {
            Tok::Range(_) => {}
            other => return Err(format!("{name}: expected [range], got {other:?}")),
        }
        self.op(")")?;
        self.query.range_fn = Some(name);
        self.grouping()
    }

    fn log_query(&mut self) -> Result<(), String> {
        self.op("{")?;
        while !self.at_op("}") {
            let name = self.ident()?;
            let op = match self.next()? {
                Tok::Op(o) => o,
                other => return Err(format!("expected a matcher operator, got {other:?}")),
            };
            let value = self.string()?;
            self.query.matchers.push((name, op, value));
            if self.at_op(",") {
                self.pos += 1;
            }
        }
        self.op("}")?;
        while let Some(Tok::Op(o)) = self.peek() {
            let o = o.clone();
            match o.as_str() {
                "|=" | "!=" | "|~" | "!~" => {
                    self.pos += 1;
                    let s = self.string()?;
                    let positive = o.starts_with('|');
                    self.query.stages.push(if o.ends_with('~') {
                        Stage::Matches(s, positive)
                    } else {
                        Stage::Contains(s, positive)
                    });
                }
                "|" => {
                    self.pos += 1;
                    let stage = self.pipe_stage()?;
                    self.query.stages.push(stage);
                }
                _ => break,
            }
        }
        Ok(())
    }

    fn pipe_stage(&mut self) -> Result<Stage, String> {
        let name = self.ident()?;
        match name.as_str() {
            "json" => {
                let mut fields = Vec::new();
                while let (Some(Tok::Ident(label)), Some(Tok::Op(eq))) =
                    (self.toks.get(self.pos), self.toks.get(self.pos + 1))
                {
                    if eq != "=" || !matches!(self.toks.get(self.pos + 2), Some(Tok::Str(_))) {
                        break;
                    }
                    let label = label.clone();
                    self.pos += 2;
                    fields.push((label, self.string()?));
                    if self.at_op(",") {
                        self.pos += 1;
                    }
                }
                Ok(Stage::Json(fields))
            }
            "line_format" => Ok(Stage::LineFormat(self.string()?)),
            "unwrap" => Ok(Stage::Unwrap(self.ident()?)),
            label => {
                let op = match self.next()? {
                    Tok::Op(o) => o,
                    other => {
                        return Err(format!("expected an operator after {label}, got {other:?}"));
                    }
                };
                let value = match self.next()? {
                    Tok::Str(s) => s,
                    Tok::Num(n) => n.to_string(),
                    other => {
                        return Err(format!(
                            "expected a value after {label} {op}, got {other:?}"
                        ));
                    }
                };
                Ok(Stage::Filter(label.to_owned(), op, value))
            }
        }
    }
}

/// Parses a query (Grafana variables already substituted).
pub fn parse(text: &str) -> Result<Query, String> {
    let mut parser = Parser {
        toks: tokenize(text)?,
        pos: 0,
        query: Query::default(),
    };
    parser.expr()?;
    if parser.pos != parser.toks.len() {
        return Err(format!("trailing {:?}", &parser.toks[parser.pos..]));
    }
    Ok(parser.query)
}

// === evaluation ===

/// The labels a line has before any stage: the stream labels the shipping configs set.
fn stream_labels(line: &Json) -> BTreeMap<String, String> {
    ["job", "env", "level", "evt"]
        .into_iter()
        .map(|k| {
            (
                k.to_owned(),
                stream_label(line, k).unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// One stream label of a line, without building the label map (the selector runs on every line).
fn stream_label<'a>(line: &'a Json, name: &str) -> Option<&'a str> {
    match name {
        "job" => Some("chinaxiv-telemetry"),
        "env" => Some("local"),
        "level" | "evt" => line[name].as_str(),
        _ => None,
    }
}

fn scalar(value: &Json) -> Option<String> {
    match value {
        Json::String(s) => Some(s.clone()),
        Json::Number(n) => Some(n.to_string()),
        Json::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// `| json` without fields: every scalar, nested keys joined with `_`.
pub fn flatten(prefix: &str, value: &Json, out: &mut BTreeMap<String, String>) {
    if let Json::Object(map) = value {
        for (k, v) in map {
            let key = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}_{k}")
            };
            flatten(&key, v, out);
        }
    } else if let Some(s) = scalar(value) {
        out.insert(prefix.to_owned(), s);
    }
}

/// Regexes compiled once per pattern (a run evaluates them for every line).
#[derive(Default)]
struct Regexes(BTreeMap<(String, bool), Regex>);

impl Regexes {
    fn is_match(&mut self, re: &str, value: &str, anchored: bool) -> bool {
        self.0
            .entry((re.to_owned(), anchored))
            .or_insert_with(|| {
                let full = if anchored {
                    format!("^(?:{re})$")
                } else {
                    re.to_owned()
                };
                Regex::new(&full).unwrap_or_else(|e| panic!("regex {full}: {e}"))
            })
            .is_match(value)
    }
}

fn filter_holds(regexes: &mut Regexes, value: Option<&str>, op: &str, want: &str) -> bool {
    let value = value.unwrap_or_default();
    let numeric = || Some((value.parse::<f64>().ok()?, want.parse::<f64>().ok()?));
    match op {
        "=" | "==" => value == want,
        "!=" => value != want,
        "=~" => regexes.is_match(want, value, true),
        "!~" => !regexes.is_match(want, value, true),
        ">" => numeric().is_some_and(|(a, b)| a > b),
        ">=" => numeric().is_some_and(|(a, b)| a >= b),
        "<" => numeric().is_some_and(|(a, b)| a < b),
        "<=" => numeric().is_some_and(|(a, b)| a <= b),
        other => panic!("unknown label filter operator {other}"),
    }
}

/// What one query does to the lines: how many pass, the unwrapped values, and problems found.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Lines that pass the selector and every stage.
    pub lines: usize,
    /// Values of `| unwrap`, one per passing line that had a number.
    pub values: Vec<f64>,
    /// Label names used (filters, unwrap, line_format, by) that no passing line had.
    pub missing_labels: BTreeSet<String>,
    /// Lines dropped because `| unwrap` found no number (Loki marks them `__error__`).
    pub unwrap_errors: usize,
}

/// Runs the log pipeline of `query` over `lines` (the JSON lines of a daily file).
pub fn run(query: &Query, lines: &[Json]) -> Outcome {
    let mut out = Outcome::default();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut used: BTreeSet<String> = query.by.iter().cloned().collect();
    let mut regexes = Regexes::default();
    let field = Regex::new(r"\{\{\s*\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}").expect("regex");
    'lines: for line in lines {
        if !query
            .matchers
            .iter()
            .all(|(n, op, v)| filter_holds(&mut regexes, stream_label(line, n), op, v))
        {
            continue;
        }
        let mut labels = stream_labels(line);
        let raw = || line.to_string();
        for stage in &query.stages {
            let keep = match stage {
                Stage::Contains(s, positive) => raw().contains(s.as_str()) == *positive,
                Stage::Matches(re, positive) => regexes.is_match(re, &raw(), false) == *positive,
                Stage::Json(fields) if fields.is_empty() => {
                    let mut flat = BTreeMap::new();
                    flatten("", line, &mut flat);
                    for (k, v) in flat {
                        let k = if labels.contains_key(&k) {
                            format!("{k}_extracted")
                        } else {
                            k
                        };
                        labels.insert(k, v);
                    }
                    true
                }
                Stage::Json(fields) => {
                    for (label, path) in fields {
                        let pointer = format!("/{}", path.replace('.', "/"));
                        if let Some(v) = line.pointer(&pointer).and_then(scalar) {
                            labels.insert(label.clone(), v);
                        }
                    }
                    true
                }
                Stage::Filter(name, op, want) => {
                    used.insert(name.clone());
                    filter_holds(&mut regexes, labels.get(name).map(String::as_str), op, want)
                }
                Stage::LineFormat(template) => {
                    used.extend(field.captures_iter(template).map(|c| c[1].to_owned()));
                    true
                }
                Stage::Unwrap(name) => {
                    used.insert(name.clone());
                    match labels.get(name).and_then(|v| v.parse::<f64>().ok()) {
                        Some(v) => out.values.push(v),
                        None => {
                            out.unwrap_errors += 1;
                            continue 'lines;
                        }
                    }
                    true
                }
            };
            if !keep {
                continue 'lines;
            }
        }
        out.lines += 1;
        seen.extend(labels.into_keys());
    }
    out.missing_labels = used.difference(&seen).cloned().collect();
    out
}

/// Problems a parser cannot see: unwrap where needed (and only there), the quantile, and named `| json` fields
/// in metric queries (a bare `| json` turns every field, `ts` and `msg` included, into labels: one series per line).
pub fn semantic_problems(query: &Query) -> Vec<String> {
    let mut problems = Vec::new();
    let unwraps = query
        .stages
        .iter()
        .filter(|s| matches!(s, Stage::Unwrap(_)))
        .count();
    if let Some(f) = &query.range_fn {
        let needs = UNWRAP_FNS.contains(&f.as_str());
        if needs && unwraps != 1 {
            problems.push(format!("{f} needs exactly one `| unwrap`, found {unwraps}"));
        }
        if !needs && unwraps > 0 {
            problems.push(format!("{f} counts lines: `| unwrap` makes no sense"));
        }
        if f == "quantile_over_time" && !query.param.is_some_and(|q| (0.0..=1.0).contains(&q)) {
            problems.push(format!(
                "quantile_over_time needs a quantile in [0, 1], got {:?}",
                query.param
            ));
        }
        if query.stages.iter().any(|s| *s == Stage::Json(Vec::new())) {
            problems.push(
                "a metric query extracts all fields with a bare `| json`: name the fields it needs"
                    .into(),
            );
        }
    } else if unwraps > 0 {
        problems.push("`| unwrap` outside a range aggregation".into());
    }
    problems
}
