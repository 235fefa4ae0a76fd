//! Shutdown with a backlog: every line is written within the timeout, or
//! the exact number not written is counted and printed on stderr.

use crate::common;
use crate::common::reliability;

use std::path::Path;
use std::time::Duration;

use common::*;
use evt_telemetry::Stats;
use metrics_exporter_prometheus::PrometheusBuilder;
use reliability::child_test;
use tracing::info;

/// Emits `n` numbered events under the layer built from `b`, then shuts down.
fn emit_then_shutdown(b: evt_telemetry::TelemetryBuilder, n: u64, before: impl FnOnce()) -> Stats {
    let guard = run_keep(b, || {
        for seq in 0..n {
            info!(
                evt = "backlog",
                seq,
                pad = "0123456789abcdef0123456789abcdef"
            );
        }
    });
    before();
    guard.shutdown()
}

#[test]
fn a_backlog_that_drains_in_time_is_written_whole() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at_ms(T0_MS);
    let stats = emit_then_shutdown(builder(dir.path(), &clock), 50_000, || {});
    assert_eq!((stats.lines_written, stats.shutdown_unwritten), (50_000, 0));
    assert_eq!(lines(day_file(dir.path(), "2025-10-06")).len(), 50_000);
}

#[cfg(target_os = "linux")]
#[test]
fn a_failing_sink_and_a_short_timeout_count_exactly_the_lines_not_written() {
    const N: u64 = 20_000;
    let dir = tempfile::tempdir().unwrap();
    // A directory where the day file should be: every open fails (EISDIR),
    // and the writer would retry for a minute.
    std::fs::create_dir(day_file(dir.path(), "2025-10-06")).unwrap();
    let clock = ManualClock::at_ms(T0_MS);
    let b = builder(dir.path(), &clock)
        .write_retry(Duration::from_secs(60))
        .queue_capacity_bytes(16 << 20)
        .shutdown_timeout(Duration::from_millis(200))
        .stderr_diagnostics(false);
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let stats = metrics::with_local_recorder(&recorder, || emit_then_shutdown(b, N, || {}));
    assert_eq!(stats.lines_queued, N);
    assert_eq!(
        (
            stats.lines_written,
            stats.unwritten,
            stats.shutdown_unwritten
        ),
        (0, 0, N),
        "{stats:?}"
    );
    assert!(stats.write_errors >= 1);
    let text = handle.render();
    assert!(
        text.contains(&format!(
            "telemetry_dropped_events_total{{reason=\"shutdown_timeout\"}} {N}\n"
        )),
        "{text}"
    );
}

#[test]
fn a_slow_sink_gets_a_prefix_of_the_lines_and_the_rest_is_counted_exactly() {
    // A slow disk: each write call takes 300 ms (the writer refuses FIFOs
    // and devices as day files, so the delay is injected by a hidden
    // builder setting). 4,000 lines (~600 KB) fit in the queue (1 MiB), so
    // emitting never waits. The writer takes a batch of a quarter of the
    // queue and is inside its slow write when shutdown starts; the 20 ms
    // timeout runs out, the queued rest is given up, and the batch being
    // written is finished (within the 1 s grace).
    const N: u64 = 4_000;
    let dir = tempfile::tempdir().unwrap();
    let path = day_file(dir.path(), "2025-10-06");
    let clock = ManualClock::at_ms(T0_MS);
    let b = builder(dir.path(), &clock)
        .max_line_bytes(1024)
        .queue_capacity_bytes(1024 * 1024)
        .write_delay_for_tests(Duration::from_millis(300))
        .shutdown_timeout(Duration::from_millis(20));
    let stats = emit_then_shutdown(b, N, || {});
    let seqs: Vec<u64> = lines(&path)
        .iter()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["meta"]["seq"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(
        seqs,
        (0..seqs.len() as u64).collect::<Vec<_>>(),
        "not a prefix"
    );
    assert!(
        stats.shutdown_unwritten > 0,
        "the sink was not slow: {stats:?}"
    );
    assert_eq!(stats.lines_written, seqs.len() as u64, "{stats:?}");
    assert_eq!(
        stats.lines_written + stats.shutdown_unwritten,
        N,
        "{stats:?}"
    );
    eprintln!(
        "slow sink: {} lines written, {} not written (counted)",
        stats.lines_written, stats.shutdown_unwritten
    );
}

const CHILD_ENV: &str = "EVT_SHUTDOWN_CHILD_DIR";

/// The child's role (the test below re-run with `CHILD_ENV` set): a failing
/// sink, a backlog of 20,000 lines, the guard dropped.
fn child_drops_its_guard(dir: std::ffi::OsString) {
    let dir = Path::new(&dir);
    std::fs::create_dir(day_file(dir, "2025-10-06")).unwrap();
    let clock = ManualClock::at_ms(T0_MS);
    let b = builder(dir, &clock)
        .write_retry(Duration::from_secs(60))
        .queue_capacity_bytes(16 << 20)
        .shutdown_timeout(Duration::from_millis(100))
        .stderr_diagnostics(false);
    run_with(b, || {
        for seq in 0..20_000u64 {
            info!(evt = "backlog", seq);
        }
    });
}

#[cfg(target_os = "linux")]
#[test]
fn dropping_the_guard_prints_the_exact_number_not_written() {
    if let Some(dir) = std::env::var_os(CHILD_ENV) {
        return child_drops_its_guard(dir);
    }
    let dir = tempfile::tempdir().unwrap();
    let out = child_test(
        "shutdown::dropping_the_guard_prints_the_exact_number_not_written",
        CHILD_ENV,
        &dir.path().to_string_lossy(),
    )
    .output()
    .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let said: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("evt-telemetry:"))
        .collect();
    assert_eq!(
        said,
        ["evt-telemetry: shutdown timeout (100ms) reached: 20000 lines not written"],
        "{stderr}"
    );
}
