//! Runs the metric rules on logged events, and keeps the self-metrics.
//!
//! The engine talks only to the `metrics` facade. Its handles are resolved
//! once, on the first call on any thread, against the recorder current on
//! that thread (a local one from `metrics::with_local_recorder`, else the
//! global one): **install the recorder before the first event**, or every
//! update goes to a no-op recorder for the life of the engine. New label sets
//! seen later are registered the same way, on the thread that sees them.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Once;
use std::sync::atomic::{AtomicI64, Ordering};

use metrics::{KeyName, SharedString, Unit};

use crate::clock::day_of;
use crate::daily::JsonLine;
use crate::error::Error;
use crate::rule::{Kind, MetricRule};
use crate::rule_check::{self, LabelSource, MetricDef, RuleDef, level_bit};
use crate::series::{Handle, HandleKind, LabelKey, Placed, SeriesTable};
use crate::value::{EventView, FieldValue};

/// Reasons of `telemetry_dropped_events_total`, created at zero.
pub(crate) const DROP_REASONS: [&str; 3] = ["queue_full", "write_failed", "shutdown_timeout"];

thread_local! {
    static SCRATCH: RefCell<LabelKey> = RefCell::new(LabelKey::default());
}

/// The always-on self-metrics.
#[derive(Debug)]
struct SelfMetrics {
    events: SeriesTable,
    dropped: SeriesTable,
    write_errors: SeriesTable,
    rejected: SeriesTable,
    overflow: SeriesTable,
}

/// Metric rules, ready to run on events.
#[derive(Debug)]
pub(crate) struct MetricsEngine {
    metrics: Vec<MetricDef>,
    tables: Vec<SeriesTable>,
    rules: Vec<RuleDef>,
    by_evt: HashMap<Box<str>, Box<[usize]>, foldhash::fast::RandomState>,
    daily: Vec<usize>,
    /// The newest UTC day seen (events or clock); daily sums belong to it.
    today: AtomicI64,
    init: Once,
    own: SelfMetrics,
}

/// How a value is applied to a metric.
#[derive(Debug, Clone, Copy)]
enum Update {
    One,
    Value(f64),
}

/// Whether updates come from live events (counted) or a restore (silent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Live,
    Restore,
}

// === impl MetricsEngine: building ===

impl MetricsEngine {
    /// Checks the rules and prepares the engine. No recorder is touched yet.
    ///
    /// # Errors
    ///
    /// [`Error::Rule`] naming the first invalid metric and what is wrong.
    pub(crate) fn new(rules: Vec<MetricRule>, default_max_series: usize) -> Result<Self, Error> {
        let compiled = rule_check::compile(rules, default_max_series.max(1))?;
        let tables = compiled.metrics.iter().map(table_for).collect();
        let mut by_evt: HashMap<Box<str>, Vec<usize>> = HashMap::new();
        for (i, r) in compiled.rules.iter().enumerate() {
            by_evt.entry(r.evt.as_str().into()).or_default().push(i);
        }
        let daily = (0..compiled.metrics.len())
            .filter(|&i| compiled.metrics[i].kind == Kind::DailySum)
            .collect();
        let n = compiled.metrics.len();
        Ok(MetricsEngine {
            own: SelfMetrics::new(default_max_series.max(1), n),
            metrics: compiled.metrics,
            tables,
            rules: compiled.rules,
            by_evt: by_evt
                .into_iter()
                .map(|(k, v)| (k, v.into_boxed_slice()))
                .collect(),
            daily,
            today: AtomicI64::new(i64::MIN),
            init: Once::new(),
        })
    }

    /// Every histogram metric and its bucket bounds (for the exporter).
    pub(crate) fn histogram_buckets(&self) -> Vec<(String, Vec<f64>)> {
        let hist = self.metrics.iter().filter(|m| m.kind == Kind::Histogram);
        hist.map(|m| (m.name.clone(), m.buckets.clone().unwrap_or_default()))
            .collect()
    }

    /// Counters kept as float totals (recorded as gauges, exposed as counters).
    pub(crate) fn float_counters(&self) -> Vec<String> {
        let float = self
            .metrics
            .iter()
            .filter(|m| m.kind == Kind::Counter && m.float);
        float.map(|m| m.name.clone()).collect()
    }

    /// Every label name any metric uses, self-metrics included.
    pub(crate) fn label_names(&self) -> Vec<String> {
        let mut names: Vec<String> = ["evt", "level", "source", "reason", "metric"]
            .into_iter()
            .map(str::to_string)
            .chain(self.metrics.iter().flat_map(|m| m.labels.iter().cloned()))
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }
}

fn table_for(m: &MetricDef) -> SeriesTable {
    let kind = match (m.kind, m.float) {
        (Kind::Counter, false) => HandleKind::Counter,
        (Kind::Counter, true) | (Kind::Gauge, _) => HandleKind::Gauge,
        (Kind::Histogram, _) => HandleKind::Histogram,
        (Kind::DailySum, _) => HandleKind::Daily,
    };
    SeriesTable::new(&m.name, &m.labels, kind, m.max_series)
}

impl SelfMetrics {
    fn new(default_max_series: usize, metrics: usize) -> Self {
        let labels = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let counter = |name: &str, names: &[&str], cap: usize| {
            SeriesTable::new(name, &labels(names), HandleKind::Counter, cap)
        };
        SelfMetrics {
            events: counter(
                "telemetry_events_total",
                &["evt", "level", "source"],
                default_max_series,
            ),
            dropped: counter("telemetry_dropped_events_total", &["reason"], 16),
            write_errors: counter("telemetry_write_errors_total", &[], 1),
            rejected: counter(
                "telemetry_rejected_values_total",
                &["metric", "reason"],
                8 * metrics + 8,
            ),
            overflow: counter("telemetry_label_overflow_total", &["metric"], metrics + 1),
        }
    }
}

// === impl MetricsEngine: first use ===

const SELF_HELP: [(&str, &str); 5] = [
    (
        "telemetry_events_total",
        "Events logged as lines, by evt, level and source",
    ),
    (
        "telemetry_dropped_events_total",
        "Event lines not written, by reason (queue_full, write_failed, shutdown_timeout)",
    ),
    (
        "telemetry_write_errors_total",
        "Errors writing event lines to the daily files",
    ),
    (
        "telemetry_rejected_values_total",
        "Metric updates skipped for a bad value, by metric and reason (missing, not_numeric, negative, nan, infinite)",
    ),
    (
        "telemetry_label_overflow_total",
        "Metric updates sent to the __overflow__ series because the metric had reached its label-set cap",
    ),
];

impl MetricsEngine {
    /// Describes every metric and creates the zero series, once.
    fn ensure_init(&self) {
        self.init.call_once(|| {
            self.describe_all();
            self.create_zero_series();
        });
    }

    fn describe_all(&self) {
        metrics::with_recorder(|r| {
            for (name, help) in SELF_HELP {
                r.describe_counter(KeyName::from(name), None, SharedString::from(help));
            }
            for m in &self.metrics {
                let (name, help) = (
                    KeyName::from(m.name.clone()),
                    SharedString::from(m.help.clone()),
                );
                let unit = m.unit.as_deref().and_then(Unit::from_string);
                match (m.kind, m.float) {
                    (Kind::Counter, false) => r.describe_counter(name, unit, help),
                    (Kind::Histogram, _) => r.describe_histogram(name, unit, help),
                    _ => r.describe_gauge(name, unit, help),
                }
            }
        });
    }

    fn create_zero_series(&self) {
        for reason in DROP_REASONS {
            self.own.dropped.precreate([reason]);
        }
        self.own.write_errors.precreate([]);
        for (i, m) in self.metrics.iter().enumerate() {
            self.create_metric_zero_series(i, m);
        }
    }

    fn create_metric_zero_series(&self, i: usize, m: &MetricDef) {
        for reason in reject_reasons(m) {
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
            if !fields && m.kind != Kind::Gauge {
                self.tables[i].precreate(rule.sources.iter().map(static_value));
            }
        }
        if has_fields {
            self.own.overflow.precreate([m.name.as_str()]);
        }
    }
}

fn static_value(s: &LabelSource) -> &str {
    match s {
        LabelSource::Static(v) => v,
        LabelSource::Field(_) => "",
    }
}

/// The reasons a metric's values can be rejected for.
fn reject_reasons(m: &MetricDef) -> &'static [&'static str] {
    match (m.kind, m.float) {
        (Kind::Counter, false) => &[],
        (Kind::Counter, true) | (Kind::DailySum, _) => {
            &["missing", "not_numeric", "negative", "nan", "infinite"]
        }
        (Kind::Gauge | Kind::Histogram, _) => &["missing", "not_numeric", "nan", "infinite"],
    }
}

// === impl MetricsEngine: events ===

impl MetricsEngine {
    /// Counts one logged line and applies every matching rule.
    pub(crate) fn on_event(&self, ev: &dyn EventView) {
        self.ensure_init();
        with_scratch(|key| self.on_event_with(ev, key));
    }

    fn on_event_with(&self, ev: &dyn EventView, key: &mut LabelKey) {
        key.clear();
        key.push_str(ev.evt());
        key.push_str(ev.level().as_str());
        key.push_str(ev.source());
        self.own.events.with_handle(key, increment_by_one);
        let Some(rules) = self.by_evt.get(ev.evt()) else {
            return;
        };
        let day = day_of(ev.ts_unix_ms());
        if !self.daily.is_empty() {
            self.advance_day(day);
        }
        for &i in rules.iter() {
            self.apply(&self.rules[i], ev, key, day, Mode::Live);
        }
    }

    fn apply(&self, rule: &RuleDef, ev: &dyn EventView, key: &mut LabelKey, day: i64, mode: Mode) {
        if rule.level_mask & level_bit(ev.level()) == 0 {
            return;
        }
        if !rule
            .when
            .iter()
            .all(|(field, want)| text_equals(ev.field(field), want))
        {
            return;
        }
        let metric = &self.metrics[rule.metric];
        let update = match &rule.value {
            None => Update::One,
            Some(field) => match checked_value(ev.field(field), metric.kind) {
                Ok(v) => Update::Value(v),
                Err(reason) if mode == Mode::Live => return self.reject(&metric.name, reason, key),
                Err(_) => return,
            },
        };
        key.clear();
        for src in &rule.sources {
            match src {
                LabelSource::Field(f) => key.push_value(ev.field(f)),
                LabelSource::Static(v) => key.push_str(v),
            }
        }
        let kind = metric.kind;
        let placed =
            self.tables[rule.metric].with_handle(key, |h| apply_update(h, kind, update, day));
        if placed == Placed::Overflow && mode == Mode::Live {
            key.clear();
            key.push_str(&metric.name);
            self.own.overflow.with_handle(key, increment_by_one);
        }
    }

    fn reject(&self, metric: &str, reason: &'static str, key: &mut LabelKey) {
        key.clear();
        key.push_str(metric);
        key.push_str(reason);
        self.own.rejected.with_handle(key, increment_by_one);
    }

    /// Counts `n` event lines not written, for `reason` (`queue_full`,
    /// `write_failed` or `shutdown_timeout`).
    pub(crate) fn on_dropped(&self, reason: &'static str, n: u64) {
        self.ensure_init();
        with_scratch(|key| {
            key.clear();
            key.push_str(reason);
            self.own.dropped.with_handle(key, |h| increment(h, n));
        });
    }

    /// Counts `n` failed writes (called from the writer thread).
    pub(crate) fn on_write_error(&self, n: u64) {
        self.ensure_init();
        with_scratch(|key| {
            key.clear();
            self.own.write_errors.with_handle(key, |h| increment(h, n));
        });
    }
}

fn with_scratch(f: impl FnOnce(&mut LabelKey)) {
    let mut f = Some(f);
    let _ = SCRATCH.try_with(|cell| {
        if let (Ok(mut key), Some(f)) = (cell.try_borrow_mut(), f.take()) {
            f(&mut key);
        }
    });
    // Re-entered, or thread-local storage already gone: use a fresh key.
    if let Some(f) = f {
        f(&mut LabelKey::default());
    }
}

fn increment_by_one(h: &Handle) {
    increment(h, 1);
}

fn increment(h: &Handle, n: u64) {
    if let Handle::Counter(c) = h {
        c.increment(n);
    }
}

fn apply_update(h: &Handle, kind: Kind, update: Update, day: i64) {
    let v = match update {
        Update::One => 1.0,
        Update::Value(v) => v,
    };
    match h {
        Handle::Counter(c) => c.increment(1),
        Handle::Gauge(g) if kind == Kind::Counter => g.increment(v),
        Handle::Gauge(g) => g.set(v),
        Handle::Histogram(hist) => hist.record(v),
        Handle::Daily(d) => d.add(day, v),
    }
}

/// The number in a value field, or the reason it is refused.
fn checked_value(value: Option<FieldValue<'_>>, kind: Kind) -> Result<f64, &'static str> {
    let value = value.ok_or("missing")?;
    let v = value.as_f64().ok_or("not_numeric")?;
    if v.is_nan() {
        Err("nan")
    } else if v.is_infinite() {
        Err("infinite")
    } else if v < 0.0 && matches!(kind, Kind::Counter | Kind::DailySum) {
        Err("negative")
    } else {
        Ok(v)
    }
}

/// Whether the field, written as label text, equals `want`.
fn text_equals(value: Option<FieldValue<'_>>, want: &str) -> bool {
    match value {
        None => false,
        Some(FieldValue::Str(s)) => s == want,
        Some(FieldValue::U64(v)) => itoa::Buffer::new().format(v) == want,
        Some(FieldValue::I64(v)) => itoa::Buffer::new().format(v) == want,
        Some(FieldValue::Bool(b)) => want == if b { "true" } else { "false" },
        Some(v) => {
            let mut text = String::new();
            v.write_label(&mut text);
            text == want
        }
    }
}

// === impl MetricsEngine: days ===

impl MetricsEngine {
    /// Called by the writer thread at least every 500 ms: at midnight UTC,
    /// daily sums drop to zero.
    pub(crate) fn tick(&self, now_unix_ms: i64) {
        self.ensure_init();
        self.advance_day(day_of(now_unix_ms));
    }

    /// Makes `day` current if it is newer, zeroing the daily sums of earlier days.
    fn advance_day(&self, day: i64) {
        let mut current = self.today.load(Ordering::Acquire);
        while day > current {
            match self
                .today
                .compare_exchange(current, day, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return self.roll_daily_sums(day),
                Err(now) => current = now,
            }
        }
    }

    fn roll_daily_sums(&self, today: i64) {
        for &m in &self.daily {
            self.tables[m].for_each(|h| {
                if let Handle::Daily(d) = h {
                    d.roll_to(today);
                }
            });
        }
    }

    /// Re-adds today's daily sums from the lines of today's event file, at
    /// start-up. Lines that do not parse, lines of other days and rejected
    /// values are skipped silently (they were counted when first logged).
    pub(crate) fn restore_daily_sums(&self, today: i64, lines: &mut dyn Iterator<Item = String>) {
        self.ensure_init();
        self.advance_day(today);
        let daily_rules: Vec<&RuleDef> = (self.rules.iter())
            .filter(|r| self.metrics[r.metric].kind == Kind::DailySum)
            .collect();
        if daily_rules.is_empty() {
            return;
        }
        let needles: Vec<String> = daily_rules.iter().map(|r| evt_needle(&r.evt)).collect();
        let mut key = LabelKey::default();
        for line in lines {
            if !needles.iter().any(|n| line.contains(n.as_str())) {
                continue;
            }
            let Some(ev) = JsonLine::parse(&line) else {
                continue;
            };
            if day_of(ev.ts_unix_ms()) != today {
                continue;
            }
            for rule in daily_rules.iter().filter(|r| r.evt == ev.evt()) {
                self.apply(rule, &ev, &mut key, today, Mode::Restore);
            }
        }
    }
}

/// The text `"evt":"<evt>"` as the line encoder writes it.
fn evt_needle(evt: &str) -> String {
    let quoted = serde_json::to_string(evt).unwrap_or_default();
    format!("\"evt\":{quoted}")
}
