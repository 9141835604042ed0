//! The network as discovered across namespaces: links, addresses, routes, neighbours, bridge
//! ports and FDB, and each veth joined to its peer.
//!
//! Pure data plus lookups (which namespace owns an IP, the bridge of a port, a link's peer).
//! Filled by `sys::netlink` discovery or built by hand in tests; read by path computation and the
//! `topo` report. It must not touch the system nor know about netlink message types.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;

use crate::core::packet::{HwAddr, Mac};

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

/// Every discovered namespace, the root one (if visible) first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Topology {
    pub namespaces: Vec<Namespace>,
}

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
    /// The neighbour (ARP / NDP) tables.
    pub neighbours: Vec<Neighbour>,
    /// The forwarding database (`bridge fdb`); empty when the namespace has no bridge.
    pub fdb: Vec<FdbEntry>,
}

/// What kind of device a link is (`ip -d link`'s `kind`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LinkKind {
    Loopback,
    Veth,
    Bridge,
    /// A device with no `kind` (physical NIC, …).
    Device,
    /// Any other kind, by its kernel name (`vxlan`, `dummy`, `macvlan`, …).
    Other(String),
}

impl LinkKind {
    pub fn as_str(&self) -> &str {
        match self {
            LinkKind::Loopback => "loopback",
            LinkKind::Veth => "veth",
            LinkKind::Bridge => "bridge",
            LinkKind::Device => "device",
            LinkKind::Other(k) => k,
        }
    }
}

/// RFC 2863 operational state (`ip link`'s `state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OperState {
    Unknown,
    NotPresent,
    Down,
    LowerLayerDown,
    Testing,
    Dormant,
    Up,
}

impl OperState {
    /// As iproute2 prints it (`UP`, `LOWERLAYERDOWN`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            OperState::Unknown => "UNKNOWN",
            OperState::NotPresent => "NOTPRESENT",
            OperState::Down => "DOWN",
            OperState::LowerLayerDown => "LOWERLAYERDOWN",
            OperState::Testing => "TESTING",
            OperState::Dormant => "DORMANT",
            OperState::Up => "UP",
        }
    }
}

/// The STP state of a bridge port (`IFLA_BRPORT_STATE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PortState {
    Disabled,
    Listening,
    Learning,
    Forwarding,
    Blocking,
    Other(u8),
}

impl PortState {
    pub fn from_kernel(v: u8) -> Self {
        match v {
            0 => PortState::Disabled,
            1 => PortState::Listening,
            2 => PortState::Learning,
            3 => PortState::Forwarding,
            4 => PortState::Blocking,
            n => PortState::Other(n),
        }
    }

    /// As `bridge link` prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            PortState::Disabled => "disabled",
            PortState::Listening => "listening",
            PortState::Learning => "learning",
            PortState::Forwarding => "forwarding",
            PortState::Blocking => "blocking",
            PortState::Other(_) => "unknown",
        }
    }

    /// True when the port forwards frames.
    pub fn forwards(self) -> bool {
        self == PortState::Forwarding
    }
}

/// An address on a link, with its prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IfAddr {
    pub ip: IpAddr,
    pub prefix: u8,
}

/// The other end of a veth pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PeerRef {
    pub ns: NsIdx,
    pub ifindex: IfIndex,
}

/// One network interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub ifindex: IfIndex,
    pub name: String,
    pub kind: LinkKind,
    /// Hardware address (6 bytes on Ethernet; absent on some tunnels).
    pub mac: Option<HwAddr>,
    pub mtu: u32,
    /// `IFF_UP`: the administrator set the link up.
    pub admin_up: bool,
    pub oper_state: OperState,
    /// Carrier present (`IFLA_CARRIER`), when the kernel says.
    pub carrier: Option<bool>,
    /// The bridge (or other controller) this link is a port of.
    pub master: Option<IfIndex>,
    pub addrs: Vec<IfAddr>,
    /// For a veth: its peer, when the peer's namespace was discovered.
    pub peer: Option<PeerRef>,
    /// For a bridge port: its STP state.
    pub bridge_port_state: Option<PortState>,
}

impl Link {
    /// A link that is up with carrier, MTU 1500, no address, master or peer (for building
    /// topologies by hand: tests, and what discovery then fills in).
    pub fn new(ifindex: u32, name: &str, kind: LinkKind) -> Link {
        Link {
            ifindex: IfIndex(ifindex),
            name: name.into(),
            kind,
            mac: None,
            mtu: 1500,
            admin_up: true,
            oper_state: OperState::Up,
            carrier: Some(true),
            master: None,
            addrs: Vec::new(),
            peer: None,
            bridge_port_state: None,
        }
    }
}

/// Route types that matter to reachability (`ip route`'s leading word).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteKind {
    Unicast,
    Local,
    Broadcast,
    Blackhole,
    Unreachable,
    Prohibit,
    Other,
}

impl RouteKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RouteKind::Unicast => "unicast",
            RouteKind::Local => "local",
            RouteKind::Broadcast => "broadcast",
            RouteKind::Blackhole => "blackhole",
            RouteKind::Unreachable => "unreachable",
            RouteKind::Prohibit => "prohibit",
            RouteKind::Other => "other",
        }
    }
}

/// Route scope (`ip route`'s `scope`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteScope {
    Universe,
    Site,
    Link,
    Host,
    Nowhere,
    Other(u8),
}

impl RouteScope {
    pub fn as_str(self) -> &'static str {
        match self {
            RouteScope::Universe => "global",
            RouteScope::Site => "site",
            RouteScope::Link => "link",
            RouteScope::Host => "host",
            RouteScope::Nowhere => "nowhere",
            RouteScope::Other(_) => "other",
        }
    }
}

/// One route of the main table (the first next hop of a multipath route).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Route {
    /// Destination network (`0.0.0.0` / `::` with prefix 0 for the default route).
    pub dst: IpAddr,
    pub prefix: u8,
    pub gateway: Option<IpAddr>,
    pub dev: Option<IfIndex>,
    pub scope: RouteScope,
    pub kind: RouteKind,
    pub metric: Option<u32>,
}

impl Route {
    /// True when `ip` falls inside this route's destination network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        prefix_contains(self.dst, self.prefix, ip)
    }
}

/// True when `ip` is inside `net/prefix` (same family only).
pub fn prefix_contains(net: IpAddr, prefix: u8, ip: IpAddr) -> bool {
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(a)) => {
            let bits = u32::from(prefix.min(32));
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(n) & mask == u32::from(a) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(a)) => {
            let bits = u32::from(prefix.min(128));
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(n) & mask == u128::from(a) & mask
        }
        _ => false,
    }
}

/// Neighbour cache state (`ip neigh`'s last word).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NeighState {
    Incomplete,
    Reachable,
    Stale,
    Delay,
    Probe,
    Failed,
    Noarp,
    Permanent,
    None,
    Other(u16),
}

impl NeighState {
    /// As iproute2 prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            NeighState::Incomplete => "INCOMPLETE",
            NeighState::Reachable => "REACHABLE",
            NeighState::Stale => "STALE",
            NeighState::Delay => "DELAY",
            NeighState::Probe => "PROBE",
            NeighState::Failed => "FAILED",
            NeighState::Noarp => "NOARP",
            NeighState::Permanent => "PERMANENT",
            NeighState::None => "NONE",
            NeighState::Other(_) => "OTHER",
        }
    }
}

/// One entry of the ARP / NDP table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Neighbour {
    pub ip: IpAddr,
    /// Absent while the entry is incomplete or failed.
    pub mac: Option<Mac>,
    pub state: NeighState,
    pub dev: IfIndex,
}

/// Where an FDB entry comes from (`bridge fdb`'s flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FdbKind {
    /// The bridge learned it from traffic.
    Learned,
    /// The port's own address (`permanent`, delivered locally).
    Local,
    /// Added by hand (`static`).
    Static,
    /// Kept on the device itself (`self permanent`: multicast filters, …).
    Permanent,
}

impl FdbKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FdbKind::Learned => "learned",
            FdbKind::Local => "local",
            FdbKind::Static => "static",
            FdbKind::Permanent => "permanent",
        }
    }
}

/// One entry of the forwarding database (the bridge's CAM table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FdbEntry {
    pub mac: Mac,
    /// The port (or device) the entry is attached to.
    pub port: IfIndex,
    /// The bridge, for entries the bridge forwards by (`master br0`).
    pub master: Option<IfIndex>,
    pub vlan: Option<u16>,
    pub kind: FdbKind,
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
            neighbours: Vec::new(),
            fdb: Vec::new(),
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
    pub fn point_id(&self, ns: NsIdx, ifindex: IfIndex) -> String {
        match self.ns(ns) {
            Some(n) => format!("{}/{}", n.label, n.ifname(ifindex)),
            None => format!("ns{}/if{ifindex}", ns.0),
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
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(a, b, c, d))
    }

    fn link(ifindex: u32, name: &str, kind: LinkKind) -> Link {
        Link::new(ifindex, name, kind)
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
    fn prefixes_contain_exactly_their_addresses() {
        assert!(prefix_contains(v4(172, 18, 0, 0), 16, v4(172, 18, 255, 3)));
        assert!(!prefix_contains(v4(172, 18, 0, 0), 16, v4(172, 19, 0, 3)));
        assert!(prefix_contains(v4(0, 0, 0, 0), 0, v4(8, 8, 8, 8)));
        assert!(prefix_contains(v4(10, 0, 0, 1), 32, v4(10, 0, 0, 1)));
        assert!(!prefix_contains(v4(10, 0, 0, 1), 32, v4(10, 0, 0, 2)));
        let net6 = IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 0));
        assert!(prefix_contains(net6, 64, IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 1, 2, 3, 4))));
        assert!(!prefix_contains(net6, 64, IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 1, 0, 0, 0, 1))));
        assert!(!prefix_contains(net6, 0, v4(1, 2, 3, 4)), "families never mix");
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

/// A Docker network as `docker network inspect` describes it: what annotates the discovered
/// topology with Docker's names (filled by `sys::docker`, read by the `topo` report).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DockerNetwork {
    pub name: String,
    pub id: String,
    /// `bridge`, `host`, `null`, `overlay`, …
    pub driver: String,
    /// The Linux bridge of a `bridge` network (`docker0`, `br-<id[..12]>`).
    pub bridge: Option<String>,
    pub subnets: Vec<String>,
    pub gateways: Vec<String>,
    /// The containers attached, sorted by name.
    pub containers: Vec<DockerAttachment>,
}

/// A container's endpoint on a Docker network.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DockerAttachment {
    pub container: String,
    pub container_id: String,
    pub endpoint_id: String,
    /// As Docker prints it (`02:42:ac:11:00:02`).
    pub mac: Option<String>,
    /// `ADDRESS/PREFIX`.
    pub ipv4: Option<String>,
    pub ipv6: Option<String>,
}

/// A port of a Docker network's bridge, and the container behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerPort {
    pub ifindex: IfIndex,
    /// The host's name of the port (`veth4d1c130`).
    pub name: String,
    pub state: Option<PortState>,
    /// The other end of the veth (the container's `eth0`), when discovered.
    pub peer: Option<(NsIdx, IfIndex)>,
    /// The container whose endpoint is behind the port (matched by the MAC Docker gave it).
    pub container: Option<String>,
}

/// Where a Docker network's bridge was found and its ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerBridge {
    pub ns: NsIdx,
    pub ifindex: IfIndex,
    pub ports: Vec<DockerPort>,
}

impl Topology {
    /// The bridge of a Docker network (in the root namespace when several namespaces have a
    /// bridge of that name) and which container sits behind each of its ports: the port's veth
    /// peer carries the MAC address Docker lists for the container's endpoint.
    pub fn docker_bridge(&self, net: &DockerNetwork) -> Option<DockerBridge> {
        let name = net.bridge.as_deref()?;
        let with_bridge = |i: &usize| {
            self.namespaces[*i].link_by_name(name).is_some_and(|l| l.kind == LinkKind::Bridge)
        };
        let all = 0..self.namespaces.len();
        let ns = all
            .clone()
            .filter(with_bridge)
            .find(|&i| self.namespaces[i].kind == NsKind::Root)
            .or_else(|| all.clone().find(with_bridge))
            .map(NsIdx)?;
        let space = self.ns(ns)?;
        let bridge = space.link_by_name(name)?;
        let ports = space
            .ports_of(bridge.ifindex)
            .map(|p| {
                let peer = self.peer_of(ns, p.ifindex);
                let container = peer.and_then(|(pns, pl)| {
                    let mac = pl.mac.map(|m| m.to_string().to_ascii_lowercase());
                    net.containers
                        .iter()
                        .find(|c| {
                            mac.is_some() && c.mac.as_deref().map(str::to_ascii_lowercase) == mac
                        })
                        .or_else(|| {
                            let label = self.ns(pns).map(|n| n.label.as_str());
                            net.containers.iter().find(|c| Some(c.container.as_str()) == label)
                        })
                        .map(|c| c.container.clone())
                });
                DockerPort {
                    ifindex: p.ifindex,
                    name: p.name.clone(),
                    state: p.bridge_port_state,
                    peer: peer.map(|(pns, pl)| (pns, pl.ifindex)),
                    container,
                }
            })
            .collect();
        Some(DockerBridge { ns, ifindex: bridge.ifindex, ports })
    }
}

#[cfg(test)]
mod docker_tests {
    use super::*;
    use crate::core::packet::HwAddr;

    #[test]
    fn docker_bridge_ports_name_the_containers_behind_them() {
        let mac = |last: u8| Some(HwAddr::new(&[2, 0x42, 0xac, 0x11, 0, last]));
        let container = |label: &str, ifindex: u32, host_if: u32, last: u8| {
            let mut ns = Namespace::new(label, NsKind::Docker, "/var/run/docker/netns/x".into(), 1);
            let mut eth0 = Link::new(ifindex, "eth0", LinkKind::Veth);
            eth0.mac = mac(last);
            eth0.peer = Some(PeerRef { ns: NsIdx(0), ifindex: IfIndex(host_if) });
            ns.links.push(eth0);
            ns
        };
        let mut host = Namespace::new(HOST_LABEL, NsKind::Root, "/proc/1/ns/net".into(), 9);
        host.links.push(Link::new(4, "docker0", LinkKind::Bridge));
        for (ifindex, name, peer_ns) in [(10, "veth4d1c130", 1), (12, "vetha9356e9", 2)] {
            let mut v = Link::new(ifindex, name, LinkKind::Veth);
            v.master = Some(IfIndex(4));
            v.bridge_port_state = Some(PortState::Forwarding);
            v.peer = Some(PeerRef { ns: NsIdx(peer_ns), ifindex: IfIndex(ifindex - 1) });
            host.links.push(v);
        }
        // The sandbox is still labelled by its file name: the MAC tells the container.
        let topo = Topology {
            namespaces: vec![host, container("391f4303d587", 9, 10, 2), container("b", 11, 12, 3)],
        };
        let attach = |name: &str, last: u8| DockerAttachment {
            container: name.into(),
            mac: Some(format!("02:42:AC:11:00:0{last}")),
            ..DockerAttachment::default()
        };
        let net = DockerNetwork {
            name: "bridge".into(),
            driver: "bridge".into(),
            bridge: Some("docker0".into()),
            containers: vec![attach("nginx-1", 2), attach("nginx-2", 3)],
            ..DockerNetwork::default()
        };
        let got = topo.docker_bridge(&net);
        type Row = (String, Option<String>, Option<(NsIdx, IfIndex)>);
        let ports: Vec<Row> = got
            .iter()
            .flat_map(|b| b.ports.iter())
            .map(|p| (p.name.clone(), p.container.clone(), p.peer))
            .collect();
        assert_eq!(
            ports,
            [
                ("veth4d1c130".into(), Some("nginx-1".into()), Some((NsIdx(1), IfIndex(9)))),
                ("vetha9356e9".into(), Some("nginx-2".into()), Some((NsIdx(2), IfIndex(11)))),
            ]
        );
        assert_eq!(got.map(|b| (b.ns, b.ifindex)), Some((NsIdx(0), IfIndex(4))));
        let absent = DockerNetwork { bridge: Some("br-0123456789ab".into()), ..net };
        assert_eq!(topo.docker_bridge(&absent), None);
    }
}
