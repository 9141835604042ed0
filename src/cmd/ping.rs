//! `vtrace ping SRC DST`: resolve both endpoints, discover the path, capture on every point of it,
//! send ICMP echoes from inside SRC, and report each exchange as it settles, then the verdict.
//!
//! Orchestration only: discovery is `sys::netlink`, endpoints `sys::endpoint`, the path
//! `core::path`, captures `sys::capture`, probes `sys::probe`, correlation `core::analysis` (the
//! same pipeline as `analyze`), the diagnosis `core::diagnosis`, rendering `report::trace`.
//! Frames pass through a short reorder buffer so that the analysis and `--write` both see them
//! in timestamp order.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow};
use clap::Args;

use crate::cli::parse_duration;
use crate::core::analysis::Analysis;
use crate::core::decode::decode;
use crate::core::diagnosis::{self, ProbeFacts};
use crate::core::frame::{Frame, LinkType};
use crate::core::journey::Observation;
use crate::core::line::PointIdx;
use crate::core::path::{Path, PathError, PathPoint, Role, Target, path};
use crate::core::topology::{NsIdx, Topology};
use crate::core::verdict::Verdict;
use crate::error::Outcome;
use crate::report::trace::{self, PointRow, Summary, TraceReport};
use crate::sys::capture::{CaptureSpec, CaptureStats, Captured, Captures, SNAPLEN};
use crate::sys::endpoint::{Endpoint, EndpointError, endpoint_of, resolve_in};
use crate::sys::netlink::discover;
use crate::sys::netns::Netns;
use crate::sys::pcapfile::{PcapngWriter, WriterInterface};
use crate::sys::probe::{self, ProbeError, ProbeOptions, Prober};

/// Options of `vtrace ping`.
#[derive(Debug, Clone, Args)]
pub struct PingArgs {
    /// Where the echoes are sent from: NAME (netns, then Docker container), netns:NAME,
    /// docker:NAME, pid:PID, path:FILE.
    pub src: String,
    /// Where they go: the same forms, or an IP address.
    pub dst: String,
    /// Echo requests to send.
    #[arg(short = 'c', long = "count", default_value_t = 3,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub count: u16,
    /// Time between echo requests (e.g. 200ms, 1s).
    #[arg(short = 'i', long = "interval", default_value = "200ms", value_parser = parse_duration)]
    pub interval: Duration,
    /// ICMP data bytes per request (like ping -s).
    #[arg(short = 's', long = "size", default_value_t = 56)]
    pub size: usize,
    /// Set Don't Fragment (a request larger than a link's MTU is dropped, not fragmented).
    #[arg(long)]
    pub df: bool,
    /// How long to wait for replies after the last request.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Delete SRC's neighbour (ARP) entry for the next hop first, so the ARP exchange is traced.
    #[arg(long)]
    pub fresh_arp: bool,
    /// Capture filter (tcpdump syntax) in place of the two hosts' ARP and ICMP.
    #[arg(long, value_name = "BPF")]
    pub filter: Option<String>,
    /// Keep every captured frame in one pcapng file (one interface per capture point).
    #[arg(long, value_name = "FILE.pcapng")]
    pub write: Option<PathBuf>,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// IPv6: ICMPv6 echoes to DST's IPv6 address (NDP in place of ARP).
    #[arg(short = '6', long = "ipv6")]
    pub ipv6: bool,
}

/// How long frames wait in the reorder buffer (captures of different points reach this thread
/// in slightly different orders).
const REORDER_NS: u64 = 30_000_000;
/// How often the loop wakes up without frames.
const TICK: Duration = Duration::from_millis(10);

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

pub fn run(args: &PingArgs) -> Result<Outcome> {
    catch_sigint();
    let mut topo = discover().context("discovering the network namespaces")?;
    let (src, src_idx) = locate(&topo, &args.src, None)?;
    relabel(&mut topo, src_idx, &src.label);
    let target = match (locate(&topo, &args.dst, Some(src_idx)), args.dst.parse::<IpAddr>()) {
        (Ok((dst, dst_idx)), _) => {
            relabel(&mut topo, dst_idx, &dst.label);
            match dst.ip {
                Some(ip) => Target::Ip(ip),
                None if args.ipv6 => Target::Ip(ipv6_of(&topo, dst_idx).with_context(|| {
                    format!("-6: {} has no global IPv6 address (`ip -6 addr`)", dst.label)
                })?),
                None => Target::Ns(dst_idx),
            }
        }
        // An address nobody owns (any more): trace where the source sends it.
        (Err(_), Ok(ip)) => Target::Ip(ip),
        (Err(e), Err(_)) => return Err(e),
    };
    let (route, dst_ip) = match path(&topo, src_idx, target) {
        Ok(p) => {
            let ip = p.dst_ip;
            (Some(p), ip)
        }
        Err(PathError::NextHopNotFound { dst, .. }) => (first_segment(&topo, src_idx, dst), dst),
        Err(PathError::NoRoute { dst, .. } | PathError::RouteRejects { dst, .. }) => (None, dst),
        Err(e) => {
            return Err(anyhow!(e)).context(format!("path from {} to {}", src.label, args.dst));
        }
    };
    let src_ip = src_address(&topo, src_idx, route.as_ref(), dst_ip.is_ipv6());
    if args.fresh_arp {
        let next_hop = next_hop(&topo, src_idx, dst_ip);
        if let Some(nh) = next_hop {
            probe::flush_neighbour(&src.netns, nh)
                .with_context(|| format!("flushing {}'s neighbour entry for {nh}", src.label))?;
        }
    }
    let opts = ProbeOptions { dst: dst_ip, id: echo_id(), size: args.size, dont_fragment: args.df };
    let prober = Prober::open(&src.netns, &src.label, opts)?;
    let points = route.as_ref().map_or(&[][..], |p| p.points.as_slice());
    let filter = args.filter.clone().unwrap_or_else(|| default_filter(src_ip, dst_ip));
    let window_ns = u64::try_from(args.timeout.as_nanos()).unwrap_or(u64::MAX).max(1);
    let mut live =
        Live::start(&topo, points, &filter, args.write.as_deref(), args.json, window_ns)?;
    let mut sent = 0u64;
    let mut no_route = false;
    let mut send_error: Option<ProbeError> = None;
    let mut last_send = Instant::now();
    let mut seq: u16 = 0;
    loop {
        let now = Instant::now();
        let interrupted = interrupted();
        if !interrupted && seq < args.count && now >= last_send + args.interval * u32::from(seq > 0)
        {
            seq += 1;
            last_send = now;
            match prober.send(seq) {
                Ok(()) => sent += 1,
                Err(e @ ProbeError::NoRoute { .. }) => {
                    no_route = true;
                    send_error.get_or_insert(e);
                }
                Err(e) => {
                    send_error.get_or_insert(e);
                }
            }
        }
        let all_sent = seq >= args.count;
        if interrupted || (all_sent && (live.answered >= sent || now >= last_send + args.timeout)) {
            break;
        }
        live.pump()?;
    }
    let done = live.finish()?;
    let mut verdict = done.verdict();
    let attempted = u64::from(seq);
    if verdict.sent < attempted {
        let old = format!("{}/{} echo replies", verdict.received, verdict.sent);
        let new = format!("{}/{attempted} echo replies", verdict.received);
        verdict.summary = verdict.summary.replacen(&old, &new, 1);
        verdict.sent = attempted;
        verdict.reachable = false;
    }
    let facts = ProbeFacts { ip_len: opts.ip_len(), dont_fragment: args.df, no_route };
    if !verdict.reachable
        && let Some(d) = diagnosis::diagnose(&topo, route.as_ref(), &verdict, &facts)
    {
        diagnosis::apply(&mut verdict, &d);
    }
    done.write(&verdict)?;
    if let Some(e) = send_error
        && !no_route
    {
        return Err(anyhow!(e));
    }
    Ok(if verdict.reachable { Outcome::Success } else { Outcome::NotReached })
}

/// True once SIGINT arrived (after [`catch_sigint`]).
pub(crate) fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// A live trace on a set of points: captures, the reorder buffer, the analysis, the report and
/// the optional pcapng file. Shared by `ping` and `watch`.
pub(crate) struct Live<'w> {
    captures: Option<Captures>,
    frames: Receiver<Vec<Captured>>,
    pending: BinaryHeap<Reverse<Pending>>,
    analysis: Analysis,
    report: Box<dyn TraceReport + 'w>,
    writer: Option<(PcapngWriter<File>, PathBuf)>,
    linktypes: Vec<LinkType>,
    names: Vec<String>,
    rows: Vec<PointRow>,
    frame_no: u64,
    /// Echo exchanges answered so far.
    pub answered: u64,
    /// The first error writing the report (the trace goes on; it is returned at the end).
    io_result: Result<()>,
}

impl<'w> Live<'w> {
    /// Open the pcapng file (if any) and start a capture on every point; returns once every
    /// capture is active.
    pub fn start(
        topo: &Topology,
        points: &[PathPoint],
        filter: &str,
        write: Option<&std::path::Path>,
        json: bool,
        window_ns: u64,
    ) -> Result<Self> {
        let specs = capture_specs(topo, points, filter)?;
        let writer = match write {
            Some(file) => Some((open_writer(file, topo, points)?, file.to_path_buf())),
            None => None,
        };
        let (captures, frames) = Captures::start(&specs)?;
        for note in captures.down() {
            eprintln!("vtrace: {note}");
        }
        let mut analysis = Analysis::new(window_ns);
        for _ in points {
            analysis.add_point();
        }
        let stdout = std::io::stdout().lock();
        Ok(Live {
            linktypes: captures.linktypes().to_vec(),
            captures: Some(captures),
            frames,
            pending: BinaryHeap::new(),
            analysis,
            report: trace::renderer(json, Box::new(BufWriter::new(stdout))),
            writer,
            names: points.iter().map(|p| p.point_id.clone()).collect(),
            rows: points.iter().map(|p| PointRow::new(&p.point_id, p.role.as_str())).collect(),
            frame_no: 0,
            answered: 0,
            io_result: Ok(()),
        })
    }

    /// Wait up to one tick for frames, hand over those old enough, let time pass in the
    /// analysis and report what settled.
    pub fn pump(&mut self) -> Result<()> {
        match self.frames.recv_timeout(TICK) {
            Ok(batch) => {
                self.pending.extend(batch.into_iter().map(|c| Reverse(Pending(c))));
                while let Ok(batch) = self.frames.try_recv() {
                    self.pending.extend(batch.into_iter().map(|c| Reverse(Pending(c))));
                }
            }
            // No capture at all (no path): just let time pass.
            Err(RecvTimeoutError::Disconnected) => std::thread::sleep(TICK),
            Err(RecvTimeoutError::Timeout) => {}
        }
        let ripe = wall_ns().saturating_sub(REORDER_NS);
        self.release(ripe)?;
        self.analysis.advance_to(ripe);
        self.drain();
        Ok(())
    }

    /// Stop the captures (they keep their namespaces alive), settle everything, complete the
    /// pcapng file.
    pub fn finish(mut self) -> Result<Finished<'w>> {
        let stats = self.captures.take().map(Captures::stop).unwrap_or_default();
        while let Ok(batch) = self.frames.try_recv() {
            self.pending.extend(batch.into_iter().map(|c| Reverse(Pending(c))));
        }
        self.release(u64::MAX)?;
        self.analysis.finish();
        self.drain();
        if let Some((w, file)) = self.writer.take() {
            finish_writer(w, &stats, &file)?;
        }
        for ((row, &n), s) in self.rows.iter_mut().zip(self.analysis.captured()).zip(&stats) {
            row.captured = n;
            row.kernel_drops = s.dropped;
        }
        Ok(Finished {
            analysis: self.analysis,
            report: self.report,
            names: self.names,
            rows: self.rows,
            io_result: self.io_result,
        })
    }

    /// Hand over, in timestamp order, every frame captured before `ripe`.
    fn release(&mut self, ripe: u64) -> Result<()> {
        while self.pending.peek().is_some_and(|Reverse(p)| p.0.t_ns <= ripe) {
            let Some(Reverse(Pending(c))) = self.pending.pop() else { break };
            let ifid = u32::try_from(c.point).unwrap_or(u32::MAX);
            let linktype = self.linktypes.get(c.point).copied().unwrap_or(LinkType::ETHERNET);
            self.frame_no += 1;
            if let Some((w, file)) = self.writer.as_mut() {
                w.write_packet(ifid, c.t_ns, &c.data, c.len)
                    .with_context(|| format!("writing {}", file.display()))?;
            }
            let frame = Frame { ifid, t_ns: c.t_ns, len: c.len, linktype, data: &c.data };
            let obs = Observation {
                point: PointIdx(u16::try_from(c.point).unwrap_or(u16::MAX)),
                t_ns: c.t_ns,
                frame: self.frame_no,
                packet: decode(&frame),
            };
            self.analysis.ingest(&obs);
        }
        Ok(())
    }

    /// Render the exchanges settled so far; count answered echoes.
    fn drain(&mut self) {
        let (report, names, answered) = (&mut self.report, &self.names, &mut self.answered);
        let mut res = Ok(());
        self.analysis.drain(|ex, line| {
            if ex.kind.is_echo() && ex.answered() {
                *answered += 1;
            }
            if res.is_ok() {
                res = report.exchange(ex, line, names);
            }
        });
        if self.io_result.is_ok() {
            self.io_result = res.map_err(Into::into);
        }
    }
}

/// A live trace after its captures stopped: the verdict and the end of the report.
pub(crate) struct Finished<'w> {
    pub analysis: Analysis,
    report: Box<dyn TraceReport + 'w>,
    names: Vec<String>,
    rows: Vec<PointRow>,
    io_result: Result<()>,
}

impl Finished<'_> {
    /// The verdict from the captures alone (capture drops make it `capture-gap`).
    pub fn verdict(&self) -> Verdict {
        let capture_drops = self.rows.iter().any(|r| r.kernel_drops > 0);
        self.analysis.verdict(&self.names, capture_drops)
    }

    /// Write the points and the verdict; return the first report error, if any.
    pub fn write(mut self, verdict: &Verdict) -> Result<()> {
        self.io_result?;
        let (other_journeys, unidentified) = self.analysis.other_counts();
        let summary = Summary {
            points: self
                .analysis
                .line()
                .order()
                .iter()
                .filter_map(|p| self.rows.get(p.index()))
                .collect(),
            names: &self.names,
            verdict,
            other_journeys,
            unidentified,
        };
        self.report.finish(&summary)?;
        drop(self.report);
        std::io::stdout().flush()?;
        Ok(())
    }
}

/// A captured frame waiting in the reorder buffer, ordered by time then point.
struct Pending(Captured);

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pending {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}
impl Pending {
    fn key(&self) -> (u64, usize) {
        (self.0.t_ns, self.0.point)
    }
}

pub(crate) fn catch_sigint() {
    use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
    let action = SigAction::new(SigHandler::Handler(on_sigint), SaFlags::empty(), SigSet::empty());
    // SAFETY: the handler only stores into an atomic, which is async-signal-safe.
    let _ = unsafe { sigaction(Signal::SIGINT, &action) };
}

/// Resolve an endpoint in the topology; an address several namespaces own resolves to the one
/// reachable from `from`.
pub(crate) fn locate(
    topo: &Topology,
    spec: &str,
    from: Option<NsIdx>,
) -> Result<(Endpoint, NsIdx)> {
    let ep = match (resolve_in(spec, topo), from) {
        (Err(EndpointError::Ambiguous { ip, owners }), Some(prev)) => {
            let reached = path(topo, prev, Target::Ip(ip)).ok();
            reached.and_then(|p| endpoint_of(topo, p.dst, Some(ip))).with_context(|| {
                format!(
                    "endpoint {spec:?}: {ip} is owned by several namespaces ({owners}), none \
                     reachable from the source"
                )
            })?
        }
        (resolved, _) => resolved.with_context(|| format!("endpoint {spec:?}"))?,
    };
    let idx = ep.find_in(topo).with_context(|| {
        format!(
            "endpoint {spec:?} ({}) was not among the discovered namespaces: did it just \
             disappear?",
            ep.netns.path().display()
        )
    })?;
    Ok((ep, idx))
}

/// Name a namespace known only by its file after the endpoint the user typed.
pub(crate) fn relabel(topo: &mut Topology, idx: NsIdx, label: &str) {
    if topo.find_label(label).is_some() {
        return;
    }
    if let Some(ns) = topo.namespaces.get_mut(idx.0)
        && matches!(
            ns.kind,
            crate::core::topology::NsKind::Docker | crate::core::topology::NsKind::Process
        )
    {
        ns.label = label.to_owned();
    }
}

/// The source's address: on the first point of the path, else the namespace's primary one.
fn src_address(topo: &Topology, src: NsIdx, route: Option<&Path>, v6: bool) -> Option<IpAddr> {
    let usable = |ip: &IpAddr| ip.is_ipv6() == v6 && !is_link_local(ip);
    let on_path = route
        .and_then(|p| p.points.first())
        .and_then(|pt| topo.link(pt.ns, pt.ifindex))
        .and_then(|l| l.addrs.iter().map(|a| a.ip).find(usable));
    on_path.or_else(|| {
        let ns = topo.ns(src)?;
        ns.links
            .iter()
            .flat_map(|l| l.addrs.iter().map(|a| a.ip))
            .find(|ip| usable(ip) && !ip.is_loopback())
    })
}

/// A namespace's first global IPv6 address.
fn ipv6_of(topo: &Topology, idx: NsIdx) -> Option<IpAddr> {
    topo.ns(idx)?
        .links
        .iter()
        .flat_map(|l| l.addrs.iter().map(|a| a.ip))
        .find(|ip| ip.is_ipv6() && !ip.is_loopback() && !is_link_local(ip))
}

fn is_link_local(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => v6.segments().first().is_some_and(|s| s & 0xffc0 == 0xfe80),
    }
}

/// When nothing owns the next hop: the points the source's packets cross towards it up to the
/// first bridge (source link, its veth peer, that peer's bridge), where an unanswered ARP ends.
fn first_segment(topo: &Topology, src: NsIdx, dst: IpAddr) -> Option<Path> {
    let dev = topo.ns(src)?.route_to(dst)?.dev?;
    let mut hops = vec![(src, dev, Role::Endpoint)];
    if let Some(peer) = topo.link(src, dev).and_then(|l| l.peer) {
        hops.push((peer.ns, peer.ifindex, Role::VethHost));
        if let Some(bridge) = topo.ns(peer.ns).and_then(|n| n.bridge_of(peer.ifindex)) {
            hops.push((peer.ns, bridge.ifindex, Role::Bridge));
        }
    }
    let points = hops
        .into_iter()
        .map(|(ns, ifindex, role)| PathPoint {
            ns,
            point_id: topo.point_id(ns, ifindex),
            ifname: topo
                .link(ns, ifindex)
                .map_or_else(|| format!("if{ifindex}"), |l| l.name.clone()),
            ifindex,
            role,
        })
        .collect::<Vec<_>>();
    let dst_ns = points.last().map_or(src, |p| p.ns);
    Some(Path { src, dst: dst_ns, dst_ip: dst, points })
}

/// The neighbour SRC resolves to reach `dst`: the gateway of its route, or `dst` on-link.
fn next_hop(topo: &Topology, src: NsIdx, dst: IpAddr) -> Option<IpAddr> {
    let route = topo.ns(src)?.route_to(dst)?;
    Some(route.gateway.unwrap_or(dst))
}

/// The two hosts' ARP and ICMP, or ICMPv6 (NDP included) for IPv6. ICMP errors from routers on
/// the way are included: they are sent to the source.
pub fn default_filter(src: Option<IpAddr>, dst: IpAddr) -> String {
    let traffic = if dst.is_ipv6() { "icmp6" } else { "(arp or icmp)" };
    match src {
        Some(s) => format!("{traffic} and (host {s} or host {dst})"),
        None => format!("{traffic} and host {dst}"),
    }
}

fn capture_specs(topo: &Topology, points: &[PathPoint], filter: &str) -> Result<Vec<CaptureSpec>> {
    points
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let ns = topo
                .ns(p.ns)
                .ok_or_else(|| anyhow!("capture point {} has no namespace", p.point_id))?;
            Ok(CaptureSpec {
                point: i,
                id: p.point_id.clone(),
                netns: Netns::Path(ns.path.clone()),
                ifname: p.ifname.clone(),
                promisc: p.role == Role::Bridge,
                filter: filter.to_owned(),
            })
        })
        .collect()
}

fn open_writer(
    file: &std::path::Path,
    topo: &Topology,
    points: &[PathPoint],
) -> Result<PcapngWriter<File>> {
    let out = File::create(file).with_context(|| format!("creating {}", file.display()))?;
    let interfaces: Vec<WriterInterface> = points
        .iter()
        .map(|p| WriterInterface {
            linktype: LinkType::ETHERNET,
            name: p.point_id.clone(),
            description: format!(
                "netns={} ifindex={} role={}",
                topo.ns(p.ns).map_or("?", |n| n.label.as_str()),
                p.ifindex,
                p.role.as_str()
            ),
            snaplen: SNAPLEN,
        })
        .collect();
    PcapngWriter::new(out, &interfaces).with_context(|| format!("writing {}", file.display()))
}

fn finish_writer(
    mut w: PcapngWriter<File>,
    stats: &[CaptureStats],
    file: &std::path::Path,
) -> Result<()> {
    let name = file.display();
    let now = wall_ns();
    for (i, s) in stats.iter().enumerate() {
        let ifid = u32::try_from(i).unwrap_or(u32::MAX);
        w.write_interface_stats(ifid, now, s.received, s.dropped)
            .with_context(|| format!("writing {name}"))?;
    }
    let f = w.finish().with_context(|| format!("writing {name}"))?;
    f.sync_all().with_context(|| format!("writing {name}"))
}

/// An echo id that differs between runs and processes.
fn echo_id() -> u16 {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let mixed = std::process::id().wrapping_mul(0x9e37_79b9) ^ nanos;
    (mixed >> 16) as u16 ^ (mixed as u16)
}

fn wall_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    #[test]
    fn the_default_filter_names_both_hosts() {
        let a = IpAddr::V4(Ipv4Addr::new(172, 18, 0, 2));
        let b = IpAddr::V4(Ipv4Addr::new(172, 18, 0, 3));
        assert_eq!(
            default_filter(Some(a), b),
            "(arp or icmp) and (host 172.18.0.2 or host 172.18.0.3)"
        );
        assert_eq!(default_filter(None, b), "(arp or icmp) and host 172.18.0.3");
        let v6: IpAddr = "fd77::2".parse().unwrap_or(b);
        assert_eq!(default_filter(None, v6), "icmp6 and host fd77::2");
    }

    #[test]
    fn the_reorder_buffer_releases_oldest_first() {
        let mut heap = BinaryHeap::new();
        for (t, point) in [(30, 0), (10, 2), (10, 1), (20, 0)] {
            heap.push(Reverse(Pending(Captured { point, t_ns: t, len: 0, data: Vec::new() })));
        }
        let order: Vec<(u64, usize)> =
            std::iter::from_fn(|| heap.pop().map(|Reverse(p)| p.key())).collect();
        assert_eq!(order, vec![(10, 1), (10, 2), (20, 0), (30, 0)]);
    }
}
