//! End to end: the real binary's `analyze --tui` on the veth-down fixture, in a detached tmux
//! session of fixed size (a private tmux server, removed afterwards). The ladder shows the five
//! point ids and the ✗ on the segment after host/docker0; `w` writes the exchanges shown, each
//! frame commented with its hop (read by tshark); `q` returns to the shell with the
//! terminal out of raw mode. And a view whose terminal goes away ends as if `q` had been typed.
//! Without tmux: a failure under CI, else skipped with a notice.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

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
    // Each frame carries vtrace's analysis: its exchange, leg and hop.
    let comments = written.first().and_then(|f| {
        let o = Command::new("tshark")
            .arg("-r")
            .arg(f)
            .args(["-T", "fields", "-e", "frame.comment"])
            .output();
        common::require("tshark (apt-get install tshark)", o.is_ok())
            .then(|| o.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default())
    });
    let _ = std::fs::remove_dir_all(&out);
    if let Some(comments) = comments {
        assert!(comments.lines().all(|l| l.contains(" hop ")), "{comments}");
        assert!(comments.contains("request hop 3/5 +"), "{comments}");
    }
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

/// Process `pid` while it runs, identified by its start time too (a pid can be reused); killed
/// when dropped, so that a failing test leaves nothing behind.
struct Running {
    pid: i32,
    start: Option<String>,
}

impl Running {
    fn new(pid: i32) -> Running {
        Running { pid, start: start_time(pid) }
    }

    fn alive(&self) -> bool {
        self.start.is_some() && start_time(self.pid) == self.start
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.alive() {
            let pid = nix::unistd::Pid::from_raw(self.pid);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        }
    }
}

/// The start time of process `pid` (field 22 of /proc/PID/stat), or `None` when it has ended
/// (gone, or a zombie).
fn start_time(pid: i32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (in parentheses): state is the first, start time the 20th.
    let (_, rest) = stat.rsplit_once(") ")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    match fields.first() {
        Some(&"Z" | &"X") | None => None,
        Some(_) => fields.get(19).map(|s| (*s).to_owned()),
    }
}

#[test]
fn analyze_tui_ends_like_q_when_its_terminal_goes_away() {
    let Some(tmux) = Tmux::start("tui-gone", 100, 30) else { return };
    if Command::new("setsid").arg("--version").output().is_err() {
        eprintln!("SKIPPED: setsid is not installed (util-linux)");
        return;
    }
    let file =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/healthy/1-nginx-1_eth0.pcap");
    // Removed when the test ends, pass or fail.
    let tmp = tempfile::Builder::new().prefix("vtrace-tmux-gone-").tempdir().expect("temp dir");
    let dir = tmp.path();
    let (pid_file, rc_file, err_file) = (dir.join("pid"), dir.join("rc"), dir.join("stderr"));
    // vtrace runs in a session of its own (setsid), so the hang-up of the pane's terminal sends
    // it no SIGHUP: a terminal where read(2) returns 0 and write(2) fails with EIO is all it
    // sees. The shell around it keeps its exit code (written aside and renamed: the file
    // appears with its content, never empty).
    let script = dir.join("run.sh");
    std::fs::write(
        &script,
        format!(
            "sh -c 'echo $$ > \"$0\"; exec \"$@\"' '{}' '{}' analyze --tui '{}' 2>'{}'\n\
             echo $? > '{rc}.tmp' && mv '{rc}.tmp' '{rc}'\n",
            pid_file.display(),
            env!("CARGO_BIN_EXE_vtrace"),
            file.display(),
            err_file.display(),
            rc = rc_file.display()
        ),
    )
    .expect("script");
    let script = script.display().to_string();
    let started = tmux.cmd(&[
        "new-session",
        "-d",
        "-s",
        "gone",
        "-x",
        "100",
        "-y",
        "30",
        "env",
        "TERM=xterm-256color",
        "setsid",
        "-w",
        "sh",
        &script,
    ]);
    assert!(started.status.success(), "tmux new-session: {started:?}");
    let pane = || {
        let out = tmux.cmd(&["capture-pane", "-p", "-t", "gone"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let give_up = Instant::now() + Duration::from_secs(20);
    while !pane().contains("verdict") {
        assert!(Instant::now() < give_up, "the view never showed:\n{}", pane());
        std::thread::sleep(Duration::from_millis(100));
    }
    let pid = std::fs::read_to_string(&pid_file).ok().and_then(|p| p.trim().parse().ok());
    let vtrace = Running::new(pid.expect("the pid of vtrace"));
    assert!(vtrace.alive(), "vtrace ended before its terminal went away");

    let killed = tmux.cmd(&["kill-session", "-t", "gone"]);
    assert!(killed.status.success(), "tmux kill-session: {killed:?}");
    // A generous give-up, not a measure: the view notices within a tick.
    let give_up = Instant::now() + Duration::from_secs(10);
    while (vtrace.alive() || !rc_file.exists()) && Instant::now() < give_up {
        std::thread::sleep(Duration::from_millis(50));
    }
    let alive = vtrace.alive();
    drop(vtrace);
    let rc = std::fs::read_to_string(&rc_file).unwrap_or_default();
    let stderr = std::fs::read_to_string(&err_file).unwrap_or_default();
    assert!(!alive, "vtrace still runs 10 s after its terminal went away");
    // As after `q`: the exit code of the verdict (reachable), no error, no panic.
    assert_eq!(rc.trim(), "0", "exit code; stderr: {stderr}");
    assert!(stderr.is_empty(), "stderr: {stderr}");
}
