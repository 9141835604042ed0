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
use crate::core::topology::{IfIndex, Link, Namespace, NsIdx, Route, Topology};

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

/// Build the JSON document.
pub fn report(topo: &Topology, selection: &[NsIdx], paths: &[PathResult]) -> TopoReport {
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

/// The text picture, one block per namespace, then veth links and paths.
pub fn text(topo: &Topology, selection: &[NsIdx], paths: &[PathResult]) -> String {
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
        let v = serde_json::to_value(report(&topo, &[], &[p])).unwrap_or_default();
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
        let only_a = serde_json::to_value(report(&topo, &[NsIdx(0)], &[])).unwrap_or_default();
        assert_eq!(only_a["namespaces"].as_array().map(Vec::len), Some(1));
        assert_eq!(only_a["veth_links"].as_array().map(Vec::len), Some(1));
    }

    #[test]
    fn text_shows_the_veth_link_and_the_bridge() {
        let topo = pair();
        let t = text(&topo, &[], &[]);
        assert!(t.contains("veth links\n  a/eth0 ══ b/vb\n"), "{t}");
        assert!(
            t.contains("  bridge br0 (brctl show)\n    port vb               forwarding\n"),
            "{t}"
        );
        assert!(t.contains("      inet 10.0.0.1/24\n      ══ b/vb (ifindex 3)\n"), "{t}");
    }
}
