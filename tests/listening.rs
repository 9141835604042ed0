//! Root test of the listening sockets discovery reads in each namespace (`ss -lntup` over
//! sock_diag): servers started inside a lab container are listed by `vtrace topo --json` with
//! their address, port and process, a loopback-only one is said to be so, and the port-closed
//! diagnosis reads the discovered sockets the same way.
//!
//! Run as root: `cargo test --features root-tests --test listening`.
#![cfg(feature = "root-tests")]

mod common;

use std::net::IpAddr;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use common::{Lab, describe, installed, require};
use vtrace::core::listen::{ClosedKind, Proto, port_closed};
use vtrace::sys::netlink::discover;

const BIN: &str = env!("CARGO_BIN_EXE_vtrace");

/// Servers the test started; killed (and reaped) on drop, before the lab goes.
struct Servers(Vec<Child>);

impl Servers {
    /// `ip netns exec NS ARGS…` in the background (`ip` execs the program: same pid).
    fn start(&mut self, ns: &str, args: &[&str]) -> u32 {
        let child = Command::new("ip")
            .args(["netns", "exec", ns])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {args:?} in {ns}: {e}"));
        let pid = child.id();
        self.0.push(child);
        pid
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn topo_json(ns: &str) -> (Output, Value) {
    let out = Command::new(BIN)
        .args(["topo", ns, "--json"])
        .output()
        .unwrap_or_else(|e| panic!("running {BIN}: {e}"));
    let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out, v)
}

/// The `listening` list of namespace `ns` in `vtrace topo NS --json`, once it holds a socket
/// on every port of `ports` (polled: the servers need a moment to bind; fails after 10 s).
fn listening_once_bound(ns: &str, ports: &[u64]) -> Vec<Value> {
    let start = Instant::now();
    loop {
        let (out, v) = topo_json(ns);
        let list = v["namespaces"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|n| n["label"] == ns)
            .map(|n| n["listening"].as_array().cloned().unwrap_or_default())
            .unwrap_or_default();
        if ports.iter().all(|p| list.iter().any(|l| l["port"] == *p)) {
            return list;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "ports {ports:?} never listed in {ns}: {}",
            describe(&out)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn on_port(list: &[Value], proto: &str, port: u64) -> Vec<Value> {
    list.iter().filter(|l| l["proto"] == proto && l["port"] == port).cloned().collect()
}

#[test]
fn topo_lists_the_servers_of_a_container_with_address_port_and_process() {
    if !require("busybox (apt-get install busybox)", installed("busybox", "--help")) {
        return;
    }
    let lab = Lab::built("ls");
    let mut servers = Servers(Vec::new());
    let (n1, n2) = (lab.container(1), lab.container(2));
    let any = servers.start(&n2, &["busybox", "httpd", "-f", "-p", "8080", "-h", "/"]);
    let lo = servers.start(&n2, &["busybox", "httpd", "-f", "-p", "127.0.0.1:8081", "-h", "/"]);
    let list = listening_once_bound(&n2, &[8080, 8081]);

    // busybox binds `*:8080` as IPv6 `::` taking IPv4 too, or as `0.0.0.0` without IPv6.
    let web = on_port(&list, "tcp", 8080);
    assert_eq!(web.len(), 1, "{list:?}");
    assert!(web[0]["addr"] == "::" || web[0]["addr"] == "0.0.0.0", "{web:?}");
    assert_eq!(web[0]["v6only"], false, "{web:?}");
    assert_eq!((&web[0]["pid"], &web[0]["process"]), (&Value::from(any), &Value::from("busybox")));
    let local = on_port(&list, "tcp", 8081);
    assert_eq!(local.len(), 1, "{list:?}");
    assert_eq!(local[0]["addr"], "127.0.0.1");
    assert_eq!(
        (&local[0]["pid"], &local[0]["process"]),
        (&Value::from(lo), &Value::from("busybox"))
    );

    // The other container listens on neither.
    let (_, v) = topo_json(&n1);
    let n1_list = v["namespaces"][0]["listening"].as_array().cloned().unwrap_or_default();
    assert!(on_port(&n1_list, "tcp", 8080).is_empty() && on_port(&n1_list, "tcp", 8081).is_empty());

    // The diagnosis on what discovery read: 8080 is taken, 8081 only on loopback, 81 by none.
    let topo = discover().unwrap_or_else(|e| panic!("discovery: {e}"));
    let ns = topo
        .namespaces
        .iter()
        .find(|n| n.label == n2)
        .unwrap_or_else(|| panic!("{n2} not discovered"));
    assert_eq!(ns.listening_note, None);
    let dst: IpAddr = ns.primary_ip().unwrap_or_else(|| panic!("{n2} has no address"));
    assert_eq!(port_closed(&n2, &ns.listening, Proto::Tcp, dst, 8080), None);
    let lo_only = port_closed(&n2, &ns.listening, Proto::Tcp, dst, 8081);
    assert_eq!(
        lo_only.as_ref().map(|c| (c.kind, c.sentence.as_str())),
        Some((
            ClosedKind::OtherAddress,
            format!("tcp/8081 in {n2} listens on 127.0.0.1 only").as_str()
        ))
    );
    let none = port_closed(&n2, &ns.listening, Proto::Tcp, dst, 81).map(|c| c.sentence);
    let none = none.unwrap_or_default();
    assert!(none.starts_with(&format!("nothing listens on tcp/81 in {n2} (listening: ")), "{none}");
    assert!(none.contains(":8080") && none.contains("127.0.0.1:8081"), "{none}");

    // The text picture shows them as `ss -lntup` does.
    let out = Command::new(BIN).args(["topo", &n2]).output().unwrap_or_else(|e| panic!("{e}"));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("  listening (ss -lntup)\n"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.contains("127.0.0.1:8081") && l.contains(&format!("busybox (pid {lo})"))),
        "{text}"
    );
}

#[test]
fn topo_lists_bound_udp_sockets_and_reads_v6only() {
    if !require("python3", installed("python3", "--version")) {
        return;
    }
    let lab = Lab::built("lu");
    let mut servers = Servers(Vec::new());
    let n2 = lab.container(2);
    let script = "import socket, time\n\
        a = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)\n\
        a.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)\n\
        a.bind(('::', 5353))\n\
        b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
        b.bind(('0.0.0.0', 5354))\n\
        c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
        c.connect(('127.0.0.1', 9))\n\
        time.sleep(60)\n";
    let pid = servers.start(&n2, &["python3", "-c", script]);
    let list = listening_once_bound(&n2, &[5353, 5354]);
    let v6 = on_port(&list, "udp", 5353);
    assert_eq!(v6.len(), 1, "{list:?}");
    assert_eq!((&v6[0]["addr"], &v6[0]["v6only"]), (&Value::from("::"), &Value::from(true)));
    assert_eq!(v6[0]["pid"], pid, "{v6:?}");
    let v4 = on_port(&list, "udp", 5354);
    let addrs: Vec<&Value> = v4.iter().map(|l| &l["addr"]).collect();
    assert_eq!(addrs, [&Value::from("0.0.0.0")], "{list:?}");
    // A connected UDP socket is not listening (ss -lu leaves it out too).
    let ours: Vec<&Value> = list.iter().filter(|l| l["pid"] == pid).collect();
    assert_eq!(ours.len(), 2, "{list:?}");
}
