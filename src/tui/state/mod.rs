//! The TUI's state: a snapshot of what the core reported (capture points, path order, settled
//! exchanges, the verdict) plus what the user is looking at (selection, pane, filter, pause).
//!
//! Exchanges live in a bounded ring; a view (row numbers, filtered) indexes it, so drawing reads
//! only the rows on screen. All changes go through [`TuiState::update`] (user actions) and the
//! `push_*`/`set_*` feeders (core results). It never owns the analysis and never draws.
//!
//! Laid out as: this file (the state, its parts and what drawing reads), `ingest` (the core's
//! results coming in: points, path order, exchanges into the ring, the verdict), `update` (user
//! actions: selection, hops, panes, filter, pause) and `write` (`w`: the frames of the exchanges
//! shown to a pcapng file).

mod ingest;
mod update;
mod write;

#[cfg(test)]
mod tests;

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
use crate::tui::action::InputMode;
use crate::tui::frames::FrameSource;

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
    /// TCP connects (SYNs that expect an answer) and how they ended: answered (a SYN-ACK that
    /// went the whole way), refused (a reset or an ICMP error), unanswered (nothing came back).
    /// A SYN-ACK lost on its way back is none of the three.
    pub connects: u64,
    pub connects_answered: u64,
    pub connects_refused: u64,
    pub connects_unanswered: u64,
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
    /// Hop of the selected exchange (request hops first, then those of its answer).
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
    /// Close the view once the verdict arrives (a replayed file: nobody is watching live).
    pub quit_when_done: bool,
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
            quit_when_done: false,
        }
    }

    /// Ring size: exchanges kept (the oldest are forgotten first).
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Point id by index, `?` when unknown.
    pub fn point_id(&self, p: PointIdx) -> &str {
        self.points.get(p.index()).map_or("?", |r| r.id.as_str())
    }

    /// Position of a point along the path.
    pub fn position(&self, p: PointIdx) -> Option<usize> {
        self.order.iter().position(|&o| o == p)
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
}
