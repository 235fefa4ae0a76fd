//! A line read back: the contract's keys, typed.

use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::level::LineLevel;

/// A line of an event file, read back as an event.
#[derive(Debug)]
pub(crate) struct JsonLine {
    /// `ts` in milliseconds since the Unix epoch.
    pub(crate) ts_ms: i64,
    pub(crate) level: LineLevel,
    pub(crate) evt: String,
    /// `source`, empty when absent.
    pub(crate) source: String,
    /// `meta`, empty when absent.
    pub(crate) meta: Map<String, Value>,
}

impl JsonLine {
    /// Parses a line of the line contract; `None` for anything else.
    pub(crate) fn parse(line: &str) -> Option<Self> {
        let Value::Object(mut obj) = serde_json::from_str(line).ok()? else {
            return None;
        };
        let ts = OffsetDateTime::parse(obj.get("ts")?.as_str()?, &Rfc3339).ok()?;
        let ts_ms = i64::try_from(ts.unix_timestamp_nanos() / 1_000_000).ok()?;
        let level = LineLevel::parse(obj.get("level")?.as_str()?)?;
        let text = |v: Option<Value>| match v {
            Some(Value::String(s)) => Some(s),
            _ => None,
        };
        let evt = text(obj.remove("evt"))?;
        let source = text(obj.remove("source")).unwrap_or_default();
        let meta = match obj.remove("meta") {
            Some(Value::Object(m)) => m,
            _ => Map::new(),
        };
        Some(JsonLine {
            ts_ms,
            level,
            evt,
            source,
            meta,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_contract_line_reads_back_and_anything_else_does_not() {
        let line = JsonLine::parse(
            r#"{"ts":"2025-10-06T13:43:10.123Z","level":"critical","evt":"e","source":"s","msg":"m","meta":{"a":1}}"#,
        )
        .expect("a contract line");
        assert_eq!(
            (
                line.ts_ms,
                line.level,
                line.evt.as_str(),
                line.source.as_str()
            ),
            (1_759_758_190_123, LineLevel::Critical, "e", "s")
        );
        assert_eq!(line.meta.get("a"), Some(&Value::from(1)));
        for bad in [
            "",
            "[]",
            r#"{"ts":"2025-10-06T13:43:10.123Z","level":"info"}"#,
            r#"{"ts":"yesterday","level":"info","evt":"e"}"#,
            r#"{"ts":"2025-10-06T13:43:10.123Z","level":"loud","evt":"e"}"#,
            r#"{"ts":"2025-10-06T13:43:10.123Z","level":"info","evt":7}"#,
        ] {
            assert!(JsonLine::parse(bad).is_none(), "{bad}");
        }
    }
}
