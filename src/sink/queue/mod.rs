//! The bounded, byte-sized hand-off between callers and the writer thread.
//!
//! Callers append complete lines to one shared buffer under a short lock;
//! the writer swaps the whole buffer out and writes it in one call per day
//! file. The lock is held only for a `memcpy`; nobody is woken unless they
//! are actually waiting (a futex wake costs more than the copy).
//!
//! The queue holds `base` bytes, and grows by `base` at a time up to `max`
//! while the writer is still asleep although lines wait for it: it has been
//! woken but has no CPU yet (a busy machine), and a caller waiting for it
//! would wait on the scheduler, not on the disk. While the writer is
//! awake (writing, or about to take the next batch), a full queue makes
//! callers wait (lossless) or drop (lossy) as before, so a slow disk still
//! pushes back and a burst to disk neither grows memory nor makes batches
//! larger than the caches like. Each batch the
//! writer takes puts the limit back to `base`, and after a small batch the
//! writer gives large buffers back ([`Batch::recycle`]).
//!
//! In front of the shared buffer, each thread stages its lines (lossless
//! queues of at least [`MIN_QUEUE_FOR_STAGES`]): see [`stage`].
//! Staged lines count as accepted once they reach the shared buffer; the
//! writer and [`Queue::accepted`] move them there.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError, TryLockError};
use std::time::{Duration, Instant};

pub(crate) use crate::sink::batch::{Batch, Run};
use crate::sink::pace::Pace;
pub(crate) use stage::StageHint;
use stage::{MIN_QUEUE_FOR_STAGES, STAGE_BYTES, STICKY_PUSHES, Stages};

mod stage;

/// The writer lingers for a batch of a quarter of the queue's capacity
/// (sleeping until the arrival rate says it is there; callers wake it at
/// half), for at most this long after the first line arrives. A quarter,
/// not more: while the writer writes one batch, callers have the rest of
/// the queue to fill before they wait.
pub(crate) const LINGER: Duration = Duration::from_millis(5);

/// What happened to a pushed line. A line that fills its thread's stage
/// goes to the shared queue with the lines staged before it: when they are
/// dropped, `lines` counts them all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pushed {
    /// Queued (or staged); `after_drops` lines had been dropped before it
    /// (lossy mode); `waited`: the caller waited for room (lossless mode).
    Queued { after_drops: u64, waited: bool },
    /// Dropped: the queue was full (lossy mode).
    Full { lines: u64 },
    /// Dropped without waiting: the queue was full and the writer has given
    /// up lines after write errors, with no write succeeding since (the
    /// circuit breaker of lossless mode).
    Failing { lines: u64 },
    /// Dropped: the writer has shut down.
    Closed { lines: u64 },
}

/// A line queued without waiting or drops before it.
const QUEUED: Pushed = Pushed::Queued {
    after_drops: 0,
    waited: false,
};

/// Lines going to the shared buffer at once: what a thread had staged
/// (maybe nothing), then one more line.
struct Lines<'a> {
    staged: Option<&'a Batch>,
    day: i64,
    line: &'a [u8],
}

impl Lines<'_> {
    fn bytes(&self) -> usize {
        self.staged.map_or(0, |b| b.buf.len()) + self.line.len()
    }

    fn count(&self) -> u64 {
        self.staged.map_or(0, Batch::lines) + 1
    }
}

/// What the writer got from [`Queue::take`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Taken {
    Lines,
    Idle,
    Closed,
}

#[derive(Debug, Default)]
struct State {
    pending: Batch,
    /// Bytes the queue holds now: `base`, or more while the writer lags for
    /// want of a CPU (see the module docs).
    room: usize,
    /// Lines ever accepted, and lines the writer has finished with.
    accepted: u64,
    finished: u64,
    dropped_since_marker: u64,
    /// The writer sleeps until this many bytes are pending (0: any line).
    writer_wants: Option<usize>,
    /// The writer is in its wait (until it runs again, even once woken).
    writer_asleep: bool,
    /// The writer waits for any line (not lingering for a batch).
    writer_idle: bool,
    /// Stages that got a first line (counted), and the count the last
    /// complete move of all stages started from: while `registered`
    /// exceeds `drained`, some stage may hold lines.
    registered: u64,
    drained: u64,
    callers_waiting: usize,
    flushers_waiting: usize,
    /// The writer gave up a batch and no write has succeeded since: callers
    /// do not wait for room for lines that cannot be written.
    failing: bool,
    closed: bool,
    /// Shutdown gave up waiting: the writer stops after its current write.
    abandoned: bool,
    /// How fast lines arrived, for the writer's linger.
    pace: Pace,
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct Queue {
    state: Mutex<State>,
    /// Writer waits for lines; callers wait for room; flushers for progress.
    has_lines: Condvar,
    has_room: Condvar,
    progress: Condvar,
    base: usize,
    max: usize,
    lossy: bool,
    stages: Stages,
}

impl Queue {
    /// A queue of `base` bytes that may grow to `max` (see the module docs).
    pub(crate) fn new(base: usize, max: usize, lossy: bool) -> Self {
        Queue {
            state: Mutex::new(State {
                room: base,
                ..State::default()
            }),
            has_lines: Condvar::new(),
            has_room: Condvar::new(),
            progress: Condvar::new(),
            base,
            max: max.max(base),
            lossy,
            stages: Stages::new(if lossy || base < MIN_QUEUE_FOR_STAGES {
                0
            } else {
                STAGE_BYTES
            }),
        }
    }

    /// The size the queue returns to.
    pub(crate) fn base(&self) -> usize {
        self.base
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent data: keep going.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues one complete line for `day`; waits for room unless lossy.
    #[cfg(test)]
    pub(crate) fn push(
        &self,
        day: i64,
        line: &[u8],
        marker: impl FnOnce(u64) -> Vec<u8>,
    ) -> Pushed {
        self.push_with(day, line, &mut StageHint::default(), marker)
    }

    /// Queues one complete line for `day`; waits for room unless lossy.
    /// With stages (see [`stage`]), a thread that finds the
    /// shared lock taken stages its next lines; `hint` is what the thread
    /// knows of its stage.
    pub(crate) fn push_with(
        &self,
        day: i64,
        line: &[u8],
        hint: &mut StageHint,
        marker: impl FnOnce(u64) -> Vec<u8>,
    ) -> Pushed {
        match self.shared_now(hint) {
            Some(st) => self.push_direct(st, day, line, marker),
            None => self.push_staged(day, line, hint, marker),
        }
    }

    /// Sends one line straight to the shared buffer, after whatever other
    /// threads had staged before it. Inlined: it is the hot path of
    /// `push_with` (a call here cost ~30 instructions per line).
    #[inline(always)]
    fn push_direct(
        &self,
        st: MutexGuard<'_, State>,
        day: i64,
        line: &[u8],
        marker: impl FnOnce(u64) -> Vec<u8>,
    ) -> Pushed {
        let mut st = if Self::staged(&st) {
            self.drain_stages(st)
        } else {
            st
        };
        let lines = Lines {
            staged: None,
            day,
            line,
        };
        // The common case inline: room, and no drops to mark first.
        if !st.closed && st.dropped_since_marker == 0 && self.make_room(&mut st, line.len()) {
            self.accept(&mut st, &lines);
            return QUEUED;
        }
        self.push_waiting(st, lines, marker)
    }

    /// The shared buffer's lock, if the line goes there at once: no
    /// stages, or nothing staged and the lock free. A taken lock makes the
    /// thread stage its next [`STICKY_PUSHES`] lines.
    #[inline]
    fn shared_now(&self, hint: &mut StageHint) -> Option<MutexGuard<'_, State>> {
        if !self.stages.enabled() {
            return Some(self.lock());
        }
        if hint.queue != self as *const Queue as usize || hint.staged || hint.sticky > 0 {
            return None;
        }
        match self.state.try_lock() {
            Ok(st) => Some(st),
            Err(TryLockError::Poisoned(st)) => Some(st.into_inner()),
            Err(TryLockError::WouldBlock) => {
                hint.sticky = STICKY_PUSHES;
                None
            }
        }
    }

    /// Puts `lines` in the shared buffer, waiting for room unless lossy.
    #[inline(never)]
    fn push_waiting(
        &self,
        mut st: MutexGuard<'_, State>,
        lines: Lines<'_>,
        marker: impl FnOnce(u64) -> Vec<u8>,
    ) -> Pushed {
        let mut waited = false;
        while !st.closed && !self.make_room(&mut st, lines.bytes()) {
            if self.lossy {
                st.dropped_since_marker += lines.count();
                return Pushed::Full {
                    lines: lines.count(),
                };
            }
            if st.failing {
                return Pushed::Failing {
                    lines: lines.count(),
                };
            }
            st.callers_waiting += 1;
            waited = true;
            if st.writer_wants.is_some() {
                self.has_lines.notify_one();
            }
            st = self
                .has_room
                .wait(st)
                .unwrap_or_else(PoisonError::into_inner);
            st.callers_waiting -= 1;
        }
        if st.closed {
            return Pushed::Closed {
                lines: lines.count(),
            };
        }
        let after_drops = std::mem::take(&mut st.dropped_since_marker);
        if after_drops > 0 {
            st.pending.push(lines.day, &marker(after_drops));
            st.accepted += 1;
        }
        self.accept(&mut st, &lines);
        Pushed::Queued {
            after_drops,
            waited,
        }
    }

    /// Whether `len` more bytes fit, growing the queue by its base while
    /// the writer sleeps (see the module docs).
    #[inline]
    fn make_room(&self, st: &mut State, len: usize) -> bool {
        while !Self::has_room_for(st, len) {
            if st.room >= self.max || !st.writer_asleep {
                return false;
            }
            st.room = (st.room + self.base).min(self.max);
        }
        true
    }

    /// Appends `lines` to the shared buffer; wakes the writer if it waits
    /// for that many bytes.
    #[inline]
    fn accept(&self, st: &mut State, lines: &Lines<'_>) {
        if let Some(staged) = lines.staged {
            st.pending.append(staged);
        }
        st.pending.push(lines.day, lines.line);
        st.accepted += lines.count();
        if st
            .writer_wants
            .is_some_and(|want| st.pending.buf.len() >= want)
        {
            st.writer_wants = None;
            self.has_lines.notify_one();
        }
    }

    fn has_room_for(st: &State, len: usize) -> bool {
        // An empty queue takes any single line, so no line is too big to ever fit.
        st.pending.buf.is_empty() || st.pending.buf.len() + len <= st.room
    }

    /// Swaps the pending lines into `batch` (cleared first), waiting up to
    /// `wait` for some to arrive, then lingering up to [`LINGER`] for a batch
    /// of a quarter of the base size (see [`linger`](Self::linger)), so that
    /// a busy queue is taken in large pieces.
    ///
    /// Lines dropped since the last accepted one (lossy mode) get their
    /// marker here, at the end of the batch: `marker(n)` gives its day and
    /// bytes. So every drop is marked once the queue drains, and at shutdown
    /// (the writer takes until the queue is closed and empty).
    pub(crate) fn take(
        &self,
        batch: &mut Batch,
        wait: Duration,
        marker: impl FnOnce(u64) -> (i64, Vec<u8>),
    ) -> Taken {
        batch.clear();
        let mut st = self.lock();
        st = self.wait_for(st, 1, Instant::now() + wait);
        if st.pending.runs.is_empty() && !Self::staged(&st) {
            return Self::nothing(&st);
        }
        st = self.linger(st);
        st = self.drain_stages(st);
        if st.pending.runs.is_empty() {
            return Self::nothing(&st);
        }
        let drops = std::mem::take(&mut st.dropped_since_marker);
        if drops > 0 {
            let (day, line) = marker(drops);
            st.pending.push(day, &line);
            st.accepted += 1;
        }
        std::mem::swap(&mut st.pending, batch);
        st.pace.took(batch.buf.len());
        // Back to the base size: it grows again only if the writer lags again.
        st.room = self.base;
        if st.callers_waiting > 0 {
            self.has_room.notify_all();
        }
        Taken::Lines
    }

    /// What the writer got when there are no lines.
    fn nothing(st: &State) -> Taken {
        if st.closed && !Self::staged(st) {
            Taken::Closed
        } else {
            Taken::Idle
        }
    }

    /// Waits, up to [`LINGER`], for a quarter of the base size to be
    /// pending. The writer sleeps until the time the arrival rate says that
    /// will be, and callers wake it only at half the base size: waking a
    /// thread costs the caller a system call (tens of nanoseconds a line at
    /// a million lines a second), a timer costs it nothing.
    fn linger<'a>(&self, mut st: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        let (quarter, half) = ((self.base / 4).max(1), (self.base / 2).max(1));
        let (start, at_start) = (Instant::now(), st.pending.buf.len());
        let until = start + LINGER;
        let mut slept = false;
        while st.pending.buf.len() < quarter && !Self::urgent(&st) {
            let now = Instant::now();
            if now >= until {
                break;
            }
            let pending = st.pending.buf.len();
            let since = slept.then(|| (pending - at_start, now - start));
            let next = st.pace.time_for(quarter - pending, since);
            st = self.sleep(st, half, until.min(now + next), false);
            slept = true;
        }
        st
    }

    /// Queued lines must go now: shutting down, or someone waits for them.
    fn urgent(st: &State) -> bool {
        st.closed
            || (!st.pending.buf.is_empty() && (st.flushers_waiting > 0 || st.callers_waiting > 0))
    }

    /// Waits until `bytes` are pending, the queue closes, someone flushes or
    /// waits for room, or `deadline` passes.
    fn wait_for<'a>(
        &self,
        mut st: MutexGuard<'a, State>,
        bytes: usize,
        deadline: Instant,
    ) -> MutexGuard<'a, State> {
        while st.pending.buf.len() < bytes && !Self::urgent(&st) && !Self::staged(&st) {
            if Instant::now() >= deadline {
                break;
            }
            st = self.sleep(st, bytes, deadline, true);
        }
        st
    }

    /// One sleep of the writer, until `deadline` or until a caller wakes
    /// it, which callers do once `wake_at` bytes are pending (or they
    /// wait for room), and a first staged line does if `idle`.
    fn sleep<'a>(
        &self,
        mut st: MutexGuard<'a, State>,
        wake_at: usize,
        deadline: Instant,
        idle: bool,
    ) -> MutexGuard<'a, State> {
        let left = deadline.saturating_duration_since(Instant::now());
        st.writer_wants = Some(wake_at);
        st.writer_asleep = true;
        st.writer_idle = idle;
        st = self
            .has_lines
            .wait_timeout(st, left)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
        st.writer_wants = None;
        st.writer_asleep = false;
        st.writer_idle = false;
        st
    }

    /// The writer is done with `lines` lines (written or given up).
    pub(crate) fn finished(&self, lines: u64) {
        let mut st = self.lock();
        st.finished += lines;
        if st.flushers_waiting > 0 {
            self.progress.notify_all();
        }
    }

    /// Lines accepted so far, after moving what every thread had staged
    /// to the shared buffer: every line pushed before this call counts.
    pub(crate) fn accepted(&self) -> u64 {
        self.drain_stages(self.lock()).accepted
    }

    /// Waits until the writer has finished `target` lines; returns how many
    /// are still outstanding when `timeout` runs out (0 on success).
    pub(crate) fn wait_finished(&self, target: u64, timeout: Duration) -> u64 {
        let deadline = Instant::now() + timeout;
        let mut st = self.lock();
        st.flushers_waiting += 1;
        self.has_lines.notify_one();
        while st.finished < target {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            st = self
                .progress
                .wait_timeout(st, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        st.flushers_waiting -= 1;
        target.saturating_sub(st.finished)
    }

    /// Stops accepting lines; the writer drains what is queued, then exits.
    pub(crate) fn close(&self) {
        let mut st = self.lock();
        st.closed = true;
        self.has_lines.notify_all();
        self.has_room.notify_all();
    }

    /// Closes the queue and gives up its pending lines (counted as
    /// finished); the writer skips what is left of its batch. Returns the
    /// number of pending lines given up.
    pub(crate) fn abandon(&self) -> u64 {
        let mut st = self.lock();
        st.closed = true;
        st = self.drain_stages(st);
        st.abandoned = true;
        let given_up = st.pending.lines();
        st.pending.clear();
        st.finished += given_up;
        self.has_lines.notify_all();
        self.has_room.notify_all();
        self.progress.notify_all();
        given_up
    }

    /// The writer gave up a batch (`true`) or a write succeeded (`false`):
    /// see [`Pushed::Failing`]. Waiting callers are let go at once.
    pub(crate) fn set_failing(&self, failing: bool) {
        let mut st = self.lock();
        st.failing = failing;
        if failing && st.callers_waiting > 0 {
            self.has_room.notify_all();
        }
    }

    /// Whether [`abandon`](Self::abandon) was called.
    pub(crate) fn is_abandoned(&self) -> bool {
        self.lock().abandoned
    }
}

#[cfg(test)]
impl Queue {
    /// Lines in the shared buffer (not counting stages).
    pub(crate) fn pending_lines(&self) -> u64 {
        self.lock().pending.lines()
    }

    /// Puts the writer in its wait: for any line (`idle`), or lingering
    /// for half the queue.
    pub(crate) fn set_writer_waiting(&self, idle: bool) {
        let mut st = self.lock();
        st.writer_wants = Some(if idle { 1 } else { self.base / 2 });
        st.writer_idle = idle;
    }

    /// Whether a caller woke the writer from that wait.
    pub(crate) fn writer_was_woken(&self) -> bool {
        self.lock().writer_wants.is_none()
    }
}

#[cfg(test)]
mod tests;
