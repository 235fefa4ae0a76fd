//! Real servers for the end-to-end tests, on free 127.0.0.1 ports: the example app, Prometheus, Alertmanager,
//! VictoriaMetrics and vmalert as child processes killed on drop; a scrape target and a webhook sink served by
//! the test itself; the Prometheus HTTP API (which VictoriaMetrics implements too).

use super::{kit, queries, repo_root};

use serde_json::Value as Json;
use std::io::{BufRead, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

// === child processes ===

/// A child process killed (and reaped) on drop, so a failing test leaves nothing running.
pub struct Running {
    pub name: &'static str,
    pub child: Child,
    pub log: PathBuf,
}

impl Running {
    /// Starts `cmd` with stdout and stderr in `log`.
    pub fn spawn(name: &'static str, cmd: &mut Command, log: PathBuf) -> Running {
        let file = std::fs::File::create(&log).expect("log file");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        Running { name, child, log }
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let start = (text.len().saturating_sub(4000)..text.len())
            .find(|i| text.is_char_boundary(*i))
            .unwrap_or(0);
        format!(
            "--- {} log ({})\n{}",
            self.name,
            self.log.display(),
            &text[start..]
        )
    }

    /// Stops the process with SIGTERM (the example flushes its lines on it) and waits for it, 30 s at most.
    pub fn terminate(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        wait_for(
            &format!("{} to exit", self.name),
            Duration::from_secs(30),
            || self.child.try_wait().ok().flatten(),
        );
    }

    pub fn assert_alive(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "{} exited early with {status}\n{}",
                self.name,
                self.log_tail()
            );
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// Polls `done` every 100 ms until it returns `Some`, or panics after `timeout` with `what`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut done: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = done() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?}: {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

// === the example app ===

/// Builds the example (a no-op when `cargo test` already did) and returns its path.
pub fn example_binary() -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "build",
            "--example",
            "pipeline",
            "--message-format=json-render-diagnostics",
        ])
        .current_dir(repo_root())
        .stderr(Stdio::inherit())
        .output()
        .expect("run cargo build --example pipeline");
    assert!(
        out.status.success(),
        "cargo build --example pipeline failed"
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Json>(line).ok())
        .filter(|msg| msg["reason"] == "compiler-artifact" && msg["target"]["name"] == "pipeline")
        .find_map(|msg| msg["executable"].as_str().map(PathBuf::from))
        .expect("cargo reported no executable for the pipeline example")
}

/// Starts the example on a free port (logs in `dir/logs`, stderr in `dir/example.stderr`) and returns it with
/// the port it printed.
pub fn start_example(bin: &Path, dir: &Path, seed: u64) -> (Running, u16) {
    let log = dir.join("example.stderr");
    let child = Command::new(bin)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--duration",
            "90",
            "--rate",
            "2000",
        ])
        .arg("--seed")
        .arg(seed.to_string())
        .arg("--log-dir")
        .arg(dir.join("logs"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).expect("example log file"))
        .spawn()
        .expect("start the example");
    let mut running = Running {
        name: "example",
        child,
        log,
    };
    let stdout = running.child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    // Keeps draining stdout (status lines) so the example never blocks on a full pipe.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        running.assert_alive();
        let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) else {
            continue;
        };
        let port = line
            .strip_prefix("metrics: http://127.0.0.1:")
            .and_then(|r| r.strip_suffix("/metrics"));
        if let Some(port) = port {
            return (
                running,
                port.parse()
                    .unwrap_or_else(|e| panic!("bad port in {line:?}: {e}")),
            );
        }
    }
    panic!(
        "the example printed no `metrics: http://127.0.0.1:PORT/metrics` line in 30 s\n{}",
        running.log_tail()
    );
}

// === Prometheus ===

/// The committed prometheus.yml scraping `targets` every second and evaluating the committed rule files every
/// second, without Alertmanager (callers add what they need).
pub fn prometheus_config(targets: &[String]) -> serde_yaml::Value {
    let mut config = super::yaml(&kit("prometheus/prometheus.yml"));
    config["global"]["scrape_interval"] = "1s".into();
    config["global"]["evaluation_interval"] = "1s".into();
    config.as_mapping_mut().expect("mapping").remove("alerting");
    let rules: Vec<serde_yaml::Value> = queries::rule_files()
        .iter()
        .map(|p| p.to_string_lossy().into_owned().into())
        .collect();
    config["rule_files"] = rules.into();
    let scrape = &mut config["scrape_configs"][0];
    assert_eq!(
        scrape["static_configs"][0]["targets"][0], "127.0.0.1:9000",
        "committed target"
    );
    let targets: Vec<serde_yaml::Value> = targets.iter().map(|t| t.as_str().into()).collect();
    scrape["static_configs"][0]["targets"] = targets.into();
    config
}

/// Points `config` at an Alertmanager on `port`.
pub fn with_alertmanager(config: &mut serde_yaml::Value, port: u16) {
    let target = format!("127.0.0.1:{port}");
    config["alerting"] = serde_yaml::from_str(&format!(
        "alertmanagers: [{{static_configs: [{{targets: ['{target}']}}]}}]"
    ))
    .expect("alerting section");
}

pub fn start_prometheus(bin: &Path, dir: &Path, config: &serde_yaml::Value) -> (Running, u16) {
    start_prometheus_with(bin, dir, config, &[])
}

/// [`start_prometheus`] with `extra` flags (e.g. `--enable-feature=exemplar-storage`).
pub fn start_prometheus_with(
    bin: &Path,
    dir: &Path,
    config: &serde_yaml::Value,
    extra: &[&str],
) -> (Running, u16) {
    let file = dir.join("prometheus.yml");
    std::fs::write(&file, serde_yaml::to_string(config).expect("yaml")).expect("write config");
    let port = free_port();
    let running = Running::spawn(
        "prometheus",
        Command::new(bin)
            .arg(format!("--config.file={}", file.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .arg("--log.level=warn")
            .args(extra),
        dir.join("prometheus.log"),
    );
    (running, port)
}

/// Waits until Prometheus reports `count` healthy targets.
pub fn wait_for_targets_up(prometheus: &mut Running, port: u16, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        prometheus.assert_alive();
        if let Ok(body) = get(port, "/api/v1/targets") {
            let targets = body["data"]["activeTargets"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if targets.len() == count && targets.iter().all(|t| t["health"] == "up") {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!(
        "the {count} scrape targets never became healthy\n{}",
        prometheus.log_tail()
    );
}

// === HTTP API (Prometheus and VictoriaMetrics) ===

pub fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// GET on the local port, returning the JSON body.
pub fn get(port: u16, path: &str) -> Result<Json, String> {
    let response =
        crate::common::http::get(("127.0.0.1", port), path).map_err(|e| e.to_string())?;
    serde_json::from_str(&response.body).map_err(|e| format!("{e}: {}", response.body))
}

/// Runs an instant query (at `time`, Unix seconds, when given); `Ok(result array)` on success.
pub fn query_at(port: u16, expr: &str, time: Option<f64>) -> Result<Vec<Json>, String> {
    let at = time.map(|t| format!("&time={t:.3}")).unwrap_or_default();
    let body = get(
        port,
        &format!("/api/v1/query?query={}{at}", percent_encode(expr)),
    )?;
    if body["status"] != "success" {
        return Err(format!("{}: {}", body["errorType"], body["error"]));
    }
    match &body["data"]["result"] {
        Json::Array(items) => Ok(items.clone()),
        scalar => Ok(vec![scalar.clone()]),
    }
}

/// Runs an instant query now.
pub fn query(port: u16, expr: &str) -> Result<Vec<Json>, String> {
    query_at(port, expr, None)
}

/// The value of one result row (`value: [time, "number"]`).
pub fn row_value(row: &Json) -> f64 {
    row["value"][1]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

// === servers run by the test ===

/// What a [`TestServer`] received: method, path and body of each request.
pub type Requests = Arc<Mutex<Vec<(String, String, String)>>>;

/// A tiny HTTP server in the test: answers every GET with the current `page` (a scrape target whose
/// exposition the test edits) and records every request (a webhook sink for Alertmanager).
pub struct TestServer {
    pub port: u16,
    pub page: Arc<Mutex<String>>,
    pub requests: Requests,
}

impl TestServer {
    pub fn start(page: &str) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local addr").port();
        let page = Arc::new(Mutex::new(page.to_owned()));
        let requests: Requests = Arc::default();
        let (p, r) = (page.clone(), requests.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let (p, r) = (p.clone(), r.clone());
                std::thread::spawn(move || serve(stream, &p, &r));
            }
        });
        TestServer {
            port,
            page,
            requests,
        }
    }

    pub fn set_page(&self, text: &str) {
        *self.page.lock().unwrap_or_else(PoisonError::into_inner) = text.to_owned();
    }

    /// The requests received so far whose path starts with `prefix`: (path, body).
    pub fn received(&self, prefix: &str) -> Vec<(String, String)> {
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|(_, path, _)| path.starts_with(prefix))
            .map(|(_, path, body)| (path.clone(), body.clone()))
            .collect()
    }
}

/// One request per connection (`Connection: close`): enough for Prometheus's scraper and Alertmanager.
fn serve(
    mut stream: TcpStream,
    page: &Mutex<String>,
    requests: &Mutex<Vec<(String, String, String)>>,
) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    let head_end = loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
        }
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
    };
    let head = String::from_utf8_lossy(&raw[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    while raw.len() < head_end + length {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
        }
    }
    let mut words = head.split_whitespace();
    let (method, path) = (
        words.next().unwrap_or_default(),
        words.next().unwrap_or_default(),
    );
    let body = String::from_utf8_lossy(&raw[head_end.min(raw.len())..]).into_owned();
    requests
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push((method.to_owned(), path.to_owned(), body));
    let reply = if method == "GET" {
        page.lock().unwrap_or_else(PoisonError::into_inner).clone()
    } else {
        String::new()
    };
    let _ = write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
        reply.len()
    );
}
