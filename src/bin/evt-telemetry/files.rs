//! Where the lines come from: the day files of a log directory
//! (`{prefix}-YYYY-MM-DD.jsonl` and `.jsonl.gz`, in day order), or files
//! named on the command line and standard input (`-`), opened for streaming.

use std::cell::Cell;
use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use flate2::read::MultiGzDecoder;

use crate::contract::day_file::{compression_pending, parse_compressed_name, parse_file_name};
use crate::error::CliError;

/// Read buffer size: large reads keep the scan I/O-cheap.
const BUF_SIZE: usize = 256 * 1024;
/// The writer's default file prefix.
pub(crate) const DEFAULT_PREFIX: &str = "events";
/// The first two bytes of every gzip member.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// What a command reads: named files (and `-` for stdin) if any were
/// given, otherwise the day files of `dir`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Input {
    pub(crate) dir: PathBuf,
    /// `--prefix`; `None` detects it (see [`list`]).
    pub(crate) prefix: Option<String>,
    /// Files named on the command line, in order; `-` is standard input.
    pub(crate) files: Vec<PathBuf>,
}

impl Input {
    /// Where the lines come from, for people: the directory, or the files.
    pub(crate) fn describe(&self) -> String {
        if self.files.is_empty() {
            return self.dir.display().to_string();
        }
        let names: Vec<String> = self.files.iter().map(|f| f.display().to_string()).collect();
        names.join(", ")
    }
}

/// One source of lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogFile {
    /// The path (`-` for standard input).
    pub(crate) path: PathBuf,
    /// The UTC day in its name (days since 1970-01-01); `None` for named files.
    pub(crate) day: Option<i64>,
    /// Known to be gzip by its name; named files are also sniffed.
    pub(crate) gz: bool,
    /// Size on disk when listed (compressed size for `.gz`; 0 for stdin).
    pub(crate) len: u64,
}

/// The day files of a directory.
#[derive(Debug, Default)]
pub(crate) struct Listing {
    pub(crate) files: Vec<LogFile>,
    /// The prefix the files were recognised by.
    pub(crate) prefix: String,
    /// Day file names that are symbolic links: not read, but reported.
    pub(crate) symlinks: Vec<PathBuf>,
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

/// The prefix, day and compression of a day file name
/// `{prefix}-YYYY-MM-DD.jsonl[.gz]`, if it is one.
pub(crate) fn parse_any(name: &str) -> Option<(&str, i64, bool)> {
    let ext = if name.ends_with(".jsonl.gz") { 9 } else { 6 };
    // "-YYYY-MM-DD" is 11 bytes before the extension.
    let prefix = name.get(..name.len().checked_sub(ext + 11)?)?;
    if prefix.is_empty() || prefix.starts_with('.') {
        return None;
    }
    let (day, gz) = parse_file_name(prefix, name)?;
    Some((prefix, day, gz))
}

/// The day and compression of a file named `{prefix}-YYYY-MM-DD.jsonl[.gz]`.
pub(crate) fn parse_name(prefix: &str, name: &str) -> Option<(i64, bool)> {
    parse_file_name(prefix, name)
}

/// The files an [`Input`] names, or the day files of its directory.
///
/// # Errors
/// See [`list`].
pub(crate) fn resolve(input: &Input) -> Result<Listing, CliError> {
    if input.files.is_empty() {
        return list(&input.dir, input.prefix.as_deref());
    }
    let files = input.files.iter().map(|p| named(p)).collect();
    Ok(Listing {
        files,
        prefix: String::new(),
        symlinks: Vec::new(),
    })
}

fn named(path: &Path) -> LogFile {
    let gz = path.extension().is_some_and(|e| e == "gz");
    let len = fs::metadata(path).map_or(0, |m| m.len());
    LogFile {
        path: path.to_owned(),
        day: None,
        gz,
        len,
    }
}

/// The day files of `dir`, by day; for a day with both, the `.gz` (the
/// older, finished lines) comes before the plain file.
///
/// Without a `prefix`, the writer's default `events` is used if such files
/// exist, otherwise the only prefix present; several others are an error
/// asking for `--prefix`.
///
/// A compression the writer was stopped in the middle of (a crash after its
/// commit point, finished at the writer's next start) leaves the plain file
/// hidden as `.{prefix}-YYYY-MM-DD.jsonl.compressed` beside the new `.gz` in
/// `.{prefix}-YYYY-MM-DD.jsonl.gz.tmp`: while the temporary file exists, the
/// `.gz` does not hold those lines yet, so the hidden file is read (after the
/// `.gz`, before a newer plain file); once it is gone, the hidden file is not.
///
/// # Errors
/// [`CliError::Dir`] if `dir` is missing, not a directory or unreadable;
/// [`CliError::Usage`] if no prefix is given and several are present.
pub(crate) fn list(dir: &Path, prefix: Option<&str>) -> Result<Listing, CliError> {
    let dir_error = |source| {
        CliError::Dir(evt_telemetry::Error::LogDir {
            path: dir.to_owned(),
            source,
        })
    };
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).map_err(dir_error)? {
        let entry = entry.map_err(dir_error)?;
        if let Ok(name) = entry.file_name().into_string() {
            names.push((name, entry));
        }
    }
    let prefix = match prefix {
        Some(p) => p.to_owned(),
        None => detect_prefix(dir, names.iter().map(|(n, _)| n.as_str()))?,
    };
    let mut listing = Listing {
        prefix,
        ..Listing::default()
    };
    for (name, entry) in names {
        let Some((day, gz)) = parse_listed(dir, &listing.prefix, &name) else {
            continue;
        };
        let meta = entry.metadata().map_err(dir_error)?;
        if meta.file_type().is_symlink() {
            listing.symlinks.push(entry.path());
        } else if meta.is_file() {
            listing.files.push(LogFile {
                path: entry.path(),
                day: Some(day),
                gz,
                len: meta.len(),
            });
        }
    }
    listing
        .files
        .sort_by_key(|f| (f.day, !f.gz, !is_hidden(&f.path)));
    listing.symlinks.sort();
    Ok(listing)
}

/// `events` if present, else the only prefix of the day files in `names`.
fn detect_prefix<'n>(dir: &Path, names: impl Iterator<Item = &'n str>) -> Result<String, CliError> {
    let found: BTreeSet<&str> = names.filter_map(|n| Some(parse_any(n)?.0)).collect();
    if found.is_empty() || found.contains(DEFAULT_PREFIX) {
        return Ok(DEFAULT_PREFIX.into());
    }
    if found.len() == 1 {
        return Ok(found.into_iter().collect());
    }
    let all: Vec<&str> = found.into_iter().collect();
    Err(CliError::Usage(format!(
        "{} holds day files with several prefixes ({}): choose one with --prefix",
        dir.display(),
        all.join(", ")
    )))
}

/// [`parse_name`], plus a hidden plain file whose lines are not in the
/// `.gz` yet (see [`list`]).
fn parse_listed(dir: &Path, prefix: &str, name: &str) -> Option<(i64, bool)> {
    match parse_compressed_name(prefix, name) {
        Some(plain) => compression_pending(dir, plain).then(|| parse_name(prefix, plain))?,
        None => parse_name(prefix, name),
    }
}

fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| n.as_encoded_bytes().starts_with(b"."))
}

/// Whether `path` names standard input.
pub(crate) fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// Opens `file` for line reading, decompressing gzip (all members: by name
/// for day files, by its first bytes for named files and stdin); `count`
/// accumulates the bytes read.
pub(crate) fn open(file: &LogFile, count: Rc<Cell<u64>>) -> io::Result<Box<dyn BufRead>> {
    let inner: Box<dyn Read> = if is_stdin(&file.path) {
        Box::new(io::stdin().lock())
    } else {
        Box::new(File::open(&file.path)?)
    };
    let mut raw = BufReader::with_capacity(BUF_SIZE, Counted { inner, count });
    let gz = file.gz || (file.day.is_none() && raw.fill_buf()?.starts_with(&GZIP_MAGIC));
    Ok(if gz {
        Box::new(BufReader::with_capacity(BUF_SIZE, MultiGzDecoder::new(raw)))
    } else {
        Box::new(raw)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(files: &[LogFile]) -> Vec<String> {
        let name = |f: &LogFile| f.path.file_name().map(|n| n.to_string_lossy().into_owned());
        files.iter().filter_map(name).collect()
    }

    fn touch(dir: &Path, names: &[&str]) {
        for name in names {
            fs::write(dir.join(name), "").expect("write");
        }
    }

    #[test]
    fn only_day_file_names_are_recognised() {
        assert_eq!(
            parse_name("events", "events-2025-10-06.jsonl"),
            Some((20_367, false))
        );
        assert_eq!(
            parse_name("events", "events-2025-10-06.jsonl.gz"),
            Some((20_367, true))
        );
        assert_eq!(
            parse_any("my-app.v2-2025-10-06.jsonl"),
            Some(("my-app.v2", 20_367, false))
        );
        for other in [
            "events-2025-10-06.json",
            "events-2025-13-06.jsonl",
            "x-2025-10-06.jsonl",
            "events-.jsonl",
            "-2025-10-06.jsonl",
            "events2025-10-06.jsonl",
        ] {
            assert_eq!(parse_name("events", other), None, "{other}");
        }
    }

    #[test]
    fn files_list_in_day_order_with_gz_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        touch(
            dir.path(),
            &[
                "events-2025-10-07.jsonl",
                "events-2025-10-06.jsonl",
                "events-2025-10-06.jsonl.gz",
                "notes.txt",
            ],
        );
        let listing = list(dir.path(), None).expect("list");
        assert_eq!(
            names(&listing.files),
            [
                "events-2025-10-06.jsonl.gz",
                "events-2025-10-06.jsonl",
                "events-2025-10-07.jsonl",
            ]
        );
        assert_eq!(listing.prefix, "events");
    }

    #[test]
    fn a_custom_prefix_is_detected_or_chosen() {
        let dir = tempfile::tempdir().expect("tempdir");
        touch(dir.path(), &["app-2025-10-06.jsonl", "notes.txt"]);
        let listing = list(dir.path(), None).expect("list");
        assert_eq!(
            (names(&listing.files), listing.prefix.as_str()),
            (vec!["app-2025-10-06.jsonl".to_owned()], "app")
        );
        touch(dir.path(), &["other-2025-10-06.jsonl"]);
        let err = list(dir.path(), None).expect_err("two prefixes");
        assert_eq!(
            err.to_string(),
            format!(
                "{} holds day files with several prefixes (app, other): choose one with --prefix",
                dir.path().display()
            )
        );
        let chosen = list(dir.path(), Some("other")).expect("list");
        assert_eq!(names(&chosen.files), ["other-2025-10-06.jsonl"]);
        touch(dir.path(), &["events-2025-10-06.jsonl"]);
        let default = list(dir.path(), None).expect("list");
        assert_eq!(names(&default.files), ["events-2025-10-06.jsonl"]);
    }

    #[cfg(unix)]
    #[test]
    fn symlinked_day_files_are_listed_apart() {
        let dir = tempfile::tempdir().expect("tempdir");
        touch(dir.path(), &["elsewhere.jsonl", "events-2025-10-06.jsonl"]);
        let link = dir.path().join("events-2025-10-07.jsonl");
        std::os::unix::fs::symlink(dir.path().join("elsewhere.jsonl"), &link).expect("symlink");
        let listing = list(dir.path(), None).expect("list");
        assert_eq!(names(&listing.files), ["events-2025-10-06.jsonl"]);
        assert_eq!(listing.symlinks, [link]);
    }

    #[test]
    fn an_interrupted_compression_is_read_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let hidden = ".app-2025-10-06.jsonl.compressed";
        let listed = |dir: &Path| names(&list(dir, Some("app")).expect("list").files);
        touch(
            dir.path(),
            &["app-2025-10-06.jsonl.gz", "app-2025-10-06.jsonl", hidden],
        );
        // The new .gz is still in its temporary file: the hidden lines count.
        let tmp = dir.path().join(".app-2025-10-06.jsonl.gz.tmp");
        fs::write(&tmp, "").expect("write");
        assert_eq!(
            listed(dir.path()),
            ["app-2025-10-06.jsonl.gz", hidden, "app-2025-10-06.jsonl"]
        );
        // Renamed into place: the .gz holds them, the hidden file is not read.
        fs::remove_file(&tmp).expect("remove");
        assert_eq!(
            listed(dir.path()),
            ["app-2025-10-06.jsonl.gz", "app-2025-10-06.jsonl"]
        );
    }

    #[test]
    fn a_named_file_is_sniffed_for_gzip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("copied-off-a-box.log");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        io::Write::write_all(&mut gz, b"one\ntwo\n").expect("compress");
        fs::write(&path, gz.finish().expect("finish")).expect("write");
        let input = Input {
            dir: PathBuf::from("unused"),
            prefix: None,
            files: vec![path],
        };
        let listing = resolve(&input).expect("resolve");
        let mut text = String::new();
        open(&listing.files[0], Rc::default())
            .expect("open")
            .read_to_string(&mut text)
            .expect("read");
        assert_eq!(text, "one\ntwo\n");
    }

    #[test]
    fn a_missing_directory_is_a_dir_error() {
        let err = list(Path::new("/definitely/not/here"), None).expect_err("missing");
        assert!(matches!(err, CliError::Dir(_)));
        assert!(
            err.to_string()
                .starts_with("log directory /definitely/not/here: ")
        );
    }
}
