//! JSON encoding primitives for the line: escaped strings, numbers and the
//! millisecond RFC 3339 timestamp, written straight into a byte buffer.

use crate::contract::date::date_string;
use crate::words::{first, json_special, word};

/// Bytes that must be escaped in a JSON string.
const NEEDS_ESCAPE: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = true;
        b += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

/// Appends `s` as a JSON string (quoted, escaped): runs of plain bytes,
/// found eight bytes at a time, are copied whole.
pub(crate) fn push_str(out: &mut Vec<u8>, s: &str) {
    let mut rest = s.as_bytes();
    out.reserve(rest.len() + 2);
    out.push(b'"');
    while let Some(i) = first_escape(rest) {
        out.extend_from_slice(&rest[..i]);
        push_escape(out, rest[i]);
        rest = &rest[i + 1..];
    }
    out.extend_from_slice(rest);
    out.push(b'"');
}

/// Index of the first byte of `bytes` that needs escaping. A word's lowest
/// flag is exact (see [`words::zero_bytes`](crate::words::zero_bytes)), and
/// the bytes before it in the last, overlapping word were already clean.
#[inline(always)]
fn first_escape(bytes: &[u8]) -> Option<usize> {
    let n = bytes.len();
    if n < 8 {
        return bytes.iter().position(|&b| NEEDS_ESCAPE[usize::from(b)]);
    }
    let (words, tail) = bytes.as_chunks::<8>();
    for (k, chunk) in words.iter().enumerate() {
        let hits = json_special(word(chunk));
        if hits != 0 {
            return Some(8 * k + first(hits));
        }
    }
    let last = bytes.last_chunk::<8>().filter(|_| !tail.is_empty())?;
    let hits = json_special(word(last));
    (hits != 0).then(|| n - 8 + first(hits))
}

#[cold]
fn push_escape(out: &mut Vec<u8>, b: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    match b {
        b'"' => out.extend_from_slice(b"\\\""),
        b'\\' => out.extend_from_slice(b"\\\\"),
        b'\n' => out.extend_from_slice(b"\\n"),
        b'\r' => out.extend_from_slice(b"\\r"),
        b'\t' => out.extend_from_slice(b"\\t"),
        0x08 => out.extend_from_slice(b"\\b"),
        0x0c => out.extend_from_slice(b"\\f"),
        _ => out.extend_from_slice(&[
            b'\\',
            b'u',
            b'0',
            b'0',
            HEX[(b >> 4) as usize],
            HEX[(b & 15) as usize],
        ]),
    }
}

/// Appends `s`, which needs no escaping ([`is_plain`]), as a JSON string.
#[inline]
pub(crate) fn push_plain_str(out: &mut Vec<u8>, s: &str) {
    push_plain(out, s, b"\"");
}

/// Appends a field name as a JSON string.
pub(crate) fn push_key(out: &mut Vec<u8>, s: &str) {
    push_str(out, s);
}

/// Whether `s` needs no escaping as a JSON string.
pub(crate) fn is_plain(s: &str) -> bool {
    first_escape(s.as_bytes()).is_none()
}

/// Appends `"s":` for an `s` that needs no escaping ([`is_plain`]).
pub(crate) fn push_plain_key(out: &mut Vec<u8>, s: &str) {
    push_plain(out, s, b"\":");
}

/// Appends `"`, `s` (which needs no escaping) and `end`.
#[inline]
fn push_plain(out: &mut Vec<u8>, s: &str, end: &[u8]) {
    debug_assert!(is_plain(s));
    out.reserve(s.len() + 1 + end.len());
    out.push(b'"');
    out.extend_from_slice(s.as_bytes());
    out.extend_from_slice(end);
}

/// The length `s` takes once escaped, quotes excluded.
pub(crate) fn escaped_len(s: &str) -> usize {
    s.bytes()
        .map(|b| match b {
            b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => 2,
            0..=0x1f => 6,
            _ => 1,
        })
        .sum()
}

/// Appends a float: finite values as JSON numbers, the others as the strings
/// `"NaN"`, `"inf"` and `"-inf"`.
pub(crate) fn push_f64(out: &mut Vec<u8>, v: f64) {
    if v.is_finite() {
        // UNWRAP: a finite f64 always serializes.
        serde_json::to_writer(&mut *out, &v).unwrap();
    } else if v.is_nan() {
        out.extend_from_slice(b"\"NaN\"");
    } else if v > 0.0 {
        out.extend_from_slice(b"\"inf\"");
    } else {
        out.extend_from_slice(b"\"-inf\"");
    }
}

/// Appends an integer of any width as a JSON number.
pub(crate) fn push_int(out: &mut Vec<u8>, v: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// Formats `ts` values, caching the text of the current second per thread.
#[derive(Debug, Default)]
pub(crate) struct TimestampCache {
    second: Option<i64>,
    /// `"YYYY-MM-DDTHH:MM:SS.` for `second`.
    prefix: Vec<u8>,
}

impl TimestampCache {
    /// Appends `"2025-10-06T13:43:10.123Z"` (quoted) for `unix_ms`.
    pub(crate) fn push(&mut self, out: &mut Vec<u8>, unix_ms: i64) {
        let second = unix_ms.div_euclid(1000);
        if self.second != Some(second) {
            self.refresh(second);
        }
        let ms = unix_ms.rem_euclid(1000) as u32;
        out.push(b'"');
        out.extend_from_slice(&self.prefix);
        out.extend_from_slice(&[
            b'0' + (ms / 100) as u8,
            b'0' + (ms / 10 % 10) as u8,
            b'0' + (ms % 10) as u8,
            b'Z',
            b'"',
        ]);
    }

    fn refresh(&mut self, second: i64) {
        let date = date_string(second.div_euclid(86_400));
        let s = second.rem_euclid(86_400);
        self.prefix.clear();
        let text = format!("{date}T{:02}:{:02}:{:02}.", s / 3600, s / 60 % 60, s % 60);
        self.prefix.extend_from_slice(text.as_bytes());
        self.second = Some(second);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        f(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn escaping_matches_serde_json_for_every_byte() {
        let all: String = (0u8..0x80).map(char::from).chain("é€😀".chars()).collect();
        assert_eq!(
            text(|o| push_str(o, &all)),
            serde_json::to_string(&all).unwrap()
        );
    }

    proptest::proptest! {
        #[test]
        fn escaping_matches_serde_json_for_any_string(s in "\\PC*|[\\x00-\\x7f]{0,40}") {
            proptest::prop_assert_eq!(text(|o| push_str(o, &s)), serde_json::to_string(&s).unwrap());
        }
    }

    #[test]
    fn strings_escape_quotes_backslashes_and_control_characters() {
        assert_eq!(
            text(|o| push_str(o, "a\"b\\c\n\u{1}")),
            r#""a\"b\\c\n\u0001""#
        );
        assert_eq!(escaped_len("a\"b\\c\n\u{1}"), 1 + 2 + 1 + 2 + 1 + 2 + 6);
    }

    #[test]
    fn keys_with_odd_characters_are_escaped_too() {
        assert_eq!(text(|o| push_key(o, "status")), r#""status""#);
        assert_eq!(text(|o| push_key(o, "a\"b")), r#""a\"b""#);
    }

    #[test]
    fn non_finite_floats_become_strings() {
        assert_eq!(text(|o| push_f64(o, f64::NAN)), r#""NaN""#);
        assert_eq!(text(|o| push_f64(o, f64::INFINITY)), r#""inf""#);
        assert_eq!(text(|o| push_f64(o, f64::NEG_INFINITY)), r#""-inf""#);
        assert_eq!(text(|o| push_f64(o, 0.25)), "0.25");
        assert_eq!(text(|o| push_f64(o, 2.0)), "2.0");
    }

    #[test]
    fn wide_integers_stay_numbers() {
        assert_eq!(text(|o| push_int(o, i128::MIN)), i128::MIN.to_string());
        assert_eq!(text(|o| push_int(o, u64::MAX)), u64::MAX.to_string());
    }

    #[test]
    fn timestamps_have_milliseconds_and_z_across_seconds_and_days() {
        let mut cache = TimestampCache::default();
        assert_eq!(
            text(|o| cache.push(o, 1_759_758_190_123)),
            r#""2025-10-06T13:43:10.123Z""#
        );
        assert_eq!(
            text(|o| cache.push(o, 1_759_758_190_007)),
            r#""2025-10-06T13:43:10.007Z""#
        );
        assert_eq!(
            text(|o| cache.push(o, 1_759_795_199_999)),
            r#""2025-10-06T23:59:59.999Z""#
        );
        assert_eq!(
            text(|o| cache.push(o, 1_759_795_200_000)),
            r#""2025-10-07T00:00:00.000Z""#
        );
        assert_eq!(text(|o| cache.push(o, -1)), r#""1969-12-31T23:59:59.999Z""#);
    }
}
