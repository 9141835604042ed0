//! A live trace on a set of capture points, shared by `ping`, `watch` and `demo`: captures,
//! a short reorder buffer (captures of different points reach this thread in slightly different
//! orders), the analysis, the report (text, JSON or the TUI) and the optional pcapng file; and
//! the interrupt flag that SIGINT/SIGTERM or quitting the TUI sets.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow};
use clap::Args;

use crate::core::analysis::Analysis;
use crate::core::decode::decode;
use crate::core::frame::{Frame, LinkType};
use crate::core::journey::Observation;
use crate::core::line::PointIdx;
use crate::core::netfilter::{DropEvent, NfEvent, TraceBook};
use crate::core::path::{PathPoint, Role};
use crate::core::topology::Topology;
use crate::core::verdict::Verdict;
use crate::error::{Outcome, is_broken_pipe};
use crate::report::clock::Zone;
use crate::report::trace::{self, PointRow, Summary, TraceReport};
use crate::sys::capture::{CaptureOptions, CaptureSpec, CaptureStats, Captured, Captures, SNAPLEN};
use crate::sys::netns::Netns;
use crate::sys::pcapfile::{PcapngWriter, WriterInterface};
use crate::tui::Feed;
use crate::tui::feed::FeedReport;
use crate::tui::frames::{FrameSource, SharedSpool, Spool, Unavailable};
use crate::tui::state::{DEFAULT_CAPACITY, TuiState};

/// Where `ping` and `watch` report, and what they trace besides the captures.
#[derive(Debug, Clone, Default, Args)]
pub struct TraceFlags {
    /// Keep every captured frame in one pcapng file (one interface per capture point), and the
    /// netfilter trace beside it (FILE.pcapng.nft.json) for `analyze` to replay.
    #[arg(long, value_name = "FILE.pcapng")]
    pub write: Option<PathBuf>,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Print the text report even on a terminal (where the interactive view is the default).
    #[arg(long)]
    pub no_tui: bool,
    /// Do not install netfilter tracing rules (read-only: nothing is added to any firewall).
    #[arg(long)]
    pub no_netfilter: bool,
    /// Do not watch the kernel's packet drop reasons (tracefs skb:kfree_skb).
    #[arg(long)]
    pub no_drop_reasons: bool,
}

impl TraceFlags {
    /// What netfilter tracing these flags leave on.
    pub fn netfilter_options(&self) -> crate::sys::nftrace::Options {
        crate::sys::nftrace::Options {
            netfilter: !self.no_netfilter,
            drop_reasons: !self.no_drop_reasons,
        }
    }
}

/// Options of every live trace (`ping`, `watch`, `demo`): memory bounds.
#[derive(Debug, Clone, Args)]
pub struct LiveOptions {
    /// Exchanges the interactive view keeps (the oldest are forgotten first); `w` writes the
    /// frames of those shown, kept in a spool file of about 2 KiB per exchange.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_CAPACITY, value_parser = parse_ring)]
    pub ring: usize,
    /// Kernel capture buffer per capture point, in MiB (libpcap's -B): a burst this large is
    /// absorbed while vtrace catches up; what does not fit is counted as a capture drop.
    #[arg(long, value_name = "MIB", default_value_t = DEFAULT_BUFFER_MIB,
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub buffer_size: u32,
    /// Bytes kept of each frame (longer ones, jumbo or GSO frames, are cut after their
    /// headers). Each frame takes a slot of about this size in the kernel buffer.
    #[arg(long, value_name = "BYTES", default_value_t = SNAPLEN,
          value_parser = clap::value_parser!(u32).range(128..=262_144))]
    pub snaplen: u32,
}

impl Default for LiveOptions {
    fn default() -> Self {
        LiveOptions { ring: DEFAULT_CAPACITY, buffer_size: DEFAULT_BUFFER_MIB, snaplen: SNAPLEN }
    }
}

/// A ring size: 1 to 10 million exchanges.
pub fn parse_ring(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if (1..=10_000_000).contains(&n) => Ok(n),
        _ => Err(format!("expected a number of exchanges from 1 to 10000000, got {s:?}")),
    }
}

/// Kernel capture buffer per point by default (MiB).
pub const DEFAULT_BUFFER_MIB: u32 = 4;

static OPTIONS: OnceLock<LiveOptions> = OnceLock::new();

/// Set the options of the live traces of this process (the first call wins), and keep the
/// allocator from growing one heap per capture thread: frames are allocated on the capture
/// threads and freed on the analysing one, and glibc's per-thread arenas keep what is freed to
/// them (measured: about 30 MB more peak RSS under `ping -f` feeding the TUI).
pub fn configure(options: &LiveOptions) {
    let _ = OPTIONS.set(options.clone());
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; it is called before the live session's
    // threads start.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

fn options() -> LiveOptions {
    OPTIONS.get().cloned().unwrap_or_default()
}

/// Debug input: with `VTRACE_REPLAY=FILE` (pcap or pcapng) the live session reads FILE, at full
/// speed and on the file's own clock, in place of capturing (interface N of the file is capture
/// point N); the trace ends at the end of the file, and the peak sizes of its bounded structures
/// and of its memory are printed on stderr. For memory benchmarks and tests of the live path.
pub const REPLAY_ENV: &str = "VTRACE_REPLAY";

/// Items waiting for the TUI before the trace waits for it.
const FEED_QUEUE: usize = 4096;

/// Where a live trace reports.
#[derive(Debug)]
pub(crate) enum Output {
    /// Text or JSON on stdout (text times of day on `zone`'s clock).
    Stream { json: bool, zone: Zone },
    /// The TUI: exchanges go over `feed`; `started` is signalled once every capture is active.
    Tui { feed: SyncSender<Feed>, started: SyncSender<()> },
}

/// True when the TUI should show the trace: stdout is a terminal and neither `--json` nor
/// `--no-tui` was given.
pub(crate) fn wants_tui(json: bool, no_tui: bool) -> bool {
    !json && !no_tui && std::io::stdout().is_terminal()
}

/// Run `trace` on a thread of its own and show it in the TUI on this one. The TUI opens once the
/// captures are active (an error before that is returned as is, without a TUI) and stays open
/// after the trace ends, until the user quits; quitting early interrupts the trace.
pub(crate) fn with_tui<F>(command: String, zone: Zone, trace: F) -> Result<Outcome>
where
    F: FnOnce(Output) -> Result<Outcome> + Send + 'static,
{
    let (feed, feed_rx) = sync_channel(FEED_QUEUE);
    let (started, started_rx) = sync_channel(1);
    let worker = std::thread::Builder::new()
        .name("vtrace-trace".into())
        .spawn(move || trace(Output::Tui { feed, started }))
        .context("starting the trace thread")?;
    let join = |w: std::thread::JoinHandle<Result<Outcome>>| {
        w.join().map_err(|_| anyhow!("the trace thread panicked"))?
    };
    if started_rx.recv().is_err() {
        return join(worker);
    }
    let mut state = TuiState::new(command, options().ring);
    state.zone = zone;
    crate::tui::event_loop::stop_when(interrupted);
    let shown = crate::tui::run(&mut state, Some(feed_rx));
    interrupt();
    let outcome = join(worker);
    shown?;
    match outcome {
        // The TUI closed before the trace wrote its end: judge by what it showed.
        Err(e) if is_broken_pipe(&e) => {
            let reachable = state.verdict.as_ref().is_some_and(|v| v.reachable);
            Ok(if reachable { Outcome::Success } else { Outcome::NotReached })
        }
        other => other,
    }
}

/// How long frames wait in the reorder buffer (captures of different points reach this thread
/// in slightly different orders).
const REORDER_NS: u64 = 30_000_000;
/// Most batches of frames taken from the captures per pump.
const PUMP_BATCHES: usize = 32;
/// How often the loop wakes up without frames.
const TICK: Duration = Duration::from_millis(10);

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Ask the running trace to stop (as SIGINT does).
pub(crate) fn interrupt() {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// True once SIGINT or SIGTERM arrived (after [`catch_sigint`]) or [`interrupt`] was called.
pub(crate) fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// A live trace on a set of points: captures, the reorder buffer, the analysis, the report and
/// the optional pcapng file. Shared by `ping` and `watch`.
pub(crate) struct Live<'w> {
    captures: Option<Captures>,
    frames: Receiver<Vec<Captured>>,
    /// Reading a file in place of capturing ([`REPLAY_ENV`]).
    replay: Option<Replay>,
    /// The frames kept for the TUI's `w`.
    spool: Option<Arc<Mutex<Spool>>>,
    /// The latest capture time taken from the captures.
    latest: u64,
    pending: Reorder,
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
    /// Netfilter trace events received so far, to annotate the journeys as they settle.
    netfilter: TraceBook,
    /// Reporting to the TUI (nothing goes to stderr then).
    tui: bool,
}

impl<'w> Live<'w> {
    /// Open the pcapng file (if any) and start a capture on every point; returns once every
    /// capture is active.
    pub fn start(
        topo: &Topology,
        points: &[PathPoint],
        filter: &str,
        write: Option<&std::path::Path>,
        output: Output,
        window_ns: u64,
    ) -> Result<Self> {
        let specs = capture_specs(topo, points, filter)?;
        let opts = options();
        let writer = match write {
            Some(file) => Some((open_writer(file, topo, points)?, file.to_path_buf())),
            None => None,
        };
        let replay = std::env::var_os(REPLAY_ENV).map(PathBuf::from);
        let (captures, frames) = match &replay {
            Some(file) => Captures::replay(file, specs.len())?,
            None => {
                let buffer_bytes = opts.buffer_size.saturating_mul(1 << 20);
                Captures::start(&specs, CaptureOptions { buffer_bytes, snaplen: opts.snaplen })?
            }
        };
        // Without a spool the trace goes on; `w` says why it has nothing to write.
        let spool = match &output {
            Output::Tui { .. } => {
                let interfaces = interfaces(topo, points);
                let bytes = (opts.ring as u64).saturating_mul(SPOOL_PER_EXCHANGE);
                Some(Spool::new(bytes, interfaces).map(|s| Arc::new(Mutex::new(s))))
            }
            Output::Stream { .. } => None,
        };
        // Notes would scribble over the TUI; the text and JSON reports get them on stderr.
        if matches!(output, Output::Stream { .. }) {
            for note in captures.down() {
                eprintln!("vtrace: {note}");
            }
        }
        let mut analysis = Analysis::new(window_ns);
        for _ in points {
            analysis.add_point();
        }
        let rows: Vec<PointRow> =
            points.iter().map(|p| PointRow::new(&p.point_id, p.role.as_str())).collect();
        let tui = matches!(output, Output::Tui { .. });
        let report: Box<dyn TraceReport + 'w> = match output {
            Output::Stream { json, zone } => {
                trace::renderer(json, zone, Box::new(BufWriter::new(std::io::stdout().lock())))
            }
            Output::Tui { feed, started } => {
                let source: Option<Arc<dyn FrameSource>> = match &spool {
                    Some(Ok(spool)) => Some(Arc::new(SharedSpool(Arc::clone(spool)))),
                    Some(Err(e)) => Some(Arc::new(Unavailable(format!("{e:#}")))),
                    None => None,
                };
                if let Some(source) = source {
                    let _ = feed.send(Feed::Frames(source));
                }
                let report = FeedReport::new(feed, &rows);
                let _ = started.send(());
                Box::new(report)
            }
        };
        Ok(Live {
            linktypes: captures.linktypes().to_vec(),
            captures: Some(captures),
            frames,
            replay: replay.map(|_| Replay::default()),
            spool: spool.and_then(Result::ok),
            latest: 0,
            pending: Reorder::default(),
            analysis,
            report,
            writer,
            names: points.iter().map(|p| p.point_id.clone()).collect(),
            rows,
            frame_no: 0,
            answered: 0,
            io_result: Ok(()),
            netfilter: TraceBook::default(),
            tui,
        })
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

    /// Wait up to one tick for frames, hand over those old enough, let time pass in the
    /// analysis and report what settled.
    pub fn pump(&mut self) -> Result<()> {
        let mut took = false;
        match self.frames.recv_timeout(TICK) {
            Ok(batch) => {
                took = true;
                self.take(batch);
                // A bounded bite: captures (or a replay) may refill the queue as fast as it
                // empties, and the reorder buffer must not swallow more than the queue holds.
                for _ in 1..PUMP_BATCHES {
                    let Ok(batch) = self.frames.try_recv() else { break };
                    self.take(batch);
                }
            }
            // The replayed file is read: the trace ends.
            Err(RecvTimeoutError::Disconnected) if self.replay.is_some() => interrupt(),
            // No capture at all (no path): just let time pass.
            Err(RecvTimeoutError::Disconnected) => std::thread::sleep(TICK),
            Err(RecvTimeoutError::Timeout) => {}
        }
        // While frames keep coming, time is what the captures say: when vtrace runs behind
        // them, frames still queued must not find their journeys closed by the wall clock. Once
        // the captures are idle, the wall clock. A replay runs on the file's clock alone.
        let now =
            if took || self.replay.is_some() { self.latest } else { wall_ns().max(self.latest) };
        let ripe = now.saturating_sub(REORDER_NS);
        self.release(ripe)?;
        self.analysis.advance_to(ripe);
        self.drain();
        Ok(())
    }

    /// Frames from the captures into the reorder buffer.
    fn take(&mut self, batch: Vec<Captured>) {
        self.latest = batch.iter().map(|c| c.t_ns).fold(self.latest, u64::max);
        if let Some(r) = self.replay.as_mut() {
            r.frames += batch.len() as u64;
        }
        for c in batch {
            self.pending.push(c);
        }
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
                while let Ok(batch) = self.frames.recv() {
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
            let spool = self.spool.as_ref().and_then(|s| s.lock().ok().map(|s| s.index_bytes()));
            eprintln!(
                "vtrace: replay: {} frames, peak reorder buffer {} frames, spool index {} bytes, \
                 peak RSS {} kB",
                r.frames,
                r.peak_pending,
                spool.unwrap_or(0),
                peak_rss_kb().unwrap_or(0)
            );
        }
        if let Some((w, file)) = self.writer.take() {
            finish_writer(w, &stats, &file)?;
        }
        for ((row, &n), s) in self.rows.iter_mut().zip(self.analysis.captured()).zip(&stats) {
            row.captured = n;
            row.kernel_drops = s.dropped;
            if s.gone && !self.tui {
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
        while let Some(c) = self.pending.pop_ripe(ripe) {
            let ifid = u32::try_from(c.point).unwrap_or(u32::MAX);
            let linktype = self.linktypes.get(c.point).copied().unwrap_or(LinkType::ETHERNET);
            self.frame_no += 1;
            if let Some((w, file)) = self.writer.as_mut() {
                w.write_packet(ifid, c.t_ns, &c.data, c.len)
                    .with_context(|| format!("writing {}", file.display()))?;
            }
            if let Some(spool) = &self.spool
                && let Ok(mut spool) = spool.lock()
            {
                spool.push(self.frame_no, c.point, c.t_ns, c.len, &c.data);
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
        let book = &mut self.netfilter;
        let mut res = Ok(());
        self.analysis.drain(|ex, line| {
            if ex.kind.is_echo() && ex.answered() {
                *answered += 1;
            }
            if res.is_ok() {
                res = if book.is_empty() {
                    report.exchange(ex, line, names)
                } else {
                    report.exchange(&book.annotate(ex, names), line, names)
                };
            }
        });
        if self.io_result.is_ok() {
            self.io_result = res.map_err(Into::into);
        }
    }
}

/// Spool bytes per exchange of the TUI's ring (an echo exchange is ten frames of ~120 bytes).
const SPOOL_PER_EXCHANGE: u64 = 2048;

/// Where a replay is ([`REPLAY_ENV`]).
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

/// A live trace after its captures stopped: the verdict and the end of the report.
pub(crate) struct Finished<'w> {
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
        };
        self.report.finish(&summary)?;
        drop(self.report);
        std::io::stdout().flush()?;
        Ok(())
    }
}

/// The reorder buffer: one queue per point, each in time order (a capture hands its frames over
/// in order; one a little older than the last, stamped on another CPU, goes into place), released
/// oldest first by time then point — a merge of a handful of queues, cheaper per frame than a
/// heap of all of them.
#[derive(Debug, Default)]
struct Reorder {
    queues: Vec<VecDeque<Captured>>,
    len: usize,
}

impl Reorder {
    fn push(&mut self, c: Captured) {
        if self.queues.len() <= c.point {
            self.queues.resize_with(c.point + 1, VecDeque::new);
        }
        let Some(q) = self.queues.get_mut(c.point) else { return };
        let at = q.iter().rposition(|o| o.t_ns <= c.t_ns).map_or(0, |i| i + 1);
        q.insert(at, c);
        self.len += 1;
    }

    fn len(&self) -> usize {
        self.len
    }

    /// The oldest frame (by time, then point), if it was captured at or before `ripe`.
    fn pop_ripe(&mut self, ripe: u64) -> Option<Captured> {
        let (i, _) = self
            .queues
            .iter()
            .enumerate()
            .filter_map(|(i, q)| q.front().map(|c| (i, c.t_ns)))
            .filter(|&(_, t)| t <= ripe)
            .min_by_key(|&(i, t)| (t, i))?;
        let c = self.queues.get_mut(i)?.pop_front()?;
        self.len -= 1;
        Some(c)
    }
}

/// Turn SIGINT, SIGTERM and SIGHUP (the terminal went away) into a request to stop (the trace
/// then ends cleanly: the view closed, captures closed, the pcapng file complete, the lab of
/// `demo` removed).
pub(crate) fn catch_sigint() {
    use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
    let action = SigAction::new(SigHandler::Handler(on_signal), SaFlags::empty(), SigSet::empty());
    for signal in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        // SAFETY: the handler only stores into an atomic, which is async-signal-safe.
        let _ = unsafe { sigaction(signal, &action) };
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
    let interfaces = interfaces(topo, points);
    PcapngWriter::new(out, &interfaces).with_context(|| format!("writing {}", file.display()))
}

/// The capture points as pcapng interfaces: if_name the point id, if_description its
/// namespace, ifindex and role.
fn interfaces(topo: &Topology, points: &[PathPoint]) -> Vec<WriterInterface> {
    points
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
            snaplen: options().snaplen,
        })
        .collect()
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

fn wall_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reorder_buffer_releases_oldest_first() {
        let mut buf = Reorder::default();
        // Point 0's 15 arrives after its 20 (stamped on another CPU).
        for (t, point) in [(30, 0), (10, 2), (10, 1), (20, 0), (15, 0), (40, 1)] {
            buf.push(Captured { point, t_ns: t, len: 0, data: Vec::new() });
        }
        assert_eq!(buf.len(), 6);
        let ripe: Vec<(u64, usize)> =
            std::iter::from_fn(|| buf.pop_ripe(30).map(|c| (c.t_ns, c.point))).collect();
        assert_eq!(ripe, vec![(10, 1), (10, 2), (15, 0), (20, 0), (30, 0)]);
        assert_eq!(buf.len(), 1, "40 is not ripe at 30");
        assert_eq!(buf.pop_ripe(u64::MAX).map(|c| (c.t_ns, c.point)), Some((40, 1)));
        assert_eq!((buf.len(), buf.pop_ripe(u64::MAX).is_none()), (0, true));
    }
}
