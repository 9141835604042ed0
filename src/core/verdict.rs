//! The verdict: was the target reachable, and if not, where and why did packets vanish.
//!
//! [`Tally`] watches exchanges as they are released and keeps counts and the first failure of each
//! kind; [`Tally::verdict`] turns them into the `verdict` of the report. From captures alone the
//! causes are `ok`, `no-arp-reply`, `no-reply`, `capture-gap` and `unknown` (with the segment);
//! live tracing adds the causes it can diagnose from the topology. Pure.

use crate::core::exchange::{Exchange, ExchangeKind, Leg, Loss};
use crate::core::line::PointIdx;

/// Why packets did not arrive (DESIGN.md's `verdict.cause`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    Ok,
    NetfilterDrop,
    LinkDown,
    BridgePortBlocked,
    NoArpReply,
    NoReply,
    NoRoute,
    Mtu,
    TcDrop,
    CaptureGap,
    Unknown,
}

impl Cause {
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::Ok => "ok",
            Cause::NetfilterDrop => "netfilter-drop",
            Cause::LinkDown => "link-down",
            Cause::BridgePortBlocked => "bridge-port-blocked",
            Cause::NoArpReply => "no-arp-reply",
            Cause::NoReply => "no-reply",
            Cause::NoRoute => "no-route",
            Cause::Mtu => "mtu",
            Cause::TcDrop => "tc-drop",
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

impl From<Loss> for Segment {
    fn from(l: Loss) -> Self {
        Segment { after: l.after, before: l.before }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub reachable: bool,
    pub sent: u64,
    pub received: u64,
    pub cause: Cause,
    pub segment: Option<Segment>,
    pub summary: String,
}

/// What went wrong first, kept until the verdict is written.
#[derive(Debug, Clone, Copy)]
enum Failure {
    /// A request or reply vanished between two points.
    Lost { what: &'static str, exchange: ExchangeKind, loss: Loss },
    /// The request reached the end of the line and nothing answered.
    Unanswered { exchange: ExchangeKind, last: Option<PointIdx> },
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
    echo_failure: Option<Failure>,
    arp_failure: Option<Failure>,
}

fn failure_of(ex: &Exchange) -> Option<Failure> {
    let lost =
        |what, leg: &Leg| leg.lost.map(|loss| Failure::Lost { what, exchange: ex.kind, loss });
    if let Some(f) = lost("request", &ex.request) {
        return Some(f);
    }
    match &ex.reply {
        None => Some(Failure::Unanswered {
            exchange: ex.kind,
            last: ex.request.journey.last().map(|h| h.point),
        }),
        Some(reply) => lost("reply", reply),
    }
}

impl Tally {
    pub fn add(&mut self, ex: &Exchange) {
        if !ex.expects_reply {
            return;
        }
        let failure = failure_of(ex);
        match ex.kind {
            k if k.is_echo() => {
                self.sent += 1;
                if failure.is_none() {
                    self.received += 1;
                    let reply_hops = ex.reply.as_ref().map_or(0, |r| r.journey.hops.len());
                    self.hops.0 = self.hops.0.max(ex.request.journey.hops.len());
                    self.hops.1 = self.hops.1.max(reply_hops);
                }
                self.echo_failure = self.echo_failure.or(failure);
            }
            ExchangeKind::Arp | ExchangeKind::Ndp => {
                self.arp_requests += 1;
                if failure.is_none() {
                    self.arp_answered += 1;
                }
                self.arp_failure = self.arp_failure.or(failure);
            }
            _ => {}
        }
    }

    /// The verdict. `names` are the point ids by [`PointIdx`]; `capture_drops` tells whether any
    /// capture point lost packets in the kernel (then no loss can be blamed on the network).
    pub fn verdict(&self, names: &[String], capture_drops: bool) -> Verdict {
        let name = |p: Option<PointIdx>| {
            p.and_then(|p| names.get(p.index())).map_or("?", String::as_str).to_owned()
        };
        let (sent, received) = (self.sent, self.received);
        let failure = if sent > 0 { self.echo_failure } else { self.arp_failure };
        let mut verdict = Verdict {
            reachable: sent > 0 && received == sent,
            sent,
            received,
            cause: Cause::Ok,
            segment: None,
            summary: String::new(),
        };
        let echoes = format!("{received}/{sent} echo replies");
        match failure {
            _ if verdict.reachable => {
                verdict.summary = format!("{echoes}, {} hops each way", self.hops_text());
            }
            None if sent == 0 => {
                verdict.cause = Cause::Unknown;
                verdict.summary = "no ICMP echo request in the capture".into();
            }
            None => {
                verdict.cause = Cause::Unknown;
                verdict.summary = echoes;
            }
            Some(Failure::Lost { what, exchange, loss }) => {
                // An echo that vanished mid-path: captures alone cannot say why. An ARP request
                // (or reply) that vanished: nobody answered, and the segment says where it died.
                verdict.cause = if exchange.is_echo() { Cause::Unknown } else { Cause::NoArpReply };
                verdict.segment = Some(loss.into());
                let kind = if exchange.is_echo() { "echo" } else { "ARP" };
                verdict.summary = match loss.before {
                    // Past the last point: the probe's socket never received it.
                    None => format!(
                        "{echoes}: {kind} {what} reached {} but never the probe's socket",
                        name(loss.after)
                    ),
                    Some(_) => format!(
                        "{echoes}: {kind} {what} lost between {} and {}",
                        name(loss.after),
                        name(loss.before)
                    ),
                };
            }
            Some(Failure::Unanswered { exchange, last }) => {
                verdict.segment = Some(Segment { after: last, before: None });
                let (cause, what) = if exchange.is_echo() {
                    (Cause::NoReply, "echo requests reached")
                } else {
                    (Cause::NoArpReply, "ARP requests reached")
                };
                verdict.cause = cause;
                verdict.summary = format!("{echoes}: {what} {} and nothing answered", name(last));
            }
        }
        if capture_drops && !verdict.reachable {
            verdict.cause = Cause::CaptureGap;
            verdict.summary.push_str(" (the capture itself dropped packets: no conclusion)");
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
