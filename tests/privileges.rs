//! The built binary run as `nobody` with no capabilities (setpriv): `analyze` works fully and
//! prints what it prints as root; every command that changes or enters namespaces exits 2 at
//! once, naming the capability it lacks and what to do, and changes nothing (no namespace,
//! no /run/vtrace state, no nft table, no tracefs instance). Names that could escape
//! /run/netns are refused before anything is touched.
//!
//! The binary and the fixture are copied into a directory nobody can read (the checkout may
//! not be). Run as root: `cargo test --features root-tests --test privileges`.
#![cfg(feature = "root-tests")]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;

use vtrace::sys::dropmon::instance_pid;
use vtrace::sys::nft::table_pid;

use common::Lab;

const BIN: &str = env!("CARGO_BIN_EXE_vtrace");

/// The two tests compare snapshots of the system: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());
/// Every vtrace process the tests started (setpriv execs vtrace in place: same pid).
static PIDS: Mutex<Vec<u32>> = Mutex::new(Vec::new());

/// Run to completion, remembering the pid.
fn output(cmd: &mut Command) -> Output {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting a command");
    PIDS.lock().unwrap_or_else(|e| e.into_inner()).push(child.id());
    child.wait_with_output().expect("waiting for a command")
}
const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/live/healthy.pcapng");

/// A directory nobody can read, holding a copy of the binary and the fixture; removed on drop.
struct Sandbox {
    dir: PathBuf,
}

impl Sandbox {
    fn new() -> Sandbox {
        let dir = std::env::temp_dir().join(format!("vtrace-priv-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let sb = Sandbox { dir };
        sb.chmod(&sb.dir, 0o755);
        std::fs::copy(BIN, sb.bin()).expect("copying the binary");
        sb.chmod(&sb.bin(), 0o755);
        std::fs::copy(FIXTURE, sb.fixture()).expect("copying the fixture");
        sb.chmod(&sb.fixture(), 0o644);
        sb
    }

    fn chmod(&self, p: &Path, mode: u32) {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }

    fn bin(&self) -> PathBuf {
        self.dir.join("vtrace")
    }

    fn fixture(&self) -> PathBuf {
        self.dir.join("healthy.pcapng")
    }

    /// Run the copied binary as nobody:nogroup, no supplementary groups, no capabilities.
    fn as_nobody(&self, args: &[&str]) -> Output {
        output(
            Command::new("setpriv")
                .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"])
                .arg("--bounding-set=-all")
                .arg(self.bin())
                .args(args)
                .current_dir(&self.dir),
        )
    }

    fn as_root(&self, args: &[&str]) -> Output {
        output(Command::new(self.bin()).args(args).current_dir(&self.dir))
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What a command could have changed: named namespaces, vtrace's state files, nft tables of
/// the root namespace and of every named one, tracefs instances.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    netns: Vec<String>,
    state: Vec<String>,
    tables: Vec<String>,
    instances: Vec<String>,
}

fn list_dir(dir: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

fn nft_tables(ns: Option<&str>) -> Vec<String> {
    let out = match ns {
        Some(ns) => {
            Command::new("ip").args(["netns", "exec", ns, "nft", "list", "tables"]).output()
        }
        None => Command::new("nft").args(["list", "tables"]).output(),
    };
    let text = out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default();
    text.lines().map(|l| format!("{}: {l}", ns.unwrap_or("root"))).collect()
}

/// The lab tag of these tests: their labs' prefixes start with `t<pid>pv`.
const TAG: &str = "pv";

/// Names a command run by these tests could give a namespace or a lab state file.
fn ours(name: &str) -> bool {
    name.contains(&format!("t{}{TAG}", std::process::id()))
        || ["nginx-1", "nginx-2", "vtrace-host", "lab.json"].contains(&name)
}

/// What the commands these tests ran could have changed: namespaces and state files of their
/// names, nft tables of the root namespace (other than vtrace's) and tables and tracefs
/// instances of the vtrace processes they started (other tests' runs on the machine aside).
fn snapshot() -> Snapshot {
    let pids = PIDS.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let by_us = |pid: Option<u32>| pid.is_some_and(|p| pids.contains(&p));
    let all_netns = list_dir("/run/netns");
    let mut tables: Vec<String> = nft_tables(None)
        .into_iter()
        .filter(|t| !t.split_whitespace().any(|w| w.starts_with("vtrace")))
        .collect();
    for ns in std::iter::once(None).chain(all_netns.iter().map(|n| Some(n.as_str()))) {
        tables.extend(
            nft_tables(ns)
                .into_iter()
                .filter(|t| by_us(t.split_whitespace().last().and_then(table_pid))),
        );
    }
    let mut instances = list_dir("/sys/kernel/tracing/instances");
    instances.extend(list_dir("/sys/kernel/debug/tracing/instances"));
    instances.retain(|i| by_us(instance_pid(i)));
    Snapshot {
        netns: all_netns.into_iter().filter(|n| ours(n)).collect(),
        state: list_dir("/run/vtrace").into_iter().filter(|n| ours(n)).collect(),
        tables,
        instances,
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn nobody_can_analyze_and_is_refused_the_rest_at_once_with_nothing_changed() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let sb = Sandbox::new();
    let fixture = sb.fixture();
    let fixture = fixture.to_str().expect("utf-8 path");

    // Sanity: setpriv really drops every capability.
    let caps = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"])
        .args(["--bounding-set=-all", "grep", "CapEff", "/proc/self/status"])
        .output()
        .expect("setpriv");
    assert_eq!(text(&caps.stdout).trim(), "CapEff:\t0000000000000000");

    for args in [
        vec!["analyze", "--json", fixture],
        vec!["analyze", fixture],
        vec!["analyze", "--packets", fixture],
    ] {
        let root = sb.as_root(&args);
        let nobody = sb.as_nobody(&args);
        assert!(root.status.success(), "{args:?} as root: {}", text(&root.stderr));
        assert_eq!(nobody.status.code(), root.status.code(), "{args:?}: {}", text(&nobody.stderr));
        assert!(!root.stdout.is_empty());
        assert_eq!(text(&nobody.stdout), text(&root.stdout), "{args:?}: output differs");
    }

    // Built as root, so that ping and watch as nobody name real endpoints.
    let lab = Lab::built(TAG);
    let (n1, n2) = (lab.ns("nginx-1"), lab.ns("nginx-2"));
    let before = snapshot();
    let other = format!("t{}{TAG}-other-", std::process::id());
    let refused: Vec<(Vec<&str>, &[&str])> = vec![
        (vec!["ping", &n1, &n2, "-c", "1"], &["CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_SYS_ADMIN"]),
        (vec!["ping", &n1, &n2, "-c", "1", "--write", "x.pcapng"], &["CAP_NET_RAW"]),
        (vec!["watch", &n1, &n2, "--no-tui", "--duration", "1s"], &["CAP_NET_RAW"]),
        (vec!["lab", "up", "--prefix", &other], &["CAP_NET_ADMIN", "CAP_SYS_ADMIN"]),
        (vec!["lab", "down", "--prefix", &lab.prefix], &["CAP_NET_ADMIN", "CAP_SYS_ADMIN"]),
        (vec!["topo"], &["CAP_SYS_ADMIN"]),
        (vec!["topo", &n1, &n2], &["CAP_SYS_ADMIN"]),
        (vec!["demo", "--no-tui"], &["CAP_NET_RAW"]),
        (vec!["cleanup"], &["CAP_NET_ADMIN"]),
    ];
    // The same commands naming a lab and endpoints that do not exist.
    let nowhere = format!("t{}{TAG}-nowhere-", std::process::id());
    for (args, caps) in refused {
        let out = sb.as_nobody(&args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?} printed {}", text(&out.stdout));
        for cap in caps {
            assert!(err.contains(cap), "{args:?} does not name {cap}: {err}");
        }
        assert!(err.contains("run it as root") && err.contains("setcap"), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        // Refused at once: the capability check's one message is all it said, and it came
        // before the command looked at its arguments (a lab or endpoints that do not exist
        // are refused with the very same words, not reported missing).
        let refusal = format!("vtrace: `vtrace {}` needs ", args[0]);
        assert!(err.starts_with(&refusal), "{args:?} said something else first: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.trim_end().ends_with("Nothing was changed."), "{args:?}: {err}");
        let elsewhere: Vec<&str> = args
            .iter()
            .map(|a| if *a == n1 || *a == n2 || *a == lab.prefix { nowhere.as_str() } else { a })
            .collect();
        let out = sb.as_nobody(&elsewhere);
        assert_eq!(out.status.code(), Some(2), "{elsewhere:?}: {}", text(&out.stderr));
        assert_eq!(text(&out.stderr), err, "{elsewhere:?} looked before refusing");
        assert!(!sb.dir.join("x.pcapng").exists(), "{args:?} wrote a file");
        assert_eq!(snapshot(), before, "{args:?} changed something");
    }
    assert!(Path::new("/run/netns").join(&n1).exists(), "the lab is still there");
}

#[test]
fn namespace_names_that_could_leave_run_netns_are_refused() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let long = "a".repeat(300);
    let before = snapshot();
    for bad in ["../../etc", "/etc/passwd", "a/b", "..", "x\ny", &long] {
        for spec in [format!("netns:{bad}"), bad.to_owned()] {
            let out = output(Command::new(BIN).args(["ping", &spec, "netns:nowhere", "-c", "1"]));
            let err = text(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{spec:?}: {err}");
            assert!(!err.contains("panicked"), "{spec:?}: {err}");
            let out = output(Command::new(BIN).args(["topo", &spec]));
            assert_eq!(out.status.code(), Some(2), "topo {spec:?}: {}", text(&out.stderr));
        }
        let out = output(Command::new(BIN).args(["lab", "up", "--prefix", bad]));
        assert_eq!(out.status.code(), Some(2), "lab up --prefix {bad:?}: {}", text(&out.stderr));
        let out = output(Command::new(BIN).args(["lab", "up", "--names", bad]));
        assert_eq!(out.status.code(), Some(2), "lab up --names {bad:?}: {}", text(&out.stderr));
    }
    // Other endpoint forms: refused with a message, never a panic, nothing touched.
    for spec in
        ["path:../../etc", "path:/etc/passwd", "docker:../x", "docker:a/b", "pid:0", "pid:-1"]
    {
        let out = output(Command::new(BIN).args(["topo", spec]));
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "topo {spec:?}: {err}");
        assert!(err.starts_with("vtrace: endpoint") && !err.contains("panicked"), "{spec}: {err}");
    }
    // A NUL cannot be passed on a command line; the library refuses it.
    assert!(vtrace::sys::netns::Netns::named("a\0b").is_err());
    assert!(vtrace::sys::endpoint::parse("netns:a\0b").is_err(), "netns:a\\0b accepted");
    assert_eq!(snapshot(), before, "a refused name changed something");
    assert!(!Path::new("/etc/vtrace-host").exists() && !Path::new("/etc/passwd.json").exists());
}
