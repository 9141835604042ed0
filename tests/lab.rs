//! Root tests of `vtrace lab`: run the real binary against the kernel and check the result with
//! iproute2's own JSON (`ip -j`). Each test uses a unique prefix (with the process id) and a
//! guard that removes everything it may have made, also when the test fails.
//!
//! Run as root: `cargo test --features root-tests --test lab`.
#![cfg(feature = "root-tests")]

mod common;

use std::path::Path;

use serde_json::Value;

use common::{Lab, assert_ok, link_exists, require, run as sh};

/// `ip -j [-n NS] ARGS…` parsed.
fn ip_json(ns: Option<&str>, args: &[&str]) -> Value {
    let mut all = vec!["-j"];
    if let Some(ns) = ns {
        all.extend(["-n", ns]);
    }
    all.extend(args);
    let out = sh("ip", &all);
    assert_ok(&out, &format!("ip {}", all.join(" ")));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("ip {}: {e}", all.join(" ")))
}

fn link(ns: Option<&str>, name: &str) -> Value {
    let links = ip_json(ns, &["link", "show"]);
    links
        .as_array()
        .into_iter()
        .flatten()
        .find(|l| l["ifname"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no link {name} in {ns:?}: {links}"))
}

/// IPv4 addresses of a link as "a.b.c.d/len".
fn ipv4_of(ns: Option<&str>, name: &str) -> Vec<String> {
    let v = ip_json(ns, &["-4", "addr", "show", "dev", name]);
    v.as_array()
        .into_iter()
        .flatten()
        .flat_map(|l| l["addr_info"].as_array().cloned().unwrap_or_default())
        .map(|a| format!("{}/{}", a["local"].as_str().unwrap_or(""), a["prefixlen"]))
        .collect()
}

fn ping(from_ns: &str, to: &str) -> bool {
    sh("ip", &["netns", "exec", from_ns, "ping", "-c1", "-W1", to]).status.success()
}

/// The host veth names the lab reports in `lab status --json`.
fn host_veths(lab: &Lab) -> Vec<String> {
    let out = lab.vtrace("status", &["--json"], &[]);
    assert_ok(&out, "lab status");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    v["lab"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["host_veth"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn up_builds_the_classic_lab_and_containers_ping() {
    let lab = Lab::new("a", &[]);
    lab.up();
    let host = lab.ns("vtrace-host");
    let (n1, n2) = (lab.ns("nginx-1"), lab.ns("nginx-2"));
    let mut expected = vec![host.clone(), n1.clone(), n2.clone()];
    expected.sort();
    assert_eq!(lab.namespaces(), expected);
    assert!(ping(&n1, "172.18.0.3"), "nginx-1 cannot ping nginx-2");
    assert!(ping(&n2, "172.18.0.1"), "nginx-2 cannot ping the gateway");

    // Container side: eth0 with Docker's MAC and address, lo up, default route via .1.
    for (ns, ip, mac) in
        [(&n1, "172.18.0.2/16", "02:42:ac:12:00:02"), (&n2, "172.18.0.3/16", "02:42:ac:12:00:03")]
    {
        let eth0 = link(Some(ns), "eth0");
        assert_eq!(eth0["address"], mac);
        assert_eq!(eth0["operstate"], "UP");
        assert_eq!(ipv4_of(Some(ns), "eth0"), [ip]);
        let lo = link(Some(ns), "lo");
        assert!(lo["flags"].as_array().is_some_and(|f| f.iter().any(|x| x == "UP")));
        let routes = ip_json(Some(ns), &["route", "show", "default"]);
        assert_eq!(routes[0]["gateway"], "172.18.0.1", "{routes}");
        assert_eq!(routes[0]["dev"], "eth0");
        // No IPv6 link-local address: no DAD or router solicitation timers, no stray packets.
        let v6 = ip_json(Some(ns), &["-6", "addr", "show", "dev", "eth0"]);
        assert!(
            v6.as_array().is_none_or(|a| a
                .iter()
                .all(|l| l["addr_info"].as_array().is_none_or(|i| i.is_empty()))),
            "{v6}"
        );
    }

    // Host side: the bridge with its MAC and the gateway address; veths named veth+7 hex,
    // ports of the bridge, peers in the container namespaces.
    let br = link(Some(&host), "docker0");
    assert_eq!(br["address"], "02:42:ac:12:00:01");
    assert_eq!(ipv4_of(Some(&host), "docker0"), ["172.18.0.1/16"]);
    let veths = host_veths(&lab);
    assert_eq!(veths.len(), 2);
    for (veth, (peer_ns, mac)) in
        veths.iter().zip([(&n1, "06:42:ac:12:00:02"), (&n2, "06:42:ac:12:00:03")])
    {
        assert!(veth.len() == 11 && veth.starts_with("veth"), "{veth}");
        let l = link(Some(&host), veth);
        assert_eq!(l["master"], "docker0");
        assert_eq!(l["address"], mac);
        // The peer lives in the container's namespace (nsid as the host namespace knows it).
        let ids = ip_json(Some(&host), &["netns", "list-id"]);
        let peer = ids
            .as_array()
            .into_iter()
            .flatten()
            .find(|i| i["nsid"] == l["link_netnsid"])
            .and_then(|i| i["name"].as_str());
        assert_eq!(peer, Some(peer_ns.as_str()), "{l} {ids}");
    }

    let out = lab.vtrace("status", &["--json"], &[]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert_eq!(v["state"], "complete", "{v}");
}

#[test]
fn up_twice_gives_the_same_lab() {
    let lab = Lab::new("b", &["--containers", "3"]);
    lab.up();
    let snapshot = |lab: &Lab| -> Vec<(String, String, String)> {
        let mut all = Vec::new();
        for ns in lab.namespaces() {
            for l in ip_json(Some(&ns), &["link", "show"]).as_array().into_iter().flatten() {
                all.push((
                    format!("{ns}/{}", l["ifname"].as_str().unwrap_or("")),
                    l["ifindex"].to_string(),
                    l["address"].to_string(),
                ));
            }
        }
        all
    };
    let first = snapshot(&lab);
    assert_eq!(first.len(), 5 + 3 * 2, "{first:?}"); // host: lo, bridge, 3 veths; 3 × (lo, eth0)
    let out = lab.up();
    assert!(String::from_utf8_lossy(&out.stdout).contains("already up"));
    assert_eq!(snapshot(&lab), first);
    assert!(ping(&lab.ns("nginx-3"), "172.18.0.2"));
}

#[test]
fn a_failure_half_way_removes_everything_this_run_made() {
    let steps = ["preflight", "state", "netns", "bridge", "veth", "link-up", "address", "route"];
    for (i, step) in steps.into_iter().enumerate() {
        let lab = Lab::new(&format!("c{i}"), &[]);
        let out = lab.vtrace("up", &[], &[("VTRACE_LAB_FAIL_AT", step)]);
        assert_eq!(out.status.code(), Some(2), "step {step}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&format!("step {step}")), "step {step}: {err}");
        assert_eq!(lab.namespaces(), Vec::<String>::new(), "step {step} left namespaces");
        assert!(!Path::new(&lab.state_file()).exists(), "step {step} left the state file");
    }
}

#[test]
fn down_after_a_crashed_up_removes_everything_and_down_twice_is_fine() {
    let lab = Lab::new("d", &[]);
    let out = lab.vtrace("up", &[], &[("VTRACE_LAB_FAIL_AT", "address:crash")]);
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(out.status.signal(), Some(9), "up was not killed: {out:?}");
    assert_eq!(lab.namespaces().len(), 3, "the crashed up made nothing?");
    assert!(Path::new(&lab.state_file()).exists());
    assert_ok(&lab.vtrace("down", &[], &[]), "lab down");
    assert_eq!(lab.namespaces(), Vec::<String>::new());
    assert!(!Path::new(&lab.state_file()).exists());
    assert_ok(&lab.vtrace("down", &[], &[]), "second lab down");
}

#[test]
fn status_shows_what_is_missing_and_up_repairs_it() {
    let lab = Lab::new("e", &[]);
    let status = |lab: &Lab| -> Value {
        let out = lab.vtrace("status", &["--json"], &[]);
        assert_ok(&out, "lab status");
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    };
    assert_eq!(status(&lab)["state"], "absent");
    lab.up();
    assert_eq!(status(&lab)["state"], "complete");
    let n2 = lab.ns("nginx-2");
    assert_ok(&sh("ip", &["netns", "del", &n2]), "ip netns del");
    // The kernel removes the namespace's veth peer (the host end) asynchronously: wait for it.
    let mut s = status(&lab);
    for _ in 0..100 {
        if s["missing"].as_array().is_some_and(|m| m.len() >= 2) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        s = status(&lab);
    }
    assert_eq!(s["state"], "incomplete");
    let missing: Vec<String> = s["missing"]
        .as_array()
        .map(|m| m.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    assert_eq!(missing.len(), 2, "{missing:?}");
    assert!(
        missing[0].starts_with(&format!("{}/veth", lab.ns("vtrace-host"))),
        "the host end of nginx-2's veth went with it: {missing:?}"
    );
    assert_eq!(missing[1], format!("netns {n2}"));
    lab.up();
    assert_eq!(status(&lab)["state"], "complete");
    assert!(ping(&lab.ns("nginx-1"), "172.18.0.3"));
}

#[test]
fn in_root_refuses_a_subnet_that_overlaps_a_route() {
    // 127.0.0.0/8 is routed on every Linux host (table local).
    let lab = Lab::new("f", &["--in-root", "--bridge", "b", "--subnet", "127.77.0.0/16"]);
    let out = lab.vtrace("up", &[], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("overlaps the existing route 127.0.0.0/8"), "{err}");
    assert_eq!(lab.namespaces(), Vec::<String>::new());
    assert!(!link_exists(None, &format!("{}b", lab.prefix)));
}

/// `lab up` of `--in-root` labs on 10.250.X.0/24 from X = pid % 250 on, until one overlaps no
/// route of the root namespace: the lab (with its bridge in `root_links`), its up's output, X.
/// `None` (a failure under CI) when the first 16 all overlap.
fn in_root_lab_on_a_free_subnet(tag: &str) -> Option<(Lab, std::process::Output, u32)> {
    let first = std::process::id() % 250;
    for x in (first..first + 16).map(|x| x % 250) {
        let subnet = format!("10.250.{x}.0/24");
        let mut lab = Lab::new(tag, &["--in-root", "--bridge", "b", "--subnet", &subnet]);
        lab.root_links.push(format!("{}b", lab.prefix));
        let out = lab.vtrace("up", &[], &[]);
        if !String::from_utf8_lossy(&out.stderr).contains("overlaps the existing route") {
            return Some((lab, out, x));
        }
        // Refused at the preflight: the lab made nothing; try the next /24.
    }
    let range = format!("10.250.{first}.0/24 and the 15 after it");
    require(&format!("a free /24 for an --in-root lab (every one of {range} is routed)"), false);
    None
}

#[test]
fn in_root_builds_the_host_side_in_the_root_namespace_and_down_removes_it() {
    // A /24 that overlaps nothing here; the bridge and veths carry unique names.
    let Some((mut lab, out, x)) = in_root_lab_on_a_free_subnet("g") else { return };
    let bridge = format!("{}b", lab.prefix);
    assert_ok(&out, "lab up --in-root");
    let veths = host_veths(&lab);
    lab.root_links.extend(veths.iter().cloned());
    let br = link(None, &bridge);
    assert_eq!(br["address"], format!("02:42:0a:fa:{x:02x}:01"));
    for v in &veths {
        assert_eq!(link(None, v)["master"], bridge.as_str());
    }
    assert_eq!(lab.namespaces().len(), 2, "no host namespace with --in-root");
    // The root namespace's firewall is the machine's: with br_netfilter on and the FORWARD
    // policy DROP (Docker's doing), `lab up` warns and the containers cannot reach each other.
    // scripts/docker-env.sh keeps the policy at ACCEPT, so under CI they must.
    let stderr = String::from_utf8_lossy(&out.stderr);
    let firewall_drops = stderr.contains("vtrace: warning: br_netfilter is on");
    assert!(
        firewall_drops || !stderr.contains("warning"),
        "lab up --in-root warned about something else: {stderr}"
    );
    let open = "a root namespace whose firewall forwards bridged frames (FORWARD policy ACCEPT or \
                br_netfilter off)";
    if require(&format!("{open}: {}", stderr.trim()), !firewall_drops) {
        let peer = format!("10.250.{x}.3");
        assert!(ping(&lab.ns("nginx-1"), &peer), "nginx-1 cannot ping {peer} across {bridge}");
    }
    assert_ok(&lab.vtrace("down", &[], &[]), "lab down --in-root");
    assert!(!link_exists(None, &bridge));
    for v in &veths {
        assert!(!link_exists(None, v), "{v} left in the root namespace");
    }
    assert_eq!(lab.namespaces(), Vec::<String>::new());
}

#[test]
fn serve_starts_an_http_server_per_container_when_one_is_installed() {
    let lab = Lab::new("h", &[]);
    let out = lab.vtrace("up", &["--serve"], &[]);
    assert_ok(&out, "lab up --serve");
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !require("an HTTP server program (busybox or nginx)", !stdout.contains("neither busybox")) {
        return;
    }
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(lab.state_file()).unwrap_or_default())
            .unwrap_or(Value::Null);
    let pids: Vec<i64> = state["servers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["pid"].as_i64())
        .collect();
    assert_eq!(pids.len(), 2, "{state}");
    // The server runs inside the container's namespace.
    let n2 = lab.ns("nginx-2");
    let n2_pid = sh("ip", &["netns", "pids", &n2]);
    let in_n2: Vec<i64> = String::from_utf8_lossy(&n2_pid.stdout)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    assert!(pids.iter().any(|p| in_n2.contains(p)), "no server in {n2}: {pids:?} vs {in_n2:?}");
    assert_ok(&lab.vtrace("down", &[], &[]), "lab down");
    for p in pids {
        // SIGTERM was sent; the process may take a moment to exit, but it must not stay ours.
        let mut gone = false;
        for _ in 0..50 {
            let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
            if stat.is_empty() || stat.contains(") Z ") {
                gone = true;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(gone, "server {p} still running after lab down");
    }
}

#[test]
fn up_refuses_a_namespace_it_did_not_make_and_down_leaves_it_alone() {
    let lab = Lab::new("i", &[]);
    let theirs = lab.ns("nginx-2");
    assert_ok(&sh("ip", &["netns", "add", &theirs]), "ip netns add");
    let out = lab.vtrace("up", &[], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("netns {theirs}: it exists but was not made by vtrace lab")),
        "{err}"
    );
    assert_eq!(
        lab.namespaces(),
        std::slice::from_ref(&theirs),
        "up made something before refusing"
    );
    let out = lab.vtrace("down", &[], &[]);
    assert_ok(&out, "lab down");
    assert!(String::from_utf8_lossy(&out.stderr).contains("was left alone"));
    assert_eq!(lab.namespaces(), [theirs]);
}

#[test]
fn lab_guard_builds_through_the_library_and_removes_the_lab_when_dropped() {
    use vtrace::core::lab::{LabOptions, LabSpec};
    use vtrace::sys::lab::{LabGuard, lab_status};

    let lab = Lab::new("j", &[]); // removes leftovers if this test fails half way
    let spec =
        LabSpec::from_options(&LabOptions { prefix: lab.prefix.clone(), ..LabOptions::default() })
            .unwrap_or_else(|e| panic!("{e}"));
    // Callable from inside a tokio runtime (live tracing and `vtrace demo` are async).
    let rt =
        tokio::runtime::Builder::new_current_thread().build().unwrap_or_else(|e| panic!("{e}"));
    rt.block_on(async {
        let (guard, report) = LabGuard::up(&spec).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(report.created.len(), 6, "{:?}", report.created); // 3 netns, bridge, 2 veths
        assert!(ping(&lab.ns("nginx-1"), "172.18.0.3"));
        let status = lab_status(&spec).unwrap_or_else(|e| panic!("{e}"));
        assert!(status.complete(), "{status:?}");
        drop(guard);
    });
    assert_eq!(lab.namespaces(), Vec::<String>::new());
}
