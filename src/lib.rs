//! One `tracing` call, two outputs: a durable JSON line in a daily file and a
//! Prometheus metric.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(missing_debug_implementations, unreachable_pub, rust_2018_idioms)]

mod clock;
#[cfg_attr(not(test), allow(dead_code))] // TODO(merge): remove once the layer uses the engine.
mod daily;
mod error;
#[cfg_attr(not(test), allow(dead_code))] // TODO(merge): remove once the layer uses the engine.
mod exporter;
#[cfg_attr(not(test), allow(dead_code))] // TODO(merge): remove once the layer uses the engine.
mod exposition;
#[cfg_attr(not(test), allow(dead_code))] // TODO(merge): remove once the layer uses the engine.
mod metrics_engine;
#[cfg_attr(not(test), allow(dead_code))] // TODO(merge): remove once the layer uses the engine.
mod rule;
#[cfg_attr(not(test), allow(dead_code))] // TODO(merge): remove once the layer uses the engine.
mod rule_check;
#[cfg_attr(not(test), allow(dead_code))] // TODO(merge): remove once the layer uses the engine.
mod rules_toml;
#[cfg_attr(not(test), allow(dead_code))] // TODO(merge): remove once the layer uses the engine.
mod series;
mod value;

pub use clock::{Clock, SystemClock};
pub use error::Error;
pub use exporter::PrometheusExporter;
pub use rule::MetricRule;
pub use value::LineLevel;
