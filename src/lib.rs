//! One `tracing` call, two outputs: a durable JSON line in a daily file and a
//! Prometheus metric.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(missing_debug_implementations, unreachable_pub, rust_2018_idioms)]

mod builder;
mod capture;
mod clock;
mod console;
mod daily;
mod daily_files;
mod error;
mod exporter;
mod exposition;
#[cfg(feature = "fuzzing")]
mod fuzzing;
mod guard;
mod json;
mod layer;
mod line;
mod metrics_engine;
mod queue;
mod redact;
mod rule;
mod rule_check;
mod rules_toml;
mod series;
mod stats;
mod value;
mod writer;

pub use builder::{Telemetry, TelemetryBuilder};
pub use clock::{Clock, SystemClock};
pub use error::Error;
pub use exporter::PrometheusExporter;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub use fuzzing::render_event_for_fuzzing;
pub use guard::Guard;
pub use layer::{EvtFilter, EvtLayer, TelemetryLayer};
pub use redact::{REDACTED, Redactor, RedactorBuilder};
pub use rule::MetricRule;
pub use stats::Stats;
pub use value::LineLevel;
