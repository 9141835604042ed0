//! The capabilities a command needs, checked before it changes anything.
//!
//! Reads the effective capability set (`CapEff` in `/proc/self/status`) and names what is
//! missing, with what to do about it, so that `vtrace ping` as an ordinary user fails at once
//! with one clear message rather than half-way through with an `EPERM` from deep inside a
//! netlink call. It never asks for, raises or drops a capability, and never runs a program.

use std::fmt;

use anyhow::{Result, bail};

/// A Linux capability vtrace's live commands need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cap {
    /// Namespaces' links, addresses, routes, nftables tables (`CAP_NET_ADMIN`, bit 12).
    NetAdmin,
    /// Packet captures and ICMP probes (`CAP_NET_RAW`, bit 13).
    NetRaw,
    /// Entering and creating network namespaces, mounting tracefs (`CAP_SYS_ADMIN`, bit 21).
    SysAdmin,
}

impl Cap {
    /// The capability's bit in a capability set.
    pub fn bit(self) -> u32 {
        match self {
            Cap::NetAdmin => 12,
            Cap::NetRaw => 13,
            Cap::SysAdmin => 21,
        }
    }

    /// The name `setcap` and `capsh` use, lowercase (`cap_net_admin`).
    fn setcap_name(self) -> &'static str {
        match self {
            Cap::NetAdmin => "cap_net_admin",
            Cap::NetRaw => "cap_net_raw",
            Cap::SysAdmin => "cap_sys_admin",
        }
    }
}

impl fmt::Display for Cap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Cap::NetAdmin => "CAP_NET_ADMIN",
            Cap::NetRaw => "CAP_NET_RAW",
            Cap::SysAdmin => "CAP_SYS_ADMIN",
        })
    }
}

/// Every capability the live commands use.
pub const LIVE: &[Cap] = &[Cap::NetAdmin, Cap::NetRaw, Cap::SysAdmin];

/// The effective set from a `/proc/PID/status` text (`CapEff:\t000001ffffffffff`).
pub fn parse_cap_eff(status: &str) -> Option<u64> {
    let line = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
    u64::from_str_radix(line.trim(), 16).ok()
}

/// This process's effective capability set, or `None` when `/proc/self/status` cannot say.
pub fn effective() -> Option<u64> {
    std::fs::read_to_string("/proc/self/status").ok().as_deref().and_then(parse_cap_eff)
}

/// The capabilities of `needed` that the set `eff` lacks, in the order given.
pub fn missing_from(eff: u64, needed: &[Cap]) -> Vec<Cap> {
    needed.iter().copied().filter(|c| eff & (1u64 << c.bit()) == 0).collect()
}

/// The message for `command` lacking `missing` (of `needed`): what is missing and what to do.
pub fn message(command: &str, needed: &[Cap], missing: &[Cap]) -> String {
    let names = |caps: &[Cap]| caps.iter().map(Cap::to_string).collect::<Vec<_>>().join(", ");
    let setcap = needed.iter().map(|c| c.setcap_name()).collect::<Vec<_>>().join(",");
    format!(
        "`vtrace {command}` needs {} and this process lacks {}: run it as root \
         (`sudo vtrace {command} …`), or give the binary the capabilities \
         (`sudo setcap {setcap}+ep \"$(command -v vtrace)\"`). Nothing was changed.",
        names(needed),
        names(missing),
    )
}

/// Fail, before anything is changed, when this process lacks any of `needed` for `command`.
/// When the effective set cannot be read the command goes ahead (its own errors name the
/// capability at the step that needs it).
pub fn require(command: &str, needed: &[Cap]) -> Result<()> {
    let Some(eff) = effective() else { return Ok(()) };
    let missing = missing_from(eff, needed);
    if !missing.is_empty() {
        bail!("{}", message(command, needed, &missing));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "Name:\tvtrace\nCapInh:\t0000000000000000\nCapPrm:\t000001ffffffffff\n\
                          CapEff:\t0000000000003000\nCapBnd:\t000001ffffffffff\n";

    #[test]
    fn the_effective_set_is_read_from_status() {
        assert_eq!(parse_cap_eff(STATUS), Some(0x3000));
        assert_eq!(parse_cap_eff("CapEff:\tzz\n"), None);
        assert_eq!(parse_cap_eff("Name:\tx\n"), None);
    }

    #[test]
    fn missing_capabilities_are_named_in_order() {
        // 0x3000: NET_ADMIN (12) and NET_RAW (13), no SYS_ADMIN (21).
        assert_eq!(missing_from(0x3000, LIVE), vec![Cap::SysAdmin]);
        assert_eq!(missing_from(0, LIVE), LIVE.to_vec());
        assert!(missing_from(u64::MAX, LIVE).is_empty());
        let m = message("ping", LIVE, &[Cap::NetRaw, Cap::SysAdmin]);
        assert!(m.contains("lacks CAP_NET_RAW, CAP_SYS_ADMIN"), "{m}");
        assert!(m.contains("sudo setcap cap_net_admin,cap_net_raw,cap_sys_admin+ep"), "{m}");
    }
}
