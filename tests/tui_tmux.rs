//! End to end: the real binary's `analyze --tui` on the veth-down fixture, in a detached tmux
//! session of fixed size (a private tmux server, removed afterwards). The ladder shows the five
//! point ids and the ✗ on the segment after host/docker0; `q` returns to the shell with the
//! terminal out of raw mode. Skipped, with a message, when tmux is not installed.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const IDS: [&str; 5] =
    ["nginx-1/eth0", "host/veth4d1c130", "host/docker0", "host/vetha9356e9", "nginx-2/eth0"];

/// A private tmux server; killed on drop, whatever happened.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn cmd(&self, args: &[&str]) -> Output {
        Command::new("tmux").args(["-L", &self.socket]).args(args).output().expect("run tmux")
    }

    fn pane(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-t", "e2e"]).stdout).into_owned()
    }

    /// The pane once `ok` holds for it (polled; fails after 20 s).
    fn wait_for(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let pane = self.pane();
            if ok(&pane) {
                return pane;
            }
            assert!(start.elapsed() < Duration::from_secs(20), "waiting for {what}:\n{pane}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn send(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "e2e"];
        args.extend_from_slice(keys);
        assert!(self.cmd(&args).status.success(), "tmux send-keys {keys:?}");
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

fn fixture_args(dir: &Path) -> String {
    let points = std::fs::read_to_string(dir.join("points")).expect("points file");
    points
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (label, file) = l.split_once('=').expect("LABEL=FILE");
            format!("--point {label}={}", dir.join(file).display())
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Display column of `needle` in `line`.
fn column(line: &str, needle: &str) -> Option<usize> {
    line.find(needle).map(|b| line[..b].chars().count())
}

#[test]
fn analyze_tui_in_tmux_shows_the_loss_and_restores_the_terminal() {
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!("SKIPPED: tmux is not installed (apt-get install tmux)");
        return;
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/veth-down");
    let out = std::env::temp_dir().join(format!("vtrace-tui-e2e-{}.txt", std::process::id()));
    let tmux = Tmux { socket: format!("vtrace-e2e-{}", std::process::id()) };
    let started = tmux.cmd(&[
        "new-session",
        "-d",
        "-s",
        "e2e",
        "-x",
        "120",
        "-y",
        "40",
        "env",
        "PS1=$ ",
        "TERM=xterm-256color",
        "bash",
        "--norc",
        "--noprofile",
    ]);
    assert!(started.status.success(), "tmux new-session: {started:?}");
    let vtrace = env!("CARGO_BIN_EXE_vtrace");
    tmux.send(&[&format!("{vtrace} analyze --tui {}", fixture_args(&dir)), "Enter"]);

    let pane = tmux.wait_for("the ladder", |p| p.contains("request") && p.contains("✗"));
    if std::env::var_os("VTRACE_E2E_SHOW").is_some() {
        eprintln!("{pane}");
    }
    let ids = pane
        .lines()
        .find(|l| IDS.iter().all(|id| l.contains(id)))
        .unwrap_or_else(|| panic!("no line with the five point ids:\n{pane}"));
    let request = pane
        .lines()
        .find(|l| l.trim_start_matches('│').starts_with("request"))
        .unwrap_or_else(|| panic!("no request leg:\n{pane}"));
    let (docker0, veth) = (column(ids, "host/docker0"), column(ids, "host/vetha9356e9"));
    let cross = column(request, "✗");
    assert!(
        matches!((docker0, cross, veth), (Some(a), Some(x), Some(b)) if a < x && x < b),
        "✗ at {cross:?}, not between host/docker0 {docker0:?} and host/vetha9356e9 {veth:?}:\n{pane}"
    );

    tmux.send(&["q"]);
    tmux.send(&[&format!("echo rc=$?; stty -a > {}; echo stty-done", out.display()), "Enter"]);
    let pane = tmux.wait_for("the shell after q", |p| p.lines().any(|l| l.trim() == "stty-done"));
    let stty = std::fs::read_to_string(&out).unwrap_or_default();
    let _ = std::fs::remove_file(&out);
    assert!(pane.contains("rc=1"), "exit code 1 (not reachable) expected:\n{pane}");
    let flags: Vec<&str> = stty.split([' ', ';', '\n']).collect();
    for flag in ["icanon", "echo", "isig"] {
        assert!(flags.contains(&flag), "terminal left without {flag} (raw mode):\n{stty}");
    }
}
