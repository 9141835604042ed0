//! `vtrace analyze` on a file it cannot open: one line on stderr that names the file and says why
//! once, and exit code 2. Runs the real binary; needs no privileges.

use std::process::Command;

#[test]
fn a_missing_file_is_named_once() {
    let name = format!("vtrace-missing-{}.pcap", std::process::id());
    let dir = std::env::temp_dir();
    assert!(!dir.join(&name).exists(), "{name} exists");
    let out = Command::new(env!("CARGO_BIN_EXE_vtrace"))
        .args(["analyze", &name])
        .current_dir(&dir)
        .output()
        .unwrap_or_else(|e| panic!("running vtrace: {e}"));
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!("vtrace: opening {name}: No such file or directory (os error 2)\n")
    );
    assert!(out.stdout.is_empty(), "{}", String::from_utf8_lossy(&out.stdout));
}
