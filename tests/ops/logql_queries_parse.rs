//! Every LogQL expression in the dashboards and docs parses with Grafana's Lezer LogQL grammar
//! (`node dashboards/tests/logql_parse.mjs`), and the documented counter-examples do not.

use crate::common::kit as support;

use std::process::Command;
use support::queries::{self, Lang};
use support::{kit, output_text, read, require, run, tool};

#[test]
fn every_logql_expression_parses_and_the_documented_counter_examples_do_not() {
    let Some(node) = tool("node", "nodejs") else {
        return;
    };
    let installed = kit("tests/node_modules/@grafana/lezer-logql/package.json").is_file();
    if !require(
        "dashboards/tests/node_modules",
        installed,
        "run `npm ci --prefix dashboards/tests`",
    ) {
        return;
    }
    let out = run(Command::new(node)
        .arg("logql_parse.mjs")
        .current_dir(kit("tests")));
    let text = output_text(&out);
    assert!(out.status.success(), "LogQL parse failures\n{text}");

    // The script and the Rust side must see the same expressions.
    let mut all = queries::all_dashboard_queries();
    all.extend(queries::doc_queries());
    let valid = all.iter().filter(|q| q.lang == Lang::LogQl).count();
    let invalid: usize = queries::doc_files()
        .iter()
        .flat_map(|p| queries::fenced_blocks(&read(p), "logql-invalid"))
        .map(|b| queries::split_queries(&b).len())
        .sum();
    assert!(
        valid >= 8 && invalid == 2,
        "valid={valid} invalid={invalid}"
    );
    let summary = format!(
        "queries: valid={valid} invalid={invalid}\nlogql: {} passed, 0 failed\n",
        valid + invalid
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).ends_with(&summary),
        "expected summary {summary:?}\n{text}"
    );
}

#[test]
fn docs_explain_the_meta_code_flattening_and_the_invalid_unwrap_query() {
    let doc = read(&support::repo_root().join("docs/OPERATIONS.md"));
    assert!(doc.contains("`meta.code` becomes `meta_code`"));
    let invalid = queries::fenced_blocks(&doc, "logql-invalid");
    assert!(
        invalid
            .iter()
            .any(|b| b.contains("| unwrap ts | count_over_time(1m)")),
        "{invalid:?}"
    );
    let valid = queries::fenced_blocks(&doc, "logql").join("\n");
    assert!(
        valid.contains("meta_code = \"rate_limited\" [1m]"),
        "rate-limits by model per minute"
    );
    assert!(
        valid.contains("evt=\"pipeline_run\", level=\"error\"") && valid.contains("meta_run_id = "),
        "failed run trail"
    );
}
