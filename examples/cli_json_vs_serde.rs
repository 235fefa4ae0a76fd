//! Issue 15(a): the `evt-telemetry` command's hand-written JSON scanner
//! (`src/bin/evt-telemetry/json/mod.rs` + `line.rs`) against serde_json with
//! borrowed types (`#[serde(borrow)] Cow<str>` for the top-level strings,
//! `&RawValue` for `meta`, then either a borrowed map of `meta`'s members or
//! a visitor that finds one key without building a map), on the
//! same lines, doing the same work per line: validate the whole line, read
//! `ts` and `level`, and look up `evt` and `meta.code` (what
//! `stats --by evt,meta.code` needs).
//!
//! ```sh
//! cargo run --release --features cli --example cli_json_vs_serde -- FILE.jsonl
//! ```
//!
//! Reads FILE into memory first, so only parsing is timed; prints CPU ns
//! per line for each (best of 7 passes; CPU time, so a busy machine does
//! not inflate it) and checks all agree on every line.
#![allow(dead_code)]

use std::borrow::Cow;
use std::collections::HashMap;
use std::time::Instant;

use evt_telemetry::LineLevel;
use serde::Deserialize;
use serde_json::value::RawValue;

#[path = "../src/contract/mod.rs"]
mod contract;
#[path = "../src/bin/evt-telemetry/json/mod.rs"]
mod json;
#[path = "../src/bin/evt-telemetry/line.rs"]
mod line;
#[path = "../src/bin/evt-telemetry/timespec.rs"]
mod timespec;
#[path = "../src/words.rs"]
mod words;

/// The one item `timespec.rs` takes from the command's output module.
mod output {
    #[derive(Debug, Default, Clone, Copy)]
    pub(crate) struct Style {
        pub(crate) local_time: bool,
    }
}

/// The line contract with borrowed strings and `meta` left raw.
#[derive(Deserialize)]
struct SerdeLine<'a> {
    #[serde(borrow)]
    ts: Cow<'a, str>,
    #[serde(borrow)]
    level: Cow<'a, str>,
    #[serde(borrow)]
    evt: Cow<'a, str>,
    #[serde(borrow, default)]
    source: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    msg: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    meta: Option<&'a RawValue>,
}

/// What both readers extract: a checksum of `ts`, level, `evt`, `meta.code`.
fn digest(ts_ms: i64, level: LineLevel, evt: &str, code: Option<&str>) -> u64 {
    ts_ms as u64
        ^ (level as u64) << 3
        ^ (evt.len() as u64) << 7
        ^ code.map_or(1, |c| c.len() as u64) << 17
}

fn with_scanner(text: &str, spans: &mut Vec<line::MemberSpan>) -> Option<u64> {
    let l = line::Line::parse_with(text, spans).ok()?;
    let code = l.meta("code").map(|v| v.text());
    Some(digest(l.ts_ms, l.level, &l.evt.text(), code.as_deref()))
}

fn with_serde(text: &str) -> Option<u64> {
    let l: SerdeLine<'_> = serde_json::from_str(text).ok()?;
    let ts_ms = timespec::parse_ts(&l.ts)?;
    let level = LineLevel::parse(&l.level)?;
    let code = match l.meta {
        Some(raw) => {
            let members: HashMap<Cow<'_, str>, &RawValue> = serde_json::from_str(raw.get()).ok()?;
            members
                .get("code")
                .and_then(|v| serde_json::from_str::<Cow<'_, str>>(v.get()).ok())
        }
        None => None,
    };
    Some(digest(ts_ms, level, &l.evt, code.as_deref()))
}

/// Finds one key of a JSON object without building a map: the cheapest
/// lookup serde_json allows (a hand-written visitor).
struct FindKey<'k>(&'k str);

impl<'de> serde::de::DeserializeSeed<'de> for FindKey<'_> {
    type Value = Option<&'de RawValue>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for FindKey<'_> {
    type Value = Option<&'de RawValue>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            let value: &'de RawValue = map.next_value()?;
            if key == self.0 {
                found = Some(value);
            }
        }
        Ok(found)
    }
}

fn with_serde_visitor(text: &str) -> Option<u64> {
    let l: SerdeLine<'_> = serde_json::from_str(text).ok()?;
    let ts_ms = timespec::parse_ts(&l.ts)?;
    let level = LineLevel::parse(&l.level)?;
    let code = match l.meta {
        Some(raw) => {
            let mut de = serde_json::Deserializer::from_str(raw.get());
            let value = serde::de::DeserializeSeed::deserialize(FindKey("code"), &mut de).ok()?;
            value.and_then(|v| serde_json::from_str::<Cow<'_, str>>(v.get()).ok())
        }
        None => None,
    };
    Some(digest(ts_ms, level, &l.evt, code.as_deref()))
}

/// Passes per reader; the fastest counts.
const PASSES: usize = 7;

fn best_of(lines: &[&str], mut f: impl FnMut(&str) -> Option<u64>) -> (f64, u64) {
    let mut best = f64::MAX;
    let mut sum = 0u64;
    for _ in 0..PASSES {
        let start = Instant::now();
        sum = lines
            .iter()
            .map(|l| f(l).unwrap_or(0))
            .fold(0, u64::wrapping_add);
        best = best.min(start.elapsed().as_secs_f64());
    }
    (best, sum)
}

fn main() {
    let path = std::env::args()
        .nth(1)
        .expect("usage: cli_json_vs_serde FILE.jsonl");
    let text = std::fs::read_to_string(&path).expect("read FILE");
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut spans = Vec::new();
    for l in &lines {
        assert_eq!(with_scanner(l, &mut spans), with_serde(l), "{l}");
        assert_eq!(with_serde(l), with_serde_visitor(l), "{l}");
    }
    let (scan_s, a) = best_of(&lines, |l| with_scanner(l, &mut spans));
    let (serde_s, b) = best_of(&lines, with_serde);
    let (visitor_s, c) = best_of(&lines, with_serde_visitor);
    assert_eq!((a, a), (b, c));
    let n = lines.len() as f64;
    println!("{} lines, {} MB", lines.len(), text.len() / 1_000_000);
    println!(
        "scanner (json.rs + line.rs):  {:7.1} ns/line  {:.3} s",
        scan_s / n * 1e9,
        scan_s
    );
    println!(
        "serde_json, borrowed + RawValue: {:7.1} ns/line  {:.3} s",
        serde_s / n * 1e9,
        serde_s
    );
    println!(
        "serde_json, borrowed + RawValue + visitor: {:7.1} ns/line  {:.3} s",
        visitor_s / n * 1e9,
        visitor_s
    );
    println!("serde_json (map) / scanner: {:.2}x", serde_s / scan_s);
    println!("serde_json (visitor) / scanner: {:.2}x", visitor_s / scan_s);
}
