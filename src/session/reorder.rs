//! The reorder buffer of a live trace: captures of different points reach the session in slightly
//! different orders (each point's kernel ring hands over a block of frames at a time); frames
//! wait here until they are old enough, then leave oldest first. Pure.
//!
//! Frames stay in the batches they came in (no copy, no allocation per frame): the buffer keeps
//! the batches, and for each point the *runs* of its frames in them: a batch holds, point after
//! point, what each ring handed over, each point's frames already in time order. A run is a few
//! numbers however many frames it holds; the runs of a point that follow on in time form a
//! lane, and frames leave by a merge of the lanes' heads (one per point, unless a frame stamped
//! on another CPU came a little older than the last of its point: it opens a lane of its own).
//! Per frame, a push costs a comparison or two and a release a look at a handful of heads. A
//! batch whose frames have all left is spent ([`Reorder::pop_spent`]) and goes back to the
//! capture for reuse.

use std::collections::VecDeque;

use crate::core::hint::{prefetch_read, prefetch_read_all};
use crate::sys::capture::{Batch, FrameRef};

/// How far ahead in a lane's run frame references are asked for (each lane gets about one in
/// as many frames released as there are lanes: tens of frames, microseconds ahead).
const AHEAD: usize = 8;

/// The order frames leave in: by time, then point.
fn key(t_ns: u64, point: usize) -> u128 {
    u128::from(t_ns) << 64 | point as u128
}

/// Frames `next..end` of the batch with sequence number `batch`: all of one point, in time order.
#[derive(Debug, Clone, Copy)]
struct Run {
    batch: u64,
    next: u32,
    end: u32,
}

/// Runs of one point, each beginning no earlier than the one before it ends: one sequence in
/// time order.
#[derive(Debug, Default)]
struct Lane {
    point: usize,
    runs: VecDeque<Run>,
    /// The time of its last frame (where a run may follow on).
    last_t: u64,
}

/// A frame released by [`Reorder::pop_ripe`]; its bytes are [`Reorder::bytes`] until the next
/// call that changes the buffer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ripe {
    pub(crate) frame: FrameRef,
    batch: u64,
}

/// The reorder buffer: the waiting batches and their runs in lanes. Frames leave oldest first by
/// time, then point, then lane (the order they came in, for ties within a point).
#[derive(Debug, Default)]
pub(crate) struct Reorder {
    /// Batches holding waiting frames (or spent, behind one that is not), with the number of
    /// their frames still waiting; `first` is the sequence number of the front one.
    batches: VecDeque<(Batch, usize)>,
    first: u64,
    len: usize,
    /// Lanes holding frames, oldest first.
    lanes: Vec<Lane>,
    /// Each lane's head: the time and point of its next frame, as one number in that order
    /// ([`key`]; side by side, for the scan that finds the oldest).
    heads: Vec<u128>,
    /// Run queues of emptied lanes, for reuse.
    spare: Vec<VecDeque<Run>>,
}

impl Reorder {
    /// Take in a batch of frames.
    pub(crate) fn push(&mut self, batch: Batch) {
        let seq = self.first + self.batches.len() as u64;
        let frames = batch.frames();
        let end = frames.len().min(u32::MAX as usize);
        let mut i = 0;
        while let Some(head) = frames.get(i).filter(|_| i < end) {
            let (point, first_t) = (head.point, head.t_ns);
            let start = i;
            let mut last_t = first_t;
            i += 1;
            while let Some(f) = frames.get(i).filter(|f| i < end && f.point == point) {
                if f.t_ns < last_t {
                    break;
                }
                last_t = f.t_ns;
                i += 1;
            }
            // Indices below `end`, so below u32::MAX.
            let run = Run { batch: seq, next: start as u32, end: i as u32 };
            self.add_run(point, first_t, last_t, run);
        }
        self.len += end;
        self.batches.push_back((batch, end));
    }

    /// Put a run in the first lane of its point it follows on, else in a lane of its own.
    fn add_run(&mut self, point: usize, first_t: u64, last_t: u64, run: Run) {
        if let Some(lane) = self.lanes.iter_mut().find(|l| l.point == point && l.last_t <= first_t)
        {
            lane.runs.push_back(run);
            lane.last_t = last_t;
            return;
        }
        let mut runs = self.spare.pop().unwrap_or_default();
        runs.push_back(run);
        self.lanes.push(Lane { point, runs, last_t });
        self.heads.push(key(first_t, point));
    }

    /// Frames waiting.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The capture time of the oldest waiting frame.
    pub(crate) fn oldest(&self) -> Option<u64> {
        self.heads.iter().min().map(|&k| (k >> 64) as u64)
    }

    /// The oldest frame (by time, then point), if it was captured at or before `ripe`.
    pub(crate) fn pop_ripe(&mut self, ripe: u64) -> Option<Ripe> {
        let (mut i, mut oldest) = (0, *self.heads.first()?);
        for (k, &head) in self.heads.iter().enumerate().skip(1) {
            if head < oldest {
                (i, oldest) = (k, head);
            }
        }
        if (oldest >> 64) as u64 > ripe {
            return None;
        }
        let lane = self.lanes.get_mut(i)?;
        let run = lane.runs.front_mut()?;
        let (seq, index, end) = (run.batch, run.next as usize, run.end as usize);
        // The run's next frame from the registers: reading the run back right after its `next`
        // was stored stalled every release (a 16-byte load of a 4-byte store cannot be
        // forwarded: a fifth of this function's samples under a flood).
        let next = if run.next + 1 < run.end {
            run.next += 1;
            Some(Run { next: run.next, ..*run })
        } else {
            lane.runs.pop_front();
            lane.runs.front().copied()
        };
        let slot = usize::try_from(seq.checked_sub(self.first)?).ok()?;
        let (batch, waiting) = self.batches.get_mut(slot)?;
        *waiting = waiting.saturating_sub(1);
        let frame = *batch.frames().get(index)?;
        // The lane's frame a little further on in its run: the capture thread wrote it on the
        // other core a reorder delay ago (out of this core's caches by now, and reading it cold
        // stalled the release); asked for now, it is in by its turn.
        if let Some(ahead) = batch.frames().get(index + AHEAD).filter(|_| index + AHEAD < end) {
            prefetch_read(ahead);
        }
        // And the first bytes of the one half as far on, whose reference is in by now: the
        // correlator decodes the first frame of every journey (its headers, cold as well).
        let half = index + AHEAD / 2;
        if let Some(f) = batch.frames().get(half).filter(|_| half < end) {
            let bytes = batch.bytes(f);
            prefetch_read_all(bytes.get(..64).unwrap_or(bytes));
        }
        // The lane's next frame, nearly always further on in the same batch.
        let same = next.filter(|r| r.batch == seq).map(|r| batch.frames().get(r.next as usize));
        self.len -= 1;
        let next = match same {
            Some(f) => f,
            None => next.and_then(|r| self.frame(r.batch, r.next as usize)),
        };
        // The lane's new head, or the lane goes.
        match next.map(|f| f.t_ns) {
            Some(t) => {
                if let Some(h) = self.heads.get_mut(i) {
                    *h = key(t, frame.point);
                }
            }
            None => {
                let lane = self.lanes.remove(i);
                self.heads.remove(i);
                let mut runs = lane.runs;
                runs.clear();
                self.spare.push(runs);
            }
        }
        Some(Ripe { frame, batch: seq })
    }

    /// Frame `index` of the batch with sequence number `seq`.
    fn frame(&self, seq: u64, index: usize) -> Option<&FrameRef> {
        let slot = usize::try_from(seq.checked_sub(self.first)?).ok()?;
        self.batches.get(slot)?.0.frames().get(index)
    }

    /// The captured bytes of a released frame.
    pub(crate) fn bytes(&self, r: &Ripe) -> &[u8] {
        let slot = r.batch.checked_sub(self.first).and_then(|s| usize::try_from(s).ok());
        slot.and_then(|s| self.batches.get(s)).map_or(&[], |(b, _)| b.bytes(&r.frame))
    }

    /// The oldest batch all of whose frames have left, if any (to be reused).
    pub(crate) fn pop_spent(&mut self) -> Option<Batch> {
        if self.batches.front().is_some_and(|(_, waiting)| *waiting == 0) {
            self.first += 1;
            return self.batches.pop_front().map(|(b, _)| b);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(frames: &[(u64, usize)]) -> Batch {
        let mut b = Batch::default();
        for &(t, point) in frames {
            // Each frame's bytes say where it came from.
            let bytes = [u8::try_from(t).unwrap_or(0), u8::try_from(point).unwrap_or(0)];
            b.push(point, t, 0, crate::core::frame::LinkType::ETHERNET, &bytes);
        }
        b
    }

    /// (time, point, bytes) of every frame released at `ripe`, spent batches counted.
    fn release(buf: &mut Reorder, ripe: u64, spent: &mut usize) -> Vec<(u64, usize, Vec<u8>)> {
        let mut out = Vec::new();
        while let Some(r) = buf.pop_ripe(ripe) {
            out.push((r.frame.t_ns, r.frame.point, buf.bytes(&r).to_vec()));
            while buf.pop_spent().is_some() {
                *spent += 1;
            }
        }
        out
    }

    #[test]
    fn the_reorder_buffer_releases_oldest_first() {
        let mut buf = Reorder::default();
        // Point 0's 15 arrives after its 20 (stamped on another CPU), in the next batch.
        buf.push(batch(&[(30, 0), (10, 2), (10, 1), (20, 0)]));
        buf.push(batch(&[(15, 0), (40, 1)]));
        assert_eq!(buf.len(), 6);
        let mut spent = 0;
        let ripe: Vec<(u64, usize)> =
            release(&mut buf, 30, &mut spent).into_iter().map(|(t, p, _)| (t, p)).collect();
        assert_eq!(ripe, vec![(10, 1), (10, 2), (15, 0), (20, 0), (30, 0)]);
        assert_eq!(buf.len(), 1, "40 is not ripe at 30");
        assert_eq!(spent, 1, "the first batch is spent, the second still holds 40");
        let rest = release(&mut buf, u64::MAX, &mut spent);
        assert_eq!(rest, vec![(40, 1, vec![40, 1])]);
        assert_eq!((buf.len(), buf.pop_ripe(u64::MAX).is_none(), spent), (0, true, 2));
    }

    #[test]
    fn frames_taken_ripe_wait_for_an_older_one_pushed_meanwhile() {
        let mut buf = Reorder::default();
        buf.push(batch(&[(10, 0), (20, 0), (30, 1)]));
        assert_eq!(buf.pop_ripe(30).map(|r| (r.frame.t_ns, r.frame.point)), Some((10, 0)));
        // 20 and 30 were taken out ripe at 30: not released at an earlier `ripe`.
        assert!(buf.pop_ripe(15).is_none());
        assert_eq!((buf.oldest(), buf.len()), (Some(20), 2));
        // A frame older than both arrives before they are released: it leaves first.
        buf.push(batch(&[(15, 2)]));
        assert_eq!((buf.oldest(), buf.len()), (Some(15), 3));
        let mut spent = 0;
        let rest: Vec<(u64, usize)> =
            release(&mut buf, 30, &mut spent).into_iter().map(|(t, p, _)| (t, p)).collect();
        assert_eq!(rest, vec![(15, 2), (20, 0), (30, 1)]);
        assert_eq!((buf.len(), spent), (0, 2));
    }

    #[test]
    fn frames_in_order_take_one_lane_per_point_and_leave_in_order() {
        let mut buf = Reorder::default();
        // Three points, 3 000 frames each, interleaved in time (ties between points included),
        // each batch holding a run of every point, all ripe at once.
        for chunk in 0..30u64 {
            let mut frames: Vec<(u64, usize)> = Vec::new();
            for point in 0..3usize {
                frames.extend(
                    (0..100u64).map(|i| ((chunk * 100 + i) * 3 + point.min(1) as u64, point)),
                );
            }
            buf.push(batch(&frames));
        }
        assert_eq!((buf.lanes.len(), buf.len()), (3, 9_000), "runs that follow on share a lane");
        let mut keys = Vec::new();
        let mut spent = 0;
        while let Some(r) = buf.pop_ripe(u64::MAX) {
            keys.push((r.frame.t_ns, r.frame.point));
            while buf.pop_spent().is_some() {
                spent += 1;
            }
        }
        assert_eq!(keys.len(), 9_000);
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "by time then point, each once");
        assert_eq!((buf.len(), spent, buf.lanes.len(), buf.heads.len()), (0, 30, 0, 0));
    }

    #[test]
    fn frames_now_and_then_older_than_the_last_of_their_point_reuse_a_few_lanes() {
        let mut buf = Reorder::default();
        // Two points, 200 batches of 50 frames each; every 7th frame of a point stamped 3 ns
        // before the one it follows (on another CPU).
        let mut keys = Vec::new();
        let mut spent = 0;
        let mut most_lanes = 0;
        for b in 0..200u64 {
            let mut frames = Vec::new();
            for point in 0..2usize {
                frames.extend((0..25u64).map(|i| {
                    let n = b * 25 + i;
                    let t = if n % 7 == 6 { 10 * n - 9 } else { 10 * n + 4 };
                    (t, point)
                }));
            }
            buf.push(batch(&frames));
            most_lanes = most_lanes.max(buf.lanes.len());
            let ripe = (10 * b * 25).saturating_sub(100);
            while let Some(r) = buf.pop_ripe(ripe) {
                keys.push((r.frame.t_ns, r.frame.point));
                while buf.pop_spent().is_some() {
                    spent += 1;
                }
            }
        }
        for r in std::iter::from_fn(|| buf.pop_ripe(u64::MAX)) {
            keys.push((r.frame.t_ns, r.frame.point));
        }
        assert_eq!(keys.len(), 10_000);
        assert!(keys.windows(2).all(|w| w[0] <= w[1]), "by time then point");
        // An older frame opens a second lane for its point; the next one's run follows on the
        // first lane again: two lanes per point however long the capture, not a lane per
        // out-of-order frame.
        assert!((3..=4).contains(&most_lanes), "{most_lanes} lanes at once");
        assert!(spent >= 190, "{spent} batches spent");
    }

    #[test]
    fn bytes_stay_with_their_frame_across_batches() {
        let mut buf = Reorder::default();
        buf.push(batch(&[(5, 1), (7, 1)]));
        buf.push(batch(&[(6, 0), (2, 3)]));
        buf.push(batch(&[]));
        let mut spent = 0;
        let got = release(&mut buf, u64::MAX, &mut spent);
        assert_eq!(
            got,
            vec![(2, 3, vec![2, 3]), (5, 1, vec![5, 1]), (6, 0, vec![6, 0]), (7, 1, vec![7, 1])]
        );
        assert_eq!(spent, 3, "every batch is spent, the empty one too");
    }

    #[test]
    fn frames_leave_in_time_then_point_order_whatever_the_batches() {
        // Deterministic pseudo-random batches: times close together (many ties), points 0..5,
        // each point's frames roughly in order, released in rounds with a rising `ripe`.
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let mut buf = Reorder::default();
        let mut clock = [0u64; 5];
        let mut released: Vec<(u64, usize)> = Vec::new();
        let mut spent = 0;
        for round in 0..200u64 {
            let frames: Vec<(u64, usize)> = (0..next(12))
                .map(|_| {
                    let p = next(5) as usize;
                    clock[p] += next(3);
                    // Now and then one a little older than the last of its point.
                    (clock[p].saturating_sub(if next(8) == 0 { 2 } else { 0 }), p)
                })
                .collect();
            buf.push(batch(&frames));
            let ripe = round.saturating_sub(4) * 2;
            let got = release(&mut buf, ripe, &mut spent);
            let keys: Vec<(u64, usize)> = got.iter().map(|&(t, p, _)| (t, p)).collect();
            assert!(keys.iter().all(|&(t, _)| t <= ripe), "nothing after {ripe}: {keys:?}");
            assert!(keys.windows(2).all(|w| w[0] <= w[1]), "by time then point: {keys:?}");
            assert!(got.iter().all(|(t, p, b)| b == &[*t as u8, *p as u8]), "bytes follow");
            released.extend(keys);
            // What is left is all newer than what was released.
            let oldest = buf.oldest();
            assert!(oldest.is_none_or(|o| o > ripe), "{oldest:?} left at {ripe}");
        }
        let rest = release(&mut buf, u64::MAX, &mut spent);
        let keys: Vec<(u64, usize)> = rest.iter().map(|&(t, p, _)| (t, p)).collect();
        assert!(keys.windows(2).all(|w| w[0] <= w[1]), "by time then point: {keys:?}");
        released.extend(keys);
        assert!(released.len() > 500, "{} frames", released.len());
        assert_eq!(buf.len(), 0);
        assert_eq!(spent, 200, "every batch is spent once its frames left");
    }
}
