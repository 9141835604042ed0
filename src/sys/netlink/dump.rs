//! The rtnetlink dumps of one namespace: links, addresses, routes, policy rules, neighbours and, when the
//! namespace has a bridge, bridge port states and the FDB.
//!
//! A netlink socket serves one dump at a time, so the dumps of a namespace run one after the
//! other; namespaces run concurrently (the caller joins them). This module only asks and
//! translates (through `convert`); it does not map veth peers across namespaces.

use futures::TryStreamExt;
use netlink_packet_route::AddressFamily;
use rtnetlink::{Handle, IpVersion};

use crate::core::topology::{
    FdbEntry, IfAddr, IfIndex, LinkKind, Neighbour, PolicyRule, PortState, Route,
};
use crate::sys::netlink::convert::{self, RawLink};

/// Everything one namespace reported.
#[derive(Debug, Default)]
pub struct NsDump {
    pub links: Vec<RawLink>,
    pub addrs: Vec<(IfIndex, IfAddr)>,
    pub routes: Vec<Route>,
    pub rules: Vec<PolicyRule>,
    pub neighbours: Vec<Neighbour>,
    pub port_states: Vec<(IfIndex, PortState)>,
    pub fdb: Vec<FdbEntry>,
}

/// A dump that failed: which one, and the kernel's answer.
#[derive(Debug)]
pub struct DumpError {
    pub what: &'static str,
    pub source: rtnetlink::Error,
}

fn failed(what: &'static str) -> impl FnOnce(rtnetlink::Error) -> DumpError {
    move |source| DumpError { what, source }
}

/// Run every dump of the namespace `handle` is bound to.
pub async fn dump(handle: &Handle) -> Result<NsDump, DumpError> {
    let links: Vec<RawLink> = handle
        .link()
        .get()
        .execute()
        .map_ok(|m| convert::link(&m))
        .try_collect()
        .await
        .map_err(failed("link"))?;
    let addrs: Vec<(IfIndex, IfAddr)> = handle
        .address()
        .get()
        .execute()
        .map_ok(|m| convert::address(&m))
        .try_collect::<Vec<_>>()
        .await
        .map_err(failed("address"))?
        .into_iter()
        .flatten()
        .collect();
    let mut route_req = handle.route().get(Default::default());
    route_req.message_mut().header.address_family = AddressFamily::Unspec;
    let routes: Vec<Route> = route_req
        .execute()
        .map_ok(|m| convert::route(&m))
        .try_collect::<Vec<_>>()
        .await
        .map_err(failed("route"))?
        .into_iter()
        .flatten()
        .collect();
    let neighbours: Vec<Neighbour> = handle
        .neighbours()
        .get()
        .execute()
        .map_ok(|m| convert::neighbour(&m))
        .try_collect::<Vec<_>>()
        .await
        .map_err(failed("neighbour"))?
        .into_iter()
        .flatten()
        .collect();
    // Policy rules only make a path uncertain: a family the kernel does not route here (IPv6
    // disabled) answers with an error, which leaves that family's rules out.
    let mut rules = Vec::new();
    for version in [IpVersion::V4, IpVersion::V6] {
        let found: Result<Vec<Option<PolicyRule>>, _> =
            handle.rule().get(version).execute().map_ok(|m| convert::rule(&m)).try_collect().await;
        rules.extend(found.unwrap_or_default().into_iter().flatten());
    }
    let mut out = NsDump { links, addrs, routes, rules, neighbours, ..NsDump::default() };
    if out.links.iter().any(|l| matches!(l.link.kind, LinkKind::Bridge | LinkKind::Vxlan)) {
        out.port_states = bridge_ports(handle).await?;
        out.fdb = fdb(handle).await?;
    }
    Ok(out)
}

/// `bridge link`: the STP state of every bridge port (an `AF_BRIDGE` link dump).
async fn bridge_ports(handle: &Handle) -> Result<Vec<(IfIndex, PortState)>, DumpError> {
    let mut req = handle.link().get();
    req.message_mut().header.interface_family = AddressFamily::Bridge;
    let states = req
        .execute()
        .map_ok(|m| convert::port_state(&m))
        .try_collect::<Vec<_>>()
        .await
        .map_err(failed("bridge link"))?;
    Ok(states.into_iter().flatten().collect())
}

/// `bridge fdb`: the forwarding database (an `AF_BRIDGE` neighbour dump).
async fn fdb(handle: &Handle) -> Result<Vec<FdbEntry>, DumpError> {
    let entries = handle
        .neighbours()
        .get()
        .set_address_family(AddressFamily::Bridge)
        .execute()
        .map_ok(|m| convert::fdb(&m))
        .try_collect::<Vec<_>>()
        .await
        .map_err(failed("bridge fdb"))?;
    Ok(entries.into_iter().flatten().collect())
}
