//! Root tests against a real dockerd: containers of the image `scripts/docker-env.sh` imports
//! (busybox httpd on port 80), traced by name with Docker's own veth and bridge names.
//!
//! The environment is started by the script when dockerd is not running; the tests skip with a
//! message only when it cannot start (with `VTRACE_REQUIRE_DOCKER=1` or `CI` set, as in CI, they
//! fail instead; so does a missing tmux). Every container, network and iptables rule a test
//! makes carries the process id in its name and is removed by a guard however the test ends.
//! Run as root:
//! `cargo test --features root-tests --test docker`.
#![cfg(feature = "root-tests")]

mod common;

use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use serde_json::Value;

use common::{Tmux, hops};

const BIN: &str = env!("CARGO_BIN_EXE_vtrace");
const IMAGE: &str = "vtrace-busybox";
const ENV_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/docker-env.sh");

fn sh(cmd: &str, args: &[&str]) -> Output {
    Command::new(cmd).args(args).output().unwrap_or_else(|e| panic!("running {cmd}: {e}"))
}

fn describe(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn ok(cmd: &str, args: &[&str]) -> String {
    let out = sh(cmd, args);
    assert!(out.status.success(), "{cmd} {args:?}: {}", describe(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// dockerd answers (started by the script, once per test process), or why it cannot.
fn docker_ready() -> bool {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    let ready = READY.get_or_init(|| {
        let out = Command::new("bash").args([ENV_SCRIPT, "up"]).output();
        match out {
            Ok(o) if o.status.success() => Ok(()),
            Ok(o) => Err(String::from_utf8_lossy(&o.stderr).trim().to_owned()),
            Err(e) => Err(format!("running {ENV_SCRIPT}: {e}")),
        }
    });
    match ready {
        Ok(()) => true,
        Err(why) if std::env::var_os("VTRACE_REQUIRE_DOCKER").is_some() || common::in_ci() => {
            panic!("dockerd must run here (VTRACE_REQUIRE_DOCKER or CI) but cannot start: {why}")
        }
        Err(why) => {
            eprintln!("SKIPPED: dockerd cannot start ({why})");
            false
        }
    }
}

/// What a test made in Docker and the root firewall; removed on drop.
struct Env {
    tag: String,
    containers: Vec<String>,
    networks: Vec<String>,
    rules: Vec<Vec<String>>,
    dirs: Vec<std::path::PathBuf>,
}

impl Env {
    fn new(tag: &str) -> Env {
        Env {
            tag: format!("vt{}{tag}", std::process::id()),
            containers: Vec::new(),
            networks: Vec::new(),
            rules: Vec::new(),
            dirs: Vec::new(),
        }
    }

    /// A user-defined bridge network `<tag>-<suffix>` on `subnet`; its name.
    fn network(&mut self, suffix: &str, subnet: &str) -> String {
        let name = format!("{}-{suffix}", self.tag);
        let _ = sh("docker", &["network", "rm", &name]);
        ok("docker", &["network", "create", "--subnet", subnet, &name]);
        self.networks.push(name.clone());
        name
    }

    /// A running container `<tag>-<suffix>` (busybox httpd on port 80) on `network` (the
    /// default bridge when `None`).
    fn container(&mut self, suffix: &str, network: Option<&str>) -> Container {
        self.container_with(suffix, network, &[])
    }

    /// [`Env::container`] with more `docker run` options (`-p 8080:80`).
    fn container_with(&mut self, suffix: &str, network: Option<&str>, extra: &[&str]) -> Container {
        let name = format!("{}-{suffix}", self.tag);
        let _ = sh("docker", &["rm", "-f", &name]);
        let mut args = vec!["run", "-d", "--name", &name];
        if let Some(n) = network {
            args.extend(["--network", n]);
        }
        args.extend_from_slice(extra);
        args.push(IMAGE);
        ok("docker", &args);
        self.containers.push(name.clone());
        Container::inspect(&name, network.unwrap_or("bridge"))
    }

    /// `iptables RULE…` inserted now (`-I CHAIN …`), deleted (`-D CHAIN …`) on drop.
    fn iptables_insert(&mut self, chain: &str, rule: &[&str]) {
        let mut args = vec!["-I", chain];
        args.extend_from_slice(rule);
        ok("iptables", &args);
        let mut del = vec!["-D".to_owned(), chain.to_owned()];
        del.extend(rule.iter().map(|s| (*s).to_owned()));
        self.rules.push(del);
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        for d in &self.dirs {
            let _ = std::fs::remove_dir_all(d);
        }
        for rule in &self.rules {
            let args: Vec<&str> = rule.iter().map(String::as_str).collect();
            let _ = sh("iptables", &args);
        }
        if !self.containers.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(self.containers.iter().map(String::as_str));
            let _ = sh("docker", &args);
        }
        for n in &self.networks {
            let _ = sh("docker", &["network", "rm", n]);
        }
    }
}

/// A container as Docker and iproute2 see it.
struct Container {
    name: String,
    id: String,
    ip: String,
    /// The host end of its veth, from `ip -j link` (the link whose ifindex is eth0's iflink).
    host_veth: String,
    /// The bridge that veth is a port of (its `master`).
    bridge: String,
}

impl Container {
    fn inspect(name: &str, network: &str) -> Container {
        let v: Value =
            serde_json::from_str(&ok("docker", &["inspect", "--type", "container", name]))
                .unwrap_or(Value::Null);
        let c = &v[0];
        assert_eq!(c["State"]["Running"], true, "{name} is not running: {c}");
        let ip = c["NetworkSettings"]["Networks"][network]["IPAddress"]
            .as_str()
            .unwrap_or_else(|| panic!("{name} has no address on {network}: {c}"))
            .to_owned();
        let iflink: u64 = ok("docker", &["exec", name, "cat", "/sys/class/net/eth0/iflink"])
            .parse()
            .unwrap_or_else(|e| panic!("{name}'s eth0 iflink: {e}"));
        let links: Value =
            serde_json::from_str(&ok("ip", &["-j", "link", "show"])).unwrap_or(Value::Null);
        let host = links
            .as_array()
            .into_iter()
            .flatten()
            .find(|l| l["ifindex"].as_u64() == Some(iflink))
            .unwrap_or_else(|| panic!("no host link with ifindex {iflink} for {name}"));
        Container {
            name: name.to_owned(),
            id: c["Id"].as_str().unwrap_or_default().to_owned(),
            ip,
            host_veth: host["ifname"].as_str().unwrap_or_default().to_owned(),
            bridge: host["master"].as_str().unwrap_or_default().to_owned(),
        }
    }
}

/// The Linux bridge Docker made for `network`, from `docker network inspect`.
fn docker_bridge(network: &str) -> String {
    let v: Value = serde_json::from_str(&ok("docker", &["network", "inspect", network]))
        .unwrap_or(Value::Null);
    let n = &v[0];
    match n["Options"]["com.docker.network.bridge.name"].as_str() {
        Some(name) => name.to_owned(),
        None => format!("br-{}", n["Id"].as_str().unwrap_or_default().get(..12).unwrap_or("")),
    }
}

/// The five points from `a` to `b` across their bridge.
fn five_points(a: &Container, b: &Container) -> Vec<String> {
    vec![
        format!("{}/eth0", a.name),
        format!("host/{}", a.host_veth),
        format!("host/{}", a.bridge),
        format!("host/{}", b.host_veth),
        format!("{}/eth0", b.name),
    ]
}

/// One trace at a time: every test traces in the root namespace, where the netfilter trace
/// events of concurrent runs would mix.
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn vtrace(args: &[&str]) -> (Option<i32>, Value, Output) {
    let _one = one_at_a_time();
    let out = sh(BIN, args);
    let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code(), v, out)
}

fn point_ids(v: &Value) -> Vec<String> {
    v["points"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["id"].as_str().map(str::to_owned))
        .collect()
}

fn segment(v: &Value) -> (Option<&str>, Option<&str>) {
    let s = &v["verdict"]["segment"];
    (s["after"].as_str(), s["before"].as_str())
}

/// A healthy ping with --fresh-arp: the ARP exchange and every echo cross the five points in
/// order, named as Docker and `ip link` name them.
fn assert_healthy_ping(a: &Container, b: &Container, src: &str, dst: &str) {
    let (code, v, out) = vtrace(&["ping", src, dst, "-c", "2", "--fresh-arp", "--json"]);
    assert_eq!(code, Some(0), "{}", describe(&out));
    let points = five_points(a, b);
    let mut back = points.clone();
    back.reverse();
    assert_eq!(point_ids(&v), points, "{v}");
    assert_eq!(v["verdict"]["cause"], "ok", "{v}");
    assert_eq!(v["verdict"]["summary"], "2/2 echo replies, 5 hops each way", "{v}");
    let exchanges = v["exchanges"].as_array().cloned().unwrap_or_default();
    let echoes: Vec<&Value> = exchanges.iter().filter(|e| e["kind"] == "icmp-echo").collect();
    assert_eq!(echoes.len(), 2, "{v}");
    for e in echoes {
        assert_eq!(hops(&e["request"]), points, "{e}");
        assert_eq!(hops(&e["reply"]), back, "{e}");
    }
    let arp = exchanges
        .iter()
        .find(|e| e["kind"] == "arp" && e["summary"] == format!("who-has {} tell {}", b.ip, a.ip))
        .unwrap_or_else(|| panic!("no ARP exchange for {} with --fresh-arp: {v}", b.ip));
    assert_eq!(hops(&arp["request"]), points, "{arp}");
    assert_eq!(hops(&arp["reply"]), back, "{arp}");
}

#[test]
fn ping_on_the_default_bridge_crosses_docker0_and_the_real_veths() {
    if !docker_ready() {
        return;
    }
    let mut env = Env::new("d");
    let (a, b) = (env.container("a", None), env.container("b", None));
    assert_eq!(a.bridge, docker_bridge("bridge"));
    assert_eq!(a.bridge, "docker0");
    assert_eq!(b.bridge, "docker0");
    assert!(a.host_veth.starts_with("veth") && b.host_veth.starts_with("veth"));
    assert_healthy_ping(&a, &b, &a.name, &b.name);
}

#[test]
fn ping_on_a_user_defined_network_crosses_its_br_bridge_by_id_too() {
    if !docker_ready() {
        return;
    }
    let mut env = Env::new("u");
    let subnet = format!("10.251.{}.0/24", std::process::id() % 250);
    let net = env.network("net", &subnet);
    let (a, b) = (env.container("a", Some(&net)), env.container("b", Some(&net)));
    let bridge = docker_bridge(&net);
    assert!(bridge.starts_with("br-"), "{bridge}");
    assert_eq!((a.bridge.as_str(), b.bridge.as_str()), (bridge.as_str(), bridge.as_str()));
    // By id (docker:ID) and by address: the points still carry the container's name.
    let short = a.id.get(..12).unwrap_or(&a.id);
    assert_healthy_ping(&a, &b, &format!("docker:{short}"), &b.ip);
}

#[test]
fn watch_sees_an_http_request_hop_by_hop() {
    if !docker_ready() {
        return;
    }
    let mut env = Env::new("w");
    let (a, b) = (env.container("a", None), env.container("b", None));
    let one = one_at_a_time();
    // A directory of its own: --write may keep more files next to the capture.
    let dir = std::env::temp_dir().join(format!("{}-watch", env.tag));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    env.dirs.push(dir.clone());
    let file = dir.join("watch.pcapng");
    let file_arg = file.to_string_lossy().into_owned();
    let child = Command::new(BIN)
        .args(["watch", &a.name, &b.name, "--duration", "3s", "--json", "--write", &file_arg])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    std::thread::sleep(Duration::from_millis(1200));
    let page = ok("docker", &["exec", &a.name, "wget", "-qO-", &format!("http://{}/", b.ip)]);
    assert_eq!(page, "vtrace busybox httpd");
    let out = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    drop(one);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    let points = five_points(&a, &b);
    let mut listed = point_ids(&v);
    listed.sort();
    let mut want = points.clone();
    want.sort();
    assert_eq!(listed, want, "{v}");
    // watch itself shows the connection hop by hop: the SYN paired with its SYN-ACK, and the
    // HTTP request (the first segment with data) to port 80.
    let exchanges = v["exchanges"].as_array().cloned().unwrap_or_default();
    let hops = |leg: &Value| -> Vec<String> {
        leg["hops"]
            .as_array()
            .map(|h| h.iter().filter_map(|x| x["point"].as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    };
    let to_80 = format!("> {}.80 [", b.ip);
    let connect = exchanges
        .iter()
        .find(|x| {
            x["kind"] == "tcp-connect" && x["summary"].as_str().is_some_and(|s| s.contains(&to_80))
        })
        .unwrap_or_else(|| panic!("no tcp-connect to {}:80 in {v}", b.ip));
    // Every point, from one container to the other. (The order of the middle hops is the order
    // of the capture timestamps: a bridge in promiscuous mode, as capturing makes it, takes its
    // copy of a forwarded frame after handing it to the egress port, and conntrack's first
    // packet can show that.)
    let each_point = |leg: &Value, from: &String, to: &String, what: &str| {
        let h = hops(leg);
        assert_eq!((h.first(), h.last()), (Some(from), Some(to)), "{what}: {h:?}");
        let mut sorted = h.clone();
        sorted.sort();
        assert_eq!(sorted, want, "{what} at every point: {h:?}");
    };
    each_point(&connect["request"], &points[0], &points[4], "the SYN");
    each_point(&connect["reply"], &points[4], &points[0], "the SYN-ACK");
    let get = exchanges
        .iter()
        .find(|x| {
            x["kind"] == "tcp"
                && x["summary"]
                    .as_str()
                    .is_some_and(|s| s.contains(&to_80) && !s.ends_with(" length 0"))
        })
        .unwrap_or_else(|| panic!("no HTTP request to {}:80 in {v}", b.ip));
    each_point(&get["request"], &points[0], &points[4], "the HTTP request");
    // The packets watch kept: the SYN to port 80 and the SYN-ACK, hop by hop.
    let (code, _, listing) = vtrace(&["analyze", &file_arg, "--packets", "--json"]);
    assert_eq!(code, Some(0), "{}", describe(&listing));
    let packets: Vec<Value> = String::from_utf8_lossy(&listing.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let seen_at = |src: &str, dport: u64| -> Vec<String> {
        let mut at: Vec<(u64, String)> = packets
            .iter()
            .filter(|p| p["ip"]["src"] == src && p["tcp"]["dst"].as_u64() == Some(dport))
            .filter_map(|p| Some((p["t_ns"].as_u64()?, p["point"].as_str()?.to_owned())))
            .collect();
        at.sort();
        let first_flow_only: Vec<String> = at.into_iter().map(|(_, p)| p).collect();
        first_flow_only.into_iter().take(5).collect()
    };
    let request = seen_at(&a.ip, 80);
    assert_eq!(request.first(), Some(&points[0]), "the SYN starts in {}: {request:?}", a.name);
    assert_eq!(request.last(), Some(&points[4]), "and ends in {}: {request:?}", b.name);
    let mut r = request.clone();
    r.sort();
    assert_eq!(r, want, "the SYN to port 80 at every point: {request:?}");
    let syn_ack: Vec<&Value> = packets
        .iter()
        .filter(|p| p["ip"]["src"] == b.ip.as_str() && p["tcp"]["src"].as_u64() == Some(80))
        .collect();
    let mut at: Vec<&str> = syn_ack.iter().filter_map(|p| p["point"].as_str()).take(5).collect();
    at.sort_unstable();
    assert_eq!(at, want, "the answer from port 80 at every point");
}

#[test]
fn a_docker_user_drop_rule_is_netfilter_drop_naming_docker_user() {
    if !docker_ready() {
        return;
    }
    let mut env = Env::new("f");
    let (a, b) = (env.container("a", None), env.container("b", None));
    env.iptables_insert("DOCKER-USER", &["-s", &a.ip, "-d", &b.ip, "-j", "DROP"]);
    let (code, v, out) = vtrace(&["ping", &a.name, &b.name, "-c", "1", "--json"]);
    assert_eq!(code, Some(1), "{}", describe(&out));
    let p = five_points(&a, &b);
    assert_eq!(v["verdict"]["cause"], "netfilter-drop", "{v}");
    assert_eq!(segment(&v), (Some(p[2].as_str()), Some(p[3].as_str())), "{v}");
    let summary = v["verdict"]["summary"].as_str().unwrap_or_default();
    assert!(summary.contains("in host: ip filter DOCKER-USER, rule"), "{summary}");
    assert!(summary.contains(&format!("ip saddr {} ip daddr {}", a.ip, b.ip)), "{summary}");
}

#[test]
fn a_tcp_connect_to_port_80_is_reachable_hop_by_hop() {
    if !docker_ready() {
        return;
    }
    let mut env = Env::new("t");
    let (a, b) = (env.container("a", None), env.container("b", None));
    let (code, v, out) = vtrace(&["ping", &a.name, &b.name, "--tcp", "80", "-c", "2", "--json"]);
    assert_eq!(code, Some(0), "{}", describe(&out));
    assert_eq!(v["verdict"]["cause"], "ok", "{v}");
    assert_eq!(v["verdict"]["received"], 2, "{v}");
    let mut want = five_points(&a, &b);
    want.sort_unstable();
    let connects: Vec<&Value> = v["exchanges"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["kind"] == "tcp-connect" && e.get("answer").is_some())
        .collect();
    assert_eq!(connects.len(), 2, "{v}");
    for c in connects {
        assert_eq!(c["answer"], "syn-ack", "{c}");
        for leg in ["request", "reply"] {
            let mut got = hops(&c[leg]);
            got.sort_unstable();
            assert_eq!(got, want, "{leg} at every point: {c}");
        }
    }
}

#[test]
fn a_published_port_held_by_docker_proxy_is_named_and_its_own_connection_traced() {
    if !docker_ready() {
        return;
    }
    let mut env = Env::new("p");
    let port = (20_000 + std::process::id() % 20_000).to_string();
    let a = env.container_with("a", None, &["-p", &format!("{port}:80")]);
    // Its own /16: the tests of this file run side by side, each network on a subnet of its own.
    let octet = std::process::id() % 250;
    let net = env.network("pub", &format!("10.253.{octet}.0/24"));
    let c = env.container("c", Some(&net));
    // From another Docker network to the host's address on it: Docker returns the bridge's
    // traffic before its DNAT rule, and its userland proxy answers on the host.
    let gateway = format!("10.253.{octet}.1");
    let (code, v, out) = vtrace(&["ping", &c.name, &gateway, "--tcp", &port, "-c", "1", "--json"]);
    assert_eq!(code, Some(0), "{}", describe(&out));
    assert_eq!(v["verdict"]["cause"], "ok", "{v}");
    let summary = v["verdict"]["summary"].as_str().unwrap_or_default();
    assert!(
        summary.contains(&format!("{gateway}:{port} is answered by docker-proxy (pid ")),
        "{summary}"
    );
    assert!(summary.contains(&format!("connects on to {}:80", a.ip)), "{summary}");
    let connects: Vec<&Value> = v["exchanges"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["kind"] == "tcp-connect")
        .collect();
    let probe = connects.iter().find(|e| e.get("answer").is_some());
    let probe = probe.unwrap_or_else(|| panic!("no probe connect: {v}"));
    assert_eq!(
        hops(&probe["request"]),
        [format!("{}/eth0", c.name), format!("host/{}", c.host_veth), format!("host/{}", c.bridge)],
        "{probe}"
    );
    // The proxy's own connection to the container, hop by hop, on the container's side.
    let to_a = format!("> {}.80 [S]", a.ip);
    let proxied =
        connects.iter().find(|e| e["summary"].as_str().is_some_and(|s| s.contains(&to_a)));
    let proxied = proxied.unwrap_or_else(|| panic!("the proxy's connection was not traced: {v}"));
    assert_eq!(
        hops(&proxied["request"]),
        [format!("host/{}", a.bridge), format!("host/{}", a.host_veth), format!("{}/eth0", a.name)],
        "{proxied}"
    );
}

#[test]
fn a_docker_user_reject_is_netfilter_reject_naming_docker_user() {
    if !docker_ready() {
        return;
    }
    let mut env = Env::new("r");
    let (a, b) = (env.container("a", None), env.container("b", None));
    env.iptables_insert(
        "DOCKER-USER",
        &[
            "-s",
            &a.ip,
            "-d",
            &b.ip,
            "-p",
            "tcp",
            "--dport",
            "80",
            "-j",
            "REJECT",
            "--reject-with",
            "tcp-reset",
        ],
    );
    let (code, v, out) = vtrace(&["ping", &a.name, &b.name, "--tcp", "80", "-c", "1", "--json"]);
    assert_eq!(code, Some(1), "{}", describe(&out));
    assert_eq!(v["verdict"]["cause"], "netfilter-reject", "{v}");
    let summary = v["verdict"]["summary"].as_str().unwrap_or_default();
    assert!(summary.contains("in host: ip filter DOCKER-USER, rule"), "{summary}");
}

#[test]
fn a_container_of_another_network_is_stopped_by_dockers_isolation_chain() {
    if !docker_ready() {
        return;
    }
    let mut env = Env::new("i");
    let a = env.container("a", None);
    let subnet = format!("10.252.{}.0/24", std::process::id() % 250);
    let net = env.network("other", &subnet);
    let c = env.container("c", Some(&net));
    let (code, v, out) = vtrace(&["ping", &c.name, &a.name, "-c", "1", "--json"]);
    assert_eq!(code, Some(1), "{}", describe(&out));
    let ids = point_ids(&v);
    let want = [
        format!("{}/eth0", c.name),
        format!("host/{}", c.host_veth),
        format!("host/{}", c.bridge),
        format!("host/{}", a.bridge),
        format!("host/{}", a.host_veth),
        format!("{}/eth0", a.name),
    ];
    assert_eq!(ids, want, "{v}");
    assert_eq!(v["verdict"]["cause"], "netfilter-drop", "{v}");
    assert_eq!(segment(&v), (Some(want[2].as_str()), Some(want[3].as_str())), "{v}");
    let summary = v["verdict"]["summary"].as_str().unwrap_or_default();
    assert!(summary.contains("ip filter DOCKER-ISOLATION-STAGE-2"), "{summary}");
    assert!(summary.contains(&format!("oifname \"{}\"", a.bridge)), "{summary}");
}

#[test]
fn topo_shows_each_docker_network_with_the_container_behind_each_port() {
    if !docker_ready() {
        return;
    }
    let mut env = Env::new("t");
    let (a, b) = (env.container("a", None), env.container("b", None));
    let (code, v, out) = vtrace(&["topo", &a.name, &b.name, "--json"]);
    assert_eq!(code, Some(0), "{}", describe(&out));
    let nets = v["docker_networks"].as_array().cloned().unwrap_or_default();
    let bridge = nets
        .iter()
        .find(|n| n["name"] == "bridge")
        .unwrap_or_else(|| panic!("no default network: {v}"));
    assert_eq!(bridge["bridge"], "docker0");
    assert_eq!(bridge["bridge_point"], "host/docker0");
    for c in [&a, &b] {
        let port = bridge["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["name"] == c.host_veth.as_str())
            .unwrap_or_else(|| panic!("no port {} on docker0: {bridge}", c.host_veth));
        assert_eq!(port["container"], c.name.as_str(), "{port}");
        assert_eq!(port["peer"], format!("{}/eth0", c.name), "{port}");
        assert_eq!(port["state"], "forwarding", "{port}");
        let listed = bridge["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|x| x["name"] == c.name.as_str())
            .unwrap_or_else(|| panic!("{} not listed: {bridge}", c.name));
        assert_eq!(listed["ipv4"], format!("{}/16", c.ip));
        assert_eq!(listed["port"], c.host_veth.as_str());
    }
    let labels: Vec<&str> = v["namespaces"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n["label"].as_str())
        .collect();
    assert!(labels.contains(&a.name.as_str()) && labels.contains(&"host"), "{labels:?}");
    let text = ok(BIN, &["topo", &a.name, &b.name]);
    let line = text
        .lines()
        .find(|l| l.contains(&format!("port {}", a.host_veth)) && l.contains("container"))
        .unwrap_or_else(|| panic!("no Docker port line for {}:\n{text}", a.host_veth));
    assert!(line.contains(&format!("container {}  {}/16", a.name, a.ip)), "{line}");
    assert!(text.contains("bridge (bridge, "), "{text}");
}

#[test]
fn unknown_and_stopped_containers_are_errors_listing_the_running_ones() {
    if !docker_ready() {
        return;
    }
    let mut env = Env::new("e");
    let a = env.container("a", None);
    let stopped = env.container("s", None);
    ok("docker", &["stop", "-t", "0", &stopped.name]);
    let absent = format!("{}-absent", env.tag);

    let (code, _, out) = vtrace(&["ping", &format!("docker:{absent}"), &a.name, "--json"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains(&format!("no Docker container named \"{absent}\"")), "{err}");
    assert!(err.contains("running containers: ") && err.contains(&a.name), "{err}");

    let (code, _, out) = vtrace(&["ping", &stopped.name, &a.name, "--json"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(&format!("Docker container \"{}\" is not running (exited)", stopped.name)),
        "{err}"
    );
    assert!(err.contains(&a.name) && !err.contains(&format!("{}, ", stopped.name)), "{err}");

    let (code, _, out) = vtrace(&["topo", &absent]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(&format!("no network namespace, container or pod named \"{absent}\"")),
        "{err}"
    );
    // What runs in every runtime is listed, Docker's running containers among it.
    let docker = err.split("; ").find_map(|part| part.strip_prefix("Docker containers: "));
    assert!(docker.is_some_and(|names| names.split(", ").any(|n| n == a.name)), "{err}");
}

#[test]
fn without_docker_or_its_daemon_the_errors_say_so() {
    let (code, _, out) = {
        let out = Command::new(BIN)
            .args(["topo", "docker:web"])
            .env("PATH", "/nonexistent")
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        (out.status.code(), (), out)
    };
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("`docker` is not on PATH"), "{err}");
    if !docker_ready() {
        return;
    }
    let out = Command::new(BIN)
        .args(["topo", "docker:web"])
        .env("DOCKER_HOST", format!("unix:///run/vtrace-absent-{}.sock", std::process::id()))
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("the Docker daemon is not reachable"), "{err}");
}

#[test]
fn the_tui_shows_the_five_docker_points() {
    if !docker_ready() {
        return;
    }
    let mut env = Env::new("x");
    let (a, b) = (env.container("a", None), env.container("b", None));
    let _one = one_at_a_time();
    let Some(tmux) = Tmux::start("docker", 200, 45) else { return };
    tmux.send(&[&format!("{BIN} ping {} {} -c 2", a.name, b.name), "Enter"]);
    let pane = tmux.wait_for("the verdict", |p| p.contains("verdict reachable"));
    let points = five_points(&a, &b);
    let ladder = pane
        .lines()
        .find(|l| points.iter().all(|p| l.contains(p.as_str())))
        .unwrap_or_else(|| panic!("no ladder header with the five points {points:?}:\n{pane}"));
    let at: Vec<usize> = points.iter().filter_map(|p| ladder.find(p.as_str())).collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "points out of order in {ladder:?}");
    tmux.send(&["q"]);
    // Keys typed before the view has closed would go to it, not to the shell.
    tmux.wait_for("the shell", |p| !p.contains("verdict reachable"));
    let (rc, cooked) = tmux.exit_and_cooked();
    assert_eq!(rc, "0");
    assert!(cooked, "terminal left in raw mode");
}
