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

// === impl MetricsEngine: first use ===

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
        let fields = Fields::lookup(ev, &rules.fields, &mut inline);
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

    /// Keeps the event as the exemplar of its series (or bucket), when one
    /// of the rule's exemplar fields is present. `known`: the series' handle
    /// was this thread's remembered one.
    #[inline(never)]
    fn keep_exemplar(
        &self,
        i: usize,
        plan: &RulePlan,
        fields: &Fields<'_, '_>,
        (update, known): (Update, bool),
        at: &At,
        recent: &mut Recent,
    ) {
        let Some(table) = self.exemplars.table(plan.metric) else {
            return;
        };
        let present = (plan.exemplar.iter().enumerate())
            .filter_map(|(k, slot)| Some((k, fields.get(*slot)?)));
        if present.clone().next().is_none() {
            return;
        }
        let value = match update {
            Update::One => 1.0,
            Update::Value(v) => v,
        };
        let names = &plan.exemplar_names;
        let cut = match remembered_exemplars(i, known, recent) {
            Some(slots) => table.record(slots, names, present, value, at.ts_ms),
            None => {
                fill_key(&mut recent.key, plan, fields);
                let Some(slots) = table.slots_for(&recent.key) else {
                    return;
                };
                let cut = table.record(&slots, names, present, value, at.ts_ms);
                // Remembered with the stamp of the handle remembered for the
                // same label values, so one check serves both.
                let stamp = recent.series.get(i).and_then(Option::as_ref).map(|s| s.1);
                if let (Some(stamp), Some(remember)) = (stamp, recent.exemplars.get_mut(i))
                    && (known || Some(stamp) == at.stamp)
                {
                    *remember = Some((slots, stamp));
                }
                cut
            }
        };
        if cut {
            let key = &mut recent.key;
            key.clear();
            key.push_str(&self.metrics[plan.metric].name);
            self.own.exemplars_cut.with_handle(key, increment_by_one);
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

/// Rule `i`'s exemplar slots as this thread last found them, if they were
/// found with the handle it remembers and that handle is `known` (current).
#[inline]
fn remembered_exemplars(i: usize, known: bool, recent: &Recent) -> Option<&Slots> {
    if !known {
        return None;
    }
    let (_, handle_at) = recent.series.get(i)?.as_ref()?;
    let (slots, made_at) = recent.exemplars.get(i)?.as_ref()?;
    (made_at == handle_at).then_some(slots)
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

// === impl MetricsEngine: days ===

impl MetricsEngine {
    /// Called by the writer thread at least every 500 ms: at midnight UTC,
    /// daily sums drop to zero.
    pub(crate) fn tick(&self, now_unix_ms: i64) {
        self.daily.advance(day_of(now_unix_ms), &self.tables);
    }

    /// The text `"evt":"<evt>"` of each event a daily-sum rule reads: a
    /// line without any of them cannot change a daily sum.
    pub(crate) fn daily_needles(&self) -> Vec<String> {
        (self.rules.iter())
            .filter(|r| self.metrics[r.metric].kind == MetricKind::DailySum)
            .map(|r| evt_needle(&r.evt))
            .collect()
    }

    /// Re-adds today's daily sums from the lines of today's event file, at
    /// start-up. Returns the number of lines naming a daily-sum event that
    /// do not parse as contract lines (skipped). Lines of other days and
    /// rejected values are skipped silently (they were counted when first
    /// logged).
    pub(crate) fn restore_daily_sums(
        &self,
        today: i64,
        lines: &mut dyn Iterator<Item = String>,
    ) -> u64 {
        self.daily.advance(today, &self.tables);
        let needles = self.daily_needles();
        if needles.is_empty() {
            return 0;
        }
        let (mut recent, mut unparsable) = (Recent::default(), 0);
        for line in lines {
            if !needles.iter().any(|n| line.contains(n.as_str())) {
                continue;
            }
            let Some(ev) = JsonLine::parse(&line) else {
                unparsable += 1;
                continue;
            };
            if day_of(ev.ts_unix_ms()) != today {
                continue;
            }
            self.restore_line(&ev, today, &mut recent);
        }
        unparsable
    }

    fn restore_line(&self, ev: &JsonLine, today: i64, recent: &mut Recent) {
        let Some(&group) = self.plans.by_evt.get(ev.evt()) else {
            return;
        };
        let rules = &self.plans.groups[group];
        let mut inline = [None; INLINE_FIELDS];
        let fields = Fields::lookup(ev, &rules.fields, &mut inline);
        let at = At {
            level: ev.level(),
            day: today,
            mode: Mode::Restore,
            group,
            stamp: None,
            ts_ms: ev.ts_unix_ms(),
        };
        let daily = |i: &&usize| self.metrics[self.rules[**i].metric].kind == MetricKind::DailySum;
        for &i in rules.rules.iter().filter(daily) {
            self.apply(i, &fields, &at, recent);
        }
    }
}

/// The text `"evt":"<evt>"` as the line encoder writes it.
fn evt_needle(evt: &str) -> String {
    let quoted = serde_json::to_string(evt).unwrap_or_default();
    format!("\"evt\":{quoted}")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::capture::value::OwnedValue;
    use crate::contract::level::LineLevel;
    use crate::exporter::exposition::finish_exposition;
    use crate::exporter::{ExporterConfig, build_recorder};

    /// 2025-10-06T13:43:10.123Z, day 20367.
    pub(crate) const TS: i64 = 1_759_758_190_123;
    pub(crate) const DAY_MS: i64 = 86_400_000;

    /// A synthetic logged event.
    #[derive(Debug, Clone)]
    pub(crate) struct Ev {
        pub(crate) evt: &'static str,
        pub(crate) level: LineLevel,
        pub(crate) source: &'static str,
        pub(crate) ts: i64,
        pub(crate) fields: Vec<(&'static str, OwnedValue)>,
    }

    impl Ev {
        pub(crate) fn new(evt: &'static str) -> Self {
            Ev {
                evt,
                level: LineLevel::Info,
                source: "app",
                ts: TS,
                fields: Vec::new(),
            }
        }
        pub(crate) fn level(mut self, level: LineLevel) -> Self {
            self.level = level;
            self
        }
        pub(crate) fn at(mut self, ts: i64) -> Self {
            self.ts = ts;
            self
        }
        pub(crate) fn s(mut self, k: &'static str, v: &str) -> Self {
            self.fields.push((k, OwnedValue::Str(v.to_string())));
            self
        }
        pub(crate) fn u(mut self, k: &'static str, v: u64) -> Self {
            self.fields.push((k, OwnedValue::U64(v)));
            self
        }
        pub(crate) fn f(mut self, k: &'static str, v: f64) -> Self {
            self.fields.push((k, OwnedValue::F64(v)));
            self
        }
        pub(crate) fn b(mut self, k: &'static str, v: bool) -> Self {
            self.fields.push((k, OwnedValue::Bool(v)));
            self
        }
    }

    impl EventView for Ev {
        fn evt(&self) -> &str {
            self.evt
        }
        fn level(&self) -> LineLevel {
            self.level
        }
        fn source(&self) -> &str {
            self.source
        }
        fn ts_unix_ms(&self) -> i64 {
            self.ts
        }
        fn field(&self, name: &str) -> Option<FieldValue<'_>> {
            self.fields
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.as_value())
        }
    }

    /// Runs `f` against a fresh engine and a local Prometheus recorder, and
    /// returns the finished exposition text.
    pub(crate) fn render_with(rules: Vec<MetricRule>, f: impl FnOnce(&MetricsEngine)) -> String {
        let engine = MetricsEngine::new(rules, 1_000).expect("valid rules");
        let recorder = build_recorder(&ExporterConfig::default(), &engine).expect("recorder");
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || f(&engine));
        finish_exposition(&handle.render(), &engine.catalogue().float_counters())
    }

    /// The exposition text without the `telemetry_*` self-metrics.
    pub(crate) fn without_self(text: &str) -> String {
        let families = text.split_inclusive("\n\n");
        families
            .filter(|f| !f.starts_with("# HELP telemetry_"))
            .collect()
    }

    /// Only the self-metric families named `names`.
    fn only(text: &str, names: &[&str]) -> String {
        let wanted = |f: &&str| names.iter().any(|n| f.starts_with(&format!("# HELP {n} ")));
        text.split_inclusive("\n\n").filter(wanted).collect()
    }

    fn events(engine: &MetricsEngine, evs: &[Ev]) {
        evs.iter().for_each(|e| engine.on_event(e));
    }

    fn error_ev(status: u64, code: &str, model: &str) -> Ev {
        Ev::new("openrouter_error")
            .level(LineLevel::Error)
            .u("status", status)
            .s("code", code)
            .s("component", "translation_service")
            .s("model", model)
    }

    #[test]
    fn a_counter_counts_events_per_label_set_with_precreated_zeros() {
        let rule = MetricRule::counter("openrouter_errors_total")
            .on("openrouter_error")
            .labels(["status", "code", "component", "model"])
            .help("Failed OpenRouter calls")
            .precreate([[
                ("status", "401"),
                ("code", "invalid_key"),
                ("component", "translation_service"),
                ("model", "m1"),
            ]]);
        let text = render_with(vec![rule], |e| {
            events(
                e,
                &[
                    error_ev(429, "rate_limited", "m1"),
                    error_ev(429, "rate_limited", "m1"),
                    error_ev(500, "server_error", "m2"),
                ],
            );
        });
        assert_eq!(
            without_self(&text),
            "# HELP openrouter_errors_total Failed OpenRouter calls
# TYPE openrouter_errors_total counter
openrouter_errors_total{status=\"401\",code=\"invalid_key\",component=\"translation_service\",model=\"m1\"} 0
openrouter_errors_total{status=\"429\",code=\"rate_limited\",component=\"translation_service\",model=\"m1\"} 2
openrouter_errors_total{status=\"500\",code=\"server_error\",component=\"translation_service\",model=\"m2\"} 1

"
        );
    }

    #[test]
    fn a_counter_with_a_value_is_a_float_total_typed_counter() {
        let rules = vec![
            MetricRule::counter("cost_usd_total")
                .on("call")
                .value("cost_usd")
                .labels(["model"])
                .help("Cost")
                .unit("usd"),
            MetricRule::counter("cost_usd_total")
                .on("bonus")
                .labels(["model"]),
        ];
        let text = render_with(rules, |e| {
            let call = |c: f64| Ev::new("call").s("model", "m").f("cost_usd", c);
            events(
                e,
                &[
                    call(0.25),
                    call(0.5),
                    call(0.0),
                    Ev::new("bonus").s("model", "m"),
                ],
            );
        });
        assert_eq!(
            without_self(&text),
            "# HELP cost_usd_total Cost
# TYPE cost_usd_total counter
cost_usd_total{model=\"m\"} 1.75

"
        );
    }

    #[test]
    fn a_gauge_holds_the_last_value_and_starts_absent() {
        let rule = MetricRule::gauge("queue_pending_jobs")
            .on("queue_depth")
            .value("pending")
            .help("Jobs waiting");
        assert_eq!(
            without_self(&render_with(vec![rule.clone()], |e| e.tick(TS))),
            ""
        );
        let text = render_with(vec![rule], |e| {
            events(
                e,
                &[
                    Ev::new("queue_depth").u("pending", 5),
                    Ev::new("queue_depth").u("pending", 3),
                ],
            );
        });
        assert_eq!(
            without_self(&text),
            "# HELP queue_pending_jobs Jobs waiting\n# TYPE queue_pending_jobs gauge\nqueue_pending_jobs 3\n\n"
        );
    }

    #[test]
    fn a_histogram_has_bucket_sum_and_count_series() {
        let rule = MetricRule::histogram("call_latency_seconds")
            .on("call")
            .value("latency_s")
            .labels(["model"])
            .buckets([0.5, 1.0, 5.0])
            .help("Call latency");
        let text = render_with(vec![rule], |e| {
            let call = |l: f64| Ev::new("call").s("model", "m").f("latency_s", l);
            events(e, &[call(0.2), call(0.7), call(3.0), call(10.0)]);
        });
        assert_eq!(
            without_self(&text),
            "# HELP call_latency_seconds Call latency
# TYPE call_latency_seconds histogram
call_latency_seconds_bucket{model=\"m\",le=\"0.5\"} 1
call_latency_seconds_bucket{model=\"m\",le=\"1\"} 2
call_latency_seconds_bucket{model=\"m\",le=\"5\"} 3
call_latency_seconds_bucket{model=\"m\",le=\"+Inf\"} 4
call_latency_seconds_sum{model=\"m\"} 13.9
call_latency_seconds_count{model=\"m\"} 4

"
        );
    }

    #[test]
    fn a_histogram_without_labels_is_there_from_the_start_with_default_buckets() {
        let rule = MetricRule::histogram("translation_latency_seconds")
            .on("done")
            .value("latency_s");
        let text = render_with(vec![rule], |e| {
            e.ensure_init();
        });
        let want_buckets: String = crate::rules::rule::LATENCY_BUCKETS
            .iter()
            .map(|b| format!("translation_latency_seconds_bucket{{le=\"{b}\"}} 0\n"))
            .collect();
        assert_eq!(
            without_self(&text),
            format!(
                "# HELP translation_latency_seconds Distribution of latency_s over done events
# TYPE translation_latency_seconds histogram
{want_buckets}translation_latency_seconds_bucket{{le=\"+Inf\"}} 0
translation_latency_seconds_sum 0
translation_latency_seconds_count 0

"
            )
        );
    }

    fn daily_rule() -> MetricRule {
        MetricRule::daily_sum("daily_cost_usd")
            .on("call")
            .value("cost_usd")
            .labels(["model"])
            .help("Cost today")
    }

    fn call(model: &str, cost: f64, ts: i64) -> Ev {
        Ev::new("call").s("model", model).f("cost_usd", cost).at(ts)
    }

    fn daily_text(body: &str) -> String {
        format!("# HELP daily_cost_usd Cost today\n# TYPE daily_cost_usd gauge\n{body}\n")
    }

    #[test]
    fn a_daily_sum_adds_up_the_day_and_ignores_late_events() {
        let text = render_with(vec![daily_rule()], |e| {
            events(
                e,
                &[
                    call("m", 1.5, TS),
                    call("m", 2.0, TS + 1000),
                    call("m", 100.0, TS - DAY_MS),
                    call("n", 0.25, TS),
                ],
            );
        });
        assert_eq!(
            without_self(&text),
            daily_text("daily_cost_usd{model=\"m\"} 3.5\ndaily_cost_usd{model=\"n\"} 0.25\n")
        );
    }

    #[test]
    fn a_late_event_does_not_create_a_daily_sum_for_a_new_label_set() {
        let text = render_with(vec![daily_rule()], |e| {
            events(e, &[call("m", 1.5, TS), call("late", 7.0, TS - DAY_MS)]);
        });
        assert_eq!(
            without_self(&text),
            daily_text("daily_cost_usd{model=\"m\"} 1.5\n")
        );
    }

    #[test]
    fn a_daily_sum_resets_at_midnight_by_event_or_by_tick() {
        let midnight = (TS / DAY_MS + 1) * DAY_MS;
        let text = render_with(vec![daily_rule()], |e| {
            events(
                e,
                &[
                    call("m", 1.5, TS),
                    call("n", 2.0, TS),
                    call("m", 0.5, midnight),
                ],
            );
        });
        assert_eq!(
            without_self(&text),
            daily_text("daily_cost_usd{model=\"m\"} 0.5\ndaily_cost_usd{model=\"n\"} 0\n")
        );
        let text = render_with(vec![daily_rule()], |e| {
            events(e, &[call("m", 1.5, TS)]);
            e.tick(midnight - 1);
            e.tick(midnight);
            events(e, &[call("m", 9.0, midnight - 1)]);
        });
        assert_eq!(
            without_self(&text),
            daily_text("daily_cost_usd{model=\"m\"} 0\n")
        );
    }

    #[test]
    fn daily_sums_are_restored_from_todays_lines() {
        let line = |ts: &str, level: &str, evt: &str, meta: &str| {
            format!(
                r#"{{"ts":"{ts}","level":"{level}","evt":"{evt}","source":"app","msg":"","meta":{meta}}}"#
            )
        };
        let lines = vec![
            line("2025-10-06T00:00:00.000Z", "info", "call", r#"{"model":"m","cost_usd":0.5}"#),
            line("2025-10-06T23:59:59.999Z", "error", "call", r#"{"model":"m","cost_usd":0.25}"#),
            line("2025-10-06T10:00:00.000Z", "info", "call", r#"{"model":"n","cost_usd":"1.5"}"#),
            line("2025-10-05T23:59:59.999Z", "info", "call", r#"{"model":"m","cost_usd":100}"#),
            line("2025-10-06T10:00:00.000Z", "info", "other", r#"{"model":"m","cost_usd":100}"#),
            line("2025-10-06T10:00:00.000Z", "info", "call", r#"{"model":"m","cost_usd":-4}"#),
            line("2025-10-06T10:00:00.000Z", "info", "call", r#"{"model":"m"}"#),
            r#"{"ts":"2025-10-06T10:00:00.000Z","level":"info","evt":"call","meta":{"model":"m","cost_"#.to_string(),
            "not json at all \"evt\":\"call\"".to_string(),
        ];
        let today = TS / DAY_MS;
        let text = render_with(vec![daily_rule()], |e| {
            e.restore_daily_sums(today, &mut lines.into_iter());
            events(e, &[call("m", 1.0, TS)]);
        });
        assert_eq!(
            without_self(&text),
            daily_text("daily_cost_usd{model=\"m\"} 1.75\ndaily_cost_usd{model=\"n\"} 1.5\n")
        );
        // Restoring does not count the bad values again.
        assert!(
            text.contains(
                "telemetry_rejected_values_total{metric=\"daily_cost_usd\",reason=\"negative\"} 0\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn bad_values_are_counted_by_reason_and_never_applied() {
        let rules = vec![
            MetricRule::counter("cost_usd_total")
                .on("call")
                .value("cost"),
            MetricRule::histogram("lat_seconds")
                .on("call")
                .value("lat")
                .buckets([1.0]),
        ];
        let text = render_with(rules, |e| {
            let c = || Ev::new("call").f("lat", 0.5);
            events(
                e,
                &[
                    c().f("cost", 0.5),
                    c(),
                    c().s("cost", "abc"),
                    c().b("cost", true),
                    c().f("cost", -1.0),
                    c().s("cost", "-2"),
                    c().f("cost", f64::NAN),
                    c().s("cost", "NaN"),
                    c().f("cost", f64::INFINITY),
                    c().s("cost", " 0.25 "),
                    Ev::new("call").f("cost", 1.0).f("lat", f64::NEG_INFINITY),
                    Ev::new("call").f("cost", 1.0).f("lat", -3.0),
                ],
            );
        });
        let got = only(
            &text,
            &["cost_usd_total", "telemetry_rejected_values_total"],
        );
        assert_eq!(
            got,
            "# HELP cost_usd_total Sum of cost over call events
# TYPE cost_usd_total counter
cost_usd_total 2.75

# HELP telemetry_rejected_values_total Metric updates skipped for a bad value, by metric and reason (missing, not_numeric, negative, nan, infinite)
# TYPE telemetry_rejected_values_total counter
telemetry_rejected_values_total{metric=\"cost_usd_total\",reason=\"infinite\"} 1
telemetry_rejected_values_total{metric=\"cost_usd_total\",reason=\"missing\"} 1
telemetry_rejected_values_total{metric=\"cost_usd_total\",reason=\"nan\"} 2
telemetry_rejected_values_total{metric=\"cost_usd_total\",reason=\"negative\"} 2
telemetry_rejected_values_total{metric=\"cost_usd_total\",reason=\"not_numeric\"} 2
telemetry_rejected_values_total{metric=\"lat_seconds\",reason=\"infinite\"} 1
telemetry_rejected_values_total{metric=\"lat_seconds\",reason=\"missing\"} 0
telemetry_rejected_values_total{metric=\"lat_seconds\",reason=\"nan\"} 0
telemetry_rejected_values_total{metric=\"lat_seconds\",reason=\"not_numeric\"} 0

"
        );
        assert!(
            text.contains("lat_seconds_count 11\n") && text.contains("lat_seconds_sum 2\n"),
            "{text}"
        );
    }

    #[test]
    fn label_sets_past_the_cap_go_to_one_overflow_series_and_are_counted() {
        let rule = MetricRule::counter("calls_total")
            .on("call")
            .labels(["model", "status"])
            .static_label("team", "nlp")
            .max_series(2);
        let text = render_with(vec![rule], |e| {
            for m in ["a", "b", "c", "d", "a", "e"] {
                e.on_event(&Ev::new("call").s("model", m).u("status", 200));
            }
        });
        assert_eq!(
            only(&text, &["calls_total", "telemetry_label_overflow_total"]),
            "# HELP calls_total Count of call events
# TYPE calls_total counter
calls_total{model=\"__overflow__\",status=\"__overflow__\",team=\"__overflow__\"} 3
calls_total{model=\"a\",status=\"200\",team=\"nlp\"} 2
calls_total{model=\"b\",status=\"200\",team=\"nlp\"} 1

# HELP telemetry_label_overflow_total Metric updates sent to the __overflow__ series because the metric had reached its label-set cap
# TYPE telemetry_label_overflow_total counter
telemetry_label_overflow_total{metric=\"calls_total\"} 3

"
        );
    }

    #[test]
    fn a_label_flood_keeps_each_metric_at_its_cap() {
        let rules = vec![
            MetricRule::counter("calls_total")
                .on("call")
                .labels(["model"])
                .max_series(100),
            MetricRule::histogram("lat_seconds")
                .on("call")
                .value("lat")
                .labels(["model"])
                .max_series(50),
        ];
        let text = render_with(rules, |e| {
            let mut ev = Ev::new("call").s("model", "").f("lat", 0.1);
            for i in 0..200_000 {
                ev.fields[0].1 = OwnedValue::Str(format!("model-{i}"));
                e.on_event(&ev);
            }
            assert_eq!((e.tables[0].len(), e.tables[1].len()), (100, 50));
        });
        let series = |name: &str| text.lines().filter(|l| l.starts_with(name)).count();
        assert_eq!(series("calls_total{"), 101);
        assert_eq!(series("lat_seconds_count{"), 51);
        assert!(
            text.contains("calls_total{model=\"__overflow__\"} 199900\n"),
            "{text}"
        );
        assert!(text.contains("telemetry_label_overflow_total{metric=\"calls_total\"} 199900\n"));
        assert!(text.contains("telemetry_label_overflow_total{metric=\"lat_seconds\"} 199950\n"));
    }

    #[test]
    fn levels_and_when_select_events() {
        let rules = vec![
            MetricRule::counter("failed_total")
                .on("call")
                .levels([LineLevel::Error, LineLevel::Critical]),
            MetricRule::counter("limited_total")
                .on("call")
                .when("status", "429")
                .when("retry", "true"),
            MetricRule::counter("half_total")
                .on("call")
                .when("ratio", "0.5"),
        ];
        let text = render_with(rules, |e| {
            events(
                e,
                &[
                    Ev::new("call")
                        .u("status", 429)
                        .b("retry", true)
                        .f("ratio", 0.5),
                    Ev::new("call")
                        .level(LineLevel::Error)
                        .u("status", 429)
                        .b("retry", false),
                    Ev::new("call")
                        .level(LineLevel::Critical)
                        .s("status", "429")
                        .s("retry", "true"),
                    Ev::new("call").level(LineLevel::Warning).f("ratio", 0.25),
                ],
            );
        });
        assert_eq!(
            without_self(&text),
            "# HELP failed_total Count of call events\n# TYPE failed_total counter\nfailed_total 2\n\n\
             # HELP half_total Count of call events\n# TYPE half_total counter\nhalf_total 1\n\n\
             # HELP limited_total Count of call events\n# TYPE limited_total counter\nlimited_total 2\n\n"
        );
    }

    #[test]
    fn self_metrics_count_events_drops_and_write_errors() {
        let text = render_with(vec![MetricRule::counter("x_total").on("x")], |e| {
            events(
                e,
                &[
                    Ev::new("x"),
                    Ev::new("x"),
                    Ev::new("y").level(LineLevel::Debug),
                ],
            );
            use crate::self_metrics::DropReason;
            e.self_metrics().dropped(DropReason::QueueFull, 5);
            e.self_metrics().dropped(DropReason::ShutdownTimeout, 1);
            e.self_metrics().write_error();
            e.self_metrics().write_error();
        });
        assert_eq!(
            only(&text, &["telemetry_events_total", "telemetry_dropped_events_total", "telemetry_write_errors_total"]),
            "# HELP telemetry_dropped_events_total Event lines not written, by reason (queue_full, write_failed, shutdown_timeout)
# TYPE telemetry_dropped_events_total counter
telemetry_dropped_events_total{reason=\"queue_full\"} 5
telemetry_dropped_events_total{reason=\"shutdown_timeout\"} 1
telemetry_dropped_events_total{reason=\"write_failed\"} 0

# HELP telemetry_events_total Events logged as lines, by evt, level and source
# TYPE telemetry_events_total counter
telemetry_events_total{evt=\"x\",level=\"info\",source=\"app\"} 2
telemetry_events_total{evt=\"y\",level=\"debug\",source=\"app\"} 1

# HELP telemetry_write_errors_total Errors writing event lines to the daily files
# TYPE telemetry_write_errors_total counter
telemetry_write_errors_total 2

"
        );
    }

    #[test]
    fn missing_label_fields_give_empty_values_and_long_ones_are_cut() {
        let rule = MetricRule::counter("calls_total")
            .on("call")
            .labels(["model", "status"]);
        let long = "x".repeat(300);
        let text = render_with(vec![rule], |e| {
            events(
                e,
                &[
                    Ev::new("call").s("model", &long),
                    Ev::new("call").u("status", 7),
                ],
            );
        });
        let cut = "x".repeat(256);
        assert_eq!(
            without_self(&text),
            format!(
                "# HELP calls_total Count of call events\n# TYPE calls_total counter\n\
                 calls_total{{model=\"\",status=\"7\"}} 1\ncalls_total{{model=\"{cut}\",status=\"\"}} 1\n\n"
            )
        );
    }

    #[test]
    fn handles_resolved_once_serve_every_thread() {
        let rule = MetricRule::counter("calls_total")
            .on("call")
            .labels(["model"]);
        let text = render_with(vec![rule], |e| {
            e.on_event(&Ev::new("call").s("model", "m"));
            std::thread::scope(|s| {
                for _ in 0..4 {
                    s.spawn(|| {
                        (0..1_000).for_each(|_| e.on_event(&Ev::new("call").s("model", "m")))
                    });
                }
            });
        });
        assert!(text.contains("calls_total{model=\"m\"} 4001\n"), "{text}");
        assert!(
            text.contains(
                "telemetry_events_total{evt=\"call\",level=\"info\",source=\"app\"} 4001\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn the_engine_is_send_and_sync_and_reports_buckets_and_float_counters() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<MetricsEngine>();
        let engine = MetricsEngine::new(
            vec![
                MetricRule::histogram("h_seconds").on("e").value("v"),
                MetricRule::counter("c_usd_total").on("e").value("v"),
                MetricRule::counter("n_total").on("e"),
            ],
            10,
        )
        .expect("valid");
        assert_eq!(
            engine.catalogue().histogram_buckets(),
            [(
                "h_seconds".to_string(),
                crate::rules::rule::LATENCY_BUCKETS.to_vec()
            )]
        );
        assert_eq!(engine.catalogue().float_counters(), ["c_usd_total"]);
    }

    #[test]
    fn descriptions_and_units_reach_the_recorder() {
        use metrics_util::debugging::{DebugValue, DebuggingRecorder};
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let engine = MetricsEngine::new(
            vec![
                MetricRule::histogram("lat_seconds")
                    .on("e")
                    .value("v")
                    .unit("seconds")
                    .help("Latency"),
            ],
            10,
        )
        .expect("valid");
        metrics::with_local_recorder(&recorder, || engine.on_event(&Ev::new("e").f("v", 0.5)));
        let found = snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .find(|(k, ..)| k.key().name() == "lat_seconds");
        let (_, unit, help, value) = found.expect("lat_seconds registered");
        assert_eq!(
            (unit, help.as_deref()),
            (Some(metrics::Unit::Seconds), Some("Latency"))
        );
        assert!(matches!(value, DebugValue::Histogram(v) if v.len() == 1));
    }

    // === Remembered label sets (the per-thread memory) ===

    #[test]
    fn remembered_label_sets_never_stand_for_another_set() {
        let rule = MetricRule::counter("calls_total")
            .on("call")
            .labels(["a", "b"]);
        let ev = |a: &str, b: &str| Ev::new("call").s("a", a).s("b", b);
        let text = render_with(vec![rule], |e| {
            events(
                e,
                &[
                    ev("x", "y"),
                    ev("x", "y"),
                    // The same values in the other fields.
                    ev("y", "x"),
                    ev("x", "y"),
                    // Values that are prefixes of each other, or join alike.
                    ev("xy", ""),
                    ev("x", "y"),
                    ev("x", "yz"),
                    ev("x", "y"),
                    ev("xy", "z"),
                    ev("x", "yz"),
                    // Values that clean to the same label text.
                    ev("a\\b", "y"),
                    ev("a/b", "y"),
                    ev("a\\b", "y"),
                    // Typed and text values written alike; missing and empty.
                    Ev::new("call").u("a", 429).s("b", "y"),
                    Ev::new("call").s("a", "429").s("b", "y"),
                    Ev::new("call").s("a", "x"),
                    Ev::new("call").s("a", "x").s("b", ""),
                ],
            );
        });
        assert_eq!(
            without_self(&text),
            "# HELP calls_total Count of call events
# TYPE calls_total counter
calls_total{a=\"429\",b=\"y\"} 2
calls_total{a=\"a/b\",b=\"y\"} 3
calls_total{a=\"x\",b=\"\"} 2
calls_total{a=\"x\",b=\"y\"} 5
calls_total{a=\"x\",b=\"yz\"} 2
calls_total{a=\"xy\",b=\"\"} 1
calls_total{a=\"xy\",b=\"z\"} 1
calls_total{a=\"y\",b=\"x\"} 1

"
        );
    }

    #[test]
    fn remembered_typed_values_keep_their_own_text() {
        let rule = MetricRule::counter("calls_total").on("call").labels(["v"]);
        let text = render_with(vec![rule], |e| {
            let ev = |v: OwnedValue| {
                let mut ev = Ev::new("call");
                ev.fields.push(("v", v));
                ev
            };
            events(
                e,
                &[
                    ev(OwnedValue::F64(0.0)),
                    ev(OwnedValue::F64(-0.0)),
                    ev(OwnedValue::F64(0.0)),
                    ev(OwnedValue::I64(-1)),
                    ev(OwnedValue::U64(1)),
                    ev(OwnedValue::I64(1)),
                    ev(OwnedValue::Bool(true)),
                    ev(OwnedValue::Str("true".into())),
                    ev(OwnedValue::Bool(false)),
                ],
            );
        });
        assert_eq!(
            without_self(&text),
            "# HELP calls_total Count of call events
# TYPE calls_total counter
calls_total{v=\"-0\"} 1
calls_total{v=\"-1\"} 1
calls_total{v=\"0\"} 2
calls_total{v=\"1\"} 2
calls_total{v=\"false\"} 1
calls_total{v=\"true\"} 2

"
        );
    }

    #[test]
    fn long_values_are_cut_alike_whether_remembered_or_not() {
        let rule = MetricRule::counter("calls_total")
            .on("call")
            .labels(["model", "code"]);
        let base = "m".repeat(300);
        let (long_a, long_b) = (format!("{base}-a"), format!("{base}-b"));
        let long_c = format!("{}{}", "m".repeat(2_000), "c");
        let text = render_with(vec![rule], |e| {
            let ev = |m: &str| Ev::new("call").s("model", m).s("code", "x");
            events(
                e,
                &[
                    ev(&long_a),
                    ev(&long_a),
                    ev(&long_b),
                    ev(&long_c),
                    ev(&long_c),
                    ev("m"),
                ],
            );
        });
        // All three long values share their first 256 bytes.
        let cut = "m".repeat(256);
        assert_eq!(
            without_self(&text),
            format!(
                "# HELP calls_total Count of call events\n# TYPE calls_total counter\n\
                 calls_total{{model=\"m\",code=\"x\"}} 1\ncalls_total{{model=\"{cut}\",code=\"x\"}} 5\n\n"
            )
        );
    }

    #[test]
    fn overflowing_label_sets_are_counted_each_time_while_kept_ones_stay_their_own() {
        let rule = MetricRule::counter("calls_total")
            .on("call")
            .labels(["model"])
            .max_series(2);
        let text = render_with(vec![rule], |e| {
            for m in ["a", "b", "c", "c", "a", "a", "c", "b"] {
                e.on_event(&Ev::new("call").s("model", m));
            }
        });
        assert_eq!(
            only(&text, &["calls_total", "telemetry_label_overflow_total"]),
            "# HELP calls_total Count of call events
# TYPE calls_total counter
calls_total{model=\"__overflow__\"} 3
calls_total{model=\"a\"} 3
calls_total{model=\"b\"} 2

# HELP telemetry_label_overflow_total Metric updates sent to the __overflow__ series because the metric had reached its label-set cap
# TYPE telemetry_label_overflow_total counter
telemetry_label_overflow_total{metric=\"calls_total\"} 3

"
        );
    }

    #[test]
    fn a_remembered_daily_sum_rolls_at_midnight_and_refuses_late_events() {
        let midnight = (TS / DAY_MS + 1) * DAY_MS;
        let text = render_with(vec![daily_rule()], |e| {
            events(e, &[call("m", 1.5, TS), call("m", 1.0, TS)]);
            e.tick(midnight);
            events(
                e,
                &[
                    call("m", 7.0, TS),
                    call("m", 0.25, midnight),
                    call("m", 0.5, midnight),
                ],
            );
        });
        assert_eq!(
            without_self(&text),
            daily_text("daily_cost_usd{model=\"m\"} 0.75\n")
        );
    }

    #[test]
    fn rules_sharing_fields_and_levels_keep_their_own_series() {
        let rules = vec![
            MetricRule::counter("by_model_total")
                .on("call")
                .labels(["model"]),
            MetricRule::counter("by_status_total")
                .on("call")
                .labels(["status", "model"])
                .levels([LineLevel::Error]),
            MetricRule::histogram("status_value")
                .on("call")
                .value("status")
                .buckets([500.0]),
        ];
        let text = render_with(rules, |e| {
            let ev = |m: &str, status: u64, level| {
                Ev::new("call")
                    .level(level)
                    .s("model", m)
                    .u("status", status)
            };
            events(
                e,
                &[
                    ev("a", 200, LineLevel::Info),
                    ev("a", 500, LineLevel::Error),
                    ev("a", 200, LineLevel::Info),
                    ev("b", 200, LineLevel::Error),
                    ev("b", 500, LineLevel::Error),
                    ev("a", 500, LineLevel::Error),
                ],
            );
        });
        let got = only(&text, &["by_model_total", "by_status_total"]);
        assert_eq!(
            got,
            "# HELP by_model_total Count of call events
# TYPE by_model_total counter
by_model_total{model=\"a\"} 4
by_model_total{model=\"b\"} 2

# HELP by_status_total Count of call events
# TYPE by_status_total counter
by_status_total{status=\"200\",model=\"b\"} 1
by_status_total{status=\"500\",model=\"a\"} 2
by_status_total{status=\"500\",model=\"b\"} 1

"
        );
        assert!(
            text.contains("status_value_bucket{le=\"500\"} 6\n"),
            "{text}"
        );
        assert!(text.contains("status_value_sum 2100\n"), "{text}");
    }

    #[test]
    fn two_engines_on_one_thread_never_share_remembered_series() {
        let rule = || {
            MetricRule::counter("calls_total")
                .on("call")
                .labels(["model"])
        };
        let engine = |cap| {
            let e = MetricsEngine::new(vec![rule().max_series(cap)], 10).expect("valid");
            let r = build_recorder(&ExporterConfig::default(), &e).expect("recorder");
            (e, r)
        };
        let ((e1, r1), (e2, r2)) = (engine(10), engine(1));
        for m in ["a", "a", "b", "b", "a"] {
            let ev = Ev::new("call").s("model", m);
            metrics::with_local_recorder(&r1, || e1.on_event(&ev));
            metrics::with_local_recorder(&r2, || e2.on_event(&ev));
        }
        let render = |e: &MetricsEngine, r: &metrics_exporter_prometheus::PrometheusRecorder| {
            let text = finish_exposition(&r.handle().render(), &e.catalogue().float_counters());
            only(&text, &["calls_total"])
        };
        let head = "# HELP calls_total Count of call events\n# TYPE calls_total counter\n";
        assert_eq!(
            render(&e1, &r1),
            format!("{head}calls_total{{model=\"a\"}} 3\ncalls_total{{model=\"b\"}} 2\n\n")
        );
        assert_eq!(
            render(&e2, &r2),
            format!(
                "{head}calls_total{{model=\"__overflow__\"}} 2\ncalls_total{{model=\"a\"}} 3\n\n"
            )
        );
    }
}
