//! `vtrace topo [ENDPOINT…] [--json]`: discover every namespace, resolve the endpoints, compute
//! the path from each endpoint to the next, and print the picture.
//!
//! Orchestration only: discovery is `sys::netlink`, endpoints `sys::endpoint`, Docker's names
//! and networks `sys::docker`, the other runtimes' `sys::runtime`, paths `core::path`,
//! formatting `report::topo`.

use std::io::Write;
use std::os::unix::fs::MetadataExt;

use anyhow::{Context, Result};

use crate::core::path::{Target, path, with_branches};
use crate::core::topology::nat::NatAction;
use crate::core::topology::{
    DockerNetwork, NsIdx, NsKind, Runtime, RuntimeNetwork, Topology, Workload,
};
use crate::error::Outcome;
use crate::report::topo::{PathResult, report, text};
use crate::sys::docker;
use crate::sys::endpoint::{Endpoint, EndpointError, endpoint_of, resolve_in};
use crate::sys::netlink::discover;
use crate::sys::netns::Netns;
use crate::sys::nft;
use crate::sys::runtime::{RuntimeError, containerd, pod, podman};

/// What `vtrace topo` was asked.
#[derive(Debug, Clone)]
pub struct Topo {
    /// Endpoints to show (and the path between consecutive ones); all namespaces when none.
    pub endpoints: Vec<String>,
    /// Print one JSON object.
    pub json: bool,
}

pub fn run(args: &Topo) -> Result<Outcome> {
    // The runtimes are asked (a few CLI runs each) while the namespaces are dumped.
    let ahead = crate::sys::endpoint::prefetch(&args.endpoints);
    let (topo, docker, others) = std::thread::scope(|s| {
        let docker = s.spawn(ask_docker);
        let others = s.spawn(ask_runtimes);
        (
            discover(),
            docker.join().unwrap_or_else(|_| Ok(DockerAnswers::none())),
            others.join().unwrap_or_default(),
        )
    });
    let mut topo = topo.context("discovering the network namespaces")?;
    ahead.wait();
    // The NAT rules of the namespaces that route (one `nft -j list ruleset` each); a namespace
    // whose ruleset cannot be read (no nft) shows none.
    for ns in topo.namespaces.iter_mut().filter(|n| n.sysctl.ip_forward == Some(true)) {
        let rules = nft::nat_rules(&Netns::Path(ns.path.clone())).unwrap_or_default();
        ns.nat = rules.into_iter().filter(|r| r.action != NatAction::Return).collect();
    }
    let docker_nets = docker_annotations(&mut topo, docker);
    let runtime_nets = runtime_annotations(&mut topo, others);
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
        ep.relabel(&mut topo, idx);
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
                    // With the branches a trace would capture where policy routing decides.
                    result: path(&topo, *ai, target).map(|p| with_branches(&topo, &p)),
                })
            }
            _ => None,
        })
        .collect();
    let selection = selection(&located, &paths);
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(
            &mut out,
            &report(&topo, &selection, &paths, &docker_nets, &runtime_nets),
        )
        .context("writing JSON")?;
        writeln!(out).context("writing JSON")?;
    } else {
        out.write_all(text(&topo, &selection, &paths, &docker_nets, &runtime_nets).as_bytes())
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
            topo.relabel(idx, &c.name, false);
        }
    }
    answers.networks.unwrap_or_else(|e| {
        eprintln!("vtrace: Docker networks left out: {e}");
        Vec::new()
    })
}

/// Podman's running containers and its networks.
type PodmanAnswer = Result<(Vec<podman::Container>, Vec<RuntimeNetwork>), RuntimeError>;

/// What Podman, containerd and the pods say (each `None` when it cannot be asked: not
/// installed, no socket).
#[derive(Default)]
struct RuntimeAnswers {
    podman: Option<PodmanAnswer>,
    containerd: Option<Result<Vec<Workload>, RuntimeError>>,
    pods: Option<Result<Vec<Workload>, RuntimeError>>,
}

fn ask_runtimes() -> RuntimeAnswers {
    std::thread::scope(|s| {
        let p = s.spawn(|| {
            podman::installed().then(|| {
                let containers = podman::running_containers()?;
                let nets = podman::networks(&containers)?;
                Ok((containers, nets))
            })
        });
        let c = s.spawn(|| containerd::available().then(containerd::running_workloads));
        let k = s.spawn(|| pod::available().then(pod::running_workloads));
        RuntimeAnswers {
            podman: p.join().unwrap_or(None),
            containerd: c.join().unwrap_or(None),
            pods: k.join().unwrap_or(None),
        }
    })
}

/// The namespaces of Podman's containers, containerd's and the pods labelled with their names
/// (also Podman's `netns-<uuid>` and CNI's `cni-<uuid>`), and the runtimes' networks: Podman's
/// own, containerd's containers and the pods grouped by the bridge behind them. A runtime that
/// failed to answer is left out with a note on stderr.
fn runtime_annotations(topo: &mut Topology, answers: RuntimeAnswers) -> Vec<RuntimeNetwork> {
    let mut nets = Vec::new();
    let label = |topo: &mut Topology, w: &Workload| {
        if let Some(idx) = w.inode.and_then(|i| topo.find_inode(i)) {
            topo.relabel(idx, &w.label, true);
        }
    };
    match answers.podman {
        Some(Ok((containers, networks))) => {
            for c in &containers {
                let inode = c.netns_path().as_deref().and_then(containerd::inode_of);
                label(topo, &Workload { label: c.name.clone(), id: c.id.clone(), inode });
            }
            nets.extend(networks);
        }
        Some(Err(e)) => eprintln!("vtrace: Podman's containers left out: {e}"),
        None => {}
    }
    for (runtime, answer) in
        [(Runtime::Kubernetes, answers.pods), (Runtime::Containerd, answers.containerd)]
    {
        match answer {
            Some(Ok(workloads)) => {
                for w in &workloads {
                    label(topo, w);
                }
                if !workloads.is_empty() {
                    nets.extend(topo.bridge_groups(runtime, &workloads));
                }
            }
            Some(Err(e)) => eprintln!("vtrace: {runtime:?} workloads left out: {e}"),
            None => {}
        }
    }
    nets.sort_by_key(|n| n.runtime);
    nets
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
