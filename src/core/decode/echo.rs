//! The frames that fill big captures, decoded without the general decoder's layers: an untagged
//! Ethernet frame carrying an IPv4 packet without options (not a later fragment) and an ICMP echo
//! request or reply. Read at fixed offsets; the packet is the one the general decoder makes of
//! the frame (the tests compare the two on mutated and truncated frames), in about a third of
//! its instructions. Anything else is left to the general decoder.

use std::net::{IpAddr, Ipv4Addr};

use super::ip::ipv4_payload_of;
use crate::core::fingerprint;
use crate::core::packet::{Echo, EthAddrs, Icmp, Ip, Mac, Packet};

const ETH: usize = 14;
const IPV4_HEADER: usize = 20;

/// Decode `data` (an Ethernet frame) into `p` when it is such a frame; false, with `p`
/// untouched, when it is not. `known_fp`: its identity, when computed already.
#[inline]
pub(super) fn decode(data: &[u8], known_fp: Option<u64>, p: &mut Packet) -> bool {
    let Some((eth, rest)) = data.split_first_chunk::<ETH>() else { return false };
    let Some((h, _)) = rest.split_first_chunk::<IPV4_HEADER>() else { return false };
    // IPv4 (0x0800), version 4 with a 20-byte header, ICMP.
    if eth[12..14] != [0x08, 0x00] || h[0] != 0x45 || h[9] != 1 {
        return false;
    }
    let be16 = |at: usize| u16::from_be_bytes([h[at], h[at + 1]]);
    let frag = be16(6);
    if frag & 0x1fff != 0 {
        return false;
    }
    let total_len = be16(2);
    let payload = ipv4_payload_of(rest, IPV4_HEADER, usize::from(total_len));
    // An echo request or reply of at least the 8 bytes of its fixed header.
    let Some(icmp) = payload.first_chunk::<8>() else { return false };
    if icmp[0] != 0 && icmp[0] != 8 {
        return false;
    }
    let (src, dst) = ([h[12], h[13], h[14], h[15]], [h[16], h[17], h[18], h[19]]);
    let id = be16(4);
    let fp = known_fp.unwrap_or_else(|| fingerprint::ipv4(src, dst, id, 1, frag, payload));
    // A total length shorter than the header says nothing: what the frame holds.
    let l4_len = usize::from(total_len).checked_sub(IPV4_HEADER).unwrap_or(payload.len());
    let mac =
        |at: usize| Mac([eth[at], eth[at + 1], eth[at + 2], eth[at + 3], eth[at + 4], eth[at + 5]]);
    *p = Packet {
        eth: Some(EthAddrs { src: mac(6), dst: mac(0) }),
        ip: Some(Ip {
            src: IpAddr::V4(Ipv4Addr::from(src)),
            dst: IpAddr::V4(Ipv4Addr::from(dst)),
            id: Some(id),
            proto: 1,
            ttl: h[8],
            total_len,
            dont_fragment: frag & 0x4000 != 0,
            frag_offset: 0,
            more_fragments: frag & 0x2000 != 0,
        }),
        icmp: Some(Icmp {
            ty: icmp[0],
            code: icmp[1],
            echo: Some(Echo {
                id: u16::from_be_bytes([icmp[4], icmp[5]]),
                seq: u16::from_be_bytes([icmp[6], icmp[7]]),
            }),
            quoted: None,
        }),
        l4_len: u16::try_from(l4_len).unwrap_or(u16::MAX),
        fp: Some(fp),
        ..Packet::default()
    };
    true
}
