//! Endpoint resolution: what the user typed (`nginx-1`, `netns:lab`, `docker:web`, `pid:1234`,
//! `path:/proc/1234/ns/net`, `172.18.0.3`) → the network namespace to work in.
//!
//! A bare name is tried as a named namespace (`/run/netns/NAME`), then as a Docker container
//! (`docker inspect`, only when `docker` is on PATH). An IP address resolves to the one
//! discovered namespace that owns it. Names are validated before they become paths or
//! arguments: nothing the user types can point outside `/run/netns` or pass an option to
//! `docker`. This module finds namespaces; it never enters or changes them.

use std::net::IpAddr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use thiserror::Error;

use crate::core::topology::{NsIdx, NsKind, Topology};
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
    #[error(
        "no network namespace or Docker container named {0:?}: `ip netns list` / `docker ps` \
         show what exists"
    )]
    NotFound(String),
    #[error("Docker container {name:?}: {reason} (`docker ps` shows running containers)")]
    Docker { name: String, reason: String },
    #[error("no process {pid}: {source} (`ps` shows running processes)")]
    NoProcess { pid: u32, source: std::io::Error },
    #[error("{path}: {source}")]
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
            let topo = netlink::discover()?;
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
        Spec::Docker(name) => docker(&name),
        Spec::Pid(pid) => {
            let path = PathBuf::from(format!("/proc/{pid}/ns/net"));
            std::fs::metadata(&path).map_err(|source| EndpointError::NoProcess { pid, source })?;
            Ok(Endpoint { label: format!("pid:{pid}"), netns: Netns::Path(path), ip: None })
        }
        Spec::Path(path) => {
            std::fs::metadata(&path)
                .map_err(|source| EndpointError::Unreadable { path: path.clone(), source })?;
            let label = path_label(&path);
            Ok(Endpoint { label, netns: Netns::Path(path), ip: None })
        }
        Spec::Bare(name) => {
            if netns::exists(&name) {
                return Ok(Endpoint { label: name.clone(), netns: Netns::Named(name), ip: None });
            }
            if !docker_available() {
                return Err(EndpointError::NotFound(name));
            }
            docker(&name).map_err(|_| EndpointError::NotFound(name))
        }
    }
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
    Some(Endpoint { label: ns.label.clone(), netns, ip })
}

/// True when a `docker` executable is on PATH.
fn docker_available() -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join("docker").is_file()))
}

/// A container's namespace through `docker inspect`.
fn docker(name: &str) -> Result<Endpoint, EndpointError> {
    let fail = |reason: String| EndpointError::Docker { name: name.to_owned(), reason };
    if !docker_available() {
        return Err(fail("`docker` is not on PATH".into()));
    }
    let out = Command::new("docker")
        .args(["inspect", "--type", "container", "--format"])
        .arg("{{.State.Pid}} {{.NetworkSettings.SandboxKey}}")
        .arg(name)
        .output()
        .map_err(|e| fail(format!("running `docker inspect`: {e}")))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(fail(format!("`docker inspect` failed: {}", err.trim())));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let (pid, sandbox) = parse_inspect(&text)
        .ok_or_else(|| fail(format!("unexpected `docker inspect` output {:?}", text.trim())))?;
    let netns = match sandbox {
        Some(p) if p.exists() => Netns::Path(p),
        _ if pid > 0 => Netns::Path(PathBuf::from(format!("/proc/{pid}/ns/net"))),
        _ => return Err(fail("the container is not running".into())),
    };
    Ok(Endpoint { label: name.to_owned(), netns, ip: None })
}

/// `"PID SANDBOXKEY"` → (pid, sandbox path if any).
fn parse_inspect(text: &str) -> Option<(u32, Option<PathBuf>)> {
    let mut words = text.split_whitespace();
    let pid = words.next()?.parse().ok()?;
    let sandbox = words.next().filter(|s| s.starts_with('/')).map(PathBuf::from);
    Some((pid, sandbox))
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
    fn docker_inspect_output() {
        assert_eq!(
            parse_inspect("4242 /var/run/docker/netns/0123abcd\n"),
            Some((4242, Some(PathBuf::from("/var/run/docker/netns/0123abcd"))))
        );
        assert_eq!(parse_inspect("0 \n"), Some((0, None)));
        assert_eq!(parse_inspect("<no value>"), None);
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
