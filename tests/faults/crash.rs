//! A process killed with SIGKILL while writing at full speed: after the next
//! start's repair every line parses, each writer thread's lines are a
//! gap-free prefix of what it emitted (lost lines only at the tail), and
//! every line the writer had reported written survived.

use crate::common;
use crate::common::reliability;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::*;
use reliability::{Rng, child_test};
use tracing::info;

const CHILD_ENV: &str = "EVT_CRASH_CHILD_DIR";
const RUNS: u64 = 20;
const THREADS: u64 = 4;

/// The child's role (the crash test re-run with `CHILD_ENV` set): 4
/// threads emitting numbered events as fast as they can, the main thread
/// printing `written <lines_written>` every 2 ms, until killed.
fn child_writer(dir: std::ffi::OsString) {
    let run: u64 = std::env::var("EVT_CRASH_RUN").unwrap().parse().unwrap();
    let clock = ManualClock::at_ms(T0_MS);
    let (layer, guard) = builder(Path::new(&dir), &clock).build().unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::layer::SubscriberExt::with(
        tracing_subscriber::registry(),
        layer,
    ));
    for t in 0..THREADS {
        let dispatch = dispatch.clone();
        std::thread::spawn(move || {
            tracing::dispatcher::with_default(&dispatch, || {
                for seq in 0u64.. {
                    info!(evt = "crash", run, t, seq, pad = "0123456789abcdef");
                }
            })
        });
    }
    loop {
        println!("written {}", guard.stats().lines_written);
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// What the parent learnt from one killed child.
struct Killed {
    reported_written: u64,
    after_ms: u64,
}

fn run_and_kill(dir: &Path, run: u64, rng: &mut Rng) -> Killed {
    let mut child = child_test(
        "crash::sigkill_at_random_moments_leaves_only_whole_ordered_lines",
        CHILD_ENV,
        &dir.to_string_lossy(),
    )
    .env("EVT_CRASH_RUN", run.to_string())
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .spawn()
    .expect("spawn the child");
    let written = Arc::new(AtomicU64::new(0));
    let stdout = child.stdout.take().unwrap();
    let w = written.clone();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(n) = line.strip_prefix("written ") {
                w.store(n.parse().unwrap(), Ordering::SeqCst);
            }
        }
    });
    // Wait until lines reach the file, then kill at a random moment.
    let started = Instant::now();
    while written.load(Ordering::SeqCst) == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "child never wrote"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    let after_ms = rng.below(150);
    std::thread::sleep(Duration::from_millis(after_ms));
    child.kill().expect("SIGKILL");
    child.wait().unwrap();
    reader.join().unwrap();
    Killed {
        reported_written: written.load(Ordering::SeqCst),
        after_ms,
    }
}

/// Checks the lines appended since `from` (all of run `run`); returns the
/// new file length and the number of lines.
fn check_appended(path: &Path, from: u64, run: u64, reported: u64) -> (u64, u64) {
    let mut file = std::fs::File::open(path).unwrap();
    file.seek(SeekFrom::Start(from)).unwrap();
    let mut text = String::new();
    file.read_to_string(&mut text)
        .expect("the file is valid UTF-8 after repair");
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "run {run}: torn tail left"
    );
    let mut next: HashMap<u64, u64> = HashMap::new();
    let mut n = 0;
    for line in text.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("run {run}: {e}: {line}"));
        let meta = &v["meta"];
        assert_eq!(meta["run"], run, "a line of another run: {line}");
        let (t, seq) = (meta["t"].as_u64().unwrap(), meta["seq"].as_u64().unwrap());
        let expected = next.entry(t).or_insert(0);
        assert_eq!(
            seq, *expected,
            "run {run} thread {t}: gap or reordering (lines may only be lost at the tail)"
        );
        *expected += 1;
        n += 1;
    }
    assert!(
        n >= reported,
        "run {run}: {n} lines on disk, but the writer had reported {reported} written"
    );
    (from + text.len() as u64, n)
}

#[test]
fn sigkill_at_random_moments_leaves_only_whole_ordered_lines() {
    if let Some(dir) = std::env::var_os(CHILD_ENV) {
        return child_writer(dir);
    }
    let dir = tempfile::tempdir().unwrap();
    let path = day_file(dir.path(), "2025-10-06");
    let clock = ManualClock::at_ms(T0_MS);
    let mut rng = Rng::from_env_or_time("crash test");
    let (mut offset, mut total, mut repaired) = (0u64, 0u64, 0u64);
    let started = Instant::now();
    for run in 0..RUNS {
        let killed = run_and_kill(dir.path(), run, &mut rng);
        // The next start repairs a torn tail before anything reads the file.
        let (_layer, guard) = builder(dir.path(), &clock)
            .build::<tracing_subscriber::Registry>()
            .unwrap();
        repaired += guard.stats().torn_lines_repaired;
        drop(guard);
        let (end, lines) = check_appended(&path, offset, run, killed.reported_written);
        eprintln!(
            "run {run:2}: killed {:3} ms after the first write; {lines} lines on disk \
             (writer had reported {} written)",
            killed.after_ms, killed.reported_written
        );
        (offset, total) = (end, total + lines);
    }
    eprintln!(
        "{RUNS} kills: {total} lines checked, {repaired} torn tails repaired, {:?}",
        started.elapsed()
    );
}

#[test]
fn torn_tails_in_yesterdays_and_todays_files_are_both_counted() {
    let dir = tempfile::tempdir().unwrap();
    let torn = "{\"ts\":\"2025-10-06T00:00:00.000Z\",\"evt\":\"ok\"}\n{\"ts\":\"2025-1";
    std::fs::write(day_file(dir.path(), "2025-10-05"), torn).unwrap();
    std::fs::write(day_file(dir.path(), "2025-10-06"), torn).unwrap();
    let clock = ManualClock::at_ms(T0_MS);
    let guard = run_keep(builder(dir.path(), &clock), || info!(evt = "next"));
    guard.flush().unwrap();
    // Counted at start-up, and still after the first batch is written.
    assert_eq!(guard.stats().torn_lines_repaired, 2);
    drop(guard);
    assert_eq!(lines(day_file(dir.path(), "2025-10-05")).len(), 1);
    assert_eq!(lines(day_file(dir.path(), "2025-10-06")).len(), 2);
}
