//! A bare name (`web`) tried everywhere at once: as a named namespace, a Docker container, a
//! Podman container, a container of containerd's `default` namespace and a pod of Kubernetes'
//! `default` namespace (the runtimes asked in parallel, each only when it can answer).
//! One match is the endpoint; several are an error listing the prefix that picks each (matches
//! that are one namespace — a container run in the named namespace of the same name — are one);
//! none is an error listing what runs in every runtime vtrace could ask.

use std::os::unix::fs::MetadataExt;

use super::{Endpoint, EndpointError};
use crate::sys::docker::{self, DockerError};
use crate::sys::netns::{self, Netns};
use crate::sys::runtime::containerd::{self, DEFAULT_NAMESPACE};
use crate::sys::runtime::pod::{self, DEFAULT_K8S_NAMESPACE};
use crate::sys::runtime::{Runtime, RuntimeError, podman};

/// What one runtime said of a name.
#[derive(Debug)]
pub(super) enum Answer {
    /// A running container or pod: the endpoint, and the spec that picks it.
    Found(Endpoint, String),
    /// It has none of that name.
    Absent,
    /// It has one, not running: why.
    Stopped(String),
    /// It could not be asked (not installed, daemon down).
    Unavailable(String),
}

impl Answer {
    fn from_runtime(r: Result<Option<crate::sys::runtime::Found>, RuntimeError>) -> Answer {
        match r {
            Ok(Some(f)) => {
                let spec = f.spec.clone();
                Answer::Found(Endpoint::from_found(f), spec)
            }
            Ok(None) | Err(RuntimeError::NoSuch { .. }) => Answer::Absent,
            Err(e @ RuntimeError::NotRunning { .. }) => Answer::Stopped(e.to_string()),
            Err(e) => Answer::Unavailable(e.to_string()),
        }
    }
}

fn ask(runtime: Runtime, name: &str) -> Answer {
    match runtime {
        Runtime::Docker => {
            if !docker::installed() {
                return Answer::Unavailable(DockerError::NotInstalled.to_string());
            }
            match super::docker(name) {
                Ok(ep) => {
                    let spec = format!("docker:{}", ep.label);
                    Answer::Found(ep, spec)
                }
                Err(DockerError::NoSuchContainer { .. }) => Answer::Absent,
                Err(e @ DockerError::NotRunning { .. }) => Answer::Stopped(e.to_string()),
                Err(e) => Answer::Unavailable(e.to_string()),
            }
        }
        Runtime::Podman if !podman::installed() => {
            Answer::Unavailable("`podman` is not installed".into())
        }
        Runtime::Podman => Answer::from_runtime(podman::find(name)),
        Runtime::Containerd => match containerd::unavailable() {
            Some(e) => Answer::Unavailable(e.to_string()),
            None => Answer::from_runtime(containerd::find(DEFAULT_NAMESPACE, name)),
        },
        Runtime::Kubernetes if !pod::available() => {
            Answer::Unavailable("neither crictl nor containerd's socket is there".into())
        }
        Runtime::Kubernetes => Answer::from_runtime(pod::find(DEFAULT_K8S_NAMESPACE, name)),
    }
}

/// Resolve a bare name.
pub(super) fn resolve(name: String) -> Result<Endpoint, EndpointError> {
    let answers: Vec<(Runtime, Answer)> = std::thread::scope(|s| {
        let asks: Vec<_> = Runtime::ALL
            .iter()
            .map(|&r| {
                let name = name.as_str();
                (r, s.spawn(move || ask(r, name)))
            })
            .collect();
        asks.into_iter()
            .map(|(r, h)| (r, h.join().unwrap_or_else(|_| Answer::Unavailable("it failed".into()))))
            .collect()
    });
    let mut matches: Vec<(Endpoint, String)> = Vec::new();
    if netns::exists(&name) {
        let ep = Endpoint::plain(name.clone(), Netns::Named(name.clone()));
        matches.push((ep, format!("netns:{name}")));
    }
    let mut stopped = Vec::new();
    for (_, a) in &answers {
        match a {
            Answer::Found(ep, spec) => matches.push((ep.clone(), spec.clone())),
            Answer::Stopped(why) => stopped.push(why.clone()),
            Answer::Absent | Answer::Unavailable(_) => {}
        }
    }
    let matches = one_per_namespace(matches);
    match matches.len() {
        1 => Ok(matches.into_iter().next().map(|(ep, _)| ep).ok_or(EndpointError::Empty)?),
        0 => match stopped.into_iter().next() {
            Some(why) => Err(EndpointError::Stopped(why)),
            None => Err(EndpointError::Unknown { name, running: running_everywhere(&answers) }),
        },
        _ => {
            let specs: Vec<String> = matches.into_iter().map(|(_, s)| s).collect();
            Err(EndpointError::AmbiguousName { name, matches: specs })
        }
    }
}

/// Matches that are one network namespace count once: the runtime's (it names the
/// container) rather than the named namespace's.
fn one_per_namespace(matches: Vec<(Endpoint, String)>) -> Vec<(Endpoint, String)> {
    let inode = |ep: &Endpoint| std::fs::metadata(ep.netns.path()).ok().map(|m| m.ino());
    let mut out: Vec<(Endpoint, String, Option<u64>)> = Vec::new();
    for (ep, spec) in matches {
        let ino = inode(&ep);
        match out.iter_mut().find(|(_, _, i)| ino.is_some() && *i == ino) {
            Some(slot) if slot.0.runtime.is_none() => *slot = (ep, spec, ino),
            Some(_) => {}
            None => out.push((ep, spec, ino)),
        }
    }
    out.into_iter().map(|(ep, spec, _)| (ep, spec)).collect()
}

/// What runs in every runtime that could be asked (and why the others could not), for the
/// message of an unknown name.
fn running_everywhere(answers: &[(Runtime, Answer)]) -> String {
    let mut parts = Vec::new();
    let named = netns::list_named();
    parts.push(format!("network namespaces: {}", list_or_none(&named)));
    let listings: Vec<(Runtime, Result<Vec<String>, String>)> = std::thread::scope(|s| {
        let asks: Vec<_> = answers
            .iter()
            .filter(|(_, a)| !matches!(a, Answer::Unavailable(_)))
            .map(|(r, _)| (*r, s.spawn(move || running_in(*r))))
            .collect();
        asks.into_iter()
            .map(|(r, h)| (r, h.join().unwrap_or_else(|_| Err("it failed".into()))))
            .collect()
    });
    for (r, listing) in listings {
        let what = plural(r);
        parts.push(match listing {
            Ok(names) => format!("{what}: {}", list_or_none(&names)),
            Err(e) => format!("{what}: not listed ({e})"),
        });
    }
    let not_asked: Vec<String> = answers
        .iter()
        .filter_map(|(r, a)| match a {
            Answer::Unavailable(why) => Some(format!("{} ({why})", r.prefix())),
            _ => None,
        })
        .collect();
    if !not_asked.is_empty() {
        parts.push(format!("not asked: {}", not_asked.join("; ")));
    }
    parts.join("; ")
}

fn running_in(r: Runtime) -> Result<Vec<String>, String> {
    match r {
        Runtime::Docker => docker::running().map_err(|e| e.to_string()),
        Runtime::Podman => podman::running().map_err(|e| e.to_string()),
        Runtime::Containerd => containerd::running().map_err(|e| e.to_string()),
        Runtime::Kubernetes => pod::running().map_err(|e| e.to_string()),
    }
}

fn plural(r: Runtime) -> &'static str {
    match r {
        Runtime::Docker => "Docker containers",
        Runtime::Podman => "Podman containers",
        Runtime::Containerd => "containerd containers",
        Runtime::Kubernetes => "Kubernetes pods",
    }
}

fn list_or_none(names: &[String]) -> String {
    if names.is_empty() { "none".to_owned() } else { names.join(", ") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn matches_in_one_namespace_count_once_as_the_runtime_names_it() {
        let own = Endpoint::plain("a".into(), Netns::Path(PathBuf::from("/proc/self/ns/net")));
        let mut runtime = own.clone();
        runtime.runtime = Some(Runtime::Containerd);
        runtime.label = "web".into();
        // A namespace file that cannot be read is never merged with another.
        let unread = Endpoint::plain("b".into(), Netns::Path(PathBuf::from("/nonexistent/ns")));
        let got = one_per_namespace(vec![
            (own, "netns:a".into()),
            (runtime, "containerd:web".into()),
            (unread, "docker:b".into()),
        ]);
        let specs: Vec<&str> = got.iter().map(|(_, s)| s.as_str()).collect();
        assert_eq!(specs, ["containerd:web", "docker:b"]);
        assert_eq!(got[0].0.label, "web");
    }
}
