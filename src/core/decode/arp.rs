//! ARP and RARP over any hardware type (etherparse's `ArpPacketSlice` honours `hlen`/`plen` as
//! given). Protocol addresses are kept only when they are IPv4 (protocol 0x0800, 4 bytes).

use std::net::Ipv4Addr;

use etherparse::ArpPacketSlice;

use super::{Decoder, ethertype};
use crate::core::fingerprint;
use crate::core::packet::{Arp, HwAddr};

pub(super) fn arp(d: &mut Decoder<'_>, data: &[u8]) {
    let Ok(a) = ArpPacketSlice::from_slice(data) else {
        d.malformed("ARP packet truncated");
        d.other(ethertype::ARP, data);
        return;
    };
    let ipv4 = a.proto_addr_type().0 == ethertype::IPV4;
    let proto_addr = |b: &[u8]| match b {
        &[w, x, y, z] if ipv4 => Some(Ipv4Addr::new(w, x, y, z)),
        _ => None,
    };
    if d.p.arp.is_none() {
        d.p.arp = Some(Arp {
            op: a.operation().0,
            sha: HwAddr::new(a.sender_hw_addr()),
            spa: proto_addr(a.sender_protocol_addr()),
            tha: HwAddr::new(a.target_hw_addr()),
            tpa: proto_addr(a.target_protocol_addr()),
        });
    }
    d.p.fp = Some(fingerprint::arp(a.slice()));
}
