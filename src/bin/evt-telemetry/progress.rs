//! A one-line progress display for long scans, on a terminal only.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// Scans shorter than this never show progress.
const QUIET_FOR: Duration = Duration::from_millis(400);
/// Redraw at most this often.
const REDRAW_EVERY: Duration = Duration::from_millis(150);

/// Progress of a scan over `total` bytes, drawn on stderr when it is a
/// terminal (and never when it is piped or redirected).
#[derive(Debug)]
pub(crate) struct Progress {
    enabled: bool,
    total: u64,
    start: Instant,
    last_draw: Option<Instant>,
}

impl Progress {
    /// Progress for a scan of `total` bytes on disk.
    pub(crate) fn new(total: u64) -> Self {
        Progress {
            enabled: std::io::stderr().is_terminal(),
            total,
            start: Instant::now(),
            last_draw: None,
        }
    }

    /// Reports `bytes` read from disk and `lines` seen so far; cheap unless
    /// it is time to redraw.
    pub(crate) fn update(&mut self, bytes: u64, lines: u64) {
        if !self.enabled {
            return;
        }
        let now = Instant::now();
        let elapsed = now.duration_since(self.start);
        let due = self
            .last_draw
            .is_none_or(|t| now.duration_since(t) >= REDRAW_EVERY);
        if elapsed < QUIET_FOR || !due {
            return;
        }
        self.last_draw = Some(now);
        let text = render(bytes, self.total, lines, elapsed);
        let mut err = std::io::stderr().lock();
        // Progress is best effort: a failing stderr must not end the scan.
        let _ = write!(err, "\r\x1b[2K{text}");
        let _ = err.flush();
    }

    /// Erases the progress line (before other stderr output, and at the end).
    pub(crate) fn clear(&mut self) {
        if self.last_draw.take().is_some() {
            let _ = write!(std::io::stderr().lock(), "\r\x1b[2K");
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.clear();
    }
}

fn render(bytes: u64, total: u64, lines: u64, elapsed: Duration) -> String {
    const MB: f64 = 1_000_000.0;
    let pct = if total == 0 {
        100.0
    } else {
        (bytes as f64 * 100.0 / total as f64).min(100.0)
    };
    format!(
        "scanning {:.1}/{:.1} MB ({pct:.0}%), {lines} lines, {:.1} s",
        bytes as f64 / MB,
        total as f64 / MB,
        elapsed.as_secs_f64()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_text_shows_bytes_percent_lines_and_time() {
        let text = render(
            120_000_000,
            240_000_000,
            500_000,
            Duration::from_millis(1_260),
        );
        assert_eq!(text, "scanning 120.0/240.0 MB (50%), 500000 lines, 1.3 s");
        assert_eq!(
            render(0, 0, 0, Duration::ZERO),
            "scanning 0.0/0.0 MB (100%), 0 lines, 0.0 s"
        );
    }
}
