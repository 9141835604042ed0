//! Shared look of the TUI: colours, short labels and the status of an exchange. No drawing.

use ratatui::style::{Color, Modifier, Style};

use crate::core::exchange::{Exchange, ExchangeKind};

/// How an exchange ended, for its colour and mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Answered (or expected no answer and arrived everywhere).
    Ok,
    /// The request or reply vanished between two points.
    Lost,
    /// The request arrived and nothing answered.
    Unanswered,
    /// A connect or UDP probe answered by a reset or an ICMP error.
    Refused,
}

pub fn status(ex: &Exchange) -> Status {
    if crate::tui::legs::is_service(ex) && matches!(ex.answer(), Some("rst" | "icmp")) {
        Status::Refused
    } else if !ex.request.complete() || ex.reply.as_ref().is_some_and(|r| !r.complete()) {
        Status::Lost
    } else if ex.expects_reply && ex.reply.is_none() {
        Status::Unanswered
    } else {
        Status::Ok
    }
}

pub fn status_style(s: Status) -> Style {
    match s {
        Status::Ok => Style::new().fg(Color::Green),
        Status::Lost | Status::Refused => Style::new().fg(Color::Red),
        Status::Unanswered => Style::new().fg(Color::Yellow),
    }
}

pub fn mark(s: Status) -> &'static str {
    match s {
        Status::Ok => "✓",
        Status::Lost | Status::Unanswered | Status::Refused => "✗",
    }
}

pub fn kind_label(k: ExchangeKind) -> &'static str {
    match k {
        ExchangeKind::Arp => "arp",
        ExchangeKind::IcmpEcho => "icmp",
        ExchangeKind::Icmpv6Echo => "icmp6",
        ExchangeKind::Ndp => "ndp",
        ExchangeKind::IcmpError => "error",
        ExchangeKind::TcpConnect | ExchangeKind::Tcp => "tcp",
        ExchangeKind::Udp => "udp",
    }
}

pub fn title(focused: bool) -> Style {
    if focused {
        Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD)
    } else {
        Style::new().add_modifier(Modifier::BOLD)
    }
}

pub fn border(focused: bool) -> Style {
    if focused { Style::new().fg(Color::Cyan) } else { Style::new().fg(Color::DarkGray) }
}

pub fn dim() -> Style {
    Style::new().fg(Color::DarkGray)
}
