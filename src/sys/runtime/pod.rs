//! Kubernetes pods on a node: the containers the kubelet runs live in containerd's `k8s.io`
//! namespace and carry its labels (`io.kubernetes.pod.name`, `io.kubernetes.pod.namespace`,
//! `io.kubernetes.container.name`); the pod's sandbox (`io.cri-containerd.kind=sandbox`) holds
//! the network namespace every container of the pod shares, `/var/run/netns/cni-<uuid>`.
//! When crictl is installed it is asked first (`crictl pods` + `crictl inspectp`); otherwise,
//! or when it cannot answer, containerd is asked through `ctr`.
//!
//! A pod is named `NAME` in the `default` Kubernetes namespace, `NAMESPACE/NAME` elsewhere.
//! Only runs `crictl` and `ctr` with fixed arguments; the caller validates names.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use super::containerd::{self, Info, K8S_NAMESPACE, Task};
use super::{Found, Runtime, RuntimeError, on_path, run};
use crate::core::topology::{Workload, namespaced_label};

pub const POD_NAME: &str = "io.kubernetes.pod.name";
pub const POD_NAMESPACE: &str = "io.kubernetes.pod.namespace";
pub const CONTAINER_NAME: &str = "io.kubernetes.container.name";
/// containerd's CRI label telling a pod's sandbox from its containers.
pub const KIND: &str = "io.cri-containerd.kind";

/// The Kubernetes namespace `pod:NAME` means.
pub const DEFAULT_K8S_NAMESPACE: &str = "default";

/// True when pods can be asked for: crictl is installed, or containerd answers.
pub fn available() -> bool {
    on_path("crictl") || containerd::available()
}

/// A pod as vtrace knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pod {
    pub namespace: String,
    pub name: String,
    /// The sandbox's id (or a container's, when no sandbox is labelled as one).
    pub id: String,
    pub netns: PathBuf,
}

impl Pod {
    pub fn label(&self) -> String {
        namespaced_label(&self.namespace, &self.name)
    }

    fn found(self) -> Found {
        let label = self.label();
        Found {
            runtime: Runtime::Kubernetes,
            spec: format!("pod:{}/{}", self.namespace, self.name),
            label,
            netns: self.netns,
            note: None,
        }
    }
}

/// The pod `name` of Kubernetes namespace `namespace`, as an endpoint; `None` when no running
/// pod has that name.
pub fn find(namespace: &str, name: &str) -> Result<Option<Found>, RuntimeError> {
    if on_path("crictl") {
        match crictl_find(namespace, name) {
            Ok(Some(p)) => return Ok(Some(p.found())),
            // crictl answered that there is none, or could not: containerd may still know.
            Ok(None) | Err(_) if containerd::available() => {}
            Ok(None) => return Ok(None),
            Err(e) => return Err(e),
        }
    }
    let filter = format!("labels.\"{POD_NAME}\"=={name},labels.\"{POD_NAMESPACE}\"=={namespace}");
    let ids = containerd::container_ids(K8S_NAMESPACE, Some(&filter))?;
    if ids.is_empty() {
        return Ok(None);
    }
    let tasks = containerd::tasks(K8S_NAMESPACE)?;
    let infos: Vec<Info> =
        ids.iter().filter_map(|id| containerd::info(K8S_NAMESPACE, id).ok()).collect();
    match pod_of(&infos, &tasks).into_iter().next() {
        Some(p) => Ok(Some(p.found())),
        None => Err(RuntimeError::NotRunning {
            runtime: Runtime::Kubernetes,
            name: namespaced_label(namespace, name),
            status: "no running container".into(),
            running: running().unwrap_or_default(),
        }),
    }
}

/// The running pods among containers of the `k8s.io` namespace: one per (namespace, name),
/// its network namespace the sandbox's (the spec's path when it exists, else the sandbox
/// task's process's), else any running container's of the pod. Sorted by label.
pub fn pod_of(infos: &[Info], tasks: &[Task]) -> Vec<Pod> {
    let mut pods: BTreeMap<(String, String), (u8, Pod)> = BTreeMap::new();
    for info in infos {
        let (Some(name), Some(ns)) = (info.labels.get(POD_NAME), info.labels.get(POD_NAMESPACE))
        else {
            continue;
        };
        let Some(task) = tasks.iter().find(|t| t.id == info.id && t.running()) else { continue };
        let sandbox = info.labels.get(KIND).is_some_and(|k| k == "sandbox");
        let netns = info.netns.clone().filter(|p| p.exists()).unwrap_or_else(|| task.netns_path());
        let rank = u8::from(!sandbox);
        let pod = Pod { namespace: ns.clone(), name: name.clone(), id: info.id.clone(), netns };
        let key = (ns.clone(), name.clone());
        match pods.get(&key) {
            Some((r, _)) if *r <= rank => {}
            _ => {
                pods.insert(key, (rank, pod));
            }
        }
    }
    let mut out: Vec<Pod> = pods.into_values().map(|(_, p)| p).collect();
    out.sort_by_key(Pod::label);
    out
}

/// Every running pod (containerd's view; crictl's when containerd cannot be asked).
pub fn running_pods() -> Result<Vec<Pod>, RuntimeError> {
    if !containerd::available() && on_path("crictl") {
        return crictl_pods();
    }
    let tasks = containerd::tasks(K8S_NAMESPACE)?;
    let infos: Vec<Info> = tasks
        .iter()
        .filter(|t| t.running())
        .filter_map(|t| containerd::info(K8S_NAMESPACE, &t.id).ok())
        .collect();
    Ok(pod_of(&infos, &tasks))
}

/// The running pods' names (`web`, `kube-system/coredns`), sorted.
pub fn running() -> Result<Vec<String>, RuntimeError> {
    Ok(running_pods()?.iter().map(Pod::label).collect())
}

/// The running pods as workloads (label, sandbox id, namespace inode).
pub fn running_workloads() -> Result<Vec<Workload>, RuntimeError> {
    Ok(running_pods()?
        .into_iter()
        .map(|p| Workload { label: p.label(), inode: containerd::inode_of(&p.netns), id: p.id })
        .collect())
}

fn crictl(args: &[&str]) -> Result<String, RuntimeError> {
    let out = run("crictl", args)?;
    if out.ok {
        Ok(out.stdout)
    } else {
        Err(RuntimeError::Failed {
            what: format!("crictl {}", args.join(" ")),
            reason: out.reason(),
        })
    }
}

fn crictl_find(namespace: &str, name: &str) -> Result<Option<Pod>, RuntimeError> {
    let ids =
        crictl(&["pods", "--name", name, "--namespace", namespace, "--state", "ready", "-q"])?;
    // `--name` matches by substring: the exact name is checked on the answer.
    for id in ids.split_whitespace() {
        let pod = parse_inspectp(&crictl(&["inspectp", "--output", "json", "--", id])?)?;
        if let Some(p) = pod.filter(|p| p.name == name && p.namespace == namespace) {
            return Ok(Some(p));
        }
    }
    Ok(None)
}

fn crictl_pods() -> Result<Vec<Pod>, RuntimeError> {
    let ids = crictl(&["pods", "--state", "ready", "-q"])?;
    let mut pods = Vec::new();
    for id in ids.split_whitespace() {
        if let Ok(Some(p)) =
            crictl(&["inspectp", "--output", "json", "--", id]).and_then(|j| parse_inspectp(&j))
        {
            pods.push(p);
        }
    }
    pods.sort_by_key(Pod::label);
    Ok(pods)
}

#[derive(Deserialize)]
struct InspectpJson {
    status: StatusJson,
    #[serde(default)]
    info: Option<InfoJson>,
}

#[derive(Deserialize)]
struct StatusJson {
    #[serde(default)]
    id: String,
    metadata: MetadataJson,
    #[serde(default)]
    state: String,
}

#[derive(Deserialize)]
struct MetadataJson {
    #[serde(default)]
    name: String,
    #[serde(default)]
    namespace: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InfoJson {
    #[serde(default)]
    pid: u32,
    #[serde(default)]
    runtime_spec: Option<SpecJson>,
}

#[derive(Deserialize)]
struct SpecJson {
    #[serde(default)]
    linux: Option<LinuxJson>,
}

#[derive(Deserialize)]
struct LinuxJson {
    #[serde(default)]
    namespaces: Vec<NsJson>,
}

#[derive(Deserialize)]
struct NsJson {
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    path: String,
}

/// `crictl inspectp --output json` → the pod, when its sandbox is ready and its network
/// namespace known (the spec's path when it exists, else the sandbox process's).
pub fn parse_inspectp(json: &str) -> Result<Option<Pod>, RuntimeError> {
    let raw: InspectpJson = serde_json::from_str(json.trim()).map_err(|e| {
        RuntimeError::Output { what: "crictl inspectp".into(), reason: e.to_string() }
    })?;
    if raw.status.state != "SANDBOX_READY" {
        return Ok(None);
    }
    let info = raw.info;
    let spec_path = info
        .as_ref()
        .and_then(|i| i.runtime_spec.as_ref())
        .and_then(|s| s.linux.as_ref())
        .and_then(|l| l.namespaces.iter().find(|n| n.kind == "network"))
        .map(|n| PathBuf::from(&n.path))
        .filter(|p| p.is_absolute());
    let pid = info.as_ref().map_or(0, |i| i.pid);
    let netns = match spec_path {
        Some(p) if p.exists() || pid == 0 => p,
        _ if pid > 0 => PathBuf::from(format!("/proc/{pid}/ns/net")),
        _ => return Ok(None),
    };
    Ok(Some(Pod {
        namespace: raw.status.metadata.namespace,
        name: raw.status.metadata.name,
        id: raw.status.id,
        netns,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Built after the format of containerd 1.6's CRI answer to `crictl inspectp --output
    /// json` (crictl is not packaged for Debian, so not recorded on this machine).
    const INSPECTP: &str = include_str!("../../../tests/data/runtimes/crictl-inspectp.json");

    fn info(id: &str, pod: &str, ns: &str, kind: Option<&str>, netns: Option<&str>) -> Info {
        let mut labels = BTreeMap::new();
        labels.insert(POD_NAME.to_owned(), pod.to_owned());
        labels.insert(POD_NAMESPACE.to_owned(), ns.to_owned());
        if let Some(k) = kind {
            labels.insert(KIND.to_owned(), k.to_owned());
        }
        Info { id: id.into(), labels, netns: netns.map(PathBuf::from) }
    }

    fn task(id: &str, pid: u32, status: &str) -> Task {
        Task { id: id.into(), pid, status: status.into() }
    }

    #[test]
    fn a_pod_is_its_sandbox_and_named_by_the_kubelet_labels() {
        let infos = [
            info("app1", "web", "default", Some("container"), None),
            // /proc/self/ns/net exists: the sandbox's spec path is taken as it is.
            info("sb1", "web", "default", Some("sandbox"), Some("/proc/self/ns/net")),
            info("sb2", "coredns", "kube-system", Some("sandbox"), Some("/var/run/netns/cni-gone")),
            info("stopped", "db", "default", Some("sandbox"), None),
            Info { id: "plain".into(), ..Info::default() },
        ];
        let tasks = [
            task("app1", 300, "RUNNING"),
            task("sb1", 200, "RUNNING"),
            task("sb2", 400, "RUNNING"),
            task("stopped", 0, "STOPPED"),
            task("plain", 500, "RUNNING"),
        ];
        let pods = pod_of(&infos, &tasks);
        let got: Vec<(String, String, PathBuf)> =
            pods.iter().map(|p| (p.label(), p.id.clone(), p.netns.clone())).collect();
        assert_eq!(
            got,
            [
                // A spec path that is gone: the sandbox process's namespace.
                ("kube-system/coredns".into(), "sb2".into(), PathBuf::from("/proc/400/ns/net")),
                ("web".into(), "sb1".into(), PathBuf::from("/proc/self/ns/net")),
            ]
        );
        let found = pods[1].clone().found();
        assert_eq!((found.spec.as_str(), found.label.as_str()), ("pod:default/web", "web"));
        // Without a sandbox label, a running container of the pod stands for it.
        let only_app = pod_of(&infos[..1], &tasks);
        assert_eq!(
            only_app.first().map(|p| p.netns.clone()),
            Some(PathBuf::from("/proc/300/ns/net"))
        );
    }

    #[test]
    fn inspectp_gives_the_pod_and_its_namespace() {
        let pod = parse_inspectp(INSPECTP).map_err(|e| e.to_string());
        let want = Pod {
            namespace: "shop".into(),
            name: "web".into(),
            id: "5a1e2c0f3b9d7e41c8a2f6b0d4e9c1a7b3f5d8e2a6c0b4f7e1d3a9c5b8e2f0a4".into(),
            // The recorded cni-… file does not exist here: the sandbox process's namespace.
            netns: PathBuf::from("/proc/48213/ns/net"),
        };
        assert_eq!(pod, Ok(Some(want.clone())));
        assert_eq!(want.label(), "shop/web");
        let not_ready = INSPECTP.replace("SANDBOX_READY", "SANDBOX_NOTREADY");
        assert!(matches!(parse_inspectp(&not_ready), Ok(None)));
        assert!(matches!(parse_inspectp("{}"), Err(RuntimeError::Output { .. })));
    }
}
