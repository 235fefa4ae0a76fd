//! What the pipeline has done so far: the public [`Stats`] snapshot and the
//! live counters behind it (owned by the self-metrics).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// A snapshot of what the telemetry pipeline has done so far.
///
/// Read it with [`Guard::stats`](crate::Guard::stats). The lines not written
/// (each `dropped_*`, `unwritten` and `shutdown_unwritten`) and
/// `write_errors` are also exported as the self-metrics
/// `telemetry_dropped_events_total{reason}` and
/// `telemetry_write_errors_total`; the other fields are here only.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Events turned into lines and accepted by the queue.
    pub lines_queued: u64,
    /// Lines written to their day file.
    pub lines_written: u64,
    /// Lines dropped because the queue was full (lossy mode only).
    pub dropped_queue_full: u64,
    /// Lines emitted after the guard was dropped, which nothing could write.
    pub dropped_closed: u64,
    /// Lines given up after write errors persisted past the retry window.
    pub unwritten: u64,
    /// Failed write attempts (each retry counts).
    pub write_errors: u64,
    /// Lines not written because the shutdown timeout ran out (still queued,
    /// or in the writer's batch after the write in progress).
    pub shutdown_unwritten: u64,
    /// Torn last lines found at start-up and repaired.
    pub torn_lines_repaired: u64,
    /// Files deleted by retention.
    pub files_deleted: u64,
    /// Finished days compressed to `.jsonl.gz`.
    pub files_compressed: u64,
    /// Lines of today's file naming a daily-sum event that could not be read
    /// back at start-up (not UTF-8, or not a contract line): skipped.
    pub restore_lines_skipped: u64,
    /// Calls that waited for room in the (lossless) queue: the writer was
    /// writing and the queue full. See
    /// [`queue_max_bytes`](crate::TelemetryBuilder::queue_max_bytes).
    pub queue_waits: u64,
}

/// The live counters behind [`Stats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) lines_written: AtomicU64,
    pub(crate) dropped_queue_full: AtomicU64,
    pub(crate) dropped_closed: AtomicU64,
    pub(crate) unwritten: AtomicU64,
    pub(crate) write_errors: AtomicU64,
    pub(crate) shutdown_unwritten: AtomicU64,
    pub(crate) torn_lines_repaired: AtomicU64,
    pub(crate) files_deleted: AtomicU64,
    pub(crate) files_compressed: AtomicU64,
    pub(crate) restore_lines_skipped: AtomicU64,
    pub(crate) queue_waits: AtomicU64,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    pub(crate) fn snapshot(&self) -> Stats {
        Stats {
            // Counted by the queue under its lock (see `Guard::stats`).
            lines_queued: 0,
            lines_written: self.lines_written.load(Relaxed),
            dropped_queue_full: self.dropped_queue_full.load(Relaxed),
            dropped_closed: self.dropped_closed.load(Relaxed),
            unwritten: self.unwritten.load(Relaxed),
            write_errors: self.write_errors.load(Relaxed),
            shutdown_unwritten: self.shutdown_unwritten.load(Relaxed),
            torn_lines_repaired: self.torn_lines_repaired.load(Relaxed),
            files_deleted: self.files_deleted.load(Relaxed),
            files_compressed: self.files_compressed.load(Relaxed),
            restore_lines_skipped: self.restore_lines_skipped.load(Relaxed),
            queue_waits: self.queue_waits.load(Relaxed),
        }
    }
}
