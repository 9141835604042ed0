//! The analysis pipeline shared by `analyze` (files) and live tracing: observations in,
//! exchanges out as they settle, a verdict at the end. Pure.

use crate::core::exchange::{Exchange, ExchangeBuilder};
use crate::core::journey::{Correlator, Observation};
use crate::core::line::{Line, PointIdx};
use crate::core::verdict::{Tally, Verdict};

#[derive(Debug)]
pub struct Analysis {
    correlator: Correlator,
    exchanges: ExchangeBuilder,
    tally: Tally,
    /// Observations per point.
    captured: Vec<u64>,
    journeys: Vec<crate::core::journey::Journey>,
    ready: Vec<Exchange>,
}

impl Analysis {
    /// `window_ns`: how long a packet may take across the capture points (and a reply to come).
    pub fn new(window_ns: u64) -> Self {
        Analysis {
            correlator: Correlator::new(window_ns),
            exchanges: ExchangeBuilder::new(window_ns),
            tally: Tally::default(),
            captured: Vec::new(),
            journeys: Vec::new(),
            ready: Vec::new(),
        }
    }

    /// Register the next capture point.
    pub fn add_point(&mut self) -> PointIdx {
        self.captured.push(0);
        self.correlator.add_point()
    }

    pub fn line(&self) -> &Line {
        self.correlator.line()
    }

    /// Observations seen per point, by [`PointIdx`].
    pub fn captured(&self) -> &[u64] {
        &self.captured
    }

    pub fn tally(&self) -> &Tally {
        &self.tally
    }

    /// Journeys that were not ARP/ICMP exchanges, and packets without identity.
    pub fn other_counts(&self) -> (u64, u64) {
        (self.exchanges.other_journeys, self.correlator.unidentified)
    }

    pub fn ingest(&mut self, obs: Observation) {
        if let Some(c) = self.captured.get_mut(obs.point.index()) {
            *c += 1;
        }
        self.correlator.ingest(obs);
        self.pump();
    }

    /// Let time pass without packets (live tracing).
    pub fn advance_to(&mut self, now_ns: u64) {
        self.correlator.advance_to(now_ns);
        self.pump();
    }

    /// End of input: settle everything.
    pub fn finish(&mut self) {
        self.correlator.finish();
        self.pump();
        self.exchanges.finish(self.correlator.line());
        self.collect();
    }

    /// Call `f` on every exchange settled since the last call, in request order.
    pub fn drain(&mut self, mut f: impl FnMut(&Exchange, &Line)) {
        let line = self.correlator.line();
        for ex in self.ready.drain(..) {
            f(&ex, line);
        }
    }

    pub fn verdict(&self, names: &[String], capture_drops: bool) -> Verdict {
        self.tally.verdict(names, capture_drops)
    }

    fn pump(&mut self) {
        self.journeys.extend(self.correlator.take_ready());
        let line = self.correlator.line();
        for journey in self.journeys.drain(..) {
            self.exchanges.add(journey, line);
        }
        self.exchanges.release(self.correlator.watermark(), line);
        self.collect();
    }

    fn collect(&mut self) {
        for ex in self.exchanges.take_ready() {
            self.tally.add(&ex);
            self.ready.push(ex);
        }
    }
}
