//! The compose stack mounts the committed configs and runs on the host network bound to 127.0.0.1, and no file
//! of the kit targets a host other than 127.0.0.1.

use crate::common::kit as support;

use std::path::{Path, PathBuf};
use support::{kit, read, yaml};

fn compose() -> serde_yaml::Value {
    compose_file("docker-compose.yml")
}

fn compose_file(name: &str) -> serde_yaml::Value {
    let mut doc = yaml(&kit(name));
    doc.apply_merge().expect("YAML merge keys");
    doc
}

#[test]
fn the_compose_app_builds_with_the_crates_minimum_rust() {
    let manifest = read(&support::repo_root().join("Cargo.toml"));
    let version = manifest
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = \""))
        .and_then(|v| v.strip_suffix('"'))
        .expect("rust-version in Cargo.toml");
    assert_eq!(
        compose()["services"]["app"]["image"],
        format!("rust:{version}.0-bookworm").as_str()
    );
}

#[test]
fn one_paging_path_by_default_and_the_grafana_alternative_disables_alertmanager() {
    // Default: Prometheus -> Alertmanager; Grafana provisions no alert rules (its provisioning directory has no
    // alerting/), so a 401 pages Discord once.
    let doc = compose();
    let prometheus = yaml(&kit("prometheus/prometheus.yml"));
    let am = &prometheus["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"][0];
    assert_eq!(am, "127.0.0.1:9093");
    assert!(doc["services"]["alertmanager"].get("profiles").is_none());
    assert!(!kit("grafana/provisioning/alerting").exists());
    let grafana = serde_yaml::to_string(&doc["services"]["grafana"]["volumes"]).unwrap_or_default();
    assert!(!grafana.contains("alerting"), "{grafana}");
    // Alternative: the override mounts the Grafana rules and puts Alertmanager behind a profile (not started).
    let alt = compose_file("docker-compose.grafana-alerting.yml");
    assert_eq!(
        serde_yaml::to_string(&alt["services"]["grafana"]["volumes"]).unwrap_or_default(),
        "- ./grafana/alerting:/etc/grafana/provisioning/alerting:ro\n"
    );
    assert_eq!(
        serde_yaml::to_string(&alt["services"]["alertmanager"]).unwrap_or_default(),
        "profiles:\n- alertmanager\n"
    );
    for file in ["rules.yaml", "contact-points.yaml", "policies.yaml"] {
        assert!(kit("grafana/alerting").join(file).is_file(), "{file}");
    }
}

#[test]
fn env_is_local_everywhere_by_default() {
    // The seed's log selector is {job="chinaxiv-telemetry", env="local"}; metrics carry the same env.
    let text = |rel: &str| read(&kit(rel));
    assert!(text("loki/config.alloy").contains(r#"coalesce(sys.env("TELEMETRY_ENV"), "local")"#));
    assert!(text("loki/promtail.yaml").contains("env: ${TELEMETRY_ENV:-local}"));
    assert_eq!(
        compose()["services"]["alloy"]["environment"]["TELEMETRY_ENV"],
        "${TELEMETRY_ENV:-local}"
    );
    let prometheus = yaml(&kit("prometheus/prometheus.yml"));
    assert_eq!(
        prometheus["scrape_configs"][0]["static_configs"][0]["labels"]["env"],
        "local"
    );
    let example = read(&support::repo_root().join("examples/pipeline.rs"));
    assert!(example.contains(r#".prometheus_global_label("env", "local")"#));
    for rel in [
        "loki/config.alloy",
        "loki/promtail.yaml",
        "docker-compose.yml",
    ] {
        assert!(
            !text(rel).contains(":-dev}") && !text(rel).contains("\"dev\""),
            "{rel}"
        );
    }
}

#[test]
fn alertmanager_secrets_and_recipient_work_on_bare_metal_and_in_compose() {
    // Relative to the working directory (Alertmanager 0.25), which is the config's directory both on bare metal
    // (docs) and in compose: dashboards/alertmanager/secrets/ and /etc/alertmanager/secrets/.
    let am = yaml(&kit("alertmanager/alertmanager.yml"));
    assert_eq!(
        am["global"]["slack_api_url_file"],
        "secrets/slack_webhook_url"
    );
    assert!(kit("alertmanager/secrets/slack_webhook_url").is_file());
    let svc = &compose()["services"]["alertmanager"];
    let volumes = serde_yaml::to_string(&svc["volumes"]).unwrap_or_default();
    assert!(
        volumes.contains(":/etc/alertmanager/secrets/slack_webhook_url:ro"),
        "{volumes}"
    );
    assert_eq!(svc["working_dir"], "/etc/alertmanager");
    let command = svc["command"][0].as_str().unwrap_or_default();
    assert!(
        command.contains("> /etc/alertmanager/alertmanager.yml")
            && command.contains("--config.file=/etc/alertmanager/alertmanager.yml"),
        "{command}"
    );
    // Both placeholders are replaced from the environment.
    let receivers = serde_yaml::to_string(&am["receivers"]).unwrap_or_default();
    for (placeholder, var) in [
        (
            "http://127.0.0.1:9/discord-webhook-placeholder",
            "DISCORD_WEBHOOK_URL",
        ),
        ("ops@evt-telemetry.invalid", "EVT_ALERT_EMAIL"),
    ] {
        assert!(receivers.contains(placeholder), "{placeholder}");
        assert!(
            command.contains(&format!("s|{placeholder}|$${{{var}}}|")),
            "{var}: {command}"
        );
        assert!(svc["environment"][var].as_str().is_some(), "{var}");
    }
}

#[test]
fn compose_runs_every_service_on_the_host_network_with_pinned_images() {
    let doc = compose();
    let services = doc["services"].as_mapping().expect("services");
    let names: Vec<&str> = services.keys().filter_map(|k| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "app",
            "prometheus",
            "alertmanager",
            "mailpit",
            "loki",
            "alloy",
            "grafana"
        ]
    );
    for (name, svc) in services {
        assert_eq!(svc["network_mode"], "host", "{name:?}");
        let image = svc["image"].as_str().unwrap_or_default();
        let tag = image.rsplit_once(':').map(|(_, t)| t).unwrap_or_default();
        // A full release version (1.2.3), not a moving tag such as `latest` or `1-bookworm`.
        let pinned = regex_lite::Regex::new(r"^v?\d+\.\d+\.\d+(-[a-z]+)?$").expect("regex");
        assert!(
            pinned.is_match(tag),
            "{name:?}: pin the image to a release, got {image:?}"
        );
    }
}

#[test]
fn compose_mounts_the_committed_configs() {
    let doc = compose();
    let mut sources = Vec::new();
    for (_, svc) in doc["services"].as_mapping().expect("services") {
        for volume in svc["volumes"].as_sequence().into_iter().flatten() {
            let spec = volume.as_str().expect("short volume syntax");
            // `${VAR:-default}:/target` mounts the default unless VAR is set.
            let source = match spec.strip_prefix("${") {
                Some(var) => var
                    .split_once(":-")
                    .and_then(|(_, d)| d.split_once('}'))
                    .map_or("", |(d, _)| d),
                None => spec.split(':').next().unwrap_or_default(),
            };
            if source.starts_with('.') {
                sources.push(source.to_owned());
            }
        }
    }
    for expected in [
        "./prometheus",
        "./alertmanager/alertmanager.yml",
        "./alertmanager/secrets/slack_webhook_url",
        "./grafana/provisioning",
        "./grafana/dashboards",
        "./loki/loki.yaml",
        "./loki/config.alloy",
        "../data/telemetry",
        "..",
    ] {
        assert!(
            sources.iter().any(|s| s == expected),
            "{expected} is not mounted: {sources:?}"
        );
    }
    for source in sources.iter().filter(|s| !s.contains("data/telemetry")) {
        assert!(
            kit(source).exists(),
            "{source} does not exist under dashboards/"
        );
    }
    // The Grafana dashboards provider reads where compose mounts them.
    let provider = yaml(&kit("grafana/provisioning/dashboards/dashboards.yaml"));
    let path = provider["providers"][0]["options"]["path"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let grafana = serde_yaml::to_string(&doc["services"]["grafana"]["volumes"]).unwrap_or_default();
    assert!(
        grafana.contains(&format!("./grafana/dashboards:{path}:ro")),
        "{grafana}"
    );
}

#[test]
fn every_listen_address_in_compose_is_loopback() {
    let text = serde_yaml::to_string(&compose()["services"]).unwrap_or_default();
    let mut seen = 0;
    for line in text.lines() {
        for part in line.split_whitespace() {
            if let Some((_, value)) = part
                .split_once("listen-addr")
                .and_then(|(_, r)| r.split_once('='))
            {
                seen += 1;
                assert!(
                    value.is_empty() || value.starts_with("127.0.0.1:"),
                    "{line}"
                );
            }
        }
    }
    assert!(
        seen >= 4,
        "expected Prometheus, Alertmanager (web, cluster) and Alloy listen flags, saw {seen}"
    );
    for key in [
        "GF_SERVER_HTTP_ADDR: 127.0.0.1",
        "MP_SMTP_BIND_ADDR: 127.0.0.1:1025",
        "MP_UI_BIND_ADDR: 127.0.0.1:8025",
    ] {
        assert!(text.contains(key), "{key}");
    }
}

/// Text files of the kit, without installed npm packages and the lockfile.
fn kit_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("list").flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() && name != "node_modules" && !name.starts_with(".schema-") {
                walk(&path, out);
            } else if path.is_file() && name != "package-lock.json" {
                out.push(path);
            }
        }
    }
    let mut out = vec![support::repo_root().join("docs/OPERATIONS.md")];
    walk(&kit(""), &mut out);
    out
}

/// Hosts in `scheme://host` URLs and in `host:port` pairs.
fn hosts(text: &str) -> Vec<String> {
    let url = regex_lite::Regex::new(r"[a-z]+://([^/:\s\x22'<>|,)\]]+)").expect("regex");
    let pair = regex_lite::Regex::new(
        r"\b(localhost|\d{1,3}(?:\.\d{1,3}){3}|[a-z][a-z0-9-]*(?:\.[a-z0-9-]+)+):\d{2,5}\b",
    )
    .expect("regex");
    let mut out: Vec<String> = url.captures_iter(text).map(|c| c[1].to_owned()).collect();
    out.extend(pair.captures_iter(text).map(|c| c[1].to_owned()));
    out
}

#[test]
fn no_file_of_the_kit_targets_a_host_other_than_loopback() {
    let files = kit_files();
    assert!(files.len() >= 20, "{files:?}");
    for file in files {
        let text = read(&file);
        for host in hosts(&text) {
            assert_eq!(host, "127.0.0.1", "{}: names host {host:?}", file.display());
        }
        assert!(
            !text.contains("0.0.0.0"),
            "{}: binds all interfaces",
            file.display()
        );
    }
    assert_eq!(
        hosts("url: http://example.com/x and db:5432 and 10.0.0.1:80"),
        ["example.com", "10.0.0.1"]
    );
}
