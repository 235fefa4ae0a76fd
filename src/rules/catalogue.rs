//! What the rules declare, read by the exporter and told to the recorder:
//! descriptions and units, histogram buckets, float counters, label names.

use metrics::{KeyName, SharedString, Unit};

use crate::rules::compile::{MetricDef, MetricKind};

/// The compiled metrics, seen from outside the engine.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Catalogue<'a>(pub(crate) &'a [MetricDef]);

impl Catalogue<'_> {
    /// Every histogram metric and its bucket bounds.
    pub(crate) fn histogram_buckets(&self) -> Vec<(String, Vec<f64>)> {
        let hist = self.0.iter().filter(|m| m.kind == MetricKind::Histogram);
        hist.map(|m| (m.name.clone(), m.buckets.clone().unwrap_or_default()))
            .collect()
    }

    /// Counters kept as float totals (recorded as gauges, exposed as counters).
    pub(crate) fn float_counters(&self) -> Vec<String> {
        let float = self.0.iter().filter(|m| m.kind == MetricKind::FloatCounter);
        float.map(|m| m.name.clone()).collect()
    }

    /// Every metric with a unit, and the unit, self-metrics included.
    pub(crate) fn units(&self) -> Vec<(String, String)> {
        let own = crate::self_metrics::units().map(|(n, u)| (n.to_string(), u.to_string()));
        let rules = (self.0.iter()).filter_map(|m| Some((m.name.clone(), m.unit.clone()?)));
        own.chain(rules).collect()
    }

    /// Every label name any metric uses, self-metrics included.
    pub(crate) fn label_names(&self) -> Vec<String> {
        let mut names: Vec<String> = crate::self_metrics::label_names()
            .map(str::to_string)
            .chain(self.0.iter().flat_map(|m| m.labels.iter().cloned()))
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    /// Describes every metric (help, unit, type) to the current recorder.
    pub(crate) fn describe(&self) {
        metrics::with_recorder(|r| {
            for m in self.0 {
                let (name, help) = (
                    KeyName::from(m.name.clone()),
                    SharedString::from(m.help.clone()),
                );
                let unit = m.unit.as_deref().and_then(Unit::from_string);
                match m.kind {
                    MetricKind::Counter => r.describe_counter(name, unit, help),
                    MetricKind::Histogram => r.describe_histogram(name, unit, help),
                    _ => r.describe_gauge(name, unit, help),
                }
            }
        });
    }
}
