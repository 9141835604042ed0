//! The JSON report of DESIGN.md, streamed: `{"exchanges":[…],"points":[…],"verdict":{…}}`.
//!
//! Exchanges are written as they settle (a capture of millions of packets never sits in memory),
//! so `points` and `verdict`, known only at the end, come after them. Exchanges are formatted by
//! hand into a reused buffer (point ids escaped once): this is the hot path of `analyze --json`.

use std::io::{self, Write};
use std::net::IpAddr;

use serde_json::json;

use crate::core::exchange::{Exchange, ExchangeKind, Leg};
use crate::core::journey::{Hop, Journey, NatEnd};
use crate::core::line::{Line, PointIdx};
use crate::core::netfilter::NfNote;
use crate::report::decimal::{Stamps, ipv4, num, short, small};
use crate::report::render_thread::{RenderThread, RenderWorker};
use crate::report::topo::ListenerDto;
use crate::report::trace::{FileRow, Summary, TraceReport, name};
use crate::session::sink::Hosted;

pub struct JsonTrace<'w> {
    out: Box<dyn Write + 'w>,
    buf: Vec<u8>,
    /// Point ids as JSON strings (quoted, escaped), by PointIdx.
    ids: Ids,
    first: bool,
    /// Renders owned exchanges on a thread of its own (`analyze`), when started.
    render: Option<RenderThread>,
    /// Its rendering side until a thread serves it ([`TraceReport::render_worker`], or a thread
    /// of its own at the first exchange).
    worker: Option<RenderWorker>,
}

impl<'w> JsonTrace<'w> {
    pub fn new(out: Box<dyn Write + 'w>) -> Self {
        JsonTrace {
            out,
            buf: Vec::with_capacity(1 << 16),
            ids: Ids::default(),
            first: true,
            render: None,
            worker: None,
        }
    }

    /// Like [`Self::new`], rendering the exchanges given by value on a second thread (a big
    /// capture's analysis; see [`crate::report::render_thread`]).
    pub fn threaded(out: Box<dyn Write + 'w>) -> Self {
        let (render, worker) = RenderThread::hosted(exchange_line);
        JsonTrace { render: Some(render), worker: Some(worker), ..JsonTrace::new(out) }
    }

    /// Serve the renderer on a thread of its own if no other thread took it: before anything
    /// is sent to it.
    fn serve_renderer(&mut self) {
        if let (Some(worker), Some(r)) = (self.worker.take(), self.render.as_mut())
            && !r.serve_on_own_thread(worker)
        {
            // No thread: render in place.
            self.render = None;
        }
    }

    /// Write out everything the rendering thread has, in order.
    fn settle(&mut self) -> io::Result<()> {
        self.serve_renderer();
        let out = &mut self.out;
        match self.render.as_mut() {
            Some(r) => r.wait(&mut |b: &[u8]| out.write_all(b)),
            None => Ok(()),
        }
    }

    /// The point ids for `names` (a point may have been added); true when they changed.
    fn refresh_ids(&mut self, names: &[String]) -> bool {
        if self.ids.len() == names.len() {
            return false;
        }
        self.ids = Ids::new(names);
        true
    }
}

/// The points' ids as the report writes them, by PointIdx: JSON strings (quoted, escaped), and
/// the opening of a hop at each point, `{"point":"ID","t_ns":`, padded to [`OPEN`] bytes and
/// appended whole (then cut to its length: a copy of a fixed size is a few instructions where a
/// copy of any other size calls `memcpy`), `None` for an id too long for it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ids {
    json: Vec<String>,
    open: Vec<Option<([u8; OPEN], usize)>>,
}

/// Room for a hop's opening.
const OPEN: usize = 64;

impl Ids {
    pub fn new(names: &[String]) -> Ids {
        let json: Vec<String> = names.iter().map(|n| json_string(n)).collect();
        let open = json
            .iter()
            .map(|id| {
                let text = format!("{{\"point\":{id},\"t_ns\":");
                let mut bytes = [0u8; OPEN];
                bytes.get_mut(..text.len())?.copy_from_slice(text.as_bytes());
                Some((bytes, text.len()))
            })
            .collect();
        Ids { json, open }
    }

    pub fn len(&self) -> usize {
        self.json.len()
    }

    pub fn is_empty(&self) -> bool {
        self.json.is_empty()
    }

    fn get(&self, i: usize) -> Option<&String> {
        self.json.get(i)
    }

    /// The opening of a hop at `p` padded to [`OPEN`] bytes, and its length.
    fn opening(&self, p: PointIdx) -> Option<(&[u8; OPEN], usize)> {
        self.open.get(p.index())?.as_ref().map(|(bytes, len)| (bytes, *len))
    }

    /// `{"point":"ID","t_ns":` for the hop at `p`.
    fn open_hop(&self, buf: &mut Vec<u8>, p: PointIdx) {
        match self.open.get(p.index()) {
            Some(Some((bytes, len))) => {
                let end = buf.len() + len;
                buf.extend_from_slice(bytes);
                buf.truncate(end);
            }
            _ => {
                buf.extend_from_slice(b"{\"point\":");
                point(buf, self, Some(p));
                buf.extend_from_slice(b",\"t_ns\":");
            }
        }
    }
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"?\"".into())
}

fn point(buf: &mut Vec<u8>, ids: &Ids, p: Option<PointIdx>) {
    match p.and_then(|p| ids.get(p.index())) {
        Some(id) => buf.extend_from_slice(id.as_bytes()),
        None => buf.extend_from_slice(b"null"),
    }
}

fn journey(buf: &mut Vec<u8>, ids: &Ids, j: &Journey, leg: &Leg) {
    buf.extend_from_slice(b"{\"hops\":[");
    let mut prev: Option<&Hop> = None;
    let mut stamps = Stamps::default();
    // Nearly every journey: all its hops plain, written in one go.
    let hops = if plain_hops(buf, ids, &j.hops) { &[][..] } else { &j.hops[..] };
    for (i, h) in hops.iter().enumerate() {
        let delta = prev.map_or(0, |p| h.t_ns.saturating_sub(p.t_ns));
        // Its TTL went down since the hop before: a namespace routed it in between.
        let routed = prev.is_some_and(|p| h.routed_after(p));
        let plain = is_plain(h, prev);
        prev = Some(h);
        if plain && plain_hop(buf, ids, &mut stamps, i > 0, h, delta) {
            continue;
        }
        if i > 0 {
            buf.push(b',');
        }
        ids.open_hop(buf, h.point);
        stamps.write(buf, h.t_ns);
        buf.extend_from_slice(b",\"delta_ns\":");
        num(buf, delta);
        if routed {
            buf.extend_from_slice(b",\"routed\":true");
        }
        // Where NAT had rewritten it: the packet as seen here.
        if let Some(v) = j.view(h) {
            let src = NatEnd { ip: v.src, port: v.sport, echo_id: None }.to_string();
            let dst = NatEnd { ip: v.dst, port: v.dport, echo_id: None }.to_string();
            buf.extend_from_slice(b",\"src\":");
            buf.extend_from_slice(json_string(&src).as_bytes());
            buf.extend_from_slice(b",\"dst\":");
            buf.extend_from_slice(json_string(&dst).as_bytes());
        }
        // Inside a tunnel here (an underlay point): `"encap": {"vni", "outer_src", "outer_dst"}`.
        if let Some(e) = j.encap(h) {
            let _ = write!(
                buf,
                ",\"encap\":{{\"vni\":{},\"outer_src\":\"{}\",\"outer_dst\":\"{}\"}}",
                e.vni, e.outer_src, e.outer_dst
            );
        }
        buf.push(b'}');
    }
    buf.push(b']');
    // A journey that arrived, with nothing to say of it (nearly every one): its end at once.
    if leg.lost.is_none() && leg.netfilter.is_empty() && !j.translated() {
        buf.extend_from_slice(PLAIN_END);
        return;
    }
    // Only on a journey NAT rewrote (like `errors` on an exchange): `"nat": [...]`.
    let nat = j.nat();
    for (i, n) in nat.iter().enumerate() {
        buf.extend_from_slice(if i == 0 { b",\"nat\":[" } else { b"," });
        buf.extend_from_slice(b"{\"point\":");
        point(buf, ids, Some(n.point));
        buf.extend_from_slice(b",\"kind\":\"");
        buf.extend_from_slice(n.kind.as_str().as_bytes());
        buf.extend_from_slice(b"\",\"from\":");
        buf.extend_from_slice(json_string(&n.from.to_string()).as_bytes());
        buf.extend_from_slice(b",\"to\":");
        buf.extend_from_slice(json_string(&n.to.to_string()).as_bytes());
        buf.push(b'}');
    }
    if !nat.is_empty() {
        buf.push(b']');
    }
    buf.extend_from_slice(b",\"complete\":");
    buf.extend_from_slice(if leg.lost.is_none() { b"true" } else { b"false" });
    buf.extend_from_slice(b",\"lost_after\":");
    point(buf, ids, leg.lost.and_then(|l| l.after));
    buf.extend_from_slice(b",\"lost_before\":");
    point(buf, ids, leg.lost.and_then(|l| l.before));
    buf.extend_from_slice(b",\"netfilter\":[");
    for (i, n) in leg.netfilter.iter().filter_map(NfNote::decision).enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        let at = n.hop.and_then(|h| j.hops.get(h)).and_then(|h| ids.get(h.point.index()));
        let note = json!({"netns": n.netns, "family": n.family, "table": n.table,
                          "chain": n.chain, "rule": n.rule, "verdict": n.verdict});
        let _ = serde_json::to_writer(&mut *buf, &note);
        // The hop it happened at (a point id, already a JSON string), before the closing brace.
        buf.pop();
        buf.extend_from_slice(b",\"point\":");
        buf.extend_from_slice(at.map_or(&b"null"[..], |id| id.as_bytes()));
        buf.push(b'}');
    }
    buf.extend_from_slice(b"],\"kernel_drops\":[");
    for (i, d) in leg.netfilter.iter().filter_map(NfNote::kernel_drop).enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        let note = json!({"reason": d.reason, "location": d.location, "t_ns": d.t_ns});
        let _ = serde_json::to_writer(&mut *buf, &note);
    }
    buf.extend_from_slice(b"]}");
}

/// The end of a journey that arrived, with no NAT, netfilter decision or kernel drop to report.
const PLAIN_END: &[u8] =
    b",\"complete\":true,\"lost_after\":null,\"lost_before\":null,\"netfilter\":[],\"kernel_drops\":[]}";

/// Room for a plain hop: a comma, its opening, 19 digits of time, the delta's key and 8 digits.
const HOP: usize = 128;

/// Whether `h` is plain: neither routed (its TTL went down since `prev`), translated nor
/// tunnelled here.
#[inline]
fn is_plain(h: &Hop, prev: Option<&Hop>) -> bool {
    !prev.is_some_and(|p| h.routed_after(p)) && h.view == 0 && h.encap == 0
}

/// A plain hop, `delta` ns after the one before, composed in `out` (from its first byte, or
/// from its second after a comma): copies of fixed sizes at offsets that stay inside it
/// whatever the lengths (each is capped where it is added, so no copy needs a bounds check),
/// a few instructions where pushes and copies of any size cost a call each. Its length; `None`
/// for what it cannot hold (a long point id, a time or delta of unusual size).
#[inline(always)]
fn compose_hop(
    out: &mut [u8; HOP],
    ids: &Ids,
    stamps: &mut Stamps,
    comma: bool,
    h: &Hop,
    delta: u64,
) -> Option<usize> {
    let (open, open_len) = ids.opening(h.point)?;
    let (d, d_len) = small(delta)?;
    out[0] = b',';
    let c = usize::from(comma);
    let n = c + open_len.min(OPEN);
    out.get_mut(c..c + OPEN)?.copy_from_slice(open);
    stamps.put(h.t_ns, out.get_mut(n..n + 19)?.try_into().ok()?)?;
    out.get_mut(n + 19..n + 31)?.copy_from_slice(b",\"delta_ns\":");
    out.get_mut(n + 31..n + 39)?.copy_from_slice(&d);
    let end = n + 31 + d_len.min(8);
    *out.get_mut(end)? = b'}';
    Some(end + 1)
}

/// A plain hop appended ([`compose_hop`]); false (nothing written) for what it cannot hold: the
/// general path writes it.
#[inline]
fn plain_hop(
    buf: &mut Vec<u8>,
    ids: &Ids,
    stamps: &mut Stamps,
    comma: bool,
    h: &Hop,
    delta: u64,
) -> bool {
    let mut hop = [0u8; HOP];
    let Some(len) = compose_hop(&mut hop, ids, stamps, comma, h, delta) else { return false };
    let end = buf.len() + len;
    buf.extend_from_slice(&hop);
    buf.truncate(end);
    true
}

/// The hops of a journey that are all plain (nearly every one), composed in place: room for
/// all of them is made at once, each is written where the one before ended, and the rest is
/// cut. False (nothing written) when one is not plain or does not fit [`compose_hop`].
fn plain_hops(buf: &mut Vec<u8>, ids: &Ids, hops: &[Hop]) -> bool {
    let start = buf.len();
    buf.resize(start + hops.len() * HOP, 0);
    let (mut at, mut prev, mut stamps) = (start, None::<&Hop>, Stamps::default());
    for h in hops {
        let delta = prev.map_or(0, |p| h.t_ns.saturating_sub(p.t_ns));
        let composed = is_plain(h, prev)
            .then(|| buf.get_mut(at..at + HOP)?.try_into().ok())
            .flatten()
            .and_then(|out| compose_hop(out, ids, &mut stamps, prev.is_some(), h, delta));
        let Some(len) = composed else {
            buf.truncate(start);
            return false;
        };
        at += len;
        prev = Some(h);
    }
    buf.truncate(at);
    true
}

/// An exchange's summary, as [`Exchange::summary`] says it: an IPv4 echo (nearly every
/// exchange of a big capture) written digit by digit, the rest through its `Display`.
fn summary(buf: &mut Vec<u8>, ex: &Exchange) {
    let p = &ex.request.journey.packet;
    if ex.kind == ExchangeKind::IcmpEcho
        && let (Some(ip), Some(e)) = (p.ip, ex.echo())
        && let (IpAddr::V4(src), IpAddr::V4(dst)) = (ip.src, ip.dst)
    {
        buf.extend_from_slice(b"echo ");
        ipv4(buf, src);
        buf.extend_from_slice(b" > ");
        ipv4(buf, dst);
        buf.extend_from_slice(b" id ");
        short(buf, u64::from(e.id));
        buf.extend_from_slice(b" seq ");
        short(buf, u64::from(e.seq));
        return;
    }
    let _ = write!(buf, "{}", ex.summary());
}

/// One exchange on its line: the first opens the report, the others begin with the comma that
/// ends the line before (a reader of lines sees each exchange when it settles).
fn exchange_line(buf: &mut Vec<u8>, ids: &Ids, ex: &Exchange, first: bool) {
    buf.extend_from_slice(if first { b"{\"exchanges\":[\n" } else { b"," });
    write_exchange(buf, ids, ex);
    buf.push(b'\n');
}

/// One exchange object.
pub fn write_exchange(buf: &mut Vec<u8>, ids: &Ids, ex: &Exchange) {
    buf.extend_from_slice(b"{\"kind\":\"");
    buf.extend_from_slice(ex.kind.as_str().as_bytes());
    buf.extend_from_slice(b"\",\"summary\":\"");
    // Summaries are addresses, numbers and words: nothing JSON must escape.
    summary(buf, ex);
    buf.push(b'"');
    if let Some(e) = ex.echo() {
        buf.extend_from_slice(b",\"id\":");
        short(buf, u64::from(e.id));
        buf.extend_from_slice(b",\"seq\":");
        short(buf, u64::from(e.seq));
    }
    buf.extend_from_slice(b",\"request\":");
    journey(buf, ids, &ex.request.journey, &ex.request);
    buf.extend_from_slice(b",\"reply\":");
    match &ex.reply {
        Some(r) => journey(buf, ids, &r.journey, r),
        None => buf.extend_from_slice(b"null"),
    }
    if matches!(ex.kind, ExchangeKind::TcpConnect | ExchangeKind::Udp) && ex.expects_reply {
        buf.extend_from_slice(b",\"answer\":");
        match ex.answer() {
            Some(a) => {
                buf.push(b'"');
                buf.extend_from_slice(a.as_bytes());
                buf.push(b'"');
            }
            None => buf.extend_from_slice(b"null"),
        }
    }
    if ex.kind.is_echo() || ex.kind == ExchangeKind::TcpConnect {
        buf.extend_from_slice(b",\"rtt_ns\":");
        match ex.rtt_ns {
            Some(rtt) => short(buf, rtt),
            None => buf.extend_from_slice(b"null"),
        }
    }
    if !ex.errors.is_empty() {
        buf.extend_from_slice(b",\"errors\":[");
        for (i, e) in ex.errors.iter().enumerate() {
            if i > 0 {
                buf.push(b',');
            }
            let p = &e.journey.packet;
            let (ty, code) = p
                .icmp
                .map(|i| (i.ty, i.code))
                .or_else(|| p.icmpv6.map(|i| (i.ty, i.code)))
                .unwrap_or_default();
            buf.extend_from_slice(b"{\"type\":");
            num(buf, ty);
            buf.extend_from_slice(b",\"code\":");
            num(buf, code);
            buf.extend_from_slice(b",\"from\":");
            let from = p.ip.map(|ip| ip.src.to_string()).unwrap_or_default();
            buf.extend_from_slice(json_string(&from).as_bytes());
            buf.extend_from_slice(b",\"journey\":");
            journey(buf, ids, &e.journey, e);
            buf.push(b'}');
        }
        buf.push(b']');
    }
    buf.push(b'}');
}

impl TraceReport for JsonTrace<'_> {
    fn exchange(&mut self, ex: &Exchange, line: &Line, names: &[String]) -> io::Result<()> {
        if self.render.is_some() {
            // Every exchange through the one thread, in order.
            return self.exchange_owned(Box::new(ex.clone()), line, names);
        }
        self.refresh_ids(names);
        exchange_line(&mut self.buf, &self.ids, ex, self.first);
        self.first = false;
        if self.buf.len() >= 1 << 16 {
            self.out.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    fn exchange_owned(
        &mut self,
        ex: Box<Exchange>,
        line: &Line,
        names: &[String],
    ) -> io::Result<()> {
        self.serve_renderer();
        if self.render.is_none() {
            let res = self.exchange(&ex, line, names);
            crate::core::recycle::exchange(ex);
            return res;
        }
        let changed = self.refresh_ids(names);
        self.first = false;
        let (out, ids) = (&mut self.out, &self.ids);
        match self.render.as_mut() {
            Some(r) => {
                if changed {
                    r.set_ids(ids);
                }
                r.push(ex, &mut |b: &[u8]| out.write_all(b))
            }
            None => Ok(()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.settle()?;
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        self.out.flush()
    }

    fn render_worker(&mut self) -> Option<Box<dyn Hosted>> {
        self.worker.take().map(|w| Box::new(w) as Box<dyn Hosted>)
    }

    fn finish(&mut self, s: &Summary<'_>) -> io::Result<()> {
        self.settle()?;
        // Everything is rendered: the thread that served the renderer may end.
        self.render = None;
        if self.first {
            self.buf.extend_from_slice(b"{\"exchanges\":[");
        }
        self.first = false;
        let points: Vec<_> = s
            .points
            .iter()
            .map(|p| {
                json!({"id": p.id, "netns": p.netns, "ifname": p.ifname, "role": p.role.map(|r| r.as_str()),
                       "captured": p.captured, "kernel_drops": p.kernel_drops})
            })
            .collect();
        let v = s.verdict;
        let seg = |seg: &crate::core::verdict::Segment| json!({"after": name(s.names, seg.after), "before": name(s.names, seg.before)});
        let segment = v.segment.as_ref().map(seg);
        let kinds: Vec<_> = v
            .holds
            .kinds
            .iter()
            .map(|k| json!({"kind": k.kind.as_str(), "total": k.total, "complete": k.complete}))
            .collect();
        let losses: Vec<_> = v
            .holds
            .losses
            .iter()
            .map(|l| {
                json!({"kind": l.kind.as_str(), "what": l.what, "segment": seg(&l.segment),
                       "count": l.count})
            })
            .collect();
        let causes: Vec<_> = v
            .causes
            .iter()
            .map(|c| {
                json!({"cause": c.cause.as_str(), "segment": seg(&c.segment), "count": c.count,
                       "summary": c.detail})
            })
            .collect();
        let verdict = json!({
            "reachable": v.probed.then_some(v.reachable), "sent": v.sent, "received": v.received,
            "cause": v.cause.as_str(), "segment": segment, "summary": v.summary,
            "exchanges": kinds, "losses": losses, "causes": causes,
            "listening": v.listening.iter().map(ListenerDto::from).collect::<Vec<_>>(),
        });
        let mut verdict = verdict;
        if !v.conntrack.is_empty() {
            let ct: Vec<_> = v
                .conntrack
                .iter()
                .map(|c| {
                    json!({"netns": c.netns, "proto": c.entry.proto,
                           "original": c.entry.original.to_string(),
                           "reply": c.entry.reply.to_string(),
                           "translation": c.entry.translation()})
                })
                .collect();
            verdict["conntrack"] = serde_json::Value::Array(ct);
        }
        let tail = json!({"other_journeys": s.other_journeys, "unidentified": s.unidentified});
        if !s.files.is_empty() {
            self.buf.extend_from_slice(b"],\n\"clocks\":");
            serde_json::to_writer(&mut self.buf, &clocks(s.files))?;
            // The points follow as after the exchanges.
            self.buf.extend_from_slice(b",\n\"points\":");
        } else {
            self.buf.extend_from_slice(b"],\n\"points\":");
        }
        serde_json::to_writer(&mut self.buf, &points)?;
        self.buf.extend_from_slice(b",\n\"verdict\":");
        serde_json::to_writer(&mut self.buf, &verdict)?;
        self.buf.extend_from_slice(b",\n\"stats\":");
        serde_json::to_writer(&mut self.buf, &tail)?;
        self.buf.extend_from_slice(b"}\n");
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        self.out.flush()
    }
}

/// `clocks`: every input file's clock relative to the first file's, and its node.
fn clocks(files: &[FileRow]) -> serde_json::Value {
    let rows: Vec<_> = files
        .iter()
        .map(|f| {
            let node = f.node.as_ref().map(|n| {
                json!({"hostname": n.hostname, "hardware": n.hardware, "os": n.os,
                       "application": n.application})
            });
            json!({"file": f.file, "offset_ns": f.offset_ns, "uncertainty_ns": f.uncertainty_ns,
                   "basis": f.basis.as_str(),
                   "via": files.get(f.via).filter(|_| f.via > 0).map(|v| &v.file),
                   "node": node})
        })
        .collect();
    serde_json::Value::Array(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::packet::{Echo, Icmp, Ip, Packet};
    use std::net::Ipv4Addr;

    #[test]
    fn a_hop_opens_with_its_point_id_however_long() {
        let long = format!("ns-{}/eth0", "x".repeat(70));
        let ids = Ids::new(&["nginx-1/eth0".to_owned(), long.clone(), "tab\there".to_owned()]);
        for (i, name) in ["nginx-1/eth0", &long, "tab\there"].into_iter().enumerate() {
            let mut buf = b"[".to_vec();
            ids.open_hop(&mut buf, PointIdx(i as u16));
            let id = serde_json::to_string(name).expect("id");
            assert_eq!(String::from_utf8_lossy(&buf), format!("[{{\"point\":{id},\"t_ns\":"));
        }
        let mut buf = Vec::new();
        ids.open_hop(&mut buf, PointIdx(7));
        assert_eq!(buf, b"{\"point\":null,\"t_ns\":", "an unknown point");
    }

    fn echo_exchange(src: IpAddr, dst: IpAddr) -> Exchange {
        let packet = Packet {
            ip: Some(Ip {
                src,
                dst,
                id: Some(1),
                proto: 1,
                ttl: 64,
                total_len: 84,
                dont_fragment: true,
                frag_offset: 0,
                more_fragments: false,
            }),
            icmp: Some(Icmp {
                ty: 8,
                code: 0,
                echo: Some(Echo { id: 65535, seq: 7 }),
                quoted: None,
            }),
            ..Packet::default()
        };
        Exchange {
            kind: ExchangeKind::IcmpEcho,
            request: Leg {
                journey: Journey::new(Box::new(packet), Vec::new()),
                lost: None,
                netfilter: Vec::new(),
            },
            reply: None,
            errors: Vec::new(),
            rtt_ns: None,
            expects_reply: true,
            probe: false,
        }
    }

    /// Hops as written, whichever path writes them (all plain at once, plain one by one, or
    /// the general path), against the same hops built by serde_json.
    #[test]
    fn every_hop_is_written_the_same_whatever_the_path() {
        let long = format!("ns-{}/eth0", "x".repeat(70));
        let names = ["a/eth0".to_owned(), long, "b/veth1".to_owned()];
        let ids = Ids::new(&names);
        let t0 = 1_764_254_840_000_341_110u64;
        // (point, t_ns, ttl): plain hops; a second boundary; a long id (no opening); a routed
        // hop; a delta of 10^8 ns or more; times of fewer than 19 digits.
        let cases: [&[(u16, u64, u8)]; 7] = [
            &[(0, t0, 64), (2, t0 + 6_641, 64), (0, t0 + 6_641, 64), (2, t0 + 38_959, 64)],
            &[(0, 1_764_254_840_999_999_999, 64), (2, 1_764_254_841_000_000_001, 64)],
            &[(0, t0, 64), (1, t0 + 5, 64), (2, t0 + 9, 64)],
            &[(0, t0, 64), (2, t0 + 5, 63), (0, t0 + 9, 63)],
            &[(0, t0, 64), (2, t0 + 100_000_000, 64), (0, t0 + 100_000_007, 64)],
            &[(0, 5, 0), (2, 99, 0)],
            &[(2, t0, 64)],
        ];
        for hops in cases {
            let hops: Vec<Hop> = hops
                .iter()
                .enumerate()
                .map(|(i, &(p, t, ttl))| Hop { ttl, ..Hop::new(PointIdx(p), t, i as u64) })
                .collect();
            let mut ex = echo_exchange(IpAddr::from([10, 0, 0, 1]), IpAddr::from([10, 0, 0, 2]));
            ex.request.journey = Journey::new(Box::default(), hops.clone());
            let mut buf = b"[".to_vec();
            journey(&mut buf, &ids, &ex.request.journey, &ex.request);
            buf.push(b']');
            let got: serde_json::Value = serde_json::from_slice(&buf).expect("JSON");
            let want: Vec<serde_json::Value> = hops
                .iter()
                .enumerate()
                .map(|(i, h)| {
                    let prev = i.checked_sub(1).and_then(|p| hops.get(p));
                    let mut hop = json!({
                        "point": names[usize::from(h.point.0)],
                        "t_ns": h.t_ns,
                        "delta_ns": prev.map_or(0, |p| h.t_ns - p.t_ns),
                    });
                    if prev.is_some_and(|p| h.ttl < p.ttl) {
                        hop["routed"] = json!(true);
                    }
                    hop
                })
                .collect();
            assert_eq!(got[0]["hops"], json!(want), "{buf:?}");
            assert_eq!(got[0]["complete"], json!(true));
        }
    }

    /// The exchanges of `n` echoes through `report` (every third by reference), flushed.
    fn stream(mut report: JsonTrace<'_>, n: u8) {
        let names = vec!["a/eth0".to_owned(), "b/eth0".to_owned()];
        let line = Line::new();
        for i in 0..n {
            let ex = echo_exchange(IpAddr::from([10, 0, 0, i]), IpAddr::from([10, 0, 1, i]));
            let res = if i % 3 == 0 {
                report.exchange(&ex, &line, &names)
            } else {
                report.exchange_owned(Box::new(ex), &line, &names)
            };
            assert!(res.is_ok());
        }
        assert!(report.flush().is_ok());
    }

    #[test]
    fn exchanges_rendered_on_their_own_thread_are_the_same_bytes_in_the_same_order() {
        for n in [0, 1, 2, 255] {
            let (mut here, mut there) = (Vec::new(), Vec::new());
            stream(JsonTrace::new(Box::new(&mut here)), n);
            stream(JsonTrace::threaded(Box::new(&mut there)), n);
            assert_eq!(String::from_utf8_lossy(&here), String::from_utf8_lossy(&there), "{n}");
            let lines = here.iter().filter(|&&b| b == b'\n').count();
            // The opening line, then one line per exchange.
            assert_eq!(lines, usize::from(n) + usize::from(n > 0));
        }
    }

    #[test]
    fn the_fast_echo_summary_is_the_displayed_one() {
        for (src, dst) in
            [("172.18.0.2", "255.0.10.3"), ("0.0.0.0", "8.8.8.8"), ("fd00::2", "fd00::3")]
        {
            let ex = echo_exchange(
                src.parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
                dst.parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            );
            let mut buf = Vec::new();
            summary(&mut buf, &ex);
            assert_eq!(String::from_utf8_lossy(&buf), ex.summary().to_string());
        }
        let mut buf = Vec::new();
        summary(
            &mut buf,
            &echo_exchange(IpAddr::from([172, 18, 0, 2]), IpAddr::from([10, 0, 0, 1])),
        );
        assert_eq!(buf, b"echo 172.18.0.2 > 10.0.0.1 id 65535 seq 7");
    }
}
