//! Runs the metric rules on logged events, and keeps the self-metrics.
//!
//! The engine talks only to the `metrics` facade. Its handles are resolved
//! once, on the first call on any thread that has a recorder (a local one
//! from `metrics::with_local_recorder`, else the global one). Until then
//! nothing is resolved: updates are skipped (the lines are still written)
//! and stderr says so once, so an event logged before the application
//! installs its recorder cannot bind every handle to the facade's no-op
//! recorder for good. New label sets seen later are registered the same
//! way, on the thread that sees them.
//!
//! Files: this one builds the engine and applies events; `first_use.rs`
//! describes and creates the series once a recorder exists; `days.rs` rolls
//! and restores the daily sums; `exemplar.rs` keeps events as exemplars.

mod days;
mod exemplar;
mod first_use;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Once, PoisonError};

use crate::capture::value::{EventView, FieldValue};
use crate::contract::date::day_of;
use crate::contract::level::LineLevel;
use crate::contract::read::JsonLine;
use crate::diag::diag;
use crate::error::Error;
use crate::rules::catalogue::Catalogue;
use crate::rules::compile::{self, LabelSource, MetricDef, MetricKind, RuleDef, level_bit};
use crate::rules::daily::DailySums;
use crate::rules::exemplars::{Exemplars, Slots};
use crate::rules::plan::{Fields, INLINE_FIELDS, PlanLabel, Plans, RulePlan};
use crate::rules::recent::{LastEvents, Recent, RecentMemory};
use crate::rules::rule::{Kind, MetricRule};
use crate::rules::series::{Handle, HandleKind, LabelKey, Placed, SeriesTable, clean_label};
use crate::self_metrics::SelfMetrics;

/// How one event is applied: its level and day, live or restored, and
/// the stamp of its label values when this thread remembers them.
#[derive(Debug, Clone, Copy)]
struct At {
    level: LineLevel,
    day: i64,
    mode: Mode,
    group: usize,
    stamp: Option<u64>,
    ts_ms: i64,
}

/// Metric rules, ready to run on events.
#[derive(Debug)]
pub(crate) struct MetricsEngine {
    metrics: Vec<MetricDef>,
    tables: Vec<SeriesTable>,
    rules: Vec<RuleDef>,
    plans: Plans,
    daily: DailySums,
    init: Once,
    /// Whether to say on stderr that events arrived before a recorder.
    stderr: AtomicBool,
    /// Set once that has been said.
    said_no_recorder: AtomicBool,
    own: Arc<SelfMetrics>,
    /// Daily sums read back at start-up, applied when handles are first
    /// resolved (so they reach the recorder the events go to).
    restored: Mutex<RestoredSums>,
    recent: RecentMemory,
    exemplars: Arc<Exemplars>,
}

/// Daily sums read back from today's file, kept until the handles are
/// resolved (`applied` then), or applied at once by
/// [`MetricsEngine::finish_restore`] when that already happened: each is
/// applied exactly once, whichever comes first.
#[derive(Debug, Default)]
struct RestoredSums {
    items: Vec<Restored>,
    applied: bool,
    /// The handles were resolved under a thread-local recorder: later sums
    /// are applied by the guard on the caller's thread, not by the restore's.
    local: bool,
}

/// One restored daily-sum series: metric, label values, day and sum.
#[derive(Debug)]
struct Restored {
    metric: usize,
    labels: Vec<String>,
    day: i64,
    sum: f64,
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
        let mut compiled = compile::compile(rules, default_max_series.max(1))?;
        clean_static_labels(&mut compiled.rules);
        let tables = compiled.metrics.iter().map(table_for).collect();
        let plans = Plans::new(&compiled.rules, &compiled.metrics);
        let daily = (0..compiled.metrics.len())
            .filter(|&i| compiled.metrics[i].kind == MetricKind::DailySum)
            .collect();
        let n = compiled.metrics.len();
        let exemplars = Arc::new(Exemplars::new(&compiled.metrics, &compiled.rules));
        Ok(MetricsEngine {
            own: Arc::new(SelfMetrics::new(default_max_series.max(1), n)),
            metrics: compiled.metrics,
            tables,
            rules: compiled.rules,
            plans,
            daily: DailySums::new(daily),
            init: Once::new(),
            stderr: AtomicBool::new(true),
            said_no_recorder: AtomicBool::new(false),
            restored: Mutex::new(RestoredSums::default()),
            recent: RecentMemory::default(),
            exemplars,
        })
    }

    /// What the rules declare, for the exporter.
    pub(crate) fn catalogue(&self) -> Catalogue<'_> {
        Catalogue(&self.metrics)
    }

    /// The exemplars the rules keep, for the exporter's OpenMetrics text.
    pub(crate) fn exemplars(&self) -> &Arc<Exemplars> {
        &self.exemplars
    }
}

/// Static label values are cleaned once here, so events push them as they are.
fn clean_static_labels(rules: &mut [RuleDef]) {
    for src in rules.iter_mut().flat_map(|r| r.sources.iter_mut()) {
        if let LabelSource::Static(v) = src {
            *v = clean_label(v);
        }
    }
}

fn table_for(m: &MetricDef) -> SeriesTable {
    let kind = match m.kind {
        MetricKind::Counter => HandleKind::Counter,
        MetricKind::FloatCounter | MetricKind::Gauge => HandleKind::Gauge,
        MetricKind::Histogram => HandleKind::Histogram,
        MetricKind::DailySum => HandleKind::Daily,
    };
    SeriesTable::new(&m.name, &m.labels, kind, m.max_series)
}

// === impl MetricsEngine: events ===

impl MetricsEngine {
    /// Counts one logged line and applies every matching rule.
    pub(crate) fn on_event(&self, ev: &dyn EventView) {
        if !self.ensure_init() {
            return;
        }
        self.recent.with(&self.plans, self.rules.len(), |recent| {
            self.on_event_with(ev, recent)
        });
    }

    fn on_event_with(&self, ev: &dyn EventView, recent: &mut Recent) {
        let level = ev.level();
        let Some(group) = self.count_event(ev, level, recent) else {
            return;
        };
        let rules = &self.plans.groups[group];
        let mut inline = [None; INLINE_FIELDS];
        let seen = recent
            .labels
            .get_mut(group)
            .map(|l| l.found_at(rules.fields.len()));
        let fields = Fields::lookup(ev, &rules.fields, &mut inline, seen.unwrap_or_default());
        let n = rules.label_fields.len();
        let stamp =
            (recent.labels.get_mut(group)).map(|l| l.observe(n, |i| rules.label_value(&fields, i)));
        let day = day_of(ev.ts_unix_ms());
        if !self.daily.is_empty() {
            self.daily.advance(day, &self.tables);
        }
        let at = At {
            level,
            day,
            mode: Mode::Live,
            group,
            stamp,
            ts_ms: ev.ts_unix_ms(),
        };
        for &i in rules.rules.iter() {
            self.apply(i, &fields, &at, recent);
        }
    }

    /// `telemetry_events_total{evt,level,source}` += 1, through the
    /// thread's remembered handle when the series is the same as last time.
    /// Returns the rules of the event's `evt`, if any.
    fn count_event(
        &self,
        ev: &dyn EventView,
        level: LineLevel,
        recent: &mut Recent,
    ) -> Option<usize> {
        if let Some(last) = recent.events.as_ref().filter(|l| l.matches(ev, level)) {
            last.counter.increment(1);
            return last.group;
        }
        let group = self.plans.by_evt.get(ev.evt()).copied();
        let key = &mut recent.key;
        key.clear();
        key.push_str(ev.evt());
        key.push_clean(level.as_str());
        key.push_str(ev.source());
        let mut counter = None;
        self.own.events.with_handle(key, |h| {
            increment_by_one(h);
            if let Handle::Counter(c) = h {
                counter = Some(c.clone());
            }
        });
        recent.events = counter.map(|counter| LastEvents {
            evt: ev.evt().into(),
            level,
            source: ev.source().into(),
            counter,
            group,
        });
        group
    }

    /// Applies rule `i` to an event whose rule fields are `fields`.
    fn apply(&self, i: usize, fields: &Fields<'_, '_>, at: &At, recent: &mut Recent) {
        let Some(plan) = self.plans.rules.get(i) else {
            return;
        };
        let Some(update) = self.update_for(plan, fields, at, recent) else {
            return;
        };
        if at.mode == Mode::Restore {
            return self.keep_restored(plan, fields, update, at.day, recent);
        }
        let remembered = self.remembered(i, plan, at, recent);
        let known = remembered.is_some();
        match remembered {
            Some(h) => self.update(h, plan.kind, update, at.day),
            None => self.apply_by_table(i, fields, update, at, recent),
        }
        if !plan.exemplar.is_empty() {
            self.keep_exemplar(i, plan, fields, (update, known), at, recent);
        }
    }

    /// The update `plan`'s rule makes for this event, if any.
    #[inline]
    fn update_for(
        &self,
        plan: &RulePlan,
        fields: &Fields<'_, '_>,
        at: &At,
        recent: &mut Recent,
    ) -> Option<Update> {
        if plan.level_mask & level_bit(at.level) == 0 {
            return None;
        }
        let mut when = plan.when.iter();
        if !when.all(|(slot, want)| text_equals(fields.get(*slot), want)) {
            return None;
        }
        if plan.kind == Kind::DailySum && at.mode == Mode::Live && at.day < self.daily.today() {
            // A late event: yesterday's cost is not today's (not even for a new label set).
            return None;
        }
        let Some(slot) = plan.value else {
            return Some(Update::One);
        };
        match checked_value(fields.get(slot), plan.kind) {
            Ok(v) => Some(Update::Value(v)),
            Err(reason) if at.mode == Mode::Live => {
                self.reject(plan.metric, reason, &mut recent.key);
                None
            }
            Err(_) => None,
        }
    }

    /// Rule `i`'s handle as this thread last found it, if its label values
    /// have not changed since.
    #[inline]
    fn remembered<'r>(
        &self,
        i: usize,
        plan: &RulePlan,
        at: &At,
        recent: &'r Recent,
    ) -> Option<&'r Handle> {
        let (handle, made_at) = recent.series.get(i)?.as_ref()?;
        if at.stamp == Some(*made_at) {
            // No label value of this `evt` changed since: nor did this rule's.
            return Some(handle);
        }
        let labels = recent.labels.get(at.group)?;
        labels
            .unchanged_since(&plan.label_refs, *made_at)
            .then_some(handle)
    }

    /// Finds (or creates) the series in the metric's table, updates it and
    /// remembers it for this thread.
    #[inline(never)]
    fn apply_by_table(
        &self,
        i: usize,
        fields: &Fields<'_, '_>,
        update: Update,
        at: &At,
        recent: &mut Recent,
    ) {
        let Some(plan) = self.plans.rules.get(i) else {
            return;
        };
        let (metric, kind) = (plan.metric, plan.kind);
        fill_key(&mut recent.key, plan, fields);
        let mut handle = None;
        let placed = self.tables[metric].with_handle(&recent.key, |h| {
            self.update(h, kind, update, at.day);
            handle = at.stamp.map(|_| h.clone());
        });
        match (placed, handle.zip(at.stamp), recent.series.get_mut(i)) {
            (Placed::Own, Some(remember), Some(slot)) => *slot = Some(remember),
            (Placed::Overflow, ..) => {
                let key = &mut recent.key;
                key.clear();
                key.push_str(&self.metrics[metric].name);
                self.own.overflow.with_handle(key, increment_by_one);
            }
            _ => {}
        }
    }

    /// Applies `update` to a series of a metric of `kind`, for the event's `day`.
    #[inline]
    fn update(&self, h: &Handle, kind: Kind, update: Update, day: i64) {
        let v = match update {
            Update::One => 1.0,
            Update::Value(v) => v,
        };
        match h {
            Handle::Counter(c) => c.increment(1),
            Handle::Gauge(g) if kind == Kind::Counter => g.increment(v),
            Handle::Gauge(g) => g.set(v),
            Handle::Histogram(hist) => hist.record(v),
            // Read now, after the series was placed in its table: see `DailyGauge::add`.
            Handle::Daily(d) => d.add(day, v, self.daily.today()),
        }
    }

    /// Keeps a restored daily-sum value until handles are resolved.
    #[inline(never)]
    fn keep_restored(
        &self,
        plan: &RulePlan,
        fields: &Fields<'_, '_>,
        update: Update,
        day: i64,
        recent: &mut Recent,
    ) {
        let (metric, Update::Value(value)) = (plan.metric, update) else {
            return;
        };
        fill_key(&mut recent.key, plan, fields);
        let labels: Vec<String> = recent.key.values().map(str::to_owned).collect();
        let mut restored = self.restored.lock().unwrap_or_else(PoisonError::into_inner);
        match restored
            .items
            .iter_mut()
            .find(|r| r.metric == metric && r.labels == labels && r.day == day)
        {
            Some(r) => r.sum += value,
            None => restored.items.push(Restored {
                metric,
                labels,
                day,
                sum: value,
            }),
        }
    }

    #[cold]
    #[inline(never)]
    fn reject(&self, metric: usize, reason: &'static str, key: &mut LabelKey) {
        key.clear();
        key.push_str(&self.metrics[metric].name);
        key.push_str(reason);
        self.own.rejected.with_handle(key, increment_by_one);
    }
}

/// The label values of one update of `plan`'s rule, in `key`.
fn fill_key(key: &mut LabelKey, plan: &RulePlan, fields: &Fields<'_, '_>) {
    key.clear();
    for label in plan.labels.iter() {
        match label {
            PlanLabel::Field(slot) => key.push_value(fields.get(*slot)),
            PlanLabel::Static(v) => key.push_clean(v),
        }
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

#[cfg(test)]
pub(crate) mod tests;
