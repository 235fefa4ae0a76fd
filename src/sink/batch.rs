//! What the writer takes from the queue: complete lines in one buffer, in
//! runs of one UTC day each.

/// Lines of one UTC day, contiguous in a batch buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Run {
    pub(crate) day: i64,
    pub(crate) end: usize,
    pub(crate) lines: u64,
}

/// A set of complete lines taken by the writer.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    pub(crate) buf: Vec<u8>,
    pub(crate) runs: Vec<Run>,
}

impl Batch {
    pub(crate) fn lines(&self) -> u64 {
        self.runs.iter().map(|r| r.lines).sum()
    }

    /// The runs with their byte ranges.
    pub(crate) fn slices(&self) -> impl Iterator<Item = (Run, &[u8])> {
        let mut start = 0;
        self.runs.iter().map(move |run| {
            let bytes = &self.buf[start..run.end];
            start = run.end;
            (*run, bytes)
        })
    }

    pub(crate) fn clear(&mut self) {
        self.buf.clear();
        self.runs.clear();
    }

    /// Empties a written batch; after one of at most `base` bytes, gives
    /// back a buffer a backlog grew past twice that, so the queue's memory
    /// returns to its base size.
    pub(crate) fn recycle(&mut self, base: usize) {
        let small = self.buf.len() <= base;
        self.clear();
        if small && self.buf.capacity() > 2 * base {
            self.buf.shrink_to(base);
        }
    }

    /// Appends the lines of `other`, in order.
    pub(crate) fn append(&mut self, other: &Batch) {
        let offset = self.buf.len();
        self.buf.extend_from_slice(&other.buf);
        for run in &other.runs {
            let end = offset + run.end;
            match self.runs.last_mut() {
                Some(last) if last.day == run.day => {
                    last.end = end;
                    last.lines += run.lines;
                }
                _ => self.runs.push(Run { end, ..*run }),
            }
        }
    }

    pub(crate) fn push(&mut self, day: i64, line: &[u8]) {
        self.buf.extend_from_slice(line);
        match self.runs.last_mut() {
            Some(run) if run.day == day => {
                run.end = self.buf.len();
                run.lines += 1;
            }
            _ => self.runs.push(Run {
                day,
                end: self.buf.len(),
                lines: 1,
            }),
        }
    }
}
