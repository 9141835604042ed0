//! The probe's own evidence (root): the probe's socket is the last point of every reply, a source
//! that refuses to send is where the packet died, and several losses in one run make one honest
//! verdict. Each test on its own lab; what the verdict must say is derived from the rules the
//! test writes, not from vtrace.

#![cfg(feature = "root-tests")]

mod common;

use std::process::Command;

use serde_json::Value;

use common::{Lab, describe};

const BIN: &str = env!("CARGO_BIN_EXE_vtrace");

/// Load an nft ruleset into namespace `ns`.
fn nft(ns: &str, rules: &str) {
    let file =
        std::env::temp_dir().join(format!("vtrace-evidence-{}-{ns}.nft", std::process::id()));
    std::fs::write(&file, rules).unwrap_or_else(|e| panic!("{e}"));
    let out = common::run("ip", &["netns", "exec", ns, "nft", "-f", &file.to_string_lossy()]);
    let _ = std::fs::remove_file(&file);
    assert!(out.status.success(), "nft in {ns}: {}", describe(&out));
}

/// An inet table `t` with one chain on `hook` holding `rule`.
fn chain(hook: &str, rule: &str) -> String {
    format!(
        "table inet t {{\n chain c {{\n  type filter hook {hook} priority 0; policy accept;\n  {rule}\n }}\n}}\n"
    )
}

fn segment(v: &Value) -> (Option<&str>, Option<&str>) {
    let s = &v["verdict"]["segment"];
    (s["after"].as_str(), s["before"].as_str())
}

fn echoes(v: &Value) -> Vec<&Value> {
    v["exchanges"].as_array().into_iter().flatten().filter(|e| e["kind"] == "icmp-echo").collect()
}

/// `vtrace ping` from container 1 to 2 as text (`--no-tui`): exit code, stdout, stderr.
fn ping_text(lab: &Lab, extra: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(["ping", &lab.container(1), &lab.container(2), "--no-tui"])
        .args(extra)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

/// `vtrace ping` from container 1 to 2 with `-c COUNT -i 100ms --json`: exit code and report.
fn ping_json(lab: &Lab, count: &str) -> (i32, Value) {
    let out = Command::new(BIN)
        .args(["ping", &lab.container(1), &lab.container(2), "--json", "-i", "100ms", "-c", count])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let v =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", describe(&out)));
    (out.status.code().unwrap_or(-1), v)
}

#[test]
fn a_reply_dropped_in_the_source_stack_is_lost_before_the_probe_socket() {
    let lab = Lab::built("lr");
    let src = lab.container(1);
    nft(&src, &chain("input", "icmp type echo-reply drop"));
    // The user's own ping fails: vtrace must not say otherwise.
    let own =
        common::run("ip", &["netns", "exec", &src, "ping", "-c", "1", "-W", "1", "172.18.0.3"]);
    assert!(!own.status.success(), "ping itself got a reply: {}", describe(&own));

    let (code, v) = lab.ping(&[]);
    let p = lab.points();
    assert_eq!(code, 1, "{v}");
    let verdict = &v["verdict"];
    assert_eq!(verdict["cause"], "netfilter-drop", "{v}");
    assert_eq!(verdict["reachable"], false, "{v}");
    assert_eq!((verdict["sent"].as_u64(), verdict["received"].as_u64()), (Some(2), Some(0)), "{v}");
    assert_eq!(segment(&v), (Some(p[0].as_str()), None), "{v}");
    let summary = verdict["summary"].as_str().unwrap_or("");
    assert!(summary.contains(&format!("in {src}: inet t c")), "{summary}");
    assert!(summary.contains("rule `icmp type echo-reply drop`"), "{summary}");
    // Every reply went the whole way on the wire, and is marked lost after the source's eth0.
    let echoes = echoes(&v);
    assert_eq!(echoes.len(), 2, "{v}");
    for e in echoes {
        let reply = &e["reply"];
        assert_eq!(reply["hops"].as_array().map(Vec::len), Some(5), "{e}");
        assert_eq!(reply["complete"], false, "{e}");
        assert_eq!(
            (reply["lost_after"].as_str(), reply["lost_before"].as_str()),
            (Some(p[0].as_str()), None)
        );
        assert!(
            reply["netfilter"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|n| n["verdict"] == "drop" && n["rule"] == "icmp type echo-reply drop"),
            "{e}"
        );
    }
    let (code, text, _) = ping_text(&lab, &["-c", "1"]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("✗ lost before the probe's socket"), "{text}");
    assert!(text.contains("verdict: NOT reachable (netfilter-drop)"), "{text}");
    assert!(text.contains("but never the probe's socket"), "{text}");
    assert!(
        text.contains(&format!("segment: after {} before (the end of the path)", p[0])),
        "{text}"
    );
}

#[test]
fn an_output_drop_in_the_source_is_netfilter_drop_inside_the_source() {
    let lab = Lab::built("od");
    let src = lab.container(1);
    nft(&src, &chain("output", "icmp type echo-request drop"));
    let (code, v) = lab.ping(&[]);
    let p = lab.points();
    assert_eq!(code, 1, "the trace succeeded and found the packets lost: {v}");
    assert_eq!(v["verdict"]["cause"], "netfilter-drop", "{v}");
    assert_eq!(segment(&v), (None, Some(p[0].as_str())), "{v}");
    assert_eq!(v["verdict"]["sent"], 2, "{v}");
    let summary = v["verdict"]["summary"].as_str().unwrap_or("");
    assert!(summary.contains("rule `icmp type echo-request drop`"), "{summary}");
    let (code, text, stderr) = ping_text(&lab, &["-c", "1"]);
    assert_eq!(code, 1, "{text}{stderr}");
    assert!(!stderr.contains("EPERM"), "EPERM is evidence, not an error: {stderr}");
    assert!(text.contains(&format!("segment: inside the source, before {}", p[0])), "{text}");
    // Without netfilter tracing the refusal is still placed, and what was seen is said.
    let (code, text, _) = ping_text(&lab, &["-c", "1", "--no-netfilter"]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("verdict: NOT reachable (unknown)"), "{text}");
    assert!(text.contains("sendto: EPERM"), "{text}");
}

#[test]
fn probes_dropped_after_the_send_before_any_capture_are_never_ok() {
    // The netdev egress hook drops after sendto succeeded and before the capture taps: nothing
    // of the probe is ever seen, and the source's kernel said nothing.
    let lab = Lab::built("eg");
    let src = lab.container(1);
    nft(
        &src,
        "table netdev t {\n chain e {\n  type filter hook egress device eth0 priority 0; \
         policy accept;\n  ip protocol icmp drop\n }\n}\n",
    );
    let p = lab.points();
    let (code, v) = lab.ping(&[]);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["verdict"]["reachable"], false, "{v}");
    assert_eq!(segment(&v), (None, Some(p[0].as_str())), "{v}");
    let summary = v["verdict"]["summary"].as_str().unwrap_or("");
    assert!(summary.contains("no probe was seen at any capture point"), "{summary}");
    assert_eq!(v["verdict"]["cause"], "netfilter-drop", "{v}");
    assert!(summary.contains("rule `ip protocol icmp drop`"), "{summary}");
    // Without netfilter tracing: not ok either, what was seen is said.
    let (code, text, _) = ping_text(&lab, &["-c", "1", "--no-netfilter"]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("verdict: NOT reachable (unknown)"), "{text}");
    assert!(text.contains(&format!("segment: inside the source, before {}", p[0])), "{text}");
}

#[test]
fn a_source_without_routes_is_no_route_inside_the_source() {
    let lab = Lab::built("nr");
    let out = common::run("ip", &["-n", &lab.container(1), "route", "flush", "table", "main"]);
    assert!(out.status.success(), "{}", describe(&out));
    let (code, v) = lab.ping(&[]);
    let p = lab.points();
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["verdict"]["cause"], "no-route", "{v}");
    assert_eq!(segment(&v), (None, Some(p[0].as_str())), "{v}");
    let (code, text, _) = ping_text(&lab, &["-c", "1"]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains(&format!("segment: inside the source, before {}", p[0])), "{text}");
}

#[test]
fn every_other_request_dropped_is_partly_reachable_with_one_cause() {
    let lab = Lab::built("pl");
    let dst = lab.container(2);
    // Requests with an odd sequence number are dropped at the target: 2 of 4 answered.
    nft(&dst, &chain("input", "icmp type echo-request icmp sequence { 1, 3 } drop"));
    let (code, v) = ping_json(&lab, "4");
    let p = lab.points();
    let verdict = &v["verdict"];
    assert_eq!(code, 1, "a probe was lost: {v}");
    assert_eq!(verdict["reachable"], true, "two echoes were answered end to end: {v}");
    assert_eq!((verdict["sent"].as_u64(), verdict["received"].as_u64()), (Some(4), Some(2)), "{v}");
    assert_eq!(verdict["cause"], "netfilter-drop", "{v}");
    assert_eq!(segment(&v), (Some(p[4].as_str()), None), "{v}");
    let causes = verdict["causes"].as_array().cloned().unwrap_or_default();
    assert_eq!(causes.len(), 1, "{v}");
    assert_eq!(causes[0]["count"], 2, "{v}");
    assert_eq!(causes[0]["cause"], "netfilter-drop", "{v}");
}

#[test]
fn two_faults_in_one_run_are_both_named_and_the_larger_leads() {
    let lab = Lab::built("tf");
    let (src, dst) = (lab.container(1), lab.container(2));
    // Request 1 dies at the target's input; replies 2 and 3 die in the source's input; 4 passes.
    nft(&dst, &chain("input", "icmp type echo-request icmp sequence 1 drop"));
    nft(&src, &chain("input", "icmp type echo-reply icmp sequence { 2, 3 } drop"));
    let (code, v) = ping_json(&lab, "4");
    let p = lab.points();
    let verdict = &v["verdict"];
    assert_eq!(code, 1, "{v}");
    assert_eq!((verdict["sent"].as_u64(), verdict["received"].as_u64()), (Some(4), Some(1)), "{v}");
    assert_eq!(verdict["reachable"], true, "{v}");
    // The replies lost in the source lost most probes (2): they lead.
    assert_eq!(verdict["cause"], "netfilter-drop", "{v}");
    assert_eq!(segment(&v), (Some(p[0].as_str()), None), "{v}");
    let causes: Vec<(String, Option<&str>, Option<&str>, u64)> = verdict["causes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            (
                c["cause"].as_str().unwrap_or("").to_owned(),
                c["segment"]["after"].as_str(),
                c["segment"]["before"].as_str(),
                c["count"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        causes,
        vec![
            ("netfilter-drop".to_owned(), Some(p[0].as_str()), None, 2),
            ("netfilter-drop".to_owned(), Some(p[4].as_str()), None, 1),
        ],
        "{v}"
    );
    let details: Vec<&str> = verdict["causes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["summary"].as_str())
        .collect();
    assert!(details[0].contains(&format!("in {src}: inet t c")), "{details:?}");
    assert!(details[0].contains("echo-reply"), "{details:?}");
    assert!(details[1].contains(&format!("in {dst}: inet t c")), "{details:?}");
    assert!(details[1].contains("echo-request"), "{details:?}");
}
