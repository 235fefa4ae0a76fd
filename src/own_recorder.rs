//! The application's own Prometheus recorder: the rules' buckets, the
//! series created up front, and the exposition the built-in exporter serves.

use std::sync::Arc;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::error::Error;
use crate::exporter::exposition::finish_exposition;
use crate::exporter::with_buckets;
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

impl RuleMetrics {
    /// `builder` with real buckets for every histogram rule and every
    /// application bucket list.
    pub(crate) fn configure(&self, builder: PrometheusBuilder) -> Result<PrometheusBuilder, Error> {
        with_buckets(builder, &self.engine, &self.app_buckets)
    }

    /// Describes every metric and creates the series known in advance.
    pub(crate) fn register(&self) {
        self.engine.ensure_init();
    }

    /// `handle`'s text as the built-in exporter serves it.
    pub(crate) fn render(&self, handle: &PrometheusHandle) -> String {
        let float_counters = self.engine.catalogue().float_counters();
        finish_exposition(&handle.render(), &float_counters)
    }
}
