//! `vtrace cleanup`: remove what killed runs left behind — nftables tables named
//! `vtrace_<pid>_<n>` in every namespace, and tracefs instances `vtrace_<pid>` — when no process
//! with that pid is running. What a live run holds is never touched.
//!
//! A pid reused by an unrelated process keeps its leftovers until a later cleanup: cleanup errs
//! on the side of leaving things, never of removing a running trace's rules.

use std::path::Path;

use anyhow::{Result, bail};
use clap::Args;

use crate::error::Outcome;
use crate::sys::dropmon;
use crate::sys::netlink::namespaces;
use crate::sys::netns::{self, Netns};
use crate::sys::nft;

#[derive(Debug, Args)]
pub struct CleanupArgs {
    /// Only list what would be removed.
    #[arg(long)]
    pub dry_run: bool,
}

/// Run `vtrace cleanup`.
pub fn run(args: &CleanupArgs) -> Result<Outcome> {
    let mut failures = Vec::new();
    let mut removed = 0usize;
    for (label, ns) in all_namespaces() {
        let tables = match nft::list_tables(&ns) {
            Ok(t) => t,
            Err(e) => {
                failures.push(format!("listing tables in {label}: {e}"));
                continue;
            }
        };
        for (family, table) in tables {
            let Some(pid) = nft::table_pid(&table) else { continue };
            if running(pid) {
                continue;
            }
            if !args.dry_run {
                if let Err(e) = nft::delete_table(&ns, &family, &table) {
                    failures.push(format!("deleting table {family} {table} in {label}: {e}"));
                    continue;
                }
            }
            println!("{} table {family} {table} in {label}", verb(args.dry_run));
            removed += 1;
        }
    }
    // tracefs may be mounted only under debugfs (older systems); both show the same instances.
    let mut seen = std::collections::HashSet::new();
    let entries = TRACEFS_INSTANCES
        .iter()
        .flat_map(|dir| std::fs::read_dir(dir).into_iter().flatten().filter_map(|e| e.ok()));
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = dropmon::instance_pid(&name) else { continue };
        if running(pid) || !seen.insert(name) || !entry.path().exists() {
            continue;
        }
        if !args.dry_run {
            if let Err(e) = dropmon::remove_instance(&entry.path()) {
                failures.push(format!("removing {}: {e}", entry.path().display()));
                continue;
            }
        }
        println!("{} tracefs instance {}", verb(args.dry_run), entry.path().display());
        removed += 1;
    }
    if removed == 0 && failures.is_empty() {
        println!("nothing to clean up");
    }
    if !failures.is_empty() {
        bail!("cleanup left some leftovers (run as root?):\n  {}", failures.join("\n  "));
    }
    Ok(Outcome::Success)
}

/// Where tracefs instances are found: tracefs itself, and tracefs under debugfs.
const TRACEFS_INSTANCES: [&str; 2] =
    ["/sys/kernel/tracing/instances", "/sys/kernel/debug/tracing/instances"];

fn verb(dry_run: bool) -> &'static str {
    if dry_run { "would remove" } else { "removed" }
}

/// True while a process with this pid exists.
fn running(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Every namespace of the system (labelled); the named ones only when the full enumeration
/// fails.
fn all_namespaces() -> Vec<(String, Netns)> {
    match namespaces::enumerate() {
        Ok(found) => found.iter().map(|f| (f.label.clone(), f.netns())).collect(),
        Err(_) => netns::list_named()
            .into_iter()
            .map(|n| (n.clone(), Netns::Named(n)))
            .chain(std::iter::once((
                "host".to_owned(),
                Netns::Path(format!("/proc/{}/ns/net", std::process::id()).into()),
            )))
            .collect(),
    }
}
