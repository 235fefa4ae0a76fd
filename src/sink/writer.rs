//! The background writer thread: takes batches from the queue, writes each
//! day's lines to its file in one call, retries write errors, and runs
//! retention, compression and daily-sum resets when the day changes.

use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::clock::{Clock, unix_millis};
use crate::contract::date::day_of;
use crate::diag::diag;
use crate::encode::line::marker_line;
use crate::self_metrics::{DropReason, SelfMetrics};
use crate::sink::daily_files::DailyFiles;
use crate::sink::open::Refused;
use crate::sink::queue::{Batch, Queue, Run, Taken};
use crate::stats::Counters;

/// Settings of the writer thread.
#[derive(Debug, Clone)]
pub(crate) struct WriterConfig {
    /// How often the writer wakes when idle (day changes, daily sums).
    pub(crate) tick: Duration,
    pub(crate) retention_days: Option<u32>,
    pub(crate) gzip: bool,
    /// How long one batch is retried after write errors before it is given up.
    pub(crate) retry_for: Duration,
    pub(crate) stderr: bool,
    /// Benchmarks: drop batches unwritten.
    pub(crate) discard: bool,
    /// Tests: added to every write call (a slow disk).
    pub(crate) delay: Duration,
}

/// Called with the clock's time (Unix ms) at every wake of the writer: the
/// rule engine rolls its daily sums over midnight with it.
pub(crate) struct OnTick(pub(crate) Box<dyn Fn(i64) + Send>);

impl std::fmt::Debug for OnTick {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OnTick")
    }
}

/// Everything the writer thread owns or shares.
#[derive(Debug)]
pub(crate) struct Writer {
    queue: Arc<Queue>,
    files: DailyFiles,
    own: Arc<SelfMetrics>,
    clock: Arc<dyn Clock>,
    on_tick: OnTick,
    cfg: WriterConfig,
    today: Option<i64>,
    /// A batch was given up and no write has succeeded since (the breaker).
    failing: bool,
    /// A refused day file (symlink, not a regular file) was reported.
    said_refused: bool,
}

impl Writer {
    /// A writer of `queue`'s lines into `files`, not started yet.
    pub(crate) fn new(
        queue: Arc<Queue>,
        files: DailyFiles,
        own: Arc<SelfMetrics>,
        clock: Arc<dyn Clock>,
        on_tick: OnTick,
        cfg: WriterConfig,
    ) -> Self {
        Writer {
            queue,
            files,
            own,
            clock,
            on_tick,
            cfg,
            today: None,
            failing: false,
            said_refused: false,
        }
    }

    /// Starts the thread `evt-telemetry-writer`.
    pub(crate) fn spawn(self) -> std::io::Result<JoinHandle<()>> {
        thread::Builder::new()
            .name("evt-telemetry-writer".into())
            .spawn(move || self.run())
    }

    fn run(mut self) {
        let mut batch = Batch::default();
        loop {
            let clock = &self.clock;
            let taken = self.queue.take(&mut batch, self.cfg.tick, |dropped| {
                let now = unix_millis(clock.now());
                (day_of(now), marker_line(now, dropped))
            });
            self.on_tick();
            match taken {
                Taken::Closed => return,
                Taken::Idle => {}
                Taken::Lines => {
                    self.write(&batch);
                    self.queue.finished(batch.lines());
                    batch.recycle(self.queue.base());
                }
            }
        }
    }

    /// Day change: retention and compression; daily sums follow the clock.
    pub(crate) fn on_tick(&mut self) {
        let now = unix_millis(self.clock.now());
        (self.on_tick.0)(now);
        let today = day_of(now);
        if self.today != Some(today) {
            self.today = Some(today);
            self.sweep(today);
        }
    }

    fn sweep(&mut self, today: i64) {
        let report = self
            .files
            .sweep(today, self.cfg.retention_days, self.cfg.gzip);
        let counters = self.own.counters();
        Counters::add(&counters.files_deleted, report.deleted.len() as u64);
        Counters::add(&counters.files_compressed, report.compressed.len() as u64);
        for (path, err) in &report.errors {
            diag(
                self.cfg.stderr,
                format_args!("retention of {}: {err}", path.display()),
            );
        }
    }

    fn write(&mut self, batch: &Batch) {
        if self.cfg.discard {
            return;
        }
        let mut abandoned = 0;
        for (run, bytes) in batch.slices() {
            if self.queue.is_abandoned() || !self.write_run(run, bytes) {
                abandoned += run.lines;
            }
        }
        self.publish_repairs();
        if abandoned > 0 {
            self.own.dropped(DropReason::ShutdownTimeout, abandoned);
        }
    }

    pub(crate) fn publish_repairs(&self) {
        let repairs = self.files.repairs();
        let repaired = repairs.newline_added + repairs.torn_lines_cut;
        self.own
            .counters()
            .torn_lines_repaired
            .store(repaired, std::sync::atomic::Ordering::Relaxed);
    }

    /// Writes one day's lines, retrying with backoff for `retry_for` (not at
    /// all for a refused file: a retry cannot help). Returns false if
    /// shutdown abandoned the retries (lines not counted).
    fn write_run(&mut self, run: Run, bytes: &[u8]) -> bool {
        let give_up = Instant::now() + self.cfg.retry_for;
        let mut backoff = Duration::from_millis(10);
        loop {
            if !self.cfg.delay.is_zero() {
                thread::sleep(self.cfg.delay);
            }
            let Err(err) = self.files.append(run.day, bytes) else {
                Counters::add(&self.own.counters().lines_written, run.lines);
                self.set_failing(false);
                return true;
            };
            self.own.write_error();
            let refused = Refused::is(&err);
            if refused || Instant::now() >= give_up {
                self.give_up(run.lines, &err, refused);
                return true;
            }
            thread::sleep(backoff);
            if self.queue.is_abandoned() {
                return false;
            }
            backoff = (backoff * 2).min(Duration::from_millis(250));
        }
    }

    fn give_up(&mut self, lines: u64, err: &std::io::Error, refused: bool) {
        if !refused {
            diag(
                self.cfg.stderr,
                format_args!("gave up {lines} lines: {err}"),
            );
        } else if !self.said_refused {
            self.said_refused = true;
            diag(
                self.cfg.stderr,
                format_args!("{err}; its lines are not written (counted as write_failed)"),
            );
        }
        self.own.dropped(DropReason::WriteFailed, lines);
        self.set_failing(true);
    }

    /// Opens or closes the breaker (see `Pushed::Failing`) on a change.
    fn set_failing(&mut self, failing: bool) {
        if self.failing != failing {
            self.failing = failing;
            self.queue.set_failing(failing);
        }
    }
}
