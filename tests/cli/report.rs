//! `report`: a self-contained HTML file whose every chart has marks, which
//! loads in headless Chromium (Debian package `chromium`) without console
//! errors. Without Chromium the browser test is skipped with a note, except
//! under CI (env `CI` set), where it fails.

use crate::common::cli as common;

use std::path::{Path, PathBuf};

use common::{basic, run};

const CHART_TITLES: [&str; 7] = [
    "Events over time",
    "Errors over time",
    "Error rate over time",
    "OpenRouter errors over time by HTTP status",
    "P95 latency of successful calls by model",
    "Daily cost by model",
    "Top error codes",
];

fn write_report(dir: &Path, extra: &[&str]) -> (PathBuf, common::Run) {
    let out = dir.join("report.html");
    let (dir_text, out_text) = (basic(), out.display().to_string());
    let mut args = vec!["report", "--dir", &dir_text, "--out", &out_text];
    args.extend(extra);
    let r = run(&args);
    (out, r)
}

/// The `<svg>…</svg>` elements of an HTML text.
fn svgs(html: &str) -> Vec<&str> {
    html.split("<svg")
        .skip(1)
        .map(|rest| rest.split("</svg>").next().unwrap_or(""))
        .collect()
}

fn assert_every_chart_drawn(html: &str) {
    let charts = svgs(html);
    assert_eq!(charts.len(), CHART_TITLES.len(), "one svg per chart");
    for (svg, title) in charts.iter().zip(CHART_TITLES) {
        assert!(svg.contains(&format!("<title>{title}</title>")), "{title}");
        assert!(svg.contains(r#"class="legend""#), "{title} has a legend");
        assert!(
            svg.contains(r#"class="axis-label""#),
            "{title} has axis labels"
        );
        let marks = svg.matches(r#"class="mark""#).count();
        assert!(
            marks > 0 && (svg.contains("<rect") || svg.contains("<path")),
            "{title} has data marks"
        );
    }
}

#[test]
fn report_writes_a_self_contained_page_with_every_chart_and_the_incidents() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (out, r) = write_report(dir.path(), &[]);
    assert_eq!(r.code, Some(0));
    assert_eq!(
        r.stdout,
        format!("wrote {} (15 events, 6 errors)\n", out.display())
    );
    let html = std::fs::read_to_string(&out).expect("report written");
    for banned in [
        "<script", "<link", "<img", "<iframe", "src=", "url(", "@import", "http:", "https:",
    ] {
        assert!(
            !html.contains(banned),
            "external or active content: {banned}"
        );
    }
    assert_every_chart_drawn(&html);
    // Axis units (5 s buckets fit the fixture's 5.5 minutes).
    for label in [
        "events per 5s",
        "errors per 5s",
        "time (UTC), 5s buckets",
        "P95 of meta.latency_s (seconds)",
        "cost (USD)",
        "openrouter_error events (count)",
    ] {
        assert!(html.contains(label), "{label}");
    }
    // The one 401 incident, and the exact cost total.
    assert!(html.contains("<td>2025-10-06T00:00:10Z</td><td>critical</td><td>openrouter_error</td><td>401</td><td>invalid_key</td>"));
    assert!(
        html.contains(r#"<td>(all models)</td><td class="num">8</td><td class="num">1.2</td>"#)
    );
    assert!(html.contains("HTTP 401") && html.contains("HTTP 429") && html.contains("HTTP 502"));
    // Latency percentiles, successful and failed calls apart.
    assert!(html.contains(r#"<tr><td>deepseek/deepseek-v3.2-exp</td><td>failed</td><td class="num">1</td><td class="num">0.25</td><td class="num">0.25</td><td class="num">0.25</td></tr><tr><td>deepseek/deepseek-v3.2-exp</td><td>success</td><td class="num">3</td><td class="num">1.5</td><td class="num">2</td><td class="num">2</td></tr>"#));
    assert!(html.contains("pipeline_run events whose meta.result is not success: 0 in range."));
}

#[test]
fn report_lists_failed_pipeline_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run_line = |ts: &str, level: &str, result: &str, id: &str| {
        format!(
            r#"{{"ts":"{ts}","level":"{level}","evt":"pipeline_run","source":"pipeline::runner","msg":"run {id} {result}","meta":{{"result":"{result}","duration_s":75.25,"run_id":"{id}"}}}}"#
        )
    };
    let lines = [
        run_line("2025-10-06T01:00:00.000Z", "info", "success", "run-1"),
        run_line("2025-10-06T02:00:00.000Z", "error", "failure", "run-2"),
    ];
    std::fs::write(
        dir.path().join("events-2025-10-06.jsonl"),
        lines.join("\n") + "\n",
    )
    .expect("write");
    let out = dir.path().join("r.html");
    let r = run(&[
        "report",
        "--dir",
        &dir.path().display().to_string(),
        "--out",
        &out.display().to_string(),
    ]);
    assert_eq!(r.code, Some(0));
    let html = std::fs::read_to_string(&out).expect("report written");
    assert!(html.contains("pipeline_run events whose meta.result is not success: 1 in range."));
    assert!(html.contains(r#"<tr><td>2025-10-06T02:00:00Z</td><td>run-2</td><td>failure</td><td class="num">75.2</td><td>run run-2 failure</td></tr>"#), "{html}");
}

#[test]
fn report_json_summarises_what_was_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (out, r) = write_report(dir.path(), &["--json", "--title", "CI <run>"]);
    let expected = format!(
        r#"{{"cost_usd":1.2000000000000002,"errors":6,"events":15,"incidents":1,"malformed":2,"out":"{}"}}"#,
        out.display()
    );
    assert_eq!(r.stdout.trim_end(), expected);
    let html = std::fs::read_to_string(&out).expect("report written");
    assert!(html.contains("<title>CI &lt;run&gt;</title>"));
}

/// The report's Grafana links for the basic fixture: one per section, each
/// to its panel over the data's range (2025-10-05T23:58:00Z to just after
/// 2025-10-06T00:03:30Z, in Unix ms).
fn grafana_links() -> Vec<String> {
    let range = "from=1759708680000&to=1759709010001";
    [
        ("evt-pipeline-overview", 15),
        ("evt-openrouter-health", 9),
        ("evt-openrouter-health", 10),
        ("evt-openrouter-health", 7),
        ("evt-openrouter-health", 13),
        ("evt-costs-budgets", 6),
        ("evt-openrouter-health", 8),
        ("evt-costs-budgets", 13),
        ("evt-pipeline-overview", 13),
    ]
    .iter()
    .map(|(uid, panel)| format!("http://127.0.0.2:3000/d/{uid}?viewPanel={panel}&{range}"))
    .collect()
}

#[test]
fn report_links_each_section_to_its_grafana_panel_over_the_reports_range() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (out, r) = write_report(dir.path(), &["--grafana-url", "http://127.0.0.2:3000/"]);
    assert_eq!(r.code, Some(0));
    let html = std::fs::read_to_string(&out).expect("report written");
    assert_eq!(common::hrefs(&html), grafana_links());
    assert!(
        html.contains(">Open in Grafana: OpenRouter Health › Call latency P50 / P95 / P99</a>")
    );
    let (plain, _) = write_report(dir.path(), &[]);
    let html = std::fs::read_to_string(&plain).expect("report written");
    assert!(
        common::hrefs(&html).is_empty(),
        "no links without --grafana-url"
    );
    let bad = run(&[
        "report",
        "--dir",
        &basic(),
        "--out",
        "x.html",
        "--grafana-url",
        "grafana:3000",
    ]);
    assert_eq!(
        (bad.code, bad.stderr.as_str()),
        (
            Some(2),
            "evt-telemetry: --grafana-url: \"grafana:3000\" is not an http:// or https:// URL\n"
        )
    );
}

#[test]
fn report_to_an_unwritable_path_fails_with_exit_code_1() {
    let r = run(&[
        "report",
        "--dir",
        &basic(),
        "--out",
        "/definitely/not/here/report.html",
    ]);
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.ends_with("evt-telemetry: cannot write /definitely/not/here/report.html: No such file or directory (os error 2)\n"));
}

// === headless Chromium ===

#[test]
fn report_loads_in_headless_chromium_without_console_errors_or_requests_and_with_every_chart() {
    let Some(browser) = common::chromium() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    // Control: a page that does log an error and fetch something, to prove
    // both would be seen.
    let control = dir.path().join("control.html");
    std::fs::write(
        &control,
        "<html><body><img src=\"http://127.0.0.2:3000/x.png\"><script>console.error('control-error')</script></body></html>",
    )
    .expect("write");
    let seen = common::load(&browser, &control, &dir.path().join("control"), None);
    assert!(
        seen.console.iter().any(|l| l.contains("control-error")),
        "console messages are captured: {:?}",
        seen.console
    );
    assert!(
        seen.requests
            .iter()
            .any(|r| r.contains("127.0.0.2:3000/x.png")),
        "requests are captured: {:?}",
        seen.requests
    );

    let (report, r) = write_report(dir.path(), &["--grafana-url", "http://127.0.0.2:3000"]);
    assert_eq!(r.code, Some(0));
    let png = dir.path().join("report.png");
    let loaded = common::load(&browser, &report, &dir.path().join("report"), Some(&png));
    assert_eq!(loaded.console, Vec::<String>::new(), "no console messages");
    assert_eq!(loaded.requests, Vec::<String>::new(), "no requests");
    assert!(
        loaded.dom.contains("<h1>evt-telemetry report</h1>"),
        "the page rendered: {}",
        &loaded.dom[..loaded.dom.len().min(300)]
    );
    assert_every_chart_drawn(&loaded.dom);
    assert_eq!(common::hrefs(&loaded.dom), grafana_links());
    let shot = std::fs::read(&png).expect("screenshot written");
    assert!(shot.starts_with(b"\x89PNG\r\n\x1a\n") && shot.len() > 10_000);
}
