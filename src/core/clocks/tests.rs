//! The offset estimate on hand-built samples: both ways, one way, one clock, chains, repeats,
//! tunnels, bounded samples.

use super::*;
use crate::core::packet::Ip;
use std::net::Ipv4Addr;

fn packet(fp: u64, src: u8, dst: u8) -> Packet {
    Packet {
        ip: Some(Ip {
            src: IpAddr::V4(Ipv4Addr::new(10, 0, 0, src)),
            dst: IpAddr::V4(Ipv4Addr::new(10, 0, 0, dst)),
            id: None,
            proto: 1,
            ttl: 64,
            total_len: 84,
            dont_fragment: true,
            frag_offset: 0,
            more_fragments: false,
        }),
        fp: Some(fp),
        ..Packet::default()
    }
}

/// Echoes from 10.0.0.1 (node A) to 10.0.0.2 (node B): the request crosses A → B in
/// `there` ns, the reply B → A in `back` ns; B's clock is `theta` ahead.
fn exchanges(theta: i64, there: u64, back: u64, n: u64) -> Vec<Sample> {
    let (mut a, mut b) = (Sample::default(), Sample::default());
    let shift = |t: u64| (i128::from(t) + i128::from(theta)) as u64;
    for k in 0..n {
        let t0 = 1_000_000_000_000 + k * 1_000_000;
        a.add(t0, &packet(2 * k, 1, 2));
        a.add(t0 + 3_000, &packet(2 * k, 1, 2));
        b.add(shift(t0 + 3_000 + there + k % 7 * 1_000), &packet(2 * k, 1, 2));
        let t1 = t0 + 50_000;
        b.add(shift(t1), &packet(2 * k + 1, 2, 1));
        a.add(t1 + back + k % 5 * 1_000, &packet(2 * k + 1, 2, 1));
    }
    vec![a, b]
}

#[test]
fn both_ways_bracket_the_offset() {
    for theta in [3_200_000_000, -40_000, 1_000_000] {
        let o = estimate(&exchanges(theta, 8_000, 6_000, 100), 1_000_000_000);
        assert_eq!(o[0], Offset::reference());
        assert_eq!(o[1].basis, Basis::BothWays);
        // The bracket is [theta - 6 µs, theta + 8 µs]: midpoint theta + 1 µs, ± 7 µs.
        assert_eq!(o[1].offset_ns, theta + 1_000, "theta {theta}");
        assert_eq!(o[1].uncertainty_ns, Some(7_000));
    }
}

#[test]
fn one_clock_is_not_shifted() {
    let o = estimate(&exchanges(0, 8_000, 2_000, 10), 1_000_000_000);
    assert_eq!(o[1].offset_ns, 0);
    assert_eq!(o[1].uncertainty_ns, Some(8_000));
    // Ties (a bridge and its veth) give a bracket of one point: 0.
    let o = estimate(&exchanges(0, 0, 0, 10), 1_000_000_000);
    assert_eq!((o[1].offset_ns, o[1].uncertainty_ns), (0, Some(0)));
}

#[test]
fn one_way_keeps_one_clock_unless_the_delay_is_implausible() {
    let one_way = |theta: i64| {
        let (mut a, mut b) = (Sample::default(), Sample::default());
        for k in 0..10u64 {
            let t = 5_000_000_000 + k * 1_000_000;
            a.add(t, &packet(k, 1, 2));
            b.add((i128::from(t + 8_000 + k * 100) + i128::from(theta)) as u64, &packet(k, 1, 2));
        }
        estimate(&[a, b], 1_000_000_000)
    };
    let o = one_way(0);
    assert_eq!((o[1].offset_ns, o[1].basis), (0, Basis::OneWay));
    let o = one_way(3_200_000_000);
    assert_eq!(o[1].basis, Basis::OneWay);
    assert_eq!(o[1].offset_ns, 3_200_008_000);
    let o = one_way(-3_200_000_000);
    assert_eq!(o[1].offset_ns, -3_200_000_000 + 8_900);
}

#[test]
fn files_without_common_packets_keep_their_clock_or_chain() {
    let mut s = exchanges(2_000_000, 8_000, 6_000, 10);
    // A third file shares packets with B only (both ways): measured through B.
    let mut c = Sample::default();
    for k in 0..10u64 {
        let t = 2_000_000_000_000 + k * 1_000_000;
        s[1].add(t, &packet(5_000 + k, 2, 3));
        c.add(t + 500_000 + 4_000, &packet(5_000 + k, 2, 3));
        c.add(t + 500_000 + 10_000, &packet(6_000 + k, 3, 2));
        s[1].add(t + 14_000, &packet(6_000 + k, 3, 2));
    }
    s.push(c);
    s.push(Sample::default());
    let o = estimate(&s, 1_000_000_000);
    assert_eq!((o[2].via, o[2].basis), (1, Basis::BothWays));
    // B is 2 ms + 1 µs ahead (as estimated), C 0.5 ms ahead of B: bracket [0.5 ms - 4 µs,
    // 0.5 ms + 4 µs].
    assert_eq!(o[2].offset_ns, 2_001_000 + 500_000);
    assert_eq!(o[2].uncertainty_ns, Some(7_000 + 4_000));
    assert_eq!(o[3].basis, Basis::NoCommonPackets);
    assert_eq!(o[3].uncertainty_ns, None);
}

/// On an underlay the frame is the outer UDP packet between the nodes: its flow is the
/// inner packet's (as its fingerprint is), so it pairs with the inner packet seen in a
/// container on the other node.
#[test]
fn tunnelled_packets_count_by_their_inner_addresses() {
    let tunnelled = |fp: u64, src: u8, dst: u8| {
        let mut p = packet(fp, 100 + src, 100 + dst);
        p.inner_ip = packet(fp, src, dst).ip;
        p
    };
    let (mut a, mut b) = (Sample::default(), Sample::default());
    for k in 0..20u64 {
        let t = 9_000_000_000 + k * 1_000_000;
        a.add(t, &packet(2 * k, 1, 2));
        a.add(t + 2_000, &tunnelled(2 * k, 1, 2));
        b.add(t + 5_000 - 40_000, &tunnelled(2 * k, 1, 2));
        b.add(t + 7_000 - 40_000, &packet(2 * k, 1, 2));
        b.add(t + 50_000 - 40_000, &packet(2 * k + 1, 2, 1));
        b.add(t + 51_000 - 40_000, &tunnelled(2 * k + 1, 2, 1));
        a.add(t + 55_000, &tunnelled(2 * k + 1, 2, 1));
    }
    let o = estimate(&[a, b], 1_000_000_000);
    // Bracket [-40 µs - 4 µs, -40 µs + 3 µs].
    assert_eq!(
        (o[1].basis, o[1].offset_ns, o[1].uncertainty_ns),
        (Basis::BothWays, -40_500, Some(3_500))
    );
}

#[test]
fn repeated_packets_say_nothing() {
    // Every packet sent twice, 3 s apart (identical ARP requests, a tool's identical
    // echoes): each file's second passage of a packet would otherwise pair with the other
    // file's first.
    let mut s = exchanges(40_000, 8_000, 6_000, 50);
    let repeat = exchanges(40_000, 8_000, 6_000, 50);
    for (sample, again) in s.iter_mut().zip(repeat) {
        for (fp, sight) in again.seen {
            let mut p = packet(fp, 1, 2);
            if !sight.forward {
                p = packet(fp, 2, 1);
            }
            sample.add(sight.first + 3_000_000_000, &p);
        }
    }
    let o = estimate(&s, 1_000_000_000);
    assert_eq!(o[1].basis, Basis::NoCommonPackets, "{o:?}");
    // Repeats of some packets only: the others still bracket the offset.
    let mut s = exchanges(40_000, 8_000, 6_000, 50);
    s[0].add(5_000_000_000_000, &packet(0, 1, 2));
    assert_eq!(estimate(&s, 1_000_000_000)[1].offset_ns, 41_000);
}

#[test]
fn samples_stay_bounded_and_consistent() {
    let (mut a, mut b) = (Sample::with_cap(100), Sample::with_cap(100));
    for k in 0..10_000u64 {
        let fp = k.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        a.add(k * 1_000, &packet(fp, 1, 2));
        b.add(k * 1_000 + 5_000, &packet(fp, 1, 2));
    }
    assert!(a.len() <= 100 && b.len() <= 100);
    assert!(bounds(&a, &b, 1_000_000).is_some());
}
