//! One JSON object per packet (JSON Lines). Keys of absent layers are left out; MACs are
//! lower-case and colon-separated; times are integer nanoseconds since the Unix epoch.
//!
//! `ip`/`ipv6` are the outermost IPv4/IPv6 headers (`inner_ip` the tunnelled one, when there is
//! one); `icmp`/`icmpv6` the first ICMP message found, with `quoted` for the packet an error
//! quotes; `tcp`/`udp` the ports, and for TCP the flags (tcpdump's letters), the sequence and
//! acknowledgement numbers as on the wire, the window and the MSS option when there is one.
//! Written by hand into a reused buffer: this is the hot path of `--packets --json`.

use super::Record;
use super::bytes::{hwaddr, ip, ipv4, json_str, mac};
use crate::core::packet::{DecodeStatus, Echo, Ip, Packet, Quoted};
use crate::report::decimal::num;

/// A JSON object being written: tracks whether a comma is due.
struct Obj<'o> {
    out: &'o mut Vec<u8>,
    empty: bool,
}

impl<'o> Obj<'o> {
    #[inline(always)]
    fn open(out: &'o mut Vec<u8>) -> Self {
        out.push(b'{');
        Obj { out, empty: true }
    }

    /// Start member `k` and return the buffer to write its value into.
    #[inline(always)]
    fn key(&mut self, k: &str) -> &mut Vec<u8> {
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
        self.out.push(b'"');
        self.out.extend_from_slice(k.as_bytes());
        self.out.extend_from_slice(b"\":");
        self.out
    }

    #[inline(always)]
    fn num(&mut self, k: &str, n: impl itoa::Integer) {
        num(self.key(k), n);
    }

    /// A string value that needs no escaping (addresses).
    #[inline(always)]
    fn raw_str(&mut self, k: &str, write: impl FnOnce(&mut Vec<u8>)) {
        let out = self.key(k);
        out.push(b'"');
        write(out);
        out.push(b'"');
    }

    fn close(self) {
        self.out.push(b'}');
    }
}

/// Append the JSON object of `r`, and a newline.
pub fn json_line(out: &mut Vec<u8>, r: &Record<'_>) {
    let p = r.packet;
    out.reserve(1024);
    let mut o = Obj::open(out);
    o.num("frame", r.frame);
    o.num("ifid", r.ifid);
    o.num("t_ns", r.t_ns);
    json_str(o.key("point"), r.point);
    o.num("caplen", r.caplen);
    o.num("len", r.len);
    if let Some(eth) = p.eth {
        o.raw_str("eth_src", |b| mac(b, &eth.src.0));
        o.raw_str("eth_dst", |b| mac(b, &eth.dst.0));
    }
    if !p.vlan.ids().is_empty() {
        let out = o.key("vlan");
        out.push(b'[');
        for (i, id) in p.vlan.ids().iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            num(out, *id);
        }
        out.push(b']');
    }
    if let Some(a) = &p.sll_src {
        o.raw_str("sll_src", |b| hwaddr(b, a));
    }
    arp(&mut o, p);
    ip_headers(&mut o, p);
    icmp(&mut o, p);
    if let Some(ports) = p.ports {
        let name = if ports.proto == 6 { "tcp" } else { "udp" };
        let mut t = Obj::open(o.key(name));
        t.num("src", ports.src);
        t.num("dst", ports.dst);
        if let Some(tcp) = ports.tcp {
            let flags = t.key("flags");
            flags.push(b'"');
            super::text::flag_letters(flags, ports.flags);
            flags.push(b'"');
            t.num("seq", tcp.seq);
            t.num("ack", tcp.ack);
            t.num("win", tcp.win);
            if let Some(mss) = tcp.mss() {
                t.num("mss", mss);
            }
        }
        t.close();
    }
    match p.status {
        DecodeStatus::Complete => {}
        DecodeStatus::UndecodedLinkType => o.num("undecoded_linktype", r.linktype),
        DecodeStatus::Malformed(what) => json_str(o.key("malformed"), what),
    }
    o.close();
    out.push(b'\n');
}

fn arp(o: &mut Obj<'_>, p: &Packet) {
    let Some(arp) = &p.arp else { return };
    let mut a = Obj::open(o.key("arp"));
    a.num("op", arp.op);
    if let Some(spa) = arp.spa {
        a.raw_str("spa", |b| ipv4(b, spa));
    }
    a.raw_str("sha", |b| hwaddr(b, &arp.sha));
    if let Some(tpa) = arp.tpa {
        a.raw_str("tpa", |b| ipv4(b, tpa));
    }
    a.raw_str("tha", |b| hwaddr(b, &arp.tha));
    a.close();
}

/// `ip` and `ipv6`: the first header of each family, outermost first; `inner_ip` for tunnels.
fn ip_headers(o: &mut Obj<'_>, p: &Packet) {
    let headers = [p.ip, p.inner_ip];
    if let Some(h) = headers.iter().flatten().find(|h| h.src.is_ipv4()) {
        let mut v = Obj::open(o.key("ip"));
        addresses(&mut v, h);
        if let Some(id) = h.id {
            v.num("id", id);
        }
        v.close();
    }
    if let Some(h) = headers.iter().flatten().find(|h| h.src.is_ipv6()) {
        let mut v = Obj::open(o.key("ipv6"));
        addresses(&mut v, h);
        v.close();
    }
    if let Some(h) = &p.inner_ip {
        let mut v = Obj::open(o.key("inner_ip"));
        addresses(&mut v, h);
        v.close();
    }
}

fn addresses(o: &mut Obj<'_>, h: &Ip) {
    o.raw_str("src", |b| ip(b, h.src));
    o.raw_str("dst", |b| ip(b, h.dst));
}

fn icmp(o: &mut Obj<'_>, p: &Packet) {
    if let Some(i) = &p.icmp {
        let mut m = Obj::open(o.key("icmp"));
        message(&mut m, i.ty, i.code, i.echo, i.quoted);
        m.close();
    }
    if let Some(i) = &p.icmpv6 {
        let mut m = Obj::open(o.key("icmpv6"));
        message(&mut m, i.ty, i.code, i.echo, i.quoted);
        if let Some(t) = i.ndp_target {
            m.raw_str("target", |b| ip(b, t.into()));
        }
        m.close();
    }
}

fn message(m: &mut Obj<'_>, ty: u8, code: u8, echo: Option<Echo>, quoted: Option<Quoted>) {
    m.num("type", ty);
    m.num("code", code);
    if let Some(e) = echo {
        m.num("id", e.id);
        m.num("seq", e.seq);
    }
    if let Some(q) = quoted {
        let mut v = Obj::open(m.key("quoted"));
        v.raw_str("src", |b| ip(b, q.src));
        v.raw_str("dst", |b| ip(b, q.dst));
        v.num("proto", q.proto);
        if let Some(id) = q.id {
            v.num("ip_id", id);
        }
        if let Some(e) = q.echo {
            v.num("echo_id", e.id);
            v.num("echo_seq", e.seq);
        }
        v.close();
    }
}
