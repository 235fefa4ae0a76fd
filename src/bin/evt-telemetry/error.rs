//! How the command fails, and the exit code of each failure.

use std::fmt;
use std::io;

/// A failure that ends the run with a one-line message on stderr.
#[derive(Debug)]
pub(crate) enum CliError {
    /// Bad arguments or a bad filter (exit code 2).
    Usage(String),
    /// The log directory is missing or unreadable (exit code 2).
    Dir(evt_telemetry::Error),
    /// Writing to stdout failed (exit code 1; a closed pipe exits 0 quietly).
    Output(io::Error),
    /// Another runtime failure, such as writing `--out` (exit code 1).
    Failed(String),
}

impl CliError {
    /// The process exit code for this failure.
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) | CliError::Dir(_) => 2,
            CliError::Output(e) if e.kind() == io::ErrorKind::BrokenPipe => 0,
            CliError::Output(_) | CliError::Failed(_) => 1,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(msg) | CliError::Failed(msg) => f.write_str(msg),
            CliError::Dir(e) => write!(f, "{e}"),
            CliError::Output(e) => write!(f, "cannot write output: {e}"),
        }
    }
}

impl From<io::Error> for CliError {
    fn from(e: io::Error) -> Self {
        CliError::Output(e)
    }
}

impl From<lexopt::Error> for CliError {
    fn from(e: lexopt::Error) -> Self {
        CliError::Usage(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_and_directory_errors_exit_2_and_a_closed_pipe_exits_0() {
        assert_eq!(CliError::Usage("x".into()).exit_code(), 2);
        let dir = evt_telemetry::Error::LogDir {
            path: "nope".into(),
            source: io::Error::new(io::ErrorKind::NotFound, "not found"),
        };
        assert_eq!(
            CliError::Dir(dir).to_string(),
            "log directory nope: not found"
        );
        assert_eq!(
            CliError::from(io::Error::from(io::ErrorKind::BrokenPipe)).exit_code(),
            0
        );
        assert_eq!(CliError::Failed("x".into()).exit_code(), 1);
    }
}
