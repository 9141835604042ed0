//! End to end: the real binary's `analyze --tui` on the veth-down fixture, in a detached tmux
//! session of fixed size (a private tmux server, removed afterwards). The ladder shows the five
//! point ids and the ✗ on the segment after host/docker0; `q` returns to the shell with the
//! terminal out of raw mode. Without tmux: a failure under CI, else skipped with a notice.

mod common;

use std::path::{Path, PathBuf};

use common::Tmux;

const IDS: [&str; 5] =
    ["nginx-1/eth0", "host/veth4d1c130", "host/docker0", "host/vetha9356e9", "nginx-2/eth0"];

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
    let Some(tmux) = Tmux::start("tui-e2e", 120, 40) else { return };
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/veth-down");
    let vtrace = env!("CARGO_BIN_EXE_vtrace");
    // `w` writes into the current directory: a private one.
    let out = std::env::temp_dir().join(format!("vtrace-tmux-w-{}", std::process::id()));
    std::fs::create_dir_all(&out).expect("out dir");
    let cmd = format!("cd {} && {vtrace} analyze --tui {}", out.display(), fixture_args(&dir));
    tmux.send(&[&cmd, "Enter"]);

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

    // `w`: the exchanges shown (all four) go to a pcapng named on the status line.
    tmux.send(&["w"]);
    let pane = tmux.wait_for("the file written", |p| p.contains("wrote "));
    let status = pane.lines().find(|l| l.contains("wrote ")).unwrap_or_default().trim().to_owned();
    let written: Vec<PathBuf> = std::fs::read_dir(&out)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    let frames = written.first().map_or(0, |f| {
        let mut r = vtrace::sys::pcapfile::CaptureReader::open(f).expect("open written file");
        std::iter::from_fn(|| r.next_frame().ok().flatten().map(|_| ())).count()
    });
    let _ = std::fs::remove_dir_all(&out);
    assert_eq!(written.len(), 1, "one file written: {written:?}\n{pane}");
    let name = written[0].file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
    assert!(status.contains(&name), "status line names {name}: {status}");
    let said = status.split("wrote ").nth(1).and_then(|r| r.split(' ').next());
    assert_eq!(said, Some(frames.to_string().as_str()), "{status}");
    assert!(frames >= 5, "{frames} frames written");

    tmux.send(&["q"]);
    let (rc, cooked) = tmux.exit_and_cooked();
    assert_eq!(rc, "1", "exit code 1 (not reachable) expected");
    assert!(cooked, "terminal left in raw mode");
}
