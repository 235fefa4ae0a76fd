//! The self-metrics, one owner: the table of their names, labels and help,
//! typed drop reasons, and the counters behind [`Stats`].
//!
//! The layer, the writer, the guard and the rule engine all count through
//! [`SelfMetrics`], so a drop is counted once and reaches both [`Stats`] and
//! `telemetry_dropped_events_total`. Its handles resolve, like the rules',
//! against the recorder current on the thread of the first update made
//! while a recorder is installed (none are resolved before).

use std::sync::Once;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use metrics::{Key, KeyName, Metadata, SharedString, Unit};

use crate::rules::series::{Handle, HandleKind, LabelKey, SeriesTable};
use crate::stats::{Counters, Stats};

/// Why event lines were not written: the `reason` label of
/// `telemetry_dropped_events_total`, and the [`Stats`] field it adds to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DropReason {
    /// The queue was full in lossy mode.
    QueueFull,
    /// Logged after the guard was dropped.
    Closed,
    /// Write errors persisted past the retry window.
    WriteFailed,
    /// The shutdown timeout ran out.
    ShutdownTimeout,
}

impl DropReason {
    /// The reasons created at zero (`closed` only happens after shutdown).
    const PRECREATED: [DropReason; 3] = [
        DropReason::QueueFull,
        DropReason::WriteFailed,
        DropReason::ShutdownTimeout,
    ];

    pub(crate) fn label(self) -> &'static str {
        match self {
            DropReason::QueueFull => "queue_full",
            DropReason::Closed => "closed",
            DropReason::WriteFailed => "write_failed",
            DropReason::ShutdownTimeout => "shutdown_timeout",
        }
    }
}

/// One self-metric counter: name, label names, help.
#[derive(Debug)]
struct Def {
    name: &'static str,
    labels: &'static [&'static str],
    help: &'static str,
}

const EVENTS: Def = Def {
    name: "telemetry_events_total",
    labels: &["evt", "level", "source"],
    help: "Events logged as lines, by evt, level and source",
};
const DROPPED: Def = Def {
    name: "telemetry_dropped_events_total",
    labels: &["reason"],
    help: "Event lines not written, by reason (queue_full, write_failed, shutdown_timeout)",
};
const WRITE_ERRORS: Def = Def {
    name: "telemetry_write_errors_total",
    labels: &[],
    help: "Errors writing event lines to the daily files",
};
const REJECTED: Def = Def {
    name: "telemetry_rejected_values_total",
    labels: &["metric", "reason"],
    help: "Metric updates skipped for a bad value, by metric and reason (missing, not_numeric, negative, nan, infinite)",
};
const OVERFLOW: Def = Def {
    name: "telemetry_label_overflow_total",
    labels: &["metric"],
    help: "Metric updates sent to the __overflow__ series because the metric had reached its label-set cap",
};

/// Whether a recorder other than the facade's no-op one is current here.
///
/// The facade offers no way to ask, and its no-op recorder is the only
/// recorder without state: a zero-sized one is taken for it (a stateless
/// recorder of your own counts as none; put it in a `Box` to be seen).
pub(crate) fn recorder_installed() -> bool {
    metrics::with_recorder(|r| std::mem::size_of_val(r) != 0)
}

const EXEMPLARS_CUT: Def = Def {
    name: "telemetry_exemplars_cut_total",
    labels: &["metric"],
    help: "Exemplars whose label values were cut to the 128 characters OpenMetrics allows, by metric",
};

/// The self-metric gauge of the time the layer was built.
const START_TIME: &str = "telemetry_start_time_seconds";
const START_TIME_HELP: &str =
    "When the telemetry layer was built, in Unix seconds: counters restart from 0 then";

/// The exporter's own counter, `{outcome}` of each connection to `/metrics`
/// (registered by the exporter on its recorder: see `exporter/outcome.rs`).
pub(crate) const EXPORTER_CONNECTIONS: &str = "telemetry_exporter_connections_total";

/// Every self-metric's name: rules may not use them.
pub(crate) const NAMES: [&str; 8] = [
    EVENTS.name,
    START_TIME,
    DROPPED.name,
    WRITE_ERRORS.name,
    REJECTED.name,
    OVERFLOW.name,
    EXPORTER_CONNECTIONS,
    EXEMPLARS_CUT.name,
];

/// Every label name the self-metrics use.
pub(crate) fn label_names() -> impl Iterator<Item = &'static str> {
    [
        &EVENTS,
        &DROPPED,
        &WRITE_ERRORS,
        &REJECTED,
        &OVERFLOW,
        &EXEMPLARS_CUT,
    ]
    .into_iter()
    .flat_map(|def| def.labels.iter().copied())
    .chain(["outcome"])
}

/// The self-metrics with a unit, and the unit.
pub(crate) fn units() -> impl Iterator<Item = (&'static str, &'static str)> {
    [(START_TIME, "seconds")].into_iter()
}

static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));

/// The self-metrics and the [`Stats`] counters.
#[derive(Debug)]
pub(crate) struct SelfMetrics {
    counters: Counters,
    /// `telemetry_events_total{evt,level,source}` (counted by the engine,
    /// which remembers the last series per thread).
    pub(crate) events: SeriesTable,
    dropped: SeriesTable,
    write_errors: SeriesTable,
    /// `telemetry_rejected_values_total{metric,reason}`.
    pub(crate) rejected: SeriesTable,
    /// `telemetry_label_overflow_total{metric}`.
    pub(crate) overflow: SeriesTable,
    /// `telemetry_exemplars_cut_total{metric}`.
    pub(crate) exemplars_cut: SeriesTable,
    /// When the layer was built (Unix seconds, `f64` bits).
    started: AtomicU64,
    init: Once,
}

fn table(def: &Def, cap: usize) -> SeriesTable {
    let labels: Vec<String> = def.labels.iter().map(|s| s.to_string()).collect();
    SeriesTable::new(def.name, &labels, HandleKind::Counter, cap)
}

fn increment(h: &Handle, n: u64) {
    if let Handle::Counter(c) = h {
        c.increment(n);
    }
}

impl SelfMetrics {
    /// Self-metrics for `metrics` rule metrics; `telemetry_events_total`
    /// keeps at most `max_series` label sets.
    pub(crate) fn new(max_series: usize, metrics: usize) -> Self {
        SelfMetrics {
            counters: Counters::default(),
            events: table(&EVENTS, max_series),
            dropped: table(&DROPPED, 16),
            write_errors: table(&WRITE_ERRORS, 1),
            rejected: table(&REJECTED, 8 * metrics + 8),
            overflow: table(&OVERFLOW, metrics + 1),
            exemplars_cut: table(&EXEMPLARS_CUT, metrics + 1),
            started: AtomicU64::new(0),
            init: Once::new(),
        }
    }

    /// Records when the layer was built (shown once the recorder is first used).
    pub(crate) fn set_start_time(&self, unix_secs: f64) {
        self.started.store(unix_secs.to_bits(), Relaxed);
    }

    /// A snapshot of the counters.
    pub(crate) fn stats(&self) -> Stats {
        self.counters.snapshot()
    }

    /// The live counters, for what only [`Stats`] shows (lines queued and
    /// written, repairs, retention).
    pub(crate) fn counters(&self) -> &Counters {
        &self.counters
    }

    /// `n` event lines not written, for `reason`: in [`Stats`] and the metric.
    pub(crate) fn dropped(&self, reason: DropReason, n: u64) {
        let stat = match reason {
            DropReason::QueueFull => &self.counters.dropped_queue_full,
            DropReason::Closed => &self.counters.dropped_closed,
            DropReason::WriteFailed => &self.counters.unwritten,
            DropReason::ShutdownTimeout => &self.counters.shutdown_unwritten,
        };
        Counters::add(stat, n);
        if !self.ensure_init() {
            return;
        }
        let mut key = LabelKey::default();
        key.push_str(reason.label());
        self.dropped.with_handle(&key, |h| increment(h, n));
    }

    /// One failed write attempt: in [`Stats`] and the metric.
    pub(crate) fn write_error(&self) {
        Counters::add(&self.counters.write_errors, 1);
        if !self.ensure_init() {
            return;
        }
        self.write_errors
            .with_handle(&LabelKey::default(), |h| increment(h, 1));
    }

    /// Describes the self-metrics and creates their zero series, once (tried
    /// again if a recorder panicked the first time). Returns whether handles
    /// can be used: not while no recorder is installed, so that nothing
    /// stays bound to the facade's no-op recorder for good.
    pub(crate) fn ensure_init(&self) -> bool {
        if self.init.is_completed() {
            return true;
        }
        if !recorder_installed() {
            return false;
        }
        self.init.call_once_force(|_| {
            self.describe();
            self.precreate();
        });
        true
    }

    fn describe(&self) {
        metrics::with_recorder(|r| {
            for def in [
                &EVENTS,
                &DROPPED,
                &WRITE_ERRORS,
                &REJECTED,
                &OVERFLOW,
                &EXEMPLARS_CUT,
            ] {
                r.describe_counter(KeyName::from(def.name), None, SharedString::from(def.help));
            }
            r.describe_gauge(
                KeyName::from(START_TIME),
                Some(Unit::Seconds),
                SharedString::from(START_TIME_HELP),
            );
        });
    }

    fn precreate(&self) {
        let started = f64::from_bits(self.started.load(Relaxed));
        metrics::with_recorder(|r| {
            r.register_gauge(&Key::from_static_name(START_TIME), &METADATA)
                .set(started);
        });
        for reason in DropReason::PRECREATED {
            self.dropped.precreate([reason.label()]);
        }
        self.write_errors.precreate([]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_drop_reaches_stats_and_the_metric_once() {
        let recorder = metrics_util::debugging::DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let own = SelfMetrics::new(10, 0);
        metrics::with_local_recorder(&recorder, || {
            own.dropped(DropReason::QueueFull, 3);
            own.dropped(DropReason::Closed, 1);
            own.dropped(DropReason::WriteFailed, 5);
            own.dropped(DropReason::ShutdownTimeout, 7);
            own.write_error();
        });
        let stats = own.stats();
        assert_eq!(
            (
                stats.dropped_queue_full,
                stats.dropped_closed,
                stats.unwritten,
                stats.shutdown_unwritten,
                stats.write_errors
            ),
            (3, 1, 5, 7, 1)
        );
        let mut seen: Vec<(String, u64)> = snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .filter_map(|(key, _, _, value)| match value {
                metrics_util::debugging::DebugValue::Counter(n) => {
                    let labels: Vec<String> = key
                        .key()
                        .labels()
                        .map(|l| format!("{}={}", l.key(), l.value()))
                        .collect();
                    Some((format!("{}{labels:?}", key.key().name()), n))
                }
                _ => None,
            })
            .collect();
        seen.sort();
        assert_eq!(
            seen,
            [
                (
                    "telemetry_dropped_events_total[\"reason=closed\"]".into(),
                    1
                ),
                (
                    "telemetry_dropped_events_total[\"reason=queue_full\"]".into(),
                    3
                ),
                (
                    "telemetry_dropped_events_total[\"reason=shutdown_timeout\"]".into(),
                    7
                ),
                (
                    "telemetry_dropped_events_total[\"reason=write_failed\"]".into(),
                    5
                ),
                ("telemetry_write_errors_total[]".into(), 1),
            ]
        );
    }
}
