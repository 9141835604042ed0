//! The path pane: the capture points in path order drawn as the classic diagram
//!
//! ```text
//! nginx-1           host                                    nginx-2
//! eth0 172.18.0.2 ══ veth4d1c130 ─ [docker0] ─ vetha9356e9 ══ eth0 172.18.0.3
//! ```
//!
//! `══` joins points in different namespaces (a veth pair), `─` points of one namespace (bridge
//! ports). Built from point ids and roles alone (what captures tell); draws, changes nothing.

use crate::core::path::Role;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::widgets::{Block, Widget};

use crate::report::trace::PointRow;
use crate::tui::state::TuiState;
use crate::tui::style::{border, dim, title};

/// Lines the pane takes (with its border).
pub const HEIGHT: u16 = 5;

pub fn render(s: &TuiState, area: Rect, buf: &mut Buffer) {
    let block =
        Block::bordered().title(" path ").title_style(title(false)).border_style(border(false));
    let inner = block.inner(area);
    block.render(area, buf);
    if s.order.is_empty() {
        buf.set_stringn(inner.x, inner.y, "no capture points yet", usize::from(inner.width), dim());
        return;
    }
    let last = s.order.len() - 1;
    let right = inner.right();
    let mut x = inner.x;
    let mut prev_ns: Option<&str> = None;
    for (pos, p) in s.order.iter().enumerate() {
        let Some(row) = s.points.get(p.index()) else { continue };
        let ns = row.netns.as_deref().unwrap_or("");
        if pos > 0 {
            let joint = if prev_ns == Some(ns) { " ─ " } else { " ══ " };
            x = put(buf, x, inner.y + 1, right, joint, dim());
        }
        if prev_ns != Some(ns) {
            put(buf, x, inner.y, right, ns, Style::new().fg(Color::Magenta));
        }
        let (name, style) = label(row, pos == 0 || pos == last);
        let start = x;
        x = put(buf, x, inner.y + 1, right, &name, style);
        let addr = match pos {
            0 => s.ends.src_ip.map(|ip| (ip, s.ends.src_mac)),
            p if p == last => s.ends.dst_ip.map(|ip| (ip, s.ends.dst_mac)),
            _ => None,
        };
        if let Some((ip, mac)) = addr {
            x = put(buf, x, inner.y + 1, right, &format!(" {ip}"), Style::new());
            if let Some(mac) = mac {
                put(buf, start, inner.y + 2, right, &mac.to_string(), dim());
            }
        }
        prev_ns = Some(ns);
    }
}

/// The interface name, bracketed for a bridge, bold for the ends of the path.
fn label(row: &PointRow, end: bool) -> (String, Style) {
    match row.role.unwrap_or_else(|| Role::guess(&row.ifname, end)) {
        Role::Bridge => (format!("[{}]", row.ifname), Style::new().fg(Color::Cyan)),
        Role::Endpoint => (row.ifname.clone(), Style::new().add_modifier(Modifier::BOLD)),
        _ => (row.ifname.clone(), Style::new()),
    }
}

/// Write `text` at `x` (clipped at `right`); the column after it.
fn put(buf: &mut Buffer, x: u16, y: u16, right: u16, text: &str, style: Style) -> u16 {
    if x >= right {
        return x;
    }
    let (end, _) = buf.set_stringn(x, y, text, usize::from(right - x), style);
    end
}
