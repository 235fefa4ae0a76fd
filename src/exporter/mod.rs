//! The Prometheus exporter: metrics-exporter-prometheus's recorder, served
//! over HTTP/1.1 by a small std listener on our own named threads (see
//! [`PrometheusExporter`] for what it answers, `listener.rs` for how it
//! keeps answering while peers misbehave).

pub(crate) mod exposition;
mod http;
mod ip_net;
mod listener;
pub(crate) mod openmetrics;
mod outcome;

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};

use crate::error::Error;
use crate::exporter::exposition::finish_exposition;
pub(crate) use crate::exporter::http::HostName;
pub(crate) use crate::exporter::ip_net::IpNet;
use crate::exporter::listener::{Inbox, Poller, accept_loop, render_loop};
use crate::exporter::openmetrics::{
    OPENMETRICS_TEXT, OpenMetricsInfo, PROMETHEUS_TEXT, to_openmetrics,
};
use crate::exporter::outcome::ConnectionCounters;
use crate::rules::check::check_label_name;
use crate::rules::engine::MetricsEngine;
use crate::rules::exemplars::Exemplars;

const WORKERS: usize = 4;

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
    /// Buckets for the application's own histograms (not rules'), by full
    /// metric name. Defaults to none.
    pub(crate) app_buckets: Vec<(String, Vec<f64>)>,
    /// Connection caps, deadlines and allowed hosts.
    pub(crate) limits: Limits,
}

impl Default for ExporterConfig {
    fn default() -> Self {
        ExporterConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 9000)),
            global_labels: Vec::new(),
            allowed: Vec::new(),
            upkeep_interval: Duration::from_secs(5),
            app_buckets: Vec::new(),
            limits: Limits::default(),
        }
    }
}

/// What one connection may take.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Limits {
    /// Connections open at once (one peer address: half). Defaults to 512.
    pub(crate) max_connections: usize,
    /// `Host` values accepted; empty (the default) accepts any.
    pub(crate) hosts: Vec<HostName>,
    /// From accept to a complete request head. Defaults to 2 s.
    pub(crate) head: Duration,
    /// From the reply's first byte to its last. Defaults to 5 s.
    pub(crate) reply: Duration,
    /// Reading what the peer still sends after our reply. Defaults to 500 ms.
    pub(crate) linger: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 512,
            hosts: Vec::new(),
            head: Duration::from_secs(2),
            reply: Duration::from_secs(5),
            linger: Duration::from_millis(500),
        }
    }
}

impl Limits {
    /// The connections one peer address may hold: half of all, so another
    /// host (a second Prometheus) always finds room.
    fn max_per_peer(&self) -> usize {
        (self.max_connections / 2).max(1)
    }
}

// === PrometheusExporter ===

/// The running Prometheus `/metrics` endpoint. Dropping it stops serving.
///
/// It serves the metrics-exporter-prometheus recorder over HTTP/1.1 on its
/// own named threads (no async runtime):
///
/// | request | answer |
/// |---|---|
/// | `GET /metrics`, `GET /` | `200`, `text/plain; version=0.0.4; charset=utf-8` |
/// | the same, `Accept` preferring `application/openmetrics-text` | `200`, `application/openmetrics-text; version=1.0.0; charset=utf-8` |
/// | `HEAD` of those | the same headers, no body |
/// | any other path | `404` |
/// | any other method | `405` |
/// | a peer outside the allowed addresses (when some are set) | `403` at accept, before reading anything |
/// | a `Host` outside the allowed hosts (when some are set) | `421` |
/// | not HTTP/1.x, two `Host` headers, or binary (a TLS hello) | `400`, binary at its first byte |
/// | a head over 8 KiB | `431` |
/// | no complete head 2 s after accept | `408` |
/// | more than 512 connections open, or 256 from one address | `503` at once |
///
/// Request heads may end lines with CRLF or a bare LF. Families are sorted
/// by name and series by labels, counters with fractional values (costs)
/// are typed `counter`, and every histogram rule renders real `_bucket`
/// series, so the output passes `promtool check metrics` without warnings.
///
/// # Exemplars
///
/// A scraper that prefers `application/openmetrics-text` (Prometheus does)
/// gets OpenMetrics 1.0 text: counter families named without `_total` in
/// `# TYPE`/`# HELP` (samples keep it), `# UNIT` where a rule's unit ends
/// the metric name, `# EOF` at the end, and the exemplars of the rules that
/// name exemplar fields ([`MetricRule::exemplar`](crate::MetricRule::exemplar)):
/// after each histogram bucket the most recent event that fell into it,
/// after each counter sample the most recent event that incremented it, as
/// `# {paper_id="paper-7"} 0.42 1759758190.123` (its fields, the observed
/// value, its `ts`). Prometheus stores them when started with
/// `--enable-feature=exemplar-storage`. Anything else gets the Prometheus
/// text format, unchanged.
///
/// It listens on `127.0.0.1:9000` unless told otherwise: never on all
/// interfaces unless asked. To let a remote Prometheus scrape it, either
/// listen on a private interface and restrict the allowed peer addresses, or
/// keep `127.0.0.1` and put a reverse proxy with TLS and authentication in
/// front.
///
/// Each request gets its own connection (`Connection: close`). One thread
/// reads heads and writes replies on non-blocking sockets, so slow or idle
/// peers never hold a worker; 4 workers only render. A connection lives at
/// most 2 s (head) + render + 5 s (reply) + 0.5 s (linger), and every one is
/// counted in `telemetry_exporter_connections_total{outcome}`. Histogram
/// samples are drained into buckets every few seconds (the upkeep interval,
/// 5 s by default) and on each scrape, so memory stays bounded between
/// scrapes.
///
/// Dropping it stops the listener, the connection thread and the upkeep
/// thread and waits for them; a worker still rendering finishes and exits.
pub struct PrometheusExporter {
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
    poller: Option<JoinHandle<()>>,
    upkeep: Option<JoinHandle<()>>,
}

#[derive(Debug)]
struct Shared {
    handle: PrometheusHandle,
    float_counters: Vec<String>,
    allowed: Vec<IpNet>,
    limits: Limits,
    counters: ConnectionCounters,
    /// The origin of the poller's 10 ms grid.
    epoch: Instant,
    stop: AtomicBool,
    /// Units and exemplars for OpenMetrics text (set by `install`).
    openmetrics: OnceLock<(OpenMetricsInfo, Arc<Exemplars>)>,
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

    /// The OpenMetrics text, with exemplars, a scrape preferring
    /// `application/openmetrics-text` would get now.
    pub fn render_openmetrics(&self) -> String {
        self.shared.render_openmetrics()
    }
}

impl Shared {
    fn render(&self) -> String {
        finish_exposition(&self.handle.render(), &self.float_counters)
    }

    fn render_openmetrics(&self) -> String {
        let text = self.render();
        match self.openmetrics.get() {
            Some((info, exemplars)) => to_openmetrics(&text, info, &exemplars.snapshot()),
            None => to_openmetrics(&text, &OpenMetricsInfo::default(), &[]),
        }
    }

    /// The content type and body of `/metrics`: OpenMetrics text when the
    /// request's `Accept` header prefers it (see `openmetrics::wants_openmetrics`),
    /// else the Prometheus text format.
    pub(crate) fn respond_metrics(&self, openmetrics: bool) -> (&'static str, String) {
        if openmetrics {
            (OPENMETRICS_TEXT, self.render_openmetrics())
        } else {
            (PROMETHEUS_TEXT, self.render())
        }
    }

    fn peer_allowed(&self, peer: IpAddr) -> bool {
        self.allowed.is_empty() || self.allowed.iter().any(|n| n.contains(peer))
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
        // Unblock accept(): if this connection fails, the acceptor (and the
        // poller it would stop) are left detached rather than joined forever.
        let woke = TcpStream::connect_timeout(&wake_addr(self.local_addr), Duration::from_secs(1));
        if let (Ok(_), Some(t)) = (woke, self.acceptor.take()) {
            let _ = t.join();
            if let Some(p) = self.poller.take() {
                let _ = p.join();
            }
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

/// Checks the global label names: valid, and not a label of any metric.
///
/// # Errors
///
/// [`Error::Config`] naming the bad label.
pub(crate) fn check_global_labels(
    cfg: &ExporterConfig,
    engine: &MetricsEngine,
) -> Result<(), Error> {
    let used = engine.catalogue().label_names();
    for (k, _) in &cfg.global_labels {
        check_label_name(k).map_err(|m| Error::Config(format!("global label: {m}")))?;
        if used.contains(k) {
            return Err(Error::Config(format!(
                "global label {k:?} is also a label of a metric"
            )));
        }
    }
    Ok(())
}

/// The Prometheus recorder for these rules: global labels (checked by
/// [`check_global_labels`] in `build()`), and real histogram buckets for
/// every histogram rule (never summaries).
///
/// # Errors
///
/// [`Error::Exporter`] if the exporter refuses a bucket list.
pub(crate) fn build_recorder(
    cfg: &ExporterConfig,
    engine: &MetricsEngine,
) -> Result<PrometheusRecorder, Error> {
    let mut builder = PrometheusBuilder::new();
    for (k, v) in &cfg.global_labels {
        builder = builder.add_global_label(k, v);
    }
    Ok(with_buckets(builder, engine, &cfg.app_buckets)?.build_recorder())
}

/// `builder` with real buckets for every histogram rule and for the
/// application's own histograms in `app_buckets`.
///
/// # Errors
///
/// [`Error::Exporter`] if the exporter refuses a bucket list.
pub(crate) fn with_buckets(
    mut builder: PrometheusBuilder,
    engine: &MetricsEngine,
    app_buckets: &[(String, Vec<f64>)],
) -> Result<PrometheusBuilder, Error> {
    let rules = engine.catalogue().histogram_buckets();
    for (name, buckets) in rules.iter().chain(app_buckets) {
        builder = builder
            .set_buckets_for_metric(Matcher::Full(name.clone()), buckets)
            .map_err(|e| Error::Exporter {
                message: format!("buckets for {name}: {e}"),
                source: None,
            })?;
    }
    Ok(builder)
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
    let exporter = serve(&recorder, cfg, engine.catalogue().float_counters())?;
    let info = OpenMetricsInfo {
        units: engine.catalogue().units(),
        global_labels: cfg.global_labels.iter().map(|(k, _)| k.clone()).collect(),
    };
    let _ = (exporter.shared.openmetrics).set((info, Arc::clone(engine.exemplars())));
    metrics::set_global_recorder(recorder)
        .map_err(|_| Error::AlreadyInstalled("metrics recorder"))?;
    // Describe the metrics and create the zero series now, so the first
    // scrape (before any event) already shows them.
    engine.ensure_init();
    Ok(exporter)
}

/// Serves `recorder` on `cfg.listen` and runs its upkeep, without touching
/// any global. `float_counters` are exposed with `# TYPE … counter`. The
/// listener's own counter, `telemetry_exporter_connections_total`, is
/// registered in `recorder`.
///
/// # Errors
///
/// [`Error::Config`] for a zero upkeep interval; [`Error::Exporter`] if the
/// address cannot be bound or a thread cannot be started.
pub(crate) fn serve(
    recorder: &PrometheusRecorder,
    cfg: &ExporterConfig,
    float_counters: Vec<String>,
) -> Result<PrometheusExporter, Error> {
    if cfg.upkeep_interval.is_zero() {
        return Err(Error::Config(
            "the exporter's upkeep interval is zero".into(),
        ));
    }
    let listener = TcpListener::bind(cfg.listen)
        .map_err(io_error(format!("cannot listen on {}", cfg.listen)))?;
    let local_addr = listener
        .local_addr()
        .map_err(io_error("no local address".into()))?;
    let shared = Arc::new(Shared {
        handle: recorder.handle(),
        float_counters,
        allowed: cfg.allowed.clone(),
        limits: cfg.limits.clone(),
        counters: ConnectionCounters::register(recorder),
        epoch: Instant::now(),
        stop: AtomicBool::new(false),
        openmetrics: OnceLock::new(),
        upkeep_stop: (Mutex::new(false), Condvar::new()),
    });
    let (poller, acceptor) = start_listener(listener, &shared)?;
    let (s, every) = (Arc::clone(&shared), cfg.upkeep_interval);
    let upkeep = spawn("evt-telemetry-upkeep".into(), move || {
        upkeep_loop(&s, every)
    })
    .map_err(io_error("cannot start the upkeep thread".into()))?;
    Ok(PrometheusExporter {
        local_addr,
        shared,
        acceptor: Some(acceptor),
        poller: Some(poller),
        upkeep: Some(upkeep),
    })
}

/// Starts the workers, the poller and the acceptor; returns the last two.
fn start_listener(
    listener: TcpListener,
    shared: &Arc<Shared>,
) -> Result<(JoinHandle<()>, JoinHandle<()>), Error> {
    let (inbox, inbox_rx) = mpsc::channel::<Inbox>();
    let (work, work_rx) = mpsc::channel();
    let work_rx = Arc::new(Mutex::new(work_rx));
    for i in 0..WORKERS {
        let (s, rx, tx) = (Arc::clone(shared), Arc::clone(&work_rx), inbox.clone());
        spawn(format!("evt-telemetry-http-{i}"), move || {
            render_loop(&s, &rx, &tx)
        })
        .map_err(io_error("cannot start a worker thread".into()))?;
    }
    let s = Arc::clone(shared);
    let poller = spawn("evt-telemetry-http-conns".into(), move || {
        Poller::new(&s, inbox_rx, work).run()
    })
    .map_err(io_error("cannot start the connection thread".into()))?;
    let s = Arc::clone(shared);
    let acceptor = spawn("evt-telemetry-http-accept".into(), move || {
        accept_loop(&listener, &s, &inbox)
    })
    .map_err(io_error("cannot start the listener thread".into()))?;
    Ok((poller, acceptor))
}

fn io_error(message: String) -> impl FnOnce(io::Error) -> Error {
    move |e: io::Error| Error::Exporter {
        message,
        source: Some(e),
    }
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

/// The integration tests' `promtool check metrics` helper, for the tests below.
#[cfg(test)]
#[path = "../../tests/common/promtool.rs"]
mod promtool;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::level::LineLevel;
    use crate::rules::engine::tests::{Ev, TS};
    use crate::rules::from_toml::parse_rules_toml;
    use crate::rules::rule::MetricRule;
    use std::io::{Read, Write};

    fn local_cfg() -> ExporterConfig {
        ExporterConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            ..ExporterConfig::default()
        }
    }

    /// An exporter over a recorder holding one counter at 3.
    fn running(cfg: &ExporterConfig) -> PrometheusExporter {
        let engine = MetricsEngine::new(vec![MetricRule::counter("x_total").on("x").help("X")], 10)
            .expect("valid");
        let recorder = build_recorder(cfg, &engine).expect("recorder");
        metrics::with_local_recorder(&recorder, || {
            (0..3).for_each(|_| engine.on_event(&Ev::new("x")))
        });
        serve(&recorder, cfg, engine.catalogue().float_counters()).expect("serve")
    }

    /// Sends `request` and returns (head, body).
    fn http(addr: SocketAddr, request: &str) -> (String, String) {
        let mut s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        s.write_all(request.as_bytes()).expect("send");
        let mut raw = String::new();
        s.read_to_string(&mut raw).expect("read");
        let (head, body) = raw.split_once("\r\n\r\n").expect("a complete response");
        (head.to_string(), body.to_string())
    }

    fn get(addr: SocketAddr, path: &str) -> (String, String) {
        http(addr, &format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n"))
    }

    #[test]
    fn allowed_addresses_parse_as_ips_or_cidr_blocks() {
        let net = |s: &str| s.parse::<IpNet>().expect(s);
        let ip = |s: &str| s.parse::<IpAddr>().expect(s);
        assert!(net("10.0.0.0/8").contains(ip("10.200.3.4")));
        assert!(!net("10.0.0.0/8").contains(ip("11.0.0.1")));
        assert!(net("10.0.0.0/8").contains(ip("::ffff:10.0.0.1")));
        assert!(
            net("127.0.0.1").contains(ip("127.0.0.1"))
                && !net("127.0.0.1").contains(ip("127.0.0.2"))
        );
        assert!(net("0.0.0.0/0").contains(ip("8.8.8.8")) && !net("0.0.0.0/0").contains(ip("::1")));
        assert!(net("::1").contains(ip("::1")) && net("fd00::/8").contains(ip("fd12::1")));
        assert!(net("::/0").contains(ip("2001:db8::1")));
        for bad in [
            "",
            "10.0.0.0/33",
            "::/129",
            "10.0.0/8",
            "host.example",
            "10.0.0.0/x",
        ] {
            let err = bad.parse::<IpNet>().expect_err(bad);
            assert_eq!(
                err.to_string(),
                format!(
                    "invalid configuration: allowed address {bad:?} is not an IP address or CIDR block"
                )
            );
        }
    }

    #[test]
    fn metrics_are_served_with_the_exposition_content_type() {
        let exporter = running(&local_cfg());
        let (head, body) = get(exporter.local_addr(), "/metrics");
        assert_eq!(
            head,
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close",
                body.len()
            )
        );
        // The scrape is counted once its reply is written: after it rendered.
        let served =
            |n: u64| format!("telemetry_exporter_connections_total{{outcome=\"served\"}} {n}\n");
        assert!(body.contains(&served(0)), "{body}");
        assert_eq!(body.replace(&served(0), &served(1)), exporter.render());
        assert!(
            body.contains("# HELP x_total X\n# TYPE x_total counter\nx_total 3\n"),
            "{body}"
        );
        let again = get(exporter.local_addr(), "/?x=1").1;
        assert_eq!(again, body.replace(&served(0), &served(1)));
    }

    #[test]
    fn scrapers_preferring_openmetrics_get_it() {
        let exporter = running(&local_cfg());
        let accept =
            "Accept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5";
        let request = format!("GET /metrics HTTP/1.1\r\nHost: x\r\n{accept}\r\n\r\n");
        let (head, body) = http(exporter.local_addr(), &request);
        assert_eq!(
            head,
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/openmetrics-text; version=1.0.0; charset=utf-8\r\nContent-Length: {}\r\nConnection: close",
                body.len()
            )
        );
        assert!(
            body.contains("# HELP x X\n# TYPE x counter\nx_total 3\n")
                && body.ends_with("\n# EOF\n"),
            "{body}"
        );
        assert!(!body.contains("\n\n"), "{body}");
        let head_only = request.replacen("GET", "HEAD", 1);
        let (head, body) = http(exporter.local_addr(), &head_only);
        assert!(
            head.contains("Content-Type: application/openmetrics-text; version=1.0.0"),
            "{head}"
        );
        assert_eq!(body, "");
    }

    /// The value of `telemetry_exporter_connections_total{outcome}` now.
    fn connections(exporter: &PrometheusExporter, outcome: &str) -> u64 {
        let series = format!("telemetry_exporter_connections_total{{outcome=\"{outcome}\"}} ");
        let text = exporter.render();
        let line = text.lines().find_map(|l| l.strip_prefix(series.as_str()));
        line.and_then(|v| v.parse().ok())
            .expect("the series exists")
    }

    /// Waits (at most 5 s) until the poller has counted `n` connections as
    /// `outcome`, and returns the count then.
    fn counted(exporter: &PrometheusExporter, outcome: &str, n: u64) -> u64 {
        for _ in 0..500 {
            if connections(exporter, outcome) >= n {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        connections(exporter, outcome)
    }

    fn limits(f: impl FnOnce(&mut Limits)) -> ExporterConfig {
        let mut cfg = local_cfg();
        f(&mut cfg.limits);
        cfg
    }

    #[test]
    fn a_head_ended_by_bare_line_feeds_is_answered() {
        let exporter = running(&local_cfg());
        let (head, body) = http(exporter.local_addr(), "GET /metrics HTTP/1.0\n\n");
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert!(body.contains("\nx_total 3\n"), "{body}");
        let (head, _) = http(exporter.local_addr(), "GET /nope HTTP/1.1\nHost: x\n\n");
        assert!(head.starts_with("HTTP/1.1 404 Not Found\r\n"), "{head}");
    }

    #[test]
    fn a_head_still_incomplete_at_the_deadline_gets_408_and_is_counted() {
        let cfg = limits(|l| l.head = Duration::from_millis(300));
        let exporter = running(&cfg);
        let mut s = TcpStream::connect(exporter.local_addr()).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        s.write_all(b"GET /metrics HTTP/1.1\r\nX-Slow: ")
            .expect("send");
        // One byte every 100 ms: each read succeeds, the head never ends.
        let mut raw = String::new();
        for _ in 0..6 {
            std::thread::sleep(Duration::from_millis(100));
            if s.write_all(b"a").is_err() {
                break;
            }
        }
        s.read_to_string(&mut raw).expect("a 408, not a reset");
        assert_eq!(
            raw,
            "HTTP/1.1 408 Request Timeout\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 16\r\nConnection: close\r\n\r\nrequest timeout\n"
        );
        assert_eq!(counted(&exporter, "head_timeout", 1), 1);
        assert_eq!(connections(&exporter, "served"), 0);
    }

    #[test]
    fn connections_past_the_cap_read_a_503_and_are_counted() {
        // One connection per peer address: an idle one fills it.
        let exporter = running(&limits(|l| l.max_connections = 2));
        let addr = exporter.local_addr();
        let idle = TcpStream::connect(addr).expect("connect");
        std::thread::sleep(Duration::from_millis(50));
        let (head, body) = get(addr, "/metrics");
        assert!(
            head.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
            "{head}"
        );
        assert_eq!(body, "busy\n");
        assert_eq!(counted(&exporter, "overloaded", 1), 1);
        drop(idle);
        assert_eq!(counted(&exporter, "abandoned", 1), 1);
        let (head, _) = get(addr, "/metrics");
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert_eq!(counted(&exporter, "served", 1), 1);
    }

    #[test]
    fn hosts_outside_the_allowed_hosts_get_421() {
        let cfg = limits(|l| l.hosts = vec!["localhost:9000".parse().expect("host")]);
        let exporter = running(&cfg);
        let addr = exporter.local_addr();
        let (head, body) = http(
            addr,
            "GET /metrics HTTP/1.1\r\nHost: evil.example:9000\r\n\r\n",
        );
        assert!(
            head.starts_with("HTTP/1.1 421 Misdirected Request\r\n"),
            "{head}"
        );
        assert_eq!(body, "host not allowed\n");
        let (head, _) = http(
            addr,
            "GET /metrics HTTP/1.1\r\nHost: LocalHost:9000\r\n\r\n",
        );
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert_eq!(counted(&exporter, "refused_host", 1), 1);
        assert_eq!(counted(&exporter, "served", 1), 1);
    }

    #[test]
    fn other_paths_methods_and_garbage_get_errors() {
        let exporter = running(&local_cfg());
        let addr = exporter.local_addr();
        let (head, body) = get(addr, "/nope");
        assert!(head.starts_with("HTTP/1.1 404 Not Found\r\n"), "{head}");
        assert_eq!(body, "not found\n");
        let (head, _) = http(addr, "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
        assert!(
            head.starts_with("HTTP/1.1 405 Method Not Allowed\r\n")
                && head.contains("\r\nAllow: GET, HEAD\r\n"),
            "{head}"
        );
        let (head, body) = http(addr, "HEAD /metrics HTTP/1.1\r\n\r\n");
        assert!(
            head.starts_with("HTTP/1.1 200 OK\r\n") && !head.contains("Content-Length: 0"),
            "{head}"
        );
        assert_eq!(body, "");
        let (head, _) = http(addr, "hello\r\n\r\n");
        assert!(head.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{head}");
        // A TLS hello (no line end, never a blank line): 400 at once, not
        // after the head deadline.
        let (head, _) = http(
            addr,
            "\u{16}\u{3}\u{1}\u{2}\u{0}\u{1}\u{0}\u{1}\u{fc}\u{3}\u{3}",
        );
        assert!(head.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{head}");
        let (head, _) = http(addr, &format!("GET /{} HTTP/1.1\r\n", "a".repeat(20_000)));
        assert!(head.starts_with("HTTP/1.1 431 "), "{head}");
        // 404, 405 and HEAD are served; the garbage, the TLS hello and the
        // long head are not.
        assert_eq!(counted(&exporter, "served", 3), 3);
        assert_eq!(counted(&exporter, "bad_request", 3), 3);
    }

    #[test]
    fn peers_outside_the_allowed_addresses_are_refused() {
        let cfg = ExporterConfig {
            allowed: vec!["10.0.0.0/8".parse().expect("cidr")],
            ..local_cfg()
        };
        let exporter = running(&cfg);
        let (head, body) = get(exporter.local_addr(), "/metrics");
        assert!(head.starts_with("HTTP/1.1 403 Forbidden\r\n"), "{head}");
        assert_eq!(body, "forbidden\n");
        assert_eq!(connections(&exporter, "refused_peer"), 1);
        let cfg = ExporterConfig {
            allowed: vec![
                "10.0.0.0/8".parse().expect("cidr"),
                "127.0.0.1".parse().expect("ip"),
            ],
            ..local_cfg()
        };
        let exporter = running(&cfg);
        assert!(
            get(exporter.local_addr(), "/metrics")
                .0
                .starts_with("HTTP/1.1 200 OK\r\n")
        );
    }

    #[test]
    fn four_scrapers_in_a_loop_all_succeed() {
        let exporter = running(&local_cfg());
        let addr = exporter.local_addr();
        // Every scrape is the same but for the count of scrapes.
        let own = |text: &str| {
            let lines = text
                .lines()
                .filter(|l| !l.starts_with("telemetry_exporter_connections_total{"));
            lines.collect::<Vec<_>>().join("\n")
        };
        let want = own(&exporter.render());
        let started = std::time::Instant::now();
        let ok: usize = std::thread::scope(|s| {
            let scrapers: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(|| {
                        (0..200)
                            .filter(|_| own(&get(addr, "/metrics").1) == want)
                            .count()
                    })
                })
                .collect();
            scrapers
                .into_iter()
                .map(|t| t.join().expect("scraper"))
                .sum()
        });
        assert_eq!(ok, 800);
        assert_eq!(counted(&exporter, "served", 800), 800);
        eprintln!("800 scrapes in {:?}", started.elapsed());
    }

    #[test]
    fn dropping_the_exporter_stops_serving_promptly() {
        let cfg = ExporterConfig {
            upkeep_interval: Duration::from_secs(3600),
            ..local_cfg()
        };
        let exporter = running(&cfg);
        let addr = exporter.local_addr();
        let started = std::time::Instant::now();
        drop(exporter);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        assert!(TcpStream::connect(addr).is_err());
    }

    #[test]
    fn upkeep_drains_histograms_between_scrapes() {
        let cfg = ExporterConfig {
            upkeep_interval: Duration::from_millis(20),
            ..local_cfg()
        };
        let engine = MetricsEngine::new(
            vec![MetricRule::histogram("h_seconds").on("h").value("v")],
            10,
        )
        .expect("valid");
        let recorder = build_recorder(&cfg, &engine).expect("recorder");
        let exporter = serve(&recorder, &cfg, vec![]).expect("serve");
        metrics::with_local_recorder(&recorder, || engine.on_event(&Ev::new("h").f("v", 0.5)));
        // The exporter's internal registry is drained by upkeep: wait for one run.
        std::thread::sleep(Duration::from_millis(200));
        assert!(exporter.render().contains("h_seconds_count 1\n"));
    }

    #[test]
    fn global_labels_come_first_and_must_not_clash() {
        let engine = MetricsEngine::new(
            vec![MetricRule::counter("x_total").on("x").labels(["model"])],
            10,
        )
        .expect("valid");
        let cfg = ExporterConfig {
            global_labels: vec![("env".into(), "prod".into())],
            ..local_cfg()
        };
        let recorder = build_recorder(&cfg, &engine).expect("recorder");
        metrics::with_local_recorder(&recorder, || engine.on_event(&Ev::new("x").s("model", "m")));
        assert!(
            recorder
                .handle()
                .render()
                .contains("x_total{env=\"prod\",model=\"m\"} 1\n")
        );
        let err = |k: &str| {
            let cfg = ExporterConfig {
                global_labels: vec![(k.into(), "v".into())],
                ..local_cfg()
            };
            check_global_labels(&cfg, &engine).expect_err(k).to_string()
        };
        assert_eq!(
            err("model"),
            "invalid configuration: global label \"model\" is also a label of a metric"
        );
        assert_eq!(
            err("evt"),
            "invalid configuration: global label \"evt\" is also a label of a metric"
        );
        assert_eq!(
            err("a-b"),
            "invalid configuration: global label: label name \"a-b\" does not match [a-zA-Z_][a-zA-Z0-9_]*"
        );
    }

    #[test]
    fn a_zero_upkeep_interval_is_refused() {
        let cfg = ExporterConfig {
            upkeep_interval: Duration::ZERO,
            ..local_cfg()
        };
        let recorder = PrometheusBuilder::new().build_recorder();
        let err = serve(&recorder, &cfg, vec![]).expect_err("zero interval");
        assert_eq!(
            err.to_string(),
            "invalid configuration: the exporter's upkeep interval is zero"
        );
    }

    #[test]
    fn a_busy_address_is_an_exporter_error_naming_it() {
        let exporter = running(&local_cfg());
        let cfg = ExporterConfig {
            listen: exporter.local_addr(),
            ..local_cfg()
        };
        let recorder = PrometheusBuilder::new().build_recorder();
        let err = serve(&recorder, &cfg, vec![]).expect_err("address in use");
        assert!(
            err.to_string().starts_with(&format!(
                "prometheus exporter: cannot listen on {}: ",
                cfg.listen
            )),
            "{err}"
        );
    }

    /// The only test touching the global recorder: `install` exists to set it.
    #[test]
    fn install_sets_the_global_recorder_once() {
        let engine = MetricsEngine::new(vec![MetricRule::counter("installed_total").on("i")], 10)
            .expect("valid");
        let exporter = install(&local_cfg(), &engine).expect("first install");
        // The zero series exist from the install on, before any event.
        let (_, body) = get(exporter.local_addr(), "/metrics");
        assert!(body.contains("installed_total 0\n"), "{body}");
        std::thread::spawn(move || engine.on_event(&Ev::new("i")))
            .join()
            .expect("emit");
        let (head, body) = get(exporter.local_addr(), "/metrics");
        assert!(head.starts_with("HTTP/1.1 200 OK"));
        assert!(body.contains("installed_total 1\n"), "{body}");
        let again = MetricsEngine::new(vec![], 10).expect("valid");
        let err = install(&local_cfg(), &again).expect_err("second install");
        assert_eq!(
            err.to_string(),
            "a global metrics recorder is already installed"
        );
    }

    /// `promtool check metrics` on real output: the preset after catalogue
    /// events, hostile label values and help text, and global labels.
    #[test]
    fn promtool_finds_nothing_to_complain_about() {
        let mut rules = parse_rules_toml(include_str!("../../examples/telemetry.toml"), "preset")
            .expect("preset");
        rules.push(
            MetricRule::counter("odd_help_total")
                .on("odd")
                .labels(["v"])
                .help("Line one\nline \\two \"quoted\" }"),
        );
        rules.push(
            MetricRule::histogram("tokens")
                .on("openrouter_call")
                .value("tokens_out"),
        );
        let engine = MetricsEngine::new(rules, 1_000).expect("valid");
        let cfg = ExporterConfig {
            global_labels: vec![("env".into(), "prod \"eu\"".into())],
            ..local_cfg()
        };
        let recorder = build_recorder(&cfg, &engine).expect("recorder");
        let exporter = serve(&recorder, &cfg, engine.catalogue().float_counters()).expect("serve");
        metrics::with_local_recorder(&recorder, || {
            let hostile = [
                "a\"b",
                "c}d{",
                "line\nbreak",
                "back\\slash",
                "cr\rlf",
                "nul\0",
                "tab\t",
                "é✓",
                "\\",
                "\\\"",
                "x\\n",
                "\"",
                "a\\\\b",
                "a\\b",
                "\\\n",
                "\n\\",
                "# HELP x",
                "x\n# TYPE x gauge",
                "} 1\nfake_total 9",
            ];
            for (i, model) in hostile.iter().enumerate() {
                let call = Ev::new("openrouter_call")
                    .level(LineLevel::Error)
                    .s("model", model)
                    .s("component", "translation_service")
                    .f("latency_s", 0.3 * i as f64)
                    .u("tokens_out", 100 * i as u64)
                    .f("cost_usd", 0.001)
                    .s("outcome", "error");
                engine.on_event(&call);
                engine.on_event(&Ev::new("odd").s("v", model));
                engine.on_event(
                    &Ev::new("openrouter_error")
                        .u("status", 429)
                        .s("code", "rate_limited")
                        .s("model", model),
                );
            }
            engine.on_event(&Ev::new("queue_depth").u("pending", 3).at(TS));
            engine.on_event(
                &Ev::new("openrouter_call")
                    .s("model", "m")
                    .s("cost_usd", "NaN"),
            );
            engine
                .self_metrics()
                .dropped(crate::self_metrics::DropReason::QueueFull, 1);
        });
        let text = get(exporter.local_addr(), "/metrics").1;
        assert!(
            text.contains("# TYPE openrouter_cost_usd_total counter\n"),
            "{text}"
        );
        assert!(!text.contains("\nfake_total"), "{text}");
        let series: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(|l| l.rsplit_once(' ').map_or(l, |p| p.0))
            .collect();
        let mut unique = series.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(series.len(), unique.len(), "duplicate series in\n{text}");
        promtool::promtool_check_metrics(&text);
    }
}
