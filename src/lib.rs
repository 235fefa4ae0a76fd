//! One `tracing` call, two outputs: a durable JSON line in a daily file and a
//! Prometheus metric.
//!
//! Add the layer to a `tracing_subscriber` registry and instrument code with
//! the ordinary macros. Every event with a field `evt = "..."` is
//!
//! 1. written as one JSON line (`ts, level, evt, source, msg, meta`) to
//!    `<log_dir>/events-YYYY-MM-DD.jsonl` (UTC date of the event) by a
//!    background writer that never blocks the caller on disk and, by default,
//!    loses nothing;
//! 2. turned into `metrics` updates by declarative [`MetricRule`]s, which the
//!    optional Prometheus exporter serves on `/metrics`.
//!
//! Events without `evt` are not touched. Secrets are redacted (see
//! [`Redactor`]) before anything is buffered or becomes a label.
//!
//! ```no_run
//! use evt_telemetry::{MetricRule, TelemetryBuilder};
//! use tracing_subscriber::layer::SubscriberExt as _;
//! use tracing_subscriber::util::SubscriberInitExt as _;
//!
//! # fn main() -> Result<(), evt_telemetry::Error> {
//! let (layer, guard) = TelemetryBuilder::new()
//!     .log_dir("data/telemetry")
//!     .rule(MetricRule::counter("openrouter_errors_total")
//!         .on("openrouter_error")
//!         .labels(["status", "code", "model"])
//!         .help("Failed OpenRouter calls"))
//!     .install_prometheus()?;            // or build() to touch no globals
//! tracing_subscriber::registry().with(layer).init();
//!
//! tracing::error!(evt = "openrouter_error", source = "translation_service",
//!                 status = 429, code = "rate_limited", model = "deepseek/deepseek-v3.2-exp",
//!                 "429 Rate limit");
//! drop(guard); // flushes every queued line
//! # Ok(())
//! # }
//! ```
//!
//! Below: [the line contract](#the-line-contract) (what each line holds) and
//! the [instrumentation guide](#instrumentation-guide) (which events the
//! translation-pipeline preset expects, and the code that logs them).
//!
//! # Set-ups
//!
//! - **`EnvFilter` / `RUST_LOG`**: put the filter on the console layer
//!   (`fmt::layer().with_filter(EnvFilter::from_default_env())`, or
//!   [`console_layer`], which also redacts), not in front of this layer: a
//!   global filter drops callsites for every layer. If one does, the layer
//!   says so once on stderr when the subscriber is assembled, with the code
//!   to change. [`TelemetryBuilder::init`] filters its console by `RUST_LOG`.
//! - **Your own Prometheus recorder**: [`Guard::configure_prometheus`],
//!   [`Guard::register_metrics`], [`Guard::render_prometheus`]; buckets for
//!   the application's own histograms: [`TelemetryBuilder::prometheus_buckets`].
//!   Install the recorder before the first event: metrics start with the
//!   first event after a recorder exists (stderr says so once).
//! - **Async services**: lossless by default, so a caller waits inside
//!   `info!` while the queue is full; [`Guard::flush`] and
//!   [`Guard::shutdown`] wait up to the shutdown timeout (call them from
//!   `spawn_blocking`). [`TelemetryBuilder::lossy`] drops (and counts)
//!   instead of waiting.
//! - **Shutting down**: drop the guard or call [`Guard::shutdown`] before
//!   the process exits; `std::process::exit` runs no destructors.
//!
//! The README details each (with figures), and documents redaction, files
//! and retention, the writer's guarantees, the rule format and the
//! operations kit: <https://github.com/evt-telemetry/evt-telemetry#readme>.
//!
#![doc = include_str!("../docs/LINE_CONTRACT.md")]
//!
#![doc = include_str!("../docs/INSTRUMENTATION.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(missing_debug_implementations, unreachable_pub, rust_2018_idioms)]

mod builder;
mod capture;
mod clock;
mod console;
mod contract;
mod diag;
mod encode;
mod error;
mod exporter;
#[cfg(feature = "fuzzing")]
mod fuzzing;
mod guard;
mod layer;
mod own_recorder;
mod rules;
mod self_metrics;
mod sink;
mod startup_check;
mod stats;
mod words;

pub use builder::TelemetryBuilder;
pub use capture::redact::{REDACTED, Redactor, RedactorBuilder};
pub use clock::{Clock, SystemClock};
pub use console::{ConsoleLayer, RedactingFields, console_layer};
pub use contract::level::LineLevel;
pub use error::Error;
pub use exporter::PrometheusExporter;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub use fuzzing::render_event_for_fuzzing;
pub use guard::Guard;
pub use layer::{BareTelemetryLayer, TelemetryFilter, TelemetryLayer};
pub use rules::rule::MetricRule;
pub use stats::Stats;

/// The README's Rust examples, compiled (and run, where they run) as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
