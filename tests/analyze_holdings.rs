//! `analyze` of captures that hold no ICMP echo: the verdict summarises what they hold
//! (exchanges by kind, complete or not, each loss with its segment), `reachable` is null, and the
//! exit status is 1 only when something was lost.

use std::path::PathBuf;
use std::process::Command;

use etherparse::PacketBuilder;
use serde_json::Value;
use vtrace::sys::pcapfile::{PcapngWriter, WriterInterface};

const VTRACE: &str = env!("CARGO_BIN_EXE_vtrace");

/// A TCP segment from 172.18.0.2:40000 to 172.18.0.3:80 with sequence number `seq`.
fn segment(seq: u32) -> Vec<u8> {
    let builder = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 2], [2, 0, 0, 0, 0, 3])
        .ipv4([172, 18, 0, 2], [172, 18, 0, 3], 64)
        .tcp(40000, 80, seq, 64240)
        .ack(1)
        .psh();
    let payload = b"GET / HTTP/1.1\r\n\r\n";
    let mut out = Vec::with_capacity(builder.size(payload.len()));
    builder.write(&mut out, payload).expect("building a TCP segment");
    out
}

/// A two-point capture (`a/eth0`, `b/eth0`): each segment at a, and at b when `reached`.
fn capture(name: &str, segments: &[(u32, bool)]) -> PathBuf {
    let file =
        std::env::temp_dir().join(format!("vtrace-holdings-{}-{name}.pcapng", std::process::id()));
    let iface = WriterInterface::ethernet;
    let out = std::fs::File::create(&file).expect("creating the capture");
    let mut w = PcapngWriter::new(out, &[iface("a/eth0"), iface("b/eth0")]).expect("pcapng");
    let mut t = 1_700_000_000_000_000_000u64;
    for &(seq, reached) in segments {
        let data = segment(seq);
        let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
        w.write_packet(0, t, &data, len).expect("writing");
        if reached {
            w.write_packet(1, t + 5_000, &data, len).expect("writing");
        }
        t += 100_000_000;
    }
    w.finish().expect("finishing the capture");
    file
}

fn analyze(file: &PathBuf) -> (Option<i32>, Value, String) {
    let json =
        Command::new(VTRACE).args(["analyze", "--json"]).arg(file).output().expect("analyze");
    let text = Command::new(VTRACE).arg("analyze").arg(file).output().expect("analyze");
    let v: Value = serde_json::from_slice(&json.stdout).unwrap_or(Value::Null);
    assert_eq!(json.status.code(), text.status.code(), "text and JSON agree on the exit status");
    (json.status.code(), v, String::from_utf8_lossy(&text.stdout).into_owned())
}

#[test]
fn tcp_only_all_delivered_is_ok_with_no_reachability() {
    let file = capture("ok", &[(1, true), (100, true)]);
    let (code, v, text) = analyze(&file);
    let _ = std::fs::remove_file(&file);
    let verdict = &v["verdict"];
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(verdict["reachable"], Value::Null, "{v}");
    assert_eq!(verdict["cause"], "ok", "{v}");
    assert_eq!(
        verdict["exchanges"],
        serde_json::json!([{"kind": "tcp", "total": 2, "complete": 2}])
    );
    assert_eq!(verdict["losses"], serde_json::json!([]));
    assert!(text.contains("verdict: ok — no ICMP echo; 2 tcp (2 complete)"), "{text}");
    assert!(!text.contains("NOT reachable"), "{text}");
}

#[test]
fn tcp_only_with_a_loss_names_its_segment_and_exits_1() {
    let file = capture("lost", &[(1, true), (100, false), (200, true)]);
    let (code, v, text) = analyze(&file);
    let _ = std::fs::remove_file(&file);
    let verdict = &v["verdict"];
    assert_eq!(code, Some(1), "{v}");
    assert_eq!(verdict["reachable"], Value::Null, "{v}");
    assert_eq!(verdict["segment"], serde_json::json!({"after": "a/eth0", "before": "b/eth0"}));
    assert_eq!(
        verdict["exchanges"],
        serde_json::json!([{"kind": "tcp", "total": 3, "complete": 2}])
    );
    assert_eq!(
        verdict["losses"],
        serde_json::json!([{"kind": "tcp", "what": "request", "count": 1,
                            "segment": {"after": "a/eth0", "before": "b/eth0"}}])
    );
    assert!(
        text.contains("tcp request lost between a/eth0 and b/eth0"),
        "the text names the loss: {text}"
    );
    assert!(!text.contains("NOT reachable"), "{text}");
}
