//! The exchanges pane: one line per settled exchange (number, time, kind, points reached, RTT,
//! summary), coloured by how it ended. Virtualised: only the rows on screen are formatted, so
//! drawing costs the same with 100 rows or 100 000. Keeps the selection in view by moving the
//! state's scroll offset; changes nothing else.

use std::fmt::Write as _;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::widgets::{Block, Widget};

use crate::report::clock::Zone;
use crate::report::text::duration;
use crate::tui::state::{Pane, Row, TuiState};
use crate::tui::style::{self, border, dim, title};

pub fn render(s: &TuiState, area: Rect, buf: &mut Buffer) {
    let focused = s.pane == Pane::Exchanges;
    let shown = s.shown();
    let mut head = format!(" exchanges {shown} ");
    if !s.filter.is_empty() {
        let _ = write!(head, "(filter: {}) ", s.filter);
    }
    let block =
        Block::bordered().title(head).title_style(title(focused)).border_style(border(focused));
    let inner = block.inner(area);
    block.render(area, buf);
    let height = usize::from(inner.height);
    if height == 0 {
        return;
    }
    s.page.set(height);
    if shown == 0 {
        let text = if s.filter.is_empty() {
            "no exchange yet"
        } else {
            "no exchange matches the filter (/ to change it)"
        };
        buf.set_stringn(inner.x + 1, inner.y, text, usize::from(inner.width), dim());
        return;
    }
    let offset = scroll(s.offset.get(), s.selected(), height, shown);
    s.offset.set(offset);
    let total = s.order.len();
    let mut text = String::with_capacity(128);
    for (i, pos) in (offset..shown.min(offset + height)).enumerate() {
        let Some(row) = s.row(pos) else { continue };
        let y = inner.y + u16::try_from(i).unwrap_or(u16::MAX);
        let status = style::status(&row.exchange);
        let mut st = style::status_style(status);
        if s.selected() == Some(pos) {
            st = st.add_modifier(Modifier::REVERSED);
            if focused {
                st = st.add_modifier(Modifier::BOLD);
            }
        }
        text.clear();
        let width = usize::from(inner.width);
        line(&mut text, row, total, status, (width >= WIDE).then_some(s.zone));
        // Pad so the selection bar spans the pane.
        let _ = write!(text, "{:w$}", "", w = width.saturating_sub(text.chars().count()));
        buf.set_stringn(inner.x, y, &text, width, st);
    }
}

/// First row on screen: unchanged if the selection is visible, else just enough to show it.
fn scroll(offset: usize, selected: Option<usize>, height: usize, shown: usize) -> usize {
    let max = shown.saturating_sub(height);
    let offset = offset.min(max);
    match selected {
        Some(sel) if sel < offset => sel,
        Some(sel) if sel >= offset + height => sel + 1 - height,
        _ => offset,
    }
}

/// Panes at least this wide show the time of each exchange.
const WIDE: usize = 100;

/// `    1 20:47:20.721234 icmp  5/5 ✓    58.0µs  echo 172.18.0.2 > 172.18.0.3 id 1 seq 1`
/// (the time of day on the clock of `time`, none without).
fn line(out: &mut String, row: &Row, total: usize, status: style::Status, time: Option<Zone>) {
    let ex = &row.exchange;
    let reached = ex.request.journey.hops.len();
    let rtt = ex.rtt_ns.map_or_else(|| "-".to_owned(), duration);
    let _ = write!(out, "{:>6} ", row.n + 1);
    if let Some(zone) = time {
        let _ = write!(out, "{} ", zone.time_of_day_us(ex.request.journey.first_t()));
    }
    let _ = write!(
        out,
        "{:<5} {:>5} {} {:>8}  {}",
        style::kind_label(ex.kind),
        format!("{reached}/{}", total.max(reached)),
        style::mark(status),
        rtt,
        ex.summary()
    );
}

#[cfg(test)]
mod tests {
    use super::scroll;

    #[test]
    fn the_selection_stays_in_view() {
        assert_eq!(scroll(0, Some(3), 5, 100), 0);
        assert_eq!(scroll(0, Some(7), 5, 100), 3);
        assert_eq!(scroll(50, Some(10), 5, 100), 10);
        assert_eq!(scroll(99, Some(99), 5, 100), 95);
        assert_eq!(scroll(0, None, 5, 3), 0);
    }
}
