//! A growable read buffer over any `Read`, that knows the file offset of every byte it holds.
//!
//! The readers ask for "at least n bytes buffered" and then parse in place, so no frame is copied
//! or allocated. The buffer grows only as data actually arrives (doubling), and never beyond
//! [`MAX_BLOCK`]: a length field in the file can make it ask, never make it allocate.
//! This module knows nothing about capture formats.

use std::io::{self, Read};

/// The largest record or block the readers accept (and so the largest the buffer ever grows to).
pub const MAX_BLOCK: usize = 16 << 20;

/// Initial buffer size: large enough for efficient reads, small enough to stay in cache.
const INITIAL: usize = 256 << 10;

pub struct Input {
    src: Box<dyn Read + Send>,
    buf: Vec<u8>,
    /// First unconsumed byte in `buf`.
    start: usize,
    /// One past the last valid byte in `buf`.
    end: usize,
    /// File offset of `buf[0]`.
    base: u64,
    eof: bool,
}

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Input")
            .field("offset", &self.offset())
            .field("buffered", &(self.end - self.start))
            .field("capacity", &self.buf.len())
            .field("eof", &self.eof)
            .finish()
    }
}

impl Input {
    pub fn new(src: Box<dyn Read + Send>) -> Self {
        Input { src, buf: Vec::new(), start: 0, end: 0, base: 0, eof: false }
    }

    /// File offset of the first unconsumed byte.
    pub fn offset(&self) -> u64 {
        self.base + self.start as u64
    }

    /// The buffered, unconsumed bytes.
    #[inline]
    pub fn data(&self) -> &[u8] {
        // start <= end <= buf.len() always holds.
        self.buf.get(self.start..self.end).unwrap_or_default()
    }

    /// Makes at least `n` bytes available in [`Self::data`]; `Ok(false)` when the input ends
    /// first (then `data()` holds what was left). `n` must not exceed [`MAX_BLOCK`].
    #[inline]
    pub fn fill(&mut self, n: usize) -> io::Result<bool> {
        if self.end - self.start >= n {
            return Ok(true);
        }
        self.fill_slow(n)
    }

    #[cold]
    fn fill_slow(&mut self, n: usize) -> io::Result<bool> {
        let n = n.min(MAX_BLOCK);
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.base += self.start as u64;
            self.end -= self.start;
            self.start = 0;
        }
        while self.end < n && !self.eof {
            if self.end == self.buf.len() {
                // Grow by doubling, towards what the caller asked for, as data arrives.
                let want = (self.buf.len() * 2).clamp(INITIAL, MAX_BLOCK.max(INITIAL));
                self.buf.resize(want, 0);
            }
            let space = self.buf.get_mut(self.end..).unwrap_or_default();
            match self.src.read(space) {
                Ok(0) => self.eof = true,
                Ok(k) => self.end += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(self.end >= n)
    }

    /// Drops `n` bytes from the front (at most what is buffered).
    #[inline]
    pub fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that returns at most 3 bytes per call, to exercise short reads.
    struct Trickle(io::Cursor<Vec<u8>>);
    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let k = buf.len().min(3);
            self.0.read(&mut buf[..k])
        }
    }

    #[test]
    fn fills_across_short_reads_and_tracks_offsets() -> io::Result<()> {
        let bytes: Vec<u8> = (0..100u8).collect();
        let mut input = Input::new(Box::new(Trickle(io::Cursor::new(bytes))));
        assert!(input.fill(10)?);
        assert_eq!(&input.data()[..4], &[0, 1, 2, 3]);
        input.consume(7);
        assert_eq!(input.offset(), 7);
        assert!(input.fill(90)?);
        assert_eq!(input.data()[0], 7);
        input.consume(90);
        assert_eq!(input.offset(), 97);
        assert!(!input.fill(4)?);
        assert_eq!(input.data(), &[97, 98, 99]);
        Ok(())
    }

    #[test]
    fn a_huge_request_on_a_small_input_allocates_only_what_arrives() -> io::Result<()> {
        let mut input = Input::new(Box::new(io::Cursor::new(vec![1u8; 1000])));
        assert!(!input.fill(MAX_BLOCK)?);
        assert_eq!(input.data().len(), 1000);
        assert_eq!(input.buf.len(), INITIAL);
        Ok(())
    }
}
