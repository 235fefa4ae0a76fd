//! The start-up check: does a filter in front of the layer drop `evt`
//! events or spans before the layer sees them?
//!
//! A global filter (an `EnvFilter` added with `.with(filter)` rather than
//! `.with_filter(filter)` on one layer) decides for the whole stack: the
//! callsites it disables never reach any layer, and no layer can override
//! that. So when the subscriber is assembled into a `Dispatch`, the layer asks
//! it about probe callsites (an event with an `evt` field and a span, at each
//! level from ERROR to DEBUG) through `register_callsite`, the same interest
//! pass real callsites go through (no event is emitted, so other layers print
//! nothing), and says once on stderr what is dropped and the code to change.
//!
//! TRACE is not probed: `RUST_LOG=debug` is a common setting and would warn
//! every time; `evt` events belong at DEBUG or above.

use tracing::Level;
use tracing_core::callsite::{Callsite, Identifier};
use tracing_core::field::FieldSet;
use tracing_core::metadata::Kind;
use tracing_core::{Dispatch, Interest, Metadata};

/// The target of the probe callsites. A filter keyed on the application's
/// own targets (`RUST_LOG=my_crate=debug`) drops it too, and rightly so:
/// `evt` events from any other target would be lost.
pub(crate) const PROBE_TARGET: &str = "evt_telemetry::startup_check";

/// A static callsite for one probe: its metadata never changes.
struct Probe(&'static Metadata<'static>);

impl Callsite for Probe {
    fn set_interest(&self, _: Interest) {}
    fn metadata(&self) -> &Metadata<'_> {
        self.0
    }
}

macro_rules! probe {
    ($level:expr, $kind:expr, $name:literal) => {{
        static META: Metadata<'static> = Metadata::new(
            $name,
            PROBE_TARGET,
            $level,
            Some(file!()),
            Some(line!()),
            Some(module_path!()),
            FieldSet::new(&["evt"], Identifier(&CALLSITE)),
            $kind,
        );
        static CALLSITE: Probe = Probe(&META);
        &META
    }};
}

/// The probed levels, most severe first.
const LEVELS: [Level; 4] = [Level::ERROR, Level::WARN, Level::INFO, Level::DEBUG];

fn event_probe(level: Level) -> &'static Metadata<'static> {
    match level {
        Level::ERROR => probe!(Level::ERROR, Kind::EVENT, "evt probe event"),
        Level::WARN => probe!(Level::WARN, Kind::EVENT, "evt probe event"),
        Level::INFO => probe!(Level::INFO, Kind::EVENT, "evt probe event"),
        _ => probe!(Level::DEBUG, Kind::EVENT, "evt probe event"),
    }
}

fn span_probe(level: Level) -> &'static Metadata<'static> {
    match level {
        Level::ERROR => probe!(Level::ERROR, Kind::SPAN, "evt probe span"),
        Level::WARN => probe!(Level::WARN, Kind::SPAN, "evt probe span"),
        Level::INFO => probe!(Level::INFO, Kind::SPAN, "evt probe span"),
        _ => probe!(Level::DEBUG, Kind::SPAN, "evt probe span"),
    }
}

/// The levels at which `dispatch` drops `evt` events, and spans (when span
/// fields are wanted), before any layer sees them.
pub(crate) fn dropped_levels(dispatch: &Dispatch, spans: bool) -> (Vec<Level>, Vec<Level>) {
    let dropped = |probe: fn(Level) -> &'static Metadata<'static>| {
        LEVELS
            .into_iter()
            .filter(|&level| dispatch.register_callsite(probe(level)).is_never())
            .collect::<Vec<_>>()
    };
    let events = dropped(event_probe);
    let spans = if spans {
        dropped(span_probe)
    } else {
        Vec::new()
    };
    (events, spans)
}

/// The one-time stderr message for what [`dropped_levels`] found, or `None`
/// when nothing is dropped.
pub(crate) fn filtered_message(events: &[Level], spans: &[Level]) -> Option<String> {
    let list = |levels: &[Level]| {
        let names: Vec<String> = levels.iter().map(|l| l.as_str().to_lowercase()).collect();
        names.join(", ")
    };
    let what = match (events.is_empty(), spans.is_empty()) {
        (true, true) => return None,
        (false, true) => format!("evt events at {}", list(events)),
        (true, false) => format!("spans at {} (their fields)", list(spans)),
        (false, false) => format!(
            "evt events at {} and spans at {} (their fields)",
            list(events),
            list(spans)
        ),
    };
    Some(format!(
        "a global filter drops {what} before the evt-telemetry layer sees them: \
         their lines, labels and metrics are lost. Filter the console layer only:\n    \
         tracing_subscriber::registry()\n        \
         .with(evt_layer)\n        \
         .with(tracing_subscriber::fmt::layer().with_filter(tracing_subscriber::EnvFilter::from_default_env()))\n        \
         .init();\n\
         (see \"Using with EnvFilter / RUST_LOG\" in the evt-telemetry docs)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::filter::LevelFilter;
    use tracing_subscriber::layer::SubscriberExt as _;

    #[test]
    fn a_global_level_filter_is_found_and_a_per_layer_one_is_not() {
        let global = Dispatch::new(tracing_subscriber::registry().with(LevelFilter::INFO));
        assert_eq!(
            dropped_levels(&global, true),
            (vec![Level::DEBUG], vec![Level::DEBUG])
        );
        assert_eq!(dropped_levels(&global, false), (vec![Level::DEBUG], vec![]));
        let none = Dispatch::new(tracing_subscriber::registry());
        assert_eq!(dropped_levels(&none, true), (vec![], vec![]));
    }

    #[test]
    fn the_message_names_the_levels_and_the_fix() {
        assert_eq!(filtered_message(&[], &[]), None);
        let msg = filtered_message(&[Level::DEBUG], &[Level::INFO, Level::DEBUG]).unwrap();
        assert!(
            msg.starts_with(
                "a global filter drops evt events at debug and spans at info, debug (their fields) before"
            ),
            "{msg}"
        );
        assert!(msg.contains(".with(tracing_subscriber::fmt::layer().with_filter(tracing_subscriber::EnvFilter::from_default_env()))"));
        let only_spans = filtered_message(&[], &[Level::DEBUG]).unwrap();
        assert!(
            only_spans.contains("drops spans at debug (their fields) before"),
            "{only_spans}"
        );
    }
}
