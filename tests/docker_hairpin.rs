//! Root test of Docker's DNAT hairpin: a dockerd started with `--userland-proxy=false` (no
//! docker-proxy: published ports are DNAT rules only) in a network namespace of the test's own,
//! so that the machine's dockerd and its bridges are left alone.
//!
//! A container reaching a published port through its bridge's gateway address is DNATed on the
//! bridge itself (br_netfilter) and the frame goes back out of the bridge to the container
//! behind the port: one journey with its `nat` note, the reply un-NATed on its way back. The
//! daemon, its containers, data and namespace are removed by a guard however the test ends.
//! Run as root: `cargo test --features root-tests --test docker_hairpin`.
#![cfg(feature = "root-tests")]

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use wait_timeout::ChildExt;

use common::{describe, hops, require, run};

const BIN: &str = env!("CARGO_BIN_EXE_vtrace");
const IMAGE: &str = "vtrace-busybox";
const ENV_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/docker-env.sh");

/// A dockerd of the test's own, in its own network namespace; stopped and removed on drop.
struct Daemon {
    netns: String,
    root: PathBuf,
    host: String,
    /// `nsenter` execs dockerd: this child is the daemon.
    child: Option<Child>,
}

impl Daemon {
    fn start(tag: &str, extra: &[&str]) -> Result<Daemon, String> {
        let netns = format!("vt{}{tag}", std::process::id());
        let root = PathBuf::from(format!("/run/vtrace-{netns}"));
        let host = format!("unix://{}/docker.sock", root.display());
        let mut d = Daemon { netns, root, host, child: None };
        let ok = |program: &str, args: &[&str]| {
            let out = run(program, args);
            out.status
                .success()
                .then_some(())
                .ok_or_else(|| format!("{program} {args:?}: {}", describe(&out)))
        };
        ok("ip", &["netns", "add", &d.netns])?;
        ok("ip", &["-n", &d.netns, "link", "set", "lo", "up"])?;
        // Forwarding on before dockerd starts, as scripts/docker-env.sh does for the machine's.
        ok("ip", &["netns", "exec", &d.netns, "sysctl", "-qw", "net.ipv4.ip_forward=1"])?;
        std::fs::create_dir_all(&d.root).map_err(|e| format!("{}: {e}", d.root.display()))?;
        let dir = |sub: &str| d.root.join(sub).display().to_string();
        let (data, exec, pidfile) = (dir("data"), dir("exec"), dir("dockerd.pid"));
        let log = std::fs::File::create(d.root.join("dockerd.log")).map_err(|e| e.to_string())?;
        let mut args = vec![
            format!("--net=/run/netns/{}", d.netns),
            "dockerd".into(),
            "--storage-driver".into(),
            "vfs".into(),
            "--data-root".into(),
            data,
            "--exec-root".into(),
            exec,
            "--pidfile".into(),
            pidfile,
            "--host".into(),
            d.host.clone(),
        ];
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        let child = Command::new("nsenter")
            .args(&args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("starting dockerd: {e}"))?;
        d.child = Some(child);
        let start = Instant::now();
        while !d.docker(&["version"]).status.success() {
            if start.elapsed() > Duration::from_secs(30) {
                let log = std::fs::read_to_string(d.root.join("dockerd.log")).unwrap_or_default();
                return Err(format!("dockerd did not answer within 30 s:\n{log}"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        // The image of the machine's daemon (scripts/docker-env.sh imports it), moved over.
        let load = format!("docker save {IMAGE} | DOCKER_HOST={} docker load -q", d.host);
        ok("sh", &["-c", &load])?;
        Ok(d)
    }

    fn docker(&self, args: &[&str]) -> std::process::Output {
        Command::new("docker")
            .env("DOCKER_HOST", &self.host)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("running docker: {e}"))
    }

    fn docker_ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(out.status.success(), "docker {args:?}: {}", describe(&out));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    fn vtrace(&self, args: &[&str]) -> (Option<i32>, Value, std::process::Output) {
        let out = Command::new(BIN)
            .env("DOCKER_HOST", &self.host)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("running vtrace: {e}"));
        let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        (out.status.code(), v, out)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let ids = self.docker(&["ps", "-aq"]);
            let ids = String::from_utf8_lossy(&ids.stdout).to_string();
            let mut rm = vec!["rm", "-f"];
            rm.extend(ids.split_whitespace());
            if rm.len() > 2 {
                let _ = self.docker(&rm);
            }
            // SIGTERM: dockerd stops its containerd and exits.
            let _ = run("kill", &[&child.id().to_string()]);
            if !matches!(child.wait_timeout(Duration::from_secs(20)), Ok(Some(_))) {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        let _ = run("ip", &["netns", "del", &self.netns]);
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

#[test]
fn a_published_port_without_the_userland_proxy_is_one_dnat_journey_through_the_bridge() {
    let env = run("bash", &[ENV_SCRIPT, "up"]);
    let ready = env.status.success();
    if !require("dockerd (scripts/docker-env.sh up) for the image", ready)
        || !require("nsenter", common::installed("nsenter", "--version"))
    {
        return;
    }
    let daemon = match Daemon::start("hp", &["--userland-proxy=false", "--bip", "172.31.0.1/16"]) {
        Ok(d) => d,
        Err(why) if common::in_ci() => panic!("a second dockerd must start here: {why}"),
        Err(why) => {
            common::notice(&format!("SKIPPED: a second dockerd cannot start ({why})"));
            return;
        }
    };
    let tag = format!("vt{}", std::process::id());
    let (a, b) = (format!("{tag}-a"), format!("{tag}-b"));
    daemon.docker_ok(&["run", "-d", "--name", &b, "-p", "8080:80", IMAGE]);
    daemon.docker_ok(&["run", "-d", "--name", &a, IMAGE]);
    let ip = |c: &str| daemon.docker_ok(&["inspect", "-f", "{{.NetworkSettings.IPAddress}}", c]);
    let (a_ip, b_ip) = (ip(&a), ip(&b));
    let veth = |c: &str| {
        // The host side of the container's eth0: its peer's ifindex, named in the namespace.
        let peer = daemon.docker_ok(&["exec", c, "cat", "/sys/class/net/eth0/iflink"]);
        let links = run("ip", &["-n", &daemon.netns, "-o", "link", "show"]);
        String::from_utf8_lossy(&links.stdout)
            .lines()
            .find(|l| l.starts_with(&format!("{peer}: ")))
            .and_then(|l| l.split(": ").nth(1))
            .map(|n| n.split('@').next().unwrap_or(n).to_owned())
            .unwrap_or_else(|| panic!("no link {peer} in {}", daemon.netns))
    };
    let (a_veth, b_veth) = (veth(&a), veth(&b));
    let host = |ifname: &str| format!("{}/{ifname}", daemon.netns);

    let (code, v, out) =
        daemon.vtrace(&["ping", &a, "172.31.0.1", "--tcp", "8080", "-c", "1", "--json"]);
    assert_eq!(code, Some(0), "{}", describe(&out));
    assert_eq!(v["verdict"]["cause"], "ok", "{v}");
    let points =
        [format!("{a}/eth0"), host(&a_veth), host("docker0"), host(&b_veth), format!("{b}/eth0")];
    let ids: Vec<&str> =
        v["points"].as_array().into_iter().flatten().filter_map(|p| p["id"].as_str()).collect();
    assert_eq!(ids, points, "{v}");
    let probe = v["exchanges"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["kind"] == "tcp-connect" && e.get("answer").is_some())
        .unwrap_or_else(|| panic!("no probe connect: {v}"));
    assert_eq!(probe["answer"], "syn-ack", "{probe}");
    // The SYN: one journey across the five points, DNATed on the bridge.
    let request = &probe["request"];
    assert_eq!(hops(request), points, "{probe}");
    assert_eq!(
        request["nat"],
        serde_json::json!([{
            "point": host("docker0"),
            "kind": "dnat",
            "from": "172.31.0.1:8080",
            "to": format!("{b_ip}:80"),
        }]),
        "{probe}"
    );
    // Each packet reached the container once: the bridge is not captured promiscuously where
    // the path turns (a promiscuous bridge makes the kernel route a second copy).
    let syns = probe["request"]["hops"].as_array().map_or(0, Vec::len);
    assert_eq!(syns, 5, "{probe}");
    assert!(
        v["exchanges"].as_array().into_iter().flatten().all(|e| {
            !(e["kind"] == "tcp-connect"
                && e["summary"].as_str().is_some_and(|s| s.contains("[S]"))
                && e.get("answer").is_none())
        }),
        "a second SYN was traced: {v}"
    );
    // The SYN-ACK: bridged straight back, un-NATed to the published address on its way.
    let reply = &probe["reply"];
    let back = [format!("{b}/eth0"), host(&b_veth), host(&a_veth), format!("{a}/eth0")];
    assert_eq!(hops(reply), back, "{probe}");
    let last = reply["hops"].as_array().and_then(|h| h.last()).cloned().unwrap_or_default();
    assert_eq!(last["src"], "172.31.0.1:8080", "{probe}");
    assert!(last["dst"].as_str().is_some_and(|d| d.starts_with(&format!("{a_ip}:"))), "{probe}");
    // conntrack of the daemon's namespace confirms the translation.
    let ct = v["verdict"]["conntrack"].as_array().cloned().unwrap_or_default();
    assert!(
        ct.iter().any(|e| e["netns"] == daemon.netns.as_str()
            && e["translation"] == format!("dnat 172.31.0.1:8080 → {b_ip}:80").as_str()),
        "{v}"
    );
}
