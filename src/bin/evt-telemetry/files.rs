//! The event files of a log directory: `events-YYYY-MM-DD.jsonl` and
//! `events-YYYY-MM-DD.jsonl.gz`, in day order, opened for streaming.

use std::cell::Cell;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use flate2::read::MultiGzDecoder;

use crate::contract::day_file::{compression_pending, parse_compressed_name, parse_file_name};
use crate::error::CliError;

/// Read buffer size: large reads keep the scan I/O-cheap.
const BUF_SIZE: usize = 256 * 1024;

/// One event file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogFile {
    pub(crate) path: PathBuf,
    /// The UTC day in its name (days since 1970-01-01).
    pub(crate) day: i64,
    pub(crate) gz: bool,
    /// Size on disk when listed (compressed size for `.gz`).
    pub(crate) len: u64,
}

/// Counts bytes read from the file (for progress).
#[derive(Debug)]
struct Counted<R> {
    inner: R,
    count: Rc<Cell<u64>>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

/// The file-name prefix the writer uses by default.
const PREFIX: &str = "events";

/// The day and compression of an event file name, if it is one.
pub(crate) fn parse_name(name: &str) -> Option<(i64, bool)> {
    parse_file_name(PREFIX, name)
}

/// The event files of `dir`, by day; for a day with both, the `.gz` (the
/// older, finished lines) comes before the plain file.
///
/// A compression the writer was stopped in the middle of (a crash after its
/// commit point, finished at the writer's next start) leaves the plain file
/// hidden as `.events-YYYY-MM-DD.jsonl.compressed` beside the new `.gz` in
/// `.events-YYYY-MM-DD.jsonl.gz.tmp`: while the temporary file exists, the
/// `.gz` does not hold those lines yet, so the hidden file is read (after the
/// `.gz`, before a newer plain file); once it is gone, the hidden file is not.
///
/// # Errors
/// [`CliError::Dir`] if `dir` is missing, not a directory or unreadable.
pub(crate) fn list(dir: &Path) -> Result<Vec<LogFile>, CliError> {
    let dir_error = |source| {
        CliError::Dir(evt_telemetry::Error::LogDir {
            path: dir.to_owned(),
            source,
        })
    };
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).map_err(dir_error)? {
        let entry = entry.map_err(dir_error)?;
        let name = entry.file_name();
        let Some((day, gz)) = name.to_str().and_then(|n| parse_listed(dir, n)) else {
            continue;
        };
        let meta = entry.metadata().map_err(dir_error)?;
        if meta.is_file() {
            files.push(LogFile {
                path: entry.path(),
                day,
                gz,
                len: meta.len(),
            });
        }
    }
    files.sort_by_key(|f| (f.day, !f.gz, !is_hidden(&f.path)));
    Ok(files)
}

/// [`parse_name`], plus a hidden plain file whose lines are not in the
/// `.gz` yet (see [`list`]).
fn parse_listed(dir: &Path, name: &str) -> Option<(i64, bool)> {
    match parse_compressed_name(PREFIX, name) {
        Some(plain) => compression_pending(dir, plain).then(|| parse_name(plain))?,
        None => parse_name(name),
    }
}

fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| n.as_encoded_bytes().starts_with(b"."))
}

/// Opens `file` for line reading, decompressing `.gz` (all members);
/// `count` accumulates the bytes read from disk.
pub(crate) fn open(file: &LogFile, count: Rc<Cell<u64>>) -> io::Result<Box<dyn BufRead>> {
    let raw = Counted {
        inner: File::open(&file.path)?,
        count,
    };
    Ok(if file.gz {
        let decoder = MultiGzDecoder::new(BufReader::with_capacity(BUF_SIZE, raw));
        Box::new(BufReader::with_capacity(BUF_SIZE, decoder))
    } else {
        Box::new(BufReader::with_capacity(BUF_SIZE, raw))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_event_file_names_are_recognised() {
        assert_eq!(parse_name("events-2025-10-06.jsonl"), Some((20_367, false)));
        assert_eq!(
            parse_name("events-2025-10-06.jsonl.gz"),
            Some((20_367, true))
        );
        for other in [
            "events-2025-10-06.json",
            "events-2025-13-06.jsonl",
            "x-2025-10-06.jsonl",
            "events-.jsonl",
        ] {
            assert_eq!(parse_name(other), None, "{other}");
        }
    }

    #[test]
    fn files_list_in_day_order_with_gz_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        for name in [
            "events-2025-10-07.jsonl",
            "events-2025-10-06.jsonl",
            "events-2025-10-06.jsonl.gz",
            "notes.txt",
        ] {
            fs::write(dir.path().join(name), "").expect("write");
        }
        let names: Vec<_> = list(dir.path())
            .expect("list")
            .iter()
            .map(|f| f.path.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect();
        let expected = [
            "events-2025-10-06.jsonl.gz",
            "events-2025-10-06.jsonl",
            "events-2025-10-07.jsonl",
        ];
        assert_eq!(names, expected.map(|n| Some(n.to_owned())));
    }

    #[test]
    fn an_interrupted_compression_is_read_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let hidden = ".events-2025-10-06.jsonl.compressed";
        let listed = |dir: &Path| -> Vec<String> {
            let files = list(dir).expect("list");
            let name = |f: &LogFile| f.path.file_name().map(|n| n.to_string_lossy().into_owned());
            files.iter().filter_map(name).collect()
        };
        for name in [
            "events-2025-10-06.jsonl.gz",
            "events-2025-10-06.jsonl",
            hidden,
        ] {
            fs::write(dir.path().join(name), "").expect("write");
        }
        // The new .gz is still in its temporary file: the hidden lines count.
        let tmp = dir.path().join(".events-2025-10-06.jsonl.gz.tmp");
        fs::write(&tmp, "").expect("write");
        assert_eq!(
            listed(dir.path()),
            [
                "events-2025-10-06.jsonl.gz",
                hidden,
                "events-2025-10-06.jsonl"
            ]
        );
        // Renamed into place: the .gz holds them, the hidden file is not read.
        fs::remove_file(&tmp).expect("remove");
        assert_eq!(
            listed(dir.path()),
            ["events-2025-10-06.jsonl.gz", "events-2025-10-06.jsonl"]
        );
    }

    #[test]
    fn a_missing_directory_is_a_dir_error() {
        let err = list(Path::new("/definitely/not/here")).expect_err("missing");
        assert!(matches!(err, CliError::Dir(_)));
        assert!(
            err.to_string()
                .starts_with("log directory /definitely/not/here: ")
        );
    }
}
