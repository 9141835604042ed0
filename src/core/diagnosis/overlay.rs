//! `mtu` on an overlay: a packet too big for a VXLAN tunnel, with the arithmetic that makes it
//! so (the packet, the encapsulation, the underlay's MTU) and where it really stops.
//!
//! A VXLAN device takes its underlay's MTU minus the encapsulation (50 bytes over IPv4); a
//! container whose interface keeps Ethernet's 1500 sends packets the tunnel cannot carry. The
//! bridge that would forward them to the VXLAN device drops them silently (a bridge sends no
//! ICMP "fragmentation needed"), so the sender never learns. Pure: reads the topology at trace
//! time and the lost segment, never guesses beyond them.

use std::net::IpAddr;

use super::Diagnosis;
use crate::core::netfilter::in_namespace;
use crate::core::path::{Path, PathPoint, Role};
use crate::core::topology::{Link, RouteKind, Topology, Vxlan};
use crate::core::verdict::{Cause, Segment};

/// The tunnel arithmetic of one packet size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TunnelFit {
    /// The inner IP packet's size.
    pub len: u32,
    /// The encapsulation's bytes.
    pub overhead: u32,
    /// The underlay's MTU.
    pub underlay_mtu: u32,
}

impl TunnelFit {
    /// The outer packet's size.
    pub fn outer(&self) -> u32 {
        self.len + self.overhead
    }

    /// True when the outer packet is larger than the underlay carries.
    pub fn exceeds(&self) -> bool {
        self.outer() > self.underlay_mtu
    }

    /// The largest inner packet that fits.
    pub fn largest(&self) -> u32 {
        self.underlay_mtu.saturating_sub(self.overhead)
    }

    /// `1500-byte packet + 50 bytes of VXLAN encapsulation = 1550 > underlay MTU 1500 of ID`.
    pub fn sentence(&self, underlay: &str) -> String {
        format!(
            "{}-byte packet + {} bytes of VXLAN encapsulation = {} > underlay MTU {} of {underlay}",
            self.len,
            self.overhead,
            self.outer(),
            self.underlay_mtu
        )
    }
}

/// `mtu` when a DF packet of `len` bytes was lost on its way into a VXLAN tunnel of the segment
/// (or just after it) that cannot carry it.
pub fn tunnel_mtu(topo: &Topology, path: &Path, seg: Segment, len: usize) -> Option<Diagnosis> {
    let len = u32::try_from(len).ok()?;
    let from = seg.after.map_or(0, |p| p.index());
    let to = seg.before.map_or(path.points.len().saturating_sub(1), |p| p.index());
    let (at, tunnel, v) = path.points.iter().enumerate().find_map(|(i, p)| {
        let l = topo.link(p.ns, p.ifindex)?;
        let v = l.vxlan.as_ref()?;
        ((from..=to).contains(&i)).then_some((i, p, (l, v)))
    })?;
    let (link, v) = v;
    let (underlay_id, underlay) = underlay_of(topo, path, at, tunnel, v)?;
    let fit = TunnelFit { len, overhead: v.overhead(), underlay_mtu: underlay.mtu };
    if !fit.exceeds() && len <= link.mtu {
        return None;
    }
    let mut detail = format!(
        "{}: {} (VNI {}) has MTU {}, so {len}-byte packets with DF do not fit it",
        fit.sentence(&underlay_id),
        tunnel.point_id,
        v.vni,
        link.mtu
    );
    let dropper = seg.after.and_then(|p| path.points.get(p.index()));
    if let Some(b) = dropper.filter(|p| p.role == Role::Bridge && at == from + 1) {
        detail.push_str(&format!(
            "; the bridge {} drops them as it forwards them to {} and sends no ICMP \
             \"fragmentation needed\", so the sender never learns",
            b.point_id, tunnel.point_id
        ));
    }
    if let Some(src) = path.points.first().and_then(|p| topo.link(p.ns, p.ifindex)) {
        detail.push_str(&format!(
            " (fix: MTU {} on {} and the other containers' interfaces, now {}, or an underlay \
             MTU of at least {})",
            fit.largest(),
            path.points.first().map_or("the source", |p| p.point_id.as_str()),
            src.mtu,
            fit.outer()
        ));
    }
    Some(Diagnosis { cause: Cause::Mtu, detail })
}

/// `no-route` between the tunnel's endpoints: the packet was lost at or after a VXLAN device
/// that ends the path, and its node has no usable route to the tunnel's remote endpoint.
pub fn tunnel_no_route(topo: &Topology, path: &Path, seg: Segment) -> Option<Diagnosis> {
    let (at, last) = (path.points.len().checked_sub(1)?, path.points.last()?);
    if seg.before.is_some_and(|b| b.index() != at) || seg.after.is_none_or(|a| a.index() + 1 < at) {
        return None;
    }
    let v = topo.link(last.ns, last.ifindex)?.vxlan.as_ref()?;
    let ns = topo.ns(last.ns)?;
    let unicast = |r: IpAddr| ns.route_to(r).is_some_and(|rt| rt.kind == RouteKind::Unicast);
    let remote = v.remotes().into_iter().find(|r| !unicast(*r))?;
    let show = in_namespace(&ns.label, &format!("ip route get {remote}"));
    Some(Diagnosis {
        cause: Cause::NoRoute,
        detail: format!(
            "{} has no route to {remote}, the remote endpoint of its VXLAN tunnel {} (VNI {}): \
             the tunnel's outer packets cannot be sent (see: {show})",
            ns.label, last.point_id, v.vni
        ),
    })
}

/// What was seen when the tunnel's packets reached a node with no VXLAN device of the tunnel's
/// VNI and port (the path ends on that node's underlay link): no rule names a cause, so the
/// cause stays `unknown` with what is known.
pub fn tunnel_no_peer(topo: &Topology, path: &Path, seg: Segment) -> Option<Diagnosis> {
    let at = path.points.len().checked_sub(1)?;
    let last = path.points.last()?;
    if seg.after.map(|a| a.index()) != Some(at) {
        return None;
    }
    let tunnel =
        path.points.iter().rev().find_map(|p| topo.link(p.ns, p.ifindex)?.vxlan.as_ref())?;
    let ns = topo.ns(last.ns)?;
    if ns
        .links
        .iter()
        .any(|l| l.vxlan.as_ref().is_some_and(|w| w.vni == tunnel.vni && w.port == tunnel.port))
    {
        return None;
    }
    let theirs: Vec<String> = ns
        .links
        .iter()
        .filter_map(|l| {
            Some(format!(
                "{} VNI {} port {}",
                l.name,
                l.vxlan.as_ref()?.vni,
                l.vxlan.as_ref()?.port
            ))
        })
        .collect();
    let has = if theirs.is_empty() { "none".to_owned() } else { theirs.join(", ") };
    Some(Diagnosis {
        cause: Cause::Unknown,
        detail: format!(
            "the tunnel's packets reached {} but {} has no VXLAN device of VNI {} on UDP port {} \
             to take them (its VXLAN devices: {has})",
            last.point_id, ns.label, tunnel.vni, tunnel.port
        ),
    })
}

/// The tunnel's underlay link: its `dev` when set, else the underlay point after it on the path.
fn underlay_of<'t>(
    topo: &'t Topology,
    path: &'t Path,
    at: usize,
    tunnel: &PathPoint,
    v: &Vxlan,
) -> Option<(String, &'t Link)> {
    if let Some(dev) = v.underlay
        && let Some(l) = topo.link(tunnel.ns, dev)
    {
        return Some((topo.point_id(tunnel.ns, dev).to_string(), l));
    }
    let p = path.points.iter().skip(at + 1).find(|p| p.role == Role::Underlay)?;
    Some((p.point_id.to_string(), topo.link(p.ns, p.ifindex)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::line::PointIdx;
    use crate::core::topology::{IfAddr, IfIndex, LinkKind, Namespace, NsIdx, NsKind, Route};
    use crate::core::topology::{RouteScope, VXLAN_OVERHEAD_IPV4};

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    /// nginx-1 and node-1 of the overlay lab, and the path from nginx-1/eth0 to node-1's
    /// underlay0 (as far as the diagnosis needs it).
    fn node() -> (Topology, Path) {
        let mut c = Namespace::new("nginx-1", NsKind::Named, "/run/netns/nginx-1".into(), 1);
        c.links.push(Link::new(2, "eth0", LinkKind::Veth));
        let mut n = Namespace::new("node-1", NsKind::Named, "/run/netns/node-1".into(), 2);
        let mut underlay = Link::new(2, "underlay0", LinkKind::Veth);
        underlay.addrs.push(IfAddr { ip: ip("10.99.0.1"), prefix: 24 });
        let mut br = Link::new(3, "br0", LinkKind::Bridge);
        br.mtu = 1450;
        let mut vx = Link::new(5, "vxlan42", LinkKind::Vxlan);
        vx.mtu = 1500 - VXLAN_OVERHEAD_IPV4;
        vx.vxlan = Some(Vxlan {
            vni: 42,
            port: 4789,
            local: Some(ip("10.99.0.1")),
            remote: Some(ip("10.99.0.2")),
            underlay: Some(IfIndex(2)),
            learning: true,
            fdb: Vec::new(),
        });
        n.links = vec![underlay, br, Link::new(4, "veth1111111", LinkKind::Veth), vx];
        n.routes.push(Route {
            dst: ip("10.99.0.0"),
            prefix: 24,
            gateway: None,
            dev: Some(IfIndex(2)),
            scope: RouteScope::Link,
            kind: RouteKind::Unicast,
            metric: None,
        });
        let topo = Topology { namespaces: vec![c, n] };
        let pt = |ns: usize, ifindex: u32, role: Role| {
            let point_id = topo.point_id(NsIdx(ns), IfIndex(ifindex));
            let ifname = point_id.as_str().split('/').nth(1).unwrap_or("").to_owned();
            PathPoint {
                ns: NsIdx(ns),
                point_id,
                ifname,
                ifindex: IfIndex(ifindex),
                role,
                turn: false,
            }
        };
        let points = vec![
            pt(0, 2, Role::Endpoint),
            pt(1, 4, Role::VethHost),
            pt(1, 3, Role::Bridge),
            pt(1, 5, Role::Tunnel),
            pt(1, 2, Role::Underlay),
        ];
        let path = Path { src: NsIdx(0), dst: NsIdx(1), dst_ip: ip("10.42.0.3"), points };
        (topo, path)
    }

    fn seg(after: u16, before: Option<u16>) -> Segment {
        Segment { after: Some(PointIdx(after)), before: before.map(PointIdx) }
    }

    #[test]
    fn a_full_size_packet_stopped_by_the_bridge_before_the_tunnel_is_mtu_with_the_arithmetic() {
        let (topo, path) = node();
        let d = tunnel_mtu(&topo, &path, seg(2, Some(3)), 1500);
        let detail = d.as_ref().map(|d| d.detail.as_str()).unwrap_or_default();
        assert_eq!(d.as_ref().map(|d| d.cause), Some(Cause::Mtu));
        assert!(
            detail.starts_with(
                "1500-byte packet + 50 bytes of VXLAN encapsulation = 1550 > underlay MTU 1500 \
                 of node-1/underlay0: node-1/vxlan42 (VNI 42) has MTU 1450, so 1500-byte packets \
                 with DF do not fit it; the bridge node-1/br0 drops them as it forwards them to \
                 node-1/vxlan42"
            ),
            "{detail}"
        );
        assert!(detail.contains("fix: MTU 1450 on nginx-1/eth0"), "{detail}");
        // A packet that fits is not the tunnel's fault.
        assert_eq!(tunnel_mtu(&topo, &path, seg(2, Some(3)), 1450), None);
        // Nor is a loss before the tunnel's segment.
        assert_eq!(tunnel_mtu(&topo, &path, seg(0, Some(1)), 1500), None);
    }

    #[test]
    fn no_route_to_the_remote_endpoint_is_no_route_between_the_vteps() {
        let (mut topo, mut path) = node();
        path.points.truncate(4);
        assert_eq!(tunnel_no_route(&topo, &path, seg(3, None)), None, "the route is there");
        if let Some(n) = topo.namespaces.get_mut(1) {
            n.routes.clear();
        }
        let d = tunnel_no_route(&topo, &path, seg(3, None));
        assert_eq!(
            d.map(|d| (d.cause, d.detail)),
            Some((
                Cause::NoRoute,
                "node-1 has no route to 10.99.0.2, the remote endpoint of its VXLAN tunnel \
                 node-1/vxlan42 (VNI 42): the tunnel's outer packets cannot be sent (see: ip \
                 netns exec node-1 ip route get 10.99.0.2)"
                    .to_owned()
            ))
        );
    }

    #[test]
    fn the_arithmetic_of_a_full_size_packet_on_a_1500_byte_underlay() {
        let fit = TunnelFit { len: 1500, overhead: 50, underlay_mtu: 1500 };
        assert!(fit.exceeds());
        assert_eq!(fit.largest(), 1450);
        assert_eq!(
            fit.sentence("node-1/underlay0"),
            "1500-byte packet + 50 bytes of VXLAN encapsulation = 1550 > underlay MTU 1500 of \
             node-1/underlay0"
        );
        assert!(!TunnelFit { len: 1450, ..fit }.exceeds());
        assert!(!TunnelFit { underlay_mtu: 1550, ..fit }.exceeds());
    }
}
