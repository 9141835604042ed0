//! Discovery's share of `ss -lntup`: the listening sockets of every discovered namespace, read
//! while the rtnetlink dumps run (on a thread of discovery's), and the processes holding them
//! found in one pass over `/proc` for all namespaces at once.
//!
//! One `NETLINK_SOCK_DIAG` socket per namespace, opened inside it by `sys::netns` (one thread
//! each, all at once) and dumped by `sys::sockdiag`. A namespace whose sockets cannot be read
//! gets the reason instead; this never fails discovery.

use std::fs::File;
use std::path::PathBuf;

use netlink_sys::protocols::NETLINK_SOCK_DIAG;

use crate::core::listen::Listener;
use crate::sys::netlink::namespaces::FoundNs;
use crate::sys::netns::{self, Target};
use crate::sys::sockdiag::{self, DiagSocket};

/// A namespace to read, by a descriptor of its own (so that reading can run on another thread
/// while discovery moves the [`FoundNs`] on), or why it cannot be.
#[derive(Debug)]
pub struct NsFile {
    file: Result<File, String>,
    path: PathBuf,
    inode: u64,
}

impl NsFile {
    /// What reading the sockets of `ns` needs.
    pub fn of(ns: &FoundNs) -> NsFile {
        let file = ns.file.try_clone().map_err(|e| {
            format!("duplicating the descriptor of namespace {}: {e}", ns.path.display())
        });
        NsFile { file, path: ns.path.clone(), inode: ns.id.1 }
    }
}

/// The listening sockets of each namespace, in the order of `spaces`, or why they could not be
/// read.
pub fn read_all(spaces: &[NsFile]) -> Vec<Result<Vec<Listener>, String>> {
    let targets: Vec<Target<'_>> = spaces
        .iter()
        .filter_map(|s| s.file.as_ref().ok().map(|file| Target::Open { file, path: &s.path }))
        .collect();
    let mut sockets = netns::sockets_in(&targets, NETLINK_SOCK_DIAG).into_iter();
    let dumps: Vec<Result<Vec<DiagSocket>, String>> = spaces
        .iter()
        .map(|s| {
            s.file.as_ref().map_err(Clone::clone)?;
            let fd = sockets
                .next()
                .ok_or_else(|| "no sock_diag socket was opened".to_owned())?
                .map_err(|e| format!("{e:#}"))?;
            sockdiag::dump(fd).map_err(|e| e.to_string())
        })
        .collect();
    let wanted: Vec<(u64, u64)> = spaces
        .iter()
        .zip(&dumps)
        .filter_map(|(s, d)| d.as_ref().ok().map(|d| (s.inode, d)))
        .flat_map(|(ns, d)| d.iter().map(move |sock| (ns, sock.inode)))
        .collect();
    let owners = sockdiag::processes(&wanted);
    dumps.into_iter().map(|d| d.map(|d| sockdiag::with_processes(d, &owners))).collect()
}
