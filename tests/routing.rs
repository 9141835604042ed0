//! Paths that cross a namespace that routes and translates (root): two networks routed by the
//! lab's host namespace, the outside behind its uplink with masquerade, a published port
//! (DNAT), forwarding off, the masquerade rule removed. Each test builds a lab of its own
//! (`vtrace lab up --networks 2 --outside --publish …`) and breaks it the way its case says; what
//! each verdict must say follows from that, not from vtrace.

#![cfg(feature = "root-tests")]

mod common;

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use common::{Lab, assert_ok, describe, run};

const BIN: &str = env!("CARGO_BIN_EXE_vtrace");
const UPLINK: &str = "198.51.100.1";
const OUTSIDE: &str = "198.51.100.2";

/// A lab with two networks (nginx-1 on docker0, nginx-2 on br-net2), the outside, nginx-2's
/// port 80 published on 8080 and its unused port 81 on 8081, HTTP served in the containers.
fn routed(tag: &str) -> Lab {
    let lab = Lab::new(
        tag,
        &[
            "--networks",
            "2",
            "--outside",
            "--publish",
            "8080:nginx-2:80",
            "--publish",
            "8081:nginx-2:81",
        ],
    );
    assert_ok(&lab.vtrace("up", &["--serve"], &[]), "lab up --networks 2 --outside --serve");
    lab
}

/// `vtrace ping SRC DST ARGS… --json --write FILE`, then `vtrace analyze FILE --json`: exit
/// codes and both reports.
fn ping(lab: &Lab, src: &str, dst: &str, args: &[&str]) -> ((i32, Value), (i32, Value)) {
    let dir = std::env::temp_dir().join(format!("vtrace-routing-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let file: PathBuf = dir.join(format!("{}{}.pcapng", lab.prefix, dst.replace('/', "_")));
    let out = Command::new(BIN)
        .args(["ping", src, dst, "--json", "-i", "100ms"])
        .args(args)
        .arg("--write")
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let live: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", describe(&out)));
    let off = Command::new(BIN).args(["analyze", "--json"]).arg(&file).output();
    let _ = std::fs::remove_file(&file);
    let _ = std::fs::remove_file(file.with_extension("pcapng.nft.json"));
    let off = off.unwrap_or_else(|e| panic!("{e}"));
    let offline: Value =
        serde_json::from_slice(&off.stdout).unwrap_or_else(|e| panic!("{e}: {}", describe(&off)));
    ((out.status.code().unwrap_or(-1), live), (off.status.code().unwrap_or(-1), offline))
}

fn points(j: &Value) -> Vec<&str> {
    j["hops"].as_array().into_iter().flatten().filter_map(|h| h["point"].as_str()).collect()
}

/// The exchanges of `kind` that are vtrace's probes (echoes, or connects with an answer).
fn probes<'v>(v: &'v Value, kind: &str) -> Vec<&'v Value> {
    let all = v["exchanges"].as_array().into_iter().flatten();
    all.filter(|e| e["kind"] == kind && (kind == "icmp-echo" || e.get("answer").is_some()))
        .collect()
}

/// `(point, kind, from, to)` of a journey's NAT notes.
fn nat(j: &Value) -> Vec<(String, String, String, String)> {
    let s = |v: &Value| v.as_str().unwrap_or("?").to_owned();
    j["nat"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|n| (s(&n["point"]), s(&n["kind"]), s(&n["from"]), s(&n["to"])))
        .collect()
}

fn sysctl(ns: &str, setting: &str) {
    let out = run("ip", &["netns", "exec", ns, "sysctl", "-qw", setting]);
    assert!(out.status.success(), "sysctl {setting}: {}", describe(&out));
}

#[test]
fn two_networks_routed_by_the_host_are_six_points_each_way() {
    let lab = routed("rn");
    let (c1, c2, host) = (lab.container(1), lab.container(2), lab.host_ns());
    let ((code, v), (off_code, off)) = ping(&lab, &c1, &c2, &["-c", "2"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["verdict"]["cause"], "ok", "{v}");
    let want = [
        format!("{c1}/eth0"),
        format!("{host}/{}", lab.host_veth(1)),
        format!("{host}/docker0"),
        format!("{host}/br-net2"),
        format!("{host}/{}", lab.host_veth(2)),
        format!("{c2}/eth0"),
    ];
    let echoes = probes(&v, "icmp-echo");
    assert_eq!(echoes.len(), 2, "{v}");
    for e in echoes {
        assert_eq!(points(&e["request"]), want, "{e}");
        let back: Vec<&str> = want.iter().rev().map(String::as_str).collect();
        assert_eq!(points(&e["reply"]), back, "{e}");
        assert!(nat(&e["request"]).is_empty(), "routing alone translates nothing: {e}");
        // The TTL goes down once, between the two bridges: the routing hop.
        let routed: Vec<bool> = e["request"]["hops"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|h| h["routed"] == true)
            .collect();
        assert_eq!(routed, [false, false, false, true, false, false], "{e}");
    }
    assert!(v["verdict"].get("conntrack").is_none(), "nothing translated: {v}");
    let roles: Vec<&str> =
        v["points"].as_array().into_iter().flatten().filter_map(|p| p["role"].as_str()).collect();
    assert_eq!(roles, ["endpoint", "veth-host", "bridge", "bridge", "veth-host", "endpoint"]);
    assert_eq!((off_code, &off["verdict"]["cause"]), (0, &Value::from("ok")), "{off}");
}

#[test]
fn the_outside_is_reached_through_masquerade_as_one_journey() {
    let lab = routed("ro");
    let (c1, host) = (lab.container(1), lab.host_ns());
    let ((code, v), (off_code, off)) = ping(&lab, &c1, OUTSIDE, &["-c", "2"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["verdict"]["cause"], "ok", "{v}");
    let uplink = format!("{host}/uplink0");
    let out = format!("{}/eth0", lab.ns("vtrace-outside"));
    let echoes = probes(&v, "icmp-echo");
    assert_eq!(echoes.len(), 2, "one exchange per echo, not one per side of the NAT: {v}");
    for e in echoes {
        let req = &e["request"];
        let want = [
            format!("{c1}/eth0"),
            format!("{host}/{}", lab.host_veth(1)),
            format!("{host}/docker0"),
            uplink.clone(),
            out.clone(),
        ];
        assert_eq!(points(req), want, "{e}");
        let notes = nat(req);
        assert_eq!(notes.len(), 1, "{e}");
        let (point, kind, from, to) = &notes[0];
        assert_eq!((point, kind.as_str()), (&uplink, "snat"), "{e}");
        assert!(from.starts_with("172.18.0.2") && to.starts_with(UPLINK), "{e}");
        // The hops past the translation carry the packet as seen there.
        let hops = req["hops"].as_array().cloned().unwrap_or_default();
        assert_eq!(hops[3]["src"], UPLINK, "{e}");
        assert!(hops[2].get("src").is_none(), "{e}");
        // The reply is un-NATed back to the container on the same router.
        assert_eq!(points(&e["reply"]).last().copied(), Some(format!("{c1}/eth0").as_str()));
        assert_eq!(nat(&e["reply"]).first().map(|n| n.1.as_str()), Some("dnat"), "{e}");
    }
    // conntrack in the host namespace confirms it: replies go to the uplink's address.
    let ct = v["verdict"]["conntrack"].as_array().cloned().unwrap_or_default();
    let confirmed = ct.iter().any(|c| {
        c["netns"] == host.as_str()
            && c["translation"] == format!("snat 172.18.0.2 → {UPLINK}")
            && c["reply"] == format!("{OUTSIDE} → {UPLINK}")
    });
    assert!(confirmed, "{ct:?}");
    assert_eq!((off_code, &off["verdict"]["cause"]), (0, &Value::from("ok")), "{off}");
    assert_eq!(
        off["verdict"]["conntrack"], v["verdict"]["conntrack"],
        "kept in the sidecar: {off}"
    );
    let off_echo = probes(&off, "icmp-echo");
    assert_eq!(off_echo.first().map(|e| nat(&e["request"]).len()), Some(1), "{off}");
}

#[test]
fn a_published_port_is_one_journey_with_its_dnat_note() {
    let lab = routed("rp");
    let (c2, host) = (lab.container(2), lab.host_ns());
    let outside = lab.ns("vtrace-outside");
    let ((code, v), (off_code, off)) = ping(&lab, &outside, UPLINK, &["--tcp", "8080", "-c", "1"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["verdict"]["cause"], "ok", "{v}");
    let connects = probes(&v, "tcp-connect");
    assert_eq!(connects.len(), 1, "{v}");
    let c = connects[0];
    assert_eq!(c["answer"], "syn-ack", "{c}");
    let want = [
        format!("{outside}/eth0"),
        format!("{host}/uplink0"),
        format!("{host}/br-net2"),
        format!("{host}/{}", lab.host_veth(2)),
        format!("{c2}/eth0"),
    ];
    assert_eq!(points(&c["request"]), want, "{c}");
    let dnat =
        (want[2].clone(), "dnat".to_owned(), format!("{UPLINK}:8080"), "172.19.0.2:80".to_owned());
    assert_eq!(nat(&c["request"]), [dnat], "{c}");
    // The SYN-ACK leaves nginx-2 as 172.19.0.2:80 and reaches the outside as the uplink's 8080.
    assert_eq!(points(&c["reply"]).first().copied(), Some(want[4].as_str()), "{c}");
    let back = nat(&c["reply"]);
    assert_eq!(back.len(), 1, "{c}");
    assert_eq!((back[0].2.as_str(), back[0].3.as_str()), ("172.19.0.2:80", "198.51.100.1:8080"));
    let ct = v["verdict"]["conntrack"].as_array().cloned().unwrap_or_default();
    assert_eq!(ct.len(), 1, "{ct:?}");
    assert_eq!(ct[0]["netns"], host.as_str(), "{ct:?}");
    assert_eq!(ct[0]["translation"], format!("dnat {UPLINK}:8080 → 172.19.0.2:80"), "{ct:?}");
    assert_eq!((off_code, &off["verdict"]["cause"]), (0, &Value::from("ok")), "{off}");
    let off_c = probes(&off, "tcp-connect");
    assert_eq!(off_c.first().map(|c| nat(&c["request"]).len()), Some(1), "{off}");
}

#[test]
fn a_published_port_nothing_listens_behind_is_port_closed_naming_the_translation() {
    let lab = routed("rc");
    let outside = lab.ns("vtrace-outside");
    let ((code, v), _) = ping(&lab, &outside, UPLINK, &["--tcp", "8081", "-c", "1"]);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["verdict"]["cause"], "port-closed", "{v}");
    let summary = v["verdict"]["summary"].as_str().unwrap_or("");
    assert!(summary.contains("198.51.100.1:8081 is DNATed to 172.19.0.2:81"), "{summary}");
}

/// `ip -n NS ARGS…`, which must succeed.
fn ip_in(ns: &str, args: &[&str]) {
    let mut all = vec!["-n", ns];
    all.extend_from_slice(args);
    let out = run("ip", &all);
    assert!(out.status.success(), "ip {all:?}: {}", describe(&out));
}

#[test]
fn policy_routing_in_the_router_is_captured_on_its_other_interfaces_and_the_packets_decide() {
    let lab = routed("rp");
    let (c1, c2, host) = (lab.container(1), lab.container(2), lab.host_ns());
    // A rule for nginx-1's address and a table of its own: the main table no longer decides.
    ip_in(&host, &["rule", "add", "from", "172.18.0.2", "lookup", "100", "pref", "100"]);
    ip_in(&host, &["route", "add", "172.19.0.0/16", "dev", "br-net2", "table", "100"]);
    let ((code, v), (off_code, off)) = ping(&lab, &c1, &c2, &["-c", "1"]);
    assert_eq!(code, 0, "{v}");
    let uplink = format!("{host}/uplink0");
    let ids: Vec<&str> =
        v["points"].as_array().into_iter().flatten().filter_map(|p| p["id"].as_str()).collect();
    let want = [
        format!("{c1}/eth0"),
        format!("{host}/{}", lab.host_veth(1)),
        format!("{host}/docker0"),
        uplink.clone(),
        format!("{host}/br-net2"),
        format!("{host}/{}", lab.host_veth(2)),
        format!("{c2}/eth0"),
    ];
    assert_eq!(ids, want, "the router's other interface is captured, before its egress: {v}");
    let roles: Vec<&str> =
        v["points"].as_array().into_iter().flatten().filter_map(|p| p["role"].as_str()).collect();
    assert_eq!(roles[3], "branch", "{v}");
    // The table sends it on to br-net2: six hops each way, none on the branch.
    assert_eq!(v["verdict"]["summary"], "1/1 echo replies, 6 hops each way", "{v}");
    let echo = probes(&v, "icmp-echo");
    let on_path: Vec<&str> = want.iter().filter(|p| **p != uplink).map(String::as_str).collect();
    assert_eq!(echo.first().map(|e| points(&e["request"])), Some(on_path), "{v}");
    assert_eq!((off_code, &off["verdict"]["cause"]), (0, &Value::from("ok")), "{off}");

    // Now the table sends it out of the uplink: seen leaving by the branch, and said so.
    ip_in(
        &host,
        &["route", "replace", "172.19.0.0/16", "via", OUTSIDE, "dev", "uplink0", "table", "100"],
    );
    let ((code, v), (_, off)) = ping(&lab, &c1, &c2, &["-c", "1"]);
    assert_eq!(code, 1, "{v}");
    let echo = probes(&v, "icmp-echo");
    let request = echo.first().map(|e| points(&e["request"])).unwrap_or_default();
    assert_eq!(request, want[..4].iter().map(String::as_str).collect::<Vec<_>>(), "{v}");
    let verdict = &v["verdict"];
    assert_eq!(verdict["segment"]["after"].as_str(), Some(uplink.as_str()), "{v}");
    assert!(verdict["segment"]["before"].is_null(), "nothing was to see it after: {v}");
    let summary = verdict["summary"].as_str().unwrap_or("");
    assert!(
        summary.contains(&format!(
            "{host} sent the packet to 172.19.0.2 out of uplink0, not out of br-net2"
        )),
        "{summary}"
    );
    assert!(summary.contains("100: from 172.18.0.2/32 lookup 100"), "{summary}");
    assert_ne!(verdict["cause"], "link-down", "{v}");
    assert_ne!(verdict["cause"], "forwarding-disabled", "{v}");
    // Offline, the written file keeps the branch: the same segment.
    assert_eq!(off["verdict"]["segment"], verdict["segment"], "{off}");
}

#[test]
fn a_reverse_path_filter_drop_in_the_router_is_kernel_drop_not_link_down() {
    let lab = routed("rr");
    let (c1, c2, host) = (lab.container(1), lab.container(2), lab.host_ns());
    // Strict rp_filter on docker0, and the host's way back to nginx-1 through the uplink: its
    // packets arriving on docker0 fail the reverse-path check. nginx-1 knows its gateway's MAC
    // (a permanent entry): the host's ARP, checked the same way, would not answer.
    let mac = docker0_mac(&host);
    ip_in(
        &c1,
        &["neigh", "replace", "172.18.0.1", "lladdr", &mac, "dev", "eth0", "nud", "permanent"],
    );
    sysctl(&host, "net.ipv4.conf.all.rp_filter=1");
    sysctl(&host, "net.ipv4.conf.docker0.rp_filter=1");
    ip_in(&host, &["route", "add", "172.18.0.2/32", "dev", "uplink0"]);
    let ((code, v), _) = ping(&lab, &c1, &c2, &["-c", "1"]);
    assert_eq!(code, 1, "{v}");
    let verdict = &v["verdict"];
    assert_eq!(verdict["cause"], "kernel-drop", "{v}");
    assert_eq!(verdict["segment"]["after"].as_str(), Some(format!("{host}/docker0").as_str()));
    assert_eq!(verdict["segment"]["before"].as_str(), Some(format!("{host}/br-net2").as_str()));
    let summary = verdict["summary"].as_str().unwrap_or("");
    assert!(summary.contains("IP_RPFILTER"), "{summary}");
    assert!(summary.contains(&format!("in {host}")), "{summary}");
}

/// The MAC of `ns`'s docker0, as `ip` prints it.
fn docker0_mac(ns: &str) -> String {
    let out = run("ip", &["-n", ns, "-br", "link", "show", "docker0"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.split_whitespace().nth(2).unwrap_or_default().to_owned()
}

#[test]
fn forwarding_off_in_the_host_is_forwarding_disabled_after_the_source_bridge() {
    let lab = routed("rf");
    let (c1, c2, host) = (lab.container(1), lab.container(2), lab.host_ns());
    sysctl(&host, "net.ipv4.ip_forward=0");
    let ((code, v), _) = ping(&lab, &c1, &c2, &["-c", "1"]);
    assert_eq!(code, 1, "{v}");
    let verdict = &v["verdict"];
    assert_eq!(verdict["cause"], "forwarding-disabled", "{v}");
    assert_eq!(verdict["segment"]["after"].as_str(), Some(format!("{host}/docker0").as_str()));
    assert_eq!(verdict["segment"]["before"].as_str(), Some(format!("{host}/br-net2").as_str()));
    let summary = verdict["summary"].as_str().unwrap_or("");
    assert!(summary.contains("net.ipv4.ip_forward = 0"), "{summary}");
    assert!(!summary.contains("link-down"), "{summary}");
}

#[test]
fn a_missing_masquerade_is_no_return_route_at_the_outside() {
    let lab = routed("rm");
    let (c1, host) = (lab.container(1), lab.host_ns());
    let out = run(
        "ip",
        &["netns", "exec", &host, "nft", "flush", "chain", "ip", "vtrace_lab_nat", "postrouting"],
    );
    assert!(out.status.success(), "{}", describe(&out));
    let ((code, v), _) = ping(&lab, &c1, OUTSIDE, &["-c", "1"]);
    assert_eq!(code, 1, "{v}");
    let verdict = &v["verdict"];
    assert_eq!(verdict["cause"], "no-return-route", "{v}");
    let outside = format!("{}/eth0", lab.ns("vtrace-outside"));
    assert_eq!(verdict["segment"]["after"].as_str(), Some(outside.as_str()), "{v}");
    assert!(verdict["segment"]["before"].is_null(), "{v}");
    let summary = verdict["summary"].as_str().unwrap_or("");
    assert!(summary.contains("no route back to 172.18.0.2"), "{summary}");
}

#[test]
fn a_router_without_a_route_answers_network_unreachable_and_is_named() {
    let lab = routed("ru");
    let (c1, host) = (lab.container(1), lab.host_ns());
    // The host namespace has routes to its own networks only.
    let ((code, v), (_, off)) = ping(&lab, &c1, "203.0.113.5", &["-c", "1"]);
    assert_eq!(code, 1, "{v}");
    let verdict = &v["verdict"];
    assert_eq!(verdict["cause"], "no-route", "{v}");
    let bridge = format!("{host}/docker0");
    assert_eq!(verdict["segment"]["after"].as_str(), Some(bridge.as_str()), "{v}");
    let summary = verdict["summary"].as_str().unwrap_or("");
    assert!(
        summary.contains("172.18.0.1 answered with ICMP 3 0: network unreachable"),
        "{summary}"
    );
    assert!(summary.contains(&bridge), "{summary}");
    let echo = probes(&v, "icmp-echo");
    let errors = echo.first().and_then(|e| e["errors"].as_array()).cloned().unwrap_or_default();
    assert_eq!(errors.len(), 1, "the error is linked to its echo: {v}");
    assert_eq!((errors[0]["type"].as_u64(), errors[0]["code"].as_u64()), (Some(3), Some(0)));
    assert_eq!(errors[0]["from"], "172.18.0.1", "{v}");
    assert_eq!(off["verdict"]["cause"], "no-route", "{off}");
}

#[test]
fn an_unanswered_next_hop_behind_a_router_is_its_host_unreachable() {
    let lab = routed("rh");
    let (c1, host) = (lab.container(1), lab.host_ns());
    // One ARP probe, 100 ms apart: the router gives up (and says so) within the trace.
    sysctl(&host, "net.ipv4.neigh.br-net2.mcast_solicit=1");
    sysctl(&host, "net.ipv4.neigh.br-net2.retrans_time_ms=100");
    let ((code, v), _) = ping(&lab, &c1, "172.19.0.99", &["-c", "1", "--timeout", "2s"]);
    assert_eq!(code, 1, "{v}");
    let verdict = &v["verdict"];
    let summary = verdict["summary"].as_str().unwrap_or("");
    assert!(summary.contains("172.18.0.1 answered with ICMP 3 1: host unreachable"), "{summary}");
    // The path goes on to the router's link towards the missing host, where its ARP is seen.
    let ids: Vec<&str> =
        v["points"].as_array().into_iter().flatten().filter_map(|p| p["id"].as_str()).collect();
    assert_eq!(ids.last().copied(), Some(format!("{host}/br-net2").as_str()), "{v}");
    assert_ne!(verdict["cause"], "link-down", "{v}");
}

/// `tcpdump -i any -w FILE` in `ns`, stopped (SIGINT, so it flushes) by [`AnyCapture::stop`]
/// or when dropped.
struct AnyCapture {
    child: std::process::Child,
    stderr: Option<std::io::BufReader<std::process::ChildStderr>>,
}

impl AnyCapture {
    fn start(ns: &str, file: &std::path::Path) -> AnyCapture {
        use std::io::{BufRead, BufReader};
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns, "tcpdump", "-i", "any", "--immediate-mode", "-U", "-w"])
            .arg(file)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting tcpdump in {ns}: {e}"));
        // It captures once it says it listens.
        let mut stderr = child.stderr.take().map(BufReader::new);
        if let Some(err) = stderr.as_mut() {
            let mut line = String::new();
            let mut listening = false;
            while err.read_line(&mut line).is_ok_and(|n| n > 0) {
                listening = line.contains("listening on");
                if listening {
                    break;
                }
                line.clear();
            }
            assert!(listening, "tcpdump -i any did not start in {ns}");
        }
        AnyCapture { child, stderr }
    }

    fn interrupt(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).unwrap_or(0)),
            nix::sys::signal::Signal::SIGINT,
        );
        let _ = self.child.wait();
    }

    /// Stop it; what it said at the end (its counts of packets captured and dropped).
    fn stop(mut self) -> String {
        use std::io::Read;
        self.interrupt();
        let mut said = String::new();
        if let Some(mut err) = self.stderr.take() {
            let _ = err.read_to_string(&mut said);
        }
        said
    }
}

impl Drop for AnyCapture {
    fn drop(&mut self) {
        self.interrupt();
    }
}

/// The kernel's drop count in tcpdump's closing words (`N packets dropped by kernel`).
fn kernel_dropped(said: &str) -> u64 {
    said.lines()
        .find(|l| l.contains("dropped by kernel"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_routers_any_capture_is_one_point_per_interface_and_its_icmp_errors_are_linked() {
    if !common::require("tcpdump", common::installed("tcpdump", "--version")) {
        return;
    }
    let lab = routed("ra");
    let (c1, host) = (lab.container(1), lab.host_ns());
    // The way through the router works before the capture starts (the neighbours are known,
    // the links of the new lab settled): what the capture holds is what the test sends.
    let warm =
        run("ip", &["netns", "exec", &c1, "ping", "-n", "-q", "-c", "1", "-W", "2", "172.19.0.2"]);
    assert!(warm.status.success(), "the routed lab does not answer: {}", describe(&warm));
    // The router gives up on a missing neighbour after one probe, 100 ms.
    sysctl(&host, "net.ipv4.neigh.br-net2.mcast_solicit=1");
    sysctl(&host, "net.ipv4.neigh.br-net2.retrans_time_ms=100");
    let dir = std::env::temp_dir().join(format!("vtrace-routing-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let file = dir.join(format!("{host}.pcap"));
    // A capture the kernel dropped packets of (a loaded machine) is taken again, once.
    let mut said = String::new();
    for _ in 0..2 {
        let capture = AnyCapture::start(&host, &file);
        let ping = |args: &[&str]| {
            let mut all = vec!["netns", "exec", &c1, "ping", "-n", "-q"];
            all.extend_from_slice(args);
            let _ = run("ip", &all);
        };
        ping(&["-c", "2", "-i", "0.2", "172.19.0.2"]);
        ping(&["-c", "1", "-t", "1", "172.19.0.2"]);
        ping(&["-c", "1", "-W", "1", "172.19.0.99"]);
        std::thread::sleep(std::time::Duration::from_millis(200));
        said = capture.stop();
        if kernel_dropped(&said) == 0 {
            break;
        }
    }
    let out = Command::new(BIN).args(["analyze", "--json"]).arg(&file).output();
    let _ = std::fs::remove_file(&file);
    let out = out.unwrap_or_else(|e| panic!("{e}"));
    let v: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", describe(&out)));
    // One point per interface the router saw the traffic on, named after the file (the router).
    let ids: Vec<&str> =
        v["points"].as_array().into_iter().flatten().filter_map(|p| p["id"].as_str()).collect();
    assert!(ids.len() >= 4, "{v}");
    assert!(ids.iter().all(|id| id.starts_with(&format!("{host}/if"))), "{ids:?}");
    let echoes = probes(&v, "icmp-echo");
    let to_b: Vec<&&Value> = echoes
        .iter()
        .filter(|e| e["summary"].as_str().is_some_and(|s| s.contains("> 172.19.0.2 ")))
        .collect();
    // The answered echoes: one journey each way across the four points (a packet the capture
    // saw on two interfaces is two hops, never two journeys).
    let answered: Vec<&&&Value> = to_b.iter().filter(|e| !e["reply"].is_null()).collect();
    assert_eq!(answered.len(), 2, "{v}\ntcpdump: {said}");
    for e in &answered {
        assert_eq!(points(&e["request"]).len(), 4, "{e}\ntcpdump: {said}");
        assert_eq!(e["request"]["complete"], true, "{e}\ntcpdump: {said}");
        assert_eq!(points(&e["reply"]).len(), 4, "{e}\ntcpdump: {said}");
    }
    // The TTL-1 echo: its time exceeded from the router, linked to it.
    let error = |e: &Value| {
        let errs = e["errors"].as_array().cloned().unwrap_or_default();
        errs.first().map(|x| (x["type"].as_u64(), x["code"].as_u64(), x["from"].clone()))
    };
    let expired: Vec<_> = to_b.iter().filter_map(|e| error(e)).collect();
    assert_eq!(expired, [(Some(11), Some(0), Value::from("172.18.0.1"))], "{v}");
    let missing = echoes
        .iter()
        .find(|e| e["summary"].as_str().is_some_and(|s| s.contains("> 172.19.0.99 ")))
        .unwrap_or_else(|| panic!("no echo to 172.19.0.99: {v}"));
    assert_eq!(error(missing), Some((Some(3), Some(1), Value::from("172.18.0.1"))), "{missing}");
    let causes = v["verdict"]["causes"].as_array().cloned().unwrap_or_default();
    let said: Vec<&str> = causes.iter().filter_map(|c| c["summary"].as_str()).collect();
    let first_seen = format!("(first seen at {host}/if");
    assert!(
        said.iter().any(|s| s.contains("time exceeded") && s.contains(&first_seen)),
        "{said:?}"
    );
    assert!(
        said.iter().any(|s| s.contains("host unreachable") && s.contains(&first_seen)),
        "{said:?}"
    );
}
