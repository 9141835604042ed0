//! `vtrace lab up|down|status`: options → [`LabSpec`] → `sys::lab` → text or JSON.
//!
//! Owns the lab's command-line arguments and how their results are printed; it builds nothing
//! itself (that is `sys::lab`) and decides no names (that is `core::lab`).

use std::io::Write;
use std::net::Ipv4Addr;

use anyhow::Result;
use serde::Serialize;

use crate::core::lab::{ContainerSpec, HostSide, LabOptions, LabSpec, OverlaySpec};
use crate::error::Outcome;
use crate::sys::lab::{self, LabReport, LabStatus, NetnsStatus};
use crate::sys::netns;
use crate::sys::stop::Stop;

/// What `vtrace lab` was asked.
#[derive(Debug, Clone)]
pub struct Lab {
    pub action: Action,
    /// The lab's options (`serve` is set for `up --serve`).
    pub options: LabOptions,
    /// Print JSON.
    pub json: bool,
}

/// `up`, `down` or `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Up,
    Down,
    Status,
}

pub fn run(args: &Lab, stop: &Stop) -> Result<Outcome> {
    let mut out = std::io::stdout().lock();
    let spec = LabSpec::from_options(&args.options)?;
    match args.action {
        Action::Up => {
            // SIGINT/SIGTERM during `up` stop it at its next step, which removes what it made.
            let report = lab::lab_up(&spec, Some(stop))?;
            for w in &report.warnings {
                eprintln!("vtrace: warning: {w}");
            }
            if args.json {
                writeln!(out, "{}", serde_json::to_string_pretty(&UpJson::new(&spec, &report))?)?;
            } else {
                write_up(&mut out, &spec, &report)?;
            }
        }
        Action::Down => {
            lab::lab_down(&spec)?;
            // Namespaces with the lab's names that no lab state recorded are left alone.
            let kept: Vec<&str> =
                spec.namespaces().into_iter().filter(|n| netns::exists(n)).collect();
            if args.json {
                writeln!(out, "{}", serde_json::json!({ "down": true, "kept": kept }))?;
            } else {
                writeln!(out, "lab down: done")?;
            }
            for n in kept {
                eprintln!(
                    "vtrace: note: netns {n} was not made by vtrace lab (no record of it), so it \
                     was left alone: `ip netns del {n}` removes it"
                );
            }
        }
        Action::Status => {
            let status = lab::lab_status(&spec)?;
            if args.json {
                let json = serde_json::to_string_pretty(&StatusJson::new(&spec, &status))?;
                writeln!(out, "{json}")?;
            } else {
                write_status(&mut out, &spec, &status)?;
            }
        }
    }
    Ok(Outcome::Success)
}

fn write_up(out: &mut impl Write, spec: &LabSpec, r: &LabReport) -> Result<()> {
    let ms = r.elapsed.as_secs_f64() * 1e3;
    if r.created.is_empty() {
        writeln!(out, "lab up: already up, nothing to create ({ms:.1} ms)")?;
    } else {
        writeln!(out, "lab up: created {} pieces in {ms:.1} ms", r.created.len())?;
    }
    if let Some(ov) = &spec.overlay {
        return write_overlay(out, spec, ov, r);
    }
    let b = &spec.bridge;
    writeln!(
        out,
        "  host     {:<18} {} {}/{} {}",
        spec.host_label(),
        b.name,
        b.addr,
        spec.prefix_len(),
        b.mac
    )?;
    for n in &spec.networks {
        let b = &n.bridge;
        writeln!(
            out,
            "  network  {:<18} {} {}/{} {}",
            "(routed by host)",
            b.name,
            b.addr,
            n.subnet.prefix_len(),
            b.mac
        )?;
    }
    for c in spec.containers.iter().chain(spec.outside.iter().map(|o| &o.end)) {
        let len = spec.network(c.network).map_or(24, |(_, n)| n.prefix_len());
        writeln!(
            out,
            "  {:<8} netns {:<12} {} {}/{} {}  ⇄ {} (host)",
            c.name, c.netns, c.ifname, c.addr, len, c.mac, c.host_veth
        )?;
    }
    if let Some(o) = &spec.outside {
        writeln!(
            out,
            "  uplink   {} {}/{} masquerades the containers' traffic to the outside",
            o.end.host_veth,
            o.host_addr,
            o.subnet.prefix_len()
        )?;
    }
    for p in &spec.publish {
        let host = spec.outside.as_ref().map(|o| o.host_addr.to_string()).unwrap_or_default();
        writeln!(
            out,
            "  publish  {host}:{} → {} {}:{} (tcp)",
            p.host_port, p.container, p.addr, p.port
        )?;
    }
    for s in &r.servers {
        writeln!(out, "  http     netns {} pid {} serving {}", s.netns, s.pid, s.dir)?;
    }
    for n in &r.notes {
        writeln!(out, "note: {n}")?;
    }
    if let [a, b, ..] = spec.containers.as_slice() {
        writeln!(out, "try: ip netns exec {} ping -c1 {}", a.netns, b.addr)?;
    }
    Ok(())
}

/// `lab up --overlay`'s pieces: the nodes with their tunnel, the containers on them.
fn write_overlay(
    out: &mut impl Write,
    spec: &LabSpec,
    ov: &OverlaySpec,
    r: &LabReport,
) -> Result<()> {
    for (i, n) in ov.nodes.iter().enumerate() {
        let remote = ov.remote_of(i).map_or(Ipv4Addr::UNSPECIFIED, |o| o.underlay_addr);
        writeln!(
            out,
            "  {:<8} netns {:<12} {} {}/{} · {} · {} vni {} {} → {}:{}",
            n.name,
            n.netns,
            ov.underlay_ifname,
            n.underlay_addr,
            ov.underlay.prefix_len(),
            ov.bridge,
            n.vxlan,
            ov.vni,
            n.underlay_addr,
            remote,
            ov.port
        )?;
    }
    for c in &spec.containers {
        let node = ov.nodes.get(c.node).map_or("?", |n| n.name.as_str());
        writeln!(
            out,
            "  {:<8} netns {:<12} {} {}/{} {} mtu {}  ⇄ {} ({node}/{})",
            c.name,
            c.netns,
            c.ifname,
            c.addr,
            spec.prefix_len(),
            c.mac,
            ov.eth_mtu,
            c.host_veth,
            ov.bridge
        )?;
    }
    for s in &r.servers {
        writeln!(out, "  http     netns {} pid {} serving {}", s.netns, s.pid, s.dir)?;
    }
    for n in &r.notes {
        writeln!(out, "note: {n}")?;
    }
    if let [a, b, ..] = spec.containers.as_slice() {
        writeln!(
            out,
            "try: vtrace ping {} {}   (and -s 1472 --df: the overlay's MTU)",
            a.name, b.name
        )?;
    }
    Ok(())
}

fn write_status(out: &mut impl Write, spec: &LabSpec, st: &LabStatus) -> Result<()> {
    let verdict = if st.complete() {
        "complete"
    } else if st.absent() {
        "absent"
    } else {
        "incomplete"
    };
    match &spec.overlay {
        Some(ov) => writeln!(
            out,
            "lab: {verdict} (overlay: VXLAN VNI {} port {} between {}, subnet {})",
            ov.vni,
            ov.port,
            spec.host_label(),
            spec.subnet
        )?,
        None => writeln!(
            out,
            "lab: {verdict} (host side in {}, subnet {})",
            spec.host_label(),
            spec.subnet
        )?,
    }
    for ns in &st.namespaces {
        write_ns(out, ns)?;
    }
    for (s, running) in &st.servers {
        let state = if *running { "running" } else { "not running" };
        writeln!(out, "http server in netns {}: pid {} {state}", s.netns, s.pid)?;
    }
    if !st.missing.is_empty() {
        writeln!(out, "missing: {}", st.missing.join(", "))?;
    }
    for p in &st.problems {
        writeln!(out, "problem: {p}")?;
    }
    Ok(())
}

fn write_ns(out: &mut impl Write, ns: &NetnsStatus) -> Result<()> {
    let where_ =
        ns.netns.as_deref().map_or_else(|| "root netns".to_owned(), |n| format!("netns {n}"));
    let presence = if ns.exists { "present" } else { "missing" };
    let route = ns.default_via.map(|g| format!(", default via {g}")).unwrap_or_default();
    writeln!(out, "{} ({where_}): {presence}{route}", ns.role)?;
    for l in &ns.links {
        match &l.found {
            None if ns.exists => writeln!(out, "  {:<12} missing", l.name)?,
            None => {}
            Some(f) => {
                let addrs: Vec<String> = f.addresses.iter().map(|a| a.to_string()).collect();
                let master =
                    f.master.as_deref().map(|m| format!(" master {m}")).unwrap_or_default();
                writeln!(
                    out,
                    "  {:<12} {:<7} {:<4} {:<8} {:<17} {}{master}",
                    l.name,
                    f.kind.as_deref().unwrap_or("-"),
                    if f.up { "up" } else { "down" },
                    f.oper,
                    f.mac.map(|m| m.to_string()).unwrap_or_else(|| "-".into()),
                    addrs.join(" "),
                )?;
            }
        }
    }
    Ok(())
}

#[derive(Serialize)]
struct UpJson {
    created: Vec<String>,
    warnings: Vec<String>,
    notes: Vec<String>,
    elapsed_ns: u64,
    lab: SpecJson,
}

impl UpJson {
    fn new(spec: &LabSpec, r: &LabReport) -> Self {
        UpJson {
            created: r.created.clone(),
            warnings: r.warnings.clone(),
            notes: r.notes.clone(),
            elapsed_ns: u64::try_from(r.elapsed.as_nanos()).unwrap_or(u64::MAX),
            lab: SpecJson::new(spec),
        }
    }
}

#[derive(Serialize)]
struct SpecJson {
    host_netns: Option<String>,
    subnet: String,
    bridge: IfJson,
    containers: Vec<ContainerJson>,
    /// The networks after the first (`--networks`): their bridges.
    networks: Vec<NetworkJson>,
    /// The outside (`--outside`): its end of the uplink, as a container's.
    outside: Option<ContainerJson>,
    /// Published ports (`--publish`).
    publish: Vec<PublishJson>,
    /// The overlay (`--overlay`): its nodes and tunnel; `host_netns` and `bridge` are then
    /// those of the first node.
    #[serde(skip_serializing_if = "Option::is_none")]
    overlay: Option<OverlayJson>,
}

#[derive(Serialize)]
struct OverlayJson {
    vni: u32,
    port: u16,
    underlay: String,
    eth_mtu: u32,
    nodes: Vec<NodeJson>,
}

#[derive(Serialize)]
struct NodeJson {
    name: String,
    netns: String,
    underlay: IfJson,
    bridge: String,
    vxlan: String,
    local: Ipv4Addr,
    remote: Ipv4Addr,
    /// The containers on this node.
    containers: Vec<String>,
}

impl OverlayJson {
    fn new(spec: &LabSpec, ov: &OverlaySpec) -> Self {
        let len = ov.underlay.prefix_len();
        OverlayJson {
            vni: ov.vni,
            port: ov.port,
            underlay: ov.underlay.to_string(),
            eth_mtu: ov.eth_mtu,
            nodes: ov
                .nodes
                .iter()
                .enumerate()
                .map(|(i, n)| NodeJson {
                    name: n.name.clone(),
                    netns: n.netns.clone(),
                    underlay: IfJson {
                        name: ov.underlay_ifname.clone(),
                        mac: n.underlay_mac.to_string(),
                        address: format!("{}/{len}", n.underlay_addr),
                    },
                    bridge: ov.bridge.clone(),
                    vxlan: n.vxlan.clone(),
                    local: n.underlay_addr,
                    remote: ov.remote_of(i).map_or(Ipv4Addr::UNSPECIFIED, |o| o.underlay_addr),
                    containers: spec
                        .containers
                        .iter()
                        .filter(|c| c.node == i)
                        .map(|c| c.name.clone())
                        .collect(),
                })
                .collect(),
        }
    }
}

#[derive(Serialize)]
struct NetworkJson {
    subnet: String,
    bridge: IfJson,
}

#[derive(Serialize)]
struct PublishJson {
    host: String,
    container: String,
    to: String,
}

#[derive(Serialize)]
struct IfJson {
    name: String,
    mac: String,
    address: String,
}

#[derive(Serialize)]
struct ContainerJson {
    name: String,
    netns: String,
    ifname: String,
    mac: String,
    address: String,
    host_veth: String,
    host_mac: String,
    gateway: Ipv4Addr,
}

impl ContainerJson {
    fn new(c: &ContainerSpec, len: u8, gateway: Ipv4Addr) -> Self {
        ContainerJson {
            name: c.name.clone(),
            netns: c.netns.clone(),
            ifname: c.ifname.clone(),
            mac: c.mac.to_string(),
            address: format!("{}/{len}", c.addr),
            host_veth: c.host_veth.clone(),
            host_mac: c.host_mac.to_string(),
            gateway,
        }
    }
}

impl SpecJson {
    fn new(spec: &LabSpec) -> Self {
        let len = spec.prefix_len();
        if let Some(ov) = &spec.overlay {
            return SpecJson::of_overlay(spec, ov);
        }
        SpecJson {
            overlay: None,
            host_netns: match &spec.host {
                HostSide::Netns(n) => Some(n.clone()),
                HostSide::Root => None,
            },
            subnet: spec.subnet.to_string(),
            bridge: IfJson {
                name: spec.bridge.name.clone(),
                mac: spec.bridge.mac.to_string(),
                address: format!("{}/{len}", spec.bridge.addr),
            },
            containers: spec
                .containers
                .iter()
                .map(|c| {
                    let (b, net) = spec.network(c.network).unwrap_or((&spec.bridge, spec.subnet));
                    ContainerJson::new(c, net.prefix_len(), b.addr)
                })
                .collect(),
            networks: spec
                .networks
                .iter()
                .map(|n| NetworkJson {
                    subnet: n.subnet.to_string(),
                    bridge: IfJson {
                        name: n.bridge.name.clone(),
                        mac: n.bridge.mac.to_string(),
                        address: format!("{}/{}", n.bridge.addr, n.subnet.prefix_len()),
                    },
                })
                .collect(),
            outside: spec
                .outside
                .as_ref()
                .map(|o| ContainerJson::new(&o.end, o.subnet.prefix_len(), o.host_addr)),
            publish: spec
                .publish
                .iter()
                .map(|p| PublishJson {
                    host: format!(
                        "{}:{}",
                        spec.outside.as_ref().map_or(Ipv4Addr::UNSPECIFIED, |o| o.host_addr),
                        p.host_port
                    ),
                    container: p.container.clone(),
                    to: format!("{}:{}", p.addr, p.port),
                })
                .collect(),
        }
    }
}

impl SpecJson {
    /// An overlay lab: the first node stands for the host side; containers have no gateway.
    fn of_overlay(spec: &LabSpec, ov: &OverlaySpec) -> Self {
        let first = ov.nodes.first();
        SpecJson {
            host_netns: first.map(|n| n.netns.clone()),
            subnet: spec.subnet.to_string(),
            bridge: IfJson {
                name: ov.bridge.clone(),
                mac: first.map(|n| n.bridge_mac.to_string()).unwrap_or_default(),
                address: String::new(),
            },
            containers: spec
                .containers
                .iter()
                .map(|c| ContainerJson::new(c, spec.prefix_len(), Ipv4Addr::UNSPECIFIED))
                .collect(),
            networks: Vec::new(),
            outside: None,
            publish: Vec::new(),
            overlay: Some(OverlayJson::new(spec, ov)),
        }
    }
}

#[derive(Serialize)]
struct StatusJson {
    state: &'static str,
    lab: SpecJson,
    namespaces: Vec<NsJson>,
    missing: Vec<String>,
    problems: Vec<String>,
    servers: Vec<ServerJson>,
}

#[derive(Serialize)]
struct NsJson {
    /// null for the root namespace.
    netns: Option<String>,
    role: String,
    exists: bool,
    default_via: Option<Ipv4Addr>,
    links: Vec<LinkJson>,
}

#[derive(Serialize)]
struct LinkJson {
    name: String,
    exists: bool,
    index: Option<u32>,
    kind: Option<String>,
    mac: Option<String>,
    master: Option<String>,
    up: bool,
    operstate: Option<String>,
    addresses: Vec<String>,
}

#[derive(Serialize)]
struct ServerJson {
    netns: String,
    pid: i32,
    running: bool,
}

impl StatusJson {
    fn new(spec: &LabSpec, st: &LabStatus) -> Self {
        let state = if st.complete() {
            "complete"
        } else if st.absent() {
            "absent"
        } else {
            "incomplete"
        };
        StatusJson {
            state,
            lab: SpecJson::new(spec),
            namespaces: st
                .namespaces
                .iter()
                .map(|ns| NsJson {
                    netns: ns.netns.clone(),
                    role: ns.role.clone(),
                    exists: ns.exists,
                    default_via: ns.default_via,
                    links: ns
                        .links
                        .iter()
                        .map(|l| {
                            let f = l.found.as_ref();
                            LinkJson {
                                name: l.name.clone(),
                                exists: f.is_some(),
                                index: f.map(|f| f.index),
                                kind: f.and_then(|f| f.kind.clone()),
                                mac: f.and_then(|f| f.mac).map(|m| m.to_string()),
                                master: f.and_then(|f| f.master.clone()),
                                up: f.is_some_and(|f| f.up),
                                operstate: f.map(|f| f.oper.clone()),
                                addresses: f
                                    .map(|f| f.addresses.iter().map(|a| a.to_string()).collect())
                                    .unwrap_or_default(),
                            }
                        })
                        .collect(),
                })
                .collect(),
            missing: st.missing.clone(),
            problems: st.problems.clone(),
            servers: st
                .servers
                .iter()
                .map(|(s, running)| ServerJson {
                    netns: s.netns.clone(),
                    pid: s.pid,
                    running: *running,
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn up_text_names_every_piece() {
        let spec = LabSpec::default();
        let report = LabReport { created: vec!["netns nginx-1".into()], ..LabReport::default() };
        let mut out = Vec::new();
        write_up(&mut out, &spec, &report).unwrap_or_else(|e| panic!("{e}"));
        let text = String::from_utf8_lossy(&out);
        assert!(text.starts_with("lab up: created 1 pieces in 0.0 ms\n"), "{text}");
        assert!(text.contains("docker0 172.18.0.1/16 02:42:ac:12:00:01"), "{text}");
        assert!(text.contains("eth0 172.18.0.3/16 02:42:ac:12:00:03"), "{text}");
        assert!(text.ends_with("try: ip netns exec nginx-1 ping -c1 172.18.0.3\n"), "{text}");
    }
}
