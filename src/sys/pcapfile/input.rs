//! A growable read buffer over any `Read`, that knows the file offset of every byte it holds.
//!
//! The readers ask for "at least n bytes buffered" and then parse in place, so no frame is copied
//! or allocated. The buffer grows only as data actually arrives (doubling), and never beyond
//! [`MAX_BLOCK`]: a length field in the file can make it ask, never make it allocate.
//! This module knows nothing about capture formats.

use std::io::{self, Read, Seek};

/// The largest record or block the readers accept (and so the largest the buffer ever grows to).
pub const MAX_BLOCK: usize = 16 << 20;

/// Initial buffer size: large enough for efficient reads, small enough to stay in cache.
const INITIAL: usize = 256 << 10;

pub struct Input {
    src: Box<dyn Read + Send>,
    buf: Buf,
    /// First unconsumed byte in `buf`.
    start: usize,
    /// One past the last valid byte in `buf`.
    end: usize,
    /// File offset of `buf[0]`.
    base: u64,
    eof: bool,
}

/// The bytes: read into a buffer of our own, or a file mapped into memory (read in place, no
/// copy; what the file gains after it was mapped is read through `src` afterwards).
enum Buf {
    Owned(Vec<u8>),
    Mapped(memmap2::Mmap),
}

impl Buf {
    #[inline(always)]
    fn bytes(&self) -> &[u8] {
        match self {
            Buf::Owned(v) => v,
            Buf::Mapped(m) => m,
        }
    }
}

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Input")
            .field("offset", &self.offset())
            .field("buffered", &(self.end - self.start))
            .field("capacity", &self.buf.bytes().len())
            .field("eof", &self.eof)
            .finish()
    }
}

impl Input {
    pub fn new(src: Box<dyn Read + Send>) -> Self {
        Input { src, buf: Buf::Owned(Vec::new()), start: 0, end: 0, base: 0, eof: false }
    }

    /// A regular file, mapped into memory when it can be (else read like any stream).
    pub fn file(file: std::fs::File) -> Self {
        // SAFETY: the map is only read. A file truncated by another process while vtrace
        // reads it would fault (SIGBUS), as it would for any reader that maps its input;
        // capture files are written by appending.
        let map = match file.metadata() {
            Ok(m) if m.is_file() && m.len() > 0 => unsafe { memmap2::Mmap::map(&file) }.ok(),
            _ => None,
        };
        let Some(map) = map else { return Input::new(Box::new(file)) };
        // The file is read on from where the map ends, should it grow.
        let end = map.len();
        if (&file).seek(std::io::SeekFrom::Start(end as u64)).is_err() {
            return Input::new(Box::new(file));
        }
        let _ = map.advise(memmap2::Advice::Sequential);
        Input { src: Box::new(file), buf: Buf::Mapped(map), start: 0, end, base: 0, eof: false }
    }

    /// File offset of the first unconsumed byte.
    pub fn offset(&self) -> u64 {
        self.base + self.start as u64
    }

    /// The buffered, unconsumed bytes.
    #[inline]
    pub fn data(&self) -> &[u8] {
        // start <= end <= buf.len() always holds.
        self.buf.bytes().get(self.start..self.end).unwrap_or_default()
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
        if let Buf::Mapped(map) = &self.buf {
            // The map is read to its end: what is left of it goes into a buffer, and reading
            // goes on from the file (positioned at the map's end), for what it gained since.
            let rest = map.get(self.start..self.end).unwrap_or_default().to_vec();
            self.base += self.start as u64;
            self.end = rest.len();
            self.start = 0;
            self.buf = Buf::Owned(rest);
        }
        let Buf::Owned(buf) = &mut self.buf else { return Ok(false) };
        if self.start > 0 {
            buf.copy_within(self.start..self.end, 0);
            self.base += self.start as u64;
            self.end -= self.start;
            self.start = 0;
        }
        while self.end < n && !self.eof {
            if self.end == buf.len() {
                // Grow by doubling, towards what the caller asked for, as data arrives.
                let want = (buf.len() * 2).clamp(INITIAL, MAX_BLOCK.max(INITIAL));
                buf.resize(want, 0);
            }
            let space = buf.get_mut(self.end..).unwrap_or_default();
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
    fn a_mapped_file_reads_in_place_then_what_it_gained_since() -> io::Result<()> {
        use std::io::Write;
        let path = std::env::temp_dir().join(format!("vtrace-input-{}", std::process::id()));
        let mut w = std::fs::File::create(&path)?;
        w.write_all(&(0..100u8).collect::<Vec<_>>())?;
        let mut input = Input::file(std::fs::File::open(&path)?);
        assert!(matches!(input.buf, Buf::Mapped(_)));
        assert!(input.fill(60)?);
        input.consume(90);
        assert_eq!(input.data(), &(90..100u8).collect::<Vec<_>>()[..]);
        // The writer appends after the map was made: the rest is read from the file.
        w.write_all(&(100..150u8).collect::<Vec<_>>())?;
        assert!(input.fill(40)?);
        assert!(matches!(input.buf, Buf::Owned(_)));
        assert_eq!(input.offset(), 90);
        assert_eq!(input.data(), &(90..150u8).collect::<Vec<_>>()[..]);
        input.consume(60);
        assert!(!input.fill(1)?);
        std::fs::remove_file(&path)?;
        Ok(())
    }

    #[test]
    fn an_empty_file_is_read_as_a_stream() -> io::Result<()> {
        let path = std::env::temp_dir().join(format!("vtrace-input-empty-{}", std::process::id()));
        std::fs::File::create(&path)?;
        let mut input = Input::file(std::fs::File::open(&path)?);
        assert!(matches!(input.buf, Buf::Owned(_)));
        assert!(!input.fill(1)?);
        std::fs::remove_file(&path)?;
        Ok(())
    }

    #[test]
    fn a_huge_request_on_a_small_input_allocates_only_what_arrives() -> io::Result<()> {
        let mut input = Input::new(Box::new(io::Cursor::new(vec![1u8; 1000])));
        assert!(!input.fill(MAX_BLOCK)?);
        assert_eq!(input.data().len(), 1000);
        assert_eq!(input.buf.bytes().len(), INITIAL);
        Ok(())
    }
}
