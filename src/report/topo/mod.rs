//! `vtrace topo`'s output: the topology of some namespaces as `ifconfig`, `route -n`,
//! `brctl show`, `arp -n`, `bridge fdb` and `ss -lntup` would show it, plus the veth links across
//! namespaces and the paths between the given endpoints — as text, or as JSON DTOs (serde lives
//! here, not in core).
//!
//! Pure formatting of a [`Topology`] and computed paths; it never discovers anything.
//!
//! Laid out as: this file (the paths asked for and what both renderers share: the namespaces
//! and veth links selected), `json` (the `--json` document and its DTOs), `text` (the text
//! picture), `docker` (the Docker networks' section, in both forms) and `runtime` (the other
//! runtimes' networks, in both forms).

mod docker;
mod json;
mod runtime;
mod text;

#[cfg(test)]
mod tests;

pub use docker::{DockerContainerDto, DockerNetDto, DockerPortDto};
pub use json::{
    BridgeDto, FdbDto, LinkDto, ListenerDto, NeighDto, NsDto, PathDto, PeerDto, PointDto, PortDto,
    RouteDto, TopoReport, VethLinkDto, report,
};
pub use runtime::RuntimeNetDto;
pub use text::text;

use crate::core::path::{Path, PathError};
use crate::core::topology::{Namespace, NsIdx, Route, Topology};

/// A path between two endpoints, or why there is none.
#[derive(Debug, Clone)]
pub struct PathResult {
    pub from: String,
    pub to: String,
    pub result: Result<Path, PathError>,
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
        .map(|(a, b)| (topo.point_id(a.0, a.1).into(), topo.point_id(b.0, b.1).into()))
        .collect()
}

fn route_dst(r: &Route) -> String {
    if r.prefix == 0 { "default".to_owned() } else { format!("{}/{}", r.dst, r.prefix) }
}
