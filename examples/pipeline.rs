//! A simulated translation pipeline calling a fake OpenRouter: the demo that
//! drives the log files, the metrics and the dashboards.
//!
//! ```text
//! cargo run --release --example pipeline -- [--duration SECS] [--log-dir DIR]
//!     [--listen ADDR] [--rate EVENTS_PER_SEC] [--seed N]
//! ```
//! Runs until Ctrl-C (SIGINT/SIGTERM) unless `--duration` is given, then
//! flushes every line. Metric rules come from `examples/telemetry.toml`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};
use std::thread;
use std::time::{Duration, Instant};

use tracing::{error, info, info_span, warn};

const MODELS: [(&str, f64, f64, f64); 4] = [
    // (model, median latency s, $ per 1M input tokens, $ per 1M output tokens)
    ("deepseek/deepseek-v3.2-exp", 2.5, 0.27, 0.40),
    ("openai/gpt-4o-mini", 1.2, 0.15, 0.60),
    ("anthropic/claude-3.5-haiku", 1.8, 0.80, 4.00),
    ("google/gemini-2.0-flash-001", 0.9, 0.10, 0.40),
];
const WORKERS: u64 = 4;
const COMPONENT: &str = "translation_service";

struct Args {
    duration: Option<Duration>,
    log_dir: String,
    listen: SocketAddr,
    rate: f64,
    seed: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        duration: None,
        log_dir: "data/telemetry".into(),
        listen: ([127, 0, 0, 1], 9000).into(),
        rate: 50.0,
        seed: 42,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--duration" => args.duration = Some(Duration::from_secs_f64(num(&value()?)?)),
            "--log-dir" => args.log_dir = value()?,
            "--listen" => args.listen = value()?.parse().map_err(|e| format!("--listen: {e}"))?,
            "--rate" => args.rate = num(&value()?)?.max(0.1),
            "--seed" => args.seed = num(&value()?)? as u64,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(args)
}

fn num(s: &str) -> Result<f64, String> {
    s.parse::<f64>()
        .map_err(|_| format!("not a number: {s}"))
        .and_then(|v| {
            if v.is_finite() && v >= 0.0 {
                Ok(v)
            } else {
                Err(format!("out of range: {s}"))
            }
        })
}

#[path = "support/rng.rs"]
mod rng;
use rng::Rng;

/// Log-normal latencies.
trait Latency {
    fn latency(&mut self, median: f64) -> f64;
}

impl Latency for Rng {
    /// Log-normal around `median` with a long right tail.
    fn latency(&mut self, median: f64) -> f64 {
        let (u1, u2) = (self.unit().max(1e-12), self.unit());
        let normal = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
        (median * (0.6 * normal).exp()).min(299.0)
    }
}

/// Totals for the status line.
#[derive(Default)]
struct Totals {
    events: AtomicU64,
    errors: AtomicU64,
    micro_usd: AtomicU64,
}

struct Sim {
    totals: Totals,
    pending: AtomicI64,
    stop: AtomicBool,
    started: Instant,
}

impl Sim {
    /// A burst of 429s for 20 s in every 90 s.
    fn rate_limited_now(&self) -> bool {
        self.started.elapsed().as_secs() % 90 >= 70
    }
}

fn call_openrouter(sim: &Sim, rng: &mut Rng, job: u64, attempt: u32) -> bool {
    // Exemplar fields of the preset: an OpenMetrics exemplar names them, so
    // a dot on a latency or error panel finds these lines.
    let (paper_id, request_id) = (format!("paper-{job}"), format!("req-{job:x}-{attempt}"));
    let (paper_id, request_id) = (paper_id.as_str(), request_id.as_str());
    let (model, median, price_in, price_out) = MODELS[rng.below(MODELS.len() as u64) as usize];
    let latency_s = rng.latency(median);
    let roll = rng.unit();
    let burst = if sim.rate_limited_now() { 0.30 } else { 0.02 };
    let failure = match roll {
        r if r < 0.0005 => Some((401, "invalid_key", "401 Invalid API key")),
        r if r < 0.0008 => Some((
            402,
            "payment_required",
            "402 Payment required: insufficient credits",
        )),
        r if r < 0.0008 + burst => Some((429, "rate_limited", "429 Rate limit exceeded")),
        r if r < 0.0158 + burst => {
            Some((502, "bad_gateway", "502 Bad gateway from upstream provider"))
        }
        r if r < 0.0258 + burst => Some((503, "unavailable", "503 Provider unavailable")),
        _ => None,
    };
    let Some((status, code, msg)) = failure else {
        let (tokens_in, tokens_out) = (400 + rng.below(3000), 300 + rng.below(2500));
        let cost_usd = (tokens_in as f64 * price_in + tokens_out as f64 * price_out) / 1e6;
        sim.totals
            .micro_usd
            .fetch_add((cost_usd * 1e6) as u64, Relaxed);
        info!(
            evt = "openrouter_call",
            source = COMPONENT,
            component = COMPONENT,
            model,
            latency_s,
            tokens_in,
            tokens_out,
            cost_usd,
            outcome = "success",
            status = 200u64,
            paper_id,
            request_id,
            "call ok"
        );
        return true;
    };
    sim.totals.errors.fetch_add(1, Relaxed);
    error!(
        evt = "openrouter_call",
        source = COMPONENT,
        component = COMPONENT,
        model,
        latency_s = latency_s.min(0.4),
        tokens_in = 0u64,
        tokens_out = 0u64,
        cost_usd = 0.0,
        outcome = "error",
        status = status as u64,
        paper_id,
        request_id,
        "call failed"
    );
    let critical = matches!(status, 401 | 402);
    // One error in four shows redaction: neither the header nor the token
    // in the message reaches the file, a label or the console.
    let leaky = rng.below(4) == 0;
    let authorization = leaky.then_some("Bearer sk-or-v1-0123456789abcdef0123456789abcdef");
    let sent_with = if leaky {
        " (request sent with Bearer sk-or-v1-0123456789abcdef0123)"
    } else {
        ""
    };
    error!(
        evt = "openrouter_error",
        source = COMPONENT,
        status = status as u64,
        code,
        component = COMPONENT,
        model,
        critical,
        authorization,
        paper_id,
        request_id,
        "{msg}{sent_with}"
    );
    false
}

/// One job: translate a paper, retrying the API call up to 3 times.
fn translate(sim: &Sim, rng: &mut Rng, job: u64) -> u64 {
    let started = rng.latency(3.0);
    let mut events = 0;
    for attempt in 1..=3 {
        events += 2;
        if call_openrouter(sim, rng, job, attempt) {
            info!(
                evt = "translation_done",
                component = COMPONENT,
                latency_s = started,
                paper_id = format!("paper-{job}").as_str(),
                "translated"
            );
            sim.pending.fetch_sub(1, Relaxed);
            return events;
        }
    }
    warn!(
        evt = "translation_failed",
        component = COMPONENT,
        paper_id = format!("paper-{job}").as_str(),
        "gave up"
    );
    sim.pending.fetch_sub(1, Relaxed);
    events
}

fn worker(sim: Arc<Sim>, seed: u64, per_worker_rate: f64) {
    let mut rng = Rng(seed);
    let (mut start, mut emitted, mut job) = (Instant::now(), 0u64, seed << 32);
    while !sim.stop.load(Relaxed) {
        // Only queued jobs are worked on; time spent idle earns no catch-up burst.
        if sim.pending.load(Relaxed) <= 0 {
            let idle = Instant::now();
            thread::sleep(Duration::from_millis(20));
            start += idle.elapsed();
            continue;
        }
        job += 1;
        emitted += translate(&sim, &mut rng, job);
        let due = Duration::from_secs_f64(emitted as f64 / per_worker_rate);
        if let Some(ahead) = due
            .checked_sub(start.elapsed())
            .filter(|d| *d > Duration::from_millis(1))
        {
            thread::sleep(ahead.min(Duration::from_millis(200)));
        }
    }
    sim.totals.events.fetch_add(emitted, Relaxed);
}

/// Events per job on average: two per API call, about 1.05 calls per job.
const EVENTS_PER_JOB: f64 = 2.1;

/// Jobs arrive in 2-minute waves around 80% of what the workers can do at `rate` events/s: the queue fills
/// while arrivals exceed that (about 45 s of each wave) and drains in the rest.
fn queue_monitor(sim: Arc<Sim>, seed: u64, rate: f64) {
    let mut rng = Rng(seed);
    let capacity = rate / EVENTS_PER_JOB;
    while !sim.stop.load(Relaxed) {
        let t = sim.started.elapsed().as_secs_f64();
        let wave = 0.8 + 0.5 * (t * std::f64::consts::TAU / 120.0).sin();
        let arrivals = (capacity * wave * (0.9 + 0.2 * rng.unit())).round() as i64;
        let pending = (sim.pending.fetch_add(arrivals, Relaxed) + arrivals).max(0) as u64;
        tracing::debug!(evt = "queue_depth", pending, "queue depth");
        sleep_unless_stopped(&sim, Duration::from_secs(1));
    }
}

/// A pipeline run every 5 s: four stages, then a result.
fn pipeline_runs(sim: Arc<Sim>, seed: u64) {
    let mut rng = Rng(seed);
    for n in 1u64.. {
        if sim.stop.load(Relaxed) {
            return;
        }
        let run_id = format!("run-{n}");
        let span = info_span!("pipeline_run", run_id = run_id.as_str());
        let _enter = span.enter();
        let failed_stage = (rng.below(10) == 0).then(|| rng.below(4));
        let mut duration_s = 0.0;
        for (i, stage) in ["fetch", "translate", "render", "publish"]
            .into_iter()
            .enumerate()
        {
            duration_s += rng.latency(2.0);
            info!(evt = "pipeline_stage", stage, "stage {stage}");
            if failed_stage == Some(i as u64) {
                break;
            }
        }
        match failed_stage {
            None => info!(
                evt = "pipeline_run",
                result = "success",
                duration_s,
                "run finished"
            ),
            Some(_) => error!(
                evt = "pipeline_run",
                result = "failure",
                duration_s,
                "run failed"
            ),
        }
        sleep_unless_stopped(&sim, Duration::from_secs(5));
    }
}

fn sleep_unless_stopped(sim: &Sim, total: Duration) {
    let end = Instant::now() + total;
    while !sim.stop.load(Relaxed) && Instant::now() < end {
        thread::sleep(Duration::from_millis(50));
    }
}

fn status_line(sim: &Sim, guard: &evt_telemetry::Guard) {
    let stats = guard.stats();
    println!(
        "[{:>5.0}s] lines written {} queued {} | api errors {} | cost ${:.4} | queue {}",
        sim.started.elapsed().as_secs_f64(),
        stats.lines_written,
        stats.lines_queued,
        sim.totals.errors.load(Relaxed),
        sim.totals.micro_usd.load(Relaxed) as f64 / 1e6,
        sim.pending.load(Relaxed).max(0),
    );
}

fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(msg) => {
            eprintln!(
                "{msg}\nusage: pipeline [--duration SECS] [--log-dir DIR] [--listen ADDR] [--rate EVENTS_PER_SEC] [--seed N]"
            );
            std::process::exit(2);
        }
    };
    let guard = evt_telemetry::TelemetryBuilder::new()
        .log_dir(&args.log_dir)
        .rules_toml(include_str!("telemetry.toml"))
        .prometheus_listen(args.listen)
        .prometheus_global_label("env", "local")
        .console_level(tracing_subscriber::filter::LevelFilter::WARN)
        .init_with_prometheus()
        .unwrap_or_else(|e| {
            eprintln!("pipeline: {e}");
            std::process::exit(1);
        });
    let addr = guard
        .prometheus()
        .map(|p| p.local_addr())
        .unwrap_or(args.listen);
    let today = time::OffsetDateTime::now_utc().date();
    println!("metrics: http://{addr}/metrics");
    println!("logs: {}/events-{today}.jsonl", args.log_dir);
    run(&args, &guard);
    drop(guard);
    println!("flushed; bye");
}

fn run(args: &Args, guard: &evt_telemetry::Guard) {
    let sim = Arc::new(Sim {
        totals: Totals::default(),
        pending: AtomicI64::new(0),
        stop: AtomicBool::new(false),
        started: Instant::now(),
    });
    let on_signal = sim.clone();
    ctrlc::set_handler(move || on_signal.stop.store(true, Relaxed)).expect("signal handler");
    let per_worker = args.rate / WORKERS as f64;
    let mut threads: Vec<_> = (0..WORKERS)
        .map(|w| {
            let sim = sim.clone();
            let seed = args.seed.wrapping_mul(1000).wrapping_add(w);
            thread::Builder::new()
                .name(format!("worker-{w}"))
                .spawn(move || worker(sim, seed, per_worker))
                .unwrap()
        })
        .collect();
    let (s1, s2) = (sim.clone(), sim.clone());
    let (seed, rate) = (args.seed, args.rate);
    threads.push(thread::spawn(move || queue_monitor(s1, seed ^ 0xA5, rate)));
    threads.push(thread::spawn(move || pipeline_runs(s2, seed ^ 0x5A)));
    let mut next_status = Instant::now() + Duration::from_secs(5);
    while !sim.stop.load(Relaxed) {
        if args.duration.is_some_and(|d| sim.started.elapsed() >= d) {
            sim.stop.store(true, Relaxed);
        }
        if Instant::now() >= next_status {
            status_line(&sim, guard);
            next_status += Duration::from_secs(5);
        }
        thread::sleep(Duration::from_millis(50));
    }
    threads.into_iter().for_each(|t| t.join().unwrap());
    status_line(&sim, guard);
}
