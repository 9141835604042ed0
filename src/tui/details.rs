//! The details pane: the decoded headers of the selected exchange's packet at the selected hop
//! (point, time, frame), for TCP and UDP exchanges each leg's transport header (flags, sequence
//! and acknowledgement numbers, window, MSS; or what the ICMP error that answered says), where
//! its journeys were lost, and the netfilter decisions traced on them. Draws from the state;
//! changes nothing.

use std::fmt::Write as _;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Block, Paragraph, Widget, Wrap};

use crate::core::exchange::{Exchange, ExchangeKind, Leg};
use crate::core::netfilter::NfNote;
use crate::core::packet::{Packet, Ports};
use crate::report::text::duration;
use crate::tui::legs::{Legs, icmp_name, legs};
use crate::tui::state::{Pane, TuiState};
use crate::tui::style::{border, title};

pub fn render(s: &TuiState, area: Rect, buf: &mut Buffer) {
    let focused = s.pane == Pane::Details;
    let block = Block::bordered()
        .title(" details ")
        .title_style(title(focused))
        .border_style(border(focused));
    let text = match s.selected_row() {
        Some(row) => lines(s, &row.exchange),
        None => vec!["no exchange selected".to_owned()],
    };
    Paragraph::new(text.into_iter().map(Line::from).collect::<Vec<_>>())
        .wrap(Wrap { trim: false })
        .block(block)
        .render(area, buf);
}

/// The leg and hop the hop cursor points at (request hops first, then the answer's), and the
/// leg's name.
fn at_hop<'a>(legs: &Legs<'a>, hop: usize) -> (&'static str, &'a Leg, usize) {
    let (name, request) = legs.request;
    let n = request.journey.hops.len();
    match legs.answer {
        Some((name, answer)) if hop >= n => (name, answer, hop - n),
        _ => (name, request, hop.min(n.saturating_sub(1))),
    }
}

fn lines(s: &TuiState, ex: &Exchange) -> Vec<String> {
    let mut out = vec![ex.summary().to_string()];
    let legs = legs(ex);
    let (which, leg, i) = at_hop(&legs, s.hop);
    let hops = &leg.journey.hops;
    if let Some(h) = hops.get(i) {
        let mut l = format!("hop   {which} {}/{} {}", i + 1, hops.len(), s.point_id(h.point));
        if let Some(prev) = i.checked_sub(1).and_then(|p| hops.get(p)) {
            let _ = write!(l, " +{}", duration(h.t_ns.saturating_sub(prev.t_ns)));
        }
        out.push(l);
        out.push(format!("time  {} frame {}", s.zone.time_of_day(h.t_ns), h.frame));
    }
    headers(&mut out, &leg.journey.packet);
    if matches!(ex.kind, ExchangeKind::TcpConnect | ExchangeKind::Tcp | ExchangeKind::Udp) {
        let errors = legs.errors.iter().map(|l| ("ICMP", l));
        for (name, leg) in std::iter::once(legs.request).chain(legs.answer).chain(errors) {
            transport(&mut out, name, &leg.journey.packet);
        }
    }
    if let Some(rtt) = ex.rtt_ns {
        out.push(format!("rtt   {}", duration(rtt)));
    }
    for (name, leg) in std::iter::once(legs.request).chain(legs.answer) {
        if let Some(loss) = leg.lost {
            let id = |p: Option<_>| p.map_or("(none)", |p| s.point_id(p));
            out.push(format!("lost  {name} after {} before {}", id(loss.after), id(loss.before)));
        }
        for n in &leg.netfilter {
            out.push(match n {
                NfNote::Decision(n) => format!(
                    "nf    {name} in {}: {} {} {} {} → {}",
                    n.netns, n.family, n.table, n.chain, n.rule, n.verdict
                ),
                NfNote::KernelDrop(d) => format!("drop  {name}: {}", d.describe()),
            });
        }
    }
    out
}

/// One line for a leg of a TCP or UDP exchange: TCP flags in tcpdump's letters, sequence and
/// acknowledgement numbers (the acknowledgement only with ACK, as tcpdump), window and MSS
/// (`tcp   SYN-ACK [S.] seq 3078856592 ack 797190860 win 8192 mss 1440`); a datagram's length;
/// what an ICMP error says and who sent it.
fn transport(out: &mut Vec<String>, name: &str, p: &Packet) {
    if let Some(t) = p.ports {
        let mut l = match t.proto {
            Ports::TCP => format!("tcp   {name:<7} [{}]", t.flag_letters()),
            _ => format!("udp   {name:<7} {} > {}", t.src, t.dst),
        };
        if let Some(tcp) = t.tcp {
            let _ = write!(l, " seq {}", tcp.seq);
            if t.flags & Ports::ACK != 0 {
                let _ = write!(l, " ack {}", tcp.ack);
            }
            let _ = write!(l, " win {}", tcp.win);
            if let Some(mss) = tcp.mss() {
                let _ = write!(l, " mss {mss}");
            }
        }
        if t.payload_len > 0 || t.proto != Ports::TCP {
            let _ = write!(l, " length {}", t.payload_len);
        }
        out.push(l);
        return;
    }
    let icmp =
        p.icmp.map(|i| (false, i.ty, i.code)).or_else(|| p.icmpv6.map(|i| (true, i.ty, i.code)));
    if let Some((v6, ty, code)) = icmp {
        let what = icmp_name(v6, ty, code).map_or_else(
            || format!("type {ty} code {code}"),
            |n| format!("{n} (type {ty} code {code})"),
        );
        let from = p.ip.map_or_else(|| "?".to_owned(), |ip| ip.src.to_string());
        out.push(format!("icmp  {name:<7} {what} from {from}"));
    }
}

fn headers(out: &mut Vec<String>, p: &Packet) {
    if let Some(eth) = p.eth {
        out.push(format!("eth   {} > {}", eth.src, eth.dst));
    }
    if let Some(arp) = p.arp {
        let ip =
            |a: Option<std::net::Ipv4Addr>| a.map_or_else(|| "?".to_owned(), |a| a.to_string());
        out.push(format!(
            "arp   op {} sender {} {} target {} {}",
            arp.op,
            arp.sha,
            ip(arp.spa),
            arp.tha,
            ip(arp.tpa)
        ));
    }
    if let Some(ip) = p.ip {
        let mut l = format!("ip    {} > {}", ip.src, ip.dst);
        if let Some(id) = ip.id {
            let _ = write!(l, " id {id:#06x}");
        }
        let _ = write!(l, " ttl {} len {}", ip.ttl, ip.total_len);
        if ip.dont_fragment {
            l.push_str(" DF");
        }
        out.push(l);
    }
    if let Some(icmp) = p.icmp {
        let mut l = format!("icmp  type {} code {}", icmp.ty, icmp.code);
        if let Some(e) = icmp.echo {
            let _ = write!(l, " id {} seq {}", e.id, e.seq);
        }
        out.push(l);
    }
    if let Some(icmp) = p.icmpv6 {
        let mut l = format!("icmp6 type {} code {}", icmp.ty, icmp.code);
        if let Some(e) = icmp.echo {
            let _ = write!(l, " id {} seq {}", e.id, e.seq);
        }
        out.push(l);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::journey::{Hop, Journey};
    use crate::core::line::PointIdx;
    use crate::core::netfilter::{DropEvent, NfDecision};

    #[test]
    fn netfilter_decisions_of_each_leg_are_listed() {
        let hop = Hop::new(PointIdx(0), 1, 1);
        let note = NfNote::Decision(NfDecision {
            netns: "nginx-2".into(),
            family: "inet".into(),
            table: "t".into(),
            chain: "input".into(),
            rule: "icmp type echo-request drop".into(),
            verdict: "drop".into(),
            hop: Some(0),
        });
        let drop = NfNote::KernelDrop(DropEvent {
            t_ns: 2,
            protocol: 0x0800,
            location: "nft_do_chain+0x3e8".into(),
            reason: "NETFILTER_DROP".into(),
        });
        let request = Leg {
            journey: Journey::new(Box::default(), vec![hop]),
            lost: None,
            netfilter: vec![note, drop],
        };
        let ex = Exchange {
            kind: ExchangeKind::IcmpEcho,
            request,
            reply: None,
            errors: Vec::new(),
            rtt_ns: None,
            expects_reply: true,
            probe: false,
        };
        let s = TuiState::new("test", 10);
        let text = lines(&s, &ex);
        assert!(
            text.contains(
                &"nf    request in nginx-2: inet t input icmp type echo-request drop → drop"
                    .to_owned()
            ),
            "{text:?}"
        );
        assert!(
            text.contains(&"drop  request: NETFILTER_DROP at nft_do_chain+0x3e8".to_owned()),
            "{text:?}"
        );
    }
}
