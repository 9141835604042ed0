//! The rules of the diagnosis, each on its own evidence: the links of the path from the topology
//! at trace time (`link-down`, `bridge-port-blocked`, `mtu`, `no-route`) and the qdiscs whose
//! drop counters rose (`tc-drop`). The order in which they are tried is [`super::conclude`]'s.
//!
//! The captures give the segment (the last point that saw the packet, the first that did not);
//! the topology gives the state of every link of the path from there on. Rules, first match wins:
//! `no-route` (the source could not send at all), `link-down` (a link admin-down or without
//! carrier), `bridge-port-blocked` (a port not forwarding), `mtu` (a probe with DF larger than a
//! link's MTU). Otherwise the verdict's own cause stands (`no-arp-reply`, `no-reply`, `unknown`).
//! Pure: never touches the system, never guesses beyond the links of the path.

use super::{Diagnosis, ProbeFacts};
use crate::core::path::{Path, Role, routed_between};
use crate::core::point::PointId;
use crate::core::topology::{Link, NeighState, NsIdx, OperState, Topology};
use crate::core::verdict::{Cause, Segment, Verdict};

/// Diagnose a verdict. `path` is the path the trace captured on (its point `i` is the analysis's
/// `PointIdx(i)`), `None` when no path could be computed.
pub fn diagnose(
    topo: &Topology,
    path: Option<&Path>,
    verdict: &Verdict,
    probe: &ProbeFacts,
) -> Option<Diagnosis> {
    if probe.no_route {
        return Some(Diagnosis {
            cause: Cause::NoRoute,
            detail: "the source has no route to the destination: the kernel refused to send".into(),
        });
    }
    if !matches!(verdict.cause, Cause::Unknown | Cause::NoArpReply | Cause::NoReply) {
        return None;
    }
    let path = path?;
    let seg = verdict.segment?;
    if let Some(d) = left_by_branch(topo, path, seg) {
        return Some(d);
    }
    let links = segment_links(topo, path, seg);
    if let Some((id, why)) = links.iter().find_map(|(id, l)| down(l).map(|why| (id, why))) {
        return Some(Diagnosis { cause: Cause::LinkDown, detail: format!("{id} is {why}") });
    }
    if let Some((id, l)) =
        links.iter().find(|(_, l)| l.bridge_port_state.is_some_and(|s| !s.forwards()))
    {
        let state = l.bridge_port_state.map_or("unknown", |s| s.as_str());
        return Some(Diagnosis {
            cause: Cause::BridgePortBlocked,
            detail: format!("bridge port {id} is {state}, not forwarding"),
        });
    }
    if let Some(d) = forwarding_off(topo, path, seg) {
        return Some(d);
    }
    if let Some(d) = super::overlay::tunnel_no_route(topo, path, seg) {
        return Some(d);
    }
    if let Some(d) = no_return_route(topo, path, verdict) {
        return Some(d);
    }
    if probe.dont_fragment {
        let len = probe.ip_len;
        if let Some(d) = super::overlay::tunnel_mtu(topo, path, seg, len) {
            return Some(d);
        }
        if let Some((id, l)) =
            links.iter().find(|(_, l)| usize::try_from(l.mtu).is_ok_and(|m| m < len))
        {
            return Some(Diagnosis {
                cause: Cause::Mtu,
                detail: format!("{len}-byte packets with DF do not fit {id} (MTU {})", l.mtu),
            });
        }
    }
    None
}

/// The packet was last seen leaving by a branch (an interface off the path of a namespace whose
/// policy rules made the way on uncertain): it went elsewhere than the main table says. No cause
/// of the list is proven (where it went is outside the capture), so the cause stays `unknown`
/// and the sentence says what was seen and which rules decided.
pub fn left_by_branch(topo: &Topology, path: &Path, seg: Segment) -> Option<Diagnosis> {
    let at = path.points.get(seg.after?.index()).filter(|p| p.role == Role::Branch)?;
    let ns = topo.ns(at.ns)?;
    let v6 = path.dst_ip.is_ipv6();
    let rules: Vec<&str> =
        ns.rules.iter().filter(|r| r.v6 == v6).map(|r| r.text.as_str()).collect();
    let main = path
        .points
        .iter()
        .skip(seg.after?.index())
        .find(|p| p.role != Role::Branch)
        .filter(|p| p.ns == at.ns)
        .map_or_else(|| "another interface".to_owned(), |p| p.ifname.clone());
    let show = crate::core::netfilter::in_namespace(&ns.label, "ip rule");
    Some(Diagnosis {
        cause: Cause::Unknown,
        detail: format!(
            "{} sent the packet to {} out of {}, not out of {main} as its main table routes it: \
             its policy routing rules decide ({}; `{show}`); nothing was captured after {}",
            ns.label,
            path.dst_ip,
            at.ifname,
            rules.join(", "),
            at.point_id
        ),
    })
}

/// Why a source may have sent nothing: its neighbour entry for the next hop toward the path's
/// destination was already failed (or incomplete) when the topology was read, e.g. after an ARP
/// nobody answered. A sentence for a verdict in which no probe reached the first point.
pub fn unresolved_next_hop(topo: &Topology, path: &Path) -> Option<String> {
    let ns = topo.ns(path.src)?;
    let route = ns.route_to(path.dst_ip)?;
    let via = route.gateway.unwrap_or(path.dst_ip);
    let n = ns.neighbours.iter().find(|n| n.ip == via && Some(n.dev) == route.dev)?;
    matches!(n.state, NeighState::Failed | NeighState::Incomplete).then(|| {
        let fix = crate::core::netfilter::in_namespace(&ns.label, &format!("ip neigh flush {via}"));
        format!(
            "{}'s neighbour entry for its next hop {via} was {} before the trace (an earlier \
             ARP or NDP request went unanswered): what it sends there waits for that \
             resolution or is dropped with it (`--fresh-arp` or `{fix}` starts over)",
            ns.label,
            n.state.as_str()
        )
    })
}

/// `forwarding-disabled`: the packet was last seen where a namespace has to route it on (it
/// entered on one link and must leave on another that is not on the same bridge) and that
/// namespace does not forward the packet's family.
fn forwarding_off(topo: &Topology, path: &Path, seg: Segment) -> Option<Diagnosis> {
    let (a, b) = (path.points.get(seg.after?.index())?, path.points.get(seg.before?.index())?);
    if a.ns != b.ns || a.ns == path.src || a.ns == path.dst || !routed_between(topo, a, b) {
        return None;
    }
    let ns = topo.ns(a.ns)?;
    if ns.sysctl.forwards(path.dst_ip) != Some(false) {
        return None;
    }
    let (family, key) = if path.dst_ip.is_ipv6() {
        ("IPv6", "net.ipv6.conf.all.forwarding")
    } else {
        ("IPv4", "net.ipv4.ip_forward")
    };
    let fix = crate::core::netfilter::in_namespace(&ns.label, &format!("sysctl -w {key}=1"));
    Some(Diagnosis {
        cause: Cause::ForwardingDisabled,
        detail: format!(
            "{} has to route the packet from {} to {}, but {family} forwarding is off there \
             ({key} = 0; fix: {fix})",
            ns.label, a.ifname, b.ifname
        ),
    })
}

/// `no-return-route`: the requests reached the destination and nothing answered, and the
/// destination has no route back to the source address they carried there (a missing
/// masquerade or SNAT on the way).
fn no_return_route(topo: &Topology, path: &Path, verdict: &Verdict) -> Option<Diagnosis> {
    if verdict.cause != Cause::NoReply {
        return None;
    }
    let seg = verdict.segment?;
    let last = path.points.len().checked_sub(1)?;
    if seg.after.map(|p| p.index()) != Some(last) || seg.before.is_some() {
        return None;
    }
    let from = verdict.arrived_from?;
    let ns = topo.ns(path.dst)?;
    // A path that ends inside an overlay (its tunnel could not go on) did not reach the
    // destination: nothing to say of a way back.
    let tunnelled =
        path.points.iter().any(|p| topo.link(p.ns, p.ifindex).is_some_and(|l| l.vxlan.is_some()));
    if tunnelled && ns.link_with_ip(path.dst_ip).is_none() {
        return None;
    }
    let at = &path.points.get(last)?.point_id;
    let route = ns.route_to(from);
    let routable = route.is_some_and(|r| r.kind == crate::core::topology::RouteKind::Unicast);
    if routable {
        return None;
    }
    let show = crate::core::netfilter::in_namespace(&ns.label, "ip route");
    Some(Diagnosis {
        cause: Cause::NoReturnRoute,
        detail: format!(
            "{} has no route back to {from}, the source address the requests carried at {at}: \
             it was not translated on the way (a missing masquerade or SNAT) or the destination \
             lacks a route (see: {show})",
            ns.label
        ),
    })
}

/// One qdisc's drop counter (what `tc -s qdisc show` calls `dropped`), read before or after a
/// trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QdiscCount {
    /// The namespace of its link (set by the caller).
    pub ns: Option<NsIdx>,
    pub ifindex: u32,
    /// `pfifo`, `netem`, `clsact`, `noqueue`…
    pub kind: String,
    /// `8003:`, as tc prints it.
    pub handle: String,
    /// `ffff:fff1`.
    pub parent: String,
    pub drops: u64,
}

/// A qdisc on a path point whose drop counter rose during the trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QdiscRise {
    /// The point id (`<namespace label>/<ifname>`).
    pub point: String,
    pub kind: String,
    pub handle: String,
    /// Packets it dropped during the trace.
    pub dropped: u64,
}

/// The qdiscs of the path's points whose drop counters rose between `before` and `after` (a
/// qdisc that appeared meanwhile counts from zero), in path order.
pub fn qdisc_rises(path: &Path, before: &[QdiscCount], after: &[QdiscCount]) -> Vec<QdiscRise> {
    let mut out = Vec::new();
    for p in &path.points {
        let on_link = after.iter().filter(|q| q.ns == Some(p.ns) && q.ifindex == p.ifindex.0);
        for q in on_link {
            let old = before
                .iter()
                .find(|b| {
                    b.ns == q.ns
                        && b.ifindex == q.ifindex
                        && b.handle == q.handle
                        && b.parent == q.parent
                })
                .map_or(0, |b| b.drops);
            if q.drops > old {
                out.push(QdiscRise {
                    point: p.point_id.to_string(),
                    kind: q.kind.clone(),
                    handle: q.handle.clone(),
                    dropped: q.drops - old,
                });
            }
        }
    }
    out
}

/// `tc-drop`: the first point of the lost segment (from its `after` point to its `before` point,
/// to the end of the path when `before` is unknown; `ids` are the point ids in path order) with a
/// qdisc whose drop counter rose during the trace, naming the link and qdisc with the command
/// that shows it.
pub fn tc_drop(
    ids: &[&str],
    after: Option<&str>,
    before: Option<&str>,
    verdict: &Verdict,
    rises: &[QdiscRise],
) -> Option<Diagnosis> {
    if !matches!(verdict.cause, Cause::Unknown | Cause::NoArpReply | Cause::NoReply) {
        return None;
    }
    verdict.segment?;
    let at = |id: Option<&str>| id.and_then(|id| ids.iter().position(|p| *p == id));
    let from = at(after).unwrap_or(0);
    let to = at(before).unwrap_or(ids.len().saturating_sub(1));
    let q = ids
        .iter()
        .enumerate()
        .filter(|(i, _)| (from..=to).contains(i))
        .find_map(|(_, id)| rises.iter().find(|r| r.point == *id))?;
    let (label, ifname) = match PointId::split(&q.point) {
        (Some(label), ifname) => (label, ifname),
        (None, ifname) => (crate::core::topology::HOST_LABEL, ifname),
    };
    let show = format!("tc -s qdisc show dev {ifname}");
    Some(Diagnosis {
        cause: Cause::TcDrop,
        detail: format!(
            "qdisc {} {} on {} dropped {} packet{} during the trace (see: {})",
            q.kind,
            q.handle,
            q.point,
            q.dropped,
            if q.dropped == 1 { "" } else { "s" },
            crate::core::netfilter::in_namespace(label, &show)
        ),
    })
}

/// [`tc_drop`] on a live path, its segment given by point index.
pub fn tc_drop_on_path(path: &Path, verdict: &Verdict, rises: &[QdiscRise]) -> Option<Diagnosis> {
    let ids: Vec<&str> = path.points.iter().map(|p| p.point_id.as_str()).collect();
    let id = |p: Option<crate::core::line::PointIdx>| p.and_then(|p| ids.get(p.index()).copied());
    let seg = verdict.segment?;
    tc_drop(&ids, id(seg.after), id(seg.before), verdict, rises)
}

/// The links of the path from the segment's `after` point to its `before` point (to the end of
/// the path when `before` is unknown), with their point ids.
fn segment_links<'t>(topo: &'t Topology, path: &'t Path, seg: Segment) -> Vec<(&'t str, &'t Link)> {
    let from = seg.after.map_or(0, |p| p.index());
    let to = seg.before.map_or(path.points.len().saturating_sub(1), |p| p.index());
    path.points
        .iter()
        .enumerate()
        .filter(|(i, _)| (from..=to).contains(i))
        .filter_map(|(_, p)| Some((p.point_id.as_str(), topo.link(p.ns, p.ifindex)?)))
        .collect()
}

/// Why a link cannot carry packets, if it cannot.
fn down(l: &Link) -> Option<&'static str> {
    if !l.admin_up {
        Some("administratively down")
    } else if l.carrier == Some(false) {
        Some("up but has no carrier (its peer is down)")
    } else if matches!(l.oper_state, OperState::Down | OperState::LowerLayerDown) {
        Some("operationally down")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};
    use std::path::PathBuf;

    use super::*;
    use crate::core::line::PointIdx;
    use crate::core::path::{PathPoint, Role};
    use crate::core::topology::{IfIndex, LinkKind, Namespace, NsIdx, NsKind, PortState};

    fn link(ifindex: u32, name: &str, kind: LinkKind, port: bool) -> Link {
        Link {
            master: port.then_some(IfIndex(10)),
            bridge_port_state: port.then_some(PortState::Forwarding),
            ..Link::new(ifindex, name, kind)
        }
    }

    /// The classic lab: nginx-1/eth0 → host/vethA → host/docker0 → host/vethB → nginx-2/eth0.
    fn lab() -> (Topology, Path) {
        let ns = |label: &str, links: Vec<Link>| Namespace {
            links,
            ..Namespace::new(label, NsKind::Named, PathBuf::from("/run/netns/x"), 1)
        };
        let topo = Topology {
            namespaces: vec![
                ns("nginx-1", vec![link(2, "eth0", LinkKind::Veth, false)]),
                ns(
                    "host",
                    vec![
                        link(10, "docker0", LinkKind::Bridge, false),
                        link(11, "vethA", LinkKind::Veth, true),
                        link(12, "vethB", LinkKind::Veth, true),
                    ],
                ),
                ns("nginx-2", vec![link(2, "eth0", LinkKind::Veth, false)]),
            ],
        };
        let pt = |ns: usize, ifindex: u32, id: &str, role: Role| PathPoint {
            ns: NsIdx(ns),
            point_id: PointId::parse(id),
            ifname: PointId::split(id).1.into(),
            ifindex: IfIndex(ifindex),
            role,
            turn: false,
        };
        let path = Path {
            src: NsIdx(0),
            dst: NsIdx(2),
            dst_ip: IpAddr::V4(Ipv4Addr::new(172, 18, 0, 3)),
            points: vec![
                pt(0, 2, "nginx-1/eth0", Role::Endpoint),
                pt(1, 11, "host/vethA", Role::VethHost),
                pt(1, 10, "host/docker0", Role::Bridge),
                pt(1, 12, "host/vethB", Role::VethHost),
                pt(2, 2, "nginx-2/eth0", Role::Endpoint),
            ],
        };
        (topo, path)
    }

    fn lost(cause: Cause, after: Option<u16>, before: Option<u16>) -> Verdict {
        Verdict {
            reachable: false,
            sent: 2,
            received: 0,
            cause,
            segment: Some(Segment { after: after.map(PointIdx), before: before.map(PointIdx) }),
            summary: "0/2 echo replies".into(),
            unit: "echo replies",
            probed: true,
            ..Verdict::default()
        }
    }

    fn link_mut<'a>(topo: &'a mut Topology, ns: usize, name: &str) -> Option<&'a mut Link> {
        topo.namespaces.get_mut(ns)?.links.iter_mut().find(|l| l.name == name)
    }

    const PROBE: ProbeFacts =
        ProbeFacts { ip_len: 84, dont_fragment: false, no_route: false, not_permitted: false };

    #[test]
    fn an_admin_down_veth_after_the_bridge_is_link_down() {
        let (mut topo, path) = lab();
        if let Some(l) = link_mut(&mut topo, 1, "vethB") {
            l.admin_up = false;
            l.oper_state = OperState::Down;
            l.bridge_port_state = Some(PortState::Disabled);
        }
        let v = lost(Cause::NoArpReply, Some(2), Some(3));
        let d = diagnose(&topo, Some(&path), &v, &PROBE);
        assert_eq!(
            d,
            Some(Diagnosis {
                cause: Cause::LinkDown,
                detail: "host/vethB is administratively down".into()
            })
        );
    }

    #[test]
    fn a_peer_without_carrier_is_link_down() {
        let (mut topo, path) = lab();
        if let Some(l) = link_mut(&mut topo, 2, "eth0") {
            l.carrier = Some(false);
            l.oper_state = OperState::LowerLayerDown;
        }
        let d = diagnose(&topo, Some(&path), &lost(Cause::Unknown, Some(3), Some(4)), &PROBE);
        assert_eq!(
            d.map(|d| (d.cause, d.detail)),
            Some((
                Cause::LinkDown,
                "nginx-2/eth0 is up but has no carrier (its peer is down)".to_owned()
            ))
        );
    }

    #[test]
    fn a_disabled_port_is_bridge_port_blocked() {
        let (mut topo, path) = lab();
        if let Some(l) = link_mut(&mut topo, 1, "vethB") {
            l.bridge_port_state = Some(PortState::Disabled);
        }
        let d = diagnose(&topo, Some(&path), &lost(Cause::Unknown, Some(2), Some(3)), &PROBE);
        assert_eq!(
            d.map(|d| (d.cause, d.detail)),
            Some((
                Cause::BridgePortBlocked,
                "bridge port host/vethB is disabled, not forwarding".to_owned()
            ))
        );
    }

    #[test]
    fn links_before_the_segment_are_not_blamed() {
        let (mut topo, path) = lab();
        if let Some(l) = link_mut(&mut topo, 1, "vethA") {
            l.bridge_port_state = Some(PortState::Blocking);
        }
        // Lost between vethB and nginx-2/eth0: vethA is behind the packet.
        let d = diagnose(&topo, Some(&path), &lost(Cause::Unknown, Some(3), Some(4)), &PROBE);
        assert_eq!(d, None);
    }

    #[test]
    fn a_df_probe_larger_than_the_target_mtu_is_mtu() {
        let (mut topo, path) = lab();
        if let Some(l) = link_mut(&mut topo, 2, "eth0") {
            l.mtu = 1400;
        }
        let big = ProbeFacts { ip_len: 1500, dont_fragment: true, ..PROBE };
        let d = diagnose(&topo, Some(&path), &lost(Cause::Unknown, Some(3), Some(4)), &big);
        assert_eq!(
            d.map(|d| (d.cause, d.detail)),
            Some((
                Cause::Mtu,
                "1500-byte packets with DF do not fit nginx-2/eth0 (MTU 1400)".to_owned()
            ))
        );
        // Without DF the packet would be fragmented: not an MTU problem.
        let frag = ProbeFacts { dont_fragment: false, ..big };
        assert_eq!(
            diagnose(&topo, Some(&path), &lost(Cause::Unknown, Some(3), Some(4)), &frag),
            None
        );
    }

    #[test]
    fn a_refused_send_is_no_route_even_without_a_path() {
        let (topo, _) = lab();
        let refused = ProbeFacts { no_route: true, ..PROBE };
        let mut v = lost(Cause::Unknown, None, None);
        v.segment = None;
        let d = diagnose(&topo, None, &v, &refused);
        assert_eq!(d.as_ref().map(|d| d.cause), Some(Cause::NoRoute));
        if let Some(d) = d {
            crate::core::diagnosis::apply(&mut v, &d);
        }
        assert_eq!(v.cause, Cause::NoRoute);
        assert_eq!(v.segment, Some(Segment { after: None, before: None }));
        assert!(
            v.summary.starts_with("0/2 echo replies: the source has no route"),
            "{}",
            v.summary
        );
    }

    #[test]
    fn a_failed_neighbour_entry_of_the_source_for_its_next_hop_is_named() {
        use crate::core::topology::{NeighState, Neighbour, Route, RouteKind, RouteScope};
        let (mut topo, path) = lab();
        let dst = path.dst_ip;
        let src = &mut topo.namespaces[0];
        src.routes.push(Route {
            dst: IpAddr::V4(Ipv4Addr::new(172, 18, 0, 0)),
            prefix: 16,
            gateway: None,
            dev: Some(IfIndex(2)),
            scope: RouteScope::Link,
            kind: RouteKind::Unicast,
            metric: None,
        });
        assert_eq!(unresolved_next_hop(&topo, &path), None);
        let entry = Neighbour { ip: dst, mac: None, state: NeighState::Failed, dev: IfIndex(2) };
        topo.namespaces[0].neighbours.push(entry);
        let said = unresolved_next_hop(&topo, &path).unwrap_or_default();
        assert!(
            said.starts_with("nginx-1's neighbour entry for its next hop 172.18.0.3 was FAILED")
        );
        topo.namespaces[0].neighbours[0].state = NeighState::Reachable;
        assert_eq!(unresolved_next_hop(&topo, &path), None);
    }

    #[test]
    fn healthy_and_capture_gap_verdicts_are_left_alone() {
        let (mut topo, path) = lab();
        if let Some(l) = link_mut(&mut topo, 1, "vethB") {
            l.admin_up = false;
        }
        let mut gap = lost(Cause::CaptureGap, Some(2), Some(3));
        assert_eq!(diagnose(&topo, Some(&path), &gap, &PROBE), None);
        gap.cause = Cause::Ok;
        assert_eq!(diagnose(&topo, Some(&path), &gap, &PROBE), None);
    }

    #[test]
    fn an_unanswered_request_checks_the_links_to_the_end() {
        let (mut topo, path) = lab();
        if let Some(l) = link_mut(&mut topo, 2, "eth0") {
            l.admin_up = false;
        }
        let d = diagnose(&topo, Some(&path), &lost(Cause::NoReply, Some(3), None), &PROBE);
        assert_eq!(d.map(|d| d.cause), Some(Cause::LinkDown));
    }

    #[test]
    fn a_qdisc_whose_drops_rose_in_the_segment_is_tc_drop() {
        let (_, path) = lab();
        let q = |ns: usize, ifindex: u32, handle: &str, drops: u64| QdiscCount {
            ns: Some(NsIdx(ns)),
            ifindex,
            kind: "pfifo".into(),
            handle: handle.into(),
            parent: "ffff:ffff".into(),
            drops,
        };
        let before = [q(1, 12, "77:", 5), q(1, 11, "1:", 0), q(2, 2, "1:", 0)];
        let after = [q(1, 12, "77:", 7), q(1, 11, "1:", 0), q(2, 2, "1:", 9)];
        let v = lost(Cause::Unknown, Some(2), Some(3));
        let rises = qdisc_rises(&path, &before, &after);
        assert_eq!(
            rises.iter().map(|r| (r.point.as_str(), r.dropped)).collect::<Vec<_>>(),
            vec![("host/vethB", 2), ("nginx-2/eth0", 9)]
        );
        let d = tc_drop_on_path(&path, &v, &rises).expect("tc-drop");
        assert_eq!(d.cause, Cause::TcDrop);
        assert_eq!(
            d.detail,
            "qdisc pfifo 77: on host/vethB dropped 2 packets during the trace (see: tc -s qdisc \
             show dev vethB)"
        );
        // Counters outside the segment, or that did not move, say nothing.
        assert_eq!(tc_drop_on_path(&path, &lost(Cause::Unknown, Some(0), Some(1)), &rises), None);
        assert_eq!(qdisc_rises(&path, &after, &after), vec![]);
        // A qdisc that appeared during the trace counts from zero.
        let rises = qdisc_rises(&path, &before[..2], &after);
        let d = tc_drop_on_path(&path, &lost(Cause::NoReply, Some(4), None), &rises);
        assert_eq!(
            d.map(|d| d.detail),
            Some(
                "qdisc pfifo 1: on nginx-2/eth0 dropped 9 packets during the trace (see: ip netns \
                 exec nginx-2 tc -s qdisc show dev eth0)"
                    .to_owned()
            )
        );
        assert_eq!(tc_drop_on_path(&path, &lost(Cause::Mtu, Some(2), Some(3)), &rises), None);
        // Offline, by point ids.
        let ids = ["nginx-1/eth0", "host/vethA", "host/docker0", "host/vethB", "nginx-2/eth0"];
        let early = lost(Cause::Unknown, Some(0), Some(1));
        assert_eq!(tc_drop(&ids, Some("nginx-1/eth0"), Some("host/vethA"), &early, &rises), None);
        assert!(tc_drop(&ids, Some("host/vethB"), None, &v, &rises).is_some());
    }
}
