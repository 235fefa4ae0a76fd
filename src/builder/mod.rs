//! [`TelemetryBuilder`]: one consuming builder, validated once in `build()`.

mod check;
mod start;

use std::fs;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tracing::Subscriber;
use tracing_subscriber::filter::{EnvFilter, Filtered, LevelFilter};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{Layer, Registry};

use crate::capture::redact::Redactor;
use crate::clock::{Clock, EventClock, SystemClock, unix_millis};
use crate::console::{ConsoleLayer, console_layer};
use crate::contract::date::day_of;
use crate::error::Error;
use crate::exporter::{self, ExporterConfig, HostName, IpNet};
use crate::guard::Guard;
use crate::layer::{BareTelemetryLayer, Inner, TelemetryFilter, TelemetryLayer};
use crate::own_recorder::RuleMetrics;
use crate::rules::check::check_buckets;
use crate::rules::engine::MetricsEngine;
use crate::rules::from_toml::parse_rules_toml;
use crate::rules::restore::Restore;
use crate::rules::rule::MetricRule;
use crate::sink::daily_files::DailyFiles;
use crate::sink::queue::Queue;
use crate::sink::writer::{OnTick, Writer, WriterConfig};

/// The default of [`TelemetryBuilder::queue_max_bytes`].
const DEFAULT_QUEUE_MAX: usize = 32 << 20;

/// Configures the layer, its files, its writer and its metrics: the entry
/// point, `TelemetryBuilder::new()` (or `default()`).
///
/// Setters never fail; [`build`](Self::build) checks everything once and
/// names the bad value. Defaults:
///
/// | setting | default |
/// |---|---|
/// | [`log_dir`](Self::log_dir) | `data/telemetry` |
/// | [`file_prefix`](Self::file_prefix) | `events` (files `events-YYYY-MM-DD.jsonl`) |
/// | [`retention_days`](Self::retention_days) | 14 |
/// | [`gzip_finished_days`](Self::gzip_finished_days) | off |
/// | [`max_line_bytes`](Self::max_line_bytes) | 64 KiB |
/// | [`queue_capacity_bytes`](Self::queue_capacity_bytes) | 512 KiB |
/// | [`queue_max_bytes`](Self::queue_max_bytes) | 32 MiB (or `queue_capacity_bytes` if larger) |
/// | [`lossy`](Self::lossy) | off (callers wait when the queue is full) |
/// | [`flush_interval`](Self::flush_interval) | 200 ms |
/// | [`write_retry`](Self::write_retry) | 1 s |
/// | [`shutdown_timeout`](Self::shutdown_timeout) | 10 s |
/// | [`lock_wait`](Self::lock_wait) | 15 s (covers another process's default shutdown) |
/// | [`redactor`](Self::redactor) | built-in names and patterns |
/// | [`span_fields`](Self::span_fields) | on |
/// | [`console_level`](Self::console_level) (only for `init`) | `INFO`, or `RUST_LOG` when set |
/// | [`stderr_diagnostics`](Self::stderr_diagnostics) | on |
/// | [`clock`](Self::clock) | [`SystemClock`] |
/// | [`rule`](Self::rule), [`rules_toml_file`](Self::rules_toml_file) | no rules (self-metrics only) |
/// | [`max_series_per_metric`](Self::max_series_per_metric) | 1,000 |
/// | [`prometheus_listen`](Self::prometheus_listen) | `127.0.0.1:9000` |
/// | [`prometheus_buckets`](Self::prometheus_buckets) | none (the application's histograms render as summaries) |
/// | [`prometheus_allow`](Self::prometheus_allow) | any peer |
/// | [`prometheus_allowed_hosts`](Self::prometheus_allowed_hosts) | any `Host` (no check) |
/// | [`prometheus_max_connections`](Self::prometheus_max_connections) | 512 (256 per peer address) |
#[derive(Debug)]
#[must_use]
pub struct TelemetryBuilder {
    log_dir: PathBuf,
    file_prefix: String,
    retention_days: Option<u32>,
    gzip: bool,
    max_line_bytes: usize,
    queue_bytes: usize,
    queue_max_bytes: Option<usize>,
    lossy: bool,
    flush_interval: Duration,
    write_retry: Duration,
    shutdown_timeout: Duration,
    lock_wait: Duration,
    redactor: Redactor,
    span_fields: bool,
    stderr: bool,
    clock: Arc<dyn Clock>,
    /// `clock` is [`SystemClock`] (read through the CPU counter, see `EventClock`).
    system_clock: bool,
    rules: Vec<MetricRule>,
    rules_files: Vec<PathBuf>,
    rules_text: Vec<String>,
    max_series: usize,
    exporter: ExporterConfig,
    allowed: Vec<String>,
    allowed_hosts: Vec<String>,
    console_level: LevelFilter,
    discard: bool,
    write_delay: Duration,
}

impl Default for TelemetryBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl TelemetryBuilder {
    /// A builder with every default.
    pub fn new() -> Self {
        TelemetryBuilder {
            log_dir: PathBuf::from("data/telemetry"),
            file_prefix: "events".into(),
            retention_days: Some(14),
            gzip: false,
            max_line_bytes: 64 * 1024,
            queue_bytes: 512 * 1024,
            queue_max_bytes: None,
            lossy: false,
            flush_interval: Duration::from_millis(200),
            write_retry: Duration::from_secs(1),
            shutdown_timeout: Duration::from_secs(10),
            lock_wait: Duration::from_secs(15),
            redactor: Redactor::default(),
            span_fields: true,
            stderr: true,
            clock: Arc::new(SystemClock),
            system_clock: true,
            rules: Vec::new(),
            rules_files: Vec::new(),
            rules_text: Vec::new(),
            max_series: 1000,
            exporter: ExporterConfig::default(),
            allowed: Vec::new(),
            allowed_hosts: Vec::new(),
            console_level: LevelFilter::INFO,
            discard: false,
            write_delay: Duration::ZERO,
        }
    }

    /// Directory of the daily files; created if missing. Must not be empty
    /// (use `"."` for the working directory). One writer at a time holds a
    /// directory (see [`lock_wait`](Self::lock_wait)).
    /// Defaults to `data/telemetry`.
    pub fn log_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.log_dir = dir.into();
        self
    }

    /// File name prefix: files are `<prefix>-YYYY-MM-DD.jsonl`.
    /// Letters, digits, `_`, `-` and `.` only. Defaults to `events`.
    pub fn file_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.file_prefix = prefix.into();
        self
    }

    /// Day files older than `days` days are deleted at start-up and at each
    /// day change (only files matching the exact name pattern; never
    /// today's). Must be at least 1. Defaults to 14.
    pub fn retention_days(mut self, days: u32) -> Self {
        self.retention_days = Some(days);
        self
    }

    /// Never delete old day files. Defaults to off (14 days are kept).
    pub fn keep_all_files(mut self) -> Self {
        self.retention_days = None;
        self
    }

    /// Compress finished days to `<prefix>-YYYY-MM-DD.jsonl.gz`.
    /// Defaults to off.
    pub fn gzip_finished_days(mut self, on: bool) -> Self {
        self.gzip = on;
        self
    }

    /// Longest line in bytes; longer lines are cut by truncating their
    /// longest strings with a `...[truncated N bytes]` marker, never by
    /// cutting the JSON. At least 1,024. Defaults to 64 KiB.
    pub fn max_line_bytes(mut self, bytes: usize) -> Self {
        self.max_line_bytes = bytes;
        self
    }

    /// Bytes of lines the queue holds before callers wait (or, when lossy,
    /// drop) while the writer is writing. At least `max_line_bytes`.
    /// Defaults to 512 KiB (about 2,500 lines of 200 bytes). The writer takes
    /// a batch once a quarter of it is queued (or 5 ms after the first line).
    /// In a lossless queue of at least 64 KiB, a thread that finds the queue
    /// busy stages up to 4 KiB of lines of its own before they move to the
    /// queue in one piece (see the README's writer guarantees): up to 4 KiB
    /// more per logging thread.
    pub fn queue_capacity_bytes(mut self, bytes: usize) -> Self {
        self.queue_bytes = bytes;
        self
    }

    /// How far the queue may grow, `queue_capacity_bytes` at a time, while
    /// the writer has been woken but has no CPU yet (a busy machine): callers
    /// then go on instead of waiting on the scheduler. A writer busy writing
    /// (a slow disk) still makes callers wait at `queue_capacity_bytes`.
    /// After a small batch the queue is back to its base size and returns
    /// the memory. At least `queue_capacity_bytes`; memory stays under twice
    /// this (the queue and the writer's batch). Defaults to 32 MiB, or
    /// `queue_capacity_bytes` if that is larger.
    ///
    /// ```
    /// let b = evt_telemetry::TelemetryBuilder::new().queue_max_bytes(4 << 20);
    /// # drop(b);
    /// ```
    pub fn queue_max_bytes(mut self, bytes: usize) -> Self {
        self.queue_max_bytes = Some(bytes);
        self
    }

    /// Drop lines instead of waiting when the queue is full; every drop is
    /// counted and a `telemetry_dropped` marker line (with `meta.dropped`)
    /// is written once the queue has room. Defaults to off (lossless).
    pub fn lossy(mut self, on: bool) -> Self {
        self.lossy = on;
        self
    }

    /// The writer writes queued lines within 5 ms (sooner once a quarter of
    /// the queue is full); when idle it wakes at this interval to notice day changes
    /// (retention, compression, daily-sum resets). Must be between 1 ms and
    /// 500 ms. Defaults to 200 ms.
    pub fn flush_interval(mut self, interval: Duration) -> Self {
        self.flush_interval = interval;
        self
    }

    /// How long a batch is retried after a write error before its lines are
    /// given up (counted in `unwritten`). Defaults to 1 s.
    pub fn write_retry(mut self, window: Duration) -> Self {
        self.write_retry = window;
        self
    }

    /// How long dropping the [`Guard`] (or [`Guard::flush`],
    /// [`Guard::shutdown`]) waits for the queue to drain. When it runs out,
    /// the writer stops after its current write (waiting at most 1 s more)
    /// and the exact number of lines not written is counted and printed on
    /// stderr. Defaults to 10 s.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// How long [`build`](Self::build) waits for another writer of the same
    /// log directory (another process, or a [`Guard`] not yet dropped) to
    /// stop, before failing with [`Error::DirLocked`] naming the directory
    /// and the holder's pid. Only one writer holds a directory at a time
    /// (an OS advisory lock on `<log_dir>/.evt-telemetry.lock`, released by
    /// the kernel when the holder exits, even by a crash).
    ///
    /// The wait lets an overlapping restart through: the old process's
    /// guard drains for up to its `shutdown_timeout` (10 s by default) plus
    /// 1 s for a write in progress. `Duration::ZERO` tries once.
    /// Defaults to 15 s.
    ///
    /// ```
    /// # fn main() -> Result<(), evt_telemetry::Error> {
    /// use std::time::Duration;
    /// use evt_telemetry::{Error, TelemetryBuilder};
    /// # let dir = tempfile::tempdir().unwrap();
    /// let (_layer, _guard) = TelemetryBuilder::new()
    ///     .log_dir(dir.path())
    ///     .build::<tracing_subscriber::Registry>()?;
    /// let second = TelemetryBuilder::new()
    ///     .log_dir(dir.path())
    ///     .lock_wait(Duration::ZERO)
    ///     .build::<tracing_subscriber::Registry>();
    /// assert!(matches!(second, Err(Error::DirLocked { pid: Some(_), .. })));
    /// # Ok(())
    /// # }
    /// ```
    pub fn lock_wait(mut self, wait: Duration) -> Self {
        self.lock_wait = wait;
        self
    }

    /// Secret names and patterns to redact. Defaults to [`Redactor::default`]
    /// (all built-ins on).
    pub fn redactor(mut self, redactor: Redactor) -> Self {
        self.redactor = redactor;
        self
    }

    /// Add the fields of enclosing spans to `meta` (and make them available
    /// as metric labels). Defaults to on.
    pub fn span_fields(mut self, on: bool) -> Self {
        self.span_fields = on;
        self
    }

    /// Print internal problems (write errors, retention errors) and set-up
    /// mistakes (a global filter dropping `evt` events, events after the
    /// guard is gone, events before a metrics recorder exists) on stderr,
    /// once each, prefixed `evt-telemetry:`. A shutdown timeout is always
    /// printed. Defaults to on.
    pub fn stderr_diagnostics(mut self, on: bool) -> Self {
        self.stderr = on;
        self
    }

    /// The clock that stamps events and decides day changes.
    /// Defaults to [`SystemClock`].
    ///
    /// With the system clock, each thread reads it every 5 ms (and when the
    /// time is within 20 µs of a millisecond boundary) and adds the CPU
    /// counter's time since (a third of the cost of a clock read): a
    /// line's `ts` is always the millisecond the system clock showed during
    /// the event, and a step of the clock shows within 5 ms. The first
    /// `build()` in a process calibrates the counter (about a millisecond).
    /// Any other clock is read for every event.
    pub fn clock<C: Clock>(mut self, clock: C) -> Self {
        self.system_clock = std::any::TypeId::of::<C>() == std::any::TypeId::of::<SystemClock>();
        self.clock = Arc::new(clock);
        self
    }

    /// Adds a metric rule. Defaults to no rules.
    pub fn rule(mut self, rule: MetricRule) -> Self {
        self.rules.push(rule);
        self
    }

    /// Adds the rules of a TOML file (read in `build()`).
    pub fn rules_toml_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.rules_files.push(path.into());
        self
    }

    /// Adds the rules of a TOML document.
    pub fn rules_toml(mut self, text: impl Into<String>) -> Self {
        self.rules_text.push(text.into());
        self
    }

    /// Most label sets one metric keeps; further ones go to a single
    /// `__overflow__` series. Rules may override it. Defaults to 1,000.
    pub fn max_series_per_metric(mut self, n: usize) -> Self {
        self.max_series = n;
        self
    }

    /// Address of the `/metrics` listener started by
    /// [`install_prometheus`](Self::install_prometheus).
    /// Defaults to `127.0.0.1:9000` (loopback only).
    pub fn prometheus_listen(mut self, addr: SocketAddr) -> Self {
        self.exporter.listen = addr;
        self
    }

    /// A label added to every exported series (e.g. `env`, `instance`).
    /// Defaults to none.
    pub fn prometheus_global_label(
        mut self,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        self.exporter.global_labels.push((key.into(), value.into()));
        self
    }

    /// Real buckets for one of the application's own histograms (one it
    /// records with `metrics::histogram!`, not a rule's), by its full name:
    /// the exporter then renders `_bucket` series for it instead of a
    /// summary. Applied by [`install_prometheus`](Self::install_prometheus)
    /// and by [`Guard::configure_prometheus`]. Bounds must be finite and
    /// strictly increasing (`+Inf` is added); a rule's histogram takes its
    /// buckets from the rule. Repeatable. Defaults to none.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), evt_telemetry::Error> {
    /// let (layer, guard) = evt_telemetry::TelemetryBuilder::new()
    ///     .prometheus_buckets("http_request_duration_seconds", [0.01, 0.05, 0.1, 0.5, 1.0])
    ///     .install_prometheus::<tracing_subscriber::Registry>()?;
    /// metrics::histogram!("http_request_duration_seconds").record(0.042);
    /// # Ok(())
    /// # }
    /// ```
    pub fn prometheus_buckets(
        mut self,
        metric: impl Into<String>,
        bounds: impl IntoIterator<Item = f64>,
    ) -> Self {
        let bounds = bounds.into_iter().collect();
        self.exporter.app_buckets.push((metric.into(), bounds));
        self
    }

    /// Only peers in this network (`10.0.0.0/8`, `192.168.1.7`) may scrape;
    /// others get 403. Repeatable. Defaults to any peer that can connect.
    pub fn prometheus_allow(mut self, cidr: impl Into<String>) -> Self {
        self.allowed.push(cidr.into());
        self
    }

    /// Answer only requests whose `Host` header names one of these hosts
    /// (`localhost`, `127.0.0.1:9000`, `[::1]:9000`, `metrics.internal`;
    /// without a port any port matches; names compare case-insensitively);
    /// others, and requests without `Host`, get `421`. This stops a web page
    /// from reading `/metrics` through DNS rebinding: the browser then sends
    /// the attacker's host name. Repeatable; list every name Prometheus
    /// uses as a target. Defaults to off (any `Host` is answered).
    ///
    /// ```
    /// let builder = evt_telemetry::TelemetryBuilder::new()
    ///     .prometheus_allowed_hosts(["localhost", "127.0.0.1:9000"]);
    /// # let _ = builder;
    /// ```
    pub fn prometheus_allowed_hosts<I>(mut self, hosts: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.allowed_hosts.extend(hosts.into_iter().map(Into::into));
        self
    }

    /// Most connections the `/metrics` listener keeps open at once; one
    /// peer address may hold half of them, so a second host still gets in
    /// while one floods. Beyond either cap a connection gets `503` at once.
    /// Each holds one file descriptor; refused connections lingering after
    /// their `403`/`503` take at most as many again. At least 2.
    /// Defaults to 512.
    pub fn prometheus_max_connections(mut self, n: usize) -> Self {
        self.exporter.limits.max_connections = n;
        self
    }

    /// Lowest level the human-readable stderr layer installed by
    /// [`init`](Self::init) shows (its fields are redacted like the files)
    /// when `RUST_LOG` is not set; when it is, `RUST_LOG` (`EnvFilter`
    /// syntax) decides what the console shows instead. Either way this
    /// filters the console only, never the evt lines and metrics.
    /// `LevelFilter::OFF` installs no console layer at all, whatever
    /// `RUST_LOG` says. Defaults to `INFO`.
    pub fn console_level(mut self, level: LevelFilter) -> Self {
        self.console_level = level;
        self
    }

    /// Benchmarks only: the writer throws batches away instead of writing
    /// them, so the caller's cost can be measured alone.
    #[doc(hidden)]
    pub fn discard_lines_for_benchmarks(mut self, on: bool) -> Self {
        self.discard = on;
        self
    }

    /// Tests only: every write call of the writer takes this much longer,
    /// like a slow disk (day files must be regular files, so a FIFO read
    /// slowly cannot stand in for one).
    /// Defaults to none.
    #[doc(hidden)]
    pub fn write_delay_for_tests(mut self, delay: Duration) -> Self {
        self.write_delay = delay;
        self
    }
}
