//! Endpoint resolution: what the user typed (`nginx-1`, `netns:lab`, `docker:web`,
//! `podman:web`, `containerd:[NS/]ID`, `pod:[NS/]NAME`, `pid:1234`, `path:/proc/1234/ns/net`,
//! `172.18.0.3`) → the network namespace to work in.
//!
//! A bare name is tried as a named namespace (`/run/netns/NAME`) and as a container or pod of
//! every runtime (`bare`); a prefix picks one. A container is labelled with its name (a pod with
//! its name, or `NAMESPACE/NAME` outside `default`), also when given by id. An IP address
//! resolves to the one discovered namespace that owns it. Names are validated before they become
//! paths or arguments (`spec`). This module finds namespaces; it never enters or changes them.
//!
//! Laid out as: this file (the [`Endpoint`], its errors, resolution of each kind of spec),
//! `spec` (parsing) and `bare` (a bare name across the runtimes).

mod bare;
mod spec;

pub use bare::Prefetch;
pub use spec::{SYNTAX, Spec, parse};

/// Ask the runtimes about the names among `specs` ahead (bare names: every runtime;
/// `docker:` and `podman:` names: that runtime), on a thread of its own, while the caller
/// discovers the namespaces: resolving them afterwards takes the answers instead of asking
/// again, one question per runtime for all the names.
pub fn prefetch(specs: &[String]) -> Prefetch {
    let (mut bare, mut prefixed) = (Vec::new(), Vec::new());
    for spec in specs {
        match parse(spec) {
            Ok(Spec::Bare(name)) => bare.push(name),
            Ok(Spec::Docker(name)) => prefixed.push((Runtime::Docker, name)),
            Ok(Spec::Podman(name)) => prefixed.push((Runtime::Podman, name)),
            _ => {}
        }
    }
    bare::prefetch(bare, prefixed)
}

/// What `spec` resolves to when no runtime has a container or pod of that name: a bare name that
/// is a named namespace, that namespace; `None` for any other spec. A caller may go ahead with
/// it while the runtimes are asked ([`prefetch`]), and must check it against [`resolve_in`]
/// once they have answered: a runtime may answer to the name too (the name is then ambiguous,
/// or names the runtime's container in that namespace).
pub fn presumed(spec: &str) -> Option<Endpoint> {
    match parse(spec).ok()? {
        Spec::Bare(name) if netns::exists(&name) => {
            Some(Endpoint::plain(name.clone(), Netns::Named(name)))
        }
        _ => None,
    }
}

/// True when resolving `spec` asks a container runtime (a bare name, `docker:`, `podman:`,
/// `containerd:` or `pod:`).
pub fn asks_runtime(spec: &str) -> bool {
    !matches!(parse(spec), Ok(Spec::Ip(_) | Spec::Netns(_) | Spec::Pid(_) | Spec::Path(_)))
}

use std::net::IpAddr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::core::topology::{NsIdx, NsKind, Runtime, Topology};
use crate::sys::docker::{self, DockerError};
use crate::sys::netlink::{self, DiscoveryError};
use crate::sys::netns::{self, Netns};
use crate::sys::runtime::{self, Found, RuntimeError, containerd, pod, podman};

/// A resolved endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// How to name it in reports (netns or container name, `pid:N`, the namespace's label).
    pub label: String,
    pub netns: Netns,
    /// The address, when the endpoint was given as one.
    pub ip: Option<IpAddr>,
    /// The runtime whose container or pod it is (its name then labels the namespace, also a
    /// named one such as Podman's `netns-<uuid>` or CNI's `cni-<uuid>`).
    pub runtime: Option<Runtime>,
    /// What the user should know about the path from it (a rootless container's user-mode
    /// network).
    pub note: Option<String>,
}

impl Endpoint {
    /// An endpoint no runtime named.
    fn plain(label: String, netns: Netns) -> Endpoint {
        Endpoint { label, netns, ip: None, runtime: None, note: None }
    }

    fn from_found(f: Found) -> Endpoint {
        Endpoint {
            label: f.label,
            netns: Netns::Path(f.netns),
            ip: None,
            runtime: Some(f.runtime),
            note: f.note,
        }
    }

    /// Name its namespace in `topo` after it (see [`Topology::relabel`]).
    pub fn relabel(&self, topo: &mut Topology, idx: NsIdx) {
        topo.relabel(idx, &self.label, self.runtime.is_some());
    }
}

/// Why an endpoint could not be resolved.
#[derive(Debug, Error)]
pub enum EndpointError {
    #[error("empty endpoint: give {SYNTAX}")]
    Empty,
    #[error("{0}")]
    InvalidName(String),
    #[error(
        "invalid container name {0:?}: Docker names are letters, digits, '_', '.', '-' and do not start with '-'"
    )]
    InvalidContainer(String),
    #[error(
        "invalid containerd:{0}: give containerd:ID or containerd:NAMESPACE/ID (letters, digits, \
         '_', '.', '-', not starting with '-')"
    )]
    InvalidContainerd(String),
    #[error(
        "invalid pod:{0}: give pod:NAME or pod:NAMESPACE/NAME (letters, digits, '_', '.', '-', \
         not starting with '-')"
    )]
    InvalidPod(String),
    #[error("invalid pid {0:?} in pid:PID: give a process id such as pid:1234")]
    InvalidPid(String),
    #[error("path:{0} is not an absolute path to a namespace file (e.g. path:/proc/1234/ns/net)")]
    InvalidPath(PathBuf),
    #[error("no network namespace named {0:?}: `ip netns list` shows what exists")]
    NoNetns(String),
    #[error("{0} is not a network namespace file (e.g. /proc/1234/ns/net or /run/netns/NAME)")]
    NotANamespace(PathBuf),
    #[error(
        "no network namespace, container or pod named {name:?} (`ip netns list` / `docker ps` / \
         `podman ps` / `ctr tasks ls` show what exists); {running}"
    )]
    Unknown { name: String, running: String },
    #[error(
        "{name:?} names several endpoints: {}; pick one with its prefix",
        matches.join(", ")
    )]
    AmbiguousName { name: String, matches: Vec<String> },
    #[error("{0}")]
    Stopped(String),
    #[error(transparent)]
    Docker(#[from] DockerError),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error("no process {pid}: {source} (`ps` shows running processes)")]
    NoProcess { pid: u32, source: std::io::Error },
    #[error("opening {}", path.display())]
    Unreadable { path: PathBuf, source: std::io::Error },
    #[error("no discovered namespace owns {0}: `vtrace topo` lists every namespace's addresses")]
    NoOwner(IpAddr),
    #[error("{ip} is owned by several namespaces ({owners}): name the namespace instead")]
    Ambiguous { ip: IpAddr, owners: String },
    #[error(transparent)]
    Discovery(#[from] DiscoveryError),
}

/// Resolve an endpoint. An IP address runs a full discovery to find its namespace; use
/// [`resolve_in`] when a topology is at hand.
pub fn resolve(spec: &str) -> Result<Endpoint, EndpointError> {
    match parse(spec)? {
        Spec::Ip(_) => {
            let topo = netlink::discover_paths()?;
            resolve_in(spec, &topo)
        }
        parsed => resolve_parsed(parsed, None),
    }
}

/// Resolve an endpoint, finding IP addresses in `topo`.
pub fn resolve_in(spec: &str, topo: &Topology) -> Result<Endpoint, EndpointError> {
    resolve_parsed(parse(spec)?, Some(topo))
}

fn resolve_parsed(spec: Spec, topo: Option<&Topology>) -> Result<Endpoint, EndpointError> {
    match spec {
        Spec::Ip(ip) => by_ip(ip, topo.ok_or(EndpointError::NoOwner(ip))?),
        Spec::Netns(name) => {
            if netns::exists(&name) {
                Ok(Endpoint::plain(name.clone(), Netns::Named(name)))
            } else {
                Err(EndpointError::NoNetns(name))
            }
        }
        // A container found ahead is taken as it was found; anything else is asked again, for
        // the runtime's own error.
        Spec::Docker(name) => match bare::taken(Runtime::Docker, &name) {
            Some(bare::Answer::Found(ep, _)) => Ok(ep),
            _ => Ok(docker(&name)?),
        },
        Spec::Podman(name) => match bare::taken(Runtime::Podman, &name) {
            Some(bare::Answer::Found(ep, _)) => Ok(ep),
            _ => found(Runtime::Podman, &name, podman::find(&name)),
        },
        Spec::Containerd { namespace, id } => {
            let label = runtime_label(&namespace, &id);
            found(Runtime::Containerd, &label, containerd::find(&namespace, &id))
        }
        Spec::Pod { namespace, name } => {
            let label = runtime_label(&namespace, &name);
            found(Runtime::Kubernetes, &label, pod::find(&namespace, &name))
        }
        Spec::Pid(pid) => {
            let path = PathBuf::from(format!("/proc/{pid}/ns/net"));
            std::fs::metadata(&path).map_err(|source| EndpointError::NoProcess { pid, source })?;
            Ok(Endpoint::plain(format!("pid:{pid}"), Netns::Path(path)))
        }
        Spec::Path(path) => {
            let file = std::fs::File::open(&path)
                .map_err(|source| EndpointError::Unreadable { path: path.clone(), source })?;
            if !is_net_namespace(&file) {
                return Err(EndpointError::NotANamespace(path));
            }
            let label = path_label(&path);
            Ok(Endpoint::plain(label, Netns::Path(path)))
        }
        Spec::Bare(name) => bare::resolve(name),
    }
}

fn runtime_label(namespace: &str, name: &str) -> String {
    crate::core::topology::namespaced_label(namespace, name)
}

/// A runtime's answer for a prefixed spec: the endpoint, or an error that lists the running
/// ones when it has none of that name.
fn found(
    runtime: Runtime,
    name: &str,
    answer: Result<Option<Found>, RuntimeError>,
) -> Result<Endpoint, EndpointError> {
    match answer? {
        Some(f) => Ok(Endpoint::from_found(f)),
        None => {
            let running = match runtime {
                Runtime::Podman => podman::running(),
                Runtime::Containerd => containerd::running(),
                Runtime::Kubernetes => pod::running(),
                Runtime::Docker => docker::running().map_err(|e| RuntimeError::Failed {
                    what: "docker ps".into(),
                    reason: e.to_string(),
                }),
            };
            Err(RuntimeError::NoSuch {
                runtime,
                name: name.to_owned(),
                running: running.unwrap_or_default(),
            }
            .into())
        }
    }
}

/// True when `file` is a network namespace (the kernel's NS_GET_NSTYPE says CLONE_NEWNET).
fn is_net_namespace(file: &std::fs::File) -> bool {
    use std::os::fd::AsRawFd;
    /// `_IO(0xb7, 0x3)` from linux/nsfs.h.
    const NS_GET_NSTYPE: libc::c_ulong = 0xb703;
    // SAFETY: the descriptor is open for the duration of the call; the ioctl takes no argument.
    let kind = unsafe { libc::ioctl(file.as_raw_fd(), NS_GET_NSTYPE as _) };
    kind == libc::CLONE_NEWNET
}

/// A label for a namespace file: `pid:N` for `/proc/N/ns/net`, the file name otherwise.
fn path_label(path: &Path) -> String {
    let parts: Vec<&str> = path.iter().filter_map(|p| p.to_str()).collect();
    match parts.as_slice() {
        ["/", "proc", pid, "ns", "net"] if pid.parse::<u32>().is_ok() => format!("pid:{pid}"),
        _ => path.file_name().and_then(|n| n.to_str()).unwrap_or("netns").to_owned(),
    }
}

fn by_ip(ip: IpAddr, topo: &Topology) -> Result<Endpoint, EndpointError> {
    let owners = topo.owners_of(ip);
    let idx = match owners.as_slice() {
        [] => return Err(EndpointError::NoOwner(ip)),
        [one] => *one,
        many => {
            let names: Vec<&str> =
                many.iter().filter_map(|&i| topo.ns(i)).map(|n| n.label.as_str()).collect();
            return Err(EndpointError::Ambiguous { ip, owners: names.join(", ") });
        }
    };
    endpoint_of(topo, idx, Some(ip)).ok_or(EndpointError::NoOwner(ip))
}

/// The endpoint for a discovered namespace (and the address it was reached at, if any). A
/// namespace still known by its file (a Docker sandbox, Podman's `netns-<uuid>`, CNI's
/// `cni-<uuid>`, a process's) is named after the container or pod a runtime runs in it.
pub fn endpoint_of(topo: &Topology, idx: NsIdx, ip: Option<IpAddr>) -> Option<Endpoint> {
    let ns = topo.ns(idx)?;
    let file_name = ns.path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let netns = match ns.kind {
        NsKind::Root if ns.path == Netns::Root.path() => Netns::Root,
        NsKind::Named if ns.label == file_name => Netns::Named(ns.label.clone()),
        NsKind::Root | NsKind::Named | NsKind::Docker | NsKind::Process => {
            Netns::Path(ns.path.clone())
        }
    };
    let by_runtime = |ep: Endpoint| -> Endpoint {
        match runtime::owner_of(ns.inode) {
            Some((runtime, label)) => Endpoint { label, runtime: Some(runtime), ..ep },
            None => ep,
        }
    };
    let plain = Endpoint { ip, ..Endpoint::plain(ns.label.clone(), netns) };
    let ep = match ns.kind {
        NsKind::Docker => match docker::container_in(ns.inode) {
            Some(name) => Endpoint { label: name, runtime: Some(Runtime::Docker), ..plain },
            None => plain,
        },
        NsKind::Named if ns.label == file_name && runtime::generated_name(file_name) => {
            by_runtime(plain)
        }
        NsKind::Process => by_runtime(plain),
        NsKind::Root | NsKind::Named => plain,
    };
    Some(ep)
}

/// A running container's namespace, labelled with the container's name (also when it was
/// given by id).
fn docker(name: &str) -> Result<Endpoint, DockerError> {
    docker_endpoint(name, docker::container(name)?)
}

/// A container Docker described, as an endpoint (an error when it does not run).
fn docker_endpoint(name: &str, c: docker::Container) -> Result<Endpoint, DockerError> {
    let path = c.netns_path().filter(|_| c.running).ok_or_else(|| DockerError::NotRunning {
        name: name.to_owned(),
        status: c.status.clone(),
        running: docker::running().unwrap_or_default(),
    })?;
    Ok(Endpoint {
        label: c.name,
        netns: Netns::Path(path),
        ip: None,
        runtime: Some(Runtime::Docker),
        note: None,
    })
}

impl Endpoint {
    /// The discovered namespace this endpoint is in (same namespace inode).
    pub fn find_in(&self, topo: &Topology) -> Option<NsIdx> {
        if let Some(ip) = self.ip {
            if let Some(i) = topo.owner_of(ip) {
                return Some(i);
            }
        }
        let inode = std::fs::metadata(self.netns.path()).ok()?.ino();
        topo.find_inode(inode)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_network_namespace_file_is_a_path_endpoint() {
        let open = |p: &str| std::fs::File::open(p).unwrap_or_else(|e| panic!("{p}: {e}"));
        assert!(is_net_namespace(&open("/proc/self/ns/net")));
        assert!(!is_net_namespace(&open("/proc/self/ns/uts")), "another kind of namespace");
        assert!(!is_net_namespace(&open("/proc/self/status")), "not a namespace at all");
        assert!(matches!(resolve("path:/proc/self/status"), Err(EndpointError::NotANamespace(_))));
    }
    #[test]
    fn path_labels() {
        assert_eq!(path_label(Path::new("/proc/77/ns/net")), "pid:77");
        assert_eq!(path_label(Path::new("/var/run/docker/netns/abc")), "abc");
    }

    #[test]
    fn unknown_netns_error_says_what_to_run() {
        let err = resolve("netns:vtrace-surely-absent-ns").map(|e| e.label);
        let msg = err.map_err(|e| e.to_string());
        assert_eq!(
            msg,
            Err("no network namespace named \"vtrace-surely-absent-ns\": `ip netns list` shows \
                 what exists"
                .to_owned())
        );
    }
}
