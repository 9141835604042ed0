//! Clock offsets between capture files recorded on different nodes, from packets both saw.
//!
//! Each node captures on its own clock. The same packet (the same [`Packet::fp`], which names the
//! innermost packet even inside a tunnel) seen in file A and in file B bounds the offset θ of B's
//! clock relative to A's (θ = B's clock − A's): a packet that went from A's points to B's was
//! seen in B no earlier than in A, so θ ≤ (first time in B − last time in A); one that went the
//! other way gives θ ≥ (last time in B − first time in A). Which way a packet went is not known
//! here, but every packet between two addresses goes the same way: packets of one direction of a
//! flow (by inner addresses, or an ARP's sender and target) all lie on one side of θ and those of
//! the reverse direction on the other side. With both directions of a flow seen (a request and
//! its reply), θ is bracketed; the tightest bracket over all flows gives the estimate (its
//! midpoint) and the uncertainty (its half-width), as NTP does with its four timestamps.
//!
//! Only one direction seen: the bound is one-sided and a delay cannot be told from an offset. The
//! files are then taken to share a clock unless the implied one-way delay is implausible (longer
//! than the analysis window), in which case the fastest packet is assumed to have taken no time.
//!
//! A file whose offset is within its uncertainty of 0 is not shifted: captures of one host (one
//! file per point) keep their timestamps exactly. Samples are bounded ([`Sample`]): the callers
//! feed the first frames of each file. Pure: no IO, no clock.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::net::IpAddr;

use foldhash::fast::FixedState;

use crate::core::packet::Packet;

/// Most packets a sample keeps: beyond, it keeps a consistent subset (by fingerprint bits, the
/// same packets in every file) and drops the rest.
pub const SAMPLE_CAP: usize = 1 << 16;

/// How long one passage of a packet through one node's points may take: the same packet seen
/// again later in the file is a repeat (an ARP request asked again, a retransmission, a tool
/// that sends identical packets), which cannot say which passage the other file saw.
pub const PASSAGE_NS: u64 = 100_000_000;

/// Where and when one packet was seen in one file.
#[derive(Debug, Clone, Copy)]
struct Sighting {
    first: u64,
    last: u64,
    /// The flow (unordered address pair) and its direction.
    flow: u64,
    forward: bool,
    /// Seen again after [`PASSAGE_NS`]: left out.
    repeated: bool,
}

/// The packets of (the beginning of) one capture file: fingerprint → first and last sighting.
#[derive(Debug, Clone)]
pub struct Sample {
    seen: HashMap<u64, Sighting, FixedState>,
    /// A packet is kept only when `fp & mask == 0`; the mask grows as the sample fills.
    mask: u64,
    cap: usize,
}

impl Default for Sample {
    fn default() -> Self {
        Sample::with_cap(SAMPLE_CAP)
    }
}

impl Sample {
    pub fn with_cap(cap: usize) -> Self {
        Sample { seen: HashMap::with_hasher(FixedState::with_seed(0)), mask: 0, cap: cap.max(1) }
    }

    /// One frame of the file, seen at `t_ns` on its own clock.
    pub fn add(&mut self, t_ns: u64, packet: &Packet) {
        let Some(fp) = packet.fp else { return };
        if fp & self.mask != 0 {
            return;
        }
        let Some((flow, forward)) = flow_of(packet) else { return };
        self.seen
            .entry(fp)
            .and_modify(|s| {
                s.first = s.first.min(t_ns);
                s.last = s.last.max(t_ns);
                s.repeated |= s.last - s.first > PASSAGE_NS;
            })
            .or_insert(Sighting { first: t_ns, last: t_ns, flow, forward, repeated: false });
        while self.seen.len() > self.cap {
            self.mask = self.mask << 1 | 1;
            let mask = self.mask;
            self.seen.retain(|fp, _| fp & mask == 0);
        }
    }

    /// Packets kept.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

/// The flow of a packet: a hash of its (innermost) address pair, unordered, and which way it
/// goes. ARP by sender and target protocol address. `None` without addresses.
fn flow_of(p: &Packet) -> Option<(u64, bool)> {
    let (a, b) = if let Some(ip) = p.inner_ip.or(p.ip) {
        (ip.src, ip.dst)
    } else {
        let arp = p.arp?;
        (IpAddr::V4(arp.spa?), IpAddr::V4(arp.tpa?))
    };
    let forward = a <= b;
    let (lo, hi) = if forward { (a, b) } else { (b, a) };
    let mut h = FixedState::with_seed(0x636c_6f63_6b73).build_hasher();
    for ip in [lo, hi] {
        match ip {
            IpAddr::V4(v4) => h.write(&v4.octets()),
            IpAddr::V6(v6) => h.write(&v6.octets()),
        }
    }
    Some((h.finish(), forward))
}

/// How an offset was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// The reference file itself.
    Reference,
    /// Bracketed by packets in both directions.
    BothWays,
    /// Packets in one direction only: a one-sided bound.
    OneWay,
    /// The brackets of different flows disagree (clocks drifting apart during the capture, or
    /// paths that differ per direction): the estimate is the middle of their spread.
    Inconsistent,
    /// No packet in common with any file whose offset is known.
    NoCommonPackets,
}

impl Basis {
    pub fn as_str(self) -> &'static str {
        match self {
            Basis::Reference => "reference",
            Basis::BothWays => "both-ways",
            Basis::OneWay => "one-way",
            Basis::Inconsistent => "inconsistent",
            Basis::NoCommonPackets => "no-common-packets",
        }
    }
}

/// The clock of one file relative to the reference (the first file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offset {
    /// This file's clock minus the reference's, as applied: subtract it from the file's
    /// timestamps. 0 when the estimate was within its uncertainty of 0.
    pub offset_ns: i64,
    /// Half-width of the interval the true offset lies in (around `offset_ns`); `None` when
    /// nothing bounds it.
    pub uncertainty_ns: Option<u64>,
    pub basis: Basis,
    /// The file the offset was measured against (the reference, or a file chained to it).
    pub via: usize,
}

impl Offset {
    fn reference() -> Offset {
        Offset { offset_ns: 0, uncertainty_ns: Some(0), basis: Basis::Reference, via: 0 }
    }
}

/// The bounds of θ (B's clock − A's) given by the packets A and B both saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Bounds {
    lo: i64,
    hi: i64,
    basis: Basis,
}

/// Per direction of a flow: the smallest `first_b − last_a` and the largest `last_b − first_a`.
#[derive(Debug, Clone, Copy)]
struct Spread {
    min_lo: i64,
    max_hi: i64,
}

fn diff(a: u64, b: u64) -> i64 {
    i64::try_from(i128::from(a) - i128::from(b)).unwrap_or(if a > b { i64::MAX } else { i64::MIN })
}

/// What the packets both samples kept say about θ; `None` when they share none.
fn bounds(a: &Sample, b: &Sample, window_ns: u64) -> Option<Bounds> {
    let mask = a.mask | b.mask;
    let (small, large, flip) = if a.len() <= b.len() { (a, b, false) } else { (b, a, true) };
    let mut dirs: HashMap<(u64, bool), Spread, FixedState> =
        HashMap::with_hasher(FixedState::with_seed(0));
    for (fp, s) in small.seen.iter().filter(|(fp, s)| *fp & mask == 0 && !s.repeated) {
        let Some(o) = large.seen.get(fp).filter(|o| !o.repeated) else { continue };
        let (sa, sb) = if flip { (o, s) } else { (s, o) };
        let (lo, hi) = (diff(sb.first, sa.last), diff(sb.last, sa.first));
        dirs.entry((sa.flow, sa.forward))
            .and_modify(|d| {
                d.min_lo = d.min_lo.min(lo);
                d.max_hi = d.max_hi.max(hi);
            })
            .or_insert(Spread { min_lo: lo, max_hi: hi });
    }
    if dirs.is_empty() {
        return None;
    }
    // Flows seen both ways: each brackets θ.
    let (mut lo, mut hi, mut two_way) = (i64::MIN, i64::MAX, false);
    for (&(flow, forward), f) in dirs.iter().filter(|((_, fwd), _)| *fwd) {
        let Some(r) = dirs.get(&(flow, !forward)) else { continue };
        // Either the forward direction went A → B (θ ≤ its smallest lo, θ ≥ the reverse's
        // largest hi) or B → A; only one of the two brackets is consistent.
        let (l, h) = if r.max_hi <= f.min_lo {
            (r.max_hi, f.min_lo)
        } else if f.max_hi <= r.min_lo {
            (f.max_hi, r.min_lo)
        } else {
            continue;
        };
        two_way = true;
        lo = lo.max(l);
        hi = hi.min(h);
    }
    if two_way {
        return Some(if lo <= hi {
            Bounds { lo, hi, basis: Basis::BothWays }
        } else {
            Bounds { lo: hi, hi: lo, basis: Basis::Inconsistent }
        });
    }
    // One way only: θ ≤ the smallest lo (A → B) or θ ≥ the largest hi (B → A).
    let min_lo = dirs.values().map(|d| d.min_lo).min().unwrap_or(0);
    let max_hi = dirs.values().map(|d| d.max_hi).max().unwrap_or(0);
    let window = i64::try_from(window_ns).unwrap_or(i64::MAX);
    Some(if min_lo > window {
        // An implausible delay A → B: the fastest packet took no time.
        Bounds {
            lo: min_lo,
            hi: min_lo.saturating_add(spread(min_lo, max_hi)),
            basis: Basis::OneWay,
        }
    } else if max_hi < -window {
        Bounds {
            lo: max_hi.saturating_sub(spread(min_lo, max_hi)),
            hi: max_hi,
            basis: Basis::OneWay,
        }
    } else if min_lo >= 0 {
        Bounds { lo: 0, hi: min_lo, basis: Basis::OneWay }
    } else if max_hi <= 0 {
        Bounds { lo: max_hi, hi: 0, basis: Basis::OneWay }
    } else {
        Bounds { lo: min_lo, hi: max_hi, basis: Basis::OneWay }
    })
}

/// The spread of the one-way delays seen, as the uncertainty of a one-way estimate (at least
/// 1 µs).
fn spread(min_lo: i64, max_hi: i64) -> i64 {
    max_hi.saturating_sub(min_lo).max(1_000)
}

impl Bounds {
    /// The offset to apply and its uncertainty: the midpoint, or 0 when 0 is inside.
    fn offset(self) -> (i64, u64) {
        let (lo, hi) = (i128::from(self.lo), i128::from(self.hi));
        if lo <= 0 && 0 <= hi {
            return (0, hi.max(-lo).unsigned_abs() as u64);
        }
        if self.basis == Basis::OneWay {
            // The fastest packet took no time: the bound nearer to 0.
            let at = if lo.abs() < hi.abs() { lo } else { hi };
            return (clamp(at), (hi - lo).unsigned_abs() as u64);
        }
        let mid = lo + (hi - lo) / 2;
        (clamp(mid), ((hi - lo) / 2).unsigned_abs() as u64)
    }
}

fn clamp(v: i128) -> i64 {
    i64::try_from(v).unwrap_or(if v > 0 { i64::MAX } else { i64::MIN })
}

/// The offset of every file relative to the first, from the samples of their first frames.
/// Files sharing no packet with the first are measured against another file already measured
/// (uncertainties add); files sharing none with any keep their clock (`NoCommonPackets`).
/// `window_ns`: the longest a packet may plausibly take across the points.
pub fn estimate(samples: &[Sample], window_ns: u64) -> Vec<Offset> {
    let n = samples.len();
    let mut out: Vec<Option<Offset>> = vec![None; n];
    if let Some(first) = out.first_mut() {
        *first = Some(Offset::reference());
    }
    // Breadth first from the reference: each round measures the files still unknown against
    // those known, the best-bracketed link first.
    loop {
        let mut best: Option<(usize, Offset)> = None;
        for (j, known) in out.iter().enumerate() {
            let Some(known) = known else { continue };
            for (i, s) in samples.iter().enumerate() {
                if out.get(i).is_some_and(Option::is_some) {
                    continue;
                }
                let Some(b) = samples.get(j).and_then(|sj| bounds(sj, s, window_ns)) else {
                    continue;
                };
                let (off, unc) = b.offset();
                let cand = Offset {
                    offset_ns: known.offset_ns.saturating_add(off),
                    uncertainty_ns: known.uncertainty_ns.map(|u| u.saturating_add(unc)),
                    basis: b.basis,
                    via: j,
                };
                if best.is_none_or(|(_, o)| rank(&cand) < rank(&o)) {
                    best = Some((i, cand));
                }
            }
        }
        let Some((i, o)) = best else { break };
        if let Some(slot) = out.get_mut(i) {
            *slot = Some(o);
        }
    }
    out.into_iter()
        .map(|o| {
            o.unwrap_or(Offset {
                offset_ns: 0,
                uncertainty_ns: None,
                basis: Basis::NoCommonPackets,
                via: 0,
            })
        })
        .collect()
}

/// Better links first: both ways, then one way, then inconsistent; then the tighter.
fn rank(o: &Offset) -> (u8, u64) {
    let class = match o.basis {
        Basis::Reference | Basis::BothWays => 0,
        Basis::OneWay => 1,
        Basis::Inconsistent => 2,
        Basis::NoCommonPackets => 3,
    };
    (class, o.uncertainty_ns.unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests;
