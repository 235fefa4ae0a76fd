//! The Prometheus exporter: metrics-exporter-prometheus's recorder, served
//! over HTTP/1.1 by a small std listener on our own named threads.
//!
//! - `GET /metrics` (and `GET /`): `200`, `text/plain; version=0.0.4`.
//!   `HEAD` gives the same headers. Other paths `404`, other methods `405`,
//!   peers outside the allowed addresses (when any are set) `403`.
//! - One connection per request (`Connection: close`), 5 s read/write
//!   timeouts, 4 worker threads and up to 16 waiting connections; beyond that
//!   a connection gets `503` at once.
//! - Histogram samples are drained into buckets every upkeep interval (and
//!   on each scrape), so memory stays bounded between scrapes.
//! - Dropping [`PrometheusExporter`] stops the listener and the upkeep thread
//!   and waits for them; a worker still answering a request finishes it (at
//!   most the 5 s timeout) and then exits.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};

use crate::error::Error;
use crate::exposition::finish_exposition;
use crate::metrics_engine::MetricsEngine;
use crate::rule_check::check_label_name;

const READ_TIMEOUT: Duration = Duration::from_secs(5);
const WORKERS: usize = 4;
const QUEUE: usize = 16;
const MAX_HEAD: usize = 8 * 1024;
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Where and how to serve `/metrics`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ExporterConfig {
    /// Defaults to `127.0.0.1:9000`: never all interfaces unless asked.
    pub(crate) listen: SocketAddr,
    /// Labels added to every series (e.g. `env`, `instance`). Defaults to none.
    pub(crate) global_labels: Vec<(String, String)>,
    /// Peers allowed to scrape; empty (the default) allows every peer.
    pub(crate) allowed: Vec<IpNet>,
    /// How often histogram samples are drained. Defaults to 5 s.
    pub(crate) upkeep_interval: Duration,
}

impl Default for ExporterConfig {
    fn default() -> Self {
        ExporterConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 9000)),
            global_labels: Vec::new(),
            allowed: Vec::new(),
            upkeep_interval: Duration::from_secs(5),
        }
    }
}

// === IpNet ===

/// An IP address or CIDR block (`10.0.0.0/8`, `::1`, `fd00::/8`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                masked(net.to_bits().into(), ip.to_bits().into(), self.prefix, 32)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                masked(net.to_bits(), ip.to_bits(), self.prefix, 128)
            }
            _ => false,
        }
    }
}

fn masked(net: u128, ip: u128, prefix: u8, bits: u8) -> bool {
    let shift = u32::from(bits - prefix);
    let (net, ip) = (
        net.checked_shr(shift).unwrap_or(0),
        ip.checked_shr(shift).unwrap_or(0),
    );
    net == ip
}

impl FromStr for IpNet {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = || {
            Error::Config(format!(
                "allowed address {s:?} is not an IP address or CIDR block"
            ))
        };
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s.trim(), None),
        };
        let addr = IpAddr::from_str(addr).map_err(|_| bad())?.to_canonical();
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.parse::<u8>().ok().filter(|&p| p <= max).ok_or_else(bad)?,
            None => max,
        };
        Ok(IpNet { addr, prefix })
    }
}

// === PrometheusExporter ===

/// The running `/metrics` endpoint. Dropping it stops serving.
pub struct PrometheusExporter {
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
    upkeep: Option<JoinHandle<()>>,
}

#[derive(Debug)]
struct Shared {
    handle: PrometheusHandle,
    float_counters: Vec<String>,
    allowed: Vec<IpNet>,
    stop: AtomicBool,
    /// Wakes the upkeep thread early on stop.
    upkeep_stop: (Mutex<bool>, Condvar),
}

impl fmt::Debug for PrometheusExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrometheusExporter")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

impl PrometheusExporter {
    /// The address `/metrics` is served on (with the actual port when the
    /// configured port was 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The exposition text a scrape would get now.
    pub fn render(&self) -> String {
        self.shared.render()
    }
}

impl Shared {
    fn render(&self) -> String {
        finish_exposition(&self.handle.render(), &self.float_counters)
    }
}

impl Drop for PrometheusExporter {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        {
            let (lock, cvar) = &self.shared.upkeep_stop;
            *lock.lock().unwrap_or_else(PoisonError::into_inner) = true;
            cvar.notify_all();
        }
        // Unblock accept(): if this connection fails, the acceptor is left
        // detached rather than joined forever.
        let woke = TcpStream::connect_timeout(&wake_addr(self.local_addr), Duration::from_secs(1));
        if let (Ok(_), Some(t)) = (woke, self.acceptor.take()) {
            let _ = t.join();
        }
        if let Some(t) = self.upkeep.take() {
            let _ = t.join();
        }
    }
}

fn wake_addr(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::from((Ipv4Addr::LOCALHOST, addr.port()))
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::from((Ipv6Addr::LOCALHOST, addr.port()))
        }
        _ => addr,
    }
}

// === install / serve ===

/// The Prometheus recorder for these rules: global labels, and real
/// histogram buckets for every histogram rule (never summaries).
///
/// # Errors
///
/// [`Error::Config`] for an invalid global label name or one a rule uses;
/// [`Error::Exporter`] if the exporter refuses a bucket list.
pub(crate) fn build_recorder(
    cfg: &ExporterConfig,
    engine: &MetricsEngine,
) -> Result<PrometheusRecorder, Error> {
    let used = engine.label_names();
    let mut builder = PrometheusBuilder::new();
    for (k, v) in &cfg.global_labels {
        check_label_name(k).map_err(|m| Error::Config(format!("global label: {m}")))?;
        if used.contains(k) {
            return Err(Error::Config(format!(
                "global label {k:?} is also a label of a metric"
            )));
        }
        builder = builder.add_global_label(k, v);
    }
    for (name, buckets) in engine.histogram_buckets() {
        let message = format!("buckets for {name}");
        builder = builder
            .set_buckets_for_metric(Matcher::Full(name), &buckets)
            .map_err(|e| Error::Exporter {
                message: format!("{message}: {e}"),
                source: None,
            })?;
    }
    Ok(builder.build_recorder())
}

/// Installs the Prometheus recorder globally and serves it over HTTP.
///
/// # Errors
///
/// As [`build_recorder`]; [`Error::Exporter`] if the address cannot be
/// bound; [`Error::AlreadyInstalled`] if a global metrics recorder is already
/// set (the listener is then closed again).
pub(crate) fn install(
    cfg: &ExporterConfig,
    engine: &MetricsEngine,
) -> Result<PrometheusExporter, Error> {
    let recorder = build_recorder(cfg, engine)?;
    let exporter = serve(recorder.handle(), cfg, engine.float_counters())?;
    metrics::set_global_recorder(recorder)
        .map_err(|_| Error::AlreadyInstalled("metrics recorder"))?;
    Ok(exporter)
}

/// Serves `handle` on `cfg.listen` and runs its upkeep, without touching any
/// global. `float_counters` are exposed with `# TYPE … counter`.
///
/// # Errors
///
/// [`Error::Exporter`] if the address cannot be bound or a thread cannot be
/// started.
pub(crate) fn serve(
    handle: PrometheusHandle,
    cfg: &ExporterConfig,
    float_counters: Vec<String>,
) -> Result<PrometheusExporter, Error> {
    let io_error = |message: String| {
        move |e: io::Error| Error::Exporter {
            message,
            source: Some(e),
        }
    };
    let listener = TcpListener::bind(cfg.listen)
        .map_err(io_error(format!("cannot listen on {}", cfg.listen)))?;
    let local_addr = listener
        .local_addr()
        .map_err(io_error("no local address".into()))?;
    let shared = Arc::new(Shared {
        handle,
        float_counters,
        allowed: cfg.allowed.clone(),
        stop: AtomicBool::new(false),
        upkeep_stop: (Mutex::new(false), Condvar::new()),
    });
    let (tx, rx) = mpsc::sync_channel::<TcpStream>(QUEUE);
    let rx = Arc::new(Mutex::new(rx));
    for i in 0..WORKERS {
        let (shared, rx) = (Arc::clone(&shared), Arc::clone(&rx));
        spawn(format!("evt-telemetry-http-{i}"), move || {
            worker(&shared, &rx)
        })
        .map_err(io_error("cannot start a worker thread".into()))?;
    }
    let s = Arc::clone(&shared);
    let acceptor = spawn("evt-telemetry-http-accept".into(), move || {
        accept_loop(&listener, &s, &tx)
    })
    .map_err(io_error("cannot start the listener thread".into()))?;
    let (s, every) = (Arc::clone(&shared), cfg.upkeep_interval);
    let upkeep = spawn("evt-telemetry-upkeep".into(), move || {
        upkeep_loop(&s, every)
    })
    .map_err(io_error("cannot start the upkeep thread".into()))?;
    Ok(PrometheusExporter {
        local_addr,
        shared,
        acceptor: Some(acceptor),
        upkeep: Some(upkeep),
    })
}

fn spawn(name: String, f: impl FnOnce() + Send + 'static) -> io::Result<JoinHandle<()>> {
    thread::Builder::new().name(name).spawn(f)
}

fn upkeep_loop(shared: &Shared, every: Duration) {
    let (lock, cvar) = &shared.upkeep_stop;
    let mut stopped = lock.lock().unwrap_or_else(PoisonError::into_inner);
    while !*stopped {
        let (guard, timeout) = cvar
            .wait_timeout(stopped, every)
            .unwrap_or_else(PoisonError::into_inner);
        stopped = guard;
        if timeout.timed_out() && !*stopped {
            shared.handle.run_upkeep();
        }
    }
}

fn accept_loop(listener: &TcpListener, shared: &Shared, tx: &SyncSender<TcpStream>) {
    for conn in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        match conn {
            Ok(stream) => match tx.try_send(stream) {
                Ok(()) => {}
                Err(TrySendError::Full(stream)) => reply_busy(stream),
                Err(TrySendError::Disconnected(_)) => return,
            },
            // Out of file descriptors and the like: back off instead of spinning.
            Err(_) => thread::sleep(Duration::from_millis(10)),
        }
    }
}

fn reply_busy(mut stream: TcpStream) {
    let _ = stream.set_write_timeout(Some(Duration::from_millis(100)));
    let _ = stream.write_all(&response(503, "Service Unavailable", b"busy\n", false));
}

fn worker(shared: &Shared, rx: &Mutex<Receiver<TcpStream>>) {
    loop {
        let next = rx.lock().unwrap_or_else(PoisonError::into_inner).recv();
        match next {
            Ok(stream) => handle_connection(stream, shared),
            Err(_) => return,
        }
    }
}

// === HTTP ===

fn handle_connection(mut stream: TcpStream, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(READ_TIMEOUT));
    let _ = stream.set_write_timeout(Some(READ_TIMEOUT));
    let head = match read_head(&mut stream) {
        Ok(Some(head)) => head,
        Ok(None) => return,
        Err(status) => {
            let _ = stream.write_all(&response(status, reason(status), b"", false));
            return;
        }
    };
    let peer_ok = match stream.peer_addr() {
        Ok(peer) => {
            shared.allowed.is_empty() || shared.allowed.iter().any(|n| n.contains(peer.ip()))
        }
        Err(_) => shared.allowed.is_empty(),
    };
    let reply = route(&head, peer_ok, shared);
    let _ = stream.write_all(&reply);
    let _ = stream.flush();
}

/// Reads the request head; `Ok(None)` when the peer sent nothing useful in time.
fn read_head(stream: &mut TcpStream) -> Result<Option<String>, u16> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            buf.truncate(end);
            return String::from_utf8(buf).map(Some).map_err(|_| 400);
        }
        if buf.len() > MAX_HEAD {
            return Err(431);
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return Ok(None),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn route(head: &str, peer_ok: bool, shared: &Shared) -> Vec<u8> {
    let mut parts = head.lines().next().unwrap_or("").split(' ');
    let (method, target, version) = (parts.next(), parts.next(), parts.next());
    let (Some(method), Some(target), Some(version)) = (method, target, version) else {
        return response(400, "Bad Request", b"bad request\n", false);
    };
    if !version.starts_with("HTTP/1.") {
        return response(400, "Bad Request", b"bad request\n", false);
    }
    if !peer_ok {
        return response(403, "Forbidden", b"forbidden\n", false);
    }
    let head_only = method == "HEAD";
    if method != "GET" && !head_only {
        return response(405, "Method Not Allowed", b"method not allowed\n", false);
    }
    match target.split('?').next() {
        Some("/metrics" | "/") => response(200, "OK", shared.render().as_bytes(), head_only),
        _ => response(404, "Not Found", b"not found\n", head_only),
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        431 => "Request Header Fields Too Large",
        _ => "Error",
    }
}

fn response(status: u16, reason: &str, body: &[u8], head_only: bool) -> Vec<u8> {
    let content_type = if status == 200 {
        CONTENT_TYPE
    } else {
        "text/plain; charset=utf-8"
    };
    let allow = if status == 405 {
        "Allow: GET, HEAD\r\n"
    } else {
        ""
    };
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{allow}Connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if !head_only {
        out.extend_from_slice(body);
    }
    out
}
