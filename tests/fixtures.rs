//! Each recorded lab scenario under fixtures/ analysed by the real binary: the exchanges, every
//! journey's hops in order, and the verdict must be exactly what fixtures/NAME/expect.json says
//! (derived from the captures with tshark, independently of vtrace).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// `--point LABEL=FILE` arguments from the scenario's `points` file, in path order.
fn point_args(dir: &Path) -> Vec<String> {
    let points = std::fs::read_to_string(dir.join("points")).expect("points file");
    points
        .lines()
        .filter(|l| !l.trim().is_empty())
        .flat_map(|l| {
            let (label, file) = l.split_once('=').expect("LABEL=FILE");
            ["--point".to_owned(), format!("{label}={}", dir.join(file).display())]
        })
        .collect()
}

fn analyze(dir: &Path, extra: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vtrace"))
        .arg("analyze")
        .args(extra)
        .args(point_args(dir))
        .output()
        .expect("run vtrace");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn hop_points(journey: &Value) -> Value {
    if journey.is_null() {
        return Value::Null;
    }
    Value::Array(
        journey["hops"].as_array().expect("hops").iter().map(|h| h["point"].clone()).collect(),
    )
}

fn check(name: &str) {
    let dir = fixtures().join(name);
    let expect: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("expect.json")).expect("expect.json"),
    )
    .expect("expect.json is JSON");
    let (code, stdout, stderr) = analyze(&dir, &["--json"]);
    let report: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{name}: report is not JSON ({e}): {stdout}\n{stderr}"));

    let got: Vec<Value> = report["exchanges"]
        .as_array()
        .expect("exchanges")
        .iter()
        .map(|ex| {
            let mut v = serde_json::json!({
                "kind": ex["kind"],
                "request": hop_points(&ex["request"]),
                "reply": hop_points(&ex["reply"]),
            });
            if !ex["id"].is_null() {
                v["id"] = ex["id"].clone();
                v["seq"] = ex["seq"].clone();
            }
            v
        })
        .collect();
    let want: Vec<Value> = expect["exchanges"]
        .as_array()
        .expect("expected exchanges")
        .iter()
        .map(|ex| {
            let mut v = serde_json::json!({
                "kind": ex["kind"], "request": ex["request"], "reply": ex["reply"],
            });
            if !ex["id"].is_null() {
                v["id"] = ex["id"].clone();
                v["seq"] = ex["seq"].clone();
            }
            v
        })
        .collect();
    assert_eq!(
        got,
        want,
        "{name}: exchanges differ\n got: {}\nwant: {}",
        serde_json::to_string_pretty(&got).unwrap_or_default(),
        serde_json::to_string_pretty(&want).unwrap_or_default()
    );

    let v = &report["verdict"];
    let w = &expect["verdict"];
    for key in ["cause", "segment", "sent", "received", "reachable"] {
        assert_eq!(v[key], w[key], "{name}: verdict.{key} (report verdict: {v})");
    }
    let reachable = w["reachable"].as_bool().expect("reachable");
    assert_eq!(code, Some(if reachable { 0 } else { 1 }), "{name}: exit code; stderr: {stderr}");

    // Every point of the path is reported, in path order, with what it captured.
    let points: Vec<&str> = report["points"]
        .as_array()
        .expect("points")
        .iter()
        .filter_map(|p| p["id"].as_str())
        .collect();
    let labels: Vec<String> = std::fs::read_to_string(dir.join("points"))
        .expect("points")
        .lines()
        .filter_map(|l| l.split_once('=').map(|(l, _)| l.to_owned()))
        .collect();
    assert_eq!(points, labels, "{name}: points in path order");

    // The text report names the same verdict.
    let (_, text, _) = analyze(&dir, &[]);
    let cause = w["cause"].as_str().expect("cause");
    assert!(text.contains("verdict: "), "{name}: text report has a verdict line:\n{text}");
    if !reachable {
        assert!(text.contains(&format!("({cause})")), "{name}: text names {cause}:\n{text}");
    }
}

#[test]
fn healthy() {
    check("healthy");
}

#[test]
fn forward_drop() {
    check("forward-drop");
}

#[test]
fn veth_down() {
    check("veth-down");
}

#[test]
fn veth_down_cold() {
    check("veth-down-cold");
}

#[test]
fn input_drop() {
    check("input-drop");
}

/// Times of day are local (the zone of `TZ`, here a POSIX rule: UTC+05:30, no zone files
/// needed) unless `--utc`, given before or after the command; JSON keeps nanoseconds.
#[test]
fn times_of_day_are_local_unless_utc() {
    let file = fixtures().join("healthy/1-nginx-1_eth0.pcap");
    let first_line = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_vtrace"))
            .env("TZ", "IST-5:30")
            .args(args)
            .arg(&file)
            .output()
            .expect("run vtrace");
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).lines().next().unwrap_or_default().to_owned()
    };
    // The first frame: 2026-11-27 21:02:49.008525613 UTC.
    let packets = first_line(&["analyze", "--packets"]);
    assert!(packets.starts_with("02:32:49.008525613 1-nginx-1_eth0 ARP"), "{packets}");
    let packets = first_line(&["analyze", "--packets", "--utc"]);
    assert!(packets.starts_with("21:02:49.008525613 1-nginx-1_eth0 ARP"), "{packets}");
    let report = first_line(&["analyze"]);
    assert!(report.starts_with("02:32:49.008525613  ARP who-has"), "{report}");
    let report = first_line(&["--utc", "analyze"]);
    assert!(report.starts_with("21:02:49.008525613  ARP who-has"), "{report}");
    let json = first_line(&["analyze", "--packets", "--json"]);
    assert!(json.contains("\"t_ns\":1795813369008525613"), "{json}");
}
