//! What operators reach for first: text search, OR, CSV/TSV, colour, local
//! time, more aggregates — and tables that stay aligned and inert whatever
//! the log data holds.

use crate::common::cli as common;

use std::fs;

use common::{bin, run};

const LINES: [&str; 5] = [
    r#"{"ts":"2025-10-06T01:00:00.000Z","level":"error","evt":"call","source":"svc","msg":"upstream timeout after 30s","meta":{"model":"m1","user":"u1","cost":0.5}}"#,
    r#"{"ts":"2025-10-06T01:00:01.000Z","level":"info","evt":"call","source":"svc","msg":"ok","meta":{"model":"m1","user":"u2","cost":0.25}}"#,
    r#"{"ts":"2025-10-06T01:00:02.000Z","level":"info","evt":"call","source":"svc","msg":"ok","meta":{"model":"m2","user":"u1","note":"TIMEOUT retried"}}"#,
    r#"{"ts":"2025-10-06T01:00:03.000Z","level":"warning","evt":"call","source":"svc","msg":"slow","meta":{"model":"翻訳","user":"u3"}}"#,
    r#"{"ts":"2025-10-06T01:00:04.000Z","level":"info","evt":"call","source":"svc","msg":"ok","meta":{"model":"\u001b[31mred","user":"u1"}}"#,
];

fn data() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    fs::write(
        dir.path().join("events-2025-10-06.jsonl"),
        LINES.join("\n") + "\n",
    )
    .expect("write");
    let d = dir.path().display().to_string();
    (dir, d)
}

fn msgs(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("JSON line");
            v["msg"].as_str().unwrap_or_default().to_owned()
        })
        .collect()
}

#[test]
fn search_by_substring_regex_any_field_and_alternatives() {
    let (_dir, d) = data();
    let q = |args: &[&str]| {
        let mut all = vec!["query", "--dir", &d];
        all.extend(args);
        let r = run(&all);
        assert_eq!((r.code, r.stderr.as_str()), (Some(0), ""), "{args:?}");
        msgs(&r.stdout)
    };
    assert_eq!(
        q(&["--where", "msg~timeout"]),
        ["upstream timeout after 30s"]
    );
    assert_eq!(
        q(&["--where", "*~(?i)timeout"]),
        ["upstream timeout after 30s", "ok"]
    );
    assert_eq!(q(&["--grep", "TIMEOUT"]), ["ok"]);
    assert_eq!(
        q(&["--where", "level=warning || meta.cost>0.3"]),
        ["upstream timeout after 30s", "slow"]
    );
    assert_eq!(
        q(&["--where", "meta.user=u1", "--where", "msg!~^ok$"]),
        ["upstream timeout after 30s"]
    );
}

#[test]
fn stats_sum_distinct_error_rate_and_top_n() {
    let (_dir, d) = data();
    let r = run(&[
        "stats",
        "--dir",
        &d,
        "--by",
        "evt",
        "--value",
        "meta.cost",
        "--distinct",
        "meta.user",
        "--error-rate",
        "--json",
    ]);
    assert_eq!(
        r.stdout,
        r#"{"by":["evt"],"every_s":null,"groups":[{"count":5,"distinct":3,"error_rate":0.2,"errors":1,"key":{"evt":"call"},"value":{"exact":true,"max":0.5,"mean":0.375,"min":0.25,"n":2,"p50":0.25,"p95":0.5,"p99":0.5,"sum":0.75}}],"malformed":0,"total":5,"value":"meta.cost"}
"#
    );
    let top = run(&["stats", "--dir", &d, "--by", "meta.user", "--limit", "2"]);
    assert_eq!(top.stdout, "meta.user  count\nu1         3\nu2         1\n");
}

#[test]
fn tables_escape_control_characters_and_align_wide_ones() {
    let (_dir, d) = data();
    let r = run(&["stats", "--dir", &d, "--by", "meta.model"]);
    assert_eq!(
        r.stdout,
        "meta.model     count\n\
         m1             2\n\
         \\u{1b}[31mred  1\n\
         m2             1\n\
         翻訳           1\n"
    );
}

#[test]
fn csv_and_tsv_for_every_table() {
    let (_dir, d) = data();
    let csv = run(&["query", "--dir", &d, "--csv", "--level", "warning"]);
    assert_eq!(
        csv.stdout,
        "ts,level,evt,source,msg,meta\n\
         2025-10-06T01:00:00.000Z,error,call,svc,upstream timeout after 30s,model=m1 user=u1 cost=0.5\n\
         2025-10-06T01:00:03.000Z,warning,call,svc,slow,model=翻訳 user=u3\n"
    );
    let tsv = run(&["stats", "--dir", &d, "--by", "level", "--tsv"]);
    assert_eq!(tsv.stdout, "level\tcount\ninfo\t3\nerror\t1\nwarning\t1\n");
}

#[test]
fn colour_only_when_asked_or_on_a_terminal_without_no_color() {
    let (_dir, d) = data();
    let args = ["query", "--dir", &d, "--table", "--level", "error"];
    let piped = run(&args);
    assert!(!piped.stdout.contains('\x1b'), "{}", piped.stdout);
    let forced = run(&[&args[..], &["--color", "always"]].concat());
    assert!(
        forced
            .stdout
            .contains("\x1b[31merror\x1b[0m  call  svc     upstream timeout after 30s"),
        "{}",
        forced.stdout
    );
    let out = bin().args(args).env("NO_COLOR", "1").output().expect("run");
    assert!(!out.stdout.contains(&0x1b));
}

#[test]
fn local_time_is_shown_on_request() {
    let (_dir, d) = data();
    let out = bin()
        .args(["query", "--dir", &d, "--table", "--local", "--limit", "1"])
        .env("TZ", "JST-9")
        .output()
        .expect("run");
    let text = String::from_utf8(out.stdout).expect("utf8");
    assert!(
        text.lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("2025-10-06T10:00:00+09:00  error")),
        "{text}"
    );
}
