//! The lab's state file, `/run/vtrace/lab-<prefix>.json`: what `lab down` must remove.
//!
//! `lab up` writes it BEFORE creating anything, so a crashed `up` can still be undone; it lists
//! the namespaces, the links made in the root namespace and the servers started. `/run` is a
//! tmpfs, so the file disappears at reboot together with what it describes. This module only
//! reads and writes the file; it never creates or deletes namespaces or links.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::error::{LabError, Result};
use crate::core::lab::{HostSide, LabSpec};

/// Where vtrace keeps runtime state.
pub const STATE_DIR: &str = "/run/vtrace";

/// A link the lab made in the root namespace (only with `--in-root`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RootLink {
    pub name: String,
    /// `veth` or `bridge`: `down` deletes a link of that name only if it is of that kind.
    pub kind: String,
}

/// An HTTP server started by `lab up --serve`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Server {
    pub pid: i32,
    pub netns: String,
    /// Its document root, which also appears on its command line (how `down` recognises it).
    pub dir: String,
}

/// What a lab made, as recorded on disk.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub namespaces: BTreeSet<String>,
    pub root_links: BTreeSet<RootLink>,
    pub servers: BTreeSet<Server>,
}

impl State {
    /// Everything `spec` creates (servers are added once started).
    pub fn of_spec(spec: &LabSpec) -> State {
        let mut s = State {
            namespaces: spec.namespaces().into_iter().map(str::to_owned).collect(),
            ..State::default()
        };
        if spec.host == HostSide::Root {
            for c in &spec.containers {
                s.root_links.insert(RootLink { name: c.host_veth.clone(), kind: "veth".into() });
            }
            s.root_links.insert(RootLink { name: spec.bridge.name.clone(), kind: "bridge".into() });
        }
        s
    }

    /// Add everything `other` lists.
    pub fn merge(&mut self, other: State) {
        self.namespaces.extend(other.namespaces);
        self.root_links.extend(other.root_links);
        self.servers.extend(other.servers);
    }
}

/// The state file of the lab with this prefix.
pub fn path(prefix: &str) -> PathBuf {
    if prefix.is_empty() {
        PathBuf::from(STATE_DIR).join("lab.json")
    } else {
        PathBuf::from(STATE_DIR).join(format!("lab-{prefix}.json"))
    }
}

/// The recorded state, if the file exists.
pub fn load(prefix: &str) -> Result<Option<State>> {
    let p = path(prefix);
    let text = match std::fs::read_to_string(&p) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(LabError::io("state", format!("reading {}", p.display()), &e)),
    };
    serde_json::from_str(&text).map(Some).map_err(|e| {
        LabError::other("state", format!("reading {}", p.display()), e).with_hint(format!(
            "the file is damaged: remove it (rm {}) and run `vtrace lab down` with the options \
             the lab was made with",
            p.display()
        ))
    })
}

/// Write the state atomically (temporary file + rename).
pub fn save(prefix: &str, state: &State) -> Result<()> {
    let p = path(prefix);
    let what = || format!("writing the lab state file {}", p.display());
    std::fs::create_dir_all(STATE_DIR).map_err(|e| LabError::io("state", what(), &e))?;
    let json =
        serde_json::to_string_pretty(state).map_err(|e| LabError::other("state", what(), e))?;
    let tmp = p.with_extension("json.tmp");
    std::fs::write(&tmp, json).map_err(|e| LabError::io("state", what(), &e))?;
    std::fs::rename(&tmp, &p).map_err(|e| LabError::io("state", what(), &e))
}

/// Remove the state file (missing is fine).
pub fn remove(prefix: &str) -> Result<()> {
    let p = path(prefix);
    match std::fs::remove_file(&p) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(LabError::io("down", format!("removing {}", p.display()), &e))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::lab::LabOptions;

    #[test]
    fn state_of_a_root_lab_lists_root_links_and_namespaces() {
        let spec = LabSpec::from_options(&LabOptions {
            in_root: true,
            prefix: "p-".into(),
            ..LabOptions::default()
        })
        .unwrap_or_else(|e| panic!("{e}"));
        let s = State::of_spec(&spec);
        let ns: Vec<&str> = s.namespaces.iter().map(String::as_str).collect();
        assert_eq!(ns, ["p-nginx-1", "p-nginx-2"]);
        let kinds: Vec<&str> = s.root_links.iter().map(|l| l.kind.as_str()).collect();
        assert_eq!(kinds.iter().filter(|k| **k == "veth").count(), 2);
        assert!(
            s.root_links.contains(&RootLink { name: "p-vtrace0".into(), kind: "bridge".into() })
        );
        let text = serde_json::to_string(&s).unwrap_or_default();
        let back: State = serde_json::from_str(&text).unwrap_or_default();
        assert_eq!(back, s);
    }

    #[test]
    fn private_lab_has_no_root_links_and_paths_depend_on_prefix() {
        let s = State::of_spec(&LabSpec::default());
        assert!(s.root_links.is_empty());
        assert_eq!(s.namespaces.len(), 3);
        assert_eq!(path(""), PathBuf::from("/run/vtrace/lab.json"));
        assert_eq!(path("t1-"), PathBuf::from("/run/vtrace/lab-t1-.json"));
    }
}
