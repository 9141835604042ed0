//! What ties a trace event to a packet: the [`PacketKey`] read from the headers an event carries
//! (and from a decoded packet alike), and the [`FlowFilter`] that keeps one flow's events when
//! several vtrace runs trace in the same namespace.
//!
//! Pure byte reading; it must not keep events (that is the trace book) nor judge what they mean.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use foldhash::fast::FixedState;

use crate::core::packet::{Encap, Packet};

/// What identifies a packet in a trace event and in a capture alike: addresses, protocol, IP id
/// and, for ICMP echoes, the echo id and sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PacketKey {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub proto: u8,
    pub ip_id: Option<u16>,
    pub echo: Option<(u16, u16)>,
}

impl PacketKey {
    /// From a trace event's network and transport headers (IPv4 or IPv6).
    pub fn from_headers(nh: &[u8], th: &[u8]) -> Option<Self> {
        let version = nh.first()? >> 4;
        let (src, dst, proto, ip_id) = match version {
            4 => {
                let src: [u8; 4] = nh.get(12..16)?.try_into().ok()?;
                let dst: [u8; 4] = nh.get(16..20)?.try_into().ok()?;
                let id = u16::from_be_bytes(nh.get(4..6)?.try_into().ok()?);
                (
                    IpAddr::from(Ipv4Addr::from(src)),
                    IpAddr::from(Ipv4Addr::from(dst)),
                    *nh.get(9)?,
                    Some(id),
                )
            }
            6 => {
                let src: [u8; 16] = nh.get(8..24)?.try_into().ok()?;
                let dst: [u8; 16] = nh.get(24..40)?.try_into().ok()?;
                (
                    IpAddr::from(Ipv6Addr::from(src)),
                    IpAddr::from(Ipv6Addr::from(dst)),
                    *nh.get(6)?,
                    None,
                )
            }
            _ => return None,
        };
        let echo_types: &[u8] = if proto == 1 {
            &[0, 8]
        } else if proto == 58 {
            &[128, 129]
        } else {
            &[]
        };
        let echo = match (th.first(), th.get(4..8)) {
            (Some(ty), Some(b)) if echo_types.contains(ty) => {
                Some((u16::from_be_bytes([b[0], b[1]]), u16::from_be_bytes([b[2], b[3]])))
            }
            _ => None,
        };
        Some(PacketKey { src, dst, proto, ip_id, echo })
    }

    /// From a decoded packet (its outermost IP header).
    pub fn from_packet(p: &Packet) -> Option<Self> {
        let ip = p.ip.as_ref()?;
        let echo = p
            .icmp
            .as_ref()
            .and_then(|i| i.echo)
            .or_else(|| p.icmpv6.as_ref().and_then(|i| i.echo))
            .map(|e| (e.id, e.seq));
        let ip_id = if ip.src.is_ipv4() { ip.id } else { None };
        Some(PacketKey { src: ip.src, dst: ip.dst, proto: ip.proto, ip_id, echo })
    }

    /// The key of a tunnel's outer packet (UDP between the endpoints, with its identification),
    /// as a sighting inside the tunnel saw it; `None` without an IPv4 identification.
    pub fn of_encap(e: &Encap) -> Option<Self> {
        let ip_id = e.outer_id.filter(|_| e.outer_src.is_ipv4())?;
        Some(PacketKey {
            src: e.outer_src,
            dst: e.outer_dst,
            proto: 17,
            ip_id: Some(ip_id),
            echo: None,
        })
    }
}

/// Keeps the trace events of one flow (the packets between two addresses, either way). Every
/// vtrace run tracing in a namespace receives every trace event of that namespace, also those
/// of another run's flow; an event names its packet's headers only on the first event of each
/// base chain, so the trace ids of the flow's packets are remembered for the events after it.
#[derive(Debug, Clone)]
pub struct FlowFilter {
    a: IpAddr,
    b: IpAddr,
    /// A tunnel's endpoints, whose outer packets carry the flow between two nodes.
    tunnel: Option<(IpAddr, IpAddr)>,
    ids: std::collections::HashSet<u32, FixedState>,
}

/// Trace ids remembered before the set is cleared (bounds memory under a flood).
const MAX_FLOW_IDS: usize = 1 << 16;

impl FlowFilter {
    pub fn new(a: IpAddr, b: IpAddr) -> Self {
        FlowFilter {
            a,
            b,
            tunnel: None,
            ids: std::collections::HashSet::with_hasher(FixedState::with_seed(0)),
        }
    }

    /// Keep the outer packets between the tunnel endpoints `a` and `b` too.
    pub fn with_tunnel(mut self, a: IpAddr, b: IpAddr) -> Self {
        self.tunnel = Some((a, b));
        self
    }

    /// True when the event of trace id `id` with these headers (empty when it has none) belongs
    /// to the flow: its headers name the two addresses, or an earlier event with the same trace
    /// id did.
    pub fn keep(&mut self, id: u32, network_header: &[u8], transport_header: &[u8]) -> bool {
        match PacketKey::from_headers(network_header, transport_header) {
            Some(k) => {
                let between = |(a, b): (IpAddr, IpAddr)| {
                    (k.src == a && k.dst == b) || (k.src == b && k.dst == a)
                };
                let ours = between((self.a, self.b)) || self.tunnel.is_some_and(between);
                if ours {
                    if self.ids.len() >= MAX_FLOW_IDS {
                        self.ids.clear();
                    }
                    self.ids.insert(id);
                } else {
                    self.ids.remove(&id);
                }
                ours
            }
            None => self.ids.contains(&id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::netfilter::samples::{event, headers};
    use crate::core::netfilter::{NfEvent, NfVerdict, TraceKind};

    fn kept(f: &mut FlowFilter, ev: &NfEvent) -> bool {
        f.keep(ev.id, &ev.network_header, &ev.transport_header)
    }

    #[test]
    fn a_flow_filter_keeps_the_flows_events_and_those_after_them_with_the_same_id() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let (nh, th) = headers();
        let with_headers = |id: u32, nh: &[u8]| NfEvent {
            network_header: nh.to_vec(),
            transport_header: th.clone(),
            ..event("host", id, TraceKind::Rule, NfVerdict::Accept)
        };
        let mut f = FlowFilter::new(ip("172.18.0.3"), ip("172.18.0.2"));
        assert!(kept(&mut f, &with_headers(1, &nh)), "the flow's packet, either way");
        assert!(
            kept(&mut f, &event("host", 1, TraceKind::Policy, NfVerdict::Drop)),
            "same trace id"
        );
        let mut other = nh.clone();
        other[19] = 9; // 172.18.0.2 → 172.18.0.9: another run's flow
        assert!(!kept(&mut f, &with_headers(2, &other)));
        assert!(
            !kept(&mut f, &event("host", 2, TraceKind::Policy, NfVerdict::Drop)),
            "its later events"
        );
        assert!(!kept(&mut f, &event("host", 3, TraceKind::Rule, NfVerdict::Accept)), "unknown id");
        // A trace id reused by another flow's packet is forgotten for the flow.
        assert!(!kept(&mut f, &with_headers(1, &other)));
        assert!(!kept(&mut f, &event("host", 1, TraceKind::Rule, NfVerdict::Accept)));
    }

    #[test]
    fn key_from_headers_reads_addresses_id_and_echo() {
        let (nh, th) = headers();
        let k = PacketKey::from_headers(&nh, &th).expect("key");
        assert_eq!(k.src, IpAddr::from([172, 18, 0, 2]));
        assert_eq!(k.dst, IpAddr::from([172, 18, 0, 3]));
        assert_eq!((k.proto, k.ip_id, k.echo), (1, Some(0x1234), Some((7, 1))));
        assert_eq!(PacketKey::from_headers(&nh[..19], &th), None);
        assert_eq!(PacketKey::from_headers(&[], &th), None);
        assert_eq!(PacketKey::from_headers(&nh, &[]).map(|k| k.echo), Some(None));
    }

    #[test]
    fn a_tunnels_outer_packet_is_kept_and_keyed_like_its_sighting() {
        let (a, b) = (IpAddr::from([10, 99, 0, 1]), IpAddr::from([10, 99, 0, 2]));
        // IPv4 10.99.0.1 → 10.99.0.2, id 0x0abc, UDP 4789.
        let mut nh = vec![0x45, 0, 0, 134, 0x0a, 0xbc, 0, 0, 64, 17, 0, 0];
        nh.extend([10, 99, 0, 1, 10, 99, 0, 2]);
        let th = vec![0xc8, 0x22, 0x12, 0xb5, 0, 114, 0, 0];
        let ev = NfEvent {
            network_header: nh.clone(),
            transport_header: th.clone(),
            ..event("node-2", 5, TraceKind::Rule, NfVerdict::Drop)
        };
        let inner = (IpAddr::from([10, 42, 0, 2]), IpAddr::from([10, 42, 0, 3]));
        assert!(!kept(&mut FlowFilter::new(inner.0, inner.1), &ev), "not the flow's own packet");
        assert!(kept(&mut FlowFilter::new(inner.0, inner.1).with_tunnel(a, b), &ev));
        let seen = Encap { vni: 42, outer_src: a, outer_dst: b, outer_id: Some(0x0abc) };
        assert_eq!(PacketKey::of_encap(&seen), PacketKey::from_headers(&nh, &th));
        assert_eq!(PacketKey::of_encap(&Encap { outer_id: None, ..seen }), None);
    }
}
