//! The engine's first use on a thread with a recorder: describing every
//! metric, creating the zero series, and applying the daily sums read back
//! at start-up.

use super::*;

/// Said once when an evt event arrives before any metrics recorder.
pub(crate) const NO_RECORDER_MESSAGE: &str = "an evt event arrived before a metrics recorder \
     was installed: its metric updates are skipped (its line is written), and metrics start with the first \
     event after one is installed. Install the recorder (install_prometheus(), or your own followed by \
     guard.register_metrics()) before logging";

impl MetricsEngine {
    /// Describes every metric and creates the zero series, once (tried again
    /// if a recorder panicked the first time, rather than poisoning the
    /// engine). Returns whether handles can be used: not while no recorder
    /// is installed, so that nothing stays bound to the no-op recorder.
    pub(crate) fn ensure_init(&self) -> bool {
        if self.init.is_completed() {
            return true;
        }
        if !self.own.ensure_init() {
            self.say_no_recorder();
            return false;
        }
        self.init.call_once_force(|_| {
            self.catalogue().describe();
            self.create_zero_series();
            self.apply_restored();
        });
        true
    }

    /// Whether to print set-up problems on stderr (`stderr_diagnostics`).
    pub(crate) fn set_stderr(&self, on: bool) {
        self.stderr.store(on, Ordering::Relaxed);
    }

    /// Says once on stderr that rule updates are skipped for want of a
    /// recorder (only when there are rules: self-metrics alone are no reason
    /// to speak to a files-only application).
    fn say_no_recorder(&self) {
        if self.metrics.is_empty()
            || !self.stderr.load(Ordering::Relaxed)
            || self.said_no_recorder.swap(true, Ordering::Relaxed)
        {
            return;
        }
        diag(true, format_args!("{NO_RECORDER_MESSAGE}"));
    }

    fn apply_restored(&self) {
        let local = crate::rules::restore::recorder_is_local();
        let restored = {
            let mut r = self.restored.lock().unwrap_or_else(PoisonError::into_inner);
            (r.applied, r.local) = (true, local);
            std::mem::take(&mut r.items)
        };
        self.apply_items(restored);
    }

    /// Called by the restore thread when it is done: applies the sums it
    /// read after the handles were resolved (the rest were applied by
    /// `ensure_init`), unless a thread-local recorder resolved them.
    pub(crate) fn finish_restore(&self) {
        self.apply_late_restore(false);
    }

    /// Applies restored sums left for the caller's thread (see
    /// [`finish_restore`](Self::finish_restore)); the guard calls it once the
    /// restore is done.
    pub(crate) fn apply_late_restore(&self, on_callers_thread: bool) {
        let restored = {
            let mut r = self.restored.lock().unwrap_or_else(PoisonError::into_inner);
            if !r.applied || (r.local && !on_callers_thread) {
                return;
            }
            std::mem::take(&mut r.items)
        };
        self.apply_items(restored);
    }

    fn apply_items(&self, restored: Vec<Restored>) {
        let mut key = LabelKey::default();
        for r in restored {
            key.clear();
            r.labels.iter().for_each(|v| key.push_str(v));
            let kind = self.metrics[r.metric].kind.rule_kind();
            self.tables[r.metric].with_handle(&key, |h| {
                self.update(h, kind, Update::Value(r.sum), r.day);
            });
        }
    }

    /// The self-metrics, shared with the layer, the writer and the guard.
    pub(crate) fn self_metrics(&self) -> &Arc<SelfMetrics> {
        &self.own
    }

    fn create_zero_series(&self) {
        for (i, m) in self.metrics.iter().enumerate() {
            self.create_metric_zero_series(i, m);
        }
    }

    fn create_metric_zero_series(&self, i: usize, m: &MetricDef) {
        for reason in m.kind.reject_reasons() {
            self.own.rejected.precreate([m.name.as_str(), reason]);
        }
        let mut has_fields = false;
        for rule in self.rules.iter().filter(|r| r.metric == i) {
            let fields = rule
                .sources
                .iter()
                .any(|s| matches!(s, LabelSource::Field(_)));
            has_fields |= fields;
            for set in &rule.precreate {
                self.tables[i].precreate(set.iter().map(String::as_str));
            }
            // A series without field labels is known in advance: show it from
            // the start (not for gauges: 0 is not a reading).
            if !fields && m.kind != MetricKind::Gauge {
                self.tables[i].precreate(rule.sources.iter().map(static_value));
            }
        }
        if has_fields {
            self.own.overflow.precreate([m.name.as_str()]);
        }
        if self.exemplars.table(i).is_some() {
            self.own.exemplars_cut.precreate([m.name.as_str()]);
        }
    }
}

fn static_value(s: &LabelSource) -> &str {
    match s {
        LabelSource::Static(v) => v,
        LabelSource::Field(_) => "",
    }
}
