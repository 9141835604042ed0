//! The capture filter of a path through a VXLAN tunnel: on underlay points the traced packets
//! are inside UDP datagrams to the tunnel's port, which a filter on the inner hosts never
//! matches. [`through_tunnels`] adds those datagrams, narrowed (for IPv4 inner packets) to the
//! inner ARP and to the inner hosts' IPv4 packets by BPF offsets into the UDP payload.
//!
//! Used by `ping` and `watch`; a filter the user gave is never changed.

use std::collections::BTreeSet;
use std::net::IpAddr;

use crate::core::path::{PathPoint, Role};
use crate::core::topology::Topology;

/// Where the inner frame's ethertype is, from the start of the UDP header: 8 bytes of UDP, 8 of
/// VXLAN, 12 of inner Ethernet addresses.
const INNER_ETHERTYPE: usize = 28;
/// The inner IPv4 source address: after the 14-byte inner Ethernet header, 12 bytes in.
const INNER_IPV4_SRC: usize = 8 + 8 + 14 + 12;

/// `filter`, or with tunnelled packets added when the path crosses a VXLAN device: `(FILTER) or
/// (udp dst port 4789 and (INNER ARP or INNER IPv4 of one of the hosts))`.
pub fn through_tunnels(
    filter: String,
    topo: &Topology,
    points: &[PathPoint],
    hosts: &[IpAddr],
) -> String {
    let ports: BTreeSet<u16> = points
        .iter()
        .filter(|p| p.role == Role::Tunnel)
        .filter_map(|p| topo.link(p.ns, p.ifindex)?.vxlan.as_ref().map(|v| v.port))
        .collect();
    if ports.is_empty() {
        return filter;
    }
    let ports: Vec<String> = ports.iter().map(|p| format!("udp dst port {p}")).collect();
    let v4: Vec<String> = hosts
        .iter()
        .filter_map(|h| match h {
            IpAddr::V4(v4) => Some(u32::from(*v4)),
            IpAddr::V6(_) => None,
        })
        .flat_map(|h| {
            [INNER_IPV4_SRC, INNER_IPV4_SRC + 4].map(|at| format!("udp[{at}:4] = 0x{h:08x}"))
        })
        .collect();
    let inner = if v4.is_empty() || hosts.iter().any(IpAddr::is_ipv6) {
        String::new()
    } else {
        format!(
            " and (udp[{INNER_ETHERTYPE}:2] = 0x0806 or (udp[{INNER_ETHERTYPE}:2] = 0x0800 and \
             ({})))",
            v4.join(" or ")
        )
    };
    format!("({filter}) or (({}){inner})", ports.join(" or "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::point::PointId;
    use crate::core::topology::{IfIndex, Link, LinkKind, Namespace, NsIdx, NsKind, Vxlan};

    fn topo() -> Topology {
        let mut ns = Namespace::new("node-1", NsKind::Named, "/run/netns/node-1".into(), 1);
        let mut vx = Link::new(5, "vxlan42", LinkKind::Vxlan);
        vx.vxlan = Some(Vxlan {
            vni: 42,
            port: 4789,
            local: None,
            remote: None,
            underlay: None,
            learning: true,
            fdb: Vec::new(),
        });
        ns.links.push(vx);
        Topology { namespaces: vec![ns] }
    }

    fn point(role: Role) -> PathPoint {
        PathPoint {
            ns: NsIdx(0),
            point_id: PointId::new("node-1", "vxlan42"),
            ifname: "vxlan42".into(),
            ifindex: IfIndex(5),
            role,
            turn: false,
        }
    }

    #[test]
    fn a_tunnel_on_the_path_adds_its_datagrams_narrowed_to_the_inner_hosts() {
        let hosts: Vec<IpAddr> =
            ["10.42.0.2", "10.42.0.3"].iter().flat_map(|h| h.parse()).collect();
        let f = through_tunnels("(arp or icmp)".into(), &topo(), &[point(Role::Tunnel)], &hosts);
        assert_eq!(
            f,
            "((arp or icmp)) or ((udp dst port 4789) and (udp[28:2] = 0x0806 or (udp[28:2] = \
             0x0800 and (udp[42:4] = 0x0a2a0002 or udp[46:4] = 0x0a2a0002 or udp[42:4] = \
             0x0a2a0003 or udp[46:4] = 0x0a2a0003))))"
        );
        let plain = through_tunnels("icmp".into(), &topo(), &[point(Role::Bridge)], &hosts);
        assert_eq!(plain, "icmp");
    }
}
