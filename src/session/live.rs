//! A live trace on a set of capture points, shared by `ping`, `watch` and `demo`: the captures
//! (or a replayed file), the reorder buffer, the analysis, the report it writes into (a
//! [`TraceReport`]: text, JSON or the TUI's feed, chosen by the command), the optional pcapng
//! file and frame tap (the TUI's spool), and the netfilter trace book that annotates journeys.
//! It knows no renderer and no terminal; it stops when its [`Stop`] is requested.

use std::fs::File;
use std::net::IpAddr;
use std::path::{Path as FsPath, PathBuf};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow};

use crate::core::analysis::{Analysis, Probe};
use crate::core::decode::decode_into;
use crate::core::frame::{Frame, LinkType};
use crate::core::journey::Sighting;
use crate::core::line::PointIdx;
use crate::core::netfilter::{DropEvent, NfEvent, TraceBook};
use crate::core::path::{PathPoint, Role};
use crate::core::topology::{NsIdx, NsKind, Topology};
use crate::core::verdict::Verdict;
use crate::session::annotate::Annotated;
use crate::session::reorder::Reorder;
use crate::session::sink::{PointRow, Summary, TraceReport};
use crate::sys::capture::{Batch, CaptureOptions, CaptureSpec, Captures, Frames, PACE};
use crate::sys::netns::Netns;
use crate::sys::pcapfile::{PcapngWriter, Section, WriterInterface};

/// How a live trace captures and what it keeps.
#[derive(Debug, Clone)]
pub struct LiveConfig {
    /// Kernel capture buffer per point, in bytes.
    pub buffer_bytes: u32,
    /// Bytes kept of each frame.
    pub snaplen: u32,
    /// Keep every frame in this pcapng file.
    pub write: Option<PathBuf>,
    /// How long a packet may take across the points, and a reply to follow its request.
    pub window_ns: u64,
    /// Read this capture file at full speed in place of capturing (interface N is point N), and
    /// print the peak sizes on stderr: for memory tests and benchmarks (`VTRACE_REPLAY`).
    pub replay: Option<PathBuf>,
    /// Print nothing on stderr (the TUI owns the terminal).
    pub quiet: bool,
}

/// Where the frames of a trace are also kept, in the order the analysis sees them (the TUI's
/// spool for `w`).
pub trait FrameTap: Send {
    /// Frame number `no` (from 1), captured on point `point`.
    fn frame(&mut self, no: u64, point: usize, t_ns: u64, len: u32, data: &[u8]);
    /// Bytes its index holds (reported by a replay).
    fn index_bytes(&self) -> usize {
        0
    }
}

/// How long frames wait in the reorder buffer at least (captures of different points reach this
/// thread in slightly different orders: each point's kernel ring hands over a block of frames at
/// a time, up to two block timeouts (`capture::BLOCK_MS`) after its first frame). Frames also
/// wait until the captures say every frame captured before them was handed over
/// ([`crate::sys::capture::Watermark`]): a capture thread scheduled late holds them back, however
/// late.
const REORDER_NS: u64 = 12_000_000;
/// Most batches of frames taken from the captures per pump.
const PUMP_BATCHES: usize = 16;
/// Settled exchanges rendered at once while frames are released (well within the pool of
/// [`crate::core::recycle::KEEP`] finished exchanges).
const DRAIN_AT: usize = 64;
/// How often the loop wakes up without frames.
const TICK: Duration = Duration::from_millis(10);

/// A live trace on a set of points: captures, the reorder buffer, the analysis, the report and
/// the optional pcapng file.
pub struct Live<'w> {
    captures: Option<Captures>,
    frames: Frames,
    /// Reading a file in place of capturing.
    replay: Option<Replay>,
    tap: Option<Box<dyn FrameTap + 'w>>,
    /// The latest capture time taken from the captures.
    latest: u64,
    pending: Reorder,
    analysis: Analysis,
    report: Box<dyn TraceReport + 'w>,
    writer: Option<(PcapngWriter<File>, Annotated)>,
    linktypes: Vec<LinkType>,
    names: Vec<String>,
    rows: Vec<PointRow>,
    frame_no: u64,
    /// Probes settled so far (answered, or refused): ping stops waiting once all have.
    pub answered: u64,
    /// The first error writing the report (the trace goes on; it is returned at the end).
    io_result: Result<()>,
    /// Netfilter trace events received so far, to annotate the journeys as they settle.
    netfilter: TraceBook,
    quiet: bool,
    /// A replayed file was read to its end.
    input_ended: bool,
    /// Exchanges were reported since the report was last flushed.
    unflushed: bool,
    /// The last pump took frames.
    busy: bool,
}

impl<'w> Live<'w> {
    /// Open the pcapng file (if any) and start a capture on every point; returns once every
    /// capture is active.
    pub fn start(
        topo: &Topology,
        points: &[PathPoint],
        filter: &str,
        cfg: &LiveConfig,
        report: Box<dyn TraceReport + 'w>,
        tap: Option<Box<dyn FrameTap + 'w>>,
    ) -> Result<Self> {
        tune_allocator();
        let specs = capture_specs(topo, points, filter)?;
        let writer = match &cfg.write {
            Some(file) => Some(open_writer(file, topo, points, cfg.snaplen)?),
            None => None,
        };
        let (captures, frames) = match &cfg.replay {
            Some(file) => Captures::replay(file, specs.len())?,
            None => Captures::start(
                &specs,
                CaptureOptions { buffer_bytes: cfg.buffer_bytes, snaplen: cfg.snaplen },
            )?,
        };
        if !cfg.quiet {
            for note in captures.down() {
                eprintln!("vtrace: {note}");
            }
        }
        let mut analysis = Analysis::new(cfg.window_ns);
        for p in points {
            let idx = analysis.add_point();
            if p.role == Role::Branch {
                analysis.mark_branch(idx);
            }
        }
        // The points come in path order from the topology (a replay's file says nothing of it:
        // its order is learned as offline).
        if cfg.replay.is_none() {
            analysis.fix_order();
        }
        Ok(Live {
            linktypes: captures.linktypes().to_vec(),
            captures: Some(captures),
            frames,
            replay: cfg.replay.as_ref().map(|_| Replay::default()),
            tap,
            latest: 0,
            pending: Reorder::default(),
            analysis,
            report,
            writer,
            names: points.iter().map(|p| p.point_id.to_string()).collect(),
            rows: point_rows(points),
            frame_no: 0,
            answered: 0,
            io_result: Ok(()),
            netfilter: TraceBook::default(),
            quiet: cfg.quiet,
            input_ended: false,
            unflushed: false,
            busy: false,
        })
    }

    /// The trace's probes: counted in the verdict, answered only once their socket says so.
    pub fn expect_probe(&mut self, probe: Probe) {
        self.analysis.expect_probe(probe);
    }

    /// The probe's socket received these echo replies.
    pub fn delivered(&mut self, seqs: &[u16]) {
        for &seq in seqs {
            self.analysis.delivered(seq);
        }
    }

    /// How many of the probe's answers reached its socket so far.
    pub fn delivered_count(&self) -> usize {
        self.analysis.delivered_count()
    }

    /// True once a replayed file was read to its end: the trace is over.
    pub fn input_ended(&self) -> bool {
        self.input_ended
    }

    /// Netfilter trace events received since the last call: they annotate the journeys (and,
    /// kept in [`Finished::netfilter`], count for the diagnosis).
    pub fn add_netfilter_events(&mut self, events: Vec<NfEvent>) {
        for e in events {
            self.netfilter.ingest(e);
        }
    }

    /// Kernel drops read since the last call: they are attributed to lost journeys.
    pub fn add_kernel_drops(&mut self, drops: Vec<DropEvent>) {
        self.netfilter.add_drops(drops);
    }

    /// Wait up to one tick (less when a waiting frame ripens sooner) for frames, hand over
    /// those old enough, let time pass in the analysis and report what settled; once idle,
    /// flush the report (what settled shows at once).
    pub fn pump(&mut self) -> Result<()> {
        // Read before taking batches: what the captures sent before they moved it is queued.
        let handed_over = self.frames.watermark.get();
        let mut took = false;
        match self.frames.batches.recv_timeout(self.wait()) {
            Ok(batch) => {
                took = true;
                self.take(batch);
                // A bounded bite: captures (or a replay) may refill the queue as fast as it
                // empties, and the reorder buffer must not swallow more than the queue holds.
                for _ in 1..PUMP_BATCHES {
                    let Ok(batch) = self.frames.batches.try_recv() else { break };
                    self.take(batch);
                }
            }
            // The replayed file is read: the trace ends (the view, if any, stays until `q`).
            Err(RecvTimeoutError::Disconnected) if self.replay.is_some() => self.input_ended = true,
            // No capture at all (no path): just let time pass.
            Err(RecvTimeoutError::Disconnected) => std::thread::sleep(TICK),
            Err(RecvTimeoutError::Timeout) => {}
        }
        // While frames keep coming, time is what the captures say: when vtrace runs behind
        // them, frames still queued must not find their journeys closed by the wall clock. Once
        // the captures are idle, the wall clock. A replay runs on the file's clock alone.
        self.busy = took;
        let now =
            if took || self.replay.is_some() { self.latest } else { wall_ns().max(self.latest) };
        let ripe = now.saturating_sub(REORDER_NS).min(handed_over);
        self.release(ripe)?;
        self.analysis.advance_to(ripe);
        self.drain();
        if !took && self.unflushed {
            self.unflushed = false;
            if let Err(e) = self.report.flush()
                && self.io_result.is_ok()
            {
                self.io_result = Err(e.into());
            }
        }
        Ok(())
    }

    /// How long the next pump waits for frames: a tick, or less when the oldest waiting frame
    /// ripens sooner by the wall clock (a lone packet is reported as soon as it can be). While
    /// frames keep coming (the last pump took some), not less than the captures' pace: one
    /// ripens at every moment, and the next batch (due within that pace) releases it as well
    /// as a wakeup of its own would (measured under `ping -f`: three wakeups in four were for
    /// ripening alone).
    fn wait(&self) -> Duration {
        match self.pending.oldest() {
            Some(t) if self.replay.is_none() => {
                let ripens = t.saturating_add(REORDER_NS).saturating_sub(wall_ns());
                let least = if self.busy { PACE } else { Duration::from_millis(1) };
                Duration::from_nanos(ripens).clamp(least, TICK)
            }
            _ => TICK,
        }
    }

    /// Frames from the captures into the reorder buffer.
    fn take(&mut self, batch: Batch) {
        self.latest = batch.frames().iter().map(|c| c.t_ns).fold(self.latest, u64::max);
        if let Some(r) = self.replay.as_mut() {
            r.frames += batch.len() as u64;
        }
        self.pending.push(batch);
        if let Some(r) = self.replay.as_mut() {
            r.peak_pending = r.peak_pending.max(self.pending.len());
        }
    }

    /// Stop the captures (they keep their namespaces alive), settle everything, complete the
    /// pcapng file.
    pub fn finish(mut self) -> Result<Finished<'w>> {
        // Stop, and drain while the capture threads hand over their last frames (the channel
        // is bounded: a thread may be waiting for room), until every one of them is gone.
        let stats = match self.captures.take() {
            Some(captures) => {
                captures.request_stop();
                while let Ok(batch) = self.frames.batches.recv() {
                    self.take(batch);
                }
                captures.stop()
            }
            None => Vec::new(),
        };
        self.release(u64::MAX)?;
        self.analysis.finish();
        self.drain();
        if let Some(r) = &self.replay {
            let index = self.tap.as_ref().map_or(0, |t| t.index_bytes());
            eprintln!(
                "vtrace: replay: {} frames, peak reorder buffer {} frames, spool index {index} \
                 bytes, peak RSS {} kB",
                r.frames,
                r.peak_pending,
                peak_rss_kb().unwrap_or(0)
            );
        }
        if let Some((w, annotated)) = self.writer.take() {
            annotated.finish(w, &stats, self.quiet)?;
        }
        for ((row, &n), s) in self.rows.iter_mut().zip(self.analysis.captured()).zip(&stats) {
            row.captured = n;
            row.kernel_drops = s.dropped;
            if s.gone && !self.quiet {
                eprintln!(
                    "vtrace: {}: the capture ended during the trace: the interface or its \
                     namespace went away (the trace went on at the other points)",
                    row.id
                );
            }
        }
        Ok(Finished {
            analysis: self.analysis,
            report: self.report,
            names: self.names,
            rows: self.rows,
            io_result: self.io_result,
            netfilter: self.netfilter,
        })
    }

    /// Hand over, in timestamp order, every frame captured before `ripe`.
    fn release(&mut self, ripe: u64) -> Result<()> {
        while let Some(r) = self.pending.pop_ripe(ripe) {
            let c = r.frame;
            let data = self.pending.bytes(&r);
            let ifid = u32::try_from(c.point).unwrap_or(u32::MAX);
            let linktype = self.linktypes.get(c.point).copied().unwrap_or(LinkType::ETHERNET);
            self.frame_no += 1;
            if let Some((w, annotated)) = self.writer.as_mut() {
                w.write_packet(ifid, c.t_ns, data, c.len)
                    .with_context(|| format!("writing {}", annotated.writing().display()))?;
            }
            if let Some(tap) = self.tap.as_mut() {
                tap.frame(self.frame_no, c.point, c.t_ns, c.len, data);
            }
            let frame = Frame { ifid, t_ns: c.t_ns, len: c.len, linktype, data };
            let point = PointIdx(u16::try_from(c.point).unwrap_or(u16::MAX));
            // Identified by the capture thread; decoded whole here only when the correlator
            // needs the packet.
            let sighting = Sighting { point, t_ns: c.t_ns, frame: self.frame_no, id: c.id };
            self.analysis.ingest_sighting(sighting, |p| decode_into(&frame, c.id.fp, p));
            while let Some(spent) = self.pending.pop_spent() {
                self.frames.recycle.give(spent);
            }
            // Render as they settle: their boxes go back to the pool the next exchanges take
            // theirs from (a backlog released at once would empty it, and every exchange
            // beyond it cost an allocation and a free).
            if self.analysis.settled() >= DRAIN_AT {
                self.drain();
            }
        }
        Ok(())
    }

    /// Render the exchanges settled so far; count settled probes.
    fn drain(&mut self) {
        let (report, names, answered) = (&mut self.report, &self.names, &mut self.answered);
        let unflushed = &mut self.unflushed;
        let book = &mut self.netfilter;
        let mut annotated = self.writer.as_mut().map(|(_, a)| a);
        let mut res = Ok(());
        self.analysis.drain(|ex, line| {
            if let Some(a) = annotated.as_deref_mut() {
                a.exchange(&ex, line.len());
            }
            // A probe that settled: answered end to end, or refused (a reset, an ICMP error);
            // without a probe (watch), every answered echo.
            *unflushed = true;
            let probe = ex.probe || ex.kind.is_echo();
            if probe && (ex.answered() || matches!(ex.answer(), Some("rst" | "icmp"))) {
                *answered += 1;
            }
            if res.is_ok() {
                let mut ex = ex;
                if !book.is_empty() {
                    book.annotate_in_place(&mut ex, names);
                }
                res = report.exchange_owned(ex, line, names);
            }
        });
        if self.io_result.is_ok() {
            self.io_result = res.map_err(Into::into);
        }
    }
}

/// Where a replay is.
#[derive(Debug, Default)]
struct Replay {
    frames: u64,
    /// Most frames the reorder buffer held at once.
    peak_pending: usize,
}

/// The process's peak resident set size (VmHWM), in kB.
fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Keep the allocator from growing one heap per capture thread: frames are allocated on the
/// capture threads and freed on the analysing one, and glibc's per-thread arenas keep what is
/// freed to them (measured: about 30 MB more peak RSS under `ping -f` feeding the TUI).
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; it is called before the live session's
    // threads start.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// A live trace after its captures stopped: the verdict and the end of the report.
pub struct Finished<'w> {
    pub analysis: Analysis,
    report: Box<dyn TraceReport + 'w>,
    names: Vec<String>,
    rows: Vec<PointRow>,
    io_result: Result<()>,
    /// The netfilter events and kernel drops of the trace (what the verdict can name).
    pub netfilter: TraceBook,
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
            files: &[],
        };
        self.report.finish(&summary)?;
        drop(self.report);
        Ok(())
    }
}

/// The report's rows of the points, in point order.
pub fn point_rows(points: &[PathPoint]) -> Vec<PointRow> {
    points.iter().map(|p| PointRow::new(&p.point_id, Some(p.role))).collect()
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
                id: p.point_id.to_string(),
                netns: Netns::Path(ns.path.clone()),
                ifname: p.ifname.clone(),
                // Promiscuous on a bridge (else it shows only what is addressed to it), except
                // where the path turns: there br_netfilter DNATs a frame addressed to the bridge
                // back into it, and a promiscuous bridge also hands that frame to its own
                // stack, which routes it again: the container would get every packet twice
                // (measured with Docker's `--userland-proxy=false` hairpin).
                promisc: p.role == Role::Bridge && !p.turn,
                filter: filter.to_owned(),
            })
        })
        .collect()
}

fn open_writer(
    file: &FsPath,
    topo: &Topology,
    points: &[PathPoint],
    snaplen: u32,
) -> Result<(PcapngWriter<File>, Annotated)> {
    let section = Section { node: crate::sys::node::this(), names: container_names(topo, points) };
    Annotated::create(file, section, interfaces(topo, points, snaplen))
}

/// The addresses of the namespaces of the path other than the root one, each named by its
/// label (the container or netns name), for the name resolution block of a `--write` file.
pub fn container_names(topo: &Topology, points: &[PathPoint]) -> Vec<(IpAddr, String)> {
    let mut seen = Vec::new();
    let mut names = Vec::new();
    for p in points {
        if seen.contains(&p.ns) {
            continue;
        }
        seen.push(p.ns);
        let Some(ns) = topo.ns(p.ns).filter(|n| n.kind != NsKind::Root) else { continue };
        for link in &ns.links {
            for a in link.addrs.iter().filter(|a| !a.ip.is_loopback()) {
                names.push((a.ip, ns.label.clone()));
            }
        }
    }
    names
}

/// The capture points as pcapng interfaces: if_name the point id, if_description its
/// namespace, ifindex and role, and for the namespaces the path begins or ends in (a container,
/// or a netns standing for one) the container: `netns=nginx-1 ifindex=2 role=endpoint
/// container=nginx-1`.
pub fn interfaces(topo: &Topology, points: &[PathPoint], snaplen: u32) -> Vec<WriterInterface> {
    let containers: Vec<NsIdx> =
        points.iter().filter(|p| p.role == Role::Endpoint).map(|p| p.ns).collect();
    points
        .iter()
        .map(|p| {
            let ns = topo.ns(p.ns);
            let label = ns.map_or("?", |n| n.label.as_str());
            let mut description =
                format!("netns={label} ifindex={} role={}", p.ifindex, p.role.as_str());
            if containers.contains(&p.ns) && ns.is_some_and(|n| n.kind != NsKind::Root) {
                description.push_str(&format!(" container={label}"));
            }
            WriterInterface {
                linktype: LinkType::ETHERNET,
                name: p.point_id.to_string(),
                description,
                snaplen,
            }
        })
        .collect()
}

fn wall_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}
