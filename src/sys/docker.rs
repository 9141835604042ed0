//! Docker, asked through its CLI: a container (name or id) → its network namespace, the running
//! containers, and the networks as `docker network inspect` describes them.
//!
//! Why the CLI rather than an Engine API crate: vtrace asks Docker three read-only questions,
//! once per run, and the CLI answers them in JSON while honouring everything a user has
//! configured (`DOCKER_HOST`, contexts, TLS, rootless sockets) — an API client would have to
//! re-implement that, and would add an HTTP stack and an async client to the build. The one
//! question every `ping` and `watch` asks first (which containers these bare names are) is the
//! exception ([`api`]): a run of the CLI costs 20-50 ms of CPU there, a sizeable part of a
//! `ping -c 1`, so it goes to the daemon's local socket when the CLI would go there too. The
//! CLI's JSON (`docker inspect`, `docker network inspect`) is the same document the Engine API
//! returns, and stable across versions (tested with CLI 28.2 on dockerd 20.10).
//!
//! This module only runs `docker` with fixed arguments (container names are validated by the
//! caller and passed after the options) and parses its answers; it never changes anything.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::Command;

use serde::Deserialize;
use thiserror::Error;

use crate::core::topology::{DockerAttachment, DockerNetwork};

mod api;

/// Why Docker could not answer.
#[derive(Debug, Error)]
pub enum DockerError {
    #[error(
        "`docker` is not on PATH: install Docker (`apt-get install docker.io`) or name a network \
         namespace instead (netns:NAME)"
    )]
    NotInstalled,
    #[error(
        "the Docker daemon is not reachable ({0}): start it (`systemctl start docker`, or \
         `scripts/docker-env.sh up` in vtrace's tree)"
    )]
    Daemon(String),
    #[error("no Docker container named {name:?}; {}", running_list(.running))]
    NoSuchContainer { name: String, running: Vec<String> },
    #[error("Docker container {name:?} is not running ({status}); {}", running_list(.running))]
    NotRunning { name: String, status: String, running: Vec<String> },
    #[error("running `docker {what}`: {reason}")]
    Failed { what: &'static str, reason: String },
    #[error("unexpected output of `docker {what}`: {reason}")]
    Output { what: &'static str, reason: String },
}

fn running_list(running: &[String]) -> String {
    if running.is_empty() {
        "no container is running (`docker ps -a` lists them all)".to_owned()
    } else {
        format!("running containers: {}", running.join(", "))
    }
}

/// A container as `docker inspect` describes it (what vtrace needs of it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    pub id: String,
    /// Without Docker's leading `/`.
    pub name: String,
    pub running: bool,
    /// `running`, `exited`, `created`, …
    pub status: String,
    /// The container's main process (0 when it is not running).
    pub pid: u32,
    /// `/var/run/docker/netns/…` (absent when the container has no sandbox).
    pub sandbox_key: Option<PathBuf>,
}

impl Container {
    /// The file of the container's network namespace: the sandbox's when it exists, else its
    /// process's.
    pub fn netns_path(&self) -> Option<PathBuf> {
        match &self.sandbox_key {
            Some(p) if p.exists() => Some(p.clone()),
            _ if self.pid > 0 => Some(PathBuf::from(format!("/proc/{}/ns/net", self.pid))),
            _ => None,
        }
    }
}

/// True when a `docker` executable is on PATH.
/// Where the userland proxy of pid `pid` forwards to, from `/proc/PID/cmdline`.
pub fn proxy_target(pid: u32) -> Option<(std::net::IpAddr, u16)> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let args: Vec<String> = raw
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    crate::core::topology::docker_proxy_target(&args)
}

pub fn installed() -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join("docker").is_file()))
}

/// Run `docker ARGS…`; its stdout, or the error it reported.
fn docker(what: &'static str, args: &[&str]) -> Result<Output, DockerError> {
    if !installed() {
        return Err(DockerError::NotInstalled);
    }
    let out = Command::new("docker")
        .args(args)
        .output()
        .map_err(|e| DockerError::Failed { what, reason: e.to_string() })?;
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    if !out.status.success() && daemon_unreachable(&stderr) {
        return Err(DockerError::Daemon(first_line(&stderr)));
    }
    Ok(Output {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr,
    })
}

struct Output {
    ok: bool,
    stdout: String,
    stderr: String,
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().to_owned()
}

/// The CLI's words for "no daemon at the socket" (or no right to use it).
fn daemon_unreachable(stderr: &str) -> bool {
    ["Cannot connect to the Docker daemon", "Is the docker daemon running", "permission denied"]
        .iter()
        .any(|w| stderr.contains(w))
}

/// The names of the running containers, sorted.
pub fn running() -> Result<Vec<String>, DockerError> {
    let out = docker("ps", &["ps", "--format", "{{.Names}}"])?;
    if !out.ok {
        return Err(DockerError::Failed { what: "ps", reason: first_line(&out.stderr) });
    }
    let mut names: Vec<String> =
        out.stdout.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect();
    names.sort();
    Ok(names)
}

/// The containers among `names` (names or id prefixes, validated by the caller): for each name,
/// the container it names, running or not, or `None`. Asked of the Engine API's local socket
/// when the CLI would ask it ([`api`]), else in one `docker inspect`.
pub fn inspect_many(names: &[String]) -> Result<Vec<Option<Container>>, DockerError> {
    if let Some(socket) = api::socket() {
        match inspect_api(&socket, names) {
            Ok(found) => return Ok(found),
            // Where the CLI would connect, nothing listens: it would say the same.
            Err(api::ApiError::Unreachable(e)) => {
                return Err(DockerError::Daemon(format!("{}: {e}", socket.display())));
            }
            // Something odd answered: the CLI's own answer, with its own words.
            Err(api::ApiError::Broken) => {}
        }
    }
    let mut args = vec!["inspect", "--type", "container", "--"];
    args.extend(names.iter().map(String::as_str));
    // A name Docker does not know makes the command fail, after printing the others.
    let out = docker("inspect", &args)?;
    let found = parse_containers(&out.stdout)?;
    Ok(names
        .iter()
        .map(|n| found.iter().find(|c| &c.name == n || c.id.starts_with(n.as_str())).cloned())
        .collect())
}

/// [`inspect_many`] over the Engine API: `GET /containers/NAME/json` per name (404: none).
fn inspect_api(
    socket: &std::path::Path,
    names: &[String],
) -> Result<Vec<Option<Container>>, api::ApiError> {
    names
        .iter()
        .map(|n| {
            let answer = api::get(socket, &format!("/containers/{n}/json"))?;
            match answer.status {
                200 => {
                    // The API's object is one element of `docker inspect`'s array.
                    let found = parse_containers(&format!("[{}]", answer.body))
                        .map_err(|_| api::ApiError::Broken)?;
                    Ok(found.into_iter().find(|c| &c.name == n || c.id.starts_with(n.as_str())))
                }
                404 => Ok(None),
                _ => Err(api::ApiError::Broken),
            }
        })
        .collect()
}

/// The running container `name` (a name or an id, validated by the caller): unknown and
/// stopped containers are errors that list the running ones.
pub fn container(name: &str) -> Result<Container, DockerError> {
    let out = docker("inspect", &["inspect", "--type", "container", "--", name])?;
    if !out.ok {
        if out.stderr.contains("No such") {
            return Err(DockerError::NoSuchContainer {
                name: name.to_owned(),
                running: running().unwrap_or_default(),
            });
        }
        return Err(DockerError::Failed { what: "inspect", reason: first_line(&out.stderr) });
    }
    let found = parse_containers(&out.stdout)?.into_iter().next().ok_or_else(|| {
        DockerError::NoSuchContainer {
            name: name.to_owned(),
            running: running().unwrap_or_default(),
        }
    })?;
    if !found.running || found.netns_path().is_none() {
        return Err(DockerError::NotRunning {
            name: name.to_owned(),
            status: found.status,
            running: running().unwrap_or_default(),
        });
    }
    Ok(found)
}

/// Every running container, with its namespace (for labelling discovered namespaces).
pub fn running_containers() -> Result<Vec<Container>, DockerError> {
    let ids = docker("ps", &["ps", "-q", "--no-trunc"])?;
    if !ids.ok {
        return Err(DockerError::Failed { what: "ps", reason: first_line(&ids.stderr) });
    }
    let ids: Vec<&str> = ids.stdout.split_whitespace().collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut args = vec!["inspect", "--type", "container", "--"];
    args.extend(ids);
    let out = docker("inspect", &args)?;
    // A container that stopped between the two commands makes inspect fail for it alone: the
    // others are still printed.
    let containers = parse_containers(&out.stdout)?;
    Ok(containers.into_iter().filter(|c| c.running).collect())
}

/// The name of the running container whose network namespace has this inode, if Docker runs
/// and one does.
pub fn container_in(inode: u64) -> Option<String> {
    running_containers().ok()?.into_iter().find_map(|c| {
        let ino = std::fs::metadata(c.netns_path()?).ok()?.ino();
        (ino == inode).then_some(c.name)
    })
}

/// Every Docker network, as `docker network inspect` describes it, sorted by name.
pub fn networks() -> Result<Vec<DockerNetwork>, DockerError> {
    let ids = docker("network ls", &["network", "ls", "-q", "--no-trunc"])?;
    if !ids.ok {
        return Err(DockerError::Failed { what: "network ls", reason: first_line(&ids.stderr) });
    }
    let ids: Vec<&str> = ids.stdout.split_whitespace().collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut args = vec!["network", "inspect", "--"];
    args.extend(ids);
    let out = docker("network inspect", &args)?;
    let mut nets = parse_networks(&out.stdout)?;
    nets.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(nets)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct InspectJson {
    #[serde(default)]
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    state: StateJson,
    #[serde(default)]
    network_settings: NetSettingsJson,
}

/// `State` of `docker inspect` (and of `podman inspect`, which keeps Docker's shape).
#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct StateJson {
    #[serde(default)]
    pub(crate) status: String,
    #[serde(default)]
    pub(crate) running: bool,
    #[serde(default)]
    pub(crate) pid: i64,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct NetSettingsJson {
    #[serde(default)]
    sandbox_key: String,
}

/// `docker inspect`'s JSON array → containers.
pub fn parse_containers(json: &str) -> Result<Vec<Container>, DockerError> {
    let text = json.trim();
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let raw: Vec<InspectJson> = serde_json::from_str(text)
        .map_err(|e| DockerError::Output { what: "inspect", reason: e.to_string() })?;
    Ok(raw
        .into_iter()
        .map(|c| Container {
            id: c.id,
            name: c.name.trim_start_matches('/').to_owned(),
            running: c.state.running,
            status: c.state.status,
            pid: u32::try_from(c.state.pid).unwrap_or(0),
            sandbox_key: Some(c.network_settings.sandbox_key)
                .filter(|k| k.starts_with('/'))
                .map(PathBuf::from),
        })
        .collect())
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct NetworkJson {
    #[serde(default)]
    name: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    driver: String,
    #[serde(default, rename = "IPAM")]
    ipam: IpamJson,
    #[serde(default)]
    containers: Option<BTreeMap<String, EndpointJson>>,
    #[serde(default)]
    options: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct IpamJson {
    #[serde(default)]
    config: Option<Vec<IpamConfigJson>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct IpamConfigJson {
    #[serde(default)]
    subnet: String,
    #[serde(default)]
    gateway: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct EndpointJson {
    #[serde(default)]
    name: String,
    #[serde(default, rename = "EndpointID")]
    endpoint_id: String,
    #[serde(default)]
    mac_address: String,
    #[serde(default, rename = "IPv4Address")]
    ipv4_address: String,
    #[serde(default, rename = "IPv6Address")]
    ipv6_address: String,
}

/// The option that names a bridge network's Linux bridge.
const BRIDGE_NAME_OPTION: &str = "com.docker.network.bridge.name";

/// `docker network inspect`'s JSON array → networks. A bridge network's Linux bridge is the
/// one its options name (`docker0` for the default network), else `br-` and the first 12
/// characters of its id, as dockerd names it.
pub fn parse_networks(json: &str) -> Result<Vec<DockerNetwork>, DockerError> {
    let text = json.trim();
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let raw: Vec<NetworkJson> = serde_json::from_str(text)
        .map_err(|e| DockerError::Output { what: "network inspect", reason: e.to_string() })?;
    Ok(raw
        .into_iter()
        .map(|n| {
            let option = n.options.as_ref().and_then(|o| o.get(BRIDGE_NAME_OPTION)).cloned();
            let bridge = match (n.driver.as_str(), option) {
                ("bridge", Some(name)) if !name.is_empty() => Some(name),
                ("bridge", _) => n.id.get(..12).map(|short| format!("br-{short}")),
                _ => None,
            };
            let configs = n.ipam.config.unwrap_or_default();
            let mut containers: Vec<DockerAttachment> = n
                .containers
                .unwrap_or_default()
                .into_iter()
                .map(|(id, e)| DockerAttachment {
                    container_id: id,
                    container: e.name,
                    endpoint_id: e.endpoint_id,
                    mac: Some(e.mac_address).filter(|m| !m.is_empty()),
                    ipv4: Some(e.ipv4_address).filter(|a| !a.is_empty()),
                    ipv6: Some(e.ipv6_address).filter(|a| !a.is_empty()),
                })
                .collect();
            containers.sort_by(|a, b| a.container.cmp(&b.container));
            DockerNetwork {
                name: n.name,
                id: n.id,
                driver: n.driver,
                bridge,
                subnets: configs
                    .iter()
                    .map(|c| c.subnet.clone())
                    .filter(|s| !s.is_empty())
                    .collect(),
                gateways: configs
                    .iter()
                    .map(|c| c.gateway.clone())
                    .filter(|s| !s.is_empty())
                    .collect(),
                containers,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Trimmed from dockerd 20.10's answer for a running and a stopped container.
    const INSPECT: &str = r#"[
      {"Id": "172019ee6101aa", "Name": "/nginx-1",
       "State": {"Status": "running", "Running": true, "Pid": 3326},
       "NetworkSettings": {"SandboxKey": "/var/run/docker/netns/391f4303d587"}},
      {"Id": "9f00", "Name": "/old",
       "State": {"Status": "exited", "Running": false, "Pid": 0},
       "NetworkSettings": {"SandboxKey": ""}}
    ]"#;

    #[test]
    fn inspect_gives_name_pid_and_sandbox() {
        let got = parse_containers(INSPECT).map_err(|e| e.to_string());
        let want = vec![
            Container {
                id: "172019ee6101aa".into(),
                name: "nginx-1".into(),
                running: true,
                status: "running".into(),
                pid: 3326,
                sandbox_key: Some("/var/run/docker/netns/391f4303d587".into()),
            },
            Container {
                id: "9f00".into(),
                name: "old".into(),
                running: false,
                status: "exited".into(),
                pid: 0,
                sandbox_key: None,
            },
        ];
        assert_eq!(got, Ok(want));
        assert!(parse_containers("[]").is_ok_and(|c| c.is_empty()));
        assert!(parse_containers("").is_ok_and(|c| c.is_empty()));
        assert!(matches!(parse_containers("<no value>"), Err(DockerError::Output { .. })));
    }

    #[test]
    fn a_stopped_container_has_no_namespace() {
        let stopped = Container {
            id: "x".into(),
            name: "x".into(),
            running: false,
            status: "exited".into(),
            pid: 0,
            sandbox_key: None,
        };
        assert_eq!(stopped.netns_path(), None);
        let by_pid = Container { pid: 42, sandbox_key: Some("/nonexistent/sb".into()), ..stopped };
        assert_eq!(by_pid.netns_path(), Some(PathBuf::from("/proc/42/ns/net")));
    }

    /// Trimmed from `docker network inspect bridge vtrace-net none`.
    const NETWORKS: &str = r#"[
      {"Name": "bridge", "Id": "8d1c9b3e7f20a1b2c3d4", "Driver": "bridge",
       "IPAM": {"Driver": "default", "Options": null,
                "Config": [{"Subnet": "172.17.0.0/16", "Gateway": "172.17.0.1"}]},
       "Containers": {
         "d8e0": {"Name": "nginx-2", "EndpointID": "e2", "MacAddress": "02:42:ac:11:00:03",
                  "IPv4Address": "172.17.0.3/16", "IPv6Address": ""},
         "1287": {"Name": "nginx-1", "EndpointID": "e1", "MacAddress": "02:42:ac:11:00:02",
                  "IPv4Address": "172.17.0.2/16", "IPv6Address": ""}},
       "Options": {"com.docker.network.bridge.name": "docker0",
                   "com.docker.network.bridge.enable_icc": "true"}},
      {"Name": "vtrace-net", "Id": "4f3a2b1c0d9e8f7a6b5c", "Driver": "bridge",
       "IPAM": {"Config": [{"Subnet": "172.18.0.0/16"}]}, "Containers": {}, "Options": {}},
      {"Name": "none", "Id": "77", "Driver": "null", "IPAM": {"Config": []},
       "Containers": null, "Options": null}
    ]"#;

    #[test]
    fn network_inspect_gives_bridge_subnet_and_containers() {
        let nets = parse_networks(NETWORKS).unwrap_or_default();
        assert_eq!(nets.len(), 3);
        assert_eq!(nets[0].name, "bridge");
        assert_eq!(nets[0].bridge.as_deref(), Some("docker0"));
        assert_eq!(nets[0].subnets, ["172.17.0.0/16"]);
        assert_eq!(nets[0].gateways, ["172.17.0.1"]);
        let names: Vec<&str> = nets[0].containers.iter().map(|c| c.container.as_str()).collect();
        assert_eq!(names, ["nginx-1", "nginx-2"]);
        assert_eq!(nets[0].containers[0].mac.as_deref(), Some("02:42:ac:11:00:02"));
        assert_eq!(nets[0].containers[0].ipv4.as_deref(), Some("172.17.0.2/16"));
        assert_eq!(nets[0].containers[0].ipv6, None);
        assert_eq!(nets[1].bridge.as_deref(), Some("br-4f3a2b1c0d9e"));
        assert_eq!(nets[1].gateways, Vec::<String>::new());
        assert_eq!(nets[2].bridge, None);
        assert!(nets[2].containers.is_empty());
    }

    #[test]
    fn errors_list_the_running_containers() {
        let e = DockerError::NoSuchContainer { name: "web".into(), running: vec![] };
        assert_eq!(
            e.to_string(),
            "no Docker container named \"web\"; no container is running (`docker ps -a` lists \
             them all)"
        );
        let e = DockerError::NotRunning {
            name: "web".into(),
            status: "exited".into(),
            running: vec!["a".into(), "b".into()],
        };
        assert_eq!(
            e.to_string(),
            "Docker container \"web\" is not running (exited); running containers: a, b"
        );
        assert!(daemon_unreachable(
            "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker \
             daemon running?"
        ));
        assert!(!daemon_unreachable("Error: No such container: web"));
    }
}
