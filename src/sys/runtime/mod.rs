//! Container runtimes beside Docker (`sys::docker`), each asked through its own CLI: Podman
//! (`podman inspect`, `podman ps`, `podman network ls`), containerd (`ctr`), Kubernetes pods
//! (containerd's `k8s.io` namespace, whose containers carry the kubelet's labels, or `crictl
//! inspectp` when crictl is installed). Each answers the same questions: the running container
//! or pod of a name (→ its network namespace file), every running one (for listings and for
//! naming discovered namespaces), and for topo its networks.
//!
//! Laid out as: this file (what every runtime answers: [`Found`], [`RuntimeError`], running a
//! CLI with a time limit), `podman`, `containerd`, `pod`, and `rootless` (how a rootless
//! Podman container reaches the network: slirp4netns or pasta).
//!
//! Only runs the CLIs with fixed arguments (names are validated by `sys::endpoint` and passed
//! after the options) and parses their answers; it never changes anything.

pub mod containerd;
pub mod pod;
pub mod podman;
pub mod rootless;

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use thiserror::Error;
use wait_timeout::ChildExt;

pub use crate::core::topology::Runtime;

/// How long one CLI run may take before vtrace gives up on it (a daemon that accepts the
/// connection and never answers).
const CLI_TIMEOUT: Duration = Duration::from_secs(10);

/// A running container or pod, as its runtime names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub runtime: Runtime,
    /// The name its points carry (`web`, `kube-system/coredns`).
    pub label: String,
    /// What picks it on the command line (`podman:web`, `containerd:ns/web`, `pod:web`).
    pub spec: String,
    /// Its network namespace file.
    pub netns: PathBuf,
    /// What the user should know about its path (a rootless container's user-mode network).
    pub note: Option<String>,
}

/// Why a runtime could not answer, or did not know the name.
#[derive(Debug, Error)]
pub enum RuntimeError {
    #[error("`{program}` is not on PATH: {hint}")]
    NotInstalled { program: &'static str, hint: &'static str },
    #[error("{runtime} is not reachable ({reason}): {hint}")]
    Unreachable { runtime: &'static str, reason: String, hint: &'static str },
    #[error("no {} named {name:?}; {}", .runtime.what(), running_list(*.runtime, .running))]
    NoSuch { runtime: Runtime, name: String, running: Vec<String> },
    #[error("{} {name:?} is not running ({status}); {}", .runtime.what(), running_list(*.runtime, .running))]
    NotRunning { runtime: Runtime, name: String, status: String, running: Vec<String> },
    #[error("running `{what}`: {reason}")]
    Failed { what: String, reason: String },
    #[error("unexpected output of `{what}`: {reason}")]
    Output { what: String, reason: String },
}

fn running_list(runtime: Runtime, running: &[String]) -> String {
    if running.is_empty() {
        format!("none is running (`{}` lists them)", list_command(runtime))
    } else {
        format!("running: {}", running.join(", "))
    }
}

/// The command that lists a runtime's containers, for messages.
pub fn list_command(runtime: Runtime) -> &'static str {
    match runtime {
        Runtime::Docker => "docker ps -a",
        Runtime::Podman => "podman ps -a",
        Runtime::Containerd => "ctr containers ls",
        Runtime::Kubernetes => "ctr -n k8s.io containers ls, or crictl pods",
    }
}

/// True for the names runtimes give the named namespaces they make: Podman's `netns-<uuid>`,
/// CNI's `cni-<uuid>` (whose owner a runtime can tell).
pub fn generated_name(name: &str) -> bool {
    name.starts_with("netns-") || name.starts_with("cni-")
}

/// The container or pod whose network namespace has this inode, as the runtime that runs it
/// names it (Podman, then pods, then containerd; Docker's are `sys::docker`'s).
pub fn owner_of(inode: u64) -> Option<(Runtime, String)> {
    use std::os::unix::fs::MetadataExt;
    if podman::installed() {
        let found = podman::running_containers().ok().into_iter().flatten().find(|c| {
            c.netns_path().and_then(|p| std::fs::metadata(p).ok()).is_some_and(|m| m.ino() == inode)
        });
        if let Some(c) = found {
            return Some((Runtime::Podman, c.name));
        }
    }
    if pod::available() {
        let pods = pod::running_workloads().ok().into_iter().flatten();
        if let Some(w) = pods.into_iter().find(|w| w.inode == Some(inode)) {
            return Some((Runtime::Kubernetes, w.label));
        }
    }
    if containerd::available() {
        let all = containerd::running_workloads().ok().into_iter().flatten();
        if let Some(w) = all.into_iter().find(|w| w.inode == Some(inode)) {
            return Some((Runtime::Containerd, w.label));
        }
    }
    None
}

/// True when `program` is an executable file in a directory of PATH.
pub fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// What a CLI run printed.
#[derive(Debug)]
pub struct Output {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// The first line of stderr (what the CLI said went wrong).
    pub fn reason(&self) -> String {
        self.stderr.lines().next().unwrap_or("no message").to_owned()
    }
}

/// Run `program ARGS…` with stdin closed, at most [`CLI_TIMEOUT`]; what it printed.
pub fn run(program: &str, args: &[&str]) -> Result<Output, RuntimeError> {
    let what = || format!("{program} {}", args.join(" "));
    let failed = |reason: String| RuntimeError::Failed { what: what(), reason };
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| failed(e.to_string()))?;
    // Read both pipes while waiting: a child that fills one would otherwise never end.
    let pipe = |p: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = p {
                let _ = p.read_to_end(&mut buf);
            }
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let out = pipe(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let err = pipe(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let status = match child.wait_timeout(CLI_TIMEOUT).map_err(|e| failed(e.to_string()))? {
        Some(status) => status,
        None => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(failed(format!("no answer within {} s", CLI_TIMEOUT.as_secs())));
        }
    };
    Ok(Output {
        ok: status.success(),
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default().trim().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cli_run_gives_its_output_and_status() {
        let out = run("sh", &["-c", "echo out; echo err >&2; exit 3"]).map_err(|e| e.to_string());
        let got = out.map(|o| (o.ok, o.reason(), o.stdout, o.stderr));
        assert_eq!(got, Ok((false, "err".into(), "out\n".into(), "err".into())));
        let missing = run("vtrace-surely-absent-program", &[]).map_err(|e| e.to_string());
        assert!(
            matches!(&missing, Err(m) if m.starts_with("running `vtrace-surely-absent-program `")),
            "{missing:?}"
        );
        assert!(on_path("sh"));
        assert!(!on_path("vtrace-surely-absent-program"));
    }

    #[test]
    fn errors_list_the_running_ones_and_how_to_see_more() {
        let e =
            RuntimeError::NoSuch { runtime: Runtime::Podman, name: "web".into(), running: vec![] };
        assert_eq!(
            e.to_string(),
            "no Podman container named \"web\"; none is running (`podman ps -a` lists them)"
        );
        let e = RuntimeError::NotRunning {
            runtime: Runtime::Kubernetes,
            name: "default/web".into(),
            status: "STOPPED".into(),
            running: vec!["db".into()],
        };
        assert_eq!(
            e.to_string(),
            "Kubernetes pod \"default/web\" is not running (STOPPED); running: db"
        );
    }
}
