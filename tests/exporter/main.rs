//! The built-in exporter: /metrics under load, hostile label values, label floods.
//!
//! One test binary per area: linking is what costs in CI.

#[path = "../common/mod.rs"]
mod common;

mod exemplars_from_the_layer;
mod exporter_serves_metrics;
mod exposition_injection;
mod label_flood;
mod scrape_under_load;
mod slow_clients;
