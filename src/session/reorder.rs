//! The reorder buffer of a live trace: captures of different points reach the session in slightly
//! different orders (each point's kernel ring hands over a block of frames at a time); frames
//! wait here until they are old enough, then leave oldest first. Pure.
//!
//! Frames stay in the batches they came in (no copy, no allocation per frame): the buffer keeps
//! the batches, and per point a queue of small entries pointing into them. A batch whose frames
//! have all left is spent ([`Reorder::pop_spent`]) and goes back to the capture for reuse.

use std::collections::VecDeque;

use crate::core::hint::prefetch_read;
use crate::sys::capture::{Batch, FrameRef};

/// A frame waiting: when, and where it is.
#[derive(Debug, Clone, Copy)]
struct Entry {
    t_ns: u64,
    /// The batch's sequence number.
    batch: u64,
    /// The frame's index in the batch.
    index: u32,
    /// Its point (the queue it waits in).
    point: u32,
}

/// A frame released by [`Reorder::pop_ripe`]; its bytes are [`Reorder::bytes`] until the next
/// call that changes the buffer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ripe {
    pub(crate) frame: FrameRef,
    batch: u64,
}

/// The reorder buffer: one queue per point, each in time order (a capture hands its frames over
/// in order; one a little older than the last, stamped on another CPU, goes into place). Frames
/// leave oldest first by time then point: every frame ripe at once is taken out of the queues
/// together, their sorted runs merged pairwise, then released in that order — cheaper per frame
/// than a heap, or than finding the oldest front of the queues for each frame.
#[derive(Debug, Default)]
pub(crate) struct Reorder {
    queues: Vec<VecDeque<Entry>>,
    /// Batches holding waiting frames (or spent, behind one that is not), with the number of
    /// their frames still waiting; `first` is the sequence number of the front one.
    batches: VecDeque<(Batch, usize)>,
    first: u64,
    len: usize,
    /// Frames taken out of the queues ripe, in release order; those from `next` on are still
    /// waiting (and older than every frame in the queues).
    ripe: Vec<Entry>,
    next: usize,
    /// Room to merge them in, and where their runs end (reused).
    scratch: Vec<Entry>,
    runs: Vec<usize>,
}

impl Reorder {
    /// Take in a batch of frames.
    pub(crate) fn push(&mut self, batch: Batch) {
        self.unripe();
        let seq = self.first + self.batches.len() as u64;
        let mut kept = 0;
        for (index, f) in batch.frames().iter().enumerate() {
            let Ok(index) = u32::try_from(index) else { break };
            if self.queues.len() <= f.point {
                self.queues.resize_with(f.point + 1, VecDeque::new);
            }
            let Some(q) = self.queues.get_mut(f.point) else { continue };
            let Ok(point) = u32::try_from(f.point) else { continue };
            let e = Entry { t_ns: f.t_ns, batch: seq, index, point };
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

    /// Frames taken out ripe and not released yet go back to the fronts of their queues (a
    /// frame pushed now may be older than they are). Releases run to the end: this is rare.
    fn unripe(&mut self) {
        let rest = self.ripe.get(self.next..).unwrap_or_default();
        for &e in rest.iter().rev() {
            if let Some(q) = self.queues.get_mut(e.point as usize) {
                q.push_front(e);
            }
        }
        self.ripe.clear();
        self.next = 0;
    }

    /// Frames waiting.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The capture time of the oldest waiting frame.
    pub(crate) fn oldest(&self) -> Option<u64> {
        let taken = self.ripe.get(self.next).map(|e| e.t_ns);
        self.queues.iter().filter_map(|q| q.front().map(|e| e.t_ns)).chain(taken).min()
    }

    /// The oldest frame (by time, then point), if it was captured at or before `ripe`.
    pub(crate) fn pop_ripe(&mut self, ripe: u64) -> Option<Ripe> {
        if self.next == self.ripe.len() {
            self.take_ripe(ripe);
        }
        let &e = self.ripe.get(self.next).filter(|e| e.t_ns <= ripe)?;
        self.next += 1;
        // What is released next: its frame reference, written on the capture's core a reorder
        // window ago.
        if let Some(&ahead) = self.ripe.get(self.next + PREFETCH_AHEAD) {
            self.prefetch(ahead);
        }
        self.len -= 1;
        let slot = usize::try_from(e.batch.checked_sub(self.first)?).ok()?;
        let (batch, waiting) = self.batches.get_mut(slot)?;
        *waiting = waiting.saturating_sub(1);
        let frame = *batch.frames().get(e.index as usize)?;
        Some(Ripe { frame, batch: e.batch })
    }

    /// Take the oldest frames captured at or before `ripe` (a bounded number, below) out of the
    /// queues, in release order: the queues' ripe fronts one after the other (in point order),
    /// then merged pairwise, a tie going to the run of the lower points (so by time, then point,
    /// then queue order).
    fn take_ripe(&mut self, ripe: u64) {
        self.ripe.clear();
        self.next = 0;
        self.runs.clear();
        // At most TAKE_PER_QUEUE frames of a queue at once (but every frame of the cut's own
        // time): where a queue holds more ripe ones, the cut comes down to the time of the last
        // one taken, and the rest wait for the next take. The lists merged stay small (in the
        // cache) and their size bounded, however many frames ripen at once.
        let mut cut = ripe;
        for q in &self.queues {
            if q.len() > TAKE_PER_QUEUE
                && let Some(last) = q.get(TAKE_PER_QUEUE - 1)
                && last.t_ns < cut
            {
                cut = last.t_ns;
            }
        }
        for q in &mut self.queues {
            let n = q.partition_point(|e| e.t_ns <= cut);
            if n == 0 {
                continue;
            }
            let (a, b) = q.as_slices();
            let in_a = n.min(a.len());
            self.ripe.extend_from_slice(a.get(..in_a).unwrap_or_default());
            self.ripe.extend_from_slice(b.get(..n - in_a).unwrap_or_default());
            q.drain(..n);
            self.runs.push(self.ripe.len());
        }
        // Runs end at `runs`; merge neighbours until one is left.
        while self.runs.len() > 1 {
            self.scratch.clear();
            self.scratch.reserve(self.ripe.len());
            let mut start = 0;
            let mut merged = 0;
            for k in (0..self.runs.len()).step_by(2) {
                let Some(&mid) = self.runs.get(k) else { break };
                let end = self.runs.get(k + 1).copied().unwrap_or(mid);
                let left = self.ripe.get(start..mid).unwrap_or_default();
                let right = self.ripe.get(mid..end).unwrap_or_default();
                merge(left, right, &mut self.scratch);
                if let Some(r) = self.runs.get_mut(merged) {
                    *r = end;
                }
                merged += 1;
                start = end;
            }
            self.runs.truncate(merged);
            std::mem::swap(&mut self.ripe, &mut self.scratch);
        }
        for &e in self.ripe.iter().take(PREFETCH_AHEAD) {
            self.prefetch(e);
        }
    }

    /// Ask the CPU for the frame reference of `e` ahead of its turn: the capture thread wrote it
    /// on another core a reorder window ago, and reading it cold is most of what releasing a
    /// frame costs.
    fn prefetch(&self, e: Entry) {
        let slot = e.batch.checked_sub(self.first).and_then(|s| usize::try_from(s).ok());
        let frames = slot.and_then(|s| self.batches.get(s)).map(|(b, _)| b.frames());
        if let Some(f) = frames.and_then(|f| f.get(e.index as usize)) {
            prefetch_read(f);
        }
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

/// `a` and `b`, each in time order, merged in time order (ties: `a`'s first) onto `out`.
fn merge(a: &[Entry], b: &[Entry], out: &mut Vec<Entry>) {
    let (mut i, mut j) = (0, 0);
    while let (Some(x), Some(y)) = (a.get(i), b.get(j)) {
        if y.t_ns < x.t_ns {
            out.push(*y);
            j += 1;
        } else {
            out.push(*x);
            i += 1;
        }
    }
    out.extend_from_slice(a.get(i..).unwrap_or_default());
    out.extend_from_slice(b.get(j..).unwrap_or_default());
}

/// How far ahead of its release a frame's reference is fetched into the cache.
const PREFETCH_AHEAD: usize = 8;

/// Most frames taken out of one queue at once (see [`Reorder::take_ripe`]).
const TAKE_PER_QUEUE: usize = 1024;

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
    fn frames_ripe_by_the_thousand_leave_in_order_a_bounded_take_at_a_time() {
        let mut buf = Reorder::default();
        // Three points, 3 000 frames each, interleaved in time (ties between points included),
        // all ripe at once.
        for chunk in 0..30u64 {
            let frames: Vec<(u64, usize)> = (0..100u64)
                .flat_map(|i| {
                    let t = (chunk * 100 + i) * 3;
                    [(t, 0), (t + 1, 1), (t + 1, 2)]
                })
                .collect();
            buf.push(batch(&frames));
        }
        let mut keys = Vec::new();
        let mut spent = 0;
        while let Some(r) = buf.pop_ripe(u64::MAX) {
            keys.push((r.frame.t_ns, r.frame.point));
            assert!(buf.ripe.len() <= 3 * TAKE_PER_QUEUE, "{} taken at once", buf.ripe.len());
            while buf.pop_spent().is_some() {
                spent += 1;
            }
        }
        assert_eq!(keys.len(), 9_000);
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "by time then point, each once");
        assert!(buf.ripe.capacity() <= 4 * TAKE_PER_QUEUE, "{}", buf.ripe.capacity());
        assert_eq!((buf.len(), spent), (0, 30));
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
