//! The rtnetlink requests the lab needs (`ip link add/set/del`, `ip addr add`, `ip route
//! replace`, and the dumps behind `lab status`), on a handle bound to one namespace.
//!
//! Each request maps its failure to a [`LabError`] naming the step and the object. This module
//! knows nothing of the lab's plan or ordering; `apply`, `teardown` and `status` decide that.

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;

use futures::TryStreamExt;
use rtnetlink::packet_route::AddressFamily;
use rtnetlink::packet_route::address::AddressAttribute;
use rtnetlink::packet_route::link::{
    AfSpecInet6, AfSpecUnspec, In6AddrGenMode, InfoData, InfoKind, InfoVeth, LinkAttribute,
    LinkFlags, LinkInfo, LinkMessage,
};
use rtnetlink::packet_route::route::{RouteAddress, RouteAttribute};
use rtnetlink::{
    Handle, LinkBridge, LinkMessageBuilder, LinkUnspec, LinkVeth, LinkVxlan, RouteMessageBuilder,
};

use super::error::{LabError, Result};
use crate::core::lab::{BridgeSpec, ContainerSpec, Ipv4Net};
use crate::core::packet::Mac;
use crate::sys::netns::Netns;
use crate::sys::rtnl;

/// A link as the lab sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    /// `veth`, `bridge`, … (`None` for devices without a kind, such as `lo`).
    pub kind: Option<String>,
    pub mac: Option<Mac>,
    /// Index of the bridge this link is a port of.
    pub master: Option<u32>,
    /// Administratively up (`IFF_UP`).
    pub up: bool,
    /// Operational state as `ip link` shows it (`UP`, `DOWN`, `LOWERLAYERDOWN`, `UNKNOWN`).
    pub oper: String,
}

/// A VXLAN device to create.
#[derive(Debug, Clone, Copy)]
pub struct Vxlan<'a> {
    pub name: &'a str,
    pub mac: Mac,
    pub vni: u32,
    pub local: Ipv4Addr,
    pub remote: Ipv4Addr,
    pub port: u16,
    /// The underlay link's index.
    pub underlay: u32,
}

/// An IPv4 route as the lab sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub dst: Ipv4Net,
    pub gateway: Option<Ipv4Addr>,
    pub oif: Option<u32>,
    pub table: u32,
}

/// An rtnetlink handle acting inside one namespace, with a label for messages.
pub struct Rtnl {
    handle: Handle,
    /// `netns nginx-1` or `the root netns`.
    pub label: String,
}

impl Rtnl {
    /// Open a handle inside `ns` (must run within a tokio runtime).
    pub fn open(step: &'static str, ns: &Netns, label: String) -> Result<Rtnl> {
        let handle = rtnl::handle_in(ns)
            .map_err(|e| LabError::chain(step, format!("opening rtnetlink in {label}"), &e))?;
        Ok(Rtnl { handle, label })
    }

    /// Every link of the namespace (`ip link show`).
    pub async fn links(&self, step: &'static str) -> Result<Vec<Link>> {
        let msgs: Vec<LinkMessage> =
            self.handle.link().get().execute().try_collect().await.map_err(|e| {
                LabError::netlink(step, format!("listing links in {}", self.label), e)
            })?;
        Ok(msgs.iter().map(link_of).collect())
    }

    /// The link called `name`, if any (`ip link show NAME`).
    pub async fn link(&self, step: &'static str, name: &str) -> Result<Option<Link>> {
        let got: std::result::Result<Vec<LinkMessage>, _> =
            self.handle.link().get().match_name(name).execute().try_collect().await;
        match got {
            Ok(msgs) => Ok(msgs.first().map(link_of)),
            Err(rtnetlink::Error::NetlinkError(m))
                if m.code.is_some_and(|c| -c.get() == libc::ENODEV) =>
            {
                Ok(None)
            }
            Err(e) => {
                Err(LabError::netlink(step, format!("looking up link {name} in {}", self.label), e))
            }
        }
    }

    /// `ip link add NAME address MAC type bridge` (created down).
    pub async fn add_bridge(&self, b: &BridgeSpec) -> Result<()> {
        self.add_bridge_named(&b.name, b.mac).await
    }

    /// `ip link add NAME address MAC type bridge` (created down).
    pub async fn add_bridge_named(&self, name: &str, mac: Mac) -> Result<()> {
        let msg = LinkBridge::new(name).down().address(mac.0.to_vec()).build();
        self.handle.link().add(msg).execute().await.map_err(|e| {
            LabError::netlink("bridge", format!("creating bridge {name} in {}", self.label), e)
        })
    }

    /// `ip link add NAME address MAC mtu MTU type veth peer name PEER address MAC mtu MTU
    /// netns NS` (both ends down, one queue each way, as [`Rtnl::add_veth`]).
    pub async fn add_veth_pair(
        &self,
        (name, mac): (&str, Mac),
        (peer_name, peer_mac): (&str, Mac),
        peer_ns: &File,
        mtu: u32,
    ) -> Result<()> {
        let peer = LinkMessageBuilder::<LinkUnspec>::new()
            .name(peer_name.to_owned())
            .address(peer_mac.0.to_vec())
            .mtu(mtu)
            .append_extra_attribute(LinkAttribute::NumTxQueues(1))
            .append_extra_attribute(LinkAttribute::NumRxQueues(1))
            .setns_by_fd(peer_ns.as_raw_fd())
            .build();
        let msg = LinkMessageBuilder::<LinkVeth>::new_with_info_kind(InfoKind::Veth)
            .name(name.to_owned())
            .address(mac.0.to_vec())
            .mtu(mtu)
            .append_extra_attribute(LinkAttribute::NumTxQueues(1))
            .append_extra_attribute(LinkAttribute::NumRxQueues(1))
            .set_info_data(InfoData::Veth(InfoVeth::Peer(peer)))
            .build();
        self.handle.link().add(msg).execute().await.map_err(|e| {
            LabError::netlink(
                "veth",
                format!("creating veth pair {name} ({}) — {peer_name}", self.label),
                e,
            )
        })
    }

    /// `ip link add NAME address MAC type vxlan id VNI local LOCAL remote REMOTE dstport PORT
    /// dev UNDERLAY learning` (created down; the kernel gives it the underlay's MTU minus the
    /// encapsulation).
    pub async fn add_vxlan(&self, v: &Vxlan<'_>) -> Result<()> {
        let msg = LinkVxlan::new(v.name, v.vni)
            .down()
            .address(v.mac.0.to_vec())
            .local(v.local)
            .remote(v.remote)
            .port(v.port)
            .dev(v.underlay)
            .learning(true)
            .build();
        self.handle.link().add(msg).execute().await.map_err(|e| {
            LabError::netlink(
                "vxlan",
                format!("creating VXLAN device {} (VNI {}) in {}", v.name, v.vni, self.label),
                e,
            )
        })
    }

    /// `ip link add HOSTVETH address MAC master BRIDGE type veth peer name eth0 address MAC
    /// netns NS`: the peer is created directly inside the container's namespace (the host side
    /// may have an `eth0` of its own). Both ends start down.
    pub async fn add_veth(
        &self,
        c: &ContainerSpec,
        bridge: Option<u32>,
        peer_ns: &File,
    ) -> Result<()> {
        // One queue each way, asked for explicitly: otherwise the kernel creates one per CPU and
        // then shrinks them, paying an expedited RCU grace period per end (the costliest part
        // of creating a veth pair).
        let peer = LinkMessageBuilder::<LinkUnspec>::new()
            .name(c.ifname.clone())
            .address(c.mac.0.to_vec())
            .append_extra_attribute(LinkAttribute::NumTxQueues(1))
            .append_extra_attribute(LinkAttribute::NumRxQueues(1))
            .setns_by_fd(peer_ns.as_raw_fd())
            .build();
        let mut msg = LinkMessageBuilder::<LinkVeth>::new_with_info_kind(InfoKind::Veth)
            .name(c.host_veth.clone())
            .address(c.host_mac.0.to_vec())
            .append_extra_attribute(LinkAttribute::NumTxQueues(1))
            .append_extra_attribute(LinkAttribute::NumRxQueues(1));
        if let Some(bridge) = bridge {
            msg = msg.controller(bridge);
        }
        let msg = msg.set_info_data(InfoData::Veth(InfoVeth::Peer(peer))).build();
        self.handle.link().add(msg).execute().await.map_err(|e| {
            LabError::netlink(
                "veth",
                format!(
                    "creating veth pair {} ({}) — {}/{}",
                    c.host_veth, self.label, c.netns, c.ifname
                ),
                e,
            )
        })
    }

    /// `ip link set NAME address MAC master BRIDGE` on an existing link (idempotent).
    pub async fn set_mac_master(
        &self,
        step: &'static str,
        l: &Link,
        mac: Mac,
        master: Option<u32>,
    ) -> Result<()> {
        let new_mac = l.mac != Some(mac);
        let new_master = master.filter(|m| l.master != Some(*m));
        if !new_mac && new_master.is_none() {
            return Ok(());
        }
        let mut b = LinkUnspec::new_with_index(l.index);
        if new_mac {
            b = b.address(mac.0.to_vec());
        }
        if let Some(m) = new_master {
            b = b.controller(m);
        }
        self.change(step, b.build(), format!("setting MAC {mac} and bridge on {}", l.name)).await
    }

    /// Make the link quiet and bring it up: `ip link set NAME addrgenmode none` (no IPv6
    /// link-local address, hence no DAD, router solicitation or MLD timers and no stray IPv6
    /// packets in traces), then `ip link set NAME up`.
    pub async fn quiet_up(&self, index: u32, name: &str) -> Result<()> {
        let quiet = LinkUnspec::new_with_index(index)
            .append_extra_attribute(LinkAttribute::AfSpecUnspec(vec![AfSpecUnspec::Inet6(vec![
                AfSpecInet6::AddrGenMode(In6AddrGenMode::None),
            ])]))
            .build();
        match self.handle.link().change(quiet).execute().await {
            Ok(()) => {}
            // IPv6 disabled on this kernel: nothing to quieten.
            Err(rtnetlink::Error::NetlinkError(m))
                if m.code.is_some_and(|c| -c.get() == libc::EAFNOSUPPORT) => {}
            Err(e) => {
                return Err(LabError::netlink(
                    "link-up",
                    format!("disabling IPv6 address generation on {name} in {}", self.label),
                    e,
                ));
            }
        }
        self.up(index, name).await
    }

    /// `ip link set NAME up`.
    pub async fn up(&self, index: u32, name: &str) -> Result<()> {
        let msg = LinkUnspec::new_with_index(index).up().build();
        self.change("link-up", msg, format!("bringing {name} up")).await
    }

    async fn change(&self, step: &'static str, msg: LinkMessage, what: String) -> Result<()> {
        self.handle
            .link()
            .change(msg)
            .execute()
            .await
            .map_err(|e| LabError::netlink(step, format!("{what} in {}", self.label), e))
    }

    /// `ip addr replace ADDR/LEN dev NAME`.
    pub async fn add_addr(&self, index: u32, name: &str, ip: Ipv4Addr, len: u8) -> Result<()> {
        self.handle.address().add(index, IpAddr::V4(ip), len).replace().execute().await.map_err(
            |e| {
                LabError::netlink(
                    "address",
                    format!("adding address {ip}/{len} to {name} in {}", self.label),
                    e,
                )
            },
        )
    }

    /// `ip route replace default via GW`.
    pub async fn default_route(&self, gw: Ipv4Addr) -> Result<()> {
        let msg = RouteMessageBuilder::<Ipv4Addr>::new().gateway(gw).build();
        self.handle.route().add(msg).replace().execute().await.map_err(|e| {
            LabError::netlink(
                "route",
                format!("adding default route via {gw} in {}", self.label),
                e,
            )
        })
    }

    /// `ip link del NAME` (a missing link is not an error).
    pub async fn del_link(&self, step: &'static str, index: u32, name: &str) -> Result<()> {
        match self.handle.link().del(index).execute().await {
            Ok(()) => Ok(()),
            Err(rtnetlink::Error::NetlinkError(m))
                if m.code.is_some_and(|c| -c.get() == libc::ENODEV) =>
            {
                Ok(())
            }
            Err(e) => {
                Err(LabError::netlink(step, format!("deleting link {name} in {}", self.label), e))
            }
        }
    }

    /// Every IPv4 address: (link index, address/len) (`ip -4 addr show`).
    pub async fn ipv4_addrs(&self, step: &'static str) -> Result<Vec<(u32, Ipv4Net)>> {
        let mut req = self.handle.address().get();
        req.message_mut().header.family = AddressFamily::Inet;
        let msgs: Vec<_> = req.execute().try_collect().await.map_err(|e| {
            LabError::netlink(step, format!("listing addresses in {}", self.label), e)
        })?;
        Ok(msgs
            .iter()
            .filter_map(|m| {
                let ip = m.attributes.iter().find_map(|a| match a {
                    AddressAttribute::Local(IpAddr::V4(ip)) => Some(*ip),
                    _ => None,
                })?;
                Some((m.header.index, Ipv4Net::new(ip, m.header.prefix_len)?))
            })
            .collect())
    }

    /// Every IPv4 route of every table (`ip -4 route show table all`).
    pub async fn ipv4_routes(&self, step: &'static str) -> Result<Vec<Route>> {
        let req = RouteMessageBuilder::<Ipv4Addr>::new().build();
        let msgs: Vec<_> =
            self.handle.route().get(req).execute().try_collect().await.map_err(|e| {
                LabError::netlink(step, format!("listing routes in {}", self.label), e)
            })?;
        Ok(msgs
            .iter()
            .filter_map(|m| {
                let mut dst = Ipv4Addr::UNSPECIFIED;
                let (mut gateway, mut oif, mut table) = (None, None, u32::from(m.header.table));
                for a in &m.attributes {
                    match a {
                        RouteAttribute::Destination(RouteAddress::Inet(ip)) => dst = *ip,
                        RouteAttribute::Gateway(RouteAddress::Inet(ip)) => gateway = Some(*ip),
                        RouteAttribute::Oif(i) => oif = Some(*i),
                        RouteAttribute::Table(t) => table = *t,
                        _ => {}
                    }
                }
                let dst = Ipv4Net::new(dst, m.header.destination_prefix_length)?;
                Some(Route { dst, gateway, oif, table })
            })
            .collect())
    }
}

fn link_of(m: &LinkMessage) -> Link {
    let mut l = Link {
        index: m.header.index,
        name: String::new(),
        kind: None,
        mac: None,
        master: None,
        up: m.header.flags.contains(LinkFlags::Up),
        oper: String::from("UNKNOWN"),
    };
    for a in &m.attributes {
        match a {
            LinkAttribute::IfName(n) => l.name = n.clone(),
            LinkAttribute::Address(b) => l.mac = <[u8; 6]>::try_from(b.as_slice()).ok().map(Mac),
            LinkAttribute::Controller(i) => l.master = Some(*i),
            LinkAttribute::OperState(s) => l.oper = s.to_string(),
            LinkAttribute::LinkInfo(infos) => {
                l.kind = infos.iter().find_map(|i| match i {
                    LinkInfo::Kind(k) => Some(k.to_string()),
                    _ => None,
                });
            }
            _ => {}
        }
    }
    l
}
