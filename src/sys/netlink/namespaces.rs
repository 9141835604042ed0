//! Which network namespaces exist: the root one, named ones (`/run/netns`), Docker sandboxes
//! (`/var/run/docker/netns`) and those only running processes hold (`/proc/*/ns/net`), each once
//! (deduplicated by the namespace's inode).
//!
//! Only lists and opens namespace files; it never enters a namespace nor talks netlink.

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::sys::statfs::{NSFS_MAGIC, fstatfs};

use crate::core::topology::{HOST_LABEL, NsKind};
use crate::sys::netns::{NETNS_RUN_DIR, Netns, validate_name};

/// Where Docker keeps its sandboxes' namespaces.
pub const DOCKER_NETNS_DIR: &str = "/var/run/docker/netns";

/// A namespace found on the system, with its file held open (so it stays alive and its
/// descriptor can be handed to the kernel while discovering).
#[derive(Debug)]
pub struct FoundNs {
    pub label: String,
    pub kind: NsKind,
    pub path: PathBuf,
    /// (device, inode) of the namespace file: its identity.
    pub id: (u64, u64),
    pub file: File,
}

impl FoundNs {
    /// How to enter this namespace.
    pub fn netns(&self) -> Netns {
        match self.kind {
            NsKind::Root if self.path == Netns::Root.path() => Netns::Root,
            NsKind::Named => Netns::Named(self.label.clone()),
            NsKind::Root | NsKind::Docker | NsKind::Process => Netns::Path(self.path.clone()),
        }
    }
}

/// A candidate before deduplication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub label: String,
    pub kind: NsKind,
    pub path: PathBuf,
}

/// Every namespace of the system, the root one first, then named (sorted), Docker (sorted),
/// then process-only ones (by PID). Files that vanish or cannot be read are skipped, except the
/// root namespace's: the error says what is missing.
pub fn enumerate() -> std::io::Result<Vec<FoundNs>> {
    let root_found = open_root()?;
    let mut candidates = Vec::new();
    candidates.extend(dir_entries(Path::new(NETNS_RUN_DIR), NsKind::Named));
    candidates.extend(dir_entries(Path::new(DOCKER_NETNS_DIR), NsKind::Docker));
    candidates.extend(process_namespaces());
    let mut out = vec![root_found];
    for c in candidates {
        let Ok(meta) = std::fs::metadata(&c.path) else { continue };
        let id = (meta.dev(), meta.ino());
        if out.iter().any(|f| f.id == id) {
            continue;
        }
        if let Ok(found) = open(&c) {
            out.push(found);
        }
    }
    Ok(out)
}

/// The host's namespace: PID 1's; when a sandbox hides PID 1, the one vtrace runs in.
fn open_root() -> std::io::Result<FoundNs> {
    let pid1 = Candidate { label: HOST_LABEL.into(), kind: NsKind::Root, path: Netns::Root.path() };
    match open(&pid1) {
        Ok(found) => Ok(found),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            let own = PathBuf::from(format!("/proc/{}/ns/net", std::process::id()));
            open(&Candidate { path: own, ..pid1 }).map_err(|_| e)
        }
        Err(e) => Err(e),
    }
}

/// Open a candidate's namespace file and read its identity. A file that is not (yet) a
/// namespace — `ip netns add` creates the file before it mounts the namespace on it — is
/// refused.
fn open(c: &Candidate) -> std::io::Result<FoundNs> {
    let file = File::open(&c.path)?;
    let fs = fstatfs(&file).map_err(std::io::Error::from)?;
    if fs.filesystem_type() != NSFS_MAGIC {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{} is not a namespace file", c.path.display()),
        ));
    }
    let meta = file.metadata()?;
    Ok(FoundNs {
        label: c.label.clone(),
        kind: c.kind,
        path: c.path.clone(),
        id: (meta.dev(), meta.ino()),
        file,
    })
}

/// The namespace files in a directory, sorted by name (names that are not valid namespace
/// names are skipped).
fn dir_entries(dir: &Path, kind: NsKind) -> Vec<Candidate> {
    let Ok(rd) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut names: Vec<String> = rd
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| validate_name(n).is_ok())
        .collect();
    names.sort();
    names.into_iter().map(|n| Candidate { path: dir.join(&n), label: n, kind }).collect()
}

/// `/proc/PID/ns/net` of every process, by PID, labelled `pid:PID`.
fn process_namespaces() -> Vec<Candidate> {
    let Ok(rd) = std::fs::read_dir("/proc") else { return Vec::new() };
    let mut pids: Vec<u32> = rd
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse().ok()))
        .collect();
    pids.sort_unstable();
    pids.into_iter()
        .map(|pid| Candidate {
            label: process_label(pid),
            kind: NsKind::Process,
            path: PathBuf::from(format!("/proc/{pid}/ns/net")),
        })
        .collect()
}

/// The label of a namespace only a process holds.
pub fn process_label(pid: u32) -> String {
    format!("pid:{pid}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_listing_skips_odd_names_and_sorts() {
        let dir = std::env::temp_dir().join(format!("vtrace-ns-list-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let made = std::fs::create_dir_all(&dir).is_ok()
            && ["b", "a", "with space"].iter().all(|n| File::create(dir.join(n)).is_ok());
        assert!(made, "creating files under {}", dir.display());
        let got: Vec<(String, PathBuf)> =
            dir_entries(&dir, NsKind::Named).into_iter().map(|c| (c.label, c.path)).collect();
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(got, vec![("a".into(), dir.join("a")), ("b".into(), dir.join("b"))]);
    }

    #[test]
    fn own_process_is_listed_with_its_pid_label() {
        let me = std::process::id();
        let found = process_namespaces().into_iter().find(|c| c.label == process_label(me));
        assert_eq!(found.map(|c| c.path), Some(PathBuf::from(format!("/proc/{me}/ns/net"))));
    }
}
