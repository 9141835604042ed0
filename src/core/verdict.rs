//! The verdict: was the target reachable, and if not, where and why did packets vanish.
//!
//! [`Tally`] watches exchanges as they are released and keeps counts and the first failure of each
//! kind; [`Tally::verdict`] turns them into the `verdict` of the report. From captures alone the
//! causes are `ok`, `no-arp-reply`, `no-reply`, `capture-gap` and `unknown` (with the segment);
//! live tracing adds the causes it can diagnose from the topology. Pure.

use crate::core::exchange::{Exchange, ExchangeKind, Leg, Loss};
use crate::core::line::PointIdx;

/// Why packets did not arrive (DESIGN.md's `verdict.cause`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Cause {
    #[default]
    Ok,
    NetfilterDrop,
    NetfilterReject,
    PortClosed,
    Reset,
    LinkDown,
    BridgePortBlocked,
    NoArpReply,
    NoReply,
    NoRoute,
    Mtu,
    TcDrop,
    ForwardingDisabled,
    NoReturnRoute,
    KernelDrop,
    CaptureGap,
    Unknown,
}

impl Cause {
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::Ok => "ok",
            Cause::NetfilterDrop => "netfilter-drop",
            Cause::NetfilterReject => "netfilter-reject",
            Cause::PortClosed => "port-closed",
            Cause::Reset => "reset",
            Cause::LinkDown => "link-down",
            Cause::BridgePortBlocked => "bridge-port-blocked",
            Cause::NoArpReply => "no-arp-reply",
            Cause::NoReply => "no-reply",
            Cause::NoRoute => "no-route",
            Cause::Mtu => "mtu",
            Cause::TcDrop => "tc-drop",
            Cause::ForwardingDisabled => "forwarding-disabled",
            Cause::NoReturnRoute => "no-return-route",
            Cause::KernelDrop => "kernel-drop",
            Cause::CaptureGap => "capture-gap",
            Cause::Unknown => "unknown",
        }
    }
}

/// The last point that saw the packet and the first one that should have and did not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub after: Option<PointIdx>,
    pub before: Option<PointIdx>,
}

impl Verdict {
    /// Something was lost: with a probe, not every probe was answered; without one, an exchange
    /// the capture holds did not go the whole way (the exit status is 1 then).
    pub fn lost(&self) -> bool {
        if self.probed {
            self.sent == 0 || self.received < self.sent
        } else {
            self.cause != Cause::Ok || self.holds.lost() > 0
        }
    }
}

impl From<Loss> for Segment {
    fn from(l: Loss) -> Self {
        Segment { after: l.after, before: l.before }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Verdict {
    pub reachable: bool,
    pub sent: u64,
    pub received: u64,
    pub cause: Cause,
    pub segment: Option<Segment>,
    pub summary: String,
    /// At least one probe exchange (ICMP echo) was seen: `reachable` means something. Without
    /// one (an `analyze` or `watch` of other traffic) the report says `reachable: null` and the
    /// verdict summarises what the capture holds.
    pub probed: bool,
    /// What `sent`/`received` count, as the summary says it (`echo replies`).
    pub unit: &'static str,
    /// What the capture holds.
    pub holds: Holdings,
    /// `port-closed`: what listens in the target on the probed protocol (the near misses).
    pub listening: Vec<crate::core::listen::Listener>,
    /// Every distinct way probes were lost, with how many, most first: the verdict's `cause`
    /// and `segment` are those of the first.
    pub causes: Vec<CauseCount>,
    /// Unanswered requests: the source address they carried when they reached their last point
    /// (after any NAT), the one the destination had to answer.
    pub arrived_from: Option<std::net::IpAddr>,
    /// The conntrack entries of the traced flow that a namespace on the path translated (live
    /// only): what confirms the journeys' `nat` notes.
    pub conntrack: Vec<crate::core::topology::nat::CtNote>,
}

/// Probes lost one way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CauseCount {
    pub cause: Cause,
    pub segment: Segment,
    pub count: u64,
    /// What happened there, in words (the diagnosis adds why).
    pub detail: String,
}

/// The exchanges a trace holds, by kind, and where they were lost.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Holdings {
    /// By kind, in the order first seen.
    pub kinds: Vec<KindCount>,
    /// Each distinct loss (kind, leg, segment) with its count, in the order first seen; at most
    /// [`MAX_LOSSES`].
    pub losses: Vec<LossCount>,
}

/// Exchanges of one kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindCount {
    pub kind: ExchangeKind,
    pub total: u64,
    /// Those that went the whole way (and were answered, for kinds that expect an answer).
    pub complete: u64,
}

/// Exchanges lost the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LossCount {
    pub kind: ExchangeKind,
    /// `request`, `reply`, or `unanswered` (the request reached the end, nothing answered).
    pub what: &'static str,
    pub segment: Segment,
    pub count: u64,
}

/// Distinct losses kept in [`Holdings::losses`].
pub const MAX_LOSSES: usize = 16;

impl Holdings {
    fn add(&mut self, ex: &Exchange, failure: Option<Failure>) {
        let i = match self.kinds.iter().position(|k| k.kind == ex.kind) {
            Some(i) => i,
            None => {
                self.kinds.push(KindCount { kind: ex.kind, total: 0, complete: 0 });
                self.kinds.len() - 1
            }
        };
        if let Some(k) = self.kinds.get_mut(i) {
            k.total += 1;
            k.complete += u64::from(failure.is_none());
        }
        let Some(failure) = failure else { return };
        let (what, segment) = match failure {
            Failure::Lost { what, loss, .. } => (what, Segment::from(loss)),
            Failure::Unanswered { last, .. } => {
                ("unanswered", Segment { after: last, before: None })
            }
            Failure::Refused { by, .. } => ("refused", Segment { after: by, before: None }),
            Failure::Errored { loss: Some(loss), .. } => ("request", Segment::from(loss)),
            Failure::Errored { last, .. } => ("unanswered", Segment { after: last, before: None }),
        };
        let same = |l: &LossCount| l.kind == ex.kind && l.what == what && l.segment == segment;
        if let Some(l) = self.losses.iter_mut().find(|l| same(l)) {
            l.count += 1;
        } else if self.losses.len() < MAX_LOSSES {
            self.losses.push(LossCount { kind: ex.kind, what, segment, count: 1 });
        }
    }

    /// Exchanges lost in any way.
    pub fn lost(&self) -> u64 {
        self.kinds.iter().map(|k| k.total - k.complete).sum()
    }

    /// `4 arp (4 complete), 8 tcp (7 complete)`.
    fn describe(&self) -> String {
        let kinds: Vec<String> = self
            .kinds
            .iter()
            .map(|k| format!("{} {} ({} complete)", k.total, k.kind.as_str(), k.complete))
            .collect();
        kinds.join(", ")
    }
}

/// How an exchange failed, kept (with its count) until the verdict is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    /// A request or reply vanished between two points.
    Lost { what: &'static str, exchange: ExchangeKind, loss: Loss },
    /// The request reached the end of the line and nothing answered.
    Unanswered { exchange: ExchangeKind, last: Option<PointIdx>, from: Option<std::net::IpAddr> },
    /// A connect (or datagram) was refused: a TCP reset, or an ICMP error quoting it, first
    /// seen at `by`; `target` tells whether that is where the request ended (the target's
    /// own point). `icmp`: the error's type and code.
    Refused { exchange: ExchangeKind, by: Option<PointIdx>, target: bool, icmp: Option<(u8, u8)> },
    /// An echo request died on the way and the host where it died said so with an ICMP error
    /// (unreachable, time exceeded, fragmentation needed): sent by `from`, first seen at `by`;
    /// the request was lost (`loss`) or went as far as the line goes (last seen at `last`).
    Errored {
        loss: Option<Loss>,
        last: Option<PointIdx>,
        by: Option<PointIdx>,
        from: Option<std::net::IpAddr>,
        icmp: IcmpError,
    },
}

/// An ICMP or ICMPv6 error's type and code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IcmpError {
    pub v6: bool,
    pub ty: u8,
    pub code: u8,
}

impl IcmpError {
    /// What it means for the packet it quotes, in words.
    pub fn meaning(self) -> &'static str {
        match (self.v6, self.ty, self.code) {
            (false, 3, 0) | (true, 1, 0) => "network unreachable (no route)",
            (false, 3, 1) | (true, 1, 3) => {
                "host unreachable (no ARP/NDP answer from the next hop, or an unreachable route)"
            }
            (false, 3, 2) => "protocol unreachable",
            (false, 3, 3) | (true, 1, 4) => "port unreachable",
            (false, 3, 4) | (true, 2, _) => {
                "fragmentation needed (the packet is larger than the MTU)"
            }
            (false, 3, 9 | 10 | 13) | (true, 1, 1) => "administratively prohibited (a filter)",
            (false, 3, _) | (true, 1, _) => "destination unreachable",
            (false, 11, 0) | (true, 3, 0) => "time exceeded in transit (TTL reached 0: a loop?)",
            (false, 11, _) | (true, 3, _) => "fragment reassembly time exceeded",
            _ => "an ICMP error",
        }
    }

    /// The cause the error alone tells: a router without a route, a size, a filter.
    fn cause(self) -> Cause {
        match (self.v6, self.ty, self.code) {
            (false, 3, 0) | (true, 1, 0) => Cause::NoRoute,
            (false, 3, 4) | (true, 2, _) => Cause::Mtu,
            (false, 3, 9 | 10 | 13) | (true, 1, 1) => Cause::NetfilterReject,
            _ => Cause::Unknown,
        }
    }
}

/// Counts exchanges as they are released.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub sent: u64,
    pub received: u64,
    pub arp_requests: u64,
    pub arp_answered: u64,
    /// Most hops of an answered echo's request and reply.
    hops: (usize, usize),
    /// Each distinct way echoes failed, with how many, in the order first seen.
    echo_failures: Vec<(Failure, u64)>,
    arp_failures: Vec<(Failure, u64)>,
    holds: Holdings,
    /// The kind of the probes, when they are not ICMP echoes.
    probe_kind: Option<ExchangeKind>,
}

impl Failure {
    /// The cause the captures alone can tell, and the segment. An echo that vanished mid-path:
    /// captures alone cannot say why. An ARP request (or reply) that vanished: nobody answered,
    /// and the segment says where it died.
    fn cause_and_segment(self) -> (Cause, Segment) {
        match self {
            Failure::Lost { exchange, loss, .. } => {
                let cause = match exchange {
                    ExchangeKind::Arp | ExchangeKind::Ndp => Cause::NoArpReply,
                    _ => Cause::Unknown,
                };
                (cause, loss.into())
            }
            Failure::Unanswered { exchange, last, .. } => {
                let cause = match exchange {
                    ExchangeKind::Arp | ExchangeKind::Ndp => Cause::NoArpReply,
                    _ => Cause::NoReply,
                };
                (cause, Segment { after: last, before: None })
            }
            Failure::Errored { loss, last, icmp, .. } => {
                let segment = loss.map_or(Segment { after: last, before: None }, Segment::from);
                (icmp.cause(), segment)
            }
            Failure::Refused { by, target, icmp, .. } => {
                let cause = match icmp {
                    // Port unreachable (ICMP 3/3, ICMPv6 1/4): the target's own stack.
                    Some((3, 3) | (1, 4)) if target => Cause::PortClosed,
                    // Administratively prohibited: a filter, never the stack itself.
                    Some((3, 9 | 10 | 13) | (1, 1)) => Cause::NetfilterReject,
                    Some(_) => Cause::Unknown,
                    None if target => Cause::PortClosed,
                    None => Cause::Reset,
                };
                (cause, Segment { after: by, before: None })
            }
        }
    }

    /// What happened, e.g. `echo request lost between a and b`.
    fn describe(self, name: &dyn Fn(Option<PointIdx>) -> String) -> String {
        match self {
            Failure::Lost { what, exchange, loss } => {
                let kind = match exchange {
                    k if k.is_echo() => "echo",
                    ExchangeKind::Arp | ExchangeKind::Ndp => "ARP",
                    ExchangeKind::TcpConnect => "TCP",
                    _ => "UDP",
                };
                match loss.before {
                    // Past the last point: the probe's socket never received it.
                    None => format!(
                        "{kind} {what} reached {} but never the probe's socket",
                        name(loss.after)
                    ),
                    Some(_) => format!(
                        "{kind} {what} lost between {} and {}",
                        name(loss.after),
                        name(loss.before)
                    ),
                }
            }
            Failure::Unanswered { exchange, last, .. } => {
                let what = match exchange {
                    k if k.is_echo() => "echo requests",
                    ExchangeKind::Arp | ExchangeKind::Ndp => "ARP requests",
                    ExchangeKind::TcpConnect => "SYNs",
                    _ => "datagrams",
                };
                format!("{what} reached {} and nothing answered", name(last))
            }
            Failure::Errored { loss, last, by, from, icmp } => {
                let from = from.map_or_else(|| "?".to_owned(), |ip| ip.to_string());
                let what = match loss {
                    Some(loss) => {
                        let lost = Failure::Lost {
                            what: "request",
                            exchange: ExchangeKind::IcmpEcho,
                            loss,
                        };
                        lost.describe(name)
                    }
                    None => format!("echo requests reached {}", name(last)),
                };
                format!(
                    "{what}, and {from} answered with ICMP {}{} {}: {} (first seen at {})",
                    if icmp.v6 { "v6 " } else { "" },
                    icmp.ty,
                    icmp.code,
                    icmp.meaning(),
                    name(by)
                )
            }
            Failure::Refused { by, target, icmp, .. } => {
                let answer = match icmp {
                    Some((ty, code)) => format!("ICMP error type {ty} code {code}"),
                    None => "a TCP reset".to_owned(),
                };
                let place = if target { "the target's own point" } else { "a point on the way" };
                format!("refused: {answer} first seen at {} ({place})", name(by))
            }
        }
    }
}

/// Count `failure` among `failures` (distinct ones are few: one per segment and leg).
fn count(failures: &mut Vec<(Failure, u64)>, failure: Option<Failure>) {
    let Some(f) = failure else { return };
    if let Some((_, n)) = failures.iter_mut().find(|(g, _)| *g == f) {
        *n += 1;
    } else if failures.len() < MAX_LOSSES {
        failures.push((f, 1));
    }
}

/// The failure that lost most exchanges (the first seen among equals).
fn main_failure(failures: &[(Failure, u64)]) -> Option<Failure> {
    let most = failures.iter().map(|(_, n)| *n).max()?;
    failures.iter().find(|(_, n)| *n == most).map(|(f, _)| *f)
}

fn failure_of(ex: &Exchange) -> Option<Failure> {
    let lost =
        |what, leg: &Leg| leg.lost.map(|loss| Failure::Lost { what, exchange: ex.kind, loss });
    if let Some(f) = refused(ex).or_else(|| errored(ex)) {
        return Some(f);
    }
    if let Some(f) = lost("request", &ex.request) {
        return Some(f);
    }
    match &ex.reply {
        None => Some(Failure::Unanswered {
            exchange: ex.kind,
            last: ex.request.journey.last().map(|h| h.point),
            from: ex.request.journey.last_packet().ip.map(|ip| ip.src),
        }),
        Some(reply) => lost("reply", reply),
    }
}

/// An unanswered echo whose way an ICMP error ended (a router's unreachable, time exceeded).
fn errored(ex: &Exchange) -> Option<Failure> {
    if ex.reply.is_some() || !ex.kind.is_echo() {
        return None;
    }
    let e = ex.errors.first()?;
    let p = &e.journey.packet;
    let icmp = match (p.icmp, p.icmpv6) {
        (Some(i), _) => IcmpError { v6: false, ty: i.ty, code: i.code },
        (None, Some(i)) => IcmpError { v6: true, ty: i.ty, code: i.code },
        _ => return None,
    };
    Some(Failure::Errored {
        loss: ex.request.lost,
        last: ex.request.journey.last().map(|h| h.point),
        by: e.journey.first().map(|h| h.point),
        from: e.journey.first_packet().ip.map(|ip| ip.src),
        icmp,
    })
}

/// A reset or an ICMP error answered the request in place of the service.
fn refused(ex: &Exchange) -> Option<Failure> {
    // An echo's ICMP errors (a router's unreachable, time exceeded) say where it died; only a
    // service's answer in its place refuses it.
    if !matches!(ex.kind, ExchangeKind::TcpConnect | ExchangeKind::Udp) {
        return None;
    }
    let end = ex.request.journey.last().map(|h| h.point);
    let born = |leg: &Leg| leg.journey.first().map(|h| h.point);
    let (by, icmp) = match ex.answer()? {
        "rst" => (ex.reply.as_ref().and_then(born), None),
        "icmp" => {
            let e = ex.errors.first()?;
            let p = &e.journey.packet;
            let code = p.icmp.map(|i| (i.ty, i.code)).or_else(|| p.icmpv6.map(|i| (i.ty, i.code)));
            (born(e), code)
        }
        _ => return None,
    };
    // Born where the request ended, and the request went the whole way: the target answered.
    let target = ex.request.complete() && by.is_some() && by == end;
    Some(Failure::Refused { exchange: ex.kind, by, target, icmp })
}

impl Tally {
    /// Count as probes the exchanges of this kind marked [`Exchange::probe`] (TCP connects, UDP
    /// datagrams); without it, ICMP echoes are the probes.
    pub fn probe_with(&mut self, kind: ExchangeKind) {
        self.probe_kind = Some(kind);
    }

    /// What the verdict counts: `echo replies`, `connects accepted`, `datagrams answered`.
    fn unit(&self) -> &'static str {
        match self.probe_kind {
            Some(ExchangeKind::TcpConnect) => "connects accepted",
            Some(ExchangeKind::Udp) => "datagrams answered",
            _ => "echo replies",
        }
    }

    fn is_probe(&self, ex: &Exchange) -> bool {
        match self.probe_kind {
            Some(_) => ex.probe,
            None => ex.kind.is_echo(),
        }
    }

    pub fn add(&mut self, ex: &Exchange) {
        if !ex.expects_reply && !ex.probe {
            // Each journey of its own: lost only when it did not go the whole way.
            let lost = ex.request.lost.map(|loss| Failure::Lost {
                what: "request",
                exchange: ex.kind,
                loss,
            });
            self.holds.add(ex, lost);
            return;
        }
        let failure = failure_of(ex);
        self.holds.add(ex, failure);
        match ex.kind {
            _ if self.is_probe(ex) => {
                self.sent += 1;
                if failure.is_none() {
                    self.received += 1;
                    let reply_hops = ex.reply.as_ref().map_or(0, |r| r.journey.hops.len());
                    self.hops.0 = self.hops.0.max(ex.request.journey.hops.len());
                    self.hops.1 = self.hops.1.max(reply_hops);
                }
                count(&mut self.echo_failures, failure);
            }
            ExchangeKind::Arp | ExchangeKind::Ndp => {
                self.arp_requests += 1;
                if failure.is_none() {
                    self.arp_answered += 1;
                }
                count(&mut self.arp_failures, failure);
            }
            _ => {}
        }
    }

    /// The verdict. `names` are the point ids by [`PointIdx`]; `capture_drops` tells whether any
    /// capture point lost packets in the kernel (then no loss can be blamed on the network).
    ///
    /// `reachable`: at least one echo was answered end to end. Every distinct way echoes were
    /// lost is in `causes` with its count; the verdict's own cause and segment are those of the
    /// way that lost most (the first seen among equals).
    pub fn verdict(&self, names: &[String], capture_drops: bool) -> Verdict {
        let name = |p: Option<PointIdx>| {
            p.and_then(|p| names.get(p.index())).map_or("?", String::as_str).to_owned()
        };
        let (sent, received) = (self.sent, self.received);
        let failures = if sent > 0 { &self.echo_failures } else { &self.arp_failures };
        let mut verdict = Verdict {
            reachable: received > 0,
            sent,
            received,
            cause: Cause::Ok,
            segment: None,
            summary: String::new(),
            unit: self.unit(),
            // An unanswered ARP request stands for the echoes that could not be sent.
            probed: sent > 0 || !self.arp_failures.is_empty(),
            holds: self.holds.clone(),
            listening: Vec::new(),
            causes: failures
                .iter()
                .map(|&(f, count)| {
                    let (cause, segment) = f.cause_and_segment();
                    CauseCount { cause, segment, count, detail: f.describe(&name) }
                })
                .collect(),
            conntrack: Vec::new(),
            arrived_from: match main_failure(failures) {
                Some(Failure::Unanswered { from, .. }) => from,
                _ => None,
            },
        };
        // Most probes lost first (the first seen among equals): the first is the verdict's own.
        verdict.causes.sort_by_key(|c| std::cmp::Reverse(c.count));
        let echoes = format!("{received}/{sent} {}", self.unit());
        match main_failure(failures) {
            None if sent > 0 && received == sent => {
                verdict.summary = format!("{echoes}, {} hops each way", self.hops_text());
            }
            None if sent == 0 => {
                // No probe: say what the capture holds, and where its first loss was.
                let first = self.holds.losses.first();
                verdict.cause = if first.is_some() { Cause::Unknown } else { Cause::Ok };
                verdict.segment = first.map(|l| l.segment);
                verdict.summary = if self.holds.kinds.is_empty() {
                    "no ICMP echo and no other exchange in the capture".into()
                } else {
                    format!("no ICMP echo; {}", self.holds.describe())
                };
                if let Some(l) = first {
                    let (after, before) = (name(l.segment.after), name(l.segment.before));
                    let lost = match l.what {
                        "unanswered" => format!("{} unanswered after {after}", l.kind.as_str()),
                        what => {
                            format!("{} {what} lost between {after} and {before}", l.kind.as_str())
                        }
                    };
                    verdict.summary = format!("{}: {lost}", verdict.summary);
                }
            }
            None => {
                verdict.cause = Cause::Unknown;
                verdict.summary = echoes;
            }
            Some(f) => {
                let (cause, segment) = f.cause_and_segment();
                verdict.cause = cause;
                verdict.segment = Some(segment);
                verdict.summary = format!("{echoes}: {}", f.describe(&name));
            }
        }
        if capture_drops && verdict.lost() {
            verdict.cause = Cause::CaptureGap;
            verdict.summary.push_str(" (the capture itself dropped packets: no conclusion)");
            for c in &mut verdict.causes {
                c.cause = Cause::CaptureGap;
            }
        }
        verdict
    }

    fn hops_text(&self) -> String {
        if self.hops.0 == self.hops.1 {
            self.hops.0.to_string()
        } else {
            format!("{}/{}", self.hops.0, self.hops.1)
        }
    }
}
