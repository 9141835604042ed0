//! pcapng: one block at a time, across sections, interfaces and byte orders.
//!
//! Framing (type, total length, trailing length) is checked here before any parsing, so that a
//! bad length is an error and never a loop, a wait for more data, or an allocation. Interface,
//! statistics and simple packet blocks are then parsed by pcap-parser on the complete block;
//! enhanced and obsolete packet blocks are parsed here (the hot path: pcap-parser's parser, which
//! also collects options, took a third of the reading time; it has no obsolete block). Option
//! values are interpreted here, in the section's byte order (pcap-parser 0.17 reads 64-bit option
//! values as little-endian and rejects power-of-2 `if_tsresol`). Interface ids are numbered
//! across sections: global id = interfaces in earlier sections + local id. Does not decode
//! packets.

use pcap_parser::pcapng::{
    InterfaceDescriptionBlock, InterfaceStatisticsBlock, PcapNGOption,
    parse_interfacedescriptionblock_be, parse_interfacedescriptionblock_le,
    parse_interfacestatisticsblock_be, parse_interfacestatisticsblock_le,
    parse_simplepacketblock_be, parse_simplepacketblock_le,
};

use std::net::IpAddr;

use super::FrameLoc;
use super::error::ReadErrorKind;
use super::input::{Input, MAX_BLOCK};
use super::timestamp::Clock;
use crate::core::frame::{CaptureNode, InterfaceInfo, LinkType};

pub const SHB: u32 = 0x0A0D_0D0A;
const IDB: u32 = 1;
const OPB: u32 = 2;
const NRB: u32 = 4;
const SPB: u32 = 3;
const ISB: u32 = 5;
const EPB: u32 = 6;
const SJE: u32 = 9;
const CB: u32 = 0x0000_0BAD;
const DCB: u32 = 0x4000_0BAD;
const BOM: u32 = 0x1A2B_3C4D;

const OPT_COMMENT: u16 = 1;
const OPT_SHB_HARDWARE: u16 = 2;
const OPT_SHB_OS: u16 = 3;
const OPT_SHB_USERAPPL: u16 = 4;
const OPT_IF_NAME: u16 = 2;
const OPT_IF_DESCRIPTION: u16 = 3;
const OPT_IF_TSRESOL: u16 = 9;
const OPT_IF_TSOFFSET: u16 = 14;
const OPT_ISB_IFDROP: u16 = 5;

/// What the reader must remember between blocks.
#[derive(Debug, Default)]
pub struct NgState {
    big_endian: bool,
    /// Global index of the first interface of the current section.
    section_base: usize,
    /// Per global interface: what converting its packets needs.
    ifaces: Vec<IfaceClock>,
    /// Custom and systemd-journal blocks seen (tshark counts them as frames; they are no packets).
    pub non_packet_records: u64,
    /// What the first section header says of the node that wrote the file.
    pub node: Option<CaptureNode>,
    /// Address → name records of the name resolution blocks (at most [`MAX_NAMES`]).
    pub names: Vec<(IpAddr, String)>,
}

/// Most name records kept from a file's name resolution blocks.
pub const MAX_NAMES: usize = 4096;

#[derive(Debug, Clone, Copy)]
struct IfaceClock {
    clock: Clock,
    snaplen: u32,
    linktype: LinkType,
}

/// The next packet, or `None` at a clean end of file. With `meta_only`, stops (without
/// consuming) before the first packet block instead of returning it. A returned packet block is
/// not consumed: the caller consumes `FrameLoc::size` once done with the frame.
pub fn next(
    st: &mut NgState,
    input: &mut Input,
    infos: &mut Vec<InterfaceInfo>,
    meta_only: bool,
) -> Result<Option<FrameLoc>, ReadErrorKind> {
    loop {
        if !input.fill(8)? {
            let got = input.data().len();
            if got == 0 {
                return Ok(None);
            }
            return Err(ReadErrorKind::Truncated {
                what: "a pcapng block header",
                needed: 8,
                got: got as u64,
            });
        }
        let (block_type, len, big) = if u32_at(input.data(), 0, false) == SHB {
            if !input.fill(12)? {
                return Err(ReadErrorKind::Truncated {
                    what: "a section header block",
                    needed: 12,
                    got: input.data().len() as u64,
                });
            }
            let big = match u32_at(input.data(), 8, false) {
                BOM => false,
                b if b == BOM.swap_bytes() => true,
                other => return Err(ReadErrorKind::ByteOrderMagic(other)),
            };
            (SHB, u32_at(input.data(), 4, big), big)
        } else {
            let big = st.big_endian;
            (u32_at(input.data(), 0, big), u32_at(input.data(), 4, big), big)
        };
        let min = min_len(block_type);
        if len < min || len % 4 != 0 {
            return Err(ReadErrorKind::BlockLength { block_type, len, min });
        }
        let size = len as usize;
        if size > MAX_BLOCK {
            return Err(ReadErrorKind::TooBig {
                what: "a pcapng block",
                len: u64::from(len),
                limit: MAX_BLOCK as u64,
            });
        }
        let is_packet = matches!(block_type, EPB | SPB | OPB);
        if meta_only && is_packet {
            return Ok(None);
        }
        if !input.fill(size)? {
            return Err(ReadErrorKind::Truncated {
                what: "a pcapng block",
                needed: u64::from(len),
                got: input.data().len() as u64,
            });
        }
        let block = input.data().get(..size).unwrap_or_default();
        let second = u32_at(block, size - 4, big);
        if second != len {
            return Err(ReadErrorKind::BlockLengthMismatch { block_type, first: len, second });
        }
        match block_type {
            EPB => return epb(st, block).map(Some),
            SPB => return spb(st, block).map(Some),
            OPB => return opb(st, block).map(Some),
            SHB => section(st, block, big)?,
            IDB => interface(st, infos, block)?,
            ISB => statistics(st, infos, block)?,
            CB | DCB | SJE => st.non_packet_records += 1,
            NRB => names(st, block.get(8..size - 4).unwrap_or_default(), big),
            _ => {} // custom, journal, secrets, unknown: not needed here.
        }
        input.consume(size);
    }
}

/// The hot path: an enhanced packet block that is complete in `data` and entirely valid.
/// Anything else (other blocks, damage, a block not fully buffered) gives `None`, and the caller
/// falls back to [`next`], which handles or reports it.
#[inline(always)]
pub fn fast_epb(st: &NgState, data: &[u8]) -> Option<FrameLoc> {
    // The block's fixed part read once, its seven words decoded at fixed offsets.
    let head: &[u8; 28] = data.get(..28)?.try_into().ok()?;
    let [block_type, len, local, ts_hi, ts_lo, caplen, orig_len] = if st.big_endian {
        words(head, u32::from_be_bytes)
    } else {
        words(head, u32::from_le_bytes)
    };
    if block_type != EPB || len < 32 || len % 4 != 0 {
        return None;
    }
    let block = data.get(..len as usize)?;
    if u32_at(block, len as usize - 4, st.big_endian) != len {
        return None;
    }
    let global = st.section_base + local as usize;
    if caplen > len - 32 || global >= st.ifaces.len() {
        return None;
    }
    let iface = st.ifaces.get(global)?;
    let ticks = (u64::from(ts_hi) << 32) | u64::from(ts_lo);
    Some(FrameLoc {
        ifid: global as u32,
        t_ns: iface.clock.to_ns(ticks),
        len: orig_len,
        linktype: iface.linktype,
        data_start: 28,
        data_len: caplen as usize,
        size: len as usize,
    })
}

/// The seven 32-bit words of an enhanced packet block's fixed part, in the section's byte order.
#[inline(always)]
fn words(head: &[u8; 28], word: fn([u8; 4]) -> u32) -> [u32; 7] {
    std::array::from_fn(|i| {
        let at = 4 * i;
        word([head[at], head[at + 1], head[at + 2], head[at + 3]])
    })
}

/// Smallest valid total length of each block type.
fn min_len(block_type: u32) -> u32 {
    match block_type {
        SHB => 28,
        IDB => 20,
        EPB | OPB => 32,
        SPB => 16,
        ISB => 24,
        _ => 12,
    }
}

fn section(st: &mut NgState, block: &[u8], big: bool) -> Result<(), ReadErrorKind> {
    // Like libpcap and tshark: 1.0, and 1.2 that some writers used; 1.1 was never valid.
    let (major, minor) = (u16_at(block, 12, big), u16_at(block, 14, big));
    if major != 1 || !(minor == 0 || minor == 2) {
        return Err(ReadErrorKind::PcapngVersion { major, minor });
    }
    st.big_endian = big;
    st.section_base = st.ifaces.len();
    if st.node.is_none() {
        st.node = Some(node(block.get(24..block.len() - 4).unwrap_or_default(), big));
    }
    Ok(())
}

/// The IPv4 and IPv6 records of a name resolution block (each address with its names); the
/// block's options are not needed.
fn names(st: &mut NgState, mut records: &[u8], big: bool) {
    while records.len() >= 4 && st.names.len() < MAX_NAMES {
        let (kind, len) = (u16_at(records, 0, big), usize::from(u16_at(records, 2, big)));
        let Some(value) = records.get(4..4 + len) else { break };
        let at = match kind {
            0 => break,
            1 => value
                .get(..4)
                .and_then(|a| <[u8; 4]>::try_from(a).ok())
                .map(|a| (IpAddr::from(a), 4)),
            2 => value
                .get(..16)
                .and_then(|a| <[u8; 16]>::try_from(a).ok())
                .map(|a| (IpAddr::from(a), 16)),
            _ => None,
        };
        if let Some((ip, skip)) = at {
            let names = value.get(skip..).unwrap_or_default();
            for name in names.split(|&b| b == 0).filter(|n| !n.is_empty()) {
                if st.names.len() < MAX_NAMES {
                    st.names.push((ip, text(name)));
                }
            }
        }
        records = records.get(4 + len + (4 - len % 4) % 4..).unwrap_or_default();
    }
}

/// The node of a section header's options: `shb_hardware`, `shb_os`, `shb_userappl`, and the
/// hostname from a comment's `node=HOSTNAME` (as vtrace writes it).
fn node(mut opts: &[u8], big: bool) -> CaptureNode {
    let mut node = CaptureNode::default();
    while opts.len() >= 4 {
        let (code, len) = (u16_at(opts, 0, big), usize::from(u16_at(opts, 2, big)));
        let Some(value) = opts.get(4..4 + len) else { break };
        let value = text(value);
        match code {
            0 => break,
            OPT_COMMENT => {
                let host = value.split_whitespace().find_map(|kv| kv.strip_prefix("node="));
                node.hostname = node.hostname.or(host.map(str::to_owned));
            }
            OPT_SHB_HARDWARE => node.hardware = Some(value),
            OPT_SHB_OS => node.os = Some(value),
            OPT_SHB_USERAPPL => node.application = Some(value),
            _ => {}
        }
        opts = opts.get(4 + len + (4 - len % 4) % 4..).unwrap_or_default();
    }
    node
}

fn interface(
    st: &mut NgState,
    infos: &mut Vec<InterfaceInfo>,
    block: &[u8],
) -> Result<(), ReadErrorKind> {
    let parsed = if st.big_endian {
        parse_interfacedescriptionblock_be(block)
    } else {
        parse_interfacedescriptionblock_le(block)
    };
    let idb: InterfaceDescriptionBlock<'_> = match parsed {
        Ok((_, b)) => b,
        Err(_) => return Err(ReadErrorKind::Malformed("interface description block")),
    };
    let mut info = InterfaceInfo {
        linktype: LinkType((idb.linktype.0 as u32 & 0xffff) as u16),
        name: None,
        description: None,
        kernel_drops: None,
    };
    let (mut tsresol, mut tsoffset) = (6u8, 0i64);
    for opt in &idb.options {
        let Ok(value) = opt.as_bytes() else { continue };
        match opt.code.0 {
            OPT_IF_NAME => info.name = Some(text(value)),
            OPT_IF_DESCRIPTION => info.description = Some(text(value)),
            OPT_IF_TSRESOL => tsresol = value.first().copied().unwrap_or(6),
            OPT_IF_TSOFFSET => tsoffset = u64_opt(opt, st.big_endian).unwrap_or(0) as i64,
            _ => {}
        }
    }
    st.ifaces.push(IfaceClock {
        clock: Clock::new(tsresol, tsoffset),
        snaplen: idb.snaplen,
        linktype: info.linktype,
    });
    infos.push(info);
    Ok(())
}

fn statistics(
    st: &NgState,
    infos: &mut [InterfaceInfo],
    block: &[u8],
) -> Result<(), ReadErrorKind> {
    let parsed = if st.big_endian {
        parse_interfacestatisticsblock_be(block)
    } else {
        parse_interfacestatisticsblock_le(block)
    };
    let isb: InterfaceStatisticsBlock<'_> = match parsed {
        Ok((_, b)) => b,
        Err(_) => return Err(ReadErrorKind::Malformed("interface statistics block")),
    };
    // Statistics for an interface the section does not describe are ignored: they say nothing
    // about any packet.
    let Ok(global) = global_id(st, isb.if_id, "interface statistics block") else {
        return Ok(());
    };
    let drops = isb.options.iter().find(|o| o.code.0 == OPT_ISB_IFDROP);
    if let (Some(info), Some(v)) =
        (infos.get_mut(global), drops.and_then(|o| u64_opt(o, st.big_endian)))
    {
        info.kernel_drops = Some(v);
    }
    Ok(())
}

/// An enhanced packet block (the slow path: [`fast_epb`] takes the valid, buffered ones).
#[inline]
fn epb(st: &NgState, block: &[u8]) -> Result<FrameLoc, ReadErrorKind> {
    let local = u32_at(block, 8, st.big_endian);
    packet(st, block, local, "enhanced packet block")
}

/// An obsolete packet block: like an EPB with a 16-bit interface id and a drop counter.
fn opb(st: &NgState, block: &[u8]) -> Result<FrameLoc, ReadErrorKind> {
    let local = u32::from(u16_at(block, 8, st.big_endian));
    packet(st, block, local, "packet block")
}

/// The common layout of EPB and OPB after the interface id: timestamp (high, low), captured
/// length, original length, data. The block is complete and at least 32 bytes long.
#[inline]
fn packet(
    st: &NgState,
    block: &[u8],
    local: u32,
    what: &'static str,
) -> Result<FrameLoc, ReadErrorKind> {
    let big = st.big_endian;
    let caplen = u32_at(block, 20, big);
    let room = block.len() as u32 - 32;
    if caplen > room {
        return Err(ReadErrorKind::CaplenOverflow { what, caplen, room });
    }
    let global = global_id(st, local, what)?;
    let iface = st.ifaces.get(global).copied().unwrap_or_else(default_iface);
    let ticks = (u64::from(u32_at(block, 12, big)) << 32) | u64::from(u32_at(block, 16, big));
    Ok(FrameLoc {
        ifid: global as u32,
        t_ns: iface.clock.to_ns(ticks),
        len: u32_at(block, 24, big),
        linktype: iface.linktype,
        data_start: 28,
        data_len: caplen as usize,
        size: block.len(),
    })
}

/// A simple packet block: interface 0 of the section, no timestamp (`t_ns` 0), and the captured
/// length is the smallest of the original length, the snaplen and the room in the block.
fn spb(st: &NgState, block: &[u8]) -> Result<FrameLoc, ReadErrorKind> {
    let parsed = if st.big_endian {
        parse_simplepacketblock_be(block)
    } else {
        parse_simplepacketblock_le(block)
    };
    let Ok((_, b)) = parsed else {
        return Err(ReadErrorKind::Malformed("simple packet block"));
    };
    let global = global_id(st, 0, "simple packet block")?;
    let iface = st.ifaces.get(global).copied().unwrap_or_else(default_iface);
    let mut caplen = b.data.len().min(b.origlen as usize);
    if iface.snaplen != 0 {
        caplen = caplen.min(iface.snaplen as usize);
    }
    Ok(FrameLoc {
        ifid: global as u32,
        t_ns: 0,
        len: b.origlen,
        linktype: iface.linktype,
        data_start: 12,
        data_len: caplen,
        size: block.len(),
    })
}

fn default_iface() -> IfaceClock {
    IfaceClock { clock: Clock::default(), snaplen: 0, linktype: LinkType::ETHERNET }
}

/// Global interface id for a section-local one, or an error naming the block.
#[inline]
fn global_id(st: &NgState, local: u32, what: &'static str) -> Result<usize, ReadErrorKind> {
    let count = st.ifaces.len() - st.section_base;
    if (local as usize) < count {
        Ok(st.section_base + local as usize)
    } else {
        Err(ReadErrorKind::UnknownInterface { what, local, count })
    }
}

/// An 8-byte option value in the section's byte order.
fn u64_opt(opt: &PcapNGOption<'_>, big: bool) -> Option<u64> {
    let b: [u8; 8] = opt.as_bytes().ok()?.try_into().ok()?;
    Some(if big { u64::from_be_bytes(b) } else { u64::from_le_bytes(b) })
}

/// A string option: UTF-8 (lossy), without the NUL terminator some writers add.
fn text(value: &[u8]) -> String {
    String::from_utf8_lossy(value).trim_end_matches('\0').to_owned()
}

#[inline(always)]
fn u32_at(b: &[u8], at: usize, big: bool) -> u32 {
    let mut a = [0u8; 4];
    if let Some(src) = b.get(at..at + 4) {
        a.copy_from_slice(src);
    }
    if big { u32::from_be_bytes(a) } else { u32::from_le_bytes(a) }
}

fn u16_at(b: &[u8], at: usize, big: bool) -> u16 {
    let mut a = [0u8; 2];
    if let Some(src) = b.get(at..at + 2) {
        a.copy_from_slice(src);
    }
    if big { u16::from_be_bytes(a) } else { u16::from_le_bytes(a) }
}
