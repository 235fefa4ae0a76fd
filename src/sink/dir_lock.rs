//! One writer per log directory: an advisory lock (`flock`) on
//! `<dir>/.evt-telemetry.lock`, held for the writer's lifetime.
//!
//! The kernel releases it when the holder's file is closed, including when
//! the process dies, so a crash never leaves a stale lock. The holder writes
//! its pid into the file, so a refused instance can say who holds it.

use std::fs::{File, OpenOptions};
use std::io::{self, Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::Error;
use crate::sink::open::open_regular;

/// The lock file's name inside the log directory (hidden: it never matches
/// the day-file pattern, whatever the prefix).
pub(crate) const LOCK_FILE: &str = ".evt-telemetry.lock";

/// How often a waiting `build()` tries the lock again.
const RETRY: Duration = Duration::from_millis(10);

/// The held lock; dropping it (closing the file) releases it.
#[derive(Debug)]
pub(crate) struct DirLock {
    _file: File,
}

impl DirLock {
    /// Takes the lock of `dir`, waiting up to `wait` for another holder to
    /// release it.
    ///
    /// # Errors
    ///
    /// [`Error::DirLocked`] when `wait` runs out, [`Error::LogDir`] when the
    /// lock file cannot be opened (a symlink, say) or locked.
    pub(crate) fn acquire(dir: &Path, wait: Duration) -> Result<DirLock, Error> {
        let path = lock_path(dir);
        let io_err = |what: &str, e: io::Error| Error::LogDir {
            path: dir.to_path_buf(),
            source: io::Error::new(e.kind(), format!("cannot {what} {LOCK_FILE}: {e}")),
        };
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true);
        let mut file = open_regular(&mut options, &path).map_err(|e| io_err("open", e))?;
        let started = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(std::fs::TryLockError::WouldBlock) => {}
                Err(std::fs::TryLockError::Error(e)) => return Err(io_err("lock", e)),
            }
            let waited = started.elapsed();
            if waited >= wait {
                return Err(Error::DirLocked {
                    path: dir.to_path_buf(),
                    pid: holder_pid(&mut file),
                    waited,
                });
            }
            std::thread::sleep(RETRY.min(wait - waited));
        }
        write_pid(&mut file).map_err(|e| io_err("write", e))?;
        Ok(DirLock { _file: file })
    }
}

fn write_pid(file: &mut File) -> io::Result<()> {
    file.set_len(0)?;
    file.seek(SeekFrom::Start(0))?;
    writeln!(file, "{}", std::process::id())
}

/// The pid the holder wrote, if readable.
fn holder_pid(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.take(32).read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

/// The lock file of `dir`.
pub(crate) fn lock_path(dir: &Path) -> PathBuf {
    dir.join(LOCK_FILE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_directory_is_refused_with_the_holders_pid() {
        let dir = tempfile::tempdir().unwrap();
        let held = DirLock::acquire(dir.path(), Duration::ZERO).unwrap();
        let err = DirLock::acquire(dir.path(), Duration::from_millis(30)).unwrap_err();
        match err {
            Error::DirLocked { path, pid, waited } => {
                assert_eq!(path, dir.path());
                assert_eq!(pid, Some(std::process::id()));
                assert!(waited >= Duration::from_millis(30), "{waited:?}");
            }
            other => panic!("{other:?}"),
        }
        drop(held);
        assert!(DirLock::acquire(dir.path(), Duration::ZERO).is_ok());
    }

    #[test]
    fn a_waiting_lock_gets_it_once_the_holder_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let held = DirLock::acquire(dir.path(), Duration::ZERO).unwrap();
        let release = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            drop(held);
        });
        assert!(DirLock::acquire(dir.path(), Duration::from_secs(30)).is_ok());
        release.join().unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_symlinked_lock_file_is_refused_and_its_target_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("outside");
        std::fs::write(&target, "precious").unwrap();
        std::os::unix::fs::symlink(&target, lock_path(dir.path())).unwrap();
        let err = DirLock::acquire(dir.path(), Duration::ZERO).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "log directory {}: cannot open {LOCK_FILE}: refused {}: it is a symbolic link",
                dir.path().display(),
                lock_path(dir.path()).display()
            )
        );
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious");
    }
}
