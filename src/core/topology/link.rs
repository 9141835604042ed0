//! One network interface ([`Link`]): its kind, operational and STP port states, addresses and the
//! other end of a veth ([`PeerRef`]).
//!
//! Pure data with the names iproute2 prints; it must not know netlink attributes (that is
//! `sys::netlink::convert`).

use std::net::IpAddr;

use super::{IfIndex, NsIdx};
use crate::core::packet::{HwAddr, Mac};

/// What kind of device a link is (`ip -d link`'s `kind`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LinkKind {
    Loopback,
    Veth,
    Bridge,
    /// A VXLAN tunnel endpoint (its parameters are [`Link::vxlan`]).
    Vxlan,
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
            LinkKind::Vxlan => "vxlan",
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

/// Bytes VXLAN adds around a frame over IPv4: outer Ethernet 14, IPv4 20, UDP 8, VXLAN 8 (the
/// kernel gives a VXLAN device its underlay's MTU minus this).
pub const VXLAN_OVERHEAD_IPV4: u32 = 50;
/// The same over IPv6 (a 40-byte IPv6 header).
pub const VXLAN_OVERHEAD_IPV6: u32 = 70;

/// A VXLAN device's parameters (`ip -d link show type vxlan`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Vxlan {
    pub vni: u32,
    /// The UDP destination port (4789 IANA's, 8472 Linux's old default).
    pub port: u16,
    /// The local tunnel address, when set.
    pub local: Option<IpAddr>,
    /// The remote tunnel endpoint (unicast) or multicast group, when set.
    pub remote: Option<IpAddr>,
    /// The underlay device (`dev`), when set.
    pub underlay: Option<IfIndex>,
    /// Learning of remote MACs into the FDB.
    pub learning: bool,
    /// The device's FDB entries that name a remote endpoint (`bridge fdb show dev vxlan42`'s
    /// `dst`): the MAC (all zeros for the default entry) and where it tunnels to.
    pub fdb: Vec<(Mac, IpAddr)>,
}

impl Vxlan {
    /// The bytes this tunnel adds around a frame (by the family of its endpoints).
    pub fn overhead(&self) -> u32 {
        if self.remote.or(self.local).is_some_and(|ip| ip.is_ipv6()) {
            VXLAN_OVERHEAD_IPV6
        } else {
            VXLAN_OVERHEAD_IPV4
        }
    }

    /// The remote endpoints it tunnels to: its `remote` when unicast, else the distinct
    /// destinations of its FDB.
    pub fn remotes(&self) -> Vec<IpAddr> {
        match self.remote.filter(|r| !r.is_multicast()) {
            Some(r) => vec![r],
            None => {
                let mut out: Vec<IpAddr> = Vec::new();
                for (_, ip) in &self.fdb {
                    if !ip.is_multicast() && !out.contains(ip) {
                        out.push(*ip);
                    }
                }
                out
            }
        }
    }
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
    /// For a VXLAN device: its parameters.
    pub vxlan: Option<Vxlan>,
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
            vxlan: None,
        }
    }
}
