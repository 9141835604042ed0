//! The network as discovered across namespaces: links, addresses, routes, neighbours, bridge
//! ports and FDB, and each veth joined to its peer.
//!
//! Pure data plus lookups (which namespace owns an IP, the bridge of a port, a link's peer).
//! Filled by `sys::netlink` discovery or built by hand in tests; read by path computation and the
//! `topo` report. It must not touch the system nor know about netlink message types.
//!
//! Laid out as: this file (the indexes and the [`Topology`] with its lookups across namespaces),
//! `namespace` (one namespace and its lookups), `link` (interfaces, their states and veth peers),
//! `tables` (routes, neighbours, the FDB), `docker` (Docker's networks over the topology) and
//! `runtime` (the other runtimes: Podman, containerd, pods, and their networks).

mod docker;
mod link;
mod namespace;
pub mod nat;
mod runtime;
mod tables;

pub use docker::{
    DockerAttachment, DockerBridge, DockerNetwork, DockerPort, proxy_target as docker_proxy_target,
};
pub use link::{
    IfAddr, Link, LinkKind, OperState, PeerRef, PortState, VXLAN_OVERHEAD_IPV4,
    VXLAN_OVERHEAD_IPV6, Vxlan,
};
pub use namespace::{HOST_LABEL, Namespace, NsKind, Sysctl};
pub use runtime::{Runtime, RuntimeNetwork, Workload, namespaced_label};
pub use tables::{
    FdbEntry, FdbKind, NeighState, Neighbour, PolicyRule, Route, RouteKind, RouteScope,
    prefix_contains,
};

use crate::core::point::PointId;
use std::fmt;
use std::net::IpAddr;

/// Index of a namespace in [`Topology::namespaces`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NsIdx(pub usize);

/// A kernel interface index (unique inside one namespace only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IfIndex(pub u32);

impl fmt::Display for IfIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Every discovered namespace, the root one (if visible) first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Topology {
    pub namespaces: Vec<Namespace>,
}

impl Topology {
    pub fn ns(&self, idx: NsIdx) -> Option<&Namespace> {
        self.namespaces.get(idx.0)
    }

    /// The namespace with this label.
    pub fn find_label(&self, label: &str) -> Option<NsIdx> {
        self.namespaces.iter().position(|n| n.label == label).map(NsIdx)
    }

    /// The namespace with this inode.
    pub fn find_inode(&self, inode: u64) -> Option<NsIdx> {
        self.namespaces.iter().position(|n| n.inode == inode).map(NsIdx)
    }

    /// The namespaces that have `ip` on one of their links (loopback addresses are ignored:
    /// every namespace has them).
    pub fn owners_of(&self, ip: IpAddr) -> Vec<NsIdx> {
        if ip.is_loopback() {
            return Vec::new();
        }
        (0..self.namespaces.len())
            .map(NsIdx)
            .filter(|&i| self.ns(i).is_some_and(|n| n.link_with_ip(ip).is_some()))
            .collect()
    }

    /// The namespace that owns `ip`, when exactly one does.
    pub fn owner_of(&self, ip: IpAddr) -> Option<NsIdx> {
        match self.owners_of(ip).as_slice() {
            [one] => Some(*one),
            _ => None,
        }
    }

    /// A link by namespace and index.
    pub fn link(&self, ns: NsIdx, ifindex: IfIndex) -> Option<&Link> {
        self.ns(ns)?.link(ifindex)
    }

    /// The other end of a veth, with its namespace.
    pub fn peer_of(&self, ns: NsIdx, ifindex: IfIndex) -> Option<(NsIdx, &Link)> {
        let peer = self.link(ns, ifindex)?.peer?;
        Some((peer.ns, self.link(peer.ns, peer.ifindex)?))
    }

    /// `<ns label>/<ifname>`, the id of a capture point.
    pub fn point_id(&self, ns: NsIdx, ifindex: IfIndex) -> PointId {
        match self.ns(ns) {
            Some(n) => PointId::new(&n.label, &n.ifname(ifindex)),
            None => PointId::new(&format!("ns{}", ns.0), &format!("if{ifindex}")),
        }
    }

    /// Every veth pair once, as (ns, ifindex) of each end, the end with the smaller
    /// (ns, ifindex) first.
    pub fn veth_pairs(&self) -> Vec<((NsIdx, IfIndex), (NsIdx, IfIndex))> {
        let mut pairs = Vec::new();
        for (i, ns) in self.namespaces.iter().enumerate() {
            for link in &ns.links {
                if let Some(p) = link.peer {
                    let a = (NsIdx(i), link.ifindex);
                    let b = (p.ns, p.ifindex);
                    if a < b {
                        pairs.push((a, b));
                    }
                }
            }
        }
        pairs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(a, b, c, d))
    }

    fn link(ifindex: u32, name: &str, kind: LinkKind) -> Link {
        Link::new(ifindex, name, kind)
    }

    #[test]
    fn owners_bridges_and_peers() {
        let mut a = Namespace::new("a", NsKind::Named, "/run/netns/a".into(), 10);
        let mut eth0 = link(2, "eth0", LinkKind::Veth);
        eth0.addrs.push(IfAddr { ip: v4(10, 0, 0, 2), prefix: 24 });
        eth0.peer = Some(PeerRef { ns: NsIdx(1), ifindex: IfIndex(7) });
        let mut lo = link(1, "lo", LinkKind::Loopback);
        lo.addrs.push(IfAddr { ip: v4(127, 0, 0, 1), prefix: 8 });
        a.links = vec![lo, eth0];
        let mut h = Namespace::new(HOST_LABEL, NsKind::Root, "/proc/1/ns/net".into(), 20);
        let br = link(3, "br0", LinkKind::Bridge);
        let mut veth = link(7, "veth1", LinkKind::Veth);
        veth.master = Some(IfIndex(3));
        veth.peer = Some(PeerRef { ns: NsIdx(0), ifindex: IfIndex(2) });
        h.links = vec![br, veth];
        let topo = Topology { namespaces: vec![a, h] };

        assert_eq!(topo.owner_of(v4(10, 0, 0, 2)), Some(NsIdx(0)));
        assert_eq!(topo.owner_of(v4(127, 0, 0, 1)), None, "loopback belongs to everyone");
        assert_eq!(topo.owner_of(v4(10, 0, 0, 3)), None);
        assert_eq!(topo.find_inode(20), Some(NsIdx(1)));
        assert_eq!(topo.find_label("a"), Some(NsIdx(0)));
        let host = topo.ns(NsIdx(1)).map(|n| n.bridge_of(IfIndex(7)).map(|b| b.name.clone()));
        assert_eq!(host, Some(Some("br0".to_owned())));
        let peer = topo.peer_of(NsIdx(0), IfIndex(2)).map(|(ns, l)| (ns, l.name.clone()));
        assert_eq!(peer, Some((NsIdx(1), "veth1".to_owned())));
        assert_eq!(topo.point_id(NsIdx(1), IfIndex(7)), "host/veth1");
        assert_eq!(topo.point_id(NsIdx(1), IfIndex(99)), "host/if99");
        assert_eq!(topo.veth_pairs(), vec![((NsIdx(0), IfIndex(2)), (NsIdx(1), IfIndex(7)))]);
        assert_eq!(topo.ns(NsIdx(0)).and_then(Namespace::primary_ip), Some(v4(10, 0, 0, 2)));
    }
}
