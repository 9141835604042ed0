//! Podman, asked through its CLI: a container (name or id) → its network namespace
//! (`podman inspect`: `.State.Pid`, `.NetworkSettings.SandboxKey`), the running containers, and
//! the networks (`podman network ls --format json`: each network's bridge, `podman0` with
//! netavark, `cni-podman0` with CNI) with the containers on them.
//!
//! A rootless container (`HostConfig.NetworkMode` slirp4netns or pasta) has no host veth: the
//! answer says so (`sys::runtime::rootless`) instead of failing. Only runs `podman` with fixed
//! arguments; the caller validates names.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use super::rootless::{self, UserMode};
use super::{Found, Output, Runtime, RuntimeError, on_path, run};
use crate::core::topology::{DockerAttachment, DockerNetwork, RuntimeNetwork};
// `podman inspect` keeps Docker's shape: the same State object.
use crate::sys::docker::StateJson;

/// A container as `podman inspect` describes it (what vtrace needs of it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    pub id: String,
    pub name: String,
    pub running: bool,
    /// `running`, `exited`, `created`, …
    pub status: String,
    /// The container's main process (0 when it is not running).
    pub pid: u32,
    /// `/run/netns/netns-<uuid>` (rootful), `$XDG_RUNTIME_DIR/netns/…` (rootless).
    pub sandbox_key: Option<PathBuf>,
    /// `bridge`, `slirp4netns`, `pasta`, `host`, `none`, `container:ID`, …
    pub network_mode: String,
    /// Its endpoints on Podman networks, by network name.
    pub networks: Vec<(String, DockerAttachment)>,
}

impl Container {
    /// The file of the container's network namespace: its process's (a rootless container's
    /// sandbox file is a namespace only inside the user's mount namespace), else the sandbox.
    pub fn netns_path(&self) -> Option<PathBuf> {
        if self.pid > 0 {
            return Some(PathBuf::from(format!("/proc/{}/ns/net", self.pid)));
        }
        self.sandbox_key.clone().filter(|p| p.exists())
    }

    /// How a rootless container reaches the network, when it does through a user-mode stack.
    pub fn user_mode(&self) -> Option<UserMode> {
        UserMode::of(&self.network_mode)
    }
}

/// True when a `podman` executable is on PATH.
pub fn installed() -> bool {
    on_path("podman")
}

fn podman(args: &[&str]) -> Result<Output, RuntimeError> {
    if !installed() {
        return Err(RuntimeError::NotInstalled {
            program: "podman",
            hint: "install Podman (`apt-get install podman`) or name the container another way",
        });
    }
    run("podman", args)
}

/// The names of the running containers, sorted.
pub fn running() -> Result<Vec<String>, RuntimeError> {
    let out = podman(&["ps", "--format", "{{.Names}}"])?;
    if !out.ok {
        return Err(RuntimeError::Failed { what: "podman ps".into(), reason: out.reason() });
    }
    let mut names: Vec<String> =
        out.stdout.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect();
    names.sort();
    Ok(names)
}

/// The containers among `names` (names or id prefixes, validated by the caller), in one
/// `podman inspect`: for each name, the container as an endpoint, `None` when Podman has no
/// such container, or why it cannot be one (not running).
pub fn find_many(
    names: &[String],
) -> Result<Vec<Result<Option<Found>, RuntimeError>>, RuntimeError> {
    let mut args = vec!["inspect", "--type", "container", "--"];
    args.extend(names.iter().map(String::as_str));
    // A name Podman does not know makes the command fail, after printing the others.
    let out = podman(&args)?;
    if !out.ok && !out.stderr.contains("no such") {
        return Err(RuntimeError::Failed { what: "podman inspect".into(), reason: out.reason() });
    }
    let found = parse_inspect(&out.stdout)?;
    Ok(names
        .iter()
        .map(|n| {
            let c = found.iter().find(|c| &c.name == n || c.id.starts_with(n.as_str()));
            c.map(|c| endpoint(c, n)).transpose()
        })
        .collect())
}

/// The running container `name` (a name or an id), as an endpoint; `None` when Podman has no
/// such container. A stopped one is an error that lists the running ones.
pub fn find(name: &str) -> Result<Option<Found>, RuntimeError> {
    let out = podman(&["inspect", "--type", "container", "--", name])?;
    if !out.ok {
        if out.stderr.contains("no such") {
            return Ok(None);
        }
        return Err(RuntimeError::Failed { what: "podman inspect".into(), reason: out.reason() });
    }
    let Some(c) = parse_inspect(&out.stdout)?.into_iter().next() else { return Ok(None) };
    endpoint(&c, name).map(Some)
}

/// A container `name` named as an endpoint: its namespace when it runs (and what to know of a
/// rootless one's path), else an error that lists the running ones.
fn endpoint(c: &Container, name: &str) -> Result<Found, RuntimeError> {
    let Some(netns) = c.netns_path().filter(|_| c.running) else {
        return Err(RuntimeError::NotRunning {
            runtime: Runtime::Podman,
            name: name.to_owned(),
            status: c.status.clone(),
            running: running().unwrap_or_default(),
        });
    };
    let note = c.user_mode().map(|mode| rootless::note(&c.name, mode, &rootless::find_process(c)));
    Ok(Found {
        runtime: Runtime::Podman,
        spec: format!("podman:{}", c.name),
        label: c.name.clone(),
        netns,
        note,
    })
}

/// Every running container, inspected.
pub fn running_containers() -> Result<Vec<Container>, RuntimeError> {
    let ids = podman(&["ps", "-q", "--no-trunc"])?;
    if !ids.ok {
        return Err(RuntimeError::Failed { what: "podman ps".into(), reason: ids.reason() });
    }
    let ids: Vec<&str> = ids.stdout.split_whitespace().collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut args = vec!["inspect", "--type", "container", "--"];
    args.extend(ids);
    // A container that stopped in between fails alone: the others are still printed.
    let out = podman(&args)?;
    Ok(parse_inspect(&out.stdout)?.into_iter().filter(|c| c.running).collect())
}

/// Podman's networks, each with the running containers attached to it (by name), sorted by
/// name; containers on a user-mode network (rootless slirp4netns or pasta) are listed under a
/// network named after the mode, with no bridge.
pub fn networks(containers: &[Container]) -> Result<Vec<RuntimeNetwork>, RuntimeError> {
    let out = podman(&["network", "ls", "--format", "json"])?;
    if !out.ok {
        return Err(RuntimeError::Failed {
            what: "podman network ls".into(),
            reason: out.reason(),
        });
    }
    let mut nets = parse_networks(&out.stdout)?;
    let mut user_mode: BTreeMap<&'static str, Vec<DockerAttachment>> = BTreeMap::new();
    for c in containers {
        for (net, attach) in &c.networks {
            if let Some(n) = nets.iter_mut().find(|n| &n.name == net) {
                n.containers.push(attach.clone());
            }
        }
        if let Some(mode) = c.user_mode() {
            user_mode.entry(mode.as_str()).or_default().push(DockerAttachment {
                container: c.name.clone(),
                container_id: c.id.clone(),
                ..DockerAttachment::default()
            });
        }
    }
    for (mode, containers) in user_mode {
        nets.push(DockerNetwork {
            name: mode.to_owned(),
            driver: mode.to_owned(),
            containers,
            ..DockerNetwork::default()
        });
    }
    for n in &mut nets {
        n.containers.sort_by(|a, b| a.container.cmp(&b.container));
    }
    nets.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(nets
        .into_iter()
        .map(|network| RuntimeNetwork { runtime: Runtime::Podman, network })
        .collect())
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
    #[serde(default)]
    host_config: HostConfigJson,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct NetSettingsJson {
    #[serde(default)]
    sandbox_key: String,
    #[serde(default)]
    networks: Option<BTreeMap<String, EndpointJson>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct EndpointJson {
    #[serde(default, rename = "IPAddress")]
    ip_address: String,
    #[serde(default, rename = "IPPrefixLen")]
    ip_prefix_len: u8,
    #[serde(default, rename = "GlobalIPv6Address")]
    ipv6_address: String,
    #[serde(default, rename = "GlobalIPv6PrefixLen")]
    ipv6_prefix_len: u8,
    #[serde(default)]
    mac_address: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct HostConfigJson {
    #[serde(default)]
    network_mode: String,
}

fn non_empty(s: String) -> Option<String> {
    Some(s).filter(|s| !s.is_empty())
}

/// `podman inspect`'s JSON array → containers.
pub fn parse_inspect(json: &str) -> Result<Vec<Container>, RuntimeError> {
    let text = json.trim();
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let raw: Vec<InspectJson> = serde_json::from_str(text).map_err(|e| RuntimeError::Output {
        what: "podman inspect".into(),
        reason: e.to_string(),
    })?;
    Ok(raw
        .into_iter()
        .map(|c| {
            let name = c.name.trim_start_matches('/').to_owned();
            let networks = c
                .network_settings
                .networks
                .unwrap_or_default()
                .into_iter()
                .map(|(net, e)| {
                    let attach = DockerAttachment {
                        container: name.clone(),
                        container_id: c.id.clone(),
                        endpoint_id: String::new(),
                        mac: non_empty(e.mac_address),
                        ipv4: non_empty(e.ip_address).map(|a| format!("{a}/{}", e.ip_prefix_len)),
                        ipv6: non_empty(e.ipv6_address)
                            .map(|a| format!("{a}/{}", e.ipv6_prefix_len)),
                    };
                    (net, attach)
                })
                .collect();
            Container {
                id: c.id,
                name,
                running: c.state.running,
                status: c.state.status,
                pid: u32::try_from(c.state.pid).unwrap_or(0),
                sandbox_key: Some(c.network_settings.sandbox_key)
                    .filter(|k| k.starts_with('/'))
                    .map(PathBuf::from),
                network_mode: c.host_config.network_mode,
                networks,
            }
        })
        .collect())
}

#[derive(Deserialize)]
struct NetworkJson {
    #[serde(default)]
    name: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    driver: String,
    #[serde(default)]
    network_interface: String,
    #[serde(default)]
    subnets: Option<Vec<SubnetJson>>,
}

#[derive(Deserialize)]
struct SubnetJson {
    #[serde(default)]
    subnet: String,
    #[serde(default)]
    gateway: String,
}

/// `podman network ls --format json` → networks (no containers yet). A bridge network's Linux
/// bridge is its `network_interface` (`podman0`, `cni-podman0`, `podman1`, …).
pub fn parse_networks(json: &str) -> Result<Vec<DockerNetwork>, RuntimeError> {
    let text = json.trim();
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let raw: Vec<NetworkJson> = serde_json::from_str(text).map_err(|e| RuntimeError::Output {
        what: "podman network ls".into(),
        reason: e.to_string(),
    })?;
    Ok(raw
        .into_iter()
        .map(|n| {
            let subnets = n.subnets.unwrap_or_default();
            DockerNetwork {
                bridge: non_empty(n.network_interface).filter(|_| n.driver == "bridge"),
                name: n.name,
                id: n.id,
                driver: n.driver,
                subnets: subnets
                    .iter()
                    .map(|s| s.subnet.clone())
                    .filter(|s| !s.is_empty())
                    .collect(),
                gateways: subnets
                    .iter()
                    .map(|s| s.gateway.clone())
                    .filter(|s| !s.is_empty())
                    .collect(),
                containers: Vec::new(),
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Recorded from Podman 4.3.1 (netavark): `podman inspect` of a running container and of
    /// one only created, trimmed to a few fields.
    const INSPECT: &str = include_str!("../../../tests/data/runtimes/podman-inspect.json");
    /// Recorded from Podman 4.3.1 run rootless (`--network slirp4netns`).
    const ROOTLESS: &str =
        include_str!("../../../tests/data/runtimes/podman-inspect-rootless.json");
    const NETWORKS: &str = include_str!("../../../tests/data/runtimes/podman-network-ls.json");

    #[test]
    fn inspect_gives_name_pid_sandbox_and_the_network_endpoint() {
        let got = parse_inspect(INSPECT).unwrap_or_default();
        assert_eq!(got.len(), 2);
        let a = &got[0];
        assert_eq!((a.name.as_str(), a.running, a.status.as_str()), ("vt-a", true, "running"));
        assert_eq!(a.pid, 6077);
        assert_eq!(a.id, "380674983f6ccbaa3b46cb7594e649b6241f9bb341147a24fb74e5e2784c7192");
        assert_eq!(
            a.sandbox_key.as_deref(),
            Some(std::path::Path::new("/run/netns/netns-48b8fe94-6b50-99f8-7f46-15555c245295"))
        );
        assert_eq!(a.network_mode, "bridge");
        assert_eq!(a.user_mode(), None);
        assert_eq!(a.netns_path(), Some(PathBuf::from("/proc/6077/ns/net")));
        let (net, e) = &a.networks[0];
        assert_eq!(net, "podman");
        assert_eq!(e.mac.as_deref(), Some("46:25:d0:8a:d2:20"));
        assert_eq!(e.ipv4.as_deref(), Some("10.88.0.2/16"));
        assert_eq!(e.ipv6, None);
        let created = &got[1];
        assert_eq!((created.running, created.status.as_str(), created.pid), (false, "created", 0));
        assert_eq!(created.sandbox_key, None);
        assert_eq!(created.netns_path(), None);
        assert_eq!(created.networks[0].1.ipv4, None);
        assert!(parse_inspect("[]").is_ok_and(|c| c.is_empty()));
        assert!(parse_inspect("").is_ok_and(|c| c.is_empty()));
        assert!(matches!(parse_inspect("Error: x"), Err(RuntimeError::Output { .. })));
    }

    #[test]
    fn a_rootless_container_is_detected_from_its_network_mode() {
        let got = parse_inspect(ROOTLESS).unwrap_or_default();
        let c = got.first().cloned();
        let mode = c.as_ref().and_then(Container::user_mode);
        assert_eq!(mode, Some(UserMode::Slirp4netns));
        let c = c.unwrap_or_else(|| panic!("no container in the recording"));
        assert_eq!(c.name, "rl-a");
        assert!(c.networks.is_empty(), "no Podman network: {:?}", c.networks);
        // Its sandbox file is a namespace only in the user's mount namespace: the process's
        // is used.
        assert_eq!(c.netns_path(), Some(PathBuf::from("/proc/15237/ns/net")));
        let pasta = Container { network_mode: "pasta".into(), ..c };
        assert_eq!(pasta.user_mode(), Some(UserMode::Pasta));
    }

    #[test]
    fn network_ls_gives_the_bridge_and_subnets() {
        let nets = parse_networks(NETWORKS).unwrap_or_default();
        assert_eq!(nets.len(), 1);
        assert_eq!(nets[0].name, "podman");
        assert_eq!(nets[0].driver, "bridge");
        assert_eq!(nets[0].bridge.as_deref(), Some("podman0"));
        assert_eq!(nets[0].subnets, ["10.88.0.0/16"]);
        assert_eq!(nets[0].gateways, ["10.88.0.1"]);
        // CNI's name for the bridge, and a macvlan network (no bridge).
        let cni = r#"[{"name": "podman", "id": "2f25", "driver": "bridge",
            "network_interface": "cni-podman0", "subnets": [{"subnet": "10.88.0.0/16"}]},
           {"name": "mv", "driver": "macvlan", "network_interface": "eth0"}]"#;
        let nets = parse_networks(cni).unwrap_or_default();
        let bridges: Vec<Option<&str>> = nets.iter().map(|n| n.bridge.as_deref()).collect();
        assert_eq!(bridges, [Some("cni-podman0"), None]);
        assert_eq!(nets[0].gateways, Vec::<String>::new());
    }
}
