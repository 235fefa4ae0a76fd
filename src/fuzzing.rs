//! Fuzzing hook (feature `fuzzing`, off by default): the layer's capture and
//! line rendering on one event, without spans, files or threads.

use tracing::Event;

use crate::capture::memo::Callsite;
use crate::capture::redact::Redactor;
use crate::capture::{EventVisitor, FieldMasks, Scratch};
use crate::contract::level::LineLevel;
use crate::encode::json::TimestampCache;
use crate::encode::line;

/// 2025-10-06T13:43:10.123Z, the stamp of every fuzzed line.
const TS_MS: i64 = 1_759_758_190_123;

/// The line the layer would write for `event` (an `evt` field is not
/// required here), redacted by `redactor`, within `max_line_bytes`.
///
/// The event is rendered twice through the same callsite memory: the
/// second time takes every remembered redaction (and framed pair), and
/// must give the same line.
///
/// # Panics
///
/// When the two lines differ.
#[doc(hidden)]
pub fn render_event_for_fuzzing(
    event: &Event<'_>,
    redactor: &Redactor,
    max_line_bytes: usize,
) -> Vec<u8> {
    let meta = event.metadata();
    let mut site = Callsite::new(FieldMasks::of(redactor, meta), meta.target());
    let render = |site: &mut Callsite| {
        let mut scratch = Scratch::default();
        scratch.reset(TS_MS, meta.target());
        let mut visitor = EventVisitor {
            scratch: &mut scratch,
            redactor,
            max: max_line_bytes,
            site,
        };
        event.record(&mut visitor);
        visitor.source_from_target();
        scratch.level = Some(LineLevel::from_tracing(meta.level(), scratch.critical));
        let mut out = Vec::new();
        let ts = &mut TimestampCache::default();
        line::render(&scratch, ts, &mut out, max_line_bytes);
        out
    };
    let first = render(&mut site);
    let again = render(&mut site);
    assert_eq!(first, again, "a remembered redaction changed the line");
    first
}
