//! Root tests of discovery, path computation, `vtrace topo` and endpoint resolution against
//! real namespaces built with iproute2. Every name includes the process id (and a per-test tag);
//! a guard removes every namespace and child process a test made, also when it fails. The root
//! namespace's addresses, routes and firewall are never touched.
#![cfg(feature = "root-tests")]

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use vtrace::core::path::{Target, path};
use vtrace::core::topology::{FdbKind, NsIdx, NsKind, Topology};
use vtrace::sys::endpoint::{resolve, resolve_in};
use vtrace::sys::netlink::discover;
use vtrace::sys::netns::Netns;

/// Removes what a test made: child processes first (they hold namespaces), then namespaces.
struct Guard {
    netns: Vec<String>,
    children: Vec<Child>,
}

impl Guard {
    fn new() -> Self {
        Guard { netns: Vec::new(), children: Vec::new() }
    }

    /// `vt<pid><tag>`: unique per process and test.
    fn netns(&mut self, tag: &str) -> String {
        let name = format!("vt{}{tag}", std::process::id());
        run("ip", &["netns", "add", &name]);
        self.netns.push(name.clone());
        name
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        for ns in &self.netns {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd).args(args).output();
    let out = match out {
        Ok(o) => o,
        Err(e) => panic!("running {cmd} {args:?}: {e}"),
    };
    assert!(
        out.status.success(),
        "{cmd} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ipn(ns: &str, args: &str) {
    let mut all = vec!["-n", ns];
    all.extend(args.split_whitespace());
    run("ip", &all);
}

fn json(cmd: &str, args: &[&str]) -> Value {
    serde_json::from_str(&run(cmd, args)).unwrap_or(Value::Null)
}

/// A host-side veth name like Docker's: `veth` + 7 hex digits.
fn veth_name(k: u32) -> String {
    format!("veth{:07x}", (std::process::id().wrapping_mul(16).wrapping_add(k)) & 0xfff_ffff)
}

fn idx(topo: &Topology, label: &str) -> NsIdx {
    match topo.find_label(label) {
        Some(i) => i,
        None => panic!("namespace {label} not discovered"),
    }
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

/// The route destination as iproute2 prints it (no `/32` or `/128`; `default`).
fn route_dst(dst: IpAddr, prefix: u8) -> String {
    let full = if dst.is_ipv4() { 32 } else { 128 };
    match prefix {
        0 => "default".to_owned(),
        p if p == full => dst.to_string(),
        p => format!("{dst}/{p}"),
    }
}

/// Like `assert_eq!`, but returns the mismatch as an error (discovery and iproute2 run at
/// slightly different moments: the kernel may add an IPv6 route in between).
macro_rules! check_eq {
    ($a:expr, $b:expr, $($fmt:tt)+) => {{
        let (a, b) = (&$a, &$b);
        if a != b {
            return Err(format!("{}: ours {:?} != iproute2 {:?}", format!($($fmt)+), a, b));
        }
    }};
    ($a:expr, $b:expr) => { check_eq!($a, $b, "{}", stringify!($a)) };
}

/// Discovery agrees with `ip -j` and `bridge -j` on everything they both show.
fn diff_iproute2(topo: &Topology, label: &str) -> Result<(), String> {
    let ns = &topo.namespaces[idx(topo, label).0];
    // Links: names, indexes, MACs, MTU, admin/oper state, master, peer index.
    let links = json("ip", &["-j", "-n", label, "link", "show"]);
    let links = links.as_array().cloned().unwrap_or_default();
    check_eq!(links.len(), ns.links.len(), "{label}: link count");
    for l in &links {
        let ifindex = l["ifindex"].as_u64().unwrap_or(0) as u32;
        let ours = ns.links.iter().find(|x| u64::from(x.ifindex.0) == u64::from(ifindex));
        let Some(ours) = ours else { return Err(format!("{label}: ifindex {ifindex} missing")) };
        check_eq!(ours.name, s(&l["ifname"]), "{label}: name of {ifindex}");
        check_eq!(ours.mac.map(|m| m.to_string()), l["address"].as_str().map(str::to_owned));
        check_eq!(
            u64::from(ours.mtu),
            l["mtu"].as_u64().unwrap_or(0),
            "{label}/{}: mtu",
            ours.name
        );
        let up = l["flags"].as_array().is_some_and(|f| f.iter().any(|x| x == "UP"));
        check_eq!(ours.admin_up, up, "{label}/{}: admin state", ours.name);
        check_eq!(ours.oper_state.as_str(), s(&l["operstate"]), "{label}/{}: oper", ours.name);
        let master = ours.master.map(|m| ns.ifname(m));
        check_eq!(master, l["master"].as_str().map(str::to_owned), "{label}/{}: master", ours.name);
        if ours.kind.as_str() == "veth" {
            let Some(peer) = ours.peer else {
                return Err(format!("{label}/{}: no peer", ours.name));
            };
            let want = l["link_index"]
                .as_u64()
                .or_else(|| {
                    // Same namespace: iproute2 names the peer (`"link": "d0"`).
                    let name = l["link"].as_str()?;
                    ns.link_by_name(name).map(|x| u64::from(x.ifindex.0))
                })
                .unwrap_or(u64::from(ifindex));
            check_eq!(u64::from(peer.ifindex.0), want, "{label}/{}: peer index", ours.name);
            let other_ns = l.get("link_netnsid").is_some();
            check_eq!(peer.ns != idx(topo, label), other_ns, "{label}/{}: peer ns", ours.name);
        }
    }
    // Addresses.
    let want: BTreeSet<(u32, String)> = links_addrs(label);
    let got: BTreeSet<(u32, String)> = ns
        .links
        .iter()
        .flat_map(|l| l.addrs.iter().map(move |a| (l.ifindex.0, format!("{}/{}", a.ip, a.prefix))))
        .collect();
    check_eq!(got, want, "{label}: addresses");
    // Routes of the main table, both families.
    let mut want = BTreeSet::new();
    for fam in ["-4", "-6"] {
        for r in
            json("ip", &["-j", fam, "-n", label, "route", "show"]).as_array().into_iter().flatten()
        {
            want.insert((s(&r["dst"]), r["gateway"].as_str().map(str::to_owned), s(&r["dev"])));
        }
    }
    let got: BTreeSet<_> = ns
        .routes
        .iter()
        .map(|r| {
            let dev = r.dev.map(|d| ns.ifname(d)).unwrap_or_default();
            (route_dst(r.dst, r.prefix), r.gateway.map(|g| g.to_string()), dev)
        })
        .collect();
    check_eq!(got, want, "{label}: routes");
    // Neighbours (addresses and MACs; states move on their own).
    let want: BTreeSet<_> = json("ip", &["-j", "-n", label, "neigh", "show"])
        .as_array()
        .into_iter()
        .flatten()
        .map(|n| (s(&n["dst"]), s(&n["dev"]), n["lladdr"].as_str().map(str::to_owned)))
        .collect();
    let got: BTreeSet<_> = ns
        .neighbours
        .iter()
        .filter(|n| !matches!(n.state.as_str(), "NOARP" | "NONE"))
        .map(|n| (n.ip.to_string(), ns.ifname(n.dev), n.mac.map(|m| m.to_string())))
        .collect();
    check_eq!(got, want, "{label}: neighbours");
    if ns.bridges().next().is_none() {
        return Ok(());
    }
    // Bridge ports and their STP state.
    let want: BTreeSet<_> = json("bridge", &["-j", "-n", label, "link", "show"])
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| (s(&p["ifname"]), s(&p["master"]), s(&p["state"])))
        .collect();
    let got: BTreeSet<_> = ns
        .links
        .iter()
        .filter_map(|l| {
            let state = l.bridge_port_state?;
            Some((l.name.clone(), ns.ifname(l.master?), state.as_str().to_owned()))
        })
        .collect();
    check_eq!(got, want, "{label}: bridge ports");
    // FDB.
    let want: BTreeSet<_> = json("bridge", &["-j", "-n", label, "fdb", "show"])
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            let state = s(&e["state"]);
            (s(&e["mac"]), s(&e["ifname"]), e["master"].as_str().map(str::to_owned), state)
        })
        .collect();
    let got: BTreeSet<_> = ns
        .fdb
        .iter()
        .map(|e| {
            let state = match e.kind {
                FdbKind::Local | FdbKind::Permanent => "permanent",
                FdbKind::Static => "static",
                FdbKind::Learned => "",
            };
            (e.mac.to_string(), ns.ifname(e.port), e.master.map(|m| ns.ifname(m)), state.to_owned())
        })
        .collect();
    check_eq!(got, want, "{label}: fdb");
    Ok(())
}

/// Discover until the namespaces agree with iproute2 (the kernel settles IPv6 addresses and
/// routes shortly after links come up), at most for 5 s.
fn discover_matching(labels: &[&String]) -> Topology {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let topo = discover().unwrap_or_else(|e| panic!("discovery: {e}"));
        let diff = labels.iter().try_for_each(|l| diff_iproute2(&topo, l));
        match diff {
            Ok(()) => return topo,
            Err(e) if Instant::now() > deadline => panic!("discovery disagrees with iproute2: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

fn links_addrs(label: &str) -> BTreeSet<(u32, String)> {
    let mut out = BTreeSet::new();
    for l in json("ip", &["-j", "-n", label, "addr", "show"]).as_array().into_iter().flatten() {
        let ifindex = l["ifindex"].as_u64().unwrap_or(0) as u32;
        for a in l["addr_info"].as_array().into_iter().flatten() {
            out.insert((ifindex, format!("{}/{}", s(&a["local"]), a["prefixlen"])));
        }
    }
    out
}

/// Point ids of the path from `a` to namespace `b`.
fn path_ids(topo: &Topology, a: &str, b: &str) -> Vec<String> {
    match path(topo, idx(topo, a), Target::Ns(idx(topo, b))) {
        Ok(p) => p.points.into_iter().map(|x| x.point_id.into()).collect(),
        Err(e) => panic!("no path {a} → {b}: {e}"),
    }
}

/// `vtrace topo --json ENDPOINTS…` from the real binary.
fn topo_json(endpoints: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_vtrace"))
        .arg("topo")
        .arg("--json")
        .args(endpoints)
        .output()
        .unwrap_or_else(|e| panic!("running vtrace: {e}"));
    assert!(out.status.success(), "vtrace topo failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

fn json_path_ids(v: &Value, i: usize) -> Vec<String> {
    v["paths"][i]["points"].as_array().into_iter().flatten().map(|p| s(&p["id"])).collect()
}

/// The classic lab: two container namespaces, a host-side namespace with a bridge.
fn classic(g: &mut Guard, tag: &str) -> (String, String, String, String, String) {
    let c1 = g.netns(&format!("{tag}c1"));
    let c2 = g.netns(&format!("{tag}c2"));
    let h = g.netns(&format!("{tag}h"));
    let (v1, v2) = (veth_name(1), veth_name(2));
    ipn(&h, "link add br0 address 02:42:00:00:00:01 type bridge");
    ipn(&h, "addr add 172.18.0.1/16 dev br0");
    ipn(&h, "link set br0 up");
    for (c, v, ip, mac) in [
        (&c1, &v1, "172.18.0.2/16", "02:42:ac:12:00:02"),
        (&c2, &v2, "172.18.0.3/16", "02:42:ac:12:00:03"),
    ] {
        ipn(&h, &format!("link add {v} type veth peer name eth0 netns {c}"));
        ipn(&h, &format!("link set {v} master br0 up"));
        ipn(c, &format!("link set eth0 address {mac}"));
        ipn(c, &format!("addr add {ip} dev eth0"));
        ipn(c, "link set eth0 up");
        ipn(c, "link set lo up");
        ipn(c, "route add default via 172.18.0.1");
    }
    (c1, c2, h, v1, v2)
}

#[test]
fn classic_lab_discovery_path_and_topo_json() {
    let mut g = Guard::new();
    let (c1, c2, h, v1, v2) = classic(&mut g, "a");
    run("ip", &["netns", "exec", &c1, "ping", "-c", "1", "-W", "2", "172.18.0.3"]);
    let topo = discover_matching(&[&c1, &c2, &h]);
    // Peers: ns + ifindex.
    let (i1, ih) = (idx(&topo, &c1), idx(&topo, &h));
    let eth0 = topo.namespaces[i1.0].link_by_name("eth0").map(|l| (l.ifindex, l.peer));
    let host_v1 = topo.namespaces[ih.0].link_by_name(&v1).map(|l| l.ifindex);
    assert_eq!(eth0.and_then(|e| e.1).map(|p| (p.ns, Some(p.ifindex))), Some((ih, host_v1)));
    // The learned FDB entries point at the right ports.
    let learned: BTreeSet<(String, String)> = topo.namespaces[ih.0]
        .fdb
        .iter()
        .filter(|e| e.kind == FdbKind::Learned)
        .map(|e| (e.mac.to_string(), topo.namespaces[ih.0].ifname(e.port)))
        .collect();
    assert!(learned.contains(&("02:42:ac:12:00:02".to_owned(), v1.clone())), "{learned:?}");
    assert!(learned.contains(&("02:42:ac:12:00:03".to_owned(), v2.clone())), "{learned:?}");

    let want = vec![
        format!("{c1}/eth0"),
        format!("{h}/{v1}"),
        format!("{h}/br0"),
        format!("{h}/{v2}"),
        format!("{c2}/eth0"),
    ];
    assert_eq!(path_ids(&topo, &c1, &c2), want);
    let mut back = want.clone();
    back.reverse();
    assert_eq!(path_ids(&topo, &c2, &c1), back);

    let v = topo_json(&[&c1, &c2]);
    assert_eq!(json_path_ids(&v, 0), want);
    let labels: BTreeSet<String> =
        v["namespaces"].as_array().into_iter().flatten().map(|n| s(&n["label"])).collect();
    assert_eq!(labels, BTreeSet::from([c1.clone(), c2.clone(), h.clone()]));
    let vlinks: BTreeSet<(String, String)> = v["veth_links"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| (s(&l["a"]), s(&l["b"])))
        .collect();
    for (c, hv) in [(&c1, &v1), (&c2, &v2)] {
        let pair = (format!("{c}/eth0"), format!("{h}/{hv}"));
        let rev = (pair.1.clone(), pair.0.clone());
        assert!(vlinks.contains(&pair) || vlinks.contains(&rev), "{vlinks:?} lacks {pair:?}");
    }
}

#[test]
fn direct_veth_pair() {
    let mut g = Guard::new();
    let a = g.netns("ba");
    let b = g.netns("bb");
    ipn(&a, &format!("link add va type veth peer name vb netns {b}"));
    ipn(&a, "addr add 10.99.0.1/30 dev va");
    ipn(&b, "addr add 10.99.0.2/30 dev vb");
    ipn(&a, "link set va up");
    ipn(&b, "link set vb up");
    let topo = discover_matching(&[&a, &b]);
    assert_eq!(path_ids(&topo, &a, &b), vec![format!("{a}/va"), format!("{b}/vb")]);
    let v = topo_json(&[&format!("netns:{a}"), "10.99.0.2"]);
    assert_eq!(json_path_ids(&v, 0), vec![format!("{a}/va"), format!("{b}/vb")]);
}

#[test]
fn two_bridges_joined_by_routing() {
    let mut g = Guard::new();
    let a = g.netns("ca");
    let r = g.netns("cr");
    let b = g.netns("cb");
    run("ip", &["netns", "exec", &r, "sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    for (br, net) in [("br1", "10.51.0.1/24"), ("br2", "10.52.0.1/24")] {
        ipn(&r, &format!("link add {br} type bridge"));
        ipn(&r, &format!("addr add {net} dev {br}"));
        ipn(&r, &format!("link set {br} up"));
    }
    for (c, v, br, ip, gw) in [
        (&a, "vetha", "br1", "10.51.0.2/24", "10.51.0.1"),
        (&b, "vethb", "br2", "10.52.0.2/24", "10.52.0.1"),
    ] {
        ipn(&r, &format!("link add {v} type veth peer name eth0 netns {c}"));
        ipn(&r, &format!("link set {v} master {br} up"));
        ipn(c, &format!("addr add {ip} dev eth0"));
        ipn(c, "link set eth0 up");
        ipn(c, &format!("route add default via {gw}"));
    }
    run("ip", &["netns", "exec", &a, "ping", "-c", "1", "-W", "2", "10.52.0.2"]);
    let topo = discover_matching(&[&a, &r, &b]);
    let want: Vec<String> =
        [("a", "eth0"), ("r", "vetha"), ("r", "br1"), ("r", "br2"), ("r", "vethb"), ("b", "eth0")]
            .iter()
            .map(|(n, i)| {
                format!(
                    "{}/{i}",
                    if *n == "a" {
                        &a
                    } else if *n == "r" {
                        &r
                    } else {
                        &b
                    }
                )
            })
            .collect();
    assert_eq!(path_ids(&topo, &a, &b), want);
    let v = topo_json(&[&a, &b]);
    assert_eq!(json_path_ids(&v, 0), want);
}

/// Wait until `pid` has left vtrace's namespace for `ns` (`ip netns exec` switches, then execs).
fn wait_in_ns(pid: u32, ns: &str) {
    use std::os::unix::fs::MetadataExt;
    let want = std::fs::metadata(format!("/run/netns/{ns}")).map(|m| m.ino()).ok();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let now = std::fs::metadata(format!("/proc/{pid}/ns/net")).map(|m| m.ino()).ok();
        if now.is_some() && now == want {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("process {pid} never entered namespace {ns}");
}

#[test]
fn endpoints_resolve_by_name_path_pid_and_ip() {
    let mut g = Guard::new();
    let n = g.netns("d");
    // A veth pair with both ends in the namespace: its peer is local.
    ipn(&n, "link add d0 type veth peer name d1");
    ipn(&n, "addr add 10.98.7.6/24 dev d0");
    ipn(&n, "link set d0 up");
    ipn(&n, "link set d1 up");
    let child = Command::new("ip")
        .args(["netns", "exec", &n, "sleep", "30"])
        .stdin(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("spawning sleep: {e}"));
    let pid = child.id();
    g.children.push(child);
    wait_in_ns(pid, &n);
    // A namespace only a process holds is discovered as `pid:N`.
    let lone = Command::new("unshare")
        .args(["-n", "sleep", "30"])
        .stdin(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("spawning unshare: {e}"));
    let lone_pid = lone.id();
    g.children.push(lone);
    let own = std::fs::metadata("/proc/self/ns/net")
        .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
        .ok();
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::fs::metadata(format!("/proc/{lone_pid}/ns/net"))
        .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
        .ok()
        == own
    {
        assert!(Instant::now() < deadline, "unshare never left our namespace");
        std::thread::sleep(Duration::from_millis(10));
    }

    let by_name = resolve(&format!("netns:{n}")).map(|e| (e.label, e.netns));
    assert_eq!(by_name.ok(), Some((n.clone(), Netns::Named(n.clone()))));
    let bare = resolve(&n).map(|e| e.label);
    assert_eq!(bare.ok(), Some(n.clone()));
    let path = format!("/run/netns/{n}");
    let by_path = resolve(&format!("path:{path}")).map(|e| e.netns);
    assert_eq!(by_path.ok(), Some(Netns::Path(path.into())));
    let by_pid = resolve(&format!("pid:{pid}")).map(|e| (e.label, e.netns));
    assert_eq!(
        by_pid.ok(),
        Some((format!("pid:{pid}"), Netns::Path(format!("/proc/{pid}/ns/net").into())))
    );
    let by_ip = resolve("10.98.7.6").map(|e| (e.label, e.netns, e.ip)).map_err(|e| e.to_string());
    assert_eq!(by_ip, Ok((n.clone(), Netns::Named(n.clone()), "10.98.7.6".parse().ok())));
    let missing = resolve(&format!("vt{}-absent", std::process::id())).map(|e| e.label);
    let msg = missing.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(msg.contains("`ip netns list` / `docker ps`"), "{msg}");

    let topo = discover_matching(&[&n]);
    let t = idx(&topo, &n);
    let ns = &topo.namespaces[t.0];
    let (d0, d1) = (ns.link_by_name("d0"), ns.link_by_name("d1"));
    let peer = d0.and_then(|l| l.peer).map(|p| (p.ns, p.ifindex));
    assert_eq!(peer, d1.map(|l| (t, l.ifindex)), "a veth pair inside one namespace");
    for spec in [
        format!("netns:{n}"),
        format!("pid:{pid}"),
        format!("path:/run/netns/{n}"),
        "10.98.7.6".into(),
    ] {
        let ep = resolve_in(&spec, &topo).unwrap_or_else(|e| panic!("{spec}: {e}"));
        assert_eq!(ep.find_in(&topo), Some(t), "{spec}");
    }
    let lone_label = format!("pid:{lone_pid}");
    let lone_idx = idx(&topo, &lone_label);
    assert_eq!(topo.namespaces[lone_idx.0].kind, NsKind::Process);
    assert_eq!(topo.namespaces[t.0].kind, NsKind::Named);
}

#[test]
fn an_address_two_isolated_labs_share_is_the_one_routing_reaches() {
    let mut g = Guard::new();
    let (c1, c2, h, v1, v2) = classic(&mut g, "e");
    let _other = classic(&mut g, "f");
    let v = topo_json(&[&c1, "172.18.0.3"]);
    let want = vec![
        format!("{c1}/eth0"),
        format!("{h}/{v1}"),
        format!("{h}/br0"),
        format!("{h}/{v2}"),
        format!("{c2}/eth0"),
    ];
    assert_eq!(json_path_ids(&v, 0), want);
    let alone = Command::new(env!("CARGO_BIN_EXE_vtrace")).args(["topo", "172.18.0.3"]).output();
    let stderr = alone.map(|o| String::from_utf8_lossy(&o.stderr).into_owned()).unwrap_or_default();
    assert!(stderr.contains("is owned by several namespaces"), "{stderr}");
}
