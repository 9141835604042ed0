//! A pcapng writer: one little-endian section (its header naming the node it was written on:
//! `shb_hardware`, `shb_os`, `shb_userappl` and a `node=HOSTNAME` comment), one interface block
//! per capture point (nanosecond `if_tsresol` on each), an optional name resolution block (the
//! containers' addresses), enhanced packet blocks (each with an optional comment: vtrace's
//! analysis of the frame) and interface statistics blocks.
//!
//! Blocks are serialised straight into a buffered writer (no per-packet allocation). The writer
//! does not decide what to capture or how to name points; callers hand it interfaces and frames.

use std::io::{self, BufWriter, Write};
use std::net::IpAddr;

use crate::core::frame::{CaptureNode, LinkType};

const SHB: u32 = 0x0A0D_0D0A;
const IDB: u32 = 1;
const NRB: u32 = 4;
const ISB: u32 = 5;
const EPB: u32 = 6;
const BOM: u32 = 0x1A2B_3C4D;

const OPT_END: u16 = 0;
const OPT_COMMENT: u16 = 1;
const OPT_SHB_HARDWARE: u16 = 2;
const OPT_SHB_OS: u16 = 3;
const OPT_SHB_USERAPPL: u16 = 4;
const NRB_END: u16 = 0;
const NRB_IPV4: u16 = 1;
const NRB_IPV6: u16 = 2;
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

impl WriterInterface {
    /// An Ethernet interface named `name`, without description or snapshot limit.
    pub fn ethernet(name: &str) -> WriterInterface {
        WriterInterface {
            linktype: LinkType::ETHERNET,
            name: name.into(),
            description: String::new(),
            snaplen: 0,
        }
    }
}

/// What the section header and the name resolution block say: the node the file was written on
/// (its hostname, hardware, OS; the application is always vtrace and its version) and names of
/// addresses (container names).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Section {
    pub node: CaptureNode,
    /// Address → name records (one name per record; an address may have several).
    pub names: Vec<(IpAddr, String)>,
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
        Self::with_section(w, &Section::default(), interfaces)
    }

    /// As [`Self::new`], the section header naming `section.node` and a name resolution block
    /// of `section.names` after the interfaces (none when there are no names).
    pub fn with_section(
        w: W,
        section: &Section,
        interfaces: &[WriterInterface],
    ) -> io::Result<Self> {
        let mut out = BufWriter::with_capacity(1 << 20, w);
        write_shb(&mut out, &section.node)?;
        for iface in interfaces {
            write_idb(&mut out, iface)?;
        }
        write_nrb(&mut out, &section.names)?;
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
        self.write_commented(ifid, t_ns, data, orig_len, None)
    }

    /// As [`Self::write_packet`], with an `opt_comment` on the packet when `comment` is given
    /// (cut to 65535 bytes at a character boundary).
    pub fn write_commented(
        &mut self,
        ifid: u32,
        t_ns: u64,
        data: &[u8],
        orig_len: u32,
        comment: Option<&str>,
    ) -> io::Result<()> {
        self.check_ifid(ifid)?;
        let caplen = u32::try_from(data.len())
            .ok()
            .filter(|&l| l <= u32::MAX - (1 << 17))
            .ok_or_else(|| invalid("packet too large for a pcapng block"))?;
        let comment = comment.map(|c| cut(c, usize::from(u16::MAX)));
        let opts = comment.map_or(0, |c| options_len(&[c.len()]));
        let pad = padding(data.len());
        let len = 32 + caplen + pad as u32 + opts;
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
        self.out.write_all(&[0u8; 3][..pad])?;
        if let Some(c) = comment {
            put_option(&mut self.out, OPT_COMMENT, c.as_bytes())?;
            put_end(&mut self.out)?;
        }
        put32(&mut self.out, len)
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

fn write_shb<W: Write>(out: &mut W, node: &CaptureNode) -> io::Result<()> {
    let appl = concat!("vtrace ", env!("CARGO_PKG_VERSION"));
    let short = |v: &Option<String>| v.as_deref().map(|v| cut(v, 1024).to_owned());
    let host = node.hostname.as_deref().map(|h| format!("node={}", cut(h, 1000)));
    let opts: Vec<(u16, String)> = [
        (OPT_COMMENT, host),
        (OPT_SHB_HARDWARE, short(&node.hardware)),
        (OPT_SHB_OS, short(&node.os)),
        (OPT_SHB_USERAPPL, Some(appl.to_owned())),
    ]
    .into_iter()
    .filter_map(|(code, v)| Some((code, v?)))
    .collect();
    let sizes: Vec<usize> = opts.iter().map(|(_, v)| v.len()).collect();
    let len = 28 + options_len(&sizes);
    put32(out, SHB)?;
    put32(out, len)?;
    put32(out, BOM)?;
    out.write_all(&1u16.to_le_bytes())?;
    out.write_all(&0u16.to_le_bytes())?;
    out.write_all(&(-1i64).to_le_bytes())?; // section length not specified
    for (code, v) in &opts {
        put_option(out, *code, v.as_bytes())?;
    }
    put_end(out)?;
    put32(out, len)
}

/// A name resolution block: one record per address and name (names cut to 255 bytes, NUL
/// terminated), then the end record. Nothing when there are no names.
fn write_nrb<W: Write>(out: &mut W, names: &[(IpAddr, String)]) -> io::Result<()> {
    if names.is_empty() {
        return Ok(());
    }
    let record = |ip: &IpAddr, name: &str| -> (u16, Vec<u8>) {
        let (kind, mut v) = match ip {
            IpAddr::V4(a) => (NRB_IPV4, a.octets().to_vec()),
            IpAddr::V6(a) => (NRB_IPV6, a.octets().to_vec()),
        };
        v.extend_from_slice(cut(name, 255).as_bytes());
        v.push(0);
        (kind, v)
    };
    let records: Vec<(u16, Vec<u8>)> = names.iter().map(|(ip, n)| record(ip, n)).collect();
    let body: usize = records.iter().map(|(_, v)| 4 + v.len() + padding(v.len())).sum();
    let len = u32::try_from(12 + body + 4).map_err(|_| invalid("too many names"))?;
    put32(out, NRB)?;
    put32(out, len)?;
    for (kind, v) in &records {
        put_option(out, *kind, v)?;
    }
    out.write_all(&NRB_END.to_le_bytes())?;
    out.write_all(&0u16.to_le_bytes())?;
    put32(out, len)
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default()
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
