//! The line encoder, through the layer's capture path: arbitrary field names
//! and values always give exactly one valid JSON line, keys `ts, level, evt,
//! source, msg, meta` in order, unique `meta` keys, within the line cap
//! (unless the keys alone are longer).
#![no_main]

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use arbitrary::Arbitrary;
use evt_telemetry::{Redactor, render_event_for_fuzzing};
use libfuzzer_sys::fuzz_target;
use tracing::field::{FieldSet, Value};
use tracing::{Event, Level, Metadata};
use tracing_core::callsite::{Callsite, Identifier};
use tracing_core::metadata::Kind;
use tracing_core::subscriber::Interest;

/// A field value; `Debug` is logged through its Debug output.
#[derive(Arbitrary, Debug)]
#[allow(dead_code)]
enum Val {
    Str(String),
    I64(i64),
    U64(u64),
    I128(i128),
    U128(u128),
    F64(f64),
    Bool(bool),
    Bytes(Vec<u8>),
    Debug(Vec<(String, Option<f64>)>),
}

#[derive(Arbitrary, Debug)]
struct Input {
    level: u8,
    max_line: u16,
    names: Vec<String>,
    vals: Vec<Val>,
}

struct DynCallsite(OnceLock<Metadata<'static>>);

impl Callsite for DynCallsite {
    fn set_interest(&self, _: Interest) {}
    fn metadata(&self) -> &Metadata<'_> {
        self.0.get().expect("set before use")
    }
}

const LEVELS: [Level; 5] = [Level::TRACE, Level::DEBUG, Level::INFO, Level::WARN, Level::ERROR];
/// Callsites are leaked; past this many distinct name lists, generic names are used.
const MAX_CALLSITES: usize = 20_000;

/// A callsite with fields `evt` then `names` (cached per level and names).
fn callsite(level: usize, names: &[String]) -> &'static Metadata<'static> {
    type Cache = HashMap<(usize, Vec<String>), &'static Metadata<'static>>;
    static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();
    let mut cache = CACHE.get_or_init(Default::default).lock().unwrap();
    let generic: Vec<String>;
    let names = if cache.len() >= MAX_CALLSITES {
        generic = (0..names.len()).map(|i| format!("f{i}")).collect();
        &generic
    } else {
        names
    };
    let key = (level, names.to_vec());
    if let Some(meta) = cache.get(&key) {
        return meta;
    }
    let fields: Vec<&'static str> = std::iter::once("evt")
        .chain(names.iter().map(|n| &*String::leak(n.clone())))
        .collect();
    let cs: &'static DynCallsite = Box::leak(Box::new(DynCallsite(OnceLock::new())));
    let meta = Metadata::new(
        "fuzz",
        "fuzz::target",
        LEVELS[level],
        None,
        None,
        None,
        FieldSet::new(Vec::leak(fields), Identifier(cs)),
        Kind::EVENT,
    );
    let _ = cs.0.set(meta);
    let meta = cs.metadata();
    cache.insert(key, meta);
    meta
}

/// The keys of a JSON object in order (duplicates kept).
struct Keys(Vec<String>);

impl<'de> serde::Deserialize<'de> for Keys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Keys;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<Keys, A::Error> {
                let mut keys = Vec::new();
                while let Some((k, _)) = m.next_entry::<String, serde::de::IgnoredAny>()? {
                    keys.push(k);
                }
                Ok(Keys(keys))
            }
        }
        d.deserialize_map(V)
    }
}

fn redactor() -> &'static Redactor {
    static R: OnceLock<Redactor> = OnceLock::new();
    R.get_or_init(Redactor::default)
}

fuzz_target!(|input: Input| {
    let n = input.names.len().min(input.vals.len()).min(12);
    let names = &input.names[..n];
    let vals = &input.vals[..n];
    let meta = callsite(usize::from(input.level) % 5, names);
    let max = 1024 + usize::from(input.max_line);

    let strs: Vec<&str> = vals.iter().map(|v| if let Val::Str(s) = v { s.as_str() } else { "" }).collect();
    let bytes: Vec<&[u8]> = vals.iter().map(|v| if let Val::Bytes(b) = v { b.as_slice() } else { &[] }).collect();
    let debugs: Vec<_> = vals.iter().map(|v| tracing::field::debug(v)).collect();
    let evt: &dyn Value = &"fuzzed";
    let mut values: Vec<Option<&dyn Value>> = vec![Some(evt)];
    for (k, v) in vals.iter().enumerate() {
        let value: &dyn Value = match v {
            Val::Str(_) => &strs[k],
            Val::I64(x) => x,
            Val::U64(x) => x,
            Val::I128(x) => x,
            Val::U128(x) => x,
            Val::F64(x) => x,
            Val::Bool(x) => x,
            Val::Bytes(_) => &bytes[k],
            Val::Debug(_) => &debugs[k],
        };
        values.push(Some(value));
    }
    let set = meta.fields().value_set_all(&values);
    let line = render_event_for_fuzzing(&Event::new(meta, &set), redactor(), max);

    let text = std::str::from_utf8(&line).expect("UTF-8");
    assert!(text.ends_with('\n') && text.matches('\n').count() == 1, "not one line: {text:?}");
    let keys: Keys = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(keys.0, ["ts", "level", "evt", "source", "msg", "meta"], "{text}");
    let v: serde_json::Value = serde_json::from_str(text).expect("JSON");
    for key in ["ts", "level", "evt", "source", "msg"] {
        assert!(v[key].is_string(), "{key}: {text}");
    }
    let meta_keys: Keys = serde_json::from_value(v["meta"].clone())
        .unwrap_or_else(|e| panic!("meta: {e}: {text}"));
    let mut unique = meta_keys.0.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), meta_keys.0.len(), "duplicate meta keys: {text}");
    let key_bytes: usize = names.iter().map(|n| 6 * n.len() + 8).sum();
    if key_bytes + 256 < max {
        assert!(line.len() <= max, "{} > {max}: {text}", line.len());
    }
});
