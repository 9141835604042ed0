//! A [`TraceReport`] that feeds the TUI: live tracing renders into it exactly as into the text or
//! JSON report, and each settled exchange, the learned path order, the counts and the verdict go
//! to the TUI's event loop over a channel.

use std::io;
use std::sync::mpsc::SyncSender;

use crate::core::exchange::Exchange;
use crate::core::line::{Line, PointIdx};
use crate::report::trace::{PointRow, Summary, TraceReport};
use crate::tui::event_loop::Feed;

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

#[cfg(test)]
mod tests {
    use std::sync::mpsc::sync_channel;

    use super::*;
    use crate::core::verdict::{Cause, Verdict};

    #[test]
    fn points_then_counts_by_point_index_then_verdict() {
        let (tx, rx) = sync_channel(16);
        let rows = [PointRow::new("a/eth0", "endpoint"), PointRow::new("b/eth0", "endpoint")];
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
        };
        // Path order reversed relative to PointIdx order.
        let summary = Summary {
            points: vec![&b, &a],
            names: &names,
            verdict: &verdict,
            other_journeys: 0,
            unidentified: 0,
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
