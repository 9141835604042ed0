//! The reorder buffer of a live trace: captures of different points reach the session in slightly
//! different orders (each point's kernel ring hands over a block of frames at a time); frames
//! wait here until they are old enough, then leave oldest first. Pure.
//!
//! Frames stay in the batches they came in (no copy, no allocation per frame): the buffer keeps
//! the batches, and per point a queue of small entries pointing into them. A batch whose frames
//! have all left is spent ([`Reorder::pop_spent`]) and goes back to the capture for reuse.

use std::collections::VecDeque;

use crate::sys::capture::{Batch, FrameRef};

/// A frame waiting: when, and where it is.
#[derive(Debug, Clone, Copy)]
struct Entry {
    t_ns: u64,
    /// The batch's sequence number.
    batch: u64,
    /// The frame's index in the batch.
    index: u32,
}

/// A frame released by [`Reorder::pop_ripe`]; its bytes are [`Reorder::bytes`] until the next
/// call that changes the buffer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ripe {
    pub(crate) frame: FrameRef,
    batch: u64,
}

/// The reorder buffer: one queue per point, each in time order (a capture hands its frames over
/// in order; one a little older than the last, stamped on another CPU, goes into place), released
/// oldest first by time then point — a merge of a handful of queues, cheaper per frame than a
/// heap of all of them.
#[derive(Debug, Default)]
pub(crate) struct Reorder {
    queues: Vec<VecDeque<Entry>>,
    /// Batches holding waiting frames (or spent, behind one that is not), with the number of
    /// their frames still waiting; `first` is the sequence number of the front one.
    batches: VecDeque<(Batch, usize)>,
    first: u64,
    len: usize,
}

impl Reorder {
    /// Take in a batch of frames.
    pub(crate) fn push(&mut self, batch: Batch) {
        let seq = self.first + self.batches.len() as u64;
        let mut kept = 0;
        for (index, f) in batch.frames().iter().enumerate() {
            let Ok(index) = u32::try_from(index) else { break };
            if self.queues.len() <= f.point {
                self.queues.resize_with(f.point + 1, VecDeque::new);
            }
            let Some(q) = self.queues.get_mut(f.point) else { continue };
            let e = Entry { t_ns: f.t_ns, batch: seq, index };
            // In order: at the back (the usual case); else in place.
            if q.back().is_none_or(|b| b.t_ns <= e.t_ns) {
                q.push_back(e);
            } else {
                let at = q.iter().rposition(|o| o.t_ns <= e.t_ns).map_or(0, |i| i + 1);
                q.insert(at, e);
            }
            kept += 1;
        }
        self.len += kept;
        self.batches.push_back((batch, kept));
    }

    /// Frames waiting.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The capture time of the oldest waiting frame.
    pub(crate) fn oldest(&self) -> Option<u64> {
        self.queues.iter().filter_map(|q| q.front().map(|e| e.t_ns)).min()
    }

    /// The oldest frame (by time, then point), if it was captured at or before `ripe`.
    pub(crate) fn pop_ripe(&mut self, ripe: u64) -> Option<Ripe> {
        let mut best: Option<(usize, u64)> = None;
        for (i, q) in self.queues.iter().enumerate() {
            if let Some(e) = q.front()
                && e.t_ns <= ripe
                && best.is_none_or(|(_, t)| e.t_ns < t)
            {
                best = Some((i, e.t_ns));
            }
        }
        let (i, _) = best?;
        let e = self.queues.get_mut(i)?.pop_front()?;
        self.len -= 1;
        let slot = usize::try_from(e.batch.checked_sub(self.first)?).ok()?;
        let (batch, waiting) = self.batches.get_mut(slot)?;
        *waiting = waiting.saturating_sub(1);
        let frame = *batch.frames().get(e.index as usize)?;
        Some(Ripe { frame, batch: e.batch })
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
            b.push(point, t, 0, &[u8::try_from(t).unwrap_or(0), u8::try_from(point).unwrap_or(0)]);
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
}
