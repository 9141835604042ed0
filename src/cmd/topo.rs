//! `vtrace topo [ENDPOINT…] [--json]`: discover every namespace, resolve the endpoints, compute
//! the path from each endpoint to the next, and print the picture.
//!
//! Orchestration only: discovery is `sys::netlink`, endpoints `sys::endpoint`, Docker's names
//! and networks `sys::docker`, paths `core::path`, formatting `report::topo`.

use std::io::Write;
use std::os::unix::fs::MetadataExt;

use anyhow::{Context, Result};

use crate::core::path::{Target, path};
use crate::core::topology::nat::NatAction;
use crate::core::topology::{DockerNetwork, NsIdx, NsKind, Topology};
use crate::error::Outcome;
use crate::report::topo::{PathResult, report, text};
use crate::sys::docker;
use crate::sys::endpoint::{Endpoint, EndpointError, endpoint_of, resolve_in};
use crate::sys::netlink::discover;
use crate::sys::netns::Netns;
use crate::sys::nft;

/// What `vtrace topo` was asked.
#[derive(Debug, Clone)]
pub struct Topo {
    /// Endpoints to show (and the path between consecutive ones); all namespaces when none.
    pub endpoints: Vec<String>,
    /// Print one JSON object.
    pub json: bool,
}

pub fn run(args: &Topo) -> Result<Outcome> {
    // Docker is asked (a few CLI runs) while the namespaces are dumped.
    let (topo, docker) = std::thread::scope(|s| {
        let docker = s.spawn(ask_docker);
        (discover(), docker.join().unwrap_or_else(|_| Ok(DockerAnswers::none())))
    });
    let mut topo = topo.context("discovering the network namespaces")?;
    // The NAT rules of the namespaces that route (one `nft -j list ruleset` each); a namespace
    // whose ruleset cannot be read (no nft) shows none.
    for ns in topo.namespaces.iter_mut().filter(|n| n.sysctl.ip_forward == Some(true)) {
        let rules = nft::nat_rules(&Netns::Path(ns.path.clone())).unwrap_or_default();
        ns.nat = rules.into_iter().filter(|r| r.action != NatAction::Return).collect();
    }
    let docker_nets = docker_annotations(&mut topo, docker);
    let mut located: Vec<(Endpoint, NsIdx)> = Vec::new();
    for spec in &args.endpoints {
        let ep = match (resolve_in(spec, &topo), located.last()) {
            // Several isolated labs may share a subnet: the one the previous endpoint's routes
            // lead to is meant.
            (Err(EndpointError::Ambiguous { ip, owners }), Some((_, prev))) => {
                let reached = path(&topo, *prev, Target::Ip(ip)).ok();
                reached.and_then(|p| endpoint_of(&topo, p.dst, Some(ip))).with_context(|| {
                    format!(
                        "endpoint {spec:?}: {ip} is owned by several namespaces ({owners}), \
                         none reachable from the previous endpoint"
                    )
                })?
            }
            (resolved, _) => resolved.with_context(|| format!("endpoint {spec:?}"))?,
        };
        let idx = ep.find_in(&topo).with_context(|| {
            format!(
                "endpoint {spec:?} ({}) was not among the discovered namespaces: did it just \
                 disappear?",
                ep.netns.path().display()
            )
        })?;
        relabel(&mut topo, idx, &ep.label);
        located.push((ep, idx));
    }
    let paths: Vec<PathResult> = located
        .windows(2)
        .filter_map(|w| match w {
            [(a, ai), (b, bi)] => {
                let target = b.ip.map_or(Target::Ns(*bi), Target::Ip);
                Some(PathResult {
                    from: a.label.clone(),
                    to: b.label.clone(),
                    result: path(&topo, *ai, target),
                })
            }
            _ => None,
        })
        .collect();
    let selection = selection(&located, &paths);
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &report(&topo, &selection, &paths, &docker_nets))
            .context("writing JSON")?;
        writeln!(out).context("writing JSON")?;
    } else {
        out.write_all(text(&topo, &selection, &paths, &docker_nets).as_bytes())
            .context("writing the topology")?;
    }
    out.flush().context("writing the topology")?;
    Ok(if paths.iter().all(|p| p.result.is_ok()) { Outcome::Success } else { Outcome::NotReached })
}

/// What Docker says: its running containers and its networks.
struct DockerAnswers {
    containers: Vec<docker::Container>,
    networks: Result<Vec<DockerNetwork>, docker::DockerError>,
}

impl DockerAnswers {
    fn none() -> Self {
        DockerAnswers { containers: Vec::new(), networks: Ok(Vec::new()) }
    }
}

/// Ask Docker, when it is installed (`Ok` with nothing when it is not).
fn ask_docker() -> Result<DockerAnswers, docker::DockerError> {
    if !docker::installed() {
        return Ok(DockerAnswers::none());
    }
    let containers = docker::running_containers()?;
    Ok(DockerAnswers { containers, networks: docker::networks() })
}

/// Docker's networks, and the namespaces of its running containers labelled with the
/// containers' names. Without Docker (or with its daemon down while no sandbox exists), nothing;
/// with sandboxes but no daemon, a note on stderr.
fn docker_annotations(
    topo: &mut Topology,
    answers: Result<DockerAnswers, docker::DockerError>,
) -> Vec<DockerNetwork> {
    let answers = match answers {
        Ok(a) => a,
        Err(e) => {
            if topo.namespaces.iter().any(|n| n.kind == NsKind::Docker) {
                eprintln!("vtrace: Docker sandboxes keep their file names: {e}");
            }
            return Vec::new();
        }
    };
    for c in &answers.containers {
        let inode = c.netns_path().and_then(|p| std::fs::metadata(p).ok()).map(|m| m.ino());
        if let Some(idx) = inode.and_then(|i| topo.find_inode(i)) {
            relabel(topo, idx, &c.name);
        }
    }
    answers.networks.unwrap_or_else(|e| {
        eprintln!("vtrace: Docker networks left out: {e}");
        Vec::new()
    })
}

/// Give a namespace known only by its file (a Docker sandbox, a process's) the name the user
/// used for it, unless that name is already taken.
fn relabel(topo: &mut Topology, idx: NsIdx, label: &str) {
    if topo.find_label(label).is_some() {
        return;
    }
    if let Some(ns) = topo.namespaces.get_mut(idx.0) {
        if matches!(ns.kind, NsKind::Docker | NsKind::Process) {
            ns.label = label.to_owned();
        }
    }
}

/// The endpoints' namespaces and every namespace their paths cross (empty: all).
fn selection(located: &[(Endpoint, NsIdx)], paths: &[PathResult]) -> Vec<NsIdx> {
    let mut out: Vec<NsIdx> = located.iter().map(|(_, i)| *i).collect();
    for p in paths {
        if let Ok(path) = &p.result {
            out.extend(path.points.iter().map(|pt| pt.ns));
        }
    }
    out.sort();
    out.dedup();
    out
}
