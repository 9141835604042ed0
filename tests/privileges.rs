//! The built binary run as `nobody` with no capabilities (setpriv): `analyze` works fully and
//! prints what it prints as root; every command that changes or enters namespaces exits 2 at
//! once, naming the capability it lacks and what to do, and changes nothing (no namespace,
//! no /run/vtrace state, no nft table, no tracefs instance). Names that could escape
//! /run/netns are refused before anything is touched.
//!
//! The binary and the fixture are copied into a directory nobody can read (the checkout may
//! not be). Run as root: `cargo test --features root-tests --test privileges`.
#![cfg(feature = "root-tests")]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_vtrace");
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
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"])
            .arg("--bounding-set=-all")
            .arg(self.bin())
            .args(args)
            .current_dir(&self.dir)
            .output()
            .expect("running setpriv")
    }

    fn as_root(&self, args: &[&str]) -> Output {
        Command::new(self.bin()).args(args).current_dir(&self.dir).output().expect("running vtrace")
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The lab this test builds as root (so that ping and watch as nobody name real endpoints);
/// removed on drop.
struct Lab {
    prefix: String,
}

impl Lab {
    fn up() -> Lab {
        let lab = Lab { prefix: format!("pv{}-", std::process::id()) };
        let out = Command::new(BIN).args(["lab", "up", "--prefix", &lab.prefix]).output();
        let out = out.expect("running lab up");
        assert!(out.status.success(), "lab up: {}", String::from_utf8_lossy(&out.stderr));
        lab
    }

    fn ns(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = Command::new(BIN).args(["lab", "down", "--prefix", &self.prefix]).output();
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

fn snapshot() -> Snapshot {
    let netns = list_dir("/run/netns");
    let mut tables = nft_tables(None);
    for ns in &netns {
        tables.extend(nft_tables(Some(ns)));
    }
    let mut instances = list_dir("/sys/kernel/tracing/instances");
    instances.extend(list_dir("/sys/kernel/debug/tracing/instances"));
    Snapshot { netns, state: list_dir("/run/vtrace"), tables, instances }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn nobody_can_analyze_and_is_refused_the_rest_at_once_with_nothing_changed() {
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

    let lab = Lab::up();
    let (n1, n2) = (lab.ns("nginx-1"), lab.ns("nginx-2"));
    let before = snapshot();
    let other = format!("pv{}-other-", std::process::id());
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
    for (args, caps) in refused {
        let start = std::time::Instant::now();
        let out = sb.as_nobody(&args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?} printed {}", text(&out.stdout));
        for cap in caps {
            assert!(err.contains(cap), "{args:?} does not name {cap}: {err}");
        }
        assert!(err.contains("run it as root") && err.contains("setcap"), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(start.elapsed() < std::time::Duration::from_secs(2), "{args:?} was not at once");
        assert!(!sb.dir.join("x.pcapng").exists(), "{args:?} wrote a file");
        assert_eq!(snapshot(), before, "{args:?} changed something");
    }
    assert!(Path::new("/run/netns").join(&n1).exists(), "the lab is still there");
}

#[test]
fn namespace_names_that_could_leave_run_netns_are_refused() {
    let long = "a".repeat(300);
    let before = snapshot();
    for bad in ["../../etc", "/etc/passwd", "a/b", "..", "x\ny", &long] {
        for spec in [format!("netns:{bad}"), bad.to_owned()] {
            let out = Command::new(BIN).args(["ping", &spec, "netns:nowhere", "-c", "1"]).output();
            let out = out.expect("running vtrace");
            let err = text(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{spec:?}: {err}");
            assert!(!err.contains("panicked"), "{spec:?}: {err}");
            let out = Command::new(BIN).args(["topo", &spec]).output().expect("running vtrace");
            assert_eq!(out.status.code(), Some(2), "topo {spec:?}: {}", text(&out.stderr));
        }
        let out = Command::new(BIN).args(["lab", "up", "--prefix", bad]).output();
        let out = out.expect("running vtrace");
        assert_eq!(out.status.code(), Some(2), "lab up --prefix {bad:?}: {}", text(&out.stderr));
        let out = Command::new(BIN).args(["lab", "up", "--names", bad]).output();
        let out = out.expect("running vtrace");
        assert_eq!(out.status.code(), Some(2), "lab up --names {bad:?}: {}", text(&out.stderr));
    }
    // Other endpoint forms: refused with a message, never a panic, nothing touched.
    for spec in
        ["path:../../etc", "path:/etc/passwd", "docker:../x", "docker:a/b", "pid:0", "pid:-1"]
    {
        let out = Command::new(BIN).args(["topo", spec]).output().expect("running vtrace");
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
