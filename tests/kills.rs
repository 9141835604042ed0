//! vtrace interrupted at random moments leaves nothing behind.
//!
//! 50 runs of `vtrace ping --write` (netfilter tracing on, the default), `vtrace watch --no-tui
//! --write` and `vtrace lab up` (each on a lab of its own prefix), each stopped after a random
//! delay with SIGINT, SIGTERM or SIGKILL. After SIGKILL `vtrace cleanup` runs (and `lab down`
//! for a lab). Then: no namespace of the test's prefix, no new veth in the root namespace, no
//! nft table and no tracefs instance of any of the killed processes, and every pcapng asked for
//! (except after SIGKILL) reads back completely with `vtrace analyze`, tcpdump and tshark;
//! after SIGKILL, cleanup has recovered the capture in progress under the file's name.
//!
//! The schedule comes from a seed, printed first: `VTRACE_TEST_SEED` when set, else the clock;
//! rerun one with `VTRACE_TEST_SEED=N`.
//! Run as root: `cargo test --features root-tests --test kills -- --nocapture`.
#![cfg(feature = "root-tests")]

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use vtrace::sys::dropmon::instance_pid;
use vtrace::sys::nft::table_pid;

use common::{require, test_seed};

const BIN: &str = env!("CARGO_BIN_EXE_vtrace");
const RUNS: usize = 50;

/// xorshift64*: the schedule must be reproducible from the printed seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn run(cmd: &str, args: &[&str]) -> Output {
    Command::new(cmd).args(args).output().unwrap_or_else(|e| panic!("running {cmd}: {e}"))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The lab that ping and watch trace, a background pinger feeding watch, and a scratch
/// directory; everything removed on drop, including any lab a `lab up` run left.
struct Fixture {
    prefix: String,
    dir: PathBuf,
    pinger: Option<Child>,
    labs: Vec<String>,
}

impl Fixture {
    fn new() -> Fixture {
        let prefix = format!("k{}-", std::process::id());
        let dir = std::env::temp_dir().join(format!("vtrace-kills-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        let mut f = Fixture { prefix, dir, pinger: None, labs: Vec::new() };
        f.labs.push(f.prefix.clone());
        let out = run(BIN, &["lab", "up", "--prefix", &f.prefix]);
        assert!(out.status.success(), "lab up: {}", text(&out.stderr));
        let pinger = Command::new("ip")
            .args(["netns", "exec", &f.ns("nginx-1"), "ping", "-q", "-i", "0.2", "172.18.0.3"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting the background ping");
        f.pinger = Some(pinger);
        f
    }

    fn ns(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Some(mut p) = self.pinger.take() {
            let _ = p.kill();
            let _ = p.wait();
        }
        for lab in &self.labs {
            let _ = run(BIN, &["lab", "down", "--prefix", lab]);
        }
        let _ = run(BIN, &["cleanup"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn list_dir(dir: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default()
}

/// Tables `(namespace, family, name)` named vtrace* in the root namespace and every named one.
fn vtrace_tables() -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let mut namespaces = vec![None];
    namespaces.extend(list_dir("/run/netns").into_iter().map(Some));
    for ns in namespaces {
        let o = match &ns {
            Some(ns) => run("ip", &["netns", "exec", ns, "nft", "list", "tables"]),
            None => run("nft", &["list", "tables"]),
        };
        for line in text(&o.stdout).lines() {
            let mut w = line.split_whitespace();
            if let (Some("table"), Some(family), Some(name)) = (w.next(), w.next(), w.next())
                && name.starts_with("vtrace")
            {
                let label = ns.clone().unwrap_or_else(|| "root".into());
                out.push((label, family.to_owned(), name.to_owned()));
            }
        }
    }
    out
}

/// tracefs instances named vtrace*, in both places tracefs is found.
fn vtrace_instances() -> Vec<String> {
    ["/sys/kernel/tracing/instances", "/sys/kernel/debug/tracing/instances"]
        .iter()
        .flat_map(|d| list_dir(d))
        .filter(|n| n.starts_with("vtrace"))
        .collect()
}

fn root_veths() -> BTreeSet<String> {
    let o = run("ip", &["-o", "link", "show", "type", "veth"]);
    text(&o.stdout)
        .lines()
        .filter_map(|l| l.split(':').nth(1))
        .map(|n| n.trim().split('@').next().unwrap_or_default().to_owned())
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ping,
    Watch,
    LabUp,
}

/// Wait for `child` at most `limit`; SIGKILL it past that. True when it stopped by itself.
fn wait_for(child: &mut Child, limit: Duration) -> (bool, Option<i32>) {
    let start = Instant::now();
    loop {
        if let Ok(Some(st)) = child.try_wait() {
            return (true, st.code());
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let st = child.wait().ok();
            return (false, st.and_then(|s| s.code()));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A pcapng that must read back completely: analyze (no error), tcpdump and tshark (no
/// complaint of a cut-off or damaged file).
fn check_pcapng(path: &Path, what: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let p = path.to_str().unwrap_or_default();
    let o = run(BIN, &["analyze", "--packets", p]);
    if !matches!(o.status.code(), Some(0 | 1)) {
        problems.push(format!("{what}: vtrace analyze {p}: {}", text(&o.stderr)));
    }
    let o = run("tcpdump", &["-n", "-r", p]);
    let err = text(&o.stderr);
    if !o.status.success() || err.contains("truncated") || err.contains("bad") {
        problems.push(format!("{what}: tcpdump -r {p}: {err}"));
    }
    let o = run("tshark", &["-n", "-r", p]);
    let err = text(&o.stderr);
    if !o.status.success() || err.contains("cut short") || err.contains("appears to be damaged") {
        problems.push(format!("{what}: tshark -r {p}: {err}"));
    }
    problems
}

#[test]
fn fifty_runs_interrupted_at_random_leave_nothing_behind() {
    let seed = test_seed();
    // xorshift stays at 0 from 0.
    let mut rng = Rng(seed.max(1));
    // The runs trace with kernel drop reasons: without tracefs no instance is made, and the
    // checks that none is left behind are void.
    if let Err(e) = vtrace::sys::dropmon::ensure_tracefs() {
        require(&format!("tracefs for kernel drop reasons ({e})"), false);
    }
    let veths_before = root_veths();
    let mut fx = Fixture::new();
    let (n1, n2) = (fx.ns("nginx-1"), fx.ns("nginx-2"));
    let mut pids = BTreeSet::new();
    let mut problems = Vec::new();
    let mut files_checked = 0usize;
    let mut half_built = 0usize;
    let mut finished = 0usize;
    let start = Instant::now();

    for i in 0..RUNS {
        let kind = [Kind::Ping, Kind::Watch, Kind::LabUp][i % 3];
        let signal = [Signal::SIGINT, Signal::SIGTERM, Signal::SIGKILL][rng.below(3) as usize];
        let file = fx.dir.join(format!("run{i}.pcapng"));
        let file_s = file.to_string_lossy().into_owned();
        let lab = format!("k{}u{i}-", std::process::id());
        // Delays in µs, spread over the whole life of each command (measured: lab up ~30 ms,
        // ping -c 3 ~600 ms; watch runs until stopped).
        let (args, delay_us): (Vec<&str>, u64) = match kind {
            Kind::Ping => (
                vec!["ping", &n1, &n2, "-c", "3", "--no-tui", "--write", &file_s],
                rng.below(700_000),
            ),
            Kind::Watch => {
                (vec!["watch", &n1, &n2, "--no-tui", "--write", &file_s], rng.below(1_200_000))
            }
            Kind::LabUp => {
                fx.labs.push(lab.clone());
                (vec!["lab", "up", "--prefix", &lab], rng.below(35_000))
            }
        };
        let what = format!("run {i}: {args:?} {signal} after {delay_us} µs");
        let mut child = Command::new(BIN)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting vtrace");
        pids.insert(child.id());
        std::thread::sleep(Duration::from_micros(delay_us));
        let finished_first = matches!(child.try_wait(), Ok(Some(_)));
        if finished_first {
            finished += 1;
        } else {
            let _ = kill(Pid::from_raw(child.id() as i32), signal);
        }
        let (stopped, code) = wait_for(&mut child, Duration::from_secs(15));
        let mut stderr = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
        }
        let how = if finished_first { "finished before the signal" } else { "interrupted" };
        println!("{what}: {how}, exit {code:?}");
        if !stopped {
            problems.push(format!("{what}: still running 15 s later"));
        }
        if stderr.contains("panicked") {
            problems.push(format!("{what}: panicked: {stderr}"));
        }
        if signal == Signal::SIGKILL {
            let tmp = PathBuf::from(format!("{file_s}.tmp"));
            let captured = tmp.exists();
            let o = run(BIN, &["cleanup"]);
            if !o.status.success() {
                problems.push(format!("{what}: cleanup failed: {}", text(&o.stderr)));
            }
            // The capture of a killed --write is recovered under its name, never lost.
            if tmp.exists() {
                problems.push(format!("{what}: {} left after cleanup", tmp.display()));
            }
            if captured && !file.exists() {
                problems.push(format!("{what}: cleanup did not recover {}", file.display()));
            }
            if captured {
                println!("{what}: cleanup recovered the capture");
                let o = run(BIN, &["analyze", &file_s, "--json"]);
                if text(&o.stderr).contains("panicked") || o.status.code().is_none() {
                    problems.push(format!("{what}: analyze of the recovered capture: {o:?}"));
                }
            }
        } else if kind != Kind::LabUp && file.exists() {
            files_checked += 1;
            problems.extend(check_pcapng(&file, &what));
        } else if kind != Kind::LabUp && matches!(code, Some(0 | 1)) {
            // A run stopped before its captures started may write nothing; one that reports
            // a trace must have written its file.
            problems.push(format!("{what}: exit {code:?} but no {}", file.display()));
        }
        if kind == Kind::LabUp {
            let left: Vec<String> =
                list_dir("/run/netns").into_iter().filter(|n| n.starts_with(&lab)).collect();
            if signal != Signal::SIGKILL && !finished_first && !left.is_empty() {
                half_built += 1;
                println!("{what}: left {left:?} until lab down");
                // Interrupted before it finished, `lab up` removes what it made; a lab is left
                // only when the signal came after its last step (exit 0, the lab complete).
                if code != Some(0) {
                    problems
                        .push(format!("{what}: interrupted lab up (exit {code:?}) left {left:?}"));
                }
            }
            // `cleanup --labs` knows the lab (not run for real: it would remove every lab on
            // the machine, other tests' too).
            let o = run(BIN, &["cleanup", "--labs", "--dry-run"]);
            if !left.is_empty() && !text(&o.stdout).contains(&format!("would remove lab {lab:?}")) {
                problems
                    .push(format!("{what}: cleanup --labs does not list it: {}", text(&o.stdout)));
            }
            let o = run(BIN, &["lab", "down", "--prefix", &lab]);
            if !o.status.success() {
                problems.push(format!("{what}: lab down failed: {}", text(&o.stderr)));
            }
            let left: Vec<String> =
                list_dir("/run/netns").into_iter().filter(|n| n.starts_with(&lab)).collect();
            if !left.is_empty() {
                problems.push(format!("{what}: namespaces left after lab down: {left:?}"));
            }
            if Path::new(&format!("/run/vtrace/lab-{lab}.json")).exists() {
                problems.push(format!("{what}: lab state file left after lab down"));
            }
        }
        let ours = |pid: Option<u32>| pid.is_some_and(|p| p == child.id());
        for (ns, family, table) in vtrace_tables() {
            if ours(table_pid(&table)) {
                problems.push(format!("{what}: table {family} {table} left in {ns}"));
            }
        }
        for inst in vtrace_instances() {
            if ours(instance_pid(&inst)) {
                problems.push(format!("{what}: tracefs instance {inst} left"));
            }
        }
    }

    // Everything at the end, for every process the test started.
    let mine = |pid: Option<u32>| pid.is_some_and(|p| pids.contains(&p));
    for (ns, family, table) in vtrace_tables() {
        if mine(table_pid(&table)) || ns.starts_with(&fx.prefix) {
            problems.push(format!("at the end: table {family} {table} in {ns}"));
        }
    }
    for inst in vtrace_instances() {
        if mine(instance_pid(&inst)) {
            problems.push(format!("at the end: tracefs instance {inst}"));
        }
    }
    drop(fx.pinger.take().map(|mut p| {
        let _ = p.kill();
        p.wait()
    }));
    let prefix = format!("k{}", std::process::id());
    let labs = std::mem::take(&mut fx.labs);
    for lab in &labs {
        let _ = run(BIN, &["lab", "down", "--prefix", lab]);
    }
    let left: Vec<String> =
        list_dir("/run/netns").into_iter().filter(|n| n.starts_with(&prefix)).collect();
    if !left.is_empty() {
        problems.push(format!("at the end: namespaces {left:?}"));
    }
    let new_veths: Vec<String> = root_veths().difference(&veths_before).cloned().collect();
    if !new_veths.is_empty() {
        problems.push(format!("at the end: new veths in the root namespace {new_veths:?}"));
    }
    println!(
        "kills: {RUNS} runs in {:.1} s ({finished} finished before their signal), \
         {files_checked} pcapng files read back, {half_built} lab up runs completed before the \
         signal took effect",
        start.elapsed().as_secs_f64()
    );
    for p in &problems {
        println!("kills: PROBLEM {p}");
    }
    assert!(problems.is_empty(), "seed {seed}:\n{}", problems.join("\n"));
    assert!(files_checked >= 5, "seed {seed}: only {files_checked} pcapng files to check");
}

/// `watch` on a lab whose second container goes away mid-trace (its namespace deleted and
/// its veth pair removed): the trace goes on for the remaining points, which keep seeing the
/// requests, now lost where the vanished point was; watch ends normally (exit 1: unreachable).
#[test]
fn a_namespace_deleted_mid_watch_leaves_the_trace_going_for_the_others() {
    let prefix = format!("g{}-", std::process::id());
    let mut fx =
        Fixture { prefix: prefix.clone(), dir: std::env::temp_dir(), pinger: None, labs: vec![] };
    fx.dir = fx.dir.join(format!("vtrace-gone-{}", std::process::id()));
    std::fs::create_dir_all(&fx.dir).expect("scratch dir");
    fx.labs.push(prefix.clone());
    let out = run(BIN, &["lab", "up", "--prefix", &prefix]);
    assert!(out.status.success(), "lab up: {}", text(&out.stderr));
    let (n1, n2, host) = (fx.ns("nginx-1"), fx.ns("nginx-2"), fx.ns("vtrace-host"));
    fx.pinger = Some(
        Command::new("ip")
            .args(["netns", "exec", &n1, "ping", "-q", "-i", "0.2", "172.18.0.3"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting ping"),
    );
    // The host end of nginx-2's veth: the bridge port whose peer is in nginx-2.
    let o = run("ip", &["-n", &n2, "-o", "link", "show", "eth0"]);
    let peer_index = text(&o.stdout)
        .split_once("@if")
        .and_then(|(_, r)| r.split(':').next().map(str::to_owned))
        .expect("nginx-2's eth0 names its peer");
    let o = run("ip", &["-n", &host, "-o", "link", "show"]);
    let veth = text(&o.stdout)
        .lines()
        .find(|l| l.starts_with(&format!("{peer_index}:")))
        .and_then(|l| l.split(':').nth(1))
        .map(|n| n.trim().split('@').next().unwrap_or_default().to_owned())
        .expect("the host end of nginx-2's veth");

    let watch = Command::new(BIN)
        .args(["watch", &n1, &n2, "--no-tui", "--duration", "4s"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting watch");
    std::thread::sleep(Duration::from_millis(1500));
    let o = run("ip", &["netns", "del", &n2]);
    assert!(o.status.success(), "ip netns del: {}", text(&o.stderr));
    let o = run("ip", &["-n", &host, "link", "del", &veth]);
    assert!(o.status.success(), "ip link del {veth}: {}", text(&o.stderr));
    let out = watch.wait_with_output().expect("watch");
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(1), "watch: {stderr}\n{stdout}");
    let lost_there = format!("lost before {host}/{veth}");
    let lost = stdout.matches(&lost_there).count();
    // ~12 requests were sent after the deletion; each is traced up to the bridge.
    assert!(lost >= 5, "only {lost} requests traced as {lost_there:?}:\n{stdout}");
    let answered = stdout.matches("reply    ").count() - stdout.matches("reply    ✗").count();
    assert!(answered >= 3, "the echoes before the deletion were answered:\n{stdout}");
    // The points that went away are reported as gone; the others are not.
    for gone in [format!("{n2}/eth0"), format!("{host}/{veth}")] {
        assert!(
            stderr.contains(&format!("vtrace: {gone}: the capture ended during the trace")),
            "{gone} reported gone: {stderr}"
        );
    }
    assert!(!stderr.contains(&format!("{n1}/eth0: the capture ended")), "{stderr}");
}
