//! `init()` in a process of its own: its console honours `RUST_LOG` (set in
//! the child only) and redacts, while every evt event still becomes a line;
//! a bad `RUST_LOG` is a build error; and `let _ = ...init()`, which drops
//! the guard at once, is said on stderr once instead of losing lines
//! silently.

use crate::common;

use common::reliability::in_own_process_with_env;
use common::*;
use evt_telemetry::{Error, TelemetryBuilder};

const CLOSED: &str = "evt-telemetry: an evt event arrived after the Guard was dropped: \
     it is not written (nor any later one). Keep the guard for the life of the program: \
     bind it with `let _guard = ...`, not `let _ = ...`";

/// In the child: `init()`, an INFO evt event with a secret, a WARN message
/// with a token; checks the line written.
fn init_and_log(dir: &std::path::Path) {
    let clock = ManualClock::at_ms(T0_MS);
    let guard = builder(dir, &clock).init().unwrap();
    tracing::info!(
        evt = "openrouter_call",
        api_key = "sk-or-v1-0123456789abcdef0123456789",
        "call ok"
    );
    tracing::warn!("retrying with Bearer abcdefghijklmnopqrst");
    drop(guard);
    assert_eq!(
        lines(day_file(dir, "2025-10-06")),
        [
            r#"{"ts":"2025-10-06T13:43:10.123Z","level":"info","evt":"openrouter_call","source":"layer::init_and_guard","msg":"call ok","meta":{"api_key":"[REDACTED]"}}"#
        ]
    );
}

/// The console lines the child printed, without their timestamps.
fn console(said: &str) -> Vec<&str> {
    said.lines()
        .filter_map(|l| l.split_once("Z ").map(|(_, rest)| rest.trim_start()))
        .collect()
}

#[test]
fn init_console_shows_info_and_above_when_rust_log_is_unset() {
    let dir = tempfile::tempdir().unwrap();
    let name = "init_and_guard::init_console_shows_info_and_above_when_rust_log_is_unset";
    let Some(said) =
        in_own_process_with_env(name, &[("RUST_LOG", None)], || init_and_log(dir.path()))
    else {
        return;
    };
    assert_eq!(
        console(&said),
        [
            "INFO layer::init_and_guard: call ok evt=\"openrouter_call\" api_key=[REDACTED]",
            "WARN layer::init_and_guard: retrying with Bearer [REDACTED]",
        ]
    );
}

#[test]
fn init_console_follows_rust_log_and_every_evt_event_is_still_written() {
    let dir = tempfile::tempdir().unwrap();
    let name = "init_and_guard::init_console_follows_rust_log_and_every_evt_event_is_still_written";
    let Some(said) = in_own_process_with_env(name, &[("RUST_LOG", Some("warn"))], || {
        init_and_log(dir.path())
    }) else {
        return;
    };
    assert_eq!(
        console(&said),
        ["WARN layer::init_and_guard: retrying with Bearer [REDACTED]"]
    );
}

#[test]
fn init_refuses_a_rust_log_it_cannot_parse() {
    let dir = tempfile::tempdir().unwrap();
    let name = "init_and_guard::init_refuses_a_rust_log_it_cannot_parse";
    let env = [("RUST_LOG", Some("info,my_crate=loud"))];
    in_own_process_with_env(name, &env, || {
        match TelemetryBuilder::new().log_dir(dir.path()).init() {
            Err(Error::Config(m)) => {
                assert!(m.starts_with(r#"RUST_LOG="info,my_crate=loud": "#), "{m}")
            }
            other => panic!("expected a Config error, got {other:?}"),
        }
    });
}

#[test]
fn a_guard_dropped_at_once_is_said_once_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let name = "init_and_guard::a_guard_dropped_at_once_is_said_once_on_stderr";
    let Some(said) = in_own_process_with_env(name, &[("RUST_LOG", None)], || {
        let _ = TelemetryBuilder::new()
            .log_dir(dir.path())
            .console_level(tracing::level_filters::LevelFilter::OFF)
            .init();
        for n in 0..3u64 {
            tracing::error!(evt = "openrouter_error", n, "lost");
        }
        // The hidden lock file (`.evt-telemetry.lock`) is not a day file.
        let files = std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                !e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with('.')
            })
            .count();
        assert_eq!(files, 0, "no day file: nothing was written");
    }) else {
        return;
    };
    assert_eq!(said, format!("{CLOSED}\n"));
}
