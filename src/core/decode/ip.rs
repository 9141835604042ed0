//! IPv4 (options, fragments) and IPv6 (extension headers, fragments), and the dispatch on the
//! protocol number: ICMP/ICMPv6, TCP/UDP ports (and the TCP header: sequence numbers, window,
//! options), and the tunnels IP carries.
//!
//! The transport layer is decoded only on the first fragment (offset 0): later fragments carry
//! payload bytes, not headers. Bytes past the IP length (Ethernet padding) are not payload.

use std::net::IpAddr;

use etherparse::err::ipv4::HeaderSliceError;
use etherparse::{
    Ipv4HeaderSlice, Ipv6ExtensionSlice, Ipv6ExtensionsSlice, Ipv6HeaderSlice, TcpHeaderSlice,
    UdpHeaderSlice,
};

use super::{Decoder, ethertype, icmp, tunnel};
use crate::core::fingerprint;
use crate::core::packet::{Ip, Ports, Tcp, TcpOptions};

const ICMP: u8 = 1;
const IPIP: u8 = 4;
const TCP: u8 = 6;
const UDP: u8 = 17;
const IPV6: u8 = 41;
const GRE: u8 = 47;
const ICMPV6: u8 = 58;

pub(super) fn ipv4(d: &mut Decoder<'_>, data: &[u8]) {
    let h = match Ipv4HeaderSlice::from_slice(data) {
        Ok(h) => h,
        Err(HeaderSliceError::Len(_)) => {
            d.malformed("IPv4 header truncated");
            return d.other(ethertype::IPV4, data);
        }
        Err(HeaderSliceError::Content(_)) => {
            d.malformed("bad IPv4 header (version or header length)");
            return d.other(ethertype::IPV4, data);
        }
    };
    let header_len = h.slice().len();
    let total = usize::from(h.total_len());
    // The identity is hashed from the payload; a decode that knows it already skips that.
    let (payload, fp) = match d.known_fp {
        Some(fp) => (ipv4_payload(&h, data), fp),
        None => ipv4_identity(&h, data),
    };
    let frag_offset = h.fragments_offset().value().saturating_mul(8);
    let proto = h.protocol().0;
    d.set_ip(Ip {
        src: IpAddr::V4(h.source_addr()),
        dst: IpAddr::V4(h.destination_addr()),
        id: Some(h.identification()),
        proto,
        ttl: h.ttl(),
        total_len: h.total_len(),
        dont_fragment: h.dont_fragment(),
        frag_offset,
        more_fragments: h.more_fragments(),
    });
    d.p.fp = Some(fp);
    if frag_offset == 0 {
        let l4_len = if total < header_len { payload.len() } else { total - header_len };
        transport(d, proto, payload, l4_len);
    }
}

/// An IPv4 packet's payload (what its total length covers) and its identity: what the decoder
/// and [`super::identify`] both compute from the header.
pub(super) fn ipv4_identity<'a>(h: &Ipv4HeaderSlice<'_>, data: &'a [u8]) -> (&'a [u8], u64) {
    let payload = ipv4_payload(h, data);
    let frag_field = super::be16(data, 6).unwrap_or_default();
    let fp = fingerprint::ipv4(
        h.source(),
        h.destination(),
        h.identification(),
        h.protocol().0,
        frag_field,
        payload,
    );
    (payload, fp)
}

/// What an IPv4 packet's total length covers after its header.
fn ipv4_payload<'a>(h: &Ipv4HeaderSlice<'_>, data: &'a [u8]) -> &'a [u8] {
    ipv4_payload_of(data, h.slice().len(), usize::from(h.total_len()))
}

/// What total length `total` covers of IPv4 packet `data` after its `header_len`-byte header.
#[inline]
pub(super) fn ipv4_payload_of(data: &[u8], header_len: usize, total: usize) -> &[u8] {
    // A total length shorter than the header (segmentation offload) says nothing: use the frame.
    let end = if total < header_len { data.len() } else { total.min(data.len()) };
    data.get(header_len..end).unwrap_or_default()
}

pub(super) fn ipv6(d: &mut Decoder<'_>, data: &[u8]) {
    let Ok(h) = Ipv6HeaderSlice::from_slice(data) else {
        d.malformed("IPv6 header truncated or not version 6");
        return d.other(ethertype::IPV6, data);
    };
    let body = data.get(h.slice().len()..).unwrap_or_default();
    // Payload length 0 is a jumbogram (or an unset length): use the frame.
    let body = match usize::from(h.payload_length()) {
        0 => body,
        len => body.get(..len).unwrap_or(body),
    };
    let (exts, next, rest, err) = Ipv6ExtensionsSlice::from_slice_lax(h.next_header(), body);
    let l4_len = match usize::from(h.payload_length()) {
        0 => rest.len(),
        len => len.saturating_sub(exts.slice().len()),
    };
    // Only iterate a chain that parsed completely: etherparse's iterator re-reads the headers
    // unchecked and runs past the end when a later header was truncated.
    let (frag_offset, more_fragments) = if err.is_none() { v6_fragment(exts) } else { (0, false) };
    let proto = next.0;
    d.set_ip(Ip {
        src: IpAddr::V6(h.source_addr()),
        dst: IpAddr::V6(h.destination_addr()),
        id: None,
        proto,
        ttl: h.hop_limit(),
        total_len: h.payload_length().saturating_add(40),
        dont_fragment: false,
        frag_offset,
        more_fragments,
    });
    d.p.fp =
        Some(fingerprint::ipv6(h.source(), h.destination(), proto, h.flow_label().value(), rest));
    if err.is_some() {
        d.malformed("IPv6 extension header truncated");
    } else if frag_offset == 0 {
        transport(d, proto, rest, l4_len);
    }
}

/// Fragment offset (bytes) and more-fragments flag of an IPv6 fragment header, if any. Only for
/// an extension chain that `Ipv6ExtensionsSlice::from_slice_lax` parsed without error.
pub(super) fn v6_fragment(exts: Ipv6ExtensionsSlice<'_>) -> (u16, bool) {
    let mut frag = (0, false);
    for ext in exts {
        if let Ipv6ExtensionSlice::Fragment(f) = ext {
            frag = (f.fragment_offset().value().saturating_mul(8), f.more_fragments());
        }
    }
    frag
}

/// What an IP protocol number announces; `len` is its length per the IP header.
fn transport(d: &mut Decoder<'_>, proto: u8, data: &[u8], len: usize) {
    d.p.l4_len = u16::try_from(len).unwrap_or(u16::MAX);
    match proto {
        ICMP => icmp::icmpv4(d, data),
        ICMPV6 => icmp::icmpv6(d, data),
        TCP => match TcpHeaderSlice::from_slice(data) {
            Ok(t) => {
                let flags = data.get(13).copied().unwrap_or_default();
                let payload = len.saturating_sub(usize::from(t.data_offset()) * 4);
                let payload_len = u16::try_from(payload).unwrap_or(u16::MAX);
                let tcp = Tcp {
                    seq: t.sequence_number(),
                    ack: t.acknowledgment_number(),
                    win: t.window_size(),
                    urg: t.urgent_pointer(),
                    options: TcpOptions::new(t.options()),
                };
                let (src, dst) = (t.source_port(), t.destination_port());
                let tcp = Some(tcp);
                set_ports(d, Ports { proto: TCP, src, dst, flags, payload_len, tcp });
            }
            Err(_) => d.malformed("TCP header truncated"),
        },
        UDP => match UdpHeaderSlice::from_slice(data) {
            Ok(u) => {
                let (src, dst) = (u.source_port(), u.destination_port());
                let payload = usize::from(u.length()).saturating_sub(8);
                let payload_len = u16::try_from(payload).unwrap_or(u16::MAX);
                set_ports(d, Ports { proto: UDP, src, dst, flags: 0, payload_len, tcp: None });
                let end = usize::from(u.length()).min(data.len());
                tunnel::udp(d, src, dst, data.get(8..end).unwrap_or_default());
            }
            Err(_) => d.malformed("UDP header truncated"),
        },
        GRE => tunnel::gre(d, data),
        IPIP => d.network(ethertype::IPV4, data),
        IPV6 => d.network(ethertype::IPV6, data),
        _ => {}
    }
}

/// Ports (and the TCP header) of the outermost TCP/UDP header.
fn set_ports(d: &mut Decoder<'_>, ports: Ports) {
    if d.p.ports.is_none() {
        d.p.ports = Some(ports);
    }
}
