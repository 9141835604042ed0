//! Journeys: the same packet seen at several capture points, joined by its fingerprint.
//!
//! [`Correlator::ingest`] takes observations (a decoded packet at a point and a time) roughly in
//! time order and keeps a journey open while it may still gain hops; once the newest timestamp
//! seen (the watermark) is a window past a journey's first hop, the journey is final: its hops are
//! sorted (by time, ties by path order) and it is handed out. Memory is bounded by the window,
//! however long the capture. Pure: no IO, no clock.

use std::collections::{HashMap, VecDeque};

use foldhash::fast::FixedState;

use crate::core::line::{Direction, Line, PointIdx};
use crate::core::packet::Packet;

/// One capture point's sighting of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hop {
    pub point: PointIdx,
    pub t_ns: u64,
    /// Frame number in its capture (1-based), for cross-reference.
    pub frame: u64,
}

/// A decoded packet seen at a point.
#[derive(Debug, Clone, Copy)]
pub struct Observation {
    pub point: PointIdx,
    pub t_ns: u64,
    pub frame: u64,
    pub packet: Packet,
}

/// A packet's way through the capture points.
#[derive(Debug, Clone)]
pub struct Journey {
    /// The packet as first seen (boxed: journeys move from stage to stage, packets need not).
    pub packet: Box<Packet>,
    /// Hops in the order the packet passed them.
    pub hops: Vec<Hop>,
    /// Direction along the line, when the hops tell it.
    pub direction: Option<Direction>,
}

impl Journey {
    pub fn first(&self) -> Option<&Hop> {
        self.hops.first()
    }
    pub fn last(&self) -> Option<&Hop> {
        self.hops.last()
    }
    pub fn first_t(&self) -> u64 {
        self.hops.first().map_or(0, |h| h.t_ns)
    }
    pub fn reached(&self, p: PointIdx) -> bool {
        self.hops.iter().any(|h| h.point == p)
    }
}

#[derive(Debug)]
struct Open {
    journey: Journey,
    serial: u64,
}

/// Joins observations into journeys within a time window.
#[derive(Debug)]
pub struct Correlator {
    window_ns: u64,
    open: HashMap<u64, Open, FixedState>,
    /// Open journeys by first-hop time: (first_t, fingerprint, serial).
    queue: VecDeque<(u64, u64, u64)>,
    serial: u64,
    watermark: u64,
    line: Line,
    ready: Vec<Journey>,
    /// Journeys that crossed every point.
    complete: u64,
    /// Observations without an identity (undecoded), counted only.
    pub unidentified: u64,
}

impl Correlator {
    pub fn new(window_ns: u64) -> Self {
        Correlator {
            window_ns: window_ns.max(1),
            open: HashMap::with_hasher(FixedState::with_seed(0)),
            queue: VecDeque::new(),
            serial: 0,
            watermark: 0,
            line: Line::new(),
            ready: Vec::new(),
            complete: 0,
            unidentified: 0,
        }
    }

    /// Register the next capture point (path order = registration order until learned).
    pub fn add_point(&mut self) -> PointIdx {
        self.line.add_point()
    }

    pub fn line(&self) -> &Line {
        &self.line
    }

    /// The points' order is known: keep it ([`Line::fix`]).
    pub fn fix_order(&mut self) {
        self.line.fix();
    }

    /// The newest timestamp seen.
    pub fn watermark(&self) -> u64 {
        self.watermark
    }

    pub fn window_ns(&self) -> u64 {
        self.window_ns
    }

    /// Add one observation; journeys that became final are queued for [`Self::take_ready`].
    pub fn ingest(&mut self, obs: &Observation) {
        let Some(fp) = obs.packet.fp else {
            self.unidentified += 1;
            return;
        };
        let hop = Hop { point: obs.point, t_ns: obs.t_ns, frame: obs.frame };
        if obs.t_ns > self.watermark {
            self.watermark = obs.t_ns;
            self.expire(false);
        }
        match self.open.get_mut(&fp) {
            // A second sighting at the same point is a new packet (a retransmission with the
            // same bytes, e.g. ARP retries): close the old journey first.
            Some(open) if !open.journey.reached(hop.point) => {
                open.journey.hops.push(hop);
                // Seen at every point: it cannot gain another hop, so it is final now (its queue
                // entry goes stale and is skipped).
                if open.journey.hops.len() >= self.line.len()
                    && let Some(done) = self.open.remove(&fp)
                {
                    self.finalize(done.journey);
                }
                return;
            }
            Some(_) => {
                if let Some(old) = self.open.remove(&fp) {
                    self.finalize(old.journey);
                }
            }
            None => {}
        }
        self.serial += 1;
        let mut hops = Vec::with_capacity(self.line.len().clamp(1, 8));
        hops.push(hop);
        self.open.insert(
            fp,
            Open {
                journey: Journey { packet: Box::new(obs.packet), hops, direction: None },
                serial: self.serial,
            },
        );
        self.queue.push_back((obs.t_ns, fp, self.serial));
    }

    /// Finalize every journey whose window has passed at time `now` (for live tracing, where
    /// time passes without packets).
    pub fn advance_to(&mut self, now: u64) {
        if now > self.watermark {
            self.watermark = now;
        }
        self.expire(false);
    }

    /// Finalize every open journey (end of input).
    pub fn finish(&mut self) {
        self.expire(true);
    }

    /// Journeys that became final since the last call, oldest first.
    pub fn take_ready(&mut self) -> std::vec::Drain<'_, Journey> {
        self.ready.drain(..)
    }

    fn expire(&mut self, all: bool) {
        while let Some(&(first_t, fp, serial)) = self.queue.front() {
            if !all && first_t.saturating_add(self.window_ns) >= self.watermark {
                break;
            }
            self.queue.pop_front();
            if self.open.get(&fp).is_some_and(|o| o.serial == serial)
                && let Some(open) = self.open.remove(&fp)
            {
                self.finalize(open.journey);
            }
        }
    }

    fn finalize(&mut self, mut journey: Journey) {
        journey.hops.sort_by_key(|h| h.t_ns);
        let dir = self.line.direction_of(&journey.hops);
        self.line.sort_hops(&mut journey.hops, dir.unwrap_or(Direction::Forward));
        if journey.hops.len() == self.line.len() {
            // The order settles within the first journeys; later ones only confirm it.
            self.complete += 1;
            if self.complete <= 256 || self.complete % 1024 == 0 {
                self.line.learn(&journey.hops);
            }
        }
        journey.direction = dir;
        self.ready.push(journey);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(point: u16, t: u64, fp: u64) -> Observation {
        Observation {
            point: PointIdx(point),
            t_ns: t,
            frame: t,
            packet: Packet { fp: Some(fp), ..Packet::default() },
        }
    }

    fn correlator(points: usize, window: u64) -> Correlator {
        let mut c = Correlator::new(window);
        for _ in 0..points {
            c.add_point();
        }
        c
    }

    fn points(j: &Journey) -> Vec<u16> {
        j.hops.iter().map(|h| h.point.0).collect()
    }

    #[test]
    fn same_packet_at_several_points_is_one_journey_in_path_order() {
        let mut c = correlator(5, 1000);
        // Bridge (2) ties with the ingress veth (1) and arrives first in the file.
        for o in [obs(0, 10, 7), obs(2, 20, 7), obs(1, 20, 7), obs(3, 30, 7), obs(4, 40, 7)] {
            c.ingest(&o);
        }
        c.finish();
        let journeys: Vec<Journey> = c.take_ready().collect();
        assert_eq!(journeys.len(), 1);
        assert_eq!(points(&journeys[0]), vec![0, 1, 2, 3, 4]);
        assert_eq!(journeys[0].direction, Some(Direction::Forward));
    }

    #[test]
    fn window_bounds_open_journeys_and_retransmissions_are_new_journeys() {
        let mut c = correlator(2, 100);
        c.ingest(&obs(0, 0, 1));
        c.ingest(&obs(1, 5, 1));
        // Same bytes again at point 0 (an ARP retry): a new journey.
        c.ingest(&obs(0, 50, 1));
        assert_eq!(c.take_ready().count(), 1);
        // Time passes beyond the window: the second journey is final too.
        c.ingest(&obs(0, 500, 2));
        let done: Vec<Journey> = c.take_ready().collect();
        assert_eq!(done.len(), 1);
        assert_eq!(points(&done[0]), vec![0]);
        assert_eq!(c.open.len(), 1);
        c.finish();
        assert_eq!(c.take_ready().count(), 1);
    }

    #[test]
    fn packets_without_identity_are_counted_not_joined() {
        let mut c = correlator(1, 100);
        c.ingest(&Observation { point: PointIdx(0), t_ns: 1, frame: 1, packet: Packet::default() });
        c.finish();
        assert_eq!(c.take_ready().count(), 0);
        assert_eq!(c.unidentified, 1);
    }
}
