//! `lab up`: make the system match a [`LabSpec`], step by step (see [`STEPS`]), reusing what
//! already exists (so a second run changes nothing), and undoing what this run made when a step
//! fails.
//!
//! Order matters: the state file is written before anything is created (so `lab down` can
//! recover from a crash), veth peers are created directly inside the container namespace, and
//! links are made quiet (no IPv6 address generation) before they come up, so nothing waits on
//! DAD or router-solicitation timers. This module does not decide what the lab is (`core::lab`)
//! nor how to remove it (`teardown`).
//!
//! [`STEPS`]: crate::core::lab::STEPS

use std::time::Instant;

use super::error::{LabError, Result};
use super::netlink::{Link, Rtnl};
use super::state::{self, Server, State};
use super::{LabReport, interrupt, preflight, serve};
use crate::core::lab::{BridgeSpec, ContainerSpec, HostSide, LabSpec};
use crate::sys::netns::{self, Netns};
use crate::sys::stop::Stop;

/// What this run created, to undo on failure.
#[derive(Debug, Default)]
struct Made {
    /// The prefix whose state file this run created.
    state_file: Option<String>,
    namespaces: Vec<String>,
    root_links: Vec<String>,
    servers: Vec<Server>,
}

/// Build the lab; on failure (or a `stop` requested between two steps) remove what this run
/// made and return the failure.
pub async fn up(spec: &LabSpec, stop: Option<&Stop>) -> Result<LabReport> {
    let mut made = Made::default();
    match build(spec, &mut made, stop).await {
        Ok(report) => Ok(report),
        Err(e) => {
            let leftovers = rollback(&made).await;
            if leftovers.is_empty() {
                Err(e)
            } else {
                Err(e.with_hint(format!(
                    "cleaning up also failed ({}): run `vtrace lab down` with the same options",
                    leftovers.join("; ")
                )))
            }
        }
    }
}

/// Before each step: stop if the user interrupted `up`, or (with the `test-hooks` feature) if a
/// test injected a fault there.
pub(super) fn checkpoint(stop: Option<&Stop>, step: &'static str) -> Result<()> {
    interrupt::check(stop, step)?;
    #[cfg(feature = "test-hooks")]
    super::fault::check(step)?;
    Ok(())
}

fn host_netns(spec: &LabSpec) -> Netns {
    match &spec.host {
        HostSide::Root => super::root_netns(),
        HostSide::Netns(n) => Netns::Named(n.clone()),
    }
}

pub(super) fn find<'a>(links: &'a [Link], name: &str) -> Option<&'a Link> {
    links.iter().find(|l| l.name == name)
}

pub(super) fn wrong_kind(step: &'static str, what: String, l: &Link, want: &str) -> LabError {
    let kind = l.kind.as_deref().unwrap_or("plain");
    LabError::other(step, what, format!("a {kind} link of that name exists, not a {want}"))
        .with_hint("remove it, or choose other names (--prefix, --bridge, --names)")
}

async fn build(spec: &LabSpec, made: &mut Made, stop: Option<&Stop>) -> Result<LabReport> {
    let start = Instant::now();
    let mut report = LabReport::default();
    let root = spec.host == HostSide::Root;

    checkpoint(stop, "preflight")?;
    let previous = state::load(&spec.prefix)?;
    let owned = previous.clone().unwrap_or_default();
    preflight::check_namespaces(spec, &owned)?;
    if root {
        let rtnl = Rtnl::open("preflight", &super::root_netns(), spec.host_label())?;
        report.warnings = preflight::check_root(spec, &rtnl, &owned).await?;
    }

    checkpoint(stop, "state")?;
    if previous.is_none() {
        made.state_file = Some(spec.prefix.clone());
    }
    let mut recorded = owned;
    recorded.merge(State::of_spec(spec));
    state::save(&spec.prefix, &recorded)?;

    checkpoint(stop, "netns")?;
    // Namespaces are independent: create them in parallel (each costs a kernel setup_net).
    let results: Vec<(&str, Result<bool>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = spec
            .namespaces()
            .into_iter()
            .map(|name| (name, scope.spawn(move || ensure_netns(name))))
            .collect();
        handles
            .into_iter()
            .map(|(name, h)| {
                let r = h.join().unwrap_or_else(|_| {
                    Err(LabError::other(
                        "netns",
                        format!("creating netns {name}"),
                        "thread panicked",
                    ))
                });
                (name, r)
            })
            .collect()
    });
    let mut first_error = None;
    for (name, r) in results {
        match r {
            Ok(true) => {
                made.namespaces.push(name.to_owned());
                report.created.push(format!("netns {name}"));
            }
            Ok(false) => {}
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    if let Some(ov) = &spec.overlay {
        super::overlay::build(spec, ov, stop, &mut report).await?;
        if spec.serve {
            checkpoint(stop, "serve")?;
            start_servers(spec, &mut recorded, made, &mut report)?;
        }
        report.elapsed = start.elapsed();
        return Ok(report);
    }

    let host = Rtnl::open("netns", &host_netns(spec), spec.host_label())?;
    let mut ctrs = Vec::with_capacity(spec.containers.len());
    for c in &spec.containers {
        let ns = Netns::Named(c.netns.clone());
        ctrs.push(Rtnl::open("netns", &ns, format!("netns {}", c.netns))?);
    }

    let outside = match &spec.outside {
        Some(o) => {
            let ns = Netns::Named(o.end.netns.clone());
            Some((o, Rtnl::open("netns", &ns, format!("netns {}", o.end.netns))?))
        }
        None => None,
    };

    checkpoint(stop, "bridge")?;
    let mut bridges = Vec::with_capacity(1 + spec.networks.len());
    for b in std::iter::once(&spec.bridge).chain(spec.networks.iter().map(|n| &n.bridge)) {
        bridges.push(ensure_bridge(b, &host, root, made, &mut report).await?);
    }

    for (c, ctr) in spec.containers.iter().zip(&ctrs) {
        checkpoint(stop, "veth")?;
        let bridge = bridges.get(c.network).copied();
        if ensure_veth(c, &host, ctr, bridge).await? {
            if root {
                made.root_links.push(c.host_veth.clone());
            }
            report
                .created
                .push(format!("veth {} in {} — {}/{}", c.host_veth, host.label, c.netns, c.ifname));
        }
    }
    if let Some((o, rtnl)) = &outside {
        checkpoint(stop, "veth")?;
        if ensure_veth(&o.end, &host, rtnl, None).await? {
            let (c, h) = (&o.end, &host.label);
            report
                .created
                .push(format!("uplink {} in {h} — {}/{}", c.host_veth, c.netns, c.ifname));
        }
    }

    checkpoint(stop, "link-up")?;
    let host_links = host.links("link-up").await?;
    if let Some(lo) = find(&host_links, "lo").filter(|_| !root) {
        host.up(lo.index, "lo").await?;
    }
    for (b, index) in
        std::iter::once(&spec.bridge).chain(spec.networks.iter().map(|n| &n.bridge)).zip(&bridges)
    {
        host.quiet_up(*index, &b.name).await?;
    }
    let ends = spec.containers.iter().zip(&ctrs).chain(outside.iter().map(|(o, r)| (&o.end, r)));
    let mut eth_indexes = Vec::with_capacity(ctrs.len() + 1);
    for (c, ctr) in ends {
        let links = ctr.links("link-up").await?;
        let missing = |what: &str| {
            LabError::other(
                "link-up",
                format!("bringing {what} up"),
                "it disappeared while building",
            )
        };
        let hv = find(&host_links, &c.host_veth).ok_or_else(|| missing(&c.host_veth))?;
        let eth = find(&links, &c.ifname).ok_or_else(|| missing(&c.ifname))?;
        host.quiet_up(hv.index, &c.host_veth).await?;
        ctr.quiet_up(eth.index, &c.ifname).await?;
        if let Some(lo) = find(&links, "lo") {
            ctr.up(lo.index, "lo").await?;
        }
        eth_indexes.push((eth.index, hv.index));
    }

    checkpoint(stop, "address")?;
    for (n, index) in bridges.iter().enumerate() {
        if let Some((b, net)) = spec.network(n) {
            host.add_addr(*index, &b.name, b.addr, net.prefix_len()).await?;
        }
    }
    for ((c, ctr), (index, _)) in spec.containers.iter().zip(&ctrs).zip(&eth_indexes) {
        let len = spec.network(c.network).map_or(spec.prefix_len(), |(_, n)| n.prefix_len());
        ctr.add_addr(*index, &c.ifname, c.addr, len).await?;
    }
    if let (Some((o, rtnl)), Some((eth, uplink))) = (&outside, eth_indexes.get(ctrs.len())) {
        let len = o.subnet.prefix_len();
        host.add_addr(*uplink, &o.end.host_veth, o.host_addr, len).await?;
        rtnl.add_addr(*eth, &o.end.ifname, o.end.addr, len).await?;
    }

    checkpoint(stop, "route")?;
    // The outside gets no route to the containers: it sees them only masqueraded.
    for (c, ctr) in spec.containers.iter().zip(&ctrs) {
        let gateway = spec.network(c.network).map_or(spec.bridge.addr, |(b, _)| b.addr);
        ctr.default_route(gateway).await?;
    }

    if spec.forwards() {
        checkpoint(stop, "nat")?;
        super::nat::apply(spec)?;
    }

    if spec.serve {
        checkpoint(stop, "serve")?;
        start_servers(spec, &mut recorded, made, &mut report)?;
    }
    report.elapsed = start.elapsed();
    Ok(report)
}

/// Make sure the bridge exists with its MAC (created if missing); its index.
async fn ensure_bridge(
    b: &BridgeSpec,
    host: &Rtnl,
    root: bool,
    made: &mut Made,
    report: &mut LabReport,
) -> Result<u32> {
    match find(&host.links("bridge").await?, &b.name) {
        Some(l) if l.kind.as_deref() != Some("bridge") => {
            let what = format!("creating bridge {} in {}", b.name, host.label);
            Err(wrong_kind("bridge", what, l, "bridge"))
        }
        Some(l) => {
            host.set_mac_master("bridge", l, b.mac, None).await?;
            Ok(l.index)
        }
        None => {
            host.add_bridge(b).await?;
            if root {
                made.root_links.push(b.name.clone());
            }
            report.created.push(format!("bridge {} in {}", b.name, host.label));
            let made_bridge = host.link("bridge", &b.name).await?;
            made_bridge.map(|l| l.index).ok_or_else(|| {
                LabError::other(
                    "bridge",
                    format!("creating bridge {} in {}", b.name, host.label),
                    "the kernel accepted it but it is not there",
                )
            })
        }
    }
}

/// Create the namespace unless it exists; true when created. A leftover file that is not a
/// namespace (from a crash inside `ip netns add`) is replaced.
fn ensure_netns(name: &str) -> Result<bool> {
    if netns::exists(name) {
        if is_netns_mount(name) {
            return Ok(false);
        }
        netns::delete(name).map_err(|e| {
            LabError::chain("netns", format!("removing the stale namespace file {name}"), &e)
        })?;
    }
    netns::create(name)
        .map_err(|e| LabError::chain("netns", format!("creating network namespace {name}"), &e))?;
    Ok(true)
}

/// True when `/run/netns/NAME` is a mounted namespace (nsfs), not a plain file.
fn is_netns_mount(name: &str) -> bool {
    const NSFS_MAGIC: i64 = 0x6e73_6673;
    let path = Netns::Named(name.to_owned()).path();
    // The field's integer type differs between platforms.
    #[allow(clippy::unnecessary_cast)]
    nix::sys::statfs::statfs(&path).is_ok_and(|s| s.filesystem_type().0 as i64 == NSFS_MAGIC)
}

/// Make sure the container's veth pair exists with the right MACs and bridge; true when it
/// was (re)created. A lone end (its peer gone) is removed and the pair made again.
async fn ensure_veth(
    c: &ContainerSpec,
    host: &Rtnl,
    ctr: &Rtnl,
    bridge: Option<u32>,
) -> Result<bool> {
    let what =
        || format!("creating veth {} in {} — {}/{}", c.host_veth, host.label, c.netns, c.ifname);
    let hv = host.link("veth", &c.host_veth).await?;
    let eth = ctr.link("veth", &c.ifname).await?;
    for l in hv.iter().chain(eth.iter()) {
        if l.kind.as_deref() != Some("veth") {
            return Err(wrong_kind("veth", what(), l, "veth"));
        }
    }
    if let (Some(hv), Some(eth)) = (&hv, &eth) {
        host.set_mac_master("veth", hv, c.host_mac, bridge).await?;
        ctr.set_mac_master("veth", eth, c.mac, None).await?;
        return Ok(false);
    }
    if let Some(hv) = &hv {
        host.del_link("veth", hv.index, &hv.name).await?;
    }
    if let Some(eth) = &eth {
        ctr.del_link("veth", eth.index, &eth.name).await?;
    }
    let peer_ns =
        Netns::Named(c.netns.clone()).open().map_err(|e| LabError::chain("veth", what(), &e))?;
    host.add_veth(c, bridge, &peer_ns).await?;
    Ok(true)
}

fn start_servers(
    spec: &LabSpec,
    recorded: &mut State,
    made: &mut Made,
    report: &mut LabReport,
) -> Result<()> {
    let Some((kind, program)) = serve::find() else {
        report.notes.push(
            "--serve: neither busybox nor nginx is installed, so no HTTP servers were started \
             (apt-get install busybox)"
                .to_owned(),
        );
        return Ok(());
    };
    for c in &spec.containers {
        let running = recorded.servers.iter().find(|s| s.netns == c.netns && serve::is_running(s));
        if let Some(s) = running {
            report.servers.push(s.clone());
            continue;
        }
        let s = serve::start(kind, &program, &c.netns, &c.name)?;
        made.servers.push(s.clone());
        recorded.servers.retain(|old| old.netns != c.netns);
        recorded.servers.insert(s.clone());
        state::save(&spec.prefix, recorded)?;
        report.created.push(format!(
            "{} httpd in netns {} (pid {})",
            kind.program(),
            c.netns,
            s.pid
        ));
        report.servers.push(s);
    }
    Ok(())
}

/// Undo what this run made (servers, root links, namespaces, state file); what could not be
/// removed is returned as messages.
async fn rollback(made: &Made) -> Vec<String> {
    let mut failed = Vec::new();
    for s in &made.servers {
        serve::stop(s);
    }
    if !made.root_links.is_empty() {
        match Rtnl::open("down", &super::root_netns(), "the root netns".into()) {
            Ok(rtnl) => {
                for name in made.root_links.iter().rev() {
                    let r = match rtnl.link("down", name).await {
                        Ok(Some(l)) => rtnl.del_link("down", l.index, name).await,
                        Ok(None) => Ok(()),
                        Err(e) => Err(e),
                    };
                    if let Err(e) = r {
                        failed.push(e.to_string());
                    }
                }
            }
            Err(e) => failed.push(e.to_string()),
        }
    }
    for name in made.namespaces.iter().rev() {
        if let Err(e) = netns::delete(name) {
            failed.push(format!("removing netns {name}: {e:#}"));
        }
    }
    if let Some(prefix) = &made.state_file
        && let Err(e) = state::remove(prefix)
    {
        failed.push(e.to_string());
    }
    failed
}
