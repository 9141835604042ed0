//! Comments by frame number, kept on disk while a capture is written: an unnamed file of
//! fixed-size records, record `n - 1` for frame `n` (a sparse file: frames without a comment
//! take no room), so that memory stays flat however many frames are commented, and the comments
//! come back in frame order whatever order they were given in.
//!
//! Comments arrive nearly in frame order (as exchanges settle), so they are gathered in a
//! window of [`WINDOW`] records that is written out in large pieces as it slides; a comment for
//! a frame already behind the window is written in place. [`CommentReader`] reads them back in
//! frame order. Comments longer than a record are cut. It knows nothing of what comments say.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::Path;

/// Bytes per record: a 2-byte length, then the comment.
const RECORD: usize = 160;
/// Records in the window (0.6 MiB).
const WINDOW: u64 = 4096;

/// The writing side.
#[derive(Debug)]
pub struct CommentFile {
    file: File,
    /// Frame number of the window's first record.
    base: u64,
    window: Vec<u8>,
    /// Comments given (to say whether any was).
    count: u64,
}

impl CommentFile {
    /// An unnamed file in `dir` (gone when closed, even after a crash).
    pub fn create_in(dir: &Path) -> io::Result<CommentFile> {
        let file = tempfile::tempfile_in(dir)?;
        Ok(CommentFile { file, base: 1, window: vec![0; RECORD * WINDOW as usize], count: 0 })
    }

    /// The comment of frame `frame` (from 1); a later comment of the same frame replaces it.
    pub fn put(&mut self, frame: u64, comment: &str) -> io::Result<()> {
        if frame == 0 {
            return Ok(());
        }
        self.count += 1;
        let rec = record(comment);
        if frame < self.base {
            return self.file.write_all_at(&rec, offset(frame));
        }
        if frame >= self.base + WINDOW {
            self.slide_to(frame)?;
        }
        let at = (frame - self.base) as usize * RECORD;
        if let Some(slot) = self.window.get_mut(at..at + RECORD) {
            slot.copy_from_slice(&rec);
        }
        Ok(())
    }

    /// Comments given so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Write out the window and hand the file over for reading, from frame 1.
    pub fn finish(mut self) -> io::Result<CommentReader> {
        self.flush(WINDOW)?;
        self.file.seek(SeekFrom::Start(0))?;
        Ok(CommentReader {
            file: BufReader::with_capacity(1 << 16, self.file),
            next: 1,
            eof: false,
        })
    }

    /// Slide the window so that `frame` is in its second half (or at its start, after a jump).
    fn slide_to(&mut self, frame: u64) -> io::Result<()> {
        let half = WINDOW / 2;
        if frame >= self.base + WINDOW + half {
            // A jump: write out everything, start the window at the frame.
            self.flush(WINDOW)?;
            self.window.fill(0);
            self.base = frame;
            return Ok(());
        }
        while frame >= self.base + WINDOW {
            self.flush(half)?;
            let split = half as usize * RECORD;
            self.window.copy_within(split.., 0);
            let len = self.window.len();
            self.window.get_mut(len - split..).unwrap_or_default().fill(0);
            self.base += half;
        }
        Ok(())
    }

    /// Write the window's first `n` records where they belong.
    fn flush(&self, n: u64) -> io::Result<()> {
        let bytes = self.window.get(..n as usize * RECORD).unwrap_or_default();
        self.file.write_all_at(bytes, offset(self.base))
    }
}

fn offset(frame: u64) -> u64 {
    (frame - 1) * RECORD as u64
}

/// A record: the comment's length (little-endian) and its bytes, cut at a character boundary.
fn record(comment: &str) -> [u8; RECORD] {
    let mut end = comment.len().min(RECORD - 2);
    while !comment.is_char_boundary(end) {
        end -= 1;
    }
    let mut rec = [0u8; RECORD];
    rec[..2].copy_from_slice(&(end as u16).to_le_bytes());
    rec[2..2 + end].copy_from_slice(&comment.as_bytes()[..end]);
    rec
}

/// The reading side: comments in frame order.
#[derive(Debug)]
pub struct CommentReader {
    file: BufReader<File>,
    /// The frame whose record is next in the file.
    next: u64,
    eof: bool,
}

impl CommentReader {
    /// The comment of frame `frame`; frames must be asked for in increasing order.
    pub fn get(&mut self, frame: u64) -> io::Result<Option<String>> {
        let mut rec = [0u8; RECORD];
        while !self.eof && self.next <= frame {
            match self.file.read_exact(&mut rec) {
                Ok(()) => self.next += 1,
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => self.eof = true,
                Err(e) => return Err(e),
            }
            if self.next == frame + 1 {
                let len = usize::from(u16::from_le_bytes([rec[0], rec[1]])).min(RECORD - 2);
                let text = String::from_utf8_lossy(&rec[2..2 + len]).into_owned();
                return Ok(Some(text).filter(|t| !t.is_empty()));
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_come_back_in_frame_order_whatever_order_they_came_in() -> io::Result<()> {
        let dir = std::env::temp_dir();
        let mut c = CommentFile::create_in(&dir)?;
        // Nearly in order, some late (behind the window), a jump far ahead, one cut.
        let mut given = Vec::new();
        for f in (1..20_000u64).filter(|f| f % 3 != 0) {
            given.push((f, format!("frame {f}")));
        }
        for f in (3..20_000u64).step_by(3).filter(|f| f % 7 == 0) {
            given.push((f, format!("late {f}")));
        }
        given.push((100_000, "far".into()));
        given.push((100_001, "é".repeat(200)));
        for (f, text) in &given {
            c.put(*f, text)?;
        }
        assert_eq!(c.count(), given.len() as u64);
        let mut r = c.finish()?;
        given.sort();
        let mut got = Vec::new();
        for f in 1..=100_002 {
            if let Some(t) = r.get(f)? {
                got.push((f, t));
            }
        }
        let last = got.pop().map(|(_, t)| t).unwrap_or_default();
        assert_eq!(last, "é".repeat(79));
        given.pop();
        assert_eq!(got, given);
        Ok(())
    }
}
