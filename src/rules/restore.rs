//! Restoring today's daily sums at start-up, on a thread of its own.
//!
//! `build()` only opens today's file and notes its length; the thread
//! `evt-telemetry-restore` reads that prefix while the writer appends after
//! it, so `build()` does not grow with the day's file and no line is read
//! twice or missed (lines written after `build()` are counted live).
//!
//! The scan allocates nothing for lines that name no daily-sum event: it
//! finds line ends and the `"evt":"<name>"` needles in the raw bytes
//! (`memchr`), and only candidate lines are checked for UTF-8 and parsed.
//! A candidate that is not UTF-8 or not a contract line is skipped and
//! counted; it never ends the restore.
//!
//! Sums read before the metric handles are first resolved are applied then,
//! on the thread that resolves them. Sums read later are applied by this
//! thread (it sees the global recorder), or, if the handles were resolved
//! under a thread-local recorder (`metrics::with_local_recorder`), by the
//! guard's `flush()` or drop on the caller's thread.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use memchr::memmem::Finder;

use crate::diag::diag;
use crate::rules::engine::MetricsEngine;
use crate::self_metrics::SelfMetrics;
use crate::sink::open::open_regular;
use crate::stats::Counters;

/// Whether the current thread's recorder is a thread-local one: it differs
/// from what a new thread sees (the global recorder, or the no-op one).
pub(crate) fn recorder_is_local() -> bool {
    fn current() -> usize {
        metrics::with_recorder(|r| std::ptr::from_ref(r).cast::<()>() as usize)
    }
    let here = current();
    thread::scope(|s| s.spawn(current).join()).is_ok_and(|there| there != here)
}

/// Bytes read per call.
const CHUNK: usize = 1 << 20;

/// A restore in progress (or done): lets the guard wait for it.
#[derive(Debug, Clone)]
pub(crate) struct Restore {
    done: Arc<(Mutex<bool>, Condvar)>,
    /// Set when the guard stops before the restore ends: the scan stops and
    /// applies nothing more.
    cancel: Arc<AtomicBool>,
    engine: Arc<MetricsEngine>,
}

impl Restore {
    /// Starts restoring the daily sums of `today` from the first `len`
    /// bytes of `path` (today's file, already repaired), if any rule keeps a
    /// daily sum and the file exists.
    pub(crate) fn start(
        engine: &Arc<MetricsEngine>,
        path: &Path,
        today: i64,
        own: &Arc<SelfMetrics>,
        stderr: bool,
    ) -> io::Result<Restore> {
        let restore = Restore {
            done: Arc::new((Mutex::new(false), Condvar::new())),
            cancel: Arc::new(AtomicBool::new(false)),
            engine: engine.clone(),
        };
        let needles = engine.daily_needles();
        let file = match open_regular(OpenOptions::new().read(true), path) {
            Ok(file) if !needles.is_empty() => file,
            _ => {
                // Nothing to read back (no daily sums, no file, or a file the
                // writer refuses too): only the day is set.
                engine.restore_daily_sums(today, &mut std::iter::empty());
                restore.finish();
                return Ok(restore);
            }
        };
        let len = file.metadata()?.len();
        let (engine, own, done) = (engine.clone(), own.clone(), restore.clone());
        let path = path.to_owned();
        thread::Builder::new()
            .name("evt-telemetry-restore".into())
            .spawn(move || {
                let mut lines = Candidates::new(file, len, &needles, &done.cancel);
                let unparsable = engine.restore_daily_sums(today, &mut lines);
                if done.cancel.load(Ordering::Relaxed) {
                    return done.finish();
                }
                engine.finish_restore();
                let skipped = unparsable + lines.not_utf8;
                Counters::add(&own.counters().restore_lines_skipped, skipped);
                if skipped > 0 {
                    diag(
                        stderr,
                        format_args!(
                            "restoring daily sums: skipped {skipped} lines of {} that do not parse",
                            path.display()
                        ),
                    );
                }
                done.finish();
            })?;
        Ok(restore)
    }

    fn finish(&self) {
        let (lock, cv) = &*self.done;
        *lock.lock().unwrap_or_else(PoisonError::into_inner) = true;
        cv.notify_all();
    }

    /// Waits up to `timeout` for the restore to end; whether it has. Called
    /// by the guard on the caller's thread, which then applies what was left
    /// for it (see the module docs).
    pub(crate) fn wait(&self, timeout: Duration) -> bool {
        let done = self.wait_done(timeout);
        if done {
            self.engine.apply_late_restore(true);
        }
        done
    }

    /// At shutdown: waits up to `timeout` for the restore, then stops it if
    /// it is still running.
    pub(crate) fn finish_within(&self, timeout: Duration) {
        if !self.wait(timeout) {
            self.cancel.store(true, Ordering::Relaxed);
        }
    }

    fn wait_done(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let (lock, cv) = &*self.done;
        let mut done = lock.lock().unwrap_or_else(PoisonError::into_inner);
        while !*done {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            done = cv
                .wait_timeout(done, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        true
    }
}

/// The lines of the first `len` bytes of a file that contain one of the
/// needles, as strings; other lines are passed over without allocating.
struct Candidates<'n> {
    cancel: &'n AtomicBool,
    reader: io::Take<File>,
    buf: Vec<u8>,
    pos: usize,
    finders: Vec<Finder<'n>>,
    /// Candidate lines that are not valid UTF-8.
    not_utf8: u64,
}

impl<'n> Candidates<'n> {
    fn new(file: File, len: u64, needles: &'n [String], cancel: &'n AtomicBool) -> Self {
        Candidates {
            cancel,
            reader: file.take(len),
            buf: Vec::with_capacity(CHUNK),
            pos: 0,
            finders: needles.iter().map(|n| Finder::new(n.as_bytes())).collect(),
            not_utf8: 0,
        }
    }

    /// Drops the consumed bytes and reads more; false at the end (or when
    /// cancelled).
    fn fill(&mut self) -> bool {
        if self.cancel.load(Ordering::Relaxed) {
            self.buf.clear();
            self.pos = 0;
            return false;
        }
        self.buf.drain(..self.pos);
        self.pos = 0;
        let start = self.buf.len();
        self.buf.resize(start + CHUNK, 0);
        let n = loop {
            match self.reader.read(&mut self.buf[start..]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // A read error ends the restore like the end of the file.
                other => break other.unwrap_or(0),
            }
        };
        self.buf.truncate(start + n);
        n > 0
    }

    /// The line as a string if it names a needle; counts it if not UTF-8.
    fn candidate(&mut self, line: &[u8]) -> Option<String> {
        if !self.finders.iter().any(|f| f.find(line).is_some()) {
            return None;
        }
        match std::str::from_utf8(line) {
            Ok(text) => Some(text.to_owned()),
            Err(_) => {
                self.not_utf8 += 1;
                None
            }
        }
    }
}

impl Iterator for Candidates<'_> {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        loop {
            if let Some(i) = memchr::memchr(b'\n', &self.buf[self.pos..]) {
                let (start, end) = (self.pos, self.pos + i);
                self.pos = end + 1;
                let line = std::mem::take(&mut self.buf);
                let found = self.candidate(&line[start..end]);
                self.buf = line;
                if found.is_some() {
                    return found;
                }
            } else if !self.fill() {
                // A last line without its newline (the prefix ends mid-line
                // only if the file changed under us): read it as it is.
                let rest = std::mem::take(&mut self.buf);
                self.pos = 0;
                if rest.is_empty() {
                    return None;
                }
                if let Some(line) = self.candidate(&rest) {
                    return Some(line);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Seek as _, Write as _};

    fn candidates(bytes: &[u8], needles: &[String], limit: Option<u64>) -> (Vec<String>, u64) {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(bytes).unwrap();
        file.seek(io::SeekFrom::Start(0)).unwrap();
        let len = limit.unwrap_or(bytes.len() as u64);
        let cancel = AtomicBool::new(false);
        let mut c = Candidates::new(file, len, needles, &cancel);
        let lines: Vec<String> = c.by_ref().collect();
        (lines, c.not_utf8)
    }

    #[test]
    fn only_lines_naming_a_needle_come_out_and_bad_utf8_is_counted() {
        let needles = vec!["\"evt\":\"call\"".to_string()];
        let text: &[u8] = b"{\"evt\":\"other\"}\n{\"evt\":\"call\",\"a\":1}\n\xff{\"evt\":\"call\"}\n{\"evt\":\"call\",\"b\":2}\n";
        let (lines, bad) = candidates(text, &needles, None);
        assert_eq!(
            lines,
            ["{\"evt\":\"call\",\"a\":1}", "{\"evt\":\"call\",\"b\":2}"]
        );
        assert_eq!(bad, 1);
    }

    #[test]
    fn a_cancelled_scan_stops_at_its_next_read() {
        let needles = vec!["\"evt\":\"call\"".to_string()];
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(b"{\"evt\":\"call\"}\n").unwrap();
        file.seek(io::SeekFrom::Start(0)).unwrap();
        let cancel = AtomicBool::new(true);
        let mut c = Candidates::new(file, 15, &needles, &cancel);
        assert_eq!(c.next(), None);
    }

    #[test]
    fn lines_across_chunk_boundaries_and_the_length_limit_are_respected() {
        let needles = vec!["\"evt\":\"call\"".to_string()];
        let long = format!("{{\"evt\":\"call\",\"pad\":\"{}\"}}", "x".repeat(3 * CHUNK));
        let text = format!("{long}\n{{\"evt\":\"call\"}}\n{{\"evt\":\"call\",\"after\":1}}\n");
        let limit = (long.len() + 1 + "{\"evt\":\"call\"}\n".len()) as u64;
        let (lines, bad) = candidates(text.as_bytes(), &needles, Some(limit));
        assert_eq!(lines, [long.as_str(), "{\"evt\":\"call\"}"]);
        assert_eq!(bad, 0);
    }
}
