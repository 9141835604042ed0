//! What the live commands (`ping`, `watch`, `demo`) share above the session: their reporting
//! configuration ([`LiveFlags`]), where the report goes ([`Output`]: text or JSON on stdout, or
//! the TUI), and running a trace on its own thread while the TUI shows it ([`with_tui`]).

use std::io::{BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, anyhow};

use crate::core::path::PathPoint;
use crate::core::topology::Topology;
use crate::error::{Outcome, is_broken_pipe};
use crate::report::clock::Zone;
use crate::report::trace;
use crate::session::live::{FrameTap, LiveConfig, container_names, interfaces, point_rows};
use crate::session::sink::TraceReport;
use crate::sys::nftrace::Options;
use crate::sys::pcapfile::Section;
use crate::sys::stop::Stop;
use crate::tui::Feed;
use crate::tui::feed::{FeedReport, SpoolTap};
use crate::tui::frames::{FrameSource, SharedSpool, Spool, Unavailable};
use crate::tui::state::TuiState;

/// Kernel capture buffer per point by default (MiB).
pub const DEFAULT_BUFFER_MIB: u32 = 4;
/// The same for `ping` and `demo`: a probe every interval is a few frames at each point, and a
/// ring is set up in proportion to its size (five 4 MiB rings cost a ping about 5 ms).
pub const PROBE_BUFFER_MIB: u32 = 1;

/// How a live command reports and what it traces besides the captures.
#[derive(Debug, Clone, Default)]
pub struct LiveFlags {
    /// Keep every frame in this pcapng file (and the netfilter trace beside it).
    pub write: Option<PathBuf>,
    pub json: bool,
    pub no_tui: bool,
    /// Netfilter and drop-reason tracing.
    pub netfilter: Options,
    /// Exchanges the interactive view keeps.
    pub ring: usize,
    pub buffer_mib: u32,
    pub snaplen: u32,
    /// A capture file read in place of capturing (memory tests and benchmarks).
    pub replay: Option<PathBuf>,
    /// The clock text times of day (and the view's `w` file names) are read on.
    pub zone: Zone,
}

impl LiveFlags {
    /// The session's configuration for a trace reporting to `output`.
    pub fn config(&self, window_ns: u64, output: &Output) -> LiveConfig {
        LiveConfig {
            buffer_bytes: self.buffer_mib.saturating_mul(1 << 20),
            snaplen: self.snaplen,
            write: self.write.clone(),
            window_ns,
            replay: self.replay.clone(),
            quiet: matches!(output, Output::Tui { .. }),
        }
    }

    /// True when the TUI should show the trace: stdout is a terminal and neither `--json` nor
    /// `--no-tui` was given.
    pub fn wants_tui(&self) -> bool {
        !self.json && !self.no_tui && std::io::stdout().is_terminal()
    }
}

/// Items waiting for the TUI before the trace waits for it.
const FEED_QUEUE: usize = 4096;
/// Spool bytes per exchange of the TUI's ring (an echo exchange is ten frames of ~120 bytes).
const SPOOL_PER_EXCHANGE: u64 = 2048;

/// Where a live trace reports.
#[derive(Debug)]
pub enum Output {
    /// Text or JSON on stdout (text times of day on `zone`'s clock).
    Stream { json: bool, zone: Zone },
    /// The TUI: exchanges go over `feed`; `started` is signalled once every capture is active.
    Tui { feed: SyncSender<Feed>, started: SyncSender<()>, ring: usize },
}

/// The report and frame tap of a trace on `points` reporting to `output`, and what to call once
/// its captures are active.
pub type Wiring<'w> =
    (Box<dyn TraceReport + 'w>, Option<Box<dyn FrameTap + 'w>>, Box<dyn FnOnce() + 'w>);

impl Output {
    /// Wire the output to a trace on `points`.
    pub fn wire<'w>(self, topo: &Topology, points: &[PathPoint], snaplen: u32) -> Wiring<'w> {
        match self {
            Output::Stream { json, zone } => {
                let out = Box::new(BufWriter::new(std::io::stdout().lock()));
                (Box::new(Flushed(trace::renderer(json, zone, out, false))), None, Box::new(|| {}))
            }
            Output::Tui { feed, started, ring } => {
                let bytes = (ring as u64).saturating_mul(SPOOL_PER_EXCHANGE);
                // Without a spool the trace goes on; `w` says why it has nothing to write.
                let section = Section {
                    node: crate::sys::node::this(),
                    names: container_names(topo, points),
                };
                let spool = Spool::new(bytes, interfaces(topo, points, snaplen))
                    .map(|s| s.with_section(section));
                let (source, tap): (Arc<dyn FrameSource>, Option<Box<dyn FrameTap>>) = match spool {
                    Ok(spool) => {
                        let spool = Arc::new(Mutex::new(spool));
                        let tap = SpoolTap(Arc::clone(&spool));
                        (Arc::new(SharedSpool(spool)), Some(Box::new(tap)))
                    }
                    Err(e) => (Arc::new(Unavailable(format!("{e:#}"))), None),
                };
                let _ = feed.send(Feed::Frames(source));
                let report = FeedReport::new(feed, &point_rows(points));
                (
                    Box::new(report),
                    tap,
                    Box::new(move || {
                        let _ = started.send(());
                    }),
                )
            }
        }
    }
}

/// A stdout report flushed when it finishes.
struct Flushed<'w>(Box<dyn TraceReport + 'w>);

impl TraceReport for Flushed<'_> {
    fn exchange(
        &mut self,
        ex: &crate::core::exchange::Exchange,
        line: &crate::core::line::Line,
        names: &[String],
    ) -> std::io::Result<()> {
        self.0.exchange(ex, line, names)
    }

    fn finish(&mut self, summary: &crate::session::sink::Summary<'_>) -> std::io::Result<()> {
        self.0.finish(summary)?;
        std::io::stdout().flush()
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// Run `trace` on a thread of its own and show it in the TUI on this one. The TUI opens once the
/// captures are active (an error before that is returned as is, without a TUI) and stays open
/// after the trace ends, until the user quits; quitting early stops the trace.
pub fn with_tui<F>(command: String, flags: &LiveFlags, stop: &Stop, trace: F) -> Result<Outcome>
where
    F: FnOnce(Output) -> Result<Outcome> + Send + 'static,
{
    let (ring, zone) = (flags.ring, flags.zone);
    let (feed, feed_rx) = sync_channel(FEED_QUEUE);
    let (started, started_rx) = sync_channel(1);
    let worker = std::thread::Builder::new()
        .name("vtrace-trace".into())
        .spawn(move || trace(Output::Tui { feed, started, ring }))
        .context("starting the trace thread")?;
    let join = |w: std::thread::JoinHandle<Result<Outcome>>| {
        w.join().map_err(|_| anyhow!("the trace thread panicked"))?
    };
    if started_rx.recv().is_err() {
        return join(worker);
    }
    let mut state = TuiState::new(command, ring);
    state.zone = zone;
    state.quit_when_done = flags.replay.is_some();
    let shown = crate::tui::run(&mut state, Some(feed_rx), stop);
    stop.request();
    let outcome = join(worker);
    shown?;
    match outcome {
        // The TUI closed before the trace wrote its end: judge by what it showed.
        Err(e) if is_broken_pipe(&e) => {
            let lost = state.verdict.as_ref().is_none_or(|v| v.lost());
            Ok(if lost { Outcome::NotReached } else { Outcome::Success })
        }
        other => other,
    }
}
