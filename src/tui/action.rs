//! What a key means: every key press becomes an [`Action`] (or nothing), and only
//! [`crate::tui::state::TuiState::update`] changes state. This module never touches the state or
//! the terminal; it only maps keys.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

/// Everything the user can ask of the TUI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Quit,
    /// Select the previous / next exchange (or hop, in the ladder pane).
    Up,
    Down,
    PageUp,
    PageDown,
    /// First exchange / last exchange (and follow new ones again).
    Top,
    Bottom,
    /// Previous / next hop of the selected exchange.
    Left,
    Right,
    /// Show or hide the details pane.
    ToggleDetails,
    /// Focus the next pane.
    NextPane,
    TogglePause,
    /// Start typing a filter.
    StartFilter,
    /// A character typed into the filter.
    FilterChar(char),
    FilterBackspace,
    /// Apply the filter being typed.
    FilterApply,
    /// Close what is open (filter input, help), else quit.
    Escape,
    /// Write what is shown to a pcapng file.
    Write,
    /// Forget every exchange shown.
    Clear,
    ToggleHelp,
}

/// What keys mean depends on whether a filter is being typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputMode {
    Normal,
    Filter,
}

/// The action of a key press; `None` for keys that mean nothing (and key releases).
pub fn action_for(key: KeyEvent, mode: InputMode) -> Option<Action> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    if ctrl && matches!(key.code, KeyCode::Char('c') | KeyCode::Char('C')) {
        return Some(Action::Quit);
    }
    match mode {
        InputMode::Filter => filter_key(key.code),
        InputMode::Normal if ctrl => None,
        InputMode::Normal => normal_key(key.code),
    }
}

fn filter_key(code: KeyCode) -> Option<Action> {
    Some(match code {
        KeyCode::Enter => Action::FilterApply,
        KeyCode::Esc => Action::Escape,
        KeyCode::Backspace => Action::FilterBackspace,
        KeyCode::Char(c) => Action::FilterChar(c),
        _ => return None,
    })
}

fn normal_key(code: KeyCode) -> Option<Action> {
    Some(match code {
        KeyCode::Char('q') => Action::Quit,
        KeyCode::Esc => Action::Escape,
        KeyCode::Up | KeyCode::Char('k') => Action::Up,
        KeyCode::Down | KeyCode::Char('j') => Action::Down,
        KeyCode::PageUp => Action::PageUp,
        KeyCode::PageDown => Action::PageDown,
        KeyCode::Home | KeyCode::Char('g') => Action::Top,
        KeyCode::End | KeyCode::Char('G') => Action::Bottom,
        KeyCode::Left | KeyCode::Char('h') => Action::Left,
        KeyCode::Right | KeyCode::Char('l') => Action::Right,
        KeyCode::Enter => Action::ToggleDetails,
        KeyCode::Tab => Action::NextPane,
        KeyCode::Char('p') => Action::TogglePause,
        KeyCode::Char('/') => Action::StartFilter,
        KeyCode::Char('w') => Action::Write,
        KeyCode::Char('c') => Action::Clear,
        KeyCode::Char('?') => Action::ToggleHelp,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn keys_map_to_actions() {
        let n = InputMode::Normal;
        assert_eq!(action_for(key(KeyCode::Char('j')), n), Some(Action::Down));
        assert_eq!(action_for(key(KeyCode::Up), n), Some(Action::Up));
        assert_eq!(action_for(key(KeyCode::Tab), n), Some(Action::NextPane));
        assert_eq!(action_for(key(KeyCode::Char('q')), n), Some(Action::Quit));
        assert_eq!(action_for(key(KeyCode::Char('?')), n), Some(Action::ToggleHelp));
        assert_eq!(action_for(key(KeyCode::Char('x')), n), None);
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(action_for(ctrl_c, n), Some(Action::Quit));
        assert_eq!(action_for(ctrl_c, InputMode::Filter), Some(Action::Quit));
    }

    #[test]
    fn typing_a_filter_takes_every_character() {
        let f = InputMode::Filter;
        assert_eq!(action_for(key(KeyCode::Char('q')), f), Some(Action::FilterChar('q')));
        assert_eq!(action_for(key(KeyCode::Char('c')), f), Some(Action::FilterChar('c')));
        assert_eq!(action_for(key(KeyCode::Enter), f), Some(Action::FilterApply));
        assert_eq!(action_for(key(KeyCode::Esc), f), Some(Action::Escape));
    }

    #[test]
    fn releases_are_ignored() {
        let mut k = key(KeyCode::Char('q'));
        k.kind = KeyEventKind::Release;
        assert_eq!(action_for(k, InputMode::Normal), None);
    }
}
