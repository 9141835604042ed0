//! The diagnosis: why packets stopped where the verdict says they did. [`conclude`] is the one
//! place that decides the order in which the rules are tried, for `ping`, `watch` and `analyze`
//! alike; each command brings the evidence it has ([`Evidence`]: the path, the netfilter trace,
//! the qdisc counters, the topology, what the probe itself saw) and gets the same answer from the
//! same evidence. Pure: never touches the system, never guesses beyond its evidence.
//!
//! Order, first match wins:
//! 1. the source refused to send (`no-route`; EPERM: the netfilter rule of the source that
//!    dropped it, else what was seen): the packet never reached the first point;
//! 2. a netfilter drop traced at or after the segment's last point (`netfilter-drop`);
//! 3. a qdisc of the segment whose drop counter rose (`tc-drop`);
//! 4. the links and namespaces of the segment (`link-down`, `bridge-port-blocked`,
//!    `forwarding-disabled`, `no-return-route`, `mtu`);
//! 5. a kernel drop reason that tells where the packet died (`kernel-drop`, e.g. `IP_RPFILTER`);
//!
//! then the kernel's drop reason, when one was seen for the lost packet, is named in the summary.
//! Otherwise the verdict's own cause stands (`no-arp-reply`, `no-reply`, `unknown`).

mod overlay;
mod rules;

pub use overlay::{TunnelFit, tunnel_mtu, tunnel_no_peer, tunnel_no_route};

pub use rules::*;

use crate::core::journey::NatEnd;
use crate::core::line::PointIdx;
use crate::core::listen::{Listener, Proto, port_closed};
use crate::core::netfilter::{
    BrNetfilter, DropEvent, NfDrop, NfEvent, find_drop, kernel_drop_detail,
};
use crate::core::path::Path;
use crate::core::topology::Topology;
use crate::core::verdict::{Cause, CauseCount, Segment, Verdict};

/// What vtrace knows about its own probes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProbeFacts {
    /// Size of each probe's IP packet.
    pub ip_len: usize,
    /// Probes carried Don't Fragment.
    pub dont_fragment: bool,
    /// The source's kernel refused to send them: no route.
    pub no_route: bool,
    /// The source's kernel refused to send them with EPERM (what an output rule that drops
    /// makes `sendto` return).
    pub not_permitted: bool,
}

impl ProbeFacts {
    /// The source refused to send: nothing reached its first point.
    pub fn refused(&self) -> bool {
        self.no_route || self.not_permitted
    }
}

/// A cause found in the evidence, and a sentence saying so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnosis {
    pub cause: Cause,
    pub detail: String,
}

/// A capture point as the diagnosis sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step<'a> {
    /// Its index in the analysis (what the verdict's segment names).
    pub idx: PointIdx,
    /// Its point id, `<namespace label>/<ifname>`.
    pub id: &'a str,
    /// Its namespace label.
    pub netns: &'a str,
    /// A bridge (br_netfilter matters only where the packet crossed one).
    pub bridge: bool,
}

/// The netfilter side of a trace: decisions and br_netfilter's switches per namespace label.
#[derive(Debug, Clone, Copy, Default)]
pub struct Netfilter<'a> {
    pub events: &'a [NfEvent],
    pub br_netfilter: &'a [(String, BrNetfilter)],
}

/// Everything a command knows when its trace is over.
#[derive(Debug, Clone, Default)]
pub struct Evidence<'a> {
    /// The capture points in path order.
    pub steps: Vec<Step<'a>>,
    /// The netfilter trace, when one ran (live) or was replayed (offline, from a sidecar).
    pub netfilter: Option<Netfilter<'a>>,
    /// Qdiscs of the path whose drop counters rose during the trace.
    pub qdisc_rises: &'a [QdiscRise],
    /// The topology at trace time and the path captured on (its point `i` is `PointIdx(i)`):
    /// live only.
    pub links: Option<(&'a Topology, &'a Path)>,
    pub probe: ProbeFacts,
    /// Kernel drops attributed to lost packets.
    pub lost_drops: &'a [DropEvent],
    /// A service probe's target: its namespace label and listening sockets (live only), the
    /// protocol, address and port probed, to say what does listen when the port is closed.
    pub service: Option<Service<'a>>,
}

/// What a service probe aimed at, and what listens there.
#[derive(Debug, Clone, Copy)]
pub struct Service<'a> {
    pub netns: &'a str,
    pub listening: &'a [Listener],
    pub proto: Proto,
    pub dst: std::net::IpAddr,
    pub port: u16,
    /// Where the service was probed when a DNAT rule sent it on to `dst`:`port`.
    pub published: Option<(std::net::IpAddr, u16)>,
    /// The userland proxy that answered in the target's place, when one did.
    pub proxy: Option<&'a Proxy>,
}

/// A userland proxy (Docker's `docker-proxy`) that holds a published port: it accepts the
/// connection and opens one of its own to the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proxy {
    pub program: String,
    pub pid: u32,
    /// The namespace it listens in.
    pub netns: String,
    pub listen: (std::net::IpAddr, u16),
    pub to: (std::net::IpAddr, u16),
}

impl Proxy {
    /// What the verdict says of it.
    pub fn sentence(&self) -> String {
        let end = |(ip, port): (std::net::IpAddr, u16)| {
            NatEnd { ip, port: Some(port), echo_id: None }.to_string()
        };
        format!(
            "{} is answered by {} (pid {}) in {}, which connects on to {} with a connection of \
             its own (traced too)",
            end(self.listen),
            self.program,
            self.pid,
            self.netns,
            end(self.to)
        )
    }
}

/// Conclude: turn the verdict from the captures into the verdict with its cause, trying the rules
/// in their one order (see the module doc).
pub fn conclude(verdict: &mut Verdict, ev: &Evidence<'_>) {
    if let Some(p) = ev.service.and_then(|s| s.proxy) {
        verdict.summary = format!("{}; {}", verdict.summary, p.sentence());
    }
    if ev.probe.refused() {
        // Nothing left the source: the loss is before its first point, whatever else was seen.
        let segment = Segment { after: None, before: ev.steps.first().map(|s| s.idx) };
        verdict.segment = Some(segment);
        let lost = verdict.sent.saturating_sub(verdict.received);
        verdict.causes = vec![CauseCount {
            cause: verdict.cause,
            segment,
            count: lost,
            detail: "nothing left the source".into(),
        }];
    }
    if !verdict.lost() || verdict.cause == Cause::CaptureGap {
        return;
    }
    // Each way probes were lost gets the rules on its own segment; the verdict takes the
    // diagnosis of the one that lost most (its own cause and segment already).
    let mut causes = std::mem::take(&mut verdict.causes);
    for c in &mut causes {
        let one = Verdict {
            cause: c.cause,
            segment: Some(c.segment),
            summary: String::new(),
            causes: Vec::new(),
            ..verdict.clone()
        };
        if let Some(d) = diagnose_loss(&one, ev) {
            c.cause = d.cause;
            c.detail =
                if c.detail.is_empty() { d.detail } else { format!("{}: {}", c.detail, d.detail) };
        }
    }
    if let Some(d) = diagnose_loss(verdict, ev) {
        apply(verdict, &d);
    }
    verdict.causes = causes;
    name_listeners(verdict, ev);
    name_kernel_drop(verdict, ev);
    name_branch(verdict, ev);
}

/// A packet last seen leaving by a branch (off the path, where policy routing decides): say so
/// whatever the cause (an ICMP error from where it went may have named one).
fn name_branch(verdict: &mut Verdict, ev: &Evidence<'_>) {
    if let (Some((topo, path)), Some(seg)) = (ev.links, verdict.segment)
        && let Some(d) = left_by_branch(topo, path, seg)
        && !verdict.summary.contains(&d.detail)
    {
        verdict.summary = format!("{}; {}", verdict.summary, d.detail);
    }
}

/// `port-closed` with what does listen in the target: nothing on that port (and what listens
/// on the protocol), or the port on another address only (127.0.0.1).
fn name_listeners(verdict: &mut Verdict, ev: &Evidence<'_>) {
    let Some(s) = ev.service else { return };
    let Some(mut closed) = port_closed(s.netns, s.listening, s.proto, s.dst, s.port) else {
        return;
    };
    if let Some((ip, port)) = s.published {
        let (from, to) = (
            NatEnd { ip, port: Some(port), echo_id: None },
            NatEnd { ip: s.dst, port: Some(s.port), echo_id: None },
        );
        closed.sentence = format!("{from} is DNATed to {to}: {}", closed.sentence);
    }
    for c in verdict.causes.iter_mut().filter(|c| c.cause == Cause::PortClosed) {
        c.detail = format!("{}: {}", c.detail, closed.sentence);
    }
    if verdict.cause == Cause::PortClosed {
        verdict.summary = format!("{}: {}", verdict.summary, closed.sentence);
        verdict.listening = closed.listening;
    }
}

/// The rules, in their order, on the verdict's segment and cause.
fn diagnose_loss(verdict: &Verdict, ev: &Evidence<'_>) -> Option<Diagnosis> {
    refusal(ev)
        .or_else(|| netfilter_drop(verdict, ev).map(|d| of_drop(&d)))
        .or_else(|| tc_drop_of(verdict, ev))
        .or_else(|| {
            ev.links.and_then(|(topo, path)| diagnose(topo, Some(path), verdict, &ev.probe))
        })
        .or_else(|| {
            // The tunnel's packets reached a node with no device of its VNI: what the kernel
            // said (VXLAN_VNI_NOT_FOUND) and what the topology shows.
            let no_peer = ev
                .links
                .and_then(|(topo, path)| overlay::tunnel_no_peer(topo, path, verdict.segment?));
            match (kernel_drop(verdict, ev), no_peer) {
                (Some(k), Some(p)) => {
                    Some(Diagnosis { detail: format!("{}; {}", k.detail, p.detail), ..k })
                }
                (k, p) => k.or(p),
            }
        })
}

/// The drop reasons that say where a packet died on its way (routing, the neighbour table, a
/// size): a lost packet's drop with one of them is `kernel-drop` when no rule found more. The
/// others (`NOT_SPECIFIED`, `NO_SOCKET`: other traffic's noise on the same protocol) are only
/// named in the summary.
fn telling(reason: &str) -> bool {
    const PREFIXES: [&str; 7] = ["IP_", "IPV6", "NEIGH_", "PKT_TOO_", "TC_", "QDISC_", "VXLAN_"];
    PREFIXES.iter().any(|p| reason.starts_with(p))
}

/// Rule 5: `kernel-drop`, the kernel's own reason for the lost packet (for example
/// `IP_RPFILTER`), named with the namespace where the segment ends.
fn kernel_drop(verdict: &Verdict, ev: &Evidence<'_>) -> Option<Diagnosis> {
    if !matches!(verdict.cause, Cause::Unknown | Cause::NoReply) {
        return None;
    }
    let drops: Vec<DropEvent> =
        ev.lost_drops.iter().filter(|d| telling(&d.reason)).cloned().collect();
    let seg = verdict.segment?;
    let at = position(ev, seg.before.or(seg.after)).and_then(|i| ev.steps.get(i));
    let detail = kernel_drop_detail(&drops, at.map(|s| s.netns))?;
    let detail = match at {
        Some(s) => format!("{detail}, in {}", s.netns),
        None => detail,
    };
    Some(Diagnosis { cause: Cause::KernelDrop, detail })
}

/// Rule 1: the source's kernel refused to send.
fn refusal(ev: &Evidence<'_>) -> Option<Diagnosis> {
    if ev.probe.no_route {
        return Some(Diagnosis {
            cause: Cause::NoRoute,
            detail: "the source has no route to the destination: the kernel refused to send".into(),
        });
    }
    if !ev.probe.not_permitted {
        return None;
    }
    let src = ev.steps.first().map(|s| s.netns);
    let traced = ev.netfilter.and_then(|nf| {
        let events: Vec<&NfEvent> = nf.events.iter().collect();
        find_drop(&events, &src.into_iter().collect::<Vec<_>>(), &[])
    });
    Some(match traced {
        Some(drop) => of_drop(&drop),
        None => Diagnosis {
            cause: Cause::Unknown,
            detail: "the source's kernel refused to send (sendto: EPERM, what a netfilter rule \
                     of its output path that drops makes it say; trace without --no-netfilter \
                     to see the rule)"
                .into(),
        },
    })
}

/// Rule 2: the first netfilter drop of the lost packet in a namespace at or after the segment's
/// last point.
pub fn netfilter_drop(verdict: &Verdict, ev: &Evidence<'_>) -> Option<NfDrop> {
    let nf = ev.netfilter?;
    let from = position(ev, verdict.segment.and_then(|s| s.after)).unwrap_or(0);
    let mut after: Vec<&str> = Vec::new();
    for s in ev.steps.iter().skip(from) {
        if !after.contains(&s.netns) {
            after.push(s.netns);
        }
    }
    let bridged: Vec<(&str, BrNetfilter)> = nf
        .br_netfilter
        .iter()
        .filter(|(ns, _)| ev.steps.iter().any(|s| s.bridge && s.netns == ns.as_str()))
        .map(|(ns, b)| (ns.as_str(), *b))
        .collect();
    let events: Vec<&NfEvent> = nf.events.iter().collect();
    find_drop(&events, &after, &bridged)
}

/// Rule 3: `tc-drop` in the segment.
fn tc_drop_of(verdict: &Verdict, ev: &Evidence<'_>) -> Option<Diagnosis> {
    let ids: Vec<&str> = ev.steps.iter().map(|s| s.id).collect();
    let id = |p: Option<PointIdx>| position(ev, p).and_then(|i| ids.get(i).copied());
    let seg = verdict.segment?;
    tc_drop(&ids, id(seg.after), id(seg.before), verdict, ev.qdisc_rises)
}

/// The position in path order of the point with index `p`.
fn position(ev: &Evidence<'_>, p: Option<PointIdx>) -> Option<usize> {
    let p = p?;
    ev.steps.iter().position(|s| s.idx == p)
}

/// A netfilter drop as a diagnosis, with the command that shows its rule. A `reject` rule
/// answered in the target's place (a reset or an ICMP error): `netfilter-reject`.
fn of_drop(drop: &NfDrop) -> Diagnosis {
    let summary = drop.summary();
    let reject = drop
        .rule
        .as_deref()
        .is_some_and(|r| r.split_whitespace().any(|w| w.eq_ignore_ascii_case("reject")));
    if reject {
        let summary =
            summary.replacen("dropped by netfilter", "refused by a netfilter reject rule", 1);
        return Diagnosis {
            cause: Cause::NetfilterReject,
            detail: format!("{summary} (see: {})", drop.hint()),
        };
    }
    Diagnosis { cause: Cause::NetfilterDrop, detail: format!("{summary} (see: {})", drop.hint()) }
}

/// Name the kernel drop reason of the lost packet in the verdict's summary, with its hint run in
/// the namespace of the segment's `before` point (else its `after` point).
fn name_kernel_drop(verdict: &mut Verdict, ev: &Evidence<'_>) {
    if verdict.cause == Cause::KernelDrop {
        return;
    }
    let seg = verdict.segment;
    let at = position(ev, seg.and_then(|s| s.before.or(s.after)));
    let netns = at.and_then(|i| ev.steps.get(i)).map(|s| s.netns);
    if let Some(detail) = kernel_drop_detail(ev.lost_drops, netns) {
        verdict.summary = if verdict.summary.is_empty() {
            detail
        } else {
            format!("{}; {detail}", verdict.summary)
        };
    }
}

/// Replace the verdict's cause with the diagnosis (and say why in the summary).
pub fn apply(verdict: &mut Verdict, d: &Diagnosis) {
    verdict.cause = d.cause;
    if d.cause == Cause::NoRoute {
        // Nothing left the source: what the captures said does not matter.
        verdict.segment = verdict.segment.or(Some(Segment { after: None, before: None }));
        verdict.summary =
            format!("{}/{} {}: {}", verdict.received, verdict.sent, verdict.unit, d.detail);
    } else if verdict.summary.is_empty() {
        verdict.summary.clone_from(&d.detail);
    } else {
        verdict.summary = format!("{}: {}", verdict.summary, d.detail);
    }
}
