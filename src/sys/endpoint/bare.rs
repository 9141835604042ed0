//! A bare name (`web`) tried everywhere at once: as a named namespace, a Docker container, a
//! Podman container, a container of containerd's `default` namespace and a pod of Kubernetes'
//! `default` namespace (the runtimes asked in parallel, each only when it can answer, and once
//! for all the names of a command).
//! One match is the endpoint; several are an error listing the prefix that picks each (matches
//! that are one namespace — a container run in the named namespace of the same name — are one);
//! none is an error listing what runs in every runtime vtrace could ask.
//!
//! The runtimes' answers can be asked for ahead ([`prefetch`]), while the caller discovers the
//! namespaces: resolving the name then takes them instead of asking again.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::sync::Mutex;
use std::thread::JoinHandle;

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

/// One runtime's answers for every name, in one question where the runtime takes several
/// names (`docker inspect`, `podman inspect`, `ctr tasks ls`).
fn ask(runtime: Runtime, names: &[String]) -> Vec<Answer> {
    let each = |f: &dyn Fn(&str) -> Answer| names.iter().map(|n| f(n)).collect();
    let unavailable =
        |why: String| names.iter().map(|_| Answer::Unavailable(why.clone())).collect();
    match runtime {
        Runtime::Docker => {
            if !docker::installed() {
                return unavailable(DockerError::NotInstalled.to_string());
            }
            let found = match docker::inspect_many(names) {
                Ok(found) => found,
                Err(e) => return unavailable(e.to_string()),
            };
            names
                .iter()
                .zip(found)
                .map(|(name, c)| match c.map(|c| super::docker_endpoint(name, c)) {
                    None => Answer::Absent,
                    Some(Ok(ep)) => {
                        let spec = format!("docker:{}", ep.label);
                        Answer::Found(ep, spec)
                    }
                    Some(Err(e)) => Answer::Stopped(e.to_string()),
                })
                .collect()
        }
        Runtime::Podman => {
            if !podman::installed() {
                return unavailable("`podman` is not installed".into());
            }
            match podman::find_many(names) {
                Ok(found) => found.into_iter().map(Answer::from_runtime).collect(),
                Err(e) => unavailable(e.to_string()),
            }
        }
        Runtime::Containerd => {
            if let Some(e) = containerd::unavailable() {
                return unavailable(e.to_string());
            }
            let listing = containerd::tasks(DEFAULT_NAMESPACE)
                .and_then(|tasks| Ok((tasks, containerd::container_ids(DEFAULT_NAMESPACE, None)?)));
            let (tasks, ids) = match listing {
                Ok(l) => l,
                Err(e) => return unavailable(e.to_string()),
            };
            each(&|name| {
                Answer::from_runtime(containerd::found_in(DEFAULT_NAMESPACE, name, &tasks, &ids))
            })
        }
        Runtime::Kubernetes => {
            if !pod::available() {
                return unavailable("neither crictl nor containerd's socket is there".into());
            }
            each(&|name| Answer::from_runtime(pod::find(DEFAULT_K8S_NAMESPACE, name)))
        }
    }
}

/// What every runtime said of one name.
type Answers = Vec<(Runtime, Answer)>;

/// Each runtime's answers for the names it is asked about (every runtime for a bare name, one
/// for a prefixed one), the runtimes asked in parallel, each once for all its names.
fn ask_all(wanted: &[(Runtime, String)]) -> HashMap<(Runtime, String), Answer> {
    let per_runtime: Vec<(Runtime, Vec<String>, Vec<Answer>)> = std::thread::scope(|s| {
        let asks: Vec<_> = Runtime::ALL
            .iter()
            .filter_map(|&r| {
                let names: Vec<String> =
                    wanted.iter().filter(|(w, _)| *w == r).map(|(_, n)| n.clone()).collect();
                (!names.is_empty()).then(|| {
                    let h = s.spawn({
                        let names = names.clone();
                        move || ask(r, &names)
                    });
                    (r, names, h)
                })
            })
            .collect();
        asks.into_iter()
            .map(|(r, names, h)| {
                let failed =
                    || names.iter().map(|_| Answer::Unavailable("it failed".into())).collect();
                let answers = h.join().unwrap_or_else(|_| failed());
                (r, names, answers)
            })
            .collect()
    });
    let mut out = HashMap::new();
    for (r, names, answers) in per_runtime {
        for (name, a) in names.into_iter().zip(answers) {
            out.insert((r, name), a);
        }
    }
    out
}

/// Answers asked for ahead, by runtime and name, until a resolution takes them.
static AHEAD: Mutex<Option<HashMap<(Runtime, String), Answer>>> = Mutex::new(None);

/// Runtimes' answers being asked for ahead; [`Prefetch::wait`] (or dropping it) waits for them.
#[derive(Debug)]
pub struct Prefetch(Option<JoinHandle<()>>);

impl Prefetch {
    /// Wait until the answers are in.
    pub fn wait(mut self) {
        if let Some(h) = self.0.take() {
            let _ = h.join();
        }
    }
}

impl Drop for Prefetch {
    fn drop(&mut self) {
        if let Some(h) = self.0.take() {
            let _ = h.join();
        }
    }
}

/// Ask runtimes about names (bare ones: every runtime) on a thread of its own while the caller
/// does something else; resolving one of them afterwards takes its answers.
pub fn prefetch(bare: Vec<String>, prefixed: Vec<(Runtime, String)>) -> Prefetch {
    let mut wanted: Vec<(Runtime, String)> = bare
        .iter()
        .flat_map(|n| Runtime::ALL.iter().map(move |&r| (r, n.clone())))
        .chain(prefixed)
        .collect();
    wanted.sort();
    wanted.dedup();
    if wanted.is_empty() {
        return Prefetch(None);
    }
    let handle = std::thread::spawn(move || {
        let answers = ask_all(&wanted);
        let mut ahead = AHEAD.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        ahead.get_or_insert_with(HashMap::new).extend(answers);
    });
    Prefetch(Some(handle))
}

/// The answer asked for ahead of `runtime` about `name`, taken (a later resolution asks again).
pub(super) fn taken(runtime: Runtime, name: &str) -> Option<Answer> {
    let mut ahead = AHEAD.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    ahead.as_mut()?.remove(&(runtime, name.to_owned()))
}

/// Every runtime's answer about `name`: those asked for ahead, else asked now.
fn answers_for(name: &str) -> Answers {
    let ahead: Vec<(Runtime, Option<Answer>)> =
        Runtime::ALL.iter().map(|&r| (r, taken(r, name))).collect();
    if ahead.iter().all(|(_, a)| a.is_some()) {
        return ahead.into_iter().filter_map(|(r, a)| Some((r, a?))).collect();
    }
    let wanted: Vec<(Runtime, String)> =
        Runtime::ALL.iter().map(|&r| (r, name.to_owned())).collect();
    let mut now = ask_all(&wanted);
    Runtime::ALL.iter().filter_map(|&r| Some((r, now.remove(&(r, name.to_owned()))?))).collect()
}

/// Resolve a bare name.
pub(super) fn resolve(name: String) -> Result<Endpoint, EndpointError> {
    let answers = answers_for(&name);
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
        1 => matches.into_iter().next().map(|(ep, _)| ep).ok_or(EndpointError::Empty),
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
