//! End-to-end to disk: 1,000,000 lossless events from 1 or 2 threads, lines
//! counted on disk after the guard drops — ours vs fmt json +
//! tracing-appender's non-blocking daily file.
//!
//! `cargo bench --bench disk` runs all four cases in one process and prints
//! the ratios; `benches/disk.sh` runs each case in its own process under
//! `/usr/bin/time -v` to add peak RSS. One case: `cargo bench --bench disk -- ours 2`.

use std::path::Path;
use std::time::Instant;

use tracing::Dispatch;
use tracing_subscriber::layer::SubscriberExt;

const EVENTS: u64 = 1_000_000;

fn emit(i: u64) {
    tracing::error!(
        evt = "openrouter_error",
        status = 429,
        code = "rate_limited",
        model = "deepseek/deepseek-v3.2-exp",
        component = "translation_service",
        i,
        "429 Rate limit"
    );
}

fn burst(dispatch: &Dispatch, threads: u64) {
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let d = dispatch.clone();
            std::thread::spawn(move || {
                tracing::dispatcher::with_default(&d, || (0..EVENTS / threads).for_each(emit))
            })
        })
        .collect();
    handles.into_iter().for_each(|h| h.join().unwrap());
}

fn ours(dir: &Path, threads: u64) {
    let (layer, guard) = evt_telemetry::TelemetryBuilder::new()
        .log_dir(dir)
        .build()
        .unwrap();
    burst(
        &Dispatch::new(tracing_subscriber::registry().with(layer)),
        threads,
    );
    drop(guard);
}

fn appender(dir: &Path, threads: u64) {
    let file = tracing_appender::rolling::daily(dir, "events.jsonl");
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .finish(file);
    let layer = tracing_subscriber::fmt::layer()
        .json()
        .flatten_event(true)
        .with_writer(writer);
    burst(
        &Dispatch::new(tracing_subscriber::registry().with(layer)),
        threads,
    );
    drop(guard);
}

/// Newlines in every day file of `dir` (not the hidden lock file), read in
/// 64 KiB chunks, so that counting after the burst adds next to nothing to
/// the peak RSS of either case.
fn count_lines(dir: &Path) -> u64 {
    use std::io::Read;
    let mut buf = vec![0u8; 64 << 10];
    let mut lines = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .is_some_and(|n| n.as_encoded_bytes().starts_with(b"."))
        {
            continue;
        }
        let mut file = std::fs::File::open(path).unwrap();
        loop {
            let n = file.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            lines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
        }
    }
    lines
}

/// A `kB` line of `/proc/self/status` (`VmRSS`, `VmHWM`: now and peak), 0
/// where there is none.
fn status_kb(key: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let line = status.lines().find(|l| l.starts_with(key));
    let digits = line.map(|l| l.split_whitespace().nth(1).unwrap_or("0"));
    digits.and_then(|d| d.parse().ok()).unwrap_or(0)
}

/// Runs one case; returns lines on disk per second.
fn run(mode: &str, threads: u64) -> f64 {
    let dir = tempfile::tempdir_in(std::env::var("BENCH_DIR").unwrap_or_else(|_| "target".into()))
        .unwrap();
    let idle_kb = status_kb("VmRSS:");
    let start = Instant::now();
    match mode {
        "ours" => ours(dir.path(), threads),
        "appender" => appender(dir.path(), threads),
        other => panic!("unknown mode {other} (ours | appender)"),
    }
    let secs = start.elapsed().as_secs_f64();
    let peak_kb = status_kb("VmHWM:");
    let lines = count_lines(dir.path());
    let rate = lines as f64 / secs;
    println!(
        "{{\"mode\":\"{mode}\",\"threads\":{threads},\"events\":{EVENTS},\"lines_on_disk\":{lines},\"lost\":{},\"secs\":{secs:.3},\"lines_per_sec\":{rate:.0},\"rss_idle_kb\":{idle_kb},\"rss_peak_kb\":{peak_kb}}}",
        EVENTS - lines
    );
    rate
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    if let [mode, threads] = args.as_slice() {
        run(mode, threads.parse().expect("threads"));
        return;
    }
    for threads in [1, 2] {
        let anchor = run("appender", threads);
        let ours = run("ours", threads);
        println!(
            "ratio lines/s ours/appender, {threads} producer(s): {:.2}x",
            ours / anchor
        );
    }
}
