//! Helpers shared by integration tests (each test file that needs them says `mod common;`):
//! preconditions ([`require`], [`corpora`], [`test_seed`]), running programs, the lab fixture
//! of the root tests ([`Lab`]) and a private tmux server ([`Tmux`]).
//! The peak memory of a process, read by the test itself: [`follow_to_exit`] (`peak.rs`).

#![allow(dead_code)]

mod lab;
mod peak;
mod require;

#[allow(unused_imports)]
pub use lab::{Lab, link_exists};
#[allow(unused_imports)]
pub use peak::{Followed, Gate, Mark, follow_to_exit, sh_quote, vm_hwm_kb};
#[allow(unused_imports)] // each test file uses some of them
pub use require::{corpora, in_ci, installed, notice, require, test_seed};

use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// The point ids of a journey of a JSON report, in hop order.
pub fn hops(journey: &serde_json::Value) -> Vec<String> {
    journey["hops"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|h| h["point"].as_str().map(str::to_owned))
        .collect()
}

/// `program ARGS…` run to completion (a panic when it cannot start).
pub fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program).args(args).output().unwrap_or_else(|e| panic!("running {program}: {e}"))
}

/// Exit status, stdout and stderr of a finished command, for assertion messages.
pub fn describe(out: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Asserts that a command succeeded, showing its output otherwise.
pub fn assert_ok(out: &Output, what: &str) {
    assert!(out.status.success(), "{what} failed: {}", describe(out));
}

/// A private tmux server with one session `e2e` running a plain bash at a fixed size; killed on
/// drop, whatever happened.
pub struct Tmux {
    socket: String,
}

impl Tmux {
    /// Start the server; without tmux a failure under CI, else `None` after a notice.
    pub fn start(name: &str, width: u16, height: u16) -> Option<Tmux> {
        if !require("tmux (apt-get install tmux)", installed("tmux", "-V")) {
            return None;
        }
        let tmux = Tmux { socket: format!("vtrace-{name}-{}", std::process::id()) };
        let (w, h) = (width.to_string(), height.to_string());
        let started = tmux.cmd(&[
            "new-session",
            "-d",
            "-s",
            "e2e",
            "-x",
            &w,
            "-y",
            &h,
            "env",
            "PS1=$ ",
            "TERM=xterm-256color",
            "bash",
            "--norc",
            "--noprofile",
        ]);
        assert!(started.status.success(), "tmux new-session: {started:?}");
        Some(tmux)
    }

    pub fn cmd(&self, args: &[&str]) -> Output {
        Command::new("tmux").args(["-L", &self.socket]).args(args).output().expect("run tmux")
    }

    pub fn pane(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-t", "e2e"]).stdout).into_owned()
    }

    /// The pane once `ok` holds for it (polled; fails after 20 s).
    pub fn wait_for(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
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

    pub fn send(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "e2e"];
        args.extend_from_slice(keys);
        assert!(self.cmd(&args).status.success(), "tmux send-keys {keys:?}");
    }

    /// After the program in the pane returned: its exit code and whether the terminal is back
    /// in cooked mode (`icanon echo isig` in `stty -a`).
    pub fn exit_and_cooked(&self) -> (String, bool) {
        let out = std::env::temp_dir().join(format!("{}-stty.txt", self.socket));
        // The shell's prompt alone on the last line: the program is gone (keys typed while it
        // was still leaving could be read by it, or discarded when it restored the terminal).
        self.wait_for("the shell's prompt", |p| {
            p.lines().rev().find(|l| !l.trim().is_empty()).is_some_and(|l| l.trim() == "$")
        });
        self.send(&[&format!("echo rc=$?; stty -a > {}; echo stty-done", out.display()), "Enter"]);
        let pane = self.wait_for("the shell", |p| p.lines().any(|l| l.trim() == "stty-done"));
        let stty = std::fs::read_to_string(&out).unwrap_or_default();
        let _ = std::fs::remove_file(&out);
        let rc =
            pane.lines().rev().find_map(|l| l.trim().strip_prefix("rc=")).unwrap_or("?").to_owned();
        let flags: Vec<&str> = stty.split([' ', ';', '\n']).collect();
        (rc, ["icanon", "echo", "isig"].iter().all(|f| flags.contains(f)))
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}
