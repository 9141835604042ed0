//! Netfilter trace events and kernel drop reasons, and what they say about a packet.
//!
//! Pure: the types the `sys::nftrace` and `sys::dropmon` adapters produce, the packet identity
//! carried by a trace event's headers (so an event is matched to the packet a capture saw), the
//! [`TraceBook`] that annotates each exchange's legs with their decisions (on their hop) and the
//! kernel drops attributed to a lost packet (by protocol and time), and the diagnosis rule "the
//! packet was lost after point P and a netfilter chain in a namespace at or after P dropped it",
//! with the verdict's sentence on the kernel's drop reason. It never opens sockets or files, and
//! it does not decide the order of points on a path (the caller passes the namespaces that follow
//! the last point reached).

use std::collections::HashMap;

use foldhash::fast::FixedState;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::core::exchange::{Exchange, Leg};
use crate::core::packet::Packet;

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

/// One netfilter decision about a journey's packet, as the report shows it on the journey.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NfDecision {
    pub netns: String,
    pub family: String,
    pub table: String,
    pub chain: String,
    /// The rule's text, `handle N` when the text could not be read, or `policy`.
    pub rule: String,
    pub verdict: String,
    /// Index in the journey's hops of the hop it happened at (`None`: a namespace the journey
    /// never reached, or hops unknown).
    pub hop: Option<usize>,
}

/// What the kernel said about a journey's packet: a netfilter decision traced in a namespace, or
/// a kernel drop (`kfree_skb` with its reason) attributed to the packet by time and protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NfNote {
    Decision(NfDecision),
    KernelDrop(DropEvent),
}

impl NfNote {
    /// The note of an event that decided something (a rule matched or a policy applied);
    /// `None` for vtrace's own tracing table and for events without a verdict.
    pub fn from_event(e: &NfEvent) -> Option<NfNote> {
        if is_own_table(&e.table) {
            return None;
        }
        let (rule, verdict) = match e.kind {
            Some(TraceKind::Policy) => {
                ("policy".to_owned(), e.policy.as_ref().or(e.verdict.as_ref())?)
            }
            _ => {
                let rule = match (&e.rule_text, e.rule_handle) {
                    (Some(t), _) if !t.is_empty() => t.clone(),
                    (_, Some(h)) => format!("handle {h}"),
                    _ => String::new(),
                };
                (rule, e.verdict.as_ref()?)
            }
        };
        let verdict = match verdict {
            NfVerdict::Jump(c) | NfVerdict::Goto(c) => format!("{} {c}", verdict.as_str()),
            v => v.as_str().to_owned(),
        };
        Some(NfNote::Decision(NfDecision {
            netns: e.netns.clone(),
            family: e.family.map_or("?", NfFamily::as_str).to_owned(),
            table: e.table.clone(),
            chain: e.chain.clone(),
            rule,
            verdict,
            hop: None,
        }))
    }

    pub fn decision(&self) -> Option<&NfDecision> {
        match self {
            NfNote::Decision(d) => Some(d),
            NfNote::KernelDrop(_) => None,
        }
    }

    pub fn kernel_drop(&self) -> Option<&DropEvent> {
        match self {
            NfNote::KernelDrop(d) => Some(d),
            NfNote::Decision(_) => None,
        }
    }
}

/// Keeps the trace events of one flow (the packets between two addresses, either way). Every
/// vtrace run tracing in a namespace receives every trace event of that namespace, also those
/// of another run's flow; an event names its packet's headers only on the first event of each
/// base chain, so the trace ids of the flow's packets are remembered for the events after it.
#[derive(Debug, Clone)]
pub struct FlowFilter {
    a: IpAddr,
    b: IpAddr,
    ids: std::collections::HashSet<u32, FixedState>,
}

/// Trace ids remembered before the set is cleared (bounds memory under a flood).
const MAX_FLOW_IDS: usize = 1 << 16;

impl FlowFilter {
    pub fn new(a: IpAddr, b: IpAddr) -> Self {
        FlowFilter { a, b, ids: std::collections::HashSet::with_hasher(FixedState::with_seed(0)) }
    }

    /// True when `ev` belongs to the flow: its headers name the two addresses, or an earlier
    /// event with the same trace id did.
    pub fn keep(&mut self, ev: &NfEvent) -> bool {
        match PacketKey::from_headers(&ev.network_header, &ev.transport_header) {
            Some(k) => {
                let ours =
                    (k.src == self.a && k.dst == self.b) || (k.src == self.b && k.dst == self.a);
                if ours {
                    if self.ids.len() >= MAX_FLOW_IDS {
                        self.ids.clear();
                    }
                    self.ids.insert(ev.id);
                } else {
                    self.ids.remove(&ev.id);
                }
                ours
            }
            None => self.ids.contains(&ev.id),
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

/// One `skb:kfree_skb` event (a packet freed because it was dropped, with the kernel's reason).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DropEvent {
    /// ns since the Unix epoch.
    pub t_ns: u64,
    /// Ethertype of the freed packet (`0x0800` IPv4).
    pub protocol: u16,
    /// Kernel function and offset that freed it (`nft_do_chain+0x3e8/0x5a0`).
    pub location: String,
    /// Drop reason name without the `SKB_DROP_REASON_` prefix (`NETFILTER_DROP`).
    pub reason: String,
}

/// What identifies a packet in a trace event and in a capture alike: addresses, protocol, IP id
/// and, for ICMP echoes, the echo id and sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PacketKey {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub proto: u8,
    pub ip_id: Option<u16>,
    pub echo: Option<(u16, u16)>,
}

impl PacketKey {
    /// From a trace event's network and transport headers (IPv4 or IPv6).
    pub fn from_headers(nh: &[u8], th: &[u8]) -> Option<Self> {
        let version = nh.first()? >> 4;
        let (src, dst, proto, ip_id) = match version {
            4 => {
                let src: [u8; 4] = nh.get(12..16)?.try_into().ok()?;
                let dst: [u8; 4] = nh.get(16..20)?.try_into().ok()?;
                let id = u16::from_be_bytes(nh.get(4..6)?.try_into().ok()?);
                (
                    IpAddr::from(Ipv4Addr::from(src)),
                    IpAddr::from(Ipv4Addr::from(dst)),
                    *nh.get(9)?,
                    Some(id),
                )
            }
            6 => {
                let src: [u8; 16] = nh.get(8..24)?.try_into().ok()?;
                let dst: [u8; 16] = nh.get(24..40)?.try_into().ok()?;
                (
                    IpAddr::from(Ipv6Addr::from(src)),
                    IpAddr::from(Ipv6Addr::from(dst)),
                    *nh.get(6)?,
                    None,
                )
            }
            _ => return None,
        };
        let echo_types: &[u8] = if proto == 1 {
            &[0, 8]
        } else if proto == 58 {
            &[128, 129]
        } else {
            &[]
        };
        let echo = match (th.first(), th.get(4..8)) {
            (Some(ty), Some(b)) if echo_types.contains(ty) => {
                Some((u16::from_be_bytes([b[0], b[1]]), u16::from_be_bytes([b[2], b[3]])))
            }
            _ => None,
        };
        Some(PacketKey { src, dst, proto, ip_id, echo })
    }

    /// From a decoded packet (its outermost IP header).
    pub fn from_packet(p: &Packet) -> Option<Self> {
        let ip = p.ip.as_ref()?;
        let echo = p
            .icmp
            .as_ref()
            .and_then(|i| i.echo)
            .or_else(|| p.icmpv6.as_ref().and_then(|i| i.echo))
            .map(|e| (e.id, e.seq));
        let ip_id = if ip.src.is_ipv4() { ip.id } else { None };
        Some(PacketKey { src: ip.src, dst: ip.dst, proto: ip.proto, ip_id, echo })
    }
}

/// A trace event's network and transport headers.
type Headers = (Vec<u8>, Vec<u8>);

/// Trace events of a run, indexed by packet. Events after the first of a packet's pass through
/// a hook carry no headers; they inherit those of the previous event with the same trace id in
/// the same namespace.
#[derive(Debug, Default)]
pub struct TraceBook {
    events: Vec<NfEvent>,
    by_key: HashMap<PacketKey, Vec<usize>, FixedState>,
    last_headers: HashMap<(String, u32), Headers, FixedState>,
    /// Kernel drops (every namespace's: tracefs is global), in arrival order.
    drops: Vec<DropEvent>,
    /// The kernel drops attributed to the first lost leg that had any.
    lost_drops: Option<Vec<DropEvent>>,
}

impl TraceBook {
    pub fn new() -> Self {
        Self::default()
    }

    /// Add one event (in the order its namespace delivered it); those of vtrace's own table only
    /// lend their headers to the packet's later events. Past [`MAX_EVENTS`] the older half is
    /// forgotten (a long `watch` keeps memory flat).
    pub fn ingest(&mut self, mut ev: NfEvent) {
        if self.events.len() >= MAX_EVENTS {
            self.forget_older_half();
        }
        let slot = (ev.netns.clone(), ev.id);
        if ev.network_header.is_empty() {
            if let Some((nh, th)) = self.last_headers.get(&slot) {
                ev.network_header.clone_from(nh);
                ev.transport_header.clone_from(th);
            }
        } else {
            // Bounded on its own: vtrace's own events never reach `events`.
            if self.last_headers.len() >= MAX_EVENTS {
                self.last_headers.clear();
            }
            self.last_headers
                .insert(slot, (ev.network_header.clone(), ev.transport_header.clone()));
        }
        // vtrace's own tracing table decides nothing: its events only lend their headers.
        if is_own_table(&ev.table) {
            return;
        }
        if let Some(key) = ev.key() {
            self.by_key.entry(key).or_default().push(self.events.len());
        }
        self.events.push(ev);
    }

    fn forget_older_half(&mut self) {
        self.events.drain(..self.events.len() / 2);
        self.by_key.clear();
        for (i, ev) in self.events.iter().enumerate() {
            if let Some(key) = ev.key() {
                self.by_key.entry(key).or_default().push(i);
            }
        }
        self.last_headers.clear();
    }

    /// Every event, in arrival order.
    pub fn events(&self) -> &[NfEvent] {
        &self.events
    }

    /// True before the first event or kernel drop.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty() && self.drops.is_empty()
    }

    /// Add kernel drops (any order). The oldest are forgotten past [`MAX_DROPS`].
    pub fn add_drops(&mut self, drops: Vec<DropEvent>) {
        self.drops.extend(drops);
        if self.drops.len() > MAX_DROPS {
            self.drops.sort_by_key(|d| d.t_ns);
            self.drops.drain(..self.drops.len() - MAX_DROPS / 2);
        }
    }

    /// Every kernel drop kept.
    pub fn drops(&self) -> &[DropEvent] {
        &self.drops
    }

    /// The kernel drops attributed to the first lost leg that had any (what the verdict names).
    pub fn lost_drops(&self) -> &[DropEvent] {
        self.lost_drops.as_deref().unwrap_or_default()
    }

    /// The exchange with, on each leg, the netfilter decisions traced for its packet and, on a
    /// lost leg (or an unanswered request), the kernel drops attributed to it.
    /// `names` are the point ids (`<namespace label>/<ifname>`) by point index: they place each
    /// decision on its hop.
    pub fn annotate(&mut self, ex: &Exchange, names: &[String]) -> Exchange {
        let mut ex = ex.clone();
        // A request that reached the end of the line unanswered was lost after its last point.
        let unanswered = ex.expects_reply && ex.reply.is_none();
        let legs = std::iter::once((&mut ex.request, unanswered))
            .chain(ex.reply.as_mut().map(|r| (r, false)))
            .chain(ex.errors.iter_mut().map(|e| (e, false)));
        for (leg, unanswered) in legs {
            let hops: Vec<(&str, &str)> = leg
                .journey
                .hops
                .iter()
                .map(|h| {
                    let id = names.get(h.point.index()).map_or("", String::as_str);
                    id.rsplit_once('/').unwrap_or((id, ""))
                })
                .collect();
            let mut notes: Vec<NfNote> = Vec::new();
            for ev in self.for_packet(&leg.journey.packet) {
                if let Some(NfNote::Decision(mut d)) = NfNote::from_event(ev) {
                    d.hop = hop_of(ev, &hops);
                    notes.push(NfNote::Decision(d));
                }
            }
            if leg.lost.is_some() || unanswered {
                let nf_dropped = notes
                    .iter()
                    .any(|n| n.decision().is_some_and(|d| d.verdict == NfVerdict::Drop.as_str()));
                let drops = attribute_drops(&self.drops, leg, nf_dropped);
                if self.lost_drops.is_none() && !drops.is_empty() {
                    self.lost_drops = Some(drops.clone());
                }
                notes.extend(drops.into_iter().map(NfNote::KernelDrop));
            }
            leg.netfilter = notes;
        }
        ex
    }

    /// The events of one packet, in arrival order.
    pub fn for_packet(&self, p: &Packet) -> Vec<&NfEvent> {
        PacketKey::from_packet(p).map(|k| self.for_key(&k)).unwrap_or_default()
    }

    /// The events of one packet identity, in arrival order.
    pub fn for_key(&self, k: &PacketKey) -> Vec<&NfEvent> {
        self.by_key
            .get(k)
            .map(|ix| ix.iter().filter_map(|&i| self.events.get(i)).collect())
            .unwrap_or_default()
    }
}

/// Trace events kept by a [`TraceBook`] at most.
pub const MAX_EVENTS: usize = 8_000;
/// Kernel drops kept by a [`TraceBook`] at most.
pub const MAX_DROPS: usize = 8_000;
/// A lost packet's kernel drop is looked for from this long before its last sighting (the
/// trace clock and the capture clock differ by a little)…
pub const DROP_BEFORE_NS: u64 = 1_000_000;
/// …to this long after it (a packet is dropped microseconds after its last sighting; tracefs is
/// global, so a wider window only catches other traffic's drops).
pub const DROP_AFTER_NS: u64 = 10_000_000;
/// Drops further than this from the nearest one belong to other packets.
const DROP_CLUSTER_NS: u64 = 1_000_000;
/// Kernel drops attributed to one leg at most.
const DROPS_PER_LEG: usize = 3;

/// Ethertype of a packet (ARP, IPv4, IPv6), as `kfree_skb` reports it.
pub fn ethertype(p: &Packet) -> Option<u16> {
    if p.arp.is_some() {
        return Some(0x0806);
    }
    let ip = p.ip.as_ref()?;
    Some(if ip.src.is_ipv4() { 0x0800 } else { 0x86dd })
}

/// The kernel drops that explain a lost leg: same protocol, close to its last sighting (the
/// nearest, and those within a millisecond of it, at most [`DROPS_PER_LEG`]), and when netfilter
/// dropped it, the netfilter drops if any were seen; drops of promiscuous copies only when nothing
/// else was seen. Returned in time order.
pub fn attribute_drops(drops: &[DropEvent], leg: &Leg, nf_dropped: bool) -> Vec<DropEvent> {
    let (Some(proto), Some(last)) = (ethertype(&leg.journey.packet), leg.journey.last()) else {
        return Vec::new();
    };
    let t = last.t_ns;
    let mut near = drops_between(
        drops,
        proto,
        t.saturating_sub(DROP_BEFORE_NS),
        t.saturating_add(DROP_AFTER_NS),
    );
    if nf_dropped && near.iter().any(|d| d.is_netfilter()) {
        near.retain(|d| d.is_netfilter());
    }
    // A bridge captured in promiscuous mode (vtrace's own capture) hands the host a copy of each
    // frame it forwards, which the host drops as OTHERHOST: not the packet's fate.
    if near.iter().any(|d| !d.is_promiscuous_copy()) {
        near.retain(|d| !d.is_promiscuous_copy());
    }
    near.sort_by_key(|d| d.t_ns.abs_diff(t));
    let nearest = near.first().map_or(0, |d| d.t_ns);
    near.retain(|d| d.t_ns.abs_diff(nearest) <= DROP_CLUSTER_NS);
    near.truncate(DROPS_PER_LEG);
    near.sort_by_key(|d| d.t_ns);
    near.into_iter().cloned().collect()
}

impl DropEvent {
    /// A copy a promiscuous interface received for another host (`OTHERHOST`).
    pub fn is_promiscuous_copy(&self) -> bool {
        self.reason == "OTHERHOST"
    }

    /// Dropped by a netfilter verdict.
    pub fn is_netfilter(&self) -> bool {
        self.reason == "NETFILTER_DROP"
            || self.location.starts_with("nft_")
            || self.location.starts_with("nf_")
    }

    /// The command that shows what made the kernel drop for this reason.
    pub fn hint(&self) -> &'static str {
        let r = self.reason.as_str();
        match r {
            "NETFILTER_DROP" => "nft -a list ruleset",
            "NO_SOCKET" | "SOCKET_FILTER" | "SOCKET_RCVBUFF" | "PROTO_MEM" => "ss -a -n -p",
            "IP_RPFILTER" => "sysctl net.ipv4.conf.all.rp_filter",
            "OTHERHOST" | "DEV_READY" | "NO_DEV" | "DEV_HDR" => "ip -d link show",
            "PKT_TOO_BIG" | "PKT_TOO_SMALL" | "IP_FRAG" | "FRAG_REASM_TIMEOUT" => "ip link show",
            "IP_OUTNOROUTES" | "IP_INNOROUTES" | "IP_INADDRERRORS" | "IP_INHDR" => {
                "ip route show table all"
            }
            _ if r.starts_with("NEIGH_") => "ip neigh show",
            _ if r.starts_with("TC_") => "tc -s filter show",
            _ if r.starts_with("QDISC_") => "tc -s qdisc show",
            _ if r.starts_with("BRIDGE") || r.starts_with("VLAN") => "bridge -d link show",
            _ if r.starts_with("TCP_") => "ss -t -i -n",
            _ => "nstat -az",
        }
    }

    /// `NETFILTER_DROP at nft_do_chain+0x3e8`.
    pub fn describe(&self) -> String {
        if self.location.is_empty() {
            self.reason.clone()
        } else {
            format!("{} at {}", self.reason, self.location)
        }
    }
}

/// The verdict's sentence about the kernel drop of the lost packet (a reason other than
/// `NOT_SPECIFIED` preferred), with its hint run in the namespace labelled `netns`.
pub fn kernel_drop_detail(drops: &[DropEvent], netns: Option<&str>) -> Option<String> {
    let d = drops.iter().find(|d| d.reason != "NOT_SPECIFIED").or_else(|| drops.first())?;
    let hint = match netns {
        Some(ns) => in_namespace(ns, d.hint()),
        None => d.hint().to_owned(),
    };
    Some(format!("kernel drop reason {} (see: {hint})", d.describe()))
}

/// The hop of a journey (given as (namespace label, ifname) in the order the packet passed them)
/// an event belongs to: the hop of its namespace whose interface is the event's input (else
/// output) interface, else the first hop in its namespace (the last one for a drop: the packet
/// went no further). `None` for a namespace the journey never reached.
pub fn hop_of(ev: &NfEvent, hops: &[(&str, &str)]) -> Option<usize> {
    let on = |name: &Option<String>| {
        hops.iter().position(|(ns, ifn)| *ns == ev.netns && name.as_deref() == Some(*ifn))
    };
    let mut in_ns = hops.iter().enumerate().filter(|(_, (ns, _))| *ns == ev.netns).map(|(i, _)| i);
    let fallback = if ev.is_drop() { in_ns.next_back() } else { in_ns.next() };
    on(&ev.iif_name).or_else(|| on(&ev.oif_name)).or(fallback)
}

/// Attach a packet's events to the hops of its journey ([`hop_of`]); events of a namespace the
/// journey never reached are left out. Returns one list per hop.
pub fn attach<'a>(events: &[&'a NfEvent], hops: &[(&str, &str)]) -> Vec<Vec<&'a NfEvent>> {
    let mut out: Vec<Vec<&'a NfEvent>> = vec![Vec::new(); hops.len()];
    for ev in events {
        if let Some(slot) = hop_of(ev, hops).and_then(|i| out.get_mut(i)) {
            slot.push(ev);
        }
    }
    out
}

/// br_netfilter's switches in one namespace (`net.bridge.bridge-nf-call-*`); `None` when the
/// module is not loaded there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BrNetfilter {
    pub call_iptables: Option<bool>,
    pub call_ip6tables: Option<bool>,
    pub call_arptables: Option<bool>,
}

/// A netfilter drop that explains a lost packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NfDrop {
    pub netns: String,
    pub family: NfFamily,
    pub table: String,
    pub chain: String,
    /// The dropping rule's text; `None` when the chain's policy dropped.
    pub rule: Option<String>,
    pub rule_handle: Option<u64>,
    /// The packet was bridged in that namespace and met an ip-family chain because
    /// `bridge-nf-call-iptables` (or ip6tables) is on.
    pub via_br_netfilter: bool,
}

/// The diagnosis rule: among a lost packet's trace events, the first drop in one of the
/// namespaces at or after the last point that saw it (`namespaces`, in path order). `bridged`
/// lists the namespaces where the packet crossed a bridge, with their br_netfilter switches.
pub fn find_drop(
    events: &[&NfEvent],
    namespaces: &[&str],
    bridged: &[(&str, BrNetfilter)],
) -> Option<NfDrop> {
    let ev =
        namespaces.iter().find_map(|ns| events.iter().find(|e| e.netns == *ns && e.is_drop()))?;
    let family = ev.family.unwrap_or(NfFamily::Other(0));
    let brnf = bridged.iter().find(|(ns, _)| *ns == ev.netns).map(|(_, b)| *b);
    let is_v6 = ev.nfproto == Some(10);
    // A packet routed between two interfaces (a bridge to another) meets iptables anyway;
    // br_netfilter hands ip chains bridged frames with the bridge as both in and out.
    let routed = matches!((ev.iif, ev.oif), (Some(i), Some(o)) if i != o);
    let via_br_netfilter = family.is_ip()
        && !routed
        && brnf.is_some_and(|b| {
            if is_v6 { b.call_ip6tables == Some(true) } else { b.call_iptables == Some(true) }
        });
    let policy = ev.kind == Some(TraceKind::Policy);
    Some(NfDrop {
        netns: ev.netns.clone(),
        family,
        table: ev.table.clone(),
        chain: ev.chain.clone(),
        rule: if policy { None } else { ev.rule_text.clone().or_else(|| Some(String::new())) },
        rule_handle: if policy { None } else { ev.rule_handle },
        via_br_netfilter,
    })
}

impl NfDrop {
    /// One sentence for the verdict's summary.
    pub fn summary(&self) -> String {
        let what = match &self.rule {
            None => "policy drop".to_owned(),
            Some(r) if r.is_empty() => match self.rule_handle {
                Some(h) => format!("rule handle {h}"),
                None => "a rule".to_owned(),
            },
            Some(r) => format!("rule `{r}`"),
        };
        let mut s = format!(
            "dropped by netfilter in {}: {} {} {}, {what}",
            self.netns,
            self.family.as_str(),
            self.table,
            self.chain
        );
        if self.via_br_netfilter {
            s.push_str(
                "; bridged frames meet iptables there because net.bridge.bridge-nf-call-iptables \
                 is on (br_netfilter)",
            );
        }
        s
    }

    /// The command that shows the chain, run in the right namespace.
    pub fn hint(&self) -> String {
        let nft =
            format!("nft -a list chain {} {} {}", self.family.as_str(), self.table, self.chain);
        in_namespace(&self.netns, &nft)
    }
}

/// Prefix `cmd` so that it runs in the namespace labelled `label` (`host` is the root one,
/// `pid:N` a process's, anything else a named netns).
pub fn in_namespace(label: &str, cmd: &str) -> String {
    if label == crate::core::topology::HOST_LABEL {
        cmd.to_owned()
    } else if let Some(pid) = label.strip_prefix("pid:") {
        format!("nsenter -t {pid} -n {cmd}")
    } else {
        format!("ip netns exec {label} {cmd}")
    }
}

/// Kernel drops of one protocol between two instants (a lost packet's last sighting and the
/// time the next point should have seen it), the drop-reason noise of other traffic excluded
/// by protocol and time only.
pub fn drops_between(
    drops: &[DropEvent],
    protocol: u16,
    from_ns: u64,
    to_ns: u64,
) -> Vec<&DropEvent> {
    drops
        .iter()
        .filter(|d| d.protocol == protocol && d.t_ns >= from_ns && d.t_ns <= to_ns)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// IPv4 header 172.18.0.2 → 172.18.0.3, id 0x1234, ICMP; echo request id 7 seq 1.
    fn headers() -> (Vec<u8>, Vec<u8>) {
        let nh =
            vec![0x45, 0, 0, 84, 0x12, 0x34, 0x40, 0, 64, 1, 0, 0, 172, 18, 0, 2, 172, 18, 0, 3];
        let th = vec![8, 0, 0, 0, 0, 7, 0, 1, 0xaa, 0xbb];
        (nh, th)
    }

    fn event(ns: &str, id: u32, kind: TraceKind, verdict: NfVerdict) -> NfEvent {
        NfEvent {
            netns: ns.into(),
            id,
            kind: Some(kind),
            family: Some(NfFamily::Ip),
            table: "filter".into(),
            chain: "FORWARD".into(),
            rule_handle: Some(4),
            rule_text: Some("icmp type echo-request drop".into()),
            verdict: Some(verdict.clone()),
            policy: (kind == TraceKind::Policy).then_some(verdict),
            ..NfEvent::default()
        }
    }

    #[test]
    fn a_flow_filter_keeps_the_flows_events_and_those_after_them_with_the_same_id() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let (nh, th) = headers();
        let with_headers = |id: u32, nh: &[u8]| NfEvent {
            network_header: nh.to_vec(),
            transport_header: th.clone(),
            ..event("host", id, TraceKind::Rule, NfVerdict::Accept)
        };
        let mut f = FlowFilter::new(ip("172.18.0.3"), ip("172.18.0.2"));
        assert!(f.keep(&with_headers(1, &nh)), "the flow's packet, either way");
        assert!(f.keep(&event("host", 1, TraceKind::Policy, NfVerdict::Drop)), "same trace id");
        let mut other = nh.clone();
        other[19] = 9; // 172.18.0.2 → 172.18.0.9: another run's flow
        assert!(!f.keep(&with_headers(2, &other)));
        assert!(!f.keep(&event("host", 2, TraceKind::Policy, NfVerdict::Drop)), "its later events");
        assert!(!f.keep(&event("host", 3, TraceKind::Rule, NfVerdict::Accept)), "unknown id");
        // A trace id reused by another flow's packet is forgotten for the flow.
        assert!(!f.keep(&with_headers(1, &other)));
        assert!(!f.keep(&event("host", 1, TraceKind::Rule, NfVerdict::Accept)));
    }

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

    #[test]
    fn key_from_headers_reads_addresses_id_and_echo() {
        let (nh, th) = headers();
        let k = PacketKey::from_headers(&nh, &th).expect("key");
        assert_eq!(k.src, IpAddr::from([172, 18, 0, 2]));
        assert_eq!(k.dst, IpAddr::from([172, 18, 0, 3]));
        assert_eq!((k.proto, k.ip_id, k.echo), (1, Some(0x1234), Some((7, 1))));
        assert_eq!(PacketKey::from_headers(&nh[..19], &th), None);
        assert_eq!(PacketKey::from_headers(&[], &th), None);
        assert_eq!(PacketKey::from_headers(&nh, &[]).map(|k| k.echo), Some(None));
    }

    #[test]
    fn later_events_of_a_trace_id_inherit_the_headers() {
        let (nh, th) = headers();
        let mut book = TraceBook::new();
        let mut first = event("host", 9, TraceKind::Rule, NfVerdict::Continue);
        first.network_header = nh.clone();
        first.transport_header = th.clone();
        book.ingest(first);
        book.ingest(event("host", 9, TraceKind::Policy, NfVerdict::Drop));
        book.ingest(event("other", 9, TraceKind::Policy, NfVerdict::Accept));
        let key = PacketKey::from_headers(&nh, &th).expect("key");
        let evs = book.for_key(&key);
        assert_eq!(evs.len(), 2);
        assert_eq!(evs[1].decision(), Some(&NfVerdict::Drop));
        assert_eq!(book.events().len(), 3);
    }

    #[test]
    fn policy_drop_after_the_last_point_names_the_chain_and_br_netfilter() {
        let accept = event("nginx-1", 1, TraceKind::Policy, NfVerdict::Accept);
        let drop = event("host", 2, TraceKind::Policy, NfVerdict::Drop);
        let evs = [&accept, &drop];
        let on = BrNetfilter { call_iptables: Some(true), ..BrNetfilter::default() };
        let d = find_drop(&evs, &["host", "nginx-2"], &[("host", on)]).expect("drop");
        assert_eq!(d.rule, None);
        assert!(d.via_br_netfilter);
        assert_eq!(
            d.summary(),
            "dropped by netfilter in host: ip filter FORWARD, policy drop; bridged frames meet \
             iptables there because net.bridge.bridge-nf-call-iptables is on (br_netfilter)"
        );
        assert_eq!(d.hint(), "nft -a list chain ip filter FORWARD");
        assert_eq!(find_drop(&evs, &["nginx-2"], &[]), None);
        // Routed from one bridge to another (in and out differ), not bridged: no br_netfilter.
        let routed = NfEvent { iif: Some(4), oif: Some(7), ..drop.clone() };
        let d = find_drop(&[&routed], &["host"], &[("host", on)]).expect("drop");
        assert!(!d.via_br_netfilter, "{}", d.summary());
        // br_netfilter hands the ip chain the bridge as both in and out.
        let bridged = NfEvent { iif: Some(4), oif: Some(4), ..drop.clone() };
        assert!(
            find_drop(&[&bridged], &["host"], &[("host", on)]).is_some_and(|d| d.via_br_netfilter)
        );
    }

    #[test]
    fn rule_drop_names_the_rule_and_the_namespace_command() {
        let drop = event("nginx-2", 3, TraceKind::Rule, NfVerdict::Drop);
        let d = find_drop(&[&drop], &["nginx-2"], &[]).expect("drop");
        assert_eq!(d.rule.as_deref(), Some("icmp type echo-request drop"));
        assert!(!d.via_br_netfilter);
        assert_eq!(
            d.summary(),
            "dropped by netfilter in nginx-2: ip filter FORWARD, rule `icmp type echo-request drop`"
        );
        assert_eq!(d.hint(), "ip netns exec nginx-2 nft -a list chain ip filter FORWARD");
        assert_eq!(in_namespace("pid:42", "nft list ruleset"), "nsenter -t 42 -n nft list ruleset");
    }

    #[test]
    fn events_attach_to_the_hop_of_their_interface_or_namespace() {
        let mut on_port = event("host", 1, TraceKind::Policy, NfVerdict::Accept);
        on_port.iif_name = Some("veth2".into());
        let mut out_only = event("host", 1, TraceKind::Rule, NfVerdict::Accept);
        out_only.oif_name = Some("docker0".into());
        let elsewhere = event("nginx-2", 1, TraceKind::Policy, NfVerdict::Accept);
        let unknown = event("other", 1, TraceKind::Policy, NfVerdict::Accept);
        let hops = [
            ("nginx-1", "eth0"),
            ("host", "veth1"),
            ("host", "docker0"),
            ("host", "veth2"),
            ("nginx-2", "eth0"),
        ];
        let got = attach(&[&on_port, &out_only, &elsewhere, &unknown], &hops);
        let counts: Vec<usize> = got.iter().map(Vec::len).collect();
        assert_eq!(counts, vec![0, 0, 1, 1, 1]);
        assert_eq!(got[3][0].iif_name.as_deref(), Some("veth2"));
        assert_eq!(got[2][0].oif_name.as_deref(), Some("docker0"));
    }

    #[test]
    fn drops_are_attributed_by_protocol_and_time() {
        let d = |t, p| DropEvent {
            t_ns: t,
            protocol: p,
            location: "x".into(),
            reason: "NETFILTER_DROP".into(),
        };
        let all = [d(10, 0x0800), d(20, 0x86dd), d(30, 0x0800), d(50, 0x0800)];
        let got: Vec<u64> = drops_between(&all, 0x0800, 10, 30).iter().map(|d| d.t_ns).collect();
        assert_eq!(got, vec![10, 30]);
    }

    fn drop_at(t_ns: u64, protocol: u16, reason: &str, location: &str) -> DropEvent {
        DropEvent { t_ns, protocol, location: location.into(), reason: reason.into() }
    }

    /// An ICMP echo exchange 172.18.0.2 → 172.18.0.3 whose request was last seen at `t`, unanswered.
    fn unanswered_echo(t: u64) -> Exchange {
        use crate::core::exchange::ExchangeKind;
        use crate::core::journey::{Hop, Journey};
        use crate::core::line::PointIdx;
        use crate::core::packet::Ip;
        let ip = Ip {
            src: [172, 18, 0, 2].into(),
            dst: [172, 18, 0, 3].into(),
            id: Some(0x1234),
            proto: 1,
            ttl: 64,
            total_len: 84,
            dont_fragment: true,
            frag_offset: 0,
            more_fragments: false,
        };
        let icmp = crate::core::packet::Icmp {
            ty: 8,
            code: 0,
            echo: Some(crate::core::packet::Echo { id: 7, seq: 1 }),
            quoted: None,
        };
        let packet = Box::new(Packet { ip: Some(ip), icmp: Some(icmp), ..Packet::default() });
        let hops = vec![Hop { point: PointIdx(0), t_ns: t, frame: 1 }];
        Exchange {
            kind: ExchangeKind::IcmpEcho,
            request: Leg {
                journey: Journey { packet, hops, direction: None },
                lost: None,
                netfilter: Vec::new(),
            },
            reply: None,
            errors: Vec::new(),
            rtt_ns: None,
            expects_reply: true,
        }
    }

    #[test]
    fn an_unanswered_request_carries_the_nearest_drops_of_its_protocol() {
        let t = 1_000_000_000;
        let mut book = TraceBook::new();
        book.add_drops(vec![
            drop_at(t + 50_000, 0x0800, "NETFILTER_DROP", "nft_do_chain+0x3e8"),
            drop_at(t + 60_000, 0x86dd, "NO_SOCKET", "x"),
            drop_at(t + 40_000, 0x0800, "NOT_SPECIFIED", "sk_stream_kill_queues+0x50"),
            drop_at(t + 500_000_000, 0x0800, "NETFILTER_DROP", "too late"),
            drop_at(t - 10_000_000, 0x0800, "NETFILTER_DROP", "too early"),
        ]);
        let names = ["n2/eth0".to_owned()];
        let (nh, th) = headers();
        let mut dropped = event("n2", 5, TraceKind::Rule, NfVerdict::Drop);
        dropped.iif_name = Some("eth0".into());
        dropped.network_header = nh;
        dropped.transport_header = th;
        let elsewhere = NfEvent { netns: "n9".into(), id: 6, ..dropped.clone() };
        book.ingest(dropped);
        book.ingest(elsewhere);
        let ex = book.annotate(&unanswered_echo(t), &names);
        let at: Vec<(&str, Option<usize>)> = ex
            .request
            .netfilter
            .iter()
            .filter_map(NfNote::decision)
            .map(|d| (d.netns.as_str(), d.hop))
            .collect();
        assert_eq!(at, vec![("n2", Some(0)), ("n9", None)]);
        let reasons: Vec<&str> = ex
            .request
            .netfilter
            .iter()
            .filter_map(NfNote::kernel_drop)
            .map(|d| d.reason.as_str())
            .collect();
        // Netfilter dropped it: the netfilter drop only (the other one is another packet's).
        assert_eq!(reasons, vec!["NETFILTER_DROP"]);
        assert_eq!(book.lost_drops().len(), 1);
        // Without a traced decision, every drop near it of its protocol.
        let mut bare = TraceBook::new();
        bare.add_drops(book.drops().to_vec());
        let ex = bare.annotate(&unanswered_echo(t), &names);
        let n = ex.request.netfilter.iter().filter_map(NfNote::kernel_drop).count();
        assert_eq!(n, 2);
        assert_eq!(
            kernel_drop_detail(book.lost_drops(), Some("nginx-2")).as_deref(),
            Some(
                "kernel drop reason NETFILTER_DROP at nft_do_chain+0x3e8 (see: ip netns exec \
                 nginx-2 nft -a list ruleset)"
            )
        );
        // An answered exchange gets no drops.
        let mut answered = unanswered_echo(t);
        answered.reply = Some(answered.request.clone());
        let ex = book.annotate(&answered, &names);
        let drops = |l: &Leg| l.netfilter.iter().filter_map(NfNote::kernel_drop).count();
        assert_eq!(drops(&ex.request), 0);
        assert_eq!(ex.reply.as_ref().map(drops), Some(0));
    }

    #[test]
    fn a_netfilter_drop_keeps_the_netfilter_kernel_drops_only() {
        let t = 5_000_000;
        let mut ex = unanswered_echo(t);
        ex.request.lost = Some(crate::core::exchange::Loss { after: None, before: None });
        let all = [
            drop_at(t + 1, 0x0800, "NOT_SPECIFIED", "icmp_rcv+0x10"),
            drop_at(t + 2, 0x0800, "NETFILTER_DROP", "nft_do_chain+0x3e8"),
        ];
        let got = attribute_drops(&all, &ex.request, true);
        assert_eq!(got.iter().map(|d| d.t_ns).collect::<Vec<_>>(), vec![t + 2]);
        assert_eq!(attribute_drops(&all, &ex.request, false).len(), 2);
        assert_eq!(all[1].hint(), "nft -a list ruleset");
        assert_eq!(drop_at(0, 0, "QDISC_DROP", "").hint(), "tc -s qdisc show");
        assert_eq!(drop_at(0, 0, "NEIGH_FAILED", "").hint(), "ip neigh show");
        assert_eq!(kernel_drop_detail(&[], None), None);
    }

    #[test]
    fn own_tables_are_told_from_a_users_vtrace_table() {
        assert!(is_own_table("vtrace_4242_0"));
        for other in ["vtrace_fixture", "vtrace_12", "vtrace__1", "vtrace_1_x", "filter"] {
            assert!(!is_own_table(other), "{other}");
        }
        let mut ev = event("n", 1, TraceKind::Rule, NfVerdict::Drop);
        ev.table = "vtrace_fixture".into();
        assert!(NfNote::from_event(&ev).is_some());
        ev.table = "vtrace_7_1".into();
        assert_eq!(NfNote::from_event(&ev), None);
    }

    #[test]
    fn a_promiscuous_copy_is_named_only_when_nothing_else_was_dropped() {
        let t = 9_000_000;
        let mut ex = unanswered_echo(t);
        ex.request.lost = Some(crate::core::exchange::Loss { after: None, before: None });
        let copy = drop_at(t + 9, 0x0800, "OTHERHOST", "ip_rcv_core+0x22c");
        let real = drop_at(t + 20, 0x0800, "TC_EGRESS", "tcf_classify+0x1");
        let got = attribute_drops(&[copy.clone(), real.clone()], &ex.request, false);
        assert_eq!(got, vec![real]);
        assert_eq!(attribute_drops(std::slice::from_ref(&copy), &ex.request, false), vec![copy]);
    }
}
