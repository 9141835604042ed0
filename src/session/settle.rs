//! The second half of an offline analysis on a thread of its own: the correlating thread hands
//! over the journeys it finalized and the watermarks it reached, in the order it reached them,
//! and the settling thread pairs them into exchanges ([`Settle`]) exactly as one thread would,
//! handing the exchanges back to be written.
//!
//! Exactness: one thread adds each observation's journeys, then releases at that
//! observation's watermark, with the line as the observation left it. The steps below replay
//! that sequence: a line whenever it changed, the journeys, the watermark (consecutive releases
//! with nothing between them are one: releasing is monotone in the watermark).

use std::sync::mpsc::{Receiver, SyncSender, channel, sync_channel};
use std::thread::JoinHandle;

use anyhow::{Result, anyhow};

use crate::core::analysis::{Analysis, Settle};
use crate::core::exchange::Exchange;
use crate::core::journey::Journey;
use crate::core::line::Line;

/// Exchanges settled by the end of a hand-over, and the line then (what a report shows them
/// with, as one thread would at that moment).
type Settled = (Vec<Exchange>, Line);

/// What the correlating side did, in order.
enum Step {
    Line(Box<Line>),
    Add(Journey),
    Release(u64),
}

/// What takes each settled exchange (a report), with the line to show it on.
pub type WriteFn<'a> = dyn FnMut(Exchange, &Line) -> Result<()> + 'a;

/// The settling thread, seen from the correlating one.
pub struct SettleThread {
    tx: Option<SyncSender<Vec<Step>>>,
    /// Settled exchanges, in order, with the line as it was when they were handed back
    /// (unbounded: the correlating side never blocks on it while the settling side waits for
    /// room on `tx`).
    rx: Receiver<Settled>,
    thread: Option<JoinHandle<Settle>>,
    steps: Vec<Step>,
    scratch: Vec<Journey>,
    /// The generation of the last line sent, and the watermark of the last release.
    line_sent: Option<u64>,
    released: Option<u64>,
}

impl SettleThread {
    /// Take `analysis`'s second half onto a thread of its own.
    pub fn start(analysis: &mut Analysis) -> Result<SettleThread> {
        let mut settle = analysis.take_settle();
        let (tx, steps) = sync_channel::<Vec<Step>>(4);
        let (back, rx) = channel::<Settled>();
        let run = move || {
            let mut line = Line::new();
            for batch in steps {
                for step in batch {
                    match step {
                        Step::Line(l) => line = *l,
                        Step::Add(j) => settle.add(j, &line),
                        Step::Release(w) => settle.release(w, &line),
                    }
                }
                let out: Vec<Exchange> = settle.take_ready().collect();
                if !out.is_empty() && back.send((out, line.clone())).is_err() {
                    return settle;
                }
            }
            settle.finish(&line);
            let _ = back.send((settle.take_ready().collect(), line));
            settle
        };
        let thread = std::thread::Builder::new()
            .name("vtrace-settle".into())
            .spawn(run)
            .map_err(|e| anyhow!("starting the settling thread: {e}"))?;
        Ok(SettleThread {
            tx: Some(tx),
            rx,
            thread: Some(thread),
            steps: Vec::with_capacity(4096),
            scratch: Vec::new(),
            line_sent: None,
            released: None,
        })
    }

    /// After each observation `analysis` correlated: its journeys, and its watermark.
    #[inline]
    pub fn observed(&mut self, analysis: &mut Analysis) {
        analysis.take_journeys(&mut self.scratch);
        let added = !self.scratch.is_empty();
        if added {
            self.sync_line(analysis.line());
            self.steps.extend(self.scratch.drain(..).map(Step::Add));
        }
        let w = analysis.watermark();
        if added || self.released != Some(w) {
            self.sync_line(analysis.line());
            self.released = Some(w);
            match self.steps.last_mut() {
                Some(Step::Release(last)) => *last = w,
                _ => self.steps.push(Step::Release(w)),
            }
        }
    }

    fn sync_line(&mut self, line: &Line) {
        if self.line_sent != Some(line.generation()) {
            self.line_sent = Some(line.generation());
            self.steps.push(Step::Line(Box::new(line.clone())));
        }
    }

    /// Hand over what `analysis` did so far; `f` gets every exchange settled by now.
    pub fn hand_over(&mut self, analysis: &Analysis, f: &mut WriteFn<'_>) -> Result<()> {
        // Points added since the last observation count for what settles next.
        self.sync_line(analysis.line());
        if !self.steps.is_empty() {
            let steps = std::mem::replace(&mut self.steps, Vec::with_capacity(4096));
            if let Some(tx) = &self.tx
                && tx.send(steps).is_err()
            {
                return Err(anyhow!("the settling thread stopped"));
            }
        }
        while let Ok((done, line)) = self.rx.try_recv() {
            done.into_iter().try_for_each(|ex| f(ex, &line))?;
        }
        Ok(())
    }

    /// End of input: the last journeys of `analysis` (its correlation finished), every
    /// exchange to `f`, and the second half back into `analysis`.
    pub fn finish(mut self, analysis: &mut Analysis, f: &mut WriteFn<'_>) -> Result<()> {
        analysis.finish_correlating();
        self.observed(analysis);
        self.hand_over(analysis, f)?;
        self.tx = None;
        let mut res = Ok(());
        for (done, line) in self.rx.iter() {
            if res.is_ok() {
                res = done.into_iter().try_for_each(|ex| f(ex, &line));
            }
        }
        let settle = self
            .thread
            .take()
            .map(|t| t.join().map_err(|_| anyhow!("the settling thread panicked")))
            .transpose()?;
        if let Some(s) = settle {
            analysis.put_settle(s);
        }
        res
    }
}

impl Drop for SettleThread {
    fn drop(&mut self) {
        // An error ended the analysis early: let the thread end, unblocked.
        self.tx = None;
        drop(std::mem::replace(&mut self.rx, channel().1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    //! The exchanges, their order and the verdict must be exactly those of the same analysis on
    //! one thread, on every fixture (healthy, drops, partial loss, a link down, recorded overlay
    //! and live traces).
    use std::path::{Path, PathBuf};

    use super::SettleThread;
    use crate::core::analysis::Analysis;
    use crate::core::path::Role;
    use crate::session::inputs;
    use crate::session::merge::{self, Item};

    const WINDOW_NS: u64 = 1_000_000_000;

    /// Exchanges (Debug) and verdict (Debug) of the captures in `files`, correlated and settled on
    /// one thread (`threaded` false) or two.
    fn analyse(files: &[PathBuf], threaded: bool) -> (Vec<String>, String) {
        let named: Vec<(Option<String>, PathBuf)> =
            files.iter().map(|f| (None, f.clone())).collect();
        let inputs = inputs::open_all(&named).expect("open the captures");
        let reading = merge::spawn(inputs, &[]).expect("start reading");
        let mut analysis = Analysis::new(WINDOW_NS);
        let mut names: Vec<String> = Vec::new();
        let mut out: Vec<String> = Vec::new();
        let mut settling =
            threaded.then(|| SettleThread::start(&mut analysis).expect("settle thread"));
        for mut batch in reading.batches.iter() {
            for item in &batch.items {
                match item {
                    Item::Point { id, role } => {
                        names.push(id.clone());
                        let idx = analysis.add_point();
                        if *role == Some(Role::Branch) {
                            analysis.mark_branch(idx);
                        }
                    }
                    Item::Obs { sighting, linktype, at, len } => {
                        let packet = || batch.packet(*linktype, *at, *len);
                        match settling.as_mut() {
                            Some(s) => {
                                analysis.correlate(*sighting, packet);
                                s.observed(&mut analysis);
                            }
                            None => analysis.ingest_sighting(*sighting, packet),
                        }
                    }
                    Item::PointsMayGrow => analysis.points_may_grow(),
                }
            }
            batch.clear();
            match settling.as_mut() {
                Some(s) => s
                    .hand_over(&analysis, &mut |ex, _| {
                        out.push(format!("{ex:?}"));
                        Ok(())
                    })
                    .expect("hand over"),
                None => analysis.drain(|ex, _| out.push(format!("{ex:?}"))),
            }
        }
        let _ = reading.thread.join();
        match settling {
            Some(s) => s
                .finish(&mut analysis, &mut |ex, _| {
                    out.push(format!("{ex:?}"));
                    Ok(())
                })
                .expect("finish"),
            None => {
                analysis.finish();
                analysis.drain(|ex, _| out.push(format!("{ex:?}")));
            }
        }
        (out, format!("{:?}", analysis.verdict(&names, false)))
    }

    fn captures(dir: &Path) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .expect("fixture directory")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
            .collect();
        files.sort();
        files
    }

    #[test]
    fn two_threads_settle_every_fixture_exactly_as_one() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
            .expect("fixtures")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir())
            .collect();
        dirs.sort();
        let mut compared = 0;
        for dir in dirs {
            let files = captures(&dir);
            if files.is_empty() {
                continue;
            }
            let one = analyse(&files, false);
            let two = analyse(&files, true);
            assert!(!one.0.is_empty(), "{}: no exchanges at all", dir.display());
            assert_eq!(one, two, "{}", dir.display());
            compared += 1;
        }
        assert!(compared >= 8, "only {compared} fixtures compared");
    }
}
