//! Interruption of `lab up`: the command hands `up` a [`Stop`] that SIGINT and SIGTERM set; every
//! step of `up` asks it first ([`check`]), so an interrupted `up` fails at the next step and
//! removes what it made, like any other failure, instead of dying half-built. No process-wide
//! state: without a handle, `up` is never interrupted.

use super::error::{LabError, Result};
use crate::sys::stop::Stop;

/// Fails when a stop was requested before `step`.
pub(crate) fn check(stop: Option<&Stop>, step: &'static str) -> Result<()> {
    match stop {
        Some(stop) if stop.requested() => {
            Err(LabError::other(step, format!("step {step}"), "interrupted by SIGINT or SIGTERM"))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_requested_stop_stops() {
        assert!(check(None, "netns").is_ok());
        let stop = Stop::new();
        assert!(check(Some(&stop), "netns").is_ok());
        stop.request();
        let err = check(Some(&stop), "netns").map_err(|e| e.to_string());
        assert_eq!(err, Err("step netns: interrupted by SIGINT or SIGTERM".to_owned()));
    }
}
