//! The command line: a subcommand, then options (lexopt; every value is
//! validated here so a bad one exits with code 2 before any file is read).

use std::ffi::OsString;
use std::path::PathBuf;

use evt_telemetry::LineLevel;
use lexopt::{Arg, Parser, ValueExt};

use crate::error::CliError;
use crate::files::Input;
use crate::filter::{Filter, Where};
use crate::line::Field;
use crate::output::{Style, TableFormat};
use crate::split::DEFAULT_MAX_LINE;
use crate::timespec;

/// Options every command takes.
#[derive(Debug, Clone)]
pub(crate) struct Common {
    /// `--dir`, `--prefix` and the FILE arguments.
    pub(crate) input: Input,
    pub(crate) json: bool,
    pub(crate) filter: Filter,
    /// `--max-line-bytes`: longer lines are skipped as malformed.
    pub(crate) max_line: usize,
    /// `--csv`, `--tsv`, `--color`, `--local`.
    pub(crate) style: Style,
}

impl Common {
    /// The defaults, reading the day files of `dir`.
    #[cfg(test)]
    pub(crate) fn for_dir(dir: &std::path::Path) -> Self {
        Common {
            input: Input {
                dir: dir.to_owned(),
                prefix: None,
                files: Vec::new(),
            },
            json: false,
            filter: Filter::default(),
            max_line: DEFAULT_MAX_LINE,
            style: Style::default(),
        }
    }
}

/// A parsed command line.
#[derive(Debug, Clone)]
pub(crate) enum Command {
    Help,
    Version,
    Query {
        common: Common,
        table: bool,
        limit: Option<u64>,
    },
    Tail {
        common: Common,
        table: bool,
        lines: usize,
        poll_ms: u64,
    },
    Stats {
        common: Common,
        by: Vec<Field>,
        every_ms: Option<i64>,
        value: Option<Field>,
        distinct: Option<Field>,
        error_rate: bool,
        limit: Option<u64>,
    },
    Costs {
        common: Common,
        cost: CostFields,
    },
    Report {
        common: Common,
        out: PathBuf,
        title: String,
        every_ms: Option<i64>,
        grafana_url: Option<String>,
    },
    Monitor {
        common: Common,
        out: PathBuf,
        grafana_url: String,
        alertmanager_url: Option<String>,
        explore_url: Option<String>,
        /// `--now`: the end of the page's time windows.
        now_ms: Option<i64>,
    },
}

/// What `costs` (and the report's cost chart) add up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CostFields {
    /// Only events with this `evt` carry cost. Defaults to `openrouter_call`.
    pub(crate) evt: String,
    /// The cost in USD. Defaults to `meta.cost_usd`.
    pub(crate) cost: Field,
    /// The model to group by. Defaults to `meta.model`.
    pub(crate) model: Field,
}

impl Default for CostFields {
    fn default() -> Self {
        CostFields {
            evt: "openrouter_call".into(),
            cost: Field::Meta("cost_usd".into()),
            model: Field::Meta("model".into()),
        }
    }
}

/// Options as given, before they are checked against the command.
#[derive(Debug, Default)]
struct Given {
    seen: Vec<String>,
    dir: Option<PathBuf>,
    prefix: Option<String>,
    files: Vec<PathBuf>,
    max_line: Option<usize>,
    format: TableFormat,
    color: Option<bool>,
    local_time: bool,
    json: bool,
    table: bool,
    limit: Option<u64>,
    lines: Option<usize>,
    poll_ms: Option<u64>,
    by: Vec<Field>,
    every_ms: Option<i64>,
    value: Option<Field>,
    distinct: Option<Field>,
    error_rate: bool,
    cost: CostFields,
    out: Option<PathBuf>,
    title: Option<String>,
    grafana_url: Option<String>,
    alertmanager_url: Option<String>,
    explore_url: Option<String>,
    since_ms: Option<i64>,
    now_ms: Option<i64>,
    filter: Filter,
}

const COMMON: &[&str] = &[
    "dir",
    "prefix",
    "max-line-bytes",
    "json",
    "csv",
    "tsv",
    "color",
    "local",
    "since",
    "from",
    "to",
    "evt",
    "level",
    "source",
    "where",
    "grep",
    "now",
];

fn allowed(command: &str) -> &'static [&'static str] {
    match command {
        "query" => &["table", "limit"],
        "tail" => &["table", "lines", "poll-ms"],
        "stats" => &["by", "every", "value", "distinct", "error-rate", "limit"],
        "costs" => &["cost-evt", "cost-field", "model-field"],
        "report" => &["out", "title", "every", "grafana-url"],
        "monitor" => &["out", "grafana-url", "alertmanager-url", "explore-url"],
        _ => &[],
    }
}

fn usage(msg: impl Into<String>) -> CliError {
    CliError::Usage(msg.into())
}

/// Parses the arguments after the program name.
///
/// # Errors
/// [`CliError::Usage`] naming the unknown command, option or bad value.
pub(crate) fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command, CliError> {
    let mut p = Parser::from_args(args);
    let command = match p.next()? {
        None | Some(Arg::Long("help") | Arg::Short('h')) => return Ok(Command::Help),
        Some(Arg::Long("version") | Arg::Short('V')) => return Ok(Command::Version),
        Some(Arg::Value(v)) => v.string()?,
        Some(other) => return Err(other.unexpected().into()),
    };
    if command == "help" {
        return Ok(Command::Help);
    }
    if allowed(&command).is_empty() {
        return Err(usage(format!("unknown command {command:?} (try --help)")));
    }
    let mut given = Given::default();
    while let Some(arg) = p.next()? {
        let name = match arg {
            Arg::Long(name) => name.to_owned(),
            Arg::Short('h') => return Ok(Command::Help),
            Arg::Value(file) if command != "tail" => {
                given.files.push(file.into());
                continue;
            }
            other => return Err(other.unexpected().into()),
        };
        if !COMMON.contains(&name.as_str()) && !allowed(&command).contains(&name.as_str()) {
            return Err(usage(format!(
                "{command} does not take --{name} (try --help)"
            )));
        }
        given.option(&name, &mut p)?;
        given.seen.push(name);
    }
    given.into_command(&command)
}

fn value(p: &mut Parser, name: &str) -> Result<String, CliError> {
    let v = p.value()?.string()?;
    if v.is_empty() {
        return Err(usage(format!("--{name} needs a non-empty value")));
    }
    Ok(v)
}

fn number<T: std::str::FromStr>(p: &mut Parser, name: &str) -> Result<T, CliError> {
    let v = value(p, name)?;
    v.parse()
        .map_err(|_| usage(format!("--{name}: {v:?} is not a valid number")))
}

fn url(p: &mut Parser, name: &str) -> Result<String, CliError> {
    crate::grafana::base_url(name, &value(p, name)?).map_err(usage)
}

fn list(v: &str) -> impl Iterator<Item = String> + '_ {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

impl Given {
    fn option(&mut self, name: &str, p: &mut Parser) -> Result<(), CliError> {
        let field = |v: String| Field::parse(&v).map_err(|e| usage(format!("--{name}: {e}")));
        match name {
            "dir" => self.dir = Some(p.value()?.into()),
            "prefix" => self.prefix = Some(value(p, name)?),
            "max-line-bytes" => {
                let max: usize = number(p, name)?;
                if max < 64 {
                    return Err(usage("--max-line-bytes must be at least 64"));
                }
                self.max_line = Some(max);
            }
            "json" => self.json = true,
            "csv" => self.format = TableFormat::Csv,
            "tsv" => self.format = TableFormat::Tsv,
            "local" => self.local_time = true,
            "color" => {
                self.color = match value(p, name)?.as_str() {
                    "auto" => None,
                    "always" => Some(true),
                    "never" => Some(false),
                    other => {
                        return Err(usage(format!(
                            "--color: {other:?} is not auto, always or never"
                        )));
                    }
                }
            }
            "table" => self.table = true,
            "limit" => self.limit = Some(number(p, name)?),
            "lines" => self.lines = Some(number(p, name)?),
            "poll-ms" => self.poll_ms = Some(number::<u64>(p, name)?.max(1)),
            "by" => {
                let fields: Result<Vec<_>, _> = list(&value(p, name)?).map(field).collect();
                let fields = fields?;
                if fields.is_empty() {
                    return Err(usage("--by needs at least one field"));
                }
                self.by.extend(fields);
            }
            "every" => {
                self.every_ms = Some(timespec::parse_duration(&value(p, name)?).map_err(usage)?)
            }
            "value" => self.value = Some(field(value(p, name)?)?),
            "distinct" => self.distinct = Some(field(value(p, name)?)?),
            "error-rate" => self.error_rate = true,
            "cost-evt" => self.cost.evt = value(p, name)?,
            "cost-field" => self.cost.cost = field(value(p, name)?)?,
            "model-field" => self.cost.model = field(value(p, name)?)?,
            "out" => self.out = Some(p.value()?.into()),
            "title" => self.title = Some(value(p, name)?),
            "grafana-url" => self.grafana_url = Some(url(p, name)?),
            "alertmanager-url" => self.alertmanager_url = Some(url(p, name)?),
            "explore-url" => self.explore_url = Some(url(p, name)?),
            _ => self.filter_option(name, p)?,
        }
        Ok(())
    }

    fn filter_option(&mut self, name: &str, p: &mut Parser) -> Result<(), CliError> {
        let v = value(p, name)?;
        let f = &mut self.filter;
        match name {
            "since" => self.since_ms = Some(timespec::parse_duration(&v).map_err(usage)?),
            "from" => f.from_ms = Some(timespec::parse_instant(&v).map_err(usage)?),
            "to" => f.to_ms = Some(timespec::parse_instant(&v).map_err(usage)?),
            "now" => self.now_ms = Some(timespec::parse_instant(&v).map_err(usage)?),
            "evt" => f.evts.extend(list(&v)),
            "source" => f.sources.extend(list(&v)),
            "level" => {
                let bad = || {
                    usage(format!(
                        "--level: unknown level {v:?} (trace, debug, info, warning, error, critical)"
                    ))
                };
                f.min_level = Some(LineLevel::parse(&v).ok_or_else(bad)?);
            }
            "where" => f.wheres.push(Where::parse(&v).map_err(usage)?),
            "grep" => f.wheres.push(Where::grep(&v).map_err(usage)?),
            _ => return Err(usage(format!("unknown option --{name}"))),
        }
        Ok(())
    }

    fn into_command(mut self, command: &str) -> Result<Command, CliError> {
        self.resolve_since()?;
        self.check_format()?;
        if !self.files.is_empty() && (self.dir.is_some() || self.prefix.is_some()) {
            return Err(usage(
                "FILE arguments cannot be combined with --dir or --prefix",
            ));
        }
        let common = Common {
            input: Input {
                dir: self.dir.unwrap_or_else(|| PathBuf::from("data/telemetry")),
                prefix: self.prefix,
                files: self.files,
            },
            json: self.json,
            filter: self.filter,
            max_line: self.max_line.unwrap_or(DEFAULT_MAX_LINE),
            style: Style {
                format: self.format,
                color: self.color.unwrap_or_else(color_by_default),
                local_time: self.local_time,
            },
        };
        Ok(match command {
            "query" => Command::Query {
                common,
                table: self.table,
                limit: self.limit,
            },
            "tail" => Command::Tail {
                common,
                table: self.table,
                lines: self.lines.unwrap_or(10),
                poll_ms: self.poll_ms.unwrap_or(250),
            },
            "stats" => {
                let by = if self.by.is_empty() {
                    vec![Field::Evt]
                } else {
                    self.by
                };
                Command::Stats {
                    common,
                    by,
                    every_ms: self.every_ms,
                    value: self.value,
                    distinct: self.distinct,
                    error_rate: self.error_rate,
                    limit: self.limit,
                }
            }
            "costs" => Command::Costs {
                common,
                cost: self.cost,
            },
            "monitor" => Command::Monitor {
                common,
                out: self
                    .out
                    .unwrap_or_else(|| PathBuf::from("site/monitor.html")),
                grafana_url: self
                    .grafana_url
                    .ok_or_else(|| usage("monitor needs --grafana-url URL"))?,
                alertmanager_url: self.alertmanager_url,
                explore_url: self.explore_url,
                now_ms: self.now_ms,
            },
            _ => Command::Report {
                common,
                out: self.out.ok_or_else(|| usage("report needs --out FILE"))?,
                title: self.title.unwrap_or_else(|| "evt-telemetry report".into()),
                every_ms: self.every_ms,
                grafana_url: self.grafana_url,
            },
        })
    }

    /// Refuses combinations that would silently ignore an option.
    fn check_format(&self) -> Result<(), CliError> {
        let delimited = self
            .seen
            .iter()
            .filter(|s| *s == "csv" || *s == "tsv")
            .count();
        if delimited > 1 || (delimited == 1 && self.json) {
            return Err(usage("choose one of --json, --csv and --tsv"));
        }
        Ok(())
    }

    /// `--since D` means `--from (now - D)`; it cannot be combined with `--from`.
    fn resolve_since(&mut self) -> Result<(), CliError> {
        let Some(since) = self.since_ms else {
            return Ok(());
        };
        if self.seen.iter().any(|s| s == "from") {
            return Err(usage("--since and --from cannot be combined"));
        }
        let now = self.now_ms.unwrap_or_else(timespec::now_ms);
        self.filter.from_ms = Some(now.saturating_sub(since));
        Ok(())
    }
}

/// Colour by default only on a terminal, and never with `NO_COLOR` set
/// (to anything but the empty string; see no-color.org).
fn color_by_default() -> bool {
    use std::io::IsTerminal;
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    !no_color && std::io::stdout().is_terminal()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(args: &str) -> Result<Command, CliError> {
        parse(args.split_whitespace().map(OsString::from))
    }

    fn usage_error(args: &str) -> String {
        match parse_str(args) {
            Err(CliError::Usage(msg)) => msg,
            other => panic!("expected a usage error for {args:?}, got {other:?}"),
        }
    }

    #[test]
    fn stats_options_and_defaults_are_read() {
        let Ok(Command::Stats {
            common,
            by,
            every_ms,
            value,
            ..
        }) = parse_str(
            "stats --by evt,meta.code --every 5m --value meta.latency_s --evt a,b --evt c",
        )
        else {
            panic!("not stats")
        };
        assert_eq!(common.input.dir, PathBuf::from("data/telemetry"));
        assert_eq!(by, [Field::Evt, Field::Meta("code".into())]);
        assert_eq!(every_ms, Some(300_000));
        assert_eq!(value, Some(Field::Meta("latency_s".into())));
        assert_eq!(common.filter.evts, ["a", "b", "c"]);
        let Ok(Command::Stats { by, .. }) = parse_str("stats") else {
            panic!("not stats")
        };
        assert_eq!(by, [Field::Evt]);
    }

    #[test]
    fn since_counts_back_from_now() {
        let Ok(Command::Query { common, .. }) =
            parse_str("query --since 1h --now 2025-10-06T01:00:00Z")
        else {
            panic!("not query")
        };
        assert_eq!(
            common.filter.from_ms,
            timespec::parse_instant("2025-10-06").ok()
        );
    }

    #[test]
    fn costs_fields_default_to_the_metric_preset() {
        let Ok(Command::Costs { cost, .. }) = parse_str("costs") else {
            panic!("not costs")
        };
        assert_eq!(cost, CostFields::default());
        assert_eq!(cost.cost.name(), "meta.cost_usd");
    }

    #[test]
    fn bad_arguments_are_usage_errors_with_one_line_messages() {
        assert_eq!(
            usage_error("frobnicate"),
            "unknown command \"frobnicate\" (try --help)"
        );
        assert_eq!(
            usage_error("query --by evt"),
            "query does not take --by (try --help)"
        );
        assert_eq!(
            usage_error("stats --by code"),
            "--by: unknown field \"code\" (expected ts, level, evt, source, msg or meta.KEY)"
        );
        assert_eq!(
            usage_error("query --level loud"),
            "--level: unknown level \"loud\" (trace, debug, info, warning, error, critical)"
        );
        assert_eq!(
            usage_error("query --since 1h --from 2025-10-06"),
            "--since and --from cannot be combined"
        );
        assert_eq!(usage_error("report"), "report needs --out FILE");
        assert_eq!(
            usage_error("query --limit x"),
            "--limit: \"x\" is not a valid number"
        );
        assert!(usage_error("query --where meta.status>x").starts_with("bad --where"));
        assert!(usage_error("tail extra").contains("extra"));
        assert_eq!(usage_error("stats --by ,"), "--by needs at least one field");
        assert_eq!(
            usage_error("query --where meta.x==1"),
            "bad --where \"meta.x==1\": '==' is not an operator: use '='"
        );
        assert_eq!(
            usage_error("query a.jsonl --dir x"),
            "FILE arguments cannot be combined with --dir or --prefix"
        );
        assert_eq!(
            usage_error("stats --csv --json"),
            "choose one of --json, --csv and --tsv"
        );
    }

    #[test]
    fn help_and_version_need_no_command() {
        assert!(matches!(parse_str(""), Ok(Command::Help)));
        assert!(matches!(parse_str("--help"), Ok(Command::Help)));
        assert!(matches!(parse_str("stats -h"), Ok(Command::Help)));
        assert!(matches!(parse_str("--version"), Ok(Command::Version)));
    }
}
