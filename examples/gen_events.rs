//! Writes realistic event files of the translation-pipeline catalogue (see
//! CATALOGUE.md) for benchmarks and demos, without running the pipeline.
//!
//! ```text
//! cargo run --release --example gen_events -- --dir DIR --lines N
//!     [--seed S] [--start 2025-10-06T00:00:00Z] [--interval-ms 50] [--gzip-old-days]
//! ```
//! Lines go to `DIR/events-YYYY-MM-DD.jsonl` by the UTC day of their `ts`;
//! `--gzip-old-days` gzips every day but the last. Same seed, same bytes.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use flate2::{Compression, write::GzEncoder};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const MODELS: [(&str, f64, f64); 4] = [
    // (model, USD per input token, USD per output token)
    ("deepseek/deepseek-v3.2-exp", 0.000_000_27, 0.000_000_41),
    ("anthropic/claude-sonnet-4.5", 0.000_003, 0.000_015),
    ("openai/gpt-4o-mini", 0.000_000_15, 0.000_000_6),
    ("google/gemini-2.5-flash", 0.000_000_3, 0.000_002_5),
];
const ERRORS: [(u64, &str, &str, &str); 6] = [
    (429, "rate_limited", "Rate limit", "error"),
    (429, "rate_limited", "Rate limit", "error"),
    (500, "server_error", "Internal server error", "error"),
    (502, "bad_gateway", "Bad gateway", "error"),
    (503, "unavailable", "Service unavailable", "error"),
    (401, "invalid_key", "Invalid API key", "critical"),
];
const STAGES: [&str; 4] = ["fetch", "translate", "render", "publish"];
const COMPONENTS: [&str; 2] = ["translation_service", "summary_service"];

#[path = "support/rng.rs"]
mod rng;
use rng::Rng;

/// Roughly log-normal latencies.
trait Latency {
    fn latency(&mut self, median: f64) -> f64;
}

impl Latency for Rng {
    /// Roughly log-normal latency around `median` seconds, in milliseconds precision.
    fn latency(&mut self, median: f64) -> f64 {
        let z = (0..4).map(|_| self.unit()).sum::<f64>() - 2.0;
        ((median * (z * 0.9).exp()) * 1000.0).round() / 1000.0
    }
}

struct Args {
    dir: PathBuf,
    lines: u64,
    seed: u64,
    start_ms: i64,
    interval_ms: i64,
    gzip_old_days: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        dir: PathBuf::from("data/telemetry"),
        lines: 10_000,
        seed: 1,
        start_ms: 1_759_708_800_000, // 2025-10-06T00:00:00Z
        interval_ms: 50,
        gzip_old_days: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        let num = |v: String| v.parse::<u64>().map_err(|_| format!("bad number {v:?}"));
        match flag.as_str() {
            "--dir" => args.dir = value()?.into(),
            "--lines" => args.lines = num(value()?)?,
            "--seed" => args.seed = num(value()?)?,
            "--interval-ms" => args.interval_ms = num(value()?)?.max(1) as i64,
            "--start" => {
                let t = OffsetDateTime::parse(&value()?, &Rfc3339).map_err(|e| e.to_string())?;
                args.start_ms = (t.unix_timestamp_nanos() / 1_000_000) as i64;
            }
            "--gzip-old-days" => args.gzip_old_days = true,
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(args)
}

fn ts_text(ms: i64) -> String {
    // UNWRAP: generated times stay within a few years of --start.
    let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .expect("time in range");
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// The day files, opened as lines need them.
struct Days {
    dir: PathBuf,
    day: Option<String>,
    out: Option<BufWriter<File>>,
    written: Vec<PathBuf>,
}

impl Days {
    fn write(&mut self, ts: &str, line: &str) -> io::Result<()> {
        let day = &ts[..10];
        if self.day.as_deref() != Some(day) {
            if let Some(mut out) = self.out.take() {
                out.flush()?;
            }
            let path = self.dir.join(format!("events-{day}.jsonl"));
            self.out = Some(BufWriter::with_capacity(1 << 20, File::create(&path)?));
            self.written.push(path);
            self.day = Some(day.to_owned());
        }
        match self.out.as_mut() {
            Some(out) => writeln!(out, "{line}"),
            None => Err(io::Error::other("no open day file")),
        }
    }
}

fn gzip(path: &Path) -> io::Result<()> {
    let gz_path = path.with_extension("jsonl.gz");
    let mut enc = GzEncoder::new(
        BufWriter::new(File::create(&gz_path)?),
        Compression::default(),
    );
    io::copy(&mut File::open(path)?, &mut enc)?;
    enc.finish()?.flush()?;
    std::fs::remove_file(path)
}

/// One line of the contract.
fn line(ts: &str, level: &str, evt: &str, source: &str, msg: &str, meta: &str) -> String {
    format!(
        r#"{{"ts":"{ts}","level":"{level}","evt":"{evt}","source":"{source}","msg":"{msg}","meta":{{{meta}}}}}"#
    )
}

/// Emits one step of pipeline activity (one or two lines).
fn step(rng: &mut Rng, ts: &str, n: u64, emit: &mut dyn FnMut(String)) {
    let run = format!("run-{:06}", n / 40);
    let paper = format!("2510.{:05}", rng.below(100_000));
    let worker = format!("worker-{}", rng.below(8));
    let component = COMPONENTS[(rng.below(10) / 8) as usize];
    let spans = format!(r#""run_id":"{run}""#);
    let (model, p_in, p_out) = MODELS[rng.below(MODELS.len() as u64) as usize];
    match rng.below(100) {
        0..=39 => {
            let (tin, tout) = (800 + rng.below(3000), 200 + rng.below(2500));
            let cost = ((tin as f64 * p_in + tout as f64 * p_out) * 1e8).round() / 1e8;
            let lat = rng.latency(2.5);
            let meta = format!(
                r#""model":"{model}","component":"{component}","latency_s":{lat},"tokens_in":{tin},"tokens_out":{tout},"cost_usd":{cost},"outcome":"success","status":200"#
            );
            emit(line(
                ts,
                "info",
                "openrouter_call",
                component,
                "call ok",
                &meta,
            ));
        }
        40..=45 => {
            let (status, code, text, level) = ERRORS[rng.below(ERRORS.len() as u64) as usize];
            let meta = format!(
                r#""status":{status},"code":"{code}","component":"{component}","model":"{model}""#
            );
            emit(line(
                ts,
                level,
                "openrouter_error",
                component,
                &format!("{status} {text}"),
                &meta,
            ));
            let lat = rng.latency(0.8);
            let meta = format!(
                r#""model":"{model}","component":"{component}","latency_s":{lat},"tokens_in":0,"tokens_out":0,"cost_usd":0,"outcome":"error","status":{status}"#
            );
            emit(line(
                ts,
                "error",
                "openrouter_call",
                component,
                "call failed",
                &meta,
            ));
        }
        46..=65 => {
            let lat = rng.latency(6.0);
            let meta = format!(
                r#""component":"{component}","latency_s":{lat},"paper_id":"{paper}",{spans}"#
            );
            emit(line(
                ts,
                "info",
                "translation_done",
                component,
                &format!("translated {paper}"),
                &meta,
            ));
        }
        66..=85 => {
            let stage = STAGES[rng.below(4) as usize];
            let meta = format!(r#""stage":"{stage}",{spans}"#);
            emit(line(
                ts,
                "info",
                "pipeline_stage",
                "pipeline::runner",
                &format!("stage {stage} started"),
                &meta,
            ));
        }
        86..=88 => {
            let ok = rng.below(10) > 0;
            let (level, result) = if ok {
                ("info", "success")
            } else {
                ("error", "failure")
            };
            let dur = rng.latency(120.0);
            let meta = format!(r#""result":"{result}","duration_s":{dur},{spans}"#);
            emit(line(
                ts,
                level,
                "pipeline_run",
                "pipeline::runner",
                &format!("run {run} {result}"),
                &meta,
            ));
        }
        _ => {
            let meta = format!(r#""pending":{},"worker":"{worker}""#, rng.below(200));
            emit(line(
                ts,
                "debug",
                "queue_depth",
                "pipeline::queue",
                "queue depth sampled",
                &meta,
            ));
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    std::fs::create_dir_all(&args.dir)?;
    let mut rng = Rng(args.seed);
    let mut days = Days {
        dir: args.dir.clone(),
        day: None,
        out: None,
        written: Vec::new(),
    };
    let (mut written, mut bytes, mut n, mut ms) = (0u64, 0u64, 0u64, args.start_ms);
    let mut result = Ok(());
    while written < args.lines && result.is_ok() {
        let ts = ts_text(ms);
        step(&mut rng, &ts, n, &mut |l: String| {
            if written < args.lines && result.is_ok() {
                bytes += l.len() as u64 + 1;
                written += 1;
                result = days.write(&ts, &l);
            }
        });
        n += 1;
        ms += 1 + rng.below(2 * args.interval_ms as u64 - 1) as i64;
    }
    result?;
    if let Some(mut out) = days.out.take() {
        out.flush()?;
    }
    if args.gzip_old_days {
        for path in days.written.iter().rev().skip(1) {
            gzip(path)?;
        }
    }
    println!(
        "wrote {written} lines, {bytes} bytes ({} bytes/line) to {}",
        bytes / written.max(1),
        args.dir.display()
    );
    Ok(())
}
