//! rtnetlink messages → the core's topology types, one function per message kind.
//!
//! Pure translation of already received messages (no sockets, no namespaces). Peers are left
//! unresolved here: [`RawLink`] keeps the raw `IFLA_LINK` / `IFLA_LINK_NETNSID` for
//! `peers.rs` to map.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use netlink_packet_route::AddressFamily;
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVxlan, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
    LinkProtoInfoBridge, State,
};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteScope as NlScope, RouteType,
    RouteVia,
};
use netlink_packet_route::rule::{RuleAction, RuleAttribute, RuleMessage};
use rtnetlink::packet_core::Nla;

use crate::core::packet::{HwAddr, Mac};
use crate::core::topology::{
    FdbEntry, FdbKind, IfAddr, IfIndex, Link, LinkKind, NeighState, Neighbour, OperState,
    PolicyRule, PortState, Route, RouteKind, RouteScope, Vxlan,
};

/// `IFLA_BRPORT_STATE` inside a bridge port's `IFLA_PROTINFO`.
const IFLA_BRPORT_STATE: u16 = 1;

/// A link with its veth peer as the kernel reported it (not yet mapped to a namespace).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawLink {
    pub link: Link,
    /// The peer's ifindex (`IFLA_LINK`, or the link's own index when the kernel omitted it
    /// because both are equal). Only for veths.
    pub peer_ifindex: Option<IfIndex>,
    /// `IFLA_LINK_NETNSID`: the peer's namespace as this namespace numbers it; `None` when the
    /// peer is in the same namespace.
    pub peer_nsid: Option<i32>,
}

/// A link from an `RTM_NEWLINK` of an `AF_UNSPEC` dump.
pub fn link(msg: &LinkMessage) -> RawLink {
    let mut link = Link {
        ifindex: IfIndex(msg.header.index),
        name: String::new(),
        kind: if msg.header.flags.contains(LinkFlags::Loopback) {
            LinkKind::Loopback
        } else {
            LinkKind::Device
        },
        mac: None,
        mtu: 0,
        admin_up: msg.header.flags.contains(LinkFlags::Up),
        oper_state: OperState::Unknown,
        carrier: None,
        master: None,
        addrs: Vec::new(),
        peer: None,
        bridge_port_state: None,
        vxlan: None,
    };
    let mut iflink = None;
    let mut peer_nsid = None;
    for attr in &msg.attributes {
        match attr {
            LinkAttribute::IfName(n) => link.name.clone_from(n),
            LinkAttribute::Address(a) if !a.is_empty() => link.mac = Some(HwAddr::new(a)),
            LinkAttribute::Mtu(m) => link.mtu = *m,
            LinkAttribute::OperState(s) => link.oper_state = oper_state(*s),
            LinkAttribute::Carrier(c) => link.carrier = Some(*c != 0),
            LinkAttribute::Controller(m) => link.master = Some(IfIndex(*m)),
            LinkAttribute::Link(l) => iflink = Some(IfIndex(*l)),
            LinkAttribute::LinkNetNsId(id) => peer_nsid = Some(*id),
            LinkAttribute::LinkInfo(infos) => {
                if let Some(kind) = infos.iter().find_map(|i| match i {
                    LinkInfo::Kind(k) => Some(k),
                    _ => None,
                }) {
                    link.kind = link_kind(kind);
                }
                link.vxlan = infos.iter().find_map(|i| match i {
                    LinkInfo::Data(InfoData::Vxlan(v)) => Some(vxlan(v)),
                    _ => None,
                });
            }
            _ => {}
        }
    }
    let is_veth = link.kind == LinkKind::Veth;
    let peer_ifindex = is_veth.then(|| iflink.unwrap_or(link.ifindex));
    RawLink { link, peer_ifindex, peer_nsid: if is_veth { peer_nsid } else { None } }
}

/// A VXLAN device's parameters from its `IFLA_INFO_DATA`.
fn vxlan(infos: &[InfoVxlan]) -> Vxlan {
    let mut v = Vxlan {
        vni: 0,
        port: 0,
        local: None,
        remote: None,
        underlay: None,
        learning: false,
        fdb: Vec::new(),
    };
    for i in infos {
        match i {
            InfoVxlan::Id(id) => v.vni = *id,
            InfoVxlan::Port(p) => v.port = *p,
            InfoVxlan::Local(ip) => v.local = Some(IpAddr::V4(*ip)),
            InfoVxlan::Local6(ip) => v.local = Some(IpAddr::V6(*ip)),
            InfoVxlan::Group(ip) => v.remote = Some(IpAddr::V4(*ip)),
            InfoVxlan::Group6(ip) => v.remote = Some(IpAddr::V6(*ip)),
            InfoVxlan::Link(l) if *l != 0 => v.underlay = Some(IfIndex(*l)),
            InfoVxlan::Learning(l) => v.learning = *l,
            _ => {}
        }
    }
    v.local = v.local.filter(|ip| !ip.is_unspecified());
    v.remote = v.remote.filter(|ip| !ip.is_unspecified());
    v
}

fn link_kind(kind: &InfoKind) -> LinkKind {
    match kind {
        InfoKind::Veth => LinkKind::Veth,
        InfoKind::Bridge => LinkKind::Bridge,
        InfoKind::Vxlan => LinkKind::Vxlan,
        other => LinkKind::Other(other.to_string()),
    }
}

fn oper_state(s: State) -> OperState {
    match s {
        State::NotPresent => OperState::NotPresent,
        State::Down => OperState::Down,
        State::LowerLayerDown => OperState::LowerLayerDown,
        State::Testing => OperState::Testing,
        State::Dormant => OperState::Dormant,
        State::Up => OperState::Up,
        _ => OperState::Unknown,
    }
}

/// A bridge port's STP state from an `RTM_NEWLINK` of an `AF_BRIDGE` dump.
pub fn port_state(msg: &LinkMessage) -> Option<(IfIndex, PortState)> {
    msg.attributes.iter().find_map(|attr| match attr {
        LinkAttribute::ProtoInfoBridge(infos) => infos.iter().find_map(|i| match i {
            LinkProtoInfoBridge::Other(nla) if nla.kind() == IFLA_BRPORT_STATE => {
                let mut value = vec![0u8; nla.value_len()];
                nla.emit_value(&mut value);
                let state = *value.first()?;
                Some((IfIndex(msg.header.index), PortState::from_kernel(state)))
            }
            _ => None,
        }),
        _ => None,
    })
}

/// An address (`ip addr`): the link it is on and the address with its prefix.
pub fn address(msg: &AddressMessage) -> Option<(IfIndex, IfAddr)> {
    let (mut local, mut address) = (None, None);
    for attr in &msg.attributes {
        match attr {
            AddressAttribute::Local(ip) => local = Some(*ip),
            AddressAttribute::Address(ip) => address = Some(*ip),
            _ => {}
        }
    }
    // IFA_LOCAL is the interface's own address; IFA_ADDRESS the peer's on point-to-point links.
    let ip = local.or(address)?;
    Some((IfIndex(msg.header.index), IfAddr { ip, prefix: msg.header.prefix_len }))
}

/// A route of the main table (IPv4 or IPv6); other tables and families give `None`.
pub fn route(msg: &RouteMessage) -> Option<Route> {
    let h = &msg.header;
    let table = msg
        .attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Table(t) => Some(*t),
            _ => None,
        })
        .unwrap_or(u32::from(h.table));
    if table != u32::from(RouteHeader::RT_TABLE_MAIN) {
        return None;
    }
    let mut dst = match h.address_family {
        AddressFamily::Inet => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        AddressFamily::Inet6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        _ => return None,
    };
    let (mut gateway, mut dev, mut metric) = (None, None, None);
    for attr in &msg.attributes {
        match attr {
            RouteAttribute::Destination(a) => dst = route_ip(a).unwrap_or(dst),
            RouteAttribute::Gateway(a) => gateway = route_ip(a),
            RouteAttribute::Via(v) => gateway = via_ip(v),
            RouteAttribute::Oif(i) => dev = Some(IfIndex(*i)),
            RouteAttribute::Priority(p) => metric = Some(*p),
            RouteAttribute::MultiPath(hops) => {
                if let Some(first) = hops.first() {
                    dev = dev.or(Some(IfIndex(first.interface_index)));
                    gateway = gateway.or_else(|| {
                        first.attributes.iter().find_map(|a| match a {
                            RouteAttribute::Gateway(g) => route_ip(g),
                            RouteAttribute::Via(v) => via_ip(v),
                            _ => None,
                        })
                    });
                }
            }
            _ => {}
        }
    }
    Some(Route {
        dst,
        prefix: h.destination_prefix_length,
        gateway,
        dev,
        scope: route_scope(h.scope),
        kind: route_kind(h.kind),
        metric,
    })
}

/// A policy routing rule, when it sends packets elsewhere than the main table (the kernel's
/// `local`, `main` and `default` lookups are left out: vtrace's path follows the main table).
pub fn rule(msg: &RuleMessage) -> Option<PolicyRule> {
    let h = &msg.header;
    let mut table = u32::from(h.table);
    let (mut pref, mut sel) = (0u32, String::new());
    for attr in &msg.attributes {
        match attr {
            RuleAttribute::Table(t) => table = *t,
            RuleAttribute::Priority(p) => pref = *p,
            RuleAttribute::Source(ip) => sel.push_str(&format!(" from {ip}/{}", h.src_len)),
            RuleAttribute::Destination(ip) => sel.push_str(&format!(" to {ip}/{}", h.dst_len)),
            RuleAttribute::Iifname(n) => sel.push_str(&format!(" iif {n}")),
            RuleAttribute::Oifname(n) => sel.push_str(&format!(" oif {n}")),
            RuleAttribute::FwMark(m) => sel.push_str(&format!(" fwmark {m:#x}")),
            _ => {}
        }
    }
    let action = match h.action {
        RuleAction::ToTable if matches!(table, 253..=255) => return None,
        RuleAction::ToTable => format!("lookup {table}"),
        RuleAction::Blackhole => "blackhole".to_owned(),
        RuleAction::Unreachable => "unreachable".to_owned(),
        RuleAction::Prohibit => "prohibit".to_owned(),
        RuleAction::Goto => "goto".to_owned(),
        _ => return None,
    };
    let sel = if sel.is_empty() { " from all".to_owned() } else { sel };
    Some(PolicyRule {
        v6: h.family == AddressFamily::Inet6,
        pref,
        text: format!("{pref}:{sel} {action}"),
    })
}

fn route_ip(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

fn via_ip(v: &RouteVia) -> Option<IpAddr> {
    match v {
        RouteVia::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteVia::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

fn route_scope(s: NlScope) -> RouteScope {
    match s {
        NlScope::Universe => RouteScope::Universe,
        NlScope::Site => RouteScope::Site,
        NlScope::Link => RouteScope::Link,
        NlScope::Host => RouteScope::Host,
        NlScope::NoWhere => RouteScope::Nowhere,
        NlScope::Other(n) => RouteScope::Other(n),
        _ => RouteScope::Other(0),
    }
}

fn route_kind(t: RouteType) -> RouteKind {
    match t {
        RouteType::Unicast => RouteKind::Unicast,
        RouteType::Local => RouteKind::Local,
        RouteType::Broadcast => RouteKind::Broadcast,
        RouteType::BlackHole => RouteKind::Blackhole,
        RouteType::Unreachable => RouteKind::Unreachable,
        RouteType::Prohibit => RouteKind::Prohibit,
        _ => RouteKind::Other,
    }
}

fn mac_of(attrs: &[NeighbourAttribute]) -> Option<Mac> {
    attrs.iter().find_map(|a| match a {
        NeighbourAttribute::LinkLayerAddress(b) => HwAddr::new(b).mac(),
        _ => None,
    })
}

/// An ARP / NDP entry (`ip neigh`).
pub fn neighbour(msg: &NeighbourMessage) -> Option<Neighbour> {
    let ip = msg.attributes.iter().find_map(|a| match a {
        NeighbourAttribute::Destination(d) => neighbour_ip(d),
        _ => None,
    })?;
    Some(Neighbour {
        ip,
        mac: mac_of(&msg.attributes),
        state: neigh_state(msg.header.state),
        dev: IfIndex(msg.header.ifindex),
    })
}

/// An `NDA_DST` as an IP address (what a VXLAN FDB entry tunnels to, or a neighbour's). In an
/// `AF_BRIDGE` dump the message's family says nothing of the address's: it comes as raw bytes,
/// 4 for IPv4 and 16 for IPv6.
fn neighbour_ip(d: &NeighbourAddress) -> Option<IpAddr> {
    match d {
        NeighbourAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        NeighbourAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        NeighbourAddress::Other(b) => match b.len() {
            4 => <[u8; 4]>::try_from(b.as_slice()).ok().map(|a| IpAddr::V4(Ipv4Addr::from(a))),
            16 => <[u8; 16]>::try_from(b.as_slice()).ok().map(|a| IpAddr::V6(Ipv6Addr::from(a))),
            _ => None,
        },
        _ => None,
    }
}

fn neigh_state(s: NeighbourState) -> NeighState {
    match s {
        NeighbourState::Incomplete => NeighState::Incomplete,
        NeighbourState::Reachable => NeighState::Reachable,
        NeighbourState::Stale => NeighState::Stale,
        NeighbourState::Delay => NeighState::Delay,
        NeighbourState::Probe => NeighState::Probe,
        NeighbourState::Failed => NeighState::Failed,
        NeighbourState::Noarp => NeighState::Noarp,
        NeighbourState::Permanent => NeighState::Permanent,
        NeighbourState::None => NeighState::None,
        NeighbourState::Other(n) => NeighState::Other(n),
        _ => NeighState::Other(0),
    }
}

/// A forwarding-database entry from an `AF_BRIDGE` neighbour dump (`bridge fdb`).
pub fn fdb(msg: &NeighbourMessage) -> Option<FdbEntry> {
    let mac = mac_of(&msg.attributes)?;
    let (mut master, mut vlan, mut dst) = (None, None, None);
    for attr in &msg.attributes {
        match attr {
            NeighbourAttribute::Controller(m) => master = Some(IfIndex(*m)),
            NeighbourAttribute::Vlan(v) => vlan = Some(*v),
            NeighbourAttribute::Destination(d) => dst = neighbour_ip(d),
            _ => {}
        }
    }
    let on_device = msg.header.flags.contains(NeighbourFlags::Own) && master.is_none();
    let kind = match msg.header.state {
        NeighbourState::Permanent if on_device => FdbKind::Permanent,
        NeighbourState::Permanent => FdbKind::Local,
        NeighbourState::Noarp => FdbKind::Static,
        _ => FdbKind::Learned,
    };
    Some(FdbEntry { mac, port: IfIndex(msg.header.ifindex), master, vlan, kind, dst })
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_route::route::RouteProtocol;
    use rtnetlink::packet_core::DefaultNla;

    #[test]
    fn veth_in_another_namespace_keeps_its_raw_peer() {
        let mut msg = LinkMessage::default();
        msg.header.index = 7;
        msg.header.flags = LinkFlags::Up | LinkFlags::Broadcast;
        msg.attributes = vec![
            LinkAttribute::IfName("veth1a2b3c4".into()),
            LinkAttribute::Address(vec![0x02, 0, 0, 0, 0, 0x0a]),
            LinkAttribute::Mtu(1500),
            LinkAttribute::OperState(State::LowerLayerDown),
            LinkAttribute::Carrier(0),
            LinkAttribute::Controller(3),
            LinkAttribute::LinkNetNsId(4),
            LinkAttribute::LinkInfo(vec![LinkInfo::Kind(InfoKind::Veth)]),
        ];
        let raw = link(&msg);
        assert_eq!(raw.link.name, "veth1a2b3c4");
        assert_eq!(raw.link.kind, LinkKind::Veth);
        assert_eq!(raw.link.mac.map(|m| m.to_string()).as_deref(), Some("02:00:00:00:00:0a"));
        assert_eq!(raw.link.mtu, 1500);
        assert!(raw.link.admin_up);
        assert_eq!(raw.link.oper_state, OperState::LowerLayerDown);
        assert_eq!(raw.link.carrier, Some(false));
        assert_eq!(raw.link.master, Some(IfIndex(3)));
        // IFLA_LINK omitted: the peer has the same ifindex.
        assert_eq!(raw.peer_ifindex, Some(IfIndex(7)));
        assert_eq!(raw.peer_nsid, Some(4));
    }

    #[test]
    fn loopback_and_non_veth_links_have_no_peer() {
        let mut msg = LinkMessage::default();
        msg.header.index = 1;
        msg.header.flags = LinkFlags::Loopback;
        msg.attributes = vec![LinkAttribute::IfName("lo".into()), LinkAttribute::Link(1)];
        let raw = link(&msg);
        assert_eq!(
            (raw.link.kind, raw.link.admin_up, raw.peer_ifindex),
            (LinkKind::Loopback, false, None)
        );
    }

    #[test]
    fn only_rules_that_send_packets_elsewhere_than_the_main_table_are_kept() {
        let mut msg = RuleMessage::default();
        msg.header.family = AddressFamily::Inet;
        msg.header.action = RuleAction::ToTable;
        msg.header.src_len = 32;
        msg.attributes = vec![
            RuleAttribute::Priority(100),
            RuleAttribute::Source(IpAddr::V4(Ipv4Addr::new(172, 18, 0, 2))),
            RuleAttribute::Table(100),
        ];
        let kept = rule(&msg).map(|r| (r.v6, r.pref, r.text));
        assert_eq!(kept, Some((false, 100, "100: from 172.18.0.2/32 lookup 100".to_owned())));
        // The kernel's own lookups of local, main and default are not policy.
        msg.attributes = vec![RuleAttribute::Priority(32766), RuleAttribute::Table(254)];
        assert_eq!(rule(&msg), None);
        msg.header.action = RuleAction::Blackhole;
        msg.attributes = vec![RuleAttribute::Priority(99), RuleAttribute::FwMark(7)];
        assert_eq!(rule(&msg).map(|r| r.text), Some("99: fwmark 0x7 blackhole".to_owned()));
    }

    #[test]
    fn bridge_port_state_comes_from_protinfo() {
        let mut msg = LinkMessage::default();
        msg.header.index = 5;
        msg.attributes = vec![LinkAttribute::ProtoInfoBridge(vec![
            LinkProtoInfoBridge::Other(DefaultNla::new(2, vec![32])),
            LinkProtoInfoBridge::Other(DefaultNla::new(IFLA_BRPORT_STATE, vec![4])),
        ])];
        assert_eq!(port_state(&msg), Some((IfIndex(5), PortState::Blocking)));
        msg.attributes.clear();
        assert_eq!(port_state(&msg), None);
    }

    #[test]
    fn routes_outside_the_main_table_are_dropped() {
        let mut msg = RouteMessage::default();
        msg.header.address_family = AddressFamily::Inet;
        msg.header.table = RouteHeader::RT_TABLE_MAIN;
        msg.header.protocol = RouteProtocol::Boot;
        msg.header.scope = NlScope::Universe;
        msg.header.kind = RouteType::Unicast;
        msg.attributes = vec![
            RouteAttribute::Gateway(RouteAddress::Inet(Ipv4Addr::new(172, 18, 0, 1))),
            RouteAttribute::Oif(2),
        ];
        let want = Route {
            dst: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            prefix: 0,
            gateway: Some(IpAddr::V4(Ipv4Addr::new(172, 18, 0, 1))),
            dev: Some(IfIndex(2)),
            scope: RouteScope::Universe,
            kind: RouteKind::Unicast,
            metric: None,
        };
        assert_eq!(route(&msg), Some(want));
        msg.attributes.push(RouteAttribute::Table(255));
        assert_eq!(route(&msg), None);
    }

    #[test]
    fn fdb_kinds_follow_bridge_fdb() {
        let entry = |state, flags, master: Option<u32>| {
            let mut msg = NeighbourMessage::default();
            msg.header.family = AddressFamily::Bridge;
            msg.header.ifindex = 4;
            msg.header.state = state;
            msg.header.flags = flags;
            msg.attributes = vec![NeighbourAttribute::LinkLayerAddress(vec![2, 0, 0, 0, 0, 2])];
            if let Some(m) = master {
                msg.attributes.push(NeighbourAttribute::Controller(m));
            }
            fdb(&msg).map(|e| (e.kind, e.master))
        };
        let ctl = NeighbourFlags::Controller;
        let own = NeighbourFlags::Own;
        assert_eq!(
            entry(NeighbourState::Reachable, ctl, Some(2)),
            Some((FdbKind::Learned, Some(IfIndex(2))))
        );
        assert_eq!(
            entry(NeighbourState::Permanent, ctl, Some(2)),
            Some((FdbKind::Local, Some(IfIndex(2))))
        );
        assert_eq!(entry(NeighbourState::Permanent, own, None), Some((FdbKind::Permanent, None)));
        assert_eq!(
            entry(NeighbourState::Noarp, ctl, Some(2)),
            Some((FdbKind::Static, Some(IfIndex(2))))
        );
    }
}
