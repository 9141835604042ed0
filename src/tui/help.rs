//! The help overlay: every key and what it does, centred over the view. Draws only.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Block, Clear, Paragraph, Widget};

use crate::tui::style::{border, title};

const KEYS: [(&str, &str); 13] = [
    ("↑/↓ j/k", "select an exchange (a hop in the ladder pane)"),
    ("←/→ h/l", "select a hop of the exchange"),
    ("PgUp/PgDn", "page through the exchanges"),
    ("g/G Home/End", "first / last exchange (G follows new ones)"),
    ("Enter", "show or hide the details pane"),
    ("Tab", "next pane"),
    ("p", "pause / resume the list"),
    ("/", "filter by kind, address or seq (Enter applies)"),
    ("w", "write the exchanges shown to a pcapng file"),
    ("c", "clear the list"),
    ("?", "this help"),
    ("q Esc", "quit (Esc closes help or the filter first)"),
    ("Ctrl-C", "quit"),
];

pub fn render(area: Rect, buf: &mut Buffer) {
    let width = 66.min(area.width);
    let height = (KEYS.len() as u16 + 2).min(area.height);
    let [row] = Layout::vertical([Constraint::Length(height)]).flex(Flex::Center).areas(area);
    let [popup] = Layout::horizontal([Constraint::Length(width)]).flex(Flex::Center).areas(row);
    Clear.render(popup, buf);
    let lines: Vec<Line> =
        KEYS.iter().map(|(k, what)| Line::from(format!(" {k:<13} {what}"))).collect();
    Paragraph::new(lines)
        .block(
            Block::bordered()
                .title(" keys (? or Esc closes) ")
                .title_style(title(true))
                .border_style(border(true)),
        )
        .render(popup, buf);
}
