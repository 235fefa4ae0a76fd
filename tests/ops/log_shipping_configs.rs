//! The Alloy and Promtail configs ship the JSON lines with the event's `ts` as timestamp and only the stream
//! labels job="chinaxiv-telemetry", env, level and evt (never `meta` values: cardinality).

use crate::common::kit as support;

use std::collections::BTreeSet;
use support::{kit, read, yaml};

/// The body of the first Alloy block whose header starts with `header` (e.g. `stage.labels`), braces matched.
fn alloy_block<'a>(text: &'a str, header: &str) -> &'a str {
    let start = text
        .find(&format!("\n  {header} {{"))
        .or_else(|| text.find(&format!("\n{header} ")));
    let start = start.unwrap_or_else(|| panic!("config.alloy: no block {header}"));
    let open = start + text[start..].find('{').expect("block opens");
    let mut depth = 0usize;
    for (i, c) in text[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 1 => return &text[open + 1..open + i],
            '}' => depth -= 1,
            _ => {}
        }
    }
    panic!("config.alloy: block {header} is not closed")
}

/// Keys assigned with `key = ...` inside an Alloy object literal.
fn alloy_keys(body: &str) -> BTreeSet<String> {
    let inner = &body[body.find("values").expect("values")..];
    let inner = &inner[inner.find('{').expect("object")..];
    inner
        .lines()
        .filter_map(|l| {
            l.trim()
                .split_once('=')
                .map(|(k, _)| k.trim().trim_matches('"').to_owned())
        })
        .filter(|k| !k.is_empty() && !k.contains('{'))
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn alloy_text() -> String {
    // Comments may mention anything; check the configuration itself.
    read(&kit("loki/config.alloy"))
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn alloy_labels_only_level_and_evt_from_the_line_plus_static_job_and_env() {
    let text = alloy_text();
    assert_eq!(
        alloy_keys(alloy_block(&text, "stage.labels")),
        set(&["level", "evt"])
    );
    let statics = alloy_block(&text, "stage.static_labels");
    assert_eq!(alloy_keys(statics), set(&["job", "env"]));
    assert!(
        statics.contains("job = \"chinaxiv-telemetry\""),
        "{statics}"
    );
    assert!(alloy_block(&text, "stage.label_drop").contains("values = [\"filename\"]"));
    assert!(
        !text.contains("meta"),
        "no meta field may become a label or be parsed out of the line"
    );
}

#[test]
fn alloy_takes_the_timestamp_from_ts_and_reads_only_live_jsonl_files() {
    let text = alloy_text();
    let json = alloy_block(&text, "stage.json");
    assert!(
        json.contains("ts    = \"ts\"")
            && json.contains("level = \"level\"")
            && json.contains("evt   = \"evt\""),
        "{json}"
    );
    let ts = alloy_block(&text, "stage.timestamp");
    assert!(
        ts.contains("source = \"ts\"") && ts.contains("format = \"RFC3339\""),
        "{ts}"
    );
    // Bare metal: the example's log directory relative to the repository root; compose sets the container path.
    assert!(text.contains(r#"coalesce(sys.env("TELEMETRY_LOG_GLOB"), "data/telemetry/*.jsonl")"#));
    // The pipeline is wired end to end.
    for (use_, def) in [
        (
            "local.file_match.telemetry.targets",
            "local.file_match \"telemetry\"",
        ),
        (
            "loki.process.telemetry.receiver",
            "loki.process \"telemetry\"",
        ),
        ("loki.write.local.receiver", "loki.write \"local\""),
    ] {
        assert!(text.contains(use_) && text.contains(def), "{use_} / {def}");
    }
    assert_eq!(
        text.matches('{').count(),
        text.matches('}').count(),
        "balanced braces"
    );
}

#[test]
fn promtail_matches_alloy_labels_timestamp_and_files() {
    let p = yaml(&kit("loki/promtail.yaml"));
    let job = &p["scrape_configs"][0];
    assert_eq!(job["job_name"], "chinaxiv-telemetry");
    let labels = &job["static_configs"][0]["labels"];
    let keys: BTreeSet<String> = labels
        .as_mapping()
        .expect("labels")
        .keys()
        .filter_map(|k| k.as_str().map(str::to_owned))
        .collect();
    assert_eq!(keys, set(&["job", "env", "__path__"]));
    assert_eq!(labels["job"], "chinaxiv-telemetry");
    assert_eq!(
        labels["__path__"],
        "${TELEMETRY_LOG_GLOB:-data/telemetry/*.jsonl}"
    );

    let stages = job["pipeline_stages"].as_sequence().expect("stages");
    let stage = |name: &str| {
        stages
            .iter()
            .find_map(|s| s.get(name))
            .unwrap_or_else(|| panic!("stage {name}"))
    };
    assert_eq!(stage("json")["expressions"]["ts"], "ts");
    assert_eq!(
        (&stage("timestamp")["source"], &stage("timestamp")["format"]),
        (&"ts".into(), &"RFC3339".into())
    );
    let label_keys: BTreeSet<String> = stage("labels")
        .as_mapping()
        .expect("labels")
        .keys()
        .filter_map(|k| k.as_str().map(str::to_owned))
        .collect();
    assert_eq!(label_keys, set(&["level", "evt"]));
    assert_eq!(
        serde_yaml::to_string(stage("labeldrop")).unwrap_or_default(),
        "- filename\n"
    );
}
