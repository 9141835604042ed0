//! The whole screen: lays the regions out and draws each from the state (`Widget for &TuiState`),
//! with a one-line footer (keys, filter input, messages). Changes nothing but the list's scroll
//! offset.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget};

use crate::tui::action::InputMode;
use crate::tui::state::TuiState;
use crate::tui::style::dim;
use crate::tui::{details, exchanges, header, help, ladder, topology};

impl Widget for &TuiState {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let [head, path, body, ladder_area, foot] = Layout::vertical([
            Constraint::Length(header::HEIGHT),
            Constraint::Length(topology::HEIGHT),
            Constraint::Min(3),
            Constraint::Length(ladder::height(self)),
            Constraint::Length(1),
        ])
        .areas(area);
        header::render(self, head, buf);
        topology::render(self, path, buf);
        if self.details {
            let [list, info] =
                Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)])
                    .areas(body);
            exchanges::render(self, list, buf);
            details::render(self, info, buf);
        } else {
            exchanges::render(self, body, buf);
        }
        ladder::render(self, ladder_area, buf);
        footer(self, foot, buf);
        if self.help {
            help::render(area, buf);
        }
    }
}

fn footer(s: &TuiState, area: Rect, buf: &mut Buffer) {
    let line = if s.mode == InputMode::Filter {
        Line::from(vec![
            Span::styled(" filter: ", Style::new().fg(Color::Cyan)),
            Span::raw(format!("{}▏", s.filter_input)),
            Span::styled("  Enter apply · Esc cancel", dim()),
        ])
    } else if let Some(msg) = &s.message {
        Line::from(Span::styled(format!(" {msg}"), Style::new().fg(Color::Yellow)))
    } else {
        let state = if s.paused {
            format!("PAUSED (+{} new)", s.unseen)
        } else if s.following() {
            "following".to_owned()
        } else {
            "scrolled (G follows)".to_owned()
        };
        Line::from(vec![
            Span::styled(format!(" {state} "), Style::new().fg(Color::Cyan)),
            Span::styled("│ ? help  ↑↓ select  Tab pane  Enter details  / filter  q quit", dim()),
        ])
    };
    Paragraph::new(line).render(area, buf);
}
