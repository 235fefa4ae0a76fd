//! Property test: arbitrary field names and values (unicode, control
//! characters, huge strings, NaN and infinities, i128/u128 extremes, nested
//! Debug output, invalid UTF-8 bytes) through the real layer always give
//! exactly one valid JSON line with the contract's keys in order, and every
//! value as the contract says (typed, redacted, or cut with a marker).

use crate::common;
use crate::common::reliability;

use std::io::{Read as _, Seek as _, SeekFrom};

use common::*;
use evt_telemetry::{REDACTED, Redactor};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use reliability::{Ordered, contract_line, emit};
use serde_json::Value;
use tracing::Level;
use tracing::field::Value as TracingValue;

/// Nested Debug output: quotes, escapes, braces, secrets inside.
#[derive(Debug, Clone)]
#[allow(dead_code)]
enum Tree {
    Leaf(String),
    Num(f64),
    Pair(Box<Tree>, Box<Tree>),
    List(Vec<Tree>),
    Map(Vec<(String, Tree)>),
}

#[derive(Debug, Clone)]
enum Input {
    Str(String),
    I64(i64),
    U64(u64),
    I128(i128),
    U128(u128),
    F64(f64),
    Bool(bool),
    Debug(Tree),
    Bytes(Vec<u8>),
}

fn text_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => any::<String>(),
        2 => "\\PC{0,40}",
        2 => "[\\x00-\\x1f\"\\\\{}\\[\\]:,\u{7f}\u{2028}\u{feff}]{0,24}",
        1 => "(Bearer |sk-or-v1-|api_key=|password: \"|https://u:)[A-Za-z0-9]{24}",
        1 => (1_000usize..200_000).prop_map(|n| "é\"\n".repeat(n / 4)),
    ]
}

fn tree_strategy() -> impl Strategy<Value = Tree> {
    let leaf = prop_oneof![
        text_strategy().prop_map(Tree::Leaf),
        any::<f64>().prop_map(Tree::Num),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Tree::Pair(Box::new(a), Box::new(b))),
            prop::collection::vec(inner.clone(), 0..4).prop_map(Tree::List),
            prop::collection::vec(("\\PC{0,8}", inner), 0..4).prop_map(Tree::Map),
        ]
    })
}

fn input_strategy() -> impl Strategy<Value = Input> {
    prop_oneof![
        4 => text_strategy().prop_map(Input::Str),
        1 => any::<i64>().prop_map(Input::I64),
        1 => any::<u64>().prop_map(Input::U64),
        1 => prop_oneof![Just(i128::MIN), Just(i128::MAX), any::<i128>()].prop_map(Input::I128),
        1 => prop_oneof![Just(u128::MAX), any::<u128>()].prop_map(Input::U128),
        2 => prop_oneof![
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(-0.0),
            Just(f64::MAX),
            Just(f64::MIN_POSITIVE),
            any::<f64>(),
        ]
        .prop_map(Input::F64),
        1 => any::<bool>().prop_map(Input::Bool),
        2 => tree_strategy().prop_map(Input::Debug),
        1 => prop::collection::vec(any::<u8>(), 0..64).prop_map(Input::Bytes),
    ]
}

fn name_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z_]{1,12}",
        2 => "\\PC{0,16}",
        1 => any::<String>().prop_map(|s| s.chars().take(24).collect()),
        2 => prop::sample::select(vec![
            "ts", "level", "evt", "msg", "meta", "message", "source", "critical", "api_key",
            "X-Api-Key", "tokens", "model", "",
        ])
        .prop_map(str::to_owned),
    ]
}

fn level_strategy() -> impl Strategy<Value = Level> {
    prop::sample::select(vec![
        Level::TRACE,
        Level::DEBUG,
        Level::INFO,
        Level::WARN,
        Level::ERROR,
    ])
}

type Case = (Level, Vec<(String, Input)>);

fn case_strategy() -> impl Strategy<Value = Case> {
    (
        level_strategy(),
        prop::collection::vec((name_strategy(), input_strategy()), 0..8),
    )
}

// === the model: what the contract says the line holds ===

/// The text a value is logged as when it is a string (or a secret).
fn as_text(input: &Input) -> String {
    match input {
        Input::Str(s) => s.clone(),
        Input::I64(v) => v.to_string(),
        Input::U64(v) => v.to_string(),
        Input::I128(v) => v.to_string(),
        Input::U128(v) => v.to_string(),
        Input::F64(v) => v.to_string(),
        Input::Bool(v) => v.to_string(),
        Input::Debug(t) => format!("{t:?}"),
        Input::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
    }
}

fn is_text(input: &Input) -> bool {
    matches!(input, Input::Str(_) | Input::Debug(_) | Input::Bytes(_))
}

/// A field's expected `meta` value; `None` when it is not exactly knowable
/// (Debug output longer than the 4 × line cap read limit).
fn expected_value(red: &Redactor, name: &str, input: &Input) -> Option<Expected> {
    if red.is_secret_name(name) {
        return Some(Expected::Text(REDACTED.to_owned()));
    }
    Some(match input {
        Input::Debug(_) if as_text(input).len() > 4 * 64 * 1024 => return None,
        i if is_text(i) => Expected::Text(red.redact(&as_text(i)).into_owned()),
        Input::I64(v) => Expected::Int(v.to_string()),
        Input::U64(v) => Expected::Int(v.to_string()),
        Input::I128(v) => Expected::Int(v.to_string()),
        Input::U128(v) => Expected::Int(v.to_string()),
        Input::F64(v) if v.is_nan() => Expected::Text("NaN".into()),
        Input::F64(v) if v.is_infinite() => {
            Expected::Text(if *v > 0.0 { "inf" } else { "-inf" }.into())
        }
        Input::F64(v) => Expected::Float(*v),
        Input::Bool(v) => Expected::Bool(*v),
        _ => unreachable!(),
    })
}

#[derive(Debug)]
enum Expected {
    Text(String),
    Int(String),
    Float(f64),
    Bool(bool),
}

/// The `meta` keys in order, each with its expected value.
fn model_meta(red: &Redactor, fields: &[(String, Input)]) -> Vec<(String, Option<Expected>)> {
    let mut meta: Vec<(String, Option<Expected>)> = Vec::new();
    for (name, input) in fields {
        let top_level = matches!(name.as_str(), "message" | "evt" | "source");
        let level_flag = name == "critical" && matches!(input, Input::Bool(_));
        if top_level || level_flag || meta.iter().any(|(n, _)| n == name) {
            continue;
        }
        meta.push((name.clone(), expected_value(red, name, input)));
    }
    meta
}

/// Whether `got` is `want`, or a prefix of it marked `...[truncated N bytes]`.
fn text_matches(got: &str, want: &str) -> bool {
    if got == want {
        return true;
    }
    let Some(cut) = got.rfind("...[truncated ") else {
        return false;
    };
    let (kept, marker) = got.split_at(cut);
    want.starts_with(kept) && marker == format!("...[truncated {} bytes]", want.len() - kept.len())
}

fn check_value(line: &str, name: &str, got: &Value, want: &Expected) {
    match want {
        Expected::Text(t) => {
            let got = got
                .as_str()
                .unwrap_or_else(|| panic!("{name}: not a string in {line}"));
            assert!(text_matches(got, t), "{name}: {got:?} is not {t:?}");
        }
        Expected::Int(digits) => {
            assert!(got.is_number(), "{name}: not a number in {line}");
            let raw = [format!(":{digits},"), format!(":{digits}}}")];
            assert!(
                raw.iter().any(|r| line.contains(r.as_str())),
                "{name}: {digits} not in {line}"
            );
        }
        Expected::Float(v) => {
            let got = got
                .as_f64()
                .unwrap_or_else(|| panic!("{name}: not a number in {line}"));
            assert!(
                got == *v || (got - v).abs() <= v.abs() * 1e-15,
                "{name}: {got} != {v}"
            );
        }
        Expected::Bool(b) => assert_eq!(got, &Value::Bool(*b), "{name}"),
    }
}

#[derive(serde::Deserialize)]
struct MetaOnly {
    meta: Ordered,
}

fn check_line(line: &str, level: Level, fields: &[(String, Input)]) {
    let red = Redactor::default();
    let obj = contract_line(line);
    assert!(line.len() < 64 * 1024, "line of {} bytes", line.len());
    let critical = fields
        .iter()
        .rev()
        .find_map(|(n, i)| match i {
            Input::Bool(b) if n == "critical" => Some(*b),
            _ => None,
        })
        .unwrap_or(false);
    let want_level = match level {
        _ if critical => "critical",
        Level::TRACE => "trace",
        Level::DEBUG => "debug",
        Level::INFO => "info",
        Level::WARN => "warning",
        _ => "error",
    };
    assert_eq!(obj["level"], want_level);
    for (key, default) in [("evt", "hostile"), ("source", "hostile"), ("message", "")] {
        let got = obj[if key == "message" { "msg" } else { key }]
            .as_str()
            .unwrap();
        let want = match fields.iter().rev().find(|(n, _)| n == key) {
            None => default.to_owned(),
            Some((n, i)) => match expected_value(&red, n, i) {
                Some(_) => red.redact_field(n, &as_text(i)).into_owned(),
                None => continue, // Debug output past the read limit
            },
        };
        assert!(text_matches(got, &want), "{key}: {got:?} is not {want:?}");
    }
    let meta = serde_json::from_str::<MetaOnly>(line).unwrap().meta.0;
    let model = model_meta(&red, fields);
    let got_keys: Vec<&str> = meta.iter().map(|(k, _)| k.as_str()).collect();
    let want_keys: Vec<&str> = model.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(got_keys, want_keys, "meta keys of {line}");
    for ((name, got), (_, want)) in meta.iter().zip(&model) {
        if let Some(want) = want {
            check_value(line, name, got, want);
        }
    }
}

// === the runner ===

/// Emits one case through the real layer.
fn emit_case(level: Level, fields: &[(String, Input)]) {
    let strs: Vec<&str> = fields
        .iter()
        .map(|(_, i)| match i {
            Input::Str(s) => s.as_str(),
            _ => "",
        })
        .collect();
    let bytes: Vec<&[u8]> = fields
        .iter()
        .map(|(_, i)| match i {
            Input::Bytes(b) => b.as_slice(),
            _ => &[],
        })
        .collect();
    let debugs: Vec<Option<tracing::field::DebugValue<&Tree>>> = fields
        .iter()
        .map(|(_, i)| match i {
            Input::Debug(t) => Some(tracing::field::debug(t)),
            _ => None,
        })
        .collect();
    let values: Vec<(String, &dyn TracingValue)> = fields
        .iter()
        .enumerate()
        .map(|(k, (name, input))| {
            let v: &dyn TracingValue = match input {
                Input::Str(_) => &strs[k],
                Input::I64(v) => v,
                Input::U64(v) => v,
                Input::I128(v) => v,
                Input::U128(v) => v,
                Input::F64(v) => v,
                Input::Bool(v) => v,
                Input::Debug(_) => debugs[k].as_ref().unwrap(),
                Input::Bytes(_) => &bytes[k],
            };
            (name.clone(), v)
        })
        .collect();
    emit(level, "hostile", &values);
}

#[test]
fn arbitrary_fields_always_give_exactly_one_contract_line() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at_ms(T0_MS);
    let (layer, guard) = builder(dir.path(), &clock).build().unwrap();
    let subscriber =
        tracing_subscriber::layer::SubscriberExt::with(tracing_subscriber::registry(), layer);
    let _default = tracing::subscriber::set_default(subscriber);
    let path = day_file(dir.path(), "2025-10-06");
    let offset = std::cell::Cell::new(0u64);
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(512);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&case_strategy(), |(level, fields)| {
        emit_case(level, &fields);
        guard.flush().unwrap();
        let mut file = std::fs::File::open(&path).unwrap();
        file.seek(SeekFrom::Start(offset.get())).unwrap();
        let mut new = String::new();
        file.read_to_string(&mut new).unwrap();
        offset.set(offset.get() + new.len() as u64);
        prop_assert_eq!(
            new.matches('\n').count(),
            1,
            "not exactly one line: {:?}",
            new
        );
        prop_assert!(new.ends_with('\n'));
        let line = new.trim_end_matches('\n');
        let checked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            check_line(line, level, &fields)
        }));
        prop_assert!(checked.is_ok(), "line {:?} for {:?}", line, fields);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    assert_eq!(guard.stats().lines_written, u64::from(cases));
}
