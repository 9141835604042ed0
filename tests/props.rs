//! Property tests of the correlator (journeys → exchanges → verdict) and the decoder.
//!
//! The scenario generator ([`Plan`]) sends ARP and ICMP echo exchanges along a line of five
//! capture points (A/eth0, vethA, bridge, vethB, B/eth0) between three hosts: A at the left end,
//! B at the right end and the gateway, whose address lives on the bridge. It makes what real
//! captures make and the correlator must cope with:
//!
//! - timestamp ties: several points seeing a packet at the same nanosecond (a bridge and its
//!   ingress port), and packets of different exchanges at the same nanosecond;
//! - mid-path gaps: a point whose capture missed a packet seen before and after it;
//! - losses: a request or a reply that stops after some point, and replies that never come;
//! - overlapping exchanges (the next request leaves before the previous reply arrives) of several
//!   flows (host pairs both ways, echo ids shared or not), interleaved;
//! - the gateway's ICMP errors quoting a request lost past the bridge, themselves lost or not;
//! - a probe (vtrace sent A's echoes to B): a reply counts once its socket received it.
//!
//! It also says where every packet went (its ground truth, [`Want`]), and the properties compare
//! the analysis with it, not only with itself:
//!
//! - Truth: every generated exchange is one exchange of the analysis whose request and reply have
//!   exactly the hops (point, timestamp) the generator emitted for that packet, in the order the
//!   packet passed them; a leg is lost exactly when the generator dropped it, with the segment
//!   DESIGN.md defines ("the last point that saw the packet and the first one that should have
//!   and did not"): for a mid-path gap that reading makes the gap no loss at all — the packet was
//!   seen after it — and a packet lost further on is lost after the last point that saw it,
//!   before the next point of its path (a probe's reply that reached A's eth0 and not its socket
//!   is lost after eth0, before nothing). The reply is paired with its own request and each
//!   error with the request it quotes; the verdict's sent, received, reachable and causes (each
//!   distinct way probes were lost, with its count, most first) are those of the generated
//!   exchanges.
//! - Order: the same holds whatever order the observations are ingested in: in time order with
//!   ties in any order (live captures go through a reorder buffer), with each point's
//!   observations in their own order but the points interleaved any way, or in any order at all
//!   within one window.
//! - Robustness: arbitrary bytes as frames of any link type, at arbitrary times and points,
//!   never make the decoder or the analysis panic, and every frame is counted.
//!
//! Replay: the seed comes from `VTRACE_TEST_SEED` (else the clock) and is printed; proptest
//! keeps the seed of every failure in tests/props.proptest-regressions and replays those first.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::{IpAddr, Ipv4Addr};

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

use vtrace::core::analysis::Analysis;
use vtrace::core::decode::{decode, identify};
use vtrace::core::exchange::{Exchange, Leg};
use vtrace::core::frame::{Frame, LinkType};
use vtrace::core::journey::Observation;
use vtrace::core::line::PointIdx;
use vtrace::core::packet::PacketId;
use vtrace::core::verdict::Verdict;

#[path = "common/require.rs"]
mod require;

const POINTS: u16 = 5;
/// A window longer than any scenario: nothing expires before the end of the input.
const WIDE_NS: u64 = 1_000_000_000;
/// A window a few exchanges long: journeys and exchanges settle while the input goes on.
const NARROW_NS: u64 = 1_000_000;
const T0: u64 = 1_764_255_640_000_000_000;
const MAC_A: [u8; 6] = [0x02, 0x42, 0xac, 0x12, 0x00, 0x02];
const MAC_B: [u8; 6] = [0x02, 0x42, 0xac, 0x12, 0x00, 0x03];
const MAC_GW: [u8; 6] = [0x02, 0x42, 0x5c, 0x00, 0x00, 0x01];
const IP_A: [u8; 4] = [172, 18, 0, 2];
const IP_B: [u8; 4] = [172, 18, 0, 3];
const IP_GW: [u8; 4] = [172, 18, 0, 1];

/// The proptest configuration: `cases` cases from the run's seed (`VTRACE_TEST_SEED`, else the
/// clock, printed); failures are kept in tests/props.proptest-regressions.
fn config(cases: u32) -> Config {
    let default = Config::default();
    // PROPTEST_CASES, when set, says how many.
    let cases = if std::env::var_os("PROPTEST_CASES").is_some() { default.cases } else { cases };
    Config { cases, rng_seed: RngSeed::Fixed(require::test_seed()), ..default }
}

fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// A host of the scenario and where its packets enter the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Host {
    /// nginx-1: its eth0 is point 0.
    A,
    /// The gateway: its address is on the bridge, point 2.
    Gw,
    /// nginx-2: its eth0 is point 4.
    B,
}

impl Host {
    fn point(self) -> u16 {
        match self {
            Host::A => 0,
            Host::Gw => 2,
            Host::B => POINTS - 1,
        }
    }
    fn ip(self) -> [u8; 4] {
        match self {
            Host::A => IP_A,
            Host::Gw => IP_GW,
            Host::B => IP_B,
        }
    }
    fn mac(self) -> [u8; 6] {
        match self {
            Host::A => MAC_A,
            Host::Gw => MAC_GW,
            Host::B => MAC_B,
        }
    }
}

/// The points a packet from `from` to `to` passes, in the order it passes them.
fn path(from: Host, to: Host) -> Vec<u16> {
    let (a, b) = (from.point(), to.point());
    if a <= b { (a..=b).collect() } else { (b..=a).rev().collect() }
}

/// An Ethernet frame holding an ICMP echo request (`reply` false) or reply from `from` to `to`.
fn echo_frame(from: Host, to: Host, reply: bool, id: u16, seq: u16, ip_id: u16) -> Vec<u8> {
    let mut icmp = vec![if reply { 0 } else { 8 }, 0, 0, 0];
    icmp.extend(id.to_be_bytes());
    icmp.extend(seq.to_be_bytes());
    icmp.extend((0u8..32).map(|b| b ^ seq as u8));
    let c = checksum(&icmp).to_be_bytes();
    icmp[2..4].copy_from_slice(&c);
    let total = (20 + icmp.len()) as u16;
    let mut ip = vec![0x45, 0];
    ip.extend(total.to_be_bytes());
    ip.extend(ip_id.to_be_bytes());
    ip.extend([0x40, 0, 64, 1, 0, 0]);
    ip.extend(from.ip());
    ip.extend(to.ip());
    let c = checksum(&ip).to_be_bytes();
    ip[10..12].copy_from_slice(&c);
    let mut f = to.mac().to_vec();
    f.extend(from.mac());
    f.extend([0x08, 0x00]);
    f.extend(ip);
    f.extend(icmp);
    f
}

/// An ARP who-has `target` tell `asker` (broadcast) or, `reply`, the target's answer.
/// Identical requests (retries) within one window are indistinguishable by nature, so a
/// scenario asks each question once.
fn arp_frame(asker: Host, target: Host, reply: bool) -> Vec<u8> {
    let mut f = if reply { asker.mac().to_vec() } else { vec![0xff; 6] };
    f.extend(if reply { target.mac() } else { asker.mac() });
    f.extend([0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, if reply { 2 } else { 1 }]);
    if reply {
        f.extend(target.mac());
        f.extend(target.ip());
        f.extend(asker.mac());
        f.extend(asker.ip());
    } else {
        f.extend(asker.mac());
        f.extend(asker.ip());
        f.extend([0; 6]);
        f.extend(target.ip());
    }
    f
}

/// One packet's way along its path.
#[derive(Debug, Clone)]
struct Flight {
    /// How many points of its path the packet reached: it was lost after the last of them, or
    /// arrived when that is the whole path; 0: it never left (a reply that never came).
    reach: usize,
    /// Points strictly between the first and the last one reached whose capture missed the
    /// packet (bit i: the i-th point of the path): mid-path gaps.
    missed: u8,
    /// Nanoseconds from each point of the path to the next (0: the same nanosecond, as a bridge
    /// and its ingress port).
    hop_ns: [u64; 4],
}

/// One exchange of the scenario.
#[derive(Debug, Clone)]
struct Plan {
    arp: bool,
    from: Host,
    to: Host,
    /// Echo id (several flows may share one).
    id: u16,
    /// Nanoseconds between the previous exchange's request leaving and this one's (0: the same
    /// nanosecond; less than a round trip: the exchanges overlap).
    start_ns: u64,
    request: Flight,
    /// Nanoseconds between the request's arrival and the reply's departure (or between the
    /// request on the bridge and the gateway's ICMP error).
    turn_ns: u64,
    reply: Flight,
    /// With a probe: its socket received the reply that came back to A's eth0.
    delivered: bool,
    /// The gateway's ICMP error (host unreachable) quoting a request that reached the bridge and
    /// went no further, on its way back to the request's source.
    error: Option<Flight>,
}

/// What a scenario is: exchanges, and whether vtrace sent the echoes of A to B itself (a probe:
/// their replies count once its socket received them).
#[derive(Debug, Clone)]
struct Scenario {
    probe: bool,
    plans: Vec<Plan>,
}

/// The echo id of the probe (no other flow uses it).
const PROBE_ID: u16 = 0x7674;

/// Who asks whom: mostly A asking B, as `vtrace ping nginx-1 nginx-2` does.
fn pair() -> impl Strategy<Value = (Host, Host)> {
    prop_oneof![
        5 => Just((Host::A, Host::B)),
        1 => Just((Host::B, Host::A)),
        1 => Just((Host::A, Host::Gw)),
        1 => Just((Host::Gw, Host::A)),
        1 => Just((Host::B, Host::Gw)),
        1 => Just((Host::Gw, Host::B)),
    ]
}

fn hop_ns() -> impl Strategy<Value = u64> {
    prop_oneof![3 => Just(0u64), 1 => Just(1u64), 3 => 2..40_000u64]
}

/// A flight before [`settle`]: `reach` beyond the path means it arrived.
fn flight() -> impl Strategy<Value = Flight> {
    (0usize..9, any::<u8>(), [hop_ns(), hop_ns(), hop_ns(), hop_ns()])
        .prop_map(|(reach, missed, hop_ns)| Flight { reach, missed, hop_ns })
}

fn plan() -> impl Strategy<Value = Plan> {
    (
        any::<bool>(),
        pair(),
        prop_oneof![Just(7u16), Just(0x1234u16), any::<u16>()],
        prop_oneof![2 => Just(0u64), 1 => Just(1u64), 4 => 0..300_000u64, 3 => 0..3_000_000u64],
        flight(),
        prop_oneof![Just(0u64), 1..100_000u64],
        flight(),
        any::<bool>(),
        prop::option::of(flight()),
    )
        .prop_map(
            |(arp, (from, to), id, start_ns, request, turn_ns, reply, delivered, error)| Plan {
                arp,
                from,
                to,
                id,
                start_ns,
                request,
                turn_ns,
                reply,
                delivered,
                error,
            },
        )
}

/// Make the generated plans a scenario the captures could hold, and whose truth the captures
/// tell:
/// - ARP only between the containers, each question asked once (retries are identical bytes);
/// - a request is seen at its first point at least, a reply only when the request arrived;
/// - gaps only strictly inside the stretch a packet was seen on: a capture that misses the last
///   sighting is indistinguishable from a packet that stopped there, and one that misses the
///   first tells where the source lives only when its packets were seen entering before, which
///   depends on the order journeys settle in (core::analysis's unit tests cover it);
/// - a request to the gateway that arrived is answered at least on the bridge: only the
///   gateway's own packets tell that its address lives mid-path (an unanswered one would be lost
///   there as far as the captures can tell);
/// - which way a packet went must be told by something: its hops, when they are not all at one
///   nanosecond, or else the other packet of its exchange, which went the other way (an ICMP
///   error goes back the way the request it quotes came). The gateway's address lives
///   mid-path, so its requests are seen at two points at different times (seen at one point,
///   they would say nothing);
/// - with a probe, the echoes from A to B carry its id, and no other flow does;
/// - the gateway's errors quote echoes between the containers that reached the bridge and
///   were lost after it.
fn settle(probe: bool, mut plans: Vec<Plan>) -> Scenario {
    let mut asked = BTreeSet::new();
    for p in &mut plans {
        let between_containers = p.from != Host::Gw && p.to != Host::Gw;
        p.arp = p.arp && between_containers && asked.insert((p.from, p.to));
        if probe {
            let probed = !p.arp && (p.from, p.to) == (Host::A, Host::B);
            p.id = if probed {
                PROBE_ID
            } else if p.id == PROBE_ID {
                p.id ^ 1
            } else {
                p.id
            };
        }
        let len = path(p.from, p.to).len();
        p.request.reach = p.request.reach.clamp(if p.from == Host::Gw { 2 } else { 1 }, len);
        if p.from == Host::Gw {
            p.request.hop_ns[0] = p.request.hop_ns[0].max(1);
        }
        let arrived = p.request.reach == len;
        p.reply.reach = match (arrived, p.to) {
            (false, _) => 0,
            (true, Host::Gw) => p.reply.reach.clamp(1, len),
            (true, _) => p.reply.reach.min(len),
        };
        p.request.missed &= inside(p.request.reach);
        p.reply.missed &= inside(p.reply.reach);
        if undirected(&p.request) && undirected(&p.reply) {
            p.request.hop_ns[0] = p.request.hop_ns[0].max(1);
        }
        let stopped_after_bridge = (3..len).contains(&p.request.reach);
        if p.arp || !between_containers || !stopped_after_bridge {
            p.error = None;
        }
        if let Some(e) = p.error.as_mut() {
            e.reach = e.reach.clamp(1, path(Host::Gw, p.from).len());
            e.missed &= inside(e.reach);
        }
    }
    Scenario { probe, plans }
}

/// The points strictly between the first and the last of `reach` points (bit i: the i-th).
fn inside(reach: usize) -> u8 {
    (1..reach.saturating_sub(1)).fold(0, |m, i| m | 1 << i)
}

/// The flight's hops all share one timestamp (or there is at most one): they do not tell which
/// way the packet went.
fn undirected(f: &Flight) -> bool {
    f.reach < 2 || f.hop_ns.iter().take(f.reach - 1).all(|&ns| ns == 0)
}

/// What identifies an exchange: kind, who asks whom, echo id and sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    kind: &'static str,
    from: Ipv4Addr,
    to: Ipv4Addr,
    id: u16,
    seq: u16,
}

/// A leg as the analysis must report it: hops (point, timestamp) in the order the packet
/// passed them, and where it was lost (after, before).
#[derive(Debug, Clone, PartialEq, Eq)]
struct WantLeg {
    hops: Vec<(u16, u64)>,
    lost: Option<(Option<u16>, Option<u16>)>,
}

/// An exchange as the analysis must report it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Want {
    request: WantLeg,
    reply: Option<WantLeg>,
    rtt_ns: Option<u64>,
    expects_reply: bool,
    errors: Vec<WantLeg>,
}

/// A scenario's observations (in time order, ties in the order generated) and its truth.
struct Built {
    obs: Vec<Observation>,
    want: BTreeMap<Key, Want>,
    /// With a probe: the sequence numbers of the replies its socket received.
    delivered: Option<Vec<u16>>,
}

/// Where a packet flying along `path` from `t` was seen and whether it was lost (`None`: it was
/// never seen); the time it reached (or would have reached) the end of its path.
fn fly(f: &Flight, path: &[u16], t: u64) -> (Option<WantLeg>, u64) {
    let mut at = t;
    let mut hops = Vec::new();
    for (i, &p) in path.iter().enumerate() {
        if i > 0 {
            at += f.hop_ns[i - 1];
        }
        if i < f.reach && f.missed & (1 << i) == 0 {
            hops.push((p, at));
        }
    }
    if f.reach == 0 {
        return (None, at);
    }
    let lost = (f.reach < path.len()).then(|| (Some(path[f.reach - 1]), Some(path[f.reach])));
    (Some(WantLeg { hops, lost }), at)
}

/// The gateway's ICMP host unreachable to `to`, quoting `request` (an Ethernet frame).
fn unreachable_frame(request: &[u8], to: Host, ip_id: u16) -> Vec<u8> {
    let mut icmp = vec![3, 1, 0, 0, 0, 0, 0, 0];
    icmp.extend(&request[14..14 + 28]);
    let c = checksum(&icmp).to_be_bytes();
    icmp[2..4].copy_from_slice(&c);
    let mut ip = vec![0x45, 0];
    ip.extend((20 + icmp.len() as u16).to_be_bytes());
    ip.extend(ip_id.to_be_bytes());
    ip.extend([0, 0, 64, 1, 0, 0]);
    ip.extend(Host::Gw.ip());
    ip.extend(to.ip());
    let c = checksum(&ip).to_be_bytes();
    ip[10..12].copy_from_slice(&c);
    let mut f = to.mac().to_vec();
    f.extend(Host::Gw.mac());
    f.extend([0x08, 0x00]);
    f.extend(ip);
    f.extend(icmp);
    f
}

fn build(scenario: &Scenario) -> Built {
    let mut sightings: Vec<(u16, u64, usize)> = Vec::new();
    let mut bytes: Vec<Vec<u8>> = Vec::new();
    let mut want = BTreeMap::new();
    let mut seqs: BTreeMap<(Host, Host, u16), u16> = BTreeMap::new();
    let mut delivered = Vec::new();
    let mut t = T0;
    for (i, p) in scenario.plans.iter().enumerate() {
        t += p.start_ns;
        let ip_id = 100 + 3 * i as u16;
        let (key, req, rep) = if p.arp {
            let key =
                Key { kind: "arp", from: p.from.ip().into(), to: p.to.ip().into(), id: 0, seq: 0 };
            (key, arp_frame(p.from, p.to, false), arp_frame(p.from, p.to, true))
        } else {
            let seq = seqs.entry((p.from, p.to, p.id)).or_insert(0);
            *seq += 1;
            let key = Key {
                kind: "icmp-echo",
                from: p.from.ip().into(),
                to: p.to.ip().into(),
                id: p.id,
                seq: *seq,
            };
            (
                key,
                echo_frame(p.from, p.to, false, p.id, *seq, ip_id),
                echo_frame(p.to, p.from, true, p.id, *seq, ip_id + 1),
            )
        };
        let (request, arrival) = fly(&p.request, &path(p.from, p.to), t);
        let request = request.expect("a request is seen at its first point");
        let (mut reply, _) = fly(&p.reply, &path(p.to, p.from), arrival + p.turn_ns);
        // The bridge is the third point of a path between the containers.
        let on_bridge = t + p.request.hop_ns[..2].iter().sum::<u64>();
        let error =
            p.error.as_ref().and_then(|e| fly(e, &path(Host::Gw, p.from), on_bridge + p.turn_ns).0);
        let err = unreachable_frame(&req, p.from, ip_id + 2);
        for (leg, frame) in [(Some(&request), req), (reply.as_ref(), rep), (error.as_ref(), err)] {
            let hops = leg.map_or(&[][..], |l| &l.hops);
            sightings.extend(hops.iter().map(|&(point, at)| (point, at, bytes.len())));
            bytes.push(frame);
        }
        let rtt_ns = reply.as_ref().and_then(|r| {
            let (start, t0) = request.hops[0];
            r.hops.iter().find(|h| h.0 == start).map(|h| h.1 - t0)
        });
        if scenario.probe && key.id == PROBE_ID {
            let answered =
                request.lost.is_none() && reply.as_ref().is_some_and(|r| r.lost.is_none());
            if answered && p.delivered {
                delivered.push(key.seq);
            } else if let Some(r) = reply.as_mut().filter(|_| answered) {
                // Past A's eth0, the probe's socket is the last point of its replies.
                r.lost = Some((r.hops.last().map(|h| h.0), None));
            }
        }
        let errors = error.into_iter().collect();
        let previous =
            want.insert(key, Want { request, reply, rtt_ns, expects_reply: true, errors });
        assert!(previous.is_none(), "two exchanges with the key {key:?}");
    }
    sightings.sort_by_key(|s| s.1);
    let mut frames = [0u64; POINTS as usize];
    let obs = sightings
        .into_iter()
        .map(|(p, t, b)| {
            frames[usize::from(p)] += 1;
            observation(p, t, frames[usize::from(p)], &bytes[b])
        })
        .collect();
    Built { obs, want, delivered: scenario.probe.then_some(delivered) }
}

fn observation(point: u16, t: u64, frame: u64, bytes: &[u8]) -> Observation {
    let f = Frame {
        ifid: u32::from(point),
        t_ns: t,
        len: bytes.len() as u32,
        linktype: LinkType::ETHERNET,
        data: bytes,
    };
    Observation { point: PointIdx(point), t_ns: t, frame, packet: decode(&f) }
}

/// The scenario's key of an exchange the analysis reported.
fn key_of(ex: &Exchange) -> Key {
    let p = &ex.request.journey.packet;
    let v4 = |a: Option<IpAddr>| match a {
        Some(IpAddr::V4(a)) => a,
        _ => Ipv4Addr::UNSPECIFIED,
    };
    match p.arp {
        Some(arp) => Key {
            kind: ex.kind.as_str(),
            from: arp.spa.unwrap_or(Ipv4Addr::UNSPECIFIED),
            to: arp.tpa.unwrap_or(Ipv4Addr::UNSPECIFIED),
            id: 0,
            seq: 0,
        },
        None => {
            let e = ex.echo();
            Key {
                kind: ex.kind.as_str(),
                from: v4(p.ip.map(|ip| ip.src)),
                to: v4(p.ip.map(|ip| ip.dst)),
                id: e.map_or(0, |e| e.id),
                seq: e.map_or(0, |e| e.seq),
            }
        }
    }
}

fn got_leg(l: &Leg) -> WantLeg {
    WantLeg {
        hops: l.journey.hops.iter().map(|h| (h.point.0, h.t_ns)).collect(),
        lost: l.lost.map(|x| (x.after.map(|p| p.0), x.before.map(|p| p.0))),
    }
}

fn got(ex: &Exchange) -> Want {
    Want {
        request: got_leg(&ex.request),
        reply: ex.reply.as_ref().map(got_leg),
        rtt_ns: ex.rtt_ns,
        expects_reply: ex.expects_reply,
        errors: ex.errors.iter().map(got_leg).collect(),
    }
}

/// Run the analysis over `obs` in the order given; with a probe, its socket received the
/// replies `delivered`.
fn analyse(
    obs: &[Observation],
    window_ns: u64,
    delivered: Option<&[u16]>,
) -> (Vec<Exchange>, Verdict) {
    let (exchanges, verdict, _) = run(obs, window_ns, delivered, false);
    (exchanges, verdict)
}

/// [`analyse`], letting time pass between observations when `tick` (as live tracing does: halfway
/// from one observation to the next); the verdicts without and with capture drops.
fn run(
    obs: &[Observation],
    window_ns: u64,
    delivered: Option<&[u16]>,
    tick: bool,
) -> (Vec<Exchange>, Verdict, Verdict) {
    let mut a = Analysis::new(window_ns);
    for _ in 0..POINTS {
        a.add_point();
    }
    if let Some(seqs) = delivered {
        a.expect_probe(vtrace::core::analysis::Probe::Echo { id: PROBE_ID });
        for &seq in seqs {
            a.delivered(seq);
        }
    }
    let mut out = Vec::new();
    let mut last = None;
    for o in obs {
        if let Some(t) = last.filter(|_| tick) {
            a.advance_to(t + (o.t_ns.saturating_sub(t)) / 2);
            a.drain(|ex, _| out.push(*ex));
        }
        last = Some(o.t_ns);
        a.ingest(o);
        a.drain(|ex, _| out.push(*ex));
    }
    a.finish();
    a.drain(|ex, _| out.push(*ex));
    let names: Vec<String> = (0..POINTS).map(|p| format!("p{p}")).collect();
    (out, a.verdict(&names, false), a.verdict(&names, true))
}

type Segment = (Option<u16>, Option<u16>);

/// How an exchange failed: `request`, `reply` or `unanswered`, and the segment.
fn failure(w: &Want) -> Option<(&'static str, Segment)> {
    if let Some(lost) = w.request.lost {
        return Some(("request", lost));
    }
    match &w.reply {
        None => Some(("unanswered", (w.request.hops.last().map(|h| h.0), None))),
        Some(r) => r.lost.map(|lost| ("reply", lost)),
    }
}

/// The verdict's counts, in comparable form.
#[derive(Debug, PartialEq, Eq)]
struct Counts {
    reachable: bool,
    sent: u64,
    received: u64,
    probed: bool,
    /// (what, cause, segment) → count.
    causes: BTreeMap<(&'static str, &'static str, Segment), u64>,
    /// kind → (total, complete).
    kinds: BTreeMap<&'static str, (u64, u64)>,
    /// (kind, what, segment) → count.
    losses: BTreeMap<(&'static str, &'static str, Segment), u64>,
}

/// The verdict the generated exchanges call for (src/core/verdict.rs): `sent` is every echo,
/// `received` those answered end to end, `reachable` at least one; `causes` every distinct way
/// echoes were lost (ARP requests when there was no echo) with its count.
fn want_counts(want: &BTreeMap<Key, Want>) -> Counts {
    let echoes: Vec<&Want> =
        want.iter().filter(|(k, _)| k.kind == "icmp-echo").map(|(_, w)| w).collect();
    let sent = echoes.len() as u64;
    let received = echoes.iter().filter(|w| failure(w).is_none()).count() as u64;
    let mut causes = BTreeMap::new();
    let mut arp_failed = false;
    let mut kinds: BTreeMap<&'static str, (u64, u64)> = BTreeMap::new();
    let mut losses = BTreeMap::new();
    for (k, w) in want {
        let f = failure(w);
        let kind = kinds.entry(k.kind).or_default();
        kind.0 += 1;
        kind.1 += u64::from(f.is_none());
        let Some((what, segment)) = f else { continue };
        *losses.entry((k.kind, what, segment)).or_insert(0) += 1;
        arp_failed |= k.kind == "arp";
        if (k.kind == "icmp-echo") == (sent > 0) {
            let cause = match (k.kind, what) {
                ("arp", _) => "no-arp-reply",
                (_, "unanswered") => "no-reply",
                _ => "unknown",
            };
            *causes.entry((what, cause, segment)).or_insert(0) += 1;
        }
    }
    Counts {
        reachable: received > 0,
        sent,
        received,
        probed: sent > 0 || arp_failed,
        causes,
        kinds,
        losses,
    }
}

fn got_counts(v: &Verdict) -> Counts {
    let seg = |s: vtrace::core::verdict::Segment| (s.after.map(|p| p.0), s.before.map(|p| p.0));
    let mut causes = BTreeMap::new();
    for c in &v.causes {
        let what = if c.detail.contains("nothing answered") {
            "unanswered"
        } else if c.detail.contains(" request ") {
            "request"
        } else if c.detail.contains(" reply ") {
            "reply"
        } else {
            "?"
        };
        *causes.entry((what, c.cause.as_str(), seg(c.segment))).or_insert(0) += c.count;
    }
    Counts {
        reachable: v.reachable,
        sent: v.sent,
        received: v.received,
        probed: v.probed,
        causes,
        kinds: v.holds.kinds.iter().map(|k| (k.kind.as_str(), (k.total, k.complete))).collect(),
        losses: v
            .holds
            .losses
            .iter()
            .map(|l| ((l.kind.as_str(), l.what, seg(l.segment)), l.count))
            .collect(),
    }
}

/// The analysis of `obs` says what the generator sent: one exchange per generated one with its
/// hops, losses, pairing and RTT, and the verdict's counts.
fn check(
    built: &Built,
    obs: &[Observation],
    window_ns: u64,
    tick: bool,
) -> Result<(), TestCaseError> {
    let (exchanges, v, with_drops) = run(obs, window_ns, built.delivered.as_deref(), tick);
    let mut seen = BTreeMap::new();
    for ex in &exchanges {
        let previous = seen.insert(key_of(ex), got(ex));
        prop_assert!(previous.is_none(), "two exchanges for {:?}: {:#?}", key_of(ex), exchanges);
    }
    prop_assert_eq!(&seen, &built.want);
    let want = want_counts(&built.want);
    prop_assert_eq!(&got_counts(&v), &want);
    // Most first, and the verdict's own cause and segment are the first's.
    prop_assert!(v.causes.windows(2).all(|w| w[0].count >= w[1].count), "{:?}", v.causes);
    match v.causes.first() {
        Some(c) => {
            prop_assert_eq!(v.cause, c.cause);
            prop_assert_eq!(v.segment, Some(c.segment));
        }
        None if v.sent > 0 => {
            prop_assert_eq!(v.cause.as_str(), "ok");
            prop_assert_eq!(v.segment, None);
        }
        None => {}
    }
    // Lost: with a probe, not every echo was answered; without one, something did not go the
    // whole way.
    let lost = if want.probed {
        want.sent == 0 || want.received < want.sent
    } else {
        want.kinds.values().any(|&(total, complete)| complete < total)
    };
    prop_assert_eq!(v.lost(), lost);
    if want.sent > 0 && want.received == want.sent {
        let answered = built.want.iter().filter(|(k, _)| k.kind == "icmp-echo").map(|(_, w)| w);
        let most = |leg: fn(&Want) -> usize| answered.clone().map(leg).max().unwrap_or(0);
        let (there, back) = (
            most(|w| w.request.hops.len()),
            most(|w| w.reply.as_ref().map_or(0, |r| r.hops.len())),
        );
        let hops = if there == back { there.to_string() } else { format!("{there}/{back}") };
        let summary = format!("{0}/{0} echo replies, {hops} hops each way", want.sent);
        prop_assert_eq!(&v.summary, &summary);
    }
    // Capture drops: no loss is blamed on the network, nothing else changes.
    if lost {
        prop_assert_eq!(with_drops.cause.as_str(), "capture-gap");
        prop_assert!(with_drops.causes.iter().all(|c| c.cause.as_str() == "capture-gap"));
    } else {
        prop_assert_eq!(&with_drops, &v);
    }
    prop_assert_eq!(
        (with_drops.reachable, with_drops.sent, with_drops.received),
        (v.reachable, v.sent, v.received)
    );
    Ok(())
}

/// Plans made a scenario, and a permutation of its observations' indices.
fn scenario() -> impl Strategy<Value = (Scenario, Vec<usize>)> {
    (any::<bool>(), prop::collection::vec(plan(), 1..12))
        .prop_map(|(probe, plans)| settle(probe, plans))
        .prop_flat_map(|scenario| {
            let n = build(&scenario).obs.len();
            (Just(scenario), Just((0..n).collect::<Vec<usize>>()).prop_shuffle())
        })
}

/// Time order, observations at the same nanosecond in the order of their ranks in `order`.
fn ties_in_any_order(obs: &[Observation], order: &[usize]) -> Vec<Observation> {
    let mut rank = vec![0; obs.len()];
    for (r, &i) in order.iter().enumerate() {
        rank[i] = r;
    }
    let mut idx: Vec<usize> = (0..obs.len()).collect();
    idx.sort_by_key(|&i| (obs[i].t_ns, rank[i]));
    idx.into_iter().map(|i| obs[i]).collect()
}

/// The observations re-ordered so that each point keeps its own order: the points of the
/// shuffled indices say which point hands over its next observation.
fn interleave(obs: &[Observation], order: &[usize]) -> Vec<Observation> {
    let mut queues: Vec<VecDeque<Observation>> = (0..POINTS).map(|_| Default::default()).collect();
    for o in obs {
        queues[o.point.index()].push_back(*o);
    }
    order.iter().filter_map(|&i| queues[obs[i].point.index()].pop_front()).collect()
}

proptest! {
    #![proptest_config(config(256))]

    /// In time order (ties in any order), with a window that lets journeys and exchanges settle
    /// as the input goes on or one that holds them all to the end.
    #[test]
    fn every_exchange_is_what_the_generator_sent(
        (scenario, order) in scenario(),
        window in prop_oneof![Just(NARROW_NS), Just(WIDE_NS)],
        tick in any::<bool>(),
    ) {
        let built = build(&scenario);
        check(&built, &ties_in_any_order(&built.obs, &order), window, tick)?;
    }

    /// Live captures hand each point's packets over in that point's order, interleaved with the
    /// other points' however the threads run.
    #[test]
    fn any_interleaving_of_the_points_gives_what_the_generator_sent(
        (scenario, order) in scenario()
    ) {
        let built = build(&scenario);
        check(&built, &interleave(&built.obs, &order), WIDE_NS, false)?;
    }

    /// Any order at all within one window, even one point's packets out of their own order.
    #[test]
    fn any_order_within_the_window_gives_what_the_generator_sent((scenario, order) in scenario()) {
        let built = build(&scenario);
        let shuffled: Vec<Observation> = order.iter().map(|&i| built.obs[i]).collect();
        check(&built, &shuffled, WIDE_NS, false)?;
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn arbitrary_frames_never_panic_the_decoder_or_the_analysis(
        frames in prop::collection::vec(
            (0u16..300, any::<u8>(), 0u64..3_000_000_000, prop::collection::vec(any::<u8>(), 0..200)),
            0..60,
        ),
        window in prop_oneof![Just(0u64), Just(1u64), 1..5_000_000_000u64, Just(u64::MAX)],
    ) {
        let mut a = Analysis::new(window);
        for _ in 0..4 {
            a.add_point();
        }
        let mut exchanges = 0usize;
        for (i, (linktype, point, t, bytes)) in frames.iter().enumerate() {
            let frame = Frame {
                ifid: 0,
                t_ns: *t,
                len: bytes.len() as u32,
                linktype: LinkType(*linktype),
                data: bytes,
            };
            let packet = decode(&frame);
            // Points outside the line are ignored, never a panic.
            let obs = Observation { point: PointIdx(u16::from(*point % 6)), t_ns: *t, frame: i as u64 + 1, packet };
            a.ingest(&obs);
            a.advance_to(t.saturating_add(1));
            a.drain(|ex, _| { let _ = ex.summary().to_string(); exchanges += 1; });
        }
        a.finish();
        a.drain(|ex, _| { let _ = ex.summary().to_string(); exchanges += 1; });
        let counted: u64 = a.captured().iter().sum();
        let on_line = frames.iter().filter(|f| f.1 % 6 < 4).count() as u64;
        prop_assert_eq!(counted, on_line);
        let _ = a.verdict(&["a".into(), "b".into(), "c".into(), "d".into()], false);
        prop_assert!(exchanges <= frames.len());
    }

    #[test]
    fn the_decoder_never_panics_on_ethernet_around_real_headers(
        cut in 0usize..120,
        flip in prop::collection::vec((0usize..120, any::<u8>()), 0..8),
        reply in any::<bool>(),
    ) {
        let mut f = echo_frame(Host::A, Host::B, reply, 7, 9, 11);
        for (at, b) in flip {
            if let Some(x) = f.get_mut(at) {
                *x ^= b;
            }
        }
        f.truncate(cut);
        let frame = Frame { ifid: 0, t_ns: 1, len: 98, linktype: LinkType::ETHERNET, data: &f };
        let p = decode(&frame);
        if cut < 14 {
            prop_assert!(p.ip.is_none());
        }
        // The shortcut that identifies frames without decoding them whole agrees with it.
        prop_assert_eq!(identify(&frame), PacketId::of(&p));
    }
}

/// A flight that reached `reach` points of its path, `gap` ns from point to point.
fn flight_of(reach: usize, missed: u8, gap: u64) -> Flight {
    Flight { reach, missed, hop_ns: [gap; 4] }
}

fn plan_of(arp: bool, from: Host, to: Host, request: Flight, reply: Flight) -> Plan {
    Plan {
        arp,
        from,
        to,
        id: 0x1234,
        start_ns: 20_000_000,
        request,
        turn_ns: 50_000,
        reply,
        delivered: true,
        error: None,
    }
}

/// `check` as a plain test (panics with proptest's message).
fn holds(scenario: &Scenario, window_ns: u64) {
    let built = build(scenario);
    if let Err(e) = check(&built, &built.obs, window_ns, true) {
        panic!("{e}");
    }
}

#[test]
fn the_scenario_builder_makes_real_echoes() {
    let plans = vec![
        plan_of(true, Host::A, Host::B, flight_of(5, 0, 10), flight_of(5, 0, 10)),
        plan_of(false, Host::A, Host::B, flight_of(5, 0, 10), flight_of(5, 0, 10)),
        plan_of(false, Host::A, Host::B, flight_of(3, 0, 10), flight_of(0, 0, 10)),
    ];
    let scenario = Scenario { probe: false, plans };
    let built = build(&scenario);
    let (ex, verdict) = analyse(&built.obs, WIDE_NS, None);
    assert_eq!(ex.len(), 3, "{ex:#?}");
    assert!(ex.iter().any(|e| e.summary().to_string() == "who-has 172.18.0.3 tell 172.18.0.2"));
    let answered = ex.iter().find(|e| e.echo().is_some_and(|e| e.seq == 1)).expect("echo seq 1");
    assert_eq!(answered.rtt_ns, Some(40 + 50_000 + 40), "{answered:#?}");
    let lost = ex.iter().find(|e| e.echo().is_some_and(|e| e.seq == 2)).expect("echo seq 2");
    let loss = lost.request.lost.expect("the second echo is lost");
    assert_eq!((loss.after, loss.before), (Some(PointIdx(2)), Some(PointIdx(3))));
    // Reachable: one echo was answered end to end; the other was lost (1/2).
    assert_eq!((verdict.reachable, verdict.received, verdict.sent), (true, 1, 2));
    holds(&scenario, WIDE_NS);
    holds(&scenario, NARROW_NS);
}

/// A request that one point missed settles only when its window ends, after its complete reply:
/// the reply waits for it and the two make one answered exchange, not a lone reply and an
/// unanswered request; the gap is no loss (the packet was seen after it).
#[test]
fn a_reply_that_settles_before_its_request_is_still_paired() {
    let plans =
        vec![plan_of(false, Host::A, Host::B, flight_of(5, 1 << 2, 10), flight_of(5, 0, 10))];
    let scenario = Scenario { probe: false, plans };
    let built = build(&scenario);
    let (ex, verdict) = analyse(&built.obs, WIDE_NS, None);
    assert_eq!(ex.len(), 1, "{ex:#?}");
    let hops: Vec<u16> = ex[0].request.journey.hops.iter().map(|h| h.point.0).collect();
    assert_eq!(hops, [0, 1, 3, 4]);
    assert!(ex[0].answered(), "{ex:#?}");
    assert_eq!((verdict.reachable, verdict.received, verdict.sent), (true, 1, 1));
    holds(&scenario, WIDE_NS);
    holds(&scenario, NARROW_NS);
}

/// Found by the properties: a reply whose hops all share one nanosecond (the gateway answers
/// from the bridge, vethA and eth0 stamp it the same) was listed forward, eth0 first, and the
/// gateway taken to live on eth0, so that the next request to it, lost before the bridge, was
/// taken for complete. It goes back the way its request came.
#[test]
fn a_reply_whose_hops_tie_goes_back_the_way_its_request_came() {
    let plans = vec![
        plan_of(false, Host::A, Host::Gw, flight_of(3, 0, 10), flight_of(3, 0, 0)),
        plan_of(false, Host::A, Host::Gw, flight_of(2, 0, 10), flight_of(0, 0, 0)),
        plan_of(false, Host::B, Host::Gw, flight_of(3, 0, 0), flight_of(3, 0, 10)),
    ];
    let scenario = Scenario { probe: false, plans };
    let built = build(&scenario);
    let (ex, _) = analyse(&built.obs, WIDE_NS, None);
    let points = |l: &Leg| l.journey.hops.iter().map(|h| h.point.0).collect::<Vec<_>>();
    let of = |from: Host, seq: u16| {
        ex.iter()
            .find(|e| key_of(e).from == Ipv4Addr::from(from.ip()) && key_of(e).seq == seq)
            .unwrap_or_else(|| panic!("no echo seq {seq} from {from:?}: {ex:#?}"))
    };
    assert_eq!(points(of(Host::A, 1).reply.as_ref().expect("answered")), [2, 1, 0]);
    assert!(of(Host::A, 2).request.lost.is_some(), "{ex:#?}");
    assert_eq!(points(&of(Host::B, 1).request), [4, 3, 2]);
    holds(&scenario, WIDE_NS);
    holds(&scenario, NARROW_NS);
}

/// A TCP segment from A (`from_a`) or B, built with etherparse.
fn tcp_frame(from_a: bool, flags: u8, ip_id: u16, payload: &[u8]) -> Vec<u8> {
    let (smac, dmac, sip, dip, sport, dport) = if from_a {
        (MAC_A, MAC_B, IP_A, IP_B, 40_000, 80)
    } else {
        (MAC_B, MAC_A, IP_B, IP_A, 80, 40_000)
    };
    let mut tcp = etherparse::TcpHeader::new(sport, dport, 1000, 64_240);
    tcp.syn = flags & 0x02 != 0;
    tcp.ack = flags & 0x10 != 0;
    tcp.psh = flags & 0x08 != 0;
    tcp.fin = flags & 0x01 != 0;
    let mut ip = etherparse::Ipv4Header::new(0, 64, etherparse::IpNumber::TCP, sip, dip)
        .unwrap_or_else(|e| panic!("{e}"));
    ip.identification = ip_id;
    let builder = etherparse::PacketBuilder::ethernet2(smac, dmac)
        .ip(etherparse::IpHeaders::Ipv4(ip, Default::default()));
    let builder = builder.tcp_header(tcp);
    let mut out = Vec::with_capacity(builder.size(payload.len()));
    builder.write(&mut out, payload).unwrap_or_else(|e| panic!("{e}"));
    out
}

/// A connection crossing the five points: the SYN is paired with its SYN-ACK, each hop by hop,
/// and the other segments (the ACK and the request with data) are journeys of their own.
#[test]
fn a_tcp_handshake_pairs_the_syn_with_its_syn_ack_and_lists_the_other_segments() {
    let segments = [
        (true, 0x02, 1, &b""[..]),
        (false, 0x12, 0, &b""[..]),
        (true, 0x10, 2, &b""[..]),
        (true, 0x18, 3, &b"GET / HTTP/1.1\r\n\r\n"[..]),
    ];
    let mut frames = [0u64; POINTS as usize];
    let mut obs = Vec::new();
    for (i, (from_a, flags, id, payload)) in segments.iter().enumerate() {
        let bytes = tcp_frame(*from_a, *flags, *id, payload);
        let t = T0 + i as u64 * 1_000_000;
        for k in 0..POINTS {
            let p = if *from_a { k } else { POINTS - 1 - k };
            frames[usize::from(p)] += 1;
            obs.push(observation(p, t + u64::from(k) * 10_000, frames[usize::from(p)], &bytes));
        }
    }
    let (ex, _) = analyse(&obs, WIDE_NS, None);
    assert_eq!(ex.len(), 3, "{ex:#?}");
    let summaries: Vec<String> = ex.iter().map(|e| e.summary().to_string()).collect();
    let connect = ex.iter().find(|e| e.kind.as_str() == "tcp-connect").expect("a tcp-connect");
    assert_eq!(connect.summary().to_string(), "172.18.0.2.40000 > 172.18.0.3.80 [S] length 0");
    let points = |l: &Leg| l.journey.hops.iter().map(|h| h.point.0).collect::<Vec<_>>();
    assert_eq!(points(&connect.request), [0, 1, 2, 3, 4]);
    let reply = connect.reply.as_ref().expect("the SYN-ACK is the reply");
    assert_eq!(points(reply), [4, 3, 2, 1, 0]);
    assert_eq!(connect.rtt_ns, Some(1_040_000));
    let get = ex
        .iter()
        .find(|e| e.summary().to_string().contains("[P.] length 18"))
        .expect("the request with data");
    assert_eq!(get.kind.as_str(), "tcp");
    assert!(!get.expects_reply);
    assert!(summaries.iter().any(|s| s.contains("[.] length 0")), "{summaries:#?}");
}
