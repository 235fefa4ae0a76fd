//! Splitting a byte stream into lines with a cap on line length: lines are
//! handed out from the reader's own buffer (SIMD `memchr`, no copy) and only
//! a line straddling two buffer fills is copied; a line longer than the cap
//! is skipped without being buffered, so memory never depends on line size.

use std::io::{self, BufRead};

use crate::error::CliError;
use crate::scan::Flow;

/// The default cap on a line, in bytes (newline excluded): 16 times the
/// writer's default `max_line_bytes` (64 KiB).
pub(crate) const DEFAULT_MAX_LINE: usize = 1024 * 1024;

/// One piece of the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Piece<'b> {
    /// A line, newline included if it had one.
    Line(&'b [u8]),
    /// A line longer than the cap, skipped: its length in bytes (newline
    /// included if it had one).
    TooLong(u64),
}

/// Why splitting ended early.
#[derive(Debug)]
pub(crate) enum Stopped {
    Read(io::Error),
    Each(CliError),
}

/// The state between buffer fills: the start of a line, or how much of an
/// over-long line was skipped so far.
#[derive(Debug)]
pub(crate) struct LineSplitter {
    max: usize,
    carry: Vec<u8>,
    skipped: Option<u64>,
}

impl LineSplitter {
    /// A splitter capping lines at `max` bytes (newline excluded).
    pub(crate) fn new(max: usize) -> Self {
        LineSplitter {
            max,
            carry: Vec::new(),
            skipped: None,
        }
    }

    /// Calls `each` with every complete line of `reader` until its end
    /// (or a [`Flow::Stop`]); an unfinished last line is kept for the next
    /// call, or for [`LineSplitter::finish`].
    pub(crate) fn feed<R, F>(&mut self, reader: &mut R, mut each: F) -> Result<Flow, Stopped>
    where
        R: BufRead + ?Sized,
        F: FnMut(Piece<'_>) -> Result<Flow, CliError>,
    {
        loop {
            let chunk = reader.fill_buf().map_err(Stopped::Read)?;
            if chunk.is_empty() {
                return Ok(Flow::Continue);
            }
            let mut start = 0;
            while let Some(i) = memchr::memchr(b'\n', &chunk[start..]) {
                let end = start + i + 1;
                let flow = self.complete(&chunk[start..end], &mut each);
                start = end;
                if flow.map_err(Stopped::Each)? == Flow::Stop {
                    reader.consume(start);
                    return Ok(Flow::Stop);
                }
            }
            self.keep(&chunk[start..]);
            let len = chunk.len();
            reader.consume(len);
        }
    }

    /// Hands out the unfinished last line, if any (the stream has ended).
    pub(crate) fn finish<F>(&mut self, mut each: F) -> Result<Flow, CliError>
    where
        F: FnMut(Piece<'_>) -> Result<Flow, CliError>,
    {
        if let Some(n) = self.skipped.take() {
            return each(Piece::TooLong(n));
        }
        if self.carry.is_empty() {
            return Ok(Flow::Continue);
        }
        let flow = each(Piece::Line(&self.carry));
        self.carry.clear();
        flow
    }

    /// `tail` (the rest of a line, newline included) completes a line.
    fn complete<F>(&mut self, tail: &[u8], each: &mut F) -> Result<Flow, CliError>
    where
        F: FnMut(Piece<'_>) -> Result<Flow, CliError>,
    {
        if let Some(n) = self.skipped.take() {
            return each(Piece::TooLong(n + tail.len() as u64));
        }
        let len = self.carry.len() + tail.len();
        if len - 1 > self.max {
            self.carry.clear();
            return each(Piece::TooLong(len as u64));
        }
        if self.carry.is_empty() {
            return each(Piece::Line(tail));
        }
        self.carry.extend_from_slice(tail);
        let flow = each(Piece::Line(&self.carry));
        self.carry.clear();
        flow
    }

    /// Keeps the start of an unfinished line, or counts it if over the cap.
    fn keep(&mut self, rest: &[u8]) {
        if let Some(n) = &mut self.skipped {
            *n += rest.len() as u64;
        } else if self.carry.len() + rest.len() > self.max {
            self.skipped = Some((self.carry.len() + rest.len()) as u64);
            self.carry = Vec::new();
        } else {
            self.carry.extend_from_slice(rest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(text: &[u8], buf: usize, max: usize) -> Vec<String> {
        let mut reader = io::BufReader::with_capacity(buf, text);
        let mut pieces = Vec::new();
        let mut push = |p: Piece<'_>| {
            pieces.push(match p {
                Piece::Line(l) => String::from_utf8_lossy(l).into_owned(),
                Piece::TooLong(n) => format!("<{n} bytes skipped>"),
            });
            Ok(Flow::Continue)
        };
        let mut splitter = LineSplitter::new(max);
        assert!(matches!(
            splitter.feed(&mut reader, &mut push),
            Ok(Flow::Continue)
        ));
        splitter.finish(&mut push).expect("finish");
        pieces
    }

    #[test]
    fn lines_are_split_across_buffer_fills_and_the_last_may_lack_a_newline() {
        let text = b"first line\nsecond, longer line\n\nlast";
        assert_eq!(
            split(text, 4, 100),
            ["first line\n", "second, longer line\n", "\n", "last"]
        );
    }

    #[test]
    fn lines_over_the_cap_are_skipped_whole_wherever_they_fall() {
        let text = b"0123456789\n01234567890\nok\n0123456789012345678901234";
        let expected = [
            "0123456789\n",
            "<12 bytes skipped>",
            "ok\n",
            "<25 bytes skipped>",
        ];
        for buf in [3, 8, 64] {
            assert_eq!(split(text, buf, 10), expected, "buffer of {buf}");
        }
    }

    #[test]
    fn a_huge_unterminated_tail_is_never_buffered() {
        let text = vec![0u8; 4 * 1024 * 1024];
        let mut reader = io::BufReader::with_capacity(64 * 1024, &text[..]);
        let mut splitter = LineSplitter::new(DEFAULT_MAX_LINE);
        let flow = splitter.feed(&mut reader, |_| Ok(Flow::Continue));
        assert!(matches!(flow, Ok(Flow::Continue)));
        assert!(splitter.carry.capacity() <= DEFAULT_MAX_LINE + 64 * 1024);
        let mut last = None;
        splitter
            .finish(|p| {
                last = Some(p.to_owned_piece());
                Ok(Flow::Continue)
            })
            .expect("finish");
        assert_eq!(last, Some(Err(4 * 1024 * 1024)));
    }

    impl Piece<'_> {
        fn to_owned_piece(self) -> Result<Vec<u8>, u64> {
            match self {
                Piece::Line(l) => Ok(l.to_vec()),
                Piece::TooLong(n) => Err(n),
            }
        }
    }
}
