//! The offline session of `analyze`: capture files read, decoded and merged on a thread of their
//! own ([`merge`]), correlated on another, the netfilter trace recorded beside them replayed,
//! and the same conclusion as live ([`crate::core::diagnosis::conclude`]), written into a
//! [`TraceReport`] (text, JSON, or the TUI's state) on the calling thread as exchanges settle.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::mpsc::{SyncSender, sync_channel};

use anyhow::{Result, anyhow};

use crate::core::analysis::Analysis;
use crate::core::diagnosis::{Evidence, Netfilter, Step, conclude};
use crate::core::exchange::Exchange;
use crate::core::line::Line;
use crate::core::netfilter::TraceBook;
use crate::core::path::Role;
use crate::core::verdict::Verdict;
use crate::session::inputs::{self, Input};
use crate::session::merge::{self, Item};
use crate::session::sink::{PointRow, Summary, TraceReport};

/// What `analyze` reads.
#[derive(Debug, Clone)]
pub struct Offline {
    /// The files, each with its `--point` label if given as LABEL=FILE, in order.
    pub files: Vec<(Option<String>, PathBuf)>,
    /// How long a packet may take across the points, and a reply to follow its request.
    pub window_ns: u64,
}

/// What an offline analysis ends with.
#[derive(Debug)]
pub struct Analysed {
    pub verdict: Verdict,
    /// The first read error (everything read before it was analysed and reported).
    pub error: Option<anyhow::Error>,
}

/// Open the inputs (format by magic number).
pub fn open(offline: &Offline) -> Result<Vec<Input>> {
    inputs::open_all(&offline.files)
}

/// Analyse the inputs into `report`. Progress goes to stderr when it is a terminal.
pub fn analyse(
    offline: &Offline,
    inputs: Vec<Input>,
    report: &mut dyn TraceReport,
) -> Result<Analysed> {
    // Netfilter decisions and kernel drops recorded with the captures are replayed too.
    let traced = inputs::netfilter_traces(&inputs)?;
    let mut book = TraceBook::new();
    if let Some(t) = &traced {
        for e in t.events.iter().cloned() {
            book.ingest(e);
        }
        book.add_drops(t.drops.clone());
    }
    let reading = merge::spawn(inputs)?;
    let mut analysis = Analysis::new(offline.window_ns);
    // The probe of a written trace, and what its socket received: the same verdict as live.
    if let Some(record) = traced.as_ref().and_then(|t| t.probe.as_ref()) {
        analysis.replay_probe(record);
    }
    let mut rows: Vec<PointRow> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    // Three threads: the reading side reads and decodes, one thread correlates, this one writes
    // the report (on a machine with two cores the report runs beside the correlation instead of
    // after it).
    let (settled_tx, settled_rx) = sync_channel::<Settled>(SETTLED_QUEUE);
    let (analysis, end) = std::thread::scope(|s| -> Result<(Analysis, merge::ReadEnd)> {
        let correlating = std::thread::Builder::new()
            .name("vtrace-correlate".into())
            .spawn_scoped(s, move || correlate(analysis, reading, &settled_tx))
            .map_err(|e| anyhow!("starting the correlation thread: {e}"))?;
        let mut written = Ok(());
        for settled in settled_rx.iter() {
            for (id, role) in settled.points {
                rows.push(PointRow::new(&id, role));
                names.push(id);
            }
            written = write_settled(&settled.exchanges, &settled.line, report, &names, &mut book);
            if written.is_err() {
                break;
            }
        }
        // On a report error the channel closes: the correlation and the reading stop.
        drop(settled_rx);
        let done = correlating.join().map_err(|_| anyhow!("the correlation thread panicked"));
        written?;
        done?
    })?;
    for (row, (&n, &drops)) in
        rows.iter_mut().zip(analysis.captured().iter().zip(&end.kernel_drops))
    {
        row.captured = n;
        row.kernel_drops = drops;
    }
    let line = analysis.line();
    let last = line.len().saturating_sub(1);
    for (pos, p) in line.order().iter().enumerate() {
        if let Some(row) = rows.get_mut(p.index())
            && row.role.is_none()
        {
            row.role = Some(Role::guess(&row.ifname, pos == 0 || pos == last));
        }
    }
    let capture_drops = rows.iter().any(|r| r.kernel_drops > 0);
    let mut verdict = analysis.verdict(&names, capture_drops);
    let steps: Vec<Step<'_>> = line
        .order()
        .iter()
        .filter_map(|&idx| {
            let row = rows.get(idx.index())?;
            Some(Step {
                idx,
                id: &row.id,
                netns: row.netns.as_deref().unwrap_or(crate::core::topology::HOST_LABEL),
                bridge: row.role == Some(Role::Bridge),
            })
        })
        .collect();
    let evidence = Evidence {
        steps,
        netfilter: traced
            .as_ref()
            .map(|t| Netfilter { events: &t.events, br_netfilter: &t.br_netfilter }),
        qdisc_rises: traced.as_ref().map_or(&[][..], |t| &t.qdisc_rises),
        lost_drops: book.lost_drops(),
        ..Evidence::default()
    };
    conclude(&mut verdict, &evidence);
    let (other_journeys, unidentified) = analysis.other_counts();
    let summary = Summary {
        points: line.order().iter().filter_map(|p| rows.get(p.index())).collect(),
        names: &names,
        verdict: &verdict,
        other_journeys,
        unidentified,
    };
    report.finish(&summary)?;
    Ok(Analysed { verdict, error: end.error })
}

/// Frames per batch, for the progress count (approximate).
const BATCH_HINT: u64 = 2048;

/// Exchanges settled by the correlation, with the points announced before them and the path
/// order learned so far.
struct Settled {
    points: Vec<(String, Option<Role>)>,
    exchanges: Vec<Exchange>,
    line: Line,
}

/// Batches of settled exchanges waiting for the report.
const SETTLED_QUEUE: usize = 4;

/// The correlation thread: observations in, settled exchanges out (to `settled`, until it
/// closes), to the end of the input; returns the analysis, finished, and the reading's end.
fn correlate(
    mut analysis: Analysis,
    reading: merge::Reading,
    settled: &SyncSender<Settled>,
) -> Result<(Analysis, merge::ReadEnd)> {
    let mut progress = Progress::new();
    let mut points = Vec::new();
    let mut open = true;
    for mut batch in reading.batches.iter() {
        // By reference: an observation is a few hundred bytes, not worth moving again.
        for item in &batch {
            match item {
                Item::Point { id, role } => {
                    points.push((id.clone(), *role));
                    analysis.add_point();
                }
                Item::Obs(obs) => analysis.ingest(obs),
            }
        }
        batch.clear();
        progress.add(BATCH_HINT);
        let _ = reading.give_back.try_send(batch);
        if !send_settled(&mut analysis, &mut points, settled) {
            open = false;
            break;
        }
    }
    progress.done();
    // Stopped early (the report failed): closing the batches stops the reading side too.
    drop(reading.batches);
    let end = reading.thread.join().map_err(|_| anyhow!("the capture reading thread panicked"))?;
    if open {
        analysis.finish();
        send_settled(&mut analysis, &mut points, settled);
    }
    Ok((analysis, end))
}

/// Send what settled (and the points announced) to the report; false once nobody listens.
fn send_settled(
    analysis: &mut Analysis,
    points: &mut Vec<(String, Option<Role>)>,
    settled: &SyncSender<Settled>,
) -> bool {
    let mut exchanges = Vec::new();
    analysis.drain(|ex, _| exchanges.push(ex.clone()));
    if exchanges.is_empty() && points.is_empty() {
        return true;
    }
    let line = analysis.line().clone();
    settled.send(Settled { points: std::mem::take(points), exchanges, line }).is_ok()
}

fn write_settled(
    exchanges: &[Exchange],
    line: &Line,
    report: &mut dyn TraceReport,
    names: &[String],
    book: &mut TraceBook,
) -> Result<()> {
    for ex in exchanges {
        if book.is_empty() {
            report.exchange(ex, line, names)?;
        } else {
            report.exchange(&book.annotate(ex, names), line, names)?;
        }
    }
    Ok(())
}

/// "N frames read" on stderr every second, when stderr is a terminal and the work is long.
struct Progress {
    enabled: bool,
    frames: u64,
    start: std::time::Instant,
    last: f64,
}

impl Progress {
    fn new() -> Self {
        let enabled = std::io::stderr().is_terminal();
        Progress { enabled, frames: 0, start: std::time::Instant::now(), last: 0.0 }
    }

    fn add(&mut self, frames: u64) {
        self.frames += frames;
        if !self.enabled || self.frames % (BATCH_HINT * 64) != 0 {
            return;
        }
        let secs = self.start.elapsed().as_secs_f64();
        if secs >= self.last + 1.0 {
            self.last = secs;
            let rate = self.frames as f64 / secs / 1e6;
            eprint!("\rvtrace: ~{} frames read ({rate:.1} M/s)", self.frames);
        }
    }

    fn done(&self) {
        if self.last > 0.0 {
            eprint!("\r\x1b[K");
        }
    }
}
