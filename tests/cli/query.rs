//! `query` on the hand-checked fixture: every filter, both output formats,
//! malformed lines, and the exit code 2 failures.

use crate::common::cli as common;

use common::{basic, basic_malformed_report, pairs, run, ts_evt};

const RATE_LIMIT: &str = r#"{"ts":"2025-10-05T23:58:30.000Z","level":"error","evt":"openrouter_error","source":"translation_service","msg":"429 Rate limit","meta":{"status":429,"code":"rate_limited","component":"translation_service","model":"deepseek/deepseek-v3.2-exp"}}"#;
const INVALID_KEY: &str = r#"{"ts":"2025-10-06T00:00:10.000Z","level":"critical","evt":"openrouter_error","source":"translation_service","msg":"401 Invalid API key","meta":{"status":401,"code":"invalid_key","component":"translation_service","model":"anthropic/claude-sonnet-4.5"}}"#;
const BAD_GATEWAY: &str = r#"{"ts":"2025-10-06T00:02:00.000Z","level":"error","evt":"openrouter_error","source":"summary_service","msg":"502 Bad gateway","meta":{"status":502,"code":"bad_gateway","component":"summary_service","model":"openai/gpt-4o-mini"}}"#;

#[test]
fn query_prints_matching_lines_verbatim_from_gz_and_plain_files_in_order() {
    let r = run(&["query", "--dir", &basic(), "--evt", "openrouter_error"]);
    assert_eq!(r.code, Some(0));
    assert_eq!(
        r.stdout,
        format!("{RATE_LIMIT}\n{INVALID_KEY}\n{BAD_GATEWAY}\n")
    );
    assert_eq!(r.stderr, basic_malformed_report());
}

#[test]
fn level_means_that_level_and_above() {
    let r = run(&["query", "--dir", &basic(), "--level", "error"]);
    let expected = pairs(&[
        ("2025-10-05T23:58:30.000Z", "openrouter_error"),
        ("2025-10-05T23:58:30.000Z", "openrouter_call"),
        ("2025-10-06T00:00:10.000Z", "openrouter_error"),
        ("2025-10-06T00:00:10.000Z", "openrouter_call"),
        ("2025-10-06T00:02:00.000Z", "openrouter_error"),
        ("2025-10-06T00:02:00.000Z", "openrouter_call"),
    ]);
    assert_eq!(ts_evt(&r.stdout), expected);
    let critical = run(&["query", "--dir", &basic(), "--level", "critical"]);
    assert_eq!(critical.stdout, format!("{INVALID_KEY}\n"));
}

#[test]
fn where_conditions_compare_numbers_and_text_and_all_must_hold() {
    let dir = basic();
    let server = run(&["query", "--dir", &dir, "--where", "meta.status>=500"]);
    let both_502 = pairs(&[
        ("2025-10-06T00:02:00.000Z", "openrouter_error"),
        ("2025-10-06T00:02:00.000Z", "openrouter_call"),
    ]);
    assert_eq!(ts_evt(&server.stdout), both_502);
    let rate = run(&["query", "--dir", &dir, "--where", "meta.code=rate_limited"]);
    assert_eq!(rate.stdout, format!("{RATE_LIMIT}\n"));
    let failed = run(&[
        "query",
        "--dir",
        &dir,
        "--evt",
        "openrouter_call",
        "--where",
        "meta.outcome!=success",
    ]);
    let failed_calls = pairs(&[
        ("2025-10-05T23:58:30.000Z", "openrouter_call"),
        ("2025-10-06T00:00:10.000Z", "openrouter_call"),
        ("2025-10-06T00:02:00.000Z", "openrouter_call"),
    ]);
    assert_eq!(ts_evt(&failed.stdout), failed_calls);
    // latency > 1 s and cost < 0.25 USD (translation_done has no cost, so it fails the second).
    let slow_cheap = run(&[
        "query",
        "--dir",
        &dir,
        "--where",
        "meta.latency_s>1",
        "--where",
        "meta.cost_usd<0.25",
    ]);
    let expected = pairs(&[
        ("2025-10-05T23:58:00.000Z", "openrouter_call"),
        ("2025-10-05T23:59:10.000Z", "openrouter_call"),
        ("2025-10-06T00:00:05.000Z", "openrouter_call"),
    ]);
    assert_eq!(ts_evt(&slow_cheap.stdout), expected);
}

#[test]
fn escaped_strings_match_by_their_decoded_text() {
    let r = run(&[
        "query",
        "--dir",
        &basic(),
        "--where",
        r#"meta.note=café "quoted""#,
    ]);
    assert_eq!(
        ts_evt(&r.stdout),
        pairs(&[("2025-10-06T00:03:30.000Z", "openrouter_call")])
    );
}

#[test]
fn source_prefixes_and_time_ranges_select_events() {
    let dir = basic();
    let pipeline = run(&["query", "--dir", &dir, "--source", "pipeline::*"]);
    let expected = pairs(&[
        ("2025-10-05T23:59:50.000Z", "queue_depth"),
        ("2025-10-06T00:02:30.000Z", "pipeline_run"),
        ("2025-10-06T00:03:00.000Z", "pipeline_stage"),
    ]);
    assert_eq!(ts_evt(&pipeline.stdout), expected);
    let window = run(&[
        "query",
        "--dir",
        &dir,
        "--from",
        "2025-10-06T00:01:00Z",
        "--to",
        "2025-10-06T00:02:30Z",
    ]);
    let expected = pairs(&[
        ("2025-10-06T00:01:00.000Z", "translation_done"),
        ("2025-10-06T00:01:30.000Z", "openrouter_call"),
        ("2025-10-06T00:02:00.000Z", "openrouter_error"),
        ("2025-10-06T00:02:00.000Z", "openrouter_call"),
    ]);
    assert_eq!(ts_evt(&window.stdout), expected);
}

#[test]
fn days_outside_the_time_range_are_not_read_at_all() {
    // Only the gz day is read, so the plain day's malformed lines go unreported.
    let r = run(&[
        "query",
        "--dir",
        &basic(),
        "--to",
        "2025-10-06",
        "--evt",
        "queue_depth",
    ]);
    assert_eq!(
        ts_evt(&r.stdout),
        pairs(&[("2025-10-05T23:59:50.000Z", "queue_depth")])
    );
    assert_eq!(r.stderr, "");
}

#[test]
fn since_counts_back_from_now() {
    let r = run(&[
        "query",
        "--dir",
        &basic(),
        "--since",
        "90s",
        "--now",
        "2025-10-06T00:03:30Z",
    ]);
    let expected = pairs(&[
        ("2025-10-06T00:02:00.000Z", "openrouter_error"),
        ("2025-10-06T00:02:00.000Z", "openrouter_call"),
        ("2025-10-06T00:02:30.000Z", "pipeline_run"),
        ("2025-10-06T00:03:00.000Z", "pipeline_stage"),
        ("2025-10-06T00:03:30.000Z", "openrouter_call"),
    ]);
    assert_eq!(ts_evt(&r.stdout), expected);
}

#[test]
fn limit_stops_after_n_events() {
    let r = run(&["query", "--dir", &basic(), "--limit", "2"]);
    let expected = pairs(&[
        ("2025-10-05T23:58:00.000Z", "openrouter_call"),
        ("2025-10-05T23:58:30.000Z", "openrouter_error"),
    ]);
    assert_eq!(ts_evt(&r.stdout), expected);
    assert_eq!(r.stderr, "", "the scan stopped before the malformed lines");
}

#[test]
fn table_output_aligns_columns_and_flattens_meta() {
    let r = run(&[
        "query",
        "--dir",
        &basic(),
        "--evt",
        "openrouter_error",
        "--table",
    ]);
    let expected = "\
ts                        level     evt               source               msg                  meta
2025-10-05T23:58:30.000Z  error     openrouter_error  translation_service  429 Rate limit       status=429 code=rate_limited component=translation_service model=deepseek/deepseek-v3.2-exp
2025-10-06T00:00:10.000Z  critical  openrouter_error  translation_service  401 Invalid API key  status=401 code=invalid_key component=translation_service model=anthropic/claude-sonnet-4.5
2025-10-06T00:02:00.000Z  error     openrouter_error  summary_service      502 Bad gateway      status=502 code=bad_gateway component=summary_service model=openai/gpt-4o-mini
";
    assert_eq!(r.stdout, expected);
    let note = run(&[
        "query",
        "--dir",
        &basic(),
        "--where",
        "meta.note!=",
        "--where",
        "meta.note>=0",
        "--table",
    ]);
    assert_eq!(
        note.stdout, "ts  level  evt  source  msg  meta\n",
        "a text note is not a number"
    );
    let quoted = run(&[
        "query",
        "--dir",
        &basic(),
        "--since",
        "1s",
        "--now",
        "2025-10-06T00:03:30.500Z",
        "--table",
    ]);
    assert!(
        quoted
            .stdout
            .ends_with("outcome=success status=200 note=\"café \\\"quoted\\\"\"\n"),
        "{}",
        quoted.stdout
    );
}

#[test]
fn a_missing_directory_is_a_one_line_error_with_exit_code_2() {
    let r = run(&["query", "--dir", "/definitely/not/here"]);
    assert_eq!(r.code, Some(2));
    assert_eq!(r.stdout, "");
    assert_eq!(
        r.stderr,
        "evt-telemetry: log directory /definitely/not/here: No such file or directory (os error 2)\n"
    );
}

#[test]
fn bad_filters_are_one_line_errors_with_exit_code_2() {
    let cases = [
        (
            vec!["--where", "meta.status>x"],
            "evt-telemetry: bad --where \"meta.status>x\": \"x\" is not a number\n",
        ),
        (
            vec!["--where", "status=429"],
            "evt-telemetry: bad --where \"status=429\": unknown field \"status\" (expected ts, level, evt, source, msg or meta.KEY)\n",
        ),
        (
            vec!["--level", "loud"],
            "evt-telemetry: --level: unknown level \"loud\" (trace, debug, info, warning, error, critical)\n",
        ),
        (
            vec!["--since", "yesterday"],
            "evt-telemetry: invalid duration \"yesterday\" (expected e.g. 30s, 15m, 24h, 7d, 1h30m)\n",
        ),
        (
            vec!["--from", "noon"],
            "evt-telemetry: invalid time \"noon\" (expected RFC 3339 like 2025-10-06T13:00:00Z, or 2025-10-06)\n",
        ),
        (
            vec!["--by", "evt"],
            "evt-telemetry: query does not take --by (try --help)\n",
        ),
    ];
    for (args, stderr) in cases {
        let mut all = vec!["query", "--dir", "/definitely/not/here"];
        all.extend(args);
        let r = run(&all);
        assert_eq!(
            (r.code, r.stderr.as_str(), r.stdout.as_str()),
            (Some(2), stderr, ""),
            "{all:?}"
        );
    }
}

#[test]
fn help_lists_every_command() {
    let r = run(&["--help"]);
    assert_eq!(r.code, Some(0));
    for cmd in ["query", "tail", "stats", "costs", "report"] {
        assert!(r.stdout.contains(&format!("\n  {cmd} ")), "{cmd}");
    }
    assert_eq!(run(&["frobnicate"]).code, Some(2));
}

#[test]
fn a_truncated_gz_is_reported_and_the_run_goes_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gz = std::fs::read(common::fixture("basic").join("events-2025-10-05.jsonl.gz"))
        .expect("fixture");
    let cut = dir.path().join("events-2025-10-05.jsonl.gz");
    std::fs::write(&cut, &gz[..300]).expect("write"); // the first member and a bit of the second
    let plain = common::fixture("basic").join("events-2025-10-06.jsonl");
    std::fs::copy(&plain, dir.path().join("events-2025-10-06.jsonl")).expect("copy");
    let r = run(&[
        "query",
        "--dir",
        &dir.path().display().to_string(),
        "--evt",
        "openrouter_error",
    ]);
    assert_eq!(r.code, Some(0));
    assert_eq!(
        r.stdout,
        format!("{RATE_LIMIT}\n{INVALID_KEY}\n{BAD_GATEWAY}\n")
    );
    let copied = dir.path().join("events-2025-10-06.jsonl");
    let expected = format!(
        "evt-telemetry: {}: read error after line 3: unexpected end of file\n\
         evt-telemetry: {c}:2: malformed line: unterminated string at byte 142\n\
         evt-telemetry: {c}:7: malformed line: missing \"ts\"\n\
         evt-telemetry: skipped 3 malformed line(s)\n",
        cut.display(),
        c = copied.display()
    );
    assert_eq!(r.stderr, expected);
}
