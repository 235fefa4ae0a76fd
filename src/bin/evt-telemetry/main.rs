//! `evt-telemetry`: look at the JSONL event files without any server —
//! `query`, `tail`, `stats`, `costs`, `report` and `monitor`. See docs/CLI.md.
#![forbid(unsafe_code)]
#![warn(missing_debug_implementations, rust_2018_idioms)]

mod args;
// The line contract, shared with the library (one copy: they cannot drift).
#[allow(dead_code)]
#[path = "../../contract/mod.rs"]
mod contract;
// Word-at-a-time byte scans, shared with the library.
mod costs;
mod error;
mod files;
mod filter;
mod grafana;
mod json;
mod line;
mod monitor;
mod output;
mod progress;
mod quantiles;
mod query;
mod report;
#[allow(dead_code)]
#[path = "../../words.rs"]
mod words;

mod scan;
mod split;
mod stats;
mod tail;
mod timespec;
mod usage;

use std::io::{BufWriter, Write};
use std::process::ExitCode;
use std::time::Duration;

use args::Command;
use error::CliError;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let code = e.exit_code();
            if code != 0 {
                eprintln!("evt-telemetry: {e}");
            }
            ExitCode::from(code)
        }
    }
}

fn run() -> Result<(), CliError> {
    let command = args::parse(std::env::args_os().skip(1))?;
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(64 * 1024, stdout.lock());
    dispatch(command, &mut out)?;
    out.flush()?;
    Ok(())
}

fn dispatch(command: Command, out: &mut impl Write) -> Result<(), CliError> {
    match command {
        Command::Help => out.write_all(usage::USAGE.as_bytes())?,
        Command::Version => writeln!(out, "evt-telemetry {}", env!("CARGO_PKG_VERSION"))?,
        Command::Query {
            common,
            table,
            limit,
        } => query::run(&common, table, limit, out)?,
        Command::Tail {
            common,
            table,
            lines,
            poll_ms,
        } => {
            let spec = tail::TailSpec {
                table,
                lines,
                poll: Duration::from_millis(poll_ms),
            };
            tail::run(&common, spec, out)?;
        }
        Command::Stats {
            common,
            by,
            every_ms,
            value,
            distinct,
            error_rate,
            limit,
        } => {
            let spec = stats::StatsSpec {
                by: &by,
                every_ms,
                value: value.as_ref(),
                distinct: distinct.as_ref(),
                error_rate,
                limit: limit.map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
            };
            stats::run(&common, &spec, out)?;
        }
        Command::Costs { common, cost } => costs::run(&common, &cost, out)?,
        Command::Report {
            common,
            out: path,
            title,
            every_ms,
            grafana_url,
        } => {
            report::run(
                &common,
                &report::ReportSpec {
                    out: &path,
                    title: &title,
                    every_ms,
                    grafana: grafana_url.as_deref(),
                },
                out,
            )?;
        }
        Command::Monitor {
            common,
            out: path,
            grafana_url,
            alertmanager_url,
            explore_url,
            now_ms,
        } => {
            let spec = monitor::MonitorSpec {
                out: &path,
                grafana: &grafana_url,
                alertmanager: alertmanager_url.as_deref(),
                explore: explore_url.as_deref(),
                now_ms: now_ms.unwrap_or_else(timespec::now_ms),
            };
            monitor::run(&common, &spec, out)?;
        }
    }
    Ok(())
}
