//! Each recorded lab scenario under fixtures/ (one tcpdump capture per point, see
//! fixtures/README.md) analysed by the real binary, `vtrace analyze --point LABEL=FILE… --json`,
//! and compared with what was made outside vtrace when it was recorded:
//!
//! - TShark's reading of every capture (`CAPTURE.tshark.tsv`): every frame is one hop of one
//!   journey, at its point and time to the nanosecond, in the exchange of its ICMP identifier and
//!   sequence; each point's `captured` count;
//! - expect.json, derived from those files by fixtures/derive-expect.py: the exchanges, every
//!   journey's points in order, the rtt, and the verdict (cause, segment, sent, received,
//!   reachable, causes with segments and counts);
//! - fault.json, what fixtures/record.sh did (the fault's steps) and what that means for the
//!   verdict;
//!
//! plus the exit status (1 when any probe was lost) and the text report's verdict line.

mod fixture_oracle;

use std::path::{Path, PathBuf};
use std::process::Command;

use fixture_oracle::{
    check_expect, check_frames, check_means, exit_code_for, oracle_of_points, read_json,
    verdict_line,
};
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// The labels and files of the scenario's `points` file, in path order.
fn points(dir: &Path) -> Vec<(String, PathBuf)> {
    let points = std::fs::read_to_string(dir.join("points")).expect("points file");
    points
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (label, file) = l.split_once('=').expect("LABEL=FILE");
            (label.to_owned(), dir.join(file))
        })
        .collect()
}

fn analyze(dir: &Path, extra: &[&str]) -> (Option<i32>, String, String) {
    let args = points(dir)
        .into_iter()
        .flat_map(|(label, file)| ["--point".to_owned(), format!("{label}={}", file.display())]);
    let out = Command::new(env!("CARGO_BIN_EXE_vtrace"))
        .arg("analyze")
        .args(extra)
        .args(args)
        .output()
        .expect("run vtrace");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn check(name: &str) {
    let dir = fixtures().join(name);
    let expect = read_json(&dir.join("expect.json"));
    let fault = read_json(&dir.join("fault.json"));
    let (code, stdout, stderr) = analyze(&dir, &["--json"]);
    let report: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{name}: report is not JSON ({e}): {stdout}\n{stderr}"));

    // Every point of the path is reported, in path order.
    let labels: Vec<String> = points(&dir).into_iter().map(|(label, _)| label).collect();
    assert_eq!(fixture_oracle::point_ids(&report), labels, "{name}: points in path order");

    check_frames(name, &report, &oracle_of_points(&dir));
    check_expect(name, &report, &expect);
    check_means(name, &report["verdict"], &fault);
    assert_eq!(code, Some(exit_code_for(&expect)), "{name}: exit code; stderr: {stderr}");

    // The text report says the same verdict.
    let (code, text, _) = analyze(&dir, &[]);
    assert_eq!(code, Some(exit_code_for(&expect)), "{name}: exit code of the text report");
    let line = verdict_line(&expect);
    assert!(text.contains(&line), "{name}: text report has the line {line:?}:\n{text}");
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

/// Echo requests 1 and 3 of 4 dropped in the target's input hook: reachable, 2 of 4 received,
/// one way of losing them (no-reply at the target, 2).
#[test]
fn partial_loss() {
    check("partial-loss");
}

/// Every echo reply dropped in the bridge's forward hook: the replies pass the target's eth0, its
/// host veth and the bridge device, never the source's host veth.
#[test]
fn reply_drop() {
    check("reply-drop");
}

/// Request 1 dropped at the target, replies 2 and 3 dropped on the bridge, 4 answered: reachable,
/// 1 of 4 received, two causes, the replies' (2) first.
#[test]
fn two_faults() {
    check("two-faults");
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

/// `identify` (what the capture and reading threads compute of every frame) agrees with the
/// whole decode on every frame of every fixture, whether its shortcut applies (IPv4 ICMP and
/// TCP in Ethernet) or not (ARP, VXLAN on the overlay's underlay, cooked captures).
#[test]
fn every_fixture_frame_is_identified_as_its_whole_decode_says() {
    use vtrace::core::decode::{decode, identify};
    use vtrace::core::packet::PacketId;
    use vtrace::sys::pcapfile::CaptureReader;
    let mut frames = 0;
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .expect("fixtures")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for dir in dirs {
        for entry in std::fs::read_dir(&dir).expect("fixture directory").flatten() {
            let path = entry.path();
            if !path.extension().is_some_and(|x| x == "pcap" || x == "pcapng") {
                continue;
            }
            let mut reader = CaptureReader::open(&path).expect("fixture capture");
            while let Ok(Some(frame)) = reader.next_frame() {
                assert_eq!(
                    identify(&frame),
                    PacketId::of(&decode(&frame)),
                    "{} frame {}",
                    path.display(),
                    frames
                );
                frames += 1;
            }
        }
    }
    assert!(frames > 400, "only {frames} frames");
}
