//! `monitor`: a self-contained status page linking to the Grafana
//! dashboards by uid, with a status summary computed from the files (so it
//! helps when Grafana is down); checked as text and in headless Chromium.

use crate::common::cli as common;

use std::path::{Path, PathBuf};

use common::run;

const NOW: &str = "2025-10-06T12:00:00Z";

fn line(ts: &str, level: &str, evt: &str, msg: &str, meta: &str) -> String {
    format!(
        r#"{{"ts":"{ts}","level":"{level}","evt":"{evt}","source":"svc","msg":"{msg}","meta":{{{meta}}}}}"#
    )
}

fn call(ts: &str, model: &str, cost: &str, outcome: &str) -> String {
    line(
        ts,
        if outcome == "error" { "error" } else { "info" },
        "openrouter_call",
        "call",
        &format!(r#""model":"{model}","cost_usd":{cost},"outcome":"{outcome}","latency_s":1.0"#),
    )
}

fn error(ts: &str, status: u16, code: &str) -> String {
    let level = if matches!(status, 401 | 402) {
        "critical"
    } else {
        "error"
    };
    line(
        ts,
        level,
        "openrouter_error",
        &format!("{status} {code}"),
        &format!(
            r#""status":{status},"code":"{code}","model":"m1","component":"translation_service""#
        ),
    )
}

/// Yesterday (outside the cost day, inside 24 h for the last two) and
/// today up to an hour before NOW, then the last hour.
fn data() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let day1 = [
        call("2025-10-05T08:00:00.000Z", "m1", "0.5", "success"),
        error("2025-10-05T09:00:00.000Z", 402, "payment_required"),
        call("2025-10-05T13:00:00.000Z", "m1", "0.25", "success"),
        error("2025-10-05T13:00:01.000Z", 429, "rate_limited"),
        line(
            "2025-10-05T20:00:00.000Z",
            "error",
            "pipeline_run",
            "run run-7 failure",
            r#""result":"failure","duration_s":61.5,"run_id":"run-7""#,
        ),
    ];
    let day2 = [
        call("2025-10-06T01:00:00.000Z", "m1", "0.1", "success"),
        call("2025-10-06T02:00:00.000Z", "m2", "0.2", "success"),
        call("2025-10-06T10:00:00.000Z", "m2", "0", "error"),
        error("2025-10-06T10:00:00.000Z", 500, "server_error"),
        call("2025-10-06T11:30:00.000Z", "m1", "0.1", "success"),
        error("2025-10-06T11:30:00.000Z", 429, "rate_limited"),
        error("2025-10-06T11:45:00.000Z", 401, "invalid_key"),
        call("2025-10-06T13:00:00.000Z", "m1", "9", "success"), // after NOW
    ];
    for (name, lines) in [
        ("events-2025-10-05.jsonl", &day1[..]),
        ("events-2025-10-06.jsonl", &day2[..]),
    ] {
        std::fs::write(dir.path().join(name), lines.join("\n") + "\n").expect("write");
    }
    dir
}

fn monitor(data: &Path, out: &Path, extra: &[&str]) -> common::Run {
    let (d, o) = (data.display().to_string(), out.display().to_string());
    let mut args = vec!["monitor", "--dir", &d, "--out", &o, "--now", NOW];
    args.extend(extra);
    run(&args)
}

fn dashboard_links() -> Vec<String> {
    [
        "evt-pipeline-overview",
        "evt-openrouter-health",
        "evt-costs-budgets",
    ]
    .map(|uid| format!("http://127.0.0.2:3000/d/{uid}"))
    .to_vec()
}

const URLS: [&str; 6] = [
    "--grafana-url",
    "http://127.0.0.2:3000/",
    "--alertmanager-url",
    "http://127.0.0.2:9093",
    "--explore-url",
    "http://127.0.0.2:3000/explore?left=%7B%22datasource%22:%22loki%22%7D",
];

#[test]
fn monitor_links_the_dashboards_and_summarises_status_from_the_files() {
    let data = data();
    let out = data.path().join("site/monitor.html");
    let r = monitor(data.path(), &out, &URLS);
    assert_eq!((r.code, r.stderr.as_str()), (Some(0), ""));
    assert_eq!(r.stdout, format!("wrote {}\n", out.display()));
    let html = std::fs::read_to_string(&out).expect("page written");
    let mut links = dashboard_links();
    links.push("http://127.0.0.2:9093/#/alerts".into());
    links.push(URLS[5].into());
    assert_eq!(common::hrefs(&html), links);
    let expected = [
        // Timestamp and data range.
        "Built at 2025-10-06T12:00:00Z (the windows below end then) from 13 events (2025-10-05T08:00:00Z to 2025-10-06T13:00:00Z) in 2 files from",
        // Today's cost by model: not yesterday's, not after NOW.
        r#"<tr><td>m1</td><td class="num">2</td><td class="num">0.2</td></tr><tr><td>m2</td><td class="num">2</td><td class="num">0.2</td></tr><tr><td>(all models)</td><td class="num">4</td><td class="num">0.4</td></tr>"#,
        // Errors by status: 1 h and 24 h (the 402 is older than 24 h).
        r#"<tr><td>401</td><td class="num">1</td><td class="num">1</td></tr><tr><td>429</td><td class="num">1</td><td class="num">2</td></tr><tr><td>500</td><td class="num">0</td><td class="num">1</td></tr><tr><td>(all)</td><td class="num">2</td><td class="num">4</td></tr>"#,
        // Budget: 1 failed of 5 calls in 24 h = 20 %, 20x the 1 % allowed.
        r#"<tr><td class="num">5</td><td class="num">1</td><td class="num">20.00 %</td><td class="num">2000.0 %</td><td class="num">-1900.0 %</td></tr>"#,
        // Incidents, newest first.
        "<tr><td>2025-10-06T11:45:00Z</td><td>critical</td><td>openrouter_error</td><td>401</td><td>invalid_key</td><td>m1</td><td>translation_service</td><td>401 invalid_key</td></tr><tr><td>2025-10-05T09:00:00Z</td><td>critical</td><td>openrouter_error</td><td>402</td>",
        // The last failed run.
        r#"<tr><td>2025-10-05T20:00:00Z</td><td>run-7</td><td>failure</td><td class="num">61.5</td><td>run run-7 failure</td></tr>"#,
    ];
    for part in expected {
        assert!(html.contains(part), "{part}\nnot in\n{html}");
    }
    for banned in ["<script", "<link", "<img", "src=", "url(", "@import"] {
        assert!(
            !html.contains(banned),
            "external or active content: {banned}"
        );
    }
}

#[test]
fn monitor_json_summarises_what_was_written() {
    let data = data();
    let out = data.path().join("m.html");
    let r = monitor(
        data.path(),
        &out,
        &["--grafana-url", "https://g.example", "--json"],
    );
    assert_eq!(
        r.stdout,
        format!(
            "{{\"calls_24h\":5,\"cost_today_usd\":0.4,\"events\":13,\"failed_24h\":1,\"incidents\":2,\"out\":\"{}\"}}\n",
            out.display()
        )
    );
}

#[test]
fn monitor_needs_a_grafana_url() {
    let data = data();
    let out = data.path().join("m.html");
    let r = monitor(data.path(), &out, &[]);
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (Some(2), "evt-telemetry: monitor needs --grafana-url URL\n")
    );
}

#[test]
fn monitor_page_loads_in_headless_chromium_without_requests() {
    let Some(browser) = common::chromium() else {
        return;
    };
    let data = data();
    let out: PathBuf = data.path().join("monitor.html");
    assert_eq!(monitor(data.path(), &out, &URLS[..2]).code, Some(0));
    let png = data.path().join("monitor.png");
    let loaded = common::load(&browser, &out, &data.path().join("chromium"), Some(&png));
    assert_eq!(loaded.console, Vec::<String>::new(), "no console messages");
    assert_eq!(loaded.requests, Vec::<String>::new(), "no requests");
    assert!(loaded.dom.contains("<h1>evt-telemetry monitor</h1>"));
    assert_eq!(common::hrefs(&loaded.dom), dashboard_links());
    let shot = std::fs::read(&png).expect("screenshot written");
    assert!(shot.starts_with(b"\x89PNG\r\n\x1a\n") && shot.len() > 10_000);
}
