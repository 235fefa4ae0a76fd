//! `tail`: the last events of the newest file, then new ones as they are
//! written, following into the next day's file when it appears (the writer
//! starts a new file at UTC midnight). Polls; no file-system notifications.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::thread;
use std::time::Duration;

use crate::args::Common;
use crate::error::CliError;
use crate::files::{self, Listing, LogFile};
use crate::line::Line;
use crate::progress::Progress;
use crate::query::EventPrinter;
use crate::scan::{Flow, LineChecker};
use crate::split::{LineSplitter, Piece, Stopped};

/// How `tail` runs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TailSpec {
    pub(crate) table: bool,
    /// Matching events shown from the newest file before following.
    pub(crate) lines: usize,
    pub(crate) poll: Duration,
}

/// The file being followed and how far it has been read.
#[derive(Debug)]
struct Follower {
    file: LogFile,
    pos: u64,
    line_no: u64,
    /// The start of a line whose newline has not been written yet.
    splitter: LineSplitter,
    max_line: usize,
}

/// Runs `tail` until killed (or until `out` is closed).
///
/// # Errors
/// A missing directory (at start), or a failure to write `out`.
pub(crate) fn run(common: &Common, spec: TailSpec, out: &mut impl Write) -> Result<(), CliError> {
    let mut checker = LineChecker::new(Progress::new(0));
    let table = spec.table || common.style.format != crate::output::TableFormat::Aligned;
    let mut printer = EventPrinter::new(table, &common.style);
    let listing = files::list(&common.input.dir, common.input.prefix.as_deref())?;
    crate::scan::note_listing(&common.input, &listing);
    let prefix = common.input.prefix.clone();
    let mut follower = match newest(listing) {
        Some(file) => {
            let mut follower = Follower::new(file, common.max_line);
            show_last(common, spec, &mut follower, &mut checker, &mut printer, out)?;
            follower
        }
        // A file that appears after the start is all new: follow it from
        // its first line.
        None => loop {
            thread::sleep(spec.poll);
            let listing = files::list(&common.input.dir, prefix.as_deref())?;
            if let Some(file) = newest(listing) {
                break Follower::new(file, common.max_line);
            }
        },
    };
    // Follow one prefix, even if files of another appear later.
    let prefix = prefix.unwrap_or_else(|| follower_prefix(&follower));
    loop {
        follow_once(
            common,
            &prefix,
            &mut follower,
            &mut checker,
            &mut printer,
            out,
        )?;
        printer.flush(out)?;
        out.flush()?;
        thread::sleep(spec.poll);
    }
}

/// Reads the file to its end and prints its last `spec.lines` matching events.
fn show_last(
    common: &Common,
    spec: TailSpec,
    follower: &mut Follower,
    checker: &mut LineChecker,
    printer: &mut EventPrinter,
    out: &mut impl Write,
) -> Result<(), CliError> {
    let mut last = VecDeque::with_capacity(spec.lines.min(10_000));
    follower.read(checker, |line| {
        if common.filter.matches(line) && spec.lines > 0 {
            if last.len() == spec.lines {
                last.pop_front();
            }
            last.push_back(line.text.to_owned());
        }
        Ok(())
    })?;
    for text in &last {
        if let Ok(line) = Line::parse(text) {
            printer.print(out, &line)?;
        }
    }
    Ok(())
}

fn follower_prefix(follower: &Follower) -> String {
    let name = follower.file.path.file_name().and_then(|n| n.to_str());
    name.and_then(files::parse_any)
        .map_or(files::DEFAULT_PREFIX.into(), |(p, _, _)| p.to_owned())
}

/// Reads what was appended; if a newer day's file exists, finishes the
/// current one and moves to it.
fn follow_once(
    common: &Common,
    prefix: &str,
    follower: &mut Follower,
    checker: &mut LineChecker,
    printer: &mut EventPrinter,
    out: &mut impl Write,
) -> Result<(), CliError> {
    loop {
        follower.read(checker, |line| {
            if common.filter.matches(line) {
                printer.print(out, line)?;
            }
            Ok(())
        })?;
        let newer = files::list(&common.input.dir, Some(prefix))
            .ok()
            .and_then(newest)
            .filter(|f| f.day > follower.file.day);
        match newer {
            Some(file) => *follower = Follower::new(file, common.max_line),
            None => return Ok(()),
        }
    }
}

/// The newest plain (still written) day file of a listing.
fn newest(listing: Listing) -> Option<LogFile> {
    listing
        .files
        .into_iter()
        .filter(|f| !f.gz)
        .max_by_key(|f| f.day)
}

impl Follower {
    fn new(file: LogFile, max_line: usize) -> Self {
        Follower {
            file,
            pos: 0,
            line_no: 0,
            splitter: LineSplitter::new(max_line),
            max_line,
        }
    }

    /// Calls `each` for every complete line appended since the last read.
    /// A file that shrank (truncated or replaced) is read again from the start.
    fn read<F>(&mut self, checker: &mut LineChecker, mut each: F) -> Result<(), CliError>
    where
        F: FnMut(&Line<'_>) -> Result<(), CliError>,
    {
        // A file that vanished or cannot be read now is retried at the next poll.
        let Ok(mut file) = File::open(&self.file.path) else {
            return Ok(());
        };
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        if len < self.pos {
            *self = Follower::new(self.file.clone(), self.max_line);
        }
        if len == self.pos || file.seek(SeekFrom::Start(self.pos)).is_err() {
            return Ok(());
        }
        let mut reader = BufReader::with_capacity(64 * 1024, file.take(len - self.pos));
        let (path, line_no, max) = (&self.file.path, &mut self.line_no, self.max_line);
        let result = self.splitter.feed(&mut reader, |piece| {
            *line_no += 1;
            match piece {
                Piece::TooLong(n) => checker.too_long(path, *line_no, n, max),
                Piece::Line(bytes) => {
                    if let Some(line) = checker.check(path, *line_no, bytes) {
                        each(&line)?;
                    }
                }
            }
            Ok(Flow::Continue)
        });
        let unread = reader.get_ref().limit() + reader.buffer().len() as u64;
        self.pos = len - unread;
        match result {
            Err(Stopped::Each(e)) => Err(e),
            // A read error is retried at the next poll, from where it stopped.
            Ok(_) | Err(Stopped::Read(_)) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_follower_reads_complete_lines_only_and_restarts_after_truncation() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("events-2025-10-06.jsonl");
        let line = |evt: &str| {
            format!(r#"{{"ts":"2025-10-06T00:00:00.000Z","level":"info","evt":"{evt}"}}"#)
        };
        std::fs::write(&path, format!("{}\n{}", line("a"), &line("b")[..10])).expect("write");
        let file = files::list(dir.path(), None).expect("list").files.remove(0);
        let mut follower = Follower::new(file, 1024);
        let mut checker = LineChecker::new(Progress::new(0));
        let mut seen = Vec::new();
        let mut read = |f: &mut Follower, seen: &mut Vec<String>| {
            f.read(&mut checker, |l| {
                seen.push(l.evt.text().into_owned());
                Ok(())
            })
            .expect("read");
        };
        read(&mut follower, &mut seen);
        assert_eq!(seen, ["a"]);
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .expect("open");
        writeln!(f, "{}", &line("b")[10..]).expect("append");
        read(&mut follower, &mut seen);
        assert_eq!(seen, ["a", "b"]);
        std::fs::write(&path, format!("{}\n", line("c"))).expect("truncate");
        read(&mut follower, &mut seen);
        assert_eq!(seen, ["a", "b", "c"]);
    }
}
