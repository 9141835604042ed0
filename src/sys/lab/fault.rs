//! Test-only fault injection for `lab up`: the one place that reads `VTRACE_LAB_FAIL_AT`.
//! Compiled only with the `test-hooks` feature (which `root-tests` enables): a release or default
//! build has no such variable and no code that raises SIGKILL.
//!
//! `VTRACE_LAB_FAIL_AT=<step>` makes the first occurrence of that step (one of
//! [`crate::core::lab::STEPS`]) fail as if the system had refused it, so tests can check that a
//! failed `up` removes what it made. `VTRACE_LAB_FAIL_AT=<step>:crash` kills the process there
//! with SIGKILL instead (no cleanup at all), so tests can check that `lab down` recovers from a
//! crashed `up`. Not for users; it must never change behaviour when the variable is unset.

use std::sync::OnceLock;

use super::error::{LabError, Result};

/// The environment variable (test only).
pub const FAIL_AT_ENV: &str = "VTRACE_LAB_FAIL_AT";

#[derive(Debug, Clone, PartialEq, Eq)]
struct Fault {
    step: String,
    crash: bool,
}

fn parse(value: &str) -> Option<Fault> {
    let (step, crash) = match value.split_once(':') {
        Some((s, "crash")) => (s, true),
        Some(_) => return None,
        None => (value, false),
    };
    (!step.is_empty()).then(|| Fault { step: step.to_owned(), crash })
}

fn configured() -> Option<&'static Fault> {
    static FAULT: OnceLock<Option<Fault>> = OnceLock::new();
    FAULT.get_or_init(|| std::env::var(FAIL_AT_ENV).ok().as_deref().and_then(parse)).as_ref()
}

/// Called at the start of every step of `lab up`: fails (or crashes) when the test asked for it.
pub(crate) fn check(step: &'static str) -> Result<()> {
    let Some(fault) = configured() else { return Ok(()) };
    if fault.step != step {
        return Ok(());
    }
    if fault.crash {
        // Simulate `kill -9` mid-up: nothing after this point runs, no cleanup.
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
    }
    Err(LabError::other(
        step,
        format!("step {step}"),
        format!("failure injected by {FAIL_AT_ENV} (test only)"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_specs() {
        assert_eq!(parse("veth"), Some(Fault { step: "veth".into(), crash: false }));
        assert_eq!(parse("route:crash"), Some(Fault { step: "route".into(), crash: true }));
        assert_eq!(parse("route:maybe"), None);
        assert_eq!(parse(""), None);
    }
}
