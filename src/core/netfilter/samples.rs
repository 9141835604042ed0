//! Hand-built trace events, kernel drops and exchanges shared by the netfilter unit tests
//! (compiled for tests only).

use super::events::{NfEvent, NfFamily, NfVerdict, TraceKind};
use super::kernel::DropEvent;
use crate::core::exchange::{Exchange, Leg};
use crate::core::packet::Packet;

/// IPv4 header 172.18.0.2 → 172.18.0.3, id 0x1234, ICMP; echo request id 7 seq 1.
pub(super) fn headers() -> (Vec<u8>, Vec<u8>) {
    let nh = vec![0x45, 0, 0, 84, 0x12, 0x34, 0x40, 0, 64, 1, 0, 0, 172, 18, 0, 2, 172, 18, 0, 3];
    let th = vec![8, 0, 0, 0, 0, 7, 0, 1, 0xaa, 0xbb];
    (nh, th)
}

pub(super) fn event(ns: &str, id: u32, kind: TraceKind, verdict: NfVerdict) -> NfEvent {
    NfEvent {
        netns: ns.into(),
        id,
        kind: Some(kind),
        family: Some(NfFamily::Ip),
        table: "filter".into(),
        chain: "FORWARD".into(),
        rule_handle: Some(4),
        rule_text: Some("icmp type echo-request drop".into()),
        verdict: Some(verdict.clone()),
        policy: (kind == TraceKind::Policy).then_some(verdict),
        ..NfEvent::default()
    }
}

pub(super) fn drop_at(t_ns: u64, protocol: u16, reason: &str, location: &str) -> DropEvent {
    DropEvent { t_ns, protocol, location: location.into(), reason: reason.into() }
}

/// An ICMP echo exchange 172.18.0.2 → 172.18.0.3 whose request was last seen at `t`, unanswered.
pub(super) fn unanswered_echo(t: u64) -> Exchange {
    use crate::core::exchange::ExchangeKind;
    use crate::core::journey::{Hop, Journey};
    use crate::core::line::PointIdx;
    use crate::core::packet::Ip;
    let ip = Ip {
        src: [172, 18, 0, 2].into(),
        dst: [172, 18, 0, 3].into(),
        id: Some(0x1234),
        proto: 1,
        ttl: 64,
        total_len: 84,
        dont_fragment: true,
        frag_offset: 0,
        more_fragments: false,
    };
    let icmp = crate::core::packet::Icmp {
        ty: 8,
        code: 0,
        echo: Some(crate::core::packet::Echo { id: 7, seq: 1 }),
        quoted: None,
    };
    let packet = Box::new(Packet { ip: Some(ip), icmp: Some(icmp), ..Packet::default() });
    let hops = vec![Hop::new(PointIdx(0), t, 1)];
    Exchange {
        kind: ExchangeKind::IcmpEcho,
        request: Leg { journey: Journey::new(packet, hops), lost: None, netfilter: Vec::new() },
        reply: None,
        errors: Vec::new(),
        rtt_ns: None,
        expects_reply: true,
        probe: false,
    }
}
