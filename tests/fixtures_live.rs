//! The live fixtures (fixtures/live/, written by `vtrace ping --write` on a lab with the prefix
//! `fx-`, see fixtures/README.md) replayed by the real binary: `vtrace analyze --json FILE.pcapng`
//! must give exactly the exchanges, journeys, verdict and exit code of SCENARIO.expect.json
//! (derived from the pcapng with tshark, independently of vtrace), name the points after the
//! pcapng's interfaces with their roles, and agree with what the live trace printed
//! (SCENARIO.ping.json): same exchanges, hop by hop, to the nanosecond.
//!
//! Scenarios recorded with netfilter tracing keep its trace next to the pcapng
//! (SCENARIO.pcapng.nft.json): analyzed with it, the replay also carries the live trace's
//! netfilter decisions and kernel drops on every journey and its `netfilter-drop` verdict, word for
//! word; analyzed without it (the pcapng copied alone), the captures alone speak (expect.json).
//!
//! No root needed: only files are read.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

/// The recording lab's capture points in path order, with the roles the pcapng describes.
const POINTS: [(&str, &str); 5] = [
    ("fx-nginx-1/eth0", "endpoint"),
    ("fx-vtrace-host/veth261a5ea", "veth-host"),
    ("fx-vtrace-host/docker0", "bridge"),
    ("fx-vtrace-host/veth01f51ea", "veth-host"),
    ("fx-nginx-2/eth0", "endpoint"),
];

fn live_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join("live")
}

fn read_json(path: &Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// `vtrace analyze --json` of the scenario's pcapng (with its netfilter trace, when it has
/// one): exit code and report.
fn analyze(scenario: &str) -> (Option<i32>, Value) {
    analyze_file(scenario, &live_dir().join(format!("{scenario}.pcapng")))
}

/// The same on a copy of the pcapng alone: what the captures say without the netfilter trace.
fn analyze_captures_only(scenario: &str) -> (Option<i32>, Value) {
    let dir = std::env::temp_dir().join(format!("vtrace-live-{}-{scenario}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let copy = dir.join(format!("{scenario}.pcapng"));
    std::fs::copy(live_dir().join(format!("{scenario}.pcapng")), &copy)
        .unwrap_or_else(|e| panic!("copying the {scenario} fixture: {e}"));
    let got = analyze_file(scenario, &copy);
    let _ = std::fs::remove_dir_all(&dir);
    got
}

fn analyze_file(scenario: &str, file: &Path) -> (Option<i32>, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_vtrace"))
        .args(["analyze", "--json"])
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("running vtrace: {e}"));
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{scenario}: report is not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), report)
}

fn hop_points(journey: &Value) -> Value {
    match journey["hops"].as_array() {
        Some(hops) => hops.iter().map(|h| h["point"].clone()).collect(),
        None => Value::Null,
    }
}

/// An exchange reduced to the schema of expect.json.
fn reduced(ex: &Value) -> Value {
    json!({
        "kind": ex["kind"],
        "id": ex["id"],
        "seq": ex["seq"],
        "request": hop_points(&ex["request"]),
        "reply": hop_points(&ex["reply"]),
    })
}

/// `(id, captured)` of each point of a report.
fn point_counts(report: &Value) -> Vec<(String, u64)> {
    report["points"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| (p["id"].as_str().unwrap_or("").to_owned(), p["captured"].as_u64().unwrap_or(0)))
        .collect()
}

/// Checks one scenario; `points` is how many of the path's points the trace captured on,
/// `cause`/`live_cause` what the captures alone and the live diagnosis say.
fn check(scenario: &str, points: usize, cause: &str, live_cause: &str) {
    let dir = live_dir();
    let expect = read_json(&dir.join(format!("{scenario}.expect.json")));
    let live = read_json(&dir.join(format!("{scenario}.ping.json")));
    let (code, report) = analyze_captures_only(scenario);

    let want_code = if cause == "ok" { 0 } else { 1 };
    assert_eq!(code, Some(want_code), "{scenario}: {report}");

    // Points: the pcapng's interface names in path order, roles from their descriptions.
    let want_points: Vec<(&str, &str)> = POINTS.iter().take(points).copied().collect();
    let got_points: Vec<(&str, &str)> = report["points"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| (p["id"].as_str().unwrap_or(""), p["role"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(got_points, want_points, "{scenario}: points");
    let derived: Vec<(&str, &str)> = expect["points"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| (p["id"].as_str().unwrap_or(""), p["role"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(derived, want_points, "{scenario}: points of expect.json");

    // Exchanges: kinds, ids/seqs and every journey's points in order.
    let got: Vec<Value> =
        report["exchanges"].as_array().into_iter().flatten().map(reduced).collect();
    let want = expect["exchanges"].as_array().cloned().unwrap_or_default();
    assert!(!want.is_empty(), "{scenario}: expect.json lists no exchange");
    assert_eq!(got, want, "{scenario}: exchanges");

    // Verdict: what the captures alone support.
    let v = &report["verdict"];
    let got_verdict = json!({
        "cause": v["cause"],
        "segment": v["segment"],
        "sent": v["sent"],
        "received": v["received"],
        "reachable": v["reachable"],
    });
    assert_eq!(got_verdict, expect["verdict"], "{scenario}: verdict");
    assert_eq!(v["cause"], cause, "{scenario}: cause");

    assert_eq!(live["verdict"]["cause"], expect["live_cause"], "{scenario}: live cause");
    assert_eq!(live["verdict"]["cause"], live_cause, "{scenario}: live cause");
    assert_eq!(live["verdict"]["segment"], v["segment"], "{scenario}: live segment");

    // The live trace and the offline replay (with the netfilter trace, when there is one) agree,
    // hop by hop and to the nanosecond, netfilter decisions and kernel drops included.
    let traced = dir.join(format!("{scenario}.pcapng.nft.json")).exists();
    let (code, report) = if traced { analyze(scenario) } else { (code, report) };
    assert_eq!(report["exchanges"], live["exchanges"], "{scenario}: live vs offline exchanges");
    assert_eq!(point_counts(&report), point_counts(&live), "{scenario}: captured per point");
    if traced {
        // The netfilter trace explains the loss offline exactly as it did live.
        assert_eq!(code, Some(if live_cause == "ok" { 0 } else { 1 }), "{scenario}: {report}");
        assert_eq!(report["verdict"]["cause"], live_cause, "{scenario}: offline cause");
        assert_eq!(report["verdict"]["segment"], live["verdict"]["segment"], "{scenario}");
        assert_eq!(report["verdict"]["summary"], live["verdict"]["summary"], "{scenario}");
    }
}

/// The offline replay of a scenario recorded with netfilter tracing: its verdict summary and the
/// echo requests' journeys.
fn replayed(scenario: &str) -> (String, Vec<Value>) {
    assert!(
        live_dir().join(format!("{scenario}.pcapng.nft.json")).exists(),
        "{scenario} was recorded without its netfilter trace"
    );
    let (_, report) = analyze(scenario);
    let summary = report["verdict"]["summary"].as_str().unwrap_or("").to_owned();
    let requests = report["exchanges"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["kind"] == "icmp-echo")
        .map(|e| e["request"].clone())
        .collect();
    (summary, requests)
}

/// `point family table chain: rule → verdict` of a journey's netfilter decisions.
fn decisions(journey: &Value) -> Vec<String> {
    let s = |v: &Value| v.as_str().unwrap_or("?").to_owned();
    journey["netfilter"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|n| {
            let (at, family, table) = (s(&n["point"]), s(&n["family"]), s(&n["table"]));
            let (chain, rule, verdict) = (s(&n["chain"]), s(&n["rule"]), s(&n["verdict"]));
            format!("{at} {family} {table} {chain}: {rule} → {verdict}")
        })
        .collect()
}

fn kernel_reasons(journey: &Value) -> Vec<String> {
    journey["kernel_drops"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| d["reason"].as_str().unwrap_or("?").to_owned())
        .collect()
}

#[test]
fn forward_drop_offline_names_the_forward_policy_and_br_netfilter() {
    let (summary, requests) = replayed("forward-drop");
    assert!(
        summary.contains(
            "dropped by netfilter in fx-vtrace-host: ip filter FORWARD, policy drop; bridged \
             frames meet iptables there because net.bridge.bridge-nf-call-iptables is on"
        ),
        "{summary}"
    );
    assert!(
        summary.contains("(see: ip netns exec fx-vtrace-host nft -a list chain ip filter FORWARD)"),
        "{summary}"
    );
    assert!(summary.contains("kernel drop reason NETFILTER_DROP"), "{summary}");
    assert_eq!(requests.len(), 3);
    for r in &requests {
        assert!(
            decisions(r)
                .contains(&"fx-vtrace-host/docker0 ip filter FORWARD: policy → drop".to_owned()),
            "{r}"
        );
        assert_eq!(kernel_reasons(r), vec!["NETFILTER_DROP"], "{r}");
    }
}

#[test]
fn input_drop_offline_names_the_rule_at_the_target() {
    let (summary, requests) = replayed("input-drop");
    assert!(
        summary.contains(
            "dropped by netfilter in fx-nginx-2: inet vtrace_fixture input, rule `icmp type \
             echo-request drop`"
        ),
        "{summary}"
    );
    assert!(summary.contains("kernel drop reason NETFILTER_DROP"), "{summary}");
    assert_eq!(requests.len(), 3);
    for r in &requests {
        assert_eq!(
            decisions(r),
            vec!["fx-nginx-2/eth0 inet vtrace_fixture input: icmp type echo-request drop → drop"],
            "{r}"
        );
        assert_eq!(kernel_reasons(r), vec!["NETFILTER_DROP"], "{r}");
    }
}

#[test]
fn healthy_every_exchange_passes_five_points_both_ways() {
    check("healthy", 5, "ok", "ok");
}

#[test]
fn forward_drop_requests_vanish_after_the_bridge() {
    check("forward-drop", 5, "unknown", "netfilter-drop");
}

#[test]
fn link_down_requests_vanish_after_the_bridge() {
    check("link-down", 5, "unknown", "link-down");
}

#[test]
fn bridge_port_blocked_requests_vanish_after_the_bridge() {
    check("bridge-port-blocked", 5, "unknown", "bridge-port-blocked");
}

#[test]
fn mtu_requests_vanish_before_the_target() {
    check("mtu", 5, "unknown", "mtu");
}

#[test]
fn input_drop_requests_reach_the_target_unanswered() {
    check("input-drop", 5, "no-reply", "netfilter-drop");
}

#[test]
fn no_arp_reply_arp_requests_end_at_the_bridge() {
    check("no-arp-reply", 3, "no-arp-reply", "no-arp-reply");
}

#[test]
fn tc_drop_requests_vanish_after_the_bridge() {
    check("tc-drop", 5, "unknown", "tc-drop");
}

#[test]
fn tc_drop_offline_names_the_qdisc_and_the_kernel_reason() {
    let (summary, requests) = replayed("tc-drop");
    assert!(
        summary.contains(
            "qdisc pfifo 77: on fx-vtrace-host/veth01f51ea dropped 5 packets during the trace \
             (see: ip netns exec fx-vtrace-host tc -s qdisc show dev veth01f51ea)"
        ),
        "{summary}"
    );
    assert!(summary.contains("kernel drop reason QDISC_DROP"), "{summary}");
    assert_eq!(requests.len(), 3);
    for r in &requests {
        assert_eq!(decisions(r), Vec::<String>::new(), "{r}");
        assert_eq!(kernel_reasons(r), vec!["QDISC_DROP"], "{r}");
    }
}
