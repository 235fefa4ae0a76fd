//! A zero-copy, validating JSON scanner: it checks a whole line against the
//! JSON grammar and hands out borrowed slices of the values, without building
//! a tree or allocating (escaped strings are decoded only when asked).

use std::borrow::Cow;

mod cursor;
pub(crate) use cursor::Cursor;

/// Why a line cannot be read: a reason and, for syntax errors, the byte
/// offset it was found at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Invalid {
    pub(crate) reason: &'static str,
    pub(crate) at: Option<usize>,
}

impl Invalid {
    /// A line that is valid JSON but breaks the line contract.
    pub(crate) const fn contract(reason: &'static str) -> Self {
        Invalid { reason, at: None }
    }
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.at {
            Some(at) => write!(f, "{} at byte {}", self.reason, at + 1),
            None => f.write_str(self.reason),
        }
    }
}

/// A JSON string as it appears in the line (without quotes, still escaped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct JsonStr<'a> {
    raw: &'a str,
    escaped: bool,
}

/// One JSON value, borrowed from the line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum JsonValue<'a> {
    Str(JsonStr<'a>),
    /// A number, as written.
    Num(&'a str),
    Bool(bool),
    Null,
    /// An object or array, as written (already validated).
    Compound(&'a str),
}

// === impl JsonStr ===

impl<'a> JsonStr<'a> {
    /// A string that needs no unescaping.
    pub(crate) const fn plain(raw: &'a str) -> Self {
        JsonStr {
            raw,
            escaped: false,
        }
    }

    /// The decoded text (borrowed unless the string has escapes).
    pub(crate) fn text(&self) -> Cow<'a, str> {
        if self.escaped {
            Cow::Owned(unescape(self.raw))
        } else {
            Cow::Borrowed(self.raw)
        }
    }

    /// Whether the decoded text equals `s`.
    pub(crate) fn is(&self, s: &str) -> bool {
        if self.escaped {
            self.text() == s
        } else {
            self.raw == s
        }
    }

    /// The text as written between the quotes.
    pub(crate) fn raw(&self) -> &'a str {
        self.raw
    }

    /// Whether the text has escapes.
    pub(crate) fn is_escaped(&self) -> bool {
        self.escaped
    }

    /// A string body taken from validated text.
    pub(crate) fn from_raw(raw: &'a str, escaped: bool) -> Self {
        JsonStr { raw, escaped }
    }
}

// === impl JsonValue ===

impl<'a> JsonValue<'a> {
    /// The value as a number: JSON numbers, and strings holding a number (as
    /// the library's metric rules read them).
    pub(crate) fn as_f64(&self) -> Option<f64> {
        match self {
            JsonValue::Num(n) => n.parse().ok(),
            JsonValue::Str(s) => s.text().trim().parse().ok(),
            _ => None,
        }
    }

    /// The value as display text: strings decoded, everything else as written.
    pub(crate) fn text(&self) -> Cow<'a, str> {
        match *self {
            JsonValue::Str(s) => s.text(),
            JsonValue::Num(n) | JsonValue::Compound(n) => Cow::Borrowed(n),
            JsonValue::Bool(true) => Cow::Borrowed("true"),
            JsonValue::Bool(false) => Cow::Borrowed("false"),
            JsonValue::Null => Cow::Borrowed("null"),
        }
    }

    /// The value as a `serde_json::Value` (for `--json` output, not the hot path).
    pub(crate) fn to_json(self) -> serde_json::Value {
        match self {
            JsonValue::Str(s) => serde_json::Value::String(s.text().into_owned()),
            JsonValue::Num(raw) | JsonValue::Compound(raw) => {
                serde_json::from_str(raw).unwrap_or(serde_json::Value::Null)
            }
            JsonValue::Bool(b) => serde_json::Value::Bool(b),
            JsonValue::Null => serde_json::Value::Null,
        }
    }
}

// === object lookups on validated text ===

/// The members of an object already validated by [`Cursor`] (a bad object
/// simply yields fewer members).
pub(crate) fn members(object: &str) -> impl Iterator<Item = (JsonStr<'_>, JsonValue<'_>)> {
    let mut cur = Cursor::new(object);
    let mut more = matches!(cur.open_object(), Ok(false));
    std::iter::from_fn(move || {
        if !more {
            return None;
        }
        let member = cur.key().and_then(|k| Ok((k, cur.value()?)));
        more = member.is_ok() && matches!(cur.next_member(), Ok(true));
        member.ok()
    })
}

/// The value of `key` in a validated object (the last one if repeated, as
/// serde_json and jq read duplicates).
pub(crate) fn get<'a>(object: &'a str, key: &str) -> Option<JsonValue<'a>> {
    members(object)
        .filter(|(k, _)| k.is(key))
        .last()
        .map(|(_, v)| v)
}

/// Decodes the escapes of a validated JSON string body. Lone surrogates
/// become U+FFFD.
fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('b') => out.push('\u{8}'),
            Some('f') => out.push('\u{c}'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('u') => out.push(unicode_escape(&mut chars)),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

fn hex4(chars: &mut std::str::Chars<'_>) -> Option<u32> {
    let s: String = chars.take(4).collect();
    u32::from_str_radix(&s, 16).ok()
}

fn unicode_escape(chars: &mut std::str::Chars<'_>) -> char {
    let Some(hi) = hex4(chars) else {
        return char::REPLACEMENT_CHARACTER;
    };
    if (0xD800..0xDC00).contains(&hi) {
        let rest = chars.as_str();
        if let Some(lo_hex) = rest.strip_prefix("\\u").and_then(|r| r.get(..4))
            && let Ok(lo @ 0xDC00..=0xDFFF) = u32::from_str_radix(lo_hex, 16)
        {
            chars.nth(5);
            let c = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
            return char::from_u32(c).unwrap_or(char::REPLACEMENT_CHARACTER);
        }
    }
    char::from_u32(hi).unwrap_or(char::REPLACEMENT_CHARACTER)
}

#[cfg(test)]
mod tests {
    use super::cursor::find_special;
    use super::*;

    fn check(text: &str) -> Result<JsonValue<'_>, Invalid> {
        let mut c = Cursor::new(text);
        let v = c.value()?;
        if c.at_end() {
            Ok(v)
        } else {
            c.fail("trailing characters")
        }
    }

    #[test]
    fn valid_documents_are_accepted_as_serde_json_accepts_them() {
        let docs = [
            r#"{"a":[1,-2.5e+3,{"b":null}],"c":"\u00e9\n","d":true,"e":false}"#,
            r#" { } "#,
            r#"[]"#,
            r#"0"#,
            r#""\ud83d\ude00""#,
        ];
        for d in docs {
            assert!(check(d).is_ok(), "{d}");
            assert!(serde_json::from_str::<serde_json::Value>(d).is_ok(), "{d}");
        }
    }

    #[test]
    fn invalid_documents_are_rejected_with_a_reason() {
        let bad = [
            (r#"{"a":1,}"#, "expected a string"),
            (r#"{"a" 1}"#, "expected ':' after key"),
            (r#"{"a":01}"#, "invalid number"),
            (r#"{"a":1."#, "invalid number"),
            (r#"{"a":tru}"#, "invalid literal"),
            ("\"a\tb\"", "control character in string"),
            (r#""\x""#, "invalid escape"),
            (r#""\u12g4""#, "invalid \\u escape"),
            (r#"{"a":"b"#, "unterminated string"),
            (r#"[1 2]"#, "expected ',' or ']'"),
            (r#"{"a":1} x"#, "trailing characters"),
        ];
        for (d, reason) in bad {
            assert_eq!(check(d).map_err(|e| e.reason), Err(reason), "{d}");
            assert!(serde_json::from_str::<serde_json::Value>(d).is_err(), "{d}");
        }
    }

    #[test]
    fn nesting_is_not_limited_and_checked_at_every_level() {
        let deep = "[{\"a\":".repeat(100_000) + "1" + &"}]".repeat(100_000);
        assert_eq!(check(&deep), Ok(JsonValue::Compound(&deep)));
        let mixed = r#"{"a":[1,{"b":[[],{}],"c":"]"},[true,null]],"d":{}}"#;
        assert_eq!(check(mixed), Ok(JsonValue::Compound(mixed)));
        let unbalanced = "[".repeat(1000) + &"]".repeat(999);
        assert_eq!(
            check(&unbalanced).map_err(|e| e.reason),
            Err("expected ',' or ']'")
        );
        let wrong_closer = "[{\"a\":1]]";
        assert_eq!(
            check(wrong_closer).map_err(|e| e.reason),
            Err("expected ',' or '}'")
        );
    }

    #[test]
    fn strings_decode_escapes_and_surrogate_pairs() {
        let Ok(JsonValue::Str(s)) = check(r#""a\"b\\c\/\u00e9\ud83d\ude00\ud800x""#) else {
            panic!("not a string")
        };
        assert_eq!(s.text(), "a\"b\\c/é😀\u{fffd}x");
        assert!(JsonStr::plain("abc").is("abc"));
    }

    #[test]
    fn special_bytes_are_found_word_at_a_time_as_byte_by_byte() {
        let naive = |b: &[u8], from: usize| {
            (from..b.len())
                .find(|&i| b[i] == b'"' || b[i] == b'\\' || b[i] < 0x20)
                .unwrap_or(b.len())
        };
        let samples: [&[u8]; 6] = [
            b"plain text without specials at all..",
            b"abcdefgh\"ijk",
            "h\u{e9}llo w\u{f6}rld \u{1F600} then \\ later".as_bytes(),
            b"\x1f\x20\x21\x22",
            b"\xff\xfe\x80\x7f\x00tail",
            b"",
        ];
        for s in samples {
            for from in 0..=s.len() {
                assert_eq!(find_special(s, from), naive(s, from), "{s:?} from {from}");
            }
        }
    }

    #[test]
    fn members_and_get_read_a_validated_object() {
        let obj = r#"{"code":"rate_limited","status":429,"n":{"x":[1]},"code":"last"}"#;
        let keys: Vec<String> = members(obj).map(|(k, _)| k.text().into_owned()).collect();
        assert_eq!(keys, ["code", "status", "n", "code"]);
        assert_eq!(get(obj, "status"), Some(JsonValue::Num("429")));
        assert_eq!(get(obj, "n"), Some(JsonValue::Compound(r#"{"x":[1]}"#)));
        assert_eq!(
            get(obj, "code").map(|v| v.text().into_owned()),
            Some("last".into())
        );
        assert_eq!(get(obj, "missing"), None);
        assert_eq!(get(r#"{"k\u0065y":1}"#, "key"), Some(JsonValue::Num("1")));
    }

    #[test]
    fn numbers_read_from_numbers_and_numeric_strings() {
        assert_eq!(JsonValue::Num("0.25").as_f64(), Some(0.25));
        assert_eq!(JsonValue::Str(JsonStr::plain(" 7 ")).as_f64(), Some(7.0));
        assert_eq!(JsonValue::Bool(true).as_f64(), None);
    }
}
