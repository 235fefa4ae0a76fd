//! The operations kit: rules, dashboards, shipping configs, against real Prometheus tools where present.
//!
//! One test binary per area: linking is what costs in CI.

#[path = "../common/mod.rs"]
mod common;

mod alert_rules_promtool;
mod dashboards_match_grafana_schema;
mod dashboards_queries_parse;
mod exemplars_end_to_end;
mod first_incident_pages_once;
mod grafana_alerts_match_prometheus_rules;
mod log_shipping_configs;
mod logql_queries_parse;
mod logql_queries_run_on_the_example_output;
mod operations_kit_stays_local;
mod prometheus_end_to_end;
mod victoria_metrics_agrees;
