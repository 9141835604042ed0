//! `vtrace topo --json`: the [`TopoReport`] document and its serde DTOs (namespaces with their
//! links, routes, neighbours, bridges, FDB and listening sockets; veth links; paths; Docker
//! networks).
//!
//! Pure conversion of a [`Topology`] and computed paths into DTOs; it must not format text nor
//! discover anything, and core types never derive serde (the DTOs live here).

use std::net::IpAddr;

use serde::Serialize;

use super::docker::{DockerNetDto, docker_dto, docker_selected};
use super::runtime::{RuntimeNetDto, runtime_dto, runtime_selected};
use super::{PathResult, route_dst, selected, veth_links};
use crate::core::listen::Listener;
use crate::core::topology::{
    DockerNetwork, IfIndex, Link, Namespace, NsIdx, Route, RuntimeNetwork, Topology,
};

/// The whole `topo --json` document.
#[derive(Debug, Serialize)]
pub struct TopoReport {
    pub namespaces: Vec<NsDto>,
    pub veth_links: Vec<VethLinkDto>,
    pub paths: Vec<PathDto>,
    /// Docker's networks (empty when Docker is absent or not running), as `brctl show` and
    /// `docker network inspect` show them together.
    pub docker_networks: Vec<DockerNetDto>,
    /// The other runtimes' networks (Podman's; containerd's containers and Kubernetes pods
    /// grouped by the bridge behind them), each a `docker_networks` entry with `runtime`.
    pub runtime_networks: Vec<RuntimeNetDto>,
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
    /// The listening TCP and bound UDP sockets (`ss -lntup`).
    pub listening: Vec<ListenerDto>,
    /// Why `listening` could not be read (it is empty then); null when it was.
    pub listening_note: Option<String>,
    /// Whether it forwards (routes) IPv4 and IPv6: `net.ipv4.ip_forward`,
    /// `net.ipv6.conf.all.forwarding` (null when unread).
    pub forwarding: ForwardingDto,
    /// Its NAT rules in a short form (read where it forwards), with the rule they come from.
    pub nat: Vec<NatDto>,
    /// Its policy routing rules that send packets elsewhere than the main table, as `ip rule`
    /// prints them (the kernel's three default rules left out).
    pub rules: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct ForwardingDto {
    pub ipv4: Option<bool>,
    pub ipv6: Option<bool>,
}

#[derive(Debug, Serialize)]
pub struct NatDto {
    pub summary: String,
    pub rule: String,
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
    /// A VXLAN device's parameters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vxlan: Option<VxlanDto>,
}

/// `{"vni": 42, "port": 4789, "local": "10.99.0.1", "remote": "10.99.0.2", "underlay":
/// "underlay0", "learning": true, "overhead": 50}`.
#[derive(Debug, Serialize)]
pub struct VxlanDto {
    pub vni: u32,
    pub port: u16,
    pub local: Option<IpAddr>,
    /// The remote endpoint or multicast group.
    pub remote: Option<IpAddr>,
    /// The underlay device's name.
    pub underlay: Option<String>,
    pub learning: bool,
    /// Bytes of encapsulation it adds.
    pub overhead: u32,
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
    /// On a VXLAN device: the remote endpoint the MAC is tunnelled to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dst: Option<IpAddr>,
}

/// One listening socket: `{"proto": "tcp", "addr": "0.0.0.0", "port": 80, "v6only": false,
/// "pid": 4242, "process": "nginx"}` (`pid` and `process` null when unknown).
#[derive(Debug, Serialize)]
pub struct ListenerDto {
    pub proto: &'static str,
    pub addr: IpAddr,
    pub port: u16,
    /// An IPv6 socket that takes IPv6 only (`::` without it takes IPv4 too).
    pub v6only: bool,
    pub pid: Option<u32>,
    pub process: Option<String>,
}

impl From<&Listener> for ListenerDto {
    fn from(l: &Listener) -> Self {
        ListenerDto {
            proto: l.proto.as_str(),
            addr: l.addr,
            port: l.port,
            v6only: l.v6only,
            pid: l.process.as_ref().map(|p| p.0),
            process: l.process.as_ref().map(|p| p.1.clone()),
        }
    }
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

/// Build the JSON document.
pub fn report(
    topo: &Topology,
    selection: &[NsIdx],
    paths: &[PathResult],
    docker: &[DockerNetwork],
    runtimes: &[RuntimeNetwork],
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
        runtime_networks: runtime_selected(topo, selection, runtimes)
            .iter()
            .map(|(n, b)| runtime_dto(topo, n, b.as_ref()))
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
                dst: e.dst,
            })
            .collect(),
        listening: ns.listening.iter().map(ListenerDto::from).collect(),
        listening_note: ns.listening_note.clone(),
        forwarding: ForwardingDto { ipv4: ns.sysctl.ip_forward, ipv6: ns.sysctl.ip6_forward },
        nat: ns
            .nat
            .iter()
            .map(|r| NatDto { summary: r.to_string(), rule: r.name.clone() })
            .collect(),
        rules: ns.rules.iter().map(|r| r.text.clone()).collect(),
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
            point: topo.point_id(pns, pl.ifindex).into(),
        }),
        bridge_port_state: l.bridge_port_state.map(|s| s.as_str()),
        vxlan: l.vxlan.as_ref().map(|v| VxlanDto {
            vni: v.vni,
            port: v.port,
            local: v.local,
            remote: v.remote,
            underlay: v.underlay.map(|d| ns.ifname(d)),
            learning: v.learning,
            overhead: v.overhead(),
        }),
    }
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
                    id: pt.point_id.to_string(),
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
