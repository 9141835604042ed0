//! The TUI's state driven as the view drives it: rows pushed, keys applied, what is selected and
//! shown after.

use super::*;
use crate::core::exchange::{ExchangeKind, Leg};
use crate::core::journey::{Hop, Journey};
use crate::core::packet::{Echo, Icmp, Packet};
use crate::tui::action::Action;

pub(super) fn echo(seq: u16, rtt: Option<u64>) -> Exchange {
    let packet = Packet {
        icmp: Some(Icmp { ty: 8, code: 0, echo: Some(Echo { id: 1, seq }), quoted: None }),
        ..Packet::default()
    };
    let hop = Hop::new(PointIdx(0), u64::from(seq), 1);
    let leg = Leg {
        journey: Journey::new(Box::new(packet), vec![hop, hop]),
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
        probe: false,
    }
}

pub(super) fn state_with(n: u16, capacity: usize) -> TuiState {
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

#[test]
fn clear_forgets_rows_but_not_the_counts() {
    let mut s = state_with(3, 10);
    s.update(Action::Clear);
    assert_eq!((s.shown(), s.selected(), s.stats.exchanges), (0, None, 3));
    s.update(Action::Down);
    assert_eq!(s.selected(), None);
}
