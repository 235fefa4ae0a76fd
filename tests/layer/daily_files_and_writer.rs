//! Day files, the writer's guarantees, and build-time errors.

use crate::common;

use std::sync::Arc;

use common::*;
use evt_telemetry::{Error, TelemetryBuilder};
use tracing::info;

/// 2025-10-06T23:59:59.999Z
const LAST_MS: u64 = 1_759_795_199_999;

#[test]
fn lines_go_to_the_file_of_their_own_utc_date_across_midnight() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at_ms(LAST_MS);
    let c = clock.clone();
    run_with(builder(dir.path(), &clock), move || {
        info!(evt = "before");
        c.set_ms(LAST_MS + 1);
        info!(evt = "after");
    });
    let day1 = lines(day_file(dir.path(), "2025-10-06"));
    let day2 = lines(day_file(dir.path(), "2025-10-07"));
    assert_eq!(day1.len(), 1);
    assert!(
        day1[0].starts_with(r#"{"ts":"2025-10-06T23:59:59.999Z","level":"info","evt":"before""#)
    );
    assert_eq!(day2.len(), 1);
    assert!(
        day2[0].starts_with(r#"{"ts":"2025-10-07T00:00:00.000Z","level":"info","evt":"after""#)
    );
}

#[test]
fn file_prefix_changes_the_file_name() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at_ms(T0_MS);
    run_with(builder(dir.path(), &clock).file_prefix("audit"), || {
        info!(evt = "x")
    });
    assert_eq!(lines(dir.path().join("audit-2025-10-06.jsonl")).len(), 1);
}

#[test]
fn existing_files_are_appended_to() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at_ms(T0_MS);
    run_with(builder(dir.path(), &clock), || info!(evt = "first"));
    run_with(builder(dir.path(), &clock), || info!(evt = "second"));
    let lines = lines(day_file(dir.path(), "2025-10-06"));
    assert_eq!(lines.len(), 2);
    assert!(lines[1].contains(r#""evt":"second""#));
}

#[test]
fn eight_threads_of_fifty_thousand_events_give_exactly_400000_valid_lines_each_thread_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at_ms(T0_MS);
    let (layer, guard) = builder(dir.path(), &clock)
        .queue_capacity_bytes(256 * 1024)
        .build()
        .unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::layer::SubscriberExt::with(
        tracing_subscriber::registry(),
        layer,
    ));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let dispatch = dispatch.clone();
            std::thread::spawn(move || {
                tracing::dispatcher::with_default(&dispatch, || {
                    for i in 0..50_000u64 {
                        info!(
                            evt = "load",
                            thread = t,
                            i,
                            model = "deepseek/deepseek-v3.2-exp"
                        );
                    }
                })
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    let stats = guard.stats();
    drop(guard);
    let lines = lines(day_file(dir.path(), "2025-10-06"));
    assert_eq!(lines.len(), 400_000);
    // Each thread's lines in its own order (threads that find the queue's
    // lock taken stage their lines: that must not reorder them).
    let mut seen = vec![0u64; 8];
    for line in &lines {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let t = v["meta"]["thread"].as_u64().unwrap() as usize;
        assert_eq!(v["meta"]["i"].as_u64(), Some(seen[t]), "thread {t}");
        seen[t] += 1;
    }
    assert_eq!(seen, vec![50_000; 8]);
    assert_eq!(stats.lines_queued, 400_000);
    assert_eq!(stats.dropped_queue_full, 0);
}

#[test]
fn lossy_mode_counts_exactly_what_it_dropped_and_writes_markers() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at_ms(T0_MS);
    const N: u64 = 200_000;
    let (layer, guard) = builder(dir.path(), &clock)
        .lossy(true)
        .max_line_bytes(1024)
        .queue_capacity_bytes(4096)
        .queue_max_bytes(4096)
        .build()
        .unwrap();
    let subscriber =
        tracing_subscriber::layer::SubscriberExt::with(tracing_subscriber::registry(), layer);
    tracing::subscriber::with_default(subscriber, || {
        for i in 0..N {
            info!(evt = "burst", i);
        }
        // One more after a pause, so the last drops get their marker.
        std::thread::sleep(std::time::Duration::from_millis(300));
        info!(evt = "after_pause");
    });
    drop_and_check(guard, dir.path(), N);
}

fn drop_and_check(guard: evt_telemetry::Guard, dir: &std::path::Path, n: u64) {
    let stats = guard.stats();
    drop(guard);
    let lines = lines(day_file(dir, "2025-10-06"));
    let mut burst = 0u64;
    let mut marked = 0u64;
    for line in &lines {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        match v["evt"].as_str().unwrap() {
            "burst" => burst += 1,
            "telemetry_dropped" => marked += v["meta"]["dropped"].as_u64().unwrap(),
            "after_pause" => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert!(
        stats.dropped_queue_full > 0,
        "nothing was dropped: make the queue smaller"
    );
    assert_eq!(burst + stats.dropped_queue_full, n);
    assert_eq!(marked, stats.dropped_queue_full);
}

#[test]
fn an_unwritable_directory_fails_build_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain-file");
    std::fs::write(&file, "x").unwrap();
    let bad = file.join("telemetry");
    let err = TelemetryBuilder::new()
        .log_dir(&bad)
        .build::<tracing_subscriber::Registry>()
        .unwrap_err();
    assert!(matches!(err, Error::LogDir { .. }));
    assert!(err.to_string().contains(&*bad.to_string_lossy()), "{err}");
}

#[test]
fn out_of_range_settings_fail_build_with_the_value() {
    let cases: Vec<(evt_telemetry::TelemetryBuilder, &str)> = vec![
        (
            TelemetryBuilder::new().file_prefix("a/b"),
            "file_prefix \"a/b\"",
        ),
        (TelemetryBuilder::new().retention_days(0), "retention_days"),
        (
            TelemetryBuilder::new().max_line_bytes(10),
            "max_line_bytes 10",
        ),
        (
            TelemetryBuilder::new().queue_capacity_bytes(2000),
            "queue_capacity_bytes 2000",
        ),
        (
            TelemetryBuilder::new().flush_interval(std::time::Duration::from_secs(2)),
            "flush_interval 2s",
        ),
    ];
    for (b, needle) in cases {
        let err = b.build::<tracing_subscriber::Registry>().unwrap_err();
        assert!(matches!(err, Error::Config(_)), "{err}");
        assert!(
            err.to_string().contains(needle),
            "{err} should name {needle}"
        );
    }
}

#[test]
fn flush_waits_until_queued_lines_are_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at_ms(T0_MS);
    let guard = run_keep(builder(dir.path(), &clock), || {
        for i in 0..1000 {
            info!(evt = "f", i);
        }
    });
    guard.flush().unwrap();
    assert_eq!(lines(day_file(dir.path(), "2025-10-06")).len(), 1000);
    assert_eq!(guard.stats().lines_written, 1000);
    let _ = Arc::new(());
}

#[test]
fn a_torn_last_line_is_repaired_at_start_up_so_no_two_events_share_a_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = day_file(dir.path(), "2025-10-06");
    std::fs::write(
        &path,
        "{\"ts\":\"2025-10-06T00:00:00.000Z\",\"evt\":\"ok\"}\n{\"ts\":\"2025-10-06T00:00:01.0",
    )
    .unwrap();
    let clock = ManualClock::at_ms(T0_MS);
    let (_layer, guard) = builder(dir.path(), &clock)
        .build::<tracing_subscriber::Registry>()
        .unwrap();
    assert_eq!(guard.stats().torn_lines_repaired, 1);
    drop(guard);
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "{\"ts\":\"2025-10-06T00:00:00.000Z\",\"evt\":\"ok\"}\n"
    );
    run_with(builder(dir.path(), &clock), || info!(evt = "next"));
    let lines = lines(&path);
    assert_eq!(lines.len(), 2);
    assert!(lines[1].contains(r#""evt":"next""#));
}

#[test]
fn a_complete_last_line_missing_its_newline_keeps_its_content() {
    let dir = tempfile::tempdir().unwrap();
    let path = day_file(dir.path(), "2025-10-06");
    std::fs::write(&path, "{\"evt\":\"kept\"}").unwrap();
    let clock = ManualClock::at_ms(T0_MS);
    run_with(builder(dir.path(), &clock), || info!(evt = "next"));
    let lines = lines(&path);
    assert_eq!(lines[0], "{\"evt\":\"kept\"}");
    assert!(lines[1].contains(r#""evt":"next""#));
}

#[test]
fn removing_the_directory_while_running_recreates_it_and_keeps_writing() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let clock = ManualClock::at_ms(T0_MS);
    let (layer, guard) = builder(&logs, &clock).build().unwrap();
    let subscriber =
        tracing_subscriber::layer::SubscriberExt::with(tracing_subscriber::registry(), layer);
    tracing::subscriber::with_default(subscriber, || {
        info!(evt = "before");
        guard.flush().unwrap();
        std::fs::remove_dir_all(&logs).unwrap();
        info!(evt = "after");
        guard.flush().unwrap();
    });
    let stats = guard.stats();
    drop(guard);
    let lines = lines(day_file(&logs, "2025-10-06"));
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains(r#""evt":"after""#));
    assert_eq!(stats.lines_written, 2);
    assert_eq!(stats.unwritten, 0);
}

#[cfg(target_os = "linux")]
#[test]
fn a_failing_file_counts_errors_and_unwritten_lines_then_recovers_by_itself() {
    // A directory where the day file should be: every open fails (EISDIR).
    let dir = tempfile::tempdir().unwrap();
    let path = day_file(dir.path(), "2025-10-06");
    std::fs::create_dir(&path).unwrap();
    let clock = ManualClock::at_ms(T0_MS);
    let b = builder(dir.path(), &clock)
        .write_retry(std::time::Duration::from_millis(100))
        .stderr_diagnostics(false);
    let (layer, guard) = b.build().unwrap();
    let subscriber =
        tracing_subscriber::layer::SubscriberExt::with(tracing_subscriber::registry(), layer);
    tracing::subscriber::with_default(subscriber, || {
        info!(evt = "lost");
        guard.flush().unwrap();
        let failed = guard.stats();
        assert!(failed.write_errors >= 1, "{failed:?}");
        assert_eq!(failed.unwritten, 1);
        // The obstacle goes: the writer creates the day file.
        std::fs::remove_dir(&path).unwrap();
        info!(evt = "kept");
        guard.flush().unwrap();
    });
    let stats = guard.stats();
    drop(guard);
    let lines = lines(&path);
    assert_eq!(lines.len(), 1);
    assert!(lines[0].contains(r#""evt":"kept""#));
    assert_eq!((stats.lines_written, stats.unwritten), (1, 1));
}

#[test]
fn retention_at_start_up_deletes_only_old_matching_files() {
    let dir = tempfile::tempdir().unwrap();
    let keep = [
        "events-2025-10-06.jsonl",
        "events-2025-09-22.jsonl",
        "events-2025-10-06.jsonl.bak",
        "other-2025-01-01.jsonl",
        "events-2025-13-01.jsonl",
    ];
    let delete = ["events-2025-09-21.jsonl", "events-2025-01-01.jsonl.gz"];
    for name in keep.iter().chain(&delete) {
        std::fs::write(dir.path().join(name), "{}\n").unwrap();
    }
    let clock = ManualClock::at_ms(T0_MS);
    let (_layer, guard) = builder(dir.path(), &clock)
        .build::<tracing_subscriber::Registry>()
        .unwrap();
    assert_eq!(guard.stats().files_deleted, 2);
    drop(guard);
    for name in keep {
        assert!(dir.path().join(name).exists(), "{name} was deleted");
    }
    for name in delete {
        assert!(!dir.path().join(name).exists(), "{name} was kept");
    }
}

#[test]
fn finished_days_are_gzipped_at_the_day_change_when_asked() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at_ms(LAST_MS);
    let c = clock.clone();
    let (layer, guard) = builder(dir.path(), &clock)
        .gzip_finished_days(true)
        .build()
        .unwrap();
    let subscriber =
        tracing_subscriber::layer::SubscriberExt::with(tracing_subscriber::registry(), layer);
    tracing::subscriber::with_default(subscriber, || {
        info!(evt = "yesterday");
        guard.flush().unwrap();
        c.set_ms(LAST_MS + 1);
        info!(evt = "today");
        guard.flush().unwrap();
    });
    // The writer notices the new day within its flush interval.
    let gz = dir.path().join("events-2025-10-06.jsonl.gz");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while guard.stats().files_compressed == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let stats = guard.stats();
    drop(guard);
    assert_eq!(stats.files_compressed, 1);
    assert!(!day_file(dir.path(), "2025-10-06").exists());
    let mut text = String::new();
    flate2::read::MultiGzDecoder::new(std::fs::File::open(&gz).unwrap())
        .read_to_string(&mut text)
        .unwrap();
    assert_eq!(text.lines().count(), 1);
    assert!(
        text.starts_with(r#"{"ts":"2025-10-06T23:59:59.999Z","level":"info","evt":"yesterday""#)
    );
    assert_eq!(lines(day_file(dir.path(), "2025-10-07")).len(), 1);
}
