//! The live fixtures (fixtures/live/, written by `vtrace ping --write` on a lab with the prefix
//! `fx-`, see fixtures/README.md) replayed by the real binary, `vtrace analyze --json
//! FILE.pcapng`, and compared with what was made outside vtrace when they were recorded:
//!
//! - TShark's reading of the pcapng (`SCENARIO.pcapng.tshark.tsv`): every frame is one hop of one
//!   journey, at the point of its interface and at its time to the nanosecond, in the exchange of
//!   its ICMP identifier and sequence; each point's `captured` count;
//! - SCENARIO.expect.json, derived from that file by fixtures/derive-expect.py: the exchanges,
//!   every journey's points in order, the rtt, the verdict the captures support, and the points
//!   (id, namespace, role) read from the pcapng's interface blocks;
//! - SCENARIO.fault.json, what fixtures/record-live.sh did (the fault's steps), what that means
//!   for the verdict of the captures and, for the scenarios recorded with their netfilter side
//!   (SCENARIO.pcapng.nft.json), what that side must name: the cause, the netfilter decision that
//!   dropped each lost echo request and the kernel's drop reason;
//! - the lab's points in path order with their roles (below).
//!
//! The captures-only checks run on a copy of the pcapng without its netfilter trace. No root
//! needed: only files are read.

mod fixture_oracle;

use std::path::{Path, PathBuf};
use std::process::Command;

use fixture_oracle::{
    by_request_time, causes, check_exchanges, check_expect, check_frames, check_means,
    exit_code_for, read_json, read_oracle,
};
use serde_json::{Value, json};

/// The recording lab's capture points in path order, with their roles.
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

fn pcapng(scenario: &str) -> PathBuf {
    live_dir().join(format!("{scenario}.pcapng"))
}

/// `vtrace analyze --json` of the scenario's pcapng (with its netfilter trace, when it has
/// one): exit code and report.
fn analyze(scenario: &str) -> (Option<i32>, Value) {
    analyze_file(scenario, &pcapng(scenario))
}

/// The same on a copy of the pcapng alone: what the captures say without the netfilter trace.
fn analyze_captures_only(scenario: &str) -> (Option<i32>, Value) {
    let dir = std::env::temp_dir().join(format!("vtrace-live-{}-{scenario}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let copy = dir.join(format!("{scenario}.pcapng"));
    std::fs::copy(pcapng(scenario), &copy)
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

/// `(id, netns, role)` of each point of a report or of expect.json.
fn points_of(v: &Value) -> Vec<Value> {
    let points = v["points"].as_array().into_iter().flatten();
    points.map(|p| json!([p["id"], p["netns"], p["role"]])).collect()
}

/// Checks one scenario; `points` is how many of the lab's points the trace captured on.
fn check(scenario: &str, points: usize) {
    let expect = read_json(&live_dir().join(format!("{scenario}.expect.json")));
    let fault = read_json(&live_dir().join(format!("{scenario}.fault.json")));
    let oracle = read_oracle(&pcapng(scenario));
    let (code, report) = analyze_captures_only(scenario);

    // Points: the lab's in path order with their roles, named as the pcapng's interface blocks
    // say (read by derive-expect.py).
    let want: Vec<(&str, &str)> = POINTS.iter().take(points).copied().collect();
    let got: Vec<(&str, &str)> = report["points"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| (p["id"].as_str().unwrap_or(""), p["role"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(got, want, "{scenario}: points");
    assert_eq!(points_of(&report), points_of(&expect), "{scenario}: points of the pcapng");

    // The captures alone.
    check_frames(scenario, &report, &oracle);
    check_expect(scenario, &report, &expect);
    check_means(scenario, &report["verdict"], &fault);
    assert_eq!(code, Some(exit_code_for(&expect)), "{scenario}: exit code: {report}");

    // With the netfilter side of the run: the same journeys, and the cause the fault means (a
    // fault that says what the trace must name, or a trace kept with the capture, is checked).
    let sidecar = live_dir().join(format!("{scenario}.pcapng.nft.json")).exists();
    if sidecar || fault["traced"].is_object() {
        check_traced(scenario, &fault, &oracle, &expect);
    }
}

/// The replay with the netfilter trace: the journeys of the captures unchanged; the causes the
/// fault means with its netfilter decision on every lost echo request (the only drop among its
/// decisions) and the kernel's drop reason among its kernel drops.
fn check_traced(scenario: &str, fault: &Value, oracle: &[fixture_oracle::Frame], expect: &Value) {
    let traced = &fault["traced"];
    let (code, report) = analyze(scenario);
    check_frames(scenario, &report, oracle);
    check_exchanges(scenario, &report, expect);

    let v = &report["verdict"];
    let want = traced["causes"].as_array().cloned().unwrap_or_default();
    assert_eq!(causes(v), want, "{scenario}: causes with the netfilter trace");
    assert_eq!(v["cause"], want[0]["cause"], "{scenario}: cause with the netfilter trace");
    assert_eq!(v["segment"], want[0]["segment"], "{scenario}: segment with the netfilter trace");
    for key in ["sent", "received", "reachable"] {
        assert_eq!(v[key], fault["means"][key], "{scenario}: verdict.{key}");
    }
    let want_code = i32::from(!want.is_empty());
    assert_eq!(code, Some(want_code), "{scenario}: exit code with the netfilter trace: {report}");

    let lost: Vec<Value> = by_request_time(&report)
        .into_iter()
        .filter(|e| e["kind"] == "icmp-echo" && e["reply"].is_null())
        .collect();
    let unanswered = fault["means"]["sent"].as_u64().zip(fault["means"]["received"].as_u64());
    let unanswered = unanswered.map(|(sent, received)| sent - received);
    assert_eq!(Some(lost.len() as u64), unanswered, "{scenario}: unanswered echo requests");
    for ex in &lost {
        let request = &ex["request"];
        let drops: Vec<Value> = request["netfilter"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|n| n["verdict"] == "drop")
            .map(|n| {
                let keys = ["netns", "family", "table", "chain", "rule", "verdict", "point"];
                keys.iter().map(|k| (k.to_string(), n[*k].clone())).collect()
            })
            .collect();
        let want: Vec<Value> = traced["drop"].as_object().map(|d| json!(d)).into_iter().collect();
        assert_eq!(drops, want, "{scenario}: the netfilter drop of seq {}", ex["seq"]);
        let reasons: Vec<&Value> = request["kernel_drops"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|d| &d["reason"])
            .collect();
        assert!(
            reasons.contains(&&traced["kernel_drop"]),
            "{scenario}: kernel drop reason {} of seq {}: {reasons:?}",
            traced["kernel_drop"],
            ex["seq"]
        );
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
    check("healthy", 5);
}

#[test]
fn forward_drop_requests_vanish_after_the_bridge() {
    check("forward-drop", 5);
}

#[test]
fn link_down_requests_vanish_after_the_bridge() {
    check("link-down", 5);
}

#[test]
fn bridge_port_blocked_requests_vanish_after_the_bridge() {
    check("bridge-port-blocked", 5);
}

#[test]
fn mtu_requests_vanish_before_the_target() {
    check("mtu", 5);
}

#[test]
fn input_drop_requests_reach_the_target_unanswered() {
    check("input-drop", 5);
}

#[test]
fn no_arp_reply_arp_requests_end_at_the_bridge() {
    check("no-arp-reply", 3);
}

#[test]
fn tc_drop_requests_vanish_after_the_bridge() {
    check("tc-drop", 5);
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
