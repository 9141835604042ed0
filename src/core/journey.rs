//! Journeys: the same packet seen at several capture points, joined by its fingerprint.
//!
//! [`Correlator::ingest`] takes observations (a decoded packet at a point and a time) roughly in
//! time order and keeps a journey open while it may still gain hops; once the newest timestamp
//! seen (the watermark) is a window past a journey's first hop, the journey is final: its hops are
//! sorted (by time, ties by path order) and it is handed out. Memory is bounded by the window,
//! however long the capture. Pure: no IO, no clock.
//!
//! Across NAT a packet changes its addresses, ports or echo identifier, and so its fingerprint:
//! a sighting whose fingerprint opens no journey joins the open journey with the same
//! NAT-invariant identity ([`fingerprint::nat`]) that has not reached its point, as a new *view*
//! of the packet ([`Journey::views`]); the hop says which view it saw, and [`Journey::nat`] lists
//! where the packet was translated.

use std::borrow::Cow;
use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

use crate::core::fingerprint::{self, Prehashed};
use crate::core::hint;
use crate::core::line::{Direction, Line, PointIdx};
pub use crate::core::packet::PacketId;
use crate::core::packet::{Encap, Packet};
use crate::core::recycle;

/// One capture point's sighting of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hop {
    pub point: PointIdx,
    pub t_ns: u64,
    /// Frame number in its capture (1-based), for cross-reference.
    pub frame: u64,
    /// How the packet looked here: 0 as [`Journey::packet`], else [`Journey::views`]`[view]`
    /// (after a NAT hop).
    pub view: u8,
    /// Its IP TTL or hop limit here (0 without IP): one less than at the hop before means a
    /// namespace routed it in between. Of the innermost packet, when a tunnel carried it.
    pub ttl: u8,
    /// The tunnel it was inside here: 0 none, else [`Journey::encaps`]`[encap - 1]`.
    pub encap: u8,
}

impl Hop {
    pub fn new(point: PointIdx, t_ns: u64, frame: u64) -> Hop {
        Hop { point, t_ns, frame, view: 0, ttl: 0, encap: 0 }
    }

    /// True when the packet was routed between `prev` and this hop (its TTL went down).
    pub fn routed_after(&self, prev: &Hop) -> bool {
        self.ttl < prev.ttl
    }
}

/// The fields of a packet that NAT rewrites: addresses, and the ports (TCP/UDP) or the echo
/// identifier (ICMP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Addrs {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub sport: Option<u16>,
    pub dport: Option<u16>,
    /// An ICMP echo's identifier (masquerade may change it like a source port).
    pub echo_id: Option<u16>,
}

impl Addrs {
    /// The packet's addresses, `None` for a packet without IP.
    pub fn of(p: &Packet) -> Option<Addrs> {
        let ip = p.ip?;
        let (sport, dport) = p.ports.map_or((None, None), |t| (Some(t.src), Some(t.dst)));
        let echo_id = p.icmp.and_then(|i| i.echo).or(p.icmpv6.and_then(|i| i.echo)).map(|e| e.id);
        Some(Addrs { src: ip.src, dst: ip.dst, sport, dport, echo_id })
    }

    /// `p` as it looked with these addresses.
    pub fn apply(&self, p: &mut Packet) {
        if let Some(ip) = p.ip.as_mut() {
            ip.src = self.src;
            ip.dst = self.dst;
        }
        if let (Some(t), Some(s), Some(d)) = (p.ports.as_mut(), self.sport, self.dport) {
            t.src = s;
            t.dst = d;
        }
        if let Some(id) = self.echo_id {
            if let Some(e) = p.icmp.as_mut().and_then(|i| i.echo.as_mut()) {
                e.id = id;
            }
            if let Some(e) = p.icmpv6.as_mut().and_then(|i| i.echo.as_mut()) {
                e.id = id;
            }
        }
    }
}

/// One end of a packet as NAT sees it: an address, with its port (TCP/UDP) or echo identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NatEnd {
    pub ip: IpAddr,
    pub port: Option<u16>,
    /// The echo identifier, when masquerade changed it.
    pub echo_id: Option<u16>,
}

impl std::fmt::Display for NatEnd {
    /// `198.51.100.1:8080`, `[fd00::1]:80`, `10.1.0.2 id 7`, or the address alone.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.ip, self.port) {
            (IpAddr::V4(v4), Some(p)) => write!(f, "{v4}:{p}")?,
            (IpAddr::V6(v6), Some(p)) => write!(f, "[{v6}]:{p}")?,
            (ip, None) => write!(f, "{ip}")?,
        }
        match self.echo_id {
            Some(id) => write!(f, " id {id}"),
            None => Ok(()),
        }
    }
}

/// Where NAT rewrote a packet on its way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NatKind {
    /// The destination (and its port) changed: DNAT, a published port.
    Dnat,
    /// The source changed: SNAT, masquerade.
    Snat,
}

impl NatKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NatKind::Dnat => "dnat",
            NatKind::Snat => "snat",
        }
    }
}

/// One translation seen between two hops of a journey: the point where the packet was first
/// seen translated, and the end (address, port) before and after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NatNote {
    pub point: PointIdx,
    pub kind: NatKind,
    pub from: NatEnd,
    pub to: NatEnd,
}

/// The translations between two looks of a packet: a `dnat` when its destination changed, an
/// `snat` when its source did. A changed echo identifier goes with the side whose address
/// changed (the request's source under masquerade, the reply's destination on the way back).
fn translations(a: &Addrs, b: &Addrs, point: PointIdx) -> impl Iterator<Item = NatNote> {
    let dst = (a.dst, a.dport) != (b.dst, b.dport);
    let src = (a.src, a.sport) != (b.src, b.sport);
    let id_moved = a.echo_id != b.echo_id;
    let id_on_dst = id_moved && dst && !src;
    let ids = |on: bool| if on { (a.echo_id, b.echo_id) } else { (None, None) };
    let dnat = (dst).then(|| {
        let (fi, ti) = ids(id_on_dst);
        NatNote {
            point,
            kind: NatKind::Dnat,
            from: NatEnd { ip: a.dst, port: a.dport, echo_id: fi },
            to: NatEnd { ip: b.dst, port: b.dport, echo_id: ti },
        }
    });
    let snat = (src || id_moved && !id_on_dst).then(|| {
        let (fi, ti) = ids(id_moved && !id_on_dst);
        NatNote {
            point,
            kind: NatKind::Snat,
            from: NatEnd { ip: a.src, port: a.sport, echo_id: fi },
            to: NatEnd { ip: b.src, port: b.sport, echo_id: ti },
        }
    });
    dnat.into_iter().chain(snat)
}

/// A decoded packet seen at a point.
#[derive(Debug, Clone, Copy)]
pub struct Observation {
    pub point: PointIdx,
    pub t_ns: u64,
    pub frame: u64,
    pub packet: Packet,
}

impl Observation {
    /// What the correlator reads of it on every sighting.
    pub fn sighting(&self) -> Sighting {
        Sighting::of(self.point, self.t_ns, self.frame, &self.packet)
    }
}

/// A packet seen at a point, as the correlator reads it: where, when, and [`PacketId`]. The
/// packet itself is looked at only when a journey starts, when NAT may have rewritten it, or
/// when a tunnel carried it (see [`Correlator::ingest_sighting`]), so a sighting can cross
/// threads in 48 bytes and its packet be decoded again when needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sighting {
    pub point: PointIdx,
    pub t_ns: u64,
    pub frame: u64,
    pub id: PacketId,
}

impl Sighting {
    pub fn of(point: PointIdx, t_ns: u64, frame: u64, packet: &Packet) -> Sighting {
        Sighting { point, t_ns, frame, id: PacketId::of(packet) }
    }
}

/// A sighting's packet, decoded on first use only.
struct Lazy<F> {
    decode: Option<F>,
    /// Boxed as soon as decoded: a journey that starts keeps this box (no second copy).
    packet: Option<Box<Packet>>,
}

impl<F: FnOnce(&mut Packet)> Lazy<F> {
    fn new(decode: F) -> Self {
        Lazy { decode: Some(decode), packet: None }
    }

    fn get(&mut self) -> &Packet {
        match (&mut self.packet, self.decode.take()) {
            (Some(p), _) => p,
            (slot, Some(f)) => {
                // A recycled box holds a finished journey's packet: `f` writes the whole packet.
                let mut packet = recycle::packet();
                f(&mut packet);
                slot.insert(packet)
            }
            (slot, None) => slot.insert(Box::default()),
        }
    }

    /// The decoded packet, owned.
    fn take(mut self) -> Box<Packet> {
        self.get();
        self.packet.take().unwrap_or_default()
    }
}

/// A packet's way through the capture points.
#[derive(Debug, Clone)]
pub struct Journey {
    /// The packet as first seen (boxed: journeys move from stage to stage, packets need not).
    pub packet: Box<Packet>,
    /// Hops in the order the packet passed them.
    pub hops: Vec<Hop>,
    /// Direction along the line, when the hops tell it.
    pub direction: Option<Direction>,
    /// The packet's looks after NAT: empty when it never changed, else `views[0]` is how
    /// [`Journey::packet`] looked and the others how hops with that `view` saw it.
    pub views: Vec<Addrs>,
    /// The tunnels hops saw it inside (see [`Hop::encap`]); empty for most journeys.
    pub encaps: Vec<Encap>,
}

impl Journey {
    /// A journey of `packet` over `hops`, its direction unknown.
    pub fn new(packet: Box<Packet>, hops: Vec<Hop>) -> Journey {
        Journey { packet, hops, direction: None, views: Vec::new(), encaps: Vec::new() }
    }

    /// The tunnel `hop` saw the packet inside, if any.
    pub fn encap(&self, hop: &Hop) -> Option<&Encap> {
        usize::from(hop.encap).checked_sub(1).and_then(|i| self.encaps.get(i))
    }

    /// Add `hop`, which saw the packet inside `encap` when a tunnel carried it (at most 255
    /// tunnels per journey). Without a tunnel the hop goes in as built: a field written into it
    /// after the rest made the copy into the vector wait for the CPU's store buffer (a third of
    /// the correlator's samples sat on that load).
    #[inline]
    fn push_hop(&mut self, hop: Hop, encap: Option<Encap>) {
        match encap {
            None => self.hops.push(hop),
            Some(e) => self.push_tunnelled(hop, e),
        }
    }

    /// [`Self::push_hop`] of a hop inside a tunnel (out of line: the common path stays small
    /// enough to inline).
    #[cold]
    #[inline(never)]
    fn push_tunnelled(&mut self, hop: Hop, e: Encap) {
        let i = match self.encaps.iter().position(|x| *x == e) {
            Some(i) => i + 1,
            None if self.encaps.len() < usize::from(u8::MAX) => {
                self.encaps.push(e);
                self.encaps.len()
            }
            None => 0,
        };
        self.hops.push(Hop { encap: u8::try_from(i).unwrap_or(0), ..hop });
    }

    /// The stretches of consecutive hops inside one tunnel, in hop order: the tunnel and its
    /// first and last hop's points.
    pub fn tunnels(&self) -> Vec<(Encap, PointIdx, PointIdx)> {
        let mut out: Vec<(Encap, PointIdx, PointIdx)> = Vec::new();
        let mut prev = 0u8;
        for h in &self.hops {
            if let Some(e) = self.encap(h) {
                match out.last_mut() {
                    Some(last) if prev == h.encap => last.2 = h.point,
                    _ => out.push((*e, h.point, h.point)),
                }
            }
            prev = h.encap;
        }
        out
    }

    /// How the packet looked at `hop`, when it changed on the way (`None`: as
    /// [`Journey::packet`]).
    pub fn view(&self, hop: &Hop) -> Option<&Addrs> {
        (hop.view > 0).then(|| self.views.get(usize::from(hop.view))).flatten()
    }

    /// The packet as its first hop saw it (what left the sender).
    pub fn first_packet(&self) -> Cow<'_, Packet> {
        self.packet_at(self.hops.first())
    }

    /// The packet as its last hop saw it (what reached the receiver).
    pub fn last_packet(&self) -> Cow<'_, Packet> {
        self.packet_at(self.hops.last())
    }

    /// The packet as `hop` saw it: [`Journey::packet`] itself unless NAT had rewritten it there.
    fn packet_at(&self, hop: Option<&Hop>) -> Cow<'_, Packet> {
        match hop.filter(|h| h.view > 0).and_then(|h| self.views.get(usize::from(h.view))) {
            Some(v) => {
                let mut p = *self.packet;
                v.apply(&mut p);
                Cow::Owned(p)
            }
            None => Cow::Borrowed(&self.packet),
        }
    }

    /// True when NAT rewrote the packet on its way.
    pub fn translated(&self) -> bool {
        self.views.len() > 1
    }

    /// Where the packet was translated, in hop order: a `dnat` where its destination changed, an
    /// `snat` where its source did.
    pub fn nat(&self) -> Vec<NatNote> {
        let mut out = Vec::new();
        if !self.translated() {
            return out;
        }
        let mut prev: Option<&Addrs> = None;
        for h in &self.hops {
            let Some(cur) = self.views.get(usize::from(h.view)) else { continue };
            if let Some(p) = prev.filter(|p| *p != cur) {
                out.extend(translations(p, cur, h.point));
            }
            prev = Some(cur);
        }
        out
    }

    pub fn first(&self) -> Option<&Hop> {
        self.hops.first()
    }
    pub fn last(&self) -> Option<&Hop> {
        self.hops.last()
    }
    pub fn first_t(&self) -> u64 {
        self.hops.first().map_or(0, |h| h.t_ns)
    }
    pub fn reached(&self, p: PointIdx) -> bool {
        self.hops.iter().any(|h| h.point == p)
    }
}

#[derive(Debug)]
struct Open {
    journey: Journey,
    serial: u64,
    /// Its NAT-invariant identity, and the fingerprints of its translated views.
    nat_fp: Option<u64>,
    /// Boxed: only a translated journey has any, and an open journey this small (128 bytes)
    /// moves in and out of the table by a few register copies where a bigger one calls memcpy.
    #[expect(clippy::box_collection, reason = "one pointer in the struct, not a vector's three")]
    aliases: Option<Box<Vec<u64>>>,
    /// The points below 64 its hops are at, one bit each: whether a sighting is a further hop
    /// or a new packet is asked on every frame, and a scan of the hops is the slower answer.
    reached: u64,
}

impl Open {
    fn new(journey: Journey, serial: u64, nat_fp: Option<u64>) -> Open {
        let reached = journey.hops.iter().fold(0, |m, h| m | Open::bit(h.point));
        Open { journey, serial, nat_fp, aliases: None, reached }
    }

    /// Point `p`'s bit (none for points from 64 on: those are looked for in the hops).
    fn bit(p: PointIdx) -> u64 {
        1u64.checked_shl(u32::from(p.0)).unwrap_or(0)
    }

    fn reached(&self, p: PointIdx) -> bool {
        match Open::bit(p) {
            0 => self.journey.reached(p),
            bit => self.reached & bit != 0,
        }
    }

    fn push_hop(&mut self, hop: Hop, encap: Option<Encap>) {
        match encap {
            None => self.push_plain(hop),
            Some(_) => {
                self.reached |= Open::bit(hop.point);
                self.journey.push_hop(hop, encap);
            }
        }
    }

    /// A hop outside any tunnel, pushed as built: through [`Self::push_hop`], with the tunnel
    /// decided on the way, the hop was composed on the stack field by field and its copy into
    /// the vector waited for those stores.
    #[inline]
    fn push_plain(&mut self, hop: Hop) {
        self.reached |= Open::bit(hop.point);
        self.journey.hops.push(hop);
    }
}

/// Joins observations into journeys within a time window.
#[derive(Debug)]
pub struct Correlator {
    window_ns: u64,
    open: HashMap<u64, Open, Prehashed>,
    /// The fingerprint of a translated view → the open journey's and the view's index.
    alias: HashMap<u64, (u64, u8), Prehashed>,
    /// NAT-invariant identity → the open journey that has it.
    by_nat: HashMap<u64, u64, Prehashed>,
    /// Open journeys by first-hop time: (first_t, fingerprint, serial).
    queue: VecDeque<(u64, u64, u64)>,
    serial: u64,
    watermark: u64,
    line: Line,
    ready: Vec<Journey>,
    /// Journeys that crossed every point.
    complete: u64,
    /// Observations without an identity (undecoded), counted only.
    pub unidentified: u64,
    /// Journeys that NAT rewrote on their way.
    pub translated: u64,
    /// Points may still be added: a journey seen at every point known so far may gain hops.
    open_ended: bool,
}

impl Correlator {
    pub fn new(window_ns: u64) -> Self {
        Correlator {
            window_ns: window_ns.max(1),
            open: HashMap::with_hasher(Prehashed),
            alias: HashMap::with_hasher(Prehashed),
            by_nat: HashMap::with_hasher(Prehashed),
            queue: VecDeque::new(),
            serial: 0,
            watermark: 0,
            line: Line::new(),
            ready: Vec::new(),
            complete: 0,
            unidentified: 0,
            translated: 0,
            open_ended: false,
        }
    }

    /// Register the next capture point (path order = registration order until learned).
    pub fn add_point(&mut self) -> PointIdx {
        self.line.add_point()
    }

    pub fn line(&self) -> &Line {
        &self.line
    }

    /// Points may be added while journeys are open: a journey seen at every point known so far
    /// stays open until its window ends (it may cross a point not announced yet).
    pub fn points_may_grow(&mut self) {
        self.open_ended = true;
    }

    /// `p` is off the path ([`Line::mark_branch`]).
    pub fn mark_branch(&mut self, p: PointIdx) {
        self.line.mark_branch(p);
    }

    /// The points' order is known: keep it ([`Line::fix`]).
    pub fn fix_order(&mut self) {
        self.line.fix();
    }

    /// The newest timestamp seen.
    pub fn watermark(&self) -> u64 {
        self.watermark
    }

    pub fn window_ns(&self) -> u64 {
        self.window_ns
    }

    /// Add one observation; journeys that became final are queued for [`Self::take_ready`].
    pub fn ingest(&mut self, obs: &Observation) {
        self.ingest_sighting(obs.sighting(), |p| *p = obs.packet);
    }

    /// Add one sighting; `packet` decodes its packet into the packet it is given (writing all of
    /// it: the box may hold an earlier packet), called at most once and only when the sighting
    /// starts a journey, may be a translated view, or was tunnelled.
    #[inline]
    pub fn ingest_sighting(&mut self, s: Sighting, packet: impl FnOnce(&mut Packet)) {
        let Some(fp) = s.id.fp else {
            self.unidentified += 1;
            return;
        };
        // The identity is the innermost packet's, and so is the TTL that says it was routed.
        // Built whole where it is pushed ([`Journey::push_hop`]).
        let hop = |view| Hop {
            point: s.point,
            t_ns: s.t_ns,
            frame: s.frame,
            view,
            ttl: s.id.ttl,
            encap: 0,
        };
        if s.t_ns > self.watermark {
            self.watermark = s.t_ns;
            if self.expiry_due() {
                self.expire(false);
            }
        }
        // Translated views are rare: no lookup while there is none.
        let aliased = if self.alias.is_empty() { None } else { self.alias.get(&fp).copied() };
        let (key, view) = aliased.unwrap_or((fp, 0));
        let fresh = match self.open.get_mut(&key) {
            // A second sighting at the same point is a new packet (a retransmission with the
            // same bytes, e.g. ARP retries): close the old journey first.
            Some(open) if !open.reached(s.point) => {
                if s.id.tunnelled {
                    let encap = Lazy::new(packet).get().encap;
                    open.push_hop(hop(view), encap);
                } else {
                    open.push_plain(hop(view));
                }
                if !self.open_ended && open.journey.hops.len() >= self.line.required() {
                    self.complete_now(key);
                }
                return;
            }
            Some(_) => {
                if let Some(old) = self.close(key) {
                    self.finalize(old.journey);
                }
                false
            }
            None => true,
        };
        let mut packet = Lazy::new(packet);
        let seen = packet.get();
        // Seen first inside a tunnel: the journey is the inner packet's.
        let nat_fp = fingerprint::nat(&seen.inner_view());
        if fresh && self.join_translated(fp, nat_fp, seen, s.point, hop) {
            return;
        }
        let encap = seen.encap;
        let mut seen = packet.take();
        if encap.is_some() {
            *seen = seen.inner_view().into_owned();
        }
        self.serial += 1;
        let mut journey = Journey::new(seen, recycle::hops(self.line.len().clamp(1, 8)));
        match encap {
            // Pushed as built (see `Open::push_plain`).
            None => journey.hops.push(hop(0)),
            Some(_) => journey.push_hop(hop(0), encap),
        }
        if let Some(n) = nat_fp {
            self.by_nat.insert(n, fp);
        }
        self.open.insert(fp, Open::new(journey, self.serial, nat_fp));
        self.queue.push_back((s.t_ns, fp, self.serial));
    }

    /// The open journey `key` was seen at every point: it cannot gain another hop, so it is
    /// final now (its queue entry goes stale and is skipped).
    fn complete_now(&mut self, key: u64) {
        if let Some(done) = self.close(key) {
            self.finalize(done.journey);
        }
    }

    /// A packet whose fingerprint opens no journey may be one NAT rewrote: join the open
    /// journey with its NAT-invariant identity that has not reached this point, as a new view.
    /// `nat_fp`: the NAT identity of `seen`'s inner view; `hop` makes the hop at `point` with a
    /// view's index.
    fn join_translated(
        &mut self,
        fp: u64,
        nat_fp: Option<u64>,
        seen: &Packet,
        point: PointIdx,
        hop: impl FnOnce(u8) -> Hop,
    ) -> bool {
        let Some(nat_fp) = nat_fp else { return false };
        let Some(&key) = self.by_nat.get(&nat_fp) else { return false };
        // Inside a tunnel, the translated packet is the inner one.
        let packet = seen.inner_view();
        let (Some(open), Some(addrs)) = (self.open.get_mut(&key), Addrs::of(&packet)) else {
            return false;
        };
        if open.reached(point) {
            return false;
        }
        let views = &mut open.journey.views;
        if views.is_empty() {
            match Addrs::of(&open.journey.packet) {
                Some(first) => {
                    views.push(first);
                    self.translated += 1;
                }
                None => return false,
            }
        }
        let view = match views.iter().position(|v| *v == addrs) {
            Some(i) => i,
            None if views.len() < usize::from(u8::MAX) => {
                views.push(addrs);
                views.len() - 1
            }
            None => return false,
        };
        let view = u8::try_from(view).unwrap_or(0);
        open.aliases.get_or_insert_default().push(fp);
        open.push_hop(hop(view), seen.encap);
        let full = !self.open_ended && open.journey.hops.len() >= self.line.required();
        self.alias.insert(fp, (key, view));
        if full {
            self.complete_now(key);
        }
        true
    }

    /// Take an open journey out, with its NAT entries.
    fn close(&mut self, key: u64) -> Option<Open> {
        let open = self.open.remove(&key)?;
        for a in open.aliases.iter().flat_map(|a| a.iter()) {
            self.alias.remove(a);
        }
        if let Some(n) = open.nat_fp
            && let Entry::Occupied(e) = self.by_nat.entry(n)
            && *e.get() == key
        {
            e.remove();
        }
        Some(open)
    }

    /// Finalize every journey whose window has passed at time `now` (for live tracing, where
    /// time passes without packets).
    pub fn advance_to(&mut self, now: u64) {
        if now > self.watermark {
            self.watermark = now;
        }
        self.expire(false);
    }

    /// Finalize every open journey (end of input).
    pub fn finish(&mut self) {
        self.expire(true);
    }

    /// True when journeys became final since the last [`Self::take_ready`].
    pub fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    /// Journeys that became final since the last call, oldest first.
    pub fn take_ready(&mut self) -> std::vec::Drain<'_, Journey> {
        self.ready.drain(..)
    }

    /// [`Self::take_ready`], each journey handed to `f` with the line (moved once, where a
    /// caller that needs the line too would first collect them).
    pub fn drain_ready(&mut self, mut f: impl FnMut(Journey, &Line)) {
        let line = &self.line;
        for journey in self.ready.drain(..) {
            f(journey, line);
        }
    }

    /// The oldest open journey's window has passed (checked for every sighting).
    #[inline]
    fn expiry_due(&self) -> bool {
        self.queue.front().is_some_and(|q| q.0.saturating_add(self.window_ns) < self.watermark)
    }

    fn expire(&mut self, all: bool) {
        while all || self.expiry_due() {
            let Some((_, fp, serial)) = self.queue.pop_front() else { break };
            // Six cache lines ahead (24-byte entries).
            hint::prefetch_front(&self.queue, 16);
            if self.open.get(&fp).is_some_and(|o| o.serial == serial)
                && let Some(open) = self.close(fp)
            {
                self.finalize(open.journey);
            }
        }
    }

    fn finalize(&mut self, mut journey: Journey) {
        journey.hops.sort_by_key(|h| h.t_ns);
        let dir = self.line.direction_of(&journey.hops);
        self.line.sort_hops(&mut journey.hops, dir.unwrap_or(Direction::Forward));
        if journey.hops.len() == self.line.len() {
            // The order settles within the first journeys; later ones only confirm it.
            self.complete += 1;
            if self.complete <= 256 || self.complete % 1024 == 0 {
                self.line.learn(&journey.hops);
            }
        }
        journey.direction = dir;
        self.ready.push(journey);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_open_journey_fits_in_128_bytes() {
        // Bigger, every move in and out of the table of open journeys calls memcpy.
        assert!(std::mem::size_of::<Open>() <= 128, "{}", std::mem::size_of::<Open>());
    }

    fn obs(point: u16, t: u64, fp: u64) -> Observation {
        Observation {
            point: PointIdx(point),
            t_ns: t,
            frame: t,
            packet: Packet { fp: Some(fp), ..Packet::default() },
        }
    }

    /// An echo request from `src` to `dst` with echo id `id` and IPv4 id `nat` (what its NAT
    /// identity keeps).
    fn echo(point: u16, t: u64, src: [u8; 4], dst: [u8; 4], id: u16, nat: u16) -> Observation {
        use crate::core::packet::{Echo, Icmp, Ip};
        let ip = Ip {
            src: IpAddr::from(src),
            dst: IpAddr::from(dst),
            id: Some(nat),
            proto: 1,
            ttl: 64,
            total_len: 84,
            dont_fragment: true,
            frag_offset: 0,
            more_fragments: false,
        };
        let icmp = Icmp { ty: 8, code: 0, echo: Some(Echo { id, seq: 1 }), quoted: None };
        // The exact fingerprint changes with every rewritten field.
        let fp = u64::from(u32::from_be_bytes(src))
            ^ u64::from(u32::from_be_bytes(dst)) << 32
            ^ u64::from(id);
        let packet = Packet { ip: Some(ip), icmp: Some(icmp), fp: Some(fp), ..Packet::default() };
        Observation { point: PointIdx(point), t_ns: t, frame: t, packet }
    }

    fn correlator(points: usize, window: u64) -> Correlator {
        let mut c = Correlator::new(window);
        for _ in 0..points {
            c.add_point();
        }
        c
    }

    fn points(j: &Journey) -> Vec<u16> {
        j.hops.iter().map(|h| h.point.0).collect()
    }

    #[test]
    fn same_packet_at_several_points_is_one_journey_in_path_order() {
        let mut c = correlator(5, 1000);
        // Bridge (2) ties with the ingress veth (1) and arrives first in the file.
        for o in [obs(0, 10, 7), obs(2, 20, 7), obs(1, 20, 7), obs(3, 30, 7), obs(4, 40, 7)] {
            c.ingest(&o);
        }
        c.finish();
        let journeys: Vec<Journey> = c.take_ready().collect();
        assert_eq!(journeys.len(), 1);
        assert_eq!(points(&journeys[0]), vec![0, 1, 2, 3, 4]);
        assert_eq!(journeys[0].direction, Some(Direction::Forward));
    }

    #[test]
    fn window_bounds_open_journeys_and_retransmissions_are_new_journeys() {
        let mut c = correlator(2, 100);
        c.ingest(&obs(0, 0, 1));
        c.ingest(&obs(1, 5, 1));
        // Same bytes again at point 0 (an ARP retry): a new journey.
        c.ingest(&obs(0, 50, 1));
        assert_eq!(c.take_ready().count(), 1);
        // Time passes beyond the window: the second journey is final too.
        c.ingest(&obs(0, 500, 2));
        let done: Vec<Journey> = c.take_ready().collect();
        assert_eq!(done.len(), 1);
        assert_eq!(points(&done[0]), vec![0]);
        assert_eq!(c.open.len(), 1);
        c.finish();
        assert_eq!(c.take_ready().count(), 1);
    }

    #[test]
    fn a_second_sighting_at_a_point_starts_a_new_journey_at_every_point_index() {
        // Points 0 to 69: below 64 a bit per point says which were reached, from 64 on the hops.
        let mut c = correlator(70, 1_000);
        for (t, p) in [(0, 62), (1, 63), (2, 64), (3, 69), (4, 1)] {
            c.ingest(&obs(p, t, 9));
        }
        assert_eq!(c.take_ready().count(), 0, "five points, none twice: one open journey");
        // Point 0 (whose bit 64 would share, were bits taken modulo 64) is a further hop.
        let again = [(5, 0, 0), (6, 64, 1), (7, 63, 0), (8, 63, 1), (9, 1, 0), (10, 69, 0)];
        for (t, p, done) in again {
            c.ingest(&obs(p, t, 9));
            let ready: Vec<Journey> = c.take_ready().collect();
            assert_eq!(ready.len(), done, "point {p} at {t}");
            if t == 6 {
                assert_eq!(points(&ready[0]), [62, 63, 64, 69, 1, 0]);
            }
            if t == 8 {
                assert_eq!(points(&ready[0]), [64, 63]);
            }
        }
        c.finish();
        let last: Vec<Journey> = c.take_ready().collect();
        assert_eq!(last.len(), 1);
        assert_eq!(points(&last[0]), [63, 1, 69]);
    }

    #[test]
    fn a_masqueraded_packet_stays_one_journey_with_its_snat_note() {
        let mut c = correlator(5, 1000);
        let (inside, router, outside) = ([10, 1, 0, 2], [198, 51, 100, 1], [198, 51, 100, 2]);
        c.ingest(&echo(0, 10, inside, outside, 7, 42));
        c.ingest(&echo(1, 20, inside, outside, 7, 42));
        c.ingest(&echo(2, 20, inside, outside, 7, 42));
        // Masquerade rewrote the source and the echo id.
        c.ingest(&echo(3, 30, router, outside, 900, 42));
        c.ingest(&echo(4, 40, router, outside, 900, 42));
        c.finish();
        let journeys: Vec<Journey> = c.take_ready().collect();
        assert_eq!(journeys.len(), 1);
        let j = &journeys[0];
        assert_eq!(points(j), vec![0, 1, 2, 3, 4]);
        let views: Vec<u8> = j.hops.iter().map(|h| h.view).collect();
        assert_eq!(views, vec![0, 0, 0, 1, 1]);
        let nat = j.nat();
        assert_eq!(nat.len(), 1);
        assert_eq!(nat[0].kind, NatKind::Snat);
        assert_eq!(nat[0].point, PointIdx(3));
        assert_eq!(
            (nat[0].from.to_string(), nat[0].to.to_string()),
            ("10.1.0.2 id 7".into(), "198.51.100.1 id 900".into())
        );
        assert_eq!(j.last_packet().ip.map(|i| i.src), Some(IpAddr::from(router)));
        assert_eq!(j.last_packet().icmp.and_then(|i| i.echo).map(|e| e.id), Some(900));
        assert_eq!(j.first_packet().icmp.and_then(|i| i.echo).map(|e| e.id), Some(7));
        assert_eq!(c.translated, 1);
        // Nothing is left behind once it is final.
        assert!(c.alias.is_empty() && c.by_nat.is_empty() && c.open.is_empty());
    }

    #[test]
    fn nat_identity_never_joins_a_journey_at_a_point_it_reached() {
        let mut c = correlator(3, 1000);
        c.ingest(&echo(0, 10, [10, 0, 0, 1], [10, 0, 0, 2], 1, 5));
        // Another packet with the same NAT identity at the same point: its own journey.
        c.ingest(&echo(0, 11, [10, 0, 0, 3], [10, 0, 0, 2], 1, 5));
        c.finish();
        let journeys: Vec<Journey> = c.take_ready().collect();
        assert_eq!(journeys.len(), 2);
        assert!(journeys.iter().all(|j| j.nat().is_empty() && j.hops.len() == 1));
    }

    #[test]
    fn a_journeys_packet_is_decoded_once_at_its_first_sighting_unless_a_tunnel_carried_it() {
        let mut c = correlator(4, 1000);
        let calls = std::cell::Cell::new(0);
        let (s, d) = ([10, 42, 0, 2], [10, 42, 0, 3]);
        let sightings = [
            echo(0, 10, s, d, 7, 1),
            tunnelled(echo(1, 11, s, d, 7, 1)),
            tunnelled(echo(2, 12, s, d, 7, 1)),
            echo(3, 13, s, d, 7, 1),
        ];
        let mut decoded = Vec::new();
        for o in &sightings {
            let before = calls.get();
            c.ingest_sighting(o.sighting(), |p| {
                calls.set(calls.get() + 1);
                *p = o.packet;
            });
            decoded.push(calls.get() - before);
        }
        // The first sighting starts the journey; the tunnelled ones say which tunnel.
        assert_eq!(decoded, [1, 1, 1, 0]);
        c.finish();
        let done: Vec<Journey> = c.take_ready().collect();
        assert_eq!(done.len(), 1);
        let encaps: Vec<Option<u32>> =
            done[0].hops.iter().map(|h| done[0].encap(h).map(|e| e.vni)).collect();
        assert_eq!(encaps, [None, Some(42), Some(42), None]);
        assert!(std::mem::size_of::<Sighting>() <= 48, "a sighting crosses threads by the million");
    }

    #[test]
    fn packets_without_identity_are_counted_not_joined() {
        let mut c = correlator(1, 100);
        c.ingest(&Observation { point: PointIdx(0), t_ns: 1, frame: 1, packet: Packet::default() });
        c.finish();
        assert_eq!(c.take_ready().count(), 0);
        assert_eq!(c.unidentified, 1);
    }

    /// `o` as an underlay link sees it: inside VXLAN 42 from 10.99.0.1 to 10.99.0.2.
    fn tunnelled(mut o: Observation) -> Observation {
        use crate::core::packet::Encap;
        let inner = o.packet.ip;
        let (a, b) = (IpAddr::from([10, 99, 0, 1]), IpAddr::from([10, 99, 0, 2]));
        o.packet.ip =
            inner.map(|ip| crate::core::packet::Ip { src: a, dst: b, proto: 17, ttl: 64, ..ip });
        o.packet.inner_ip = inner;
        o.packet.encap = Some(Encap { vni: 42, outer_src: a, outer_dst: b, outer_id: Some(9) });
        o
    }

    #[test]
    fn one_journey_through_a_tunnel_with_encap_on_the_underlay_hops() {
        let mut c = Correlator::new(1_000_000);
        for _ in 0..4 {
            c.add_point();
        }
        let (s, d) = ([10, 42, 0, 2], [10, 42, 0, 3]);
        // First seen on the underlay (a capture of the underlay only, or reordered).
        c.ingest(&tunnelled(echo(1, 10, s, d, 7, 1)));
        c.ingest(&echo(0, 5, s, d, 7, 1));
        c.ingest(&tunnelled(echo(2, 12, s, d, 7, 1)));
        c.ingest(&echo(3, 20, s, d, 7, 1));
        c.finish();
        let done: Vec<Journey> = c.take_ready().collect();
        assert_eq!(done.len(), 1, "{done:?}");
        let j = &done[0];
        // The journey is the inner packet's, whichever sighting came first.
        assert_eq!(j.packet.ip.map(|ip| ip.dst), Some(IpAddr::from(d)));
        assert_eq!(j.packet.ports, None);
        let encaps: Vec<Option<u32>> = j.hops.iter().map(|h| j.encap(h).map(|e| e.vni)).collect();
        assert_eq!(encaps, [None, Some(42), Some(42), None]);
        let tunnels: Vec<(u32, PointIdx, PointIdx)> =
            j.tunnels().iter().map(|(e, a, b)| (e.vni, *a, *b)).collect();
        assert_eq!(tunnels, [(42, PointIdx(1), PointIdx(2))]);
    }
}
