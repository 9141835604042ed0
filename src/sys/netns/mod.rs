//! Network namespaces: name them, create and delete them (like `ip netns add/del`), and run code
//! inside one ([`worker`]: [`run_in`], [`spawn_in`], [`socket_in`], [`block_on`]).
//!
//! `setns(CLONE_NEWNET)` changes only the calling thread, so code runs inside a namespace only on
//! a fresh std thread of [`worker`]'s (never a tokio blocking thread, which would be reused while
//! still inside the namespace). A socket opened there keeps its namespace and can be handed back
//! to any thread. This module does not look at what is inside a namespace (`sys::netlink`).

pub mod worker;

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, unshare};

pub use worker::{
    Target, Worker, WorkerError, block_on, each_in, run_in, socket_here, socket_in, sockets_in,
    spawn_in,
};

/// Where named namespaces are bind-mounted (iproute2's convention).
pub const NETNS_RUN_DIR: &str = "/run/netns";

/// A network namespace, by how the user named it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Netns {
    /// The namespace of PID 1 (the host's).
    Root,
    /// A named namespace under `/run/netns`.
    Named(String),
    /// Any namespace file (`/proc/PID/ns/net`, `/var/run/docker/netns/…`).
    Path(PathBuf),
}

impl Netns {
    /// A named namespace, after checking the name cannot escape `/run/netns`.
    pub fn named(name: &str) -> Result<Self> {
        validate_name(name)?;
        Ok(Netns::Named(name.to_owned()))
    }

    /// The file that holds the namespace. A `Named` namespace's file is always directly under
    /// `/run/netns`, whatever its name: a name that is not a valid one (`../x`, `a/b`, a NUL)
    /// maps to a file name there that no namespace can have, and [`Netns::open`] refuses it.
    pub fn path(&self) -> PathBuf {
        match self {
            Netns::Root => PathBuf::from("/proc/1/ns/net"),
            Netns::Named(n) => Path::new(NETNS_RUN_DIR).join(inside_run_dir(n)),
            Netns::Path(p) => p.clone(),
        }
    }

    /// Open the namespace file (keeps the namespace alive while open).
    pub fn open(&self) -> Result<File> {
        if let Netns::Named(n) = self {
            validate_name(n)?;
        }
        let path = self.path();
        File::open(&path).with_context(|| match self {
            Netns::Named(n) => format!(
                "opening network namespace {n:?} ({}): does it exist? (`ip netns list`)",
                path.display()
            ),
            _ => format!("opening network namespace {}", path.display()),
        })
    }
}

/// Namespace names are file names under `/run/netns`: letters, digits, `-`, `_`, `.`, at most 64
/// characters, not `.` or `..`.
pub fn validate_name(name: &str) -> Result<()> {
    let ok_chars =
        name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if name.is_empty() || name.len() > 64 || !ok_chars || name == "." || name == ".." {
        bail!(
            "invalid namespace name {name:?}: use 1 to 64 letters, digits, '-', '_' or '.' \
             (not '.' or '..')"
        );
    }
    Ok(())
}

/// `name` as one file name under `/run/netns`: itself when valid, otherwise with every
/// character a name cannot have replaced by `%` (a character no valid name has).
fn inside_run_dir(name: &str) -> String {
    if validate_name(name).is_ok() {
        return name.to_owned();
    }
    let mut safe: String = name
        .chars()
        .take(64)
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_') { c } else { '%' })
        .collect();
    safe.insert(0, '%');
    safe
}

/// True when `/run/netns/NAME` exists.
pub fn exists(name: &str) -> bool {
    validate_name(name).is_ok() && Path::new(NETNS_RUN_DIR).join(name).exists()
}

/// Names of the namespaces under `/run/netns`, sorted.
pub fn list_named() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(NETNS_RUN_DIR)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| validate_name(n).is_ok())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Make `/run/netns` a shared mount point, as `ip netns add` does, so that namespaces mounted
/// there are seen from every mount namespace.
fn prepare_run_dir() -> Result<()> {
    std::fs::create_dir_all(NETNS_RUN_DIR)
        .with_context(|| format!("creating {NETNS_RUN_DIR}: run as root"))?;
    let shared = MsFlags::MS_SHARED | MsFlags::MS_REC;
    if mount(None::<&str>, NETNS_RUN_DIR, Some("none"), shared, None::<&str>).is_ok() {
        return Ok(());
    }
    mount(
        Some(NETNS_RUN_DIR),
        NETNS_RUN_DIR,
        Some("none"),
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .with_context(|| format!("bind-mounting {NETNS_RUN_DIR} needs CAP_SYS_ADMIN: run as root"))?;
    mount(None::<&str>, NETNS_RUN_DIR, Some("none"), shared, None::<&str>)
        .with_context(|| format!("making {NETNS_RUN_DIR} a shared mount"))?;
    Ok(())
}

/// Create the named namespace `/run/netns/NAME` (like `ip netns add NAME`). Fails if it exists.
pub fn create(name: &str) -> Result<Netns> {
    let ns = Netns::named(name)?;
    prepare_run_dir()?;
    let path = ns.path();
    std::fs::OpenOptions::new().write(true).create_new(true).open(&path).with_context(|| {
        format!("creating {}: does the namespace exist already?", path.display())
    })?;
    let target = path.clone();
    let made = run_in(Target::Here, "vtrace-netns-new", move || -> Result<()> {
        unshare(CloneFlags::CLONE_NEWNET)
            .context("creating a network namespace needs CAP_SYS_ADMIN: run as root")?;
        mount(
            Some("/proc/thread-self/ns/net"),
            &target,
            Some("none"),
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .with_context(|| format!("bind-mounting the new namespace on {}", target.display()))?;
        Ok(())
    });
    match made {
        Ok(()) => Ok(ns),
        Err(e) => {
            let _ = std::fs::remove_file(&path);
            Err(e.context(format!("creating network namespace {name:?}")))
        }
    }
}

/// Delete the named namespace (like `ip netns del NAME`). Missing is not an error.
pub fn delete(name: &str) -> Result<()> {
    validate_name(name)?;
    let path = Path::new(NETNS_RUN_DIR).join(name);
    if !path.exists() {
        return Ok(());
    }
    // Not mounted (a crashed create) is fine: the file is removed below either way.
    let _ = umount2(&path, MntFlags::MNT_DETACH);
    std::fs::remove_file(&path)
        .with_context(|| format!("removing {}: run as root", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_could_escape_run_netns_are_refused() {
        for bad in ["", ".", "..", "../etc", "a/b", "x y", "név", &"a".repeat(65)] {
            assert!(validate_name(bad).is_err(), "{bad:?} accepted");
        }
        for good in ["nginx-1", "vt123_lab.host", "a"] {
            assert!(validate_name(good).is_ok(), "{good:?} refused");
        }
    }

    #[test]
    fn a_named_namespace_never_points_outside_run_netns() {
        let long = "a".repeat(300);
        for bad in
            ["..", ".", "../../etc/passwd", "/etc/shadow", "a/../../b", "x\0y", "n\nl", &long]
        {
            let bad = bad.to_owned();
            let ns = Netns::Named(bad.clone());
            let path = ns.path();
            assert_eq!(path.parent(), Some(Path::new(NETNS_RUN_DIR)), "{bad:?} → {path:?}");
            let file = path.file_name().and_then(|f| f.to_str()).unwrap_or_default();
            assert!(file.starts_with('%') && !file.contains('/'), "{bad:?} → {file:?}");
            let err = ns.open().map(|_| ()).unwrap_err().to_string();
            assert!(err.contains("invalid namespace name"), "{bad:?}: {err}");
            assert!(delete(&bad).is_err() && create(&bad).is_err() && !exists(&bad));
        }
        assert_eq!(Netns::Named("nginx-1".into()).path(), Path::new("/run/netns/nginx-1"));
    }
}
