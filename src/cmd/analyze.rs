//! `vtrace analyze`: capture files → decoded packets → correlator → report.
//!
//! Each interface of each file is a capture point. Reading and decoding run on a thread of their
//! own ([`crate::cmd::merge`]) while this one correlates and writes the report. A read error
//! stops that file only: everything read before it is still analysed and reported, then the error
//! is returned (exit 2).
//!
//! A netfilter trace written next to a capture (`FILE.nft.json`, by `ping/watch --write`) is
//! replayed: the journeys carry its decisions and kernel drops, and a traced drop explains the
//! verdict (`netfilter-drop`, or `tc-drop` from the qdisc counters it kept) as it did live.

use std::io::{BufWriter, Write};

use anyhow::{Result, anyhow};

use crate::cli::AnalyzeArgs;
use crate::cmd::inputs;
use crate::cmd::merge::{self, Item};
use crate::cmd::netfilter;
use crate::core::analysis::Analysis;
use crate::core::diagnosis;
use crate::core::line::PointIdx;
use crate::core::netfilter::TraceBook;
use crate::error::Outcome;
use crate::report::clock::Zone;
use crate::report::trace::{self, PointRow, Summary, TraceReport};

pub fn run(args: &AnalyzeArgs, zone: Zone) -> Result<Outcome> {
    if args.tui {
        // SIGINT, SIGTERM and SIGHUP close the view like `q`, with the terminal restored.
        super::live::catch_sigint();
        crate::tui::event_loop::stop_when(super::live::interrupted);
        return crate::tui::analyze::run(args, zone);
    }
    if args.packets {
        return crate::cmd::packets::run(args, zone);
    }
    let inputs = inputs::open_all(args)?;
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

    let window_ns = u64::try_from(args.window.as_nanos()).unwrap_or(u64::MAX);
    let mut analysis = Analysis::new(window_ns);
    let mut rows: Vec<PointRow> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let stdout = std::io::stdout().lock();
    let mut report =
        trace::renderer(args.json, zone, Box::new(BufWriter::with_capacity(1 << 16, stdout)));
    let mut progress = Progress::new();

    for mut batch in reading.batches.iter() {
        // By reference: an observation is a few hundred bytes, not worth moving again.
        for item in &batch {
            match item {
                Item::Point { id, role } => {
                    rows.push(PointRow::new(id, role));
                    names.push(id.clone());
                    analysis.add_point();
                }
                Item::Obs(obs) => analysis.ingest(obs),
            }
        }
        batch.clear();
        progress.add(BATCH_HINT);
        let _ = reading.give_back.try_send(batch);
        write_settled(&mut analysis, report.as_mut(), &names, &mut book)?;
    }
    progress.done();
    let end = reading.thread.join().map_err(|_| anyhow!("the capture reading thread panicked"))?;
    analysis.finish();
    write_settled(&mut analysis, report.as_mut(), &names, &mut book)?;

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
            && row.role.is_empty()
        {
            row.role = guess_role(&row.ifname, pos == 0 || pos == last).to_owned();
        }
    }
    let capture_drops = rows.iter().any(|r| r.kernel_drops > 0);
    let mut verdict = analysis.verdict(&names, capture_drops);
    if let Some(t) = &traced {
        let path: Vec<(&str, &str)> = line
            .order()
            .iter()
            .filter_map(|p| rows.get(p.index()))
            .map(|r| (r.id.as_str(), r.role.as_str()))
            .collect();
        let id = |p: Option<PointIdx>| p.and_then(|p| names.get(p.index())).map(String::as_str);
        let seg = verdict.segment;
        let after = id(seg.and_then(|s| s.after));
        let before = id(seg.and_then(|s| s.before));
        let ids: Vec<&str> = path.iter().map(|(id, _)| *id).collect();
        let found = netfilter::diagnose_offline(&path, after, t, &verdict)
            .or_else(|| diagnosis::tc_drop(&ids, after, before, &verdict, &t.qdisc_rises));
        if let Some(d) = found {
            diagnosis::apply(&mut verdict, &d);
        }
        let at = before.or(after).map(netfilter::label_of);
        netfilter::name_kernel_drop_in(at, book.lost_drops(), &mut verdict);
    }
    let (other_journeys, unidentified) = analysis.other_counts();
    let summary = Summary {
        points: line.order().iter().filter_map(|p| rows.get(p.index())).collect(),
        names: &names,
        verdict: &verdict,
        other_journeys,
        unidentified,
    };
    report.finish(&summary)?;
    drop(report);
    std::io::stdout().flush()?;
    if let Some(err) = end.error {
        return Err(err);
    }
    Ok(if verdict.reachable { Outcome::Success } else { Outcome::NotReached })
}

/// Frames per batch, for the progress count (approximate).
const BATCH_HINT: u64 = 2048;

fn write_settled(
    analysis: &mut Analysis,
    report: &mut dyn TraceReport,
    names: &[String],
    book: &mut TraceBook,
) -> Result<()> {
    let mut res = Ok(());
    analysis.drain(|ex, line| {
        if res.is_ok() {
            res = if book.is_empty() {
                report.exchange(ex, line, names)
            } else {
                report.exchange(&book.annotate(ex, names), line, names)
            };
        }
    });
    Ok(res?)
}

/// A role for points whose capture did not say: ends of the path are endpoints.
fn guess_role(ifname: &str, at_end: bool) -> &'static str {
    if at_end {
        "endpoint"
    } else if ifname.starts_with("veth") {
        "veth"
    } else if ["br", "docker", "virbr", "cni", "podman"].iter().any(|p| ifname.starts_with(p)) {
        "bridge"
    } else {
        "transit"
    }
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
        use std::io::IsTerminal;
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
