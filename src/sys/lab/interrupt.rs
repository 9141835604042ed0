//! Interruption of `lab up`. The command registers how to tell that SIGINT or SIGTERM arrived
//! ([`stop_when`]); every step of `up` asks first, so an interrupted `up` fails at the next step
//! and removes what it made, like any other failure, instead of dying half-built.

use std::sync::OnceLock;

use super::error::{LabError, Result};

static STOP: OnceLock<fn() -> bool> = OnceLock::new();

/// Make `lab up` stop (and undo its work) at its next step once `stopped()` returns true.
pub fn stop_when(stopped: fn() -> bool) {
    let _ = STOP.set(stopped);
}

/// Fails when the user interrupted `up` before `step`.
pub(crate) fn check(step: &'static str) -> Result<()> {
    match STOP.get() {
        Some(stopped) if stopped() => {
            Err(LabError::other(step, format!("step {step}"), "interrupted by SIGINT or SIGTERM"))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_registered_test_never_stops() {
        assert!(check("netns").is_ok());
    }
}
