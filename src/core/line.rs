//! The order of the capture points along the path (the "line"), learned from journeys.
//!
//! Points start in the order they were given (pcapng interface order, `--point` order, or the
//! path vtrace computed). Journeys that crossed every point then vote on which of two points comes
//! first (each journey oriented along the line, since replies travel it backwards); where
//! timestamps tie (the bridge copies the ingress veth's timestamp) the votes of the journeys going
//! the other way decide. Pure: no IO.

use crate::core::journey::Hop;

/// How much later than the next point's a hop's stamp may be and still go before it on a known
/// path (a bridge's capture stamps a forwarded frame after its egress veth: microseconds).
pub const LATE_STAMP_NS: u64 = 50_000;

/// Index of a capture point in the analysis (the order points were registered).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PointIdx(pub u16);

impl PointIdx {
    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}

/// Move each hop back past those it must go before (`before(a, place of a, b, place of b)`: b
/// goes before a), its place along with it. Stable: hops that need not move keep their order.
fn insertion(
    hops: &mut [Hop],
    places: &mut [usize],
    before: impl Fn(&Hop, usize, &Hop, usize) -> bool,
) {
    for i in 1..hops.len().min(places.len()) {
        let mut j = i;
        while j > 0 {
            let (Some(a), Some(b)) = (hops.get(j - 1), hops.get(j)) else { break };
            let (Some(&pa), Some(&pb)) = (places.get(j - 1), places.get(j)) else { break };
            if !before(a, pa, b, pb) {
                break;
            }
            hops.swap(j - 1, j);
            places.swap(j - 1, j);
            j -= 1;
        }
    }
}

/// Which way a packet travels along the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the first point of the line towards the last.
    Forward,
    Backward,
}

impl Direction {
    /// The other way.
    pub fn reverse(self) -> Direction {
        match self {
            Direction::Forward => Direction::Backward,
            Direction::Backward => Direction::Forward,
        }
    }
}

/// The learned order of the capture points.
#[derive(Debug, Clone, Default)]
pub struct Line {
    /// `votes[a][b]`: oriented journeys in which `a` was strictly before `b`.
    votes: Vec<Vec<u32>>,
    /// Points in path order.
    order: Vec<PointIdx>,
    /// Position of each point in `order`.
    pos: Vec<usize>,
    /// Points off the path, captured in case a packet leaves by them ([`Line::mark_branch`]).
    branch: Vec<bool>,
    /// How many points are branches (asked on every frame, by [`Line::required`]).
    branches: usize,
    /// The order is known (a live trace on a discovered path): journeys do not change it.
    fixed: bool,
}

impl Line {
    pub fn new() -> Self {
        Self::default()
    }

    /// Register the next point (appended to the end of the line).
    pub fn add_point(&mut self) -> PointIdx {
        let n = self.order.len();
        for row in &mut self.votes {
            row.push(0);
        }
        self.votes.push(vec![0; n + 1]);
        let idx = PointIdx(u16::try_from(n).unwrap_or(u16::MAX));
        self.order.push(idx);
        self.pos.push(n);
        self.branch.push(false);
        idx
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Points in path order.
    /// `p` is off the path: a packet that goes on without it is not lost, and one last seen
    /// there left the path by it.
    pub fn mark_branch(&mut self, p: PointIdx) {
        if let Some(b) = self.branch.get_mut(p.index())
            && !*b
        {
            *b = true;
            self.branches += 1;
        }
    }

    pub fn is_branch(&self, p: PointIdx) -> bool {
        self.branch.get(p.index()).copied().unwrap_or(false)
    }

    /// The points a packet that follows the path crosses: all but the branches.
    pub fn required(&self) -> usize {
        self.order.len() - self.branches
    }

    pub fn order(&self) -> &[PointIdx] {
        &self.order
    }

    /// Position of a point along the line (0 = first).
    pub fn position(&self, p: PointIdx) -> usize {
        self.pos.get(p.index()).copied().unwrap_or(usize::MAX)
    }

    /// The point at a position along the line.
    pub fn at(&self, position: usize) -> Option<PointIdx> {
        self.order.get(position).copied()
    }

    /// The direction of travel of hops already sorted by time: from where the earliest hops were
    /// to where the latest were. `None` when every hop has the same timestamp.
    pub fn direction_of(&self, hops: &[Hop]) -> Option<Direction> {
        let (first, last) = (hops.first()?, hops.last()?);
        if first.t_ns == last.t_ns {
            return None;
        }
        // Nearly always the earliest and the latest hop are alone at their times: their points.
        if let ([_, second, ..], [.., before_last, _]) = (hops, hops)
            && second.t_ns != first.t_ns
            && before_last.t_ns != last.t_ns
        {
            return Some(if self.position(first.point) <= self.position(last.point) {
                Direction::Forward
            } else {
                Direction::Backward
            });
        }
        let mean = |t: u64| {
            let (sum, n) = hops
                .iter()
                .filter(|h| h.t_ns == t)
                .fold((0usize, 0usize), |(s, n), h| (s + self.position(h.point), n + 1));
            sum as f64 / n.max(1) as f64
        };
        Some(if mean(first.t_ns) <= mean(last.t_ns) {
            Direction::Forward
        } else {
            Direction::Backward
        })
    }

    /// Sort hops by time; hops with the same timestamp in path order for `dir`. On a known
    /// path ([`Self::fix`]), a hop stamped at most [`LATE_STAMP_NS`] after the next point's
    /// goes before it: a bridge's capture sees a forwarded frame after the egress veth sent it,
    /// and when the frame carries no receive timestamp yet its stamp says so.
    pub fn sort_hops(&self, hops: &mut [Hop], dir: Direction) {
        let n = self.len();
        let along = |h: &Hop| {
            let p = self.position(h.point);
            match dir {
                Direction::Forward => p,
                Direction::Backward => n.saturating_sub(1).saturating_sub(p),
            }
        };
        // Most journeys arrive in order, ties included: check that first.
        let in_order = hops.windows(2).all(|w| match (w.first(), w.get(1)) {
            (Some(a), Some(b)) => a.t_ns < b.t_ns || a.t_ns == b.t_ns && along(a) <= along(b),
            _ => true,
        });
        if in_order && !self.fixed {
            return;
        }
        // Each hop's place along the path, looked up once (a journey has a hop per point, rarely
        // more than a handful).
        let mut small = [0usize; 8];
        let mut many = Vec::new();
        let places = match small.get_mut(..hops.len()) {
            Some(places) => places,
            None => {
                many.resize(hops.len(), 0);
                &mut many[..]
            }
        };
        for (place, h) in places.iter_mut().zip(hops.iter()) {
            *place = along(h);
        }
        // By time, tied hops in path order: the stable order, by insertion (hops nearly always
        // come in time order; only ties move, like a reply's on a bridge, in point order).
        if !in_order {
            insertion(hops, places, |a, pa, b, pb| (b.t_ns, pb) < (a.t_ns, pa));
        }
        if self.fixed {
            insertion(hops, places, |a, pa, b, pb| {
                pb < pa && b.t_ns.saturating_sub(a.t_ns) <= LATE_STAMP_NS
            });
        }
    }

    /// Keep the order the points were added in: it is known (the topology gave the path), and
    /// timestamps are not always in path order (a bridge's capture of a TCP segment can be
    /// stamped after the egress veth's).
    pub fn fix(&mut self) {
        self.fixed = true;
    }

    /// Learn from a journey that crossed every point (hops sorted by time).
    pub fn learn(&mut self, hops: &[Hop]) {
        if self.fixed || hops.len() < 2 || hops.len() != self.len() {
            return;
        }
        // Orient the journey: does it agree with what was learned so far (or, at first, with the
        // given order)?
        let mut agree: i64 = 0;
        for (i, a) in hops.iter().enumerate() {
            for b in hops.iter().skip(i + 1).filter(|b| b.t_ns > a.t_ns) {
                let (x, y) = (a.point.index(), b.point.index());
                let learned = i64::from(self.vote(x, y)) - i64::from(self.vote(y, x));
                agree += if learned != 0 {
                    learned.signum()
                } else if self.position(a.point) < self.position(b.point) {
                    1
                } else {
                    -1
                };
            }
        }
        let reversed = agree < 0;
        for (i, a) in hops.iter().enumerate() {
            for b in hops.iter().skip(i + 1).filter(|b| b.t_ns > a.t_ns) {
                let (x, y) = if reversed { (b, a) } else { (a, b) };
                if let Some(v) =
                    self.votes.get_mut(x.point.index()).and_then(|r| r.get_mut(y.point.index()))
                {
                    *v = v.saturating_add(1);
                }
            }
        }
        self.reorder();
    }

    fn vote(&self, a: usize, b: usize) -> u32 {
        self.votes.get(a).and_then(|r| r.get(b)).copied().unwrap_or(0)
    }

    /// Insertion sort by votes, ties kept in the current order (never panics on contradictory
    /// votes, unlike `sort_by` with a non-total order).
    fn reorder(&mut self) {
        let mut order = self.order.clone();
        for i in 1..order.len() {
            let mut j = i;
            while j > 0 {
                let (a, b) = (order[j - 1].index(), order[j].index());
                if self.vote(b, a) > self.vote(a, b) {
                    order.swap(j - 1, j);
                    j -= 1;
                } else {
                    break;
                }
            }
        }
        for (position, p) in order.iter().enumerate() {
            if let Some(slot) = self.pos.get_mut(p.index()) {
                *slot = position;
            }
        }
        self.order = order;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hop(p: u16, t: u64) -> Hop {
        Hop::new(PointIdx(p), t, 0)
    }

    fn line(n: usize) -> Line {
        let mut l = Line::new();
        for _ in 0..n {
            l.add_point();
        }
        l
    }

    /// Reproducible numbers below `n` (xorshift from `seed`), for randomised cases.
    fn below(mut seed: u64) -> impl FnMut(u64) -> u64 {
        move |n| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        }
    }

    #[test]
    fn branches_are_not_required_and_count_once() {
        let mut l = line(5);
        assert_eq!(l.required(), 5);
        l.mark_branch(PointIdx(3));
        l.mark_branch(PointIdx(3));
        l.mark_branch(PointIdx(9));
        assert_eq!(l.required(), 4);
        l.add_point();
        l.mark_branch(PointIdx(5));
        assert_eq!(l.required(), 4);
        assert!(l.is_branch(PointIdx(3)) && l.is_branch(PointIdx(5)) && !l.is_branch(PointIdx(4)));
    }

    #[test]
    fn ties_are_resolved_by_journeys_going_the_other_way() {
        // Points given in a wrong order: 0=nginx-1/eth0, 1=br0, 2=vethA, 3=vethB, 4=nginx-2/eth0.
        let mut l = line(5);
        // Request: eth0 (10), vethA (20), br0 (20, same as ingress veth), vethB (30), eth0 (40).
        l.learn(&[hop(0, 10), hop(2, 20), hop(1, 20), hop(3, 30), hop(4, 40)]);
        // Reply: eth0 (100), vethB (110), br0 (110), vethA (120), eth0 (130).
        l.learn(&[hop(4, 100), hop(3, 110), hop(1, 110), hop(2, 120), hop(0, 130)]);
        let order: Vec<u16> = l.order().iter().map(|p| p.0).collect();
        assert_eq!(order, vec![0, 2, 1, 3, 4]);
    }

    #[test]
    fn on_a_known_path_a_bridge_stamped_after_the_egress_veth_keeps_its_place() {
        // 0=eth0, 1=vethA, 2=br, 3=vethB, 4=eth0; the bridge stamped 1.3 µs after vethB.
        let request = [hop(0, 0), hop(1, 2_033), hop(3, 76_243), hop(2, 77_515), hop(4, 90_224)];
        let points = |l: &Line, dir, hops: &[Hop]| {
            let mut hops = hops.to_vec();
            l.sort_hops(&mut hops, dir);
            hops.iter().map(|h| h.point.0).collect::<Vec<_>>()
        };
        let mut l = line(5);
        // Path order unknown: the time order stands.
        assert_eq!(points(&l, Direction::Forward, &request), vec![0, 1, 3, 2, 4]);
        l.fix();
        assert_eq!(points(&l, Direction::Forward, &request), vec![0, 1, 2, 3, 4]);
        // The reply, the other way: the bridge stamped 0.85 µs after vethA.
        let reply = [hop(4, 0), hop(3, 1_312), hop(1, 20_681), hop(2, 21_532), hop(0, 22_824)];
        assert_eq!(points(&l, Direction::Backward, &reply), vec![4, 3, 2, 1, 0]);
        // A hop stamped well after the next point's is where its time says.
        let late = [hop(0, 0), hop(1, 2_000), hop(3, 10_000), hop(2, 10_000 + LATE_STAMP_NS + 1)];
        assert_eq!(points(&l, Direction::Forward, &late), vec![0, 1, 3, 2]);
    }

    #[test]
    fn hops_out_of_time_or_tie_order_are_sorted_and_ordered_ones_kept() {
        let l = line(4);
        let points = |mut hops: Vec<Hop>, dir| {
            l.sort_hops(&mut hops, dir);
            hops.iter().map(|h| (h.point.0, h.t_ns)).collect::<Vec<_>>()
        };
        let sorted = vec![(0, 1), (1, 5), (2, 5), (3, 9)];
        // In order already, a tie in path order.
        let given = vec![hop(0, 1), hop(1, 5), hop(2, 5), hop(3, 9)];
        assert_eq!(points(given, Direction::Forward), sorted);
        // Out of time order.
        let given = vec![hop(3, 9), hop(0, 1), hop(2, 5), hop(1, 5)];
        assert_eq!(points(given, Direction::Forward), sorted);
        // In time order, the tie against the path.
        let given = vec![hop(0, 1), hop(2, 5), hop(1, 5), hop(3, 9)];
        assert_eq!(points(given, Direction::Forward), sorted);
        // The same tie going the other way is in order.
        let given = vec![hop(3, 1), hop(2, 5), hop(1, 5), hop(0, 9)];
        assert_eq!(points(given, Direction::Backward), vec![(3, 1), (2, 5), (1, 5), (0, 9)]);
    }

    #[test]
    fn direction_and_tie_order() {
        let l = line(3);
        let mut hops = vec![hop(2, 5), hop(1, 5), hop(0, 9)];
        let dir = l.direction_of(&hops);
        assert_eq!(dir, Some(Direction::Backward));
        l.sort_hops(&mut hops, Direction::Backward);
        assert_eq!(hops.iter().map(|h| h.point.0).collect::<Vec<_>>(), vec![2, 1, 0]);
        assert_eq!(l.direction_of(&[hop(1, 5)]), None);
    }

    #[test]
    fn hops_are_sorted_by_time_then_path_and_late_stamps_placed_on_a_fixed_line() {
        // The rule, written plainly: by time, ties in path order; on a fixed line a hop stamped
        // at most LATE_STAMP_NS after one further back along the path goes before it.
        fn rule(l: &Line, hops: &[Hop], dir: Direction) -> Vec<(u16, u64)> {
            let n = l.len();
            let along = |h: &Hop| match dir {
                Direction::Forward => l.position(h.point),
                Direction::Backward => n - 1 - l.position(h.point),
            };
            let mut v = hops.to_vec();
            v.sort_by_key(|h| (h.t_ns, along(h)));
            if l.fixed {
                for i in 1..v.len() {
                    let mut j = i;
                    while j > 0
                        && along(&v[j]) < along(&v[j - 1])
                        && v[j].t_ns - v[j - 1].t_ns <= LATE_STAMP_NS
                    {
                        v.swap(j - 1, j);
                        j -= 1;
                    }
                }
            }
            v.iter().map(|h| (h.point.0, h.t_ns)).collect()
        }
        let mut rand = below(0x9e37_79b9_7f4a_7c15);
        // Paths of 6 points, and of 12 (more hops than the sort holds on its stack).
        for (fixed, len) in [(false, 6), (true, 6), (false, 12), (true, 12)] {
            let mut l = line(len);
            if fixed {
                l.fix();
            }
            for _ in 0..20_000 {
                let dir = if rand(2) == 0 { Direction::Forward } else { Direction::Backward };
                let n = rand(len as u64 + 1);
                // Mostly in order along the path, now and then not; times close or tied.
                let mut points: Vec<u16> = (0..len as u16).collect();
                if dir == Direction::Backward {
                    points.reverse();
                }
                let mut t = 0;
                let mut hops: Vec<Hop> = (0..n as usize)
                    .map(|i| {
                        t += rand(3) * LATE_STAMP_NS / 2;
                        let p = if rand(4) == 0 { rand(len as u64) as u16 } else { points[i] };
                        hop(p, t)
                    })
                    .collect();
                if rand(4) == 0 && hops.len() > 1 {
                    let (a, b) = (rand(n) as usize, rand(n) as usize);
                    hops.swap(a, b);
                }
                let want = rule(&l, &hops, dir);
                let mut got = hops.clone();
                got.sort_by_key(|h| h.t_ns);
                l.sort_hops(&mut got, dir);
                let got: Vec<(u16, u64)> = got.iter().map(|h| (h.point.0, h.t_ns)).collect();
                assert_eq!(got, want, "fixed {fixed}, {dir:?}, {hops:?}");
            }
        }
    }

    #[test]
    fn direction_is_where_the_mean_position_went_from_the_earliest_hops_to_the_latest() {
        // The rule, written plainly: the mean position of the hops at the earliest time against
        // that of the hops at the latest.
        fn rule(l: &Line, hops: &[Hop]) -> Option<Direction> {
            let (first, last) = (hops.first()?.t_ns, hops.last()?.t_ns);
            let mean = |t: u64| {
                let at: Vec<f64> = hops
                    .iter()
                    .filter(|h| h.t_ns == t)
                    .map(|h| l.position(h.point) as f64)
                    .collect();
                at.iter().sum::<f64>() / at.len() as f64
            };
            (first != last).then(|| {
                if mean(first) <= mean(last) { Direction::Forward } else { Direction::Backward }
            })
        }
        let l = line(6);
        let mut rand = below(0x2545_f491_4f6c_dd1d);
        for _ in 0..20_000 {
            let n = 1 + rand(6);
            let mut t = 0;
            let hops: Vec<Hop> = (0..n)
                .map(|_| {
                    t += rand(3);
                    hop(rand(6) as u16, t)
                })
                .collect();
            assert_eq!(l.direction_of(&hops), rule(&l, &hops), "{hops:?}");
        }
    }
}
