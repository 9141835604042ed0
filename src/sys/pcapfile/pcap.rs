//! Classic pcap (libpcap savefile): the global header and one record at a time.
//!
//! Both byte orders, µs and ns magic, and the Kuznetsov "modified" variant (24-byte record
//! headers). Fields are parsed by pcap-parser; this module checks lengths against the buffer
//! before asking it, so a length field can never make it read past a record or wait for more data.
//! It does not open files and does not decode packets.

use pcap_parser::{LegacyPcapBlock, PcapHeader, parse_pcap_frame, parse_pcap_frame_be};
use pcap_parser::{parse_pcap_frame_modified, parse_pcap_header};

use super::FrameLoc;
use super::error::ReadErrorKind;
use super::input::{Input, MAX_BLOCK};
use super::timestamp::pcap_ns;
use crate::core::frame::LinkType;

const HEADER_LEN: usize = 24;

/// What the global header says about every record.
#[derive(Debug, Clone, Copy)]
pub struct PcapState {
    pub big_endian: bool,
    pub nanos: bool,
    modified: bool,
    pub linktype: LinkType,
}

/// Reads and consumes the 24-byte global header.
pub fn read_header(input: &mut Input) -> Result<PcapState, ReadErrorKind> {
    if !input.fill(HEADER_LEN)? {
        return Err(ReadErrorKind::Truncated {
            what: "the pcap file header",
            needed: HEADER_LEN as u64,
            got: input.data().len() as u64,
        });
    }
    let header: PcapHeader = match parse_pcap_header(input.data()) {
        Ok((_, h)) => h,
        Err(_) => return Err(ReadErrorKind::Malformed("pcap file header")),
    };
    if header.version_major != 2 {
        return Err(ReadErrorKind::PcapVersion {
            major: header.version_major,
            minor: header.version_minor,
        });
    }
    // The upper 16 bits of the link-type field carry FCS flags and reserved bits.
    let linktype = LinkType((header.network.0 as u32 & 0xffff) as u16);
    input.consume(HEADER_LEN);
    Ok(PcapState {
        big_endian: header.is_bigendian(),
        nanos: header.is_nanosecond_precision(),
        modified: header.is_modified_format(),
        linktype,
    })
}

/// The next record, or `None` at a clean end of file. Consumes nothing: the caller consumes
/// `FrameLoc::size` once it is done with the frame.
#[inline]
pub fn next_record(st: &PcapState, input: &mut Input) -> Result<Option<FrameLoc>, ReadErrorKind> {
    let hdr_len = if st.modified { 24 } else { 16 };
    if !input.fill(hdr_len)? {
        let got = input.data().len();
        if got == 0 {
            return Ok(None);
        }
        return Err(ReadErrorKind::Truncated {
            what: "a pcap record header",
            needed: hdr_len as u64,
            got: got as u64,
        });
    }
    let caplen = read_caplen(input.data(), st.big_endian);
    let size = hdr_len as u64 + u64::from(caplen);
    if size > MAX_BLOCK as u64 {
        return Err(ReadErrorKind::TooBig {
            what: "a pcap record",
            len: size,
            limit: MAX_BLOCK as u64,
        });
    }
    let size = size as usize;
    if !input.fill(size)? {
        return Err(ReadErrorKind::Truncated {
            what: "a pcap record",
            needed: size as u64,
            got: input.data().len() as u64,
        });
    }
    let record = input.data().get(..size).unwrap_or_default();
    let parsed = if st.modified {
        parse_pcap_frame_modified(record)
    } else if st.big_endian {
        parse_pcap_frame_be(record)
    } else {
        parse_pcap_frame(record)
    };
    let block: LegacyPcapBlock<'_> = match parsed {
        Ok((_, b)) => b,
        Err(_) => return Err(ReadErrorKind::Malformed("pcap record")),
    };
    Ok(Some(FrameLoc {
        ifid: 0,
        t_ns: pcap_ns(block.ts_sec, block.ts_usec, st.nanos),
        len: block.origlen,
        linktype: st.linktype,
        data_start: hdr_len,
        data_len: block.data.len(),
        size,
    }))
}

/// The hot path: a standard record that is complete in `data`. Anything else gives `None`, and
/// the caller falls back to [`next_record`], which handles or reports it.
#[inline(always)]
pub fn fast_record(st: &PcapState, data: &[u8]) -> Option<FrameLoc> {
    if st.modified {
        return None;
    }
    let head = data.get(..16)?;
    let caplen = read_u32(head, 8, st.big_endian) as usize;
    data.get(..16 + caplen)?;
    Some(FrameLoc {
        ifid: 0,
        t_ns: pcap_ns(read_u32(head, 0, st.big_endian), read_u32(head, 4, st.big_endian), st.nanos),
        len: read_u32(head, 12, st.big_endian),
        linktype: st.linktype,
        data_start: 16,
        data_len: caplen,
        size: 16 + caplen,
    })
}

#[inline]
fn read_caplen(hdr: &[u8], big_endian: bool) -> u32 {
    read_u32(hdr, 8, big_endian)
}

#[inline(always)]
fn read_u32(b: &[u8], at: usize, big_endian: bool) -> u32 {
    let mut a = [0u8; 4];
    if let Some(src) = b.get(at..at + 4) {
        a.copy_from_slice(src);
    }
    if big_endian { u32::from_be_bytes(a) } else { u32::from_le_bytes(a) }
}
