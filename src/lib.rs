//! One `tracing` call, two outputs: a durable JSON line in a daily file and a
//! Prometheus metric.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(missing_debug_implementations, unreachable_pub, rust_2018_idioms)]

mod clock;
mod daily;
mod error;
mod exporter;
mod exposition;
mod metrics_engine;
mod rule;
mod rule_check;
mod rules_toml;
mod series;
mod value;

pub use clock::{Clock, SystemClock};
pub use error::Error;
pub use exporter::PrometheusExporter;
pub use rule::MetricRule;
pub use value::LineLevel;
