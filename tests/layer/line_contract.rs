//! The exact JSON line the layer writes, per the README's line contract.

use crate::common;

use common::*;
use tracing::{error, info, info_span, warn};

fn one_line(f: impl FnOnce()) -> String {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at_ms(T0_MS);
    run_with(builder(dir.path(), &clock), f);
    let lines = lines(day_file(dir.path(), "2025-10-06"));
    assert_eq!(lines.len(), 1, "{lines:?}");
    lines.into_iter().next().unwrap()
}

#[test]
fn typed_fields_keep_their_json_types() {
    let line = one_line(|| {
        error!(
            evt = "openrouter_error",
            source = "translation_service",
            status = 429,
            code = "rate_limited",
            model = "deepseek/deepseek-v3.2-exp",
            "429 Rate limit"
        );
    });
    assert_eq!(
        line,
        r#"{"ts":"2025-10-06T13:43:10.123Z","level":"error","evt":"openrouter_error","source":"translation_service","msg":"429 Rate limit","meta":{"status":429,"code":"rate_limited","model":"deepseek/deepseek-v3.2-exp"}}"#
    );
}

#[test]
fn every_value_type_is_encoded_and_display_debug_become_strings() {
    #[derive(Debug)]
    #[allow(dead_code)]
    struct Job {
        id: u32,
    }
    let line = one_line(|| {
        info!(evt = "types", neg = -5i64, big = u64::MAX, wide = i128::MIN, ratio = 0.5, ok = true,
              shown = %"a b", dbg = ?Job { id: 7 });
    });
    assert_eq!(
        line,
        format!(
            r#"{{"ts":"2025-10-06T13:43:10.123Z","level":"info","evt":"types","source":"layer::line_contract","msg":"","meta":{{"neg":-5,"big":18446744073709551615,"wide":{},"ratio":0.5,"ok":true,"shown":"a b","dbg":"Job {{ id: 7 }}"}}}}"#,
            i128::MIN
        )
    );
}

#[test]
fn span_fields_follow_event_fields_inner_span_wins() {
    let line = one_line(|| {
        let outer = info_span!("run", run_id = "r-1", stage = "outer", model = "span-model");
        let _o = outer.enter();
        let inner = info_span!("stage", stage = "translate");
        let _i = inner.enter();
        warn!(
            evt = "pipeline_stage",
            model = "event-model",
            "stage started"
        );
    });
    assert_eq!(
        line,
        r#"{"ts":"2025-10-06T13:43:10.123Z","level":"warning","evt":"pipeline_stage","source":"layer::line_contract","msg":"stage started","meta":{"model":"event-model","stage":"translate","run_id":"r-1"}}"#
    );
}

#[test]
fn span_fields_recorded_later_are_seen() {
    let line = one_line(|| {
        let span = info_span!("run", result = tracing::field::Empty);
        let _e = span.enter();
        span.record("result", "success");
        info!(evt = "pipeline_run");
    });
    assert!(line.ends_with(r#""meta":{"result":"success"}}"#), "{line}");
}

#[test]
fn fields_named_like_top_level_keys_stay_in_meta() {
    let line = one_line(|| {
        info!(
            evt = "collide",
            ts = 1,
            level = "mine",
            msg = "field msg",
            meta = "m",
            "real message"
        );
    });
    assert_eq!(
        line,
        r#"{"ts":"2025-10-06T13:43:10.123Z","level":"info","evt":"collide","source":"layer::line_contract","msg":"real message","meta":{"ts":1,"level":"mine","msg":"field msg","meta":"m"}}"#
    );
}

#[test]
fn critical_true_sets_the_level_and_is_not_repeated() {
    let line = one_line(|| {
        error!(
            evt = "openrouter_error",
            critical = true,
            status = 401,
            "401 invalid key"
        );
    });
    assert_eq!(
        line,
        r#"{"ts":"2025-10-06T13:43:10.123Z","level":"critical","evt":"openrouter_error","source":"layer::line_contract","msg":"401 invalid key","meta":{"status":401}}"#
    );
}

#[test]
fn an_event_without_fields_has_empty_meta_and_target_as_source() {
    let line = one_line(|| tracing::debug!(evt = "tick"));
    assert_eq!(
        line,
        r#"{"ts":"2025-10-06T13:43:10.123Z","level":"debug","evt":"tick","source":"layer::line_contract","msg":"","meta":{}}"#
    );
}

#[test]
fn a_target_that_needs_escaping_is_escaped_as_source() {
    let line = one_line(|| info!(target: "odd\"target\\x", evt = "e", "m"));
    assert_eq!(
        line,
        r#"{"ts":"2025-10-06T13:43:10.123Z","level":"info","evt":"e","source":"odd\"target\\x","msg":"m","meta":{}}"#
    );
}

/// 100 bytes of a target name.
macro_rules! chunk {
    () => {
        "segment_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx:"
    };
}

/// A 1,200-byte target, longer than the smallest line cap.
const LONG_TARGET: &str = concat!(
    chunk!(),
    chunk!(),
    chunk!(),
    chunk!(),
    chunk!(),
    chunk!(),
    chunk!(),
    chunk!(),
    chunk!(),
    chunk!(),
    chunk!(),
    chunk!()
);

#[test]
fn a_long_target_is_cut_with_a_marker_under_the_line_cap() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at_ms(T0_MS);
    run_with(builder(dir.path(), &clock).max_line_bytes(1024), || {
        for _ in 0..2 {
            info!(target: LONG_TARGET, evt = "e", "m");
        }
    });
    let lines = lines(day_file(dir.path(), "2025-10-06"));
    assert_eq!(lines.len(), 2);
    for line in &lines {
        assert!(line.len() <= 1024, "{line}");
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let source = v["source"].as_str().unwrap();
        let (kept, rest) = source.split_once("...[truncated ").unwrap();
        assert!(
            LONG_TARGET.starts_with(kept) && kept.len() > 800,
            "{source}"
        );
        let cut: usize = rest.strip_suffix(" bytes]").unwrap().parse().unwrap();
        assert_eq!(kept.len() + cut, LONG_TARGET.len(), "{source}");
    }
}

#[test]
fn events_without_evt_are_not_written() {
    let line = one_line(|| {
        info!(status = 1, "no evt here");
        info!(evt = "only_me");
        tracing::trace!("nothing");
    });
    assert!(line.contains(r#""evt":"only_me""#));
}

#[test]
fn control_characters_quotes_and_non_finite_floats_never_break_a_line() {
    let line = one_line(|| {
        info!(
            evt = "weird",
            text = "tab\t\"quote\" nl\n bell\u{7}",
            nan = f64::NAN,
            inf = f64::INFINITY,
            ninf = f64::NEG_INFINITY,
            "multi\nline"
        );
    });
    assert_eq!(
        line,
        r#"{"ts":"2025-10-06T13:43:10.123Z","level":"info","evt":"weird","source":"layer::line_contract","msg":"multi\nline","meta":{"text":"tab\t\"quote\" nl\n bell\u0007","nan":"NaN","inf":"inf","ninf":"-inf"}}"#
    );
}

#[test]
fn long_lines_are_cut_by_truncating_the_longest_values_not_the_json() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at_ms(T0_MS);
    let huge = "x".repeat(5000);
    let medium = "y".repeat(300);
    run_with(builder(dir.path(), &clock).max_line_bytes(1024), || {
        info!(
            evt = "big",
            small = "keep me",
            huge = huge.as_str(),
            medium = medium.as_str(),
            "short msg"
        );
    });
    let lines = lines(day_file(dir.path(), "2025-10-06"));
    let line = &lines[0];
    assert!(line.len() < 1024, "{} bytes", line.len());
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(v["msg"], "short msg");
    assert_eq!(v["meta"]["small"], "keep me");
    assert_eq!(v["meta"]["medium"], medium.as_str());
    let cut = v["meta"]["huge"].as_str().unwrap();
    assert!(cut.starts_with("xxxx") && cut.ends_with(" bytes]"), "{cut}");
    let kept = cut.split("...[truncated ").next().unwrap().len();
    assert_eq!(
        cut,
        format!("{}...[truncated {} bytes]", "x".repeat(kept), 5000 - kept)
    );
}

#[test]
fn a_ten_megabyte_value_is_truncated_to_the_cap() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at_ms(T0_MS);
    let huge = "z".repeat(10 << 20);
    run_with(builder(dir.path(), &clock), || {
        info!(evt = "huge", payload = huge.as_str());
        info!(evt = "huge_debug", payload = ?huge);
    });
    for line in lines(day_file(dir.path(), "2025-10-06")) {
        assert!(line.len() <= 64 * 1024, "{} bytes", line.len());
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert!(
            v["meta"]["payload"]
                .as_str()
                .unwrap()
                .contains("...[truncated ")
        );
    }
}

#[test]
fn field_names_that_need_escaping_are_escaped_beside_plain_ones() {
    let line = one_line(|| {
        info!(
            evt = "names",
            "a\"b\\c" = 1,
            plain = 2,
            "tab\there" = 3,
            "é.ünï" = 4
        );
    });
    assert_eq!(
        line,
        r#"{"ts":"2025-10-06T13:43:10.123Z","level":"info","evt":"names","source":"layer::line_contract","msg":"","meta":{"a\"b\\c":1,"plain":2,"tab\there":3,"é.ünï":4}}"#
    );
}

/// Milliseconds since the Unix epoch of a line's `ts`.
fn ts_ms(line: &str) -> i64 {
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    let ts = v["ts"].as_str().unwrap();
    let t =
        time::OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339).unwrap();
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

#[test]
fn with_the_system_clock_ts_is_the_millisecond_the_event_was_emitted_in() {
    let now_ms = || {
        let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        d.unwrap().as_millis() as i64
    };
    let dir = tempfile::tempdir().unwrap();
    let b = evt_telemetry::TelemetryBuilder::new().log_dir(dir.path());
    let mut bounds = Vec::new();
    run_with(b, || {
        for i in 0..20_000u64 {
            let before = now_ms();
            info!(evt = "tick", i);
            bounds.push((before, now_ms()));
        }
    });
    let mut seen = 0;
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if !path.to_string_lossy().ends_with(".jsonl") {
            continue;
        }
        for line in lines(&path) {
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            let (before, after) = bounds[v["meta"]["i"].as_u64().unwrap() as usize];
            let ts = ts_ms(&line);
            assert!(
                before <= ts && ts <= after,
                "{before} <= {ts} <= {after}: {line}"
            );
            seen += 1;
        }
    }
    assert_eq!(seen, 20_000);
}
