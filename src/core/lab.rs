//! The lab as data: which namespaces, bridge, veth pairs, addresses and MACs `vtrace lab up`
//! builds, derived deterministically from the options, and how what exists compares with it.
//!
//! Pure: no IO, no clocks, no randomness. The same options always give the same names and MACs,
//! which is what makes `lab up` reproducible and lets `lab down` find everything again after a
//! crash. Applying the spec to the system is `sys::lab`'s job, never this module's.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use thiserror::Error;

use crate::core::packet::Mac;

/// Default container names are `nginx-1` … `nginx-N`.
pub const DEFAULT_CONTAINER_STEM: &str = "nginx-";
/// Name of the namespace that holds the host side when it is not the root namespace.
pub const DEFAULT_HOST_NETNS: &str = "vtrace-host";
/// Bridge name inside the private host namespace (Docker's).
pub const DEFAULT_BRIDGE_PRIVATE: &str = "docker0";
/// Bridge name in the root namespace (docker0 there may be Docker's own).
pub const DEFAULT_BRIDGE_ROOT: &str = "vtrace0";
/// Default subnet (Docker's first user-defined network).
pub const DEFAULT_SUBNET: &str = "172.18.0.0/16";
/// The container end of every veth pair.
pub const CONTAINER_IFNAME: &str = "eth0";
/// Longest interface name Linux accepts (IFNAMSIZ - 1).
pub const IFNAME_MAX: usize = 15;
/// Longest namespace name accepted (a file name under /run/netns).
pub const NETNS_NAME_MAX: usize = 64;
/// Most containers one lab may have.
pub const MAX_CONTAINERS: usize = 1000;
/// Most networks (bridges) one lab may have.
pub const MAX_NETWORKS: usize = 4;
/// The outside's subnet (TEST-NET-2): the host's uplink is .1, the outside .2.
pub const OUTSIDE_SUBNET: Ipv4Net = Ipv4Net { addr: Ipv4Addr::new(198, 51, 100, 0), len: 24 };
/// The host end of the uplink to the outside.
pub const UPLINK_IFNAME: &str = "uplink0";
/// The outside's namespace (before the prefix).
pub const OUTSIDE_NETNS: &str = "vtrace-outside";
/// The nftables table of the lab's NAT rules, in the host namespace.
pub const NAT_TABLE: &str = "vtrace_lab_nat";
/// The overlay lab's nodes are `node-1`, `node-2` (before the prefix).
pub const NODE_STEM: &str = "node-";
/// How many nodes the overlay lab has.
pub const OVERLAY_NODES: usize = 2;
/// The overlay's VXLAN network identifier.
pub const OVERLAY_VNI: u32 = 42;
/// The overlay's UDP port (IANA's VXLAN port).
pub const VXLAN_PORT: u16 = 4789;
/// The overlay's subnet, shared by the containers of every node.
pub const OVERLAY_SUBNET: Ipv4Net = Ipv4Net { addr: Ipv4Addr::new(10, 42, 0, 0), len: 24 };
/// The underlay's subnet: node-N is .N.
pub const UNDERLAY_SUBNET: Ipv4Net = Ipv4Net { addr: Ipv4Addr::new(10, 99, 0, 0), len: 24 };
/// Each node's end of the underlay link.
pub const UNDERLAY_IFNAME: &str = "underlay0";
/// Each node's bridge.
pub const OVERLAY_BRIDGE: &str = "br0";
/// The containers' MTU on the overlay: Ethernet's, 50 bytes more than the VXLAN device takes,
/// so that a full-size packet shows the classic overlay MTU failure (`--overlay-mtu 1450` fixes
/// it).
pub const OVERLAY_ETH_MTU: u32 = 1500;

/// The steps of `lab up`, in order; the names errors carry and fault injection selects.
pub const STEPS: [&str; 11] = [
    "preflight",
    "state",
    "netns",
    "bridge",
    "veth",
    "vxlan",
    "link-up",
    "address",
    "route",
    "nat",
    "serve",
];

/// An IPv4 network: address and prefix length (`172.18.0.0/16`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Net {
    addr: Ipv4Addr,
    len: u8,
}

impl Ipv4Net {
    /// A network; `len` above 32 is refused.
    pub fn new(addr: Ipv4Addr, len: u8) -> Option<Self> {
        (len <= 32).then_some(Ipv4Net { addr, len })
    }
    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }
    pub fn prefix_len(&self) -> u8 {
        self.len
    }
    fn mask(&self) -> u32 {
        u32::MAX.checked_shl(32 - u32::from(self.len)).unwrap_or(0)
    }
    /// The network address (host bits cleared).
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & self.mask())
    }
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.network())
    }
    /// True when the two networks share at least one address.
    pub fn overlaps(&self, other: &Ipv4Net) -> bool {
        let shorter = if self.len <= other.len { self } else { other };
        let longer = if self.len <= other.len { other } else { self };
        shorter.contains(longer.network())
    }
    /// Usable host addresses (network and broadcast excluded).
    pub fn host_count(&self) -> u64 {
        (1u64 << (32 - u32::from(self.len))).saturating_sub(2)
    }
    /// The `n`-th host address (1 = first after the network address), if inside the network.
    pub fn host(&self, n: u64) -> Option<Ipv4Addr> {
        if n == 0 || n > self.host_count() {
            return None;
        }
        let n = u32::try_from(n).ok()?;
        Some(Ipv4Addr::from(u32::from(self.network()).checked_add(n)?))
    }
}

impl fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl FromStr for Ipv4Net {
    type Err = LabSpecError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || LabSpecError::Subnet(s.to_owned(), "expected a CIDR such as 172.18.0.0/16");
        let (a, l) = s.split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = a.parse().map_err(|_| bad())?;
        let len: u8 = l.parse().map_err(|_| bad())?;
        Ipv4Net::new(addr, len).ok_or_else(bad)
    }
}

/// Where the host side (bridge and host veth ends) lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostSide {
    /// A named namespace of the lab's own (the default): the real host is untouched.
    Netns(String),
    /// The root namespace, as Docker does (`--in-root`).
    Root,
}

/// The bridge on the host side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeSpec {
    pub name: String,
    pub mac: Mac,
    /// The gateway address (first host of the subnet).
    pub addr: Ipv4Addr,
}

/// A network of the lab beyond the first: its own bridge and subnet on the host side, routed to
/// the others by the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkSpec {
    pub bridge: BridgeSpec,
    pub subnet: Ipv4Net,
}

/// The outside: a namespace behind the host's uplink (a veth pair, no bridge), on
/// [`OUTSIDE_SUBNET`]. It has no route back to the containers' subnets: their traffic reaches it
/// only masqueraded to the uplink's address, as traffic leaving a real host does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutsideSpec {
    /// Its end of the uplink (`eth0` in its namespace) and the host end ([`UPLINK_IFNAME`]).
    pub end: ContainerSpec,
    /// The host end's address (the outside's view of the host, where ports are published).
    pub host_addr: Ipv4Addr,
    pub subnet: Ipv4Net,
}

/// A published port: TCP to the host's uplink address on `host_port` is DNATed to a container's
/// `port` (`docker run -p HOST_PORT:PORT`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishSpec {
    pub host_port: u16,
    pub container: String,
    pub addr: Ipv4Addr,
    pub port: u16,
}

impl std::str::FromStr for PublishOption {
    type Err = LabSpecError;
    /// `HOST_PORT:CONTAINER:PORT`, e.g. `8080:nginx-2:80`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || LabSpecError::Publish(s.to_owned());
        let mut parts = s.split(':');
        let (Some(h), Some(c), Some(p), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        let port = |x: &str| x.parse::<u16>().ok().filter(|&p| p > 0);
        Ok(PublishOption {
            host_port: port(h).ok_or_else(bad)?,
            container: (!c.is_empty()).then(|| c.to_owned()).ok_or_else(bad)?,
            port: port(p).ok_or_else(bad)?,
        })
    }
}

/// `--publish HOST_PORT:CONTAINER:PORT` as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishOption {
    pub host_port: u16,
    pub container: String,
    pub port: u16,
}

/// One simulated node of the overlay lab: a namespace with its end of the underlay, a bridge
/// and a VXLAN device on the bridge, tunnelling to the other node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSpec {
    /// `node-1` (the label of its points).
    pub name: String,
    /// Its namespace (prefix + name).
    pub netns: String,
    /// Its underlay address (the VXLAN device's local address).
    pub underlay_addr: Ipv4Addr,
    pub underlay_mac: Mac,
    pub bridge_mac: Mac,
    /// `vxlan<VNI>`.
    pub vxlan: String,
    pub vxlan_mac: Mac,
}

/// The overlay (`--overlay`): two nodes joined by an underlay veth pair, each with a bridge and
/// a VXLAN device (VNI 42, UDP 4789, the other node as remote, learning on); containers are
/// spread over the nodes in turn, all on one subnet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverlaySpec {
    pub vni: u32,
    pub port: u16,
    pub underlay: Ipv4Net,
    /// The underlay link's name in every node.
    pub underlay_ifname: String,
    /// The bridge's name in every node.
    pub bridge: String,
    pub nodes: Vec<NodeSpec>,
    /// The MTU of the containers' `eth0` (and their host veths).
    pub eth_mtu: u32,
}

impl OverlaySpec {
    /// The node the VXLAN device of node `node` tunnels to (the other one).
    pub fn remote_of(&self, node: usize) -> Option<&NodeSpec> {
        self.nodes.iter().enumerate().find(|(i, _)| *i != node).map(|(_, n)| n)
    }
}

/// One container: its namespace and its veth pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerSpec {
    /// The container name as the user gave it (`nginx-1`).
    pub name: String,
    /// Its network: 0 the first ([`LabSpec::bridge`]), `n` [`LabSpec::networks`]`[n - 1]`.
    pub network: usize,
    /// In an overlay lab, the node it runs on ([`OverlaySpec::nodes`]); 0 otherwise.
    pub node: usize,
    /// Its namespace (prefix + name).
    pub netns: String,
    /// The container end of the veth pair (`eth0`).
    pub ifname: String,
    pub mac: Mac,
    pub addr: Ipv4Addr,
    /// The host end (`veth` + 7 hex, derived from prefix and name).
    pub host_veth: String,
    pub host_mac: Mac,
}

/// Everything `lab up` builds. Build it with [`LabSpec::from_options`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabSpec {
    pub prefix: String,
    pub host: HostSide,
    pub bridge: BridgeSpec,
    pub containers: Vec<ContainerSpec>,
    pub subnet: Ipv4Net,
    /// Start an HTTP server in every container.
    pub serve: bool,
    /// Networks beyond the first, routed by the host (`--networks N`).
    pub networks: Vec<NetworkSpec>,
    /// The outside behind an uplink with masquerade (`--outside`).
    pub outside: Option<OutsideSpec>,
    /// Published ports (`--publish`).
    pub publish: Vec<PublishSpec>,
    /// The overlay (`--overlay`): the nodes replace the host side.
    pub overlay: Option<OverlaySpec>,
}

/// What the user chose; everything else is derived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabOptions {
    /// Container names; when `None`, `nginx-1` … `nginx-<containers>`.
    pub names: Option<Vec<String>>,
    pub containers: usize,
    /// Bridge name; default `docker0` in the private host namespace, `vtrace0` in root.
    pub bridge: Option<String>,
    pub subnet: Ipv4Net,
    /// Prepended to every name the lab creates (namespaces; in root also the bridge).
    pub prefix: String,
    pub in_root: bool,
    /// Name of the host namespace (before the prefix); default `vtrace-host`.
    pub host_netns: Option<String>,
    pub serve: bool,
    /// Networks (bridges), 1 to [`MAX_NETWORKS`]; containers are spread over them in turn.
    pub networks: usize,
    /// Add the outside behind an uplink, with masquerade.
    pub outside: bool,
    /// Ports to publish on the uplink's address.
    pub publish: Vec<PublishOption>,
    /// Build the VXLAN overlay of two nodes instead of one host.
    pub overlay: bool,
    /// The containers' MTU on the overlay (default [`OVERLAY_ETH_MTU`]).
    pub overlay_mtu: Option<u32>,
}

impl Default for LabOptions {
    fn default() -> Self {
        LabOptions {
            names: None,
            containers: 2,
            bridge: None,
            subnet: Ipv4Net { addr: Ipv4Addr::new(172, 18, 0, 0), len: 16 },
            prefix: String::new(),
            in_root: false,
            host_netns: None,
            serve: false,
            networks: 1,
            outside: false,
            publish: Vec::new(),
            overlay: false,
            overlay_mtu: None,
        }
    }
}

/// Options that cannot make a lab.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LabSpecError {
    #[error("invalid subnet {0:?}: {1}")]
    Subnet(String, &'static str),
    #[error(
        "subnet {subnet} has {hosts} host addresses, too few for a gateway and {containers} \
         containers: give a larger --subnet"
    )]
    SubnetTooSmall { subnet: Ipv4Net, hosts: u64, containers: usize },
    #[error("subnet {given} has host bits set: did you mean {network}/{len}?")]
    HostBits { given: Ipv4Net, network: Ipv4Addr, len: u8 },
    #[error("a lab needs 1 to {MAX_CONTAINERS} containers, got {0}")]
    ContainerCount(usize),
    #[error("--names gives {names} names but --containers asks for {count}: give one of them")]
    CountMismatch { names: usize, count: usize },
    #[error(
        "invalid {what} {name:?}: use 1 to {max} letters, digits, '-', '_' or '.' (not '.' or \
         '..'){hint}"
    )]
    Name { what: &'static str, name: String, max: usize, hint: &'static str },
    #[error("container name {0:?} is given twice")]
    Duplicate(String),
    #[error("host veth names of {0:?} and {1:?} collide ({2}): rename one of the containers")]
    VethCollision(String, String, String),
    #[error("a lab has 1 to {MAX_NETWORKS} networks, got {0}")]
    NetworkCount(usize),
    #[error(
        "--networks, --outside and --publish route and NAT in the host namespace: they need the \
         lab's own host namespace (leave out --in-root)"
    )]
    RoutedInRoot,
    #[error("the networks after {0} do not fit in IPv4: give a lower --subnet")]
    NetworksOverflow(Ipv4Net),
    #[error("subnet {0} overlaps the outside's {OUTSIDE_SUBNET}: choose another --subnet")]
    OutsideOverlap(Ipv4Net),
    #[error("invalid --publish {0:?}: expected HOST_PORT:CONTAINER:PORT such as 8080:nginx-2:80")]
    Publish(String),
    #[error("--publish needs --outside: ports are published on the uplink's address")]
    PublishWithoutOutside,
    #[error("--publish {0}: no container of that name in the lab")]
    PublishUnknown(String),
    #[error("--publish: host port {0} is published twice")]
    PublishTwice(u16),
    #[error(
        "--overlay builds two nodes of its own joined by a VXLAN tunnel, with no host side: it \
         cannot be combined with {0}"
    )]
    OverlayWith(&'static str),
    #[error("--overlay-mtu needs --overlay")]
    MtuWithoutOverlay,
    #[error("--overlay-mtu {0}: an MTU is 68 to 65535 bytes")]
    Mtu(u32),
    #[error("subnet {0} overlaps the underlay's {UNDERLAY_SUBNET}: choose another --subnet")]
    UnderlayOverlap(Ipv4Net),
}

impl Default for LabSpec {
    /// The classic lab: `nginx-1`, `nginx-2`, `docker0` in netns `vtrace-host`, 172.18.0.0/16.
    fn default() -> Self {
        // The default options always make a valid spec (covered by a unit test); fall back to an
        // empty lab rather than panicking if that ever changed.
        LabSpec::from_options(&LabOptions::default()).unwrap_or_else(|_| LabSpec {
            prefix: String::new(),
            host: HostSide::Netns(DEFAULT_HOST_NETNS.to_owned()),
            bridge: BridgeSpec {
                name: DEFAULT_BRIDGE_PRIVATE.to_owned(),
                mac: Mac([2, 0x42, 172, 18, 0, 1]),
                addr: Ipv4Addr::new(172, 18, 0, 1),
            },
            containers: Vec::new(),
            subnet: LabOptions::default().subnet,
            serve: false,
            networks: Vec::new(),
            outside: None,
            publish: Vec::new(),
            overlay: None,
        })
    }
}

impl LabSpec {
    /// Derive the whole lab from the options, or say which option is wrong.
    pub fn from_options(o: &LabOptions) -> Result<LabSpec, LabSpecError> {
        let names: Vec<String> = match &o.names {
            Some(n) => n.clone(),
            None => (1..=o.containers).map(|i| format!("{DEFAULT_CONTAINER_STEM}{i}")).collect(),
        };
        if names.is_empty() || names.len() > MAX_CONTAINERS {
            return Err(LabSpecError::ContainerCount(names.len()));
        }
        let subnet = o.subnet;
        if subnet.addr != subnet.network() {
            return Err(LabSpecError::HostBits {
                given: subnet,
                network: subnet.network(),
                len: subnet.len,
            });
        }
        let n_networks = o.networks;
        if n_networks == 0 || n_networks > MAX_NETWORKS {
            return Err(LabSpecError::NetworkCount(n_networks));
        }
        if o.in_root && (n_networks > 1 || o.outside || !o.publish.is_empty()) {
            return Err(LabSpecError::RoutedInRoot);
        }
        check_overlay(o)?;
        let subnets = network_subnets(subnet, n_networks)?;
        // Containers go to the networks in turn; each network numbers its own from .2.
        let per_network = |k: usize| (0..names.len()).filter(|i| i % n_networks == k).count();
        for (k, net) in subnets.iter().enumerate() {
            let hosts = net.host_count();
            if hosts < per_network(k) as u64 + 1 {
                return Err(LabSpecError::SubnetTooSmall {
                    subnet: *net,
                    hosts,
                    containers: per_network(k),
                });
            }
            if o.outside && net.overlaps(&OUTSIDE_SUBNET) {
                return Err(LabSpecError::OutsideOverlap(*net));
            }
        }
        let hosts = subnet.host_count();
        check_name("prefix", &o.prefix, NETNS_NAME_MAX, true)?;
        let host = if o.in_root {
            HostSide::Root
        } else {
            let base = o.host_netns.as_deref().unwrap_or(DEFAULT_HOST_NETNS);
            let name = format!("{}{base}", o.prefix);
            check_name("host namespace name", &name, NETNS_NAME_MAX, false)?;
            HostSide::Netns(name)
        };
        let bridge_name = match (&host, &o.bridge) {
            (HostSide::Netns(_), b) => b.clone().unwrap_or_else(|| DEFAULT_BRIDGE_PRIVATE.into()),
            (HostSide::Root, b) => {
                format!("{}{}", o.prefix, b.as_deref().unwrap_or(DEFAULT_BRIDGE_ROOT))
            }
        };
        check_ifname("bridge name", &bridge_name)?;
        let too_small = LabSpecError::SubnetTooSmall { subnet, hosts, containers: names.len() };
        let gateway = subnet.host(1).ok_or_else(|| too_small.clone())?;
        let bridge = BridgeSpec { name: bridge_name, mac: docker_mac(gateway), addr: gateway };
        let mut networks = Vec::new();
        for (k, net) in subnets.iter().enumerate().skip(1) {
            let addr = net.host(1).ok_or_else(|| too_small.clone())?;
            let name = format!("br-net{}", k + 1);
            networks.push(NetworkSpec {
                bridge: BridgeSpec { name, mac: docker_mac(addr), addr },
                subnet: *net,
            });
        }
        let mut containers: Vec<ContainerSpec> = Vec::with_capacity(names.len());
        for (i, name) in names.iter().enumerate() {
            let netns = format!("{}{name}", o.prefix);
            check_name("container name", name, NETNS_NAME_MAX, false)?;
            check_name("container namespace name", &netns, NETNS_NAME_MAX, false)?;
            if containers.iter().any(|c| &c.name == name) {
                return Err(LabSpecError::Duplicate(name.clone()));
            }
            let network = i % n_networks;
            let net = subnets.get(network).copied().unwrap_or(subnet);
            // On the overlay there is no gateway: the containers start at .2 all the same.
            let addr = net.host((i / n_networks) as u64 + 2).ok_or_else(|| too_small.clone())?;
            let host_veth = host_veth_name(&o.prefix, name);
            if let Some(other) = containers.iter().find(|c| c.host_veth == host_veth) {
                return Err(LabSpecError::VethCollision(
                    other.name.clone(),
                    name.clone(),
                    host_veth,
                ));
            }
            let mut c = ContainerSpec::new(name, network, netns, addr, host_veth);
            if o.overlay {
                c.node = i % OVERLAY_NODES;
            }
            containers.push(c);
        }
        let outside = if o.outside {
            let netns = format!("{}{OUTSIDE_NETNS}", o.prefix);
            check_name("outside namespace name", &netns, NETNS_NAME_MAX, false)?;
            let (host_addr, addr) = (OUTSIDE_SUBNET.host(1), OUTSIDE_SUBNET.host(2));
            let (Some(host_addr), Some(addr)) = (host_addr, addr) else {
                return Err(LabSpecError::OutsideOverlap(OUTSIDE_SUBNET));
            };
            let mut end =
                ContainerSpec::new("outside", usize::MAX, netns, addr, UPLINK_IFNAME.into());
            end.host_mac = docker_mac(host_addr);
            Some(OutsideSpec { end, host_addr, subnet: OUTSIDE_SUBNET })
        } else {
            None
        };
        let mut publish: Vec<PublishSpec> = Vec::new();
        for p in &o.publish {
            if outside.is_none() {
                return Err(LabSpecError::PublishWithoutOutside);
            }
            let c = containers
                .iter()
                .find(|c| c.name == p.container)
                .ok_or_else(|| LabSpecError::PublishUnknown(p.container.clone()))?;
            if publish.iter().any(|q| q.host_port == p.host_port) {
                return Err(LabSpecError::PublishTwice(p.host_port));
            }
            publish.push(PublishSpec {
                host_port: p.host_port,
                container: c.name.clone(),
                addr: c.addr,
                port: p.port,
            });
        }
        let overlay = if o.overlay { Some(overlay_spec(o)?) } else { None };
        Ok(LabSpec {
            prefix: o.prefix.clone(),
            host,
            bridge,
            containers,
            subnet,
            serve: o.serve,
            networks,
            outside,
            publish,
            overlay,
        })
    }

    /// The bridge and subnet of network `n` (0 the first).
    pub fn network(&self, n: usize) -> Option<(&BridgeSpec, Ipv4Net)> {
        match n {
            0 => Some((&self.bridge, self.subnet)),
            n => self.networks.get(n - 1).map(|net| (&net.bridge, net.subnet)),
        }
    }

    /// True when the host routes between the lab's networks or to the outside.
    pub fn forwards(&self) -> bool {
        !self.networks.is_empty() || self.outside.is_some()
    }

    /// The `nft -f` script of the lab's NAT (masquerade towards the outside, the published
    /// ports), in the host namespace; `None` without an outside.
    pub fn nat_script(&self) -> Option<String> {
        let out = self.outside.as_ref()?;
        let mut subnets: Vec<String> = vec![self.subnet.to_string()];
        subnets.extend(self.networks.iter().map(|n| n.subnet.to_string()));
        // Declared, deleted and made again: loading it twice leaves one copy of each rule.
        let mut s = format!(
            "table ip {NAT_TABLE}\ndelete table ip {NAT_TABLE}\ntable ip {NAT_TABLE} {{\n  chain postrouting {{\n    type nat hook postrouting \
             priority srcnat; policy accept;\n    oifname \"{}\" ip saddr {{ {} }} masquerade\n  }}\n",
            out.end.host_veth,
            subnets.join(", ")
        );
        if !self.publish.is_empty() {
            s.push_str(
                "  chain prerouting {\n    type nat hook prerouting priority dstnat; policy accept;\n",
            );
            for p in &self.publish {
                s.push_str(&format!(
                    "    ip daddr {} tcp dport {} dnat to {}:{}\n",
                    out.host_addr, p.host_port, p.addr, p.port
                ));
            }
            s.push_str("  }\n");
        }
        s.push_str("}\n");
        Some(s)
    }

    /// The namespace holding the host side, or `None` for the root namespace.
    pub fn host_netns(&self) -> Option<&str> {
        match &self.host {
            HostSide::Netns(n) => Some(n),
            HostSide::Root => None,
        }
    }

    /// Every named namespace the lab creates: the host one first (if any), or the overlay's
    /// nodes, then the containers, then the outside.
    pub fn namespaces(&self) -> Vec<&str> {
        if let Some(ov) = &self.overlay {
            let nodes = ov.nodes.iter().map(|n| n.netns.as_str());
            return nodes.chain(self.containers.iter().map(|c| c.netns.as_str())).collect();
        }
        self.host_netns()
            .into_iter()
            .chain(self.containers.iter().map(|c| c.netns.as_str()))
            .chain(self.outside.iter().map(|o| o.end.netns.as_str()))
            .collect()
    }

    /// A label for the host side in messages: `netns vtrace-host` or `the root netns` (the
    /// overlay's nodes in an overlay lab).
    pub fn host_label(&self) -> String {
        if let Some(ov) = &self.overlay {
            let nodes: Vec<String> =
                ov.nodes.iter().map(|n| format!("netns {}", n.netns)).collect();
            return nodes.join(" and ");
        }
        match &self.host {
            HostSide::Netns(n) => format!("netns {n}"),
            HostSide::Root => "the root netns".to_owned(),
        }
    }

    pub fn prefix_len(&self) -> u8 {
        self.subnet.len
    }
}

impl ContainerSpec {
    /// A container on `network` at `addr`, with Docker's MACs for it.
    fn new(name: &str, network: usize, netns: String, addr: Ipv4Addr, host_veth: String) -> Self {
        let [a, b, c, d] = addr.octets();
        ContainerSpec {
            name: name.to_owned(),
            network,
            node: 0,
            netns,
            ifname: CONTAINER_IFNAME.to_owned(),
            mac: docker_mac(addr),
            addr,
            host_veth,
            host_mac: Mac([0x06, 0x42, a, b, c, d]),
        }
    }
}

/// Refuse what makes no sense with (or without) `--overlay`.
fn check_overlay(o: &LabOptions) -> Result<(), LabSpecError> {
    if !o.overlay {
        return match o.overlay_mtu {
            Some(_) => Err(LabSpecError::MtuWithoutOverlay),
            None => Ok(()),
        };
    }
    let clash = [
        (o.in_root, "--in-root"),
        (o.networks > 1, "--networks"),
        (o.outside, "--outside"),
        (!o.publish.is_empty(), "--publish"),
    ];
    if let Some((_, what)) = clash.iter().find(|(on, _)| *on) {
        return Err(LabSpecError::OverlayWith(what));
    }
    if o.subnet.overlaps(&UNDERLAY_SUBNET) {
        return Err(LabSpecError::UnderlayOverlap(o.subnet));
    }
    match o.overlay_mtu {
        Some(m) if !(68..=65535).contains(&m) => Err(LabSpecError::Mtu(m)),
        _ => Ok(()),
    }
}

/// The overlay's nodes: `node-N` at underlay address .N, with stable MACs
/// (`02:75:6c:00:00:0N` on the underlay, `02:62:72:…` the bridge, `02:76:78:…` the VXLAN device).
fn overlay_spec(o: &LabOptions) -> Result<OverlaySpec, LabSpecError> {
    let vxlan = format!("vxlan{OVERLAY_VNI}");
    let bridge = o.bridge.clone().unwrap_or_else(|| OVERLAY_BRIDGE.to_owned());
    check_ifname("bridge name", &bridge)?;
    let mut nodes = Vec::with_capacity(OVERLAY_NODES);
    for i in 1..=OVERLAY_NODES {
        let name = format!("{NODE_STEM}{i}");
        let netns = format!("{}{name}", o.prefix);
        check_name("node namespace name", &netns, NETNS_NAME_MAX, false)?;
        let underlay_addr =
            UNDERLAY_SUBNET.host(i as u64).ok_or(LabSpecError::UnderlayOverlap(UNDERLAY_SUBNET))?;
        let n = i as u8;
        nodes.push(NodeSpec {
            name,
            netns,
            underlay_addr,
            underlay_mac: Mac([0x02, 0x75, 0x6c, 0, 0, n]),
            bridge_mac: Mac([0x02, 0x62, 0x72, 0, 0, n]),
            vxlan: vxlan.clone(),
            vxlan_mac: Mac([0x02, 0x76, 0x78, 0, 0, n]),
        });
    }
    Ok(OverlaySpec {
        vni: OVERLAY_VNI,
        port: VXLAN_PORT,
        underlay: UNDERLAY_SUBNET,
        underlay_ifname: UNDERLAY_IFNAME.to_owned(),
        bridge,
        nodes,
        eth_mtu: o.overlay_mtu.unwrap_or(OVERLAY_ETH_MTU),
    })
}

/// The subnets of `n` networks: the first, then the ones of the same size that follow it.
fn network_subnets(first: Ipv4Net, n: usize) -> Result<Vec<Ipv4Net>, LabSpecError> {
    let size = 1u64 << (32 - u32::from(first.len));
    (0..n as u64)
        .map(|k| {
            let start = u64::from(u32::from(first.network())) + k * size;
            let addr = u32::try_from(start).map_err(|_| LabSpecError::NetworksOverflow(first))?;
            Ok(Ipv4Net { addr: Ipv4Addr::from(addr), len: first.len })
        })
        .collect()
}

/// Docker's MAC for an IPv4 address: `02:42:<the four address bytes>`.
pub fn docker_mac(ip: Ipv4Addr) -> Mac {
    let [a, b, c, d] = ip.octets();
    Mac([0x02, 0x42, a, b, c, d])
}

/// The host end of a container's veth pair: `veth` + 7 hex digits of a stable hash (FNV-1a) of
/// the prefix and the container name, like Docker's names but reproducible.
pub fn host_veth_name(prefix: &str, container: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in prefix.bytes().chain([0u8]).chain(container.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // Avalanche (the murmur3 finaliser) so that similar names give unrelated digits.
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    format!("veth{:07x}", h & 0x0fff_ffff)
}

fn name_chars_ok(name: &str) -> bool {
    name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn check_name(
    what: &'static str,
    name: &str,
    max: usize,
    empty_ok: bool,
) -> Result<(), LabSpecError> {
    let ok = (empty_ok || !name.is_empty())
        && name.len() <= max
        && name_chars_ok(name)
        && name != "."
        && name != "..";
    if ok { Ok(()) } else { Err(LabSpecError::Name { what, name: name.to_owned(), max, hint: "" }) }
}

fn check_ifname(what: &'static str, name: &str) -> Result<(), LabSpecError> {
    check_name(what, name, IFNAME_MAX, false).map_err(|_| LabSpecError::Name {
        what,
        name: name.to_owned(),
        max: IFNAME_MAX,
        hint: "; in --in-root mode the prefix is part of it: shorten --prefix or --bridge",
    })
}

/// A route that makes `--in-root` unsafe: an existing route whose destination overlaps the lab's
/// subnet. The default route (length 0) and the lab's own bridge routes do not count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootRoute {
    pub dst: Ipv4Net,
    /// The output interface's name, when known.
    pub dev: Option<String>,
    pub table: u32,
}

/// The routes of `routes` that overlap the lab's subnet (see [`RootRoute`]).
pub fn overlapping_routes<'a>(spec: &LabSpec, routes: &'a [RootRoute]) -> Vec<&'a RootRoute> {
    routes
        .iter()
        .filter(|r| r.dst.prefix_len() > 0)
        .filter(|r| r.dev.as_deref() != Some(spec.bridge.name.as_str()))
        .filter(|r| r.dst.overlaps(&spec.subnet))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn default_lab_is_the_docker_example() {
        let spec = LabSpec::default();
        assert_eq!(spec.host, HostSide::Netns("vtrace-host".into()));
        assert_eq!(spec.bridge.name, "docker0");
        assert_eq!(spec.bridge.addr, Ipv4Addr::new(172, 18, 0, 1));
        assert_eq!(spec.bridge.mac.to_string(), "02:42:ac:12:00:01");
        assert_eq!(spec.containers.len(), 2);
        let c1 = &spec.containers[0];
        assert_eq!(
            (c1.name.as_str(), c1.netns.as_str(), c1.ifname.as_str()),
            ("nginx-1", "nginx-1", "eth0")
        );
        assert_eq!(c1.addr, Ipv4Addr::new(172, 18, 0, 2));
        assert_eq!(c1.mac.to_string(), "02:42:ac:12:00:02");
        assert_eq!(c1.host_mac.to_string(), "06:42:ac:12:00:02");
        assert_eq!(spec.containers[1].addr, Ipv4Addr::new(172, 18, 0, 3));
        assert_eq!(spec.namespaces(), ["vtrace-host", "nginx-1", "nginx-2"]);
        assert_eq!(spec.prefix_len(), 16);
    }

    #[test]
    fn host_veth_names_are_docker_shaped_stable_and_distinct() {
        let a = host_veth_name("", "nginx-1");
        assert_eq!(a.len(), 11);
        assert!(a.starts_with("veth") && a[4..].bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(a, host_veth_name("", "nginx-1"));
        assert_ne!(a, host_veth_name("", "nginx-2"));
        assert_ne!(a, host_veth_name("t1-", "nginx-1"));
        // The separator keeps ("ab", "c") and ("a", "bc") apart.
        assert_ne!(host_veth_name("ab", "c"), host_veth_name("a", "bc"));
    }

    #[test]
    fn prefix_names_namespaces_and_in_root_the_bridge() {
        let o = LabOptions { prefix: "t7-".into(), ..LabOptions::default() };
        let spec = LabSpec::from_options(&o).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(spec.namespaces(), ["t7-vtrace-host", "t7-nginx-1", "t7-nginx-2"]);
        assert_eq!(spec.bridge.name, "docker0");
        let o = LabOptions { in_root: true, ..o };
        let spec = LabSpec::from_options(&o).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(spec.host, HostSide::Root);
        assert_eq!(spec.bridge.name, "t7-vtrace0");
        assert_eq!(spec.namespaces(), ["t7-nginx-1", "t7-nginx-2"]);
    }

    #[test]
    fn names_containers_and_subnet_options() {
        let o = LabOptions {
            names: Some(vec!["web".into(), "db".into(), "cache".into()]),
            subnet: net("10.9.8.0/29"),
            bridge: Some("br-lab".into()),
            ..LabOptions::default()
        };
        let spec = LabSpec::from_options(&o).unwrap_or_else(|e| panic!("{e}"));
        let addrs: Vec<String> = spec.containers.iter().map(|c| c.addr.to_string()).collect();
        assert_eq!(addrs, ["10.9.8.2", "10.9.8.3", "10.9.8.4"]);
        assert_eq!(spec.bridge.name, "br-lab");
        assert_eq!(spec.containers[2].mac.to_string(), "02:42:0a:09:08:04");
        let o = LabOptions { containers: 4, ..LabOptions::default() };
        let spec = LabSpec::from_options(&o).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(spec.containers[3].name, "nginx-4");
        assert_eq!(spec.containers[3].addr, Ipv4Addr::new(172, 18, 0, 5));
    }

    #[test]
    fn bad_options_are_refused_with_the_reason() {
        let with = |f: &dyn Fn(&mut LabOptions)| {
            let mut o = LabOptions::default();
            f(&mut o);
            LabSpec::from_options(&o)
        };
        // /30 holds the gateway and 1 container, not 2.
        assert!(matches!(
            with(&|o| o.subnet = net("10.0.0.0/30")),
            Err(LabSpecError::SubnetTooSmall { hosts: 2, containers: 2, .. })
        ));
        assert!(
            with(&|o| {
                o.subnet = net("10.0.0.0/30");
                o.containers = 1;
            })
            .is_ok()
        );
        let e = with(&|o| o.subnet = net("10.0.0.5/24")).err();
        assert_eq!(
            e.map(|e| e.to_string()).as_deref(),
            Some("subnet 10.0.0.5/24 has host bits set: did you mean 10.0.0.0/24?")
        );
        assert_eq!(with(&|o| o.containers = 0), Err(LabSpecError::ContainerCount(0)));
        assert_eq!(
            with(&|o| o.names = Some(vec!["a".into(), "a".into()])),
            Err(LabSpecError::Duplicate("a".into()))
        );
        assert!(matches!(with(&|o| o.prefix = "x/".into()), Err(LabSpecError::Name { .. })));
        assert!(matches!(
            with(&|o| o.names = Some(vec!["../etc".into()])),
            Err(LabSpecError::Name { .. })
        ));
        // In root the prefix is part of the bridge name, which must fit IFNAMSIZ.
        assert!(matches!(
            with(&|o| {
                o.in_root = true;
                o.prefix = "longprefix-".into();
            }),
            Err(LabSpecError::Name { what: "bridge name", .. })
        ));
        assert!(matches!(
            with(&|o| o.bridge = Some("a-very-long-bridge".into())),
            Err(LabSpecError::Name { .. })
        ));
    }

    #[test]
    fn ipv4_networks() {
        let n = net("172.18.0.0/16");
        assert!(n.contains(Ipv4Addr::new(172, 18, 255, 254)));
        assert!(!n.contains(Ipv4Addr::new(172, 19, 0, 1)));
        assert!(n.overlaps(&net("172.18.5.0/24")));
        assert!(net("172.16.0.0/12").overlaps(&n));
        assert!(!n.overlaps(&net("172.19.0.0/16")));
        assert_eq!(n.host_count(), 65534);
        assert_eq!(n.host(65534), Some(Ipv4Addr::new(172, 18, 255, 254)));
        assert_eq!(n.host(65535), None);
        assert_eq!(n.host(0), None);
        assert_eq!(net("0.0.0.0/0").host_count(), (1u64 << 32) - 2);
        assert!("172.18.0.0".parse::<Ipv4Net>().is_err());
        assert!("172.18.0.0/33".parse::<Ipv4Net>().is_err());
        assert_eq!(n.to_string(), "172.18.0.0/16");
    }

    #[test]
    fn overlapping_routes_ignore_default_and_own_bridge() {
        let spec = LabSpec::from_options(&LabOptions {
            in_root: true,
            subnet: net("10.250.3.0/24"),
            ..LabOptions::default()
        })
        .unwrap_or_else(|e| panic!("{e}"));
        let r = |dst: &str, dev: &str| RootRoute {
            dst: net(dst),
            dev: Some(dev.to_owned()),
            table: 254,
        };
        let routes = [
            r("0.0.0.0/0", "eth0"),
            r("10.250.3.0/24", "vtrace0"),
            r("10.250.3.1/32", "vtrace0"),
            r("10.0.0.0/8", "eth1"),
            r("192.0.2.0/24", "eth0"),
        ];
        let hits = overlapping_routes(&spec, &routes);
        assert_eq!(hits, [&routes[3]]);
    }

    #[test]
    fn the_overlay_lab_has_two_nodes_and_a_container_on_each() {
        let o = LabOptions {
            overlay: true,
            subnet: OVERLAY_SUBNET,
            prefix: "o1-".into(),
            ..LabOptions::default()
        };
        let spec = LabSpec::from_options(&o).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(spec.namespaces(), ["o1-node-1", "o1-node-2", "o1-nginx-1", "o1-nginx-2"]);
        let ov = spec.overlay.as_ref().unwrap_or_else(|| panic!("no overlay"));
        assert_eq!((ov.vni, ov.port, ov.eth_mtu), (42, 4789, 1500));
        assert_eq!((ov.bridge.as_str(), ov.underlay_ifname.as_str()), ("br0", "underlay0"));
        let n: Vec<(&str, String, &str)> = ov
            .nodes
            .iter()
            .map(|n| (n.name.as_str(), n.underlay_addr.to_string(), n.vxlan.as_str()))
            .collect();
        assert_eq!(
            n,
            [
                ("node-1", "10.99.0.1".to_owned(), "vxlan42"),
                ("node-2", "10.99.0.2".to_owned(), "vxlan42")
            ]
        );
        assert_eq!(ov.remote_of(0).map(|n| n.name.as_str()), Some("node-2"));
        let c: Vec<(usize, String)> =
            spec.containers.iter().map(|c| (c.node, c.addr.to_string())).collect();
        assert_eq!(c, [(0, "10.42.0.2".to_owned()), (1, "10.42.0.3".to_owned())]);
        let o = LabOptions { overlay_mtu: Some(1450), ..o };
        let spec = LabSpec::from_options(&o).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(spec.overlay.map(|o| o.eth_mtu), Some(1450));
    }

    #[test]
    fn the_overlay_refuses_what_makes_no_sense_with_it() {
        let with = |f: &dyn Fn(&mut LabOptions)| {
            let mut o =
                LabOptions { overlay: true, subnet: OVERLAY_SUBNET, ..LabOptions::default() };
            f(&mut o);
            LabSpec::from_options(&o).err()
        };
        assert_eq!(with(&|o| o.in_root = true), Some(LabSpecError::OverlayWith("--in-root")));
        assert_eq!(with(&|o| o.networks = 2), Some(LabSpecError::OverlayWith("--networks")));
        assert_eq!(with(&|o| o.outside = true), Some(LabSpecError::OverlayWith("--outside")));
        assert_eq!(with(&|o| o.overlay_mtu = Some(20)), Some(LabSpecError::Mtu(20)));
        assert_eq!(
            with(&|o| o.subnet = net("10.99.0.0/16")),
            Some(LabSpecError::UnderlayOverlap(net("10.99.0.0/16")))
        );
        let o = LabOptions { overlay_mtu: Some(1450), ..LabOptions::default() };
        assert_eq!(LabSpec::from_options(&o).err(), Some(LabSpecError::MtuWithoutOverlay));
    }
}
