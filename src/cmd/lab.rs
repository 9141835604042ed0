//! `vtrace lab up|down|status`: options → [`LabSpec`] → `sys::lab` → text or JSON.
//!
//! Owns the lab's command-line arguments and how their results are printed; it builds nothing
//! itself (that is `sys::lab`) and decides no names (that is `core::lab`).

use std::io::Write;
use std::net::Ipv4Addr;

use anyhow::Result;
use clap::{Args, Subcommand};
use serde::Serialize;

use crate::core::lab::{HostSide, Ipv4Net, LabOptions, LabSpec};
use crate::error::Outcome;
use crate::sys::lab::{self, LabReport, LabStatus, NetnsStatus};
use crate::sys::netns;

/// `vtrace lab …`
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    vtrace lab up\n  \
    ip netns exec nginx-1 ping -c1 172.18.0.3\n  \
    vtrace lab status --json\n  \
    vtrace lab up --containers 3 --serve\n  \
    vtrace lab up --in-root --subnet 10.250.0.0/24\n  \
    vtrace lab down")]
pub struct LabArgs {
    #[command(subcommand)]
    pub action: LabAction,
}

#[derive(Debug, Subcommand)]
pub enum LabAction {
    /// Build the lab (idempotent): container namespaces, veth pairs, a bridge, addresses,
    /// default routes. A failure half way removes what it made.
    Up(LabUpArgs),
    /// Remove everything the lab made (also after a crashed `up`); missing pieces are fine.
    Down(LabOpts),
    /// Show what of the lab exists (namespaces, links and their state, addresses) and what is
    /// missing.
    Status(LabOpts),
}

#[derive(Debug, Args)]
pub struct LabUpArgs {
    #[command(flatten)]
    pub opts: LabOpts,
    /// Start an HTTP server (busybox httpd or nginx, if installed) on port 80 in every
    /// container; `lab down` stops it.
    #[arg(long)]
    pub serve: bool,
}

/// The options that name a lab; give `down` and `status` the same ones as `up`.
#[derive(Debug, Args)]
pub struct LabOpts {
    /// Container names (each gets a namespace of that name), comma-separated.
    #[arg(long, value_name = "NAME,…", value_delimiter = ',', conflicts_with = "containers")]
    pub names: Option<Vec<String>>,
    /// Number of containers, named nginx-1 … nginx-N.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub containers: usize,
    /// Bridge name [default: docker0 in the host namespace, vtrace0 with --in-root].
    #[arg(long, value_name = "NAME")]
    pub bridge: Option<String>,
    /// The lab's subnet: .1 is the bridge (gateway), .2, .3, … the containers.
    #[arg(long, value_name = "CIDR", default_value = "172.18.0.0/16", value_parser = parse_subnet)]
    pub subnet: Ipv4Net,
    /// Prepended to every name the lab creates (namespaces; with --in-root also the bridge),
    /// so that several labs can coexist.
    #[arg(long, value_name = "P", default_value = "")]
    pub prefix: String,
    /// Build the host side (bridge and host veth ends) in the root namespace, as Docker does,
    /// instead of a namespace of its own. Refused if the subnet overlaps an existing route.
    #[arg(long)]
    pub in_root: bool,
    /// Name of the namespace holding the host side (without --in-root).
    #[arg(long, value_name = "NAME", default_value = "vtrace-host", conflicts_with = "in_root")]
    pub host_netns: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

fn parse_subnet(s: &str) -> Result<Ipv4Net, String> {
    s.parse().map_err(|e: crate::core::lab::LabSpecError| e.to_string())
}

impl LabOpts {
    /// The lab these options describe.
    pub fn spec(&self, serve: bool) -> Result<LabSpec> {
        let o = LabOptions {
            names: self.names.clone(),
            containers: self.containers,
            bridge: self.bridge.clone(),
            subnet: self.subnet,
            prefix: self.prefix.clone(),
            in_root: self.in_root,
            host_netns: Some(self.host_netns.clone()),
            serve,
        };
        Ok(LabSpec::from_options(&o)?)
    }
}

pub fn run(args: &LabArgs) -> Result<Outcome> {
    let mut out = std::io::stdout().lock();
    match &args.action {
        LabAction::Up(a) => {
            let spec = a.opts.spec(a.serve)?;
            // SIGINT/SIGTERM during `up` stop it at its next step, which removes what it made.
            let stop = crate::sys::stop::Stop::on_signals()?;
            let report = lab::lab_up(&spec, Some(&stop))?;
            for w in &report.warnings {
                eprintln!("vtrace: warning: {w}");
            }
            if a.opts.json {
                writeln!(out, "{}", serde_json::to_string_pretty(&UpJson::new(&spec, &report))?)?;
            } else {
                write_up(&mut out, &spec, &report)?;
            }
        }
        LabAction::Down(o) => {
            let spec = o.spec(false)?;
            lab::lab_down(&spec)?;
            // Namespaces with the lab's names that no lab state recorded are left alone.
            let kept: Vec<&str> =
                spec.namespaces().into_iter().filter(|n| netns::exists(n)).collect();
            if o.json {
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
        LabAction::Status(o) => {
            let spec = o.spec(false)?;
            let status = lab::lab_status(&spec)?;
            if o.json {
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
    for c in &spec.containers {
        writeln!(
            out,
            "  {:<8} netns {:<12} {} {}/{} {}  ⇄ {} (host)",
            c.name,
            c.netns,
            c.ifname,
            c.addr,
            spec.prefix_len(),
            c.mac,
            c.host_veth
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

fn write_status(out: &mut impl Write, spec: &LabSpec, st: &LabStatus) -> Result<()> {
    let verdict = if st.complete() {
        "complete"
    } else if st.absent() {
        "absent"
    } else {
        "incomplete"
    };
    writeln!(out, "lab: {verdict} (host side in {}, subnet {})", spec.host_label(), spec.subnet)?;
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

impl SpecJson {
    fn new(spec: &LabSpec) -> Self {
        let len = spec.prefix_len();
        SpecJson {
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
                .map(|c| ContainerJson {
                    name: c.name.clone(),
                    netns: c.netns.clone(),
                    ifname: c.ifname.clone(),
                    mac: c.mac.to_string(),
                    address: format!("{}/{len}", c.addr),
                    host_veth: c.host_veth.clone(),
                    host_mac: c.host_mac.to_string(),
                    gateway: spec.bridge.addr,
                })
                .collect(),
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
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        action: LabAction,
    }

    fn parse(args: &[&str]) -> Result<LabAction, clap::Error> {
        Cli::try_parse_from(std::iter::once("lab").chain(args.iter().copied())).map(|c| c.action)
    }

    #[test]
    fn up_options_make_the_spec() {
        let Ok(LabAction::Up(a)) = parse(&["up", "--names", "web,db", "--prefix", "x-", "--serve"])
        else {
            panic!("lab up did not parse");
        };
        let spec = a.opts.spec(a.serve).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(spec.namespaces(), ["x-vtrace-host", "x-web", "x-db"]);
        assert!(spec.serve);
        let Ok(LabAction::Status(o)) =
            parse(&["status", "--in-root", "--subnet", "10.9.0.0/24", "--bridge", "b"])
        else {
            panic!("lab status did not parse");
        };
        let spec = o.spec(false).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((spec.host_netns(), spec.bridge.name.as_str()), (None, "b"));
        assert_eq!(spec.bridge.addr, Ipv4Addr::new(10, 9, 0, 1));
    }

    #[test]
    fn contradictory_or_bad_options_are_refused() {
        assert!(parse(&["up", "--names", "a", "--containers", "3"]).is_err());
        assert!(parse(&["up", "--in-root", "--host-netns", "h"]).is_err());
        assert!(parse(&["down", "--subnet", "10.0.0.0"]).is_err());
        let Ok(LabAction::Down(o)) = parse(&["down", "--subnet", "10.0.0.1/24"]) else {
            panic!("lab down did not parse");
        };
        let err = o.spec(false).err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("subnet 10.0.0.1/24 has host bits set: did you mean 10.0.0.0/24?")
        );
    }

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
