//! A live trace on a set of capture points, shared by `ping`, `watch` and `demo`: captures,
//! a short reorder buffer (captures of different points reach this thread in slightly different
//! orders), the analysis, the report (text, JSON or the TUI) and the optional pcapng file; and
//! the interrupt flag that SIGINT/SIGTERM or quitting the TUI sets.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, SyncSender, channel, sync_channel};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow};

use crate::core::analysis::Analysis;
use crate::core::decode::decode;
use crate::core::exchange::Exchange;
use crate::core::frame::{Frame, LinkType};
use crate::core::journey::Observation;
use crate::core::line::PointIdx;
use crate::core::netfilter::{NfEvent, NfNote, TraceBook};
use crate::core::path::{PathPoint, Role};
use crate::core::topology::Topology;
use crate::core::verdict::Verdict;
use crate::error::{Outcome, is_broken_pipe};
use crate::report::trace::{self, PointRow, Summary, TraceReport};
use crate::sys::capture::{CaptureSpec, CaptureStats, Captured, Captures, SNAPLEN};
use crate::sys::netns::Netns;
use crate::sys::pcapfile::{PcapngWriter, WriterInterface};
use crate::tui::Feed;
use crate::tui::feed::FeedReport;
use crate::tui::state::{DEFAULT_CAPACITY, TuiState};

/// Where a live trace reports.
#[derive(Debug)]
pub(crate) enum Output {
    /// Text or JSON on stdout.
    Stream { json: bool },
    /// The TUI: exchanges go over `feed`; `started` is signalled once every capture is active.
    Tui { feed: Sender<Feed>, started: SyncSender<()> },
}

/// True when the TUI should show the trace: stdout is a terminal and neither `--json` nor
/// `--no-tui` was given.
pub(crate) fn wants_tui(json: bool, no_tui: bool) -> bool {
    !json && !no_tui && std::io::stdout().is_terminal()
}

/// Run `trace` on a thread of its own and show it in the TUI on this one. The TUI opens once the
/// captures are active (an error before that is returned as is, without a TUI) and stays open
/// after the trace ends, until the user quits; quitting early interrupts the trace.
pub(crate) fn with_tui<F>(command: String, trace: F) -> Result<Outcome>
where
    F: FnOnce(Output) -> Result<Outcome> + Send + 'static,
{
    let (feed, feed_rx) = channel();
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
    let mut state = TuiState::new(command, DEFAULT_CAPACITY);
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
    /// Netfilter trace events received so far, to annotate the journeys as they settle.
    netfilter: TraceBook,
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
        let writer = match write {
            Some(file) => Some((open_writer(file, topo, points)?, file.to_path_buf())),
            None => None,
        };
        let (captures, frames) = Captures::start(&specs)?;
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
        let report: Box<dyn TraceReport + 'w> = match output {
            Output::Stream { json } => {
                trace::renderer(json, Box::new(BufWriter::new(std::io::stdout().lock())))
            }
            Output::Tui { feed, started } => {
                let report = FeedReport::new(feed, &rows);
                let _ = started.send(());
                Box::new(report)
            }
        };
        Ok(Live {
            linktypes: captures.linktypes().to_vec(),
            captures: Some(captures),
            frames,
            pending: BinaryHeap::new(),
            analysis,
            report,
            writer,
            names: points.iter().map(|p| p.point_id.clone()).collect(),
            rows,
            frame_no: 0,
            answered: 0,
            io_result: Ok(()),
            netfilter: TraceBook::default(),
        })
    }

    /// Netfilter trace events received since the last call: they annotate the journeys. Returns
    /// them (with the headers later events of a packet borrow from its first), for the diagnosis.
    pub fn add_netfilter_events(&mut self, events: Vec<NfEvent>) -> Vec<NfEvent> {
        let n = self.netfilter.events().len();
        for e in events {
            self.netfilter.ingest(e);
        }
        self.netfilter.events().get(n..).map(<[NfEvent]>::to_vec).unwrap_or_default()
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
        // Stop, and drain while the capture threads hand over their last frames (the channel
        // is bounded: a thread may be waiting for room), until every one of them is gone.
        let stats = match self.captures.take() {
            Some(captures) => {
                captures.request_stop();
                for batch in self.frames.iter() {
                    self.pending.extend(batch.into_iter().map(|c| Reverse(Pending(c))));
                }
                captures.stop()
            }
            None => Vec::new(),
        };
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
        let book = &self.netfilter;
        let mut res = Ok(());
        self.analysis.drain(|ex, line| {
            if ex.kind.is_echo() && ex.answered() {
                *answered += 1;
            }
            if res.is_ok() {
                res = if book.is_empty() {
                    report.exchange(ex, line, names)
                } else {
                    report.exchange(&annotated(ex, book), line, names)
                };
            }
        });
        if self.io_result.is_ok() {
            self.io_result = res.map_err(Into::into);
        }
    }
}

/// The exchange with the netfilter decisions traced for each of its packets.
fn annotated(ex: &Exchange, book: &TraceBook) -> Exchange {
    let mut ex = ex.clone();
    let legs =
        std::iter::once(&mut ex.request).chain(ex.reply.as_mut()).chain(ex.errors.iter_mut());
    for leg in legs {
        leg.netfilter = book
            .for_packet(&leg.journey.packet)
            .into_iter()
            .filter_map(NfNote::from_event)
            .collect();
    }
    ex
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

/// Turn SIGINT and SIGTERM into a request to stop (the trace then ends cleanly: captures
/// closed, the pcapng file complete, the lab of `demo` removed).
pub(crate) fn catch_sigint() {
    use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
    let action = SigAction::new(SigHandler::Handler(on_signal), SaFlags::empty(), SigSet::empty());
    for signal in [Signal::SIGINT, Signal::SIGTERM] {
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
        let mut heap = BinaryHeap::new();
        for (t, point) in [(30, 0), (10, 2), (10, 1), (20, 0)] {
            heap.push(Reverse(Pending(Captured { point, t_ns: t, len: 0, data: Vec::new() })));
        }
        let order: Vec<(u64, usize)> =
            std::iter::from_fn(|| heap.pop().map(|Reverse(p)| p.key())).collect();
        assert_eq!(order, vec![(10, 1), (10, 2), (20, 0), (30, 0)]);
    }
}
