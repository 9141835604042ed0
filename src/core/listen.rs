//! The sockets that listen in a namespace (what `ss -lntu` lists: listening TCP sockets and
//! bound UDP ones), and the port-closed diagnosis built on them: given what listens in the
//! destination's namespace, does anything take the probed protocol, address and port, and if
//! not, the sentence the verdict says (`nothing listens on tcp/81 in nginx-2 (listening:
//! 0.0.0.0:80)`, `tcp/80 in nginx-2 listens on 127.0.0.1 only`).
//!
//! Pure: the sockets come from `sys::sockdiag` (through discovery) or are built by hand in
//! tests; this module never reads the system, and it does not decide the verdict's cause (that
//! is `diagnosis`), it only says whether a port is taken and what listens near it.

use std::fmt;
use std::net::IpAddr;

/// The transport protocol of a socket or a probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    /// `tcp` or `udp`, as `ss` and the JSON report name them.
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A listening TCP socket or a bound UDP socket of one namespace.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Listener {
    pub proto: Proto,
    /// The local address it is bound to (`0.0.0.0` / `::` for any address of the family).
    pub addr: IpAddr,
    pub port: u16,
    /// An IPv6 socket with `IPV6_V6ONLY`: `::` then takes IPv6 only; without it `::` takes
    /// IPv4 too. Always false for IPv4 sockets.
    pub v6only: bool,
    /// The process holding the socket (pid, command), when it could be found.
    pub process: Option<(u32, String)>,
}

impl Listener {
    /// A socket bound to `addr`:`port`, not v6-only, its process unknown.
    pub fn new(proto: Proto, addr: IpAddr, port: u16) -> Self {
        Listener { proto, addr, port, v6only: false, process: None }
    }

    /// Whether a `proto` packet to `dst`:`port` reaches this socket: same protocol and port,
    /// and `dst` is its address, or it is bound to any address of `dst`'s family (an IPv6
    /// `::` that is not v6-only takes IPv4 too). IPv4-mapped IPv6 addresses count as IPv4.
    pub fn accepts(&self, proto: Proto, dst: IpAddr, port: u16) -> bool {
        if self.proto != proto || self.port != port {
            return false;
        }
        let dst = dst.to_canonical();
        match self.addr {
            IpAddr::V4(a) if a.is_unspecified() => dst.is_ipv4(),
            IpAddr::V6(a) if a.is_unspecified() => dst.is_ipv6() || !self.v6only,
            addr => addr.to_canonical() == dst,
        }
    }

    /// Bound to any address (`0.0.0.0` or `::`).
    pub fn is_wildcard(&self) -> bool {
        self.addr.is_unspecified()
    }
}

/// `ADDRESS:PORT` as `ss` writes it: `0.0.0.0:80`, `[::1]:53`, `[::]:80` for a v6-only
/// wildcard and `*:80` for an IPv6 wildcard that takes IPv4 too.
impl fmt::Display for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.addr {
            IpAddr::V6(a) if a.is_unspecified() && !self.v6only => write!(f, "*:{}", self.port),
            IpAddr::V6(a) => write!(f, "[{a}]:{}", self.port),
            IpAddr::V4(a) => write!(f, "{a}:{}", self.port),
        }
    }
}

/// Why nothing takes a probed port, in the verdict's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortClosed {
    pub kind: ClosedKind,
    /// `nothing listens on tcp/81 in nginx-2 (listening: 0.0.0.0:80)` or
    /// `tcp/80 in nginx-2 listens on 127.0.0.1 only`.
    pub sentence: String,
    /// The near misses, for `verdict.listening`: the sockets on the port bound to other
    /// addresses ([`ClosedKind::OtherAddress`]), else every socket of the protocol.
    pub listening: Vec<Listener>,
}

/// The two ways a probed port is not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClosedKind {
    /// No socket of the protocol on that port at all.
    NothingOnPort,
    /// Sockets on the port, but bound to other addresses (loopback only, another interface's).
    OtherAddress,
}

/// How many distinct `ADDRESS:PORT`s a sentence names before `… N more`.
const NAMED: usize = 6;

/// The sockets of `listeners` that take a `proto` packet to `dst`:`port`.
pub fn accepting(listeners: &[Listener], proto: Proto, dst: IpAddr, port: u16) -> Vec<Listener> {
    listeners.iter().filter(|l| l.accepts(proto, dst, port)).cloned().collect()
}

/// Whether something in namespace `label` takes a `proto` packet to `dst`:`port`: `None` when
/// a socket does, else why not (the sentence and the near misses).
pub fn port_closed(
    label: &str,
    listeners: &[Listener],
    proto: Proto,
    dst: IpAddr,
    port: u16,
) -> Option<PortClosed> {
    if listeners.iter().any(|l| l.accepts(proto, dst, port)) {
        return None;
    }
    let on_port: Vec<Listener> =
        listeners.iter().filter(|l| l.proto == proto && l.port == port).cloned().collect();
    if !on_port.is_empty() {
        let mut addrs: Vec<String> = Vec::new();
        for l in &on_port {
            let a = l.addr.to_string();
            if !addrs.contains(&a) {
                addrs.push(a);
            }
        }
        return Some(PortClosed {
            kind: ClosedKind::OtherAddress,
            sentence: format!("{proto}/{port} in {label} listens on {} only", named(addrs)),
            listening: on_port,
        });
    }
    let same_proto: Vec<Listener> =
        listeners.iter().filter(|l| l.proto == proto).cloned().collect();
    let what = if same_proto.is_empty() {
        format!("nothing listens on {proto}")
    } else {
        let mut seen: Vec<String> = Vec::new();
        for l in &same_proto {
            let s = l.to_string();
            if !seen.contains(&s) {
                seen.push(s);
            }
        }
        format!("listening: {}", named(seen))
    };
    Some(PortClosed {
        kind: ClosedKind::NothingOnPort,
        sentence: format!("nothing listens on {proto}/{port} in {label} ({what})"),
        listening: same_proto,
    })
}

/// `a, b, c` (at most [`NAMED`], then `… N more`).
fn named(items: Vec<String>) -> String {
    let more = items.len().saturating_sub(NAMED);
    let mut out = items.into_iter().take(NAMED).collect::<Vec<_>>().join(", ");
    if more > 0 {
        out.push_str(&format!(", … {more} more"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::from([0; 4]))
    }

    fn tcp(addr: &str, port: u16) -> Listener {
        Listener::new(Proto::Tcp, ip(addr), port)
    }

    fn closed(ls: &[Listener], proto: Proto, dst: &str, port: u16) -> Option<String> {
        port_closed("nginx-2", ls, proto, ip(dst), port).map(|c| c.sentence)
    }

    #[test]
    fn a_socket_on_the_address_or_a_wildcard_takes_the_port() {
        let dst = "172.18.0.3";
        assert_eq!(closed(&[tcp("172.18.0.3", 80)], Proto::Tcp, dst, 80), None);
        assert_eq!(closed(&[tcp("0.0.0.0", 80)], Proto::Tcp, dst, 80), None);
        assert_eq!(closed(&[tcp("::", 80)], Proto::Tcp, dst, 80), None, "dual-stack ::");
        assert_eq!(closed(&[tcp("::ffff:172.18.0.3", 80)], Proto::Tcp, dst, 80), None);
        assert_eq!(closed(&[tcp("0.0.0.0", 80)], Proto::Tcp, "::ffff:172.18.0.3", 80), None);
        assert_eq!(closed(&[tcp("::", 80)], Proto::Tcp, "fd00::3", 80), None);
        assert_eq!(closed(&[tcp("fd00::3", 80)], Proto::Tcp, "fd00::3", 80), None);
        let udp = Listener::new(Proto::Udp, ip("0.0.0.0"), 53);
        assert_eq!(closed(&[udp], Proto::Udp, dst, 53), None);
    }

    #[test]
    fn nothing_on_the_port_lists_what_listens_on_the_protocol() {
        let ls = [tcp("0.0.0.0", 80), Listener::new(Proto::Udp, ip("0.0.0.0"), 53)];
        let c = port_closed("nginx-2", &ls, Proto::Tcp, ip("172.18.0.3"), 81);
        let c = c.unwrap_or_else(|| panic!("81 is not taken"));
        assert_eq!(c.sentence, "nothing listens on tcp/81 in nginx-2 (listening: 0.0.0.0:80)");
        assert_eq!(c.kind, ClosedKind::NothingOnPort);
        assert_eq!(c.listening, vec![tcp("0.0.0.0", 80)]);
        assert_eq!(
            closed(&ls, Proto::Udp, "172.18.0.3", 80).as_deref(),
            Some("nothing listens on udp/80 in nginx-2 (listening: 0.0.0.0:53)")
        );
    }

    #[test]
    fn nothing_of_the_protocol_says_so() {
        let ls = [Listener::new(Proto::Udp, ip("0.0.0.0"), 53)];
        let c = port_closed("nginx-2", &ls, Proto::Tcp, ip("172.18.0.3"), 80);
        assert_eq!(
            c.as_ref().map(|c| c.sentence.as_str()),
            Some("nothing listens on tcp/80 in nginx-2 (nothing listens on tcp)")
        );
        assert_eq!(c.map(|c| c.listening), Some(vec![]));
        assert_eq!(
            closed(&[], Proto::Udp, "172.18.0.3", 53).as_deref(),
            Some("nothing listens on udp/53 in nginx-2 (nothing listens on udp)")
        );
    }

    #[test]
    fn a_port_bound_to_loopback_or_another_address_only_is_named() {
        let lo = [tcp("127.0.0.1", 80), tcp("0.0.0.0", 22)];
        let c = port_closed("nginx-2", &lo, Proto::Tcp, ip("172.18.0.3"), 80);
        assert_eq!(
            c.as_ref().map(|c| c.sentence.as_str()),
            Some("tcp/80 in nginx-2 listens on 127.0.0.1 only")
        );
        assert_eq!(c.as_ref().map(|c| c.kind), Some(ClosedKind::OtherAddress));
        assert_eq!(c.map(|c| c.listening), Some(vec![tcp("127.0.0.1", 80)]));
        let two = [tcp("10.0.0.5", 80), tcp("::1", 80), tcp("10.0.0.5", 80)];
        assert_eq!(
            closed(&two, Proto::Tcp, "172.18.0.3", 80).as_deref(),
            Some("tcp/80 in nginx-2 listens on 10.0.0.5, ::1 only")
        );
    }

    #[test]
    fn a_v6_only_wildcard_does_not_take_ipv4_nor_v4_wildcards_ipv6() {
        let v6only = Listener { v6only: true, ..tcp("::", 80) };
        assert_eq!(
            closed(std::slice::from_ref(&v6only), Proto::Tcp, "172.18.0.3", 80).as_deref(),
            Some("tcp/80 in nginx-2 listens on :: only")
        );
        assert_eq!(closed(std::slice::from_ref(&v6only), Proto::Tcp, "fd00::3", 80), None);
        assert_eq!(
            closed(&[tcp("0.0.0.0", 80)], Proto::Tcp, "fd00::3", 80).as_deref(),
            Some("tcp/80 in nginx-2 listens on 0.0.0.0 only")
        );
    }

    #[test]
    fn the_other_protocol_on_the_port_does_not_count() {
        let ls = [Listener::new(Proto::Udp, ip("0.0.0.0"), 80)];
        assert_eq!(
            closed(&ls, Proto::Tcp, "172.18.0.3", 80).as_deref(),
            Some("nothing listens on tcp/80 in nginx-2 (nothing listens on tcp)")
        );
    }

    #[test]
    fn long_lists_are_cut_and_repeats_named_once() {
        let mut ls: Vec<Listener> = (1..=9).map(|p| tcp("0.0.0.0", p)).collect();
        ls.push(tcp("0.0.0.0", 1));
        assert_eq!(
            closed(&ls, Proto::Tcp, "172.18.0.3", 80).as_deref(),
            Some(
                "nothing listens on tcp/80 in nginx-2 (listening: 0.0.0.0:1, 0.0.0.0:2, \
                 0.0.0.0:3, 0.0.0.0:4, 0.0.0.0:5, 0.0.0.0:6, … 3 more)"
            )
        );
    }

    #[test]
    fn sockets_are_written_as_ss_writes_them() {
        let v6only = Listener { v6only: true, ..tcp("::", 80) };
        let shown: Vec<String> = [tcp("0.0.0.0", 80), tcp("::", 80), v6only, tcp("::1", 53)]
            .iter()
            .map(Listener::to_string)
            .collect();
        assert_eq!(shown, ["0.0.0.0:80", "*:80", "[::]:80", "[::1]:53"]);
        let ls = [tcp("0.0.0.0", 80), tcp("127.0.0.1", 81)];
        assert_eq!(accepting(&ls, Proto::Tcp, ip("172.18.0.3"), 80), vec![tcp("0.0.0.0", 80)]);
        assert!(accepting(&ls, Proto::Tcp, ip("172.18.0.3"), 81).is_empty());
    }
}
