//! The vocabulary of nftables trace events: table families, verdicts, trace types, the event
//! itself as `sys::nftrace` decodes it, and which tables are vtrace's own.
//!
//! Plain data and conversions to and from the kernel's numbers. It must not read netlink messages
//! (that is `sys::nftrace`), nor match events to packets or hops (`key`, `book`, `note`).

use super::key::PacketKey;

/// Address family of an nftables table (`nfgen_family`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NfFamily {
    Inet,
    Ip,
    Arp,
    Netdev,
    Bridge,
    Ip6,
    Other(u8),
}

impl NfFamily {
    /// From the kernel's `NFPROTO_*` number.
    pub fn from_nfproto(n: u8) -> Self {
        match n {
            1 => NfFamily::Inet,
            2 => NfFamily::Ip,
            3 => NfFamily::Arp,
            5 => NfFamily::Netdev,
            7 => NfFamily::Bridge,
            10 => NfFamily::Ip6,
            other => NfFamily::Other(other),
        }
    }

    /// The kernel's `NFPROTO_*` number.
    pub fn nfproto(self) -> u8 {
        match self {
            NfFamily::Inet => 1,
            NfFamily::Ip => 2,
            NfFamily::Arp => 3,
            NfFamily::Netdev => 5,
            NfFamily::Bridge => 7,
            NfFamily::Ip6 => 10,
            NfFamily::Other(n) => n,
        }
    }

    /// As `nft` spells it (`ip`, `ip6`, `inet`, `bridge`, `arp`, `netdev`).
    pub fn as_str(self) -> &'static str {
        match self {
            NfFamily::Inet => "inet",
            NfFamily::Ip => "ip",
            NfFamily::Arp => "arp",
            NfFamily::Netdev => "netdev",
            NfFamily::Bridge => "bridge",
            NfFamily::Ip6 => "ip6",
            NfFamily::Other(_) => "unknown",
        }
    }

    /// Families whose chains see IP packets (the ones br_netfilter hands bridged frames to).
    pub fn is_ip(self) -> bool {
        matches!(self, NfFamily::Ip | NfFamily::Ip6 | NfFamily::Inet)
    }
}

/// A netfilter verdict (`NFTA_VERDICT_CODE`, with the target chain of a jump or goto).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NfVerdict {
    Drop,
    Accept,
    Stolen,
    Queue,
    Repeat,
    Stop,
    Continue,
    Break,
    Jump(String),
    Goto(String),
    Return,
    Other(i32),
}

impl NfVerdict {
    /// From the kernel's verdict code and the chain named by a jump/goto.
    pub fn from_code(code: i32, chain: Option<String>) -> Self {
        match code {
            -1 => NfVerdict::Continue,
            -2 => NfVerdict::Break,
            -3 => NfVerdict::Jump(chain.unwrap_or_default()),
            -4 => NfVerdict::Goto(chain.unwrap_or_default()),
            -5 => NfVerdict::Return,
            // NF_VERDICT_MASK: a queue verdict carries its queue number in the high bits.
            c if c >= 0 => match c & 0xff {
                0 => NfVerdict::Drop,
                1 => NfVerdict::Accept,
                2 => NfVerdict::Stolen,
                3 => NfVerdict::Queue,
                4 => NfVerdict::Repeat,
                5 => NfVerdict::Stop,
                _ => NfVerdict::Other(c),
            },
            c => NfVerdict::Other(c),
        }
    }

    /// The kernel's verdict code and the chain of a jump or goto ([`NfVerdict::from_code`]'s
    /// inverse).
    pub fn code(&self) -> (i32, Option<&str>) {
        match self {
            NfVerdict::Drop => (0, None),
            NfVerdict::Accept => (1, None),
            NfVerdict::Stolen => (2, None),
            NfVerdict::Queue => (3, None),
            NfVerdict::Repeat => (4, None),
            NfVerdict::Stop => (5, None),
            NfVerdict::Continue => (-1, None),
            NfVerdict::Break => (-2, None),
            NfVerdict::Jump(c) => (-3, Some(c)),
            NfVerdict::Goto(c) => (-4, Some(c)),
            NfVerdict::Return => (-5, None),
            NfVerdict::Other(c) => (*c, None),
        }
    }

    /// As `nft monitor trace` prints it.
    pub fn as_str(&self) -> &str {
        match self {
            NfVerdict::Drop => "drop",
            NfVerdict::Accept => "accept",
            NfVerdict::Stolen => "stolen",
            NfVerdict::Queue => "queue",
            NfVerdict::Repeat => "repeat",
            NfVerdict::Stop => "stop",
            NfVerdict::Continue => "continue",
            NfVerdict::Break => "break",
            NfVerdict::Jump(_) => "jump",
            NfVerdict::Goto(_) => "goto",
            NfVerdict::Return => "return",
            NfVerdict::Other(_) => "other",
        }
    }
}

/// True for the trace tables vtrace installs (`vtrace_<pid>_<n>`), whose decisions are its own
/// tracing, not the network's (a user's `vtrace_fixture` table is not one of them).
pub fn is_own_table(name: &str) -> bool {
    let Some((pid, n)) = name.strip_prefix("vtrace_").and_then(|r| r.split_once('_')) else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    digits(pid) && digits(n)
}

/// What a trace event reports (`NFTA_TRACE_TYPE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceKind {
    /// The chain's policy decided.
    Policy,
    /// The end of a chain was reached without a verdict (implicit return).
    Return,
    /// A rule matched.
    Rule,
    Other(u32),
}

impl TraceKind {
    pub fn code(self) -> u32 {
        match self {
            TraceKind::Policy => 1,
            TraceKind::Return => 2,
            TraceKind::Rule => 3,
            TraceKind::Other(n) => n,
        }
    }

    pub fn from_code(code: u32) -> Self {
        match code {
            1 => TraceKind::Policy,
            2 => TraceKind::Return,
            3 => TraceKind::Rule,
            other => TraceKind::Other(other),
        }
    }
}

/// One nftables trace event, as decoded from `NFNLGRP_NFTRACE` in one namespace.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NfEvent {
    /// Label of the namespace the event came from (set by the listener).
    pub netns: String,
    /// Receive time, ns since the Unix epoch (set by the listener).
    pub t_ns: u64,
    /// Trace id: the same for every event of one packet's pass through one namespace.
    pub id: u32,
    pub kind: Option<TraceKind>,
    pub family: Option<NfFamily>,
    pub table: String,
    pub chain: String,
    pub rule_handle: Option<u64>,
    /// The rule's text (`nft -a list` without the handle comment), looked up by handle.
    pub rule_text: Option<String>,
    pub verdict: Option<NfVerdict>,
    /// The chain's policy (policy events only).
    pub policy: Option<NfVerdict>,
    pub iif: Option<u32>,
    pub oif: Option<u32>,
    pub iif_name: Option<String>,
    pub oif_name: Option<String>,
    pub mark: Option<u32>,
    /// `NFPROTO_*` of the packet itself (an inet table sees ip or ip6 packets).
    pub nfproto: Option<u8>,
    /// The packet's network header (the kernel sends it once per packet and hook).
    pub network_header: Vec<u8>,
    pub transport_header: Vec<u8>,
    pub ll_header: Vec<u8>,
}

impl NfEvent {
    /// The verdict that decided: the policy for a policy event, else the rule's verdict.
    pub fn decision(&self) -> Option<&NfVerdict> {
        match self.kind {
            Some(TraceKind::Policy) => self.policy.as_ref().or(self.verdict.as_ref()),
            _ => self.verdict.as_ref(),
        }
    }

    /// True when this event dropped the packet.
    pub fn is_drop(&self) -> bool {
        self.decision() == Some(&NfVerdict::Drop)
    }

    /// Identity of the traced packet, from the headers the event carries.
    pub fn key(&self) -> Option<PacketKey> {
        PacketKey::from_headers(&self.network_header, &self.transport_header)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_codes_follow_the_kernel() {
        assert_eq!(NfVerdict::from_code(0, None), NfVerdict::Drop);
        assert_eq!(NfVerdict::from_code(1, None), NfVerdict::Accept);
        assert_eq!(NfVerdict::from_code(0x0003_0003, None), NfVerdict::Queue);
        assert_eq!(
            NfVerdict::from_code(-3, Some("DOCKER".into())),
            NfVerdict::Jump("DOCKER".into())
        );
        assert_eq!(NfVerdict::from_code(-4, None), NfVerdict::Goto(String::new()));
        assert_eq!(NfVerdict::from_code(-5, None), NfVerdict::Return);
        assert_eq!(NfVerdict::from_code(-9, None), NfVerdict::Other(-9));
    }
}
