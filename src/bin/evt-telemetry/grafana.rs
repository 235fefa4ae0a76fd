//! Links into the Grafana dashboards of `dashboards/grafana/dashboards/`,
//! by their stable uids and panel ids (a test checks them against the JSON).

/// One provisioned dashboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Dashboard {
    pub(crate) uid: &'static str,
    pub(crate) title: &'static str,
}

pub(crate) const OVERVIEW: Dashboard = Dashboard {
    uid: "evt-pipeline-overview",
    title: "Translation Pipeline Overview",
};
pub(crate) const HEALTH: Dashboard = Dashboard {
    uid: "evt-openrouter-health",
    title: "OpenRouter Health",
};
pub(crate) const COSTS: Dashboard = Dashboard {
    uid: "evt-costs-budgets",
    title: "Costs & Budgets",
};
/// The three dashboards, in the order pages list them.
pub(crate) const DASHBOARDS: [Dashboard; 3] = [OVERVIEW, HEALTH, COSTS];

/// One panel of a dashboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Panel {
    pub(crate) dashboard: Dashboard,
    pub(crate) id: u32,
    pub(crate) title: &'static str,
}

const fn panel(dashboard: Dashboard, id: u32, title: &'static str) -> Panel {
    Panel {
        dashboard,
        id,
        title,
    }
}

/// The panels the report's sections link to.
pub(crate) const EVENTS: Panel = panel(OVERVIEW, 15, "Events / s by evt and level");
pub(crate) const CALLS: Panel = panel(HEALTH, 9, "Calls / s: success vs error");
pub(crate) const ERROR_RATIO: Panel = panel(HEALTH, 10, "Error ratio by model");
pub(crate) const ERRORS_BY_STATUS: Panel =
    panel(HEALTH, 7, "Errors per interval: 429, 5xx, 401, 402");
pub(crate) const LATENCY: Panel = panel(HEALTH, 13, "Call latency P50 / P95 / P99");
pub(crate) const DAILY_COST: Panel = panel(COSTS, 6, "Daily cost by model (USD)");
pub(crate) const TOP_CODES: Panel = panel(HEALTH, 8, "Top error codes (range)");
pub(crate) const INCIDENTS: Panel = panel(COSTS, 13, "Auth / payment incidents (range)");
pub(crate) const RUNS: Panel = panel(OVERVIEW, 13, "Pipeline runs / min by result");
/// Every panel linked to (for the test against the dashboards' JSON).
#[cfg(test)]
pub(crate) const PANELS: [Panel; 9] = [
    EVENTS,
    CALLS,
    ERROR_RATIO,
    ERRORS_BY_STATUS,
    LATENCY,
    DAILY_COST,
    TOP_CODES,
    INCIDENTS,
    RUNS,
];

/// Checks a `--*-url` value: `http://` or `https://`, no spaces or quotes;
/// returns it without a trailing `/`.
pub(crate) fn base_url(name: &str, url: &str) -> Result<String, String> {
    let ok = (url.starts_with("http://") || url.starts_with("https://"))
        && !url.contains(|c: char| c.is_whitespace() || c.is_control() || "\"'<>`".contains(c));
    if !ok {
        return Err(format!(
            "--{name}: {url:?} is not an http:// or https:// URL"
        ));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

/// `BASE/d/UID`: a dashboard with its default time range.
pub(crate) fn dashboard_url(base: &str, d: Dashboard) -> String {
    format!("{base}/d/{}", d.uid)
}

/// `BASE/d/UID?viewPanel=ID&from=MS&to=MS`: one panel over a time range
/// (Unix milliseconds, as Grafana takes them).
pub(crate) fn panel_url(base: &str, p: Panel, from_ms: i64, to_ms: i64) -> String {
    format!(
        "{}?viewPanel={}&from={from_ms}&to={to_ms}",
        dashboard_url(base, p.dashboard),
        p.id
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_and_built_from_uids_and_panel_ids() {
        let base = base_url("grafana-url", "https://grafana.example:3000/").expect("valid");
        assert_eq!(base, "https://grafana.example:3000");
        assert_eq!(
            panel_url(&base, LATENCY, 1, 2),
            "https://grafana.example:3000/d/evt-openrouter-health?viewPanel=13&from=1&to=2"
        );
        for bad in [
            "grafana:3000",
            "ftp://x",
            "http://a b",
            "http://x\"><script>",
        ] {
            assert!(base_url("grafana-url", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn uids_and_panels_match_the_provisioned_dashboards() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/dashboards/grafana/dashboards");
        for d in DASHBOARDS {
            let text = std::fs::read_to_string(format!("{dir}/{}.json", d.uid)).expect("dashboard");
            let json: serde_json::Value = serde_json::from_str(&text).expect("JSON");
            assert_eq!(
                (json["uid"].as_str(), json["title"].as_str()),
                (Some(d.uid), Some(d.title))
            );
            for p in PANELS.iter().filter(|p| p.dashboard == d) {
                let found = json["panels"]
                    .as_array()
                    .expect("panels")
                    .iter()
                    .find(|j| j["id"] == p.id)
                    .and_then(|j| j["title"].as_str());
                assert_eq!(found, Some(p.title), "{} panel {}", d.uid, p.id);
            }
        }
    }
}
