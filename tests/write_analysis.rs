//! Root test of the pcapng `vtrace ping --write` keeps: a live ping across a lab, the file read
//! by tshark (`-T fields -e frame.comment -e frame.interface_name -e
//! frame.interface_description`) and capinfos, then by `vtrace analyze`:
//!
//! - every frame of every journey carries vtrace's analysis as its comment, with the exchange,
//!   leg, hop and delay the JSON report gave for it (`echo id I seq S request hop 4/5 +6.4µs`);
//! - each interface is named by its point id, described with its namespace, role and container;
//! - the section header names this node (hostname, OS, vtrace), the name resolution block the
//!   containers' addresses;
//! - `analyze` of the file gives the same journeys as the live report and names the node.
//!
//! Run as root: `cargo test --features root-tests --test write_analysis`.
#![cfg(feature = "root-tests")]

mod common;

use std::process::Command;

use serde_json::Value;

use common::{Lab, describe, require};

const BIN: &str = env!("CARGO_BIN_EXE_vtrace");

fn tshark(file: &str, args: &[&str]) -> String {
    let out = Command::new("tshark").arg("-r").arg(file).args(args).output();
    let out = out.unwrap_or_else(|e| panic!("tshark: {e}"));
    assert!(out.status.success(), "tshark: {}", describe(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every hop of every journey of a report: (point, comment it must carry).
fn expected_comments(report: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for ex in report["exchanges"].as_array().into_iter().flatten() {
        let what = match (ex["id"].as_u64(), ex["seq"].as_u64()) {
            (Some(id), Some(seq)) => format!("echo id {id} seq {seq}"),
            _ => format!(
                "{} {}",
                ex["kind"].as_str().unwrap_or(""),
                ex["summary"].as_str().unwrap_or("")
            ),
        };
        for leg in ["request", "reply"] {
            let Some(hops) = ex[leg]["hops"].as_array() else { continue };
            let complete = ex[leg]["complete"].as_bool().unwrap_or(true);
            for (i, h) in hops.iter().enumerate() {
                let mut c = format!("{what} {leg} hop {}/5", i + 1);
                if i > 0 {
                    c.push_str(&format!(" +{}", duration(h["delta_ns"].as_u64().unwrap_or(0))));
                }
                if !complete && i + 1 == hops.len() {
                    c.push_str(" lost after this point");
                }
                out.push((h["point"].as_str().unwrap_or("").to_owned(), c));
            }
        }
    }
    out.sort();
    out
}

fn duration(ns: u64) -> String {
    match ns {
        0..1_000 => format!("{ns}ns"),
        1_000..1_000_000 => format!("{:.1}µs", ns as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.2}ms", ns as f64 / 1e6),
        _ => format!("{:.3}s", ns as f64 / 1e9),
    }
}

#[test]
fn a_written_trace_carries_the_analysis_for_tshark_and_analyze() {
    if !require("tshark (apt-get install tshark)", common::installed("tshark", "-v")) {
        return;
    }
    let lab = Lab::built("wa");
    let dir = std::env::temp_dir().join(format!("vtrace-write-analysis-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let file = dir.join("trace.pcapng");
    let file_s = file.to_string_lossy().into_owned();
    let (code, live) = lab.ping(&["--write", &file_s]);
    assert_eq!(code, 0, "{live}");
    assert!(!dir.join("trace.pcapng.tmp").exists(), "the temporary capture is gone");

    // Every frame: its comment, interface name and description.
    let fields = tshark(
        &file_s,
        &[
            "-T",
            "fields",
            "-E",
            "separator=|",
            "-e",
            "frame.comment",
            "-e",
            "frame.interface_name",
            "-e",
            "frame.interface_description",
        ],
    );
    let points = lab.points();
    let mut commented = Vec::new();
    for line in fields.lines() {
        let mut f = line.split('|');
        let (comment, name, desc) =
            (f.next().unwrap_or(""), f.next().unwrap_or(""), f.next().unwrap_or(""));
        let pos = points.iter().position(|p| p == name);
        assert!(pos.is_some(), "interface {name} is a point of the path: {line}");
        let (ns, _) = name.rsplit_once('/').unwrap_or(("", ""));
        assert!(desc.starts_with(&format!("netns={ns} ifindex=")), "{line}");
        let role = ["endpoint", "veth-host", "bridge", "veth-host", "endpoint"][pos.unwrap_or(0)];
        assert!(desc.contains(&format!(" role={role}")), "{line}");
        // The containers are named (the host side, the namespace of the bridge, is none).
        let container = desc.contains(&format!(" container={ns}"));
        assert_eq!(container, role == "endpoint", "{line}");
        if !comment.is_empty() {
            commented.push((name.to_owned(), comment.to_owned()));
        }
    }
    commented.sort();
    // Exactly the hops of the live report, each with its exchange, hop and delay.
    assert_eq!(commented, expected_comments(&live), "{fields}");
    assert!(commented.iter().any(|(_, c)| c.contains("request hop 4/5 +")), "{commented:?}");

    // The node in the section header.
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let out = Command::new("capinfos").arg(&file).output();
    if require("capinfos (apt-get install tshark)", out.is_ok()) {
        let info = out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default();
        assert!(info.contains(&format!("node={}", host.trim())), "{info}");
        assert!(info.contains("Linux "), "{info}");
        assert!(info.contains("vtrace "), "{info}");
    }
    // The containers' addresses in the name resolution block.
    let hosts = tshark(&file_s, &["-q", "-z", "hosts"]);
    assert!(hosts.contains(&format!("172.18.0.2\t{}", lab.container(1))), "{hosts}");
    assert!(hosts.contains(&format!("172.18.0.3\t{}", lab.container(2))), "{hosts}");

    // Read back: the same journeys, and the node named.
    let out = Command::new(BIN).args(["analyze", "--json"]).arg(&file).output();
    let _ = std::fs::remove_dir_all(&dir);
    let out = out.unwrap_or_else(|e| panic!("analyze: {e}"));
    let offline: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert_eq!(expected_comments(&offline), expected_comments(&live), "{offline}");
    assert_eq!(offline["clocks"][0]["node"]["hostname"], host.trim(), "{offline}");
    assert_eq!(offline["verdict"]["cause"], live["verdict"]["cause"]);
}
