//! Frame → [`Packet`]: link layers, VLAN tags, ARP, IPv4/IPv6, ICMP/ICMPv6, TCP (ports, flags,
//! sequence numbers, window, options) and UDP ports, and the tunnels that carry them (GRE, ERSPAN,
//! GTP-U, VXLAN, Geneve, MPLS, PPPoE, IP-in-IP).
//!
//! One file per layer; etherparse's header slices do the parsing wherever they fit, the rest
//! (link types it does not know, tunnels, truncated ICMP) is read by hand here.
//!
//! The decoder is pure and hot: it must never panic on any input, never allocate and never format.
//! It keeps the outermost Ethernet and IP header, every VLAN tag (outermost first), the first ARP
//! and ICMP/ICMPv6 message found, and the identity ([`Packet::fp`]) of the innermost packet. It must
//! not interpret packets beyond their headers (that is the correlator's job).

mod arp;
mod echo;
mod icmp;
mod ip;
mod link;
mod tunnel;

#[cfg(test)]
pub(crate) mod tests;

use crate::core::fingerprint;
use crate::core::frame::Frame;
use crate::core::packet::{DecodeStatus, Ip, Packet, PacketId};

/// Decode one frame. Never fails and never panics: what cannot be decoded is marked in
/// [`Packet::status`], and what was decoded before it is kept.
#[inline]
pub fn decode(frame: &Frame<'_>) -> Packet {
    let mut p = Packet::default();
    link::frame(&mut Decoder { p: &mut p, depth: 0, known_fp: None }, frame.linktype, frame.data);
    p
}

/// [`decode`] into `p` (a packet in its box: no copy of a ~500-byte packet on the way).
/// `known_fp`: the frame's identity when [`identify`] computed it already (an IPv4 packet's is
/// then not hashed again).
pub fn decode_into(frame: &Frame<'_>, known_fp: Option<u64>, p: &mut Packet) {
    if frame.linktype == crate::core::frame::LinkType::ETHERNET
        && echo::decode(frame.data, known_fp, p)
    {
        return;
    }
    *p = Packet::default();
    link::frame(&mut Decoder { p, depth: 0, known_fp }, frame.linktype, frame.data);
}

/// What the correlator reads of a frame ([`PacketId`]), the same as
/// `PacketId::of(&decode(frame))` but cheaper for the frames that fill big captures: an IPv4
/// ICMP message or TCP segment in an untagged Ethernet frame is identified from its IP header
/// alone (nothing inside those can change the identity: no tunnel, no inner packet). Every
/// other frame is decoded whole.
#[inline]
pub fn identify(frame: &Frame<'_>) -> PacketId {
    fast_identity(frame).unwrap_or_else(|| PacketId::of(&decode(frame)))
}

fn fast_identity(frame: &Frame<'_>) -> Option<PacketId> {
    const ICMP: u8 = 1;
    const TCP: u8 = 6;
    if frame.linktype != crate::core::frame::LinkType::ETHERNET
        || be16(frame.data, 12)? != ethertype::IPV4
    {
        return None;
    }
    let data = frame.data.get(14..)?;
    let h = etherparse::Ipv4HeaderSlice::from_slice(data).ok()?;
    let proto = h.protocol().0;
    if proto != ICMP && proto != TCP {
        return None;
    }
    let (_, fp) = ip::ipv4_identity(&h, data);
    Some(PacketId { fp: Some(fp), ttl: h.ttl(), tunnelled: false })
}

/// How many network layers (tunnels inside tunnels) are followed before giving up.
const MAX_DEPTH: u8 = 8;

/// Ethertypes the layers hand to each other.
mod ethertype {
    pub const IPV4: u16 = 0x0800;
    pub const ARP: u16 = 0x0806;
    pub const RARP: u16 = 0x8035;
    pub const IPV6: u16 = 0x86dd;
    pub const MPLS: u16 = 0x8847;
    pub const MPLS_MULTICAST: u16 = 0x8848;
    pub const PPPOE_SESSION: u16 = 0x8864;
    pub const TRANSPARENT_ETHERNET: u16 = 0x6558;
    pub const VLAN_TAGS: [u16; 5] = [0x8100, 0x88a8, 0x9100, 0x9200, 0x9300];
}

/// The packet being filled in, and how deep into encapsulations the decoder is.
struct Decoder<'p> {
    p: &'p mut Packet,
    depth: u8,
    /// The innermost packet's identity, known beforehand ([`identify`]).
    known_fp: Option<u64>,
}

impl Decoder<'_> {
    /// Mark the packet malformed (the first problem found wins).
    fn malformed(&mut self, what: &'static str) {
        if self.p.status == DecodeStatus::Complete {
            self.p.status = DecodeStatus::Malformed(what);
        }
    }

    /// Record an IP header: the first is the outermost, later ones are tunnelled.
    fn set_ip(&mut self, ip: Ip) {
        if self.p.ip.is_none() {
            self.p.ip = Some(ip);
        } else {
            self.p.inner_ip = Some(ip);
        }
    }

    /// Identity of an unrecognised payload, unless an outer layer already gave one.
    fn other(&mut self, ethertype: u16, data: &[u8]) {
        if self.p.fp.is_none() {
            self.p.fp = Some(fingerprint::other(ethertype, data));
        }
    }

    /// Decode what an ethertype (or an equivalent protocol field) announces.
    fn network(&mut self, ethertype: u16, data: &[u8]) {
        if self.depth >= MAX_DEPTH {
            self.malformed("too many nested encapsulations");
            return;
        }
        self.depth += 1;
        link::network(self, ethertype, data);
    }

    /// Decode an IP packet whose version is given by its first nibble (raw IP, GTP-U, MPLS).
    fn ip_by_version(&mut self, data: &[u8]) {
        match data.first().map(|b| b >> 4) {
            Some(4) => self.network(ethertype::IPV4, data),
            Some(6) => self.network(ethertype::IPV6, data),
            Some(_) => self.malformed("IP version is neither 4 nor 6"),
            None => self.malformed("IP header missing"),
        }
    }
}

/// Big-endian u16 at `at`, if the slice is long enough.
fn be16(data: &[u8], at: usize) -> Option<u16> {
    match data.get(at..at.checked_add(2)?)? {
        [a, b] => Some(u16::from_be_bytes([*a, *b])),
        _ => None,
    }
}
