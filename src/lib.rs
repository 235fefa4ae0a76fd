//! One `tracing` call, two outputs: a durable JSON line in a daily file and a
//! Prometheus metric.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(missing_debug_implementations, unreachable_pub, rust_2018_idioms)]

mod clock;
mod error;
mod value;

pub use clock::{Clock, SystemClock};
pub use error::Error;
pub use value::LineLevel;
