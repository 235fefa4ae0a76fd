//! `tail`: the last lines of the newest file, then new lines, following into
//! the next day's file when it appears (as the writer does at UTC midnight).

use crate::common::cli as common;

use std::fs::{self, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

/// Longest wait for one expected line.
const WAIT: Duration = Duration::from_secs(10);

fn event(ts: &str, evt: &str) -> String {
    format!(r#"{{"ts":"{ts}","level":"info","evt":"{evt}","source":"s","msg":"","meta":{{}}}}"#)
}

fn append(path: &Path, text: &str) {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open for append");
    f.write_all(text.as_bytes()).expect("append");
}

/// Kills the child when the test ends, passing or not.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Lines of the child's stdout, read on a thread.
/// `tail --dir DIR --poll-ms 20` plus `args`, its stdout piped.
fn spawn_tail(dir: &Path, args: &[&str], stderr: Stdio) -> Child {
    let dir = dir.display().to_string();
    common::bin()
        .args(["tail", "--dir", &dir, "--poll-ms", "20"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("spawn tail")
}

fn lines_of(child: &mut Child) -> Receiver<String> {
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn next(rx: &Receiver<String>, what: &str) -> String {
    rx.recv_timeout(WAIT)
        .unwrap_or_else(|e| panic!("no line for {what} within {WAIT:?}: {e}"))
}

#[test]
fn tail_prints_the_last_lines_then_follows_into_the_next_days_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let day1 = dir.path().join("events-2025-10-06.jsonl");
    let day2 = dir.path().join("events-2025-10-07.jsonl");
    fs::write(
        dir.path().join("events-2025-10-05.jsonl"),
        event("2025-10-05T12:00:00.000Z", "old") + "\n",
    )
    .expect("write");
    fs::write(
        &day1,
        [
            event("2025-10-06T23:59:00.000Z", "a"),
            event("2025-10-06T23:59:01.000Z", "b"),
            String::new(),
        ]
        .join("\n"),
    )
    .expect("write");
    let mut child = spawn_tail(
        dir.path(),
        &["--lines", "1", "--evt", "a,b,c,d,e"],
        Stdio::null(),
    );
    let rx = lines_of(&mut child);
    let _guard = Killed(child);

    assert_eq!(
        next(&rx, "the last line of the newest file"),
        event("2025-10-06T23:59:01.000Z", "b")
    );
    // A line written in two parts is printed once complete.
    let c = event("2025-10-06T23:59:59.000Z", "c");
    append(&day1, &c[..20]);
    std::thread::sleep(Duration::from_millis(100));
    append(
        &day1,
        &format!(
            "{}\n{}\n",
            &c[20..],
            event("2025-10-06T23:59:59.500Z", "skipped_by_filter")
        ),
    );
    assert_eq!(next(&rx, "a line appended to day one"), c);
    // Midnight: the writer opens the next day's file.
    let d = event("2025-10-07T00:00:00.001Z", "d");
    append(&day2, &format!("{d}\n"));
    assert_eq!(next(&rx, "the first line of day two"), d);
    let e = event("2025-10-07T00:00:01.000Z", "e");
    append(&day2, &format!("{e}\n"));
    assert_eq!(next(&rx, "a line appended to day two"), e);
    assert!(
        rx.recv_timeout(Duration::from_millis(200)).is_err(),
        "nothing else is printed"
    );
}

#[test]
fn tail_of_a_missing_directory_exits_2() {
    let r = common::run(&["tail", "--dir", "/definitely/not/here"]);
    assert_eq!(r.code, Some(2));
    assert_eq!(
        r.stderr,
        "evt-telemetry: log directory /definitely/not/here: No such file or directory (os error 2)\n"
    );
}

#[test]
fn tail_follows_a_file_that_appears_after_start_from_its_first_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = spawn_tail(dir.path(), &["--lines", "2"], Stdio::piped());
    let rx = lines_of(&mut child);
    let stderr = child.stderr.take().expect("piped stderr");
    let _guard = Killed(child);
    std::thread::sleep(Duration::from_millis(100));
    // More lines than --lines, all written before tail's next poll: every
    // one is new, so every one is shown.
    let events: Vec<String> = (0..5)
        .map(|i| event(&format!("2025-10-06T00:00:0{i}.000Z"), &format!("e{i}")))
        .collect();
    fs::write(
        dir.path().join("app-2025-10-06.jsonl"),
        events.join("\n") + "\n",
    )
    .expect("write");
    for (i, e) in events.iter().enumerate() {
        assert_eq!(&next(&rx, &format!("line {i} of the new file")), e);
    }
    drop(_guard);
    let mut note = String::new();
    std::io::Read::read_to_string(&mut BufReader::new(stderr), &mut note).expect("stderr");
    assert_eq!(
        note,
        format!(
            "evt-telemetry: no events-YYYY-MM-DD.jsonl[.gz] files in {}\n",
            dir.path().display()
        )
    );
}
