//! A namespace's tables: routes of the main table (with prefix matching), the ARP / NDP
//! neighbour cache and the bridges' forwarding database.
//!
//! Pure data with the names iproute2 prints; it must not pick a route for a namespace (that is
//! [`super::Namespace::route_to`]) nor know netlink attributes.

use std::net::IpAddr;

use super::IfIndex;
use crate::core::packet::Mac;

/// A policy routing rule (`ip rule`) that sends some packets elsewhere than the main table: to
/// another table, or to a blackhole, unreachable or prohibit. vtrace reads the main table only,
/// so where such a rule exists the way on is uncertain (see [`crate::core::path::with_branches`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PolicyRule {
    pub v6: bool,
    pub pref: u32,
    /// As `ip rule` prints it: `100: from 172.18.0.2 lookup 100`.
    pub text: String,
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
    /// On a VXLAN device: the remote endpoint the MAC is tunnelled to (`dst`).
    pub dst: Option<IpAddr>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(a, b, c, d))
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
}
