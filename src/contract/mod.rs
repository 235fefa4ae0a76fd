//! The line contract, one copy for the library and the `evt-telemetry`
//! command (which includes this folder with `#[path]`), so the two cannot
//! drift: the levels a line carries, the UTC day arithmetic, the names of
//! the day files and of the crash-safe gzip protocol's hidden files, and a
//! line read back.
//!
//! Self-contained on purpose: it depends on std, `time` and `serde_json`, never on
//! another module of the crate.
//!
//! A line is one JSON object with the keys `ts, level, evt, source, msg,
//! meta` in that order; `ts` is RFC 3339 UTC with milliseconds and `Z`.

pub(crate) mod date;
pub(crate) mod day_file;
pub(crate) mod level;
pub(crate) mod read;
