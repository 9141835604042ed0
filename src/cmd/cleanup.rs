//! `vtrace cleanup`: remove what killed runs left behind — nftables tables named
//! `vtrace_<pid>_<n>` in every namespace, and tracefs instances `vtrace_<pid>` — when no process
//! with that pid is running, and recover the captures of their `--write` (`FILE.tmp` renamed to
//! `FILE`, see [`crate::sys::writes`]). What a live run holds is never touched.
//!
//! A pid reused by an unrelated process keeps its leftovers until a later cleanup: cleanup errs
//! on the side of leaving things, never of removing a running trace's rules.
//!
//! Labs are not leftovers by themselves (a lab stays up between `lab up` and `lab down`, and its
//! state file does not tell a finished `up` from an interrupted one): `--labs` removes every
//! recorded lab, on request.

use std::path::Path;

use anyhow::{Result, bail};

use crate::core::lab::{LabOptions, LabSpec};
use crate::error::Outcome;
use crate::sys::dropmon;
use crate::sys::lab;
use crate::sys::netlink::namespaces;
use crate::sys::netns::{self, Netns};
use crate::sys::nft;
use crate::sys::writes;

/// What `vtrace cleanup` was asked.
#[derive(Debug, Clone)]
pub struct Cleanup {
    /// Only list what would be removed.
    pub dry_run: bool,
    /// Also remove every recorded lab.
    pub labs: bool,
}

/// Run `vtrace cleanup`.
pub fn run(args: &Cleanup) -> Result<Outcome> {
    let mut failures = Vec::new();
    let mut removed = 0usize;
    for (label, ns) in all_namespaces() {
        let tables = match nft::list_tables(&ns) {
            Ok(t) => t,
            // A namespace that went away meanwhile (its process ended, `ip netns del`) took
            // its tables with it.
            Err(_) if !matches!(ns, Netns::Root) && !ns.path().exists() => continue,
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
                    if matches!(ns, Netns::Root) || ns.path().exists() {
                        failures.push(format!("deleting table {family} {table} in {label}: {e}"));
                    }
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
    // Captures of `--write` runs killed before they could write their file.
    for w in writes::recorded().into_iter().filter(|w| !running(w.pid)) {
        let (tmp, target) = (w.tmp.display(), w.target.display());
        if w.tmp.exists() && !w.target.exists() {
            if !args.dry_run {
                match std::fs::rename(&w.tmp, &w.target) {
                    Ok(()) => {}
                    // Another cleanup at the same time recovered it first.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        let _ = w.forget();
                        continue;
                    }
                    Err(e) => {
                        failures.push(format!("renaming {tmp} to {target}: {e}"));
                        continue;
                    }
                }
            }
            let verb = if args.dry_run { "would recover" } else { "recovered" };
            println!(
                "{verb} {target}: the capture of vtrace {} (killed), without vtrace's analysis \
                 (from {tmp})",
                w.pid
            );
            removed += 1;
        } else if w.tmp.exists() {
            println!("left {tmp}: the capture of vtrace {} (killed); {target} exists", w.pid);
        }
        if !args.dry_run
            && let Err(e) = w.forget()
        {
            failures.push(format!("removing the record of {tmp}: {e}"));
        }
    }
    if args.labs {
        for prefix in recorded_labs() {
            let spec = LabSpec::from_options(&LabOptions {
                prefix: prefix.clone(),
                ..LabOptions::default()
            });
            let res = match spec {
                Ok(spec) if !args.dry_run => lab::lab_down(&spec).map_err(|e| format!("{e:#}")),
                Ok(_) => Ok(()),
                Err(e) => Err(e.to_string()),
            };
            match res {
                Ok(()) => {
                    println!("{} lab {prefix:?}", verb(args.dry_run));
                    removed += 1;
                }
                Err(e) => failures.push(format!("removing lab {prefix:?}: {e}")),
            }
        }
    }
    if removed == 0 && failures.is_empty() {
        println!("nothing to clean up");
    }
    if !failures.is_empty() {
        bail!("cleanup left some leftovers (run as root?):\n  {}", failures.join("\n  "));
    }
    Ok(Outcome::Success)
}

/// Prefixes of the labs with a state file (`lab.json`: no prefix; `lab-P.json`: P).
pub fn recorded_labs() -> Vec<String> {
    let mut prefixes: Vec<String> = std::fs::read_dir(lab::STATE_DIR)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter_map(|e| lab_prefix(&e.file_name().to_string_lossy()))
        .collect();
    prefixes.sort();
    prefixes
}

/// The lab prefix a state file name stands for.
fn lab_prefix(file: &str) -> Option<String> {
    let stem = file.strip_suffix(".json")?;
    if stem == "lab" {
        return Some(String::new());
    }
    stem.strip_prefix("lab-").filter(|p| !p.is_empty()).map(str::to_owned)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_files_name_their_lab_prefix() {
        assert_eq!(lab_prefix("lab.json"), Some(String::new()));
        assert_eq!(lab_prefix("lab-k123-.json"), Some("k123-".into()));
        assert_eq!(lab_prefix("lab-.json"), None);
        assert_eq!(lab_prefix("lab-x.json.tmp"), None);
        assert_eq!(lab_prefix("www"), None);
    }
}
