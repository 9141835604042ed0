//! One line per packet, like `tcpdump -n`: time of day with nanoseconds (local time unless
//! `--utc`), the capture point, VLAN tags, then the outermost protocol summary (`ARP, Request
//! who-has …`, `IP a > b: ICMP echo request, id …, seq …, length …`). Tunnels show the outer
//! addresses, then the inner packet.

use super::Record;
use super::bytes::{hwaddr, ip, ipv4, mac};
use crate::core::packet::{Arp, DecodeStatus, Icmp, Icmpv6, Ip, Packet, Ports};
use crate::report::clock::TimeOfDay;
use crate::report::decimal::num;

/// Append the text line of `r`, and a newline; `clock` writes its time of day.
pub fn text_line(out: &mut Vec<u8>, r: &Record<'_>, clock: &mut TimeOfDay) {
    let p = r.packet;
    clock.write(out, r.t_ns);
    out.push(b' ');
    out.extend_from_slice(r.point.as_bytes());
    out.push(b' ');
    if !p.vlan.ids().is_empty() {
        out.extend_from_slice(b"vlan ");
        for (i, id) in p.vlan.ids().iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            num(out, *id);
        }
        out.push(b' ');
    }
    summary(out, r);
    if let DecodeStatus::Malformed(what) = p.status {
        out.extend_from_slice(b" [malformed: ");
        out.extend_from_slice(what.as_bytes());
        out.push(b']');
    }
    out.push(b'\n');
}

fn summary(out: &mut Vec<u8>, r: &Record<'_>) {
    let p = r.packet;
    if p.status == DecodeStatus::UndecodedLinkType {
        out.extend_from_slice(b"link type ");
        num(out, r.linktype);
        out.extend_from_slice(b" (not decoded), length ");
        num(out, r.len);
        return;
    }
    if let Some(outer) = &p.ip {
        if p.arp.is_some() || p.inner_ip.is_some() {
            ip_prefix(out, outer);
            out.extend_from_slice(b"tunnel, ");
        }
    }
    if let Some(arp) = &p.arp {
        return arp_summary(out, arp);
    }
    let Some(h) = p.inner_ip.as_ref().or(p.ip.as_ref()) else {
        if let Some(eth) = p.eth {
            mac(out, &eth.src.0);
            out.extend_from_slice(b" > ");
            mac(out, &eth.dst.0);
            out.extend_from_slice(b", ");
        }
        out.extend_from_slice(b"non-IP, length ");
        num(out, r.len);
        return;
    };
    ip_summary(out, p, h);
}

fn ip_prefix(out: &mut Vec<u8>, h: &Ip) {
    out.extend_from_slice(if h.src.is_ipv4() { b"IP " } else { b"IP6 " });
    ip(out, h.src);
    out.extend_from_slice(b" > ");
    ip(out, h.dst);
    out.extend_from_slice(b": ");
}

fn ip_summary(out: &mut Vec<u8>, p: &Packet, h: &Ip) {
    match (&p.ports, h.frag_offset) {
        (Some(ports), 0) if p.icmp.is_none() && p.icmpv6.is_none() => {
            return ports_summary(out, h, ports, p.l4_len);
        }
        _ => {}
    }
    ip_prefix(out, h);
    if h.frag_offset != 0 {
        out.extend_from_slice(b"fragment of ip-proto-");
        num(out, h.proto);
        out.extend_from_slice(b" at offset ");
        num(out, h.frag_offset);
        if let Some(id) = h.id {
            out.extend_from_slice(b", id ");
            num(out, id);
        }
        return;
    }
    if let Some(icmp) = &p.icmp {
        icmp_summary(out, icmp);
    } else if let Some(icmp) = &p.icmpv6 {
        icmpv6_summary(out, icmp);
    } else {
        out.extend_from_slice(b"ip-proto-");
        num(out, h.proto);
    }
    out.extend_from_slice(b", length ");
    num(out, p.l4_len);
}

fn ports_summary(out: &mut Vec<u8>, h: &Ip, ports: &Ports, l4_len: u16) {
    out.extend_from_slice(if h.src.is_ipv4() { b"IP " } else { b"IP6 " });
    ip(out, h.src);
    out.push(b'.');
    num(out, ports.src);
    out.extend_from_slice(b" > ");
    ip(out, h.dst);
    out.push(b'.');
    num(out, ports.dst);
    out.extend_from_slice(if ports.proto == 6 { b": TCP, length " } else { b": UDP, length " });
    num(out, l4_len);
}

fn arp_summary(out: &mut Vec<u8>, a: &Arp) {
    let opt = |out: &mut Vec<u8>, v: Option<std::net::Ipv4Addr>| match v {
        Some(v) => ipv4(out, v),
        None => out.push(b'?'),
    };
    match a.op {
        1 => {
            out.extend_from_slice(b"ARP, Request who-has ");
            opt(out, a.tpa);
            out.extend_from_slice(b" tell ");
            opt(out, a.spa);
        }
        2 => {
            out.extend_from_slice(b"ARP, Reply ");
            opt(out, a.spa);
            out.extend_from_slice(b" is-at ");
            hwaddr(out, &a.sha);
        }
        3 => {
            out.extend_from_slice(b"RARP, Request who-is ");
            hwaddr(out, &a.tha);
            out.extend_from_slice(b" tell ");
            hwaddr(out, &a.sha);
        }
        4 => {
            out.extend_from_slice(b"RARP, Reply ");
            hwaddr(out, &a.tha);
            out.extend_from_slice(b" at ");
            opt(out, a.tpa);
        }
        op => {
            out.extend_from_slice(b"ARP, op ");
            num(out, op);
        }
    }
    // Hardware type, protocol type, lengths and operation, then two address pairs (unknown when
    // the hardware address was longer than the 16 bytes kept).
    let hlen = a.sha.as_bytes().len() as u64;
    if hlen < 16 {
        let plen = if a.spa.is_some() { 4 } else { 0 };
        out.extend_from_slice(b", length ");
        num(out, 8 + 2 * (hlen + plen));
    }
}

fn icmp_summary(out: &mut Vec<u8>, i: &Icmp) {
    out.extend_from_slice(b"ICMP ");
    let name: &[u8] = match (i.ty, i.code) {
        (0, _) => b"echo reply",
        (3, 0) => b"net unreachable",
        (3, 1) => b"host unreachable",
        (3, 2) => b"protocol unreachable",
        (3, 3) => b"port unreachable",
        (3, 4) => b"unreachable - need to frag",
        (3, 13) => b"unreachable - admin prohibited filter",
        (3, _) => b"destination unreachable",
        (4, _) => b"source quench",
        (5, _) => b"redirect",
        (8, _) => b"echo request",
        (9, _) => b"router advertisement",
        (10, _) => b"router solicitation",
        (11, 0) => b"time exceeded in-transit",
        (11, _) => b"ip reassembly time exceeded",
        (12, _) => b"parameter problem",
        (13, _) => b"time stamp query",
        (14, _) => b"time stamp reply",
        (15, _) => b"information request",
        (16, _) => b"information reply",
        (17, _) => b"address mask request",
        (18, _) => b"address mask reply",
        (42, _) => b"extended echo request",
        (43, _) => b"extended echo reply",
        _ => b"type",
    };
    out.extend_from_slice(name);
    if name == b"type" {
        out.push(b' ');
        num(out, i.ty);
        out.extend_from_slice(b" code ");
        num(out, i.code);
    }
    if let Some(e) = i.echo {
        out.extend_from_slice(b", id ");
        num(out, e.id);
        out.extend_from_slice(b", seq ");
        num(out, e.seq);
    }
    if let Some(q) = i.quoted {
        quoted(out, q);
    }
}

fn icmpv6_summary(out: &mut Vec<u8>, i: &Icmpv6) {
    out.extend_from_slice(b"ICMP6, ");
    let name: &[u8] = match i.ty {
        1 => b"destination unreachable",
        2 => b"packet too big",
        3 => b"time exceeded in-transit",
        4 => b"parameter problem",
        128 => b"echo request",
        129 => b"echo reply",
        130 => b"multicast listener query",
        131 => b"multicast listener report",
        132 => b"multicast listener done",
        133 => b"router solicitation",
        134 => b"router advertisement",
        135 => b"neighbor solicitation",
        136 => b"neighbor advertisement",
        137 => b"redirect",
        143 => b"multicast listener report v2",
        160 => b"extended echo request",
        161 => b"extended echo reply",
        _ => b"type",
    };
    out.extend_from_slice(name);
    if name == b"type" {
        out.push(b' ');
        num(out, i.ty);
    }
    if let Some(e) = i.echo {
        out.extend_from_slice(b", id ");
        num(out, e.id);
        out.extend_from_slice(b", seq ");
        num(out, e.seq);
    }
    if let Some(t) = i.ndp_target {
        out.extend_from_slice(if i.ty == 135 { b", who has " } else { b", tgt is " });
        ip(out, t.into());
    }
    if let Some(q) = i.quoted {
        quoted(out, q);
    }
}

fn quoted(out: &mut Vec<u8>, q: crate::core::packet::Quoted) {
    out.extend_from_slice(b" for ");
    ip(out, q.src);
    out.extend_from_slice(b" > ");
    ip(out, q.dst);
    match q.echo {
        Some(e) => {
            out.extend_from_slice(b" echo id ");
            num(out, e.id);
            out.extend_from_slice(b" seq ");
            num(out, e.seq);
        }
        None => {
            out.extend_from_slice(b" ip-proto-");
            num(out, q.proto);
        }
    }
}
