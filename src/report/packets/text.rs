//! One line per packet, like `tcpdump -n`: time of day with nanoseconds (local time unless
//! `--utc`), the capture point, VLAN tags, then the outermost protocol summary (`ARP, Request
//! who-has …`, `IP a > b: ICMP echo request, id …, seq …, length …`, `IP a.40000 > b.80: Flags
//! [S], seq …, win …, options [mss 1460,…], length 0` with sequence numbers as on the wire, as
//! `tcpdump -n -S` shows them). Tunnels show the outer addresses, then the inner packet.

use super::Record;
use super::bytes::{hex, hwaddr, ip, ipv4, mac};
use crate::core::packet::{
    Arp, DecodeStatus, Icmp, Icmpv6, Ip, Packet, Ports, Tcp, TcpOption, sack_blocks,
};
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
            return ports_summary(out, h, ports);
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

fn ports_summary(out: &mut Vec<u8>, h: &Ip, ports: &Ports) {
    out.extend_from_slice(if h.src.is_ipv4() { b"IP " } else { b"IP6 " });
    ip(out, h.src);
    out.push(b'.');
    num(out, ports.src);
    out.extend_from_slice(b" > ");
    ip(out, h.dst);
    out.push(b'.');
    num(out, ports.dst);
    let length = match (ports.proto, ports.tcp) {
        (Ports::TCP, Some(tcp)) => tcp_summary(out, ports, &tcp),
        (Ports::TCP, None) => {
            out.extend_from_slice(b": TCP");
            true
        }
        _ => {
            out.extend_from_slice(b": UDP");
            true
        }
    };
    if length {
        out.extend_from_slice(b", length ");
        num(out, ports.payload_len);
    }
}

/// `: Flags [S.], seq 1, ack 2, win 3, options [mss 1460,sackOK,TS val 4 ecr 5,nop,wscale 7]`
/// as `tcpdump -n -S` writes it (sequence numbers as on the wire: without `-S` tcpdump makes them
/// relative to the first it saw of each connection, which a line on its own cannot know). False
/// when a bad option ended the line the way tcpdump ends it (`[bad opt]`, then no length).
fn tcp_summary(out: &mut Vec<u8>, ports: &Ports, tcp: &Tcp) -> bool {
    out.extend_from_slice(b": Flags [");
    flag_letters(out, ports.flags);
    out.push(b']');
    let len = ports.payload_len;
    if len > 0 || ports.flags & (Ports::SYN | Ports::FIN | Ports::RST) != 0 {
        out.extend_from_slice(b", seq ");
        num(out, tcp.seq);
        if len > 0 {
            out.push(b':');
            num(out, tcp.seq.wrapping_add(u32::from(len)));
        }
    }
    if ports.flags & Ports::ACK != 0 {
        out.extend_from_slice(b", ack ");
        num(out, tcp.ack);
    }
    out.extend_from_slice(b", win ");
    num(out, tcp.win);
    if ports.flags & Ports::URG != 0 {
        out.extend_from_slice(b", urg ");
        num(out, tcp.urg);
    }
    if !tcp.options.is_empty() {
        out.extend_from_slice(b", options [");
        for (i, item) in tcp.options.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            if item.option == TcpOption::Bad {
                // tcpdump closes the list only when an option came before.
                out.extend_from_slice(if i > 0 { b"[bad opt]]" } else { b"[bad opt]" });
                return false;
            }
            tcp_option(out, item.option);
            if let Some(l) = item.odd_len {
                out.extend_from_slice(b"[len ");
                num(out, l);
                out.push(b']');
            }
        }
        out.push(b']');
    }
    true
}

/// The letters of [`Ports::flag_letters`], without formatting.
pub(super) fn flag_letters(out: &mut Vec<u8>, flags: u8) {
    if flags == 0 {
        return out.extend_from_slice(b"none");
    }
    for (bit, c) in [
        (Ports::FIN, b'F'),
        (Ports::SYN, b'S'),
        (Ports::RST, b'R'),
        (Ports::PSH, b'P'),
        (Ports::ACK, b'.'),
        (Ports::URG, b'U'),
        (Ports::ECE, b'E'),
        (Ports::CWR, b'W'),
    ] {
        if flags & bit != 0 {
            out.push(c);
        }
    }
}

fn tcp_option(out: &mut Vec<u8>, o: TcpOption<'_>) {
    let value = |out: &mut Vec<u8>, name: &[u8], v: u32| {
        out.extend_from_slice(name);
        out.push(b' ');
        num(out, v);
    };
    match o {
        TcpOption::Eol => out.extend_from_slice(b"eol"),
        TcpOption::Nop => out.extend_from_slice(b"nop"),
        TcpOption::Mss(v) => value(out, b"mss", u32::from(v)),
        TcpOption::WindowScale(v) => value(out, b"wscale", u32::from(v)),
        TcpOption::SackPermitted => out.extend_from_slice(b"sackOK"),
        TcpOption::Sack(data) if data.len() % 8 != 0 => {
            out.extend_from_slice(b"sack invalid sack");
        }
        TcpOption::Sack(data) => {
            value(out, b"sack", u32::try_from(data.len() / 8).unwrap_or_default());
            out.push(b' ');
            for (left, right) in sack_blocks(data) {
                out.push(b'{');
                num(out, left);
                out.push(b':');
                num(out, right);
                out.push(b'}');
            }
        }
        TcpOption::Echo(v) => value(out, b"echo", v),
        TcpOption::EchoReply(v) => value(out, b"echoreply", v),
        TcpOption::Timestamp { val, ecr } => {
            value(out, b"TS val", val);
            value(out, b" ecr", ecr);
        }
        // tcpdump names CC.ECHO with an empty string.
        TcpOption::Cc { kind, value: v } => {
            let name: &[u8] = match kind {
                11 => b"cc",
                12 => b"ccnew",
                _ => b"",
            };
            value(out, name, v);
        }
        // tcpdump decodes these few further (md5 signatures, MPTCP subtypes, TFO cookies...);
        // their data is shown in hex here.
        TcpOption::Other { kind, data } => {
            let name: &[u8] = match kind {
                19 => b"md5",
                20 => b"scps",
                28 => b"uto",
                29 => b"tcp-ao",
                30 => b"mptcp",
                34 => b"tfo",
                _ => b"",
            };
            if name.is_empty() {
                out.extend_from_slice(b"unknown-");
                num(out, kind);
            } else {
                out.extend_from_slice(name);
            }
            if !data.is_empty() {
                out.extend_from_slice(b" 0x");
                hex(out, data);
            }
        }
        TcpOption::Bad => out.extend_from_slice(b"[bad opt]"),
    }
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
