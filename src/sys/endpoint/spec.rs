//! What the user typed, parsed: `172.18.0.3`, `nginx-1`, `netns:NAME`, `docker:NAME`,
//! `podman:NAME`, `containerd:[NAMESPACE/]ID`, `pod:[K8S-NAMESPACE/]NAME`, `pid:PID`,
//! `path:FILE`. Names are checked here, before they become paths or CLI arguments: nothing the
//! user types can point outside `/run/netns` or pass an option to a runtime's CLI.
//!
//! Pure parsing; it never looks at the system.

use std::net::IpAddr;
use std::path::PathBuf;

use super::EndpointError;
use crate::sys::netns;
use crate::sys::runtime::containerd::DEFAULT_NAMESPACE;
use crate::sys::runtime::pod::DEFAULT_K8S_NAMESPACE;

/// What the user typed, parsed (nothing checked on the system yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spec {
    Ip(IpAddr),
    Netns(String),
    Docker(String),
    Podman(String),
    /// A container of a containerd namespace (`default` unless given).
    Containerd {
        namespace: String,
        id: String,
    },
    /// A Kubernetes pod of a Kubernetes namespace (`default` unless given).
    Pod {
        namespace: String,
        name: String,
    },
    Pid(u32),
    Path(PathBuf),
    /// A name: a named namespace or a container or pod of any runtime.
    Bare(String),
}

/// The endpoint syntax, for messages.
pub const SYNTAX: &str = "a netns or container name, netns:NAME, docker:NAME, podman:NAME, \
                          containerd:[NAMESPACE/]ID, pod:[NAMESPACE/]NAME, pid:PID, path:FILE or an \
                          IP address";

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
        Some(("podman", name)) => checked_container(name).map(Spec::Podman),
        Some(("containerd", rest)) => {
            let (namespace, id) = namespaced(rest, DEFAULT_NAMESPACE)
                .ok_or_else(|| EndpointError::InvalidContainerd(rest.to_owned()))?;
            Ok(Spec::Containerd { namespace, id })
        }
        Some(("pod", rest)) => {
            let (namespace, name) = namespaced(rest, DEFAULT_K8S_NAMESPACE)
                .ok_or_else(|| EndpointError::InvalidPod(rest.to_owned()))?;
            Ok(Spec::Pod { namespace, name })
        }
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

/// Docker and Podman container names and ids: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, at most 128
/// characters.
fn checked_container(name: &str) -> Result<String, EndpointError> {
    if identifier(name, 128) {
        Ok(name.to_owned())
    } else {
        Err(EndpointError::InvalidContainer(name.to_owned()))
    }
}

/// A name that can be passed to a runtime's CLI as it is: starts with a letter or digit, then
/// letters, digits, `_`, `.`, `-` (containerd's identifiers, Kubernetes' DNS names).
fn identifier(s: &str, max: usize) -> bool {
    let first_ok = s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric());
    let rest_ok = s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    first_ok && rest_ok && s.len() <= max
}

/// `[NAMESPACE/]NAME` → (namespace, name), the namespace `default_ns` when absent.
fn namespaced(rest: &str, default_ns: &str) -> Option<(String, String)> {
    let (ns, name) = match rest.split_once('/') {
        Some((ns, name)) => (ns, name),
        None => (default_ns, rest),
    };
    (identifier(ns, 76) && identifier(name, 253)).then(|| (ns.to_owned(), name.to_owned()))
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
        assert_eq!(ok("podman:web_1"), Some(Spec::Podman("web_1".into())));
        assert_eq!(ok("pid:1234"), Some(Spec::Pid(1234)));
        assert_eq!(ok("path:/proc/1/ns/net"), Some(Spec::Path("/proc/1/ns/net".into())));
    }

    #[test]
    fn containerd_and_pod_specs_take_a_namespace_or_default() {
        let ok = |s: &str| parse(s).ok();
        assert_eq!(
            ok("containerd:web"),
            Some(Spec::Containerd { namespace: "default".into(), id: "web".into() })
        );
        assert_eq!(
            ok("containerd:k8s.io/4f2a9c"),
            Some(Spec::Containerd { namespace: "k8s.io".into(), id: "4f2a9c".into() })
        );
        assert_eq!(
            ok("pod:web"),
            Some(Spec::Pod { namespace: "default".into(), name: "web".into() })
        );
        assert_eq!(
            ok("pod:kube-system/coredns-5d78c9869d-x7k2p"),
            Some(Spec::Pod {
                namespace: "kube-system".into(),
                name: "coredns-5d78c9869d-x7k2p".into()
            })
        );
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
            "podman:--all",
            "podman:",
            "containerd:",
            "containerd:/web",
            "containerd:ns/",
            "containerd:a/b/c",
            "containerd:-n/x",
            "pod:default/-x",
            "pod:a b",
            "pod:../web",
            "pid:0",
            "pid:x",
            "path:relative/file",
            "a/b",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
