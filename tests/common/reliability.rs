//! Helpers for the reliability tests (faults, hostile input, load): child
//! processes, events with field names chosen at run time, the line contract
//! check, peak memory, promtool.
//!
//! Each integration test crate compiles this module on its own and uses only part of it.
#![allow(dead_code)]

use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};

use tracing::callsite::{Callsite, Identifier};
use tracing::field::{FieldSet, Value};
use tracing::metadata::Kind;
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata};

// === child processes ===

/// A command re-running this test binary for the one test or ignored entry
/// point `name`, with `env` set so that it knows it is the child.
pub fn child_test(name: &str, env: &str, value: &str) -> Command {
    // UNWRAP: the test binary knows where it is.
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new(exe);
    cmd.args([
        "--exact",
        name,
        "--include-ignored",
        "--nocapture",
        "--test-threads",
        "1",
    ])
    .env(env, value)
    .stdin(Stdio::null());
    cmd
}

const OWN_PROCESS_ENV: &str = "EVT_TEST_OWN_PROCESS";

/// Runs `body` in a process of its own: the test `name` (its full path in
/// this binary) re-runs itself as a child, which runs `body`. For tests that
/// install process-wide state (the global recorder or subscriber), since the
/// tests of one area share a binary.
pub fn in_own_process(name: &str, body: impl FnOnce()) {
    if std::env::var(OWN_PROCESS_ENV).as_deref() == Ok(name) {
        body();
        return;
    }
    let out = child_test(name, OWN_PROCESS_ENV, name)
        .output()
        .expect("start the child");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.contains("1 passed"),
        "{name} in its own process:\n{said}"
    );
    // The child's own figures and notes, without its harness lines (a
    // second "test result" line would read as another test run).
    let own: String = said
        .lines()
        .filter(|l| !l.starts_with("test ") && !l.starts_with("running ") && !l.is_empty())
        .map(|l| format!("{l}\n"))
        .collect();
    let _ = std::io::Write::write_all(&mut std::io::stderr(), own.as_bytes());
}

/// Like [`in_own_process`], with environment variables set (`Some`) or
/// removed (`None`) in the child only, and hands back what the child
/// printed (stderr, harness lines removed) so the test can check the
/// messages of a set-up. Returns `None` in the child, after `body`.
pub fn in_own_process_with_env(
    name: &str,
    env: &[(&str, Option<&str>)],
    body: impl FnOnce(),
) -> Option<String> {
    if std::env::var(OWN_PROCESS_ENV).as_deref() == Ok(name) {
        body();
        return None;
    }
    let mut cmd = child_test(name, OWN_PROCESS_ENV, name);
    for (key, value) in env {
        match value {
            Some(v) => cmd.env(key, v),
            None => cmd.env_remove(key),
        };
    }
    let out = cmd.output().expect("start the child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{name} in its own process:\n{stdout}{stderr}"
    );
    Some(stderr)
}

// === events with run-time field names ===

/// A callsite made at run time, so field names can be anything.
struct DynCallsite {
    meta: OnceLock<Metadata<'static>>,
}

impl Callsite for DynCallsite {
    fn set_interest(&self, _: Interest) {}

    fn metadata(&self) -> &Metadata<'_> {
        // UNWRAP: set right after the callsite is leaked, before registration.
        self.meta.get().unwrap()
    }
}

/// A registered event callsite with fields `evt` then `names` (leaked: one
/// per distinct name list, cached).
pub fn event_callsite(level: Level, names: &[String]) -> &'static Metadata<'static> {
    type Cache = Vec<(Level, Vec<String>, &'static Metadata<'static>)>;
    static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((.., meta)) = cache.iter().find(|(l, n, _)| *l == level && n == names) {
        return meta;
    }
    let all: Vec<&'static str> = std::iter::once("evt")
        .chain(names.iter().map(|n| &*String::leak(n.clone())))
        .collect();
    let fields: &'static [&'static str] = Vec::leak(all);
    let cs: &'static DynCallsite = Box::leak(Box::new(DynCallsite {
        meta: OnceLock::new(),
    }));
    let meta = Metadata::new(
        "dynamic event",
        "hostile",
        level,
        None,
        None,
        None,
        FieldSet::new(fields, Identifier(cs)),
        Kind::EVENT,
    );
    // UNWRAP: the callsite was just made.
    cs.meta.set(meta).ok().unwrap();
    tracing::callsite::register(cs);
    let meta = cs.metadata();
    cache.push((level, names.to_vec(), meta));
    meta
}

/// Emits an event with `evt` and the given fields to the current dispatcher.
pub fn emit(level: Level, evt: &str, fields: &[(String, &dyn Value)]) {
    let names: Vec<String> = fields.iter().map(|(n, _)| n.clone()).collect();
    let meta = event_callsite(level, &names);
    let evt: &dyn Value = &evt;
    let values: Vec<Option<&dyn Value>> = std::iter::once(Some(evt))
        .chain(fields.iter().map(|(_, v)| Some(*v)))
        .collect();
    let set = meta.fields().value_set_all(&values);
    tracing::dispatcher::get_default(|d| {
        if d.enabled(meta) {
            d.event(&Event::new(meta, &set));
        }
    });
}

// === the line contract ===

/// The top-level keys of a line, in order, with their values.
pub struct Ordered(pub Vec<(String, serde_json::Value)>);

impl<'de> serde::Deserialize<'de> for Ordered {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Ordered;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<Ordered, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = m.next_entry()? {
                    out.push(entry);
                }
                Ok(Ordered(out))
            }
        }
        d.deserialize_map(V)
    }
}

pub const LEVELS: [&str; 6] = ["trace", "debug", "info", "warning", "error", "critical"];

/// Checks one line against the contract and returns its top-level object.
pub fn contract_line(line: &str) -> serde_json::Map<String, serde_json::Value> {
    let ordered: Ordered =
        serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    let keys: Vec<&str> = ordered.0.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        ["ts", "level", "evt", "source", "msg", "meta"],
        "{line}"
    );
    let obj: serde_json::Map<_, _> = ordered.0.into_iter().collect();
    let ts = obj["ts"].as_str().expect("ts is a string");
    assert!(is_rfc3339_millis(ts), "ts {ts:?}");
    assert!(
        LEVELS.contains(&obj["level"].as_str().expect("level")),
        "{line}"
    );
    for key in ["evt", "source", "msg"] {
        assert!(obj[key].is_string(), "{key} in {line}");
    }
    assert!(obj["meta"].is_object(), "{line}");
    obj
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn is_rfc3339_millis(ts: &str) -> bool {
    let b = ts.as_bytes();
    b.len() == 24
        && b.iter().enumerate().all(|(i, &c)| match i {
            4 | 7 => c == b'-',
            10 => c == b'T',
            13 | 16 => c == b':',
            19 => c == b'.',
            23 => c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

// === memory ===

/// A field of /proc/self/status in KiB (VmHWM: peak RSS, VmRSS: current).
pub fn proc_status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

// === promtool ===

#[allow(unused_imports)] // each test crate uses part of this module
pub(crate) use super::promtool::promtool_check_metrics;

// === a small seeded random generator ===

/// xorshift64*: enough for picking kill moments and test data.
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    /// Seeded from `EVT_TEST_SEED` if set, else the clock (printed, to replay).
    pub fn from_env_or_time(what: &str) -> Self {
        let seed = std::env::var("EVT_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
            });
        eprintln!("{what}: seed {seed} (replay with EVT_TEST_SEED={seed})");
        Rng(seed | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

// === exposition text ===

/// One sample of the exposition text: name, label pairs (unescaped), value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

/// Parses the text format strictly (comments must be `# HELP`/`# TYPE`,
/// label values use only the `\\`, `\"`, `\n` escapes); panics naming the
/// first bad line.
pub fn parse_exposition(text: &str) -> Vec<Sample> {
    let mut samples = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        if let Some(rest) = line.strip_prefix('#') {
            let ok = rest.starts_with(" HELP ") || rest.starts_with(" TYPE ");
            assert!(ok, "stray comment line: {line:?}");
            continue;
        }
        samples.push(parse_sample(line).unwrap_or_else(|e| panic!("{e}: {line:?}")));
    }
    samples
}

fn is_name_char(c: char, first: bool) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':' || (!first && c.is_ascii_digit())
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_len = line
        .char_indices()
        .find(|&(i, c)| !is_name_char(c, i == 0))
        .map_or(line.len(), |(i, _)| i);
    if name_len == 0 {
        return Err("no metric name".into());
    }
    let (name, mut rest) = line.split_at(name_len);
    let mut labels = Vec::new();
    if let Some(after) = rest.strip_prefix('{') {
        rest = after;
        loop {
            if let Some(after) = rest.strip_prefix('}') {
                rest = after;
                break;
            }
            let eq = rest.find("=\"").ok_or("no =\"")?;
            let label = &rest[..eq];
            if label.is_empty()
                || !label
                    .chars()
                    .enumerate()
                    .all(|(i, c)| is_name_char(c, i == 0) && c != ':')
            {
                return Err(format!("bad label name {label:?}"));
            }
            let (value, after) = unescape_label(&rest[eq + 2..])?;
            labels.push((label.to_owned(), value));
            rest = after.strip_prefix(',').unwrap_or(after);
        }
    }
    let value = rest.strip_prefix(' ').ok_or("no space before the value")?;
    let value = value.split(' ').next().unwrap_or("");
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().map_err(|_| format!("bad value {v:?}"))?,
    };
    Ok(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

/// The value up to its closing quote, unescaped, and the text after it.
fn unescape_label(text: &str) -> Result<(String, &str), String> {
    let mut out = String::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, &text[i + 1..])),
            '\\' => match chars.next() {
                Some((_, '\\')) => out.push('\\'),
                Some((_, '"')) => out.push('"'),
                Some((_, 'n')) => out.push('\n'),
                other => return Err(format!("bad escape {other:?}")),
            },
            '\n' => return Err("raw newline in a label value".into()),
            c => out.push(c),
        }
    }
    Err("unterminated label value".into())
}
