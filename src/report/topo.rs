//! `vtrace topo`'s output: the topology of some namespaces as `ifconfig`, `route -n`,
//! `brctl show`, `arp -n` and `bridge fdb` would show it, plus the veth links across
//! namespaces and the paths between the given endpoints — as text, or as JSON DTOs (serde lives
//! here, not in core).
//!
//! Pure formatting of a [`Topology`] and computed paths; it never discovers anything.

use std::fmt::Write as _;
use std::net::IpAddr;

use serde::Serialize;

use crate::core::path::{Path, PathError};
use crate::core::topology::{
    DockerBridge, DockerNetwork, IfIndex, Link, Namespace, NsIdx, Route, Topology,
};

/// A path between two endpoints, or why there is none.
#[derive(Debug, Clone)]
pub struct PathResult {
    pub from: String,
    pub to: String,
    pub result: Result<Path, PathError>,
}

/// The whole `topo --json` document.
#[derive(Debug, Serialize)]
pub struct TopoReport {
    pub namespaces: Vec<NsDto>,
    pub veth_links: Vec<VethLinkDto>,
    pub paths: Vec<PathDto>,
    /// Docker's networks (empty when Docker is absent or not running), as `brctl show` and
    /// `docker network inspect` show them together.
    pub docker_networks: Vec<DockerNetDto>,
}

#[derive(Debug, Serialize)]
pub struct DockerNetDto {
    pub name: String,
    /// The first 12 characters, as `docker network ls` shows it.
    pub id: String,
    pub driver: String,
    /// The Linux bridge of a `bridge` network.
    pub bridge: Option<String>,
    /// The label of the namespace the bridge was found in (`host`); null when not found.
    pub bridge_netns: Option<String>,
    /// The bridge's point id (`host/docker0`).
    pub bridge_point: Option<String>,
    pub subnets: Vec<String>,
    pub gateways: Vec<String>,
    /// The bridge's ports, each with the container behind it.
    pub ports: Vec<DockerPortDto>,
    /// The containers Docker lists on the network.
    pub containers: Vec<DockerContainerDto>,
}

#[derive(Debug, Serialize)]
pub struct DockerPortDto {
    /// The host's interface name (`veth4d1c130`).
    pub name: String,
    /// Its point id (`host/veth4d1c130`).
    pub point: String,
    pub state: Option<&'static str>,
    /// The container behind the port, when Docker lists it on this network.
    pub container: Option<String>,
    /// The point id of the veth's other end (`nginx-1/eth0`).
    pub peer: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct DockerContainerDto {
    pub name: String,
    /// The first 12 characters.
    pub id: String,
    pub mac: Option<String>,
    pub ipv4: Option<String>,
    pub ipv6: Option<String>,
    /// The host port it sits behind, when found.
    pub port: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct NsDto {
    pub label: String,
    pub kind: &'static str,
    pub path: String,
    pub inode: u64,
    pub links: Vec<LinkDto>,
    pub routes: Vec<RouteDto>,
    pub neighbours: Vec<NeighDto>,
    pub bridges: Vec<BridgeDto>,
    pub fdb: Vec<FdbDto>,
}

#[derive(Debug, Serialize)]
pub struct LinkDto {
    pub ifindex: u32,
    pub name: String,
    pub kind: String,
    pub mac: Option<String>,
    pub mtu: u32,
    pub admin_up: bool,
    pub oper_state: &'static str,
    pub carrier: Option<bool>,
    pub master: Option<String>,
    pub master_ifindex: Option<u32>,
    /// `ADDRESS/PREFIX`.
    pub addrs: Vec<String>,
    pub peer: Option<PeerDto>,
    pub bridge_port_state: Option<&'static str>,
}

#[derive(Debug, Serialize)]
pub struct PeerDto {
    pub netns: String,
    pub ifindex: u32,
    pub ifname: String,
    /// The peer's point id.
    pub point: String,
}

#[derive(Debug, Serialize)]
pub struct RouteDto {
    /// `default` or `NETWORK/PREFIX`.
    pub dst: String,
    pub gateway: Option<IpAddr>,
    pub dev: Option<String>,
    pub dev_ifindex: Option<u32>,
    pub scope: &'static str,
    pub kind: &'static str,
    pub metric: Option<u32>,
}

#[derive(Debug, Serialize)]
pub struct NeighDto {
    pub ip: IpAddr,
    pub mac: Option<String>,
    pub state: &'static str,
    pub dev: String,
}

#[derive(Debug, Serialize)]
pub struct BridgeDto {
    pub name: String,
    pub ifindex: u32,
    pub ports: Vec<PortDto>,
}

#[derive(Debug, Serialize)]
pub struct PortDto {
    pub name: String,
    pub ifindex: u32,
    pub state: Option<&'static str>,
}

#[derive(Debug, Serialize)]
pub struct FdbDto {
    pub mac: String,
    pub port: String,
    pub master: Option<String>,
    pub vlan: Option<u16>,
    pub kind: &'static str,
}

#[derive(Debug, Serialize)]
pub struct VethLinkDto {
    pub a: String,
    pub b: String,
}

#[derive(Debug, Serialize)]
pub struct PathDto {
    pub from: String,
    pub to: String,
    pub dst_ip: Option<IpAddr>,
    pub points: Vec<PointDto>,
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct PointDto {
    pub id: String,
    pub netns: String,
    pub ifname: String,
    pub ifindex: u32,
    pub role: &'static str,
}

/// The namespaces to show: all when `selection` is empty.
fn selected<'t>(topo: &'t Topology, selection: &[NsIdx]) -> Vec<(NsIdx, &'t Namespace)> {
    let all = topo.namespaces.iter().enumerate().map(|(i, n)| (NsIdx(i), n));
    if selection.is_empty() {
        all.collect()
    } else {
        all.filter(|(i, _)| selection.contains(i)).collect()
    }
}

/// The veth pairs with at least one end in the selection, as point ids.
fn veth_links(topo: &Topology, selection: &[NsIdx]) -> Vec<(String, String)> {
    let shown = |ns: NsIdx| selection.is_empty() || selection.contains(&ns);
    topo.veth_pairs()
        .into_iter()
        .filter(|(a, b)| shown(a.0) || shown(b.0))
        .map(|(a, b)| (topo.point_id(a.0, a.1), topo.point_id(b.0, b.1)))
        .collect()
}

/// The Docker networks to show, each with its bridge as discovered: all when `selection` is
/// empty, else those with a port whose other end is in the selection.
fn docker_selected<'d>(
    topo: &Topology,
    selection: &[NsIdx],
    docker: &'d [DockerNetwork],
) -> Vec<(&'d DockerNetwork, Option<DockerBridge>)> {
    docker
        .iter()
        .map(|n| (n, topo.docker_bridge(n)))
        .filter(|(_, b)| {
            selection.is_empty()
                || b.as_ref().is_some_and(|b| {
                    b.ports.iter().any(|p| p.peer.is_some_and(|(ns, _)| selection.contains(&ns)))
                })
        })
        .collect()
}

fn short_id(id: &str) -> String {
    id.get(..12).unwrap_or(id).to_owned()
}

fn docker_dto(topo: &Topology, net: &DockerNetwork, bridge: Option<&DockerBridge>) -> DockerNetDto {
    let ports: Vec<DockerPortDto> = bridge
        .map(|b| {
            b.ports
                .iter()
                .map(|p| DockerPortDto {
                    name: p.name.clone(),
                    point: topo.point_id(b.ns, p.ifindex),
                    state: p.state.map(|s| s.as_str()),
                    container: p.container.clone(),
                    peer: p.peer.map(|(ns, i)| topo.point_id(ns, i)),
                })
                .collect()
        })
        .unwrap_or_default();
    DockerNetDto {
        name: net.name.clone(),
        id: short_id(&net.id),
        driver: net.driver.clone(),
        bridge: net.bridge.clone(),
        bridge_netns: bridge.and_then(|b| topo.ns(b.ns)).map(|n| n.label.clone()),
        bridge_point: bridge.map(|b| topo.point_id(b.ns, b.ifindex)),
        subnets: net.subnets.clone(),
        gateways: net.gateways.clone(),
        containers: net
            .containers
            .iter()
            .map(|c| DockerContainerDto {
                name: c.container.clone(),
                id: short_id(&c.container_id),
                mac: c.mac.clone(),
                ipv4: c.ipv4.clone(),
                ipv6: c.ipv6.clone(),
                port: ports
                    .iter()
                    .find(|p| p.container.as_deref() == Some(c.container.as_str()))
                    .map(|p| p.name.clone()),
            })
            .collect(),
        ports,
    }
}

/// Build the JSON document.
pub fn report(
    topo: &Topology,
    selection: &[NsIdx],
    paths: &[PathResult],
    docker: &[DockerNetwork],
) -> TopoReport {
    TopoReport {
        namespaces: selected(topo, selection)
            .into_iter()
            .map(|(i, n)| ns_dto(topo, i, n))
            .collect(),
        veth_links: veth_links(topo, selection)
            .into_iter()
            .map(|(a, b)| VethLinkDto { a, b })
            .collect(),
        paths: paths.iter().map(|p| path_dto(topo, p)).collect(),
        docker_networks: docker_selected(topo, selection, docker)
            .iter()
            .map(|(n, b)| docker_dto(topo, n, b.as_ref()))
            .collect(),
    }
}

fn ns_dto(topo: &Topology, idx: NsIdx, ns: &Namespace) -> NsDto {
    let name_of = |i: IfIndex| ns.ifname(i);
    NsDto {
        label: ns.label.clone(),
        kind: ns.kind.as_str(),
        path: ns.path.display().to_string(),
        inode: ns.inode,
        links: ns.links.iter().map(|l| link_dto(topo, idx, ns, l)).collect(),
        routes: ns.routes.iter().map(|r| route_dto(ns, r)).collect(),
        neighbours: ns
            .neighbours
            .iter()
            .map(|n| NeighDto {
                ip: n.ip,
                mac: n.mac.map(|m| m.to_string()),
                state: n.state.as_str(),
                dev: name_of(n.dev),
            })
            .collect(),
        bridges: ns
            .bridges()
            .map(|b| BridgeDto {
                name: b.name.clone(),
                ifindex: b.ifindex.0,
                ports: ns
                    .ports_of(b.ifindex)
                    .map(|p| PortDto {
                        name: p.name.clone(),
                        ifindex: p.ifindex.0,
                        state: p.bridge_port_state.map(|s| s.as_str()),
                    })
                    .collect(),
            })
            .collect(),
        fdb: ns
            .fdb
            .iter()
            .map(|e| FdbDto {
                mac: e.mac.to_string(),
                port: name_of(e.port),
                master: e.master.map(name_of),
                vlan: e.vlan,
                kind: e.kind.as_str(),
            })
            .collect(),
    }
}

fn link_dto(topo: &Topology, idx: NsIdx, ns: &Namespace, l: &Link) -> LinkDto {
    LinkDto {
        ifindex: l.ifindex.0,
        name: l.name.clone(),
        kind: l.kind.as_str().to_owned(),
        mac: l.mac.map(|m| m.to_string()),
        mtu: l.mtu,
        admin_up: l.admin_up,
        oper_state: l.oper_state.as_str(),
        carrier: l.carrier,
        master: l.master.map(|m| ns.ifname(m)),
        master_ifindex: l.master.map(|m| m.0),
        addrs: l.addrs.iter().map(|a| format!("{}/{}", a.ip, a.prefix)).collect(),
        peer: topo.peer_of(idx, l.ifindex).map(|(pns, pl)| PeerDto {
            netns: topo.ns(pns).map(|n| n.label.clone()).unwrap_or_default(),
            ifindex: pl.ifindex.0,
            ifname: pl.name.clone(),
            point: topo.point_id(pns, pl.ifindex),
        }),
        bridge_port_state: l.bridge_port_state.map(|s| s.as_str()),
    }
}

fn route_dst(r: &Route) -> String {
    if r.prefix == 0 { "default".to_owned() } else { format!("{}/{}", r.dst, r.prefix) }
}

fn route_dto(ns: &Namespace, r: &Route) -> RouteDto {
    RouteDto {
        dst: route_dst(r),
        gateway: r.gateway,
        dev: r.dev.map(|d| ns.ifname(d)),
        dev_ifindex: r.dev.map(|d| d.0),
        scope: r.scope.as_str(),
        kind: r.kind.as_str(),
        metric: r.metric,
    }
}

fn path_dto(topo: &Topology, p: &PathResult) -> PathDto {
    match &p.result {
        Ok(path) => PathDto {
            from: p.from.clone(),
            to: p.to.clone(),
            dst_ip: Some(path.dst_ip),
            points: path
                .points
                .iter()
                .map(|pt| PointDto {
                    id: pt.point_id.clone(),
                    netns: topo.ns(pt.ns).map(|n| n.label.clone()).unwrap_or_default(),
                    ifname: pt.ifname.clone(),
                    ifindex: pt.ifindex.0,
                    role: pt.role.as_str(),
                })
                .collect(),
            error: None,
        },
        Err(e) => PathDto {
            from: p.from.clone(),
            to: p.to.clone(),
            dst_ip: None,
            points: Vec::new(),
            error: Some(e.to_string()),
        },
    }
}

/// The text picture, one block per namespace, then veth links, Docker networks and paths.
pub fn text(
    topo: &Topology,
    selection: &[NsIdx],
    paths: &[PathResult],
    docker: &[DockerNetwork],
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
            docker_text(&mut out, &docker_dto(topo, net, bridge.as_ref()));
        }
    }
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

fn docker_text(out: &mut String, n: &DockerNetDto) {
    let bridge = match (&n.bridge, &n.bridge_point) {
        (_, Some(point)) => format!("  bridge {point}"),
        (Some(name), None) => format!("  bridge {name} (not found)"),
        (None, None) => String::new(),
    };
    let subnets: Vec<String> = n
        .subnets
        .iter()
        .enumerate()
        .map(|(i, s)| match n.gateways.get(i) {
            Some(gw) => format!("{s} gw {gw}"),
            None => s.clone(),
        })
        .collect();
    let subnets =
        if subnets.is_empty() { String::new() } else { format!("  {}", subnets.join(", ")) };
    let _ = writeln!(out, "  {} ({}, {}){bridge}{subnets}", n.name, n.driver, n.id);
    for p in &n.ports {
        let peer = p.peer.as_deref().map(|x| format!(" ══ {x}")).unwrap_or_default();
        let behind = p.container.as_deref().map_or_else(
            || "(no container of this network)".to_owned(),
            |name| {
                let c = n.containers.iter().find(|c| c.name == name);
                let ip = c.and_then(|c| c.ipv4.as_deref()).unwrap_or("-");
                let mac = c.and_then(|c| c.mac.as_deref()).unwrap_or("-");
                format!("container {name}  {ip}  {mac}")
            },
        );
        let state = p.state.unwrap_or("?");
        let _ = writeln!(out, "    port {:<16} {state:<10}{peer:<20}  {behind}", p.name);
    }
    for c in n.containers.iter().filter(|c| c.port.is_none()) {
        let ip = c.ipv4.as_deref().unwrap_or("-");
        let _ = writeln!(out, "    container {} ({})  {ip}  (no bridge port found)", c.name, c.id);
    }
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
            let _ = writeln!(
                out,
                "    {} dev {}{master}{vlan} {}",
                e.mac,
                ns.ifname(e.port),
                e.kind.as_str()
            );
        }
    }
    out.push('\n');
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
    for a in &l.addrs {
        let family = if a.ip.is_ipv4() { "inet" } else { "inet6" };
        let _ = writeln!(out, "      {family} {}/{}", a.ip, a.prefix);
    }
    if let Some((pns, pl)) = topo.peer_of(idx, l.ifindex) {
        let _ =
            writeln!(out, "      ══ {} (ifindex {})", topo.point_id(pns, pl.ifindex), pl.ifindex);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::path::{Target, path};
    use crate::core::topology::{
        IfAddr, LinkKind, NsKind, PeerRef, PortState, RouteKind, RouteScope,
    };

    fn link(ifindex: u32, name: &str, kind: LinkKind) -> Link {
        Link { carrier: None, ..Link::new(ifindex, name, kind) }
    }

    fn pair() -> Topology {
        let mut a = Namespace::new("a", NsKind::Named, "/run/netns/a".into(), 11);
        let mut va = link(2, "eth0", LinkKind::Veth);
        va.addrs
            .push(IfAddr { ip: "10.0.0.1".parse().unwrap_or(IpAddr::from([0; 4])), prefix: 24 });
        va.peer = Some(PeerRef { ns: NsIdx(1), ifindex: IfIndex(3) });
        a.links.push(va);
        a.routes.push(Route {
            dst: IpAddr::from([10, 0, 0, 0]),
            prefix: 24,
            gateway: None,
            dev: Some(IfIndex(2)),
            scope: RouteScope::Link,
            kind: RouteKind::Unicast,
            metric: None,
        });
        let mut b = Namespace::new("b", NsKind::Named, "/run/netns/b".into(), 12);
        b.links.push(link(4, "br0", LinkKind::Bridge));
        let mut vb = link(3, "vb", LinkKind::Veth);
        vb.addrs.push(IfAddr { ip: IpAddr::from([10, 0, 0, 2]), prefix: 24 });
        vb.peer = Some(PeerRef { ns: NsIdx(0), ifindex: IfIndex(2) });
        vb.master = Some(IfIndex(4));
        vb.bridge_port_state = Some(PortState::Forwarding);
        b.links.push(vb);
        Topology { namespaces: vec![a, b] }
    }

    #[test]
    fn json_names_peers_bridges_and_paths() {
        let topo = pair();
        let p = PathResult {
            from: "a".into(),
            to: "b".into(),
            result: path(&topo, NsIdx(0), Target::Ns(NsIdx(1))),
        };
        let v = serde_json::to_value(report(&topo, &[], &[p], &[])).unwrap_or_default();
        assert_eq!(v["veth_links"], serde_json::json!([{"a": "a/eth0", "b": "b/vb"}]));
        assert_eq!(v["namespaces"][0]["links"][0]["peer"]["point"], "b/vb");
        assert_eq!(v["namespaces"][0]["routes"][0]["dst"], "10.0.0.0/24");
        assert_eq!(v["namespaces"][1]["bridges"][0]["ports"][0]["state"], "forwarding");
        assert_eq!(v["namespaces"][1]["links"][1]["master"], "br0");
        let ids: Vec<&str> = v["paths"][0]["points"]
            .as_array()
            .map(|a| a.iter().filter_map(|p| p["id"].as_str()).collect())
            .unwrap_or_default();
        assert_eq!(ids, ["a/eth0", "b/vb"]);
        let only_a = serde_json::to_value(report(&topo, &[NsIdx(0)], &[], &[])).unwrap_or_default();
        assert_eq!(only_a["namespaces"].as_array().map(Vec::len), Some(1));
        assert_eq!(only_a["veth_links"].as_array().map(Vec::len), Some(1));
    }

    #[test]
    fn text_shows_the_veth_link_and_the_bridge() {
        let topo = pair();
        let t = text(&topo, &[], &[], &[]);
        assert!(t.contains("veth links\n  a/eth0 ══ b/vb\n"), "{t}");
        assert!(
            t.contains("  bridge br0 (brctl show)\n    port vb               forwarding\n"),
            "{t}"
        );
        assert!(t.contains("      inet 10.0.0.1/24\n      ══ b/vb (ifindex 3)\n"), "{t}");
    }

    /// `pair()` seen as Docker would: `b` holds the bridge (as the root namespace does) and `a`
    /// is the container `web` behind its port `vb`.
    fn docker_net() -> DockerNetwork {
        use crate::core::topology::DockerAttachment;
        DockerNetwork {
            name: "bridge".into(),
            id: "75202cefbbbb0123456789".into(),
            driver: "bridge".into(),
            bridge: Some("br0".into()),
            subnets: vec!["10.0.0.0/24".into()],
            gateways: vec!["10.0.0.254".into()],
            containers: vec![
                DockerAttachment {
                    container: "web".into(),
                    container_id: "1287aaaabbbbcccc".into(),
                    ipv4: Some("10.0.0.1/24".into()),
                    ..DockerAttachment::default()
                },
                DockerAttachment { container: "gone".into(), ..DockerAttachment::default() },
            ],
        }
    }

    #[test]
    fn docker_networks_name_the_container_behind_each_port() {
        let mut topo = pair();
        topo.namespaces[0].label = "web".into();
        let nets = [docker_net()];
        let v = serde_json::to_value(report(&topo, &[], &[], &nets)).unwrap_or_default();
        let n = &v["docker_networks"][0];
        assert_eq!(n["id"], "75202cefbbbb");
        assert_eq!(n["bridge_point"], "b/br0");
        assert_eq!(n["bridge_netns"], "b");
        assert_eq!(
            n["ports"],
            serde_json::json!([{"name": "vb", "point": "b/vb", "state": "forwarding",
                                "container": "web", "peer": "web/eth0"}])
        );
        assert_eq!(n["containers"][0]["port"], "vb");
        assert_eq!(n["containers"][0]["id"], "1287aaaabbbb");
        assert_eq!(n["containers"][1]["port"], serde_json::Value::Null);
        let t = text(&topo, &[], &[], &nets);
        assert!(
            t.contains(
                "docker networks (docker network inspect + brctl show)\n  bridge (bridge, \
                 75202cefbbbb)  bridge b/br0  10.0.0.0/24 gw 10.0.0.254\n    port vb               \
                 forwarding ══ web/eth0          container web  10.0.0.1/24  -\n    container gone \
                 ()  -  (no bridge port found)\n"
            ),
            "{t}"
        );
        // Only the networks with a port into the selection.
        let none = report(&topo, &[NsIdx(1)], &[], &nets);
        assert!(none.docker_networks.is_empty());
        let web = report(&topo, &[NsIdx(0)], &[], &nets);
        assert_eq!(web.docker_networks.len(), 1);
    }
}
