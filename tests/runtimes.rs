//! Root tests against real runtimes besides Docker: Podman (containers on its default network,
//! bridge `podman0`), containerd (`ctr run` in network namespaces the test builds) and
//! Kubernetes pods as the kubelet leaves them in containerd's `k8s.io` namespace (a sandbox and
//! a container carrying the kubelet's labels, in a `cni-<uuid>` namespace the test builds).
//!
//! `scripts/runtimes-env.sh up` prepares both runtimes (the image vtrace-busybox, busybox httpd
//! on port 80; a containerd of vtrace's own whose socket the tests hand to vtrace as
//! `CONTAINERD_ADDRESS`). The tests skip with a message only when it cannot
//! (`VTRACE_REQUIRE_RUNTIMES=1` or `CI`, as in CI, make that a failure). Every container and
//! namespace a test makes carries the process id in its name and is removed by a guard however
//! the test ends; vtrace runs one at a time (the Podman ones trace in the root namespace).
//! Run as root: `cargo test --features root-tests --test runtimes`.
#![cfg(feature = "root-tests")]

mod common;

use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard, OnceLock};

use serde_json::Value;

use common::{describe, hops};

const BIN: &str = env!("CARGO_BIN_EXE_vtrace");
const IMAGE: &str = "vtrace-busybox";
const CTR_IMAGE: &str = "localhost/vtrace-busybox:latest";
const ENV_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/runtimes-env.sh");
const ULIMITS: [&str; 4] = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"];

fn sh(cmd: &str, args: &[&str]) -> Output {
    Command::new(cmd).args(args).output().unwrap_or_else(|e| panic!("running {cmd}: {e}"))
}

fn ok(cmd: &str, args: &[&str]) -> String {
    let out = sh(cmd, args);
    assert!(out.status.success(), "{cmd} {args:?}: {}", describe(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Podman and containerd are ready (the script ran once per test process): the containerd
/// socket, or why they are not.
fn runtimes() -> Option<&'static str> {
    static READY: OnceLock<Result<String, String>> = OnceLock::new();
    let ready = READY.get_or_init(|| {
        let out = Command::new("bash").args([ENV_SCRIPT, "up"]).output();
        match out {
            Ok(o) if o.status.success() => {
                let addr = Command::new("bash").args([ENV_SCRIPT, "address"]).output();
                addr.map(|a| String::from_utf8_lossy(&a.stdout).trim().to_owned())
                    .map_err(|e| e.to_string())
            }
            Ok(o) => Err(String::from_utf8_lossy(&o.stderr).trim().to_owned()),
            Err(e) => Err(format!("running {ENV_SCRIPT}: {e}")),
        }
    });
    match ready {
        Ok(addr) => Some(addr.as_str()),
        Err(why) if std::env::var_os("VTRACE_REQUIRE_RUNTIMES").is_some() || common::in_ci() => {
            panic!("Podman and containerd must run here (VTRACE_REQUIRE_RUNTIMES or CI): {why}")
        }
        Err(why) => {
            common::notice(&format!("SKIPPED: Podman and containerd cannot be set up ({why})"));
            None
        }
    }
}

/// `ctr -n NS ARGS…` on the tests' containerd.
fn ctr(addr: &str, ns: &str, args: &[&str]) -> Output {
    let mut all = vec!["--address", addr, "-n", ns];
    all.extend_from_slice(args);
    sh("ctr", &all)
}

/// What a test made; removed on drop.
struct Env {
    tag: String,
    addr: String,
    podman: Vec<String>,
    /// (containerd namespace, container id)
    ctr: Vec<(String, String)>,
    netns: Vec<String>,
}

impl Env {
    fn new(tag: &str, addr: &str) -> Env {
        Env {
            tag: format!("vt{}{tag}", std::process::id()),
            addr: addr.to_owned(),
            podman: Vec::new(),
            ctr: Vec::new(),
            netns: Vec::new(),
        }
    }

    /// A running Podman container `<tag>-<suffix>` on Podman's default network.
    fn podman(&mut self, suffix: &str) -> PodmanContainer {
        let name = format!("{}-{suffix}", self.tag);
        let _ = sh("podman", &["rm", "-f", &name]);
        let mut args = vec!["run", "-d", "--name", &name];
        args.extend(ULIMITS);
        args.push(IMAGE);
        self.podman.push(name.clone());
        ok("podman", &args);
        PodmanContainer::inspect(&name)
    }

    /// A named namespace `<tag>-<suffix>` (removed on drop).
    fn netns(&mut self, name: &str) -> String {
        let _ = sh("ip", &["netns", "del", name]);
        ok("ip", &["netns", "add", name]);
        self.netns.push(name.to_owned());
        ok("ip", &["-n", name, "link", "set", "lo", "up"]);
        name.to_owned()
    }

    /// A bridge `br0` in a namespace of its own (the host side, as CNI's bridge plugin builds
    /// it, away from the root namespace), and for each member a namespace with `eth0` at
    /// 10.<pid>.N/24 joined to a port `veth-N` of the bridge. The namespaces' names.
    fn bridged(&mut self, host: &str, members: &[String]) -> (String, Vec<(String, String)>) {
        let host = self.netns(host);
        ok("ip", &["-n", &host, "link", "add", "br0", "type", "bridge"]);
        ok("ip", &["-n", &host, "link", "set", "br0", "up"]);
        let net = 10 + std::process::id() % 200;
        let mut out = Vec::new();
        for (i, m) in members.iter().enumerate() {
            let ns = self.netns(m);
            let port = format!("veth-{}", i + 1);
            ok(
                "ip",
                &[
                    "-n", &host, "link", "add", &port, "type", "veth", "peer", "name", "eth0",
                    "netns", &ns,
                ],
            );
            ok("ip", &["-n", &host, "link", "set", &port, "master", "br0", "up"]);
            let ip = format!("10.239.{net}.{}", i + 2);
            ok("ip", &["-n", &ns, "addr", "add", &format!("{ip}/24"), "dev", "eth0"]);
            ok("ip", &["-n", &ns, "link", "set", "eth0", "up"]);
            out.push((port, ip));
        }
        (host, out)
    }

    /// `ctr run` of the image as `id` in containerd namespace `ns`, joining the named network
    /// namespace `netns`, with `labels`, running busybox httpd (or `cmd`).
    fn ctr_run(&mut self, ns: &str, id: &str, netns: &str, labels: &[(&str, &str)], cmd: &[&str]) {
        let with_ns = format!("network:/run/netns/{netns}");
        let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let mut args = vec!["run", "-d", "--with-ns", &with_ns];
        for l in &labels {
            args.extend(["--label", l.as_str()]);
        }
        args.extend([CTR_IMAGE, id]);
        if cmd.is_empty() {
            args.extend(["/bin/busybox", "httpd", "-f", "-p", "80", "-h", "/www"]);
        } else {
            args.extend_from_slice(cmd);
        }
        self.ctr.push((ns.to_owned(), id.to_owned()));
        let out = ctr(&self.addr, ns, &args);
        assert!(out.status.success(), "ctr run {id}: {}", describe(&out));
    }

    /// A pod as the kubelet leaves it in containerd: a sandbox (httpd on port 80) and one
    /// container, both with the kubelet's labels, in the (`cni-<uuid>`) namespace `netns`.
    fn pod(&mut self, k8s_ns: &str, name: &str, netns: &str) {
        let uid = format!("{:08x}-0000-4000-8000-{:012x}", std::process::id(), name.len());
        let common = [
            ("io.kubernetes.pod.name", name),
            ("io.kubernetes.pod.namespace", k8s_ns),
            ("io.kubernetes.pod.uid", uid.as_str()),
        ];
        let mut sandbox = common.to_vec();
        sandbox.push(("io.cri-containerd.kind", "sandbox"));
        self.ctr_run("k8s.io", &format!("{}-{name}-sb", self.tag), netns, &sandbox, &[]);
        let mut app = common.to_vec();
        app.extend([
            ("io.cri-containerd.kind", "container"),
            ("io.kubernetes.container.name", "app"),
        ]);
        self.ctr_run(
            "k8s.io",
            &format!("{}-{name}-app", self.tag),
            netns,
            &app,
            &["/bin/busybox", "sleep", "3600"],
        );
    }

    /// `vtrace ARGS…` (one at a time), with the tests' containerd: exit code, JSON, output.
    fn vtrace(&self, args: &[&str]) -> (Option<i32>, Value, Output) {
        let _one = one_at_a_time();
        let out = Command::new(BIN)
            .args(args)
            .env("CONTAINERD_ADDRESS", &self.addr)
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        (out.status.code(), v, out)
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if !self.podman.is_empty() {
            let mut args = vec!["rm", "-f", "-t", "0"];
            args.extend(self.podman.iter().map(String::as_str));
            let _ = sh("podman", &args);
        }
        for (ns, id) in self.ctr.iter().rev() {
            let _ = ctr(&self.addr, ns, &["tasks", "rm", "-f", id]);
            let _ = ctr(&self.addr, ns, &["containers", "rm", id]);
        }
        for n in self.netns.iter().rev() {
            let _ = sh("ip", &["netns", "del", n]);
        }
    }
}

/// A Podman container as Podman and iproute2 see it.
struct PodmanContainer {
    name: String,
    id: String,
    ip: String,
    /// The host end of its veth (the link whose ifindex is eth0's iflink).
    host_veth: String,
    /// The bridge that veth is a port of.
    bridge: String,
}

impl PodmanContainer {
    fn inspect(name: &str) -> PodmanContainer {
        let v: Value =
            serde_json::from_str(&ok("podman", &["inspect", "--type", "container", name]))
                .unwrap_or(Value::Null);
        let c = &v[0];
        assert_eq!(c["State"]["Running"], true, "{name} is not running: {c}");
        let ip = c["NetworkSettings"]["Networks"]["podman"]["IPAddress"]
            .as_str()
            .unwrap_or_else(|| panic!("{name} has no address on Podman's network: {c}"))
            .to_owned();
        let iflink: u64 = ok("podman", &["exec", name, "cat", "/sys/class/net/eth0/iflink"])
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
        PodmanContainer {
            name: name.to_owned(),
            id: c["Id"].as_str().unwrap_or_default().to_owned(),
            ip,
            host_veth: host["ifname"].as_str().unwrap_or_default().to_owned(),
            bridge: host["master"].as_str().unwrap_or_default().to_owned(),
        }
    }
}

/// One vtrace at a time: the netfilter trace events of concurrent runs in one namespace would
/// mix.
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn point_ids(v: &Value) -> Vec<String> {
    v["points"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["id"].as_str().map(str::to_owned))
        .collect()
}

/// `vtrace ping SRC DST -c 2 --fresh-arp --json` is reachable, and every echo and the ARP
/// exchange cross `points` in order (and back).
fn assert_reachable(env: &Env, src: &str, dst: &str, points: &[String]) {
    let (code, v, out) = env.vtrace(&["ping", src, dst, "-c", "2", "--fresh-arp", "--json"]);
    assert_eq!(code, Some(0), "{}", describe(&out));
    let mut back = points.to_vec();
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
    let arp =
        exchanges.iter().find(|e| e["kind"] == "arp").unwrap_or_else(|| panic!("no ARP: {v}"));
    assert_eq!(hops(&arp["request"]), points, "{arp}");
}

#[test]
fn podman_containers_are_traced_across_podman0_and_their_veths() {
    let Some(addr) = runtimes() else { return };
    let mut env = Env::new("p", addr);
    let (a, b) = (env.podman("a"), env.podman("b"));
    let bridge =
        ok("podman", &["network", "inspect", "podman", "--format", "{{.NetworkInterface}}"]);
    assert_eq!(bridge, "podman0");
    assert_eq!((a.bridge.as_str(), b.bridge.as_str()), ("podman0", "podman0"));
    assert_ne!(a.host_veth, b.host_veth);
    let points = vec![
        format!("{}/eth0", a.name),
        format!("host/{}", a.host_veth),
        format!("host/{}", a.bridge),
        format!("host/{}", b.host_veth),
        format!("{}/eth0", b.name),
    ];
    // By name, and by podman:ID: the points carry the names either way.
    assert_reachable(&env, &a.name, &b.name, &points);
    let short = a.id.get(..12).unwrap_or(&a.id);
    assert_reachable(&env, &format!("podman:{short}"), &format!("podman:{}", b.name), &points);

    let (code, v, out) =
        env.vtrace(&["ping", &a.name, &b.name, "--tcp", "80", "-c", "1", "--json"]);
    assert_eq!(code, Some(0), "{}", describe(&out));
    assert_eq!(v["verdict"]["reachable"], true, "{v}");
    assert_eq!(v["verdict"]["summary"], "1/1 connects accepted, 5 hops each way", "{v}");
    let connect = v["exchanges"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["kind"] == "tcp-connect")
        .unwrap_or_else(|| panic!("no tcp-connect: {v}"));
    assert_eq!(connect["answer"], "syn-ack", "{connect}");
    // The SYN at every point, from one container to the other (the middle hops in the order of
    // their capture timestamps: conntrack's first packet of a connection can reach the bridge's
    // capture after the egress veth's, as tests/docker.rs's watch test explains).
    let syn = hops(&connect["request"]);
    assert_eq!((syn.first(), syn.last()), (points.first(), points.last()), "{connect}");
    let (mut got, mut want) = (syn.clone(), points.clone());
    got.sort();
    want.sort();
    assert_eq!(got, want, "{connect}");

    // topo: Podman's network with its bridge and the container behind each port.
    let (code, v, out) = env.vtrace(&["topo", &a.name, &b.name, "--json"]);
    assert_eq!(code, Some(0), "{}", describe(&out));
    let nets = v["runtime_networks"].as_array().cloned().unwrap_or_default();
    let podman = nets
        .iter()
        .find(|n| n["runtime"] == "podman" && n["name"] == "podman")
        .unwrap_or_else(|| panic!("no podman network in {v}"));
    assert_eq!(podman["bridge_point"], "host/podman0", "{podman}");
    let port_of = |c: &PodmanContainer| {
        podman["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["container"] == c.name.as_str())
            .map(|p| (p["name"].clone(), p["peer"].clone()))
    };
    assert_eq!(port_of(&a), Some((a.host_veth.clone().into(), format!("{}/eth0", a.name).into())));
    assert_eq!(port_of(&b), Some((b.host_veth.clone().into(), format!("{}/eth0", b.name).into())));
    let ip_of = |c: &PodmanContainer| {
        podman["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|x| x["name"] == c.name.as_str())
            .map(|x| x["ipv4"].clone())
    };
    assert_eq!(ip_of(&a), Some(format!("{}/16", a.ip).into()), "{podman}");
    // The Docker section is still there, as before.
    assert!(v["docker_networks"].is_array(), "{v}");
    let (code, _, out) = env.vtrace(&["topo", &a.name, &b.name]);
    assert_eq!(code, Some(0), "{}", describe(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("podman networks (podman network ls"), "{text}");
    assert!(text.contains(&format!("container {}  {}/16", a.name, a.ip)), "{text}");
}

#[test]
fn containerd_containers_are_traced_by_their_ids() {
    let Some(addr) = runtimes() else { return };
    let mut env = Env::new("c", addr);
    let tag = env.tag.clone();
    let (host, ports) =
        env.bridged(&format!("{tag}-h"), &[format!("{tag}-na"), format!("{tag}-nb")]);
    let (web, db) = (format!("{tag}-web"), format!("{tag}-db"));
    env.ctr_run("default", &web, &format!("{tag}-na"), &[], &[]);
    env.ctr_run("default", &db, &format!("{tag}-nb"), &[], &[]);
    // The namespaces are named otherwise: the points carry the containers' ids.
    let points = vec![
        format!("{web}/eth0"),
        format!("{host}/{}", ports[0].0),
        format!("{host}/br0"),
        format!("{host}/{}", ports[1].0),
        format!("{db}/eth0"),
    ];
    assert_reachable(
        &env,
        &format!("containerd:{web}"),
        &format!("containerd:default/{db}"),
        &points,
    );
    // A bare id is found in containerd's default namespace too.
    assert_reachable(&env, &web, &db, &points);
    let (code, v, out) = env.vtrace(&["topo", &format!("containerd:{web}"), "--json"]);
    assert_eq!(code, Some(0), "{}", describe(&out));
    let group = v["runtime_networks"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|n| n["runtime"] == "containerd" && n["name"] == format!("{host}/br0").as_str())
        .cloned()
        .unwrap_or_else(|| panic!("no containerd group for {host}/br0 in {v}"));
    let members: Vec<&str> = group["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(members, [db.as_str(), web.as_str()], "{group}");
}

#[test]
fn pods_are_traced_by_their_kubernetes_names() {
    let Some(addr) = runtimes() else { return };
    let mut env = Env::new("k", addr);
    let tag = env.tag.clone();
    let pid = std::process::id();
    let cni = |i: u32| format!("cni-{pid:08x}-0000-4000-8000-{i:012x}");
    let (host, ports) = env.bridged(&format!("{tag}-h"), &[cni(1), cni(2), cni(3)]);
    let (web, db, api) = (format!("{tag}-web"), format!("{tag}-db"), format!("{tag}-api"));
    env.pod("default", &web, &cni(1));
    env.pod("default", &db, &cni(2));
    env.pod("shop", &api, &cni(3));
    let points = |a: &str, pa: &str, b: &str, pb: &str| {
        vec![
            format!("{a}/eth0"),
            format!("{host}/{pa}"),
            format!("{host}/br0"),
            format!("{host}/{pb}"),
            format!("{b}/eth0"),
        ]
    };
    assert_reachable(
        &env,
        &format!("pod:default/{web}"),
        &format!("pod:default/{db}"),
        &points(&web, &ports[0].0, &db, &ports[1].0),
    );
    // Outside the default namespace, a pod's points carry NAMESPACE/NAME.
    assert_reachable(
        &env,
        &format!("pod:{web}"),
        &format!("pod:shop/{api}"),
        &points(&web, &ports[0].0, &format!("shop/{api}"), &ports[2].0),
    );
    let (code, v, out) = env.vtrace(&["topo", "--json"]);
    assert_eq!(code, Some(0), "{}", describe(&out));
    let group = v["runtime_networks"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|n| n["runtime"] == "kubernetes" && n["name"] == format!("{host}/br0").as_str())
        .cloned()
        .unwrap_or_else(|| panic!("no pods behind {host}/br0 in {v}"));
    let members: Vec<&str> = group["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str())
        .collect();
    let shop_api = format!("shop/{api}");
    assert_eq!(members, [shop_api.as_str(), db.as_str(), web.as_str()], "{group}");
    // The cni-… namespaces are named after their pods.
    let labels: Vec<&str> = v["namespaces"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n["label"].as_str())
        .collect();
    assert!(labels.contains(&web.as_str()) && !labels.contains(&cni(1).as_str()), "{labels:?}");
    let (code, _, out) = env.vtrace(&["ping", &format!("pod:{tag}-absent"), &web]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(&format!("no Kubernetes pod named \"{tag}-absent\"; running: "))
            && err.contains(&web),
        "{err}"
    );
}

/// `ping` goes ahead with a bare name that is a named namespace while the runtimes are asked
/// about it; a runtime answering to it too makes it ambiguous all the same, before any report.
#[test]
fn a_named_namespace_a_runtime_also_answers_to_is_ambiguous_for_ping() {
    let Some(addr) = runtimes() else { return };
    let mut env = Env::new("q", addr);
    let tag = env.tag.clone();
    let p = env.podman("twin");
    let twin = env.netns(&p.name);
    let other = env.netns(&format!("{tag}-other"));
    let ambiguous = format!(
        "\"{0}\" names several endpoints: netns:{0}, podman:{0}; pick one with its prefix",
        p.name
    );
    let refused = |args: &[&str]| {
        let (code, _, out) = env.vtrace(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(err.contains(&ambiguous), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "no report: {}", String::from_utf8_lossy(&out.stdout));
    };
    // No path to the other namespace: the set-up stops before the probe.
    refused(&["ping", &p.name, &other, "-c", "1", "--json"]);
    // A path (a veth pair between the two): the set-up goes as far as the probe.
    ok(
        "ip",
        &["link", "add", "vtq0", "netns", &twin, "type", "veth", "peer", "vtq1", "netns", &other],
    );
    for (ns, dev, addr) in [(&twin, "vtq0", "10.99.0.1/24"), (&other, "vtq1", "10.99.0.2/24")] {
        ok("ip", &["-n", ns, "addr", "add", addr, "dev", dev]);
        ok("ip", &["-n", ns, "link", "set", dev, "up"]);
    }
    refused(&["ping", &p.name, &other, "-c", "1", "--json"]);
    // As a prefix picks the namespace, it is traced.
    let (code, v, out) =
        env.vtrace(&["ping", &format!("netns:{twin}"), &other, "-c", "1", "--json"]);
    assert_eq!(code, Some(0), "{}", describe(&out));
    assert_eq!(v["verdict"]["reachable"], true, "{v}");
}

#[test]
fn a_name_in_two_runtimes_is_ambiguous_and_an_unknown_one_lists_what_runs() {
    let Some(addr) = runtimes() else { return };
    let mut env = Env::new("m", addr);
    let tag = env.tag.clone();
    let p = env.podman("same");
    let ns = env.netns(&format!("{tag}-n"));
    env.ctr_run("default", &p.name, &ns, &[], &[]);

    let (code, _, out) = env.vtrace(&["ping", &p.name, &p.ip, "-c", "1"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "\"{0}\" names several endpoints: podman:{0}, containerd:{0}; pick one with its prefix",
            p.name
        )),
        "{err}"
    );
    // Each prefix picks one.
    let (code, _, out) =
        env.vtrace(&["topo", &format!("podman:{}", p.name), &format!("containerd:{}", p.name)]);
    assert_eq!(code, Some(1), "no path between them, both found: {}", describe(&out));

    let absent = format!("{tag}-absent");
    let (code, _, out) = env.vtrace(&["topo", &absent]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(&format!("no network namespace, container or pod named \"{absent}\"")),
        "{err}"
    );
    let listed = |what: &str| {
        err.split("; ")
            .find_map(|part| part.strip_prefix(&format!("{what}: ")))
            .map(|names| names.split(", ").map(str::to_owned).collect::<Vec<_>>())
            .unwrap_or_else(|| panic!("no {what} listed: {err}"))
    };
    assert!(listed("Podman containers").contains(&p.name), "{err}");
    assert!(listed("containerd containers").contains(&p.name), "{err}");
    assert!(listed("network namespaces").contains(&ns), "{err}");
    let _ = listed("Kubernetes pods");
}
