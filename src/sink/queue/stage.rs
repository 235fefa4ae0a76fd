//! Per-thread staging in front of the shared queue.
//!
//! A thread that finds the shared queue's lock taken by another appends
//! its next lines to a stage of its own (a few KiB under a lock only it and
//! the writer take), and moves them to the shared queue when the stage is
//! full: one shared lock per stage, not per line. With several threads
//! logging at once, a lock per line made them wait on each other, and on a
//! thread preempted while holding it. A thread alone takes the shared lock
//! at once, as before: staging would only add a copy.
//!
//! The writer takes what the stages hold at each batch. A stage that was
//! empty tells the queue when it gets its first line, so a lone line does
//! not wait for the writer's tick, and the writer does not stop while a
//! stage still holds lines. Each thread's lines keep their order, and a
//! line that goes straight to the shared queue first moves what the stages
//! hold; only lines of two threads that are both staging may interleave out
//! of order within one batch.

use std::sync::{Mutex, MutexGuard, PoisonError};

use thread_local::ThreadLocal;

use super::{Lines, Pushed, QUEUED, Queue, State};
use crate::sink::batch::Batch;

/// The most a stage holds: its lines move to the shared queue before it
/// would hold more.
pub(crate) const STAGE_BYTES: usize = 4096;

/// Queues smaller than this do not stage: a stage per thread would be a
/// large part of them.
pub(crate) const MIN_QUEUE_FOR_STAGES: usize = 16 * STAGE_BYTES;

/// After finding the shared lock taken, a thread stages this many pushes
/// before it tries the shared lock again.
pub(crate) const STICKY_PUSHES: u32 = 64;

/// What a thread knows of its stage in the queue it pushed to last. The
/// caller keeps it per thread (the layer, in its thread-local buffers); a
/// fresh one is always safe, it only costs a look at the stage.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct StageHint {
    /// The queue it is about (its address); 0: none.
    pub(crate) queue: usize,
    /// The thread's stage there may hold lines (false: it is empty).
    pub(crate) staged: bool,
    /// Pushes left to stage before trying the shared lock again.
    pub(crate) sticky: u32,
}

impl StageHint {
    /// A hint that stages every push (tests).
    #[cfg(test)]
    pub(crate) fn always() -> Self {
        StageHint {
            queue: 0,
            staged: true,
            sticky: u32::MAX,
        }
    }
}

/// Every thread's stage of one queue.
#[derive(Debug, Default)]
pub(crate) struct Stages {
    cells: ThreadLocal<Mutex<Batch>>,
    /// A stage's size; 0: lines go straight to the shared queue.
    bytes: usize,
}

impl Stages {
    /// Stages of `bytes` each (0: none).
    pub(crate) fn new(bytes: usize) -> Self {
        Stages {
            cells: ThreadLocal::new(),
            bytes,
        }
    }

    pub(crate) fn enabled(&self) -> bool {
        self.bytes > 0
    }

    /// Whether `stage` has room for a line of `len` bytes.
    pub(crate) fn fits(&self, stage: &Batch, len: usize) -> bool {
        stage.buf.len() + len <= self.bytes
    }

    /// This thread's stage, locked.
    pub(crate) fn mine(&self) -> MutexGuard<'_, Batch> {
        lock(self.cells.get_or(Mutex::default))
    }

    /// Runs `f` on every thread's stage, each locked in turn.
    pub(crate) fn each(&self, mut f: impl FnMut(&mut Batch)) {
        for cell in self.cells.iter() {
            f(&mut lock(cell));
        }
    }
}

fn lock(cell: &Mutex<Batch>) -> MutexGuard<'_, Batch> {
    // A panic while holding it leaves complete lines: keep going.
    cell.lock().unwrap_or_else(PoisonError::into_inner)
}

// === impl Queue: staging ===

impl Queue {
    /// Pushes through this thread's stage: stages the line, or sends it to
    /// the shared buffer after what the stage held (or alone, once the
    /// stage is empty and the thread has staged long enough).
    #[inline(never)]
    pub(super) fn push_staged(
        &self,
        day: i64,
        line: &[u8],
        hint: &mut StageHint,
        marker: impl FnOnce(u64) -> Vec<u8>,
    ) -> Pushed {
        hint.queue = self as *const Queue as usize;
        hint.sticky = hint.sticky.saturating_sub(1);
        let mut stage = self.stages.mine();
        if stage.buf.is_empty() && hint.sticky == 0 {
            // Nothing staged: this line may go first.
            drop(stage);
            hint.staged = false;
            return self.push_direct(self.lock(), day, line, marker);
        }
        let pushed = self.stage(&mut stage, day, line);
        hint.staged = !stage.buf.is_empty();
        if let Some(pushed) = pushed {
            return pushed;
        }
        // No room: let the stage go before waiting (the writer takes
        // stages, and must not wait for this one).
        let staged = std::mem::take(&mut *stage);
        drop(stage);
        hint.staged = false;
        let lines = Lines {
            staged: Some(&staged),
            day,
            line,
        };
        self.push_waiting(self.lock(), lines, marker)
    }

    /// Stages the line, or moves the stage's lines and then this one to
    /// the shared buffer if it is full and there is room; `None`: no room.
    fn stage(&self, stage: &mut Batch, day: i64, line: &[u8]) -> Option<Pushed> {
        if self.stages.fits(stage, line.len()) {
            let first = stage.buf.is_empty();
            stage.push(day, line);
            if first && !self.register() {
                stage.clear();
                return Some(Pushed::Closed { lines: 1 });
            }
            return Some(QUEUED);
        }
        let mut st = self.lock();
        let lines = Lines {
            staged: Some(stage),
            day,
            line,
        };
        if st.closed || !self.make_room(&mut st, lines.bytes()) {
            return None;
        }
        self.accept(&mut st, &lines);
        drop(st);
        stage.clear();
        Some(QUEUED)
    }

    /// A stage got its first line: the writer must look at the stages
    /// (woken now if it waits for any line). False once the queue is closed.
    fn register(&self) -> bool {
        let mut st = self.lock();
        if st.closed {
            return false;
        }
        st.registered += 1;
        if st.writer_idle {
            st.writer_wants = None;
            self.has_lines.notify_one();
        }
        true
    }

    /// Whether some stage may hold lines.
    #[inline]
    pub(super) fn staged(st: &State) -> bool {
        st.registered > st.drained
    }

    /// Moves every stage's lines to the shared buffer (counted accepted).
    #[inline(never)]
    pub(super) fn drain_stages<'a>(&'a self, st: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        if !Self::staged(&st) {
            return st;
        }
        let from = st.registered;
        drop(st);
        self.stages.each(|stage| {
            if stage.buf.is_empty() {
                return;
            }
            let mut st = self.lock();
            st.accepted += stage.lines();
            st.pending.append(stage);
            drop(st);
            stage.clear();
        });
        let mut st = self.lock();
        st.drained = st.drained.max(from);
        st
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use crate::sink::batch::Batch;
    use crate::sink::queue::{Pushed, Queue, Taken};

    use super::{MIN_QUEUE_FOR_STAGES, StageHint};

    const QUEUED: Pushed = Pushed::Queued {
        after_drops: 0,
        waited: false,
    };

    fn no_marker(_: u64) -> Vec<u8> {
        unreachable!("no drops in this test")
    }

    fn no_drops(_: u64) -> (i64, Vec<u8>) {
        unreachable!("no drops in this test")
    }

    /// Pushes through this thread's stage, whatever the shared lock.
    fn stage(q: &Queue, day: i64, line: &[u8]) -> Pushed {
        q.push_with(day, line, &mut StageHint::always(), no_marker)
    }

    fn queue() -> Queue {
        Queue::new(MIN_QUEUE_FOR_STAGES, MIN_QUEUE_FOR_STAGES, false)
    }

    fn line(tag: u8, len: usize) -> Vec<u8> {
        let mut l = vec![tag; len - 1];
        l.push(b'\n');
        l
    }

    #[test]
    fn staged_lines_reach_the_writer_in_order_without_a_flush() {
        let q = queue();
        for l in [b"a\n", b"b\n", b"c\n"] {
            assert_eq!(stage(&q, 1, l), QUEUED);
        }
        assert_eq!(q.pending_lines(), 0, "staged, not yet shared");
        let mut batch = Batch::default();
        assert_eq!(q.take(&mut batch, Duration::ZERO, no_drops), Taken::Lines);
        assert_eq!(batch.buf, b"a\nb\nc\n");
        assert_eq!(q.accepted(), 3);
        assert_eq!(q.take(&mut batch, Duration::ZERO, no_drops), Taken::Idle);
    }

    #[test]
    fn a_full_stage_moves_to_the_shared_buffer_with_the_line_that_filled_it() {
        let q = queue();
        for tag in b"abcd" {
            assert_eq!(stage(&q, 1, &line(*tag, 1000)), QUEUED);
        }
        assert_eq!(q.pending_lines(), 0);
        assert_eq!(stage(&q, 2, &line(b'e', 1000)), QUEUED);
        assert_eq!(q.pending_lines(), 5);
        let mut batch = Batch::default();
        q.take(&mut batch, Duration::ZERO, no_drops);
        let runs: Vec<_> = batch
            .slices()
            .map(|(r, b)| (r.day, r.lines, b.len()))
            .collect();
        assert_eq!(runs, [(1, 4, 4000), (2, 1, 1000)]);
    }

    #[test]
    fn lines_of_many_threads_all_arrive_each_thread_in_order() {
        // As the layer pushes (staging once the shared lock is found
        // taken), and staging every line.
        many_threads_in_order(StageHint::default());
        many_threads_in_order(StageHint::always());
    }

    fn many_threads_in_order(hint: StageHint) {
        const THREADS: usize = 4;
        const LINES: usize = 20_000;
        let q = Arc::new(queue());
        let writer = std::thread::spawn({
            let q = q.clone();
            move || {
                let (mut batch, mut got) = (Batch::default(), Vec::new());
                while q.take(&mut batch, Duration::from_secs(5), no_drops) != Taken::Closed {
                    let text = String::from_utf8(batch.buf.clone()).expect("utf-8");
                    got.extend(text.lines().map(str::to_owned));
                    q.finished(batch.lines());
                }
                got
            }
        });
        let producers: Vec<_> = (0..THREADS)
            .map(|t| {
                let q = q.clone();
                std::thread::spawn(move || {
                    let mut hint = hint;
                    for i in 0..LINES {
                        let l = format!("{t} {i:05} {}\n", "x".repeat(i % 300));
                        let pushed = q.push_with(1, l.as_bytes(), &mut hint, no_marker);
                        assert!(matches!(pushed, Pushed::Queued { after_drops: 0, .. }));
                    }
                })
            })
            .collect();
        producers.into_iter().for_each(|p| p.join().unwrap());
        let target = q.accepted();
        assert_eq!(target, (THREADS * LINES) as u64);
        assert_eq!(q.wait_finished(target, Duration::from_secs(60)), 0);
        q.close();
        let got = writer.join().unwrap();
        assert_eq!(got.len(), THREADS * LINES);
        for t in 0..THREADS {
            let mine: Vec<usize> = (got.iter())
                .filter_map(|l| l.strip_prefix(&format!("{t} ")))
                .map(|rest| rest[..5].parse().expect("line number"))
                .collect();
            assert_eq!(mine, (0..LINES).collect::<Vec<_>>(), "thread {t}");
        }
    }

    #[test]
    fn closing_while_threads_push_leaves_every_line_written_or_counted_dropped() {
        for round in 0..20u64 {
            let q = Arc::new(queue());
            let writer = std::thread::spawn({
                let q = q.clone();
                move || {
                    let (mut batch, mut written) = (Batch::default(), 0);
                    while q.take(&mut batch, Duration::from_secs(5), no_drops) != Taken::Closed {
                        written += batch.lines();
                        q.finished(batch.lines());
                    }
                    written
                }
            });
            let producers: Vec<_> = (0..4)
                .map(|t| {
                    let q = q.clone();
                    std::thread::spawn(move || {
                        let mut hint = if t % 2 == 0 {
                            StageHint::default()
                        } else {
                            StageHint::always()
                        };
                        let mut dropped = 0;
                        for i in 0..20_000 {
                            let l = format!("{t} {i}\n");
                            match q.push_with(1, l.as_bytes(), &mut hint, no_marker) {
                                Pushed::Queued { .. } => {}
                                Pushed::Closed { lines } => dropped += lines,
                                other => panic!("{other:?}"),
                            }
                        }
                        dropped
                    })
                })
                .collect();
            std::thread::sleep(Duration::from_micros(200 * round));
            q.close();
            let target = q.accepted();
            assert_eq!(q.wait_finished(target, Duration::from_secs(30)), 0);
            let dropped: u64 = producers.into_iter().map(|p| p.join().unwrap()).sum();
            let written = writer.join().unwrap();
            assert_eq!(written + dropped, 80_000, "round {round}");
            assert_eq!(written, q.accepted(), "round {round}");
        }
    }

    #[test]
    fn a_thread_stages_only_for_a_while_after_finding_the_shared_lock_taken() {
        let q = queue();
        let me = &q as *const Queue as usize;
        let mut hint = StageHint {
            queue: me,
            staged: false,
            sticky: 0,
        };
        q.push_with(1, b"a\n", &mut hint, no_marker);
        assert_eq!(q.pending_lines(), 1, "alone: straight to the shared buffer");
        // As after finding the shared lock taken: the next pushes stage.
        hint.sticky = 3;
        q.push_with(1, b"b\n", &mut hint, no_marker);
        q.push_with(1, b"c\n", &mut hint, no_marker);
        assert_eq!((q.pending_lines(), hint.staged, hint.sticky), (1, true, 1));
        // The stage holds lines: the next line stages too, after them.
        q.push_with(1, b"d\n", &mut hint, no_marker);
        assert_eq!((q.pending_lines(), hint.sticky), (1, 0));
        let mut batch = Batch::default();
        q.take(&mut batch, Duration::ZERO, no_drops);
        assert_eq!(batch.buf, b"a\nb\nc\nd\n");
        // The writer took the stage: straight to the shared buffer again.
        q.push_with(1, b"e\n", &mut hint, no_marker);
        assert_eq!((q.pending_lines(), hint.staged), (1, false));
    }

    #[test]
    fn a_line_sent_straight_comes_after_what_other_threads_had_staged() {
        // A thread stages a line and ends; a line the joining thread logs
        // afterwards (straight to the shared buffer) is written after it.
        let q = Arc::new(queue());
        let staged = std::thread::spawn({
            let q = q.clone();
            move || stage(&q, 1, b"before\n")
        });
        assert_eq!(staged.join().unwrap(), QUEUED);
        assert_eq!(q.push(1, b"after\n", no_marker), QUEUED);
        let mut batch = Batch::default();
        q.take(&mut batch, Duration::ZERO, no_drops);
        assert_eq!(batch.buf, b"before\nafter\n");
    }

    #[test]
    fn a_first_staged_line_wakes_an_idle_writer_but_not_a_lingering_one() {
        let q = queue();
        q.set_writer_waiting(true);
        stage(&q, 1, b"a\n");
        assert!(q.writer_was_woken(), "idle: woken by the first line");
        let mut batch = Batch::default();
        q.take(&mut batch, Duration::ZERO, no_drops);
        q.set_writer_waiting(false);
        stage(&q, 1, b"b\n");
        assert!(
            !q.writer_was_woken(),
            "lingering: takes the stages when done"
        );
    }

    #[test]
    fn the_writer_takes_staged_lines_before_it_stops() {
        let q = queue();
        stage(&q, 1, b"a\n");
        q.close();
        assert_eq!(
            stage(&q, 1, b"b\n"),
            QUEUED,
            "a stage holding lines takes more"
        );
        let mut batch = Batch::default();
        assert_eq!(q.take(&mut batch, Duration::ZERO, no_drops), Taken::Lines);
        assert_eq!(batch.buf, b"a\nb\n");
        // Its stage empty, the thread is refused like any other.
        assert_eq!(stage(&q, 1, b"c\n"), Pushed::Closed { lines: 1 });
        assert_eq!(q.take(&mut batch, Duration::ZERO, no_drops), Taken::Closed);
        assert_eq!(q.accepted(), 2);
    }

    #[test]
    fn a_failing_queue_drops_a_full_stage_counting_each_of_its_lines() {
        let q = queue();
        // 16 lines of 4,000 bytes fill the 64 KiB shared buffer (each pair moves at once).
        for tag in 0..16u8 {
            assert_eq!(stage(&q, 1, &line(b'a' + tag, 4000)), QUEUED);
        }
        assert_eq!(q.pending_lines(), 16);
        q.set_failing(true);
        assert_eq!(stage(&q, 1, &line(b'x', 4000)), QUEUED, "staged");
        assert_eq!(
            stage(&q, 1, &line(b'y', 4000)),
            Pushed::Failing { lines: 2 }
        );
        assert_eq!(q.accepted(), 16);
    }

    #[test]
    fn abandoning_gives_up_staged_lines_too() {
        let q = queue();
        stage(&q, 1, b"a\n");
        stage(&q, 1, b"b\n");
        assert_eq!(q.abandon(), 2);
        assert_eq!(q.wait_finished(2, Duration::ZERO), 0);
    }

    #[test]
    fn lossy_and_small_queues_do_not_stage() {
        for q in [
            Queue::new(MIN_QUEUE_FOR_STAGES, MIN_QUEUE_FOR_STAGES, true),
            Queue::new(MIN_QUEUE_FOR_STAGES - 1, MIN_QUEUE_FOR_STAGES, false),
        ] {
            stage(&q, 1, b"a\n");
            assert_eq!(q.pending_lines(), 1);
        }
    }

    #[test]
    fn appended_batches_keep_their_days_in_order() {
        let (mut a, mut b) = (Batch::default(), Batch::default());
        a.push(1, b"a\n");
        b.push(1, b"b\n");
        b.push(2, b"c\n");
        a.append(&b);
        a.append(&Batch::default());
        let runs: Vec<_> = a
            .slices()
            .map(|(r, bytes)| (r.day, r.lines, bytes.to_vec()))
            .collect();
        assert_eq!(runs, [(1, 2, b"a\nb\n".to_vec()), (2, 1, b"c\n".to_vec())]);
    }
}
