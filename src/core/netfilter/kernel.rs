//! Kernel drops (`skb:kfree_skb` with its reason, from `sys::dropmon`): the [`DropEvent`], the
//! command that shows each reason's cause, and which drops explain a lost leg (same protocol,
//! close to its last sighting), with the verdict's sentence about them.
//!
//! Pure: it never reads tracefs, and it attributes by protocol and time only (tracefs is global:
//! it cannot tell one namespace's drops from another's).

use super::find::in_namespace;
use crate::core::exchange::Leg;
use crate::core::packet::Packet;

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

/// The kernel drops that explain a lost leg: same protocol, close to its last sighting (after
/// it when any drop is; the nearest, and those within a millisecond of it, at most
/// [`DROPS_PER_LEG`]), and when netfilter
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
    // An echo reply no ICMP datagram socket asked for is freed in `ping_rcv` at its host, past
    // the last capture point (raw sockets, as `ping` as root and vtrace's probe use, got their
    // copy): never the fate of a packet lost on the way (kernels that filter on a function
    // leave these out already, see `sys::dropmon`).
    near.retain(|d| !d.is_unclaimed_echo_reply());
    // A bridge captured in promiscuous mode (vtrace's own capture) hands the host a copy of each
    // frame it forwards, which the host drops as OTHERHOST: not the packet's fate.
    if near.iter().any(|d| !d.is_promiscuous_copy()) {
        near.retain(|d| !d.is_promiscuous_copy());
    }
    // A packet is dropped after it was last seen: when drops follow its last sighting, the
    // earlier ones (inside the clock slack) are other packets' (tracefs is global).
    if near.iter().any(|d| d.t_ns >= t) {
        near.retain(|d| d.t_ns >= t);
    }
    near.sort_by_key(|d| d.t_ns.abs_diff(t));
    let nearest = near.first().map_or(0, |d| d.t_ns);
    near.retain(|d| d.t_ns.abs_diff(nearest) <= DROP_CLUSTER_NS);
    near.truncate(DROPS_PER_LEG);
    near.sort_by_key(|d| d.t_ns);
    near.into_iter().cloned().collect()
}

/// Names kernel addresses as `function+0xoffset/0xsize`, all of a slice at once (the symbol
/// table is read once for them): registered by the system layer that reads the drops (see
/// [`set_location_namer`]).
type Namer = fn(&[u64]) -> Vec<Option<String>>;
static NAMER: std::sync::OnceLock<Namer> = std::sync::OnceLock::new();

/// Register how kernel addresses are named (the drop monitor does, before its first event).
pub fn set_location_namer(namer: Namer) {
    let _ = NAMER.set(namer);
}

/// Name the locations of `drops` read as bare addresses (see [`DropEvent::name_location`]),
/// asking the namer once for all of them.
pub fn name_locations(drops: &mut [DropEvent]) {
    let Some(namer) = NAMER.get() else { return };
    let bare: Vec<(usize, u64)> =
        drops.iter().enumerate().filter_map(|(i, d)| Some((i, d.bare_location()?))).collect();
    if bare.is_empty() {
        return;
    }
    let addrs: Vec<u64> = bare.iter().map(|&(_, a)| a).collect();
    for ((i, _), name) in bare.into_iter().zip(namer(&addrs)) {
        if let (Some(d), Some(name)) = (drops.get_mut(i), name) {
            d.location = name;
        }
    }
}

impl DropEvent {
    /// A location read as a bare address (`0xffffffffc0a1b3e8`: the drop monitor names only
    /// what is shown, the kernel's symbol table being costly to read) gets its function's name,
    /// when a namer is registered and knows it.
    pub fn name_location(&mut self) {
        name_locations(std::slice::from_mut(self));
    }

    /// The location's address, while it is one (not named yet).
    fn bare_location(&self) -> Option<u64> {
        let hex = self.location.strip_prefix("0x")?;
        u64::from_str_radix(hex, 16).ok()
    }

    /// A copy a promiscuous interface received for another host (`OTHERHOST`).
    pub fn is_promiscuous_copy(&self) -> bool {
        self.reason == "OTHERHOST"
    }

    /// An echo reply freed by `ping_rcv`: no ICMP datagram socket asked for it.
    pub fn is_unclaimed_echo_reply(&self) -> bool {
        self.location.starts_with("ping_rcv+")
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
    use crate::core::netfilter::samples::{drop_at, unanswered_echo};

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

    #[test]
    fn an_echo_reply_nobody_asked_for_is_never_a_lost_packets_drop() {
        let t = 11_000_000;
        let mut ex = unanswered_echo(t);
        ex.request.lost = Some(crate::core::exchange::Loss { after: None, before: None });
        // Under a flood every reply at the pinging host is freed in ping_rcv, the nearest
        // "drop" to a request lost on the way; the packet's own drop is further.
        let reply = drop_at(t + 2_000, 0x0800, "NO_SOCKET", "ping_rcv+0xb3/0xe0");
        let real = drop_at(t + 40_000, 0x0800, "IP_RPFILTER", "ip_rcv_finish_core+0x1b4");
        assert!(reply.is_unclaimed_echo_reply() && !real.is_unclaimed_echo_reply());
        let got = attribute_drops(&[reply.clone(), real.clone()], &ex.request, false);
        assert_eq!(got, vec![real]);
        // Alone, it still is not the packet's: no drop is named.
        assert_eq!(attribute_drops(&[reply], &ex.request, false), Vec::<DropEvent>::new());
        // A NO_SOCKET elsewhere (a datagram to a closed port) is a drop like any other.
        let closed = drop_at(t + 3_000, 0x0800, "NO_SOCKET", "__udp4_lib_rcv+0x5c4");
        assert_eq!(
            attribute_drops(std::slice::from_ref(&closed), &ex.request, false),
            vec![closed]
        );
    }

    #[test]
    fn a_drop_before_the_last_sighting_is_another_packets_when_one_follows_it() {
        let t = 7_000_000;
        let mut ex = unanswered_echo(t);
        ex.request.lost = Some(crate::core::exchange::Loss { after: None, before: None });
        let earlier = drop_at(t - 107_000, 0x0800, "NETFILTER_DROP", "nft_do_chain+0x637");
        let after = drop_at(t + 13_000, 0x0800, "NETFILTER_DROP", "nft_do_chain+0x46f");
        let got = attribute_drops(&[earlier.clone(), after.clone()], &ex.request, true);
        assert_eq!(got, vec![after]);
        // Alone, inside the clock slack, it is still the packet's.
        let got = attribute_drops(std::slice::from_ref(&earlier), &ex.request, true);
        assert_eq!(got, vec![earlier]);
    }
}
