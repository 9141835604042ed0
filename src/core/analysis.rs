//! The analysis pipeline shared by `analyze` (files) and live tracing: observations in,
//! exchanges out as they settle, a verdict at the end. Pure.

use std::net::IpAddr;

use crate::core::exchange::{Exchange, ExchangeBuilder, ExchangeKind};
use crate::core::journey::{Correlator, Observation, Sighting};
use crate::core::line::{Line, PointIdx};
use crate::core::packet::Packet;
use crate::core::verdict::{Tally, Verdict};

#[derive(Debug)]
pub struct Analysis {
    correlator: Correlator,
    exchanges: ExchangeBuilder,
    tally: Tally,
    /// Observations per point.
    captured: Vec<u64>,
    ready: Vec<Box<Exchange>>,
    /// The probe's own socket, when vtrace sent the echoes (live `ping`).
    probe: Option<ProbeSocket>,
}

/// vtrace's own probes: ICMP echoes with an id, TCP connects or UDP datagrams to a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    Echo { id: u16 },
    Tcp { dst: IpAddr, port: u16 },
    Udp { dst: IpAddr, port: u16 },
}

impl Probe {
    /// The probe's key in an exchange that is one of these probes: the echo's sequence number,
    /// or the connect's (datagram's) source port.
    fn key_of(self, ex: &Exchange) -> Option<u16> {
        let p = &ex.request.journey.packet;
        match self {
            Probe::Echo { id } => {
                ex.echo().filter(|e| ex.kind.is_echo() && e.id == id).map(|e| e.seq)
            }
            Probe::Tcp { dst, port } | Probe::Udp { dst, port } => {
                let kind = match self {
                    Probe::Tcp { .. } => ExchangeKind::TcpConnect,
                    _ => ExchangeKind::Udp,
                };
                let (ip, ports) = (p.ip?, p.ports?);
                (ex.kind == kind && ip.dst == dst && ports.dst == port).then_some(ports.src)
            }
        }
    }

    /// The kind of exchange the probes make.
    pub fn kind(self) -> ExchangeKind {
        match self {
            Probe::Echo { .. } => ExchangeKind::IcmpEcho,
            Probe::Tcp { .. } => ExchangeKind::TcpConnect,
            Probe::Udp { .. } => ExchangeKind::Udp,
        }
    }
}

/// A trace's probe and what its socket received, kept with a written capture so that `analyze`
/// replays the same verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeRecord {
    pub probe: Probe,
    /// Keys ([`Probe`]'s echo sequence numbers or source ports) of the answers received.
    pub received: Vec<u16>,
}

/// What the probe's socket received: the last point of a reply is the socket, not the source's
/// interface. A reply captured on that interface that never reached the socket died in the
/// source's stack (an input rule, a socket filter): it is lost there.
#[derive(Debug, Clone)]
struct ProbeSocket {
    probe: Probe,
    /// Keys ([`Probe::key_of`]) of the answers the socket received: echo sequence numbers,
    /// source ports of connects that completed or datagrams answered.
    received: std::collections::HashSet<u16>,
}

impl Analysis {
    /// `window_ns`: how long a packet may take across the capture points (and a reply to come).
    pub fn new(window_ns: u64) -> Self {
        Analysis {
            correlator: Correlator::new(window_ns),
            exchanges: ExchangeBuilder::new(window_ns),
            tally: Tally::default(),
            captured: Vec::new(),
            ready: Vec::new(),
            probe: None,
        }
    }

    /// The exchanges of `probe` are the trace's probes (counted in the verdict), and their
    /// answers count only once the probe's socket received them ([`Analysis::delivered`]); call
    /// before the first observation.
    pub fn expect_probe(&mut self, probe: Probe) {
        if let Probe::Udp { dst, port } = probe {
            self.exchanges.probe_udp(dst, port);
        }
        if !matches!(probe, Probe::Echo { .. }) {
            self.tally.probe_with(probe.kind());
        }
        self.probe = Some(ProbeSocket { probe, received: Default::default() });
    }

    /// True when NAT rewrote a packet of the trace on its way.
    pub fn saw_nat(&self) -> bool {
        self.correlator.translated > 0
    }

    /// The probe and what its socket received so far.
    pub fn probe_record(&self) -> Option<ProbeRecord> {
        let p = self.probe.as_ref()?;
        let mut received: Vec<u16> = p.received.iter().copied().collect();
        received.sort_unstable();
        Some(ProbeRecord { probe: p.probe, received })
    }

    /// Replay a recorded probe (offline): call before the first observation.
    pub fn replay_probe(&mut self, record: &ProbeRecord) {
        self.expect_probe(record.probe);
        for &key in &record.received {
            self.delivered(key);
        }
    }

    /// How many of the probe's answers its socket received so far.
    pub fn delivered_count(&self) -> usize {
        self.probe.as_ref().map_or(0, |p| p.received.len())
    }

    /// The probe's socket received the answer with key `seq` (an echo's sequence number, a
    /// connect's or datagram's source port), before the exchange settles: live frames wait in
    /// the reorder buffer far longer than the socket takes.
    pub fn delivered(&mut self, seq: u16) {
        if let Some(p) = self.probe.as_mut() {
            p.received.insert(seq);
        }
    }

    /// The points were added in path order and it is known (live traces): keep it.
    pub fn fix_order(&mut self) {
        self.correlator.fix_order();
    }

    /// More points may be added while journeys are open (a capture of several interfaces at
    /// once reveals them frame by frame): see [`Correlator::points_may_grow`].
    pub fn points_may_grow(&mut self) {
        self.correlator.points_may_grow();
    }

    /// `p` is off the path: captured in case a packet leaves by it ([`Line::mark_branch`]).
    pub fn mark_branch(&mut self, p: PointIdx) {
        self.correlator.mark_branch(p);
    }

    /// Register the next capture point.
    pub fn add_point(&mut self) -> PointIdx {
        self.captured.push(0);
        self.correlator.add_point()
    }

    pub fn line(&self) -> &Line {
        self.correlator.line()
    }

    /// Observations seen per point, by [`PointIdx`].
    pub fn captured(&self) -> &[u64] {
        &self.captured
    }

    pub fn tally(&self) -> &Tally {
        &self.tally
    }

    /// Journeys that were not ARP/ICMP exchanges, and packets without identity.
    pub fn other_counts(&self) -> (u64, u64) {
        (self.exchanges.other_journeys, self.correlator.unidentified)
    }

    pub fn ingest(&mut self, obs: &Observation) {
        self.ingest_sighting(obs.sighting(), |p| *p = obs.packet);
    }

    /// [`Self::ingest`] of a sighting whose packet `packet` decodes when the correlator needs
    /// it ([`Correlator::ingest_sighting`]).
    pub fn ingest_sighting(&mut self, s: Sighting, packet: impl FnOnce(&mut Packet)) {
        if let Some(c) = self.captured.get_mut(s.point.index()) {
            *c += 1;
        }
        self.correlator.ingest_sighting(s, packet);
        self.pump();
    }

    /// Let time pass without packets (live tracing).
    pub fn advance_to(&mut self, now_ns: u64) {
        self.correlator.advance_to(now_ns);
        self.pump();
    }

    /// End of input: settle everything.
    pub fn finish(&mut self) {
        self.correlator.finish();
        self.pump();
        self.exchanges.finish(self.correlator.line());
        self.collect();
    }

    /// Exchanges settled and not yet drained.
    pub fn settled(&self) -> usize {
        self.ready.len()
    }

    /// Call `f` on every exchange settled since the last call, in request order.
    pub fn drain(&mut self, mut f: impl FnMut(Box<Exchange>, &Line)) {
        let line = self.correlator.line();
        for ex in self.ready.drain(..) {
            f(ex, line);
        }
    }

    pub fn verdict(&self, names: &[String], capture_drops: bool) -> Verdict {
        self.tally.verdict(names, capture_drops)
    }

    /// Called for every sighting; journeys end and exchanges settle for few of them: those
    /// that change nothing return here, inline, without the call and stack frame of the rest.
    #[inline]
    fn pump(&mut self) {
        if !self.correlator.has_ready()
            && self.exchanges.calm_at(self.correlator.watermark())
            && !self.exchanges.has_ready()
        {
            return;
        }
        self.pump_all();
    }

    #[inline(never)]
    fn pump_all(&mut self) {
        if self.correlator.has_ready() {
            let exchanges = &mut self.exchanges;
            self.correlator.drain_ready(|journey, line| exchanges.add(journey, line));
        }
        let line = self.correlator.line();
        self.exchanges.release(self.correlator.watermark(), line);
        if self.exchanges.has_ready() {
            self.collect();
        }
    }

    fn collect(&mut self) {
        for mut ex in self.exchanges.take_ready() {
            if let Some(p) = &self.probe {
                mark_probe(&mut ex, p);
            }
            self.tally.add(&ex);
            self.ready.push(ex);
        }
    }
}

/// Mark the probe's exchanges; an answer to one that completed its journey on the wire but never
/// reached the probe's socket is lost after its last point, before the socket (a reset refuses
/// the connect whether or not it arrives: it is not checked).
fn mark_probe(ex: &mut Exchange, socket: &ProbeSocket) {
    let Some(key) = socket.probe.key_of(ex) else { return };
    ex.probe = true;
    ex.expects_reply = true;
    if socket.received.contains(&key) || ex.answer() == Some("rst") {
        return;
    }
    if let Some(reply) = ex.reply.as_mut().filter(|r| r.complete()) {
        let after = reply.journey.last().map(|h| h.point);
        reply.lost = Some(crate::core::exchange::Loss { after, before: None });
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;
    use crate::core::journey::NatKind;
    use crate::core::packet::{Echo, Icmp, Ip, Packet};
    use crate::core::verdict::{Cause, Segment};

    const A: Ipv4Addr = Ipv4Addr::new(172, 18, 0, 2);
    const B: Ipv4Addr = Ipv4Addr::new(172, 18, 0, 3);
    const NAMES: [&str; 5] =
        ["nginx-1/eth0", "host/vethA", "host/docker0", "host/vethB", "nginx-2/eth0"];

    fn echo(src: Ipv4Addr, dst: Ipv4Addr, ty: u8, seq: u16) -> Packet {
        Packet {
            ip: Some(Ip {
                src: IpAddr::V4(src),
                dst: IpAddr::V4(dst),
                id: Some(seq),
                proto: 1,
                ttl: 64,
                total_len: 84,
                dont_fragment: true,
                frag_offset: 0,
                more_fragments: false,
            }),
            icmp: Some(Icmp { ty, code: 0, echo: Some(Echo { id: 7, seq }), quoted: None }),
            fp: Some(u64::from(seq) << 8 | u64::from(ty)),
            ..Packet::default()
        }
    }

    /// Feed `packet` at the given points (path positions), 10 µs apart, starting at `t`.
    fn pass(a: &mut Analysis, packet: Packet, points: &[u16], t: u64) {
        for (i, &p) in points.iter().enumerate() {
            let t_ns = t + 10_000 * i as u64;
            a.ingest(&Observation { point: PointIdx(p), t_ns, frame: t_ns, packet });
        }
    }

    fn lab() -> Analysis {
        let mut a = Analysis::new(1_000_000_000);
        for _ in NAMES {
            a.add_point();
        }
        a
    }

    fn names() -> Vec<String> {
        NAMES.iter().map(|s| (*s).to_owned()).collect()
    }

    fn finish(mut a: Analysis) -> (Vec<Exchange>, crate::core::verdict::Verdict) {
        a.finish();
        let mut out = Vec::new();
        a.drain(|ex, _| out.push(*ex));
        let v = a.verdict(&names(), false);
        (out, v)
    }

    #[test]
    fn answered_echoes_are_reachable_with_rtt() {
        let mut a = lab();
        for seq in 1..=3u16 {
            let t = u64::from(seq) * 200_000_000;
            pass(&mut a, echo(A, B, 8, seq), &[0, 1, 2, 3, 4], t);
            pass(&mut a, echo(B, A, 0, seq), &[4, 3, 2, 1, 0], t + 100_000);
        }
        let (ex, v) = finish(a);
        assert_eq!(ex.len(), 3);
        assert!(ex.iter().all(Exchange::answered));
        assert_eq!(ex[0].rtt_ns, Some(140_000));
        assert_eq!((v.reachable, v.sent, v.received, v.cause), (true, 3, 3, Cause::Ok));
        assert_eq!(v.summary, "3/3 echo replies, 5 hops each way");
    }

    /// `p` as masquerade rewrote it: another source (or destination), another echo id.
    fn rewritten(mut p: Packet, src: Ipv4Addr, dst: Ipv4Addr, id: u16) -> Packet {
        if let Some(ip) = p.ip.as_mut() {
            ip.src = IpAddr::V4(src);
            ip.dst = IpAddr::V4(dst);
        }
        if let Some(e) = p.icmp.as_mut().and_then(|i| i.echo.as_mut()) {
            e.id = id;
        }
        p.fp = p.fp.map(|f| f ^ u64::from(id) << 32 ^ u64::from(u32::from(src)) << 16);
        p
    }

    #[test]
    fn a_masqueraded_echo_and_its_reply_are_one_exchange() {
        // nginx-1 → host (masquerade to R on its uplink, point 3) → the outside O (point 4).
        let (r, o) = (Ipv4Addr::new(198, 51, 100, 1), Ipv4Addr::new(198, 51, 100, 2));
        let mut a = lab();
        let req = echo(A, o, 8, 1);
        pass(&mut a, req, &[0, 1, 2], 0);
        pass(&mut a, rewritten(req, r, o, 900), &[3, 4], 30_000);
        let mut rep = echo(o, r, 0, 1);
        if let Some(e) = rep.icmp.as_mut().and_then(|i| i.echo.as_mut()) {
            e.id = 900;
        }
        pass(&mut a, rep, &[4, 3], 100_000);
        pass(&mut a, rewritten(rep, o, A, 7), &[2, 1, 0], 120_000);
        let (ex, v) = finish(a);
        assert_eq!(ex.len(), 1);
        assert!(ex[0].answered());
        let nat = ex[0].request.journey.nat();
        assert_eq!(nat.len(), 1);
        assert_eq!((nat[0].kind, nat[0].point), (NatKind::Snat, PointIdx(3)));
        assert_eq!(nat[0].to.to_string(), "198.51.100.1 id 900");
        let back = ex[0].reply.as_ref().map(|r| r.journey.nat()).unwrap_or_default();
        assert_eq!(back.len(), 1);
        assert_eq!((back[0].kind, back[0].point), (NatKind::Dnat, PointIdx(2)));
        assert_eq!(
            (back[0].from.to_string(), back[0].to.to_string()),
            ("198.51.100.1 id 900".into(), "172.18.0.2 id 7".into())
        );
        assert_eq!((v.reachable, v.cause, v.lost()), (true, Cause::Ok, false));
    }

    #[test]
    fn a_request_that_vanishes_mid_path_names_the_segment() {
        let mut a = lab();
        pass(&mut a, echo(A, B, 8, 1), &[0, 1, 2], 0);
        let (ex, v) = finish(a);
        let lost = ex[0].request.lost.expect("lost");
        assert_eq!((lost.after, lost.before), (Some(PointIdx(2)), Some(PointIdx(3))));
        assert_eq!((v.reachable, v.cause), (false, Cause::Unknown));
        assert_eq!(
            v.segment,
            Some(Segment { after: Some(PointIdx(2)), before: Some(PointIdx(3)) })
        );
        assert!(v.summary.contains("between host/docker0 and host/vethB"), "{}", v.summary);
    }

    /// Exchanges settle as time passes, not only at the end: an answered one at once, an
    /// unanswered one when the watermark passes its settle time (its first hop plus two
    /// windows), whichever sighting moves the watermark there.
    #[test]
    fn exchanges_settle_when_answered_or_when_their_wait_is_over() {
        let mut a = lab();
        let s = 1_000_000_000;
        pass(&mut a, echo(A, B, 8, 1), &[0, 1, 2, 3, 4], 0);
        assert_eq!(a.settled(), 0, "a request waits for its reply");
        pass(&mut a, echo(B, A, 0, 1), &[4, 3, 2, 1, 0], 100_000);
        assert_eq!(a.settled(), 1, "answered: settled");
        pass(&mut a, echo(A, B, 8, 2), &[0, 1, 2, 3, 4], s);
        // Sightings of other packets move the watermark up to the request's settle time (the
        // journey of the first ends a window later, at 2.5 s, and is paired then)...
        for (seq, t) in [(3, s + s / 2), (4, 3 * s - 50_000)] {
            pass(&mut a, echo(A, B, 8, seq), &[0], t);
            assert_eq!(a.settled(), 1, "at {t} ns the request of {s} ns still waits");
        }
        // ...and past it (its first hop at 1 s, settled after 3 s), a sighting that ends no
        // journey.
        pass(&mut a, echo(A, B, 8, 5), &[0], 3 * s + 1);
        assert_eq!(a.settled(), 2);
        let mut out = Vec::new();
        a.drain(|ex, _| out.push(ex.echo().map(|e| e.seq)));
        assert_eq!(out, [Some(1), Some(2)]);
    }

    #[test]
    fn a_request_that_arrives_unanswered_is_no_reply() {
        let mut a = lab();
        pass(&mut a, echo(A, B, 8, 1), &[0, 1, 2, 3, 4], 0);
        let (_, v) = finish(a);
        assert_eq!(v.cause, Cause::NoReply);
        assert_eq!(v.segment, Some(Segment { after: Some(PointIdx(4)), before: None }));
    }

    /// A's eth0 capture missed the second request, first seen on vethA: A was then taken to
    /// live on vethA, and the reply lost between vethA and A's eth0 for answered (2/2). A's
    /// packets were seen entering at eth0 before: an address does not move.
    #[test]
    fn a_capture_that_misses_the_first_hop_does_not_move_the_source() {
        let mut a = lab();
        pass(&mut a, echo(A, B, 8, 1), &[0, 1, 2, 3, 4], 0);
        pass(&mut a, echo(B, A, 0, 1), &[4, 3, 2, 1, 0], 100_000);
        pass(&mut a, echo(A, B, 8, 2), &[1, 2, 3, 4], 200_000_000);
        pass(&mut a, echo(B, A, 0, 2), &[4, 3, 2, 1], 200_100_000);
        let (ex, v) = finish(a);
        let lost = ex[1].reply.as_ref().and_then(|r| r.lost).expect("the second reply is lost");
        assert_eq!((lost.after, lost.before), (Some(PointIdx(1)), Some(PointIdx(0))));
        assert_eq!((v.sent, v.received), (2, 1));
    }

    #[test]
    fn a_destination_that_lives_mid_path_is_not_a_loss() {
        // Pinging the gateway on the bridge: requests end at docker0, replies start there.
        let gw = Ipv4Addr::new(172, 18, 0, 1);
        let mut a = lab();
        pass(&mut a, echo(A, gw, 8, 1), &[0, 1, 2], 0);
        pass(&mut a, echo(gw, A, 0, 1), &[2, 1, 0], 50_000);
        let (ex, v) = finish(a);
        assert!(ex[0].answered(), "{ex:?}");
        assert_eq!((v.reachable, v.cause), (true, Cause::Ok));
    }

    /// A reply seen at several points within one nanosecond (the gateway on the bridge answers,
    /// and vethA and eth0 stamp the reply the same): its hops do not tell which way it went, and
    /// were listed forward (eth0 first), so the gateway seemed to live on eth0 and later
    /// requests to it that stopped short were taken for complete. It went back the way its
    /// request came.
    #[test]
    fn a_reply_whose_hops_tie_goes_back_the_way_its_request_came() {
        let gw = Ipv4Addr::new(172, 18, 0, 1);
        let mut a = lab();
        pass(&mut a, echo(A, gw, 8, 1), &[0, 1, 2], 0);
        for p in [2, 1, 0] {
            a.ingest(&Observation {
                point: PointIdx(p),
                t_ns: 90_000,
                frame: 9,
                packet: echo(gw, A, 0, 1),
            });
        }
        // The next request stops at vethA: lost before the bridge, where the gateway lives.
        pass(&mut a, echo(A, gw, 8, 2), &[0, 1], 200_000_000);
        let (ex, v) = finish(a);
        let reply = ex[0].reply.as_ref().expect("paired");
        let hops: Vec<u16> = reply.journey.hops.iter().map(|h| h.point.0).collect();
        assert_eq!(hops, vec![2, 1, 0]);
        assert!(ex[0].answered(), "{ex:?}");
        let lost = ex[1].request.lost.expect("the second request is lost");
        assert_eq!((lost.after, lost.before), (Some(PointIdx(1)), Some(PointIdx(2))));
        assert_eq!((v.sent, v.received), (2, 1));
    }

    /// The gateway's host unreachable quoting the echo request A → B `seq`.
    fn unreachable(seq: u16) -> Packet {
        let mut unreachable = echo(Ipv4Addr::new(172, 18, 0, 1), A, 3, 0);
        unreachable.icmp = Some(Icmp {
            ty: 3,
            code: 1,
            echo: None,
            quoted: Some(crate::core::packet::Quoted {
                src: IpAddr::V4(A),
                dst: IpAddr::V4(B),
                proto: 1,
                id: Some(seq),
                echo: Some(Echo { id: 7, seq }),
                ports: None,
            }),
        });
        unreachable.fp = Some(999);
        unreachable
    }

    #[test]
    fn icmp_errors_are_linked_to_the_echo_they_quote() {
        let mut a = lab();
        pass(&mut a, echo(A, B, 8, 1), &[0, 1, 2], 0);
        pass(&mut a, unreachable(1), &[2, 1, 0], 3_000_000);
        let (ex, v) = finish(a);
        assert_eq!(ex.len(), 1, "{ex:?}");
        assert_eq!(ex[0].errors.len(), 1);
        let hops: Vec<u16> = ex[0].errors[0].journey.hops.iter().map(|h| h.point.0).collect();
        assert_eq!(hops, vec![2, 1, 0]);
        assert_eq!(v.sent, 1);
        assert!(!v.reachable);
    }

    /// An error whose journey becomes final before the request it quotes (its points handed
    /// over first, or its first hop at the request's nanosecond) waits for it, like a reply:
    /// it was reported as a lone icmp-error beside an exchange without errors.
    #[test]
    fn an_icmp_error_final_before_its_request_is_still_linked() {
        let mut a = lab();
        pass(&mut a, unreachable(1), &[2, 1, 0], 3_000_000);
        pass(&mut a, echo(A, B, 8, 1), &[0, 1, 2], 0);
        let (ex, _) = finish(a);
        assert_eq!(ex.len(), 1, "{ex:?}");
        assert_eq!(ex[0].errors.len(), 1, "{ex:?}");
    }

    /// An error stamped at one nanosecond on the bridge and vethA (and lost before eth0) was
    /// listed forward, vethA first, and so lost after the bridge: it goes back the way the
    /// request it quotes came.
    #[test]
    fn an_icmp_error_whose_hops_tie_goes_back_the_way_its_request_came() {
        let mut a = lab();
        pass(&mut a, echo(A, B, 8, 1), &[0, 1, 2], 0);
        for p in [2, 1] {
            let packet = unreachable(1);
            a.ingest(&Observation { point: PointIdx(p), t_ns: 50_000, frame: 5, packet });
        }
        let (ex, _) = finish(a);
        let error = &ex[0].errors[0];
        let hops: Vec<u16> = error.journey.hops.iter().map(|h| h.point.0).collect();
        assert_eq!(hops, vec![2, 1]);
        let lost = error.lost.expect("lost before eth0");
        assert_eq!((lost.after, lost.before), (Some(PointIdx(1)), Some(PointIdx(0))));
    }

    #[test]
    fn capture_drops_forbid_blaming_the_network() {
        let mut a = lab();
        pass(&mut a, echo(A, B, 8, 1), &[0, 1], 0);
        a.finish();
        let v = a.verdict(&names(), true);
        assert_eq!(v.cause, Cause::CaptureGap);
    }
}
