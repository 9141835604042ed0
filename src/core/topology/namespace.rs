//! One network namespace as discovered: how it was found ([`NsKind`]), its file and inode, and what
//! lives in it (links, routes, neighbours, FDB, listening sockets), with the lookups inside it (a
//! link by index or name, a bridge's ports, the route the kernel would pick, a primary address).
//!
//! Pure data; it must not enter or read namespaces (that is `sys::netns` and `sys::netlink`) nor
//! look across namespaces (the [`super::Topology`] does).

use std::net::IpAddr;
use std::path::PathBuf;

use super::IfIndex;
use super::link::{Link, LinkKind};
use super::tables::{FdbEntry, Neighbour, PolicyRule, Route};
use crate::core::listen::Listener;

/// How a namespace was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NsKind {
    /// The host's namespace (PID 1), labelled `host`.
    Root,
    /// A named namespace under `/run/netns`.
    Named,
    /// A Docker sandbox under `/var/run/docker/netns`.
    Docker,
    /// Only known through a running process (`/proc/PID/ns/net`).
    Process,
}

impl NsKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NsKind::Root => "root",
            NsKind::Named => "named",
            NsKind::Docker => "docker",
            NsKind::Process => "process",
        }
    }
}

/// The label of the root namespace in point ids.
pub const HOST_LABEL: &str = "host";

/// One network namespace and what lives in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    /// Container or netns name; `host` for the root namespace. Unique in a topology.
    pub label: String,
    pub kind: NsKind,
    /// The namespace file (`/run/netns/NAME`, `/proc/PID/ns/net`, …).
    pub path: PathBuf,
    /// Inode of the namespace (what `ls -L -i` shows); identifies it.
    pub inode: u64,
    pub links: Vec<Link>,
    /// The main routing table.
    pub routes: Vec<Route>,
    /// Its policy routing rules that send packets elsewhere than the main table (none in most
    /// namespaces: the kernel's three default rules are left out).
    pub rules: Vec<PolicyRule>,
    /// The neighbour (ARP / NDP) tables.
    pub neighbours: Vec<Neighbour>,
    /// The forwarding database (`bridge fdb`); empty when the namespace has no bridge.
    pub fdb: Vec<FdbEntry>,
    /// The listening TCP and bound UDP sockets (`ss -lntu`); empty when they could not be read
    /// (then [`Namespace::listening_note`] says why).
    pub listening: Vec<Listener>,
    /// Why [`Namespace::listening`] could not be read, when it could not.
    pub listening_note: Option<String>,
    /// Its routing switches (forwarding, reverse-path filter), when they could be read.
    pub sysctl: Sysctl,
    /// Its NAT rules (read only where a trace needs them: the target of a service probe).
    pub nat: Vec<crate::core::topology::nat::NatRule>,
}

/// A namespace's routing switches (`sysctl net.ipv4.ip_forward` …); `None` where unread.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sysctl {
    /// `net.ipv4.ip_forward`.
    pub ip_forward: Option<bool>,
    /// `net.ipv6.conf.all.forwarding`.
    pub ip6_forward: Option<bool>,
    /// `net.ipv4.conf.all.rp_filter` and each interface's (`conf.IFNAME.rp_filter`): the kernel
    /// uses the larger of the two (1 strict, 2 loose).
    pub rp_filter_all: Option<u8>,
    pub rp_filter: Vec<(String, u8)>,
}

impl Sysctl {
    /// Whether the namespace forwards packets of `ip`'s family (`None`: unknown).
    pub fn forwards(&self, ip: IpAddr) -> Option<bool> {
        if ip.is_ipv6() { self.ip6_forward } else { self.ip_forward }
    }

    /// The reverse-path filter mode in effect on `ifname` (0 off, 1 strict, 2 loose).
    pub fn rp_filter_on(&self, ifname: &str) -> Option<u8> {
        let own = self.rp_filter.iter().find(|(n, _)| n == ifname).map(|(_, v)| *v);
        match (self.rp_filter_all, own) {
            (Some(a), Some(o)) => Some(a.max(o)),
            (a, o) => a.or(o),
        }
    }
}

impl Namespace {
    /// A namespace with nothing in it yet.
    pub fn new(label: impl Into<String>, kind: NsKind, path: PathBuf, inode: u64) -> Self {
        Namespace {
            label: label.into(),
            kind,
            path,
            inode,
            links: Vec::new(),
            routes: Vec::new(),
            rules: Vec::new(),
            neighbours: Vec::new(),
            fdb: Vec::new(),
            listening: Vec::new(),
            listening_note: None,
            sysctl: Sysctl::default(),
            nat: Vec::new(),
        }
    }

    pub fn link(&self, ifindex: IfIndex) -> Option<&Link> {
        self.links.iter().find(|l| l.ifindex == ifindex)
    }

    pub fn link_by_name(&self, name: &str) -> Option<&Link> {
        self.links.iter().find(|l| l.name == name)
    }

    /// The link name for an index, or `if<N>` when the link is unknown.
    pub fn ifname(&self, ifindex: IfIndex) -> String {
        self.link(ifindex).map_or_else(|| format!("if{ifindex}"), |l| l.name.clone())
    }

    /// The link carrying `ip` as one of its addresses.
    pub fn link_with_ip(&self, ip: IpAddr) -> Option<&Link> {
        self.links.iter().find(|l| l.addrs.iter().any(|a| a.ip == ip))
    }

    /// The ports of a bridge, by ifindex.
    pub fn ports_of(&self, bridge: IfIndex) -> impl Iterator<Item = &Link> {
        self.links.iter().filter(move |l| l.master == Some(bridge))
    }

    /// The bridges of this namespace.
    pub fn bridges(&self) -> impl Iterator<Item = &Link> {
        self.links.iter().filter(|l| l.kind == LinkKind::Bridge)
    }

    /// The bridge `port` belongs to, if it is a bridge port.
    pub fn bridge_of(&self, port: IfIndex) -> Option<&Link> {
        let master = self.link(port)?.master?;
        self.link(master).filter(|b| b.kind == LinkKind::Bridge)
    }

    /// The main-table route the kernel would pick for `dst` (longest prefix, then lowest
    /// metric).
    pub fn route_to(&self, dst: IpAddr) -> Option<&Route> {
        self.routes
            .iter()
            .filter(|r| r.contains(dst))
            .max_by_key(|r| (r.prefix, std::cmp::Reverse(r.metric.unwrap_or(0))))
    }

    /// A good address to reach this namespace at: the first global (non-loopback, non
    /// link-local) IPv4 address, else the first such IPv6 one.
    pub fn primary_ip(&self) -> Option<IpAddr> {
        let usable = |ip: &IpAddr| match ip {
            IpAddr::V4(a) => !a.is_loopback() && !a.is_link_local(),
            IpAddr::V6(a) => !a.is_loopback() && !a.is_unicast_link_local(),
        };
        let all = || self.links.iter().flat_map(|l| l.addrs.iter().map(|a| a.ip)).filter(usable);
        all().find(IpAddr::is_ipv4).or_else(|| all().next())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::topology::{RouteKind, RouteScope};
    use std::net::Ipv4Addr;

    fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(a, b, c, d))
    }

    fn route(dst: IpAddr, prefix: u8, dev: u32, metric: Option<u32>) -> Route {
        Route {
            dst,
            prefix,
            gateway: None,
            dev: Some(IfIndex(dev)),
            scope: RouteScope::Link,
            kind: RouteKind::Unicast,
            metric,
        }
    }

    #[test]
    fn route_lookup_prefers_longest_prefix_then_lowest_metric() {
        let mut ns = Namespace::new("a", NsKind::Named, "/run/netns/a".into(), 1);
        ns.routes = vec![
            route(v4(0, 0, 0, 0), 0, 2, None),
            route(v4(10, 1, 0, 0), 16, 3, Some(200)),
            route(v4(10, 1, 0, 0), 16, 4, Some(100)),
            route(v4(10, 1, 2, 0), 24, 5, None),
        ];
        assert_eq!(ns.route_to(v4(10, 1, 2, 9)).and_then(|r| r.dev), Some(IfIndex(5)));
        assert_eq!(ns.route_to(v4(10, 1, 3, 9)).and_then(|r| r.dev), Some(IfIndex(4)));
        assert_eq!(ns.route_to(v4(192, 0, 2, 1)).and_then(|r| r.dev), Some(IfIndex(2)));
        ns.routes.truncate(0);
        assert_eq!(ns.route_to(v4(192, 0, 2, 1)), None);
    }
}
