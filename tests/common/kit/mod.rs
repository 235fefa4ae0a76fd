//! Shared helpers for the operations-kit tests (`dashboards/`): paths, external tools, file loading.
//!
//! Each integration test crate compiles this module on its own and uses only part of it.
#![allow(dead_code)]

pub mod logql;
pub mod promql;
pub mod queries;
pub mod stack;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root (where Cargo.toml lives).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `dashboards/` joined with `rel`.
pub fn kit(rel: &str) -> PathBuf {
    repo_root().join("dashboards").join(rel)
}

/// Reads a UTF-8 file, panicking with its path.
pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Parses a YAML file into a generic value.
pub fn yaml(path: &Path) -> serde_yaml::Value {
    serde_yaml::from_str(&read(path))
        .unwrap_or_else(|e| panic!("{}: invalid YAML: {e}", path.display()))
}

/// Parses a JSON file into a generic value.
pub fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&read(path))
        .unwrap_or_else(|e| panic!("{}: invalid JSON: {e}", path.display()))
}

/// Files directly in `dir` whose name ends with one of `exts`, sorted.
pub fn files_in(dir: &Path, exts: &[&str]) -> Vec<PathBuf> {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("list {}: {e}", dir.display()));
    let mut files: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.is_file())
        .filter(|path| exts.iter().any(|ext| path.to_string_lossy().ends_with(ext)))
        .collect();
    files.sort();
    files
}

pub(crate) use super::promtool::in_ci;

/// Returns `true` when the test may go on. When something it needs is missing the test fails under CI
/// and is skipped (with a note on stderr) elsewhere.
pub fn require(what: &str, present: bool, hint: &str) -> bool {
    if present {
        return true;
    }
    assert!(!in_ci(), "{what} is missing and CI is set: {hint}");
    note(&format!("note: skipping, {what} is missing ({hint})"));
    false
}

/// Prints a line on stderr even when the test passes: written to the handle, not with `eprintln!`,
/// which the test harness captures.
pub fn note(line: &str) {
    let _ = std::io::Write::write_all(&mut std::io::stderr(), format!("{line}\n").as_bytes());
}

/// Finds an executable on PATH.
pub fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(tool))
        .find(|candidate| candidate.is_file())
}

/// Finds `tool` on PATH, or fails under CI / skips elsewhere (`None`).
pub fn tool(tool: &str, package: &str) -> Option<PathBuf> {
    let found = which(tool);
    let hint = format!("apt-get install -y {package}");
    if require(tool, found.is_some(), &hint) {
        found
    } else {
        None
    }
}

/// Runs a command to completion; panics if it cannot be started.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// stdout and stderr of `out` as one string, for failure messages.
pub fn output_text(out: &Output) -> String {
    format!(
        "status: {}\n--- stdout\n{}--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Labels each metric may carry: the catalogue, plus the outputs of the recording rules (whose labels follow
/// from their expressions) with the global labels.
pub fn known_labels() -> impl Fn(&str) -> Option<std::collections::BTreeSet<String>> {
    let mut recorded = std::collections::BTreeMap::new();
    for rule in queries::prometheus_rules().into_iter().filter(|r| !r.alert) {
        let expr = promql::parse(&rule.expr).unwrap_or_else(|e| panic!("rule {}: {e}", rule.name));
        recorded.insert(rule.name, expr);
    }
    move |metric: &str| {
        promql::catalogue_labels(metric).or_else(|| {
            let expr = recorded.get(metric)?;
            let mut labels =
                promql::result_labels(expr, &promql::catalogue_labels).unwrap_or_default();
            labels.extend(promql::GLOBAL_LABELS.iter().map(|l| l.to_string()));
            Some(labels)
        })
    }
}
