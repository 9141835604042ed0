//! The ladder of the selected exchange: one column per capture point in path order, the request
//! drawn one way and the reply the other, each segment with the time the packet took over it,
//! and `✗` with the cause on the segment where a journey stopped. Netfilter decisions sit under
//! the hop they happened at (`nf✓` accepted, `nf✗` dropped; without a known hop, the first hop in
//! the namespace for an accept, the last for a drop), and the kernel's drop reason follows the
//! cause.
//!
//! A TCP connect is drawn `SYN` then its answer, `SYN-ACK` or `RST` (or the ICMP error that
//! answered it, `ICMP`; the same for a UDP probe), the answer's first hop marked `◆`: where it
//! was born. A line under the legs names that point and what it says: the target's own point
//! refused (`port-closed`) or one on the way did (`reset`).
//!
//! ```text
//!          nginx-1/eth0   host/veth4d1c130   host/docker0   host/vetha9356e9   nginx-2/eth0
//! SYN           ●───────────────▶●────────────────▶●────────────────▶●───────────────▶●
//!                   +7.9µs             +0ns            +20.1µs           +4.6µs
//! RST           ●◀───────────────●◀────────────────●◀────────────────●◀───────────────◆
//!                   +1.1µs             +3.7µs           +0ns             +3.5µs
//! ◆ RST born at nginx-2/eth0 (the target's point): port-closed
//! ```
//!
//! ```text
//!          nginx-1/eth0   host/veth4d1c130   host/docker0   host/vetha9356e9   nginx-2/eth0
//! request       ●───────────────▶●────────────────▶●──────────✗────────·                ·
//!                   +7.9µs             +0ns       nf✗  ✗ netfilter-drop NETFILTER_DROP
//! ```
//!
//! Draws from the state; changes nothing.

use std::fmt::Write as _;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::widgets::{Block, Widget};

use crate::core::exchange::{Exchange, ExchangeKind, Leg};
use crate::core::netfilter::NfNote;
use crate::core::verdict::{Cause, Segment};
use crate::report::text::duration;
use crate::tui::legs::{Birth, birth, icmp_name, legs};
use crate::tui::state::{Pane, TuiState};
use crate::tui::style::{border, dim, title};

/// Lines the pane takes with its border: point ids, then two lines per leg (request, reply).
pub const HEIGHT: u16 = 7;

/// Lines the pane takes: [`HEIGHT`], and one more under the legs once the trace holds TCP
/// connects, saying where the selected connect's answer was born.
pub fn height(s: &TuiState) -> u16 {
    HEIGHT + u16::from(s.stats.connects > 0)
}

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
    let legs = legs(ex);
    let birth = birth(ex, s.verdict.as_ref());
    let mut y = inner.y + 1;
    let (request_name, request) = legs.request;
    let request_hops = request.journey.hops.len();
    let green = Color::Green;
    let plain =
        |name, leg, hop| LegView { name, leg, selected_hop: hop, color: green, born: false };
    draw_leg(s, &cols, inner, buf, y, &plain(request_name, request, s.hop), ex);
    y += 2;
    match legs.answer {
        Some((name, answer)) => {
            let hop = s.hop.checked_sub(request_hops).unwrap_or(usize::MAX);
            let refused = birth.is_some_and(|b| b.refused);
            let color = if refused { Color::Red } else { green };
            let view =
                LegView { name, leg: answer, selected_hop: hop, color, born: birth.is_some() };
            draw_leg(s, &cols, inner, buf, y, &view, ex);
        }
        None if ex.expects_reply && !request.complete() => {
            let text = format!("reply   (none: the {request_name} was lost)");
            put(buf, inner, inner.x, y, &text, dim());
        }
        None if ex.expects_reply => {
            put(buf, inner, inner.x, y, "reply", dim());
            let at = request.journey.last().and_then(|h| s.position(h.point)).unwrap_or(0);
            let nf_dropped =
                request.netfilter.iter().any(|n| n.decision().is_some_and(|d| d.verdict == "drop"));
            let cause = match ex.kind {
                _ if nf_dropped => Cause::NetfilterDrop,
                ExchangeKind::Arp | ExchangeKind::Ndp => Cause::NoArpReply,
                _ => Cause::NoReply,
            };
            let text = match kernel_reason(request) {
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
    if let (Some(b), Some((name, answer))) = (birth, legs.answer) {
        if y < inner.bottom() {
            let text = birth_note(s, b, name, answer);
            let color = if b.refused { Color::Red } else { green };
            put(buf, inner, inner.x, y, &text, Style::new().fg(color));
            y += 1;
        }
    }
    for err in legs.errors {
        if y + 1 >= inner.bottom() {
            break;
        }
        draw_leg(s, &cols, inner, buf, y, &plain("error", err, usize::MAX), ex);
        y += 2;
    }
}

/// `◆ RST born at nginx-2/eth0 (the target's point): port-closed`, `◆ ICMP port unreachable from
/// 172.18.0.1 born at host/docker0 (on the way)`, `◆ SYN-ACK born at nginx-2/eth0 (the target's
/// point)`.
fn birth_note(s: &TuiState, b: Birth, name: &str, answer: &Leg) -> String {
    let mut text = format!("{BORN} {name}");
    let p = &answer.journey.packet;
    let icmp =
        p.icmp.map(|i| (false, i.ty, i.code)).or_else(|| p.icmpv6.map(|i| (true, i.ty, i.code)));
    if let Some((v6, ty, code)) = icmp {
        let _ = match icmp_name(v6, ty, code) {
            Some(what) => write!(text, " {what}"),
            None => write!(text, " type {ty} code {code}"),
        };
        if let Some(ip) = p.ip {
            let _ = write!(text, " from {}", ip.src);
        }
    }
    let place = if b.at_target { "the target's point" } else { "on the way" };
    let _ = write!(text, " born at {} ({place})", s.point_id(b.at));
    if let Some(cause) = b.cause {
        let _ = write!(text, ": {}", cause.as_str());
    }
    text
}

/// The mark of the hop where a connect's (or UDP probe's) answer was born.
const BORN: &str = "◆";

/// A leg to draw: its name, the hop the cursor is on (`usize::MAX`: none), its colour, and
/// whether its first hop is marked as where it was born.
struct LegView<'a> {
    name: &'a str,
    leg: &'a Leg,
    selected_hop: usize,
    color: Color,
    born: bool,
}

/// One leg on line `y` (marks and segments) and `y + 1` (times and the cause of a loss).
fn draw_leg(
    s: &TuiState,
    cols: &Columns,
    inner: Rect,
    buf: &mut Buffer,
    y: u16,
    view: &LegView<'_>,
    ex: &Exchange,
) {
    if y >= inner.bottom() {
        return;
    }
    let leg = view.leg;
    put(buf, inner, inner.x, y, view.name, Style::new().add_modifier(Modifier::BOLD));
    for pos in 0..cols.n {
        put(buf, inner, cols.center(pos), y, "·", dim());
    }
    let line = Style::new().fg(view.color);
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
        let mut st = Style::new().fg(view.color).add_modifier(Modifier::BOLD);
        if i == view.selected_hop {
            st = st.fg(Color::Yellow).add_modifier(Modifier::REVERSED);
        }
        let mark = if i == 0 && view.born { BORN } else { "●" };
        put(buf, inner, cols.center(pos), y, mark, st);
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
    // A request that stopped where a reset or ICMP error answering it was born: refused there.
    let request = std::ptr::eq(leg, &ex.request);
    let refused_here =
        birth(ex, s.verdict.as_ref()).filter(|b| request && b.refused && Some(b.at) == seg.after);
    let cause = match (refused_here, &s.verdict, ex.kind) {
        (Some(b), _, _) => b.cause.map_or("refused", Cause::as_str),
        (None, Some(v), _) if v.segment == Some(seg) => v.cause.as_str(),
        (None, _, ExchangeKind::Arp | ExchangeKind::Ndp) => Cause::NoArpReply.as_str(),
        _ => Cause::Unknown.as_str(),
    };
    let text = match reason {
        Some(reason) => format!("✗ {cause} {reason}"),
        None => format!("✗ {cause}"),
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
    use crate::core::exchange::Loss;
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
        let hops = (0..n_hops).map(|i| Hop::new(PointIdx(i), u64::from(i) * 1000, 1));
        let drop = DropEvent {
            t_ns: 5000,
            protocol: 0x0800,
            location: "nft_do_chain+0x3e8".into(),
            reason: "NETFILTER_DROP".into(),
        };
        let request = Leg {
            journey: Journey::new(Box::default(), hops.collect()),
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
