//! Each dashboard type-checks against the `Dashboard` type Grafana publishes in `@grafana/schema` (11.4.0, the
//! Grafana of the compose file), through `node dashboards/tests/schema_check.mjs`; and the check rejects a
//! wrong type, an unknown enum value and an unknown property.

use crate::common::kit as support;

use std::path::Path;
use std::process::Command;
use support::{kit, output_text, require, run, tool};

/// Runs the schema check on `dir` (the committed dashboards when `None`); `None` when a tool is missing.
fn schema_check(dir: Option<&Path>) -> Option<(bool, String)> {
    let node = tool("node", "nodejs")?;
    let installed = kit("tests/node_modules/@grafana/schema/package.json").is_file()
        && kit("tests/node_modules/typescript/package.json").is_file();
    if !require(
        "dashboards/tests/node_modules (@grafana/schema, typescript)",
        installed,
        "run `npm ci --prefix dashboards/tests`",
    ) {
        return None;
    }
    let mut cmd = Command::new(node);
    cmd.arg("schema_check.mjs").current_dir(kit("tests"));
    if let Some(dir) = dir {
        cmd.arg(dir);
    }
    let out = run(&mut cmd);
    Some((out.status.success(), output_text(&out)))
}

#[test]
fn every_dashboard_type_checks_against_grafana_schema() {
    let Some((ok, text)) = schema_check(None) else {
        return;
    };
    let count = support::queries::dashboard_files().len();
    assert!(
        ok && text.contains(&format!("schema: {count} passed, 0 failed\n")),
        "{text}"
    );
}

#[test]
fn the_schema_check_rejects_wrong_types_enum_values_and_unknown_properties() {
    let original = support::read(&kit("grafana/dashboards/evt-costs-budgets.json"));
    let mutations = [
        (
            "\"graphTooltip\": 1",
            "\"graphTooltip\": \"shared\"",
            "DashboardCursorSync",
        ),
        (
            "\"mode\": \"absolute\"",
            "\"mode\": \"absolutely\"",
            "absolutely",
        ),
        (
            "\"editable\": true",
            "\"editable\": true, \"refreshEvery\": \"5s\"",
            "refreshEvery",
        ),
    ];
    for (from, to, reported) in mutations {
        assert!(original.contains(from), "{from:?} not in the dashboard");
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(
            dir.path().join("mutated.json"),
            original.replacen(from, to, 1),
        )
        .expect("write");
        let Some((ok, text)) = schema_check(Some(dir.path())) else {
            return;
        };
        assert!(
            !ok && text.contains("FAIL    mutated.json") && text.contains(reported),
            "{to}: {text}"
        );
    }
}
