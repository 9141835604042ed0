//! ICMP and ICMPv6: type and code, the identifier/sequence of echoes (and the other query
//! messages that carry them), the NDP target, and the packet an error quotes.
//!
//! etherparse's `Icmpv4Slice`/`Icmpv6Slice` read the fixed 8 bytes; a message shorter than that
//! (or a timestamp whose length etherparse rejects) is read by hand, keeping its type and code.

use std::net::{IpAddr, Ipv6Addr};

use etherparse::{Icmpv4Slice, Icmpv6Slice, Ipv4HeaderSlice, Ipv6ExtensionsSlice, Ipv6HeaderSlice};

use super::Decoder;
use crate::core::packet::{Echo, Icmp, Icmpv6, Quoted};

const ICMP: u8 = 1;
const ICMPV6: u8 = 58;

/// Type, code and bytes 5 to 8 (absent when the message is shorter than 8 bytes).
struct Fixed {
    ty: u8,
    code: u8,
    rest: Option<[u8; 4]>,
}

fn fixed(data: &[u8], v6: bool) -> Option<Fixed> {
    let parsed = if v6 {
        Icmpv6Slice::from_slice(data).ok().map(|s| (s.type_u8(), s.code_u8(), s.bytes5to8()))
    } else {
        Icmpv4Slice::from_slice(data).ok().map(|s| (s.type_u8(), s.code_u8(), s.bytes5to8()))
    };
    if let Some((ty, code, rest)) = parsed {
        return Some(Fixed { ty, code, rest: Some(rest) });
    }
    match data {
        [ty, code, _, _, rest @ ..] => {
            Some(Fixed { ty: *ty, code: *code, rest: rest.first_chunk::<4>().copied() })
        }
        [ty, code, ..] => Some(Fixed { ty: *ty, code: *code, rest: None }),
        _ => None,
    }
}

/// Identifier and sequence of a query message: 16 bits each, or an 8-bit sequence for the
/// extended echo of RFC 8335.
fn ident(rest: Option<[u8; 4]>, eight_bit_seq: bool) -> Option<Echo> {
    let [a, b, c, e] = rest?;
    let seq = if eight_bit_seq { u16::from(c) } else { u16::from_be_bytes([c, e]) };
    Some(Echo { id: u16::from_be_bytes([a, b]), seq })
}

/// ICMPv4 query types that carry an identifier and a sequence number.
fn v4_query(ty: u8) -> Option<bool> {
    match ty {
        0 | 8 | 13..=18 => Some(false),
        42 | 43 => Some(true),
        _ => None,
    }
}

/// ICMPv6 query types that carry an identifier and a sequence number.
fn v6_query(ty: u8) -> Option<bool> {
    match ty {
        128 | 129 => Some(false),
        160 | 161 => Some(true),
        _ => None,
    }
}

pub(super) fn icmpv4(d: &mut Decoder<'_>, data: &[u8]) {
    let Some(f) = fixed(data, false) else {
        d.malformed("ICMP header truncated");
        return;
    };
    if f.rest.is_none() {
        d.malformed("ICMP header truncated");
    }
    let echo = v4_query(f.ty).and_then(|short| ident(f.rest, short));
    let quoted = match f.ty {
        3 | 4 | 5 | 11 | 12 => data.get(8..).and_then(quote_v4),
        _ => None,
    };
    if d.p.icmp.is_none() && d.p.icmpv6.is_none() {
        d.p.icmp = Some(Icmp { ty: f.ty, code: f.code, echo, quoted });
    }
}

pub(super) fn icmpv6(d: &mut Decoder<'_>, data: &[u8]) {
    let Some(f) = fixed(data, true) else {
        d.malformed("ICMPv6 header truncated");
        return;
    };
    if f.rest.is_none() {
        d.malformed("ICMPv6 header truncated");
    }
    let echo = v6_query(f.ty).and_then(|short| ident(f.rest, short));
    let ndp_target = match f.ty {
        135 | 136 => data.get(8..24).and_then(|b| <[u8; 16]>::try_from(b).ok()).map(Ipv6Addr::from),
        _ => None,
    };
    let quoted = match f.ty {
        1..=4 => data.get(8..).and_then(quote_v6),
        _ => None,
    };
    if d.p.icmp.is_none() && d.p.icmpv6.is_none() {
        d.p.icmpv6 = Some(Icmpv6 { ty: f.ty, code: f.code, echo, ndp_target, quoted });
    }
}

/// The IPv4 packet an ICMP error quotes: its header and, when it is an echo (or another query),
/// its identifier and sequence.
fn quote_v4(data: &[u8]) -> Option<Quoted> {
    let h = Ipv4HeaderSlice::from_slice(data).ok()?;
    let proto = h.protocol().0;
    let echo = if proto == ICMP && h.fragments_offset().value() == 0 {
        data.get(h.slice().len()..)
            .and_then(|l4| fixed(l4, false))
            .and_then(|f| v4_query(f.ty).and_then(|short| ident(f.rest, short)))
    } else {
        None
    };
    let ports = if h.fragments_offset().value() == 0 {
        data.get(h.slice().len()..).and_then(|l4| quoted_ports(proto, l4))
    } else {
        None
    };
    Some(Quoted {
        src: IpAddr::V4(h.source_addr()),
        dst: IpAddr::V4(h.destination_addr()),
        proto,
        id: Some(h.identification()),
        echo,
        ports,
    })
}

/// The IPv6 packet an ICMPv6 error quotes.
fn quote_v6(data: &[u8]) -> Option<Quoted> {
    let h = Ipv6HeaderSlice::from_slice(data).ok()?;
    let body = data.get(h.slice().len()..).unwrap_or_default();
    let (exts, next, l4, err) = Ipv6ExtensionsSlice::from_slice_lax(h.next_header(), body);
    let first = err.is_none() && super::ip::v6_fragment(exts).0 == 0;
    let echo = if next.0 == ICMPV6 && first {
        fixed(l4, true).and_then(|f| v6_query(f.ty).and_then(|short| ident(f.rest, short)))
    } else {
        None
    };
    let ports = first.then(|| quoted_ports(next.0, l4)).flatten();
    Some(Quoted {
        src: IpAddr::V6(h.source_addr()),
        dst: IpAddr::V6(h.destination_addr()),
        proto: next.0,
        id: None,
        echo,
        ports,
    })
}

/// The ports of a quoted TCP or UDP header (an ICMP error quotes at least its first 8 bytes).
fn quoted_ports(proto: u8, l4: &[u8]) -> Option<(u16, u16)> {
    if proto != 6 && proto != 17 {
        return None;
    }
    let port = |at: usize| Some(u16::from_be_bytes([*l4.get(at)?, *l4.get(at + 1)?]));
    Some((port(0)?, port(2)?))
}
