//! The `tracing` layer: picks out events with an `evt` field (per callsite,
//! through a per-layer filter), captures and redacts their fields, renders
//! the line, updates metrics and hands the line to the writer.

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};
use tracing_core::{Dispatch, Interest};
use tracing_subscriber::filter::Filtered;
use tracing_subscriber::layer::{Context, Filter, Layer};
use tracing_subscriber::registry::LookupSpan;

use crate::capture::memo::{Callsite, Callsites};
use crate::capture::redact::Redactor;
use crate::capture::{EventVisitor, FieldMasks, Scratch, SpanFields, SpanVisitor};
use crate::clock::{Anchor, EventClock};
use crate::contract::date::day_of;
use crate::contract::level::LineLevel;
use crate::diag::diag;
use crate::encode::json::TimestampCache;
use crate::encode::line::{self, marker_line};
use crate::rules::engine::MetricsEngine;
use crate::self_metrics::{DropReason, SelfMetrics};
use crate::sink::queue::{Pushed, Queue, StageHint};
use crate::startup_check;
use crate::stats::Counters;

/// The layer returned by [`TelemetryBuilder::build`](crate::TelemetryBuilder::build):
/// [`BareTelemetryLayer`] behind its per-layer [`TelemetryFilter`].
///
/// Because the filter is per-layer, callsites without `evt` are disabled for
/// this layer only: other layers (a `fmt` layer, say) still see them, and
/// when no layer wants them they cost what a disabled callsite costs.
/// Per-layer filters need a [`Registry`](tracing_subscriber::Registry)-based
/// subscriber.
///
/// A filter that should only decide what the console shows belongs on the
/// console layer (`fmt::layer().with_filter(EnvFilter::from_default_env())`),
/// not in front of this one: a global filter drops callsites for every layer.
/// When the subscriber is assembled, the layer checks for that and says once
/// on stderr what is dropped and the code to change (see
/// [`stderr_diagnostics`](crate::TelemetryBuilder::stderr_diagnostics)).
///
/// The type names the subscriber below it (`S`): build the layer where the
/// stack is composed, so `S` is inferred, rather than storing it in a struct
/// first. For a layer added right after the registry, `S` is
/// [`Registry`](tracing_subscriber::Registry):
///
/// ```no_run
/// use evt_telemetry::{TelemetryBuilder, TelemetryLayer};
/// use tracing_subscriber::{Layer as _, EnvFilter, Registry};
/// use tracing_subscriber::layer::SubscriberExt as _;
/// use tracing_subscriber::util::SubscriberInitExt as _;
///
/// # fn main() -> Result<(), evt_telemetry::Error> {
/// let (layer, _guard): (TelemetryLayer<Registry>, _) = TelemetryBuilder::new().build()?;
/// tracing_subscriber::registry()
///     .with(layer)
///     .with(evt_telemetry::console_layer(Default::default())
///         .with_filter(EnvFilter::from_default_env()))
///     .init();
/// # Ok(())
/// # }
/// ```
pub type TelemetryLayer<S> = Filtered<BareTelemetryLayer, TelemetryFilter, S>;

/// Selects the callsites the layer handles: events that have an `evt` field,
/// and spans (for their fields) unless span fields are switched off.
///
/// The decision is made once per callsite and cached by `tracing`.
#[derive(Debug, Clone, Copy)]
pub struct TelemetryFilter {
    spans: bool,
}

impl TelemetryFilter {
    pub(crate) fn new(spans: bool) -> Self {
        TelemetryFilter { spans }
    }

    fn wants(&self, meta: &Metadata<'_>) -> bool {
        if meta.is_span() {
            self.spans
        } else {
            meta.fields().field("evt").is_some()
        }
    }
}

impl<S> Filter<S> for TelemetryFilter {
    fn enabled(&self, meta: &Metadata<'_>, _: &Context<'_, S>) -> bool {
        self.wants(meta)
    }

    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> Interest {
        if self.wants(meta) {
            Interest::always()
        } else {
            Interest::never()
        }
    }
}

/// Turns `evt` events into JSON lines and metric updates.
///
/// Built by [`TelemetryBuilder`](crate::TelemetryBuilder); use it through
/// [`TelemetryLayer`].
#[derive(Debug, Clone)]
pub struct BareTelemetryLayer {
    inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    /// Tells layers apart in the per-thread callsite cache.
    id: u64,
    redactor: Redactor,
    queue: Arc<Queue>,
    own: Arc<SelfMetrics>,
    engine: Arc<MetricsEngine>,
    clock: EventClock,
    max_line: usize,
    span_fields: bool,
    /// Print set-up problems on stderr (`stderr_diagnostics`).
    stderr: bool,
    /// Set once a set-up problem has been printed (each is said once).
    said_filtered: AtomicBool,
    said_closed: AtomicBool,
}

impl Inner {
    /// What a layer shares with its clones: lines go to `queue`, metrics to
    /// `engine` (and its self-metrics); set-up problems to stderr unless
    /// `stderr` is off.
    pub(crate) fn new(
        redactor: Redactor,
        queue: Arc<Queue>,
        engine: Arc<MetricsEngine>,
        clock: EventClock,
        (max_line, span_fields, stderr): (usize, bool, bool),
    ) -> Self {
        Inner {
            id: next_layer_id(),
            redactor,
            queue,
            own: engine.self_metrics().clone(),
            engine,
            clock,
            max_line,
            span_fields,
            stderr,
            said_filtered: AtomicBool::new(false),
            said_closed: AtomicBool::new(false),
        }
    }
}

/// Per-thread buffers reused by every event.
#[derive(Debug, Default)]
struct Buffers {
    scratch: Scratch,
    line: Vec<u8>,
    ts: TimestampCache,
    /// This thread's last reading of the system clock.
    anchor: Anchor,
    /// What this thread knows of each (layer, callsite).
    callsites: Callsites,
    /// What this thread knows of its stage in the queue it pushed to last.
    stage: StageHint,
}

thread_local! {
    static BUFFERS: RefCell<Buffers> = RefCell::new(Buffers::default());
}

/// A fresh id for each layer.
pub(crate) fn next_layer_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Runs `f` with this thread's buffers, or fresh ones if they are in use
/// (an event emitted from inside the layer, e.g. by a metrics recorder).
fn with_buffers(f: impl FnOnce(&mut Buffers)) {
    let mut f = Some(f);
    let _ = BUFFERS.try_with(|cell| {
        if let Ok(mut bufs) = cell.try_borrow_mut() {
            // UNWRAP: `f` is taken exactly once, here or below.
            (f.take().unwrap())(&mut bufs);
        }
    });
    if let Some(f) = f {
        f(&mut Buffers::default());
    }
}

impl BareTelemetryLayer {
    pub(crate) fn new(inner: Inner) -> Self {
        BareTelemetryLayer {
            inner: Arc::new(inner),
        }
    }

    fn capture<S>(&self, bufs: &mut Buffers, event: &Event<'_>, ctx: &Context<'_, S>) -> bool
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let inner = &*self.inner;
        let meta = event.metadata();
        let now_ms = inner.clock.now_ms(&mut bufs.anchor);
        bufs.scratch.reset(now_ms, meta.target());
        let key = (inner.id, meta as *const Metadata<'static> as usize);
        let mut visitor = EventVisitor {
            scratch: &mut bufs.scratch,
            redactor: &inner.redactor,
            max: inner.max_line,
            site: (bufs.callsites).get(key, || {
                Callsite::new(FieldMasks::of(&inner.redactor, meta), meta.target())
            }),
        };
        event.record(&mut visitor);
        visitor.source_from_target();
        let grown = visitor.site.take_grown();
        bufs.callsites.keep_within_budget(grown);
        if bufs.scratch.evt.is_none() {
            return false;
        }
        bufs.scratch.level = Some(LineLevel::from_tracing(meta.level(), bufs.scratch.critical));
        if let Some(scope) = ctx.event_scope(event).filter(|_| inner.span_fields) {
            for span in scope {
                if let Some(fields) = span.extensions().get::<SpanFields>() {
                    bufs.scratch.add_span_fields(fields, inner.max_line);
                }
            }
        }
        true
    }

    fn enqueue(&self, day: i64, ts_ms: i64, line: &[u8], stage: &mut StageHint) {
        let inner = &*self.inner;
        match inner
            .queue
            .push_with(day, line, stage, |n| marker_line(ts_ms, n))
        {
            // The queue counts the lines (and drop markers) it accepts itself.
            Pushed::Queued { waited, .. } => {
                if waited {
                    Counters::add(&inner.own.counters().queue_waits, 1);
                }
            }
            // `lines`: this one and any its thread had staged before it.
            Pushed::Full { lines } => inner.own.dropped(DropReason::QueueFull, lines),
            Pushed::Failing { lines } => inner.own.dropped(DropReason::WriteFailed, lines),
            Pushed::Closed { lines } => {
                inner.own.dropped(DropReason::Closed, lines);
                self.say_once(&inner.said_closed, || CLOSED_MESSAGE.to_string());
            }
        }
    }

    /// Prints a set-up problem on stderr, the first time only.
    fn say_once(&self, said: &AtomicBool, message: impl FnOnce() -> String) {
        if self.inner.stderr && !said.swap(true, Ordering::Relaxed) {
            diag(true, format_args!("{}", message()));
        }
    }
}

/// Said once when an event arrives after the guard has stopped the writer.
pub(crate) const CLOSED_MESSAGE: &str = "an evt event arrived after the Guard was dropped: \
     it is not written (nor any later one). Keep the guard for the life of the program: \
     bind it with `let _guard = ...`, not `let _ = ...`";

impl BareTelemetryLayer {
    /// Checks, once the subscriber is assembled, whether a global filter
    /// drops `evt` events or spans before this layer (see `startup_check`).
    fn check_filtering(&self, dispatch: &Dispatch) {
        if !self.inner.stderr || self.inner.said_filtered.load(Ordering::Relaxed) {
            return;
        }
        let (events, spans) = startup_check::dropped_levels(dispatch, self.inner.span_fields);
        if let Some(message) = startup_check::filtered_message(&events, &spans) {
            self.say_once(&self.inner.said_filtered, || message);
        }
    }
}

impl<S> Layer<S> for BareTelemetryLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_register_dispatch(&self, dispatch: &Dispatch) {
        self.check_filtering(dispatch);
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut fields = SpanFields::default();
        let inner = &*self.inner;
        attrs.record(&mut SpanVisitor {
            fields: &mut fields,
            redactor: &inner.redactor,
            max: inner.max_line,
        });
        span.extensions_mut().insert(fields);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut ext = span.extensions_mut();
        if let Some(fields) = ext.get_mut::<SpanFields>() {
            let inner = &*self.inner;
            values.record(&mut SpanVisitor {
                fields,
                redactor: &inner.redactor,
                max: inner.max_line,
            });
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        with_buffers(|bufs| {
            if !self.capture(bufs, event, &ctx) {
                return;
            }
            line::render(
                &bufs.scratch,
                &mut bufs.ts,
                &mut bufs.line,
                self.inner.max_line,
            );
            self.inner.engine.on_event(&bufs.scratch);
            let ts_ms = bufs.scratch.ts_ms;
            self.enqueue(day_of(ts_ms), ts_ms, &bufs.line, &mut bufs.stage);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_drop_marker_is_a_contract_line() {
        let line = marker_line(1_759_758_190_123, 7);
        assert_eq!(
            String::from_utf8(line).unwrap(),
            "{\"ts\":\"2025-10-06T13:43:10.123Z\",\"level\":\"warning\",\"evt\":\"telemetry_dropped\",\
             \"source\":\"evt_telemetry\",\"msg\":\"7 events dropped: queue full\",\"meta\":{\"dropped\":7}}\n"
        );
    }
}
