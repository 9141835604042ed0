//! Container runtimes beside Docker: which runtime a container or pod belongs to
//! ([`Runtime`]), a runtime's network over the discovered topology ([`RuntimeNetwork`]), and how
//! containers that a runtime describes without networks (containerd, Kubernetes pods) are
//! grouped by the bridge their veth is a port of ([`Topology::bridge_groups`]).
//!
//! Pure: filled by `sys::runtime`, read by the `topo` report; it must not run any runtime's CLI.

use std::collections::BTreeMap;

use super::docker::{DockerAttachment, DockerNetwork};
use super::link::LinkKind;
use super::namespace::NsKind;
use super::{NsIdx, Topology};

/// A container runtime vtrace can ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Runtime {
    Docker,
    Podman,
    Containerd,
    /// Kubernetes pods, found in containerd's `k8s.io` namespace (or through crictl).
    Kubernetes,
}

impl Runtime {
    /// Every runtime, in the order a bare name is tried.
    pub const ALL: [Runtime; 4] =
        [Runtime::Docker, Runtime::Podman, Runtime::Containerd, Runtime::Kubernetes];

    /// Its name in JSON (`docker`, `podman`, `containerd`, `kubernetes`).
    pub fn as_str(self) -> &'static str {
        match self {
            Runtime::Docker => "docker",
            Runtime::Podman => "podman",
            Runtime::Containerd => "containerd",
            Runtime::Kubernetes => "kubernetes",
        }
    }

    /// The endpoint prefix that picks a container of this runtime (`pod` for Kubernetes).
    pub fn prefix(self) -> &'static str {
        match self {
            Runtime::Kubernetes => "pod",
            other => other.as_str(),
        }
    }

    /// What one of its workloads is called in messages.
    pub fn what(self) -> &'static str {
        match self {
            Runtime::Docker => "Docker container",
            Runtime::Podman => "Podman container",
            Runtime::Containerd => "containerd container",
            Runtime::Kubernetes => "Kubernetes pod",
        }
    }
}

/// The label of a container or pod that lives in a runtime's namespace: the bare name in the
/// runtime's default namespace (`default` for both containerd and Kubernetes), else
/// `NAMESPACE/NAME` (so `kube-system/coredns/eth0` for a point).
pub fn namespaced_label(namespace: &str, name: &str) -> String {
    if namespace.is_empty() || namespace == "default" {
        name.to_owned()
    } else {
        format!("{namespace}/{name}")
    }
}

/// A network of a runtime other than Docker, in the shape `docker network inspect` gives
/// (bridge, subnets, the containers attached).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeNetwork {
    pub runtime: Runtime,
    pub network: DockerNetwork,
}

/// A running container or pod as a runtime lists it, for grouping by bridge: its label and id,
/// and the inode of its network namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Workload {
    pub label: String,
    pub id: String,
    pub inode: Option<u64>,
}

impl Topology {
    /// Name a namespace after what lives in it (the endpoint the user typed, the container a
    /// runtime runs in it), unless another namespace has that label already. Only namespaces
    /// known by their file are renamed (Docker sandboxes, processes'), and named ones when
    /// `runtime_says` (a runtime named its container's namespace `netns-<uuid>`,
    /// `cni-<uuid>`, …): the host and a namespace the user named keep their names.
    pub fn relabel(&mut self, idx: NsIdx, label: &str, runtime_says: bool) {
        if self.find_label(label).is_some() {
            return;
        }
        if let Some(ns) = self.namespaces.get_mut(idx.0) {
            let renamable = match ns.kind {
                NsKind::Docker | NsKind::Process => true,
                NsKind::Named => runtime_says,
                NsKind::Root => false,
            };
            if renamable {
                ns.label = label.to_owned();
            }
        }
    }

    /// The bridge a namespace's veth is a port of, on the other side (its name and where it
    /// is): the first such veth, by interface index.
    pub fn bridge_behind(&self, ns: NsIdx) -> Option<(NsIdx, String)> {
        let space = self.ns(ns)?;
        space.links.iter().filter(|l| l.kind == LinkKind::Veth).find_map(|l| {
            let (pns, peer) = self.peer_of(ns, l.ifindex)?;
            let bridge = self.ns(pns)?.bridge_of(peer.ifindex)?;
            Some((pns, bridge.name.clone()))
        })
    }

    /// Workloads of a runtime that describes no networks (containerd, pods), grouped into one
    /// network per bridge their veths lead to (named after the bridge; the root namespace's
    /// bridges by name, others as `NETNS/BRIDGE`), and one `none` network (no bridge) for those
    /// with no veth on a bridge or whose namespace was not discovered. Networks sorted by name,
    /// workloads by label.
    pub fn bridge_groups(&self, runtime: Runtime, workloads: &[Workload]) -> Vec<RuntimeNetwork> {
        let mut groups: BTreeMap<String, (Option<String>, Vec<DockerAttachment>)> = BTreeMap::new();
        for w in workloads {
            let bridge =
                w.inode.and_then(|i| self.find_inode(i)).and_then(|i| self.bridge_behind(i));
            let (name, bridge) = match bridge {
                Some((ns, b)) => {
                    let root = self.ns(ns).is_some_and(|n| n.kind == NsKind::Root);
                    let label = self.ns(ns).map(|n| n.label.as_str()).unwrap_or_default();
                    let name = if root { b.clone() } else { format!("{label}/{b}") };
                    (name, Some(b))
                }
                None => ("none".to_owned(), None),
            };
            let entry = groups.entry(name).or_insert_with(|| (bridge, Vec::new()));
            entry.1.push(DockerAttachment {
                container: w.label.clone(),
                container_id: w.id.clone(),
                ..DockerAttachment::default()
            });
        }
        groups
            .into_iter()
            .map(|(name, (bridge, mut containers))| {
                containers.sort_by(|a, b| a.container.cmp(&b.container));
                RuntimeNetwork {
                    runtime,
                    network: DockerNetwork {
                        name,
                        driver: if bridge.is_some() { "bridge" } else { "none" }.to_owned(),
                        bridge,
                        containers,
                        ..DockerNetwork::default()
                    },
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::topology::{HOST_LABEL, IfIndex, Link, Namespace, PeerRef};

    #[test]
    fn labels_carry_the_namespace_unless_it_is_default() {
        assert_eq!(namespaced_label("default", "web"), "web");
        assert_eq!(namespaced_label("", "web"), "web");
        assert_eq!(namespaced_label("kube-system", "coredns"), "kube-system/coredns");
        let prefixes: Vec<&str> = Runtime::ALL.iter().map(|r| r.prefix()).collect();
        assert_eq!(prefixes, ["docker", "podman", "containerd", "pod"]);
        assert_eq!(Runtime::Kubernetes.as_str(), "kubernetes");
    }

    #[test]
    fn workloads_are_grouped_by_the_bridge_behind_their_veth() {
        // host: cni0 with ports veth-a (peer a/eth0) and veth-b (peer b/eth0); c has only lo;
        // d sits behind a bridge in another namespace.
        let mut host = Namespace::new(HOST_LABEL, NsKind::Root, "/proc/1/ns/net".into(), 100);
        host.links.push(Link::new(3, "cni0", LinkKind::Bridge));
        for (ifindex, name, peer_ns) in [(10, "veth-a", 1), (11, "veth-b", 2)] {
            let mut v = Link::new(ifindex, name, LinkKind::Veth);
            v.master = Some(IfIndex(3));
            v.peer = Some(PeerRef { ns: NsIdx(peer_ns), ifindex: IfIndex(2) });
            host.links.push(v);
        }
        let pod = |label: &str, inode: u64, host_ns: usize, host_if: u32| {
            let mut ns = Namespace::new(label, NsKind::Named, "/run/netns/x".into(), inode);
            let mut eth0 = Link::new(2, "eth0", LinkKind::Veth);
            eth0.peer = Some(PeerRef { ns: NsIdx(host_ns), ifindex: IfIndex(host_if) });
            ns.links.push(eth0);
            ns
        };
        let c = Namespace::new("c", NsKind::Named, "/run/netns/c".into(), 103);
        let mut other = Namespace::new("lab-host", NsKind::Named, "/run/netns/h".into(), 104);
        other.links.push(Link::new(5, "br0", LinkKind::Bridge));
        let mut v = Link::new(6, "veth-d", LinkKind::Veth);
        v.master = Some(IfIndex(5));
        v.peer = Some(PeerRef { ns: NsIdx(5), ifindex: IfIndex(2) });
        other.links.push(v);
        let topo = Topology {
            namespaces: vec![
                host,
                pod("b", 101, 0, 10),
                pod("a", 102, 0, 11),
                c,
                other,
                pod("d", 105, 4, 6),
            ],
        };
        let w = |label: &str, inode: Option<u64>| Workload {
            label: label.into(),
            id: format!("id-{label}"),
            inode,
        };
        let nets = topo.bridge_groups(
            Runtime::Containerd,
            &[
                w("web", Some(101)),
                w("db", Some(102)),
                w("idle", Some(103)),
                w("gone", None),
                w("x", Some(105)),
            ],
        );
        let got: Vec<(String, Option<String>, Vec<String>)> = nets
            .iter()
            .map(|n| {
                let names = n.network.containers.iter().map(|c| c.container.clone()).collect();
                (n.network.name.clone(), n.network.bridge.clone(), names)
            })
            .collect();
        assert_eq!(
            got,
            [
                ("cni0".into(), Some("cni0".into()), vec!["db".into(), "web".into()]),
                ("lab-host/br0".into(), Some("br0".into()), vec!["x".into()]),
                ("none".into(), None, vec!["gone".into(), "idle".into()]),
            ]
        );
        assert!(nets.iter().all(|n| n.runtime == Runtime::Containerd));
        assert_eq!(nets[0].network.containers[0].container_id, "id-db");
        assert_eq!(topo.bridge_behind(NsIdx(1)), Some((NsIdx(0), "cni0".into())));
        assert_eq!(topo.bridge_behind(NsIdx(3)), None);
    }

    #[test]
    fn relabel_renames_only_what_the_user_did_not_name() {
        let mut topo = Topology {
            namespaces: vec![
                Namespace::new(HOST_LABEL, NsKind::Root, "/proc/1/ns/net".into(), 1),
                Namespace::new("netns-4f2a", NsKind::Named, "/run/netns/netns-4f2a".into(), 2),
                Namespace::new("pid:77", NsKind::Process, "/proc/77/ns/net".into(), 3),
            ],
        };
        topo.relabel(NsIdx(0), "web", true);
        topo.relabel(NsIdx(1), "web", false);
        topo.relabel(NsIdx(2), "db", false);
        let labels =
            |t: &Topology| t.namespaces.iter().map(|n| n.label.clone()).collect::<Vec<_>>();
        assert_eq!(labels(&topo), ["host", "netns-4f2a", "db"]);
        topo.relabel(NsIdx(1), "db", true);
        assert_eq!(labels(&topo), ["host", "netns-4f2a", "db"], "a label already taken");
        topo.relabel(NsIdx(1), "web", true);
        assert_eq!(labels(&topo), ["host", "web", "db"]);
    }
}
