//! Helpers shared by the `cli_*` integration tests: run the binary, find
//! the fixtures.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

/// The result of one run of the command.
#[derive(Debug)]
pub struct Run {
    pub stdout: String,
    pub stderr: String,
    pub code: Option<i32>,
}

/// The `evt-telemetry` binary built for these tests.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_evt-telemetry"))
}

/// A directory under `tests/fixtures/cli/`.
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/cli")
        .join(name)
}

/// The hand-checked fixture: two days, gz (two members) and plain, two malformed lines.
pub fn basic() -> String {
    fixture("basic").display().to_string()
}

fn finish(out: Output) -> Run {
    Run {
        stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
        code: out.status.code(),
    }
}

/// Runs the command with `args` and waits for it.
pub fn run(args: &[&str]) -> Run {
    finish(bin().args(args).output().expect("run evt-telemetry"))
}

/// What every scan of the basic fixture reports on stderr.
pub fn basic_malformed_report() -> String {
    let file = fixture("basic").join("events-2025-10-06.jsonl");
    format!(
        "evt-telemetry: {f}:2: malformed line: unterminated string at byte 142\n\
         evt-telemetry: {f}:7: malformed line: missing \"ts\"\n\
         evt-telemetry: skipped 2 malformed line(s)\n",
        f = file.display()
    )
}

/// The `(ts, evt)` of each JSON line of `stdout`.
pub fn ts_evt(stdout: &str) -> Vec<(String, String)> {
    stdout
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
            (
                v["ts"].as_str().unwrap_or("").to_owned(),
                v["evt"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

/// Owned `(ts, evt)` pairs from literals.
pub fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}
