//! Helpers shared by the integration tests.
#![allow(dead_code)]

#[cfg(feature = "cli")]
pub mod cli;
pub mod http;
pub mod kit;
pub mod promtool;
pub mod reliability;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use evt_telemetry::{Clock, Guard, TelemetryBuilder};
use tracing_subscriber::layer::SubscriberExt;

/// 2025-10-06T13:43:10.123Z
pub const T0_MS: u64 = 1_759_758_190_123;

/// A clock the test moves by hand.
#[derive(Debug, Clone)]
pub struct ManualClock(pub Arc<Mutex<SystemTime>>);

impl ManualClock {
    pub fn at_ms(ms: u64) -> Self {
        ManualClock(Arc::new(Mutex::new(
            SystemTime::UNIX_EPOCH + Duration::from_millis(ms),
        )))
    }

    pub fn set_ms(&self, ms: u64) {
        *self.0.lock().unwrap() = SystemTime::UNIX_EPOCH + Duration::from_millis(ms);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        *self.0.lock().unwrap()
    }
}

/// A builder writing into `dir` with the manual clock.
pub fn builder(dir: &Path, clock: &ManualClock) -> TelemetryBuilder {
    TelemetryBuilder::new().log_dir(dir).clock(clock.clone())
}

/// Runs `f` under a registry with the layer built from `b`, then drops the
/// guard (flushing) and returns it dropped.
pub fn run_with(b: TelemetryBuilder, f: impl FnOnce()) {
    let (layer, guard) = b.build().expect("build");
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, f);
    drop(guard);
}

/// Like [`run_with`] but hands the guard back undropped.
pub fn run_keep(b: TelemetryBuilder, f: impl FnOnce()) -> Guard {
    let (layer, guard) = b.build().expect("build");
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, f);
    guard
}

/// The lines of a day file.
pub fn lines(path: impl AsRef<Path>) -> Vec<String> {
    let text = std::fs::read_to_string(path.as_ref())
        .unwrap_or_else(|e| panic!("{}: {e}", path.as_ref().display()));
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "file does not end with a newline"
    );
    text.lines().map(str::to_owned).collect()
}

pub fn day_file(dir: &Path, date: &str) -> PathBuf {
    dir.join(format!("events-{date}.jsonl"))
}
