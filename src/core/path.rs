//! The capture points a packet crosses between two namespaces, in order, computed from a
//! [`Topology`]: container `eth0` → its host veth → bridge → the other host veth → the other
//! `eth0`, a direct veth pair, or several bridges joined by routing.
//!
//! Pure: follows each namespace's main routing table to the next hop (gateway or destination),
//! then walks the layer-2 segment (veth peers, bridge ports) to the link that holds the next
//! hop's address. A VXLAN device on the segment leads through its tunnel: the underlay path to
//! its remote endpoint (routed like any other), then the remote node's VXLAN device of the same
//! VNI, where the segment goes on. It never checks link states, port states or firewalls: a link that is down is
//! still on the path (finding where a packet stops is the tracer's job, not this module's).

use std::collections::{HashSet, VecDeque};
use std::net::IpAddr;

use thiserror::Error;

use crate::core::point::PointId;
use crate::core::topology::{IfIndex, LinkKind, NsIdx, RouteKind, Topology};

/// Where the path goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A namespace, reached at its primary address ([`crate::core::topology::Namespace::primary_ip`]).
    Ns(NsIdx),
    /// An address, reached wherever routing leads.
    Ip(IpAddr),
}

/// What a capture point is on the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The first or last interface: where the packet is sent or received.
    Endpoint,
    /// A veth end between the endpoints (typically the host side of a container's veth).
    VethHost,
    /// A bridge the packet is switched through.
    Bridge,
    /// An interface where a namespace routes the packet on (not a bridge).
    Router,
    /// Any other interface crossed on layer 2.
    Link,
    /// Off the computed path: an interface of a namespace on it whose policy routing rules make
    /// its way on uncertain, captured in case the packet leaves by it (see [`with_branches`]).
    Branch,
    /// A tunnel endpoint (a VXLAN device): frames enter or leave the tunnel here.
    Tunnel,
    /// An underlay interface the tunnel's outer packets cross.
    Underlay,
}

impl Role {
    /// Every role, for parsing.
    const ALL: [Role; 8] = [
        Role::Endpoint,
        Role::VethHost,
        Role::Bridge,
        Role::Router,
        Role::Link,
        Role::Branch,
        Role::Tunnel,
        Role::Underlay,
    ];

    /// The role named as [`Role::as_str`] spells it (as pcapng files of vtrace record it).
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// The role of a point whose capture did not say, from its interface name and whether it
    /// is an end of the path: the one guess every view uses.
    pub fn guess(ifname: &str, at_end: bool) -> Role {
        if at_end {
            Role::Endpoint
        } else if ["br", "docker", "virbr", "cni", "podman"].iter().any(|p| ifname.starts_with(p)) {
            Role::Bridge
        } else if ifname.starts_with("veth") {
            Role::VethHost
        } else if ["vxlan", "flannel", "vx-"].iter().any(|p| ifname.starts_with(p)) {
            Role::Tunnel
        } else if ifname.starts_with("underlay") {
            Role::Underlay
        } else {
            Role::Link
        }
    }

    /// The name used in JSON reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Endpoint => "endpoint",
            Role::VethHost => "veth-host",
            Role::Bridge => "bridge",
            Role::Router => "router",
            Role::Link => "link",
            Role::Branch => "branch",
            Role::Tunnel => "tunnel",
            Role::Underlay => "underlay",
        }
    }
}

/// One capture point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathPoint {
    pub ns: NsIdx,
    /// `<namespace label>/<ifname>`.
    pub point_id: PointId,
    pub ifname: String,
    pub ifindex: IfIndex,
    pub role: Role,
    /// The path turns here: a packet addressed to this interface's namespace comes back out of
    /// the same interface, translated (a DNAT hairpin on a bridge: `docker run -p` reached from
    /// a container of the same bridge).
    pub turn: bool,
}

/// The ordered capture points from the source to the destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    pub src: NsIdx,
    /// The namespace the path ends in.
    pub dst: NsIdx,
    /// The address the path leads to.
    pub dst_ip: IpAddr,
    pub points: Vec<PathPoint>,
}

impl Path {
    pub fn point_ids(&self) -> Vec<&str> {
        self.points.iter().map(|p| p.point_id.as_str()).collect()
    }
}

/// Why no path could be computed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PathError {
    #[error("namespace #{0} is not in the topology")]
    UnknownNamespace(usize),
    #[error("namespace {ns} has no address to reach it at: give the destination as an IP")]
    NoAddress { ns: String },
    #[error("{src} already owns {ip}: source and destination are the same namespace")]
    SameNamespace { src: String, ip: IpAddr },
    #[error("namespace {ns} has no route to {dst} (`ip -n {ns} route` shows its table)")]
    NoRoute { ns: String, dst: IpAddr },
    #[error("namespace {ns} has a {kind} route for {dst}: the kernel refuses to send there")]
    RouteRejects { ns: String, dst: IpAddr, kind: &'static str },
    #[error(
        "namespace {ns} sends to {dst} via {via} on {dev}, but no discovered namespace behind \
         {dev} owns {via}"
    )]
    NextHopNotFound { ns: String, dst: IpAddr, via: IpAddr, dev: String },
    #[error("routing towards {dst} loops back into namespace {ns}")]
    Loop { ns: String, dst: IpAddr },
    #[error(
        "{ns}'s VXLAN tunnel {tunnel} cannot carry the packet to {dst}: its remote endpoint \
         {remote} is out of reach ({why})"
    )]
    TunnelStuck { ns: String, tunnel: String, remote: IpAddr, dst: IpAddr, why: String },
    #[error(
        "{ns} receives the VXLAN tunnel's packets towards {dst} but has no VXLAN device of VNI \
         {vni} on UDP port {port} to take them"
    )]
    TunnelNoPeer { ns: String, vni: u32, port: u16, dst: IpAddr },
}

impl PathError {
    /// The destination of an error that ends the path where routing stops (see [`path_until`]).
    pub fn stuck_towards(&self) -> Option<IpAddr> {
        match self {
            PathError::NoRoute { dst, .. }
            | PathError::RouteRejects { dst, .. }
            | PathError::TunnelStuck { dst, .. }
            | PathError::TunnelNoPeer { dst, .. } => Some(*dst),
            _ => None,
        }
    }
}

/// The capture points from `src` to `dst`.
pub fn path(topo: &Topology, src: NsIdx, dst: Target) -> Result<Path, PathError> {
    let src_ns = topo.ns(src).ok_or(PathError::UnknownNamespace(src.0))?;
    let dst_ip = match dst {
        Target::Ip(ip) => ip,
        Target::Ns(d) => {
            let ns = topo.ns(d).ok_or(PathError::UnknownNamespace(d.0))?;
            ns.primary_ip().ok_or_else(|| PathError::NoAddress { ns: ns.label.clone() })?
        }
    };
    if src_ns.link_with_ip(dst_ip).is_some() {
        return Err(PathError::SameNamespace { src: src_ns.label.clone(), ip: dst_ip });
    }
    let mut hops: Vec<(NsIdx, IfIndex)> = Vec::new();
    let cur = walk(topo, src, dst_ip, &mut hops, 0)?;
    let points = with_roles(topo, &hops, src, cur);
    Ok(Path { src, dst: cur, dst_ip, points })
}

/// The points towards `dst` as far as routing goes: the whole path when there is one; when a
/// namespace on the way cannot go on (no route, nobody owns its next hop), the path up to it and
/// the link it would send on (where its unanswered ARP is seen), ending there. `None` when the
/// source itself cannot send (see [`path`] for why).
pub fn path_until(topo: &Topology, src: NsIdx, dst: IpAddr) -> Option<Path> {
    let mut hops: Vec<(NsIdx, IfIndex)> = Vec::new();
    let end = match walk(topo, src, dst, &mut hops, 0) {
        Ok(end) => end,
        Err(e) => {
            let &(stuck, _) = hops.last()?;
            if let PathError::NextHopNotFound { .. } = e
                && let Some(dev) = topo.ns(stuck).and_then(|n| n.route_to(dst)).and_then(|r| r.dev)
                && hops.last() != Some(&(stuck, dev))
            {
                hops.push((stuck, dev));
            }
            stuck
        }
    };
    let points = with_roles(topo, &hops, src, end);
    Some(Path { src, dst: end, dst_ip: dst, points })
}

/// How many tunnels inside tunnels the walk follows.
const MAX_TUNNEL_DEPTH: u8 = 2;

/// Follow routing from `src` towards `dst_ip`, appending each hop; the namespace reached.
/// `depth` counts the tunnels this walk is inside of (their underlay paths are walks too).
fn walk(
    topo: &Topology,
    src: NsIdx,
    dst_ip: IpAddr,
    hops: &mut Vec<(NsIdx, IfIndex)>,
    depth: u8,
) -> Result<NsIdx, PathError> {
    let mut routed_in: HashSet<NsIdx> = HashSet::new();
    let mut cur = src;
    loop {
        let ns = topo.ns(cur).ok_or(PathError::UnknownNamespace(cur.0))?;
        if cur != src && ns.link_with_ip(dst_ip).is_some() {
            return Ok(cur);
        }
        if !routed_in.insert(cur) {
            return Err(PathError::Loop { ns: ns.label.clone(), dst: dst_ip });
        }
        let segment = next_segment(topo, cur, dst_ip, depth);
        let (segment, stuck) = match segment.map_err(|b| *b) {
            Ok(seg) => (seg, None),
            // In a tunnel that cannot go on: the path ends where the packet gets to.
            Err(Stuck::Tunnel(partial, e)) => (partial, Some(e)),
            Err(Stuck::Error(e)) => return Err(e),
        };
        for hop in segment {
            if hops.last() != Some(&hop) {
                hops.push(hop);
            }
        }
        if let Some(e) = stuck {
            return Err(e);
        }
        match hops.last() {
            Some(&(ns, _)) => cur = ns,
            None => return Err(PathError::NoRoute { ns: ns.label.clone(), dst: dst_ip }),
        }
    }
}

/// The path `first` continued by `then`, which starts in the namespace `first` ends in (where
/// DNAT sent the packet on to another address): one path, its roles given again (the end of
/// `first` is now a hop where the packet is routed on).
pub fn join(topo: &Topology, first: &Path, then: &Path) -> Path {
    let mut hops: Vec<(NsIdx, IfIndex)> = first.points.iter().map(|p| (p.ns, p.ifindex)).collect();
    let mut turns = Vec::new();
    for p in &then.points {
        match hops.iter().position(|&h| h == (p.ns, p.ifindex)) {
            Some(at) => turns.push(at),
            None => hops.push((p.ns, p.ifindex)),
        }
    }
    let mut points = with_roles(topo, &hops, first.src, then.dst);
    for at in turns {
        if let Some(p) = points.get_mut(at) {
            p.turn = true;
        }
    }
    Path { src: first.src, dst: then.dst, dst_ip: then.dst_ip, points }
}

/// Where rules make the path uncertain, let the packets decide: a namespace the path crosses
/// that routes the packet (it enters on one link and leaves on another, not within one bridge)
/// and has policy routing rules for `dst`'s family may send it out of another interface than
/// its main table says. Each of its other interfaces that is up and not a bridge port is added
/// as a [`Role::Branch`] point just before the egress, so a packet that leaves by one is seen.
pub fn with_branches(topo: &Topology, path: &Path) -> Path {
    let mut out = path.clone();
    let mut at = 1;
    while at < out.points.len() {
        let (a, b) = (&out.points[at - 1], &out.points[at]);
        let ns_idx = a.ns;
        let uncertain = topo
            .ns(ns_idx)
            .is_some_and(|ns| ns.rules.iter().any(|r| r.v6 == path.dst_ip.is_ipv6()));
        if !uncertain || !routed_between(topo, a, b) {
            at += 1;
            continue;
        }
        let Some(ns) = topo.ns(ns_idx) else { break };
        let branches: Vec<PathPoint> = ns
            .links
            .iter()
            .filter(|l| {
                l.kind != LinkKind::Loopback
                    && l.admin_up
                    && l.master.is_none()
                    && !out.points.iter().any(|p| p.ns == ns_idx && p.ifindex == l.ifindex)
            })
            .map(|l| PathPoint {
                ns: ns_idx,
                point_id: topo.point_id(ns_idx, l.ifindex),
                ifname: l.name.clone(),
                ifindex: l.ifindex,
                role: Role::Branch,
                turn: false,
            })
            .collect();
        let n = branches.len();
        out.points.splice(at..at, branches);
        at += n + 1;
    }
    out
}

/// True when a packet goes from link `a` to link `b` of one namespace by routing (not within
/// one bridge).
pub fn routed_between(topo: &Topology, a: &PathPoint, b: &PathPoint) -> bool {
    let Some(ns) = topo.ns(a.ns) else { return false };
    let bridge = |p: &PathPoint| ns.bridge_of(p.ifindex).map(|br| br.ifindex);
    a.ns == b.ns
        && a.ifindex != b.ifindex
        && bridge(a) != Some(b.ifindex)
        && bridge(b) != Some(a.ifindex)
        && (bridge(a).is_none() || bridge(a) != bridge(b))
}

/// Why a segment could not be walked: an error, or a tunnel that cannot go on (with the hops up
/// to where the packet gets).
enum Stuck {
    Error(PathError),
    Tunnel(Vec<(NsIdx, IfIndex)>, PathError),
}

impl From<PathError> for Box<Stuck> {
    fn from(e: PathError) -> Self {
        Box::new(Stuck::Error(e))
    }
}

/// Route `dst` out of namespace `cur`: the layer-2 walk from the egress link to the next hop.
fn next_segment(
    topo: &Topology,
    cur: NsIdx,
    dst: IpAddr,
    depth: u8,
) -> Result<Vec<(NsIdx, IfIndex)>, Box<Stuck>> {
    let ns = topo.ns(cur).ok_or(PathError::UnknownNamespace(cur.0))?;
    let label = || ns.label.clone();
    let route = ns.route_to(dst).ok_or_else(|| PathError::NoRoute { ns: label(), dst })?;
    match route.kind {
        RouteKind::Unicast => {}
        RouteKind::Blackhole | RouteKind::Unreachable | RouteKind::Prohibit => {
            let kind = route.kind.as_str();
            return Err(PathError::RouteRejects { ns: label(), dst, kind }.into());
        }
        _ => return Err(PathError::NoRoute { ns: label(), dst }.into()),
    }
    let dev = route.dev.ok_or_else(|| PathError::NoRoute { ns: label(), dst })?;
    let via = route.gateway.unwrap_or(dst);
    match l2_walk(topo, (cur, dev), via, dst, depth) {
        L2::Found(hops) => Ok(hops),
        L2::Stuck(hops, e) => Err(Box::new(Stuck::Tunnel(hops, e))),
        L2::Missing => {
            Err(PathError::NextHopNotFound { ns: label(), dst, via, dev: ns.ifname(dev) }.into())
        }
    }
}

/// What a layer-2 walk found: the hops to the next hop, or how far it got into a tunnel that
/// cannot go on, or nothing.
enum L2 {
    Found(Vec<(NsIdx, IfIndex)>),
    Stuck(Vec<(NsIdx, IfIndex)>, PathError),
    Missing,
}

/// Breadth-first over veth peers, bridge membership and VXLAN tunnels from `start` to the link
/// of another namespace that holds `via` (or, failing that, to the first link of a namespace
/// that owns it).
fn l2_walk(topo: &Topology, start: (NsIdx, IfIndex), via: IpAddr, dst: IpAddr, depth: u8) -> L2 {
    let mut parent: Vec<((NsIdx, IfIndex), Option<usize>)> = vec![(start, None)];
    let mut seen: HashSet<(NsIdx, IfIndex)> = HashSet::from([start]);
    let mut queue = VecDeque::from([0usize]);
    let mut owner_hit = None;
    let mut stuck: Option<(Vec<(NsIdx, IfIndex)>, PathError)> = None;
    while let Some(i) = queue.pop_front() {
        let Some(&(node, _)) = parent.get(i) else { break };
        if node.0 != start.0 {
            let Some(ns) = topo.ns(node.0) else { break };
            let on_link = ns.link(node.1).is_some_and(|l| l.addrs.iter().any(|a| a.ip == via));
            if on_link {
                return L2::Found(trace_back(&parent, i));
            }
            if owner_hit.is_none() && ns.link_with_ip(via).is_some() {
                owner_hit = Some(i);
            }
        }
        for next in l2_neighbours(topo, node) {
            if seen.insert(next) {
                parent.push((next, Some(i)));
                queue.push_back(parent.len() - 1);
            }
        }
        // Through a tunnel: its underlay hops are on the path, but the walk goes on only from
        // the far end (the underlay is another network).
        for chain in tunnel_chains(topo, node, dst, depth) {
            let chain = match chain {
                Ok(chain) => chain,
                Err((partial, e)) => {
                    if stuck.is_none() {
                        let mut hops = trace_back(&parent, i);
                        hops.extend(partial);
                        stuck = Some((hops, e));
                    }
                    continue;
                }
            };
            let Some(&far) = chain.last() else { continue };
            if !seen.insert(far) {
                continue;
            }
            let mut up = i;
            for hop in chain {
                parent.push((hop, Some(up)));
                up = parent.len() - 1;
            }
            queue.push_back(up);
        }
    }
    match (owner_hit, stuck) {
        (Some(i), _) => L2::Found(trace_back(&parent, i)),
        (None, Some((hops, e))) => L2::Stuck(hops, e),
        (None, None) => L2::Missing,
    }
}

/// One tunnel crossed ([`tunnel_chains`]), or how far its packets get and why they stop.
type Chain = Result<Vec<(NsIdx, IfIndex)>, (Vec<(NsIdx, IfIndex)>, PathError)>;

/// From a VXLAN device: for each remote endpoint it tunnels to, the underlay path there (as the
/// node routes it) and the remote node's VXLAN device with the same VNI and port. Empty for
/// other links and too deep in tunnels. A remote endpoint the node cannot route to, or whose
/// node has no device of that VNI, is an error with the hops its packets get to (towards the
/// traced packet's `dst`).
fn tunnel_chains(
    topo: &Topology,
    (ns, ifindex): (NsIdx, IfIndex),
    dst: IpAddr,
    depth: u8,
) -> Vec<Chain> {
    let Some(link) = topo.link(ns, ifindex) else { return Vec::new() };
    let Some(v) = link.vxlan.as_ref() else { return Vec::new() };
    if depth >= MAX_TUNNEL_DEPTH {
        return Vec::new();
    }
    let label = || topo.ns(ns).map_or_else(String::new, |n| n.label.clone());
    let mut out = Vec::new();
    for remote in v.remotes() {
        let mut hops: Vec<(NsIdx, IfIndex)> = Vec::new();
        let far = match walk(topo, ns, remote, &mut hops, depth + 1) {
            Ok(far) => far,
            Err(e) => {
                // Nobody owns the endpoint: its packets still leave on the route's link.
                let dev = topo.ns(ns).and_then(|n| n.route_to(remote)).and_then(|r| r.dev);
                if let (PathError::NextHopNotFound { .. }, Some(dev), true) =
                    (&e, dev, hops.is_empty())
                {
                    hops.push((ns, dev));
                }
                let (tunnel, why) = (link.name.clone(), e.to_string());
                let e = PathError::TunnelStuck { ns: label(), tunnel, remote, dst, why };
                out.push(Err((hops, e)));
                continue;
            }
        };
        // The far device of the same VNI and port whose remotes (if it names any) lead back.
        let near = topo.ns(ns);
        let back = |w: &crate::core::topology::Vxlan| {
            let r = w.remotes();
            r.is_empty() || r.iter().any(|ip| near.is_some_and(|n| n.link_with_ip(*ip).is_some()))
        };
        let peer = topo.ns(far).and_then(|n| {
            n.links.iter().find(|l| {
                l.vxlan.as_ref().is_some_and(|w| w.vni == v.vni && w.port == v.port && back(w))
            })
        });
        match peer {
            Some(peer) => {
                hops.push((far, peer.ifindex));
                out.push(Ok(hops));
            }
            None => {
                let far_label = topo.ns(far).map_or_else(String::new, |n| n.label.clone());
                let e = PathError::TunnelNoPeer { ns: far_label, vni: v.vni, port: v.port, dst };
                out.push(Err((hops, e)));
            }
        }
    }
    out
}

/// The links one layer-2 step away: a veth's peer, a port's bridge, a bridge's ports.
fn l2_neighbours(topo: &Topology, (ns_idx, ifindex): (NsIdx, IfIndex)) -> Vec<(NsIdx, IfIndex)> {
    let Some(ns) = topo.ns(ns_idx) else { return Vec::new() };
    let Some(link) = ns.link(ifindex) else { return Vec::new() };
    let mut out = Vec::new();
    if let Some(peer) = link.peer {
        out.push((peer.ns, peer.ifindex));
    }
    if let Some(bridge) = ns.bridge_of(ifindex) {
        out.push((ns_idx, bridge.ifindex));
    }
    if link.kind == LinkKind::Bridge {
        out.extend(ns.ports_of(ifindex).map(|p| (ns_idx, p.ifindex)));
    }
    out
}

fn trace_back(parent: &[((NsIdx, IfIndex), Option<usize>)], mut i: usize) -> Vec<(NsIdx, IfIndex)> {
    let mut out = Vec::new();
    while let Some(&(node, up)) = parent.get(i) {
        out.push(node);
        match up {
            Some(u) => i = u,
            None => break,
        }
    }
    out.reverse();
    out
}

/// Name each hop and give it its role.
fn with_roles(
    topo: &Topology,
    hops: &[(NsIdx, IfIndex)],
    src: NsIdx,
    dst: NsIdx,
) -> Vec<PathPoint> {
    let last = hops.len().saturating_sub(1);
    hops.iter()
        .enumerate()
        .map(|(i, &(ns, ifindex))| {
            let link = topo.link(ns, ifindex);
            let prev_ns = i.checked_sub(1).and_then(|p| hops.get(p)).map(|h| h.0);
            let next_ns = hops.get(i + 1).map(|h| h.0);
            // Routed on: the packet enters and leaves this namespace on different links, and
            // this link is where it arrives or departs without a bridge in between.
            let routed = ns != src
                && ns != dst
                && (prev_ns != Some(ns) && next_ns == Some(ns)
                    || prev_ns == Some(ns) && next_ns != Some(ns))
                && !is_bridge_hop(topo, hops, i);
            let role = match link.map(|l| &l.kind) {
                // A path that ends inside an overlay (its tunnel could not go on) ends on a
                // tunnel or underlay point, not at an endpoint.
                Some(LinkKind::Vxlan) if i > 0 => Role::Tunnel,
                _ if i > 0 && is_underlay(topo, ns, ifindex) => Role::Underlay,
                _ if i == 0 || i == last => Role::Endpoint,
                Some(LinkKind::Bridge) => Role::Bridge,
                _ if routed => Role::Router,
                Some(LinkKind::Veth) => Role::VethHost,
                _ => Role::Link,
            };
            PathPoint {
                ns,
                point_id: topo.point_id(ns, ifindex),
                ifname: link.map_or_else(|| format!("if{ifindex}"), |l| l.name.clone()),
                ifindex,
                role,
                turn: false,
            }
        })
        .collect()
}

/// True when a VXLAN device of the namespace sends its outer packets over this link (its `dev`,
/// or the link holding its local address).
fn is_underlay(topo: &Topology, ns: NsIdx, ifindex: IfIndex) -> bool {
    let Some(n) = topo.ns(ns) else { return false };
    let Some(link) = n.link(ifindex) else { return false };
    n.links.iter().filter_map(|l| l.vxlan.as_ref()).any(|v| {
        v.underlay == Some(ifindex)
            || v.local.is_some_and(|ip| link.addrs.iter().any(|a| a.ip == ip))
    })
}

/// True when hop `i` and its same-namespace neighbour on the path are a port and its bridge.
fn is_bridge_hop(topo: &Topology, hops: &[(NsIdx, IfIndex)], i: usize) -> bool {
    let Some(&(ns, ifindex)) = hops.get(i) else { return false };
    let Some(n) = topo.ns(ns) else { return false };
    let around = [i.checked_sub(1).and_then(|p| hops.get(p)), hops.get(i + 1)];
    around.into_iter().flatten().filter(|h| h.0 == ns).any(|&(_, other)| {
        n.bridge_of(ifindex).is_some_and(|b| b.ifindex == other)
            || n.bridge_of(other).is_some_and(|b| b.ifindex == ifindex)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::packet::Mac;
    use crate::core::topology::{
        IfAddr, Link, Namespace, NsKind, OperState, PeerRef, PolicyRule, Route, RouteScope, Vxlan,
    };
    use std::net::Ipv4Addr;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    }

    /// A small builder for hand-made topologies.
    #[derive(Default)]
    struct Net {
        topo: Topology,
    }

    impl Net {
        fn ns(&mut self, label: &str) -> NsIdx {
            let i = self.topo.namespaces.len();
            self.topo.namespaces.push(Namespace::new(
                label,
                NsKind::Named,
                format!("/run/netns/{label}").into(),
                i as u64 + 100,
            ));
            NsIdx(i)
        }
        fn get(&mut self, ns: NsIdx) -> &mut Namespace {
            &mut self.topo.namespaces[ns.0]
        }
        fn link(&mut self, ns: NsIdx, ifindex: u32, name: &str, kind: LinkKind) {
            self.get(ns).links.push(Link::new(ifindex, name, kind));
        }
        fn find(&mut self, ns: NsIdx, ifindex: u32) -> &mut Link {
            let links = &mut self.get(ns).links;
            let pos = links.iter().position(|l| l.ifindex == IfIndex(ifindex)).unwrap_or(0);
            &mut links[pos]
        }
        fn veth(&mut self, a: (NsIdx, u32, &str), b: (NsIdx, u32, &str)) {
            self.link(a.0, a.1, a.2, LinkKind::Veth);
            self.link(b.0, b.1, b.2, LinkKind::Veth);
            self.find(a.0, a.1).peer = Some(PeerRef { ns: b.0, ifindex: IfIndex(b.1) });
            self.find(b.0, b.1).peer = Some(PeerRef { ns: a.0, ifindex: IfIndex(a.1) });
        }
        fn addr(&mut self, ns: NsIdx, ifindex: u32, cidr: &str) {
            let (a, p) = cidr.split_once('/').unwrap_or((cidr, "32"));
            let (a, prefix) = (ip(a), p.parse().unwrap_or(32));
            self.find(ns, ifindex).addrs.push(IfAddr { ip: a, prefix });
            let net = match a {
                IpAddr::V4(v) => {
                    let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
                    IpAddr::V4(Ipv4Addr::from(u32::from(v) & mask))
                }
                v6 => v6,
            };
            self.route(ns, net, prefix, None, ifindex);
        }
        fn route(&mut self, ns: NsIdx, dst: IpAddr, prefix: u8, gw: Option<&str>, dev: u32) {
            self.get(ns).routes.push(Route {
                dst,
                prefix,
                gateway: gw.map(ip),
                dev: Some(IfIndex(dev)),
                scope: if gw.is_some() { RouteScope::Universe } else { RouteScope::Link },
                kind: RouteKind::Unicast,
                metric: None,
            });
        }
        fn default_via(&mut self, ns: NsIdx, gw: &str, dev: u32) {
            self.route(ns, ip("0.0.0.0"), 0, Some(gw), dev);
        }
        fn port(&mut self, ns: NsIdx, port: u32, bridge: u32) {
            self.find(ns, port).master = Some(IfIndex(bridge));
        }
    }

    /// nginx-1 and nginx-2 on br0 in a host-side namespace, as `vtrace lab up` builds it.
    fn classic() -> (Net, NsIdx, NsIdx, NsIdx) {
        let mut n = Net::default();
        let (c1, host, c2) = (n.ns("nginx-1"), n.ns("lab-host"), n.ns("nginx-2"));
        n.link(host, 2, "br0", LinkKind::Bridge);
        n.addr(host, 2, "172.18.0.1/16");
        n.veth((c1, 2, "eth0"), (host, 3, "veth1111111"));
        n.veth((c2, 2, "eth0"), (host, 4, "veth2222222"));
        n.port(host, 3, 2);
        n.port(host, 4, 2);
        n.addr(c1, 2, "172.18.0.2/16");
        n.addr(c2, 2, "172.18.0.3/16");
        n.default_via(c1, "172.18.0.1", 2);
        n.default_via(c2, "172.18.0.1", 2);
        (n, c1, host, c2)
    }

    #[test]
    fn classic_lab_has_five_points_each_way() {
        let (n, c1, _, c2) = classic();
        let p = path(&n.topo, c1, Target::Ns(c2)).map(|p| (p.point_ids().join(" "), p.dst));
        let want = "nginx-1/eth0 lab-host/veth1111111 lab-host/br0 lab-host/veth2222222 \
                    nginx-2/eth0";
        assert_eq!(p, Ok((want.to_owned(), c2)));
        let back = path(&n.topo, c2, Target::Ip(ip("172.18.0.2"))).map(|p| p.point_ids().join(" "));
        let want = "nginx-2/eth0 lab-host/veth2222222 lab-host/br0 lab-host/veth1111111 \
                    nginx-1/eth0";
        assert_eq!(back.as_deref(), Ok(want));
    }

    #[test]
    fn classic_lab_roles() {
        let (n, c1, _, c2) = classic();
        let roles: Vec<Role> = path(&n.topo, c1, Target::Ns(c2))
            .map(|p| p.points.iter().map(|x| x.role).collect())
            .unwrap_or_default();
        use Role::*;
        assert_eq!(roles, vec![Endpoint, VethHost, Bridge, VethHost, Endpoint]);
    }

    #[test]
    fn container_to_its_gateway_ends_on_the_bridge() {
        let (n, c1, host, _) = classic();
        let p = path(&n.topo, c1, Target::Ip(ip("172.18.0.1")));
        let got = p.map(|p| (p.point_ids().join(" "), p.dst));
        assert_eq!(got, Ok(("nginx-1/eth0 lab-host/veth1111111 lab-host/br0".to_owned(), host)));
    }

    #[test]
    fn direct_veth_pair_has_two_points() {
        let mut n = Net::default();
        let (a, b) = (n.ns("a"), n.ns("b"));
        n.veth((a, 5, "va"), (b, 5, "vb"));
        n.addr(a, 5, "10.9.0.1/30");
        n.addr(b, 5, "10.9.0.2/30");
        let p = path(&n.topo, a, Target::Ns(b)).map(|p| p.point_ids().join(" "));
        assert_eq!(p.as_deref(), Ok("a/va b/vb"));
    }

    #[test]
    fn two_bridges_joined_by_routing_pass_both_bridges() {
        let mut n = Net::default();
        let (a, host, b) = (n.ns("a"), n.ns("rt"), n.ns("b"));
        n.link(host, 2, "br1", LinkKind::Bridge);
        n.link(host, 3, "br2", LinkKind::Bridge);
        n.addr(host, 2, "10.1.0.1/24");
        n.addr(host, 3, "10.2.0.1/24");
        n.veth((a, 2, "eth0"), (host, 4, "vetha"));
        n.veth((b, 2, "eth0"), (host, 5, "vethb"));
        n.port(host, 4, 2);
        n.port(host, 5, 3);
        n.addr(a, 2, "10.1.0.2/24");
        n.addr(b, 2, "10.2.0.2/24");
        n.default_via(a, "10.1.0.1", 2);
        n.default_via(b, "10.2.0.1", 2);
        let p = path(&n.topo, a, Target::Ns(b));
        let ids = p.as_ref().map(|p| p.point_ids().join(" ")).map_err(Clone::clone);
        assert_eq!(ids.as_deref(), Ok("a/eth0 rt/vetha rt/br1 rt/br2 rt/vethb b/eth0"));
        let roles: Vec<Role> =
            p.map(|p| p.points.iter().map(|x| x.role).collect()).unwrap_or_default();
        use Role::*;
        assert_eq!(roles, vec![Endpoint, VethHost, Bridge, Bridge, VethHost, Endpoint]);
        let back = path(&n.topo, b, Target::Ns(a)).map(|p| p.point_ids().join(" "));
        assert_eq!(back.as_deref(), Ok("b/eth0 rt/vethb rt/br2 rt/br1 rt/vetha a/eth0"));
    }

    #[test]
    fn routing_through_a_router_namespace_without_bridges() {
        let mut n = Net::default();
        let (a, r, b) = (n.ns("a"), n.ns("r"), n.ns("b"));
        n.veth((a, 2, "eth0"), (r, 2, "ra"));
        n.veth((b, 2, "eth0"), (r, 3, "rb"));
        n.addr(a, 2, "10.1.0.2/24");
        n.addr(r, 2, "10.1.0.1/24");
        n.addr(r, 3, "10.2.0.1/24");
        n.addr(b, 2, "10.2.0.2/24");
        n.default_via(a, "10.1.0.1", 2);
        let p = path(&n.topo, a, Target::Ns(b));
        let got = p.map(|p| {
            let roles: Vec<Role> = p.points.iter().map(|x| x.role).collect();
            (p.point_ids().join(" "), roles)
        });
        use Role::*;
        assert_eq!(
            got,
            Ok(("a/eth0 r/ra r/rb b/eth0".to_owned(), vec![Endpoint, Router, Router, Endpoint]))
        );
    }

    #[test]
    fn a_published_port_continues_the_path_to_the_container() {
        // The outside reaches the host's uplink; DNAT sends it on to b behind the bridge.
        let (mut n, _, host, c2) = classic();
        let out = n.ns("outside");
        n.veth((out, 2, "eth0"), (host, 9, "uplink0"));
        n.addr(out, 2, "198.51.100.2/24");
        n.addr(host, 9, "198.51.100.1/24");
        let first = path(&n.topo, out, Target::Ip(ip("198.51.100.1")));
        let then = path(&n.topo, host, Target::Ip(ip("172.18.0.3")));
        let joined = first.and_then(|f| then.map(|t| join(&n.topo, &f, &t)));
        let got = joined.map(|p| {
            let roles: Vec<Role> = p.points.iter().map(|x| x.role).collect();
            (p.point_ids().join(" "), roles, p.dst)
        });
        use Role::*;
        assert_eq!(
            got,
            Ok((
                "outside/eth0 lab-host/uplink0 lab-host/br0 lab-host/veth2222222 nginx-2/eth0"
                    .to_owned(),
                vec![Endpoint, Router, Bridge, VethHost, Endpoint],
                c2
            ))
        );
    }

    #[test]
    fn policy_rules_of_a_router_add_its_other_interfaces_as_branches_before_the_egress() {
        let (mut n, c1, host, c2) = classic();
        let out = n.ns("outside");
        n.veth((out, 2, "eth0"), (host, 9, "uplink0"));
        n.addr(out, 2, "198.51.100.2/24");
        n.addr(host, 9, "198.51.100.1/24");
        n.default_via(out, "198.51.100.1", 2);
        n.link(host, 10, "eth1", LinkKind::Veth);
        n.link(host, 11, "down0", LinkKind::Veth);
        n.find(host, 11).admin_up = false;
        let rule = PolicyRule { v6: false, pref: 100, text: "100: from all lookup 100".into() };
        n.get(host).rules.push(rule);
        let ids = |p: &Path| p.point_ids().join(" ");
        // Routed by the host: its other interfaces that are up and not bridge ports, before br0.
        let routed = path(&n.topo, out, Target::Ns(c2)).map(|p| with_branches(&n.topo, &p));
        let roles = routed.as_ref().map(|p| p.points.iter().map(|x| x.role).collect::<Vec<_>>());
        assert_eq!(
            routed.as_ref().map(ids),
            Ok("outside/eth0 lab-host/uplink0 lab-host/eth1 lab-host/br0 lab-host/veth2222222 \
                nginx-2/eth0"
                .to_owned())
        );
        use Role::*;
        assert_eq!(roles, Ok(vec![Endpoint, Router, Branch, Bridge, VethHost, Endpoint]));
        // Switched within one bridge, the host routes nothing: no branch.
        let bridged = path(&n.topo, c1, Target::Ns(c2)).map(|p| with_branches(&n.topo, &p));
        assert_eq!(bridged.map(|p| p.points.len()), Ok(5));
        // Rules of the other family leave the path alone.
        n.get(host).rules[0].v6 = true;
        let v4 = path(&n.topo, out, Target::Ns(c2)).map(|p| with_branches(&n.topo, &p));
        assert_eq!(v4.map(|p| p.points.len()), Ok(5));
    }

    #[test]
    fn a_published_port_reached_from_its_own_bridge_turns_on_the_bridge() {
        // nginx-1 → the bridge's address, DNATed back into the bridge to nginx-2 (a hairpin).
        let (n, c1, host, _) = classic();
        let first = path(&n.topo, c1, Target::Ip(ip("172.18.0.1")));
        let then = path(&n.topo, host, Target::Ip(ip("172.18.0.3")));
        let joined = first.and_then(|f| then.map(|t| join(&n.topo, &f, &t)));
        let got = joined.map(|p| {
            let turns: Vec<&str> =
                p.points.iter().filter(|x| x.turn).map(|x| x.point_id.as_str()).collect();
            (p.point_ids().join(" "), turns.join(" "))
        });
        assert_eq!(
            got,
            Ok((
                "nginx-1/eth0 lab-host/veth1111111 lab-host/br0 lab-host/veth2222222 nginx-2/eth0"
                    .to_owned(),
                "lab-host/br0".to_owned()
            ))
        );
    }

    #[test]
    fn a_router_that_cannot_go_on_ends_the_path_where_it_stops() {
        let mut n = Net::default();
        let (a, r) = (n.ns("a"), n.ns("r"));
        n.link(r, 2, "br1", LinkKind::Bridge);
        n.link(r, 3, "br2", LinkKind::Bridge);
        n.addr(r, 2, "10.1.0.1/24");
        n.addr(r, 3, "10.2.0.1/24");
        n.veth((a, 2, "eth0"), (r, 4, "vetha"));
        n.port(r, 4, 2);
        n.addr(a, 2, "10.1.0.2/24");
        n.default_via(a, "10.1.0.1", 2);
        // Nobody owns 10.2.0.99: the router's ARP on br2 goes unanswered.
        let p = path_until(&n.topo, a, ip("10.2.0.99")).map(|p| (p.point_ids().join(" "), p.dst));
        assert_eq!(p, Some(("a/eth0 r/vetha r/br1 r/br2".to_owned(), r)));
        // The router has no route at all: the path ends where the packet reached it.
        let p = path_until(&n.topo, a, ip("203.0.113.5")).map(|p| p.point_ids().join(" "));
        assert_eq!(p.as_deref(), Some("a/eth0 r/vetha r/br1"));
        assert!(path(&n.topo, a, Target::Ip(ip("203.0.113.5"))).is_err());
        // The source itself has no route: nothing.
        n.get(a).routes.clear();
        assert_eq!(path_until(&n.topo, a, ip("203.0.113.5")), None);
    }

    /// The overlay lab: nginx-1 on node-1 and nginx-2 on node-2 (10.42.0.0/24), each node with
    /// br0 and vxlan42 (VNI 42, port 4789) over underlay0 (10.99.0.1 and .2).
    fn overlay() -> (Net, NsIdx, NsIdx, NsIdx, NsIdx) {
        let mut n = Net::default();
        let (c1, n1, n2, c2) = (n.ns("nginx-1"), n.ns("node-1"), n.ns("node-2"), n.ns("nginx-2"));
        n.veth((n1, 2, "underlay0"), (n2, 2, "underlay0"));
        n.addr(n1, 2, "10.99.0.1/24");
        n.addr(n2, 2, "10.99.0.2/24");
        for (node, local, remote) in
            [(n1, "10.99.0.1", "10.99.0.2"), (n2, "10.99.0.2", "10.99.0.1")]
        {
            n.link(node, 3, "br0", LinkKind::Bridge);
            n.link(node, 5, "vxlan42", LinkKind::Vxlan);
            n.find(node, 5).vxlan = Some(Vxlan {
                vni: 42,
                port: 4789,
                local: Some(ip(local)),
                remote: Some(ip(remote)),
                underlay: Some(IfIndex(2)),
                learning: true,
                fdb: Vec::new(),
            });
            n.port(node, 5, 3);
        }
        n.veth((c1, 2, "eth0"), (n1, 4, "veth1111111"));
        n.veth((c2, 2, "eth0"), (n2, 4, "veth2222222"));
        n.port(n1, 4, 3);
        n.port(n2, 4, 3);
        n.addr(c1, 2, "10.42.0.2/24");
        n.addr(c2, 2, "10.42.0.3/24");
        (n, c1, n1, n2, c2)
    }

    #[test]
    fn through_a_vxlan_tunnel_are_ten_points() {
        let (n, c1, _, _, c2) = overlay();
        let p = path(&n.topo, c1, Target::Ns(c2));
        let got = p.map(|p| {
            let roles: Vec<Role> = p.points.iter().map(|x| x.role).collect();
            (p.point_ids().join(" "), roles, p.dst)
        });
        use Role::*;
        assert_eq!(
            got,
            Ok((
                "nginx-1/eth0 node-1/veth1111111 node-1/br0 node-1/vxlan42 node-1/underlay0 \
                 node-2/underlay0 node-2/vxlan42 node-2/br0 node-2/veth2222222 nginx-2/eth0"
                    .to_owned(),
                vec![
                    Endpoint, VethHost, Bridge, Tunnel, Underlay, Underlay, Tunnel, Bridge,
                    VethHost, Endpoint
                ],
                c2
            ))
        );
        let back = path(&n.topo, c2, Target::Ns(c1)).map(|p| p.point_ids().join(" "));
        assert_eq!(
            back.as_deref(),
            Ok("nginx-2/eth0 node-2/veth2222222 node-2/br0 node-2/vxlan42 node-2/underlay0 \
                node-1/underlay0 node-1/vxlan42 node-1/br0 node-1/veth1111111 nginx-1/eth0")
        );
    }

    #[test]
    fn a_tunnel_led_by_its_fdb_alone_is_followed_too() {
        let (mut n, c1, n1, _, c2) = overlay();
        // No `remote`: the default FDB entry names where frames go (as flannel sets it up).
        if let Some(v) = n.find(n1, 5).vxlan.as_mut() {
            v.remote = None;
            v.fdb = vec![(Mac::default(), ip("10.99.0.2"))];
        }
        let p = path(&n.topo, c1, Target::Ns(c2)).map(|p| p.points.len());
        assert_eq!(p, Ok(10));
    }

    #[test]
    fn a_tunnel_that_cannot_go_on_ends_the_path_where_its_packets_get_to() {
        // node-1 has no route to the remote endpoint: the path ends at its VXLAN device.
        let (mut n, c1, n1, _, c2) = overlay();
        n.get(n1).routes.clear();
        let dst = ip("10.42.0.3");
        let e = path(&n.topo, c1, Target::Ns(c2)).err();
        assert!(
            matches!(e, Some(PathError::TunnelStuck { ref tunnel, .. }) if tunnel == "vxlan42"),
            "{e:?}"
        );
        assert_eq!(e.as_ref().and_then(PathError::stuck_towards), Some(dst));
        let p = path_until(&n.topo, c1, dst)
            .map(|p| (p.point_ids().join(" "), p.points.last().map(|x| x.role), p.dst));
        assert_eq!(
            p,
            Some((
                "nginx-1/eth0 node-1/veth1111111 node-1/br0 node-1/vxlan42".to_owned(),
                Some(Role::Tunnel),
                n1
            ))
        );
        // node-2's device has another VNI: the path ends on node-2's underlay link.
        let (mut n, c1, _, n2, c2) = overlay();
        if let Some(v) = n.find(n2, 5).vxlan.as_mut() {
            v.vni = 43;
        }
        let e = path(&n.topo, c1, Target::Ns(c2)).err();
        assert_eq!(
            e,
            Some(PathError::TunnelNoPeer { ns: "node-2".into(), vni: 42, port: 4789, dst })
        );
        let p = path_until(&n.topo, c1, dst).map(|p| p.point_ids().join(" "));
        assert_eq!(
            p.as_deref(),
            Some(
                "nginx-1/eth0 node-1/veth1111111 node-1/br0 node-1/vxlan42 node-1/underlay0 \
                  node-2/underlay0"
            )
        );
    }

    #[test]
    fn a_link_that_is_down_is_still_on_the_path() {
        let (mut n, c1, host, c2) = classic();
        let l = n.find(host, 4);
        l.admin_up = false;
        l.oper_state = OperState::Down;
        let p = path(&n.topo, c1, Target::Ns(c2)).map(|p| p.points.len());
        assert_eq!(p, Ok(5));
    }

    #[test]
    fn isolated_labs_with_the_same_addresses_stay_apart() {
        let (mut n, c1, _, _) = classic();
        // A second lab with the same subnet, not connected to the first.
        let (d1, dh) = (n.ns("other-1"), n.ns("other-host"));
        n.link(dh, 2, "br0", LinkKind::Bridge);
        n.veth((d1, 2, "eth0"), (dh, 3, "veth3333333"));
        n.port(dh, 3, 2);
        n.addr(d1, 2, "172.18.0.3/16");
        let p = path(&n.topo, c1, Target::Ip(ip("172.18.0.3"))).map(|p| p.point_ids().join(" "));
        let want = "nginx-1/eth0 lab-host/veth1111111 lab-host/br0 lab-host/veth2222222 \
                    nginx-2/eth0";
        assert_eq!(p.as_deref(), Ok(want));
    }

    #[test]
    fn failures_are_named() {
        let (mut n, c1, host, c2) = classic();
        let nobody = ip("172.18.0.99");
        assert_eq!(
            path(&n.topo, c1, Target::Ip(nobody)),
            Err(PathError::NextHopNotFound {
                ns: "nginx-1".into(),
                dst: nobody,
                via: nobody,
                dev: "eth0".into()
            })
        );
        assert_eq!(
            path(&n.topo, c1, Target::Ip(ip("172.18.0.2"))),
            Err(PathError::SameNamespace { src: "nginx-1".into(), ip: ip("172.18.0.2") })
        );
        assert_eq!(path(&n.topo, NsIdx(42), Target::Ns(c2)), Err(PathError::UnknownNamespace(42)));
        assert_eq!(path(&n.topo, c1, Target::Ns(NsIdx(9))), Err(PathError::UnknownNamespace(9)));
        let far = ip("192.0.2.7");
        n.get(c1).routes.retain(|r| r.prefix != 0);
        assert_eq!(
            path(&n.topo, c1, Target::Ip(far)),
            Err(PathError::NoRoute { ns: "nginx-1".into(), dst: far })
        );
        n.get(host).links.iter_mut().for_each(|l| l.addrs.clear());
        assert_eq!(
            path(&n.topo, host, Target::Ns(host)),
            Err(PathError::NoAddress { ns: "lab-host".into() })
        );
        n.get(c1).routes.iter_mut().for_each(|r| r.kind = RouteKind::Blackhole);
        assert_eq!(
            path(&n.topo, c1, Target::Ns(c2)),
            Err(PathError::RouteRejects {
                ns: "nginx-1".into(),
                dst: ip("172.18.0.3"),
                kind: "blackhole"
            })
        );
    }

    #[test]
    fn routing_loops_are_reported() {
        let mut n = Net::default();
        let (a, b) = (n.ns("a"), n.ns("b"));
        n.veth((a, 2, "eth0"), (b, 2, "eth0"));
        n.addr(a, 2, "10.0.0.1/24");
        n.addr(b, 2, "10.0.0.2/24");
        n.default_via(a, "10.0.0.2", 2);
        n.default_via(b, "10.0.0.1", 2);
        let far = ip("198.51.100.1");
        assert_eq!(
            path(&n.topo, a, Target::Ip(far)),
            Err(PathError::Loop { ns: "a".into(), dst: far })
        );
    }
}
