//! The reorder buffer of a live trace: captures of different points reach the session in slightly
//! different orders; frames wait here until they are old enough, then leave oldest first. Pure.

use std::collections::VecDeque;

use crate::sys::capture::Captured;

/// The reorder buffer: one queue per point, each in time order (a capture hands its frames over
/// in order; one a little older than the last, stamped on another CPU, goes into place), released
/// oldest first by time then point — a merge of a handful of queues, cheaper per frame than a
/// heap of all of them.
#[derive(Debug, Default)]
pub(crate) struct Reorder {
    queues: Vec<VecDeque<Captured>>,
    len: usize,
}

impl Reorder {
    pub(crate) fn push(&mut self, c: Captured) {
        if self.queues.len() <= c.point {
            self.queues.resize_with(c.point + 1, VecDeque::new);
        }
        let Some(q) = self.queues.get_mut(c.point) else { return };
        let at = q.iter().rposition(|o| o.t_ns <= c.t_ns).map_or(0, |i| i + 1);
        q.insert(at, c);
        self.len += 1;
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The oldest frame (by time, then point), if it was captured at or before `ripe`.
    pub(crate) fn pop_ripe(&mut self, ripe: u64) -> Option<Captured> {
        let (i, _) = self
            .queues
            .iter()
            .enumerate()
            .filter_map(|(i, q)| q.front().map(|c| (i, c.t_ns)))
            .filter(|&(_, t)| t <= ripe)
            .min_by_key(|&(i, t)| (t, i))?;
        let c = self.queues.get_mut(i)?.pop_front()?;
        self.len -= 1;
        Some(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reorder_buffer_releases_oldest_first() {
        let mut buf = Reorder::default();
        // Point 0's 15 arrives after its 20 (stamped on another CPU).
        for (t, point) in [(30, 0), (10, 2), (10, 1), (20, 0), (15, 0), (40, 1)] {
            buf.push(Captured { point, t_ns: t, len: 0, data: Vec::new() });
        }
        assert_eq!(buf.len(), 6);
        let ripe: Vec<(u64, usize)> =
            std::iter::from_fn(|| buf.pop_ripe(30).map(|c| (c.t_ns, c.point))).collect();
        assert_eq!(ripe, vec![(10, 1), (10, 2), (15, 0), (20, 0), (30, 0)]);
        assert_eq!(buf.len(), 1, "40 is not ripe at 30");
        assert_eq!(buf.pop_ripe(u64::MAX).map(|c| (c.t_ns, c.point)), Some((40, 1)));
        assert_eq!((buf.len(), buf.pop_ripe(u64::MAX).is_none()), (0, true));
    }
}
