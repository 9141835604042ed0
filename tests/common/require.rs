//! What a test needs from the machine, said once: a missing precondition fails the test under
//! CI (`CI` set, as `.ci/run` does) and skips it with a one-line notice elsewhere; the shared
//! corpora (`../shared/corpora`), absent from a plain clone, skip the tests that read them
//! unless `VTRACE_REQUIRE_CORPORA=1`.
//!
//! Only std: the crate's own unit tests include this file too (`#[path]`), without a copy.

#![allow(dead_code)]

use std::io::Write as _;
use std::path::{Path, PathBuf};

/// An environment flag is on when set to anything but empty, `0` or `false`.
fn flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
}

/// The tests run in CI: every precondition must hold.
pub fn in_ci() -> bool {
    flag("CI")
}

/// One line on stderr, also when the test harness captures the test's output (a skipped test
/// passes, and the output of passing tests is not shown).
pub fn notice(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// The running test's name (the harness names its thread after it).
fn test_name() -> String {
    std::thread::current().name().unwrap_or("a test").to_owned()
}

/// Whether `what` (a program, a kernel feature, a free resource) is there for the test to go
/// on: true when `available`; otherwise a panic under CI, and outside CI a `SKIPPED` notice
/// and false (the caller then skips what needs it).
pub fn require(what: &str, available: bool) -> bool {
    if available {
        return true;
    }
    if in_ci() {
        panic!(
            "{what}: missing, and CI is set, where every precondition must hold (scripts/dev.sh \
             test installs or prepares it)"
        );
    }
    notice(&format!("SKIPPED {}: {what}: missing (with CI=1 this fails)", test_name()));
    false
}

/// Whether `program` can be started (`program ARG` runs at all, whatever its exit status).
pub fn installed(program: &str, arg: &str) -> bool {
    std::process::Command::new(program).arg(arg).stdin(std::process::Stdio::null()).output().is_ok()
}

/// `../shared/corpora` relative to the project root, when it is there. A plain clone has no
/// `../shared`: then `None` after a one-line notice naming the missing folder, or a panic when
/// `VTRACE_REQUIRE_CORPORA=1` (CI).
pub fn corpora() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpora");
    if dir.is_dir() {
        return Some(dir);
    }
    if flag("VTRACE_REQUIRE_CORPORA") {
        panic!(
            "the shared capture corpora are missing: no folder {} (../shared/corpora), and \
             VTRACE_REQUIRE_CORPORA is set",
            dir.display()
        );
    }
    notice(&format!(
        "SKIPPED {}: no folder {} (../shared/corpora; with VTRACE_REQUIRE_CORPORA=1 this fails)",
        test_name(),
        dir.display()
    ));
    None
}

/// The seed of a test's random choices: `VTRACE_TEST_SEED` when set, else from the clock
/// (never 0). Printed, so that a failing run can be replayed with the same seed.
pub fn test_seed() -> u64 {
    let seed = match std::env::var("VTRACE_TEST_SEED") {
        Ok(s) => s.trim().parse().unwrap_or_else(|e| panic!("VTRACE_TEST_SEED={s:?}: {e}")),
        Err(_) => {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
                | 1
        }
    };
    notice(&format!("{}: VTRACE_TEST_SEED={seed} (set it to replay this run)", test_name()));
    seed
}
