//! The daily file set: `<dir>/<prefix>-YYYY-MM-DD.jsonl`, appended by the
//! writer thread, with torn-tail repair, retention and gzip of finished days.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use flate2::Compression;
use flate2::write::GzEncoder;

use crate::Error;
use crate::contract::day_file::{
    compressed_name, compression_pending, file_name, gz_name, gz_tmp_name, parse_compressed_name,
    parse_file_name,
};
use crate::sink::dir_lock::DirLock;
use crate::sink::open::open_regular;

/// At most this many files are kept open (the most recently used days).
const MAX_OPEN: usize = 2;
/// A torn tail longer than this is cut without trying to parse it.
const MAX_TAIL_CHECK: u64 = 16 << 20;
/// Chunk size when looking backwards for the last newline.
const TAIL_CHUNK: u64 = 64 << 10;

/// What the torn-tail repair did, since the file set was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Repairs {
    /// Files whose complete (valid JSON) last line only lacked its `\n`.
    pub(crate) newline_added: u64,
    /// Bytes of incomplete last lines cut off.
    pub(crate) torn_bytes_cut: u64,
    /// Incomplete last lines cut off.
    pub(crate) torn_lines_cut: u64,
}

/// What one [`DailyFiles::sweep`] did.
#[derive(Debug, Default)]
pub(crate) struct SweepReport {
    /// Files deleted by retention.
    pub(crate) deleted: Vec<PathBuf>,
    /// `.jsonl.gz` files written (or appended to).
    pub(crate) compressed: Vec<PathBuf>,
    /// Files that could not be listed, deleted or compressed.
    pub(crate) errors: Vec<(PathBuf, io::Error)>,
}

/// The daily files of one directory and prefix, with up to [`MAX_OPEN`] open handles.
#[derive(Debug)]
pub(crate) struct DailyFiles {
    dir: PathBuf,
    prefix: String,
    /// Most recently used first.
    open: Vec<OpenFile>,
    repairs: Repairs,
    /// Held for as long as the file set lives (after the handles close).
    _lock: DirLock,
}

#[derive(Debug)]
struct OpenFile {
    day: i64,
    file: File,
    /// (device, inode) at open, to notice the path being removed or replaced.
    id: Option<(u64, u64)>,
}

// === impl DailyFiles ===

impl DailyFiles {
    /// Creates the directory, takes its lock (waiting up to `lock_wait` for
    /// another writer to let go) and proves it writable with a probe file.
    /// Nothing in the directory is touched before the lock is held.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a bad prefix or an empty directory path,
    /// [`Error::LogDir`] saying what was attempted, [`Error::DirLocked`].
    pub(crate) fn open(dir: &Path, prefix: &str, lock_wait: Duration) -> Result<Self, Error> {
        if prefix.is_empty() || prefix.contains(['/', '\\']) {
            return Err(Error::Config(format!(
                "file prefix {prefix:?} must be a non-empty file name"
            )));
        }
        if dir.as_os_str().is_empty() {
            return Err(Error::Config(
                "log_dir is empty: name a directory (\".\" for the working directory)".into(),
            ));
        }
        let log_dir_err = |what: &str, e: io::Error| Error::LogDir {
            path: dir.to_path_buf(),
            source: io::Error::new(e.kind(), format!("{what}: {e}")),
        };
        match ensure_dir(dir) {
            Ok(true) => {}
            Ok(false) => {
                return Err(Error::LogDir {
                    path: dir.to_path_buf(),
                    source: io::Error::new(
                        io::ErrorKind::NotADirectory,
                        "it exists and is not a directory",
                    ),
                });
            }
            Err(e) => return Err(log_dir_err("cannot create it", e)),
        }
        let lock = DirLock::acquire(dir, lock_wait)?;
        probe(dir, prefix).map_err(|e| log_dir_err("cannot create a file in it", e))?;
        Ok(DailyFiles {
            dir: dir.to_path_buf(),
            prefix: prefix.to_owned(),
            open: Vec::new(),
            repairs: Repairs::default(),
            _lock: lock,
        })
    }

    pub(crate) fn path_for(&self, day: i64) -> PathBuf {
        self.dir.join(file_name(&self.prefix, day))
    }

    pub(crate) fn repairs(&self) -> Repairs {
        self.repairs
    }

    /// Opens (and so repairs) the file of `day` if it exists; used at
    /// start-up so a crash's torn line is fixed before anyone reads it.
    /// Anything but a regular file (a symlink, say) is left alone here: the
    /// writer refuses it when it comes to write.
    pub(crate) fn repair_if_exists(&mut self, day: i64) -> io::Result<()> {
        if fs::symlink_metadata(self.path_for(day)).is_ok_and(|m| m.is_file()) {
            self.bring_to_front(day)?;
        }
        Ok(())
    }

    /// Appends complete lines to the file of `day` in one write.
    ///
    /// Each (re)open repairs a torn tail first. On error a partial write is
    /// rolled back when possible and the handle dropped, so the next call
    /// reopens the file (recreating the directory if needed).
    pub(crate) fn append(&mut self, day: i64, bytes: &[u8]) -> io::Result<()> {
        self.bring_to_front(day)?;
        let result = write_all_counted(&mut self.open[0].file, bytes);
        if let Err((err, written)) = result {
            let file = self.open.remove(0).file;
            if written > 0 {
                // Best effort: a failed rollback leaves a torn tail, repaired at reopen.
                let _ = file
                    .metadata()
                    .and_then(|m| file.set_len(m.len().saturating_sub(written)));
            }
            return Err(err);
        }
        Ok(())
    }

    /// Makes `open[0]` a valid handle for `day`, opening it if needed.
    fn bring_to_front(&mut self, day: i64) -> io::Result<()> {
        let path = self.path_for(day);
        if let Some(i) = self.open.iter().position(|f| f.day == day) {
            let f = self.open.remove(i);
            if f.id.is_none() || f.id == file_id(&path) {
                self.open.insert(0, f);
                return Ok(());
            }
            // The file was removed or replaced behind our back: reopen it.
        }
        let file = self.open_and_repair(&path)?;
        self.open.insert(
            0,
            OpenFile {
                day,
                id: file_id(&path),
                file,
            },
        );
        self.open.truncate(MAX_OPEN);
        Ok(())
    }

    /// Opens the day file (never through a symlink, never anything but a
    /// regular file: see [`open_regular`]) and repairs its tail.
    fn open_and_repair(&mut self, path: &Path) -> io::Result<File> {
        let mut options = OpenOptions::new();
        options.read(true).append(true).create(true);
        let mut file = match open_regular(&mut options, path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir_all(&self.dir)?;
                open_regular(&mut options, path)?
            }
            other => other?,
        };
        match repair_tail(&mut file)? {
            Repair::None => {}
            Repair::NewlineAdded => self.repairs.newline_added += 1,
            Repair::Cut(n) => {
                self.repairs.torn_bytes_cut += n;
                self.repairs.torn_lines_cut += 1;
            }
        }
        Ok(file)
    }

    fn close(&mut self, day: i64) {
        self.open.retain(|f| f.day != day);
    }

    /// Deletes files older than the retention and gzips finished days.
    ///
    /// Only files named exactly `{prefix}-YYYY-MM-DD.jsonl[.gz]` with a valid
    /// date before `today` are touched. Never panics; problems are reported.
    pub(crate) fn sweep(
        &mut self,
        today: i64,
        retention_days: Option<u32>,
        gzip: bool,
    ) -> SweepReport {
        let mut report = SweepReport::default();
        finish_compressions(&self.dir, &self.prefix, &mut report);
        let cutoff = retention_days.map(|d| today - i64::from(d));
        for (path, day, gz) in self.past_files(today, &mut report) {
            if cutoff.is_some_and(|c| day < c) {
                if !gz {
                    self.close(day);
                }
                match fs::remove_file(&path) {
                    Ok(()) => report.deleted.push(path),
                    Err(e) => report.errors.push((path, e)),
                }
            } else if gzip && !gz {
                self.close(day);
                match compress(&path) {
                    Ok(gz_path) => report.compressed.push(gz_path),
                    Err(e) => report.errors.push((path, e)),
                }
            }
        }
        report
    }

    /// Regular files of this set dated before `today`, sorted by name.
    fn past_files(&self, today: i64, report: &mut SweepReport) -> Vec<(PathBuf, i64, bool)> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) => {
                report.errors.push((self.dir.clone(), e));
                return Vec::new();
            }
        };
        let mut files: Vec<_> = entries
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .filter_map(|e| {
                let (day, gz) = parse_file_name(&self.prefix, e.file_name().to_str()?)?;
                (day < today).then(|| (e.path(), day, gz))
            })
            .collect();
        files.sort();
        files
    }
}

// === file helpers ===

/// Creates `dir` if needed; false if it exists as something else.
fn ensure_dir(dir: &Path) -> io::Result<bool> {
    let created = fs::create_dir_all(dir);
    match fs::metadata(dir) {
        Ok(m) => Ok(m.is_dir()),
        Err(e) => Err(created.err().unwrap_or(e)),
    }
}

/// Proves the directory writable: creates and removes a file whose name
/// another process cannot guess, with `O_EXCL` (never through a planted
/// symlink, never truncating anything).
fn probe(dir: &Path, prefix: &str) -> io::Result<()> {
    use std::hash::BuildHasher as _;
    let mut last = None;
    for attempt in 0u32..4 {
        let salt = std::hash::RandomState::new().hash_one((std::time::SystemTime::now(), attempt));
        let path = dir.join(format!(
            ".{prefix}-probe-{}-{salt:016x}",
            std::process::id()
        ));
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(_) => return fs::remove_file(&path),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    // UNWRAP: the loop ran at least once and only continues on an error.
    Err(last.unwrap())
}

/// `write_all` that reports how many bytes were written before an error.
fn write_all_counted(file: &mut impl Write, mut bytes: &[u8]) -> Result<(), (io::Error, u64)> {
    let mut written = 0u64;
    while !bytes.is_empty() {
        match file.write(bytes) {
            Ok(0) => return Err((io::ErrorKind::WriteZero.into(), written)),
            Ok(n) => {
                written += n as u64;
                bytes = &bytes[n..];
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err((e, written)),
        }
    }
    Ok(())
}

/// The (device, inode) of the path itself: a file replaced by a symlink
/// reads as replaced (and the reopen refuses the link).
#[cfg(unix)]
fn file_id(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    fs::symlink_metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn file_id(_path: &Path) -> Option<(u64, u64)> {
    None
}

#[derive(Debug, PartialEq)]
enum Repair {
    None,
    NewlineAdded,
    Cut(u64),
}

/// Makes the file end in `\n`: completes a valid JSON last line, cuts a torn one.
fn repair_tail(file: &mut File) -> io::Result<Repair> {
    let len = file.metadata()?.len();
    if len == 0 || read_at(file, len - 1, 1)? == b"\n" {
        return Ok(Repair::None);
    }
    let line_start = last_newline(file, len)?.map_or(0, |p| p + 1);
    let tail_len = len - line_start;
    if tail_len <= MAX_TAIL_CHECK && is_json_object(&read_at(file, line_start, tail_len)?) {
        file.write_all(b"\n")?;
        return Ok(Repair::NewlineAdded);
    }
    file.set_len(line_start)?;
    Ok(Repair::Cut(tail_len))
}

fn is_json_object(line: &[u8]) -> bool {
    line.trim_ascii_start().starts_with(b"{")
        && serde_json::from_slice::<serde::de::IgnoredAny>(line).is_ok()
}

/// The offset of the last `\n` before `len`, reading backwards in chunks.
fn last_newline(file: &mut File, len: u64) -> io::Result<Option<u64>> {
    let mut end = len;
    while end > 0 {
        let start = end.saturating_sub(TAIL_CHUNK);
        let chunk = read_at(file, start, end - start)?;
        if let Some(i) = chunk.iter().rposition(|&b| b == b'\n') {
            return Ok(Some(start + i as u64));
        }
        end = start;
    }
    Ok(None)
}

fn read_at(file: &mut File, offset: u64, len: u64) -> io::Result<Vec<u8>> {
    file.seek(SeekFrom::Start(offset))?;
    let mut buf = Vec::new();
    file.take(len).read_to_end(&mut buf)?;
    Ok(buf)
}

/// Gzips `path` into `path.gz` (appending a member if it exists) and removes it.
///
/// A crash at any point neither loses nor duplicates a line:
/// 1. the new `.gz` is built whole (old members + one for `path`) in a
///    hidden temporary file and synced; a crash leaves `path` as it was;
/// 2. `path` is renamed to a hidden "compressed" name: the commit point;
/// 3. the temporary file is renamed over the `.gz`;
/// 4. the hidden plain file is removed.
///
/// After a crash between 2 and 4, [`finish_compressions`] completes steps 3
/// and 4 at the next start, instead of compressing `path` a second time.
fn compress(path: &Path) -> io::Result<PathBuf> {
    let gz_path = sibling(path, gz_name);
    let tmp = sibling(path, gz_tmp_name);
    if let Err(e) = write_gz(path, &gz_path, &tmp) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    fs::rename(path, sibling(path, compressed_name))?;
    finish_compression(path)?;
    Ok(gz_path)
}

/// Steps 3 and 4 of [`compress`] for the plain file `path` (now hidden).
fn finish_compression(path: &Path) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let plain = path.file_name().unwrap_or_default().to_string_lossy();
    if compression_pending(dir, &plain) {
        fs::rename(sibling(path, gz_tmp_name), sibling(path, gz_name))?;
    }
    fs::remove_file(sibling(path, compressed_name))
}

/// Completes the compressions a crash interrupted after their commit point
/// (see [`compress`]), adding the `.gz` files completed to `report`.
fn finish_compressions(dir: &Path, prefix: &str, report: &mut SweepReport) {
    let Ok(entries) = fs::read_dir(dir) else {
        return; // reported by the listing that follows
    };
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name();
        let Some(plain) = name.to_str().and_then(|n| parse_compressed_name(prefix, n)) else {
            continue;
        };
        let path = dir.join(plain);
        match finish_compression(&path) {
            Ok(()) => report.compressed.push(sibling(&path, gz_name)),
            Err(e) => report.errors.push((path, e)),
        }
    }
}

/// Builds the new `.gz` in `tmp`: a fresh file (`O_EXCL`, so a link planted
/// at that name is removed, never written through), holding the old `.gz`
/// (if any) and a new member for `plain`. Neither is read through a link.
fn write_gz(plain: &Path, gz_path: &Path, tmp: &Path) -> io::Result<()> {
    match fs::remove_file(tmp) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let mut out = OpenOptions::new().write(true).create_new(true).open(tmp)?;
    match open_regular(OpenOptions::new().read(true), gz_path) {
        Ok(mut old) => {
            io::copy(&mut old, &mut out)?;
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut encoder = GzEncoder::new(out, Compression::default());
    io::copy(
        &mut open_regular(OpenOptions::new().read(true), plain)?,
        &mut encoder,
    )?;
    encoder.finish()?.sync_all()
}

/// The file named `name(plain)` beside the plain day file `path` (see
/// [`crate::contract::day_file`] for the names).
fn sibling(path: &Path, name: impl FnOnce(&str) -> String) -> PathBuf {
    let plain = path.file_name().unwrap_or_default().to_string_lossy();
    path.with_file_name(name(&plain))
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::MultiGzDecoder;
    use std::collections::BTreeSet;

    const OCT_06: i64 = 20_367; // 2025-10-06

    fn read(path: &Path) -> String {
        fs::read_to_string(path).unwrap()
    }

    /// The names in `dir`, but the lock file.
    fn names(dir: &Path) -> BTreeSet<String> {
        fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n != crate::sink::dir_lock::LOCK_FILE)
            .collect()
    }

    fn gunzip(path: &Path) -> String {
        let mut text = String::new();
        MultiGzDecoder::new(File::open(path).unwrap())
            .read_to_string(&mut text)
            .unwrap();
        text
    }

    #[test]
    fn appends_go_to_the_file_of_their_day_and_keep_two_handles() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = DailyFiles::open(dir.path(), "events", Duration::ZERO).unwrap();
        files.append(OCT_06, b"a\n").unwrap();
        files.append(OCT_06 + 1, b"b\nc\n").unwrap();
        files.append(OCT_06 + 2, b"d\n").unwrap();
        files.append(OCT_06, b"e\n").unwrap();
        assert_eq!(read(&files.path_for(OCT_06)), "a\ne\n");
        assert_eq!(read(&files.path_for(OCT_06 + 1)), "b\nc\n");
        assert_eq!(read(&files.path_for(OCT_06 + 2)), "d\n");
        let open: Vec<i64> = files.open.iter().map(|f| f.day).collect();
        assert_eq!(open, [OCT_06, OCT_06 + 2]);
    }

    #[test]
    fn existing_files_are_appended_to() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("events-2025-10-06.jsonl"), "{\"a\":1}\n").unwrap();
        let mut files = DailyFiles::open(dir.path(), "events", Duration::ZERO).unwrap();
        files.append(OCT_06, b"{\"b\":2}\n").unwrap();
        assert_eq!(read(&files.path_for(OCT_06)), "{\"a\":1}\n{\"b\":2}\n");
        assert_eq!(files.repairs(), Repairs::default());
    }

    #[test]
    fn a_complete_json_tail_gets_its_newline() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join("events-2025-10-06.jsonl"),
            "{\"a\":1}\n{\"b\":2}",
        )
        .unwrap();
        let mut files = DailyFiles::open(dir.path(), "events", Duration::ZERO).unwrap();
        files.append(OCT_06, b"{\"c\":3}\n").unwrap();
        assert_eq!(
            read(&files.path_for(OCT_06)),
            "{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n"
        );
        assert_eq!(
            files.repairs(),
            Repairs {
                newline_added: 1,
                torn_bytes_cut: 0,
                torn_lines_cut: 0
            }
        );
    }

    #[test]
    fn a_torn_tail_is_cut_back_to_the_last_newline() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join("events-2025-10-06.jsonl"),
            "{\"a\":1}\n{\"b\":",
        )
        .unwrap();
        fs::write(
            dir.path().join("events-2025-10-07.jsonl"),
            "{\"torn\":\"no newline at all",
        )
        .unwrap();
        let mut files = DailyFiles::open(dir.path(), "events", Duration::ZERO).unwrap();
        files.append(OCT_06, b"{\"c\":3}\n").unwrap();
        files.append(OCT_06 + 1, b"{\"d\":4}\n").unwrap();
        assert_eq!(read(&files.path_for(OCT_06)), "{\"a\":1}\n{\"c\":3}\n");
        assert_eq!(read(&files.path_for(OCT_06 + 1)), "{\"d\":4}\n");
        assert_eq!(
            files.repairs(),
            Repairs {
                newline_added: 0,
                torn_bytes_cut: 5 + 26,
                torn_lines_cut: 2
            }
        );
    }

    #[test]
    fn a_long_torn_tail_is_found_across_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let torn = format!("{{\"x\":\"{}", "y".repeat(200_000));
        fs::write(
            dir.path().join("events-2025-10-06.jsonl"),
            format!("{{}}\n{torn}"),
        )
        .unwrap();
        let mut files = DailyFiles::open(dir.path(), "events", Duration::ZERO).unwrap();
        files.append(OCT_06, b"{\"c\":3}\n").unwrap();
        assert_eq!(read(&files.path_for(OCT_06)), "{}\n{\"c\":3}\n");
        assert_eq!(files.repairs().torn_bytes_cut, torn.len() as u64);
    }

    #[test]
    fn retention_deletes_only_matching_files_before_the_cutoff() {
        let dir = tempfile::tempdir().unwrap();
        let keep = [
            "events-2025-10-06.jsonl.bak",
            "other-2025-01-01.jsonl",
            "events-2025-13-01.jsonl",
            "events-2025-10-13.jsonl",
            "events-2025-10-20.jsonl",
            "events-2025-10-25.jsonl",
        ];
        let delete = [
            "events-2025-10-06.jsonl",
            "events-2025-10-06.jsonl.gz",
            "events-2025-10-12.jsonl",
        ];
        for name in keep.iter().chain(&delete) {
            fs::write(dir.path().join(name), "{}\n").unwrap();
        }
        fs::create_dir(dir.path().join("events-2025-01-01.jsonl")).unwrap();
        let mut files = DailyFiles::open(dir.path(), "events", Duration::ZERO).unwrap();
        files.append(OCT_06, b"{}\n").unwrap();
        let today = crate::contract::date::day_number(2025, 10, 20).unwrap();
        let report = files.sweep(today, Some(7), false);
        let deleted: Vec<_> = delete.iter().map(|n| dir.path().join(n)).collect();
        assert_eq!(report.deleted, deleted);
        assert!(
            report.compressed.is_empty() && report.errors.is_empty(),
            "{report:?}"
        );
        let mut left: BTreeSet<String> = keep.iter().map(|n| n.to_string()).collect();
        left.insert("events-2025-01-01.jsonl".into());
        assert_eq!(names(dir.path()), left);
        assert!(files.open.is_empty());
    }

    #[test]
    fn no_retention_keeps_every_file() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("events-1999-01-01.jsonl"), "{}\n").unwrap();
        let mut files = DailyFiles::open(dir.path(), "events", Duration::ZERO).unwrap();
        let report = files.sweep(OCT_06, None, false);
        assert!(report.deleted.is_empty() && report.errors.is_empty());
        assert_eq!(
            names(dir.path()),
            BTreeSet::from(["events-1999-01-01.jsonl".to_string()])
        );
    }

    #[test]
    fn gzip_compresses_finished_days_and_appends_members() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = DailyFiles::open(dir.path(), "events", Duration::ZERO).unwrap();
        files.append(OCT_06, b"{\"a\":1}\n").unwrap();
        files.append(OCT_06 + 1, b"{\"today\":1}\n").unwrap();
        let report = files.sweep(OCT_06 + 1, Some(14), true);
        let gz = dir.path().join("events-2025-10-06.jsonl.gz");
        assert_eq!(report.compressed, [gz.as_path()]);
        assert!(
            report.deleted.is_empty() && report.errors.is_empty(),
            "{report:?}"
        );
        assert_eq!(gunzip(&gz), "{\"a\":1}\n");
        // A late line for the finished day, compressed again: a second member.
        files.append(OCT_06, b"{\"late\":2}\n").unwrap();
        let report = files.sweep(OCT_06 + 1, Some(14), true);
        assert_eq!(report.compressed, [gz.as_path()]);
        assert_eq!(gunzip(&gz), "{\"a\":1}\n{\"late\":2}\n");
        let expected = BTreeSet::from([
            "events-2025-10-06.jsonl.gz".to_string(),
            "events-2025-10-07.jsonl".to_string(),
        ]);
        assert_eq!(names(dir.path()), expected);
    }

    /// The files of a compression of `{"old":1}` (already in the `.gz`) and
    /// `{"new":2}` (the plain file), stopped by a crash after `steps` of the
    /// four in `compress`.
    fn crashed_compression(dir: &Path, steps: usize) {
        let plain = dir.join("events-2025-10-06.jsonl");
        let gz = dir.join("events-2025-10-06.jsonl.gz");
        fs::write(&plain, "{\"old\":1}\n").unwrap();
        compress(&plain).unwrap();
        fs::write(&plain, "{\"new\":2}\n").unwrap();
        let tmp = sibling(&plain, gz_tmp_name);
        if steps >= 1 {
            write_gz(&plain, &gz, &tmp).unwrap();
        } else {
            fs::write(&tmp, b"\x1f\x8b torn").unwrap();
        }
        if steps >= 2 {
            fs::rename(&plain, sibling(&plain, compressed_name)).unwrap();
        }
        if steps >= 3 {
            fs::rename(&tmp, &gz).unwrap();
        }
    }

    #[test]
    fn a_compression_interrupted_at_any_step_is_finished_once_at_the_next_sweep() {
        for steps in 0..=3 {
            let dir = tempfile::tempdir().unwrap();
            crashed_compression(dir.path(), steps);
            let mut files = DailyFiles::open(dir.path(), "events", Duration::ZERO).unwrap();
            let report = files.sweep(OCT_06 + 1, None, true);
            let gz = dir.path().join("events-2025-10-06.jsonl.gz");
            assert!(report.errors.is_empty(), "{steps}: {report:?}");
            assert_eq!(report.compressed, [gz.as_path()], "{steps}");
            assert_eq!(
                gunzip(&gz),
                "{\"old\":1}\n{\"new\":2}\n",
                "after {steps} steps"
            );
            let expected = BTreeSet::from(["events-2025-10-06.jsonl.gz".to_string()]);
            assert_eq!(names(dir.path()), expected, "after {steps} steps");
        }
    }

    #[test]
    fn hidden_leftovers_of_other_prefixes_or_gz_names_are_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            ".other-2025-10-06.jsonl.compressed",
            ".events-2025-10-06.jsonl.gz.compressed",
        ] {
            fs::write(dir.path().join(name), "x").unwrap();
        }
        let mut files = DailyFiles::open(dir.path(), "events", Duration::ZERO).unwrap();
        let report = files.sweep(OCT_06 + 1, None, true);
        assert!(
            report.compressed.is_empty() && report.errors.is_empty(),
            "{report:?}"
        );
        assert_eq!(names(dir.path()).len(), 2);
    }

    #[test]
    fn a_removed_directory_is_recreated_by_the_next_append() {
        let dir = tempfile::tempdir().unwrap();
        let log_dir = dir.path().join("logs");
        let mut files = DailyFiles::open(&log_dir, "events", Duration::ZERO).unwrap();
        files.append(OCT_06, b"{\"a\":1}\n").unwrap();
        fs::remove_dir_all(&log_dir).unwrap();
        files.append(OCT_06, b"{\"b\":2}\n").unwrap();
        assert_eq!(read(&files.path_for(OCT_06)), "{\"b\":2}\n");
    }

    #[test]
    fn a_removed_file_is_reopened_by_the_next_append() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = DailyFiles::open(dir.path(), "events", Duration::ZERO).unwrap();
        files.append(OCT_06, b"{\"a\":1}\n").unwrap();
        fs::remove_file(files.path_for(OCT_06)).unwrap();
        files.append(OCT_06, b"{\"b\":2}\n").unwrap();
        assert_eq!(read(&files.path_for(OCT_06)), "{\"b\":2}\n");
    }

    #[test]
    fn an_unwritable_directory_fails_open_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("plain-file");
        fs::write(&file, "x").unwrap();
        let bad = file.join("logs");
        let err = DailyFiles::open(&bad, "events", Duration::ZERO).unwrap_err();
        assert!(
            matches!(&err, Error::LogDir { path, .. } if *path == bad),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .starts_with(&format!("log directory {}: ", bad.display())),
            "{err}"
        );
    }

    #[test]
    fn a_regular_file_as_the_directory_says_it_is_not_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("plain-file");
        fs::write(&file, "x").unwrap();
        let err = DailyFiles::open(&file, "events", Duration::ZERO).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "log directory {}: it exists and is not a directory",
                file.display()
            )
        );
        assert_eq!(read(&file), "x");
    }

    #[test]
    fn an_empty_directory_path_is_a_config_error() {
        let err = DailyFiles::open(Path::new(""), "events", Duration::ZERO).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid configuration: log_dir is empty: name a directory (\".\" for the working directory)"
        );
    }

    #[cfg(unix)]
    #[test]
    fn symlinked_day_files_are_neither_repaired_nor_appended_to() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let target = outside.path().join("victim");
        // A torn-looking tail: a repair would cut it.
        fs::write(&target, "precious\nno newline").unwrap();
        for day in [OCT_06 - 1, OCT_06] {
            let link = dir.path().join(file_name("events", day));
            std::os::unix::fs::symlink(&target, link).unwrap();
        }
        let mut files = DailyFiles::open(dir.path(), "events", Duration::ZERO).unwrap();
        for day in [OCT_06 - 1, OCT_06] {
            files.repair_if_exists(day).unwrap();
            let err = files.append(day, b"{\"a\":1}\n").unwrap_err();
            assert!(crate::sink::open::Refused::is(&err), "{err}");
        }
        assert_eq!(read(&target), "precious\nno newline");
        assert_eq!(files.repairs(), Repairs::default());
    }

    #[cfg(unix)]
    #[test]
    fn the_probe_never_writes_through_links_planted_at_guessable_names() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let target = outside.path().join("victim");
        fs::write(&target, "precious").unwrap();
        let pid = std::process::id();
        for name in [
            format!(".events-probe-{pid}"),
            format!(".events-probe-{}", pid + 1),
        ] {
            std::os::unix::fs::symlink(&target, dir.path().join(name)).unwrap();
        }
        DailyFiles::open(dir.path(), "events", Duration::ZERO).unwrap();
        assert_eq!(read(&target), "precious");
        // Only the planted links are left.
        let left = names(dir.path());
        assert_eq!(left.len(), 2, "{left:?}");
    }

    #[cfg(unix)]
    #[test]
    fn compression_never_writes_through_a_link_planted_at_its_temporary_name() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let target = outside.path().join("victim");
        fs::write(&target, "precious").unwrap();
        let plain = dir.path().join("events-2025-10-06.jsonl");
        fs::write(&plain, "{\"a\":1}\n").unwrap();
        let tmp = sibling(&plain, gz_tmp_name);
        std::os::unix::fs::symlink(&target, &tmp).unwrap();
        let gz = compress(&plain).unwrap();
        assert_eq!(gunzip(&gz), "{\"a\":1}\n");
        assert_eq!(read(&target), "precious");
    }

    #[test]
    fn a_bad_prefix_is_a_config_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            DailyFiles::open(dir.path(), "", Duration::ZERO),
            Err(Error::Config(_))
        ));
        assert!(matches!(
            DailyFiles::open(dir.path(), "a/b", Duration::ZERO),
            Err(Error::Config(_))
        ));
    }

    #[test]
    fn a_failed_write_reports_how_much_was_written() {
        struct Short(usize);
        impl Write for Short {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                match self.0 {
                    0 => Err(io::Error::other("disk full")),
                    n => {
                        let k = n.min(buf.len()).min(3);
                        self.0 -= k;
                        Ok(k)
                    }
                }
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let (err, written) = write_all_counted(&mut Short(5), b"0123456789").unwrap_err();
        assert_eq!((err.to_string(), written), ("disk full".to_string(), 5));
        assert!(write_all_counted(&mut Short(10), b"0123456789").is_ok());
    }
}
