//! `vtrace analyze --json` (the report, not the packet list) on every capture of the shared
//! corpora: a complete JSON report on stdout whatever the file holds, exit 0 or 1 for files read
//! to the end, exit 2 with the file and byte offset named for damaged ones — never a panic.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn corpus(corpora: &Path, dir: &str) -> Vec<PathBuf> {
    let root = corpora.join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            !name.ends_with(".tsv") && !name.ends_with(".out")
        })
        .collect();
    files.sort();
    files
}

fn check(file: &Path) -> Result<(), String> {
    let out = Command::new(env!("CARGO_BIN_EXE_vtrace"))
        .args(["analyze", "--json"])
        .arg(file)
        .output()
        .map_err(|e| format!("run: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("panicked") {
        return Err(format!("panicked: {stderr}"));
    }
    let code = out.status.code().ok_or("killed by a signal")?;
    let opened = !(code == 2 && stdout.is_empty());
    if opened {
        let report: Value = serde_json::from_str(&stdout)
            .map_err(|e| format!("stdout is not one JSON report: {e}"))?;
        for key in ["exchanges", "points", "verdict"] {
            if report.get(key).is_none() {
                return Err(format!("report without {key}"));
            }
        }
    }
    match code {
        0 | 1 => Ok(()),
        2 if stderr.contains(&*file.to_string_lossy()) && stderr.contains("offset") => Ok(()),
        2 => Err(format!("exit 2 without the file and offset named: {stderr}")),
        c => Err(format!("exit {c}")),
    }
}

/// Every capture of `../shared/corpora/DIR` (skipped, or a failure under
/// `VTRACE_REQUIRE_CORPORA=1`, without the corpora).
fn check_all(dir: &str) {
    let Some(corpora) = common::corpora() else { return };
    let files = corpus(&corpora, dir);
    assert!(files.len() > 40, "{dir}: corpus not found");
    let failures: Vec<String> = files
        .iter()
        .filter_map(|f| check(f).err().map(|e| format!("{}: {e}", f.display())))
        .collect();
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn well_formed_captures_give_a_report() {
    check_all("wf");
}

#[test]
fn malformed_captures_give_a_report_or_a_clean_error() {
    check_all("mal");
}
