//! The core's results coming into the TUI's state: capture points and the path order, settled
//! exchanges pushed into the bounded ring (counted in the stats, teaching the two ends, shown when
//! they match the filter), and the verdict.
//!
//! These are the `push_*`/`set_*` feeders; they must not react to keys (that is `update`) and
//! never look at the screen.

use std::net::IpAddr;

use super::{Row, TuiState};
use crate::core::exchange::{Exchange, ExchangeKind};
use crate::core::line::PointIdx;
use crate::core::verdict::Verdict;
use crate::report::trace::PointRow;

impl TuiState {
    /// A capture point was added (in [`PointIdx`] order); it joins the end of the path.
    pub fn push_point(&mut self, row: PointRow) {
        let idx = PointIdx(u16::try_from(self.points.len()).unwrap_or(u16::MAX));
        self.points.push(row);
        self.order.push(idx);
    }

    /// The path order learned by the core.
    pub fn set_order(&mut self, order: &[PointIdx]) {
        self.order.clear();
        self.order.extend_from_slice(order);
    }

    /// A settled exchange from the core.
    pub fn push_exchange(&mut self, ex: &Exchange) {
        self.push_owned(ex.clone());
    }

    /// A settled exchange from the core, handed over (no copy).
    pub fn push_owned(&mut self, ex: Exchange) {
        self.count(&ex);
        let n = self.next_n;
        self.next_n += 1;
        if self.rows.len() == self.capacity {
            self.forget_oldest();
        }
        let shown = self.matches(&ex);
        self.rows.push_back(Row { n, exchange: ex });
        if shown {
            self.view.push_back(n);
            if self.paused {
                self.unseen += 1;
            } else if self.follow {
                self.select(self.view.len().checked_sub(1));
            }
        }
    }

    fn count(&mut self, ex: &Exchange) {
        let s = &mut self.stats;
        s.exchanges += 1;
        if ex.kind.is_echo() && ex.expects_reply {
            s.echoes += 1;
            s.answered += u64::from(ex.answered());
        }
        if ex.kind == ExchangeKind::TcpConnect && ex.expects_reply {
            s.connects += 1;
            match ex.answer() {
                Some("syn-ack") => s.connects_answered += u64::from(ex.answered()),
                Some("rst" | "icmp") => s.connects_refused += 1,
                None => s.connects_unanswered += 1,
                Some(_) => {}
            }
        }
        if let Some(rtt) = ex.rtt_ns {
            s.rtt_min = Some(s.rtt_min.map_or(rtt, |m| m.min(rtt)));
            s.rtt_max = Some(s.rtt_max.map_or(rtt, |m| m.max(rtt)));
            s.rtt_sum = s.rtt_sum.saturating_add(rtt);
            s.rtt_count += 1;
        }
        self.learn_ends(ex);
    }

    fn learn_ends(&mut self, ex: &Exchange) {
        let e = &mut self.ends;
        let p = &ex.request.journey.packet;
        if let Some(arp) = p.arp {
            e.src_ip = e.src_ip.or(arp.spa.map(IpAddr::V4));
            e.src_mac = e.src_mac.or(arp.sha.mac());
            e.dst_ip = e.dst_ip.or(arp.tpa.map(IpAddr::V4));
            let answer = ex.reply.as_ref().and_then(|r| r.journey.packet.arp);
            e.dst_mac = e.dst_mac.or(answer.and_then(|a| a.sha.mac()));
        } else if let (Some(ip), Some(eth)) = (p.ip, p.eth) {
            e.src_ip = e.src_ip.or(Some(ip.src));
            e.src_mac = e.src_mac.or(Some(eth.src));
            e.dst_ip = e.dst_ip.or(Some(ip.dst));
            e.dst_mac = e.dst_mac.or(Some(eth.dst));
        }
    }

    fn forget_oldest(&mut self) {
        let Some(old) = self.rows.pop_front() else { return };
        if self.view.front() == Some(&old.n) {
            self.view.pop_front();
            self.selected = match self.selected {
                Some(0) => (!self.view.is_empty()).then_some(0),
                s => s.map(|s| s - 1),
            };
            self.offset.set(self.offset.get().saturating_sub(1));
        }
    }

    /// The verdict, once the core gave one.
    pub fn set_verdict(&mut self, verdict: Verdict) {
        self.verdict = Some(verdict);
    }
}
