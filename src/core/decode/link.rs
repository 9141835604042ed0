//! Link layers: the per-link-type headers in front of the network layer (Ethernet, Linux cooked
//! SLL/SLL2, raw IP, NULL/LOOP, PPP, Cisco HDLC, IPNET, IP-over-InfiniBand, ARCNET), VLAN tags,
//! LLC/SNAP, and the dispatch on the ethertype. Nothing above the network layer is read here.
//!
//! etherparse parses Ethernet II and VLAN tags; the other link headers are read by hand (its
//! `LinuxSllHeaderSlice` refuses packet types and protocols it does not list, and it knows none of
//! the others).

use etherparse::{Ethernet2HeaderSlice, SingleVlanHeaderSlice};

use super::{Decoder, arp, be16, ethertype, ip, tunnel};
use crate::core::frame::LinkType;
use crate::core::packet::{DecodeStatus, EthAddrs, HwAddr, Mac};

/// Decode a whole frame of link type `lt`.
pub(super) fn frame(d: &mut Decoder<'_>, lt: LinkType, data: &[u8]) {
    match lt.0 {
        1 => ethernet(d, data),
        113 => sll(d, data),
        276 => sll2(d, data),
        101 | 12 | 14 => d.ip_by_version(data),
        228 => d.network(ethertype::IPV4, data),
        229 => d.network(ethertype::IPV6, data),
        0 | 108 => null(d, data),
        9 | 50 => ppp(d, data),
        104 => chdlc(d, data),
        226 => ipnet(d, data),
        242 => ipoib(d, data),
        129 => arcnet_linux(d, data),
        _ => d.p.status = DecodeStatus::UndecodedLinkType,
    }
}

/// Ethernet II: the outermost addresses are kept.
pub(super) fn ethernet(d: &mut Decoder<'_>, data: &[u8]) {
    let Ok(eth) = Ethernet2HeaderSlice::from_slice(data) else {
        d.malformed("Ethernet header truncated");
        return;
    };
    if d.p.eth.is_none() {
        d.p.eth = Some(EthAddrs { src: Mac(eth.source()), dst: Mac(eth.destination()) });
    }
    let rest = data.get(eth.slice().len()..).unwrap_or_default();
    d.network(eth.ether_type().0, rest);
}

/// VLAN tags (any number, any TPID), then what the final ethertype announces.
pub(super) fn network(d: &mut Decoder<'_>, mut et: u16, mut data: &[u8]) {
    while ethertype::VLAN_TAGS.contains(&et) {
        let Ok(tag) = SingleVlanHeaderSlice::from_slice(data) else {
            d.malformed("VLAN tag truncated");
            return;
        };
        d.p.vlan.push(tag.vlan_identifier().value());
        et = tag.ether_type().0;
        data = data.get(tag.slice().len()..).unwrap_or_default();
    }
    match et {
        ethertype::ARP | ethertype::RARP => arp::arp(d, data),
        ethertype::IPV4 => ip::ipv4(d, data),
        ethertype::IPV6 => ip::ipv6(d, data),
        ethertype::MPLS | ethertype::MPLS_MULTICAST => tunnel::mpls(d, data),
        ethertype::PPPOE_SESSION => tunnel::pppoe_session(d, data),
        ethertype::TRANSPARENT_ETHERNET => ethernet(d, data),
        0..0x0600 => llc_snap(d, et, data),
        _ => d.other(et, data),
    }
}

/// An IEEE 802.3 frame (the ethertype field was a length): follow SNAP with a zero OUI, which
/// carries an ordinary ethertype; anything else is an unrecognised payload.
fn llc_snap(d: &mut Decoder<'_>, len: u16, data: &[u8]) {
    match data {
        [0xaa, 0xaa, 0x03, 0, 0, 0, t0, t1, rest @ ..] => {
            d.network(u16::from_be_bytes([*t0, *t1]), rest);
        }
        _ => d.other(len, data),
    }
}

/// Linux cooked capture v1: packet type, ARPHRD type, address length, 8 address bytes, protocol.
fn sll(d: &mut Decoder<'_>, data: &[u8]) {
    let (Some(hatype), Some(halen), Some(proto)) = (be16(data, 2), be16(data, 4), be16(data, 14))
    else {
        d.malformed("Linux cooked (SLL) header truncated");
        return;
    };
    let addr = data.get(6..6 + usize::from(halen.min(8))).unwrap_or_default();
    d.p.sll_src = Some(HwAddr::new(addr));
    cooked_payload(d, hatype, proto, data.get(16..).unwrap_or_default());
}

/// Linux cooked capture v2: protocol, reserved, ifindex, ARPHRD type, packet type, address
/// length, 8 address bytes.
fn sll2(d: &mut Decoder<'_>, data: &[u8]) {
    let (Some(proto), Some(hatype), Some(&halen)) = (be16(data, 0), be16(data, 8), data.get(11))
    else {
        d.malformed("Linux cooked (SLL2) header truncated");
        return;
    };
    let Some(addr) = data.get(12..12 + usize::from(halen.min(8))) else {
        d.malformed("Linux cooked (SLL2) header truncated");
        return;
    };
    d.p.sll_src = Some(HwAddr::new(addr));
    cooked_payload(d, hatype, proto, data.get(20..).unwrap_or_default());
}

/// The payload of a cooked header: the protocol field is an ethertype, except for netlink
/// captures and the few Linux pseudo-protocols below 0x0600.
fn cooked_payload(d: &mut Decoder<'_>, hatype: u16, proto: u16, data: &[u8]) {
    const ARPHRD_NETLINK: u16 = 824;
    const LINUX_SLL_P_802_2: u16 = 0x0004;
    if hatype == ARPHRD_NETLINK {
        d.other(proto, data);
    } else if proto == LINUX_SLL_P_802_2 {
        llc(d, data);
    } else if proto < 0x0600 {
        d.other(proto, data);
    } else {
        d.network(proto, data);
    }
}

/// An 802.2 LLC payload without a length field before it (cooked captures).
fn llc(d: &mut Decoder<'_>, data: &[u8]) {
    llc_snap(d, 0, data);
}

/// BSD loopback: a 4-byte address family, in the capturing host's byte order (NULL) or in
/// network order (LOOP). Either way a family fits in the low 16 bits, which tells the order.
fn null(d: &mut Decoder<'_>, data: &[u8]) {
    let Some(&[a, b, c, e]) = data.first_chunk::<4>() else {
        d.malformed("loopback header truncated");
        return;
    };
    let mut af = u32::from_le_bytes([a, b, c, e]);
    if af & 0xffff_0000 != 0 {
        af = af.swap_bytes();
    }
    let rest = data.get(4..).unwrap_or_default();
    match af {
        2 => d.network(ethertype::IPV4, rest),
        // AF_INET6: Linux 10, Windows 23, NetBSD/OpenBSD 24, Solaris 26, FreeBSD 28, Darwin 30.
        10 | 23 | 24 | 26 | 28 | 30 => d.network(ethertype::IPV6, rest),
        _ => d.other(0, rest),
    }
}

/// PPP, with or without the HDLC address/control bytes, with a 1- or 2-byte protocol field.
fn ppp(d: &mut Decoder<'_>, data: &[u8]) {
    let data = data.strip_prefix(&[0xff, 0x03]).unwrap_or(data);
    let (proto, rest) = match data {
        [p, rest @ ..] if p & 1 == 1 => (u16::from(*p), rest),
        [p0, p1, rest @ ..] => (u16::from_be_bytes([*p0, *p1]), rest),
        _ => {
            d.malformed("PPP header truncated");
            return;
        }
    };
    ppp_protocol(d, proto, rest);
}

/// What a PPP protocol number announces.
pub(super) fn ppp_protocol(d: &mut Decoder<'_>, proto: u16, data: &[u8]) {
    match proto {
        0x0021 => d.network(ethertype::IPV4, data),
        0x0057 => d.network(ethertype::IPV6, data),
        0x0281 | 0x0283 => d.network(ethertype::MPLS, data),
        _ => d.other(proto, data),
    }
}

/// Cisco HDLC: address, control, then an ethertype (0x8035 is SLARP here, not RARP).
fn chdlc(d: &mut Decoder<'_>, data: &[u8]) {
    let Some(proto) = be16(data, 2) else {
        d.malformed("Cisco HDLC header truncated");
        return;
    };
    let rest = data.get(4..).unwrap_or_default();
    match proto {
        ethertype::IPV4 | ethertype::IPV6 | ethertype::MPLS => d.network(proto, rest),
        _ => d.other(proto, rest),
    }
}

/// Solaris IPNET: a 24-byte header whose second byte is the address family.
fn ipnet(d: &mut Decoder<'_>, data: &[u8]) {
    const IPH_AF_INET: u8 = 2;
    const IPH_AF_INET6: u8 = 26;
    let (Some(&family), Some(rest)) = (data.get(1), data.get(24..)) else {
        d.malformed("IPNET header truncated");
        return;
    };
    match family {
        IPH_AF_INET => d.network(ethertype::IPV4, rest),
        IPH_AF_INET6 => d.network(ethertype::IPV6, rest),
        _ => d.other(0, rest),
    }
}

/// IP over InfiniBand: destination and source hardware addresses (20 bytes each), an
/// ethertype and 2 reserved bytes.
fn ipoib(d: &mut Decoder<'_>, data: &[u8]) {
    let (Some(proto), Some(rest)) = (be16(data, 40), data.get(44..)) else {
        d.malformed("IP-over-InfiniBand header truncated");
        return;
    };
    d.network(proto, rest);
}

/// Linux ARCNET: source, destination, offset (2), protocol type, then (RFC 1201 types) a split
/// flag and a sequence number, and 4 more bytes in an exception packet.
fn arcnet_linux(d: &mut Decoder<'_>, data: &[u8]) {
    let Some(&ty) = data.get(4) else {
        d.malformed("ARCNET header truncated");
        return;
    };
    let len = match (ty, data.get(5)) {
        (240 | 241 | 0x80, _) => 5,
        (_, Some(0xff)) => 12,
        _ => 8,
    };
    let Some(rest) = data.get(len..) else {
        d.malformed("ARCNET header truncated");
        return;
    };
    match ty {
        212 | 240 => d.network(ethertype::IPV4, rest),
        213 | 241 => d.network(ethertype::ARP, rest),
        214 => d.network(ethertype::RARP, rest),
        0xc4 => d.network(ethertype::IPV6, rest),
        _ => d.other(u16::from(ty), rest),
    }
}
