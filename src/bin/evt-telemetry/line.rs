//! One event line of the contract (`ts`, `level`, `evt`, `source`, `msg`,
//! `meta`), read without copying, and the field paths that name its parts.

use evt_telemetry::LineLevel;

use crate::json::{self, Cursor, Invalid, JsonStr, JsonValue};
use crate::timespec;

/// A parsed event line, borrowing from its text.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Line<'a> {
    /// The whole line as read (no newline).
    pub(crate) text: &'a str,
    pub(crate) ts_ms: i64,
    pub(crate) level: LineLevel,
    level_text: JsonStr<'a>,
    ts_text: JsonStr<'a>,
    pub(crate) evt: JsonStr<'a>,
    pub(crate) source: JsonStr<'a>,
    pub(crate) msg: JsonStr<'a>,
    /// The `meta` object as written (`{}` when absent).
    pub(crate) meta: &'a str,
    /// Where the members of `meta` are, noted while validating it so that
    /// lookups need not read it again (`None`: search the text).
    members: Option<&'a [MemberSpan]>,
}

/// Where one member of `meta` sits in its line (byte offsets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MemberSpan {
    key: (usize, usize),
    key_escaped: bool,
    value: (usize, usize),
}

/// A path naming one value of a line: a top-level key, or `meta.KEY`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Field {
    Ts,
    Level,
    Evt,
    Source,
    Msg,
    /// A key of `meta`, taken literally (it may itself contain dots).
    Meta(String),
}

/// The keys a line is read by; all are optional while scanning.
#[derive(Default)]
struct Keys<'a> {
    ts: Option<JsonStr<'a>>,
    level: Option<JsonStr<'a>>,
    evt: Option<JsonStr<'a>>,
    source: Option<JsonStr<'a>>,
    msg: Option<JsonStr<'a>>,
    meta: Option<&'a str>,
}

// === impl Line ===

impl<'a> Line<'a> {
    /// Reads a line: valid JSON, an object, with string `ts` (RFC 3339),
    /// `level` (a known level) and `evt`; `source` and `msg` strings and
    /// `meta` an object when present. Keys may come in any order; others are
    /// ignored; a repeated key counts its last value.
    pub(crate) fn parse(text: &'a str) -> Result<Self, Invalid> {
        Self::read(text, None)
    }

    /// [`Line::parse`], noting where the `meta` members are in `spans` (a
    /// buffer reused from line to line) for fast field lookups.
    pub(crate) fn parse_with(
        text: &'a str,
        spans: &'a mut Vec<MemberSpan>,
    ) -> Result<Self, Invalid> {
        spans.clear();
        let mut line = Self::read(text, Some(&mut *spans))?;
        line.members = Some(spans.as_slice());
        Ok(line)
    }

    fn read(text: &'a str, spans: Option<&mut Vec<MemberSpan>>) -> Result<Self, Invalid> {
        let keys = scan_keys(text, spans)?;
        let missing = Invalid::contract;
        let ts_text = keys.ts.ok_or(missing("missing \"ts\""))?;
        let level_text = keys.level.ok_or(missing("missing \"level\""))?;
        let ts_ms = timespec::parse_ts(&ts_text.text()).ok_or(missing("invalid \"ts\""))?;
        let level = LineLevel::parse(&level_text.text()).ok_or(missing("unknown \"level\""))?;
        Ok(Line {
            text,
            ts_ms,
            level,
            level_text,
            ts_text,
            evt: keys.evt.ok_or(missing("missing \"evt\""))?,
            source: keys.source.unwrap_or(JsonStr::plain("")),
            msg: keys.msg.unwrap_or(JsonStr::plain("")),
            meta: keys.meta.unwrap_or("{}"),
            members: None,
        })
    }

    /// The value at `field`, if the line has it.
    pub(crate) fn get(&self, field: &Field) -> Option<JsonValue<'a>> {
        match field {
            Field::Ts => Some(JsonValue::Str(self.ts_text)),
            Field::Level => Some(JsonValue::Str(self.level_text)),
            Field::Evt => Some(JsonValue::Str(self.evt)),
            Field::Source => Some(JsonValue::Str(self.source)),
            Field::Msg => Some(JsonValue::Str(self.msg)),
            Field::Meta(key) => self.meta(key),
        }
    }

    /// The `meta` value of `key` (the last one if repeated).
    pub(crate) fn meta(&self, key: &str) -> Option<JsonValue<'a>> {
        let Some(spans) = self.members else {
            return json::get(self.meta, key);
        };
        let text = self.text;
        let span = spans
            .iter()
            .rev()
            .find(|s| JsonStr::from_raw(&text[s.key.0..s.key.1], s.key_escaped).is(key))?;
        Cursor::new(&text[span.value.0..span.value.1]).value().ok()
    }
}

fn string_value<'a>(cur: &mut Cursor<'a>, key: &'static str) -> Result<JsonStr<'a>, Invalid> {
    match cur.value()? {
        JsonValue::Str(s) => Ok(s),
        _ => Err(Invalid::contract(key)),
    }
}

fn scan_keys<'a>(
    text: &'a str,
    mut spans: Option<&mut Vec<MemberSpan>>,
) -> Result<Keys<'a>, Invalid> {
    let mut cur = Cursor::new(text);
    let mut keys = Keys::default();
    if cur.open_object()? {
        return Err(Invalid::contract("empty object"));
    }
    loop {
        let key = cur.key()?;
        let name = if key.is_escaped() {
            key.text()
        } else {
            key.raw().into()
        };
        match name.as_ref() {
            "ts" => keys.ts = Some(string_value(&mut cur, "\"ts\" is not a string")?),
            "level" => keys.level = Some(string_value(&mut cur, "\"level\" is not a string")?),
            "evt" => keys.evt = Some(string_value(&mut cur, "\"evt\" is not a string")?),
            "source" => keys.source = Some(string_value(&mut cur, "\"source\" is not a string")?),
            "msg" => keys.msg = Some(string_value(&mut cur, "\"msg\" is not a string")?),
            "meta" => keys.meta = Some(meta_object(&mut cur, text, spans.as_deref_mut())?),
            _ => drop(cur.value()?),
        }
        if !cur.next_member()? {
            break;
        }
    }
    if !cur.at_end() {
        return Err(Invalid::contract("text after the object"));
    }
    Ok(keys)
}

/// Reads `meta`, noting its members' places in `spans` (cleared first, as
/// a repeated `meta` key counts its last value).
fn meta_object<'a>(
    cur: &mut Cursor<'a>,
    text: &'a str,
    spans: Option<&mut Vec<MemberSpan>>,
) -> Result<&'a str, Invalid> {
    let not_object = "\"meta\" is not an object";
    let Some(spans) = spans else {
        return cur.object_with(not_object, |_, _| {});
    };
    spans.clear();
    let base = text.as_ptr() as usize;
    cur.object_with(not_object, |k, v| {
        let start = k.raw().as_ptr() as usize - base;
        spans.push(MemberSpan {
            key: (start, start + k.raw().len()),
            key_escaped: k.is_escaped(),
            value: (v.start, v.end),
        });
    })
}

// === impl Field ===

impl Field {
    /// Parses `ts`, `level`, `evt`, `source`, `msg` or `meta.KEY`.
    pub(crate) fn parse(s: &str) -> Result<Self, String> {
        Ok(match s {
            "ts" => Field::Ts,
            "level" => Field::Level,
            "evt" => Field::Evt,
            "source" => Field::Source,
            "msg" => Field::Msg,
            _ => match s.strip_prefix("meta.") {
                Some(key) if !key.is_empty() => Field::Meta(key.to_owned()),
                _ => {
                    return Err(format!(
                        "unknown field {s:?} (expected ts, level, evt, source, msg or meta.KEY)"
                    ));
                }
            },
        })
    }

    /// The path as the user writes it.
    pub(crate) fn name(&self) -> String {
        match self {
            Field::Ts => "ts".into(),
            Field::Level => "level".into(),
            Field::Evt => "evt".into(),
            Field::Source => "source".into(),
            Field::Msg => "msg".into(),
            Field::Meta(key) => format!("meta.{key}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONTRACT: &str = r#"{"ts":"2025-10-06T13:43:10.123Z","level":"error","evt":"openrouter_error","source":"translation_service","msg":"429 Rate limit","meta":{"status":429,"code":"rate_limited","model":"deepseek/deepseek-v3.2-exp"}}"#;

    #[test]
    fn the_contract_line_is_read_field_by_field() {
        let line = Line::parse(CONTRACT).expect("valid");
        assert_eq!(line.ts_ms, 1_759_758_190_123);
        assert_eq!(line.level, LineLevel::Error);
        assert!(line.evt.is("openrouter_error"));
        assert!(line.source.is("translation_service"));
        assert!(line.msg.is("429 Rate limit"));
        assert_eq!(line.meta("status"), Some(JsonValue::Num("429")));
        let code = Field::parse("meta.code").expect("field");
        assert_eq!(
            line.get(&code).map(|v| v.text().into_owned()),
            Some("rate_limited".into())
        );
        assert_eq!(
            line.get(&Field::Level).map(|v| v.text().into_owned()),
            Some("error".into())
        );
    }

    #[test]
    fn unusual_but_valid_lines_are_read_too() {
        let reordered = r#" {"meta":{"a":[1,{"b":2}]},"x":{"y":null},"evt":"e","lev\u0065l":"warn","ts":"2025-10-06T15:43:10+02:00"} "#;
        let line = Line::parse(reordered).expect("valid");
        assert_eq!(line.level, LineLevel::Warning);
        assert_eq!(line.ts_ms, 1_759_758_190_000);
        assert!(line.source.is("") && line.msg.is(""));
        assert_eq!(line.meta("a"), Some(JsonValue::Compound(r#"[1,{"b":2}]"#)));
    }

    #[test]
    fn lines_breaking_the_contract_are_malformed_with_a_reason() {
        let reason = |t: &str| Line::parse(t).map(|_| ()).map_err(|e| e.reason);
        assert_eq!(
            reason(r#"{"level":"info","evt":"e"}"#),
            Err("missing \"ts\"")
        );
        assert_eq!(
            reason(r#"{"ts":"2025-10-06T13:43:10.123Z","level":"loud","evt":"e"}"#),
            Err("unknown \"level\"")
        );
        assert_eq!(
            reason(r#"{"ts":"nope","level":"info","evt":"e"}"#),
            Err("invalid \"ts\"")
        );
        assert_eq!(
            reason(r#"{"ts":"2025-10-06T13:43:10.123Z","level":"info","evt":7}"#),
            Err("\"evt\" is not a string")
        );
        assert_eq!(
            reason(r#"{"ts":"2025-10-06T13:43:10.123Z","level":"info","evt":"e","meta":[]}"#),
            Err("\"meta\" is not an object")
        );
        assert_eq!(
            reason(r#"{"ts":"2025-10-06T13:43:10.123Z","level":"info","evt":"e"}{}"#),
            Err("text after the object")
        );
        assert_eq!(reason("[1]"), Err("expected '{'"));
        assert_eq!(reason("{}"), Err("empty object"));
        assert_eq!(reason(&CONTRACT[..60]), Err("unterminated string"));
    }

    #[test]
    fn meta_lookups_by_noted_spans_match_lookups_in_the_text() {
        let members: Vec<String> = (0..40).map(|i| format!("\"k{i}\":{i}")).collect();
        let text = format!(
            r#"{{"ts":"2025-10-06T13:43:10.123Z","level":"info","evt":"e","meta":{{{},"k3":"last"}}}}"#,
            members.join(",")
        );
        let line = Line::parse(&text).expect("valid");
        assert_eq!(line.meta("k39"), Some(JsonValue::Num("39")));
        assert_eq!(
            line.meta("k3").map(|v| v.text().into_owned()),
            Some("last".into())
        );
        let mut spans = Vec::new();
        let fast = Line::parse_with(&text, &mut spans).expect("valid");
        assert_eq!(fast.meta("k39"), Some(JsonValue::Num("39")));
        assert_eq!(
            fast.meta("k3").map(|v| v.text().into_owned()),
            Some("last".into())
        );
        assert_eq!(fast.meta("nope"), None);
    }

    #[test]
    fn field_paths_parse_and_print_back() {
        for s in [
            "ts",
            "level",
            "evt",
            "source",
            "msg",
            "meta.code",
            "meta.http.status",
        ] {
            assert_eq!(Field::parse(s).map(|f| f.name()), Ok(s.to_owned()));
        }
        assert!(Field::parse("meta.").is_err());
        assert!(Field::parse("code").is_err());
    }
}
