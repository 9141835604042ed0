//! The Docker networks' section of `vtrace topo`: which networks to show for a selection of
//! namespaces, their DTOs (bridge, ports and the containers behind them) and their text lines.
//!
//! Pure formatting of [`DockerNetwork`]s over the topology ([`Topology::docker_bridge`] matches
//! ports to containers); it must not run the docker CLI.

use std::fmt::Write as _;

use serde::Serialize;

use crate::core::topology::{DockerBridge, DockerNetwork, NsIdx, Topology};

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

/// The Docker networks to show, each with its bridge as discovered: all when `selection` is
/// empty, else those with a port whose other end is in the selection.
pub(super) fn docker_selected<'d>(
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

pub(super) fn docker_dto(
    topo: &Topology,
    net: &DockerNetwork,
    bridge: Option<&DockerBridge>,
) -> DockerNetDto {
    let ports: Vec<DockerPortDto> = bridge
        .map(|b| {
            b.ports
                .iter()
                .map(|p| DockerPortDto {
                    name: p.name.clone(),
                    point: topo.point_id(b.ns, p.ifindex).into(),
                    state: p.state.map(|s| s.as_str()),
                    container: p.container.clone(),
                    peer: p.peer.map(|(ns, i)| topo.point_id(ns, i).into()),
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
        bridge_point: bridge.map(|b| topo.point_id(b.ns, b.ifindex).into()),
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

/// The text lines of one network; `noun` is what its members are (`container`, `pod`).
pub(super) fn docker_text(out: &mut String, n: &DockerNetDto, noun: &str) {
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
    let kind = if n.id.is_empty() { n.driver.clone() } else { format!("{}, {}", n.driver, n.id) };
    let _ = writeln!(out, "  {} ({kind}){bridge}{subnets}", n.name);
    for p in &n.ports {
        let peer = p.peer.as_deref().map(|x| format!(" ══ {x}")).unwrap_or_default();
        let behind = p.container.as_deref().map_or_else(
            || format!("(no {noun} of this network)"),
            |name| {
                let c = n.containers.iter().find(|c| c.name == name);
                let ip = c.and_then(|c| c.ipv4.as_deref()).unwrap_or("-");
                let mac = c.and_then(|c| c.mac.as_deref()).unwrap_or("-");
                format!("{noun} {name}  {ip}  {mac}")
            },
        );
        let state = p.state.unwrap_or("?");
        let _ = writeln!(out, "    port {:<16} {state:<10}{peer:<20}  {behind}", p.name);
    }
    for c in n.containers.iter().filter(|c| c.port.is_none()) {
        let ip = c.ipv4.as_deref().unwrap_or("-");
        let why = if n.bridge.is_some() { "no bridge port found" } else { "no bridge" };
        let _ = writeln!(out, "    {noun} {} ({})  {ip}  ({why})", c.name, c.id);
    }
}
