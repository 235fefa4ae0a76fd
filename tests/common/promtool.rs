//! `promtool check metrics`, shared by the integration tests (through
//! `reliability`) and the exporter's unit tests (through `#[path]`).

use std::io::Write as _;
use std::process::{Command, Stdio};

/// Runs `promtool check metrics` on `text`; panics on any complaint. Without
/// promtool: fails when `CI` is set, else prints a note and returns false.
pub(crate) fn promtool_check_metrics(text: &str) -> bool {
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) if in_ci() => {
            panic!("CI is set but promtool cannot run: {e}")
        }
        Err(e) => {
            eprintln!("note: promtool not available ({e}); skipping the promtool check");
            return false;
        }
    };
    // UNWRAP: stdin was piped above.
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(text.as_bytes()).expect("feed promtool");
    drop(stdin);
    let out = child.wait_with_output().expect("promtool ran");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool: {said}\n--- input ---\n{text}"
    );
    true
}

/// Whether the run is CI (`CI` set to anything but empty, "0" or "false"):
/// a missing tool then fails the test instead of skipping it.
pub(crate) fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}
