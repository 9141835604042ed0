//! The packet listing of `vtrace analyze --packets`: one line per captured frame, as text like
//! `tcpdump -n` or as one JSON object per line.
//!
//! Renderers append to a caller's reused byte buffer, so listing millions of packets allocates
//! nothing per packet. They only format what [`crate::core::decode`] found; they never read files
//! or decode bytes themselves.

mod bytes;
mod json;
mod text;

#[cfg(test)]
mod tests;

pub use json::json_line;
pub use text::text_line;

use crate::core::packet::Packet;

/// One listed frame: where and when it was captured, and what it decoded to.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    /// 1-based number of the frame in its file (as Wireshark numbers it).
    pub frame: u64,
    /// Interface number in the file (0 for pcap).
    pub ifid: u32,
    pub t_ns: u64,
    /// Captured bytes.
    pub caplen: u32,
    /// Length on the wire.
    pub len: u32,
    /// Link type of the frame (shown when it is not decoded).
    pub linktype: u16,
    /// The capture point label.
    pub point: &'a str,
    pub packet: &'a Packet,
}
