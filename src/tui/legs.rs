//! The legs of an exchange as the view shows them: the request, what answered it, and the other
//! ICMP errors, each with its name. A TCP connect's legs are named by their flags (`SYN`,
//! `SYN-ACK`, `RST`); the ICMP error that answered a connect or a UDP probe (no reply came) is
//! its answer (`ICMP`). Where an answer was born (its first hop) and what that says: the target's
//! own point refused (port closed) or a point on the way did. No drawing.

use crate::core::exchange::{Exchange, ExchangeKind, Leg};
use crate::core::line::PointIdx;
use crate::core::packet::Ports;
use crate::core::verdict::{Cause, Segment, Verdict};

/// The request, its answer and the remaining errors of one exchange.
#[derive(Debug, Clone, Copy)]
pub struct Legs<'a> {
    pub request: (&'static str, &'a Leg),
    pub answer: Option<(&'static str, &'a Leg)>,
    /// ICMP errors that are not the answer.
    pub errors: &'a [Leg],
}

impl Legs<'_> {
    /// Hops of the request and the answer (the hop cursor runs over both, request first).
    pub fn hops(&self) -> usize {
        self.request.1.journey.hops.len() + self.answer.map_or(0, |(_, l)| l.journey.hops.len())
    }
}

/// Exchanges whose answer says whether a service is there: connects and UDP probes.
pub fn is_service(ex: &Exchange) -> bool {
    matches!(ex.kind, ExchangeKind::TcpConnect | ExchangeKind::Udp) && ex.expects_reply
}

pub fn legs(ex: &Exchange) -> Legs<'_> {
    let request =
        (if ex.kind == ExchangeKind::TcpConnect { "SYN" } else { "request" }, &ex.request);
    if let Some(reply) = &ex.reply {
        return Legs { request, answer: Some((reply_name(reply), reply)), errors: &ex.errors };
    }
    match ex.errors.split_first() {
        Some((first, rest)) if is_service(ex) => {
            Legs { request, answer: Some(("ICMP", first)), errors: rest }
        }
        _ => Legs { request, answer: None, errors: &ex.errors },
    }
}

/// `RST` or `SYN-ACK` for TCP, else `reply`.
fn reply_name(reply: &Leg) -> &'static str {
    let flags = reply.journey.packet.ports.filter(|p| p.proto == Ports::TCP).map(|p| p.flags);
    match flags {
        Some(f) if f & Ports::RST != 0 => "RST",
        Some(f) if f & Ports::SYN != 0 && f & Ports::ACK != 0 => "SYN-ACK",
        _ => "reply",
    }
}

/// Where a service's answer was born, and what that says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Birth {
    /// The answer's first hop.
    pub at: PointIdx,
    /// That point is the target's own: the request went the whole way (to where its
    /// destination's packets are seen) and ended there.
    pub at_target: bool,
    /// Refused (a reset or an ICMP error) rather than accepted.
    pub refused: bool,
    /// Why it was refused: what the answer and its birthplace say (`port-closed` at the target,
    /// `reset` on the way, `netfilter-reject` for an ICMP administratively prohibited), unless
    /// the verdict, about this very answer, knows more (a live trace's netfilter rule); `None`
    /// when accepted or when they say nothing.
    pub cause: Option<Cause>,
}

/// Where the answer of a connect or UDP probe was born.
pub fn birth(ex: &Exchange, verdict: Option<&Verdict>) -> Option<Birth> {
    if !is_service(ex) {
        return None;
    }
    let (name, answer) = legs(ex).answer?;
    let at = answer.journey.first()?.point;
    let at_target =
        ex.request.complete() && ex.request.journey.last().is_some_and(|h| h.point == at);
    let refused = matches!(name, "RST" | "ICMP");
    let p = &answer.journey.packet;
    let icmp = p.icmp.map(|i| (i.ty, i.code)).or_else(|| p.icmpv6.map(|i| (i.ty, i.code)));
    let alone = match (name, icmp) {
        ("RST", _) if at_target => Some(Cause::PortClosed),
        ("RST", _) => Some(Cause::Reset),
        // Port unreachable from the target's own stack; administratively prohibited: a filter.
        ("ICMP", Some((3, 3) | (1, 4))) if at_target => Some(Cause::PortClosed),
        ("ICMP", Some((3, 9 | 10 | 13) | (1, 1))) => Some(Cause::NetfilterReject),
        _ => None,
    };
    let here = Segment { after: Some(at), before: None };
    // Where it was born the ladder sees itself; the verdict may know why.
    let told =
        |c: Cause| !matches!(c, Cause::Ok | Cause::PortClosed | Cause::Reset | Cause::Unknown);
    let cause = match verdict {
        Some(v) if refused && v.segment == Some(here) && told(v.cause) => Some(v.cause),
        _ if refused => alone,
        _ => None,
    };
    Some(Birth { at, at_target, refused, cause })
}

/// `port unreachable`, `host unreachable`… for the ICMP errors that answer probes; `None` for
/// the others.
pub fn icmp_name(v6: bool, ty: u8, code: u8) -> Option<&'static str> {
    let name = match (v6, ty, code) {
        (false, 3, 0) => "net unreachable",
        (false, 3, 1) => "host unreachable",
        (true, 1, 3) => "address unreachable",
        (false, 3, 2) => "protocol unreachable",
        (false, 3, 3) | (true, 1, 4) => "port unreachable",
        (false, 3, 4) => "unreachable - need to frag",
        (false, 3, 9 | 10 | 13) | (true, 1, 1) => "admin prohibited",
        (true, 1, 0) => "no route",
        (false, 11, _) | (true, 3, _) => "time exceeded",
        (true, 2, _) => "packet too big",
        _ => return None,
    };
    Some(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::journey::{Hop, Journey};
    use crate::core::packet::{Icmp, Packet};

    /// A leg seen at the points `at`, in that order.
    fn leg(packet: Packet, at: &[u16]) -> Leg {
        let hops = at.iter().map(|&p| Hop::new(PointIdx(p), u64::from(p), 1));
        let journey = Journey::new(Box::new(packet), hops.collect());
        Leg { journey, lost: None, netfilter: Vec::new() }
    }

    fn tcp(flags: u8) -> Packet {
        let ports = Ports { proto: Ports::TCP, src: 1, dst: 2, flags, payload_len: 0, tcp: None };
        Packet { ports: Some(ports), ..Packet::default() }
    }

    fn icmp(ty: u8, code: u8) -> Packet {
        Packet { icmp: Some(Icmp { ty, code, echo: None, quoted: None }), ..Packet::default() }
    }

    /// A connect whose SYN was seen at points 0..=`end` (lost after it unless it is 2, the
    /// target's point), answered by `reply` or `errors`.
    fn connect(end: u16, reply: Option<Leg>, errors: Vec<Leg>) -> Exchange {
        let mut request = leg(tcp(Ports::SYN), &(0..=end).collect::<Vec<_>>());
        if end < 2 {
            let loss = crate::core::exchange::Loss {
                after: Some(PointIdx(end)),
                before: Some(PointIdx(end + 1)),
            };
            request.lost = Some(loss);
        }
        Exchange {
            kind: ExchangeKind::TcpConnect,
            request,
            reply,
            errors,
            rtt_ns: None,
            expects_reply: true,
            probe: true,
        }
    }

    #[test]
    fn legs_are_named_and_the_answer_marked_where_it_was_born() {
        let refused = connect(2, Some(leg(tcp(Ports::RST | Ports::ACK), &[2, 1, 0])), vec![]);
        let l = legs(&refused);
        assert_eq!((l.request.0, l.answer.map(|a| a.0), l.hops()), ("SYN", Some("RST"), 6));
        let b = birth(&refused, None);
        let want = Birth { at: PointIdx(2), at_target: true, refused: true, cause: None };
        assert_eq!(b, Some(Birth { cause: Some(Cause::PortClosed), ..want }));

        let accepted = connect(2, Some(leg(tcp(Ports::SYN | Ports::ACK), &[2, 1, 0])), vec![]);
        assert_eq!(legs(&accepted).answer.map(|a| a.0), Some("SYN-ACK"));
        let b = birth(&accepted, None);
        assert_eq!(b, Some(Birth { refused: false, ..want }));

        // A reset born on the way: the SYN stopped there.
        let reset = connect(1, Some(leg(tcp(Ports::RST), &[1, 0])), vec![]);
        let b = birth(&reset, None);
        let on_the_way = Birth { at: PointIdx(1), at_target: false, ..want };
        assert_eq!(b, Some(Birth { cause: Some(Cause::Reset), ..on_the_way }));
    }

    #[test]
    fn an_icmp_error_answers_a_connect_and_says_what_it_can() {
        let port = connect(2, None, vec![leg(icmp(3, 3), &[2, 1, 0]), leg(icmp(3, 1), &[1, 0])]);
        let l = legs(&port);
        assert_eq!((l.answer.map(|a| a.0), l.errors.len()), (Some("ICMP"), 1));
        assert_eq!(birth(&port, None).and_then(|b| b.cause), Some(Cause::PortClosed));

        let filtered = connect(1, None, vec![leg(icmp(3, 13), &[1, 0])]);
        assert_eq!(birth(&filtered, None).and_then(|b| b.cause), Some(Cause::NetfilterReject));
        let unreachable = connect(1, None, vec![leg(icmp(3, 1), &[1, 0])]);
        assert_eq!(birth(&unreachable, None).map(|b| (b.refused, b.cause)), Some((true, None)));

        // An echo's errors stay errors.
        let mut echo = connect(1, None, vec![leg(icmp(3, 1), &[1, 0])]);
        echo.kind = ExchangeKind::IcmpEcho;
        assert_eq!((legs(&echo).answer.is_none(), birth(&echo, None)), (true, None));
    }

    #[test]
    fn the_verdict_names_what_the_captures_cannot() {
        let refused = connect(2, Some(leg(tcp(Ports::RST | Ports::ACK), &[2, 1, 0])), vec![]);
        let segment = Some(Segment { after: Some(PointIdx(2)), before: None });
        let rule = Verdict { cause: Cause::NetfilterReject, segment, ..Verdict::default() };
        assert_eq!(
            birth(&refused, Some(&rule)).and_then(|b| b.cause),
            Some(Cause::NetfilterReject)
        );
        // Where it was born the ladder sees for itself.
        let closed = Verdict { cause: Cause::Reset, segment, ..Verdict::default() };
        assert_eq!(birth(&refused, Some(&closed)).and_then(|b| b.cause), Some(Cause::PortClosed));
    }
}
