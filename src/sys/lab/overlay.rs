//! `lab up --overlay`: the two nodes' pieces, once their namespaces exist — the underlay veth
//! pair between the nodes, each node's bridge and VXLAN device (enslaved to the bridge, over the
//! underlay), each container's veth pair into its node's bridge, then links up and addresses.
//!
//! Idempotent like the classic lab (what exists with the right kind is kept); what to build is
//! `core::lab::OverlaySpec`'s, undoing a failed run is `apply`'s (the namespaces hold
//! everything, so removing them removes it all).

use super::LabReport;
use super::apply::{checkpoint, find, wrong_kind};
use super::error::{LabError, Result};
use super::netlink::{Link, Rtnl, Vxlan};
use crate::core::lab::{LabSpec, NodeSpec, OverlaySpec};
use crate::core::packet::Mac;
use crate::sys::netns::Netns;
use crate::sys::stop::Stop;

/// The underlay's MTU (Ethernet's).
const UNDERLAY_MTU: u32 = 1500;

/// One end of a veth pair to make.
struct End<'a> {
    rtnl: &'a Rtnl,
    netns: &'a str,
    name: &'a str,
    mac: Mac,
}

/// Build the overlay's links in the nodes' and containers' namespaces (which exist).
pub(super) async fn build(
    spec: &LabSpec,
    ov: &OverlaySpec,
    stop: Option<&Stop>,
    report: &mut LabReport,
) -> Result<()> {
    let open = |netns: &str| Rtnl::open("netns", &Netns::Named(netns.to_owned()), label(netns));
    let nodes: Vec<(&NodeSpec, Rtnl)> =
        ov.nodes.iter().map(|n| Ok((n, open(&n.netns)?))).collect::<Result<_>>()?;
    let ctrs: Vec<Rtnl> = spec.containers.iter().map(|c| open(&c.netns)).collect::<Result<_>>()?;

    checkpoint(stop, "veth")?;
    if let [(a, ra), (b, rb), ..] = nodes.as_slice() {
        let ends = (
            End { rtnl: ra, netns: &a.netns, name: &ov.underlay_ifname, mac: a.underlay_mac },
            End { rtnl: rb, netns: &b.netns, name: &ov.underlay_ifname, mac: b.underlay_mac },
        );
        if ensure_pair(&ends, None, UNDERLAY_MTU).await? {
            report.created.push(format!(
                "underlay {} in netns {} — {}/{}",
                ov.underlay_ifname, a.netns, b.netns, ov.underlay_ifname
            ));
        }
    }

    checkpoint(stop, "bridge")?;
    let mut bridges = Vec::with_capacity(nodes.len());
    for (n, rtnl) in &nodes {
        bridges.push(ensure_bridge(&ov.bridge, n.bridge_mac, rtnl, report).await?);
    }

    for (c, ctr) in spec.containers.iter().zip(&ctrs) {
        checkpoint(stop, "veth")?;
        let (Some((n, rtnl)), Some(&br)) = (nodes.get(c.node), bridges.get(c.node)) else {
            continue;
        };
        let ends = (
            End { rtnl, netns: &n.netns, name: &c.host_veth, mac: c.host_mac },
            End { rtnl: ctr, netns: &c.netns, name: &c.ifname, mac: c.mac },
        );
        if ensure_pair(&ends, Some(br), ov.eth_mtu).await? {
            report.created.push(format!(
                "veth {} in netns {} — {}/{} (MTU {})",
                c.host_veth, n.netns, c.netns, c.ifname, ov.eth_mtu
            ));
        }
    }

    checkpoint(stop, "vxlan")?;
    for (i, ((n, rtnl), &br)) in nodes.iter().zip(&bridges).enumerate() {
        let Some(remote) = ov.remote_of(i) else { continue };
        let links = rtnl.links("vxlan").await?;
        let underlay =
            find(&links, &ov.underlay_ifname).ok_or_else(|| gone(&ov.underlay_ifname))?;
        let v = Vxlan {
            name: &n.vxlan,
            mac: n.vxlan_mac,
            vni: ov.vni,
            local: n.underlay_addr,
            remote: remote.underlay_addr,
            port: ov.port,
            underlay: underlay.index,
        };
        ensure_vxlan(&v, rtnl, br, report).await?;
    }

    checkpoint(stop, "link-up")?;
    for ((n, rtnl), &br) in nodes.iter().zip(&bridges) {
        let links = rtnl.links("link-up").await?;
        if let Some(lo) = find(&links, "lo") {
            rtnl.up(lo.index, "lo").await?;
        }
        let ports = spec.containers.iter().filter(|c| ov.nodes.get(c.node) == Some(n));
        let names = [ov.underlay_ifname.as_str(), n.vxlan.as_str()]
            .into_iter()
            .chain(ports.map(|c| c.host_veth.as_str()));
        rtnl.quiet_up(br, &ov.bridge).await?;
        for name in names {
            let l = find(&links, name).ok_or_else(|| gone(name))?;
            rtnl.quiet_up(l.index, name).await?;
        }
    }
    let mut eths = Vec::with_capacity(ctrs.len());
    for (c, ctr) in spec.containers.iter().zip(&ctrs) {
        let links = ctr.links("link-up").await?;
        let eth = find(&links, &c.ifname).ok_or_else(|| gone(&c.ifname))?;
        ctr.quiet_up(eth.index, &c.ifname).await?;
        if let Some(lo) = find(&links, "lo") {
            ctr.up(lo.index, "lo").await?;
        }
        eths.push(eth.index);
    }

    checkpoint(stop, "address")?;
    let len = ov.underlay.prefix_len();
    for (n, rtnl) in &nodes {
        let l = rtnl.link("address", &ov.underlay_ifname).await?;
        let l = l.ok_or_else(|| gone(&ov.underlay_ifname))?;
        rtnl.add_addr(l.index, &ov.underlay_ifname, n.underlay_addr, len).await?;
    }
    for ((c, ctr), index) in spec.containers.iter().zip(&ctrs).zip(eths) {
        ctr.add_addr(index, &c.ifname, c.addr, spec.prefix_len()).await?;
    }
    Ok(())
}

fn label(netns: &str) -> String {
    format!("netns {netns}")
}

fn gone(name: &str) -> LabError {
    LabError::other("link-up", format!("finding {name}"), "it disappeared while building")
}

/// Make sure the veth pair `ends` exists (the second end created directly in its namespace),
/// the first end a port of `bridge`; true when this run made it.
async fn ensure_pair(ends: &(End<'_>, End<'_>), bridge: Option<u32>, mtu: u32) -> Result<bool> {
    let (a, b) = ends;
    let what = || format!("creating veth {} in {} — {}/{}", a.name, a.rtnl.label, b.netns, b.name);
    let la = a.rtnl.link("veth", a.name).await?;
    let lb = b.rtnl.link("veth", b.name).await?;
    for l in la.iter().chain(lb.iter()) {
        if l.kind.as_deref() != Some("veth") {
            return Err(wrong_kind("veth", what(), l, "veth"));
        }
    }
    if let (Some(la), Some(lb)) = (&la, &lb) {
        a.rtnl.set_mac_master("veth", la, a.mac, bridge).await?;
        b.rtnl.set_mac_master("veth", lb, b.mac, None).await?;
        return Ok(false);
    }
    if let Some(l) = &la {
        a.rtnl.del_link("veth", l.index, &l.name).await?;
    }
    if let Some(l) = &lb {
        b.rtnl.del_link("veth", l.index, &l.name).await?;
    }
    let peer_ns =
        Netns::Named(b.netns.to_owned()).open().map_err(|e| LabError::chain("veth", what(), &e))?;
    a.rtnl.add_veth_pair((a.name, a.mac), (b.name, b.mac), &peer_ns, mtu).await?;
    if let Some(br) = bridge {
        let made = a.rtnl.link("veth", a.name).await?.ok_or_else(|| gone(a.name))?;
        a.rtnl.set_mac_master("veth", &made, a.mac, Some(br)).await?;
    }
    Ok(true)
}

/// Make sure the node's bridge exists with its MAC; its index.
async fn ensure_bridge(name: &str, mac: Mac, rtnl: &Rtnl, report: &mut LabReport) -> Result<u32> {
    match rtnl.link("bridge", name).await? {
        Some(l) if l.kind.as_deref() != Some("bridge") => {
            let what = format!("creating bridge {name} in {}", rtnl.label);
            Err(wrong_kind("bridge", what, &l, "bridge"))
        }
        Some(l) => {
            rtnl.set_mac_master("bridge", &l, mac, None).await?;
            Ok(l.index)
        }
        None => {
            rtnl.add_bridge_named(name, mac).await?;
            report.created.push(format!("bridge {name} in {}", rtnl.label));
            let l: Option<Link> = rtnl.link("bridge", name).await?;
            l.map(|l| l.index).ok_or_else(|| gone(name))
        }
    }
}

/// Make sure the node's VXLAN device exists, a port of its bridge.
async fn ensure_vxlan(
    v: &Vxlan<'_>,
    rtnl: &Rtnl,
    bridge: u32,
    report: &mut LabReport,
) -> Result<()> {
    let existing = rtnl.link("vxlan", v.name).await?;
    let l = match existing {
        Some(l) if l.kind.as_deref() != Some("vxlan") => {
            let what = format!("creating VXLAN device {} in {}", v.name, rtnl.label);
            return Err(wrong_kind("vxlan", what, &l, "vxlan"));
        }
        Some(l) => l,
        None => {
            rtnl.add_vxlan(v).await?;
            report.created.push(format!(
                "vxlan {} (VNI {}, {} → {}:{}) in {}",
                v.name, v.vni, v.local, v.remote, v.port, rtnl.label
            ));
            rtnl.link("vxlan", v.name).await?.ok_or_else(|| gone(v.name))?
        }
    };
    rtnl.set_mac_master("vxlan", &l, v.mac, Some(bridge)).await
}
