//! The lab fixture of the root tests: a `vtrace lab` of a prefix of its own (`t<pid><tag>-`),
//! built and described by the real binary, and removed by `Drop` however the test ends.

use std::cell::OnceCell;
use std::process::{Command, Output};

use serde_json::Value;

use super::{assert_ok, describe, run};

const BIN: &str = env!("CARGO_BIN_EXE_vtrace");

/// A lab made by one test (`vtrace lab … --prefix PREFIX OPTS…`). Dropping it runs `lab down`,
/// then removes with iproute2 any namespace with the prefix and any root link in
/// [`Lab::root_links`], and the lab's state file.
pub struct Lab {
    pub prefix: String,
    opts: Vec<String>,
    /// Links of the root namespace the test expects the lab to make (removed if left).
    pub root_links: Vec<String>,
    /// `lab status --json`'s `lab`: names of namespaces, veths, the bridge.
    layout: OnceCell<Value>,
}

impl Lab {
    /// A lab of prefix `t<pid><tag>-` with `lab` options `opts`; nothing is built yet.
    pub fn new(tag: &str, opts: &[&str]) -> Lab {
        Lab {
            prefix: format!("t{}{tag}-", std::process::id()),
            opts: opts.iter().map(|s| s.to_string()).collect(),
            root_links: Vec::new(),
            layout: OnceCell::new(),
        }
    }

    /// The classic two-container lab (default options), built.
    pub fn built(tag: &str) -> Lab {
        let lab = Lab::new(tag, &[]);
        lab.up();
        lab
    }

    /// A namespace name with the lab's prefix.
    pub fn ns(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// `vtrace lab ACTION --prefix PREFIX OPTS… EXTRA…` with `env` added.
    pub fn vtrace(&self, action: &str, extra: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(BIN);
        cmd.args(["lab", action, "--prefix", &self.prefix]).args(&self.opts).args(extra);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap_or_else(|e| panic!("running {BIN}: {e}"))
    }

    /// `lab up`, which must succeed.
    pub fn up(&self) -> Output {
        let out = self.vtrace("up", &[], &[]);
        assert_ok(&out, "lab up");
        out
    }

    /// Namespaces whose name starts with the prefix, sorted.
    pub fn namespaces(&self) -> Vec<String> {
        let out = run("ip", &["-j", "netns", "list"]);
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Array(vec![]));
        let mut names: Vec<String> = v
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|n| n["name"].as_str().map(str::to_owned))
            .filter(|n| n.starts_with(&self.prefix))
            .collect();
        names.sort();
        names
    }

    pub fn state_file(&self) -> String {
        format!("/run/vtrace/lab-{}.json", self.prefix)
    }

    /// What `lab status --json` says the lab is made of (its `lab` object).
    pub fn layout(&self) -> &Value {
        self.layout.get_or_init(|| {
            let out = self.vtrace("status", &["--json"], &[]);
            assert_ok(&out, "lab status --json");
            let v: Value = serde_json::from_slice(&out.stdout)
                .unwrap_or_else(|e| panic!("lab status --json ({e}): {}", describe(&out)));
            v["lab"].clone()
        })
    }

    fn container_field(&self, n: usize, field: &str) -> String {
        let c = &self.layout()["containers"][n - 1];
        c[field].as_str().unwrap_or_else(|| panic!("container {n} has no {field}: {c}")).to_owned()
    }

    /// The namespace of container N (`<prefix>nginx-N`).
    pub fn container(&self, n: usize) -> String {
        self.container_field(n, "netns")
    }

    /// The host-side veth of container N.
    pub fn host_veth(&self, n: usize) -> String {
        self.container_field(n, "host_veth")
    }

    /// The lab's host namespace (a lab built without `--in-root`).
    pub fn host_ns(&self) -> String {
        let host = &self.layout()["host_netns"];
        host.as_str().unwrap_or_else(|| panic!("no host namespace: {host}")).to_owned()
    }

    pub fn bridge(&self) -> String {
        let b = &self.layout()["bridge"]["name"];
        b.as_str().unwrap_or_else(|| panic!("no bridge: {b}")).to_owned()
    }

    /// The five point ids from container 1 to container 2, in path order.
    pub fn points(&self) -> Vec<String> {
        let host = self.host_ns();
        vec![
            format!("{}/eth0", self.container(1)),
            format!("{host}/{}", self.host_veth(1)),
            format!("{host}/{}", self.bridge()),
            format!("{host}/{}", self.host_veth(2)),
            format!("{}/eth0", self.container(2)),
        ]
    }

    /// `vtrace ping` container 1 → container 2 (`-c 2 --json --fresh-arp EXTRA…`): the exit
    /// code and the JSON report.
    pub fn ping(&self, extra: &[&str]) -> (i32, Value) {
        let out = Command::new(BIN)
            .args(["ping", &self.container(1), &self.container(2)])
            .args(["-c", "2", "--json", "--fresh-arp"])
            .args(extra)
            .output()
            .unwrap_or_else(|e| panic!("running {BIN}: {e}"));
        let code = out.status.code().unwrap_or(-1);
        let v = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("ping output is not JSON ({e}): {}", describe(&out)));
        (code, v)
    }
}

/// Whether `ip link show dev NAME` finds the link (in `ns`, or the root namespace).
pub fn link_exists(ns: Option<&str>, name: &str) -> bool {
    let mut args = vec![];
    if let Some(ns) = ns {
        args.extend(["-n", ns]);
    }
    args.extend(["link", "show", "dev", name]);
    run("ip", &args).status.success()
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = self.vtrace("down", &[], &[]);
        for ns in self.namespaces() {
            let _ = run("ip", &["netns", "del", &ns]);
        }
        for l in &self.root_links {
            if link_exists(None, l) {
                let _ = run("ip", &["link", "del", l]);
            }
        }
        let _ = std::fs::remove_file(self.state_file());
    }
}
