//! Service probes end to end (root): `vtrace ping SRC DST --tcp PORT` / `--udp PORT` on a lab of
//! their own, each case also replayed offline from its `--write` file. What each verdict must say
//! follows from what the test set up (the server, the rule), not from vtrace.

#![cfg(feature = "root-tests")]

mod common;

use std::process::{Child, Command, Stdio};

use serde_json::Value;

use common::{Lab, assert_ok, describe, require};

const BIN: &str = env!("CARGO_BIN_EXE_vtrace");

/// A server started in a namespace, killed when dropped.
struct Server(Child);

impl Server {
    fn start(ns: &str, program: &[&str]) -> Server {
        let child = Command::new("ip")
            .args(["netns", "exec", ns])
            .args(program)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {program:?} in {ns}: {e}"));
        // Wait until it listens (at most 5 s): its socket shows in the namespace.
        let port = program.iter().rev().find_map(|a| a.rsplit(':').next()?.parse::<u16>().ok());
        for _ in 0..100 {
            let ss = common::run("ip", &["netns", "exec", ns, "ss", "-lntuH"]);
            if port.is_none_or(|p| String::from_utf8_lossy(&ss.stdout).contains(&format!(":{p} ")))
            {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Server(child)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A lab whose containers serve HTTP on port 80 (`lab up --serve`).
fn serving(tag: &str) -> Lab {
    let lab = Lab::new(tag, &[]);
    assert_ok(&lab.vtrace("up", &["--serve"], &[]), "lab up --serve");
    lab
}

fn nft(ns: &str, rule: &str) {
    let rules = format!(
        "table inet t {{\n chain c {{\n  type filter hook input priority 0; policy accept;\n  {rule}\n }}\n}}\n"
    );
    let file = std::env::temp_dir().join(format!("vtrace-service-{}-{ns}.nft", std::process::id()));
    std::fs::write(&file, rules).unwrap_or_else(|e| panic!("{e}"));
    let out = common::run("ip", &["netns", "exec", ns, "nft", "-f", &file.to_string_lossy()]);
    let _ = std::fs::remove_file(&file);
    assert!(out.status.success(), "nft: {}", describe(&out));
}

/// `vtrace ping` container 1 → 2 with `EXTRA… --json --write FILE`, then `vtrace analyze FILE
/// --json`: exit codes and both reports.
fn probe(lab: &Lab, extra: &[&str]) -> ((i32, Value), (i32, Value)) {
    let dir = std::env::temp_dir().join(format!("vtrace-service-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let file = dir.join(format!("{}.pcapng", lab.prefix));
    let out = Command::new(BIN)
        .args(["ping", &lab.container(1), &lab.container(2), "-c", "2", "-i", "100ms", "--json"])
        .args(extra)
        .arg("--write")
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let live: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", describe(&out)));
    let off = Command::new(BIN).args(["analyze", "--json"]).arg(&file).output();
    let _ = std::fs::remove_file(&file);
    let _ = std::fs::remove_file(dir.join(format!("{}.pcapng.nft.json", lab.prefix)));
    let off = off.unwrap_or_else(|e| panic!("{e}"));
    let offline: Value =
        serde_json::from_slice(&off.stdout).unwrap_or_else(|e| panic!("{e}: {}", describe(&off)));
    ((out.status.code().unwrap_or(-1), live), (off.status.code().unwrap_or(-1), offline))
}

/// The probe exchanges of `kind` (those that say how they were answered).
fn probes<'v>(v: &'v Value, kind: &str) -> Vec<&'v Value> {
    let all = v["exchanges"].as_array().into_iter().flatten();
    all.filter(|e| e["kind"] == kind && e.get("answer").is_some()).collect()
}

fn points(j: &Value) -> Vec<&str> {
    j["hops"].as_array().into_iter().flatten().filter_map(|h| h["point"].as_str()).collect()
}

#[test]
fn an_open_port_is_reachable_with_five_hops_each_way() {
    let lab = serving("so");
    let ((code, v), (off_code, off)) = probe(&lab, &["--tcp", "80"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["verdict"]["cause"], "ok", "{v}");
    assert_eq!(
        (v["verdict"]["sent"].as_u64(), v["verdict"]["received"].as_u64()),
        (Some(2), Some(2))
    );
    let p = lab.points();
    let connects = probes(&v, "tcp-connect");
    assert_eq!(connects.len(), 2, "{v}");
    for c in connects {
        assert_eq!(c["answer"], "syn-ack", "{c}");
        let mut want: Vec<&str> = p.iter().map(String::as_str).collect();
        let mut got = points(&c["request"]);
        got.sort_unstable();
        want.sort_unstable();
        assert_eq!(got, want, "the SYN crossed every point once: {c}");
        assert_eq!(points(&c["reply"]).len(), 5, "{c}");
        assert_eq!(points(&c["request"]).first().copied(), Some(p[0].as_str()), "{c}");
        assert_eq!(points(&c["reply"]).first().copied(), Some(p[4].as_str()), "{c}");
        assert!(c["rtt_ns"].as_u64().is_some(), "{c}");
    }
    assert_eq!((off_code, &off["verdict"]["cause"]), (0, &Value::from("ok")), "{off}");
}

#[test]
fn a_closed_port_is_port_closed_naming_what_listens() {
    let lab = serving("sc");
    let dst = lab.container(2);
    let ((code, v), (off_code, off)) = probe(&lab, &["--tcp", "81"]);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["verdict"]["cause"], "port-closed", "{v}");
    assert_eq!(v["verdict"]["segment"]["after"].as_str(), Some(lab.points()[4].as_str()), "{v}");
    let summary = v["verdict"]["summary"].as_str().unwrap_or("");
    assert!(
        summary.contains(&format!("nothing listens on tcp/81 in {dst} (listening: ")),
        "{summary}"
    );
    assert!(
        v["verdict"]["listening"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|l| l["port"] == 80 && l["proto"] == "tcp"),
        "{v}"
    );
    for c in probes(&v, "tcp-connect") {
        assert_eq!(c["answer"], "rst", "{c}");
    }
    // Offline, from the captures alone: the reset was born at the target's own point.
    assert_eq!((off_code, &off["verdict"]["cause"]), (1, &Value::from("port-closed")), "{off}");
}

#[test]
fn a_server_bound_to_loopback_only_is_port_closed_naming_the_address() {
    let lab = Lab::built("sl");
    let dst = lab.container(2);
    let root = std::env::temp_dir().join(format!("vtrace-www-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&root);
    let _server = Server::start(
        &dst,
        &["busybox", "httpd", "-f", "-h", &root.to_string_lossy(), "-p", "127.0.0.1:80"],
    );
    let ((code, v), (off_code, off)) = probe(&lab, &["--tcp", "80"]);
    let _ = std::fs::remove_dir_all(&root);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["verdict"]["cause"], "port-closed", "{v}");
    let summary = v["verdict"]["summary"].as_str().unwrap_or("");
    assert!(summary.contains(&format!("tcp/80 in {dst} listens on 127.0.0.1 only")), "{summary}");
    assert_eq!(off_code, 1, "{off}");
}

#[test]
fn a_reset_rule_in_the_target_is_netfilter_reject_with_the_rule() {
    let lab = serving("sr");
    let dst = lab.container(2);
    nft(&dst, "tcp dport 80 reject with tcp reset");
    let ((code, v), (off_code, off)) = probe(&lab, &["--tcp", "80"]);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["verdict"]["cause"], "netfilter-reject", "{v}");
    let summary = v["verdict"]["summary"].as_str().unwrap_or("");
    assert!(summary.contains(&format!("in {dst}: inet t c")), "{summary}");
    assert!(summary.contains("rule `tcp dport 80 reject with tcp reset`"), "{summary}");
    for c in probes(&v, "tcp-connect") {
        assert_eq!(c["answer"], "rst", "{c}");
        // The reset's journey starts in the target namespace.
        assert_eq!(points(&c["reply"]).first().copied(), Some(lab.points()[4].as_str()), "{c}");
    }
    // Offline, the kept netfilter trace names the rule again.
    assert_eq!(
        (off_code, &off["verdict"]["cause"]),
        (1, &Value::from("netfilter-reject")),
        "{off}"
    );
}

#[test]
fn an_admin_prohibited_reject_is_netfilter_reject() {
    let lab = serving("sa");
    nft(&lab.container(2), "tcp dport 80 reject with icmpx admin-prohibited");
    let ((code, v), (off_code, off)) = probe(&lab, &["--tcp", "80"]);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["verdict"]["cause"], "netfilter-reject", "{v}");
    for c in probes(&v, "tcp-connect") {
        assert_eq!(c["answer"], "icmp", "{c}");
    }
    assert_eq!(
        (off_code, &off["verdict"]["cause"]),
        (1, &Value::from("netfilter-reject")),
        "{off}"
    );
}

#[test]
fn a_udp_port_with_nothing_listening_is_port_closed() {
    let lab = Lab::built("su");
    let ((code, v), (off_code, off)) = probe(&lab, &["--udp", "5353"]);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["verdict"]["cause"], "port-closed", "{v}");
    assert!(
        v["verdict"]["summary"].as_str().unwrap_or("").contains("ICMP error type 3 code 3"),
        "{v}"
    );
    assert_eq!((off_code, &off["verdict"]["cause"]), (1, &Value::from("port-closed")), "{off}");
}

#[test]
fn a_udp_echo_server_is_reachable() {
    if !require("python3 (the UDP echo server)", common::installed("python3", "--version")) {
        return;
    }
    let lab = Lab::built("se");
    let echo = "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(('0.0.0.0',5353))\nwhile True:\n d,a=s.recvfrom(2048)\n s.sendto(d,a)\n";
    let _server = Server::start(&lab.container(2), &["python3", "-c", echo, "udp:5353"]);
    let ((code, v), (off_code, off)) = probe(&lab, &["--udp", "5353", "--payload", "hello"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["verdict"]["cause"], "ok", "{v}");
    assert_eq!(v["verdict"]["received"], 2, "{v}");
    for d in probes(&v, "udp") {
        assert_eq!(d["answer"], "udp", "{d}");
        assert_eq!(points(&d["reply"]).len(), 5, "{d}");
    }
    assert_eq!((off_code, &off["verdict"]["cause"]), (0, &Value::from("ok")), "{off}");
}

#[test]
fn a_udp_datagram_larger_than_the_target_mtu_with_df_is_mtu() {
    let lab = Lab::built("sm");
    let host = lab.host_ns();
    let veth = lab.host_veth(2);
    let out = common::run("ip", &["-n", &host, "link", "set", &veth, "mtu", "1400"]);
    assert!(out.status.success(), "{}", describe(&out));
    // 20 + 8 + 1400 bytes with DF do not fit a 1400-byte link.
    let ((code, v), _) = probe(&lab, &["--udp", "5353", "-s", "1400", "--df"]);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["verdict"]["cause"], "mtu", "{v}");
    let summary = v["verdict"]["summary"].as_str().unwrap_or("");
    assert!(summary.contains("1428-byte packets with DF do not fit"), "{summary}");
}
