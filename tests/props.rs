//! Property tests of the correlator (journeys → exchanges → verdict) and the decoder.
//!
//! - Order: the observations of a traced scenario (ARP and ICMP echo exchanges crossing five
//!   capture points, some lost on the way, all within one window) give the same journeys,
//!   exchanges and verdict whatever order they are ingested in — live captures hand packets
//!   over per point, not in global time order.
//! - Robustness: arbitrary bytes as frames of any link type, at arbitrary times and points,
//!   never make the decoder or the analysis panic, and every frame is counted.

use proptest::prelude::*;

use vtrace::core::analysis::Analysis;
use vtrace::core::decode::decode;
use vtrace::core::exchange::{Exchange, Leg};
use vtrace::core::frame::{Frame, LinkType};
use vtrace::core::journey::Observation;
use vtrace::core::line::{Line, PointIdx};

const POINTS: u16 = 5;
const WINDOW_NS: u64 = 1_000_000_000;
const T0: u64 = 1_764_255_640_000_000_000;
const MAC_A: [u8; 6] = [0x02, 0x42, 0xac, 0x12, 0x00, 0x02];
const MAC_B: [u8; 6] = [0x02, 0x42, 0xac, 0x12, 0x00, 0x03];
const IP_A: [u8; 4] = [172, 18, 0, 2];
const IP_B: [u8; 4] = [172, 18, 0, 3];

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

/// An Ethernet frame holding an ICMP echo request (`reply` false) or reply.
fn echo_frame(reply: bool, id: u16, seq: u16, ip_id: u16) -> Vec<u8> {
    let (smac, dmac, sip, dip) =
        if reply { (MAC_B, MAC_A, IP_B, IP_A) } else { (MAC_A, MAC_B, IP_A, IP_B) };
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
    ip.extend(sip);
    ip.extend(dip);
    let c = checksum(&ip).to_be_bytes();
    ip[10..12].copy_from_slice(&c);
    let mut f = dmac.to_vec();
    f.extend(smac);
    f.extend([0x08, 0x00]);
    f.extend(ip);
    f.extend(icmp);
    f
}

/// An ARP who-has 172.18.0.`host` tell A (broadcast) or its reply. Each step asks for another
/// address: identical requests (retries) within one window are indistinguishable by nature.
fn arp_frame(reply: bool, host: u8) -> Vec<u8> {
    let ip_b = [172, 18, 0, host];
    let mut f = if reply { MAC_A.to_vec() } else { vec![0xff; 6] };
    f.extend(if reply { MAC_B } else { MAC_A });
    f.extend([0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, if reply { 2 } else { 1 }]);
    if reply {
        f.extend(MAC_B);
        f.extend(ip_b);
        f.extend(MAC_A);
        f.extend(IP_A);
    } else {
        f.extend(MAC_A);
        f.extend(IP_A);
        f.extend([0; 6]);
        f.extend(ip_b);
    }
    f
}

/// One exchange of the scenario: how far the request got (points 0..reach) and, when it
/// reached the end, how far the reply got back (points 4, 3, … reply_reach of them).
#[derive(Debug, Clone)]
struct Step {
    arp: bool,
    reach: u16,
    reply_reach: u16,
    /// Gaps between hops (ns); a 0 makes two points see the packet at the same time, as a
    /// bridge and its ingress port do.
    gaps: Vec<u64>,
}

/// A step whose hops are at least `min_gap` ns apart (1: no two points at the same time).
fn step_with(min_gap: u64) -> impl Strategy<Value = Step> {
    (
        any::<bool>(),
        1..=POINTS,
        0..=POINTS,
        prop::collection::vec(prop_oneof![Just(min_gap), min_gap.max(1)..40_000u64], 10),
    )
        .prop_map(|(arp, reach, reply_reach, gaps)| Step {
            arp,
            reach,
            reply_reach: if reach == POINTS { reply_reach } else { 0 },
            gaps,
        })
}

/// The observations of the scenario, in time order (frames numbered per point).
fn observations(steps: &[Step]) -> Vec<Observation> {
    let mut out: Vec<(u16, u64, Vec<u8>)> = Vec::new();
    for (i, s) in steps.iter().enumerate() {
        let seq = i as u16 + 1;
        let (req, rep) = if s.arp {
            (arp_frame(false, 3 + i as u8), arp_frame(true, 3 + i as u8))
        } else {
            (echo_frame(false, 0x1234, seq, 100 + seq), echo_frame(true, 0x1234, seq, 900 + seq))
        };
        let mut t = T0 + i as u64 * 20_000_000;
        let mut gaps = s.gaps.iter().copied();
        for p in 0..s.reach {
            t += gaps.next().unwrap_or(1);
            out.push((p, t, req.clone()));
        }
        t += 50_000;
        for k in 0..s.reply_reach {
            t += gaps.next().unwrap_or(1);
            out.push((POINTS - 1 - k, t, rep.clone()));
        }
    }
    out.sort_by_key(|(_, t, _)| *t);
    let mut frames = [0u64; POINTS as usize];
    out.into_iter()
        .map(|(p, t, bytes)| {
            frames[usize::from(p)] += 1;
            let frame = Frame {
                ifid: u32::from(p),
                t_ns: t,
                len: bytes.len() as u32,
                linktype: LinkType::ETHERNET,
                data: &bytes,
            };
            Observation {
                point: PointIdx(p),
                t_ns: t,
                frame: frames[usize::from(p)],
                packet: decode(&frame),
            }
        })
        .collect()
}

type LegDigest = (Vec<(u16, u64, u64)>, Option<(Option<u16>, Option<u16>)>);

fn leg(l: &Leg) -> LegDigest {
    (
        l.journey.hops.iter().map(|h| (h.point.0, h.t_ns, h.frame)).collect(),
        l.lost.map(|x| (x.after.map(|p| p.0), x.before.map(|p| p.0))),
    )
}

/// What an exchange says, in comparable form.
fn digest(ex: &Exchange, _line: &Line) -> String {
    format!(
        "{} {} echo={:?} req={:?} rep={:?} errs={} rtt={:?} expects={}",
        ex.kind.as_str(),
        ex.summary(),
        ex.echo().map(|e| (e.id, e.seq)),
        leg(&ex.request),
        ex.reply.as_ref().map(leg),
        ex.errors.len(),
        ex.rtt_ns,
        ex.expects_reply,
    )
}

/// Steps and a permutation of their observations' indices.
/// No two points see a packet at the same nanosecond: with equal timestamps, ties are ordered
/// by the path order learned so far and where an address enters the line is learned from the
/// latest journey, so both may depend on the order journeys settle in.
fn scenario() -> impl Strategy<Value = (Vec<Step>, Vec<usize>)> {
    scenario_of(step_with(1))
}

fn scenario_of(
    step: impl Strategy<Value = Step>,
) -> impl Strategy<Value = (Vec<Step>, Vec<usize>)> {
    prop::collection::vec(step, 1..6).prop_flat_map(|steps| {
        let n = observations(&steps).len();
        (Just(steps), Just((0..n).collect::<Vec<usize>>()).prop_shuffle())
    })
}

/// The observations re-ordered so that each point keeps its own order: the points of the
/// shuffled indices say which point hands over its next observation.
fn interleave(obs: &[Observation], order: &[usize]) -> Vec<Observation> {
    let mut queues: Vec<std::collections::VecDeque<Observation>> =
        (0..POINTS).map(|_| Default::default()).collect();
    for o in obs {
        queues[o.point.index()].push_back(*o);
    }
    order.iter().filter_map(|&i| queues[obs[i].point.index()].pop_front()).collect()
}

fn run(obs: &[Observation]) -> (Vec<String>, String) {
    let mut a = Analysis::new(WINDOW_NS);
    for _ in 0..POINTS {
        a.add_point();
    }
    let mut out = Vec::new();
    for o in obs {
        a.ingest(o);
        a.drain(|ex, line| out.push(digest(ex, line)));
    }
    a.finish();
    a.drain(|ex, line| out.push(digest(ex, line)));
    out.sort();
    let names: Vec<String> = (0..POINTS).map(|p| format!("p{p}")).collect();
    let v = a.verdict(&names, false);
    // Which loss the verdict names first follows the order exchanges settle in, so only the
    // counts are compared here.
    let verdict = format!("{} {}/{}", v.reachable, v.received, v.sent);
    (out, verdict)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Live captures hand each point's packets over in that point's order, interleaved with the
    /// other points' however the threads run.
    #[test]
    fn any_interleaving_of_the_points_gives_the_same_exchanges(
        (steps, order) in scenario()
    ) {
        let obs = observations(&steps);
        let (want, want_verdict) = run(&obs);
        prop_assert_eq!(want.len(), steps.len(), "one exchange per step: {:?}", want);
        let (got, got_verdict) = run(&interleave(&obs, &order));
        prop_assert_eq!(got, want);
        prop_assert_eq!(got_verdict, want_verdict);
    }

    /// Any order at all, even one point's packets out of their own order.
    #[test]
    fn any_order_within_the_window_gives_the_same_exchanges((steps, order) in scenario()) {
        let obs = observations(&steps);
        let (want, want_verdict) = run(&obs);
        let shuffled: Vec<Observation> = order.iter().map(|&i| obs[i]).collect();
        let (got, got_verdict) = run(&shuffled);
        prop_assert_eq!(got, want);
        prop_assert_eq!(got_verdict, want_verdict);
    }

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
        let mut f = echo_frame(reply, 7, 9, 11);
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
    }
}

#[test]
fn the_scenario_builder_makes_real_echoes() {
    let steps = vec![
        Step { arp: true, reach: 5, reply_reach: 5, gaps: vec![10; 10] },
        Step { arp: false, reach: 5, reply_reach: 5, gaps: vec![10; 10] },
        Step { arp: false, reach: 3, reply_reach: 0, gaps: vec![10; 10] },
    ];
    let (ex, verdict) = run(&observations(&steps));
    assert_eq!(ex.len(), 3, "{ex:#?}");
    assert!(ex.iter().any(|e| e.starts_with("arp who-has 172.18.0.3 tell 172.18.0.2")), "{ex:#?}");
    assert!(ex.iter().any(|e| e.contains("echo=Some((4660, 2))") && e.contains("rtt=Some(")));
    assert!(
        ex.iter()
            .any(|e| e.contains("echo=Some((4660, 3))") && e.contains("Some((Some(2), Some(3)))"))
    );
    // Reachable: one echo was answered end to end; the other was lost (1/2).
    assert!(verdict.starts_with("true 1/2"), "{verdict}");
}

/// A request that one point missed settles only when its window ends, after its complete reply:
/// the reply waits for it and the two make one answered-but-lossy exchange, not a lone reply
/// and an unanswered request.
#[test]
fn a_reply_that_settles_before_its_request_is_still_paired() {
    let steps = vec![Step { arp: false, reach: 5, reply_reach: 5, gaps: vec![10; 10] }];
    let mut obs = observations(&steps);
    let missed = obs.iter().position(|o| o.point == PointIdx(2)).expect("request at point 2");
    obs.remove(missed);
    let (ex, verdict) = run(&obs);
    assert_eq!(ex.len(), 1, "{ex:#?}");
    assert!(ex[0].contains("echo=Some((4660, 1))"), "{ex:#?}");
    assert!(ex[0].contains("rep=Some(([(4, "), "the reply is paired: {ex:#?}");
    assert!(ex[0].contains("expects=true"), "{ex:#?}");
    assert_eq!(verdict, "true 1/1", "seen before and after the gap, the echo was answered");
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
    let mut bytes = Vec::new();
    for (i, (from_a, flags, id, payload)) in segments.iter().enumerate() {
        bytes.push(tcp_frame(*from_a, *flags, *id, payload));
        let t = T0 + i as u64 * 1_000_000;
        for k in 0..POINTS {
            let p = if *from_a { k } else { POINTS - 1 - k };
            obs.push((p, t + u64::from(k) * 10_000, i));
        }
    }
    let observations: Vec<Observation> = obs
        .iter()
        .map(|&(p, t, i)| {
            frames[usize::from(p)] += 1;
            let frame = Frame {
                ifid: u32::from(p),
                t_ns: t,
                len: bytes[i].len() as u32,
                linktype: LinkType::ETHERNET,
                data: &bytes[i],
            };
            Observation {
                point: PointIdx(p),
                t_ns: t,
                frame: frames[usize::from(p)],
                packet: decode(&frame),
            }
        })
        .collect();
    let (ex, _) = run(&observations);
    assert_eq!(ex.len(), 3, "{ex:#?}");
    let connect = ex.iter().find(|e| e.starts_with("tcp-connect ")).expect("a tcp-connect");
    assert!(connect.contains("172.18.0.2.40000 > 172.18.0.3.80 [S] length 0"), "{connect}");
    assert!(connect.contains("req=([(0, "), "{connect}");
    assert!(connect.contains("rep=Some(([(4, "), "the SYN-ACK is the reply: {connect}");
    assert!(connect.contains("rtt=Some(1040000)"), "{connect}");
    let get = ex.iter().find(|e| e.contains("[P.] length 18")).expect("the request with data");
    assert!(get.starts_with("tcp "), "{get}");
    assert!(get.contains("expects=false"), "{get}");
    assert!(ex.iter().any(|e| e.starts_with("tcp ") && e.contains("[.] length 0")), "{ex:#?}");
}
