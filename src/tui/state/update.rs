//! User actions on the TUI's state: [`TuiState::update`] moves the selection and the hop, cycles
//! panes, toggles details, help and pause, edits and applies the filter (rebuilding the view over
//! the ring), clears and quits.
//!
//! It changes only the state; it must not draw, read the terminal (keys become actions in
//! `tui::action`) nor take results from the core (that is `ingest`).

use std::collections::VecDeque;

use super::{Pane, TuiState};
use crate::core::exchange::Exchange;
use crate::tui::action::{Action, InputMode};

impl TuiState {
    pub(super) fn select(&mut self, pos: Option<usize>) {
        if pos != self.selected {
            self.hop = 0;
        }
        self.selected = pos;
    }

    pub(super) fn matches(&self, ex: &Exchange) -> bool {
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

    /// Hops of the selected exchange (request then answer: the reply, or the ICMP error that
    /// answered a connect or UDP probe).
    fn hop_count(&self) -> usize {
        self.selected_row().map_or(0, |r| crate::tui::legs::legs(&r.exchange).hops())
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
