//! A [`TraceReport`] that feeds the TUI: live tracing renders into it exactly as into the text or
//! JSON report, and each settled exchange, the learned path order, the counts and the verdict go
//! to the TUI's event loop over a channel.

use std::io;
use std::sync::mpsc::SyncSender;

use crate::core::exchange::Exchange;
use crate::core::line::{Line, PointIdx};
use crate::report::trace::{PointRow, Summary, TraceReport};
use crate::session::live::FrameTap;
use crate::tui::event_loop::Feed;
use crate::tui::frames::Spool;
use crate::tui::state::TuiState;

#[derive(Debug)]
pub struct FeedReport {
    tx: SyncSender<Feed>,
    order: Vec<PointIdx>,
}

impl FeedReport {
    /// Announce the capture points (by `PointIdx` order), then feed what settles.
    pub fn new(tx: SyncSender<Feed>, points: &[PointRow]) -> FeedReport {
        for row in points {
            let _ = tx.send(Feed::Point(row.clone()));
        }
        FeedReport { tx, order: Vec::new() }
    }

    fn send(&self, item: Feed) -> io::Result<()> {
        // The TUI has quit: the trace winds down on its own (the caller sees the interrupt).
        self.tx.send(item).map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "TUI closed"))
    }
}

impl TraceReport for FeedReport {
    fn exchange(&mut self, ex: &Exchange, line: &Line, _names: &[String]) -> io::Result<()> {
        if line.order() != self.order.as_slice() {
            self.order = line.order().to_vec();
            self.send(Feed::Order(self.order.clone()))?;
        }
        self.send(Feed::Exchange(Box::new(ex.clone())))
    }

    fn finish(&mut self, s: &Summary<'_>) -> io::Result<()> {
        // Rows come in path order; the TUI counts by PointIdx (the order of `names`).
        let by_idx = |f: fn(&PointRow) -> u64| -> Vec<u64> {
            s.names
                .iter()
                .map(|n| s.points.iter().find(|r| &r.id == n).map_or(0, |r| f(r)))
                .collect()
        };
        self.send(Feed::Counts {
            captured: by_idx(|r| r.captured),
            kernel_drops: by_idx(|r| r.kernel_drops),
        })?;
        self.send(Feed::Verdict(s.verdict.clone()))
    }
}

/// A [`TraceReport`] that fills a [`TuiState`] in place: `analyze --tui` analyses the files
/// into it, then shows it.
#[derive(Debug)]
pub struct StateReport<'s> {
    pub state: &'s mut TuiState,
}

impl StateReport<'_> {
    /// Points the analysis named that the state does not have yet.
    fn points(&mut self, names: &[String]) {
        for id in names.iter().skip(self.state.points.len()) {
            self.state.push_point(PointRow::new(id, None));
        }
    }
}

impl TraceReport for StateReport<'_> {
    fn exchange(&mut self, ex: &Exchange, line: &Line, names: &[String]) -> io::Result<()> {
        self.points(names);
        if line.order() != self.state.order.as_slice() {
            self.state.set_order(line.order());
        }
        self.state.push_exchange(ex);
        Ok(())
    }

    fn finish(&mut self, s: &Summary<'_>) -> io::Result<()> {
        self.points(s.names);
        for row in self.state.points.iter_mut() {
            if let Some(r) = s.points.iter().find(|r| r.id == row.id) {
                row.clone_from(r);
            }
        }
        let order: Vec<PointIdx> = s
            .points
            .iter()
            .filter_map(|r| s.names.iter().position(|n| *n == r.id))
            .filter_map(|i| u16::try_from(i).ok().map(PointIdx))
            .collect();
        self.state.set_order(&order);
        self.state.set_verdict(s.verdict.clone());
        Ok(())
    }
}

/// The TUI's frame spool as the live session's frame tap.
#[derive(Debug)]
pub struct SpoolTap(pub std::sync::Arc<std::sync::Mutex<Spool>>);

impl FrameTap for SpoolTap {
    fn frame(&mut self, no: u64, point: usize, t_ns: u64, len: u32, data: &[u8]) {
        if let Ok(mut spool) = self.0.lock() {
            spool.push(no, point, t_ns, len, data);
        }
    }

    fn index_bytes(&self) -> usize {
        self.0.lock().map_or(0, |s| s.index_bytes())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc::sync_channel;

    use super::*;
    use crate::core::path::Role;
    use crate::core::verdict::{Cause, Verdict};

    #[test]
    fn points_then_counts_by_point_index_then_verdict() {
        let (tx, rx) = sync_channel(16);
        let rows = [
            PointRow::new("a/eth0", Some(Role::Endpoint)),
            PointRow::new("b/eth0", Some(Role::Endpoint)),
        ];
        let mut report = FeedReport::new(tx, &rows);
        let names: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        let (mut a, mut b) = (rows[0].clone(), rows[1].clone());
        (a.captured, b.captured, b.kernel_drops) = (3, 5, 1);
        let verdict = Verdict {
            reachable: true,
            sent: 1,
            received: 1,
            cause: Cause::Ok,
            segment: None,
            summary: "1/1".into(),
            probed: true,
            ..Verdict::default()
        };
        // Path order reversed relative to PointIdx order.
        let summary = Summary {
            points: vec![&b, &a],
            names: &names,
            verdict: &verdict,
            other_journeys: 0,
            unidentified: 0,
            files: &[],
        };
        report.finish(&summary).expect("finish");
        let items: Vec<Feed> = rx.try_iter().collect();
        assert!(matches!(&items[0], Feed::Point(r) if r.id == "a/eth0"));
        assert!(matches!(&items[1], Feed::Point(r) if r.id == "b/eth0"));
        match &items[2] {
            Feed::Counts { captured, kernel_drops } => {
                assert_eq!(
                    (captured.as_slice(), kernel_drops.as_slice()),
                    (&[3, 5][..], &[0, 1][..])
                );
            }
            other => panic!("expected counts, got {other:?}"),
        }
        assert!(matches!(&items[3], Feed::Verdict(v) if v.reachable));
    }
}
