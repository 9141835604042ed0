//! Discovery: the [`Topology`] of every network namespace on the machine, over rtnetlink.
//!
//! One socket per namespace, each opened on its own fresh thread inside that namespace
//! ([`netns::sockets_in`]), then all namespaces are dumped concurrently on one tokio runtime (of a
//! thread of its own, [`netns::block_on`]) and their veths joined to their peers. No process is
//! spawned per namespace. Meanwhile another thread reads each namespace's listening sockets
//! ([`listening`]); a namespace whose sockets cannot be read keeps an empty list and a note.
//! Discovery only reads: it never changes links, addresses, routes or namespace ids.

pub mod convert;
pub mod dump;
pub mod listening;
pub mod namespaces;
pub mod peers;

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;

use futures::future::join_all;
use netlink_sys::protocols::NETLINK_ROUTE;
use thiserror::Error;

use crate::core::topology::{Namespace, NsIdx, NsKind, Sysctl, Topology};
use crate::sys::netlink::dump::NsDump;
use crate::sys::netlink::namespaces::FoundNs;
use crate::sys::netns::{self, Target, WorkerError};
use crate::sys::sysctl;

/// Why discovery failed.
#[derive(Debug, Error)]
pub enum DiscoveryError {
    #[error(
        "reading the host's network namespace ({path}) needs CAP_SYS_PTRACE, and entering \
         namespaces CAP_SYS_ADMIN: run vtrace as root ({source})"
    )]
    NoAccess { path: PathBuf, source: std::io::Error },
    #[error("opening an rtnetlink socket in namespace {label}: {reason}")]
    Socket { label: String, reason: String },
    #[error("starting the netlink event loop: {0:#}")]
    Runtime(anyhow::Error),
    #[error("the {what} dump of namespace {label} failed: {source}")]
    Dump { label: String, what: &'static str, source: rtnetlink::Error },
}

/// The topology of every namespace of the machine (root, named, Docker, processes').
pub fn discover() -> Result<Topology, DiscoveryError> {
    let found = namespaces::enumerate().map_err(|source| DiscoveryError::NoAccess {
        path: crate::sys::netns::Netns::Root.path(),
        source,
    })?;
    discover_found(found)
}

/// The same without the listening sockets (traces need them only for the target of a service
/// probe: [`crate::sys::sockdiag::listening_in`] reads that one namespace).
pub fn discover_paths() -> Result<Topology, DiscoveryError> {
    let found = namespaces::enumerate().map_err(|source| DiscoveryError::NoAccess {
        path: crate::sys::netns::Netns::Root.path(),
        source,
    })?;
    discover_links(found).map(|(topo, _)| topo)
}

/// The topology of the given namespaces. A process namespace that vanished meanwhile is left
/// out; any other failure is an error.
pub fn discover_found(found: Vec<FoundNs>) -> Result<Topology, DiscoveryError> {
    let files: Vec<listening::NsFile> = found.iter().map(listening::NsFile::of).collect();
    std::thread::scope(|s| {
        let listeners = std::thread::Builder::new()
            .name("vtrace-listening".to_owned())
            .spawn_scoped(s, || listening::read_all(&files));
        let links = discover_links(found);
        let listeners = match listeners {
            Ok(handle) => handle.join().unwrap_or_default(),
            Err(_) => Vec::new(),
        };
        let (mut topo, kept) = links?;
        for (ns, i) in topo.namespaces.iter_mut().zip(kept) {
            match listeners.get(i) {
                Some(Ok(l)) => ns.listening.clone_from(l),
                Some(Err(reason)) => ns.listening_note = Some(reason.clone()),
                None => ns.listening_note = Some("the listening sockets were not read".into()),
            }
        }
        Ok(topo)
    })
}

/// The links, addresses, routes… of `found` over rtnetlink, and the index in `found` of each
/// namespace of the topology.
fn discover_links(found: Vec<FoundNs>) -> Result<(Topology, Vec<usize>), DiscoveryError> {
    let sockets = open_sockets(&found);
    let mut kept: Vec<(FoundNs, OwnedFd, Sysctl)> = Vec::with_capacity(found.len());
    let mut kept_idx = Vec::with_capacity(found.len());
    for (i, (ns, socket)) in found.into_iter().zip(sockets).enumerate() {
        match socket {
            Ok((fd, sysctl)) => {
                kept.push((ns, fd, sysctl));
                kept_idx.push(i);
            }
            Err(_) if ns.kind == NsKind::Process => {}
            Err(reason) => return Err(DiscoveryError::Socket { label: ns.label, reason }),
        }
    }
    let topo = netns::block_on(Target::Here, "vtrace-discover", move || discover_async(kept))
        .map_err(|e| DiscoveryError::Runtime(e.into()))??;
    Ok((topo, kept_idx))
}

/// Open one rtnetlink socket inside each namespace, all at once (one thread each), entering
/// through the descriptor enumeration holds: a namespace deleted meanwhile (`ip netns del` by
/// someone else) is still the one that was listed, never a missing or half-made file. The same
/// thread reads the namespace's routing switches ([`sysctl::read_here`]).
fn open_sockets(found: &[FoundNs]) -> Vec<Result<(OwnedFd, Sysctl), String>> {
    let targets: Vec<Target<'_>> =
        found.iter().map(|ns| Target::Open { file: &ns.file, path: &ns.path }).collect();
    let open = || Ok((netns::socket_here(NETLINK_ROUTE)?, sysctl::read_here()));
    netns::each_in(&targets, "vtrace-socket", open)
        .into_iter()
        .map(|r| r.map_err(|e| reason(&e)))
        .collect()
}

/// Why a socket could not be opened: what to do, then the errno in parentheses.
fn reason(e: &anyhow::Error) -> String {
    match e.downcast_ref::<WorkerError>() {
        Some(WorkerError::Enter { source, .. }) => format!("{e} ({source})"),
        _ => format!("{e:#}"),
    }
}

async fn discover_async(kept: Vec<(FoundNs, OwnedFd, Sysctl)>) -> Result<Topology, DiscoveryError> {
    let mut handles = Vec::with_capacity(kept.len());
    let mut spaces = Vec::with_capacity(kept.len());
    let mut sysctls = Vec::with_capacity(kept.len());
    for (ns, fd, sysctl) in kept {
        handles.push(crate::sys::rtnl::handle_of(fd));
        spaces.push(ns);
        sysctls.push(sysctl);
    }
    let dumps = join_all(handles.iter().map(dump::dump)).await;
    let mut ok_dumps: Vec<NsDump> = Vec::with_capacity(dumps.len());
    for (ns, d) in spaces.iter().zip(dumps) {
        match d {
            Ok(d) => ok_dumps.push(d),
            Err(e) => {
                return Err(DiscoveryError::Dump {
                    label: ns.label.clone(),
                    what: e.what,
                    source: e.source,
                });
            }
        }
    }
    let views: Vec<peers::NsView<'_>> = handles
        .iter()
        .zip(&spaces)
        .zip(&ok_dumps)
        .map(|((handle, ns), d)| peers::NsView { handle, fd: ns.file.as_raw_fd(), links: &d.links })
        .collect();
    let peer_map = peers::resolve(&views).await;
    let mut topo = Topology { namespaces: Vec::with_capacity(spaces.len()) };
    for (i, ((ns, d), sysctl)) in spaces.iter().zip(ok_dumps).zip(sysctls).enumerate() {
        let mut n = assemble(ns, d);
        n.sysctl = sysctl;
        for link in &mut n.links {
            link.peer = peer_map.get(&(NsIdx(i), link.ifindex)).copied();
        }
        topo.namespaces.push(n);
    }
    Ok(topo)
}

/// One namespace of the model from its dumps (peers not set).
fn assemble(ns: &FoundNs, d: NsDump) -> Namespace {
    let mut n = Namespace::new(ns.label.clone(), ns.kind, ns.path.clone(), ns.id.1);
    n.links = d.links.into_iter().map(|r| r.link).collect();
    for (ifindex, addr) in d.addrs {
        if let Some(link) = n.links.iter_mut().find(|l| l.ifindex == ifindex) {
            link.addrs.push(addr);
        }
    }
    for (ifindex, state) in d.port_states {
        if let Some(link) = n.links.iter_mut().find(|l| l.ifindex == ifindex && l.master.is_some())
        {
            link.bridge_port_state = Some(state);
        }
    }
    n.routes = d.routes;
    n.rules = d.rules;
    n.neighbours = d.neighbours;
    n.fdb = d.fdb;
    // A VXLAN device's own FDB entries say where each MAC is tunnelled to.
    for link in &mut n.links {
        let ifindex = link.ifindex;
        if let Some(v) = link.vxlan.as_mut() {
            v.fdb = n
                .fdb
                .iter()
                .filter(|e| e.port == ifindex)
                .filter_map(|e| Some((e.mac, e.dst?)))
                .collect();
        }
    }
    n
}
