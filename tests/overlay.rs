//! The VXLAN overlay (root): `vtrace lab up --overlay` builds two nodes joined by an underlay,
//! each with br0 and vxlan42; nginx-1 on node-1 pings nginx-2 on node-2 through the tunnel.
//! Each test builds an overlay lab of its own and breaks it the way its case says: a healthy
//! ping (ten points in order, `encap` on the underlay hops), a full-size packet with DF (`mtu`,
//! with the arithmetic), the tunnel's UDP port dropped in node-2's input (`netfilter-drop`).

#![cfg(feature = "root-tests")]

mod common;

use serde_json::Value;

use common::{Lab, assert_ok, describe, run};

/// An overlay lab of its own, built.
fn overlay(tag: &str) -> Lab {
    let lab = Lab::new(tag, &["--overlay"]);
    lab.up();
    lab
}

/// The ten points from nginx-1 to nginx-2 through the tunnel.
fn ten_points(lab: &Lab) -> Vec<String> {
    let (n1, n2) = (lab.ns("node-1"), lab.ns("node-2"));
    vec![
        format!("{}/eth0", lab.container(1)),
        format!("{n1}/{}", lab.host_veth(1)),
        format!("{n1}/br0"),
        format!("{n1}/vxlan42"),
        format!("{n1}/underlay0"),
        format!("{n2}/underlay0"),
        format!("{n2}/vxlan42"),
        format!("{n2}/br0"),
        format!("{n2}/{}", lab.host_veth(2)),
        format!("{}/eth0", lab.container(2)),
    ]
}

fn hops(j: &Value) -> Vec<&Value> {
    j["hops"].as_array().into_iter().flatten().collect()
}

fn points(j: &Value) -> Vec<&str> {
    hops(j).iter().filter_map(|h| h["point"].as_str()).collect()
}

fn echoes(v: &Value) -> Vec<&Value> {
    v["exchanges"].as_array().into_iter().flatten().filter(|e| e["kind"] == "icmp-echo").collect()
}

#[test]
fn a_ping_through_the_tunnel_is_ten_points_with_encap_on_the_underlay() {
    let lab = overlay("ov");
    let status = lab.vtrace("status", &["--json"], &[]);
    assert_ok(&status, "lab status --json");
    let st: Value = serde_json::from_slice(&status.stdout).unwrap_or_default();
    assert_eq!(st["state"], "complete", "{st}");
    assert_eq!(st["lab"]["overlay"]["vni"], 42, "{st}");
    let file = std::env::temp_dir().join(format!("{}overlay.pcapng", lab.prefix));
    let (code, v) = lab.ping(&["--write", &file.to_string_lossy()]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["verdict"]["cause"], "ok", "{v}");
    // Offline, the same file gives the same journeys, encap included.
    let off = std::process::Command::new(env!("CARGO_BIN_EXE_vtrace"))
        .args(["analyze", "--json"])
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let _ = std::fs::remove_file(&file);
    let _ = std::fs::remove_file(file.with_extension("pcapng.nft.json"));
    let off: Value =
        serde_json::from_slice(&off.stdout).unwrap_or_else(|e| panic!("{e}: {}", describe(&off)));
    let want = ten_points(&lab);
    let ids: Vec<&str> =
        v["points"].as_array().into_iter().flatten().filter_map(|p| p["id"].as_str()).collect();
    assert_eq!(ids, want, "{v}");
    let roles: Vec<&str> =
        v["points"].as_array().into_iter().flatten().filter_map(|p| p["role"].as_str()).collect();
    assert_eq!(
        roles,
        [
            "endpoint",
            "veth-host",
            "bridge",
            "tunnel",
            "underlay",
            "underlay",
            "tunnel",
            "bridge",
            "veth-host",
            "endpoint"
        ],
        "{v}"
    );
    let encaps = |v: &Value| -> Vec<Value> {
        echoes(v).iter().flat_map(|e| hops(&e["request"])).map(|h| h["encap"].clone()).collect()
    };
    assert_eq!(encaps(&off), encaps(&v), "analyze: {off}");
    let ex = echoes(&v);
    assert_eq!(ex.len(), 2, "{v}");
    let back: Vec<&str> = want.iter().rev().map(String::as_str).collect();
    for e in ex {
        assert_eq!(points(&e["request"]), want, "{e}");
        assert_eq!(points(&e["reply"]), back, "{e}");
        for (leg, src, dst) in
            [("request", "10.99.0.1", "10.99.0.2"), ("reply", "10.99.0.2", "10.99.0.1")]
        {
            let encaps: Vec<(&str, &Value)> = hops(&e[leg])
                .into_iter()
                .filter(|h| h.get("encap").is_some())
                .map(|h| (h["point"].as_str().unwrap_or("?"), &h["encap"]))
                .collect();
            let underlay: Vec<&str> =
                want.iter().filter(|p| p.ends_with("/underlay0")).map(String::as_str).collect();
            let mut at: Vec<&str> = encaps.iter().map(|(p, _)| *p).collect();
            at.sort();
            assert_eq!(at, underlay, "{leg}: {e}");
            for (_, enc) in encaps {
                assert_eq!(enc["vni"], 42, "{e}");
                assert_eq!(
                    (enc["outer_src"].as_str(), enc["outer_dst"].as_str()),
                    (Some(src), Some(dst)),
                    "{leg}: {e}"
                );
            }
        }
    }
    // The ARP request crosses the tunnel as an inner frame (--fresh-arp): the same ten points.
    let arp = v["exchanges"].as_array().into_iter().flatten().find(|e| e["kind"] == "arp");
    let arp = arp.unwrap_or_else(|| panic!("no ARP exchange: {v}"));
    assert_eq!(points(&arp["request"]), want, "{arp}");
}

#[test]
fn a_full_size_packet_with_df_does_not_fit_the_tunnel() {
    let lab = overlay("om");
    // 1472 bytes of ICMP data: a 1500-byte IP packet, which eth0 (MTU 1500) sends and the
    // tunnel (vxlan42, MTU 1450) cannot carry.
    let (code, v) = lab.ping(&["-s", "1472", "--df"]);
    assert_eq!(code, 1, "{v}");
    let verdict = &v["verdict"];
    assert_eq!(verdict["cause"], "mtu", "{v}");
    let n1 = lab.ns("node-1");
    assert_eq!(verdict["segment"]["after"], format!("{n1}/br0"), "{v}");
    assert_eq!(verdict["segment"]["before"], format!("{n1}/vxlan42"), "{v}");
    let summary = verdict["summary"].as_str().unwrap_or_default();
    let arithmetic = format!(
        "1500-byte packet + 50 bytes of VXLAN encapsulation = 1550 > underlay MTU 1500 of \
         {n1}/underlay0"
    );
    assert!(summary.contains(&arithmetic), "{summary}");
    assert!(summary.contains(&format!("{n1}/vxlan42 (VNI 42) has MTU 1450")), "{summary}");
    // 1422 bytes of data (a 1450-byte packet) fit.
    let (code, v) = lab.ping(&["-s", "1422", "--df"]);
    assert_eq!((code, &v["verdict"]["cause"]), (0, &Value::from("ok")), "{v}");
    // nginx-1's own link at the tunnel's MTU: its kernel refuses the 1500-byte DF probe, which
    // never reaches a capture point; never ok, and the link that refused it named.
    let c1 = lab.container(1);
    let out = run("ip", &["-n", &c1, "link", "set", "eth0", "mtu", "1450"]);
    assert!(out.status.success(), "{}", describe(&out));
    let (code, v) = lab.ping(&["-s", "1472", "--df"]);
    assert_ne!(code, 0, "{v}");
    let verdict = &v["verdict"];
    assert_eq!(verdict["cause"], "mtu", "{v}");
    assert!(verdict["segment"]["after"].is_null(), "{v}");
    assert_eq!(verdict["segment"]["before"], format!("{c1}/eth0"), "{v}");
    let summary = verdict["summary"].as_str().unwrap_or_default();
    assert!(summary.contains(&format!("do not fit {c1}/eth0 (MTU 1450)")), "{summary}");
}

#[test]
fn the_tunnels_udp_dropped_in_node_2s_input_is_a_netfilter_drop_of_the_outer_packet() {
    if !common::require("nft", common::installed("nft", "--version")) {
        return;
    }
    let lab = overlay("on");
    let n2 = lab.ns("node-2");
    let rules = "table inet overlayfw {\n chain input {\n  type filter hook input priority 0; \
                 policy accept;\n  udp dport 4789 drop\n }\n}\n";
    let path = std::env::temp_dir().join(format!("{}fw.nft", lab.prefix));
    std::fs::write(&path, rules).unwrap_or_else(|e| panic!("{e}"));
    let out = run("ip", &["netns", "exec", &n2, "nft", "-f", &path.to_string_lossy()]);
    let _ = std::fs::remove_file(&path);
    assert!(out.status.success(), "nft: {}", describe(&out));
    // The echo itself crosses the tunnel (no ARP first), so the drop is its outer packet's.
    static_neighbour(&lab);
    let (code, v) = ping_once(&lab);
    assert_eq!(code, 1, "{v}");
    let verdict = &v["verdict"];
    assert_eq!(verdict["cause"], "netfilter-drop", "{v}");
    assert_eq!(verdict["segment"]["after"], format!("{n2}/underlay0"), "{v}");
    assert_eq!(verdict["segment"]["before"], format!("{n2}/vxlan42"), "{v}");
    let summary = verdict["summary"].as_str().unwrap_or_default();
    assert!(
        summary.contains(&format!(
            "dropped by netfilter in {n2}: inet overlayfw input, rule `udp dport 4789 drop`"
        )),
        "{summary}"
    );
    assert!(
        summary.contains("the tunnel's outer packet, VXLAN's UDP 10.99.0.1 → 10.99.0.2 port 4789"),
        "{summary}"
    );
    // The outer packet's trace event joins the echo's journey through its underlay sighting.
    let echo = echoes(&v);
    let notes = echo.first().map(|e| e["request"]["netfilter"].clone()).unwrap_or_default();
    let drop = notes.as_array().into_iter().flatten().find(|n| n["verdict"] == "drop");
    let drop = drop.unwrap_or_else(|| panic!("no drop on the echo's request: {v}"));
    assert_eq!(drop["rule"], "udp dport 4789 drop", "{drop}");
    assert_eq!(drop["point"], format!("{n2}/underlay0"), "{drop}");
    assert!(!summary.contains("bridged frames"), "the outer packet is not bridged: {summary}");
}

#[test]
fn a_failed_overlay_up_removes_everything_and_nonsense_is_refused() {
    let lab = Lab::new("of", &["--overlay"]);
    let out = lab.vtrace("up", &[], &[("VTRACE_LAB_FAIL_AT", "vxlan")]);
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(lab.namespaces().is_empty(), "left: {:?}", lab.namespaces());
    assert!(!std::path::Path::new(&lab.state_file()).exists());
    let out = lab.vtrace("up", &["--networks", "2"], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot be combined with --networks"),
        "{}",
        describe(&out)
    );
    assert!(lab.namespaces().is_empty());
}

/// `vtrace ping nginx-1 nginx-2 -c 1 --json` without flushing the neighbour entry.
fn ping_once(lab: &Lab) -> (i32, Value) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vtrace"))
        .args(["ping", &lab.container(1), &lab.container(2), "-c", "1", "--json"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let v = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("ping output is not JSON ({e}): {}", describe(&out)));
    (out.status.code().unwrap_or(-1), v)
}

/// nginx-1 knows nginx-2's MAC for good: the echo itself crosses the tunnel, no ARP first.
fn static_neighbour(lab: &Lab) {
    let out = run(
        "ip",
        &[
            "-n",
            &lab.container(1),
            "neigh",
            "replace",
            "10.42.0.3",
            "lladdr",
            "02:42:0a:2a:00:03",
            "dev",
            "eth0",
            "nud",
            "permanent",
        ],
    );
    assert!(out.status.success(), "ip neigh: {}", describe(&out));
}

#[test]
fn no_route_between_the_vteps_is_no_route_in_the_sending_node() {
    let lab = overlay("or");
    static_neighbour(&lab);
    let n1 = lab.ns("node-1");
    let out = run("ip", &["-n", &n1, "route", "del", "10.99.0.0/24"]);
    assert!(out.status.success(), "ip route del: {}", describe(&out));
    let (code, v) = ping_once(&lab);
    assert_eq!(code, 1, "{v}");
    let verdict = &v["verdict"];
    assert_eq!(verdict["cause"], "no-route", "{v}");
    let ids: Vec<&str> =
        v["points"].as_array().into_iter().flatten().filter_map(|p| p["id"].as_str()).collect();
    assert_eq!(ids.last().copied(), Some(format!("{n1}/vxlan42").as_str()), "{v}");
    let summary = verdict["summary"].as_str().unwrap_or_default();
    assert!(
        summary.contains(&format!(
            "{n1} has no route to 10.99.0.2, the remote endpoint of its VXLAN tunnel {n1}/vxlan42"
        )),
        "{summary}"
    );
}

#[test]
fn an_underlay_link_that_is_down_is_link_down() {
    let lab = overlay("ol");
    static_neighbour(&lab);
    let (n1, n2) = (lab.ns("node-1"), lab.ns("node-2"));
    let out = run("ip", &["-n", &n2, "link", "set", "underlay0", "down"]);
    assert!(out.status.success(), "ip link set down: {}", describe(&out));
    let (code, v) = ping_once(&lab);
    assert_eq!(code, 1, "{v}");
    let verdict = &v["verdict"];
    assert_eq!(verdict["cause"], "link-down", "{v}");
    // Lost at node-1's end of the underlay: before its capture saw it (the queue of a link
    // without carrier dropped it) or right after (the veth, whose peer is down, dropped it).
    let seg = (verdict["segment"]["after"].as_str(), verdict["segment"]["before"].as_str());
    let (vx, u1, u2) =
        (format!("{n1}/vxlan42"), format!("{n1}/underlay0"), format!("{n2}/underlay0"));
    assert!(
        seg == (Some(vx.as_str()), Some(u1.as_str()))
            || seg == (Some(u1.as_str()), Some(u2.as_str())),
        "{v}"
    );
    let summary = verdict["summary"].as_str().unwrap_or_default();
    assert!(summary.contains(&format!("{n1}/underlay0 is up but has no carrier")), "{summary}");
}

#[test]
fn a_vni_the_far_node_does_not_have_stops_at_its_underlay() {
    let lab = overlay("ov43");
    static_neighbour(&lab);
    let n2 = lab.ns("node-2");
    // node-2's tunnel device is replaced by one of VNI 43.
    for args in [
        vec!["-n", &n2, "link", "del", "vxlan42"],
        vec![
            "-n",
            &n2,
            "link",
            "add",
            "vxlan43",
            "type",
            "vxlan",
            "id",
            "43",
            "local",
            "10.99.0.2",
            "remote",
            "10.99.0.1",
            "dstport",
            "4789",
            "dev",
            "underlay0",
        ],
        vec!["-n", &n2, "link", "set", "vxlan43", "master", "br0", "up"],
    ] {
        let out = run("ip", &args);
        assert!(out.status.success(), "ip {args:?}: {}", describe(&out));
    }
    let (code, v) = ping_once(&lab);
    assert_eq!(code, 1, "{v}");
    let verdict = &v["verdict"];
    assert_eq!(verdict["segment"]["after"], format!("{n2}/underlay0"), "{v}");
    assert_eq!(verdict["segment"]["before"], Value::Null, "{v}");
    let summary = verdict["summary"].as_str().unwrap_or_default();
    assert!(
        summary.contains(&format!(
            "{n2} has no VXLAN device of VNI 42 on UDP port 4789 to take them (its VXLAN devices: \
             vxlan43 VNI 43 port 4789)"
        )),
        "{summary}"
    );
    // With drop reasons, the kernel's own word for it; without, what was seen.
    if verdict["cause"] == "kernel-drop" {
        assert!(summary.contains("VXLAN_VNI_NOT_FOUND"), "{summary}");
    } else {
        assert_eq!(verdict["cause"], "unknown", "{v}");
        common::require("kernel drop reasons (VXLAN_VNI_NOT_FOUND) from tracefs", false);
    }
}
