//! A pcapng writer: one little-endian section, one interface block per capture point
//! (nanosecond `if_tsresol` on each), enhanced packet blocks and interface statistics blocks.
//!
//! Blocks are serialised straight into a buffered writer (no per-packet allocation). The writer
//! does not decide what to capture or how to name points; callers hand it interfaces and frames.

use std::io::{self, BufWriter, Write};

use crate::core::frame::LinkType;

const SHB: u32 = 0x0A0D_0D0A;
const IDB: u32 = 1;
const ISB: u32 = 5;
const EPB: u32 = 6;
const BOM: u32 = 0x1A2B_3C4D;

const OPT_END: u16 = 0;
const OPT_SHB_USERAPPL: u16 = 4;
const OPT_IF_NAME: u16 = 2;
const OPT_IF_DESCRIPTION: u16 = 3;
const OPT_IF_TSRESOL: u16 = 9;
const OPT_ISB_IFRECV: u16 = 4;
const OPT_ISB_IFDROP: u16 = 5;

/// Nanosecond timestamps (10^-9 s).
const TSRESOL_NS: u8 = 9;

/// One capture point as it is described in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriterInterface {
    pub linktype: LinkType,
    /// `if_name`, e.g. `nginx-1/eth0`.
    pub name: String,
    /// `if_description`, e.g. `netns=nginx-1 role=endpoint`; omitted when empty.
    pub description: String,
    /// Snapshot length; 0 means unlimited.
    pub snaplen: u32,
}

/// Writes a pcapng file: section header and interfaces at creation, then packets and statistics.
#[derive(Debug)]
pub struct PcapngWriter<W: Write> {
    out: BufWriter<W>,
    interfaces: usize,
}

impl<W: Write> PcapngWriter<W> {
    /// Writes the section header and one interface description block per interface; packets
    /// then refer to interfaces by their index in `interfaces`.
    pub fn new(w: W, interfaces: &[WriterInterface]) -> io::Result<Self> {
        let mut out = BufWriter::with_capacity(1 << 20, w);
        let appl = concat!("vtrace ", env!("CARGO_PKG_VERSION"));
        let opts = options_len(&[appl.len()]);
        let len = 28 + opts;
        put32(&mut out, SHB)?;
        put32(&mut out, len)?;
        put32(&mut out, BOM)?;
        out.write_all(&1u16.to_le_bytes())?;
        out.write_all(&0u16.to_le_bytes())?;
        out.write_all(&(-1i64).to_le_bytes())?; // section length not specified
        put_option(&mut out, OPT_SHB_USERAPPL, appl.as_bytes())?;
        put_end(&mut out)?;
        put32(&mut out, len)?;
        for iface in interfaces {
            write_idb(&mut out, iface)?;
        }
        Ok(PcapngWriter { out, interfaces: interfaces.len() })
    }

    /// Writes one packet seen on interface `ifid` at `t_ns` (ns since the epoch); `data` is what
    /// was captured, `orig_len` the length on the wire.
    pub fn write_packet(
        &mut self,
        ifid: u32,
        t_ns: u64,
        data: &[u8],
        orig_len: u32,
    ) -> io::Result<()> {
        self.check_ifid(ifid)?;
        let caplen = u32::try_from(data.len())
            .ok()
            .filter(|&l| l <= u32::MAX - 64)
            .ok_or_else(|| invalid("packet too large for a pcapng block"))?;
        let pad = padding(data.len());
        let len = 32 + caplen + pad as u32;
        let mut head = [0u8; 28];
        head[0..4].copy_from_slice(&EPB.to_le_bytes());
        head[4..8].copy_from_slice(&len.to_le_bytes());
        head[8..12].copy_from_slice(&ifid.to_le_bytes());
        head[12..16].copy_from_slice(&((t_ns >> 32) as u32).to_le_bytes());
        head[16..20].copy_from_slice(&(t_ns as u32).to_le_bytes());
        head[20..24].copy_from_slice(&caplen.to_le_bytes());
        head[24..28].copy_from_slice(&orig_len.to_le_bytes());
        self.out.write_all(&head)?;
        self.out.write_all(data)?;
        let mut tail = [0u8; 7];
        tail[pad..pad + 4].copy_from_slice(&len.to_le_bytes());
        self.out.write_all(&tail[..pad + 4])
    }

    /// Writes an interface statistics block: packets the interface received and dropped.
    pub fn write_interface_stats(
        &mut self,
        ifid: u32,
        t_ns: u64,
        received: u64,
        dropped: u64,
    ) -> io::Result<()> {
        self.check_ifid(ifid)?;
        let len = 24 + options_len(&[8, 8]);
        put32(&mut self.out, ISB)?;
        put32(&mut self.out, len)?;
        put32(&mut self.out, ifid)?;
        put32(&mut self.out, (t_ns >> 32) as u32)?;
        put32(&mut self.out, t_ns as u32)?;
        put_option(&mut self.out, OPT_ISB_IFRECV, &received.to_le_bytes())?;
        put_option(&mut self.out, OPT_ISB_IFDROP, &dropped.to_le_bytes())?;
        put_end(&mut self.out)?;
        put32(&mut self.out, len)
    }

    /// Flushes everything and returns the underlying writer.
    pub fn finish(self) -> io::Result<W> {
        self.out.into_inner().map_err(|e| e.into_error())
    }

    fn check_ifid(&self, ifid: u32) -> io::Result<()> {
        if (ifid as usize) < self.interfaces {
            Ok(())
        } else {
            Err(invalid("packet for an interface the writer was not given"))
        }
    }
}

fn write_idb<W: Write>(out: &mut W, iface: &WriterInterface) -> io::Result<()> {
    let name = iface.name.as_bytes();
    let desc = iface.description.as_bytes();
    let mut sizes = vec![1usize];
    if !name.is_empty() {
        sizes.push(name.len());
    }
    if !desc.is_empty() {
        sizes.push(desc.len());
    }
    if sizes.iter().any(|&s| s > usize::from(u16::MAX)) {
        return Err(invalid("interface name or description longer than 65535 bytes"));
    }
    let len = 20 + options_len(&sizes);
    put32(out, IDB)?;
    put32(out, len)?;
    out.write_all(&iface.linktype.0.to_le_bytes())?;
    out.write_all(&0u16.to_le_bytes())?;
    put32(out, iface.snaplen)?;
    if !name.is_empty() {
        put_option(out, OPT_IF_NAME, name)?;
    }
    if !desc.is_empty() {
        put_option(out, OPT_IF_DESCRIPTION, desc)?;
    }
    put_option(out, OPT_IF_TSRESOL, &[TSRESOL_NS])?;
    put_end(out)?;
    put32(out, len)
}

/// Bytes taken by options of these value sizes plus the end-of-options marker.
fn options_len(sizes: &[usize]) -> u32 {
    let body: usize = sizes.iter().map(|&s| 4 + s + padding(s)).sum();
    (body + 4) as u32
}

fn padding(len: usize) -> usize {
    (4 - len % 4) % 4
}

fn put32<W: Write>(out: &mut W, v: u32) -> io::Result<()> {
    out.write_all(&v.to_le_bytes())
}

fn put_option<W: Write>(out: &mut W, code: u16, value: &[u8]) -> io::Result<()> {
    out.write_all(&code.to_le_bytes())?;
    out.write_all(&(value.len() as u16).to_le_bytes())?;
    out.write_all(value)?;
    out.write_all(&[0u8; 3][..padding(value.len())])
}

fn put_end<W: Write>(out: &mut W) -> io::Result<()> {
    out.write_all(&OPT_END.to_le_bytes())?;
    out.write_all(&0u16.to_le_bytes())
}

fn invalid(msg: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}
