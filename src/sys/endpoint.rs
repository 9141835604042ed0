//! Endpoint resolution: what the user typed (`nginx-1`, `netns:lab`, `docker:web`, `pid:1234`,
//! `path:/proc/1234/ns/net`, `172.18.0.3`) → the network namespace to work in.
//!
//! A bare name is tried as a named namespace (`/run/netns/NAME`), then as a Docker container
//! (`sys::docker`, only when `docker` is on PATH); a container is labelled with its name, also
//! when given by id. An IP address resolves to the one
//! discovered namespace that owns it. Names are validated before they become paths or
//! arguments: nothing the user types can point outside `/run/netns` or pass an option to
//! `docker`. This module finds namespaces; it never enters or changes them.

use std::net::IpAddr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::core::topology::{NsIdx, NsKind, Topology};
use crate::sys::docker::{self, DockerError};
use crate::sys::netlink::{self, DiscoveryError};
use crate::sys::netns::{self, Netns};

/// A resolved endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// How to name it in reports (netns or container name, `pid:N`, the namespace's label).
    pub label: String,
    pub netns: Netns,
    /// The address, when the endpoint was given as one.
    pub ip: Option<IpAddr>,
}

/// What the user typed, parsed (nothing checked on the system yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spec {
    Ip(IpAddr),
    Netns(String),
    Docker(String),
    Pid(u32),
    Path(PathBuf),
    /// A name: a named namespace or else a Docker container.
    Bare(String),
}

/// Why an endpoint could not be resolved.
#[derive(Debug, Error)]
pub enum EndpointError {
    #[error(
        "empty endpoint: give a netns or container name, netns:NAME, docker:NAME, pid:PID, path:FILE or an IP"
    )]
    Empty,
    #[error("{0}")]
    InvalidName(String),
    #[error(
        "invalid container name {0:?}: Docker names are letters, digits, '_', '.', '-' and do not start with '-'"
    )]
    InvalidContainer(String),
    #[error("invalid pid {0:?} in pid:PID: give a process id such as pid:1234")]
    InvalidPid(String),
    #[error("path:{0} is not an absolute path to a namespace file (e.g. path:/proc/1234/ns/net)")]
    InvalidPath(PathBuf),
    #[error("no network namespace named {0:?}: `ip netns list` shows what exists")]
    NoNetns(String),
    #[error("{0} is not a network namespace file (e.g. /proc/1234/ns/net or /run/netns/NAME)")]
    NotANamespace(PathBuf),
    #[error(
        "no network namespace or Docker container named {0:?}: `ip netns list` / `docker ps` \
         show what exists"
    )]
    NotFound(String),
    #[error(
        "no network namespace or Docker container named {name:?}: `ip netns list` / `docker ps` \
         show what exists ({docker})"
    )]
    NotFoundAnywhere { name: String, docker: String },
    #[error(transparent)]
    Docker(#[from] DockerError),
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

/// Parse an endpoint spec without touching the system.
pub fn parse(spec: &str) -> Result<Spec, EndpointError> {
    let spec = spec.trim();
    if spec.is_empty() {
        return Err(EndpointError::Empty);
    }
    if let Ok(ip) = spec.parse::<IpAddr>() {
        return Ok(Spec::Ip(ip));
    }
    let checked_name = |n: &str| {
        netns::validate_name(n).map_err(|e| EndpointError::InvalidName(e.to_string()))?;
        Ok(n.to_owned())
    };
    match spec.split_once(':') {
        Some(("netns", name)) => checked_name(name).map(Spec::Netns),
        Some(("docker", name)) => checked_container(name).map(Spec::Docker),
        Some(("pid", pid)) => match pid.parse::<u32>() {
            Ok(p) if p > 0 => Ok(Spec::Pid(p)),
            _ => Err(EndpointError::InvalidPid(pid.to_owned())),
        },
        Some(("path", p)) => {
            let path = PathBuf::from(p);
            if path.is_absolute() {
                Ok(Spec::Path(path))
            } else {
                Err(EndpointError::InvalidPath(path))
            }
        }
        _ => checked_name(spec).map(Spec::Bare),
    }
}

/// Docker container names and ids: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, at most 128 characters.
fn checked_container(name: &str) -> Result<String, EndpointError> {
    let first_ok = name.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric());
    let rest_ok =
        name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if first_ok && rest_ok && name.len() <= 128 {
        Ok(name.to_owned())
    } else {
        Err(EndpointError::InvalidContainer(name.to_owned()))
    }
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
                Ok(Endpoint { label: name.clone(), netns: Netns::Named(name), ip: None })
            } else {
                Err(EndpointError::NoNetns(name))
            }
        }
        Spec::Docker(name) => Ok(docker(&name)?),
        Spec::Pid(pid) => {
            let path = PathBuf::from(format!("/proc/{pid}/ns/net"));
            std::fs::metadata(&path).map_err(|source| EndpointError::NoProcess { pid, source })?;
            Ok(Endpoint { label: format!("pid:{pid}"), netns: Netns::Path(path), ip: None })
        }
        Spec::Path(path) => {
            let file = std::fs::File::open(&path)
                .map_err(|source| EndpointError::Unreadable { path: path.clone(), source })?;
            if !is_net_namespace(&file) {
                return Err(EndpointError::NotANamespace(path));
            }
            let label = path_label(&path);
            Ok(Endpoint { label, netns: Netns::Path(path), ip: None })
        }
        Spec::Bare(name) => {
            if netns::exists(&name) {
                return Ok(Endpoint { label: name.clone(), netns: Netns::Named(name), ip: None });
            }
            bare_docker(name)
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

/// The endpoint for a discovered namespace (and the address it was reached at, if any).
pub fn endpoint_of(topo: &Topology, idx: NsIdx, ip: Option<IpAddr>) -> Option<Endpoint> {
    let ns = topo.ns(idx)?;
    let netns = match ns.kind {
        NsKind::Root if ns.path == Netns::Root.path() => Netns::Root,
        NsKind::Named => Netns::Named(ns.label.clone()),
        NsKind::Root | NsKind::Docker | NsKind::Process => Netns::Path(ns.path.clone()),
    };
    // A Docker sandbox found by address is still labelled by its file name: name it after the
    // container that runs in it.
    let label = match ns.kind {
        NsKind::Docker => docker::container_in(ns.inode).unwrap_or_else(|| ns.label.clone()),
        _ => ns.label.clone(),
    };
    Some(Endpoint { label, netns, ip })
}

/// A running container's namespace, labelled with the container's name (also when it was
/// given by id).
fn docker(name: &str) -> Result<Endpoint, DockerError> {
    let c = docker::container(name)?;
    let path = c.netns_path().ok_or_else(|| DockerError::NotRunning {
        name: name.to_owned(),
        status: c.status.clone(),
        running: Vec::new(),
    })?;
    Ok(Endpoint { label: c.name, netns: Netns::Path(path), ip: None })
}

/// A bare name that is no named namespace: a Docker container, if Docker knows it.
fn bare_docker(name: String) -> Result<Endpoint, EndpointError> {
    if !docker::installed() {
        return Err(EndpointError::NotFound(name));
    }
    match docker(&name) {
        Ok(ep) => Ok(ep),
        Err(DockerError::NoSuchContainer { running, .. }) => {
            let docker = if running.is_empty() {
                "no Docker container is running".to_owned()
            } else {
                format!("running containers: {}", running.join(", "))
            };
            Err(EndpointError::NotFoundAnywhere { name, docker })
        }
        Err(e @ (DockerError::Daemon(_) | DockerError::NotInstalled)) => {
            Err(EndpointError::NotFoundAnywhere { name, docker: e.to_string() })
        }
        Err(e) => Err(EndpointError::Docker(e)),
    }
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
    use std::net::Ipv4Addr;

    #[test]
    fn specs_parse_by_prefix() {
        let ok = |s: &str| parse(s).ok();
        assert_eq!(ok("172.18.0.3"), Some(Spec::Ip(IpAddr::V4(Ipv4Addr::new(172, 18, 0, 3)))));
        assert_eq!(ok("fd00::2").map(|s| matches!(s, Spec::Ip(IpAddr::V6(_)))), Some(true));
        assert_eq!(ok("nginx-1"), Some(Spec::Bare("nginx-1".into())));
        assert_eq!(ok("netns:lab"), Some(Spec::Netns("lab".into())));
        assert_eq!(ok("docker:web.1"), Some(Spec::Docker("web.1".into())));
        assert_eq!(ok("pid:1234"), Some(Spec::Pid(1234)));
        assert_eq!(ok("path:/proc/1/ns/net"), Some(Spec::Path("/proc/1/ns/net".into())));
    }

    #[test]
    fn specs_that_could_escape_are_refused() {
        for bad in [
            "",
            "netns:../etc",
            "netns:a/b",
            "../x",
            "docker:-rm",
            "docker:a b",
            "pid:0",
            "pid:x",
            "path:relative/file",
            "a/b",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} accepted");
        }
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
