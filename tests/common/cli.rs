//! Helpers shared by the `cli_*` integration tests: run the binary, find
//! the fixtures.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The result of one run of the command.
#[derive(Debug)]
pub struct Run {
    pub stdout: String,
    pub stderr: String,
    pub code: Option<i32>,
}

/// The `evt-telemetry` binary built for these tests.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_evt-telemetry"))
}

/// A directory under `tests/fixtures/cli/`.
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/cli")
        .join(name)
}

/// The hand-checked fixture: two days, gz (two members) and plain, two malformed lines.
pub fn basic() -> String {
    fixture("basic").display().to_string()
}

fn finish(out: Output) -> Run {
    Run {
        stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
        code: out.status.code(),
    }
}

/// Runs the command with `args` and waits for it.
pub fn run(args: &[&str]) -> Run {
    finish(bin().args(args).output().expect("run evt-telemetry"))
}

/// What every scan of the basic fixture reports on stderr.
pub fn basic_malformed_report() -> String {
    let file = fixture("basic").join("events-2025-10-06.jsonl");
    format!(
        "evt-telemetry: {f}:2: malformed line: unterminated string at byte 142\n\
         evt-telemetry: {f}:7: malformed line: missing \"ts\"\n\
         evt-telemetry: skipped 2 malformed line(s)\n",
        f = file.display()
    )
}

/// The `(ts, evt)` of each JSON line of `stdout`.
pub fn ts_evt(stdout: &str) -> Vec<(String, String)> {
    stdout
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
            (
                v["ts"].as_str().unwrap_or("").to_owned(),
                v["evt"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

/// Owned `(ts, evt)` pairs from literals.
pub fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

// === headless Chromium ===

/// Chromium (Debian package `chromium`), or `None` after a note — a failure
/// when `CI` is set.
pub fn chromium() -> Option<PathBuf> {
    super::kit::tool("chromium", "chromium")
}

/// What a page did in headless Chromium.
#[derive(Debug)]
pub struct Loaded {
    /// The DOM after load (`--dump-dom`).
    pub dom: String,
    /// Console messages Chromium logged.
    pub console: Vec<String>,
    /// Requests the page made (all traffic goes through a counting proxy on
    /// 127.0.0.1, loopback included), without Chromium's own service
    /// traffic (update checks, network time, accounts: Google hosts).
    pub requests: Vec<String>,
}

/// A proxy that accepts connections, records their first line and answers
/// 404: every request Chromium makes lands here.
fn counting_proxy() -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{BufRead, BufReader};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind proxy");
    let port = listener.local_addr().expect("addr").port();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = std::sync::Arc::clone(&seen);
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { break };
            let _ = conn.set_read_timeout(Some(std::time::Duration::from_secs(2)));
            let mut first = String::new();
            let mut reader = BufReader::new(conn);
            let _ = reader.read_line(&mut first);
            // Recorded before answering: the page waits for the answer, so
            // by the time Chromium exits every request is in the log.
            log.lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(first.trim_end().to_owned());
            let _ = std::io::Write::write_all(
                reader.get_mut(),
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
    });
    (port, seen)
}

fn headless(browser: &Path, profile: &Path, proxy_port: u16) -> Command {
    let mut cmd = Command::new(browser);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--enable-logging=stderr",
        "--v=0",
        "--timeout=20000",
        "--proxy-bypass-list=<-loopback>",
    ])
    .arg(format!("--proxy-server=http://127.0.0.1:{proxy_port}"))
    .arg(format!("--user-data-dir={}", profile.display()));
    cmd
}

/// Loads `page` in headless Chromium: its DOM, console messages and
/// network requests; with `screenshot`, also saves a PNG there.
pub fn load(browser: &Path, page: &Path, work: &Path, screenshot: Option<&Path>) -> Loaded {
    let (port, requests) = counting_proxy();
    let url = format!("file://{}", page.display());
    let out = headless(browser, &work.join("profile-dom"), port)
        .arg("--dump-dom")
        .arg(&url)
        .output()
        .expect("run chromium");
    if let Some(png) = screenshot {
        let shot = headless(browser, &work.join("profile-shot"), port)
            .args(["--hide-scrollbars", "--window-size=1000,1600"])
            .arg(format!("--screenshot={}", png.display()))
            .arg(&url)
            .output()
            .expect("run chromium");
        assert!(
            shot.status.success(),
            "{}",
            String::from_utf8_lossy(&shot.stderr)
        );
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let console = stderr
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_owned)
        .collect();
    let requests = requests
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter(|r| !is_chromium_service(r))
        .cloned()
        .collect();
    Loaded {
        dom: String::from_utf8_lossy(&out.stdout).into_owned(),
        console,
        requests,
    }
}

/// Whether a request line is Chromium talking to its own services.
fn is_chromium_service(request: &str) -> bool {
    let target = request.split(' ').nth(1).unwrap_or("");
    let host = target
        .trim_start_matches("http://")
        .trim_start_matches("https://")
        .split(['/', ':'])
        .next()
        .unwrap_or("");
    ["google.com", "googleapis.com", "gvt1.com", "gstatic.com"]
        .iter()
        .any(|d| host == *d || host.ends_with(&format!(".{d}")))
}

/// The `href` values of `<a>` elements in an HTML text, unescaped.
pub fn hrefs(html: &str) -> Vec<String> {
    html.split("<a href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(|h| h.replace("&amp;", "&"))
        .collect()
}
