//! The levels a line carries in its `level` key.

/// The level written in the `level` key of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LineLevel {
    /// `trace`
    Trace,
    /// `debug`
    Debug,
    /// `info`
    Info,
    /// `warning`
    Warning,
    /// `error`
    Error,
    /// `critical`: an error event carrying `critical = true`.
    Critical,
}

impl LineLevel {
    /// The text written in the line (`trace` ... `critical`).
    pub fn as_str(self) -> &'static str {
        match self {
            LineLevel::Trace => "trace",
            LineLevel::Debug => "debug",
            LineLevel::Info => "info",
            LineLevel::Warning => "warning",
            LineLevel::Error => "error",
            LineLevel::Critical => "critical",
        }
    }

    /// Parses the line text (also accepts `warn`), case-insensitively.
    pub fn parse(s: &str) -> Option<Self> {
        const ALL: [(&str, LineLevel); 7] = [
            ("trace", LineLevel::Trace),
            ("debug", LineLevel::Debug),
            ("info", LineLevel::Info),
            ("warning", LineLevel::Warning),
            ("warn", LineLevel::Warning),
            ("error", LineLevel::Error),
            ("critical", LineLevel::Critical),
        ];
        ALL.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(s))
            .map(|(_, l)| *l)
    }

    pub(crate) fn from_tracing(level: &tracing::Level, critical: bool) -> Self {
        match *level {
            _ if critical => LineLevel::Critical,
            tracing::Level::TRACE => LineLevel::Trace,
            tracing::Level::DEBUG => LineLevel::Debug,
            tracing::Level::INFO => LineLevel::Info,
            tracing::Level::WARN => LineLevel::Warning,
            tracing::Level::ERROR => LineLevel::Error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_text_round_trips() {
        for l in [LineLevel::Trace, LineLevel::Warning, LineLevel::Critical] {
            assert_eq!(LineLevel::parse(l.as_str()), Some(l));
        }
        assert_eq!(LineLevel::parse("WARN"), Some(LineLevel::Warning));
    }
}
