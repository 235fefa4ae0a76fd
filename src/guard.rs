//! The guard that keeps the writer alive and flushes it on drop.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::error::Error;
use crate::exporter::PrometheusExporter;
use crate::metrics_engine::MetricsEngine;
use crate::queue::Queue;
use crate::stats::{Counters, Stats};

/// Keeps the background writer running; dropping it flushes every queued
/// line (waiting up to the shutdown timeout) and stops the writer.
///
/// Bind it to a named variable for the life of the program:
/// `let _guard = ...` keeps it, but `let _ = ...` drops it at once, which
/// stops writing immediately.
///
/// If the timeout runs out, the number of lines not written is printed on
/// stderr and counted (`telemetry_dropped_events_total{reason="shutdown_timeout"}`).
#[must_use = "dropping the guard stops the writer: keep it alive while the program runs"]
#[derive(Debug)]
pub struct Guard {
    pub(crate) queue: Arc<Queue>,
    pub(crate) counters: Arc<Counters>,
    pub(crate) engine: Arc<MetricsEngine>,
    pub(crate) writer: Option<JoinHandle<()>>,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) exporter: Option<PrometheusExporter>,
}

impl Guard {
    /// What has been queued, written, dropped and retried so far.
    pub fn stats(&self) -> Stats {
        self.counters.snapshot()
    }

    /// Waits until every line queued before this call is written (or given
    /// up after write errors), for at most the shutdown timeout.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] with the number of lines still outstanding.
    pub fn flush(&self) -> Result<(), Error> {
        match self
            .queue
            .wait_finished(self.queue.accepted(), self.shutdown_timeout)
        {
            0 => Ok(()),
            pending => Err(Error::Timeout { pending }),
        }
    }

    /// The Prometheus exporter, when it was installed by
    /// [`TelemetryBuilder::install_prometheus`](crate::TelemetryBuilder::install_prometheus).
    pub fn prometheus(&self) -> Option<&PrometheusExporter> {
        self.exporter.as_ref()
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.queue.close();
        let pending = self
            .queue
            .wait_finished(self.queue.accepted(), self.shutdown_timeout);
        if pending == 0 {
            if let Some(writer) = self.writer.take() {
                let _ = writer.join();
            }
            return;
        }
        Counters::add(&self.counters.shutdown_unwritten, pending);
        self.engine.on_dropped("shutdown_timeout", pending);
        eprintln!(
            "evt-telemetry: shutdown timeout ({:?}) reached: {pending} lines not written",
            self.shutdown_timeout
        );
    }
}
