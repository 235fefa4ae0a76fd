//! The crate's one error type.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong while building or installing telemetry.
///
/// Almost every error happens at build or install time. Once running, the
/// layer and its writer never fail a logging call; they count problems
/// instead (see [`Stats`](crate::Stats)). The one run-time error is
/// [`Error::Timeout`], from [`Guard::flush`](crate::Guard::flush).
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The log directory could not be created, opened or written.
    LogDir {
        /// The directory that was tried.
        path: PathBuf,
        /// The underlying I/O error.
        source: io::Error,
    },
    /// Another writer holds the log directory: only one process (and one
    /// [`Guard`](crate::Guard)) writes a directory at a time. Returned by
    /// `build()` after waiting
    /// [`lock_wait`](crate::TelemetryBuilder::lock_wait) for it to finish.
    DirLocked {
        /// The directory.
        path: PathBuf,
        /// The holder's process id, as it wrote it into the lock file
        /// (`None` if it could not be read).
        pid: Option<u32>,
        /// How long `build()` waited for the lock.
        waited: Duration,
    },
    /// A file (for example a rules TOML file) could not be read.
    Read {
        /// The file that was tried.
        path: PathBuf,
        /// The underlying I/O error.
        source: io::Error,
    },
    /// A configuration value is out of range or inconsistent.
    Config(String),
    /// A redaction pattern is not a valid regular expression.
    Pattern {
        /// The pattern as given.
        pattern: String,
        /// What the regex parser said.
        message: String,
    },
    /// A metric rule is invalid (bad metric or label name, bad buckets,
    /// duplicate metric with a different kind or labels, ...).
    Rule {
        /// The metric the rule is for.
        metric: String,
        /// What is wrong with it.
        message: String,
    },
    /// A rules TOML document could not be parsed.
    Toml {
        /// Where the TOML came from (a path, or `<string>`).
        origin: String,
        /// The parser's message, with line and column.
        message: String,
    },
    /// The Prometheus exporter could not be installed or could not listen.
    Exporter {
        /// What was attempted.
        message: String,
        /// The underlying I/O error, if any.
        source: Option<io::Error>,
    },
    /// A global (subscriber or metrics recorder) was already installed.
    AlreadyInstalled(&'static str),
    /// A flush did not finish in time; `pending` lines were still queued.
    Timeout {
        /// Lines not yet written when the wait ended.
        pending: u64,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::LogDir { path, source } => {
                write!(f, "log directory {}: {source}", path.display())
            }
            Error::DirLocked { path, pid, waited } => {
                let holder = match pid {
                    Some(pid) if *pid == std::process::id() => {
                        "another writer in this process".to_owned()
                    }
                    Some(pid) => format!("the writer of process {pid}"),
                    None => "another writer".to_owned(),
                };
                write!(
                    f,
                    "log directory {} is locked by {holder} (waited {waited:?}); \
                     give each instance its own log_dir, or raise lock_wait for an overlapping restart",
                    path.display()
                )
            }
            Error::Read { path, source } => write!(f, "cannot read {}: {source}", path.display()),
            Error::Config(msg) => write!(f, "invalid configuration: {msg}"),
            Error::Pattern { pattern, message } => {
                write!(f, "invalid redaction pattern {pattern:?}: {message}")
            }
            Error::Rule { metric, message } => write!(f, "metric rule {metric:?}: {message}"),
            Error::Toml { origin, message } => write!(f, "rules TOML {origin}: {message}"),
            Error::Exporter { message, source } => match source {
                Some(e) => write!(f, "prometheus exporter: {message}: {e}"),
                None => write!(f, "prometheus exporter: {message}"),
            },
            Error::AlreadyInstalled(what) => write!(f, "a global {what} is already installed"),
            Error::Timeout { pending } => {
                write!(f, "flush timed out with {pending} lines not yet written")
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::LogDir { source, .. } | Error::Read { source, .. } => Some(source),
            Error::Exporter {
                source: Some(e), ..
            } => Some(e),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_dir_error_names_the_path_and_keeps_the_source() {
        let err = Error::LogDir {
            path: PathBuf::from("/nope/dir"),
            source: io::Error::new(io::ErrorKind::PermissionDenied, "denied"),
        };
        assert_eq!(err.to_string(), "log directory /nope/dir: denied");
        assert!(std::error::Error::source(&err).is_some());
    }

    #[test]
    fn dir_locked_names_the_directory_and_the_holder() {
        let err = Error::DirLocked {
            path: PathBuf::from("/var/log/app"),
            pid: Some(u32::MAX),
            waited: Duration::from_millis(1500),
        };
        assert_eq!(
            err.to_string(),
            "log directory /var/log/app is locked by the writer of process 4294967295 \
             (waited 1.5s); give each instance its own log_dir, or raise lock_wait \
             for an overlapping restart"
        );
    }
}
