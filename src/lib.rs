//! One `tracing` call, two outputs: a durable JSON line in a daily file and a
//! Prometheus metric.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(missing_debug_implementations, unreachable_pub, rust_2018_idioms)]

mod clock;
// Wired up by the writer; until then only its tests use it.
#[allow(dead_code)]
mod daily_files;
mod error;
mod redact;
mod value;

pub use clock::{Clock, SystemClock};
pub use error::Error;
pub use redact::{REDACTED, Redactor, RedactorBuilder};
pub use value::LineLevel;
