//! `vtrace demo` end to end (root): the lab is built, the ping traced across the five points of
//! the classic example, and the lab removed afterwards — as text, and in the TUI driven in tmux
//! where `q` ends it with the terminal restored.

#![cfg(feature = "root-tests")]

mod common;

use std::process::Command;

use serde_json::Value;

use common::Tmux;

const VTRACE: &str = env!("CARGO_BIN_EXE_vtrace");

/// Namespaces the demo may create (with or without its fallback prefix).
fn demo_namespaces() -> Vec<String> {
    let out = Command::new("ip").args(["netns", "list"]).output().expect("ip netns list");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| {
            let n = n.strip_prefix("vtdemo-").unwrap_or(n);
            ["nginx-1", "nginx-2", "vtrace-host"].contains(&n)
        })
        .map(str::to_owned)
        .collect()
}

/// The five point ids of the classic path: nginx-1/eth0, vtrace-host/vethX,
/// vtrace-host/docker0, vtrace-host/vethY, nginx-2/eth0 (with the `vtdemo-` prefix when the
/// classic names were taken).
fn assert_classic_path(ids: &[&str]) {
    let strip = |s: &str| s.strip_prefix("vtdemo-").unwrap_or(s).to_owned();
    let ids: Vec<String> = ids.iter().map(|s| strip(s)).collect();
    assert_eq!(ids.len(), 5, "{ids:?}");
    assert_eq!(
        (ids[0].as_str(), ids[2].as_str(), ids[4].as_str()),
        ("nginx-1/eth0", "vtrace-host/docker0", "nginx-2/eth0"),
        "{ids:?}"
    );
    assert!(
        ids[1].starts_with("vtrace-host/veth") && ids[3].starts_with("vtrace-host/veth"),
        "{ids:?}"
    );
}

#[test]
fn demo_traces_the_classic_path_and_removes_its_lab() {
    let before = demo_namespaces();
    let out = Command::new(VTRACE).args(["demo", "--json", "-c", "2"]).output().expect("demo");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(report["verdict"]["cause"], "ok");
    assert_eq!(report["verdict"]["received"], 2);
    let ids: Vec<&str> = report["points"]
        .as_array()
        .expect("points")
        .iter()
        .filter_map(|p| p["id"].as_str())
        .collect();
    assert_classic_path(&ids);
    let kinds: Vec<&str> = report["exchanges"]
        .as_array()
        .expect("exchanges")
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["arp", "icmp-echo", "icmp-echo"], "--fresh-arp traces the ARP exchange");
    assert_eq!(demo_namespaces(), before, "the demo lab was not removed");

    // The same in the TUI: five points in the ladder, `w` writes the frames of the three
    // exchanges, `q` quits, the lab is gone.
    let Some(tmux) = Tmux::start("demo", 120, 40) else { return };
    let dir = std::env::temp_dir().join(format!("vtrace-demo-w-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    tmux.send(&[&format!("cd {} && {VTRACE} demo -c 2", dir.display()), "Enter"]);
    let pane = tmux.wait_for("the verdict", |p| p.contains("verdict reachable"));
    let ladder = pane
        .lines()
        .find(|l| {
            l.contains("nginx-1/eth0")
                && l.contains("vtrace-host/docker0")
                && l.contains("nginx-2/eth0")
        })
        .unwrap_or_else(|| panic!("no ladder header with the points:\n{pane}"));
    assert!(ladder.matches("vtrace-host/veth").count() == 2, "two host veths in {ladder:?}");
    tmux.send(&["w"]);
    let pane = tmux.wait_for("the file written", |p| p.contains("wrote "));
    let files: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    let mut per_point = [0usize; 5];
    let mut names = Vec::new();
    if let Some(f) = files.first() {
        let mut r = vtrace::sys::pcapfile::CaptureReader::open(f).expect("open the written file");
        while let Some(frame) = r.next_frame().expect("read back") {
            per_point[frame.ifid as usize] += 1;
        }
        names = r.interfaces().iter().filter_map(|i| i.name.clone()).collect();
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(files.len(), 1, "{files:?}\n{pane}");
    assert!(pane.contains("wrote 30 frames of 3 exchanges to"), "{pane}");
    // ARP request and reply, two echo requests and two replies on each of the five points.
    assert_eq!(per_point, [6; 5]);
    assert_classic_path(&names.iter().map(String::as_str).collect::<Vec<_>>());
    tmux.send(&["q"]);
    let (rc, cooked) = tmux.exit_and_cooked();
    assert_eq!(rc, "0");
    assert!(cooked, "terminal left in raw mode");
    assert_eq!(demo_namespaces(), before, "the demo lab was not removed after q");

    // Interrupted instead of quit: Ctrl-C in the view, then SIGTERM from outside. Each time the
    // terminal is restored and the lab removed.
    for how in ["SIGTERM", "Ctrl-C"] {
        tmux.send(&[&format!("clear; {VTRACE} demo -c 100"), "Enter"]);
        tmux.wait_for("the view", |p| p.contains("nginx-1/eth0") && p.contains("echoes"));
        if how == "Ctrl-C" {
            tmux.send(&["C-c"]);
        } else {
            let shell = tmux.cmd(&["display", "-p", "-t", "e2e", "#{pane_pid}"]);
            let shell = String::from_utf8_lossy(&shell.stdout).trim().to_owned();
            let child = Command::new("pgrep").args(["-P", &shell]).output().expect("pgrep");
            let pid = String::from_utf8_lossy(&child.stdout).trim().to_owned();
            let pid: i32 = pid.parse().unwrap_or_else(|_| panic!("no demo process under {shell}"));
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        tmux.wait_for("the shell back", |p| {
            p.lines().last().is_some_and(|_| !p.contains("echoes"))
        });
        let (_, cooked) = tmux.exit_and_cooked();
        assert!(cooked, "terminal left in raw mode after {how}");
        assert_eq!(demo_namespaces(), before, "the demo lab was not removed after {how}");
    }
}
