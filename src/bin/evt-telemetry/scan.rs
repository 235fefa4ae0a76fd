//! Streaming over a log directory: every file in day order, every line
//! parsed once, malformed lines skipped, counted and reported on stderr.

use std::cell::Cell;
use std::path::Path;
use std::rc::Rc;

use crate::args::Common;
use crate::error::CliError;
use crate::files::{self, Input, Listing, LogFile};
use crate::filter::Filter;
use crate::line::{Line, MemberSpan};
use crate::progress::Progress;
use crate::split::{LineSplitter, Piece, Stopped};

/// At most this many malformed lines are reported one by one.
const MAX_REPORTED: u64 = 20;
/// Progress is checked every this many lines.
const PROGRESS_EVERY: u64 = 16_384;

/// Whether a scan goes on after a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    Continue,
    Stop,
}

/// What a scan went through.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Summary {
    /// Files read (after skipping days outside the time range).
    pub(crate) files: u64,
    /// Lines read (blank ones included).
    pub(crate) lines: u64,
    /// Lines that passed the filter.
    pub(crate) matched: u64,
    /// Lines skipped as malformed (plus files that failed mid-read).
    pub(crate) malformed: u64,
}

/// Turns raw lines into [`Line`]s, reporting the ones that are not.
#[derive(Debug)]
pub(crate) struct LineChecker {
    /// Reused for every line's `meta` member positions.
    spans: Vec<MemberSpan>,
    tally: Tally,
}

/// Counts and reports malformed lines.
#[derive(Debug)]
struct Tally {
    malformed: u64,
    reported: u64,
    /// Erased before each report so the two never share a line.
    progress: Progress,
}

impl LineChecker {
    /// A checker whose reports erase `progress` first.
    pub(crate) fn new(progress: Progress) -> Self {
        LineChecker {
            spans: Vec::new(),
            tally: Tally {
                malformed: 0,
                reported: 0,
                progress,
            },
        }
    }

    /// Parses `bytes` (one line, newline included or not). Blank lines give
    /// `None` silently; malformed ones `None` after a report naming
    /// `path:line_no`.
    pub(crate) fn check<'b>(
        &'b mut self,
        path: &Path,
        line_no: u64,
        bytes: &'b [u8],
    ) -> Option<Line<'b>> {
        let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
        let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return None;
        }
        let parsed = match std::str::from_utf8(bytes) {
            Ok(text) => Line::parse_with(text, &mut self.spans).map_err(|e| e.to_string()),
            Err(e) => Err(format!("invalid UTF-8 at byte {}", e.valid_up_to() + 1)),
        };
        parsed
            .map_err(|why| {
                self.tally.report(&format!(
                    "{}:{line_no}: malformed line: {why}",
                    path.display()
                ))
            })
            .ok()
    }

    /// Counts and reports a line longer than the cap (skipped unread).
    pub(crate) fn too_long(&mut self, path: &Path, line_no: u64, len: u64, max: usize) {
        self.tally.report(&format!(
            "{}:{line_no}: malformed line: {len} bytes, over the {max}-byte line cap (--max-line-bytes)",
            path.display()
        ));
    }

    /// Counts a bad line (or a file that failed mid-read) and reports it,
    /// up to [`MAX_REPORTED`] of them.
    pub(crate) fn report(&mut self, message: &str) {
        self.tally.report(message);
    }

    /// Redraws progress if due (see [`Progress::update`]).
    pub(crate) fn progress(&mut self, bytes: u64, lines: u64) {
        self.tally.progress.update(bytes, lines);
    }

    /// How many lines were malformed.
    pub(crate) fn malformed(&self) -> u64 {
        self.tally.malformed
    }

    /// Erases progress and prints the closing count of malformed lines, if any.
    pub(crate) fn finish(&mut self) {
        let t = &mut self.tally;
        t.progress.clear();
        if t.malformed > t.reported {
            eprintln!(
                "evt-telemetry: ... {} more not shown",
                t.malformed - t.reported
            );
        }
        if t.malformed > 0 {
            eprintln!("evt-telemetry: skipped {} malformed line(s)", t.malformed);
        }
    }
}

impl Tally {
    fn report(&mut self, message: &str) {
        self.malformed += 1;
        if self.reported < MAX_REPORTED {
            self.reported += 1;
            self.progress.clear();
            eprintln!("evt-telemetry: {message}");
        }
    }
}

/// Calls `each` with every line of the command's input that passes its
/// filter, in file order, until it returns [`Flow::Stop`].
///
/// # Errors
/// [`CliError::Dir`] for a missing or unreadable directory, and whatever
/// `each` returns.
pub(crate) fn scan<F>(common: &Common, each: F) -> Result<Summary, CliError>
where
    F: FnMut(&Line<'_>) -> Result<Flow, CliError>,
{
    let listing = files::resolve(&common.input)?;
    note_listing(&common.input, &listing);
    let filter = &common.filter;
    let wanted: Vec<&LogFile> = listing
        .files
        .iter()
        .filter(|f| f.day.is_none_or(|d| filter.may_match_day(d)))
        .collect();
    let progress = Progress::new(wanted.iter().map(|f| f.len).sum());
    let mut run = Run {
        filter,
        max_line: common.max_line,
        each,
        checker: LineChecker::new(progress),
        bytes: Rc::new(Cell::new(0)),
        summary: Summary::default(),
    };
    for file in wanted {
        run.summary.files += 1;
        if run.file(file)? == Flow::Stop {
            break;
        }
    }
    run.checker.finish();
    run.summary.malformed = run.checker.malformed();
    Ok(run.summary)
}

/// Says on stderr what a directory listing left out: symbolic links, or
/// everything (no day files at all).
pub(crate) fn note_listing(input: &Input, listing: &Listing) {
    for link in &listing.symlinks {
        eprintln!(
            "evt-telemetry: {}: a symbolic link, not read (name it as a FILE argument to read it)",
            link.display()
        );
    }
    if listing.files.is_empty() && input.files.is_empty() {
        eprintln!(
            "evt-telemetry: no {}-YYYY-MM-DD.jsonl[.gz] files in {}",
            listing.prefix,
            input.dir.display()
        );
    }
}

/// The state of one scan.
struct Run<'f, F> {
    filter: &'f Filter,
    max_line: usize,
    each: F,
    checker: LineChecker,
    /// Bytes read from disk so far, for progress.
    bytes: Rc<Cell<u64>>,
    summary: Summary,
}

impl<F> Run<'_, F>
where
    F: FnMut(&Line<'_>) -> Result<Flow, CliError>,
{
    fn file(&mut self, file: &LogFile) -> Result<Flow, CliError> {
        let mut reader = match files::open(file, Rc::clone(&self.bytes)) {
            Ok(r) => r,
            Err(e) => return Ok(self.failed(file, 0, &e)),
        };
        let mut line_no = 0;
        let mut splitter = LineSplitter::new(self.max_line);
        let result = splitter.feed(&mut *reader, |piece| {
            line_no += 1;
            self.piece(file, line_no, piece)
        });
        match result {
            Ok(Flow::Continue) => splitter.finish(|piece| {
                line_no += 1;
                self.piece(file, line_no, piece)
            }),
            Ok(Flow::Stop) => Ok(Flow::Stop),
            Err(Stopped::Each(e)) => Err(e),
            Err(Stopped::Read(e)) => Ok(self.failed(file, line_no, &e)),
        }
    }

    fn piece(&mut self, file: &LogFile, line_no: u64, piece: Piece<'_>) -> Result<Flow, CliError> {
        self.summary.lines += 1;
        if self.summary.lines.is_multiple_of(PROGRESS_EVERY) {
            self.checker.progress(self.bytes.get(), self.summary.lines);
        }
        let buf = match piece {
            Piece::Line(buf) => buf,
            Piece::TooLong(n) => {
                self.checker.too_long(&file.path, line_no, n, self.max_line);
                return Ok(Flow::Continue);
            }
        };
        match self.checker.check(&file.path, line_no, buf) {
            Some(line) if self.filter.matches(&line) => {
                self.summary.matched += 1;
                (self.each)(&line)
            }
            _ => Ok(Flow::Continue),
        }
    }

    /// A file that could not be opened or failed mid-read (say a truncated
    /// `.gz`): reported and counted like a malformed line; the scan goes on.
    fn failed(&mut self, file: &LogFile, line_no: u64, e: &std::io::Error) -> Flow {
        self.checker.report(&format!(
            "{}: read error after line {line_no}: {e}",
            file.path.display()
        ));
        Flow::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_lines_are_ignored_and_bad_ones_counted() {
        let mut checker = LineChecker::new(Progress::new(0));
        let path = Path::new("events-2025-10-06.jsonl");
        assert!(checker.check(path, 1, b"  \r\n").is_none());
        assert_eq!(checker.malformed(), 0);
        assert!(checker.check(path, 2, b"{not json}\n").is_none());
        assert!(checker.check(path, 3, b"\xff\n").is_none());
        assert_eq!(checker.malformed(), 2);
        let good = br#"{"ts":"2025-10-06T00:00:00.000Z","level":"info","evt":"e"}"#;
        assert!(checker.check(path, 4, good).is_some());
    }

    #[test]
    fn a_scan_filters_counts_and_stops_when_asked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let line = |evt: &str| {
            format!(
                "{{\"ts\":\"2025-10-06T00:00:00.000Z\",\"level\":\"info\",\"evt\":\"{evt}\"}}\n"
            )
        };
        let text = [line("a"), "oops\n".into(), line("b"), line("a")].concat();
        std::fs::write(dir.path().join("events-2025-10-06.jsonl"), text).expect("write");
        let mut common = Common::for_dir(dir.path());
        common.filter = Filter {
            evts: vec!["a".into()],
            ..Filter::default()
        };
        let mut seen = 0;
        let summary = scan(&common, |_| {
            seen += 1;
            Ok(Flow::Continue)
        })
        .expect("scan");
        assert_eq!(seen, 2);
        assert_eq!(
            summary,
            Summary {
                files: 1,
                lines: 4,
                matched: 2,
                malformed: 1
            }
        );
        common.filter = Filter::default();
        let stopped = scan(&common, |_| Ok(Flow::Stop)).expect("scan");
        assert_eq!(stopped.matched, 1);
    }
}
