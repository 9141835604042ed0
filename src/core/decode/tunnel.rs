//! Tunnels and label stacks, followed to the packet they carry: GRE (with ERSPAN I/II/III,
//! Cisco MetaData, transparent Ethernet), GTP-U, VXLAN, Geneve (by their UDP ports), MPLS and
//! PPPoE sessions. etherparse knows none of them, so their headers are read here; every length
//! comes from the frame and is bounds-checked.

use super::{Decoder, be16, ethertype, link};
use crate::core::packet::Encap;

const GRE_CHECKSUM: u8 = 0x80;
const GRE_ROUTING: u8 = 0x40;
const GRE_KEY: u8 = 0x20;
const GRE_SEQUENCE: u8 = 0x10;

const ERSPAN_I_II: u16 = 0x88be;
const ERSPAN_III: u16 = 0x22eb;
const CISCO_METADATA: u16 = 0x8909;

const GTP_U_PORT: u16 = 2152;
const VXLAN_PORTS: [u16; 2] = [4789, 8472];
const GENEVE_PORT: u16 = 6081;

/// GRE version 0 (RFC 2784/2890). Version 1 (PPTP) and source-routed GRE are not followed.
pub(super) fn gre(d: &mut Decoder<'_>, data: &[u8]) {
    let (Some(&flags), Some(&version), Some(proto)) = (data.first(), data.get(1), be16(data, 2))
    else {
        d.malformed("GRE header truncated");
        return;
    };
    if version & 0x07 != 0 || flags & GRE_ROUTING != 0 {
        return;
    }
    let len =
        4 + [GRE_CHECKSUM, GRE_KEY, GRE_SEQUENCE].iter().filter(|&&f| flags & f != 0).count() * 4;
    let Some(payload) = data.get(len..) else {
        d.malformed("GRE header truncated");
        return;
    };
    match proto {
        // ERSPAN type I has no header of its own (and no sequence number); type II has 8 bytes.
        ERSPAN_I_II if flags & GRE_SEQUENCE == 0 => link::ethernet(d, payload),
        ERSPAN_I_II => match payload.get(8..) {
            Some(inner) => link::ethernet(d, inner),
            None => d.malformed("ERSPAN II header truncated"),
        },
        ERSPAN_III => erspan3(d, payload),
        CISCO_METADATA => match (be16(payload, 0), payload.get(8..)) {
            (Some(inner_type), Some(inner)) => d.network(inner_type, inner),
            _ => d.malformed("Cisco MetaData header truncated"),
        },
        _ => d.network(proto, payload),
    }
}

/// ERSPAN type III: 12 bytes, and an 8-byte platform sub-header when the O flag is set.
fn erspan3(d: &mut Decoder<'_>, data: &[u8]) {
    let Some(&flags) = data.get(11) else {
        d.malformed("ERSPAN III header truncated");
        return;
    };
    let len = if flags & 0x01 != 0 { 20 } else { 12 };
    match data.get(len..) {
        Some(inner) => link::ethernet(d, inner),
        None => d.malformed("ERSPAN III header truncated"),
    }
}

/// UDP-borne tunnels, recognised by their well-known ports.
pub(super) fn udp(d: &mut Decoder<'_>, src: u16, dst: u16, payload: &[u8]) {
    if src == GTP_U_PORT || dst == GTP_U_PORT {
        gtp_u(d, payload);
    } else if VXLAN_PORTS.contains(&dst) {
        vxlan(d, payload);
    } else if dst == GENEVE_PORT {
        geneve(d, payload);
    }
}

/// GTP-U version 1: an 8-byte header, 4 optional bytes when E, S or PN is set, then a chain of
/// extension headers (length in units of 4 bytes, the last byte names the next one). Only
/// G-PDU messages (type 255) carry a user packet.
fn gtp_u(d: &mut Decoder<'_>, data: &[u8]) {
    const G_PDU: u8 = 255;
    let (Some(&flags), Some(&msg_type)) = (data.first(), data.get(1)) else {
        return;
    };
    if flags >> 5 != 1 || flags & 0x10 == 0 || msg_type != G_PDU {
        return;
    }
    let mut at = 8;
    if flags & 0x07 != 0 {
        let Some(&first_ext) = data.get(11) else {
            d.malformed("GTP-U header truncated");
            return;
        };
        at = 12;
        let mut next_ext = first_ext;
        while next_ext != 0 {
            let ext_len = data.get(at).map_or(0, |&n| usize::from(n) * 4);
            let Some(&next) = ext_len.checked_sub(1).and_then(|last| data.get(at + last)) else {
                d.malformed("GTP-U extension header truncated");
                return;
            };
            next_ext = next;
            at += ext_len;
        }
    }
    match data.get(at..) {
        Some(inner) if !inner.is_empty() => d.ip_by_version(inner),
        _ => d.malformed("GTP-U payload missing"),
    }
}

/// VXLAN: 8 bytes with the I flag (the VNI in bytes 4 to 6), then an Ethernet frame. The
/// outermost one is recorded ([`crate::core::packet::Encap`]) with the IP header that carried
/// it.
fn vxlan(d: &mut Decoder<'_>, data: &[u8]) {
    match (data.first_chunk::<8>(), data.get(8..)) {
        (Some(h), Some(inner)) if h[0] & 0x08 != 0 => {
            let carrier = d.p.inner_ip.or(d.p.ip);
            if let (None, Some(ip)) = (d.p.encap, carrier) {
                let vni = u32::from_be_bytes([0, h[4], h[5], h[6]]);
                d.p.encap =
                    Some(Encap { vni, outer_src: ip.src, outer_dst: ip.dst, outer_id: ip.id });
            }
            link::ethernet(d, inner);
        }
        _ => {}
    }
}

/// Geneve: 8 bytes plus options (length in units of 4 bytes), then what the protocol names.
fn geneve(d: &mut Decoder<'_>, data: &[u8]) {
    let (Some(&first), Some(proto)) = (data.first(), be16(data, 2)) else {
        return;
    };
    if first >> 6 != 0 {
        return;
    }
    match data.get(8 + usize::from(first & 0x3f) * 4..) {
        Some(inner) => d.network(proto, inner),
        None => d.malformed("Geneve header truncated"),
    }
}

/// An MPLS label stack, then the IP packet under the bottom label (by its version nibble).
pub(super) fn mpls(d: &mut Decoder<'_>, mut data: &[u8]) {
    loop {
        let Some(&[_, _, flags, _]) = data.first_chunk::<4>() else {
            d.malformed("MPLS label stack truncated");
            return;
        };
        data = data.get(4..).unwrap_or_default();
        if flags & 0x01 != 0 {
            break;
        }
    }
    match data.first().map(|b| b >> 4) {
        Some(4 | 6) => d.ip_by_version(data),
        _ => d.other(ethertype::MPLS, data),
    }
}

/// A PPPoE session frame: 6 bytes, then a PPP protocol number and its payload.
pub(super) fn pppoe_session(d: &mut Decoder<'_>, data: &[u8]) {
    match (be16(data, 6), data.get(8..)) {
        (Some(proto), Some(inner)) => link::ppp_protocol(d, proto, inner),
        _ => d.malformed("PPPoE header truncated"),
    }
}
