//! Exchanges: a request journey paired with its reply (ARP, ICMP/ICMPv6 echo, NDP, a TCP SYN with
//! its SYN-ACK or reset, a probed UDP datagram with what answers it), ICMP errors linked to the
//! packet they quote, and where each journey was lost. The types here; the pairing in
//! [`builder`].
//!
//! Journeys arrive final from the correlator; each exchange leaves as soon as its reply came, or
//! when its settle time (two windows after the request) ran out. Pure.

use std::fmt;
use std::net::Ipv4Addr;

use crate::core::journey::Journey;
use crate::core::line::PointIdx;
use crate::core::packet::{Arp, Echo, Ports};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExchangeKind {
    Arp,
    IcmpEcho,
    Icmpv6Echo,
    Ndp,
    /// An ICMP/ICMPv6 error whose quoted packet matched no pending echo.
    IcmpError,
    /// A TCP SYN and the SYN-ACK that answers it.
    TcpConnect,
    /// Any other TCP segment (each its own journey, no answer expected).
    Tcp,
    /// A UDP datagram (no answer expected).
    Udp,
}

impl ExchangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ExchangeKind::Arp => "arp",
            ExchangeKind::IcmpEcho => "icmp-echo",
            ExchangeKind::Icmpv6Echo => "icmpv6-echo",
            ExchangeKind::Ndp => "ndp",
            ExchangeKind::IcmpError => "icmp-error",
            ExchangeKind::TcpConnect => "tcp-connect",
            ExchangeKind::Tcp => "tcp",
            ExchangeKind::Udp => "udp",
        }
    }
    pub fn is_echo(self) -> bool {
        matches!(self, ExchangeKind::IcmpEcho | ExchangeKind::Icmpv6Echo)
    }
}

/// Where a journey stopped short: the last point that saw the packet and the first one that
/// should have (`None` past the end of the line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loss {
    pub after: Option<PointIdx>,
    pub before: Option<PointIdx>,
}

/// A journey with its loss, if it was lost, and the netfilter decisions traced on its way
/// (live tracing fills them in; empty otherwise).
#[derive(Debug, Clone)]
pub struct Leg {
    pub journey: Journey,
    pub lost: Option<Loss>,
    pub netfilter: Vec<crate::core::netfilter::NfNote>,
}

impl Leg {
    pub fn complete(&self) -> bool {
        self.lost.is_none()
    }
}

/// A request and what answered it.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub kind: ExchangeKind,
    pub request: Leg,
    pub reply: Option<Leg>,
    /// ICMP errors that quote the request.
    pub errors: Vec<Leg>,
    /// Reply time at the request's first point minus request time there.
    pub rtt_ns: Option<u64>,
    /// False for packets that expect no answer (gratuitous ARP, unsolicited replies).
    pub expects_reply: bool,
    /// One of vtrace's own probes (set by the analysis when it knows the probe).
    pub probe: bool,
}

impl Exchange {
    pub fn echo(&self) -> Option<Echo> {
        let p = &self.request.journey.packet;
        p.icmp.and_then(|i| i.echo).or_else(|| p.icmpv6.and_then(|i| i.echo))
    }

    /// One line saying what was asked, e.g. `who-has 172.18.0.3 tell 172.18.0.2`.
    pub fn summary(&self) -> Summary<'_> {
        Summary(self)
    }

    /// How a TCP connect (or UDP probe) was answered, as the report says it: `syn-ack`, `rst`,
    /// `udp` (a datagram back), `icmp` (an ICMP error quoting the request), or `None`.
    pub fn answer(&self) -> Option<&'static str> {
        if let Some(t) = self.reply.as_ref().and_then(|r| r.journey.packet.ports) {
            return Some(match (t.proto, t.flags & Ports::RST != 0) {
                (Ports::UDP, _) => "udp",
                (_, true) => "rst",
                _ => "syn-ack",
            });
        }
        (!self.errors.is_empty()).then_some("icmp")
    }

    /// True when the request expected an answer and got a complete one.
    pub fn answered(&self) -> bool {
        self.request.complete() && self.reply.as_ref().is_some_and(Leg::complete)
    }
}

/// Display of [`Exchange::summary`].
#[derive(Debug)]
pub struct Summary<'a>(&'a Exchange);

impl fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = &self.0.request.journey.packet;
        let (src, dst) = p.ip.map_or((None, None), |ip| (Some(ip.src), Some(ip.dst)));
        match (self.0.kind, p.arp) {
            (ExchangeKind::Arp, Some(arp)) => write_arp(f, &arp),
            (ExchangeKind::Ndp, _) => match p.icmpv6.and_then(|i| i.ndp_target) {
                Some(t) => write!(f, "who-has {t} (neighbor solicitation)"),
                None => f.write_str("neighbor discovery"),
            },
            (ExchangeKind::IcmpEcho | ExchangeKind::Icmpv6Echo, _) => {
                let e = self.0.echo().unwrap_or(Echo { id: 0, seq: 0 });
                write!(f, "echo {} > {} id {} seq {}", opt(src), opt(dst), e.id, e.seq)
            }
            (ExchangeKind::TcpConnect | ExchangeKind::Tcp | ExchangeKind::Udp, _) => {
                let Some(ports) = p.ports else {
                    return write!(f, "{} > {}", opt(src), opt(dst));
                };
                let (proto, s, d) = (ports.proto, ports.src, ports.dst);
                write!(f, "{}.{s} > {}.{d}", opt(src), opt(dst))?;
                if proto == Ports::TCP {
                    write!(f, " [{}] length {}", ports.flag_letters(), ports.payload_len)
                } else {
                    write!(f, " length {}", ports.payload_len)
                }
            }
            _ => {
                let (ty, code) = p
                    .icmp
                    .map(|i| (i.ty, i.code))
                    .or_else(|| p.icmpv6.map(|i| (i.ty, i.code)))
                    .unwrap_or_default();
                write!(f, "icmp error type {ty} code {code} from {}", opt(src))
            }
        }
    }
}

/// An optional address, `?` when absent (no allocation).
struct Opt<T>(Option<T>);

impl<T: fmt::Display> fmt::Display for Opt<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(a) => a.fmt(f),
            None => f.write_str("?"),
        }
    }
}

fn opt<T>(a: Option<T>) -> Opt<T> {
    Opt(a)
}

fn write_arp(f: &mut fmt::Formatter<'_>, arp: &Arp) -> fmt::Result {
    let (spa, tpa): (Opt<Ipv4Addr>, Opt<Ipv4Addr>) = (opt(arp.spa), opt(arp.tpa));
    match arp.op {
        Arp::REQUEST => write!(f, "who-has {tpa} tell {spa}"),
        Arp::REPLY => write!(f, "{spa} is-at {}", arp.sha),
        op => write!(f, "arp op {op} {spa} > {tpa}"),
    }
}

mod builder;
pub mod comment;

pub use builder::ExchangeBuilder;
