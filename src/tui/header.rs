//! The header: what is traced (command, both ends with IP and MAC), echo counts (connects
//! answered, refused and unanswered when the trace holds TCP connects), RTTs, capture drops, and
//! the verdict once there is one. Draws from the state only.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget};

use crate::report::text::duration;
use crate::tui::state::{Ends, TuiState};
use crate::tui::style::dim;

/// Lines the header takes.
pub const HEIGHT: u16 = 3;

pub fn render(s: &TuiState, area: Rect, buf: &mut Buffer) {
    let bold = Style::new().add_modifier(Modifier::BOLD);
    let mut first = vec![Span::styled(format!(" vtrace {}", s.command), bold)];
    if let Some(ends) = ends(&s.ends) {
        first.push(Span::raw("   "));
        first.push(Span::raw(ends));
    }
    let st = &s.stats;
    let rtt = match (st.rtt_min, st.rtt_avg(), st.rtt_max) {
        (Some(min), Some(avg), Some(max)) => {
            format!("{}/{}/{}", duration(min), duration(avg), duration(max))
        }
        _ => "-".to_owned(),
    };
    let drops: u64 = s.points.iter().map(|p| p.kernel_drops).sum();
    let drop_style = if drops > 0 { Style::new().fg(Color::Red) } else { Style::new() };
    let mut second = Vec::new();
    if st.connects > 0 {
        let count = |n: u64, color: Color| {
            let style = if n > 0 { Style::new().fg(color) } else { Style::new() };
            Span::styled(n.to_string(), style)
        };
        second.extend([
            Span::styled(" connects ", dim()),
            Span::raw(format!("{}/{} answered, ", st.connects_answered, st.connects)),
            count(st.connects_refused, Color::Red),
            Span::raw(" refused, "),
            count(st.connects_unanswered, Color::Yellow),
            Span::raw(" unanswered"),
        ]);
    }
    if st.echoes > 0 || st.connects == 0 {
        second.extend([
            Span::styled(if second.is_empty() { " echoes " } else { "   echoes " }, dim()),
            Span::raw(format!("{}/{} answered", st.answered, st.echoes)),
        ]);
    }
    second.extend([
        Span::styled("   rtt min/avg/max ", dim()),
        Span::raw(rtt),
        Span::styled("   capture drops ", dim()),
        Span::styled(drops.to_string(), drop_style),
        Span::styled("   exchanges ", dim()),
        Span::raw(st.exchanges.to_string()),
    ]);
    let third = match &s.verdict {
        None => Line::from(Span::styled(" tracing…", dim())),
        Some(v) => {
            let (head, color) = match v.cause {
                _ if !v.lost() && v.probed => ("reachable".to_owned(), Color::Green),
                _ if !v.lost() => ("ok".to_owned(), Color::Green),
                cause if !v.probed => (format!("lost ({})", cause.as_str()), Color::Red),
                cause if v.reachable => {
                    (format!("partly reachable ({})", cause.as_str()), Color::Yellow)
                }
                cause => (format!("NOT reachable ({})", cause.as_str()), Color::Red),
            };
            Line::from(vec![
                Span::styled(" verdict ", dim()),
                Span::styled(head, Style::new().fg(color).add_modifier(Modifier::BOLD)),
                Span::raw(format!(" — {}", v.summary)),
            ])
        }
    };
    Paragraph::new(vec![Line::from(first), Line::from(second), third]).render(area, buf);
}

/// `172.18.0.2 (02:42:ac:12:00:02) → 172.18.0.3 (02:42:ac:12:00:03)`.
fn ends(e: &Ends) -> Option<String> {
    let one = |ip: Option<std::net::IpAddr>, mac: Option<crate::core::packet::Mac>| match (ip, mac)
    {
        (Some(ip), Some(mac)) => format!("{ip} ({mac})"),
        (Some(ip), None) => ip.to_string(),
        (None, Some(mac)) => mac.to_string(),
        (None, None) => "?".to_owned(),
    };
    (e.src_ip.is_some() || e.dst_ip.is_some())
        .then(|| format!("{} → {}", one(e.src_ip, e.src_mac), one(e.dst_ip, e.dst_mac)))
}
