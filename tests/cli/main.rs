//! The `evt-telemetry` command (needs the `cli` feature).
//!
//! One test binary per area: linking is what costs in CI.

#![cfg(feature = "cli")]

#[path = "../common/mod.rs"]
mod common;

mod costs;
mod costs_match_metrics;
mod inputs;
mod monitor;
mod query;
mod report;
mod search;
mod stats;
mod tail;
