//! The text report: each exchange with its journeys hop by hop, then the points and the verdict.
//!
//! ```text
//! 20:47:20.721234259  ARP who-has 172.18.0.3 tell 172.18.0.2
//!   request  nginx-1/eth0 → host/veth4d1c130 +7.9µs → host/docker0 +0ns → … ✓
//!   reply    nginx-2/eth0 → … ✓
//! ```

use std::fmt::Write as _;
use std::io::{self, Write};

use crate::core::clocks::Basis;
use crate::core::exchange::{Exchange, ExchangeKind, Leg};
use crate::core::line::Line;
use crate::core::netfilter::NfNote;
use crate::core::verdict::Cause;
use crate::report::clock::{TimeOfDay, Zone};
use crate::report::trace::{FileRow, Summary, TraceReport, name};

pub struct TextTrace<'w> {
    out: Box<dyn Write + 'w>,
    line: String,
    /// Writes the times of day.
    clock: TimeOfDay,
}

impl<'w> TextTrace<'w> {
    pub fn new(out: Box<dyn Write + 'w>, zone: Zone) -> Self {
        TextTrace { out, line: String::with_capacity(512), clock: TimeOfDay::new(zone) }
    }
}

pub use crate::core::exchange::comment::duration;

fn leg(
    out: &mut String,
    label: &str,
    leg: &Leg,
    names: &[String],
    total: usize,
    clock: &mut TimeOfDay,
) {
    let _ = write!(out, "  {label:<8} ");
    let mut prev = None;
    for (i, h) in leg.journey.hops.iter().enumerate() {
        if i > 0 {
            out.push_str(" → ");
        }
        out.push_str(name(names, Some(h.point)).unwrap_or("?"));
        if let Some(p) = prev {
            let _ = write!(out, " +{}", duration(h.t_ns.saturating_sub(p)));
        }
        prev = Some(h.t_ns);
    }
    let n = leg.journey.hops.len();
    match leg.lost {
        None => {
            let _ = write!(out, "  ✓ {n}/{}", total.max(n));
        }
        Some(loss) => {
            // Past the last point of a reply: the probe's own socket never received it.
            let before = name(names, loss.before).unwrap_or("the probe's socket");
            let _ = write!(out, "  ✗ lost before {before}");
        }
    }
    out.push('\n');
    for (e, first, last) in leg.journey.tunnels() {
        let (a, b) =
            (name(names, Some(first)).unwrap_or("?"), name(names, Some(last)).unwrap_or("?"));
        let at = if first == last { a.to_owned() } else { format!("{a} … {b}") };
        let _ = writeln!(
            out,
            "           vxlan vni {} {} → {} at {at}",
            e.vni, e.outer_src, e.outer_dst
        );
    }
    for n in leg.journey.nat() {
        let at = name(names, Some(n.point)).unwrap_or("?");
        let _ = writeln!(out, "           {} at {at}: {} → {}", n.kind.as_str(), n.from, n.to);
    }
    for n in &leg.netfilter {
        match n {
            NfNote::Decision(n) => {
                // At its hop's point when known (the point id names the namespace too).
                let at = n
                    .hop
                    .and_then(|h| leg.journey.hops.get(h))
                    .and_then(|h| name(names, Some(h.point)));
                let _ = writeln!(
                    out,
                    "           netfilter {}: {} {} {} {} → {}",
                    at.unwrap_or(&n.netns),
                    n.family,
                    n.table,
                    n.chain,
                    n.rule,
                    n.verdict
                );
            }
            NfNote::KernelDrop(d) => {
                let _ = write!(out, "           kernel drop {} (", d.describe());
                clock.push(out, d.t_ns);
                out.push_str(")\n");
            }
        }
    }
}

impl TraceReport for TextTrace<'_> {
    fn exchange(&mut self, ex: &Exchange, line: &Line, names: &[String]) -> io::Result<()> {
        let (out, clock) = (&mut self.line, &mut self.clock);
        out.clear();
        let kind = match ex.kind {
            ExchangeKind::Arp => "ARP",
            ExchangeKind::IcmpEcho => "ICMP",
            ExchangeKind::Icmpv6Echo => "ICMPv6",
            ExchangeKind::Ndp => "NDP",
            ExchangeKind::IcmpError => "ICMP error",
            ExchangeKind::TcpConnect | ExchangeKind::Tcp => "TCP",
            ExchangeKind::Udp => "UDP",
        };
        clock.push(out, ex.request.journey.first_t());
        let _ = write!(out, "  {kind} {}", ex.summary());
        if let Some(rtt) = ex.rtt_ns {
            let _ = write!(out, "  rtt {}", duration(rtt));
        }
        out.push('\n');
        let total = line.required();
        leg(out, "request", &ex.request, names, total, clock);
        match &ex.reply {
            Some(r) => leg(out, "reply", r, names, total, clock),
            None if ex.expects_reply => out.push_str("  reply    ✗ none\n"),
            None => {}
        }
        for e in &ex.errors {
            leg(out, "error", e, names, total, clock);
        }
        self.out.write_all(out.as_bytes())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    fn finish(&mut self, s: &Summary<'_>) -> io::Result<()> {
        let out = &mut self.line;
        out.clear();
        out.push_str("\ncapture points (path order):\n");
        let width = s.points.iter().map(|p| p.id.chars().count()).max().unwrap_or(0);
        for p in &s.points {
            let _ = writeln!(
                out,
                "  {:<width$}  {:<8}  {:>8} packets  {} dropped by the kernel",
                p.id,
                p.role.map_or("", |r| r.as_str()),
                p.captured,
                p.kernel_drops
            );
        }
        if s.other_journeys > 0 || s.unidentified > 0 {
            let _ = writeln!(
                out,
                "  ({} other journeys not shown, {} frames not identified)",
                s.other_journeys, s.unidentified
            );
        }
        files(out, s.files);
        let v = s.verdict;
        let head = match v.cause {
            _ if v.reachable && !v.lost() => "reachable".to_owned(),
            Cause::Ok => "ok".to_owned(),
            cause if v.reachable => format!("partly reachable ({})", cause.as_str()),
            // No probe in the trace: nothing to call reachable or not, only what was lost.
            cause if !v.probed => format!("lost ({})", cause.as_str()),
            cause => format!("NOT reachable ({})", cause.as_str()),
        };
        let _ = writeln!(out, "\nverdict: {head} — {}", v.summary);
        if let Some(seg) = v.segment {
            let before = name(s.names, seg.before).unwrap_or("(the end of the path)");
            let _ = match name(s.names, seg.after) {
                Some(after) => writeln!(out, "segment: after {after} before {before}"),
                None => writeln!(out, "segment: inside the source, before {before}"),
            };
        }
        for c in &v.conntrack {
            let what = c.entry.translation().unwrap_or_default();
            let _ = writeln!(
                out,
                "conntrack in {}: {} (replies {}): {what}",
                c.netns, c.entry.original, c.entry.reply
            );
        }
        self.out.write_all(out.as_bytes())?;
        self.out.flush()
    }
}

/// The input files, when they matter: files of several nodes (a node named, or a clock that
/// had to be corrected or could not be measured). One file per point of one host shows nothing.
fn files(out: &mut String, files: &[FileRow]) {
    let notable = |f: &FileRow| {
        f.shifted()
            || f.node.as_ref().is_some_and(|n| n.hostname.is_some())
            || (files.len() > 1 && f.basis == Basis::NoCommonPackets)
            || f.basis == Basis::Inconsistent
    };
    if !files.iter().any(notable) {
        return;
    }
    out.push_str("\nfiles (clocks relative to the first):\n");
    let width = files.iter().map(|f| f.file.chars().count()).max().unwrap_or(0);
    for f in files {
        let _ = write!(out, "  {:<width$}  ", f.file);
        let _ = match (f.basis, f.uncertainty_ns) {
            (Basis::Reference, _) => write!(out, "reference clock"),
            (Basis::NoCommonPackets, _) => {
                write!(out, "clock not measured: no packet in common with the other files")
            }
            (basis, unc) => {
                let sign = if f.offset_ns < 0 { '-' } else { '+' };
                let _ = write!(out, "clock {sign}{}", duration(f.offset_ns.unsigned_abs()));
                if let Some(u) = unc {
                    let _ = write!(out, " ±{}", duration(u));
                }
                let how = match basis {
                    Basis::OneWay => "packets one way only: the fastest is taken to take no time",
                    Basis::Inconsistent => "flows disagree: clocks drifting?",
                    _ => "request/reply both ways",
                };
                let vs = files.get(f.via).map_or("?", |v| v.file.as_str());
                let done = if f.shifted() { "corrected" } else { "agrees, left as is" };
                write!(out, " ({how}; vs {vs}): {done}")
            }
        };
        if let Some((n, host)) = f.node.as_ref().and_then(|n| Some((n, n.hostname.as_deref()?))) {
            let _ = write!(out, "  node {host}");
            let more: Vec<&str> =
                [&n.os, &n.application].into_iter().filter_map(|v| v.as_deref()).collect();
            if !more.is_empty() {
                let _ = write!(out, " ({})", more.join(", "));
            }
        }
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration(0), "0ns");
        assert_eq!(duration(7_900), "7.9µs");
        assert_eq!(duration(1_200_000), "1.20ms");
    }
}
