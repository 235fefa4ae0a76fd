//! Accepting and answering connections without letting slow peers starve
//! scrapes. Three kinds of threads:
//!
//! - the **acceptor** refuses peers outside the allowed addresses at once
//!   (`403`, before they cost anything else) and hands the rest over;
//! - one **poller** owns every connection on a non-blocking socket: it
//!   caps connections (in all and per peer address: `503` beyond), reads
//!   heads against a deadline from accept, writes replies against a reply
//!   deadline, and lingers after closing its side so that peers read the
//!   answer instead of a reset. It polls each socket with a backoff that
//!   grows with the socket's age, so a fresh scrape is read within about
//!   0.1 ms while hundreds of slow peers cost a few syscalls each per 10 ms;
//! - **workers** only render: a connection reaches them with a complete
//!   `GET /metrics` and leaves with its reply, never waiting on a peer.
//!
//! No worker ever waits on a socket, and no connection lives longer than the
//! head deadline + render + the reply deadline + the linger.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use crate::exporter::Shared;
use crate::exporter::http::{self, MAX_HEAD, Route};
use crate::exporter::outcome::Outcome;

/// Shortest and longest wait between two polls of one socket.
const MIN_BACKOFF: Duration = Duration::from_micros(25);
const MAX_BACKOFF: Duration = Duration::from_millis(10);

/// What reaches the poller.
#[derive(Debug)]
pub(crate) enum Inbox {
    /// A newly accepted connection from an allowed peer.
    New(TcpStream, IpAddr),
    /// A refused connection, already answered: only to linger.
    Refused(TcpStream),
    /// A connection back from a worker, with its reply.
    Rendered(Conn),
    /// The exporter is dropped.
    Stop,
}

/// One connection and where it is in its life.
#[derive(Debug)]
pub(crate) struct Conn {
    stream: TcpStream,
    peer: IpAddr,
    /// Whether it holds one of the capped slots (refused ones do not).
    slot: bool,
    state: State,
    outcome: Outcome,
    /// When the current state ends, and when it began.
    deadline: Instant,
    since: Instant,
    next_poll: Instant,
}

#[derive(Debug)]
enum State {
    Head { buf: Vec<u8> },
    Render { head_only: bool, openmetrics: bool },
    Write { out: Vec<u8>, at: usize },
    Linger,
}

/// What the poller does with a connection after a step.
enum Next {
    Keep,
    Close,
    Render,
}

// === acceptor ===

/// Accepts until the exporter stops: refuses peers outside the allowed
/// addresses, hands the others to the poller.
pub(crate) fn accept_loop(listener: &TcpListener, shared: &Shared, inbox: &Sender<Inbox>) {
    for conn in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            let _ = inbox.send(Inbox::Stop);
            return;
        }
        let Ok(stream) = conn else {
            // Out of file descriptors and the like: back off instead of spinning.
            thread::sleep(Duration::from_millis(10));
            continue;
        };
        let Ok(peer) = stream.peer_addr().map(|a| a.ip()) else {
            continue;
        };
        if stream.set_nonblocking(true).is_err() {
            continue;
        }
        let msg = if shared.peer_allowed(peer) {
            Inbox::New(stream, peer)
        } else {
            shared.counters.count(Outcome::RefusedPeer);
            Inbox::Refused(answer_at_once(stream, 403))
        };
        if inbox.send(msg).is_err() {
            return;
        }
    }
}

/// Writes a short error without waiting and closes our side: the peer
/// reads the answer, and lingering keeps unread input from turning the
/// close into a reset.
fn answer_at_once(mut stream: TcpStream, status: u16) -> TcpStream {
    let _ = stream.write(&http::error(status));
    let _ = stream.shutdown(Shutdown::Write);
    stream
}

// === workers ===

/// Renders the exposition for each connection the poller sends, tries to
/// write it at once, and hands the connection back.
pub(crate) fn render_loop(shared: &Shared, work: &Mutex<Receiver<Conn>>, inbox: &Sender<Inbox>) {
    loop {
        let next = work.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok(mut conn) = next else { return };
        if let State::Render {
            head_only,
            openmetrics,
        } = conn.state
        {
            let (content_type, body) = shared.respond_metrics(openmetrics);
            let out = http::typed_response(200, content_type, body.as_bytes(), head_only);
            conn.begin(State::Write { out, at: 0 }, shared.limits.reply);
            conn.write_now(shared);
        }
        if inbox.send(Inbox::Rendered(conn)).is_err() {
            return;
        }
    }
}

// === poller ===

/// The thread that owns every connection.
#[derive(Debug)]
pub(crate) struct Poller<'a> {
    shared: &'a Shared,
    inbox: Receiver<Inbox>,
    work: Sender<Conn>,
    conns: Vec<Conn>,
    /// Connections holding a slot, in all and per peer address.
    open: usize,
    per_peer: HashMap<IpAddr, usize>,
    /// Refused connections lingering.
    refused: usize,
}

impl<'a> Poller<'a> {
    pub(crate) fn new(shared: &'a Shared, inbox: Receiver<Inbox>, work: Sender<Conn>) -> Self {
        Poller {
            shared,
            inbox,
            work,
            conns: Vec::new(),
            open: 0,
            per_peer: HashMap::new(),
            refused: 0,
        }
    }

    pub(crate) fn run(mut self) {
        loop {
            let first = match self.next_wake() {
                None => self
                    .inbox
                    .recv()
                    .map_err(|_| RecvTimeoutError::Disconnected),
                Some(at) => self
                    .inbox
                    .recv_timeout(at.saturating_duration_since(Instant::now())),
            };
            let first = match first {
                Err(RecvTimeoutError::Disconnected) => return,
                other => other.ok(),
            };
            let more = std::iter::from_fn(|| self.inbox.try_recv().ok());
            let msgs: Vec<Inbox> = first.into_iter().chain(more).collect();
            for msg in msgs {
                if !self.receive(msg) {
                    return;
                }
            }
            self.poll_due();
        }
    }

    fn next_wake(&self) -> Option<Instant> {
        self.conns.iter().map(|c| c.next_poll).min()
    }

    /// Takes in a message; `false` to stop.
    fn receive(&mut self, msg: Inbox) -> bool {
        let now = Instant::now();
        match msg {
            Inbox::New(stream, peer) => self.admit(stream, peer, now),
            Inbox::Refused(stream) => self.linger_refused(stream, now),
            Inbox::Rendered(conn) => self.conns.push(conn),
            Inbox::Stop => return false,
        }
        true
    }

    fn admit(&mut self, stream: TcpStream, peer: IpAddr, now: Instant) {
        let limits = &self.shared.limits;
        let from_peer = self.per_peer.get(&peer).copied().unwrap_or(0);
        if self.open >= limits.max_connections || from_peer >= limits.max_per_peer() {
            self.shared.counters.count(Outcome::Overloaded);
            return self.linger_refused(answer_at_once(stream, 503), now);
        }
        self.open += 1;
        *self.per_peer.entry(peer).or_insert(0) += 1;
        let mut conn = Conn::new(stream, peer, true, now);
        conn.begin(State::Head { buf: Vec::new() }, limits.head);
        // Usually the head is already there: read it without waiting a poll.
        self.step_and_place(conn, now);
    }

    /// Lingers a refused connection, at most `max_connections` of them:
    /// past that, what it sent so far is read and it is closed at once (a
    /// reset only if more arrives), so refusals never take more than the
    /// file descriptors the capped slots have.
    fn linger_refused(&mut self, mut stream: TcpStream, now: Instant) {
        if self.refused >= self.shared.limits.max_connections {
            let _ = drain(&mut stream);
            return;
        }
        self.refused += 1;
        let mut conn = Conn::new(stream, IpAddr::from([0, 0, 0, 0]), false, now);
        conn.begin(State::Linger, self.shared.limits.linger);
        self.conns.push(conn);
    }

    fn poll_due(&mut self) {
        let mut i = 0;
        while i < self.conns.len() {
            let now = Instant::now();
            if self.conns[i].next_poll > now {
                i += 1;
                continue;
            }
            let conn = self.conns.swap_remove(i);
            if self.step_and_place(conn, now) {
                // Kept: it now sits at the end; what was there sits at `i`.
                let last = self.conns.len() - 1;
                self.conns.swap(i, last);
                i += 1;
            }
        }
    }

    /// Steps `conn` and keeps it (`true`), sends it to render, or closes it.
    fn step_and_place(&mut self, mut conn: Conn, now: Instant) -> bool {
        match conn.step(self.shared, now) {
            Next::Keep => {
                self.conns.push(conn);
                true
            }
            Next::Render => {
                if let Err(e) = self.work.send(conn) {
                    self.close(e.0);
                }
                false
            }
            Next::Close => {
                self.close(conn);
                false
            }
        }
    }

    fn close(&mut self, conn: Conn) {
        if !conn.slot {
            self.refused -= 1;
            return;
        }
        self.open -= 1;
        if let Some(n) = self.per_peer.get_mut(&conn.peer) {
            *n -= 1;
            if *n == 0 {
                self.per_peer.remove(&conn.peer);
            }
        }
    }
}

// === impl Conn ===

impl Conn {
    fn new(stream: TcpStream, peer: IpAddr, slot: bool, now: Instant) -> Self {
        Conn {
            stream,
            peer,
            slot,
            state: State::Linger,
            outcome: Outcome::Abandoned,
            deadline: now,
            since: now,
            next_poll: now,
        }
    }

    fn begin(&mut self, state: State, lasts: Duration) {
        let now = Instant::now();
        self.state = state;
        (self.since, self.deadline, self.next_poll) = (now, now + lasts, now);
    }

    /// Does whatever the socket allows now, without waiting.
    fn step(&mut self, shared: &Shared, now: Instant) -> Next {
        let next = match &mut self.state {
            State::Head { buf } => match read_head(&mut self.stream, buf) {
                Ok(Some(head_len)) => self.routed(shared, head_len),
                Ok(None) if now >= self.deadline => self.reply(shared, 408, Outcome::HeadTimeout),
                Ok(None) => Next::Keep,
                Err(0) => return self.ended(shared, Outcome::Abandoned),
                Err(status) => self.reply(shared, status, Outcome::BadRequest),
            },
            State::Render { .. } => Next::Render,
            State::Write { out, at } => match write_some(&mut self.stream, out, at) {
                Ok(true) => {
                    self.written(shared);
                    return self.step(shared, now);
                }
                Ok(false) if now < self.deadline => Next::Keep,
                _ => return self.ended(shared, Outcome::ReplyFailed),
            },
            State::Linger => match drain(&mut self.stream) {
                Ok(()) if now < self.deadline => Next::Keep,
                _ => Next::Close,
            },
        };
        if matches!(next, Next::Keep) {
            self.next_poll =
                next_poll(shared.epoch, now, now.saturating_duration_since(self.since));
        }
        next
    }

    /// A worker's first try at the reply, sparing a hand-over to the
    /// poller when the socket takes it all (the usual case); failures are
    /// left to the poller, which counts them.
    fn write_now(&mut self, shared: &Shared) {
        if let State::Write { out, at } = &mut self.state
            && let Ok(true) = write_some(&mut self.stream, out, at)
        {
            self.written(shared);
        }
    }

    /// The whole reply is written: count it, close our side, linger.
    fn written(&mut self, shared: &Shared) {
        shared.counters.count(self.outcome);
        let _ = self.stream.shutdown(Shutdown::Write);
        self.begin(State::Linger, shared.limits.linger);
    }

    fn routed(&mut self, shared: &Shared, head_len: usize) -> Next {
        let State::Head { buf } = &self.state else {
            return Next::Close;
        };
        let (route, outcome) = http::route(&buf[..head_len], &shared.limits.hosts);
        self.outcome = outcome;
        match route {
            Route::Metrics {
                head_only,
                openmetrics,
            } => {
                self.state = State::Render {
                    head_only,
                    openmetrics,
                };
                Next::Render
            }
            Route::Reply(out) => self.write(shared, out),
        }
    }

    fn reply(&mut self, shared: &Shared, status: u16, outcome: Outcome) -> Next {
        self.outcome = outcome;
        self.write(shared, http::error(status))
    }

    fn write(&mut self, shared: &Shared, out: Vec<u8>) -> Next {
        self.begin(State::Write { out, at: 0 }, shared.limits.reply);
        self.step(shared, Instant::now())
    }

    /// Counts a connection that ends without a reply: a reply that was due
    /// and not delivered is `ReplyFailed` whatever the request was.
    fn ended(&mut self, shared: &Shared, outcome: Outcome) -> Next {
        let outcome = match (&self.state, self.outcome) {
            (State::Write { .. }, Outcome::Served) => Outcome::ReplyFailed,
            (State::Write { .. }, refused) => refused,
            _ => outcome,
        };
        shared.counters.count(outcome);
        Next::Close
    }
}

/// When to poll a socket `age` into its state again: soon while it is
/// fresh, every 10 ms once it is slow. Slow sockets are polled on a shared
/// grid, so hundreds of them cost one wake-up per 10 ms, not one each.
fn next_poll(epoch: Instant, now: Instant, age: Duration) -> Instant {
    let backoff = (age / 8).clamp(MIN_BACKOFF, MAX_BACKOFF);
    let grid = match backoff {
        b if b >= MAX_BACKOFF => MAX_BACKOFF,
        b if b >= Duration::from_millis(1) => Duration::from_millis(1),
        b => return now + b,
    };
    let since = (now + backoff).saturating_duration_since(epoch).as_nanos();
    let step = grid.as_nanos();
    let nanos = since.div_ceil(step) * step;
    u64::try_from(nanos).map_or(now + backoff, |n| epoch + Duration::from_nanos(n))
}

/// Reads what is there: `Ok(Some(len))` once the head is complete,
/// `Ok(None)` to wait, `Err(status)` for a head to refuse (`Err(0)`: the
/// peer closed or failed first).
fn read_head(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<Option<usize>, u16> {
    let mut chunk = [0u8; 2048];
    loop {
        let n = match stream.read(&mut chunk) {
            Ok(0) => return Err(0),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return Err(0),
        };
        let from = buf.len();
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = http::head_end(buf, from) {
            return Ok(Some(end));
        }
        if buf.len() > MAX_HEAD {
            return Err(431);
        }
        if !http::may_be_request(buf) {
            return Err(400);
        }
    }
}

/// Writes what the socket takes: `Ok(true)` when all is written.
fn write_some(stream: &mut TcpStream, out: &[u8], at: &mut usize) -> io::Result<bool> {
    while *at < out.len() {
        match stream.write(&out[*at..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => *at += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// Reads and discards what the peer still sends (at most 64 KiB a step, so
/// a peer that never stops sending cannot hold the poller); `Err` once it
/// closed.
fn drain(stream: &mut TcpStream) -> io::Result<()> {
    let mut sink = [0u8; 4096];
    for _ in 0..16 {
        match stream.read(&mut sink) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_sockets_are_polled_soon_and_slow_ones_on_a_shared_grid() {
        let epoch = Instant::now();
        let now = epoch + Duration::from_micros(12_345);
        let ms = Duration::from_millis;
        assert_eq!(next_poll(epoch, now, Duration::ZERO), now + MIN_BACKOFF);
        assert_eq!(
            next_poll(epoch, now, Duration::from_micros(4_000)),
            now + Duration::from_micros(500)
        );
        // 8 ms old: a 1 ms backoff, rounded up to the next whole millisecond.
        assert_eq!(next_poll(epoch, now, ms(8)), epoch + ms(14));
        // Slow: every socket polled at the same 10 ms ticks.
        for age in [ms(80), ms(500), Duration::from_secs(5)] {
            assert_eq!(next_poll(epoch, now, age), epoch + ms(30));
        }
    }
}
