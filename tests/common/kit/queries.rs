//! Every query of the operations kit, with where it comes from.
//!
//! Sources: Grafana dashboard targets and annotations (`dashboards/grafana/dashboards/*.json`), Grafana
//! alert rules, Prometheus alerting and recording rules, and fenced ```promql / ```logql blocks in the docs.

use super::{files_in, json, kit, read, repo_root, yaml};
use serde_json::Value as Json;
use serde_yaml::Value as Yaml;
use std::path::{Path, PathBuf};

/// Query language of a [`Query`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// Prometheus.
    PromQl,
    /// Loki.
    LogQl,
}

/// What a query is used for: decides what "works" means in the end-to-end test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A dashboard panel or annotation: must return data on healthy traffic.
    Panel,
    /// A recording rule: must return data.
    Recording,
    /// An alert condition: legitimately empty on healthy traffic.
    Alert,
    /// An analysis query in the docs: must return data.
    Doc,
}

/// One query and its origin.
#[derive(Debug, Clone)]
pub struct Query {
    /// File and location, for messages.
    pub origin: String,
    /// The expression as written (Grafana variables not substituted).
    pub expr: String,
    /// Its language.
    pub lang: Lang,
    /// Its use.
    pub kind: Kind,
}

/// The three dashboard files.
pub fn dashboard_files() -> Vec<PathBuf> {
    files_in(&kit("grafana/dashboards"), &[".json"])
}

/// Prometheus rule files (`dashboards/prometheus/rules/*.yml`).
pub fn rule_files() -> Vec<PathBuf> {
    files_in(&kit("prometheus/rules"), &[".yml", ".yaml"])
}

/// Markdown files whose fenced query blocks are checked.
pub fn doc_files() -> Vec<PathBuf> {
    vec![repo_root().join("docs/OPERATIONS.md"), kit("README.md")]
}

/// All panels of a dashboard, including those nested in collapsed rows.
pub fn panels(dashboard: &Json) -> Vec<&Json> {
    fn walk<'a>(list: &'a Json, out: &mut Vec<&'a Json>) {
        for panel in list.as_array().into_iter().flatten() {
            out.push(panel);
            walk(&panel["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

/// The datasource type of a target, falling back to its panel's.
fn target_lang(target: &Json, panel: &Json) -> Option<Lang> {
    let ds = if target["datasource"].is_object() {
        &target["datasource"]
    } else {
        &panel["datasource"]
    };
    match ds["type"].as_str()? {
        "prometheus" => Some(Lang::PromQl),
        "loki" => Some(Lang::LogQl),
        _ => None,
    }
}

/// Every query of one dashboard: panel targets and annotation queries.
pub fn dashboard_queries(path: &Path, dashboard: &Json) -> Vec<Query> {
    let file = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut out = Vec::new();
    for panel in panels(dashboard) {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let (Some(expr), Some(lang)) = (target["expr"].as_str(), target_lang(target, panel))
            else {
                continue;
            };
            let title = panel["title"].as_str().unwrap_or_default();
            let origin = format!(
                "{file}: panel {title:?} target {}",
                target["refId"].as_str().unwrap_or_default()
            );
            out.push(Query {
                origin,
                expr: expr.to_owned(),
                lang,
                kind: Kind::Panel,
            });
        }
    }
    for ann in dashboard["annotations"]["list"]
        .as_array()
        .into_iter()
        .flatten()
    {
        // The query sits in `target` (the form Grafana writes since 9.x), or at the top in older dashboards.
        let expr = ann["target"]["expr"].as_str().or(ann["expr"].as_str());
        let (Some(expr), Some(lang)) = (expr, target_lang(ann, ann)) else {
            continue;
        };
        let origin = format!(
            "{file}: annotation {:?}",
            ann["name"].as_str().unwrap_or_default()
        );
        out.push(Query {
            origin,
            expr: expr.to_owned(),
            lang,
            kind: Kind::Panel,
        });
    }
    out
}

/// All dashboard queries of all dashboards.
pub fn all_dashboard_queries() -> Vec<Query> {
    dashboard_files()
        .iter()
        .flat_map(|path| dashboard_queries(path, &json(path)))
        .collect()
}

/// `(metric, label)` of every `label_values(metric, label)` template variable, with its origin.
pub fn label_value_variables() -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for path in dashboard_files() {
        let dashboard = json(&path);
        for var in dashboard["templating"]["list"]
            .as_array()
            .into_iter()
            .flatten()
        {
            // `query` is a string, or the Prometheus variable editor's object with the string in `query`.
            let Some(def) = var["query"]["query"].as_str().or(var["query"].as_str()) else {
                continue;
            };
            if var["type"] != "query" {
                continue;
            }
            let inner = def
                .strip_prefix("label_values(")
                .and_then(|s| s.strip_suffix(')'));
            let parts: Vec<&str> = inner
                .map(|s| s.split(',').map(str::trim).collect())
                .unwrap_or_default();
            assert!(
                parts.len() == 2,
                "{}: variable {:?}: expected label_values(metric, label)",
                path.display(),
                var["name"]
            );
            out.push((
                format!("{}: variable {:?}", path.display(), var["name"]),
                parts[0].to_owned(),
                parts[1].to_owned(),
            ));
        }
    }
    out
}

/// One Prometheus rule: `alert` or `record` name and its expression.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Alert or recorded series name.
    pub name: String,
    /// The expression as written.
    pub expr: String,
    /// True for alerting rules.
    pub alert: bool,
    /// The whole rule, for field checks.
    pub raw: Yaml,
}

/// Every rule of every Prometheus rule file.
pub fn prometheus_rules() -> Vec<Rule> {
    let mut out = Vec::new();
    for path in rule_files() {
        let doc = yaml(&path);
        for group in doc["groups"].as_sequence().into_iter().flatten() {
            for rule in group["rules"].as_sequence().into_iter().flatten() {
                let alert = rule["alert"].as_str();
                let name = alert
                    .or(rule["record"].as_str())
                    .expect("rule without alert/record name");
                let expr = rule["expr"].as_str().expect("rule without expr");
                out.push(Rule {
                    name: name.to_owned(),
                    expr: expr.to_owned(),
                    alert: alert.is_some(),
                    raw: rule.clone(),
                });
            }
        }
    }
    out
}

/// Rule expressions as queries.
pub fn rule_queries() -> Vec<Query> {
    prometheus_rules()
        .into_iter()
        .map(|rule| Query {
            origin: format!("rule {}", rule.name),
            expr: rule.expr,
            lang: Lang::PromQl,
            kind: if rule.alert {
                Kind::Alert
            } else {
                Kind::Recording
            },
        })
        .collect()
}

/// Fenced code blocks with exactly the info string `tag` in a markdown text.
pub fn fenced_blocks(markdown: &str, tag: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        let trimmed = line.trim();
        match current.as_mut() {
            None if trimmed.strip_prefix("```") == Some(tag) => current = Some(String::new()),
            None => {}
            Some(_) if trimmed == "```" => out.extend(current.take()),
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
        }
    }
    out
}

/// Queries in the docs: each ```promql / ```logql block holds one query; blank lines separate several.
pub fn doc_queries() -> Vec<Query> {
    let mut out = Vec::new();
    for path in doc_files() {
        let text = read(&path);
        for (tag, lang) in [("promql", Lang::PromQl), ("logql", Lang::LogQl)] {
            for (i, block) in fenced_blocks(&text, tag).iter().enumerate() {
                for expr in split_queries(block) {
                    let origin = format!("{}: {tag} block {}", path.display(), i + 1);
                    out.push(Query {
                        origin,
                        expr,
                        lang,
                        kind: Kind::Doc,
                    });
                }
            }
        }
    }
    out
}

/// Splits a block on blank lines and drops `#` comment lines.
pub fn split_queries(block: &str) -> Vec<String> {
    block
        .split("\n\n")
        .map(|chunk| {
            chunk
                .lines()
                .filter(|l| !l.trim_start().starts_with('#'))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .filter(|q| !q.trim().is_empty())
        .collect()
}

/// Every PromQL query of dashboards, rules and docs.
pub fn all_promql() -> Vec<Query> {
    let mut all = all_dashboard_queries();
    all.extend(rule_queries());
    all.extend(doc_queries());
    all.retain(|q| q.lang == Lang::PromQl);
    all
}

/// Replaces Grafana variables by values Prometheus accepts: `$__rate_interval` → `1m`, `$__interval` → `15s`,
/// `$__range` → `1h`, `$__auto` → `1m`; any other `$name`, `${name}` or `${name:format}` → `.*`
/// (template variables are only used inside regex matchers, see [`variable_misuse`]).
pub fn substitute_grafana_vars(expr: &str) -> String {
    let mut out = String::with_capacity(expr.len());
    let mut rest = expr;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let (name, len) = variable_at(&rest[pos..]);
        out.push_str(match name.split(':').next().unwrap_or_default() {
            "__rate_interval" | "__auto" => "1m",
            "__interval" => "15s",
            "__range" => "1h",
            _ => ".*",
        });
        rest = &rest[pos + len..];
    }
    out.push_str(rest);
    out
}

/// The variable name at the start of `s` (which begins with `$`) and the length of its reference.
fn variable_at(s: &str) -> (&str, usize) {
    if let Some(braced) = s.strip_prefix("${") {
        let end = braced.find('}').unwrap_or(braced.len());
        return (&braced[..end], end + 3);
    }
    let body = &s[1..];
    let end = body
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(body.len());
    (&body[..end], end + 1)
}

/// Template variables (not `$__` built-ins) used anywhere but as a whole regex matcher value `=~"$var"`:
/// with "All" they expand to `.*`, which only means "anything" in a regex matcher.
pub fn variable_misuse(expr: &str) -> Vec<String> {
    let mut bad = Vec::new();
    for (pos, _) in expr.match_indices('$') {
        let (name, len) = variable_at(&expr[pos..]);
        if name.starts_with("__") {
            continue;
        }
        let before = &expr[..pos];
        let after = &expr[pos + len..];
        if !(before.ends_with("=~\"") && after.starts_with('"')) {
            bad.push(name.to_owned());
        }
    }
    bad
}
