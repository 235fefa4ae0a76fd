//! The application's own Prometheus recorder: the rules' buckets, the
//! series created up front, and the exposition the built-in exporter serves.

use std::sync::Arc;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::error::Error;
use crate::exporter::exposition::finish_exposition;
use crate::exporter::with_buckets;
use crate::guard::Guard;
use crate::rules::engine::MetricsEngine;

/// What the guard keeps for the methods below: the rules (buckets, float
/// counters, series to create) and the application's own histogram buckets.
#[derive(Debug)]
pub(crate) struct RuleMetrics {
    engine: Arc<MetricsEngine>,
    app_buckets: Vec<(String, Vec<f64>)>,
}

impl RuleMetrics {
    pub(crate) fn new(engine: Arc<MetricsEngine>, app_buckets: Vec<(String, Vec<f64>)>) -> Self {
        RuleMetrics {
            engine,
            app_buckets,
        }
    }
}

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
            Some(r) => with_buckets(builder, &r.engine, &r.app_buckets),
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
            r.engine.ensure_init();
        }
    }

    /// The exposition text of `handle` as the built-in exporter serves it:
    /// families sorted by name, series by labels, and counters with
    /// fractional values (`openrouter_cost_usd_total`) typed `counter`.
    /// Serve this on your own `/metrics` route when you install the
    /// recorder with `install_recorder()`; the exporter's own HTTP listener
    /// serves `handle.render()`, where those counters are typed `gauge`.
    pub fn render_prometheus(&self, handle: &PrometheusHandle) -> String {
        let float_counters = self.rules().map(|r| r.engine.catalogue().float_counters());
        finish_exposition(&handle.render(), &float_counters.unwrap_or_default())
    }
}
