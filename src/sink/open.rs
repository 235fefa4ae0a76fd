//! Opening files inside the log directory without ever following a symbolic
//! link or writing to anything but a regular file: a planted link must not
//! make the writer append to, cut or truncate a file elsewhere.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

/// Opens `path` with `options`, refusing a symbolic link as the last path
/// component (`O_NOFOLLOW`: the kernel checks, so there is no window between
/// a check and the open) and anything that is not a regular file (checked on
/// the opened handle).
pub(crate) fn open_regular(options: &mut OpenOptions, path: &Path) -> io::Result<File> {
    no_follow(options);
    let file = options.open(path).map_err(|e| match e.raw_os_error() {
        #[cfg(unix)]
        Some(libc::ELOOP) => Refused::error(path, "a symbolic link"),
        _ => e,
    })?;
    if !file.metadata()?.is_file() {
        return Err(Refused::error(path, "not a regular file"));
    }
    Ok(file)
}

#[cfg(unix)]
fn no_follow(options: &mut OpenOptions) {
    use std::os::unix::fs::OpenOptionsExt as _;
    options.custom_flags(libc::O_NOFOLLOW);
}

#[cfg(not(unix))]
fn no_follow(_options: &mut OpenOptions) {}

/// Why a file in the log directory was not opened: it is a symbolic link or
/// not a regular file. Retrying cannot help, so the writer gives its lines
/// up at once.
#[derive(Debug)]
pub(crate) struct Refused {
    what: String,
}

impl Refused {
    fn error(path: &Path, is: &str) -> io::Error {
        io::Error::other(Refused {
            what: format!("refused {}: it is {is}", path.display()),
        })
    }

    /// Whether `err` is such a refusal.
    pub(crate) fn is(err: &io::Error) -> bool {
        err.get_ref().is_some_and(|e| e.is::<Refused>())
    }
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.what)
    }
}

impl std::error::Error for Refused {}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::fs;

    fn append() -> OpenOptions {
        let mut o = OpenOptions::new();
        o.append(true).create(true);
        o
    }

    #[test]
    fn a_symlink_is_refused_and_its_target_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("outside");
        fs::write(&target, "precious").unwrap();
        let link = dir.path().join("day.jsonl");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let err = open_regular(&mut append(), &link).unwrap_err();
        assert!(Refused::is(&err), "{err}");
        assert_eq!(
            err.to_string(),
            format!("refused {}: it is a symbolic link", link.display())
        );
        // A dangling link is not created through either.
        let dangling = dir.path().join("dangling");
        std::os::unix::fs::symlink(dir.path().join("nowhere"), &dangling).unwrap();
        assert!(Refused::is(
            &open_regular(&mut append(), &dangling).unwrap_err()
        ));
        assert!(!dir.path().join("nowhere").exists());
        assert_eq!(fs::read_to_string(&target).unwrap(), "precious");
    }

    #[test]
    fn a_fifo_or_directory_is_refused_and_a_regular_file_opens() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("sub");
        fs::create_dir(&sub).unwrap();
        let mut read = OpenOptions::new();
        read.read(true);
        let err = open_regular(&mut read, &sub).unwrap_err();
        assert!(Refused::is(&err), "{err}");
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if made.is_ok_and(|s| s.success()) {
            // Read-write: opening a FIFO this way never blocks.
            let mut rw = OpenOptions::new();
            rw.read(true).write(true);
            let err = open_regular(&mut rw, &fifo).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("refused {}: it is not a regular file", fifo.display())
            );
        }
        let file = dir.path().join("plain");
        assert!(open_regular(&mut append(), &file).is_ok());
        assert!(file.is_file());
    }
}
