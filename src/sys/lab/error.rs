//! The error every lab operation returns: which step failed, on what, why, and what to do.
//!
//! Only shapes messages; it performs no IO and decides nothing about recovery.

use std::fmt;
use std::io;

use thiserror::Error;

/// A failed lab step, e.g. "creating bridge docker0 in netns vtrace-host: Operation not
/// permitted (os error 1) — run as root (CAP_NET_ADMIN)".
#[derive(Debug, Error)]
#[error("{what}: {detail}{}", Hint(.hint))]
pub struct LabError {
    step: &'static str,
    what: String,
    detail: String,
    errno: Option<i32>,
    hint: Option<String>,
}

/// Result of lab operations.
pub type Result<T, E = LabError> = std::result::Result<T, E>;

struct Hint<'a>(&'a Option<String>);

impl fmt::Display for Hint<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(h) => write!(f, " — {h}"),
            None => Ok(()),
        }
    }
}

impl LabError {
    /// The step that failed (one of [`crate::core::lab::STEPS`], or `down` / `status`).
    pub fn step(&self) -> &str {
        self.step
    }

    /// The OS error number behind the failure, when there is one.
    pub fn errno(&self) -> Option<i32> {
        self.errno
    }

    /// A failure with a plain explanation and no OS error.
    pub(crate) fn other(
        step: &'static str,
        what: impl Into<String>,
        detail: impl fmt::Display,
    ) -> Self {
        LabError { step, what: what.into(), detail: detail.to_string(), errno: None, hint: None }
    }

    /// Add or replace the advice shown after the reason.
    pub(crate) fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// A failed netlink request.
    pub(crate) fn netlink(
        step: &'static str,
        what: impl Into<String>,
        e: rtnetlink::Error,
    ) -> Self {
        match &e {
            rtnetlink::Error::NetlinkError(msg) => match msg.code {
                Some(code) => Self::os(step, what, -code.get()),
                None => Self::other(step, what, e),
            },
            _ => Self::other(step, what, e),
        }
    }

    /// A failed system call or file operation.
    pub(crate) fn io(step: &'static str, what: impl Into<String>, e: &io::Error) -> Self {
        match e.raw_os_error() {
            Some(code) => Self::os(step, what, code),
            None => Self::other(step, what, e),
        }
    }

    /// A failure reported by another adapter as an `anyhow` chain (which carries its own advice).
    pub(crate) fn chain(step: &'static str, what: impl Into<String>, e: &anyhow::Error) -> Self {
        let errno = e.chain().find_map(|c| {
            c.downcast_ref::<io::Error>()
                .and_then(io::Error::raw_os_error)
                .or_else(|| c.downcast_ref::<nix::errno::Errno>().map(|n| *n as i32))
        });
        LabError { step, what: what.into(), detail: format!("{e:#}"), errno, hint: None }
    }

    pub(crate) fn os(step: &'static str, what: impl Into<String>, code: i32) -> Self {
        LabError {
            step,
            what: what.into(),
            detail: io::Error::from_raw_os_error(code).to_string(),
            errno: Some(code),
            hint: hint_for(code).map(str::to_owned),
        }
    }
}

/// Advice for the errors a lab step commonly meets.
fn hint_for(code: i32) -> Option<&'static str> {
    match code {
        libc::EPERM | libc::EACCES => Some("run as root (CAP_NET_ADMIN)"),
        libc::EEXIST => Some(
            "something of that name exists and is not the lab's: run `vtrace lab down` with the \
             same options, or choose other names (--prefix, --bridge, --names)",
        ),
        libc::EOPNOTSUPP => {
            Some("the kernel lacks a module the lab needs (veth, bridge): modprobe veth bridge")
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_names_what_failed_why_and_what_to_do() {
        let e = LabError::os("bridge", "creating bridge docker0 in netns vtrace-host", libc::EPERM);
        assert_eq!(
            e.to_string(),
            "creating bridge docker0 in netns vtrace-host: Operation not permitted (os error 1) \
             — run as root (CAP_NET_ADMIN)"
        );
        assert_eq!(e.step(), "bridge");
        assert_eq!(e.errno(), Some(libc::EPERM));
        let e = LabError::other("state", "writing /run/vtrace/lab.json", "disk full");
        assert_eq!(e.to_string(), "writing /run/vtrace/lab.json: disk full");
    }

    #[test]
    fn netlink_errors_keep_their_errno() {
        let mut msg = rtnetlink::packet_core::ErrorMessage::default();
        msg.code = std::num::NonZeroI32::new(-libc::EEXIST);
        let e = LabError::netlink("veth", "creating veth", rtnetlink::Error::NetlinkError(msg));
        assert_eq!(e.errno(), Some(libc::EEXIST));
        assert!(e.to_string().starts_with("creating veth: File exists (os error 17) — "));
    }
}
