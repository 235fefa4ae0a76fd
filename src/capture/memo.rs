//! What a thread remembers of one callsite: which of its fields have secret
//! names, and, per field, the last text it redacted there.
//!
//! Most text fields carry the same few values again and again (the `evt`
//! name, error codes, model names, static messages). Redaction is a pure
//! function of the text, so a value equal to the one last seen on the same
//! field of the same callsite (through the same layer) redacts to the same
//! output: comparing the bytes costs a fraction of scanning them for
//! secrets again. The memory also keeps whether the output needs JSON
//! escaping, and when neither the key nor the value does, the output is
//! kept framed as the line's `"key":"value"`, so the line encoder copies
//! the pair at once instead of escaping and quoting each part.

use std::collections::HashMap;

use foldhash::fast::FixedState;

use crate::capture::FieldMasks;
use crate::encode::json;
use crate::words::bytes_eq;

/// Longest text remembered, in bytes: longer values are redacted each
/// time (and seldom repeat).
pub(crate) const MAX_REMEMBERED: usize = 256;

/// Fields remembered per callsite (by field index); later ones are
/// redacted each time.
const MAX_FIELDS: usize = 64;

/// Callsites a thread remembers at most; past this, or past
/// [`MAX_REMEMBERED_BYTES`] of remembered text, it forgets them all
/// (layers built and dropped over and over leave entries behind).
const MAX_CALLSITES: usize = 4096;

/// Bytes of remembered redactions a thread keeps at most.
const MAX_REMEMBERED_BYTES: usize = 1 << 20;

/// One thread's memory of every (layer id, callsite address) it saw.
#[derive(Debug, Default)]
pub(crate) struct Callsites {
    map: HashMap<(u64, usize), Callsite, FixedState>,
    /// Bytes the remembered redactions hold.
    remembered: usize,
}

impl Callsites {
    /// The memory of callsite `key`, made by `make` if new.
    pub(crate) fn get(
        &mut self,
        key: (u64, usize),
        make: impl FnOnce() -> Callsite,
    ) -> &mut Callsite {
        if self.map.len() >= MAX_CALLSITES && !self.map.contains_key(&key) {
            self.forget();
        }
        self.map.entry(key).or_insert_with(make)
    }

    /// Counts `grown` bytes a callsite took during an event (its
    /// [`take_grown`](Callsite::take_grown)); past the budget, forgets
    /// everything.
    pub(crate) fn keep_within_budget(&mut self, grown: usize) {
        self.remembered += grown;
        if self.remembered > MAX_REMEMBERED_BYTES {
            self.forget();
        }
    }

    fn forget(&mut self) {
        self.map.clear();
        self.remembered = 0;
    }
}

/// A redacted text as the encoder needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Redacted {
    /// Length of the redacted text before any cut to the line cap.
    pub(crate) original: usize,
    /// The kept text needs no JSON escaping.
    pub(crate) plain: bool,
    /// Bytes of `"key":"` written before the text (0: not framed; when
    /// framed, a closing `"` follows it).
    pub(crate) framed: usize,
}

/// One thread's memory of one callsite (per layer).
#[derive(Debug, Default)]
pub(crate) struct Callsite {
    pub(crate) masks: FieldMasks,
    /// `"source":"target"`, the line's pair for an event without a `source`
    /// field, when the target needs no escaping.
    pub(crate) target_pair: Option<Box<str>>,
    last: Vec<Last>,
    /// Bytes of memory taken since [`take_grown`](Self::take_grown).
    grown: usize,
}

/// The last text redacted on one field, and its redaction.
#[derive(Debug, Default)]
struct Last {
    input: String,
    output: String,
    redacted: Option<Redacted>,
}

impl Callsite {
    /// A callsite with these `masks` and `target`.
    pub(crate) fn new(masks: FieldMasks, target: &str) -> Self {
        let pair = json::is_plain(target).then(|| format!("\"source\":\"{target}\""));
        Callsite {
            masks,
            target_pair: pair.map(String::into_boxed_str),
            last: Vec::new(),
            grown: 0,
        }
    }

    /// Bytes of memory this callsite's memory took since the last call.
    pub(crate) fn take_grown(&mut self) -> usize {
        std::mem::take(&mut self.grown)
    }

    /// Appends the redaction of `value` (field `index`) to `out`: the
    /// remembered one when `value` is the text last seen on this field,
    /// else `redact(value, out)`'s, which it then remembers. With a `key`
    /// that needs no escaping (the line's key), a value that needs none
    /// either is framed as `"key":"value"` (see [`Redacted::framed`]).
    pub(crate) fn redact_into(
        &mut self,
        index: usize,
        key: Option<&str>,
        value: &str,
        out: &mut String,
        redact: impl FnOnce(&str, &mut String) -> usize,
    ) -> Redacted {
        if let Some(last) = self.last.get(index)
            && let Some(redacted) = last.redacted
            && bytes_eq(last.input.as_bytes(), value.as_bytes())
        {
            out.push_str(&last.output);
            return redacted;
        }
        let start = out.len();
        let redacted = framed(key, out, |out| redact(value, out));
        if index < MAX_FIELDS && value.len() <= MAX_REMEMBERED {
            self.remember(index, value, &out[start..], redacted);
        }
        redacted
    }

    fn remember(&mut self, index: usize, input: &str, output: &str, redacted: Redacted) {
        if self.last.len() <= index {
            self.last.resize_with(index + 1, Last::default);
        }
        let last = &mut self.last[index];
        let before = last.input.capacity() + last.output.capacity();
        last.input.clear();
        last.input.push_str(input);
        last.output.clear();
        last.output.push_str(output);
        last.redacted = Some(redacted);
        self.grown += (last.input.capacity() + last.output.capacity()).saturating_sub(before);
    }
}

/// Appends `"key":"` (for a `key`), what `redact` writes, and `"`; unless
/// that needs escaping, then only what `redact` wrote.
fn framed(
    key: Option<&str>,
    out: &mut String,
    redact: impl FnOnce(&mut String) -> usize,
) -> Redacted {
    let start = out.len();
    if let Some(key) = key {
        out.push('"');
        out.push_str(key);
        out.push_str("\":\"");
    }
    let framed = out.len() - start;
    let original = redact(out);
    let plain = json::is_plain(&out[start + framed..]);
    match (framed, plain) {
        (0, _) => {}
        (_, true) => out.push('"'),
        (_, false) => drop(out.drain(start..start + framed)),
    }
    Redacted {
        original,
        plain,
        framed: if plain { framed } else { 0 },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    /// Redacts `value` at `index` with an upper-casing "redactor" that
    /// counts its calls.
    fn run(
        site: &mut Callsite,
        calls: &Cell<u32>,
        index: usize,
        value: &str,
    ) -> (String, Redacted) {
        run_keyed(site, calls, index, None, value)
    }

    fn run_keyed(
        site: &mut Callsite,
        calls: &Cell<u32>,
        index: usize,
        key: Option<&str>,
        value: &str,
    ) -> (String, Redacted) {
        let mut out = String::from("prefix:");
        let red = site.redact_into(index, key, value, &mut out, |v, o| {
            calls.set(calls.get() + 1);
            o.push_str(&v.to_uppercase());
            v.len()
        });
        (out["prefix:".len()..].to_owned(), red)
    }

    #[test]
    fn the_same_text_on_the_same_field_is_redacted_once() {
        let (mut site, calls) = (Callsite::default(), Cell::new(0));
        let plain = Redacted {
            original: 3,
            plain: true,
            framed: 0,
        };
        assert_eq!(run(&mut site, &calls, 2, "abc"), ("ABC".into(), plain));
        assert_eq!(run(&mut site, &calls, 2, "abc"), ("ABC".into(), plain));
        assert_eq!(calls.get(), 1);
    }

    #[test]
    fn other_text_or_another_field_is_redacted_again() {
        let (mut site, calls) = (Callsite::default(), Cell::new(0));
        run(&mut site, &calls, 0, "abc");
        assert_eq!(run(&mut site, &calls, 0, "abd").0, "ABD");
        assert_eq!(run(&mut site, &calls, 0, "ab").0, "AB");
        assert_eq!(run(&mut site, &calls, 1, "ab").0, "AB");
        assert_eq!(run(&mut site, &calls, 0, "").0, "");
        assert_eq!(calls.get(), 5);
        // The last one of each field is what is remembered.
        run(&mut site, &calls, 1, "ab");
        assert_eq!(calls.get(), 5);
    }

    #[test]
    fn long_texts_and_late_fields_are_never_remembered() {
        let (mut site, calls) = (Callsite::default(), Cell::new(0));
        let long = "x".repeat(MAX_REMEMBERED + 1);
        for _ in 0..2 {
            run(&mut site, &calls, 0, &long);
            run(&mut site, &calls, MAX_FIELDS, "abc");
        }
        assert_eq!(calls.get(), 4);
    }

    #[test]
    fn a_plain_value_is_framed_with_its_key_and_remembered_so() {
        let (mut site, calls) = (Callsite::default(), Cell::new(0));
        for _ in 0..2 {
            let (out, red) = run_keyed(&mut site, &calls, 0, Some("code"), "abc");
            assert_eq!(out, r#""code":"ABC""#);
            assert_eq!((red.framed, red.plain, red.original), (8, true, 3));
        }
        assert_eq!(calls.get(), 1);
        // A value that needs escaping is not framed.
        for _ in 0..2 {
            let (out, red) = run_keyed(&mut site, &calls, 1, Some("code"), "a\"b");
            assert_eq!((out.as_str(), red.framed, red.plain), ("A\"B", 0, false));
        }
        assert_eq!(calls.get(), 2);
    }

    #[test]
    fn the_memory_taken_is_reported_once() {
        let (mut site, calls) = (Callsite::default(), Cell::new(0));
        run(&mut site, &calls, 0, "abc");
        let grown = site.take_grown();
        assert!(grown >= 6, "{grown}");
        assert_eq!(site.take_grown(), 0);
        run(&mut site, &calls, 0, "abd");
        assert_eq!(site.take_grown(), 0, "the same capacity is reused");
    }

    #[test]
    fn a_thread_forgets_its_callsites_past_the_memory_budget() {
        let mut sites = Callsites::default();
        let calls = Cell::new(0);
        let text = "x".repeat(MAX_REMEMBERED);
        // Each callsite remembers 8 fields of 256 bytes (twice: in and out).
        let per_site = 8 * 2 * MAX_REMEMBERED;
        let fill = MAX_REMEMBERED_BYTES / per_site;
        for id in 0..fill {
            let site = sites.get((1, id), Callsite::default);
            for i in 0..8 {
                run(site, &calls, i, &text);
            }
            let grown = site.take_grown();
            sites.keep_within_budget(grown);
        }
        assert_eq!(sites.map.len(), fill);
        assert!(sites.remembered >= MAX_REMEMBERED_BYTES - per_site);
        let site = sites.get((1, fill), Callsite::default);
        for i in 0..8 {
            run(site, &calls, i, &text);
        }
        let grown = site.take_grown();
        sites.keep_within_budget(grown);
        assert_eq!((sites.map.len(), sites.remembered), (0, 0));
    }

    #[test]
    fn a_thread_forgets_its_callsites_past_their_number() {
        let mut sites = Callsites::default();
        for id in 0..MAX_CALLSITES {
            sites.get((1, id), Callsite::default);
        }
        assert_eq!(sites.map.len(), MAX_CALLSITES);
        sites.get((1, 0), Callsite::default);
        assert_eq!(sites.map.len(), MAX_CALLSITES, "a known one is kept");
        sites.get((2, 0), Callsite::default);
        assert_eq!(sites.map.len(), 1);
    }

    #[test]
    fn the_target_pair_is_made_once_when_the_target_is_plain() {
        let site = Callsite::new(FieldMasks::default(), "my_app::worker");
        assert_eq!(
            site.target_pair.as_deref(),
            Some(r#""source":"my_app::worker""#)
        );
        assert_eq!(
            Callsite::new(FieldMasks::default(), "a\"b").target_pair,
            None
        );
    }

    proptest::proptest! {
        /// Any sequence of values on a few fields, through the memory and the
        /// real redactor, gives what a fresh redaction gives, framed
        /// exactly when plain.
        #[test]
        fn remembered_redactions_equal_fresh_ones(
            values in proptest::collection::vec(
                (0usize..3, "(sk-or-v1-[a-f0-9]{8,40}|Bearer [A-Za-z0-9]{20}|rate_limited|a\"b|x{0,3}| )"),
                1..40,
            )
        ) {
            let redactor = crate::capture::redact::Redactor::default();
            let mut site = Callsite::default();
            for (index, value) in &values {
                let mut out = String::new();
                let red = site.redact_into(*index, Some("k"), value, &mut out, |v, o| {
                    redactor.redact_into(v, o, usize::MAX)
                });
                let fresh = redactor.redact(value);
                let want = match red.plain {
                    true => format!("\"k\":\"{fresh}\""),
                    false => fresh.to_string(),
                };
                proptest::prop_assert_eq!(&out, &want);
                proptest::prop_assert_eq!(red.plain, json::is_plain(&fresh));
                proptest::prop_assert_eq!(red.original, fresh.len());
            }
        }
    }

    #[test]
    fn whether_the_output_needs_escaping_is_kept() {
        let (mut site, calls) = (Callsite::default(), Cell::new(0));
        for _ in 0..2 {
            let (out, red) = run(&mut site, &calls, 0, "a\"b\n");
            assert_eq!((out.as_str(), red.plain), ("A\"B\n", false));
        }
        assert_eq!(calls.get(), 1);
    }
}
