//! vtrace's analysis of each frame, as a pcapng packet comment: which exchange, which leg, which
//! hop of how many and how long after the hop before, e.g. `echo seq 3 request hop 4/5 +6.4µs`
//! (`lost after this point` on the last hop of a leg that went no further). Written into
//! `--write` files and the TUI's `w` files, so Wireshark and `tshark -e frame.comment` show it.
//! Pure: text only.

use crate::core::exchange::{Exchange, ExchangeKind, Leg};
use crate::core::line::PointIdx;

/// The comment of every frame of the exchange's journeys, as (point, frame number, comment).
/// `points`: how many points a complete journey crosses (the learned line), for `hop i/n`.
pub fn frame_comments(ex: &Exchange, points: usize) -> Vec<(PointIdx, u64, String)> {
    let what = match (ex.kind, ex.echo()) {
        (ExchangeKind::IcmpEcho | ExchangeKind::Icmpv6Echo, Some(e)) => {
            format!("echo id {} seq {}", e.id, e.seq)
        }
        (kind, _) => format!("{} {}", kind.as_str(), ex.summary()),
    };
    let mut out = Vec::new();
    let legs = std::iter::once(("request", &ex.request))
        .chain(ex.reply.as_ref().map(|r| ("reply", r)))
        .chain(ex.errors.iter().map(|e| ("error", e)));
    for (label, leg) in legs {
        comment_leg(&mut out, &what, label, leg, points);
    }
    out
}

fn comment_leg(
    out: &mut Vec<(PointIdx, u64, String)>,
    what: &str,
    label: &str,
    leg: &Leg,
    points: usize,
) {
    let hops = &leg.journey.hops;
    let n = points.max(hops.len());
    let mut prev: Option<u64> = None;
    for (i, h) in hops.iter().enumerate() {
        let mut c = format!("{what} {label} hop {}/{n}", i + 1);
        if let Some(p) = prev {
            c.push_str(" +");
            c.push_str(&duration(h.t_ns.saturating_sub(p)));
        }
        if leg.lost.is_some() && i + 1 == hops.len() {
            c.push_str(" lost after this point");
        }
        prev = Some(h.t_ns);
        out.push((h.point, h.frame, c));
    }
}

/// `1.5µs`, `58.0µs`, `1.20ms`, `0ns`, `2.000s`: how reports write a delay.
pub fn duration(ns: u64) -> String {
    match ns {
        0..1_000 => format!("{ns}ns"),
        1_000..1_000_000 => format!("{:.1}µs", ns as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.2}ms", ns as f64 / 1e6),
        _ => format!("{:.3}s", ns as f64 / 1e9),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::exchange::Loss;
    use crate::core::journey::{Hop, Journey};
    use crate::core::packet::{Echo, Icmp, Packet};

    fn leg(hops: &[(u16, u64, u64)], lost: bool) -> Leg {
        let packet = Packet {
            icmp: Some(Icmp { ty: 8, code: 0, echo: Some(Echo { id: 7, seq: 3 }), quoted: None }),
            ..Packet::default()
        };
        let hops = hops.iter().map(|&(p, t, f)| Hop::new(PointIdx(p), t, f)).collect();
        Leg {
            journey: Journey::new(Box::new(packet), hops),
            lost: lost.then_some(Loss { after: Some(PointIdx(1)), before: Some(PointIdx(2)) }),
            netfilter: Vec::new(),
        }
    }

    #[test]
    fn every_hop_says_its_exchange_leg_place_and_delay() {
        let ex = Exchange {
            kind: ExchangeKind::IcmpEcho,
            request: leg(&[(0, 1_000, 1), (1, 7_400, 2)], true),
            reply: None,
            errors: Vec::new(),
            rtt_ns: None,
            expects_reply: true,
            probe: false,
        };
        let c = frame_comments(&ex, 5);
        assert_eq!(
            c,
            vec![
                (PointIdx(0), 1, "echo id 7 seq 3 request hop 1/5".to_owned()),
                (
                    PointIdx(1),
                    2,
                    "echo id 7 seq 3 request hop 2/5 +6.4µs lost after this point".to_owned()
                ),
            ]
        );
    }
}
