//! What the layer captures of one event: its top-level keys and its typed,
//! redacted fields (event first, then spans inner to outer, names unique),
//! kept in one reused per-thread scratch so the hot path does not allocate.

pub(crate) mod memo;
pub(crate) mod redact;
mod span;
pub(crate) mod value;

pub(crate) use span::{SpanFields, SpanVisitor};

use std::fmt::{self, Write as _};
use std::ops::Range;

use tracing::field::{Field, Visit};

use crate::capture::memo::Callsite;
use crate::capture::redact::{REDACTED, Redactor};
use crate::capture::value::{EventView, FieldValue, FoundAt, Value};
use crate::contract::level::LineLevel;
use crate::encode::json;
use crate::words::bytes_eq;

/// Text kept in the scratch arena: its range, the byte length the value
/// had before any cut, whether it needs no JSON escaping, and whether the
/// arena holds it framed as the line's `"key":"value"`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Text {
    pub(crate) range: Range<usize>,
    pub(crate) original: usize,
    pub(crate) plain: bool,
    /// Bytes of `"key":"` before `range` (0: not framed); a `"` follows it.
    pub(crate) framed: usize,
}

impl Text {
    /// The `"key":"value"` pair around the text, when framed.
    pub(crate) fn frame(&self) -> Option<Range<usize>> {
        (self.framed > 0).then(|| self.range.start - self.framed..self.range.end + 1)
    }
}

/// A captured value; strings live in the scratch arena.
pub(crate) type Cap = Value<Text>;

/// The per-thread scratch of one event.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    pub(crate) arena: String,
    pub(crate) fields: Vec<(&'static str, Cap)>,
    /// Bit `k` set: the name of `fields[k]` (of the first 64) needs no escaping.
    pub(crate) plain_keys: u64,
    pub(crate) evt: Option<Cap>,
    pub(crate) source: Option<Cap>,
    pub(crate) msg: Option<Cap>,
    pub(crate) critical: bool,
    pub(crate) level: Option<LineLevel>,
    pub(crate) ts_ms: i64,
    /// Target of the event, used as `source` when it has no `source` field.
    pub(crate) target: &'static str,
    /// Where the arena holds `"source":"target"` for such an event (when
    /// the target needs no escaping).
    pub(crate) target_pair: Option<Range<usize>>,
    debug: String,
}

impl Scratch {
    /// Forgets the previous event, keeping capacity (but not a huge one).
    pub(crate) fn reset(&mut self, ts_ms: i64, target: &'static str) {
        const KEEP: usize = 1 << 20;
        for s in [&mut self.arena, &mut self.debug] {
            s.clear();
            if s.capacity() > KEEP {
                s.shrink_to(KEEP / 16);
            }
        }
        self.fields.clear();
        self.plain_keys = 0;
        (self.evt, self.source, self.msg) = (None, None, None);
        (self.critical, self.level) = (false, None);
        (self.ts_ms, self.target, self.target_pair) = (ts_ms, target, None);
    }

    pub(crate) fn text(&self, cap: &Cap) -> &str {
        match cap {
            Cap::Str(t) => &self.arena[t.range.clone()],
            _ => "",
        }
    }

    pub(crate) fn has_field(&self, name: &str) -> bool {
        self.fields
            .iter()
            .any(|(n, _)| bytes_eq(n.as_bytes(), name.as_bytes()))
    }

    /// Stores already redacted `value`, cut to `max` bytes, in the arena.
    fn store_raw(&mut self, value: &str, max: usize) -> Cap {
        Cap::Str(self.store_text(value, max))
    }

    fn store_text(&mut self, value: &str, max: usize) -> Text {
        let start = self.arena.len();
        let kept = &value[..value.floor_char_boundary(max)];
        self.arena.push_str(kept);
        Text {
            range: start..self.arena.len(),
            original: value.len(),
            plain: json::is_plain(kept),
            framed: 0,
        }
    }

    /// Adds the fields of one span, skipping names already present.
    pub(crate) fn add_span_fields(&mut self, fields: &SpanFields, max: usize) {
        for (name, value) in &fields.0 {
            if self.has_field(name) {
                continue;
            }
            // Span text was redacted when recorded.
            let cap = value.map_str(|s| self.store_text(s, max));
            self.fields.push((name, cap));
        }
    }
}

/// A `fmt::Write` that keeps the first `limit` bytes and counts the rest.
struct Bounded<'a> {
    out: &'a mut String,
    limit: usize,
    total: usize,
}

impl fmt::Write for Bounded<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.total += s.len();
        let room = self.limit.saturating_sub(self.out.len());
        if s.len() <= room {
            self.out.push_str(s);
        } else if room > 0 {
            self.out.push_str(&s[..s.floor_char_boundary(room)]);
        }
        Ok(())
    }
}

/// Writes the Debug output of `value` into `out` (cleared first), keeping at
/// most `limit` bytes; returns how many bytes were not kept.
///
/// When cut, the kept text also loses its last word (back to a space, quote
/// or comma): the piece at the limit may be the start of a secret that the
/// redactor can no longer recognise (`sk-or-v1-0123`, `https://u:pass`).
pub(crate) fn debug_text(out: &mut String, value: &dyn fmt::Debug, limit: usize) -> usize {
    out.clear();
    let mut bounded = Bounded {
        out,
        limit,
        total: 0,
    };
    let _ = write!(bounded, "{value:?}");
    let total = bounded.total;
    if total > out.len() {
        let is_boundary = |c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ',');
        out.truncate(out.rfind(is_boundary).map_or(0, |i| i + 1));
    }
    total - out.len()
}

/// What the layer needs to know of a callsite's field names, worked out
/// once per callsite (names are static).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct FieldMasks {
    /// Bit `i` set: field `i` (of the first 64) has a secret name.
    pub(crate) secret: u64,
    /// Bit `i` set: field `i`'s name needs no JSON escaping.
    pub(crate) plain: u64,
    /// No two fields share a name (so a field never needs checking
    /// against the ones recorded before it).
    pub(crate) unique: bool,
}

impl FieldMasks {
    pub(crate) fn of(redactor: &Redactor, meta: &tracing::Metadata<'_>) -> Self {
        let fields = meta.fields().iter().take(64).enumerate();
        let mut masks = fields.fold(FieldMasks::default(), |mut m, (i, f)| {
            m.secret |= u64::from(redactor.is_secret_name(f.name())) << i;
            m.plain |= u64::from(json::is_plain(f.name())) << i;
            m
        });
        let names: Vec<&str> = meta.fields().iter().map(|f| f.name()).collect();
        masks.unique = (1..names.len()).all(|i| !names[..i].contains(&names[i]));
        masks
    }
}

// === impl EventVisitor ===

/// Visits the fields of an event into a [`Scratch`].
pub(crate) struct EventVisitor<'a> {
    pub(crate) scratch: &'a mut Scratch,
    pub(crate) redactor: &'a Redactor,
    /// Longest value kept, in bytes (the line cap).
    pub(crate) max: usize,
    /// What this thread knows of the callsite: its names (fields past 63
    /// are checked one by one) and its last redactions.
    pub(crate) site: &'a mut Callsite,
}

impl EventVisitor<'_> {
    fn is_secret(&self, field: &Field) -> bool {
        match field.index() {
            i @ 0..64 => self.site.masks.secret & (1 << i) != 0,
            _ => self.redactor.is_secret_name(field.name()),
        }
    }

    /// After the fields: for an event without a `source` field, copies
    /// the callsite's `"source":"target"` pair (when the target needs no
    /// escaping) to the arena for the line.
    pub(crate) fn source_from_target(&mut self) {
        let (scratch, site) = (&mut *self.scratch, &*self.site);
        let Some(pair) = site
            .target_pair
            .as_deref()
            .filter(|_| scratch.source.is_none())
        else {
            return;
        };
        let start = scratch.arena.len();
        scratch.arena.push_str(pair);
        scratch.target_pair = Some(start..scratch.arena.len());
    }

    /// Whether an earlier field of this event has `field`'s name.
    fn seen(&self, field: &Field) -> bool {
        !self.site.masks.unique && self.scratch.has_field(field.name())
    }

    fn text(&mut self, field: &Field, value: &str) {
        self.text_cut(field, value, 0);
    }

    /// A text value of which `unread` trailing bytes were never read.
    fn text_cut(&mut self, field: &Field, value: &str, unread: usize) {
        let name = field.name();
        let cap = match self.is_secret(field) {
            true => self.scratch.store_raw(REDACTED, self.max),
            false => {
                let key = self.line_key(field);
                let arena = &mut self.scratch.arena;
                let start = arena.len();
                let (redactor, max) = (self.redactor, self.max);
                let red = (self.site).redact_into(field.index(), key, value, arena, |v, out| {
                    redactor.redact_into(v, out, max)
                });
                let end = arena.len() - usize::from(red.framed > 0);
                Cap::Str(Text {
                    range: start + red.framed..end,
                    original: red.original + unread,
                    plain: red.plain,
                    framed: red.framed,
                })
            }
        };
        match name {
            "message" => self.scratch.msg = Some(cap),
            "evt" => self.scratch.evt = Some(cap),
            "source" => self.scratch.source = Some(cap),
            _ if self.seen(field) => {}
            _ => self.push_field(field, cap),
        }
    }

    /// The key `field` has in the line, when it needs no escaping.
    fn line_key(&self, field: &Field) -> Option<&'static str> {
        match (field.name(), field.index()) {
            ("message", _) => Some("msg"),
            (name @ ("evt" | "source"), _) => Some(name),
            (name, i @ 0..64) if self.site.masks.plain & (1 << i) != 0 => Some(name),
            _ => None,
        }
    }

    fn push_field(&mut self, field: &Field, cap: Cap) {
        let (k, i) = (self.scratch.fields.len(), field.index());
        if k < 64 && i < 64 && self.site.masks.plain & (1 << i) != 0 {
            self.scratch.plain_keys |= 1 << k;
        }
        self.scratch.fields.push((field.name(), cap));
    }

    fn typed(&mut self, field: &Field, cap: Cap, as_text: impl FnOnce() -> String) {
        let name = field.name();
        if matches!(name, "message" | "evt" | "source") || self.is_secret(field) {
            return self.text(field, &as_text());
        }
        if !self.seen(field) {
            self.push_field(field, cap);
        }
    }
}

impl Visit for EventVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.text(field, value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let mut debug = std::mem::take(&mut self.scratch.debug);
        // Secrets are redacted before the cut, so read well past the cap.
        let unread = debug_text(&mut debug, value, self.max.saturating_mul(4));
        self.text_cut(field, &debug, unread);
        self.scratch.debug = debug;
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.typed(field, Cap::I64(value), || value.to_string());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.typed(field, Cap::U64(value), || value.to_string());
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        self.typed(field, Cap::I128(value), || value.to_string());
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        self.typed(field, Cap::U128(value), || value.to_string());
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.typed(field, Cap::F64(value), || value.to_string());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if field.name() == "critical" {
            self.scratch.critical = value;
            return;
        }
        self.typed(field, Cap::Bool(value), || value.to_string());
    }

    fn record_bytes(&mut self, field: &Field, value: &[u8]) {
        self.text(field, &String::from_utf8_lossy(value));
    }
}

// === impl EventView for Scratch ===

impl EventView for Scratch {
    fn evt(&self) -> &str {
        self.evt.as_ref().map_or("", |c| self.text(c))
    }

    fn level(&self) -> LineLevel {
        self.level.unwrap_or(LineLevel::Info)
    }

    fn source(&self) -> &str {
        self.source.as_ref().map_or(self.target, |c| self.text(c))
    }

    fn field(&self, name: &str) -> Option<FieldValue<'_>> {
        let (_, cap) = self
            .fields
            .iter()
            .find(|(n, _)| bytes_eq(n.as_bytes(), name.as_bytes()))?;
        Some(cap.map_str(|t| &self.arena[t.range.clone()]))
    }

    fn ts_unix_ms(&self) -> i64 {
        self.ts_ms
    }

    /// A name found where it was last time (the same static name at the
    /// same position) is taken without a search: names in `fields` are
    /// unique, so that is the field.
    fn lookup<'s>(
        &'s self,
        names: &[String],
        out: &mut [Option<FieldValue<'s>>],
        seen: &mut [Option<FoundAt>],
    ) {
        let value = |cap: &'s Cap| cap.map_str(|t| &self.arena[t.range.clone()]);
        for (k, (slot, name)) in out.iter_mut().zip(names).enumerate() {
            let cached = seen.get(k).copied().flatten().and_then(|at| {
                let (n, cap) = self.fields.get(at.position)?;
                std::ptr::eq(*n, at.name).then(|| value(cap))
            });
            if cached.is_some() {
                *slot = cached;
                continue;
            }
            let found =
                (self.fields.iter()).position(|(n, _)| bytes_eq(n.as_bytes(), name.as_bytes()));
            *slot = found.map(|i| value(&self.fields[i].1));
            if let Some(at) = seen.get_mut(k) {
                *at = found.map(|position| FoundAt {
                    position,
                    name: self.fields[position].0,
                });
            }
        }
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    /// A scratch with the fields `(name, text)`, in order.
    fn scratch_with(fields: &[(&'static str, &str)]) -> Scratch {
        let mut scratch = Scratch::default();
        for (name, text) in fields {
            let cap = scratch.store_raw(text, usize::MAX);
            scratch.fields.push((name, cap));
        }
        scratch
    }

    #[test]
    fn a_lookup_finds_fields_where_they_were_or_searches_again() {
        let names = [
            "model".to_string(),
            "code".to_string(),
            "absent".to_string(),
        ];
        let mut seen = [None; 3];
        let text = |v: Option<FieldValue<'_>>| match v {
            Some(FieldValue::Str(s)) => Some(s.to_owned()),
            _ => None,
        };
        let mut look = |scratch: &Scratch| {
            let mut out = [None; 3];
            scratch.lookup(&names, &mut out, &mut seen);
            out.map(text)
        };
        let some = |s: &str| Some(s.to_owned());
        let first = scratch_with(&[("code", "429"), ("model", "m1")]);
        assert_eq!(look(&first), [some("m1"), some("429"), None]);
        let again = scratch_with(&[("code", "500"), ("model", "m2")]);
        assert_eq!(look(&again), [some("m2"), some("500"), None]);
        // Another order (another callsite): found by name again.
        let other = scratch_with(&[("model", "m3"), ("x", "y"), ("code", "401")]);
        assert_eq!(look(&other), [some("m3"), some("401"), None]);
        let fewer = scratch_with(&[("model", "m4")]);
        assert_eq!(look(&fewer), [some("m4"), None, None]);
    }

    #[test]
    fn debug_text_keeps_a_short_value_whole() {
        let mut out = String::from("old");
        assert_eq!(debug_text(&mut out, &("a b", 1), 64), 0);
        assert_eq!(out, r#"("a b", 1)"#);
    }

    #[test]
    fn debug_text_cut_at_the_limit_drops_the_last_word_and_counts_the_rest() {
        let mut out = String::new();
        let value = vec!["aaaa", "sk-or-v1-0123"];
        // `["aaaa", "sk-or-v1-0123"]` is 25 bytes; 20 would keep `sk-or-v1-0`.
        assert_eq!(debug_text(&mut out, &value, 20), 15);
        assert_eq!(out, r#"["aaaa", ""#);
        assert_eq!(debug_text(&mut out, &"no-spaces", 5), 10);
        assert_eq!(out, "\"");
    }
}
