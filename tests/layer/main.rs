//! The layer, end to end: events in, exact lines and metrics out.
//!
//! One test binary per area: linking is what costs in CI.

#[path = "../common/mod.rs"]
mod common;

mod concurrency_midnight;
mod daily_files_and_writer;
mod early_event;
mod env_filter;
mod hostile_input;
mod huge_field_value;
mod init_and_guard;
mod line_contract;
mod lossy_markers;
mod metrics_from_events;
mod own_recorder;
mod repeated_label_sets;
mod restore_daily_sums;
mod secrets_never_leak;
mod token_shapes;
