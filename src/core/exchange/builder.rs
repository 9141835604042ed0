//! Pairing final journeys into exchanges: what each packet is (a request, the reply that
//! answers it, an ICMP error quoting it, or a packet of its own), requests waiting for their
//! replies until their settle time, replies and errors waiting for a request that becomes final
//! after them, losses placed on the line, and every leg oriented the way it went. Pure.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use foldhash::fast::FixedState;

use super::{Exchange, ExchangeKind, Leg, Loss};
use crate::core::hint;
use crate::core::journey::Journey;
use crate::core::line::{Direction, Line, PointIdx};
use crate::core::packet::{Arp, Packet, Ports};
use crate::core::recycle;

/// What pairs a request with its reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum PairKey {
    Arp { asker: Ipv4Addr, target: Ipv4Addr },
    Echo { from: IpAddr, to: IpAddr, id: u16, seq: u16 },
    Ndp { target: Ipv6Addr },
    Tcp { from: IpAddr, to: IpAddr, sport: u16, dport: u16 },
    Udp { from: IpAddr, to: IpAddr, sport: u16, dport: u16 },
}

/// The key of the packet an ICMP error quotes: an echo, or a TCP/UDP packet by its ports.
fn quoted_key(q: &crate::core::packet::Quoted) -> Option<PairKey> {
    if let Some(e) = q.echo {
        return Some(PairKey::Echo { from: q.src, to: q.dst, id: e.id, seq: e.seq });
    }
    let (sport, dport) = q.ports?;
    let (from, to) = (q.src, q.dst);
    match q.proto {
        Ports::TCP => Some(PairKey::Tcp { from, to, sport, dport }),
        Ports::UDP => Some(PairKey::Udp { from, to, sport, dport }),
        _ => None,
    }
}

/// The role of a UDP datagram when UDP to its destination is probed: a datagram to a probed
/// address and port is a request, one from it a reply. Other UDP stands alone.
fn udp_role(p: &Packet, probes: &[(IpAddr, u16)]) -> Option<Role> {
    let (ip, u) = (p.ip?, p.ports.filter(|u| u.proto == Ports::UDP)?);
    if probes.contains(&(ip.dst, u.dst)) {
        let key = PairKey::Udp { from: ip.src, to: ip.dst, sport: u.src, dport: u.dst };
        Some(Role::Request(ExchangeKind::Udp, key))
    } else if probes.contains(&(ip.src, u.src)) {
        Some(Role::Reply(PairKey::Udp { from: ip.dst, to: ip.src, sport: u.dst, dport: u.src }))
    } else {
        None
    }
}

/// What a journey's packet is, for pairing.
enum Role {
    Request(ExchangeKind, PairKey),
    Reply(PairKey),
    Error {
        quoted: PairKey,
    },
    /// A packet that expects no answer but is still reported (gratuitous ARP).
    Lone(ExchangeKind),
    Other,
}

fn role(p: &Packet) -> Role {
    if let Some(arp) = p.arp {
        let (Some(spa), Some(tpa)) = (arp.spa, arp.tpa) else {
            return Role::Lone(ExchangeKind::Arp);
        };
        return match arp.op {
            Arp::REQUEST if spa != tpa && !spa.is_unspecified() => {
                Role::Request(ExchangeKind::Arp, PairKey::Arp { asker: spa, target: tpa })
            }
            Arp::REPLY => Role::Reply(PairKey::Arp { asker: tpa, target: spa }),
            _ => Role::Lone(ExchangeKind::Arp),
        };
    }
    let Some(ip) = p.ip else { return Role::Other };
    if let Some(icmp) = p.icmp {
        return match (icmp.ty, icmp.echo, icmp.quoted) {
            (8, Some(e), _) => Role::Request(
                ExchangeKind::IcmpEcho,
                PairKey::Echo { from: ip.src, to: ip.dst, id: e.id, seq: e.seq },
            ),
            (0, Some(e), _) => {
                Role::Reply(PairKey::Echo { from: ip.dst, to: ip.src, id: e.id, seq: e.seq })
            }
            (_, _, Some(q)) => match quoted_key(&q) {
                Some(quoted) => Role::Error { quoted },
                None => Role::Lone(ExchangeKind::IcmpError),
            },
            _ => Role::Other,
        };
    }
    if let Some(icmp) = p.icmpv6 {
        return match (icmp.ty, icmp.echo, icmp.ndp_target, icmp.quoted) {
            (128, Some(e), _, _) => Role::Request(
                ExchangeKind::Icmpv6Echo,
                PairKey::Echo { from: ip.src, to: ip.dst, id: e.id, seq: e.seq },
            ),
            (129, Some(e), _, _) => {
                Role::Reply(PairKey::Echo { from: ip.dst, to: ip.src, id: e.id, seq: e.seq })
            }
            (135, _, Some(t), _) => Role::Request(ExchangeKind::Ndp, PairKey::Ndp { target: t }),
            (136, _, Some(t), _) => Role::Reply(PairKey::Ndp { target: t }),
            (_, _, _, Some(q)) => match quoted_key(&q) {
                Some(quoted) => Role::Error { quoted },
                None => Role::Lone(ExchangeKind::IcmpError),
            },
            _ => Role::Other,
        };
    }
    match p.ports {
        Some(t) if t.proto == Ports::TCP => {
            if t.flags & Ports::RST != 0 && t.flags & Ports::SYN == 0 {
                // A reset answers the SYN it refuses (and ends any other segment's connection:
                // with no SYN pending it stands alone).
                return Role::Reply(PairKey::Tcp {
                    from: ip.dst,
                    to: ip.src,
                    sport: t.dst,
                    dport: t.src,
                });
            }
            match (t.flags & Ports::SYN != 0, t.flags & Ports::ACK != 0) {
                (true, false) => Role::Request(
                    ExchangeKind::TcpConnect,
                    PairKey::Tcp { from: ip.src, to: ip.dst, sport: t.src, dport: t.dst },
                ),
                (true, true) => Role::Reply(PairKey::Tcp {
                    from: ip.dst,
                    to: ip.src,
                    sport: t.dst,
                    dport: t.src,
                }),
                _ => Role::Lone(ExchangeKind::Tcp),
            }
        }
        Some(u) if u.proto == Ports::UDP => Role::Lone(ExchangeKind::Udp),
        _ => Role::Other,
    }
}

/// Source and destination addresses a packet is about (IP, or ARP sender/target).
fn addresses(p: &Packet) -> (Option<IpAddr>, Option<IpAddr>) {
    if let Some(arp) = p.arp {
        return (arp.spa.map(IpAddr::V4), arp.tpa.map(IpAddr::V4));
    }
    match p.ip {
        Some(ip) => {
            let dst = p.icmpv6.and_then(|i| i.ndp_target).map_or(ip.dst, IpAddr::V6);
            (Some(ip.src), Some(dst))
        }
        None => (None, None),
    }
}

#[derive(Debug)]
struct Pending {
    serial: u64,
    key: PairKey,
    /// The key of the request as it arrived, when NAT changed it.
    alt: Option<PairKey>,
    /// `None` once released (answered before older requests settled). Boxed: the queue holds
    /// a window's requests, and a slot this small keeps it in cache (an exchange is ~300 bytes).
    exchange: Option<Box<Exchange>>,
    /// When it settles unanswered: its request's first hop plus the settle time (kept here,
    /// where every sighting's check reads it, not in the exchange behind the box).
    due: u64,
}

/// Pairs final journeys into exchanges.
#[derive(Debug)]
pub struct ExchangeBuilder {
    settle_ns: u64,
    pending: VecDeque<Pending>,
    by_key: HashMap<PairKey, u64, FixedState>,
    serial: u64,
    /// Where each address's packets enter the line (learned from their first hop, the furthest
    /// back it was seen).
    location: HashMap<IpAddr, PointIdx, FixedState>,
    /// Boxed from the request on: an exchange (~300 bytes) moves on by pointer.
    ready: Vec<Box<Exchange>>,
    /// Replies whose request has not been seen (yet): a request journey can become final after
    /// its reply's (a point missed the request), so a reply waits for it until its settle time.
    orphans: HashMap<PairKey, Journey, FixedState>,
    /// ICMP errors whose quoted request has not been seen (yet): they wait for it like replies
    /// (an error can become final first, its first hop at the same nanosecond as the request's
    /// or its points handed over first).
    orphan_errors: HashMap<PairKey, Vec<Journey>, FixedState>,
    /// The orphans' keys and first times, oldest first.
    orphan_order: VecDeque<(u64, PairKey, Waiting)>,
    /// Journeys that are neither requests, replies nor errors (TCP, UDP, other).
    pub other_journeys: u64,
    /// Destinations (address, port) whose UDP datagrams are probes: paired with what answers.
    udp_probes: Vec<(IpAddr, u16)>,
    /// Up to this watermark nothing waiting is due ([`Self::calm`]; `None`: look). Every
    /// sighting asks; journeys that change the queues come one in several sightings.
    calm_until: Option<u64>,
}

/// What an orphan is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Waiting {
    Reply,
    Error,
}

/// Addresses remembered before the location table is cleared (bounds memory).
const MAX_LOCATIONS: usize = 1 << 16;

impl ExchangeBuilder {
    /// `window_ns`: the correlator's window; a request waits two windows for its reply.
    pub fn new(window_ns: u64) -> Self {
        ExchangeBuilder {
            settle_ns: window_ns.saturating_mul(2),
            pending: VecDeque::new(),
            by_key: HashMap::with_hasher(FixedState::with_seed(0)),
            serial: 0,
            location: HashMap::with_hasher(FixedState::with_seed(0)),
            ready: Vec::new(),
            orphans: HashMap::with_hasher(FixedState::with_seed(0)),
            orphan_errors: HashMap::with_hasher(FixedState::with_seed(0)),
            orphan_order: VecDeque::new(),
            other_journeys: 0,
            udp_probes: Vec::new(),
            calm_until: None,
        }
    }

    /// UDP datagrams to `dst`:`port` are probes: each is a request, and a datagram back from
    /// there (or an ICMP error quoting it) its answer.
    pub fn probe_udp(&mut self, dst: IpAddr, port: u16) {
        if !self.udp_probes.contains(&(dst, port)) {
            self.udp_probes.push((dst, port));
        }
    }

    /// Add a final journey.
    pub fn add(&mut self, journey: Journey, line: &Line) {
        self.calm_until = None;
        // Hops that all tie say nothing of where the packet entered: such a journey is learnt
        // from once its exchange has oriented it.
        if journey.direction.is_some() || journey.hops.len() < 2 {
            self.learn_location(&journey, line);
        }
        // Across NAT a packet is paired as it left (a reply captured on the sender's side
        // matches it so) and as it arrived (a reply starts where its request ended).
        let first = journey.first_packet();
        let role_of = |p: &Packet| udp_role(p, &self.udp_probes).unwrap_or_else(|| role(p));
        let arrived = journey.translated().then(|| role_of(&journey.last_packet()));
        match role_of(&first) {
            Role::Request(kind, key) => {
                self.serial += 1;
                self.by_key.insert(key, self.serial);
                let alt = match arrived {
                    Some(Role::Request(_, k)) if k != key => Some(k),
                    _ => None,
                };
                if let Some(k) = alt {
                    self.by_key.insert(k, self.serial);
                }
                let t = journey.first_t();
                let mut exchange = recycle::boxed(Exchange {
                    kind,
                    request: Leg { journey, lost: None, netfilter: Vec::new() },
                    reply: None,
                    errors: Vec::new(),
                    rtt_ns: None,
                    expects_reply: true,
                    probe: false,
                });
                // Orphans are rare: no lookups while there is none.
                let orphan = match self.orphans.is_empty() {
                    true => None,
                    false => self
                        .orphans
                        .remove(&key)
                        .or_else(|| alt.and_then(|k| self.orphans.remove(&k))),
                };
                if let Some(reply) = orphan {
                    if reply.first_t() >= t {
                        exchange.reply =
                            Some(Leg { journey: reply, lost: None, netfilter: Vec::new() });
                    } else {
                        // It answered an earlier request.
                        self.lone(ExchangeKind::from_reply(&reply.packet), reply, line);
                    }
                }
                let errors: Vec<Journey> = match self.orphan_errors.is_empty() {
                    true => Vec::new(),
                    false => [Some(key), alt]
                        .into_iter()
                        .flatten()
                        .flat_map(|k| self.orphan_errors.remove(&k).into_iter().flatten())
                        .collect(),
                };
                for error in errors {
                    if error.first_t() >= t {
                        exchange.errors.push(Leg {
                            journey: error,
                            lost: None,
                            netfilter: Vec::new(),
                        });
                    } else {
                        // It quoted an earlier request.
                        self.lone(ExchangeKind::IcmpError, error, line);
                    }
                }
                let serial = self.serial;
                if exchange.reply.is_some() {
                    // Answered already: released now, its slot kept for the order of the rest.
                    self.pending.push_back(Pending { serial, key, alt, exchange: None, due: 0 });
                    self.emit(serial, (key, alt), exchange, line);
                } else {
                    let (exchange, due) = (Some(exchange), t.saturating_add(self.settle_ns));
                    self.pending.push_back(Pending { serial, key, alt, exchange, due });
                }
            }
            Role::Reply(key) => {
                let key = match arrived {
                    Some(Role::Reply(k)) if self.find(key).is_none() && self.find(k).is_some() => k,
                    _ => key,
                };
                match self.find(key) {
                    Some(slot) => {
                        if let Some(mut ex) = slot.exchange.take() {
                            ex.reply = Some(Leg { journey, lost: None, netfilter: Vec::new() });
                            let (serial, keys) = (slot.serial, (slot.key, slot.alt));
                            self.emit(serial, keys, ex, line);
                        }
                    }
                    None => self.orphan(key, journey, line),
                }
            }
            Role::Error { quoted } => match self.find(quoted).and_then(|p| p.exchange.as_mut()) {
                Some(ex) => ex.errors.push(Leg { journey, lost: None, netfilter: Vec::new() }),
                None => {
                    self.orphan_order.push_back((journey.first_t(), quoted, Waiting::Error));
                    self.orphan_errors.entry(quoted).or_default().push(journey);
                }
            },
            Role::Lone(kind) => self.lone(kind, journey, line),
            Role::Other => self.other_journeys += 1,
        }
    }

    /// Release exchanges that are answered or whose settle time passed at `watermark`.
    /// Called for every sighting, it checks inline whether anything is due at all.
    #[inline]
    pub fn release(&mut self, watermark: u64, line: &Line) {
        if self.calm_at(watermark) {
            return;
        }
        if self.pending_due(watermark) || self.orphan_due(watermark) {
            self.release_due(watermark, line);
        }
        self.calm_until = self.calm();
    }

    /// True when nothing waiting is due at `watermark` (known without looking at the queues).
    #[inline]
    pub fn calm_at(&self, watermark: u64) -> bool {
        self.calm_until.is_some_and(|calm| watermark <= calm)
    }

    /// The latest watermark at which nothing waiting is due, as the queues stand (`None`: the
    /// oldest request is answered, due at any watermark).
    fn calm(&self) -> Option<u64> {
        let pending = match self.pending.front() {
            Some(p) if p.exchange.is_none() => return None,
            Some(p) => p.due,
            None => u64::MAX,
        };
        let orphan =
            self.orphan_order.front().map_or(u64::MAX, |o| o.0.saturating_add(self.settle_ns));
        Some(pending.min(orphan))
    }

    fn release_due(&mut self, watermark: u64, line: &Line) {
        while self.pending_due(watermark) {
            let front = self.pending.pop_front();
            // Six cache lines ahead (104-byte entries).
            hint::prefetch_front(&self.pending, 4);
            if let Some(Pending { serial, key, alt, exchange: Some(ex), .. }) = front {
                self.emit(serial, (key, alt), ex, line);
            }
        }
        while self.orphan_due(watermark) {
            if let Some((t, key, what)) = self.orphan_order.pop_front() {
                self.release_orphan(t, key, what, line);
            }
        }
    }

    /// The oldest pending request is released (answered already, or its settle time passed).
    fn pending_due(&self, watermark: u64) -> bool {
        self.pending.front().is_some_and(|p| p.exchange.is_none() || p.due < watermark)
    }

    /// The oldest orphan's wait for its request is over.
    fn orphan_due(&self, watermark: u64) -> bool {
        self.orphan_order.front().is_some_and(|o| o.0.saturating_add(self.settle_ns) < watermark)
    }

    /// Release everything (end of input).
    pub fn finish(&mut self, line: &Line) {
        self.calm_until = None;
        while let Some(p) = self.pending.pop_front() {
            if let Some(ex) = p.exchange {
                self.emit(p.serial, (p.key, p.alt), ex, line);
            }
        }
        while let Some((t, key, what)) = self.orphan_order.pop_front() {
            self.release_orphan(t, key, what, line);
        }
    }

    /// Hold a reply whose request was not seen, until its request comes or its settle time ends.
    fn orphan(&mut self, key: PairKey, journey: Journey, line: &Line) {
        let t = journey.first_t();
        if let Some(older) = self.orphans.insert(key, journey) {
            // A second reply with the same key: the first one waited long enough.
            self.lone(ExchangeKind::from_reply(&older.packet), older, line);
        }
        self.orphan_order.push_back((t, key, Waiting::Reply));
    }

    /// Report the orphan reply (or the orphan errors) first seen at `t` as lone exchanges if
    /// they are still waiting.
    fn release_orphan(&mut self, t: u64, key: PairKey, what: Waiting, line: &Line) {
        if what == Waiting::Error {
            let Some(errors) = self.orphan_errors.get_mut(&key) else { return };
            let (done, waiting): (Vec<Journey>, Vec<Journey>) =
                errors.drain(..).partition(|j| j.first_t() <= t);
            *errors = waiting;
            if errors.is_empty() {
                self.orphan_errors.remove(&key);
            }
            for j in done {
                self.lone(ExchangeKind::IcmpError, j, line);
            }
            return;
        }
        if self.orphans.get(&key).is_some_and(|j| j.first_t() == t)
            && let Some(j) = self.orphans.remove(&key)
        {
            self.lone(ExchangeKind::from_reply(&j.packet), j, line);
        }
    }

    /// True when exchanges were released since the last [`Self::take_ready`].
    pub fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    /// Exchanges released since the last call, in request order.
    pub fn take_ready(&mut self) -> std::vec::Drain<'_, Box<Exchange>> {
        self.ready.drain(..)
    }

    /// The pending exchange of the latest request with this key, if not yet released.
    fn find(&mut self, key: PairKey) -> Option<&mut Pending> {
        let serial = *self.by_key.get(&key)?;
        let first = self.pending.front()?.serial;
        let idx = usize::try_from(serial.checked_sub(first)?).ok()?;
        self.pending.get_mut(idx).filter(|p| p.serial == serial && p.exchange.is_some())
    }

    fn lone(&mut self, kind: ExchangeKind, journey: Journey, line: &Line) {
        let lost = self.loss(&journey, line);
        self.ready.push(recycle::boxed(Exchange {
            kind,
            request: Leg { journey, lost, netfilter: Vec::new() },
            reply: None,
            errors: Vec::new(),
            rtt_ns: None,
            expects_reply: false,
            probe: false,
        }));
    }

    fn emit(
        &mut self,
        serial: u64,
        keys: (PairKey, Option<PairKey>),
        mut exchange: Box<Exchange>,
        line: &Line,
    ) {
        for key in [Some(keys.0), keys.1].into_iter().flatten() {
            if let Entry::Occupied(e) = self.by_key.entry(key)
                && *e.get() == serial
            {
                e.remove();
            }
        }
        orient(&mut exchange, line, |turned| self.learn_location(turned, line));
        exchange.request.lost = self.loss(&exchange.request.journey, line);
        if let Some(reply) = exchange.reply.as_mut() {
            reply.lost = self.loss(&reply.journey, line);
        }
        for e in &mut exchange.errors {
            e.lost = self.loss(&e.journey, line);
        }
        exchange.rtt_ns = rtt(&exchange);
        self.ready.push(exchange);
    }

    /// Where `j`'s source enters the line: its first hop, unless its packets were already seen
    /// entering further back (the capture there missed this one: an address does not move).
    fn learn_location(&mut self, j: &Journey, line: &Line) {
        let (Some(src), Some(first)) = (addresses(&j.first_packet()).0, j.first()) else { return };
        if src.is_unspecified() {
            return;
        }
        // One lookup where the address is known (nearly always, and at the same point).
        if let Some(known) = self.location.get_mut(&src) {
            let (was, new) = (line.position(*known), line.position(first.point));
            let further_back = match j.direction {
                Some(Direction::Forward) => was < new,
                Some(Direction::Backward) => was > new,
                // One hop (or hops that all tie) say nothing of where the packet entered.
                None => true,
            };
            if !further_back {
                *known = first.point;
            }
            return;
        }
        if self.location.len() >= MAX_LOCATIONS {
            self.location.clear();
        }
        self.location.insert(src, first.point);
    }

    /// A journey is lost when it stops before the point where its destination's packets enter
    /// the line (when known and ahead of it) or else before the end of the line.
    fn loss(&self, j: &Journey, line: &Line) -> Option<Loss> {
        let n = line.len();
        let (first, last) = (j.first()?, j.last()?);
        if n < 2 {
            return None;
        }
        let (p_first, p_last) = (line.position(first.point), line.position(last.point));
        // At the end of the line in its direction (nearly every journey): it reached any end
        // below, wherever it was going, and its destination need not be looked up.
        match j.direction {
            Some(Direction::Forward) if p_last >= n - 1 => return None,
            Some(Direction::Backward) if p_last == 0 => return None,
            _ => {}
        }
        // Where it was going when last seen (after any DNAT).
        let dst_pos = addresses(&j.last_packet())
            .1
            .and_then(|d| self.location.get(&d))
            .map(|&p| line.position(p))
            .filter(|&p| p < n);
        let dir = j.direction.unwrap_or(match dst_pos {
            Some(d) if d < p_first => Direction::Backward,
            Some(_) => Direction::Forward,
            None if p_first == n - 1 && n > 1 => Direction::Backward,
            None => Direction::Forward,
        });
        let (reached, next) = match dir {
            Direction::Forward => {
                let end = dst_pos.filter(|&d| d >= p_first).unwrap_or(n - 1);
                (p_last >= end, p_last.saturating_add(1))
            }
            Direction::Backward => {
                let end = dst_pos.filter(|&d| d <= p_first).unwrap_or(0);
                (p_last <= end, p_last.wrapping_sub(1))
            }
        };
        if reached {
            return None;
        }
        // Last seen leaving by a branch: nothing was to see it after that.
        let before = if line.is_branch(last.point) { None } else { line.at(next) };
        Some(Loss { after: Some(last.point), before })
    }
}

impl ExchangeKind {
    fn from_reply(p: &Packet) -> ExchangeKind {
        if p.arp.is_some() {
            ExchangeKind::Arp
        } else if p.ports.is_some_and(|t| t.proto == Ports::TCP && t.flags & Ports::SYN != 0) {
            ExchangeKind::TcpConnect
        } else if p.ports.is_some_and(|t| t.proto == Ports::TCP) {
            // A reset nothing was waiting for: a segment of its own.
            ExchangeKind::Tcp
        } else if p.ports.is_some_and(|t| t.proto == Ports::UDP) {
            ExchangeKind::Udp
        } else if p.icmpv6.is_some_and(|i| i.ty == 136) {
            ExchangeKind::Ndp
        } else if p.icmpv6.is_some() {
            ExchangeKind::Icmpv6Echo
        } else {
            ExchangeKind::IcmpEcho
        }
    }
}

/// Give a leg that does not know its direction (its hops all share one timestamp, or there is
/// one) the way the exchange says: a reply goes back the way its request came, and the request
/// the other way from its reply; an ICMP error goes back the way the request it quotes came.
/// The correlator lists tied hops forward, so a leg turned backward is re-sorted; `turned` sees
/// each leg with several hops that was turned (its first hop is now where it entered the line).
fn orient(ex: &mut Exchange, line: &Line, mut turned: impl FnMut(&Journey)) {
    let mut turn = |j: &mut Journey, dir: Direction| {
        if j.direction.is_some() {
            return;
        }
        j.direction = Some(dir);
        if j.hops.len() > 1 {
            line.sort_hops(&mut j.hops, dir);
            turned(j);
        }
    };
    if let Some(reply) = ex.reply.as_mut() {
        match (ex.request.journey.direction, reply.journey.direction) {
            (Some(d), None) => turn(&mut reply.journey, d.reverse()),
            (None, Some(d)) => turn(&mut ex.request.journey, d.reverse()),
            _ => {}
        }
    }
    if let Some(d) = ex.request.journey.direction {
        for e in &mut ex.errors {
            turn(&mut e.journey, d.reverse());
        }
    }
}

/// Reply time at the request's first point minus the request's time there.
fn rtt(ex: &Exchange) -> Option<u64> {
    let start = ex.request.journey.first()?;
    let back = ex.reply.as_ref()?.journey.hops.iter().find(|h| h.point == start.point)?;
    back.t_ns.checked_sub(start.t_ns)
}
