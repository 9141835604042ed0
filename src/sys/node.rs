//! The node vtrace runs on, as a capture file names it: hostname, hardware (the machine
//! architecture) and OS (kernel name and release). Read once per written file; nothing here
//! fails: what cannot be read is left out.

use crate::core::frame::CaptureNode;

/// This machine.
pub fn this() -> CaptureNode {
    let read = |f: &str| {
        std::fs::read_to_string(format!("/proc/sys/kernel/{f}"))
            .ok()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
    };
    let hostname = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
        .or_else(|| read("hostname"));
    let os = match (read("ostype"), read("osrelease")) {
        (Some(t), Some(r)) => Some(format!("{t} {r}")),
        (t, r) => t.or(r),
    };
    CaptureNode {
        hostname,
        hardware: Some(std::env::consts::ARCH.to_owned()),
        os,
        application: Some(concat!("vtrace ", env!("CARGO_PKG_VERSION")).to_owned()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_this_machine() {
        let node = super::this();
        assert!(node.hostname.is_some_and(|h| !h.contains(char::is_whitespace)));
        assert!(node.os.is_some_and(|os| os.starts_with("Linux ")));
        assert_eq!(node.hardware.as_deref(), Some(std::env::consts::ARCH));
    }
}
