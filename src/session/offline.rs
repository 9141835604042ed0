//! The offline session of `analyze`: capture files read and merged on a thread of their own
//! ([`merge`]), correlated here, the netfilter trace recorded beside them replayed, and the same
//! conclusion as live ([`crate::core::diagnosis::conclude`]), written into a [`TraceReport`]
//! (text, JSON, or the TUI's state).

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Result, anyhow};

use crate::core::analysis::Analysis;
use crate::core::diagnosis::{Evidence, Netfilter, Step, conclude};
use crate::core::frame::LinkType;
use crate::core::line::PointIdx;
use crate::core::netfilter::TraceBook;
use crate::core::path::Role;
use crate::core::verdict::Verdict;
use crate::session::clocks;
use crate::session::inputs::{self, Input};
use crate::session::merge::{self, Control};
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
    // Each file on the first one's clock (files of one host agree and are left alone).
    let mut files = clocks::measure(&offline.files, offline.window_ns);
    for (row, input) in files.iter_mut().zip(&inputs) {
        row.node = input.reader.node().cloned();
    }
    let offsets: Vec<i64> = files.iter().map(|f| f.offset_ns).collect();
    // Netfilter decisions and kernel drops recorded with the captures are replayed too.
    let traced = inputs::netfilter_traces(&inputs, &offsets)?;
    let mut book = TraceBook::new();
    if let Some(t) = &traced {
        for e in t.events.iter().cloned() {
            book.ingest(e);
        }
        book.add_drops(t.drops.clone());
    }
    let reading = merge::spawn(inputs, &offsets, report.render_worker())?;
    let mut analysis = Analysis::new(offline.window_ns);
    // The probe of a written trace, and what its socket received: the same verdict as live.
    if let Some(record) = traced.as_ref().and_then(|t| t.probe.as_ref()) {
        analysis.replay_probe(record);
    }
    let mut points = Points::default();
    let mut progress = Progress::new();
    for mut batch in reading.batches.iter() {
        let mut controls = batch.controls.iter().peekable();
        for (i, o) in batch.obs.iter().enumerate() {
            while let Some((_, c)) = controls.next_if(|(at, _)| *at <= i) {
                points.take(c, &mut analysis);
            }
            batch.prefetch(i + AHEAD);
            let sighting = o.sighting();
            let known = sighting.id.fp;
            analysis.ingest_sighting(sighting, |p| {
                batch.decode_into(i, points.linktype(o.point), known, p);
            });
        }
        for (_, c) in controls {
            points.take(c, &mut analysis);
        }
        batch.clear();
        progress.add(BATCH_HINT);
        let _ = reading.give_back.try_send(batch);
        write_settled(&mut analysis, report, &points.names, &mut book)?;
    }
    progress.done();
    let Points { mut rows, names, .. } = points;
    let end = reading.end.recv().map_err(|_| anyhow!("the capture reading thread panicked"))?;
    analysis.finish();
    write_settled(&mut analysis, report, &names, &mut book)?;

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
    // What conntrack held when the trace was written.
    verdict.conntrack = traced.as_ref().map(|t| t.conntrack.clone()).unwrap_or_default();
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
        files: &files,
    };
    report.finish(&summary)?;
    // It served the renderer until `finish` dropped it.
    reading.thread.join().map_err(|_| anyhow!("the capture reading thread panicked"))?;
    Ok(Analysed { verdict, error: end.error })
}

/// The points announced so far: their rows, ids and frames' link types, by PointIdx.
#[derive(Default)]
struct Points {
    rows: Vec<PointRow>,
    names: Vec<String>,
    linktypes: Vec<LinkType>,
}

impl Points {
    /// Take what the reading side said before a frame.
    fn take(&mut self, c: &Control, analysis: &mut Analysis) {
        match c {
            Control::Point { id, role, linktype } => {
                self.rows.push(PointRow::new(id, *role));
                self.names.push(id.clone());
                self.linktypes.push(*linktype);
                let idx = analysis.add_point();
                if *role == Some(Role::Branch) {
                    analysis.mark_branch(idx);
                }
            }
            Control::PointsMayGrow => analysis.points_may_grow(),
        }
    }

    fn linktype(&self, p: PointIdx) -> LinkType {
        self.linktypes.get(p.index()).copied().unwrap_or(LinkType::NULL)
    }
}

/// Frames per batch, for the progress count (approximate).
const BATCH_HINT: u64 = 2048;

/// How far ahead of the analysis the batch is asked for: about two microseconds of its work, what a
/// line the other core wrote takes to arrive with room to spare (8, a few hundred nanoseconds, left
/// the first load of each frame waiting).
const AHEAD: usize = 24;

fn write_settled(
    analysis: &mut Analysis,
    report: &mut dyn TraceReport,
    names: &[String],
    book: &mut TraceBook,
) -> Result<()> {
    let mut res = Ok(());
    analysis.drain(|ex, line| {
        if res.is_ok() {
            let mut ex = ex;
            if !book.is_empty() {
                book.annotate_in_place(&mut ex, names);
            }
            res = report.exchange_owned(ex, line, names);
        }
    });
    Ok(res?)
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
