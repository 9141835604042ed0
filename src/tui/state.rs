//! The TUI's state: a snapshot of what the core reported (capture points, path order, settled
//! exchanges, the verdict) plus what the user is looking at (selection, pane, filter, pause).
//!
//! Exchanges live in a bounded ring; a view (row numbers, filtered) indexes it, so drawing reads
//! only the rows on screen. All changes go through [`TuiState::update`] (user actions) and the
//! `push_*`/`set_*` feeders (core results). It never owns the analysis and never draws.

use std::cell::Cell;
use std::collections::VecDeque;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use crate::core::exchange::Exchange;
use crate::core::line::PointIdx;
use crate::core::packet::Mac;
use crate::core::verdict::Verdict;
use crate::report::clock::Zone;
use crate::report::trace::PointRow;
use crate::tui::action::{Action, InputMode};
use crate::tui::frames::{self, FrameRef, FrameSource};

/// Exchanges kept by default (the oldest are forgotten first): about 1.2 KiB each, so ~24 MiB
/// (`--ring` changes it).
pub const DEFAULT_CAPACITY: usize = 10_000;

/// A pane that can have the focus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Exchanges,
    Ladder,
    Details,
}

/// One settled exchange, numbered in arrival order.
#[derive(Debug, Clone)]
pub struct Row {
    pub n: u64,
    pub exchange: Exchange,
}

/// Counts over every exchange seen (not only those still in the ring).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub exchanges: u64,
    pub echoes: u64,
    pub answered: u64,
    pub rtt_min: Option<u64>,
    pub rtt_max: Option<u64>,
    pub rtt_sum: u64,
    pub rtt_count: u64,
}

impl Stats {
    pub fn rtt_avg(&self) -> Option<u64> {
        self.rtt_sum.checked_div(self.rtt_count)
    }
}

/// The two ends of the traffic, learned from the first requests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ends {
    pub src_ip: Option<IpAddr>,
    pub src_mac: Option<Mac>,
    pub dst_ip: Option<IpAddr>,
    pub dst_mac: Option<Mac>,
}

#[derive(Debug)]
pub struct TuiState {
    /// What is shown, e.g. `analyze (5 capture files)`.
    pub command: String,
    /// Capture points by [`PointIdx`].
    pub points: Vec<PointRow>,
    /// Points in path order.
    pub order: Vec<PointIdx>,
    pub verdict: Option<Verdict>,
    pub stats: Stats,
    pub ends: Ends,
    rows: VecDeque<Row>,
    capacity: usize,
    next_n: u64,
    /// Row numbers shown (those matching the filter), oldest first.
    view: VecDeque<u64>,
    /// Position in `view`.
    selected: Option<usize>,
    /// Keep the newest row selected as rows arrive.
    follow: bool,
    /// Hop of the selected exchange (request hops first, then reply hops).
    pub hop: usize,
    pub pane: Pane,
    pub details: bool,
    pub help: bool,
    pub paused: bool,
    /// Rows that arrived while paused.
    pub unseen: u64,
    pub mode: InputMode,
    /// The filter applied (lower case; empty: everything).
    pub filter: String,
    /// The filter being typed.
    pub filter_input: String,
    /// A one-line message for the footer.
    pub message: Option<String>,
    pub quit: bool,
    /// First view position on screen, kept by the exchanges pane as it draws.
    pub(crate) offset: Cell<usize>,
    /// Rows the exchanges pane showed last time (for page up/down).
    pub(crate) page: Cell<usize>,
    /// Where `w` finds the frames of the exchanges shown (none: `w` says so).
    pub frames: Option<Arc<dyn FrameSource>>,
    /// Where `w` writes its files.
    pub write_dir: PathBuf,
    /// The clock times of day (and `w`'s file names) are read on.
    pub zone: Zone,
}

impl TuiState {
    pub fn new(command: impl Into<String>, capacity: usize) -> Self {
        TuiState {
            command: command.into(),
            points: Vec::new(),
            order: Vec::new(),
            verdict: None,
            stats: Stats::default(),
            ends: Ends::default(),
            rows: VecDeque::new(),
            capacity: capacity.max(1),
            next_n: 0,
            view: VecDeque::new(),
            selected: None,
            follow: true,
            hop: 0,
            pane: Pane::Exchanges,
            details: false,
            help: false,
            paused: false,
            unseen: 0,
            mode: InputMode::Normal,
            filter: String::new(),
            filter_input: String::new(),
            message: None,
            quit: false,
            offset: Cell::new(0),
            page: Cell::new(10),
            frames: None,
            write_dir: PathBuf::from("."),
            zone: Zone::default(),
        }
    }

    /// Ring size: exchanges kept (the oldest are forgotten first).
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Every frame of every journey of the exchanges shown, sorted, each once.
    pub fn shown_frames(&self) -> Vec<FrameRef> {
        let mut out: Vec<FrameRef> = (0..self.view.len())
            .filter_map(|pos| self.row(pos))
            .flat_map(|r| {
                let ex = &r.exchange;
                std::iter::once(&ex.request)
                    .chain(ex.reply.as_ref())
                    .chain(ex.errors.iter())
                    .flat_map(|leg| leg.journey.hops.iter().map(|h| (h.point, h.frame)))
            })
            .collect();
        out.sort_unstable_by_key(|&(p, f)| (f, p.0));
        out.dedup();
        out
    }

    /// `w`: write the frames of the exchanges shown to a new pcapng file in `write_dir`; the
    /// footer says what was written where, or what went wrong.
    fn write_shown(&mut self) {
        let Some(source) = self.frames.clone() else {
            self.message = Some("w: no captured frames to write from".into());
            return;
        };
        let shown = self.view.len();
        if shown == 0 {
            self.message = Some("w: no exchange shown, nothing to write".into());
            return;
        }
        let wanted = self.shown_frames();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let path = frames::file_name(&self.write_dir, self.zone, now);
        self.message = Some(match source.write_pcapng(&wanted, &path) {
            Ok(w) => {
                let mut m =
                    format!("wrote {} frames of {shown} exchanges to {}", w.frames, path.display());
                if w.missing > 0 {
                    m.push_str(&format!(" ({} older frames no longer kept)", w.missing));
                }
                m
            }
            Err(e) => format!("w: {e:#}"),
        });
    }

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

    /// Point id by index, `?` when unknown.
    pub fn point_id(&self, p: PointIdx) -> &str {
        self.points.get(p.index()).map_or("?", |r| r.id.as_str())
    }

    /// Position of a point along the path.
    pub fn position(&self, p: PointIdx) -> Option<usize> {
        self.order.iter().position(|&o| o == p)
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

    /// Exchanges shown (after the filter).
    pub fn shown(&self) -> usize {
        self.view.len()
    }

    /// Exchanges kept in the ring.
    pub fn kept(&self) -> usize {
        self.rows.len()
    }

    /// The row at a position of the view.
    pub fn row(&self, pos: usize) -> Option<&Row> {
        let n = *self.view.get(pos)?;
        let first = self.rows.front()?.n;
        self.rows.get(usize::try_from(n.checked_sub(first)?).ok()?)
    }

    pub fn selected(&self) -> Option<usize> {
        self.selected
    }

    pub fn following(&self) -> bool {
        self.follow && !self.paused
    }

    pub fn selected_row(&self) -> Option<&Row> {
        self.row(self.selected?)
    }

    fn select(&mut self, pos: Option<usize>) {
        if pos != self.selected {
            self.hop = 0;
        }
        self.selected = pos;
    }

    fn matches(&self, ex: &Exchange) -> bool {
        if self.filter.is_empty() {
            return true;
        }
        if ex.kind.as_str().contains(&self.filter) {
            return true;
        }
        ex.summary().to_string().to_lowercase().contains(&self.filter)
    }

    fn rebuild_view(&mut self) {
        let selected_n = self.selected_row().map(|r| r.n);
        let view: VecDeque<u64> =
            self.rows.iter().filter(|r| self.matches(&r.exchange)).map(|r| r.n).collect();
        self.view = view;
        let pos = selected_n.and_then(|n| self.view.iter().position(|&v| v == n));
        self.selected = pos.or(self.view.len().checked_sub(1));
        self.follow = pos.is_none();
        self.offset.set(0);
    }

    /// Hops of the selected exchange (request then reply).
    fn hop_count(&self) -> usize {
        self.selected_row().map_or(0, |r| {
            let ex = &r.exchange;
            ex.request.journey.hops.len() + ex.reply.as_ref().map_or(0, |l| l.journey.hops.len())
        })
    }

    fn move_selection(&mut self, delta: isize) {
        let Some(last) = self.view.len().checked_sub(1) else { return };
        let cur = self.selected.unwrap_or(last);
        let pos = cur.saturating_add_signed(delta).min(last);
        self.select(Some(pos));
        self.follow = pos == last && delta > 0;
    }

    fn move_hop(&mut self, delta: isize) {
        let last = self.hop_count().saturating_sub(1);
        self.hop = self.hop.saturating_add_signed(delta).min(last);
    }

    /// Apply one user action.
    pub fn update(&mut self, action: Action) {
        self.message = None;
        let page = isize::try_from(self.page.get().max(1)).unwrap_or(10);
        match action {
            Action::Quit => self.quit = true,
            Action::Up if self.pane == Pane::Ladder => self.move_hop(-1),
            Action::Down if self.pane == Pane::Ladder => self.move_hop(1),
            Action::Up => self.move_selection(-1),
            Action::Down => self.move_selection(1),
            Action::PageUp => self.move_selection(-page),
            Action::PageDown => self.move_selection(page),
            Action::Top => {
                self.select((!self.view.is_empty()).then_some(0));
                self.follow = false;
            }
            Action::Bottom => {
                self.select(self.view.len().checked_sub(1));
                self.follow = true;
            }
            Action::Left => self.move_hop(-1),
            Action::Right => self.move_hop(1),
            Action::ToggleDetails => {
                self.details = !self.details;
                if !self.details && self.pane == Pane::Details {
                    self.pane = Pane::Exchanges;
                }
            }
            Action::NextPane => {
                self.pane = match self.pane {
                    Pane::Exchanges => Pane::Ladder,
                    Pane::Ladder if self.details => Pane::Details,
                    _ => Pane::Exchanges,
                }
            }
            Action::TogglePause => {
                self.paused = !self.paused;
                if !self.paused {
                    self.unseen = 0;
                    if self.follow {
                        self.select(self.view.len().checked_sub(1));
                    }
                }
            }
            Action::StartFilter => {
                self.mode = InputMode::Filter;
                self.filter_input = self.filter.clone();
            }
            Action::FilterChar(c) => self.filter_input.push(c),
            Action::FilterBackspace => {
                self.filter_input.pop();
            }
            Action::FilterApply => {
                self.mode = InputMode::Normal;
                self.filter = self.filter_input.trim().to_lowercase();
                self.rebuild_view();
            }
            Action::Escape => self.escape(),
            Action::Write => self.write_shown(),
            Action::Clear => {
                self.rows.clear();
                self.view.clear();
                self.selected = None;
                self.follow = true;
                self.hop = 0;
                self.unseen = 0;
                self.offset.set(0);
            }
            Action::ToggleHelp => self.help = !self.help,
        }
    }

    fn escape(&mut self) {
        if self.mode == InputMode::Filter {
            self.mode = InputMode::Normal;
            self.filter_input.clear();
        } else if self.help {
            self.help = false;
        } else {
            self.quit = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::exchange::{ExchangeKind, Leg};
    use crate::core::journey::{Hop, Journey};
    use crate::core::packet::{Echo, Icmp, Packet};

    fn echo(seq: u16, rtt: Option<u64>) -> Exchange {
        let packet = Packet {
            icmp: Some(Icmp { ty: 8, code: 0, echo: Some(Echo { id: 1, seq }), quoted: None }),
            ..Packet::default()
        };
        let hop = Hop { point: PointIdx(0), t_ns: u64::from(seq), frame: 1 };
        let leg = Leg {
            journey: Journey { packet: Box::new(packet), hops: vec![hop, hop], direction: None },
            lost: None,
            netfilter: Vec::new(),
        };
        Exchange {
            kind: ExchangeKind::IcmpEcho,
            request: leg.clone(),
            reply: rtt.map(|_| leg),
            errors: Vec::new(),
            rtt_ns: rtt,
            expects_reply: true,
        }
    }

    fn state_with(n: u16, capacity: usize) -> TuiState {
        let mut s = TuiState::new("test", capacity);
        for seq in 1..=n {
            s.push_exchange(&echo(seq, Some(u64::from(seq) * 1000)));
        }
        s
    }

    fn seq_of(s: &TuiState) -> Option<u16> {
        s.selected_row().and_then(|r| r.exchange.echo()).map(|e| e.seq)
    }

    #[test]
    fn follows_new_rows_until_the_user_scrolls() {
        let mut s = state_with(3, 10);
        assert_eq!(seq_of(&s), Some(3));
        s.update(Action::Up);
        assert_eq!(seq_of(&s), Some(2));
        s.push_exchange(&echo(4, None));
        assert_eq!(seq_of(&s), Some(2), "scrolled: the selection stays");
        s.update(Action::Bottom);
        s.push_exchange(&echo(5, None));
        assert_eq!(seq_of(&s), Some(5), "back at the bottom: follows again");
    }

    #[test]
    fn the_ring_forgets_the_oldest_and_keeps_the_selection() {
        let mut s = state_with(3, 3);
        s.update(Action::Top);
        s.update(Action::Down);
        assert_eq!(seq_of(&s), Some(2));
        s.push_exchange(&echo(4, None));
        assert_eq!((s.kept(), s.shown()), (3, 3));
        assert_eq!(seq_of(&s), Some(2));
        assert_eq!(s.row(0).and_then(|r| r.exchange.echo()).map(|e| e.seq), Some(2));
        assert_eq!(s.stats.exchanges, 4);
    }

    #[test]
    fn stats_count_echoes_and_rtts() {
        let mut s = state_with(3, 10);
        s.push_exchange(&echo(4, None));
        let st = s.stats;
        assert_eq!((st.echoes, st.answered), (4, 3));
        assert_eq!((st.rtt_min, st.rtt_avg(), st.rtt_max), (Some(1000), Some(2000), Some(3000)));
    }

    #[test]
    fn a_filter_narrows_the_view() {
        let mut s = state_with(12, 100);
        s.update(Action::StartFilter);
        for c in "SEQ 1".chars() {
            s.update(Action::FilterChar(c));
        }
        assert_eq!(s.mode, InputMode::Filter);
        s.update(Action::FilterApply);
        // seq 1, 10, 11, 12
        assert_eq!(s.shown(), 4);
        assert_eq!(s.filter, "seq 1");
        s.push_exchange(&echo(13, None));
        s.push_exchange(&echo(21, None));
        assert_eq!(s.shown(), 5);
    }

    #[test]
    fn escape_closes_help_then_quits() {
        let mut s = state_with(1, 10);
        s.update(Action::ToggleHelp);
        assert!(s.help);
        s.update(Action::Escape);
        assert!(!s.help && !s.quit);
        s.update(Action::Escape);
        assert!(s.quit);
    }

    #[test]
    fn panes_cycle_and_the_ladder_pane_moves_hops() {
        let mut s = state_with(2, 10);
        s.update(Action::NextPane);
        assert_eq!(s.pane, Pane::Ladder);
        s.update(Action::Down);
        s.update(Action::Down);
        s.update(Action::Down);
        s.update(Action::Down);
        assert_eq!((s.hop, seq_of(&s)), (3, Some(2)), "2 request + 2 reply hops");
        s.update(Action::NextPane);
        assert_eq!(s.pane, Pane::Exchanges, "no details pane open");
        s.update(Action::ToggleDetails);
        s.update(Action::NextPane);
        s.update(Action::NextPane);
        assert_eq!(s.pane, Pane::Details);
        s.update(Action::Up);
        assert_eq!(seq_of(&s), Some(1));
        assert_eq!(s.hop, 0, "a new selection starts at its first hop");
    }

    #[test]
    fn pause_holds_the_view_and_counts_new_rows() {
        let mut s = state_with(2, 10);
        s.update(Action::TogglePause);
        s.push_exchange(&echo(3, None));
        assert_eq!((seq_of(&s), s.unseen), (Some(2), 1));
        s.update(Action::TogglePause);
        assert_eq!((seq_of(&s), s.unseen), (Some(3), 0));
    }

    /// A frame source that records what it was asked for.
    #[derive(Debug, Default)]
    struct Recorder(std::sync::Mutex<Vec<(Vec<FrameRef>, std::path::PathBuf)>>);

    impl FrameSource for Recorder {
        fn write_pcapng(
            &self,
            wanted: &[FrameRef],
            path: &std::path::Path,
        ) -> anyhow::Result<frames::Written> {
            if let Ok(mut calls) = self.0.lock() {
                calls.push((wanted.to_vec(), path.to_path_buf()));
            }
            if wanted.len() > 6 {
                anyhow::bail!("disk full");
            }
            Ok(frames::Written { frames: wanted.len() as u64 - 1, missing: 1 })
        }
    }

    #[test]
    fn w_writes_the_frames_of_the_exchanges_shown() {
        use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
        let w = crate::tui::action::action_for(
            KeyEvent::new(KeyCode::Char('w'), KeyModifiers::NONE),
            InputMode::Normal,
        );
        assert_eq!(w, Some(Action::Write));
        let mut s = state_with(12, 100);
        s.update(Action::Write);
        assert_eq!(s.message.as_deref(), Some("w: no captured frames to write from"));
        let recorder = Arc::new(Recorder::default());
        s.frames = Some(recorder.clone());
        s.write_dir = std::path::PathBuf::from("/nonexistent-dir");
        // Only seq 1 and 10..=12 are shown; their hops (request and reply) name frame 1 at
        // point 0 in this fake: one frame, asked for once.
        s.update(Action::StartFilter);
        for c in "seq 1".chars() {
            s.update(Action::FilterChar(c));
        }
        s.update(Action::FilterApply);
        s.update(Action::Write);
        let calls = recorder.0.lock().map(|c| c.clone()).unwrap_or_default();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].0, vec![(PointIdx(0), 1)]);
        assert!(calls[0].1.to_string_lossy().starts_with("/nonexistent-dir/vtrace-"));
        let msg = s.message.clone().unwrap_or_default();
        assert!(msg.starts_with("wrote 0 frames of 4 exchanges to /nonexistent-dir/vtrace-"));
        assert!(msg.ends_with(".pcapng (1 older frames no longer kept)"), "{msg}");
        // The next key clears the message.
        s.update(Action::Down);
        assert_eq!(s.message, None);
    }

    #[test]
    fn a_failed_write_is_shown_not_raised() {
        let mut s = TuiState::new("test", 10);
        for seq in 1..=8u16 {
            let mut ex = echo(seq, Some(1));
            ex.request.journey.hops[1].frame = u64::from(seq) + 100;
            s.push_exchange(&ex);
        }
        s.frames = Some(Arc::new(Recorder::default()));
        s.update(Action::Write);
        assert_eq!(s.message.as_deref(), Some("w: disk full"));
        s.update(Action::Clear);
        s.update(Action::Write);
        assert_eq!(s.message.as_deref(), Some("w: no exchange shown, nothing to write"));
    }

    #[test]
    fn clear_forgets_rows_but_not_the_counts() {
        let mut s = state_with(3, 10);
        s.update(Action::Clear);
        assert_eq!((s.shown(), s.selected(), s.stats.exchanges), (0, None, 3));
        s.update(Action::Down);
        assert_eq!(s.selected(), None);
    }
}
