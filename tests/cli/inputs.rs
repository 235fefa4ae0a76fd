//! Where lines come from: a custom file prefix, symbolic links, named files
//! and standard input (plain or gzip), and the lines a reader must survive
//! (an unterminated NUL-filled tail, deep nesting).

use crate::common::cli as common;

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::Stdio;

use common::{bin, run};

fn event(ts: &str, evt: &str) -> String {
    format!(r#"{{"ts":"{ts}","level":"info","evt":"{evt}","source":"s","msg":"","meta":{{}}}}"#)
}

fn write_lines(path: &Path, lines: &[String]) {
    fs::write(path, lines.join("\n") + "\n").expect("write");
}

fn evts(stdout: &str) -> Vec<String> {
    common::ts_evt(stdout).into_iter().map(|(_, e)| e).collect()
}

#[test]
fn files_with_a_custom_prefix_are_found_or_chosen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().display().to_string();
    write_lines(
        &dir.path().join("translator-2025-10-06.jsonl"),
        &[event("2025-10-06T01:00:00.000Z", "a")],
    );
    let found = run(&["query", "--dir", &d]);
    assert_eq!(
        (found.code, evts(&found.stdout)),
        (Some(0), vec!["a".into()])
    );
    write_lines(
        &dir.path().join("other-2025-10-06.jsonl"),
        &[event("2025-10-06T02:00:00.000Z", "b")],
    );
    let ambiguous = run(&["query", "--dir", &d]);
    assert_eq!(ambiguous.code, Some(2));
    assert_eq!(
        ambiguous.stderr,
        format!(
            "evt-telemetry: {d} holds day files with several prefixes (other, translator): choose one with --prefix\n"
        )
    );
    let chosen = run(&["query", "--dir", &d, "--prefix", "other"]);
    assert_eq!(evts(&chosen.stdout), ["b"]);
}

#[cfg(unix)]
#[test]
fn a_symlinked_day_file_is_reported_not_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().display().to_string();
    let real = dir.path().join("kept-elsewhere.jsonl");
    write_lines(&real, &[event("2025-10-06T01:00:00.000Z", "linked")]);
    let link = dir.path().join("events-2025-10-06.jsonl");
    std::os::unix::fs::symlink(&real, &link).expect("symlink");
    let r = run(&["query", "--dir", &d]);
    assert_eq!((r.code, r.stdout.as_str()), (Some(0), ""));
    assert_eq!(
        r.stderr,
        format!(
            "evt-telemetry: {}: a symbolic link, not read (name it as a FILE argument to read it)\n\
             evt-telemetry: no events-YYYY-MM-DD.jsonl[.gz] files in {d}\n",
            link.display()
        )
    );
    let named = run(&["query", &link.display().to_string()]);
    assert_eq!(evts(&named.stdout), ["linked"]);
}

#[test]
fn named_files_and_standard_input_are_read_in_order_gzip_or_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    let plain = dir.path().join("copied.log");
    write_lines(&plain, &[event("2025-10-06T01:00:00.000Z", "plain")]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all((event("2025-10-07T01:00:00.000Z", "from_stdin") + "\n").as_bytes())
        .expect("compress");
    let gz = gz.finish().expect("finish");
    let mut child = bin()
        .args(["query", &plain.display().to_string(), "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&gz)
        .expect("feed stdin");
    let out = child.wait_with_output().expect("wait");
    let stdout = String::from_utf8(out.stdout).expect("utf8");
    assert_eq!(evts(&stdout), ["plain", "from_stdin"]);
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

#[test]
fn a_nul_filled_unterminated_tail_is_skipped_as_one_malformed_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("events-2025-10-06.jsonl");
    let mut text = event("2025-10-06T01:00:00.000Z", "before") + "\n";
    text.push_str(&"x".repeat(5000));
    text.push('\n');
    text.push_str(&(event("2025-10-06T02:00:00.000Z", "after") + "\n"));
    let mut bytes = text.into_bytes();
    bytes.extend(std::iter::repeat_n(0u8, 3 * 1024 * 1024));
    fs::write(&path, bytes).expect("write");
    let d = dir.path().display().to_string();
    let r = run(&["stats", "--dir", &d, "--max-line-bytes", "4096", "--json"]);
    assert_eq!(
        r.stdout,
        r#"{"by":["evt"],"every_s":null,"groups":[{"count":1,"key":{"evt":"after"}},{"count":1,"key":{"evt":"before"}}],"malformed":2,"total":2,"value":null}
"#
    );
    let p = path.display();
    assert_eq!(
        r.stderr,
        format!(
            "evt-telemetry: {p}:2: malformed line: 5001 bytes, over the 4096-byte line cap (--max-line-bytes)\n\
             evt-telemetry: {p}:4: malformed line: 3145728 bytes, over the 4096-byte line cap (--max-line-bytes)\n\
             evt-telemetry: skipped 2 malformed line(s)\n"
        )
    );
}

#[test]
fn deeply_nested_meta_is_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let deep = "[".repeat(1000) + &"]".repeat(1000);
    let line = format!(
        r#"{{"ts":"2025-10-06T01:00:00.000Z","level":"info","evt":"deep","meta":{{"tree":{deep},"k":"v"}}}}"#
    );
    write_lines(&dir.path().join("events-2025-10-06.jsonl"), &[line]);
    let d = dir.path().display().to_string();
    let r = run(&["stats", "--dir", &d, "--by", "meta.k"]);
    assert_eq!(
        (r.stdout.as_str(), r.stderr.as_str()),
        ("meta.k  count\nv       1\n", "")
    );
}
