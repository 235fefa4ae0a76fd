//! Streaming over a log directory: every file in day order, every line
//! parsed once, malformed lines skipped, counted and reported on stderr.

use std::cell::Cell;
use std::io::BufRead;
use std::path::Path;
use std::rc::Rc;

use crate::error::CliError;
use crate::files::{self, LogFile};
use crate::filter::Filter;
use crate::line::{Line, MemberSpan};
use crate::progress::Progress;

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

/// Calls `each` with every line of `dir` that passes `filter`, in file
/// order, until it returns [`Flow::Stop`].
///
/// # Errors
/// [`CliError::Dir`] for a missing or unreadable directory, and whatever
/// `each` returns.
pub(crate) fn scan<F>(dir: &Path, filter: &Filter, each: F) -> Result<Summary, CliError>
where
    F: FnMut(&Line<'_>) -> Result<Flow, CliError>,
{
    let all = files::list(dir)?;
    if all.is_empty() {
        eprintln!(
            "evt-telemetry: no events-*.jsonl[.gz] files in {}",
            dir.display()
        );
    }
    let wanted: Vec<&LogFile> = all.iter().filter(|f| filter.may_match_day(f.day)).collect();
    let progress = Progress::new(wanted.iter().map(|f| f.len).sum());
    let mut run = Run {
        filter,
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

/// The state of one scan.
struct Run<'f, F> {
    filter: &'f Filter,
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
        let mut carry = Vec::new();
        let result = for_each_line(&mut *reader, &mut carry, |bytes| {
            line_no += 1;
            self.line(file, line_no, bytes)
        });
        match result {
            Ok(flow) => Ok(flow),
            Err(Stopped::Each(e)) => Err(e),
            Err(Stopped::Read(e)) => Ok(self.failed(file, line_no, &e)),
        }
    }

    fn line(&mut self, file: &LogFile, line_no: u64, buf: &[u8]) -> Result<Flow, CliError> {
        self.summary.lines += 1;
        if self.summary.lines.is_multiple_of(PROGRESS_EVERY) {
            self.checker.progress(self.bytes.get(), self.summary.lines);
        }
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

/// Why [`for_each_line`] ended early.
#[derive(Debug)]
enum Stopped {
    Read(std::io::Error),
    Each(CliError),
}

/// Calls `each` with every line of `reader` (newline included, if any),
/// splitting the reader's own buffer so that only a line straddling two
/// buffer fills is copied (into `carry`).
fn for_each_line<R, F>(reader: &mut R, carry: &mut Vec<u8>, mut each: F) -> Result<Flow, Stopped>
where
    R: BufRead + ?Sized,
    F: FnMut(&[u8]) -> Result<Flow, CliError>,
{
    loop {
        let chunk = reader.fill_buf().map_err(Stopped::Read)?;
        if chunk.is_empty() {
            return match carry.is_empty() {
                true => Ok(Flow::Continue),
                false => each(carry).map_err(Stopped::Each),
            };
        }
        let mut start = 0;
        while let Some(i) = memchr::memchr(b'\n', &chunk[start..]) {
            let end = start + i + 1;
            let flow = if carry.is_empty() {
                each(&chunk[start..end])
            } else {
                carry.extend_from_slice(&chunk[start..end]);
                let flow = each(carry);
                carry.clear();
                flow
            };
            start = end;
            if flow.map_err(Stopped::Each)? == Flow::Stop {
                return Ok(Flow::Stop);
            }
        }
        carry.extend_from_slice(&chunk[start..]);
        let len = chunk.len();
        reader.consume(len);
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
    fn lines_are_split_across_buffer_fills_and_the_last_may_lack_a_newline() {
        let text = b"first line\nsecond, longer line\n\nlast";
        let mut reader = std::io::BufReader::with_capacity(4, &text[..]);
        let mut lines = Vec::new();
        let flow = for_each_line(&mut reader, &mut Vec::new(), |l| {
            lines.push(String::from_utf8_lossy(l).into_owned());
            Ok(Flow::Continue)
        });
        assert!(matches!(flow, Ok(Flow::Continue)));
        assert_eq!(
            lines,
            ["first line\n", "second, longer line\n", "\n", "last"]
        );
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
        let filter = Filter {
            evts: vec!["a".into()],
            ..Filter::default()
        };
        let mut seen = 0;
        let summary = scan(dir.path(), &filter, |_| {
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
        let stopped = scan(dir.path(), &Filter::default(), |_| Ok(Flow::Stop)).expect("scan");
        assert_eq!(stopped.matched, 1);
    }
}
