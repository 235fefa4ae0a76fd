//! The guard that keeps the writer alive and flushes it on drop.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::error::Error;
use crate::exporter::PrometheusExporter;
use crate::exporter::exposition::finish_exposition;
use crate::own_recorder::RuleMetrics;
use crate::rules::restore::Restore;
use crate::self_metrics::{DropReason, SelfMetrics};
use crate::sink::queue::Queue;
use crate::stats::Stats;

/// Keeps the background writer running; dropping it flushes every queued
/// line (waiting up to the shutdown timeout) and stops the writer.
///
/// Bind it to a named variable for the life of the program:
/// `let _guard = ...` keeps it, but `let _ = ...` drops it at once, which
/// stops writing immediately.
///
/// If the timeout runs out, the writer is told to stop after the write it
/// is doing (the guard waits at most 1 s more for that), and the exact
/// number of lines not written is printed on stderr and counted
/// (`telemetry_dropped_events_total{reason="shutdown_timeout"}`,
/// [`Stats::shutdown_unwritten`]). [`shutdown`](Self::shutdown) does the
/// same as dropping and returns the final counters.
#[must_use = "dropping the guard stops the writer: bind it: `let _guard = …`, not `let _`"]
#[derive(Debug)]
pub struct Guard {
    queue: Arc<Queue>,
    own: Arc<SelfMetrics>,
    writer: Option<JoinHandle<()>>,
    restore: Restore,
    shutdown_timeout: Duration,
    exporter: Option<PrometheusExporter>,
    /// What serving the rules' metrics through the application's own
    /// recorder needs (see `own_recorder.rs`).
    rules: Option<RuleMetrics>,
}

/// How long a stopping guard waits, after the shutdown timeout, for the
/// writer to finish the write it is doing (a slow disk or pipe).
const STOP_GRACE: Duration = Duration::from_secs(1);

impl Guard {
    /// What has been queued, written, dropped and retried so far.
    pub fn stats(&self) -> Stats {
        Stats {
            lines_queued: self.queue.accepted(),
            ..self.own.stats()
        }
    }

    /// Waits until every line queued before this call is written (or given
    /// up after write errors), and until today's daily sums have been read
    /// back from today's file (done on a thread of its own after `build()`),
    /// for at most the shutdown timeout.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] with the number of lines still outstanding (0 if
    /// only the daily-sum restore is still running).
    pub fn flush(&self) -> Result<(), Error> {
        let deadline = std::time::Instant::now() + self.shutdown_timeout;
        let pending = self
            .queue
            .wait_finished(self.queue.accepted(), self.shutdown_timeout);
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match (pending, self.restore.wait(left)) {
            (0, true) => Ok(()),
            (pending, _) => Err(Error::Timeout { pending }),
        }
    }

    /// Flushes and stops the writer like dropping the guard does, and
    /// returns the final counters: every accepted line is then counted as
    /// written, given up after write errors ([`Stats::unwritten`]) or not
    /// written because the shutdown timeout ran out
    /// ([`Stats::shutdown_unwritten`]).
    ///
    /// The one exception: if the writer is still inside one write call 1 s
    /// after the timeout (a stalled disk or pipe), the lines of that call are
    /// in none of these counters yet; stderr says how many.
    pub fn shutdown(mut self) -> Stats {
        self.stop();
        self.stats()
    }

    /// The Prometheus exporter, when it was installed by
    /// [`TelemetryBuilder::install_prometheus`](crate::TelemetryBuilder::install_prometheus).
    pub fn prometheus(&self) -> Option<&PrometheusExporter> {
        self.exporter.as_ref()
    }
}

impl Guard {
    /// The guard of the writer thread `writer` draining `queue`.
    pub(crate) fn new(
        queue: Arc<Queue>,
        own: Arc<SelfMetrics>,
        writer: JoinHandle<()>,
        restore: Restore,
        shutdown_timeout: Duration,
    ) -> Self {
        Guard {
            queue,
            own,
            writer: Some(writer),
            restore,
            shutdown_timeout,
            exporter: None,
            rules: None,
        }
    }

    /// Hands the guard what serving the rules through an own recorder needs.
    pub(crate) fn keep_rules(&mut self, rules: RuleMetrics) {
        self.rules = Some(rules);
    }

    /// The rules' metrics, set by `build()` on every guard it makes.
    pub(crate) fn rules(&self) -> Option<&RuleMetrics> {
        self.rules.as_ref()
    }

    /// Hands the running exporter to the guard, which stops it on drop.
    pub(crate) fn keep_exporter(&mut self, exporter: PrometheusExporter) {
        self.exporter = Some(exporter);
    }

    fn stop(&mut self) {
        let Some(writer) = self.writer.take() else {
            return;
        };
        let deadline = std::time::Instant::now() + self.shutdown_timeout;
        self.drain(writer);
        // The restored daily sums stay readable after the guard is gone if
        // the restore ends within the shutdown timeout; else it is stopped.
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        self.restore.finish_within(left);
    }

    /// Closes the queue and waits for the writer to drain it (see the type's
    /// docs for what happens when the shutdown timeout runs out).
    fn drain(&mut self, writer: JoinHandle<()>) {
        self.queue.close();
        let target = self.queue.accepted();
        if self.queue.wait_finished(target, self.shutdown_timeout) == 0 {
            let _ = writer.join();
            return;
        }
        // Give up what is queued; the writer skips the rest of its batch.
        let given_up = self.queue.abandon();
        self.own.dropped(DropReason::ShutdownTimeout, given_up);
        let in_write = self.queue.wait_finished(target, STOP_GRACE);
        if in_write == 0 {
            let _ = writer.join();
        }
        let not_written = self.own.stats().shutdown_unwritten;
        let still = match in_write {
            0 => String::new(),
            n => format!(" ({n} more were in a write that had not returned)"),
        };
        eprintln!(
            "evt-telemetry: shutdown timeout ({:?}) reached: {not_written} lines not written{still}",
            self.shutdown_timeout
        );
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.stop();
    }
}

// === your own recorder (see own_recorder.rs) ===

impl Guard {
    /// `builder` (the application's own metrics-exporter-prometheus builder,
    /// same 0.18 version) with real buckets for every histogram rule and
    /// every [`prometheus_buckets`](crate::TelemetryBuilder::prometheus_buckets)
    /// entry, so they render as `_bucket` histograms rather than summaries.
    /// Everything else about the builder (listener, global labels, upkeep)
    /// stays the application's.
    ///
    /// Then install it and call [`register_metrics`](Self::register_metrics):
    ///
    /// ```no_run
    /// use metrics_exporter_prometheus::PrometheusBuilder;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (layer, guard) = evt_telemetry::TelemetryBuilder::new()
    ///     .rules_toml_file("telemetry.toml")
    ///     .build::<tracing_subscriber::Registry>()?;
    /// let handle = guard
    ///     .configure_prometheus(PrometheusBuilder::new())?
    ///     .install_recorder()?;
    /// guard.register_metrics();
    /// // Serve `guard.render_prometheus(&handle)` on your own `/metrics` route.
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Exporter`] if the builder refuses a bucket list (it never
    /// does for bounds that passed `build()`).
    pub fn configure_prometheus(
        &self,
        builder: PrometheusBuilder,
    ) -> Result<PrometheusBuilder, Error> {
        match self.rules() {
            Some(r) => r.configure(builder),
            None => Ok(builder),
        }
    }

    /// Describes every metric (help text, unit) and creates every series
    /// known in advance at zero, on the recorder installed now: the
    /// `precreate` label sets, metrics without field labels, and the
    /// `telemetry_*` self-metrics. Call it right after installing your own
    /// recorder, so the first scrape, before any event, already shows them
    /// (an `increase()` alert then sees the very first 401).
    ///
    /// Done once; the first event does it anyway. Does nothing while no
    /// recorder is installed (the metrics facade's no-op recorder would
    /// swallow it).
    pub fn register_metrics(&self) {
        if let Some(r) = self.rules() {
            r.register();
        }
    }

    /// The exposition text of `handle` as the built-in exporter serves it:
    /// families sorted by name, series by labels, and counters with
    /// fractional values (`openrouter_cost_usd_total`) typed `counter`.
    /// Serve this on your own `/metrics` route when you install the
    /// recorder with `install_recorder()`; the exporter's own HTTP listener
    /// serves `handle.render()`, where those counters are typed `gauge`.
    pub fn render_prometheus(&self, handle: &PrometheusHandle) -> String {
        match self.rules() {
            Some(r) => r.render(handle),
            None => finish_exposition(&handle.render(), &[]),
        }
    }
}
