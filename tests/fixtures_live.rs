//! The live fixtures (fixtures/live/, written by `vtrace ping --write` on a lab with the prefix
//! `fx-`, see fixtures/README.md) replayed by the real binary: `vtrace analyze --json FILE.pcapng`
//! must give exactly the exchanges, journeys, verdict and exit code of SCENARIO.expect.json
//! (derived from the pcapng with tshark, independently of vtrace), name the points after the
//! pcapng's interfaces with their roles, and agree with what the live trace printed
//! (SCENARIO.ping.json): same exchanges, hop by hop, to the nanosecond.
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

/// `vtrace analyze --json` of the scenario's pcapng: exit code and report.
fn analyze(scenario: &str) -> (Option<i32>, Value) {
    let file = live_dir().join(format!("{scenario}.pcapng"));
    let out = Command::new(env!("CARGO_BIN_EXE_vtrace"))
        .args(["analyze", "--json"])
        .arg(&file)
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
    let (code, report) = analyze(scenario);

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

    // The live trace and the offline replay agree, hop by hop and to the nanosecond.
    assert_eq!(report["exchanges"], live["exchanges"], "{scenario}: live vs offline exchanges");
    assert_eq!(point_counts(&report), point_counts(&live), "{scenario}: captured per point");
    assert_eq!(live["verdict"]["cause"], expect["live_cause"], "{scenario}: live cause");
    assert_eq!(live["verdict"]["cause"], live_cause, "{scenario}: live cause");
    assert_eq!(live["verdict"]["segment"], v["segment"], "{scenario}: live segment");
}

#[test]
fn healthy_every_exchange_passes_five_points_both_ways() {
    check("healthy", 5, "ok", "ok");
}

#[test]
fn forward_drop_requests_vanish_after_the_bridge() {
    check("forward-drop", 5, "unknown", "unknown");
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
    check("input-drop", 5, "no-reply", "no-reply");
}

#[test]
fn no_arp_reply_arp_requests_end_at_the_bridge() {
    check("no-arp-reply", 3, "no-arp-reply", "no-arp-reply");
}
