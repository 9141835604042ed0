//! Docker's networks over the discovered topology: a network as `docker network inspect`
//! describes it, and [`Topology::docker_bridge`], which finds its bridge and the container behind
//! each port (the port's veth peer carries the MAC Docker gave the endpoint).
//!
//! Pure: filled by `sys::docker`, read by the `topo` report; it must not run the docker CLI.

use super::link::{LinkKind, PortState};
use super::namespace::NsKind;
use super::{IfIndex, NsIdx, Topology};

/// A Docker network as `docker network inspect` describes it: what annotates the discovered
/// topology with Docker's names (filled by `sys::docker`, read by the `topo` report).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DockerNetwork {
    pub name: String,
    pub id: String,
    /// `bridge`, `host`, `null`, `overlay`, …
    pub driver: String,
    /// The Linux bridge of a `bridge` network (`docker0`, `br-<id[..12]>`).
    pub bridge: Option<String>,
    pub subnets: Vec<String>,
    pub gateways: Vec<String>,
    /// The containers attached, sorted by name.
    pub containers: Vec<DockerAttachment>,
}

/// A container's endpoint on a Docker network.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DockerAttachment {
    pub container: String,
    pub container_id: String,
    pub endpoint_id: String,
    /// As Docker prints it (`02:42:ac:11:00:02`).
    pub mac: Option<String>,
    /// `ADDRESS/PREFIX`.
    pub ipv4: Option<String>,
    pub ipv6: Option<String>,
}

/// A port of a Docker network's bridge, and the container behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerPort {
    pub ifindex: IfIndex,
    /// The host's name of the port (`veth4d1c130`).
    pub name: String,
    pub state: Option<PortState>,
    /// The other end of the veth (the container's `eth0`), when discovered.
    pub peer: Option<(NsIdx, IfIndex)>,
    /// The container whose endpoint is behind the port (matched by the MAC Docker gave it).
    pub container: Option<String>,
}

/// Where a Docker network's bridge was found and its ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerBridge {
    pub ns: NsIdx,
    pub ifindex: IfIndex,
    pub ports: Vec<DockerPort>,
}

impl Topology {
    /// The bridge of a Docker network (in the root namespace when several namespaces have a
    /// bridge of that name) and which container sits behind each of its ports: the port's veth
    /// peer carries the MAC address Docker lists for the container's endpoint.
    pub fn docker_bridge(&self, net: &DockerNetwork) -> Option<DockerBridge> {
        let name = net.bridge.as_deref()?;
        let with_bridge = |i: &usize| {
            self.namespaces[*i].link_by_name(name).is_some_and(|l| l.kind == LinkKind::Bridge)
        };
        let all = 0..self.namespaces.len();
        let ns = all
            .clone()
            .filter(with_bridge)
            .find(|&i| self.namespaces[i].kind == NsKind::Root)
            .or_else(|| all.clone().find(with_bridge))
            .map(NsIdx)?;
        let space = self.ns(ns)?;
        let bridge = space.link_by_name(name)?;
        let ports = space
            .ports_of(bridge.ifindex)
            .map(|p| {
                let peer = self.peer_of(ns, p.ifindex);
                let container = peer.and_then(|(pns, pl)| {
                    let mac = pl.mac.map(|m| m.to_string().to_ascii_lowercase());
                    net.containers
                        .iter()
                        .find(|c| {
                            mac.is_some() && c.mac.as_deref().map(str::to_ascii_lowercase) == mac
                        })
                        .or_else(|| {
                            let label = self.ns(pns).map(|n| n.label.as_str());
                            net.containers.iter().find(|c| Some(c.container.as_str()) == label)
                        })
                        .map(|c| c.container.clone())
                });
                DockerPort {
                    ifindex: p.ifindex,
                    name: p.name.clone(),
                    state: p.bridge_port_state,
                    peer: peer.map(|(pns, pl)| (pns, pl.ifindex)),
                    container,
                }
            })
            .collect();
        Some(DockerBridge { ns, ifindex: bridge.ifindex, ports })
    }
}

/// Where Docker's userland proxy forwards the port it listens on, from its command line
/// (`docker-proxy -proto tcp -host-ip 0.0.0.0 -host-port 8080 -container-ip 172.17.0.2
/// -container-port 80`).
pub fn proxy_target(args: &[String]) -> Option<(std::net::IpAddr, u16)> {
    let value = |flag: &str| {
        let i = args.iter().position(|a| a == flag || a == &format!("-{flag}"))?;
        args.get(i + 1)
    };
    let ip = value("-container-ip")?.parse().ok()?;
    let port = value("-container-port")?.parse().ok()?;
    Some((ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::packet::HwAddr;
    use crate::core::topology::{HOST_LABEL, Link, Namespace, PeerRef};

    #[test]
    fn docker_bridge_ports_name_the_containers_behind_them() {
        let mac = |last: u8| Some(HwAddr::new(&[2, 0x42, 0xac, 0x11, 0, last]));
        let container = |label: &str, ifindex: u32, host_if: u32, last: u8| {
            let mut ns = Namespace::new(label, NsKind::Docker, "/var/run/docker/netns/x".into(), 1);
            let mut eth0 = Link::new(ifindex, "eth0", LinkKind::Veth);
            eth0.mac = mac(last);
            eth0.peer = Some(PeerRef { ns: NsIdx(0), ifindex: IfIndex(host_if) });
            ns.links.push(eth0);
            ns
        };
        let mut host = Namespace::new(HOST_LABEL, NsKind::Root, "/proc/1/ns/net".into(), 9);
        host.links.push(Link::new(4, "docker0", LinkKind::Bridge));
        for (ifindex, name, peer_ns) in [(10, "veth4d1c130", 1), (12, "vetha9356e9", 2)] {
            let mut v = Link::new(ifindex, name, LinkKind::Veth);
            v.master = Some(IfIndex(4));
            v.bridge_port_state = Some(PortState::Forwarding);
            v.peer = Some(PeerRef { ns: NsIdx(peer_ns), ifindex: IfIndex(ifindex - 1) });
            host.links.push(v);
        }
        // The sandbox is still labelled by its file name: the MAC tells the container.
        let topo = Topology {
            namespaces: vec![host, container("391f4303d587", 9, 10, 2), container("b", 11, 12, 3)],
        };
        let attach = |name: &str, last: u8| DockerAttachment {
            container: name.into(),
            mac: Some(format!("02:42:AC:11:00:0{last}")),
            ..DockerAttachment::default()
        };
        let net = DockerNetwork {
            name: "bridge".into(),
            driver: "bridge".into(),
            bridge: Some("docker0".into()),
            containers: vec![attach("nginx-1", 2), attach("nginx-2", 3)],
            ..DockerNetwork::default()
        };
        let got = topo.docker_bridge(&net);
        type Row = (String, Option<String>, Option<(NsIdx, IfIndex)>);
        let ports: Vec<Row> = got
            .iter()
            .flat_map(|b| b.ports.iter())
            .map(|p| (p.name.clone(), p.container.clone(), p.peer))
            .collect();
        assert_eq!(
            ports,
            [
                ("veth4d1c130".into(), Some("nginx-1".into()), Some((NsIdx(1), IfIndex(9)))),
                ("vetha9356e9".into(), Some("nginx-2".into()), Some((NsIdx(2), IfIndex(11)))),
            ]
        );
        assert_eq!(got.map(|b| (b.ns, b.ifindex)), Some((NsIdx(0), IfIndex(4))));
        let absent = DockerNetwork { bridge: Some("br-0123456789ab".into()), ..net };
        assert_eq!(topo.docker_bridge(&absent), None);
    }

    #[test]
    fn the_userland_proxys_target_is_read_from_its_command_line() {
        let args: Vec<String> =
            "/usr/bin/docker-proxy -proto tcp -host-ip 0.0.0.0 -host-port 18080 \
             -container-ip 172.17.0.2 -container-port 80 -use-listen-fd"
                .split_whitespace()
                .map(str::to_owned)
                .collect();
        let want = Some((std::net::IpAddr::from([172, 17, 0, 2]), 80));
        assert_eq!(proxy_target(&args), want);
        assert_eq!(proxy_target(&args[..5]), None);
    }
}
