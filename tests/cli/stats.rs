//! `stats` on the hand-checked fixture: grouping, time buckets,
//! percentiles, and the JSON document.

use crate::common::cli as common;

use common::{basic, basic_malformed_report, run};

#[test]
fn stats_counts_events_by_evt_and_meta_code() {
    let r = run(&["stats", "--dir", &basic(), "--by", "evt,meta.code"]);
    let expected = "\
evt               meta.code     count
openrouter_call   -             8
openrouter_error  bad_gateway   1
openrouter_error  invalid_key   1
openrouter_error  rate_limited  1
pipeline_run      -             1
pipeline_stage    -             1
queue_depth       -             1
translation_done  -             1
";
    assert_eq!((r.code, r.stdout.as_str()), (Some(0), expected));
    assert_eq!(r.stderr, basic_malformed_report());
}

#[test]
fn stats_json_follows_the_documented_schema() {
    let r = run(&[
        "stats",
        "--dir",
        &basic(),
        "--by",
        "evt,meta.code",
        "--json",
        "--level",
        "error",
    ]);
    let expected = r#"{"by":["evt","meta.code"],"every_s":null,"groups":[{"count":3,"key":{"evt":"openrouter_call"}},{"count":1,"key":{"evt":"openrouter_error","meta.code":"bad_gateway"}},{"count":1,"key":{"evt":"openrouter_error","meta.code":"invalid_key"}},{"count":1,"key":{"evt":"openrouter_error","meta.code":"rate_limited"}}],"malformed":2,"total":6,"value":null}
"#;
    assert_eq!(r.stdout, expected);
}

#[test]
fn stats_every_buckets_by_time() {
    let r = run(&[
        "stats",
        "--dir",
        &basic(),
        "--every",
        "1m",
        "--by",
        "level",
        "--from",
        "2025-10-06",
    ]);
    let expected = "\
bucket                level     count
2025-10-06T00:00:00Z  critical  1
2025-10-06T00:00:00Z  error     1
2025-10-06T00:00:00Z  info      1
2025-10-06T00:01:00Z  info      2
2025-10-06T00:02:00Z  error     2
2025-10-06T00:02:00Z  info      1
2025-10-06T00:03:00Z  info      1
2025-10-06T00:03:00Z  warning   1
";
    assert_eq!(r.stdout, expected);
    let json = run(&[
        "stats",
        "--dir",
        &basic(),
        "--every",
        "1d",
        "--by",
        "level",
        "--level",
        "critical",
        "--json",
    ]);
    assert_eq!(
        json.stdout,
        r#"{"by":["level"],"every_s":86400.0,"groups":[{"bucket":"2025-10-06T00:00:00Z","count":1,"key":{"level":"critical"}}],"malformed":2,"total":1,"value":null}
"#
    );
}

#[test]
fn stats_value_gives_nearest_rank_percentiles_per_group() {
    // deepseek latencies 1.5, 0.25, 2.0, 1.0: sorted 0.25 1 1.5 2; P50 is rank
    // ceil(0.5*4)=2 -> 1, P95 rank ceil(3.8)=4 -> 2; mean 4.75/4 = 1.1875.
    let r = run(&[
        "stats",
        "--dir",
        &basic(),
        "--by",
        "meta.model",
        "--evt",
        "openrouter_call",
        "--value",
        "meta.latency_s",
    ]);
    let expected = "\
meta.model                   count  n  p50   p95  p99  min   max  mean    sum
deepseek/deepseek-v3.2-exp   4      4  1     2    2    0.25  2    1.1875  4.75
anthropic/claude-sonnet-4.5  2      2  0.5   3    3    0.5   3    1.75    3.5
openai/gpt-4o-mini           2      2  0.75  4    4    0.75  4    2.375   4.75
";
    assert_eq!(r.stdout, expected);
    let json = run(&[
        "stats",
        "--dir",
        &basic(),
        "--by",
        "evt",
        "--evt",
        "openrouter_error,queue_depth",
        "--value",
        "meta.pending",
        "--json",
    ]);
    let expected = r#"{"by":["evt"],"every_s":null,"groups":[{"count":3,"key":{"evt":"openrouter_error"},"value":null},{"count":1,"key":{"evt":"queue_depth"},"value":{"exact":true,"max":12.0,"mean":12.0,"min":12.0,"n":1,"p50":12.0,"p95":12.0,"p99":12.0,"sum":12.0}}],"malformed":2,"total":4,"value":"meta.pending"}
"#;
    assert_eq!(json.stdout, expected);
}

#[test]
fn stats_of_an_empty_directory_is_an_empty_table_and_a_note() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().display().to_string();
    let r = run(&["stats", "--dir", &path]);
    assert_eq!((r.code, r.stdout.as_str()), (Some(0), "evt  count\n"));
    assert_eq!(
        r.stderr,
        format!("evt-telemetry: no events-YYYY-MM-DD.jsonl[.gz] files in {path}\n")
    );
}
