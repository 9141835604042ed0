//! Generates a synthetic capture of the lab, as vtrace's own capture would record it: benchmark
//! input for `vtrace analyze` (see bench/analyze.sh).
//!
//! Five Ethernet capture points in path order (nginx-1/eth0, host/veth1a2b3c4, host/br0,
//! host/veth5d6e7f8, nginx-2/eth0). Several flows between hosts of 172.18.0.0/16 exchange ARP
//! request/reply and ICMP echo request/reply; every packet appears on each point in path order
//! (requests forwards, replies backwards) a few µs apart, the bridge hop with the ingress veth's
//! timestamp; exchanges overlap in time across flows. About 1 echo request in 50 is lost after the
//! bridge (seen on the first three points only, never answered). Deterministic for a given seed.
//! The frame budget (--packets) may cut the last exchange short, like a capture stopped mid-flight.
//!
//!     cargo run --release --example gen_capture -- --packets 1000000 --out big.pcapng
//!     cargo run --release --example gen_capture -- --packets 1000 --pcap-per-point dir/

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Parser;
use vtrace::core::frame::LinkType;
use vtrace::sys::pcapfile::{PcapngWriter, WriterInterface};

#[derive(Debug, Parser)]
#[command(about = "Generate a synthetic 5-point lab capture (ARP + ICMP echo flows)")]
struct Args {
    /// Total frames to write (over all capture points).
    #[arg(long, default_value_t = 1_000_000)]
    packets: u64,
    /// Output pcapng file.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Instead of one pcapng: one classic pcap file (µs) per capture point in this directory.
    #[arg(long, value_name = "DIR")]
    pcap_per_point: Option<PathBuf>,
    /// Random seed (same seed, same file).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Number of flows (source/destination host pairs).
    #[arg(long, default_value_t = 8)]
    flows: u32,
    /// Mean gap between the starts of two exchanges, in µs.
    #[arg(long, default_value_t = 100)]
    gap_us: u64,
}

/// The capture points in path order: (if_name, if_description).
const POINTS: [(&str, &str); 5] = [
    ("nginx-1/eth0", "netns=nginx-1 role=endpoint"),
    ("host/veth1a2b3c4", "netns=host role=veth peer=nginx-1/eth0"),
    ("host/br0", "netns=host role=bridge"),
    ("host/veth5d6e7f8", "netns=host role=veth peer=nginx-2/eth0"),
    ("nginx-2/eth0", "netns=nginx-2 role=endpoint"),
];
const BRIDGE: usize = 2;
/// 2025-11-27T14:47:20Z, in ns.
const START_NS: u64 = 1_764_254_840_000_000_000;
/// Echoes between two ARP exchanges of a flow (the neighbour entry going stale).
const ECHOES_PER_ARP: u32 = 100;
const MAX_FRAME: usize = 98;

/// splitmix64: small, fast, deterministic.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in lo..=hi.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

/// One source/destination pair and its counters.
struct Flow {
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src_ip: [u8; 4],
    dst_ip: [u8; 4],
    icmp_id: u16,
    seq: u16,
    src_ip_id: u16,
    dst_ip_id: u16,
    echoes_since_arp: u32,
}

impl Flow {
    fn new(i: u32, rng: &mut Rng) -> Self {
        let (a, b) = ((i / 200) as u8, (i % 200) as u8);
        Flow {
            src_mac: [0x02, 0x42, 0xac, 0x12, a, 2 + b],
            dst_mac: [0x02, 0x42, 0xac, 0x13, a, 2 + b],
            src_ip: [172, 18, a, 2 + b],
            dst_ip: [172, 18, 100 + a, 2 + b],
            icmp_id: rng.next() as u16,
            seq: 0,
            src_ip_id: rng.next() as u16,
            dst_ip_id: rng.next() as u16,
            echoes_since_arp: ECHOES_PER_ARP,
        }
    }
}

/// A packet in flight and how many capture points still have to write it.
#[derive(Clone, Copy)]
struct Slot {
    data: [u8; MAX_FRAME],
    len: u8,
    remaining: u8,
}

/// Frames waiting to be written in time order: (time, insertion order) → (slot, point).
struct Pending {
    heap: BinaryHeap<Reverse<(u64, u64, u32, u8)>>,
    slots: Vec<Slot>,
    free: Vec<u32>,
    order: u64,
}

impl Pending {
    fn new() -> Self {
        Pending { heap: BinaryHeap::new(), slots: Vec::new(), free: Vec::new(), order: 0 }
    }

    /// Schedules one packet on the given (point, time) hops.
    fn add(&mut self, data: &[u8], hops: &[(u8, u64)]) {
        let mut slot = Slot { data: [0; MAX_FRAME], len: data.len() as u8, remaining: 0 };
        slot.data[..data.len()].copy_from_slice(data);
        slot.remaining = hops.len() as u8;
        let idx = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = slot;
                i
            }
            None => {
                self.slots.push(slot);
                (self.slots.len() - 1) as u32
            }
        };
        for &(point, t) in hops {
            self.order += 1;
            self.heap.push(Reverse((t, self.order, idx, point)));
        }
    }

    /// Writes every frame due before `until`, stopping at the frame budget.
    fn drain(&mut self, until: u64, sink: &mut Sink, budget: &mut u64) -> Result<()> {
        while *budget > 0 {
            let Some(&Reverse((t, _, idx, point))) = self.heap.peek() else { break };
            if t >= until {
                break;
            }
            self.heap.pop();
            let slot = &mut self.slots[idx as usize];
            sink.write(point, t, &slot.data[..usize::from(slot.len)])?;
            *budget -= 1;
            slot.remaining -= 1;
            if slot.remaining == 0 {
                self.free.push(idx);
            }
        }
        Ok(())
    }
}

/// Where frames go: one pcapng, or one classic pcap per point.
enum Sink {
    Pcapng(PcapngWriter<File>),
    PerPoint(Vec<BufWriter<File>>),
}

impl Sink {
    fn write(&mut self, point: u8, t_ns: u64, data: &[u8]) -> Result<()> {
        match self {
            Sink::Pcapng(w) => w.write_packet(u32::from(point), t_ns, data, data.len() as u32)?,
            Sink::PerPoint(files) => {
                let w = &mut files[usize::from(point)];
                let len = data.len() as u32;
                w.write_all(&((t_ns / 1_000_000_000) as u32).to_le_bytes())?;
                w.write_all(&((t_ns % 1_000_000_000 / 1000) as u32).to_le_bytes())?;
                w.write_all(&len.to_le_bytes())?;
                w.write_all(&len.to_le_bytes())?;
                w.write_all(data)?;
            }
        }
        Ok(())
    }

    fn finish(self) -> Result<()> {
        match self {
            Sink::Pcapng(w) => {
                w.finish()?;
            }
            Sink::PerPoint(files) => {
                for mut f in files {
                    f.flush()?;
                }
            }
        }
        Ok(())
    }
}

fn open_sink(args: &Args) -> Result<Sink> {
    if let Some(dir) = &args.pcap_per_point {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut files = Vec::new();
        for (name, _) in POINTS {
            let path = dir.join(format!("{}.pcap", name.replace('/', "_")));
            let f = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
            let mut w = BufWriter::with_capacity(1 << 20, f);
            w.write_all(&0xa1b2_c3d4u32.to_le_bytes())?;
            w.write_all(&2u16.to_le_bytes())?;
            w.write_all(&4u16.to_le_bytes())?;
            w.write_all(&[0; 8])?;
            w.write_all(&262_144u32.to_le_bytes())?;
            w.write_all(&1u32.to_le_bytes())?;
            files.push(w);
        }
        return Ok(Sink::PerPoint(files));
    }
    let Some(out) = &args.out else { bail!("give --out FILE.pcapng or --pcap-per-point DIR") };
    let file = File::create(out).with_context(|| format!("creating {}", out.display()))?;
    let interfaces: Vec<WriterInterface> = POINTS
        .iter()
        .map(|(name, desc)| WriterInterface {
            linktype: LinkType::ETHERNET,
            name: (*name).into(),
            description: (*desc).into(),
            snaplen: 262_144,
        })
        .collect();
    Ok(Sink::Pcapng(PcapngWriter::new(file, &interfaces)?))
}

/// Hop times of a packet crossing the five points forwards (request) or backwards (reply),
/// starting at `t`, as (point, time) in the order it crosses them.
fn path_times(rng: &mut Rng, t: u64, forwards: bool) -> [(u8, u64); 5] {
    let mut hops = [(0u8, 0u64); 5];
    let mut now = t;
    for (k, hop) in hops.iter_mut().enumerate() {
        let point = if forwards { k } else { 4 - k };
        if k > 0 {
            // veth pair: a few µs; into the bridge: same timestamp as the ingress veth; bridge
            // to egress veth: tens of µs.
            now += match (forwards, k) {
                (_, 2) => 0,
                (_, 3) => rng.range(25_000, 40_000),
                (true, 1) | (false, 4) => rng.range(6_000, 10_000),
                _ => rng.range(2_000, 5_000),
            };
        }
        *hop = (point as u8, now);
    }
    hops
}

fn ethernet(buf: &mut [u8; MAX_FRAME], dst: [u8; 6], src: [u8; 6], ethertype: u16) {
    buf[0..6].copy_from_slice(&dst);
    buf[6..12].copy_from_slice(&src);
    buf[12..14].copy_from_slice(&ethertype.to_be_bytes());
}

/// An ARP request (`reply == false`) or reply between the flow's two hosts: 42 bytes.
fn arp(buf: &mut [u8; MAX_FRAME], f: &Flow, reply: bool) -> usize {
    let (smac, sip, tmac, tip) = if reply {
        (f.dst_mac, f.dst_ip, f.src_mac, f.src_ip)
    } else {
        (f.src_mac, f.src_ip, [0; 6], f.dst_ip)
    };
    ethernet(buf, if reply { f.src_mac } else { [0xff; 6] }, smac, 0x0806);
    buf[14..22].copy_from_slice(&[0, 1, 8, 0, 6, 4, 0, if reply { 2 } else { 1 }]);
    buf[22..28].copy_from_slice(&smac);
    buf[28..32].copy_from_slice(&sip);
    buf[32..38].copy_from_slice(&tmac);
    buf[38..42].copy_from_slice(&tip);
    42
}

/// An ICMP echo request or reply like Linux ping's: 98 bytes, a timeval then 0x10, 0x11, ...
fn echo(buf: &mut [u8; MAX_FRAME], f: &Flow, reply: bool, ip_id: u16, sent_ns: u64) -> usize {
    let (smac, dmac, sip, dip) = if reply {
        (f.dst_mac, f.src_mac, f.dst_ip, f.src_ip)
    } else {
        (f.src_mac, f.dst_mac, f.src_ip, f.dst_ip)
    };
    ethernet(buf, dmac, smac, 0x0800);
    let ip = &mut buf[14..34];
    ip.copy_from_slice(&[0x45, 0, 0, 84, 0, 0, 0x40, 0, 64, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    ip[4..6].copy_from_slice(&ip_id.to_be_bytes());
    ip[12..16].copy_from_slice(&sip);
    ip[16..20].copy_from_slice(&dip);
    let sum = checksum(ip);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    let icmp = &mut buf[34..98];
    icmp[0] = if reply { 0 } else { 8 };
    icmp[1] = 0;
    icmp[2..4].copy_from_slice(&[0, 0]);
    icmp[4..6].copy_from_slice(&f.icmp_id.to_be_bytes());
    icmp[6..8].copy_from_slice(&f.seq.to_be_bytes());
    icmp[8..16].copy_from_slice(&(sent_ns / 1_000_000_000).to_le_bytes());
    icmp[16..24].copy_from_slice(&(sent_ns % 1_000_000_000 / 1000).to_le_bytes());
    for (k, b) in icmp[24..].iter_mut().enumerate() {
        *b = 0x10 + k as u8;
    }
    let sum = checksum(icmp);
    icmp[2..4].copy_from_slice(&sum.to_be_bytes());
    98
}

/// The Internet checksum (RFC 1071).
fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 =
        bytes.chunks(2).map(|c| (u32::from(c[0]) << 8) | u32::from(*c.get(1).unwrap_or(&0))).sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Counts of what was generated, printed at the end.
#[derive(Default)]
struct Stats {
    arp_exchanges: u64,
    echo_exchanges: u64,
    lost_requests: u64,
}

/// Plans one exchange of a flow starting at `t` and schedules its frames.
fn exchange(flow: &mut Flow, t: u64, rng: &mut Rng, pending: &mut Pending, stats: &mut Stats) {
    let mut buf = [0u8; MAX_FRAME];
    let turnaround = rng.range(15_000, 30_000);
    if flow.echoes_since_arp >= ECHOES_PER_ARP {
        flow.echoes_since_arp = 0;
        stats.arp_exchanges += 1;
        let n = arp(&mut buf, flow, false);
        let hops = path_times(rng, t, true);
        pending.add(&buf[..n], &hops);
        let n = arp(&mut buf, flow, true);
        let back = path_times(rng, hops[4].1 + turnaround, false);
        pending.add(&buf[..n], &back);
        return;
    }
    flow.echoes_since_arp += 1;
    flow.seq = flow.seq.wrapping_add(1);
    flow.src_ip_id = flow.src_ip_id.wrapping_add(1);
    stats.echo_exchanges += 1;
    let n = echo(&mut buf, flow, false, flow.src_ip_id, t);
    let hops = path_times(rng, t, true);
    if rng.next() % 50 == 0 {
        stats.lost_requests += 1;
        pending.add(&buf[..n], &hops[..=BRIDGE]);
        return;
    }
    pending.add(&buf[..n], &hops);
    flow.dst_ip_id = flow.dst_ip_id.wrapping_add(1);
    let n = echo(&mut buf, flow, true, flow.dst_ip_id, t);
    let back = path_times(rng, hops[4].1 + turnaround, false);
    pending.add(&buf[..n], &back);
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.flows == 0 || args.flows > 200 * 100 {
        bail!("--flows must be between 1 and 20000");
    }
    let started = Instant::now();
    let mut rng = Rng(args.seed);
    let mut flows: Vec<Flow> = (0..args.flows).map(|i| Flow::new(i, &mut rng)).collect();
    let mut sink = open_sink(&args)?;
    let mut pending = Pending::new();
    let mut stats = Stats::default();
    let mut budget = args.packets;
    let mut t = START_NS;
    while budget > 0 {
        pending.drain(t, &mut sink, &mut budget)?;
        let f = (rng.next() % u64::from(args.flows)) as usize;
        exchange(&mut flows[f], t, &mut rng, &mut pending, &mut stats);
        t += rng.range(0, 2 * args.gap_us * 1000);
    }
    pending.drain(u64::MAX, &mut sink, &mut budget)?;
    sink.finish()?;
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "gen_capture: {} frames ({} ARP exchanges, {} echo exchanges, {} requests lost after \
         host/br0) in {:.2} s ({:.1} M frames/s); capture spans {:.1} s",
        args.packets - budget,
        stats.arp_exchanges,
        stats.echo_exchanges,
        stats.lost_requests,
        secs,
        (args.packets - budget) as f64 / secs / 1e6,
        (t - START_NS) as f64 / 1e9
    );
    Ok(())
}
