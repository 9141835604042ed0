//! The ladder of the selected exchange: one column per capture point in path order, the request
//! drawn one way and the reply the other, each segment with the time the packet took over it,
//! and `✗` with the cause on the segment where a journey stopped. Netfilter decisions sit under
//! the hop they happened at (`nf✓` accepted, `nf✗` dropped; without a known hop, the first hop in
//! the namespace for an accept, the last for a drop), and the kernel's drop reason follows the
//! cause.
//!
//! ```text
//!          nginx-1/eth0   host/veth4d1c130   host/docker0   host/vetha9356e9   nginx-2/eth0
//! request       ●───────────────▶●────────────────▶●──────────✗────────·                ·
//!                   +7.9µs             +0ns       nf✗  ✗ netfilter-drop NETFILTER_DROP
//! ```
//!
//! Draws from the state; changes nothing.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::widgets::{Block, Widget};

use crate::core::exchange::{Exchange, Leg};
use crate::core::netfilter::NfNote;
use crate::core::verdict::{Cause, Segment};
use crate::report::text::duration;
use crate::tui::state::{Pane, TuiState};
use crate::tui::style::{border, dim, title};

/// Lines the pane takes with its border: point ids, then two lines per leg (request, reply).
pub const HEIGHT: u16 = 7;

/// Width of the leg names on the left.
const GUTTER: u16 = 8;

/// Columns of the points along the path.
struct Columns {
    x0: u16,
    width: u16,
    n: usize,
}

impl Columns {
    /// Centre of the column at path position `pos`.
    fn center(&self, pos: usize) -> u16 {
        let pos = u16::try_from(pos).unwrap_or(u16::MAX);
        self.x0.saturating_add(pos.saturating_mul(self.width)).saturating_add(self.width / 2)
    }
}

pub fn render(s: &TuiState, area: Rect, buf: &mut Buffer) {
    let focused = s.pane == Pane::Ladder;
    let block = Block::bordered()
        .title(" ladder ")
        .title_style(title(focused))
        .border_style(border(focused));
    let inner = block.inner(area);
    block.render(area, buf);
    let n = s.order.len();
    if n == 0 || inner.height == 0 || inner.width <= GUTTER {
        return;
    }
    let width = (inner.width - GUTTER) / u16::try_from(n).unwrap_or(u16::MAX).max(1);
    let cols = Columns { x0: inner.x + GUTTER, width: width.max(1), n };
    for (pos, p) in s.order.iter().enumerate() {
        let id = s.point_id(*p);
        let max = usize::from(cols.width.saturating_sub(1)).max(1);
        let shown = fit(id, max);
        let len = u16::try_from(shown.chars().count()).unwrap_or(0);
        let x = cols.center(pos).saturating_sub(len / 2).max(inner.x + GUTTER);
        buf.set_stringn(x, inner.y, &shown, max, Style::new().add_modifier(Modifier::BOLD));
    }
    let Some(row) = s.selected_row() else {
        put(buf, inner, inner.x, inner.y + 1, "select an exchange (↑/↓)", dim());
        return;
    };
    let ex = &row.exchange;
    let mut y = inner.y + 1;
    let request_hops = ex.request.journey.hops.len();
    draw_leg(s, &cols, inner, buf, y, "request", &ex.request, ex, s.hop);
    y += 2;
    match &ex.reply {
        Some(reply) => {
            let hop = s.hop.checked_sub(request_hops).unwrap_or(usize::MAX);
            draw_leg(s, &cols, inner, buf, y, "reply", reply, ex, hop);
        }
        None if ex.expects_reply && !ex.request.complete() => {
            put(buf, inner, inner.x, y, "reply   (none: the request was lost)", dim());
        }
        None if ex.expects_reply => {
            put(buf, inner, inner.x, y, "reply", dim());
            let at = ex.request.journey.last().and_then(|h| s.position(h.point)).unwrap_or(0);
            let nf_dropped = ex
                .request
                .netfilter
                .iter()
                .any(|n| n.decision().is_some_and(|d| d.verdict == "drop"));
            let cause = match () {
                _ if nf_dropped => Cause::NetfilterDrop,
                _ if ex.kind.is_echo() => Cause::NoReply,
                _ => Cause::NoArpReply,
            };
            let text = match kernel_reason(&ex.request) {
                Some(reason) => format!("✗ {} {reason}", cause.as_str()),
                None => format!("✗ {}", cause.as_str()),
            };
            let red = Style::new().fg(Color::Red).add_modifier(Modifier::BOLD);
            let x = left_of_edge(inner, cols.center(at).saturating_sub(1), &text);
            put(buf, inner, x, y, &text, red);
        }
        None => put(buf, inner, inner.x, y, "reply   (none expected)", dim()),
    }
    y += 2;
    for err in &ex.errors {
        if y + 1 >= inner.bottom() {
            break;
        }
        draw_leg(s, &cols, inner, buf, y, "error", err, ex, usize::MAX);
        y += 2;
    }
}

/// One leg on line `y` (marks and segments) and `y + 1` (times and the cause of a loss).
#[allow(clippy::too_many_arguments)]
fn draw_leg(
    s: &TuiState,
    cols: &Columns,
    inner: Rect,
    buf: &mut Buffer,
    y: u16,
    name: &str,
    leg: &Leg,
    ex: &Exchange,
    selected_hop: usize,
) {
    if y >= inner.bottom() {
        return;
    }
    put(buf, inner, inner.x, y, name, Style::new().add_modifier(Modifier::BOLD));
    for pos in 0..cols.n {
        put(buf, inner, cols.center(pos), y, "·", dim());
    }
    let line = Style::new().fg(Color::Green);
    let hops = &leg.journey.hops;
    let mut prev: Option<(usize, u64)> = None;
    for hop in hops {
        let Some(pos) = s.position(hop.point) else { continue };
        if let Some((from, t)) = prev {
            segment(cols, inner, buf, y, from, pos, "─", line);
            let label = format!("+{}", duration(hop.t_ns.saturating_sub(t)));
            let mid = mid(cols, from, pos, &label);
            put(buf, inner, mid, y + 1, &label, dim());
        }
        prev = Some((pos, hop.t_ns));
    }
    netfilter_tags(s, cols, inner, buf, y + 1, leg);
    for (i, hop) in hops.iter().enumerate() {
        let Some(pos) = s.position(hop.point) else { continue };
        let mut st = Style::new().fg(Color::Green).add_modifier(Modifier::BOLD);
        if i == selected_hop {
            st = st.fg(Color::Yellow).add_modifier(Modifier::REVERSED);
        }
        put(buf, inner, cols.center(pos), y, "●", st);
    }
    if leg.lost.is_some() {
        lost(s, cols, inner, buf, y, ex, leg);
    }
}

/// `nf✓`/`nf✗` under the hop of each namespace where netfilter accepted or dropped the packet.
fn netfilter_tags(s: &TuiState, cols: &Columns, inner: Rect, buf: &mut Buffer, y: u16, leg: &Leg) {
    let hops = &leg.journey.hops;
    let ns_of = |h: &crate::core::journey::Hop| {
        let id = s.point_id(h.point);
        crate::core::point::PointId::split(id).0.unwrap_or(id)
    };
    let mut tags: Vec<(usize, bool)> = Vec::new();
    for d in leg.netfilter.iter().filter_map(NfNote::decision) {
        let dropped = d.verdict == "drop";
        if !dropped && d.verdict != "accept" {
            continue;
        }
        let mut in_ns = hops.iter().filter(|h| ns_of(h) == d.netns);
        let guess = if dropped { in_ns.next_back() } else { in_ns.next() };
        let hop = d.hop.and_then(|i| hops.get(i)).or(guess);
        let Some(pos) = hop.and_then(|h| s.position(h.point)) else { continue };
        match tags.iter_mut().find(|(p, _)| *p == pos) {
            Some(t) => t.1 |= dropped,
            None => tags.push((pos, dropped)),
        }
    }
    for (pos, dropped) in tags {
        let (text, color) = if dropped { ("nf✗", Color::Red) } else { ("nf✓", Color::Green) };
        put(buf, inner, cols.center(pos).saturating_sub(1), y, text, Style::new().fg(color));
    }
}

/// The kernel's reason for dropping the leg's packet, when one was attributed to it.
fn kernel_reason(leg: &Leg) -> Option<&str> {
    let mut drops = leg.netfilter.iter().filter_map(NfNote::kernel_drop);
    let first = drops.clone().next();
    drops.find(|d| d.reason != "NOT_SPECIFIED").or(first).map(|d| d.reason.as_str())
}

/// `✗` on the segment where the leg stopped, the cause (and the kernel's reason) below it.
fn lost(
    s: &TuiState,
    cols: &Columns,
    inner: Rect,
    buf: &mut Buffer,
    y: u16,
    ex: &Exchange,
    leg: &Leg,
) {
    let Some(seg) = leg.lost.map(Segment::from) else { return };
    let reason = kernel_reason(leg);
    let red = Style::new().fg(Color::Red).add_modifier(Modifier::BOLD);
    let pos = |p: Option<crate::core::line::PointIdx>| p.and_then(|p| s.position(p));
    let x = match (pos(seg.after), pos(seg.before)) {
        (Some(a), Some(b)) => {
            segment(cols, inner, buf, y, a, b, "╌", Style::new().fg(Color::Red));
            mid(cols, a, b, "✗")
        }
        (None, Some(b)) => cols.center(b).saturating_sub(2),
        (Some(a), None) => cols.center(a).saturating_add(2),
        (None, None) => return,
    };
    put(buf, inner, x, y, "✗", red);
    let cause = match &s.verdict {
        Some(v) if v.segment == Some(seg) => v.cause,
        _ if ex.kind.is_echo() => Cause::Unknown,
        _ => Cause::NoArpReply,
    };
    let text = match reason {
        Some(reason) => format!("✗ {} {reason}", cause.as_str()),
        None => format!("✗ {}", cause.as_str()),
    };
    put(buf, inner, left_of_edge(inner, x, &text), y + 1, &text, red);
}

/// A line between the columns at positions `from` and `to`, arrow head at `to`.
#[allow(clippy::too_many_arguments)]
fn segment(
    cols: &Columns,
    inner: Rect,
    buf: &mut Buffer,
    y: u16,
    from: usize,
    to: usize,
    fill: &str,
    st: Style,
) {
    let (a, b) = (cols.center(from), cols.center(to));
    let (lo, hi) = (a.min(b), a.max(b));
    for x in lo.saturating_add(1)..hi {
        put(buf, inner, x, y, fill, st);
    }
    if hi > lo + 1 && fill == "─" {
        let (x, head) = if b > a { (b - 1, "▶") } else { (b + 1, "◀") };
        put(buf, inner, x, y, head, st);
    }
}

/// Where to start `label` so it is centred between two columns.
fn mid(cols: &Columns, from: usize, to: usize, label: &str) -> u16 {
    let (a, b) = (cols.center(from), cols.center(to));
    let m = a.min(b) + (a.max(b) - a.min(b)) / 2;
    let len = u16::try_from(label.chars().count()).unwrap_or(0);
    m.saturating_sub(len / 2)
}

/// `text` cut to `max` characters, with `…` when cut.
fn fit(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut s: String = text.chars().take(max.saturating_sub(1)).collect();
    s.push('…');
    s
}

/// `x`, moved left as far as needed (not past the leg names) for `text` to end inside `inner`.
fn left_of_edge(inner: Rect, x: u16, text: &str) -> u16 {
    let len = u16::try_from(text.chars().count()).unwrap_or(u16::MAX);
    x.min(inner.right().saturating_sub(len)).max(inner.x + GUTTER)
}

/// Write inside `inner` only.
fn put(buf: &mut Buffer, inner: Rect, x: u16, y: u16, text: &str, st: Style) {
    if y < inner.top() || y >= inner.bottom() || x < inner.left() || x >= inner.right() {
        return;
    }
    buf.set_stringn(x, y, text, usize::from(inner.right() - x), st);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::exchange::{ExchangeKind, Loss};
    use crate::core::journey::{Hop, Journey};
    use crate::core::line::PointIdx;
    use crate::core::netfilter::{DropEvent, NfDecision};
    use crate::report::trace::PointRow;

    fn note(ns: &str, chain: &str, verdict: &str) -> NfNote {
        NfNote::Decision(NfDecision {
            netns: ns.into(),
            family: "ip".into(),
            table: "filter".into(),
            chain: chain.into(),
            rule: "policy".into(),
            verdict: verdict.into(),
            hop: None,
        })
    }

    /// The rows of the ladder pane drawn at 80×7 for a request seen at `n_hops` points, accepted
    /// in n1 and dropped in the host, with the kernel's reason.
    fn drawn(lost: Option<Loss>, n_hops: u16) -> Vec<String> {
        let mut s = TuiState::new("test", 10);
        for id in ["n1/eth0", "host/va", "host/br0", "host/vb", "n2/eth0"] {
            s.push_point(PointRow::new(id, None));
        }
        let hops =
            (0..n_hops).map(|i| Hop { point: PointIdx(i), t_ns: u64::from(i) * 1000, frame: 1 });
        let drop = DropEvent {
            t_ns: 5000,
            protocol: 0x0800,
            location: "nft_do_chain+0x3e8".into(),
            reason: "NETFILTER_DROP".into(),
        };
        let request = Leg {
            journey: Journey { packet: Box::default(), hops: hops.collect(), direction: None },
            lost,
            netfilter: vec![
                note("n1", "OUTPUT", "accept"),
                note("host", "FORWARD", "drop"),
                NfNote::KernelDrop(drop),
            ],
        };
        s.push_exchange(&Exchange {
            kind: ExchangeKind::IcmpEcho,
            request,
            reply: None,
            errors: Vec::new(),
            rtt_ns: None,
            expects_reply: true,
            probe: false,
        });
        let area = Rect::new(0, 0, 80, HEIGHT);
        let mut buf = Buffer::empty(area);
        render(&s, area, &mut buf);
        (0..area.height)
            .map(|y| (0..area.width).map(|x| buf[(x, y)].symbol().to_owned()).collect::<String>())
            .collect()
    }

    #[test]
    fn netfilter_verdicts_and_the_kernel_reason_sit_on_their_hops() {
        let rows = drawn(Some(Loss { after: Some(PointIdx(2)), before: Some(PointIdx(3)) }), 3);
        let times = &rows[3];
        // Columns of 14 cells from x=9: centres at 16, 30, 44…; a tag starts one cell left.
        assert_eq!(times.find("nf✓").map(|b| times[..b].chars().count()), Some(15), "{rows:#?}");
        assert_eq!(times.find("nf✗").map(|b| times[..b].chars().count()), Some(43), "{rows:#?}");
        assert!(times.contains("✗ unknown NETFILTER_DROP"), "{rows:#?}");
        // Unanswered at the end of the line: the reply row names the netfilter drop and reason,
        // moved left to fit before the right edge.
        let rows = drawn(None, 5);
        assert!(rows[4].contains("✗ netfilter-drop NETFILTER_DROP│"), "{rows:#?}");
    }

    #[test]
    fn long_ids_are_cut_with_an_ellipsis() {
        assert_eq!(fit("host/veth4d1c130", 16), "host/veth4d1c130");
        assert_eq!(fit("host/veth4d1c130", 10), "host/veth…");
    }
}
