//! Root tests of `vtrace ping`: the real binary on a lab with a unique prefix (the process id and
//! a per-test tag), healthy and with each fault injected for real with iproute2, asserting the
//! cause and segment of the verdict and the exit code. The lab guard removes everything, also
//! when a test fails; faults live inside the lab's own namespaces, never the root namespace.
//!
//! Run as root: `cargo test --features root-tests --test ping`.
#![cfg(feature = "root-tests")]

mod common;

use std::process::Command;

use serde_json::Value;

use common::{Lab, describe, hops, require};

const BIN: &str = env!("CARGO_BIN_EXE_vtrace");

/// `CMD ARGS…`, which must succeed.
fn sh(cmd: &str, args: &[&str]) {
    let out = common::run(cmd, args);
    assert!(out.status.success(), "{cmd} {args:?}: {}", describe(&out));
}

fn segment(v: &Value) -> (Option<&str>, Option<&str>) {
    let s = &v["verdict"]["segment"];
    (s["after"].as_str(), s["before"].as_str())
}

#[test]
fn healthy_path_every_journey_has_five_hops_in_order() {
    let lab = Lab::built("ok");
    let (code, v) = lab.ping(&[]);
    assert_eq!(code, 0, "{v}");
    let verdict = &v["verdict"];
    assert_eq!(verdict["reachable"], true, "{v}");
    assert_eq!((verdict["sent"].as_u64(), verdict["received"].as_u64()), (Some(2), Some(2)));
    assert_eq!(verdict["cause"], "ok");
    let points = lab.points();
    let ids: Vec<&str> =
        v["points"].as_array().into_iter().flatten().filter_map(|p| p["id"].as_str()).collect();
    assert_eq!(ids, points.iter().map(String::as_str).collect::<Vec<_>>());
    for p in v["points"].as_array().into_iter().flatten() {
        assert_eq!(p["kernel_drops"], 0, "{p}");
        assert!(p["captured"].as_u64().unwrap_or(0) >= 6, "{p}");
    }
    let mut backwards = points.clone();
    backwards.reverse();
    let exchanges = v["exchanges"].as_array().cloned().unwrap_or_default();
    let echoes: Vec<&Value> = exchanges.iter().filter(|e| e["kind"] == "icmp-echo").collect();
    assert_eq!(echoes.len(), 2, "{v}");
    for e in &echoes {
        assert_eq!(hops(&e["request"]), points, "{e}");
        assert_eq!(hops(&e["reply"]), backwards, "{e}");
    }
    let arp =
        exchanges.iter().find(|e| e["kind"] == "arp").unwrap_or_else(|| panic!("no ARP: {v}"));
    assert_eq!(arp["summary"], "who-has 172.18.0.3 tell 172.18.0.2");
    assert_eq!(hops(&arp["request"]), points);
    assert_eq!(hops(&arp["reply"]), backwards);
}

/// Load an nft ruleset into a namespace.
fn nft_load(ns: &str, rules: &str, tag: &str) {
    let file = std::env::temp_dir().join(format!("vtrace-{tag}-{}-{ns}.nft", std::process::id()));
    std::fs::write(&file, rules).unwrap_or_else(|e| panic!("{e}"));
    sh("ip", &["netns", "exec", ns, "nft", "-f", &file.to_string_lossy()]);
    let _ = std::fs::remove_file(&file);
}

/// The accept decisions of one namespace on a journey, as `point family table chain/rule`.
fn accepts(journey: &Value, ns: &str) -> Vec<String> {
    let s = |v: &Value| v.as_str().unwrap_or("?").to_owned();
    journey["netfilter"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|n| n["netns"] == ns && n["verdict"] == "accept")
        .map(|n| {
            let (at, family, table) = (s(&n["point"]), s(&n["family"]), s(&n["table"]));
            format!("{at} {family} {table} {}/{}", s(&n["chain"]), s(&n["rule"]))
        })
        .collect()
}

#[test]
fn healthy_path_with_chains_shows_accept_in_every_namespace_it_crosses() {
    let lab = Lab::built("ac");
    let inet = "table inet t {\n chain input { type filter hook input priority 0; policy accept; }\n chain forward { type filter hook forward priority 0; policy accept; }\n chain output { type filter hook output priority 0; policy accept; }\n}\n";
    // The host bridges: its frames meet the bridge family's forward hook.
    let bridge = "table bridge t {\n chain forward {\n  type filter hook forward priority 0; policy accept;\n  ip protocol icmp counter accept\n }\n}\n";
    let (c1, host, c2) = (lab.container(1), lab.host_ns(), lab.container(2));
    nft_load(&c1, inet, "accept");
    nft_load(&c2, inet, "accept");
    nft_load(&host, &format!("{inet}{bridge}"), "accept");
    let (code, v) = lab.ping(&[]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["verdict"]["cause"], "ok", "{v}");
    let echoes = echo_exchanges(&v);
    assert_eq!(echoes.len(), 2, "{v}");
    let p = lab.points();
    for e in echoes {
        let (req, rep) = (&e["request"], &e["reply"]);
        // Each decision sits on its hop: the source's output and the target's input on their
        // eth0, the bridge's forward on the port the frame came in by.
        assert_eq!(accepts(req, &c1), vec![format!("{} inet t output/policy", p[0])], "{e}");
        let bridged = |j: &Value, port: &str| {
            let rule = format!("{port} bridge t forward/ip protocol icmp counter packets ");
            accepts(j, &host).iter().any(|a| a.starts_with(&rule) && a.ends_with(" accept"))
        };
        assert!(bridged(req, &p[1]), "{e}");
        assert_eq!(accepts(req, &c2), vec![format!("{} inet t input/policy", p[4])], "{e}");
        assert_eq!(accepts(rep, &c2), vec![format!("{} inet t output/policy", p[4])], "{e}");
        assert!(bridged(rep, &p[3]), "{e}");
        assert_eq!(accepts(rep, &c1), vec![format!("{} inet t input/policy", p[0])], "{e}");
        // Nothing of vtrace's own tracing table is reported, and a healthy run has no drops.
        for leg in [req, rep] {
            assert!(!leg.to_string().contains("vtrace_"), "{leg}");
            assert_eq!(leg["kernel_drops"], serde_json::json!([]), "{leg}");
        }
    }
    assert_eq!(vtrace_tables(&lab), Vec::<String>::new());
}

#[test]
fn target_host_veth_down_is_link_down_after_the_bridge() {
    let lab = Lab::built("ld");
    sh("ip", &["-n", &lab.host_ns(), "link", "set", &lab.host_veth(2), "down"]);
    let (code, v) = lab.ping(&[]);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["verdict"]["cause"], "link-down", "{v}");
    let p = lab.points();
    assert_eq!(segment(&v), (Some(p[2].as_str()), Some(p[3].as_str())), "{v}");
    assert!(
        v["verdict"]["summary"].as_str().unwrap_or("").contains("administratively down"),
        "{v}"
    );
}

/// `nft list tables` of the lab's namespaces that are vtrace's own (none must be left).
fn vtrace_tables(lab: &Lab) -> Vec<String> {
    [lab.host_ns(), lab.container(1), lab.container(2)]
        .iter()
        .flat_map(|ns| {
            let out = Command::new("ip")
                .args(["netns", "exec", ns, "nft", "list", "tables"])
                .output()
                .unwrap_or_else(|e| panic!("nft: {e}"));
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter(|l| l.contains("vtrace_"))
                .map(|l| format!("{ns}: {l}"))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn forward_policy_drop_with_br_netfilter_is_netfilter_drop_after_the_bridge() {
    let lab = Lab::built("fd");
    let host = lab.host_ns();
    let per_netns = Command::new("ip")
        .args([
            "netns",
            "exec",
            &host,
            "test",
            "-e",
            "/proc/sys/net/bridge/bridge-nf-call-iptables",
        ])
        .status()
        .is_ok_and(|s| s.success());
    if !require(
        "br_netfilter, its sysctls per network namespace (modprobe br_netfilter)",
        per_netns,
    ) {
        return;
    }
    sh("ip", &["netns", "exec", &host, "sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=1"]);
    sh("ip", &["netns", "exec", &host, "iptables", "-P", "FORWARD", "DROP"]);
    let (code, v) = lab.ping(&[]);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["verdict"]["cause"], "netfilter-drop", "{v}");
    let p = lab.points();
    assert_eq!(segment(&v), (Some(p[2].as_str()), Some(p[3].as_str())), "{v}");
    let summary = v["verdict"]["summary"].as_str().unwrap_or("");
    assert!(summary.contains(&format!("in {host}: ip filter FORWARD, policy drop")), "{summary}");
    assert!(summary.contains("bridge-nf-call-iptables is on"), "{summary}");
    // The kernel said why too: the verdict names the drop reason, each lost request carries it.
    assert!(summary.contains("kernel drop reason NETFILTER_DROP"), "{summary}");
    for e in echo_exchanges(&v) {
        assert_eq!(reasons(&e["request"]), vec!["NETFILTER_DROP"], "{e}");
        let notes = e["request"]["netfilter"].as_array().cloned().unwrap_or_default();
        assert!(
            notes.iter().any(|n| n["netns"] == host.as_str()
                && n["table"] == "filter"
                && n["chain"] == "FORWARD"
                && n["rule"] == "policy"
                && n["verdict"] == "drop"),
            "{e}"
        );
    }
    assert_eq!(vtrace_tables(&lab), Vec::<String>::new());
    // Read-only mode: no tracing rules, so the captures alone speak.
    let (_, v) = lab.ping(&["--no-netfilter", "--no-drop-reasons"]);
    assert_eq!(v["verdict"]["cause"], "unknown", "{v}");
}

#[test]
fn input_drop_rule_is_netfilter_drop_at_the_target() {
    let lab = Lab::built("id");
    let target = lab.container(2);
    let rules = "table inet t {\n chain input {\n  type filter hook input priority 0; policy accept;\n  icmp type echo-request drop\n }\n}\n";
    let file = std::env::temp_dir().join(format!("vtrace-input-drop-{}.nft", std::process::id()));
    std::fs::write(&file, rules).unwrap_or_else(|e| panic!("{e}"));
    sh("ip", &["netns", "exec", &target, "nft", "-f", &file.to_string_lossy()]);
    let _ = std::fs::remove_file(&file);
    let (code, v) = lab.ping(&[]);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["verdict"]["cause"], "netfilter-drop", "{v}");
    let p = lab.points();
    assert_eq!(segment(&v), (Some(p[4].as_str()), None), "{v}");
    let summary = v["verdict"]["summary"].as_str().unwrap_or("");
    assert!(summary.contains(&format!("in {target}: inet t input")), "{summary}");
    assert!(summary.contains("rule `icmp type echo-request drop`"), "{summary}");
    // The drop is on the request's journey too, with the namespace, table, chain and verdict.
    for e in echo_exchanges(&v) {
        let notes = e["request"]["netfilter"].as_array().cloned().unwrap_or_default();
        assert!(
            notes.iter().any(|n| n["netns"] == target.as_str()
                && n["family"] == "inet"
                && n["table"] == "t"
                && n["chain"] == "input"
                && n["rule"] == "icmp type echo-request drop"
                && n["verdict"] == "drop"),
            "{e}"
        );
        assert_eq!(reasons(&e["request"]), vec!["NETFILTER_DROP"], "{e}");
        assert!(e["request"]["kernel_drops"][0]["t_ns"].as_u64().is_some(), "{e}");
    }
    assert!(summary.contains("kernel drop reason NETFILTER_DROP"), "{summary}");
    assert!(summary.contains(&format!("ip netns exec {target} nft -a list ruleset")), "{summary}");
    assert_eq!(vtrace_tables(&lab), Vec::<String>::new());
}

#[test]
fn qdisc_dropping_everything_on_the_target_veth_is_tc_drop() {
    let lab = Lab::built("tc");
    let host = lab.host_ns();
    let veth = lab.host_veth(2);
    // A FIFO with room for no packet drops every frame the bridge sends the target, and counts
    // them (what `netem loss 100%` or a `tc filter … action drop` would do; this kernel has
    // neither module).
    sh(
        "ip",
        &[
            "netns", "exec", &host, "tc", "qdisc", "add", "dev", &veth, "root", "handle", "77:",
            "pfifo", "limit", "0",
        ],
    );
    let dir = std::env::temp_dir().join(format!("vtrace-ping-tc-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let file = dir.join("tc.pcapng");
    let (code, v) = lab.ping(&["--write", &file.to_string_lossy()]);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["verdict"]["cause"], "tc-drop", "{v}");
    let p = lab.points();
    assert_eq!(segment(&v), (Some(p[2].as_str()), Some(p[3].as_str())), "{v}");
    let summary = v["verdict"]["summary"].as_str().unwrap_or("");
    assert!(summary.contains(&format!("qdisc pfifo 77: on {}", p[3])), "{summary}");
    assert!(
        summary.contains(&format!("ip netns exec {host} tc -s qdisc show dev {veth}")),
        "{summary}"
    );
    assert_eq!(vtrace_tables(&lab), Vec::<String>::new());
    // Replayed offline, the kept trace gives the same verdict.
    let offline = Command::new(BIN).args(["analyze", "--json"]).arg(&file).output();
    let _ = std::fs::remove_dir_all(&dir);
    let offline = offline.unwrap_or_else(|e| panic!("analyze: {e}"));
    assert_eq!(offline.status.code(), Some(1), "{}", describe(&offline));
    let offline: Value = serde_json::from_slice(&offline.stdout).unwrap_or(Value::Null);
    assert_eq!(offline["verdict"]["cause"], "tc-drop", "{offline}");
    // Word for word after the counts (live counts the echoes ping tried, which never left the
    // source while ARP failed; the captures saw none).
    let diagnosis = |r: &Value| {
        let s = r["verdict"]["summary"].as_str().unwrap_or("").to_owned();
        s.split_once("echo replies: ").map(|(_, d)| d.to_owned()).unwrap_or(s)
    };
    assert_eq!(diagnosis(&offline), diagnosis(&v), "{offline}");
    assert!(diagnosis(&offline).contains("qdisc pfifo 77: on"), "{offline}");
}

#[test]
fn disabled_bridge_port_is_bridge_port_blocked() {
    let lab = Lab::built("bp");
    sh("bridge", &["-n", &lab.host_ns(), "link", "set", "dev", &lab.host_veth(2), "state", "0"]);
    let (code, v) = lab.ping(&[]);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["verdict"]["cause"], "bridge-port-blocked", "{v}");
    let p = lab.points();
    assert_eq!(segment(&v), (Some(p[2].as_str()), Some(p[3].as_str())), "{v}");
}

#[test]
fn df_probe_larger_than_the_target_mtu_is_mtu() {
    let lab = Lab::built("mt");
    sh("ip", &["-n", &lab.container(2), "link", "set", "eth0", "mtu", "1400"]);
    let (code, v) = lab.ping(&["-s", "1472", "--df"]);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["verdict"]["cause"], "mtu", "{v}");
    let p = lab.points();
    assert_eq!(segment(&v), (Some(p[3].as_str()), Some(p[4].as_str())), "{v}");
    assert!(v["verdict"]["summary"].as_str().unwrap_or("").contains("(MTU 1400)"), "{v}");
}

#[test]
fn source_without_routes_is_no_route() {
    let lab = Lab::built("nr");
    sh("ip", &["-n", &lab.container(1), "route", "flush", "table", "main"]);
    let (code, v) = lab.ping(&[]);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["verdict"]["cause"], "no-route", "{v}");
    // Inside the source, before its own interface (DESIGN.md's segment contract).
    let p = lab.points();
    assert_eq!(segment(&v), (None, Some(p[0].as_str())), "{v}");
    assert_eq!(v["verdict"]["sent"], 2, "{v}");
}

#[test]
fn written_capture_reproduces_the_trace_offline() {
    let lab = Lab::built("wr");
    let dir = std::env::temp_dir().join(format!("vtrace-ping-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let file = dir.join("trace.pcapng");
    let file_s = file.to_string_lossy().into_owned();
    // A netfilter trace an earlier run left next to the file is not replayed with this one.
    let sidecar = dir.join("trace.pcapng.nft.json");
    std::fs::write(&sidecar, "stale").unwrap_or_else(|e| panic!("{e}"));
    let (_, _) = lab.ping(&["--write", &file_s, "--no-netfilter", "--no-drop-reasons"]);
    // Replaced by the run's own (it keeps its probe), never left as it was.
    let stale_left = std::fs::read(&sidecar).is_ok_and(|b| b == b"stale");
    let (code, live) = lab.ping(&["--write", &file_s]);
    let traced = sidecar.exists();
    let offline = Command::new(BIN).args(["analyze", "--json", &file_s]).output();
    // tshark (a dev.sh package) opens it with the five named interfaces.
    let tshark = Command::new("tshark")
        .args(["-r", &file_s, "-T", "fields", "-e", "frame.interface_name"])
        .output();
    let _ = std::fs::remove_dir_all(&dir);
    let tshark = tshark.unwrap_or_else(|e| panic!("tshark: {e}"));
    let mut names: Vec<String> =
        String::from_utf8_lossy(&tshark.stdout).lines().map(str::to_owned).collect();
    names.dedup();
    names.sort();
    names.dedup();
    let mut want = lab.points();
    want.sort();
    assert_eq!(names, want, "{}", describe(&tshark));
    assert_eq!(code, 0, "{live}");
    assert!(!stale_left, "a run without tracing left the stale netfilter trace");
    assert!(traced, "a traced run keeps its netfilter trace next to the capture");
    let offline = offline.unwrap_or_else(|e| panic!("analyze: {e}"));
    assert_eq!(offline.status.code(), Some(0), "{}", describe(&offline));
    let offline: Value = serde_json::from_slice(&offline.stdout).unwrap_or(Value::Null);
    assert_eq!(live["exchanges"], offline["exchanges"]);
    assert_eq!(live["verdict"], offline["verdict"]);
    let ids = |v: &Value| -> Vec<(String, u64)> {
        v["points"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| {
                (p["id"].as_str().unwrap_or("").to_owned(), p["captured"].as_u64().unwrap_or(0))
            })
            .collect()
    };
    assert_eq!(ids(&live), ids(&offline));
}

#[test]
fn errors_exit_2_and_name_what_failed() {
    let out = Command::new(BIN)
        .args(["ping", &format!("p{}nosuch", std::process::id()), "172.18.0.3"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("vtrace: endpoint \"p"), "{err}");
    assert!(err.contains("no network namespace, container or pod named"), "{err}");
}

#[test]
fn changed_target_address_pinged_at_the_old_one_is_no_arp_reply() {
    let lab = Lab::built("na");
    let target = lab.container(2);
    sh("ip", &["-n", &target, "addr", "del", "172.18.0.3/16", "dev", "eth0"]);
    sh("ip", &["-n", &target, "addr", "add", "172.18.0.33/16", "dev", "eth0"]);
    let out = Command::new(BIN)
        .args(["ping", &lab.container(1), "172.18.0.3", "-c", "1", "--json", "--fresh-arp"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert_eq!(v["verdict"]["cause"], "no-arp-reply", "{v}");
    let p = lab.points();
    assert_eq!(segment(&v), (Some(p[2].as_str()), None), "{v}");
}

/// Namespaces made with iproute2 by a test; removed when dropped.
struct Netnses(Vec<String>);

impl Drop for Netnses {
    fn drop(&mut self) {
        for ns in &self.0 {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

#[test]
fn a_topology_built_with_iproute2_traces_the_same_way() {
    let id = std::process::id();
    let (a, b, h) = (format!("p{id}ia"), format!("p{id}ib"), format!("p{id}ih"));
    let made = Netnses(vec![a.clone(), b.clone(), h.clone()]);
    for ns in &made.0 {
        sh("ip", &["netns", "add", ns]);
        sh("ip", &["-n", ns, "link", "set", "lo", "up"]);
    }
    let ip = |ns: &str, args: &str| {
        let mut all = vec!["-n", ns];
        all.extend(args.split_whitespace());
        sh("ip", &all);
    };
    ip(&h, "link add br-test type bridge");
    ip(&h, "link set br-test up");
    for (ns, host, addr) in [(&a, "vtA", "10.77.0.1/24"), (&b, "vtB", "10.77.0.2/24")] {
        sh(
            "ip",
            &["-n", &h, "link", "add", host, "type", "veth", "peer", "name", "net0", "netns", ns],
        );
        ip(&h, &format!("link set {host} master br-test up"));
        ip(ns, &format!("addr add {addr} dev net0"));
        ip(ns, "link set net0 up");
    }
    let out = Command::new(BIN)
        .args(["ping", &a, &b, "-c", "2", "--json", "--fresh-arp"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let want = vec![
        format!("{a}/net0"),
        format!("{h}/vtA"),
        format!("{h}/br-test"),
        format!("{h}/vtB"),
        format!("{b}/net0"),
    ];
    let echoes = echo_exchanges(&v);
    assert_eq!(echoes.len(), 2, "{v}");
    for e in echoes {
        assert_eq!(hops(&e["request"]), want, "{e}");
    }
    assert_eq!(v["verdict"]["summary"], "2/2 echo replies, 5 hops each way");
    drop(made);
}

#[test]
fn watch_traces_what_the_containers_send_themselves() {
    let lab = Lab::built("wa");
    let child = Command::new(BIN)
        .args(["watch", &lab.container(1), &lab.container(2), "--duration", "3s", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    std::thread::sleep(std::time::Duration::from_millis(1000));
    sh("ip", &["netns", "exec", &lab.container(1), "ping", "-c", "2", "-i", "0.2", "172.18.0.3"]);
    let out = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let points = lab.points();
    let echoes = echo_exchanges(&v);
    assert_eq!(echoes.len(), 2, "{v}");
    for e in echoes {
        assert_eq!(hops(&e["request"]), points, "{e}");
    }
    assert_eq!(v["verdict"]["summary"], "2/2 echo replies, 5 hops each way");
}

#[test]
fn watch_traces_netfilter_decisions_and_names_the_dropping_rule() {
    let lab = Lab::built("wn");
    let target = lab.container(2);
    let rules = "table inet t {\n chain input {\n  type filter hook input priority 0; policy accept;\n  icmp type echo-request drop\n }\n}\n";
    nft_load(&target, rules, "watch-drop");
    let child = Command::new(BIN)
        .args(["watch", &lab.container(1), &target, "--duration", "3s", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    std::thread::sleep(std::time::Duration::from_millis(1000));
    // The echoes are dropped: ping itself fails.
    let _ = Command::new("ip")
        .args(["netns", "exec", &lab.container(1), "ping", "-c", "2", "-i", "0.2", "-W", "1"])
        .arg("172.18.0.3")
        .output();
    let out = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert_eq!(v["verdict"]["cause"], "netfilter-drop", "{v}");
    let summary = v["verdict"]["summary"].as_str().unwrap_or("");
    assert!(summary.contains(&format!("in {target}: inet t input")), "{summary}");
    assert!(summary.contains("rule `icmp type echo-request drop`"), "{summary}");
    let echoes = echo_exchanges(&v);
    assert_eq!(echoes.len(), 2, "{v}");
    for e in echoes {
        assert_eq!(hops(&e["request"]), lab.points(), "{e}");
        let notes = e["request"]["netfilter"].as_array().cloned().unwrap_or_default();
        assert!(
            notes.iter().any(|n| n["netns"] == target.as_str()
                && n["chain"] == "input"
                && n["rule"] == "icmp type echo-request drop"
                && n["verdict"] == "drop"),
            "{e}"
        );
        assert_eq!(reasons(&e["request"]), vec!["NETFILTER_DROP"], "{e}");
    }
    assert_eq!(vtrace_tables(&lab), Vec::<String>::new());
}

#[test]
fn ctrl_c_stops_the_trace_and_completes_the_file() {
    let lab = Lab::built("cc");
    let dir = std::env::temp_dir().join(format!("vtrace-ping-cc-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let file = dir.join("trace.pcapng");
    let file_s = file.to_string_lossy().into_owned();
    let child = Command::new(BIN)
        .args(["ping", &lab.container(1), &lab.container(2), "-c", "1000", "-i", "100ms"])
        .args(["--json", "--write", &file_s])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap_or(i32::MAX));
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT);
    let out = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    let offline = Command::new(BIN).args(["analyze", "--json", &file_s]).output();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let live: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    let sent = live["verdict"]["sent"].as_u64().unwrap_or(0);
    assert!((3..1000).contains(&sent), "{live}");
    let offline = offline.unwrap_or_else(|e| panic!("analyze: {e}"));
    assert_eq!(offline.status.code(), Some(0), "{}", describe(&offline));
    let offline: Value = serde_json::from_slice(&offline.stdout).unwrap_or(Value::Null);
    assert_eq!(live["verdict"], offline["verdict"]);
}

#[test]
fn without_cap_net_raw_the_error_says_what_to_do() {
    let lab = Lab::built("cr");
    let out = Command::new("setpriv")
        .args(["--bounding-set", "-net_raw", BIN, "ping", &lab.container(1), &lab.container(2)])
        .output()
        .unwrap_or_else(|e| panic!("setpriv (util-linux): {e}"));
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    // The capability check names what is missing and what to do before anything is changed.
    assert!(err.starts_with("vtrace: `vtrace ping` needs "), "{err}");
    assert!(err.contains("this process lacks CAP_NET_RAW: run it as root"), "{err}");
    assert!(err.trim_end().ends_with("Nothing was changed."), "{err}");
    assert_eq!(vtrace_tables(&lab), Vec::<String>::new());
}

#[test]
fn ipv6_traces_ndp_and_icmpv6_echoes() {
    let id = std::process::id();
    let (a, b, h) = (format!("p{id}6a"), format!("p{id}6b"), format!("p{id}6h"));
    let made = Netnses(vec![a.clone(), b.clone(), h.clone()]);
    for ns in &made.0 {
        sh("ip", &["netns", "add", ns]);
        sh("ip", &["-n", ns, "link", "set", "lo", "up"]);
    }
    sh("ip", &["-n", &h, "link", "add", "br6", "type", "bridge"]);
    sh("ip", &["-n", &h, "link", "set", "br6", "up"]);
    for (ns, host, addr) in [(&a, "v6A", "fd77::1/64"), (&b, "v6B", "fd77::2/64")] {
        sh(
            "ip",
            &["-n", &h, "link", "add", host, "type", "veth", "peer", "name", "net0", "netns", ns],
        );
        sh("ip", &["-n", &h, "link", "set", host, "master", "br6", "up"]);
        sh("ip", &["-n", ns, "addr", "add", addr, "dev", "net0", "nodad"]);
        sh("ip", &["-n", ns, "link", "set", "net0", "up"]);
    }
    let out = Command::new(BIN)
        .args(["ping", "-6", &a, &b, "-c", "2", "--json", "--fresh-arp"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let want = vec![
        format!("{a}/net0"),
        format!("{h}/v6A"),
        format!("{h}/br6"),
        format!("{h}/v6B"),
        format!("{b}/net0"),
    ];
    let exchanges = v["exchanges"].as_array().cloned().unwrap_or_default();
    let echoes: Vec<&Value> = exchanges.iter().filter(|e| e["kind"] == "icmpv6-echo").collect();
    assert_eq!(echoes.len(), 2, "{v}");
    for e in echoes {
        assert_eq!(hops(&e["request"]), want, "{e}");
    }
    let ndp =
        exchanges.iter().find(|e| e["kind"] == "ndp").unwrap_or_else(|| panic!("no NDP: {v}"));
    assert_eq!(hops(&ndp["request"]), want);
    // DF and an MTU too small on the target: mtu, after the target's host veth.
    sh("ip", &["-n", &b, "link", "set", "net0", "mtu", "1300"]);
    let out = Command::new(BIN)
        .args(["ping", &a, "fd77::2", "-c", "1", "-s", "1400", "--df", "--json"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert_eq!(v["verdict"]["cause"], "mtu", "{v}");
    assert_eq!(segment(&v), (Some(want[3].as_str()), Some(want[4].as_str())), "{v}");
    drop(made);
}

/// The icmp-echo exchanges of a JSON report.
fn echo_exchanges(v: &Value) -> Vec<&Value> {
    v["exchanges"].as_array().into_iter().flatten().filter(|e| e["kind"] == "icmp-echo").collect()
}

/// The kernel drop reasons on a journey.
fn reasons(journey: &Value) -> Vec<&str> {
    journey["kernel_drops"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d["reason"].as_str())
        .collect()
}
