//! `build()`'s checks of the settings, all in one place, before anything
//! touches a file or a global.

use super::*;

impl TelemetryBuilder {
    pub(super) fn validate(&self) -> Result<(), Error> {
        let bad = |msg: String| Err(Error::Config(msg));
        let prefix_ok = !self.file_prefix.is_empty()
            && self
                .file_prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
        if !prefix_ok {
            return bad(format!(
                "file_prefix {:?}: use letters, digits, '_', '-' or '.'",
                self.file_prefix
            ));
        }
        if self.retention_days == Some(0) {
            return bad(
                "retention_days must be at least 1 (use keep_all_files to keep everything)".into(),
            );
        }
        if self.max_line_bytes < 1024 {
            return bad(format!(
                "max_line_bytes {} is below 1024",
                self.max_line_bytes
            ));
        }
        if let Some(max) = self.queue_max_bytes.filter(|&max| max < self.queue_bytes) {
            return bad(format!(
                "queue_max_bytes {max} is below queue_capacity_bytes {}",
                self.queue_bytes
            ));
        }
        if self.queue_bytes < self.max_line_bytes {
            return bad(format!(
                "queue_capacity_bytes {} is below max_line_bytes {}",
                self.queue_bytes, self.max_line_bytes
            ));
        }
        if self.flush_interval.is_zero() || self.flush_interval > Duration::from_millis(500) {
            return bad(format!(
                "flush_interval {:?} must be between 1 ms and 500 ms",
                self.flush_interval
            ));
        }
        if self.max_series == 0 {
            return bad("max_series_per_metric must be at least 1".into());
        }
        if self.exporter.limits.max_connections < 2 {
            return bad(format!(
                "prometheus_max_connections {} is below 2",
                self.exporter.limits.max_connections
            ));
        }
        self.allowed_hosts()?;
        self.allowed_peers().map(drop)
    }

    pub(super) fn allowed_peers(&self) -> Result<Vec<IpNet>, Error> {
        self.allowed.iter().map(|s| s.parse::<IpNet>()).collect()
    }

    pub(super) fn allowed_hosts(&self) -> Result<Vec<HostName>, Error> {
        self.allowed_hosts
            .iter()
            .map(|s| s.parse::<HostName>())
            .collect()
    }

    pub(super) fn take_rules(&mut self) -> Result<Vec<MetricRule>, Error> {
        let mut rules = std::mem::take(&mut self.rules);
        for path in &self.rules_files {
            let text = fs::read_to_string(path).map_err(|source| Error::Read {
                path: path.clone(),
                source,
            })?;
            rules.extend(parse_rules_toml(&text, &path.display().to_string())?);
        }
        for text in &self.rules_text {
            rules.extend(parse_rules_toml(text, "<string>")?);
        }
        Ok(rules)
    }
}
