//! `lab status`: what of the lab exists — namespaces, links with their state, addresses,
//! default routes, servers — and what is missing or differs from the spec.
//!
//! [`observe`] reads the system (netlink dumps, read-only); [`judge`] compares the observation
//! with the spec and is pure, so it is tested without root. Nothing here changes the system.

use std::net::Ipv4Addr;

use super::error::Result;
use super::netlink::{Link, Route, Rtnl};
use super::serve;
use super::state::{self, Server};
use crate::core::lab::{ContainerSpec, HostSide, Ipv4Net, LabSpec, OverlaySpec};
use crate::core::packet::Mac;
use crate::sys::netns::{self, Netns};

/// The state of a lab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabStatus {
    /// Host side first, then one entry per container.
    pub namespaces: Vec<NetnsStatus>,
    /// Lab pieces that do not exist (`netns nginx-1`, `nginx-1/eth0`).
    pub missing: Vec<String>,
    /// Pieces that exist but differ from the spec (`nginx-1/eth0 is down`).
    pub problems: Vec<String>,
    /// Recorded HTTP servers and whether each still runs.
    pub servers: Vec<(Server, bool)>,
}

impl LabStatus {
    /// Everything exists and matches the spec.
    pub fn complete(&self) -> bool {
        self.missing.is_empty() && self.problems.is_empty()
    }
    /// Nothing of the lab exists.
    pub fn absent(&self) -> bool {
        self.namespaces.iter().all(|n| n.netns.is_some() && !n.exists)
            && self.namespaces.iter().all(|n| n.links.iter().all(|l| l.found.is_none()))
    }
}

/// One namespace of the lab (`netns: None` is the root namespace, with `--in-root`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetnsStatus {
    pub netns: Option<String>,
    /// `host` or the container name.
    pub role: String,
    pub exists: bool,
    pub links: Vec<LinkStatus>,
    /// The gateway of the default route, if any.
    pub default_via: Option<Ipv4Addr>,
}

/// One expected link and what was found under its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkStatus {
    pub name: String,
    pub found: Option<FoundLink>,
}

/// A link as found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundLink {
    pub index: u32,
    pub kind: Option<String>,
    pub mac: Option<Mac>,
    pub master: Option<String>,
    pub up: bool,
    pub oper: String,
    pub addresses: Vec<Ipv4Net>,
}

/// What was read from one namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    pub exists: bool,
    pub links: Vec<Link>,
    pub addrs: Vec<(u32, Ipv4Net)>,
    pub routes: Vec<Route>,
}

/// Read the lab's namespaces from the system: host side first (the overlay's nodes), then the
/// containers.
pub async fn observe(spec: &LabSpec) -> Result<Vec<Observed>> {
    let mut out = Vec::with_capacity(spec.containers.len() + 2);
    if let Some(ov) = &spec.overlay {
        for n in &ov.nodes {
            let ns = netns::exists(&n.netns).then(|| Netns::Named(n.netns.clone()));
            out.push(observe_ns(ns, format!("netns {}", n.netns)).await?);
        }
        for c in &spec.containers {
            let ns = netns::exists(&c.netns).then(|| Netns::Named(c.netns.clone()));
            out.push(observe_ns(ns, format!("netns {}", c.netns)).await?);
        }
        return Ok(out);
    }
    let host = match &spec.host {
        HostSide::Root => Some(super::root_netns()),
        HostSide::Netns(n) => netns::exists(n).then(|| Netns::Named(n.clone())),
    };
    out.push(observe_ns(host, spec.host_label()).await?);
    for c in spec.containers.iter().chain(spec.outside.iter().map(|o| &o.end)) {
        let ns = netns::exists(&c.netns).then(|| Netns::Named(c.netns.clone()));
        out.push(observe_ns(ns, format!("netns {}", c.netns)).await?);
    }
    Ok(out)
}

async fn observe_ns(ns: Option<Netns>, label: String) -> Result<Observed> {
    let Some(ns) = ns else { return Ok(Observed::default()) };
    let rtnl = Rtnl::open("status", &ns, label)?;
    Ok(Observed {
        exists: true,
        links: rtnl.links("status").await?,
        addrs: rtnl.ipv4_addrs("status").await?,
        routes: rtnl.ipv4_routes("status").await?,
    })
}

/// The recorded servers and whether they still run.
pub fn servers(spec: &LabSpec) -> Result<Vec<(Server, bool)>> {
    let recorded = state::load(&spec.prefix)?.unwrap_or_default();
    Ok(recorded
        .servers
        .into_iter()
        .map(|s| {
            let running = serve::is_running(&s);
            (s, running)
        })
        .collect())
}

struct Expect<'a> {
    name: &'a str,
    kind: Option<&'static str>,
    mac: Option<Mac>,
    master: Option<&'a str>,
    addr: Option<Ipv4Net>,
}

/// What a container's namespace must hold: loopback, and its eth0 veth with its MAC and address.
fn container_expect(c: &ContainerSpec, prefix_len: u8) -> [Expect<'_>; 2] {
    [
        Expect { name: "lo", kind: None, mac: None, master: None, addr: None },
        Expect {
            name: &c.ifname,
            kind: Some("veth"),
            mac: Some(c.mac),
            master: None,
            addr: Ipv4Net::new(c.addr, prefix_len),
        },
    ]
}

/// Compare what was observed (host side first, then containers, as [`observe`] returns it)
/// with the spec.
pub fn judge(spec: &LabSpec, observed: &[Observed], servers: Vec<(Server, bool)>) -> LabStatus {
    let mut st =
        LabStatus { namespaces: Vec::new(), missing: Vec::new(), problems: Vec::new(), servers };
    if let Some(ov) = &spec.overlay {
        judge_overlay(spec, ov, observed, &mut st);
        return st;
    }
    let b = &spec.bridge;
    let network = |c: &ContainerSpec| spec.network(c.network).unwrap_or((b, spec.subnet));
    let bridges = (0..=spec.networks.len()).filter_map(|n| spec.network(n));
    let mut host_expect: Vec<Expect<'_>> = bridges
        .map(|(b, net)| Expect {
            name: &b.name,
            kind: Some("bridge"),
            mac: Some(b.mac),
            master: None,
            addr: Ipv4Net::new(b.addr, net.prefix_len()),
        })
        .collect();
    host_expect.extend(spec.containers.iter().map(|c| Expect {
        name: &c.host_veth,
        kind: Some("veth"),
        mac: Some(c.host_mac),
        master: Some(&network(c).0.name),
        addr: None,
    }));
    host_expect.extend(spec.outside.iter().map(|o| Expect {
        name: &o.end.host_veth,
        kind: Some("veth"),
        mac: Some(o.end.host_mac),
        master: None,
        addr: Ipv4Net::new(o.host_addr, o.subnet.prefix_len()),
    }));
    let empty = Observed::default();
    let host_obs = observed.first().unwrap_or(&empty);
    st.namespaces.push(judge_ns(
        spec.host_netns().map(str::to_owned),
        "host",
        host_obs,
        &host_expect,
        None,
        &mut st.missing,
        &mut st.problems,
    ));
    let outside = spec.outside.iter().map(|o| (&o.end, o.subnet, None));
    let ends = spec
        .containers
        .iter()
        .map(|c| {
            let (bridge, net) = network(c);
            (c, net, Some(bridge.addr))
        })
        .chain(outside);
    for (i, (c, net, gateway)) in ends.enumerate() {
        let expect = container_expect(c, net.prefix_len());
        let obs = observed.get(i + 1).unwrap_or(&empty);
        st.namespaces.push(judge_ns(
            Some(c.netns.clone()),
            &c.name,
            obs,
            &expect,
            gateway,
            &mut st.missing,
            &mut st.problems,
        ));
    }
    for (s, running) in &st.servers {
        if !running {
            st.problems.push(format!(
                "the HTTP server in netns {} (pid {}) is not running",
                s.netns, s.pid
            ));
        }
    }
    st
}

/// [`judge`] of an overlay lab: the nodes (underlay, bridge, VXLAN device, host veths), then
/// the containers (no default route: they share one subnet).
fn judge_overlay(spec: &LabSpec, ov: &OverlaySpec, observed: &[Observed], st: &mut LabStatus) {
    let empty = Observed::default();
    for (i, n) in ov.nodes.iter().enumerate() {
        let len = ov.underlay.prefix_len();
        let mut expect = vec![
            Expect { name: "lo", kind: None, mac: None, master: None, addr: None },
            Expect {
                name: &ov.underlay_ifname,
                kind: Some("veth"),
                mac: Some(n.underlay_mac),
                master: None,
                addr: Ipv4Net::new(n.underlay_addr, len),
            },
            Expect {
                name: &ov.bridge,
                kind: Some("bridge"),
                mac: Some(n.bridge_mac),
                master: None,
                addr: None,
            },
            Expect {
                name: &n.vxlan,
                kind: Some("vxlan"),
                mac: Some(n.vxlan_mac),
                master: Some(&ov.bridge),
                addr: None,
            },
        ];
        expect.extend(spec.containers.iter().filter(|c| c.node == i).map(|c| Expect {
            name: &c.host_veth,
            kind: Some("veth"),
            mac: Some(c.host_mac),
            master: Some(&ov.bridge),
            addr: None,
        }));
        let obs = observed.get(i).unwrap_or(&empty);
        st.namespaces.push(judge_ns(
            Some(n.netns.clone()),
            &n.name,
            obs,
            &expect,
            None,
            &mut st.missing,
            &mut st.problems,
        ));
    }
    for (i, c) in spec.containers.iter().enumerate() {
        let expect = container_expect(c, spec.prefix_len());
        let obs = observed.get(ov.nodes.len() + i).unwrap_or(&empty);
        st.namespaces.push(judge_ns(
            Some(c.netns.clone()),
            &c.name,
            obs,
            &expect,
            None,
            &mut st.missing,
            &mut st.problems,
        ));
    }
}

fn judge_ns(
    netns: Option<String>,
    role: &str,
    obs: &Observed,
    expect: &[Expect<'_>],
    gateway: Option<Ipv4Addr>,
    missing: &mut Vec<String>,
    problems: &mut Vec<String>,
) -> NetnsStatus {
    let label = netns.clone().unwrap_or_else(|| "host".to_owned());
    let exists = obs.exists;
    if !exists {
        missing.push(format!("netns {label}"));
    }
    let default_via = obs
        .routes
        .iter()
        .find(|r| r.dst.prefix_len() == 0 && r.table == 254)
        .and_then(|r| r.gateway);
    let links = expect
        .iter()
        .map(|e| {
            let found = obs.links.iter().find(|l| l.name == e.name).map(|l| FoundLink {
                index: l.index,
                kind: l.kind.clone(),
                mac: l.mac,
                master: l
                    .master
                    .and_then(|m| obs.links.iter().find(|x| x.index == m))
                    .map(|x| x.name.clone()),
                up: l.up,
                oper: l.oper.clone(),
                addresses: obs
                    .addrs
                    .iter()
                    .filter(|(i, _)| *i == l.index)
                    .map(|(_, a)| *a)
                    .collect(),
            });
            let id = format!("{label}/{}", e.name);
            match &found {
                None if exists => missing.push(id),
                None => {}
                Some(f) => problems.extend(link_problems(&id, e, f)),
            }
            LinkStatus { name: e.name.to_owned(), found }
        })
        .collect();
    if let Some(gw) = gateway.filter(|_| exists)
        && default_via != Some(gw)
    {
        problems.push(match default_via {
            Some(other) => format!("{label}: default route via {other}, expected via {gw}"),
            None => format!("{label}: no default route (expected via {gw})"),
        });
    }
    NetnsStatus { netns, role: role.to_owned(), exists, links, default_via }
}

fn link_problems(id: &str, e: &Expect<'_>, f: &FoundLink) -> Vec<String> {
    let mut p = Vec::new();
    if let Some(kind) = e.kind
        && f.kind.as_deref() != Some(kind)
    {
        p.push(format!(
            "{id} is a {}, expected a {kind}",
            f.kind.as_deref().unwrap_or("plain link")
        ));
    }
    if let Some(mac) = e.mac
        && f.mac != Some(mac)
    {
        let got = f.mac.map_or_else(|| "none".to_owned(), |m| m.to_string());
        p.push(format!("{id} has MAC {got}, expected {mac}"));
    }
    if let Some(m) = e.master
        && f.master.as_deref() != Some(m)
    {
        p.push(format!("{id} is not a port of {m}"));
    }
    if let Some(a) = e.addr
        && !f.addresses.contains(&a)
    {
        p.push(format!("{id} lacks address {a}"));
    }
    if !f.up {
        p.push(format!("{id} is down"));
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(index: u32, name: &str, kind: Option<&str>, mac: Mac, master: Option<u32>) -> Link {
        Link {
            index,
            name: name.into(),
            kind: kind.map(str::to_owned),
            mac: Some(mac),
            master,
            up: true,
            oper: "UP".into(),
        }
    }

    fn net(ip: Ipv4Addr, len: u8) -> Ipv4Net {
        Ipv4Net::new(ip, len).unwrap_or_else(|| panic!("bad prefix"))
    }

    /// What `observe` would read from a healthy default lab.
    fn healthy(spec: &LabSpec) -> Vec<Observed> {
        let b = &spec.bridge;
        let mut host = Observed { exists: true, ..Observed::default() };
        host.links.push(link(1, "lo", None, Mac::default(), None));
        host.links.push(link(2, &b.name, Some("bridge"), b.mac, None));
        host.addrs.push((2, net(b.addr, 16)));
        let mut all = vec![host];
        for (i, c) in spec.containers.iter().enumerate() {
            let idx = 3 + i as u32;
            all[0].links.push(link(idx, &c.host_veth, Some("veth"), c.host_mac, Some(2)));
            let mut ns = Observed { exists: true, ..Observed::default() };
            ns.links.push(link(1, "lo", None, Mac::default(), None));
            ns.links.push(link(2, "eth0", Some("veth"), c.mac, None));
            ns.addrs.push((2, net(c.addr, 16)));
            ns.routes.push(Route {
                dst: net(Ipv4Addr::UNSPECIFIED, 0),
                gateway: Some(b.addr),
                oif: Some(2),
                table: 254,
            });
            all.push(ns);
        }
        all
    }

    #[test]
    fn a_healthy_lab_is_complete() {
        let spec = LabSpec::default();
        let st = judge(&spec, &healthy(&spec), Vec::new());
        assert!(st.complete(), "{st:?}");
        assert!(!st.absent());
        assert_eq!(st.namespaces.len(), 3);
        let host = &st.namespaces[0];
        assert_eq!((host.netns.as_deref(), host.role.as_str()), (Some("vtrace-host"), "host"));
        let veth = host.links[1].found.as_ref().map(|f| f.master.clone());
        assert_eq!(veth, Some(Some("docker0".to_owned())));
        assert_eq!(st.namespaces[1].default_via, Some(Ipv4Addr::new(172, 18, 0, 1)));
        let eth0 = st.namespaces[2].links[1].found.as_ref().map(|f| f.addresses.clone());
        assert_eq!(eth0, Some(vec![net(Ipv4Addr::new(172, 18, 0, 3), 16)]));
    }

    #[test]
    fn nothing_there_is_absent_and_every_namespace_missing() {
        let spec = LabSpec::default();
        let st = judge(
            &spec,
            &[Observed::default(), Observed::default(), Observed::default()],
            Vec::new(),
        );
        assert!(st.absent());
        assert_eq!(st.missing, ["netns vtrace-host", "netns nginx-1", "netns nginx-2"]);
        assert!(st.problems.is_empty(), "{:?}", st.problems);
    }

    #[test]
    fn differences_are_named() {
        let spec = LabSpec::default();
        let mut obs = healthy(&spec);
        obs[1].links[1].up = false; // nginx-1/eth0 down
        obs[1].links[1].mac = Some(Mac([2, 0, 0, 0, 0, 9]));
        obs[2].routes.clear(); // nginx-2 without default route
        obs[2].addrs.clear();
        obs[0].links.retain(|l| l.name != spec.containers[1].host_veth);
        obs[0].links[2].master = None; // first host veth not on the bridge
        let st = judge(&spec, &obs, Vec::new());
        let v1 = &spec.containers[0].host_veth;
        let v2 = &spec.containers[1].host_veth;
        assert_eq!(st.missing, [format!("vtrace-host/{v2}")]);
        assert_eq!(
            st.problems,
            [
                format!("vtrace-host/{v1} is not a port of docker0"),
                "nginx-1/eth0 has MAC 02:00:00:00:00:09, expected 02:42:ac:12:00:02".to_owned(),
                "nginx-1/eth0 is down".to_owned(),
                "nginx-2/eth0 lacks address 172.18.0.3/16".to_owned(),
                "nginx-2: no default route (expected via 172.18.0.1)".to_owned(),
            ]
        );
        assert!(!st.complete() && !st.absent());
    }

    #[test]
    fn a_stopped_server_is_a_problem() {
        let spec = LabSpec::default();
        let s =
            Server { pid: 4242, netns: "nginx-1".into(), dir: "/run/vtrace/www/nginx-1".into() };
        let st = judge(&spec, &healthy(&spec), vec![(s, false)]);
        assert_eq!(st.problems, ["the HTTP server in netns nginx-1 (pid 4242) is not running"]);
    }
}
