//! The other runtimes' section of `vtrace topo` (Podman's networks, containerd's containers and
//! Kubernetes pods, each grouped by the bridge behind them): which networks to show for a
//! selection of namespaces, their DTOs (Docker's, with the runtime's name) and their text.
//!
//! Pure formatting of [`RuntimeNetwork`]s over the topology; it must not run any runtime's CLI.

use serde::Serialize;

use super::docker::{DockerNetDto, docker_dto, docker_text};
use crate::core::topology::{DockerBridge, NsIdx, Runtime, RuntimeNetwork, Topology};

/// A network of a runtime other than Docker: the fields of `docker_networks`' entries, and
/// `runtime` (`podman`, `containerd`, `kubernetes`).
#[derive(Debug, Serialize)]
pub struct RuntimeNetDto {
    pub runtime: &'static str,
    #[serde(flatten)]
    pub network: DockerNetDto,
}

/// The runtime networks to show, each with its bridge as discovered: all when `selection` is
/// empty, else those with a port whose other end is in the selection, or with a container
/// labelled as a selected namespace is.
pub(super) fn runtime_selected<'r>(
    topo: &Topology,
    selection: &[NsIdx],
    nets: &'r [RuntimeNetwork],
) -> Vec<(&'r RuntimeNetwork, Option<DockerBridge>)> {
    let selected_label =
        |label: &str| selection.iter().any(|&i| topo.ns(i).is_some_and(|n| n.label == label));
    nets.iter()
        .map(|n| (n, topo.docker_bridge(&n.network)))
        .filter(|(n, b)| {
            selection.is_empty()
                || b.as_ref().is_some_and(|b| {
                    b.ports.iter().any(|p| p.peer.is_some_and(|(ns, _)| selection.contains(&ns)))
                })
                || n.network.containers.iter().any(|c| selected_label(&c.container))
        })
        .collect()
}

pub(super) fn runtime_dto(
    topo: &Topology,
    net: &RuntimeNetwork,
    bridge: Option<&DockerBridge>,
) -> RuntimeNetDto {
    RuntimeNetDto { runtime: net.runtime.as_str(), network: docker_dto(topo, &net.network, bridge) }
}

/// The heading of a runtime's part of the section.
fn heading(runtime: Runtime) -> &'static str {
    match runtime {
        Runtime::Docker => "docker networks (docker network inspect + brctl show)",
        Runtime::Podman => "podman networks (podman network ls + podman inspect + brctl show)",
        Runtime::Containerd => "containerd containers by bridge (ctr tasks ls + brctl show)",
        Runtime::Kubernetes => {
            "kubernetes pods by bridge (ctr -n k8s.io, the kubelet's labels + brctl show)"
        }
    }
}

/// The text of every runtime's networks, one heading per runtime.
pub(super) fn runtime_text(
    out: &mut String,
    topo: &Topology,
    shown: &[(&RuntimeNetwork, Option<DockerBridge>)],
) {
    let mut last: Option<Runtime> = None;
    for (net, bridge) in shown {
        if last != Some(net.runtime) {
            out.push('\n');
            out.push_str(heading(net.runtime));
            out.push('\n');
            last = Some(net.runtime);
        }
        let noun = if net.runtime == Runtime::Kubernetes { "pod" } else { "container" };
        docker_text(out, &runtime_dto(topo, net, bridge.as_ref()).network, noun);
    }
}
