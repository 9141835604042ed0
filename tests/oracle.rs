//! The decoder against an independent oracle: for every capture in ../shared/corpora/wf/, every
//! field TShark reports (FILE.tshark.tsv, one line per ARP/ICMP/ICMPv6 packet) must equal what
//! `vtrace analyze --packets --json` prints for that frame. Where TShark joins several values
//! (tunnels, quoted packets) the first, outermost one is compared. And every capture in
//! ../shared/corpora/mal/ must end cleanly or with an error naming the file and a byte offset,
//! never a panic or a hang.
//!
//! No root needed: this runs the real binary on files. Without the corpora (a plain clone) the
//! tests skip, saying so, unless `VTRACE_REQUIRE_CORPORA=1`.

mod common;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Read;
use std::net::Ipv6Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Capture files of a corpus folder (not the oracle or tcpdump output files beside them).
fn captures(corpora: &Path, dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpora.join(dir))
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| {
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        p.is_file() && !name.ends_with(".tsv") && !name.ends_with(".out") && !name.ends_with(".md")
    });
    files.sort();
    files
}

/// Where each oracle column is found in our JSON: alternatives, first present wins.
/// (An ICMP error has no identifier of its own: TShark's first `icmp.ident` is the quoted echo's.)
const FIELDS: &[(&str, &[&str])] = &[
    ("ifid", &["ifid"]),
    ("epoch_ns", &["t_ns"]),
    ("eth_src", &["eth_src"]),
    ("eth_dst", &["eth_dst"]),
    ("arp_op", &["arp/op"]),
    ("arp_spa", &["arp/spa"]),
    ("arp_sha", &["arp/sha"]),
    ("arp_tpa", &["arp/tpa"]),
    ("arp_tha", &["arp/tha"]),
    ("ip_src", &["ip/src"]),
    ("ip_dst", &["ip/dst"]),
    ("ip_id", &["ip/id"]),
    ("icmp_type", &["icmp/type"]),
    ("icmp_code", &["icmp/code"]),
    ("icmp_id", &["icmp/id", "icmp/quoted/echo_id"]),
    ("icmp_seq", &["icmp/seq", "icmp/quoted/echo_seq"]),
    ("icmpv6_type", &["icmpv6/type"]),
    ("icmpv6_code", &["icmpv6/code"]),
    ("ipv6_src", &["ipv6/src"]),
    ("ipv6_dst", &["ipv6/dst"]),
    ("icmpv6_echo_id", &["icmpv6/id", "icmpv6/quoted/echo_id"]),
    ("icmpv6_echo_seq", &["icmpv6/seq", "icmpv6/quoted/echo_seq"]),
    ("sll_src", &["sll_src"]),
    ("cap_len", &["caplen"]),
    ("len", &["len"]),
];

fn lookup<'v>(obj: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('/').try_fold(obj, |v, key| match key.parse::<usize>() {
        Ok(i) => v.get(i),
        Err(_) => v.get(key),
    })
}

/// Numbers in decimal or 0x-hex; addresses as text (IPv6 compared as addresses).
fn same(oracle: &str, ours: &Value) -> bool {
    let number = |s: &str| match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse::<u64>().ok(),
    };
    match ours {
        Value::Number(n) => number(oracle).is_some_and(|o| n.as_u64() == Some(o)),
        Value::String(s) => {
            s.eq_ignore_ascii_case(oracle)
                || matches!((s.parse::<Ipv6Addr>(), oracle.parse::<Ipv6Addr>()), (Ok(a), Ok(b)) if a == b)
        }
        _ => false,
    }
}

/// Run `vtrace ARGS… FILE` with a deadline; (exit code or None for a signal, stdout, stderr).
fn run_vtrace(args: &[&str], file: &Path, deadline: Duration) -> (Option<i32>, String, String) {
    let mut child = match Command::new(env!("CARGO_BIN_EXE_vtrace"))
        .args(args)
        .arg(file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => return (None, String::new(), format!("could not run vtrace: {e}")),
    };
    // Drain stdout on a thread so a large listing cannot block the child.
    let mut stdout_pipe = child.stdout.take();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(p) = stdout_pipe.as_mut() {
            let _ = p.read_to_string(&mut s);
        }
        s
    });
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if start.elapsed() < deadline => std::thread::sleep(Duration::from_millis(5)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut stderr);
    }
    let stdout = reader.join().unwrap_or_default();
    match status {
        Some(s) => (s.code(), stdout, stderr),
        None => (None, stdout, format!("timed out after {deadline:?}; {stderr}")),
    }
}

/// Files whose oracle cannot be met, with the reason. Empty: every file is compared.
const EXCUSED: &[(&str, &str)] = &[];

#[test]
fn every_oracle_field_matches_for_every_well_formed_capture() {
    let Some(corpora) = common::corpora() else { return };
    let files = captures(&corpora, "wf");
    assert!(files.len() >= 50, "expected the 50 wf/ captures, found {}", files.len());
    let mut mismatches = Vec::new();
    let mut compared = 0usize;
    for file in &files {
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if let Some((_, why)) = EXCUSED.iter().find(|(f, _)| *f == name) {
            eprintln!("skipping {name}: {why}");
            continue;
        }
        let oracle_path = file.with_file_name(format!("{name}.tshark.tsv"));
        let Ok(oracle) = std::fs::read_to_string(&oracle_path) else {
            mismatches.push(format!("{name}: no oracle {}", oracle_path.display()));
            continue;
        };
        let (code, stdout, stderr) =
            run_vtrace(&["analyze", "--packets", "--json"], file, Duration::from_secs(30));
        if code != Some(0) {
            mismatches.push(format!("{name}: exit {code:?}: {}", stderr.trim()));
        }
        let mut ours: HashMap<u64, Value> = HashMap::new();
        for line in stdout.lines() {
            match serde_json::from_str::<Value>(line) {
                Ok(v) => {
                    let frame = v.get("frame").and_then(Value::as_u64).unwrap_or_default();
                    ours.insert(frame, v);
                }
                Err(e) => mismatches.push(format!("{name}: bad JSON line {line:?}: {e}")),
            }
        }
        let mut lines = oracle.lines();
        let header: Vec<&str> =
            lines.next().unwrap_or_default().trim_start_matches('#').split('\t').collect();
        assert_eq!(header.len(), 28, "{name}: oracle header has {} columns", header.len());
        for line in lines.filter(|l| !l.is_empty()) {
            let cols: Vec<&str> = line.split('\t').collect();
            let column = |name: &str| {
                header.iter().position(|h| *h == name).and_then(|i| cols.get(i)).copied()
            };
            let frame: u64 = column("frame").and_then(|f| f.parse().ok()).unwrap_or_default();
            let Some(json) = ours.get(&frame) else {
                mismatches.push(format!("{name} frame {frame}: missing from our listing"));
                continue;
            };
            // TShark's `vlan.id` holds 802.1Q tags only (an 802.1ad service tag is
            // `ieee8021ad.id`), while our `vlan` lists every tag, outermost first: the oracle's
            // tags must be ours, in order, with only service tags (if any) in between.
            if let Some(want) = column("vlan_id").filter(|v| !v.is_empty()) {
                compared += 1;
                let tags: Vec<u64> = json
                    .get("vlan")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_u64).collect())
                    .unwrap_or_default();
                let mut ours_left = tags.iter();
                let in_order =
                    want.split(',').all(|w| ours_left.any(|t| Some(*t) == w.parse::<u64>().ok()));
                if !in_order {
                    mismatches.push(format!(
                        "{name} frame {frame} vlan_id: oracle {want}, ours {tags:?}"
                    ));
                }
            }
            for (field, paths) in FIELDS {
                let Some(want) = column(field).and_then(|v| v.split(',').next()) else {
                    continue;
                };
                if want.is_empty() {
                    continue;
                }
                compared += 1;
                let got = paths.iter().find_map(|p| lookup(json, p));
                if !got.is_some_and(|g| same(want, g)) {
                    let got = got.map_or_else(|| "(absent)".to_owned(), Value::to_string);
                    mismatches
                        .push(format!("{name} frame {frame} {field}: oracle {want}, ours {got}"));
                }
            }
        }
    }
    let mut report = String::new();
    for m in mismatches.iter().take(200) {
        let _ = writeln!(report, "  {m}");
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatches against the tshark oracle ({compared} fields compared):\n{report}",
        mismatches.len()
    );
    assert!(compared > 20_000, "only {compared} oracle fields compared");
}

#[test]
fn malformed_captures_end_cleanly_or_with_a_located_error() {
    let Some(corpora) = common::corpora() else { return };
    let files = captures(&corpora, "mal");
    assert!(files.len() >= 140, "expected the mal/ captures, found {}", files.len());
    let mut problems = Vec::new();
    for file in &files {
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let (code, _, stderr) =
            run_vtrace(&["analyze", "--packets", "--json"], file, Duration::from_secs(10));
        match code {
            _ if stderr.contains("panicked") => problems.push(format!("{name}: panic: {stderr}")),
            Some(0) => {}
            Some(2) if stderr.contains(&name) && stderr.contains("offset") => {}
            Some(2) => problems.push(format!("{name}: error without file and offset: {stderr}")),
            other => problems.push(format!("{name}: exit {other:?}: {}", stderr.trim())),
        }
    }
    assert!(problems.is_empty(), "{} bad endings:\n  {}", problems.len(), problems.join("\n  "));
}
