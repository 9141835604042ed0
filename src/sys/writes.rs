//! The `--write` captures in progress, recorded in `/run/vtrace/writes/` while they are. A
//! `--write FILE` run captures into `FILE.tmp` and writes `FILE` at the end; killed with SIGKILL
//! it cannot, and `vtrace cleanup` finds the record of a process that is gone and renames its
//! `FILE.tmp` to `FILE`: the capture without vtrace's analysis, never lost.
//!
//! Recording is best effort: without a writable `/run/vtrace` (an unprivileged `analyze --tui`
//! writing with `w`) nothing is recorded and nothing changes.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// Where the records are: one file per capture in progress, named `<pid>-<n>`.
pub const DIR: &str = "/run/vtrace/writes";

/// A capture recorded as in progress; the record goes when this is dropped.
#[derive(Debug)]
pub struct Recorded {
    record: PathBuf,
}

impl Drop for Recorded {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.record);
    }
}

/// Record that this process captures into `tmp`, which is to become `target`.
pub fn record(tmp: &Path, target: &Path) -> Option<Recorded> {
    record_in(Path::new(DIR), tmp, target)
}

fn record_in(dir: &Path, tmp: &Path, target: &Path) -> Option<Recorded> {
    static N: AtomicU32 = AtomicU32::new(0);
    let (tmp, target) = (std::path::absolute(tmp).ok()?, std::path::absolute(target).ok()?);
    std::fs::create_dir_all(dir).ok()?;
    let n = N.fetch_add(1, Ordering::Relaxed);
    let record = dir.join(format!("{}-{n}", std::process::id()));
    let text = format!("{}\n{}\n", tmp.display(), target.display());
    std::fs::write(&record, text).ok()?;
    Some(Recorded { record })
}

/// A recorded capture: the process that wrote it, its temporary file and its target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leftover {
    pub pid: u32,
    pub tmp: PathBuf,
    pub target: PathBuf,
    record: PathBuf,
}

impl Leftover {
    /// Drop the record (the capture was recovered, or there is nothing left to recover). A
    /// record already gone (another `vtrace cleanup` at the same time) is dropped too.
    pub fn forget(&self) -> std::io::Result<()> {
        match std::fs::remove_file(&self.record) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }
}

/// Every recorded capture (of running processes too: the caller tells them apart).
pub fn recorded() -> Vec<Leftover> {
    recorded_in(Path::new(DIR))
}

fn recorded_in(dir: &Path) -> Vec<Leftover> {
    let mut out: Vec<Leftover> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let pid = name.split_once('-')?.0.parse().ok()?;
            let text = std::fs::read_to_string(e.path()).ok()?;
            let mut lines = text.lines();
            let (tmp, target) = (lines.next()?, lines.next()?);
            Some(Leftover { pid, tmp: tmp.into(), target: target.into(), record: e.path() })
        })
        .collect();
    out.sort_by(|a, b| a.record.cmp(&b.record));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_names_the_files_absolutely_and_goes_when_dropped() {
        let dir = tempfile::tempdir().expect("temp dir");
        let records = dir.path().join("writes");
        let r = record_in(&records, Path::new("trace.pcapng.tmp"), Path::new("trace.pcapng"))
            .expect("recorded");
        let found = recorded_in(&records);
        assert_eq!(found.len(), 1);
        let cwd = std::env::current_dir().expect("cwd");
        assert_eq!(found[0].pid, std::process::id());
        assert_eq!(found[0].tmp, cwd.join("trace.pcapng.tmp"));
        assert_eq!(found[0].target, cwd.join("trace.pcapng"));
        drop(r);
        assert!(recorded_in(&records).is_empty());
    }

    #[test]
    fn a_record_of_a_killed_process_stays_until_forgotten() {
        let dir = tempfile::tempdir().expect("temp dir");
        let records = dir.path().join("writes");
        let r = record_in(&records, Path::new("/x/a.tmp"), Path::new("/x/a")).expect("recorded");
        // SIGKILL: no destructor runs.
        std::mem::forget(r);
        let found = recorded_in(&records);
        assert_eq!(found.len(), 1);
        found[0].forget().expect("forget");
        assert!(recorded_in(&records).is_empty());
        // Forgotten by another cleanup first: forgetting it again is no failure.
        found[0].forget().expect("forget a record already gone");
        // Files that are no records are left alone.
        std::fs::write(records.join("notes"), "x").expect("write");
        assert!(recorded_in(&records).is_empty());
    }
}
