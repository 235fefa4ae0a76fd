//! A full disk, and a directory made read-only or replaced while running:
//! the app keeps running, failed writes and lines given up are counted
//! exactly, no line is ever half-written, and writing resumes by itself.
//!
//! The real thing needs `mount` (root with CAP_SYS_ADMIN): a 1 MiB tmpfs for
//! the full disk, a read-only tmpfs mounted over the directory. Where
//! mounting is not permitted the tests fall back to a directory where the day
//! file should be (every open fails; the writer refuses symlinks, so a link
//! to /dev/full is no longer a way in) and to a directory replaced by a
//! regular file, and say so on stderr (`EVT_TEST_NO_MOUNT=1` forces the
//! fallbacks).

use crate::common;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;
use evt_telemetry::{Guard, Stats, TelemetryBuilder};
use tracing::info;

/// A tmpfs mounted for the test, unmounted on drop.
struct Mount(PathBuf);

impl Mount {
    /// `None` where mounting is not permitted (or `EVT_TEST_NO_MOUNT` is set,
    /// to exercise the fallbacks).
    fn tmpfs(at: &Path, options: &str) -> Option<Mount> {
        std::fs::create_dir_all(at).unwrap();
        if std::env::var_os("EVT_TEST_NO_MOUNT").is_some() {
            return None;
        }
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(at)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Mount(at.to_owned()))
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the file system of `dir` until a write fails.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let chunk = vec![b'x'; 64 * 1024];
    while f.write_all(&chunk).is_ok() {}
    // Whatever is left is less than one page: nothing more can be allocated.
    let _ = f.write_all(b"x");
    path
}

/// Runs `f` with the layer of `b` current, keeping the guard.
fn with_layer(b: TelemetryBuilder, f: impl FnOnce(&Guard)) -> Stats {
    let (layer, guard) = b.build().unwrap();
    let subscriber =
        tracing_subscriber::layer::SubscriberExt::with(tracing_subscriber::registry(), layer);
    tracing::subscriber::with_default(subscriber, || f(&guard));
    guard.shutdown()
}

fn emit(evt: &str, n: u64, guard: &Guard) {
    for seq in 0..n {
        info!(
            evt,
            seq,
            model = "deepseek/deepseek-v3.2-exp",
            pad = "0123456789abcdef"
        );
    }
    guard.flush().unwrap();
}

fn quick_retry(dir: &Path, clock: &ManualClock) -> TelemetryBuilder {
    builder(dir, clock)
        .write_retry(Duration::from_millis(100))
        .stderr_diagnostics(false)
}

/// Every line parses; returns the count per `evt`.
fn count_by_evt(path: &Path) -> std::collections::BTreeMap<String, u64> {
    let mut counts = std::collections::BTreeMap::new();
    for line in lines(path) {
        let v: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
        *counts
            .entry(v["evt"].as_str().unwrap().to_owned())
            .or_insert(0) += 1;
    }
    counts
}

#[test]
fn a_full_disk_counts_every_line_given_up_and_writing_resumes_when_space_returns() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(mnt) = Mount::tmpfs(&tmp.path().join("mnt"), "size=1m") else {
        eprintln!(
            "note: cannot mount a tmpfs here; falling back to a day file that cannot be opened"
        );
        return full_disk_fallback(tmp.path());
    };
    let logs = mnt.0.join("logs");
    let clock = ManualClock::at_ms(T0_MS);
    let day = day_file(&logs, "2025-10-06");
    let mut filler = PathBuf::new();
    let stats = with_layer(quick_retry(&logs, &clock), |guard| {
        // 1. Full before the first write: all 500 lines are given up.
        filler = fill(&mnt.0);
        emit("lost", 500, guard);
        let full = guard.stats();
        assert_eq!((full.lines_written, full.unwritten), (0, 500), "{full:?}");
        assert!(full.write_errors >= 1);
        // 2. Space returns: writing resumes by itself.
        std::fs::remove_file(&filler).unwrap();
        emit("kept", 500, guard);
        assert_eq!(guard.stats().lines_written, 500);
        // 3. Full again while the day file's last page has room: batches
        //    are partly written, then rolled back; never half a line.
        filler = fill(&mnt.0);
        for _ in 0..5 {
            emit("burst", 200, guard);
        }
        std::fs::remove_file(&filler).unwrap();
        emit("after", 10, guard);
    });
    let counts = count_by_evt(&day);
    eprintln!("full disk: {stats:?}\n  on disk: {counts:?}");
    assert_eq!(counts.get("lost"), None);
    assert_eq!(counts["kept"], 500);
    assert_eq!(counts["after"], 10);
    let on_disk: u64 = counts.values().sum();
    assert_eq!(stats.lines_written, on_disk);
    assert_eq!(stats.lines_written + stats.unwritten, 500 + 500 + 1000 + 10);
    assert!(
        stats.unwritten > 500,
        "the second fill lost nothing: {stats:?}"
    );
}

fn full_disk_fallback(tmp: &Path) {
    let clock = ManualClock::at_ms(T0_MS);
    let day = day_file(tmp, "2025-10-06");
    std::fs::create_dir(&day).unwrap();
    let stats = with_layer(quick_retry(tmp, &clock), |guard| {
        emit("lost", 500, guard);
        assert_eq!(guard.stats().unwritten, 500);
        std::fs::remove_dir(&day).unwrap();
        emit("kept", 500, guard);
    });
    assert_eq!((stats.lines_written, stats.unwritten), (500, 500));
    assert_eq!(count_by_evt(&day)["kept"], 500);
}

#[test]
fn a_directory_made_read_only_while_running_counts_then_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    let clock = ManualClock::at_ms(T0_MS);
    let mut how = "";
    let stats = with_layer(quick_retry(&logs, &clock), |guard| {
        emit("before", 100, guard);
        // The kernel refuses `mount -o remount,ro` while the writer holds its
        // file open for writing, so a read-only file system is mounted over
        // the directory: the path is then read-only, like after an error remount.
        let ro = Mount::tmpfs(&logs, "ro,size=64k");
        let replaced = tmp.path().join("logs.away");
        if ro.is_some() {
            how = "read-only tmpfs mounted over the directory";
        } else {
            how = "directory replaced by a regular file (cannot mount here)";
            std::fs::rename(&logs, &replaced).unwrap();
            std::fs::write(&logs, "not a directory").unwrap();
        }
        emit("lost", 300, guard);
        let failed = guard.stats();
        assert_eq!(failed.unwritten, 300, "{how}: {failed:?}");
        assert!(failed.write_errors >= 1);
        match ro {
            Some(mount) => drop(mount),
            None => {
                std::fs::remove_file(&logs).unwrap();
                std::fs::rename(&replaced, &logs).unwrap();
            }
        }
        emit("after", 100, guard);
    });
    eprintln!("{how}: {stats:?}");
    let counts = count_by_evt(&day_file(&logs, "2025-10-06"));
    assert_eq!(counts.get("lost"), None);
    assert_eq!((counts["before"], counts["after"]), (100, 100));
    assert_eq!((stats.lines_written, stats.unwritten), (200, 300));
}

#[test]
fn a_directory_replaced_by_a_file_while_running_counts_then_recreates_it() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    let clock = ManualClock::at_ms(T0_MS);
    let stats = with_layer(quick_retry(&logs, &clock), |guard| {
        emit("before", 100, guard);
        std::fs::remove_dir_all(&logs).unwrap();
        std::fs::write(&logs, "not a directory").unwrap();
        emit("lost", 300, guard);
        assert_eq!(guard.stats().unwritten, 300);
        // The file goes away: the writer recreates the directory.
        std::fs::remove_file(&logs).unwrap();
        emit("after", 100, guard);
    });
    let counts = count_by_evt(&day_file(&logs, "2025-10-06"));
    assert_eq!(
        counts.into_iter().collect::<Vec<_>>(),
        [("after".to_owned(), 100)]
    );
    assert_eq!((stats.lines_written, stats.unwritten), (200, 300));
}
