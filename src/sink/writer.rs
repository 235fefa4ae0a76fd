//! The background writer thread: takes batches from the queue, writes each
//! day's lines to its file in one call, retries write errors, and runs
//! retention, compression and daily-sum resets when the day changes.

use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::clock::{Clock, unix_millis};
use crate::contract::date::day_of;
use crate::rules::engine::MetricsEngine;
use crate::sink::daily_files::DailyFiles;
use crate::sink::queue::{Batch, Queue, Run, Taken};
use crate::stats::{Counters, diag};

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
}

/// Everything the writer thread owns or shares.
#[derive(Debug)]
pub(crate) struct Writer {
    pub(crate) queue: Arc<Queue>,
    pub(crate) files: DailyFiles,
    pub(crate) counters: Arc<Counters>,
    pub(crate) engine: Arc<MetricsEngine>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) cfg: WriterConfig,
    pub(crate) today: Option<i64>,
}

impl Writer {
    /// Starts the thread `evt-telemetry-writer`.
    pub(crate) fn spawn(self) -> std::io::Result<JoinHandle<()>> {
        thread::Builder::new()
            .name("evt-telemetry-writer".into())
            .spawn(move || self.run())
    }

    fn run(mut self) {
        let mut batch = Batch::default();
        loop {
            let taken = self.queue.take(&mut batch, self.cfg.tick);
            self.on_tick();
            match taken {
                Taken::Closed => return,
                Taken::Idle => {}
                Taken::Lines => {
                    self.write(&batch);
                    self.queue.finished(batch.lines());
                }
            }
        }
    }

    /// Day change: retention and compression; daily sums follow the clock.
    pub(crate) fn on_tick(&mut self) {
        let now = unix_millis(self.clock.now());
        self.engine.tick(now);
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
        Counters::add(&self.counters.files_deleted, report.deleted.len() as u64);
        Counters::add(
            &self.counters.files_compressed,
            report.compressed.len() as u64,
        );
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
            Counters::add(&self.counters.shutdown_unwritten, abandoned);
            self.engine.on_dropped("shutdown_timeout", abandoned);
        }
    }

    pub(crate) fn publish_repairs(&self) {
        let repairs = self.files.repairs();
        let repaired = repairs.newline_added + repairs.torn_lines_cut;
        self.counters
            .torn_lines_repaired
            .store(repaired, std::sync::atomic::Ordering::Relaxed);
    }

    /// Writes one day's lines, retrying with backoff for `retry_for`.
    /// Returns false if shutdown abandoned the retries (lines not counted).
    fn write_run(&mut self, run: Run, bytes: &[u8]) -> bool {
        let give_up = Instant::now() + self.cfg.retry_for;
        let mut backoff = Duration::from_millis(10);
        loop {
            let Err(err) = self.files.append(run.day, bytes) else {
                Counters::add(&self.counters.lines_written, run.lines);
                return true;
            };
            Counters::add(&self.counters.write_errors, 1);
            self.engine.on_write_error(1);
            if Instant::now() >= give_up {
                diag(
                    self.cfg.stderr,
                    format_args!("gave up {} lines: {err}", run.lines),
                );
                Counters::add(&self.counters.unwritten, run.lines);
                self.engine.on_dropped("write_failed", run.lines);
                return true;
            }
            thread::sleep(backoff);
            if self.queue.is_abandoned() {
                return false;
            }
            backoff = (backoff * 2).min(Duration::from_millis(250));
        }
    }
}
