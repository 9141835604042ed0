//! The `topo` report's renderings of a hand-built pair of namespaces: JSON, text and the Docker
//! section.

use std::net::IpAddr;

use super::*;
use crate::core::path::{Target, path};
use crate::core::topology::{
    DockerNetwork, IfAddr, IfIndex, Link, LinkKind, NsKind, PeerRef, PortState, RouteKind,
    RouteScope,
};

fn link(ifindex: u32, name: &str, kind: LinkKind) -> Link {
    Link { carrier: None, ..Link::new(ifindex, name, kind) }
}

fn pair() -> Topology {
    let mut a = Namespace::new("a", NsKind::Named, "/run/netns/a".into(), 11);
    let mut va = link(2, "eth0", LinkKind::Veth);
    va.addrs.push(IfAddr { ip: "10.0.0.1".parse().unwrap_or(IpAddr::from([0; 4])), prefix: 24 });
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
    let v = serde_json::to_value(report(&topo, &[], &[p], &[], &[])).unwrap_or_default();
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
    let only_a =
        serde_json::to_value(report(&topo, &[NsIdx(0)], &[], &[], &[])).unwrap_or_default();
    assert_eq!(only_a["namespaces"].as_array().map(Vec::len), Some(1));
    assert_eq!(only_a["veth_links"].as_array().map(Vec::len), Some(1));
}

#[test]
fn text_shows_the_veth_link_and_the_bridge() {
    let topo = pair();
    let t = text(&topo, &[], &[], &[], &[]);
    assert!(t.contains("veth links\n  a/eth0 ══ b/vb\n"), "{t}");
    assert!(t.contains("  bridge br0 (brctl show)\n    port vb               forwarding\n"), "{t}");
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
    let v = serde_json::to_value(report(&topo, &[], &[], &nets, &[])).unwrap_or_default();
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
    let t = text(&topo, &[], &[], &nets, &[]);
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
    let none = report(&topo, &[NsIdx(1)], &[], &nets, &[]);
    assert!(none.docker_networks.is_empty());
    let web = report(&topo, &[NsIdx(0)], &[], &nets, &[]);
    assert_eq!(web.docker_networks.len(), 1);
}

#[test]
fn listening_sockets_are_shown_as_ss_shows_them() {
    use crate::core::listen::{Listener, Proto};
    let mut topo = pair();
    let web = Listener {
        process: Some((4242, "nginx".into())),
        ..Listener::new(Proto::Tcp, IpAddr::from([0, 0, 0, 0]), 80)
    };
    let dns = Listener::new(Proto::Udp, "::".parse().unwrap_or(IpAddr::from([0; 4])), 53);
    topo.namespaces[1].listening = vec![web, dns];
    topo.namespaces[0].listening_note = Some("opening a netlink socket: EPERM".into());
    let v = serde_json::to_value(report(&topo, &[], &[], &[], &[])).unwrap_or_default();
    assert_eq!(
        v["namespaces"][1]["listening"],
        serde_json::json!([
            {"proto": "tcp", "addr": "0.0.0.0", "port": 80, "v6only": false, "pid": 4242,
             "process": "nginx"},
            {"proto": "udp", "addr": "::", "port": 53, "v6only": false, "pid": null,
             "process": null}
        ])
    );
    assert_eq!(v["namespaces"][1]["listening_note"], serde_json::Value::Null);
    assert_eq!(v["namespaces"][0]["listening"], serde_json::json!([]));
    assert_eq!(v["namespaces"][0]["listening_note"], "opening a netlink socket: EPERM");
    let t = text(&topo, &[], &[], &[], &[]);
    assert!(
        t.contains(
            "  listening (ss -lntup)\n    tcp   0.0.0.0:80                                     \
             nginx (pid 4242)\n    udp   *:53                                           -\n"
        ),
        "{t}"
    );
    assert!(t.contains("  listening (ss -lntup): not read: opening a netlink socket: EPERM\n"));
}

#[test]
fn runtime_networks_carry_their_runtime_and_the_member_behind_each_port() {
    use crate::core::topology::{DockerAttachment, Runtime, RuntimeNetwork};
    let mut topo = pair();
    topo.namespaces[0].label = "web".into();
    let podman = RuntimeNetwork {
        runtime: Runtime::Podman,
        network: DockerNetwork { name: "podman".into(), ..docker_net() },
    };
    let idle = RuntimeNetwork {
        runtime: Runtime::Kubernetes,
        network: DockerNetwork {
            name: "none".into(),
            driver: "none".into(),
            containers: vec![DockerAttachment {
                container: "kube-system/coredns".into(),
                container_id: "5a1e2c0f3b9d7e41".into(),
                ..DockerAttachment::default()
            }],
            ..DockerNetwork::default()
        },
    };
    let nets = [podman, idle];
    let v = serde_json::to_value(report(&topo, &[], &[], &[], &nets)).unwrap_or_default();
    let n = &v["runtime_networks"][0];
    assert_eq!(n["runtime"], "podman");
    assert_eq!(n["name"], "podman");
    assert_eq!(n["bridge_point"], "b/br0");
    assert_eq!(n["ports"][0]["container"], "web");
    assert_eq!(n["ports"][0]["peer"], "web/eth0");
    assert_eq!(n["containers"][0]["port"], "vb");
    assert_eq!(v["runtime_networks"][1]["runtime"], "kubernetes");
    assert_eq!(v["runtime_networks"][1]["bridge"], serde_json::Value::Null);
    assert_eq!(v["docker_networks"], serde_json::json!([]));
    let t = text(&topo, &[], &[], &[], &nets);
    assert!(
        t.contains(
            "\npodman networks (podman network ls + podman inspect + brctl show)\n  podman \
             (bridge, 75202cefbbbb)  bridge b/br0  10.0.0.0/24 gw 10.0.0.254\n    port vb \
             \x20             forwarding ══ web/eth0          container web  10.0.0.1/24  -\n"
        ),
        "{t}"
    );
    assert!(
        t.contains(
            "\nkubernetes pods by bridge (ctr -n k8s.io, the kubelet's labels + brctl show)\n  \
             none (none)\n    pod kube-system/coredns (5a1e2c0f3b9d)  -  (no bridge)\n"
        ),
        "{t}"
    );
    // With a selection: the networks with a port into it, or a member labelled as it is.
    let only_b = report(&topo, &[NsIdx(1)], &[], &[], &nets);
    assert!(only_b.runtime_networks.is_empty());
    topo.namespaces[1].label = "kube-system/coredns".into();
    let pods = report(&topo, &[NsIdx(1)], &[], &[], &nets);
    let runtimes: Vec<&str> = pods.runtime_networks.iter().map(|n| n.runtime).collect();
    assert_eq!(runtimes, ["kubernetes"]);
}

#[test]
fn a_vxlan_device_shows_its_tunnel_and_its_fdb_the_remote_endpoints() {
    let mut topo = pair();
    let remote = IpAddr::from([10, 99, 0, 2]);
    let mut vx = link(5, "vxlan42", LinkKind::Vxlan);
    vx.vxlan = Some(crate::core::topology::Vxlan {
        vni: 42,
        port: 4789,
        local: Some(IpAddr::from([10, 99, 0, 1])),
        remote: Some(remote),
        underlay: Some(IfIndex(4)),
        learning: true,
        fdb: vec![(crate::core::packet::Mac::default(), remote)],
    });
    vx.master = Some(IfIndex(4));
    let b = &mut topo.namespaces[1];
    b.links.push(vx);
    b.fdb.push(crate::core::topology::FdbEntry {
        mac: crate::core::packet::Mac::default(),
        port: IfIndex(5),
        master: None,
        vlan: None,
        kind: crate::core::topology::FdbKind::Permanent,
        dst: Some(remote),
    });
    let t = text(&topo, &[], &[], &[], &[]);
    assert!(
        t.contains(
            "      vxlan id 42 local 10.99.0.1 remote 10.99.0.2 dstport 4789 dev br0 learning\n"
        ),
        "{t}"
    );
    assert!(t.contains("00:00:00:00:00:00 dev vxlan42 dst 10.99.0.2 permanent"), "{t}");
    let v = serde_json::to_value(report(&topo, &[], &[], &[], &[])).unwrap_or_default();
    assert_eq!(
        v["namespaces"][1]["links"][2]["vxlan"],
        serde_json::json!({"vni": 42, "port": 4789, "local": "10.99.0.1", "remote": "10.99.0.2",
                           "underlay": "br0", "learning": true, "overhead": 50})
    );
    assert_eq!(v["namespaces"][1]["fdb"][0]["dst"], "10.99.0.2");
    assert_eq!(v["namespaces"][1]["links"][0].get("vxlan"), None, "only on VXLAN devices");
}
