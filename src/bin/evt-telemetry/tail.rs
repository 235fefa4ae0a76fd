//! `tail`: the last events of the newest file, then new ones as they are
//! written, following into the next day's file when it appears (the writer
//! starts a new file at UTC midnight). Polls; no file-system notifications.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::Path;
use std::thread;
use std::time::Duration;

use crate::args::Common;
use crate::error::CliError;
use crate::files::{self, LogFile};
use crate::line::Line;
use crate::progress::Progress;
use crate::query::EventPrinter;
use crate::scan::LineChecker;

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
    partial: Vec<u8>,
}

/// Runs `tail` until killed (or until `out` is closed).
///
/// # Errors
/// A missing directory (at start), or a failure to write `out`.
pub(crate) fn run(common: &Common, spec: TailSpec, out: &mut impl Write) -> Result<(), CliError> {
    let mut checker = LineChecker::new(Progress::new(0));
    let mut printer = EventPrinter::new(spec.table);
    let mut follower = loop {
        if let Some(file) = newest(&common.dir)? {
            break Follower::new(file);
        }
        thread::sleep(spec.poll);
    };
    let mut last = VecDeque::with_capacity(spec.lines.min(10_000));
    follower.read(&mut checker, |line| {
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
    drop(last);
    loop {
        printer.flush(out)?;
        out.flush()?;
        thread::sleep(spec.poll);
        follow_once(common, &mut follower, &mut checker, &mut printer, out)?;
    }
}

/// Reads what was appended; if a newer day's file exists, finishes the
/// current one and moves to it.
fn follow_once(
    common: &Common,
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
        match newest(&common.dir) {
            Ok(Some(file)) if file.day > follower.file.day => *follower = Follower::new(file),
            _ => return Ok(()),
        }
    }
}

/// The newest plain (still written) event file of `dir`.
fn newest(dir: &Path) -> Result<Option<LogFile>, CliError> {
    Ok(files::list(dir)?
        .into_iter()
        .filter(|f| !f.gz)
        .max_by_key(|f| f.day))
}

impl Follower {
    fn new(file: LogFile) -> Self {
        Follower {
            file,
            pos: 0,
            line_no: 0,
            partial: Vec::new(),
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
            *self = Follower::new(self.file.clone());
        }
        if len == self.pos || file.seek(SeekFrom::Start(self.pos)).is_err() {
            return Ok(());
        }
        let mut reader = BufReader::with_capacity(64 * 1024, file);
        loop {
            match reader.read_until(b'\n', &mut self.partial) {
                Ok(0) | Err(_) => return Ok(()),
                Ok(n) => self.pos += n as u64,
            }
            if self.partial.last() != Some(&b'\n') {
                return Ok(());
            }
            self.line_no += 1;
            if let Some(line) = checker.check(&self.file.path, self.line_no, &self.partial) {
                each(&line)?;
            }
            self.partial.clear();
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
        let file = files::list(dir.path()).expect("list").remove(0);
        let mut follower = Follower::new(file);
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
