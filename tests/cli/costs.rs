//! `costs` on the hand-checked fixture. The expected sums are computed here
//! by hand, adding each `openrouter_call` `meta.cost_usd` in file order as
//! the `openrouter_cost_usd_total{model}` counter and the
//! `daily_cost_usd{model}` gauge do for the same events.

use crate::common::cli as common;

use common::{basic, basic_malformed_report, run};

/// The fixture's cost events in file order: (day, model, cost_usd).
const CALLS: [(&str, &str, f64); 8] = [
    ("2025-10-05", "deepseek/deepseek-v3.2-exp", 0.1),
    ("2025-10-05", "deepseek/deepseek-v3.2-exp", 0.0),
    ("2025-10-05", "anthropic/claude-sonnet-4.5", 0.2),
    ("2025-10-06", "deepseek/deepseek-v3.2-exp", 0.2),
    ("2025-10-06", "anthropic/claude-sonnet-4.5", 0.0),
    ("2025-10-06", "deepseek/deepseek-v3.2-exp", 0.3),
    ("2025-10-06", "openai/gpt-4o-mini", 0.0),
    ("2025-10-06", "openai/gpt-4o-mini", 0.4),
];

/// What a counter holds after adding the matching costs one by one.
fn counter(day: Option<&str>, model: Option<&str>) -> f64 {
    let mut total = 0.0;
    for (d, m, cost) in CALLS {
        if day.is_none_or(|x| x == d) && model.is_none_or(|x| x == m) {
            total += cost;
        }
    }
    total
}

#[test]
fn costs_table_rolls_up_by_day_and_model_with_exact_sums() {
    let r = run(&["costs", "--dir", &basic()]);
    let expected = "\
day         model                        calls  cost_usd
2025-10-05  anthropic/claude-sonnet-4.5  1      0.2
2025-10-05  deepseek/deepseek-v3.2-exp   2      0.1
2025-10-05  (all models)                 3      0.3
2025-10-06  anthropic/claude-sonnet-4.5  1      0
2025-10-06  deepseek/deepseek-v3.2-exp   2      0.5
2025-10-06  openai/gpt-4o-mini           2      0.4
2025-10-06  (all models)                 5      0.9
total       anthropic/claude-sonnet-4.5  2      0.2
total       deepseek/deepseek-v3.2-exp   4      0.6
total       openai/gpt-4o-mini           2      0.4
total       (all models)                 8      1.2
";
    assert_eq!((r.code, r.stdout.as_str()), (Some(0), expected));
    assert_eq!(r.stderr, basic_malformed_report());
}

#[test]
fn costs_equal_the_metric_totals_bit_for_bit() {
    let r = run(&["costs", "--dir", &basic(), "--json"]);
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).expect("JSON");
    let usd = |v: &serde_json::Value| v["cost_usd"].as_f64().expect("cost_usd");
    for m in doc["models"].as_array().expect("models") {
        let model = m["model"].as_str().expect("model");
        assert_eq!(
            usd(m).to_bits(),
            counter(None, Some(model)).to_bits(),
            "openrouter_cost_usd_total{{model={model}}}"
        );
    }
    for d in doc["days"].as_array().expect("days") {
        let day = d["day"].as_str().expect("day");
        assert_eq!(
            usd(d).to_bits(),
            counter(Some(day), None).to_bits(),
            "{day}"
        );
        for m in d["models"].as_array().expect("models") {
            let model = m["model"].as_str();
            assert_eq!(
                usd(m).to_bits(),
                counter(Some(day), model).to_bits(),
                "daily_cost_usd {day} {model:?}"
            );
        }
    }
    assert_eq!(usd(&doc["total"]).to_bits(), counter(None, None).to_bits());
    assert_eq!(
        counter(None, Some("deepseek/deepseek-v3.2-exp")),
        0.1 + 0.0 + 0.2 + 0.3
    );
    assert_eq!(doc["models"].as_array().map(Vec::len), Some(3));
    assert_eq!(doc["total"]["calls"], 8);
    assert_eq!(
        doc["skipped"],
        serde_json::json!({"missing": 0, "rejected": 0})
    );
    assert_eq!(doc["malformed"], 2);
}

#[test]
fn costs_json_follows_the_documented_schema() {
    let r = run(&["costs", "--dir", &basic(), "--json", "--to", "2025-10-06"]);
    let expected = r#"{"cost_evt":"openrouter_call","cost_field":"meta.cost_usd","days":[{"calls":3,"cost_usd":0.30000000000000004,"day":"2025-10-05","models":[{"calls":1,"cost_usd":0.2,"model":"anthropic/claude-sonnet-4.5"},{"calls":2,"cost_usd":0.1,"model":"deepseek/deepseek-v3.2-exp"}]}],"malformed":0,"model_field":"meta.model","models":[{"calls":1,"cost_usd":0.2,"model":"anthropic/claude-sonnet-4.5"},{"calls":2,"cost_usd":0.1,"model":"deepseek/deepseek-v3.2-exp"}],"skipped":{"missing":0,"rejected":0},"total":{"calls":3,"cost_usd":0.30000000000000004}}
"#;
    assert_eq!(r.stdout, expected);
}

#[test]
fn the_cost_event_and_fields_are_configurable() {
    let r = run(&[
        "costs",
        "--dir",
        &basic(),
        "--cost-evt",
        "translation_done",
        "--cost-field",
        "meta.latency_s",
        "--model-field",
        "meta.component",
    ]);
    let expected = "\
day         model                calls  cost_usd
2025-10-06  translation_service  1      6.5
2025-10-06  (all models)         1      6.5
total       translation_service  1      6.5
total       (all models)         1      6.5
";
    assert_eq!(r.stdout, expected);
}

#[test]
fn cost_events_without_a_valid_cost_are_skipped_and_counted_like_the_metric_rejects_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let line = |cost: &str| {
        format!(
            r#"{{"ts":"2025-10-06T01:00:00.000Z","level":"info","evt":"openrouter_call","source":"s","msg":"","meta":{{"model":"m"{cost}}}}}"#
        )
    };
    let text = [
        line(r#","cost_usd":0.5"#),
        line(""),
        line(r#","cost_usd":-1"#),
        line(r#","cost_usd":"0.25""#),
    ]
    .join("\n");
    std::fs::write(dir.path().join("events-2025-10-06.jsonl"), text).expect("write");
    let r = run(&[
        "costs",
        "--dir",
        &dir.path().display().to_string(),
        "--json",
    ]);
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).expect("JSON");
    assert_eq!(
        doc["total"],
        serde_json::json!({"calls": 2, "cost_usd": 0.75})
    );
    assert_eq!(
        doc["skipped"],
        serde_json::json!({"missing": 1, "rejected": 1})
    );
    assert_eq!(
        r.stderr,
        "evt-telemetry: costs: 1 openrouter_call event(s) without a numeric meta.cost_usd skipped\n\
         evt-telemetry: costs: 1 openrouter_call event(s) with a negative or non-finite cost skipped\n"
    );
}
