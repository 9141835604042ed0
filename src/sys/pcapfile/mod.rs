//! Capture files: streaming pcap/pcapng readers (format by magic number) and a pcapng writer.
//!
//! [`CaptureReader`] hands out one [`Frame`] at a time, borrowed from a single reused buffer: it
//! never loads a whole file, never allocates per frame, and never lets a length field from the
//! file size an allocation (records and blocks are capped at 16 MiB). Damage ends reading with a
//! [`ReadError`] naming the file and byte offset; frames before it have been returned.
//! [`PcapngWriter`] writes what the reader reads back. This module does not decode packets.

mod comments;
mod error;
mod input;
mod pcap;
mod pcapng;
mod timestamp;
mod writer;

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

pub use comments::{CommentFile, CommentReader};
pub use error::{ReadError, ReadErrorKind};
pub use writer::{PcapngWriter, Section, WriterInterface};

use crate::core::frame::{CaptureNode, Frame, InterfaceInfo, LinkType};
use input::Input;

/// The container format of a capture file, from its magic number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Pcap { nanos: bool, big_endian: bool },
    Pcapng,
}

/// Where the next frame lies in the input buffer, and what the format says about it.
#[derive(Debug, Clone, Copy)]
struct FrameLoc {
    ifid: u32,
    t_ns: u64,
    len: u32,
    linktype: LinkType,
    /// Offset of the packet bytes from the start of the record/block.
    data_start: usize,
    data_len: usize,
    /// Size of the whole record/block, consumed before the next one is read.
    size: usize,
}

#[derive(Debug)]
enum Container {
    Pcap(pcap::PcapState),
    Pcapng(pcapng::NgState),
}

/// A streaming reader of one pcap or pcapng file.
#[derive(Debug)]
pub struct CaptureReader {
    path: PathBuf,
    input: Input,
    container: Container,
    interfaces: Vec<InterfaceInfo>,
    frames: u64,
    /// Bytes of the last returned frame's record, consumed on the next call.
    pending: usize,
    /// Where the last returned frame is (its bytes stay buffered until the next call).
    last: Option<FrameLoc>,
    /// An error met while reading ahead in `from_read`, returned by the first `next_frame`.
    deferred: Option<ReadError>,
    done: bool,
}

impl CaptureReader {
    /// Opens a capture file; the format comes from its first bytes, never from its name.
    pub fn open(path: &Path) -> Result<Self, ReadError> {
        let file = File::open(path).map_err(|e| ReadError {
            path: path.to_owned(),
            offset: 0,
            record: 0,
            kind: ReadErrorKind::Open(e),
        })?;
        Self::from_read(Box::new(file), path)
    }

    /// Reads a capture from any byte stream; `name` is used only in error messages.
    pub fn from_read(r: Box<dyn Read + Send>, name: &Path) -> Result<Self, ReadError> {
        let mut input = Input::new(r);
        let err = |input: &Input, kind| ReadError {
            path: name.to_owned(),
            offset: input.offset(),
            record: 0,
            kind,
        };
        let magic = match input.fill(4) {
            Ok(_) => input.data().get(..4).map(|m| [m[0], m[1], m[2], m[3]]),
            Err(e) => return Err(err(&input, ReadErrorKind::Io(e))),
        };
        let Some(magic) = magic else {
            return Err(err(&input, ReadErrorKind::NotACapture(input.data().to_vec())));
        };
        let container = match u32::from_le_bytes(magic) {
            pcapng::SHB => Container::Pcapng(pcapng::NgState::default()),
            0xa1b2_c3d4 | 0xa1b2_3c4d | 0xa1b2_cd34 | 0xd4c3_b2a1 | 0x4d3c_b2a1 => {
                let st = pcap::read_header(&mut input).map_err(|k| err(&input, k))?;
                Container::Pcap(st)
            }
            _ => return Err(err(&input, ReadErrorKind::NotACapture(magic.to_vec()))),
        };
        let mut reader = CaptureReader {
            path: name.to_owned(),
            input,
            container,
            interfaces: Vec::new(),
            frames: 0,
            pending: 0,
            last: None,
            deferred: None,
            done: false,
        };
        match &mut reader.container {
            Container::Pcap(st) => reader.interfaces.push(InterfaceInfo {
                linktype: st.linktype,
                name: None,
                description: None,
                kernel_drops: None,
            }),
            Container::Pcapng(st) => {
                // Read the section header and the interface blocks before the first packet, so
                // `interfaces()` is useful right away. A bad section header means this is not
                // a usable capture; later damage is reported by the first `next_frame`.
                let res = pcapng::next(st, &mut reader.input, &mut reader.interfaces, true);
                if let Err(kind) = res {
                    let e = reader.error(kind);
                    if e.offset == 0 {
                        return Err(e);
                    }
                    reader.deferred = Some(e);
                }
            }
        }
        Ok(reader)
    }

    /// Next frame, or `None` at a clean end of file. After an `Err`, the reader is finished
    /// (returns `Ok(None)`).
    #[inline]
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, ReadError> {
        self.input.consume(std::mem::take(&mut self.pending));
        self.last = None;
        // A packet record whole in the buffer (nearly every frame): inline; the rest (other
        // blocks, refills, errors, the end) out of line.
        if self.deferred.is_none() && !self.done {
            let fast = match &self.container {
                Container::Pcapng(st) => pcapng::fast_epb(st, self.input.data()),
                Container::Pcap(st) => pcap::fast_record(st, self.input.data()),
            };
            if let Some(loc) = fast {
                return Ok(Some(self.deliver(loc)));
            }
        }
        self.next_slow()
    }

    /// Read the next frame when it is a packet record whole in the buffer (nearly every frame),
    /// inline and with no result to build: true, and it is [`Self::last_frame`]. False when it
    /// is anything else (another block, a record to read more for, damage, the end), with
    /// nothing read: [`Self::next_frame`] reads it then.
    #[inline(always)]
    pub fn advance_plain(&mut self) -> bool {
        if self.deferred.is_some() || self.done {
            return false;
        }
        // The last frame's record is still buffered, consumed only once this one is found.
        let Some(data) = self.input.data().get(self.pending..) else { return false };
        let fast = match &self.container {
            Container::Pcapng(st) => pcapng::fast_epb(st, data),
            Container::Pcap(st) => pcap::fast_record(st, data),
        };
        let Some(loc) = fast else { return false };
        self.input.consume(std::mem::take(&mut self.pending));
        self.pending = loc.size;
        self.frames += 1;
        self.last = Some(loc);
        true
    }

    /// [`Self::next_frame`] past its fast path.
    #[inline(never)]
    fn next_slow(&mut self) -> Result<Option<Frame<'_>>, ReadError> {
        if let Some(e) = self.deferred.take() {
            self.done = true;
            return Err(e);
        }
        if self.done {
            return Ok(None);
        }
        let res = match &mut self.container {
            Container::Pcap(st) => pcap::next_record(st, &mut self.input),
            Container::Pcapng(st) => pcapng::next(st, &mut self.input, &mut self.interfaces, false),
        };
        let loc = match res {
            Ok(Some(loc)) => loc,
            Ok(None) => {
                self.done = true;
                return Ok(None);
            }
            Err(kind) => {
                self.done = true;
                return Err(self.error(kind));
            }
        };
        Ok(Some(self.deliver(loc)))
    }

    /// Hands out the frame at `loc` and remembers to consume its record on the next call.
    #[inline(always)]
    fn deliver(&mut self, loc: FrameLoc) -> Frame<'_> {
        self.pending = loc.size;
        self.frames += 1;
        self.last = Some(loc);
        self.frame_at(loc)
    }

    #[inline(always)]
    fn frame_at(&self, loc: FrameLoc) -> Frame<'_> {
        let end = loc.data_start + loc.data_len;
        let data = self.input.data().get(loc.data_start..end).unwrap_or_default();
        Frame { ifid: loc.ifid, t_ns: loc.t_ns, len: loc.len, linktype: loc.linktype, data }
    }

    /// The frame the last [`Self::next_frame`] returned, again (until the next call): a reader
    /// of several files can look at every file's next frame and decode only the one it takes.
    pub fn last_frame(&self) -> Option<Frame<'_>> {
        self.last.map(|loc| self.frame_at(loc))
    }

    /// Interfaces seen so far (pcap: exactly one), indexed by `Frame::ifid`. Grows as interface
    /// blocks are read; statistics blocks update `kernel_drops`.
    pub fn interfaces(&self) -> &[InterfaceInfo] {
        &self.interfaces
    }

    /// The node the file was recorded on, as its first section header says (pcapng only).
    pub fn node(&self) -> Option<&CaptureNode> {
        match &self.container {
            Container::Pcap(_) => None,
            Container::Pcapng(st) => st.node.as_ref().filter(|n| !n.is_empty()),
        }
    }

    /// The address → name records of the file's name resolution blocks read so far (pcapng
    /// only; vtrace writes the containers' addresses there).
    pub fn names(&self) -> &[(std::net::IpAddr, String)] {
        match &self.container {
            Container::Pcap(_) => &[],
            Container::Pcapng(st) => &st.names,
        }
    }

    pub fn format(&self) -> Format {
        match &self.container {
            Container::Pcap(st) => Format::Pcap { nanos: st.nanos, big_endian: st.big_endian },
            Container::Pcapng(_) => Format::Pcapng,
        }
    }

    /// Frames returned so far.
    pub fn frames_read(&self) -> u64 {
        self.frames
    }

    /// Records that tshark numbers as frames but that hold no packet (pcapng custom and systemd
    /// journal blocks); they are skipped. Frame numbers as tshark shows them count these too.
    pub fn non_packet_records(&self) -> u64 {
        match &self.container {
            Container::Pcap(_) => 0,
            Container::Pcapng(st) => st.non_packet_records,
        }
    }

    /// The file name given at open (for messages).
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn error(&self, kind: ReadErrorKind) -> ReadError {
        ReadError {
            path: self.path.clone(),
            offset: self.input.offset(),
            record: self.frames,
            kind,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
