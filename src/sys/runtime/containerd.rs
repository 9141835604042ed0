//! containerd, asked through its CLI (`ctr`): a container of a containerd namespace → its task's
//! pid → `/proc/PID/ns/net`; the running tasks of each namespace; a container's labels and the
//! network namespace its spec names (`ctr containers info`).
//!
//! ctr talks to the socket `CONTAINERD_ADDRESS` names (`/run/containerd/containerd.sock` by
//! default); vtrace asks only when that socket exists, since ctr waits 10 s for an absent one.
//! Only runs `ctr` with fixed arguments; the caller validates names.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{Found, Output, Runtime, RuntimeError, on_path, run};
use crate::core::topology::{Workload, namespaced_label};

/// containerd's default namespace (`ctr`'s, and what `containerd:ID` means).
pub const DEFAULT_NAMESPACE: &str = "default";
/// The namespace the kubelet's containers live in (CRI).
pub const K8S_NAMESPACE: &str = "k8s.io";
/// The namespace of the containers dockerd runs through a shared containerd (Docker's own).
const MOBY_NAMESPACE: &str = "moby";
/// Where containerd listens unless `CONTAINERD_ADDRESS` says otherwise.
pub const DEFAULT_ADDRESS: &str = "/run/containerd/containerd.sock";

/// The socket ctr will use.
pub fn address() -> PathBuf {
    let env = std::env::var("CONTAINERD_ADDRESS").ok().filter(|a| !a.is_empty());
    let addr = env.as_deref().unwrap_or(DEFAULT_ADDRESS);
    PathBuf::from(addr.strip_prefix("unix://").unwrap_or(addr))
}

/// True when `ctr` is on PATH and containerd's socket exists.
pub fn available() -> bool {
    on_path("ctr") && address().exists()
}

/// Why containerd cannot be asked, when it cannot.
pub fn unavailable() -> Option<RuntimeError> {
    if !on_path("ctr") {
        return Some(RuntimeError::NotInstalled {
            program: "ctr",
            hint: "install containerd (`apt-get install containerd`)",
        });
    }
    let addr = address();
    (!addr.exists()).then(|| RuntimeError::Unreachable {
        runtime: "containerd",
        reason: format!("no socket at {}", addr.display()),
        hint: "start containerd, or set CONTAINERD_ADDRESS to its socket",
    })
}

/// `ctr -n NAMESPACE ARGS…`.
pub fn ctr(namespace: &str, args: &[&str]) -> Result<Output, RuntimeError> {
    if let Some(e) = unavailable() {
        return Err(e);
    }
    let mut all = vec!["--connect-timeout", "2s", "-n", namespace];
    all.extend_from_slice(args);
    let out = run("ctr", &all)?;
    if !out.ok && (out.stderr.contains("connection error") || out.stderr.contains("dial")) {
        return Err(RuntimeError::Unreachable {
            runtime: "containerd",
            reason: out.reason(),
            hint: "start containerd, or set CONTAINERD_ADDRESS to its socket",
        });
    }
    Ok(out)
}

fn checked(what: &str, out: Output) -> Result<String, RuntimeError> {
    if out.ok {
        Ok(out.stdout)
    } else {
        Err(RuntimeError::Failed { what: what.to_owned(), reason: out.reason() })
    }
}

/// A task as `ctr tasks ls` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    pub id: String,
    pub pid: u32,
    /// `RUNNING`, `STOPPED`, `PAUSED`, `CREATED`, …
    pub status: String,
}

impl Task {
    pub fn running(&self) -> bool {
        self.status == "RUNNING" && self.pid > 0
    }

    /// `/proc/PID/ns/net` of its process.
    pub fn netns_path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/{}/ns/net", self.pid))
    }
}

/// `ctr tasks ls`'s table (`TASK PID STATUS`) → tasks.
pub fn parse_tasks(text: &str) -> Vec<Task> {
    text.lines()
        .filter_map(|line| {
            let mut cols = line.split_whitespace();
            let (id, pid, status) = (cols.next()?, cols.next()?, cols.next()?);
            let pid = pid.parse().ok()?;
            Some(Task { id: id.to_owned(), pid, status: status.to_owned() })
        })
        .collect()
}

/// The tasks of a containerd namespace.
pub fn tasks(namespace: &str) -> Result<Vec<Task>, RuntimeError> {
    let out = checked("ctr tasks ls", ctr(namespace, &["tasks", "ls"])?)?;
    Ok(parse_tasks(&out))
}

/// The ids of a namespace's containers (matching `filter`, ctr's filter syntax, when given).
pub fn container_ids(namespace: &str, filter: Option<&str>) -> Result<Vec<String>, RuntimeError> {
    let mut args = vec!["containers", "ls", "-q"];
    args.extend(filter);
    let out = checked("ctr containers ls", ctr(namespace, &args)?)?;
    Ok(out.split_whitespace().map(str::to_owned).collect())
}

/// containerd's namespaces.
pub fn namespaces() -> Result<Vec<String>, RuntimeError> {
    let out = checked("ctr namespaces ls", ctr(DEFAULT_NAMESPACE, &["namespaces", "ls", "-q"])?)?;
    Ok(out.split_whitespace().map(str::to_owned).collect())
}

/// What `ctr containers info` says of a container (what vtrace needs of it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Info {
    pub id: String,
    pub labels: BTreeMap<String, String>,
    /// The network namespace its spec joins (`/run/netns/NAME`), when it joins one.
    pub netns: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct InfoJson {
    #[serde(default, rename = "ID")]
    id: String,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    spec: Option<SpecJson>,
}

#[derive(Deserialize, Default)]
struct SpecJson {
    #[serde(default)]
    linux: Option<LinuxJson>,
}

#[derive(Deserialize, Default)]
struct LinuxJson {
    #[serde(default)]
    namespaces: Vec<NamespaceJson>,
}

#[derive(Deserialize)]
struct NamespaceJson {
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    path: String,
}

/// `ctr containers info`'s JSON → [`Info`].
pub fn parse_info(json: &str) -> Result<Info, RuntimeError> {
    let raw: InfoJson = serde_json::from_str(json.trim()).map_err(|e| RuntimeError::Output {
        what: "ctr containers info".into(),
        reason: e.to_string(),
    })?;
    let netns = raw
        .spec
        .and_then(|s| s.linux)
        .and_then(|l| l.namespaces.into_iter().find(|n| n.kind == "network"))
        .map(|n| n.path)
        .filter(|p| p.starts_with('/'))
        .map(PathBuf::from);
    Ok(Info { id: raw.id, labels: raw.labels.unwrap_or_default(), netns })
}

/// `ctr containers info ID` in a namespace.
pub fn info(namespace: &str, id: &str) -> Result<Info, RuntimeError> {
    let out = checked("ctr containers info", ctr(namespace, &["containers", "info", "--", id])?)?;
    parse_info(&out)
}

/// The running container `id` of a containerd namespace, as an endpoint; `None` when the
/// namespace has no such container. One that has no running task is an error listing the
/// running ones.
pub fn find(namespace: &str, id: &str) -> Result<Option<Found>, RuntimeError> {
    let tasks = tasks(namespace)?;
    if tasks.iter().any(|t| t.id == id && t.running()) {
        return found_in(namespace, id, &tasks, &[]);
    }
    found_in(namespace, id, &tasks, &container_ids(namespace, None)?)
}

/// [`find`] on a namespace's tasks and container ids listed already.
pub fn found_in(
    namespace: &str,
    id: &str,
    tasks: &[Task],
    ids: &[String],
) -> Result<Option<Found>, RuntimeError> {
    let label = namespaced_label(namespace, id);
    if let Some(t) = tasks.iter().find(|t| t.id == id && t.running()) {
        return Ok(Some(Found {
            runtime: Runtime::Containerd,
            spec: format!("containerd:{label}"),
            label,
            netns: t.netns_path(),
            note: None,
        }));
    }
    let exists = tasks.iter().any(|t| t.id == id) || ids.iter().any(|c| c == id);
    if !exists {
        return Ok(None);
    }
    let status = tasks.iter().find(|t| t.id == id).map_or("no task", |t| t.status.as_str());
    Err(RuntimeError::NotRunning {
        runtime: Runtime::Containerd,
        name: label,
        status: status.to_owned(),
        running: running().unwrap_or_default(),
    })
}

/// The namespaces whose containers are containerd's own to list: not the kubelet's (pods) nor
/// dockerd's (Docker containers).
fn own_namespaces() -> Result<Vec<String>, RuntimeError> {
    Ok(namespaces()?.into_iter().filter(|n| n != K8S_NAMESPACE && n != MOBY_NAMESPACE).collect())
}

/// The running containers as `containerd:` names them (`web`, `NAMESPACE/ID`), sorted.
pub fn running() -> Result<Vec<String>, RuntimeError> {
    Ok(running_workloads()?.into_iter().map(|w| w.label).collect())
}

/// The running containers of every namespace but the kubelet's and dockerd's, each with the
/// inode of its network namespace, sorted by label.
pub fn running_workloads() -> Result<Vec<Workload>, RuntimeError> {
    let mut out = Vec::new();
    for ns in own_namespaces()? {
        for t in tasks(&ns)?.into_iter().filter(Task::running) {
            out.push(Workload {
                label: namespaced_label(&ns, &t.id),
                inode: inode_of(&t.netns_path()),
                id: t.id,
            });
        }
    }
    out.sort_by(|a, b| a.label.cmp(&b.label));
    Ok(out)
}

/// The inode of a namespace file.
pub fn inode_of(path: &Path) -> Option<u64> {
    std::fs::metadata(path).ok().map(|m| m.ino())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Recorded from ctr 1.6.20: `ctr containers info` of a container run with
    /// `--with-ns network:/run/netns/vtx-a`, trimmed.
    const INFO: &str = include_str!("../../../tests/data/runtimes/ctr-info.json");

    #[test]
    fn tasks_table_gives_id_pid_and_status() {
        let text = "TASK     PID     STATUS    \nvtx-a    9359    RUNNING\nold      0       STOPPED\n\
                    garbage\n";
        let tasks = parse_tasks(text);
        assert_eq!(
            tasks,
            [
                Task { id: "vtx-a".into(), pid: 9359, status: "RUNNING".into() },
                Task { id: "old".into(), pid: 0, status: "STOPPED".into() },
            ]
        );
        assert!(tasks[0].running());
        assert!(!tasks[1].running());
        assert_eq!(tasks[0].netns_path(), PathBuf::from("/proc/9359/ns/net"));
        assert!(parse_tasks("TASK    PID    STATUS    \n").is_empty());
    }

    #[test]
    fn info_gives_labels_and_the_joined_network_namespace() {
        let info = parse_info(INFO).unwrap_or_default();
        assert_eq!(info.id, "vtx-a");
        assert_eq!(info.labels.get("io.kubernetes.pod.name").map(String::as_str), Some("web"));
        assert_eq!(info.netns, Some(PathBuf::from("/run/netns/vtx-a")));
        // A container with a network namespace of its own (no path) and no labels.
        let own = r#"{"ID": "x", "Labels": null, "Spec": {"linux": {"namespaces":
            [{"type": "pid"}, {"type": "network"}]}}}"#;
        assert_eq!(parse_info(own).ok(), Some(Info { id: "x".into(), ..Info::default() }));
        assert!(matches!(parse_info("ctr: not found"), Err(RuntimeError::Output { .. })));
    }

    #[test]
    fn the_address_follows_containerd_address() {
        // Read only: the variable is not changed here (tests run in parallel).
        let want = match std::env::var("CONTAINERD_ADDRESS") {
            Ok(a) if !a.is_empty() => PathBuf::from(a.trim_start_matches("unix://")),
            _ => PathBuf::from(DEFAULT_ADDRESS),
        };
        assert_eq!(address(), want);
    }
}
