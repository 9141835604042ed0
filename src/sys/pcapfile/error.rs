//! Why reading a capture file stopped, and where.
//!
//! A [`ReadError`] always names the file and, once the file is open, the byte offset of the record
//! or block that could not be read, so a user can look at the damage with a hex dump. Its message
//! is complete (an I/O error's reason is in it, not behind it as a source), so `{:#}` says each
//! thing once. This module only describes errors; it never decides whether something is an
//! error.

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
        match &self.kind {
            ReadErrorKind::Open(e) => write!(f, "opening {}: {e}", self.path.display()),
            kind => write!(
                f,
                "{}: {kind} at byte offset {} (after {} records)",
                self.path.display(),
                self.offset,
                self.record
            ),
        }
    }
}

/// No source: the message already holds the reason (see the module documentation).
impl std::error::Error for ReadError {}

/// What went wrong, without the location (that is in [`ReadError`]).
#[derive(Debug, thiserror::Error)]
pub enum ReadErrorKind {
    /// The file could not be opened: no offset or record applies.
    #[error("{0}")]
    Open(io::Error),
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::sys::pcapfile::CaptureReader;

    #[test]
    fn a_file_that_cannot_be_opened_is_named_once_without_an_offset() {
        let path = Path::new("/nonexistent/vtrace-missing.pcap");
        let err = CaptureReader::open(path)
            .map(|_| ())
            .map_err(|e| format!("{:#}", anyhow::Error::new(e)));
        assert_eq!(
            err,
            Err("opening /nonexistent/vtrace-missing.pcap: No such file or directory (os error 2)"
                .to_owned())
        );
    }

    #[test]
    fn a_read_error_mid_file_names_the_offset_and_its_reason_once() {
        let e = ReadError {
            path: "x.pcap".into(),
            offset: 1234,
            record: 5,
            kind: ReadErrorKind::Io(io::Error::other("disk on fire")),
        };
        assert_eq!(
            format!("{:#}", anyhow::Error::new(e)),
            "x.pcap: reading failed: disk on fire at byte offset 1234 (after 5 records)"
        );
    }
}
