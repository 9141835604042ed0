//! `vtrace topo`'s text picture: one block per namespace as `ifconfig`, `route -n`,
//! `brctl show`, `arp -n`, `bridge fdb` and `ss -lntup` would show it, then the veth links, the
//! Docker networks, the other runtimes' networks and the paths.
//!
//! Pure formatting into a `String`; it must not build the JSON DTOs (except the Docker section's,
//! which `docker` renders from them) nor discover anything.

use std::fmt::Write as _;

use super::docker::{docker_dto, docker_selected, docker_text};
use super::runtime::{runtime_selected, runtime_text};
use super::{PathResult, route_dst, selected, veth_links};
use crate::core::topology::{
    DockerNetwork, Link, Namespace, NsIdx, RuntimeNetwork, Topology, Vxlan,
};

/// The text picture, one block per namespace, then veth links, Docker networks, the other
/// runtimes' networks and paths.
pub fn text(
    topo: &Topology,
    selection: &[NsIdx],
    paths: &[PathResult],
    docker: &[DockerNetwork],
    runtimes: &[RuntimeNetwork],
) -> String {
    let mut out = String::new();
    for (idx, ns) in selected(topo, selection) {
        ns_text(&mut out, topo, idx, ns);
    }
    let links = veth_links(topo, selection);
    if !links.is_empty() {
        out.push_str("veth links\n");
        for (a, b) in links {
            let _ = writeln!(out, "  {a} ══ {b}");
        }
    }
    let nets = docker_selected(topo, selection, docker);
    if !nets.is_empty() {
        out.push_str("\ndocker networks (docker network inspect + brctl show)\n");
        for (net, bridge) in &nets {
            docker_text(&mut out, &docker_dto(topo, net, bridge.as_ref()), "container");
        }
    }
    runtime_text(&mut out, topo, &runtime_selected(topo, selection, runtimes));
    for p in paths {
        let _ = writeln!(out, "\npath {} → {}", p.from, p.to);
        match &p.result {
            Ok(path) => {
                let _ = writeln!(out, "  to {}", path.dst_ip);
                for (i, pt) in path.points.iter().enumerate() {
                    let _ =
                        writeln!(out, "  {:>2}. {:<32} {}", i + 1, pt.point_id, pt.role.as_str());
                }
            }
            Err(e) => {
                let _ = writeln!(out, "  no path: {e}");
            }
        }
    }
    out
}

fn ns_text(out: &mut String, topo: &Topology, idx: NsIdx, ns: &Namespace) {
    let _ = writeln!(
        out,
        "══ {} ({}, {}, inode {})",
        ns.label,
        ns.kind.as_str(),
        ns.path.display(),
        ns.inode
    );
    for l in &ns.links {
        link_text(out, topo, idx, ns, l);
    }
    if !ns.routes.is_empty() {
        let _ = writeln!(
            out,
            "  routes\n    {:<26} {:<18} {:<14} {:<7} metric",
            "destination", "gateway", "iface", "scope"
        );
        for r in &ns.routes {
            let dst = match r.kind {
                crate::core::topology::RouteKind::Unicast => route_dst(r),
                k => format!("{} {}", k.as_str(), route_dst(r)),
            };
            let gw = r.gateway.map_or_else(|| "*".to_owned(), |g| g.to_string());
            let dev = r.dev.map_or_else(|| "-".to_owned(), |d| ns.ifname(d));
            let metric = r.metric.map_or_else(String::new, |m| m.to_string());
            let _ =
                writeln!(out, "    {dst:<26} {gw:<18} {dev:<14} {:<7} {metric}", r.scope.as_str());
        }
    }
    let arp: Vec<_> = ns
        .neighbours
        .iter()
        .filter(|n| !matches!(n.state, crate::core::topology::NeighState::Noarp))
        .collect();
    if !arp.is_empty() {
        out.push_str("  neighbours (arp -n)\n");
        for n in arp {
            let mac = n.mac.map_or_else(|| "(incomplete)".to_owned(), |m| m.to_string());
            let _ = writeln!(
                out,
                "    {:<26} {mac:<18} {:<14} {}",
                n.ip,
                ns.ifname(n.dev),
                n.state.as_str()
            );
        }
    }
    for b in ns.bridges() {
        let _ = writeln!(out, "  bridge {} (brctl show)", b.name);
        for p in ns.ports_of(b.ifindex) {
            let state = p.bridge_port_state.map_or("?", |s| s.as_str());
            let _ = writeln!(out, "    port {:<16} {state}", p.name);
        }
    }
    if !ns.fdb.is_empty() {
        out.push_str("  fdb (bridge fdb)\n");
        for e in &ns.fdb {
            let master = e.master.map(|m| format!(" master {}", ns.ifname(m))).unwrap_or_default();
            let vlan = e.vlan.map(|v| format!(" vlan {v}")).unwrap_or_default();
            let dst = e.dst.map(|d| format!(" dst {d}")).unwrap_or_default();
            let _ = writeln!(
                out,
                "    {} dev {}{dst}{master}{vlan} {}",
                e.mac,
                ns.ifname(e.port),
                e.kind.as_str()
            );
        }
    }
    let families: Vec<&str> = [(ns.sysctl.ip_forward, "IPv4"), (ns.sysctl.ip6_forward, "IPv6")]
        .into_iter()
        .filter(|(on, _)| *on == Some(true))
        .map(|(_, f)| f)
        .collect();
    if !families.is_empty() {
        let _ = writeln!(out, "  forwards {} (routes between its links)", families.join(" and "));
    }
    for r in &ns.nat {
        let _ = writeln!(out, "  nat {r}  [{}]", r.name);
    }
    for r in &ns.rules {
        let _ =
            writeln!(out, "  rule {}  (policy routing: paths through here are uncertain)", r.text);
    }
    listening_text(out, ns);
    out.push('\n');
}

/// `ss -lntup`: protocol, `ADDRESS:PORT` as `ss` writes it, the process; or why the sockets
/// could not be read.
fn listening_text(out: &mut String, ns: &Namespace) {
    if let Some(note) = &ns.listening_note {
        let _ = writeln!(out, "  listening (ss -lntup): not read: {note}");
        return;
    }
    if ns.listening.is_empty() {
        return;
    }
    out.push_str("  listening (ss -lntup)\n");
    for l in &ns.listening {
        let process = l
            .process
            .as_ref()
            .map_or_else(|| "-".to_owned(), |(pid, comm)| format!("{comm} (pid {pid})"));
        let _ = writeln!(out, "    {:<5} {:<46} {process}", l.proto.as_str(), l.to_string());
    }
}

/// `vxlan id 42 local 10.99.0.1 remote 10.99.0.2 dstport 4789 dev underlay0 learning`, as
/// `ip -d link` says it.
fn vxlan_text(ns: &Namespace, v: &Vxlan) -> String {
    let mut s = format!("vxlan id {}", v.vni);
    if let Some(l) = v.local {
        let _ = write!(s, " local {l}");
    }
    match v.remote {
        Some(r) if r.is_multicast() => {
            let _ = write!(s, " group {r}");
        }
        Some(r) => {
            let _ = write!(s, " remote {r}");
        }
        None => {}
    }
    let _ = write!(s, " dstport {}", v.port);
    if let Some(d) = v.underlay {
        let _ = write!(s, " dev {}", ns.ifname(d));
    }
    s.push_str(if v.learning { " learning" } else { " nolearning" });
    s
}

fn link_text(out: &mut String, topo: &Topology, idx: NsIdx, ns: &Namespace, l: &Link) {
    let admin = if l.admin_up { "UP" } else { "DOWN" };
    let _ = write!(
        out,
        "  {}: {:<16} {:<8} admin {admin:<4} oper {:<14} mtu {}",
        l.ifindex,
        l.name,
        l.kind.as_str(),
        l.oper_state.as_str(),
        l.mtu
    );
    if let Some(m) = l.mac {
        let _ = write!(out, "  ether {m}");
    }
    if let Some(c) = l.carrier {
        let _ = write!(out, "  carrier {}", if c { "yes" } else { "no" });
    }
    out.push('\n');
    if let Some(m) = l.master {
        let state = l.bridge_port_state.map(|s| format!(" ({})", s.as_str())).unwrap_or_default();
        let _ = writeln!(out, "      master {}{state}", ns.ifname(m));
    }
    if let Some(v) = &l.vxlan {
        let _ = writeln!(out, "      {}", vxlan_text(ns, v));
    }
    for a in &l.addrs {
        let family = if a.ip.is_ipv4() { "inet" } else { "inet6" };
        let _ = writeln!(out, "      {family} {}/{}", a.ip, a.prefix);
    }
    if let Some((pns, pl)) = topo.peer_of(idx, l.ifindex) {
        let _ =
            writeln!(out, "      ══ {} (ifindex {})", topo.point_id(pns, pl.ifindex), pl.ifindex);
    }
}
