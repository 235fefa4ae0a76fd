//! Renders a captured event as one JSON line:
//! `{"ts":…,"level":…,"evt":…,"source":…,"msg":…,"meta":{…}}\n`.

use crate::capture::{Cap, Scratch};
use crate::contract::level::LineLevel;
use crate::encode::json::{self, TimestampCache};

/// Writes the line of `scratch` into `out` (cleared first), keeping it
/// within `max_line` bytes by cutting the longest strings, never the JSON.
pub(crate) fn render(
    scratch: &Scratch,
    ts: &mut TimestampCache,
    out: &mut Vec<u8>,
    max_line: usize,
) {
    write_line(scratch, ts, out, usize::MAX);
    if out.len() > max_line {
        fit(scratch, ts, out, max_line);
    }
}

/// Finds the largest per-string budget whose line fits, by bisection.
fn fit(scratch: &Scratch, ts: &mut TimestampCache, out: &mut Vec<u8>, max_line: usize) {
    let (mut lo, mut hi) = (0, max_line);
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        write_line(scratch, ts, out, mid);
        if out.len() <= max_line {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    // Best effort when even empty strings do not fit: keys are never cut.
    write_line(scratch, ts, out, lo);
}

fn write_line(s: &Scratch, ts: &mut TimestampCache, out: &mut Vec<u8>, limit: usize) {
    out.clear();
    out.extend_from_slice(b"{\"ts\":");
    ts.push(out, s.ts_ms);
    out.extend_from_slice(b",\"level\":\"");
    out.extend_from_slice(s.level.unwrap_or(LineLevel::Info).as_str().as_bytes());
    out.push(b'"');
    push_top(out, s, b",\"evt\":", s.evt.as_ref(), limit);
    match (&s.source, &s.target_pair) {
        (Some(cap), _) => push_top(out, s, b",\"source\":", Some(cap), limit),
        (None, Some(pair)) if s.target.len() <= limit => {
            out.push(b',');
            out.extend_from_slice(&s.arena.as_bytes()[pair.clone()]);
        }
        (None, _) => {
            out.extend_from_slice(b",\"source\":");
            push_limited(out, s.target, s.target.len(), limit)
        }
    }
    push_top(out, s, b",\"msg\":", s.msg.as_ref(), limit);
    out.extend_from_slice(b",\"meta\":{");
    for (i, (name, cap)) in s.fields.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        if let Some(pair) = whole_pair(s, cap, limit) {
            out.extend_from_slice(pair);
            continue;
        }
        if i < 64 && s.plain_keys & (1 << i) != 0 {
            json::push_plain_key(out, name);
        } else {
            json::push_key(out, name);
            out.push(b':');
        }
        push_value(out, s, cap, limit);
    }
    out.extend_from_slice(b"}}\n");
}

/// The `"key":"value"` pair of a framed text kept whole within `limit`
/// (see [`Text::framed`](crate::capture::Text)).
#[inline]
fn whole_pair<'s>(s: &'s Scratch, cap: &Cap, limit: usize) -> Option<&'s [u8]> {
    let Cap::Str(t) = cap else { return None };
    let whole = t.range.len() == t.original && t.range.len() <= limit;
    let frame = t.frame().filter(|_| whole)?;
    Some(&s.arena.as_bytes()[frame])
}

/// `,"key":` and a top-level text (`evt`, `source`, `msg`): its framed pair
/// when there is one (the key is the same), else written here.
fn push_top(out: &mut Vec<u8>, s: &Scratch, comma_key: &[u8], cap: Option<&Cap>, limit: usize) {
    if let Some(pair) = cap.and_then(|c| whole_pair(s, c, limit)) {
        out.push(b',');
        return out.extend_from_slice(pair);
    }
    out.extend_from_slice(comma_key);
    match cap {
        Some(cap) => push_text(out, s, cap, limit),
        None => out.extend_from_slice(b"\"\""),
    }
}

fn push_value(out: &mut Vec<u8>, s: &Scratch, cap: &Cap, limit: usize) {
    match *cap {
        Cap::I64(v) => json::push_int(out, v),
        Cap::U64(v) => json::push_int(out, v),
        Cap::I128(v) => json::push_int(out, v),
        Cap::U128(v) => json::push_int(out, v),
        Cap::F64(v) => json::push_f64(out, v),
        Cap::Bool(v) => out.extend_from_slice(if v { b"true" } else { b"false" }),
        Cap::Str(..) => push_text(out, s, cap, limit),
    }
}

fn push_text(out: &mut Vec<u8>, s: &Scratch, cap: &Cap, limit: usize) {
    let Cap::Str(t) = cap else {
        return out.extend_from_slice(b"\"\"");
    };
    let text = s.text(cap);
    if t.plain && text.len() == t.original && text.len() <= limit {
        json::push_plain_str(out, text)
    } else {
        push_limited(out, text, t.original, limit)
    }
}

/// Appends `text` (a prefix of a value `original` bytes long) as a JSON
/// string of at most about `limit` escaped bytes, marking any cut.
fn push_limited(out: &mut Vec<u8>, text: &str, original: usize, limit: usize) {
    let fits =
        text.len() == original && (text.len() <= limit / 6 || json::escaped_len(text) <= limit);
    if fits {
        return json::push_str(out, text);
    }
    let kept = escaped_prefix(text, limit);
    let mut cut = String::with_capacity(kept.len() + 32);
    cut.push_str(kept);
    cut.push_str(&format!("...[truncated {} bytes]", original - kept.len()));
    json::push_str(out, &cut);
}

/// The longest prefix of `text` whose escaped form fits in `limit` bytes.
fn escaped_prefix(text: &str, limit: usize) -> &str {
    let mut used = 0;
    for (i, c) in text.char_indices() {
        let mut buf = [0; 4];
        used += json::escaped_len(c.encode_utf8(&mut buf));
        if used > limit {
            return &text[..text.floor_char_boundary(i)];
        }
    }
    text
}

/// The line written after lossy drops, once the queue has room again (or,
/// by the writer, when it takes the queue).
pub(crate) fn marker_line(ts_ms: i64, dropped: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(200);
    out.extend_from_slice(b"{\"ts\":");
    TimestampCache::default().push(&mut out, ts_ms);
    out.extend_from_slice(b",\"level\":\"warning\",\"evt\":\"telemetry_dropped\",\"source\":\"evt_telemetry\",\"msg\":");
    json::push_str(&mut out, &format!("{dropped} events dropped: queue full"));
    out.extend_from_slice(format!(",\"meta\":{{\"dropped\":{dropped}}}}}\n").as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limited(text: &str, original: usize, limit: usize) -> String {
        let mut out = Vec::new();
        push_limited(&mut out, text, original, limit);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_value_within_its_budget_is_written_whole() {
        assert_eq!(limited("abc", 3, 3), r#""abc""#);
        assert_eq!(limited("a\"b", 3, usize::MAX), r#""a\"b""#);
    }

    #[test]
    fn a_cut_value_keeps_a_prefix_and_says_how_much_was_cut() {
        assert_eq!(limited("abcdef", 6, 2), r#""ab...[truncated 4 bytes]""#);
        // Cut earlier (at capture): the marker counts from the original length.
        assert_eq!(limited("abc", 10, 100), r#""abc...[truncated 7 bytes]""#);
    }

    #[test]
    fn cuts_respect_escapes_and_char_boundaries() {
        // `"` takes two bytes escaped: a budget of 3 keeps `a"`, not half an escape.
        assert_eq!(escaped_prefix("a\"bc", 3), "a\"");
        assert_eq!(escaped_prefix("é€x", 4), "é");
        assert_eq!(escaped_prefix("\u{1}x", 5), "");
    }
}
