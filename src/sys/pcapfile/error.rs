//! Why reading a capture file stopped, and where.
//!
//! A [`ReadError`] always names the file and the byte offset of the record or block that could not
//! be read, so a user can look at the damage with a hex dump. This module only describes errors; it
//! never decides whether something is an error.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Reading a capture file stopped: which file, where, and why.
#[derive(Debug)]
pub struct ReadError {
    /// The file (or the name given to [`super::CaptureReader::from_read`]).
    pub path: PathBuf,
    /// Byte offset in the file of the record or block where reading stopped.
    pub offset: u64,
    /// Frames successfully returned before the error.
    pub record: u64,
    pub kind: ReadErrorKind,
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} at byte offset {} (after {} records)",
            self.path.display(),
            self.kind,
            self.offset,
            self.record
        )
    }
}

impl std::error::Error for ReadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ReadErrorKind::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// What went wrong, without the location (that is in [`ReadError`]).
#[derive(Debug, thiserror::Error)]
pub enum ReadErrorKind {
    #[error("reading failed: {0}")]
    Io(#[from] io::Error),
    #[error(
        "not a pcap or pcapng capture (first bytes {0:02x?}); give a file written by tcpdump, \
         tshark, dumpcap or vtrace"
    )]
    NotACapture(Vec<u8>),
    #[error("the file ends inside {what} (needs {needed} bytes, {got} left)")]
    Truncated { what: &'static str, needed: u64, got: u64 },
    #[error("unsupported pcap version {major}.{minor} (only 2.x is known)")]
    PcapVersion { major: u16, minor: u16 },
    #[error("unsupported pcapng version {major}.{minor} (only 1.0 and 1.2 are known)")]
    PcapngVersion { major: u16, minor: u16 },
    #[error("pcapng section header has an unknown byte-order magic {0:#010x}")]
    ByteOrderMagic(u32),
    #[error(
        "pcapng block of type {block_type:#010x} has an invalid total length {len} (must be a \
         multiple of 4 and at least {min})"
    )]
    BlockLength { block_type: u32, len: u32, min: u32 },
    #[error(
        "pcapng block of type {block_type:#010x} has total lengths {first} and {second} that differ"
    )]
    BlockLengthMismatch { block_type: u32, first: u32, second: u32 },
    #[error("{what} of {len} bytes exceeds the reader's limit of {limit} bytes")]
    TooBig { what: &'static str, len: u64, limit: u64 },
    #[error("{what}: captured length {caplen} does not fit in the {room} bytes of the block")]
    CaplenOverflow { what: &'static str, caplen: u32, room: u32 },
    #[error(
        "{what} refers to interface {local} but its section describes only {count} interface(s)"
    )]
    UnknownInterface { what: &'static str, local: u32, count: usize },
    #[error("malformed {0}")]
    Malformed(&'static str),
}
