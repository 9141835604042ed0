//! Service probes sent from inside a network namespace: a real TCP `connect()` or a UDP datagram
//! to a port, one socket per probe (so each probe has its own source port, which identifies it in
//! the captures), opened on a thread inside the source's namespace
//! ([`crate::sys::netns::run_in`]); the sockets keep that namespace, so they are then driven
//! from any thread, without blocking.
//!
//! What each socket says is the probe's last point: a connect that completed (the SYN-ACK reached
//! it), refused (a reset), or failed with an ICMP error; a datagram answered, or refused (an ICMP
//! port unreachable reported on the connected socket). A socket is closed right after its
//! probe settles (a connect's closing segments are traced too). This module never decides what an
//! outcome means beyond naming it.

use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::Mutex;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::{
    AddressFamily, MsgFlags, SockFlag, SockType, SockaddrStorage, connect, getsockname, getsockopt,
    recv, send, socket, sockopt,
};

pub use crate::core::listen::Proto;
use crate::sys::netns::{Netns, run_in};
use crate::sys::probe::{ProbeError, set_int};

/// How to probe a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceOptions {
    pub service: Proto,
    pub dst: IpAddr,
    pub port: u16,
    /// The datagram of a UDP probe.
    pub payload: Vec<u8>,
    /// UDP: Don't Fragment (a datagram larger than a link's MTU is dropped, not fragmented).
    pub dont_fragment: bool,
}

impl ServiceOptions {
    /// Size of a UDP probe's IP packet (IP header, 8-byte UDP header, payload).
    pub fn ip_len(&self) -> usize {
        let header = if self.dst.is_ipv6() { 40 } else { 20 };
        header + 8 + self.payload.len()
    }
}

/// The payload of a UDP probe unless another is chosen.
pub const UDP_MARKER: &[u8] = b"vtrace probe\n";

/// What happened to one probe, as its socket says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Still waiting.
    Pending,
    /// TCP connected; UDP got a datagram back.
    Answered,
    /// TCP reset (ECONNREFUSED); UDP port unreachable.
    Refused,
    /// Another error (an ICMP error, a timeout of the kernel's own).
    Failed(Errno),
}

struct Probe {
    fd: Option<OwnedFd>,
    sport: u16,
    outcome: Outcome,
}

/// Sockets that probe one service from inside one namespace.
pub struct ServiceProber {
    ns: Netns,
    src: String,
    opts: ServiceOptions,
    probes: Mutex<Vec<Probe>>,
}

impl std::fmt::Debug for ServiceProber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceProber").field("src", &self.src).field("opts", &self.opts).finish()
    }
}

impl ServiceProber {
    /// Probes from inside `ns` (`label` names it in errors). Opens one socket now, to fail
    /// early when sockets cannot be made there.
    pub fn open(ns: &Netns, label: &str, opts: ServiceOptions) -> Result<Self, ProbeError> {
        let prober = ServiceProber {
            ns: ns.clone(),
            src: label.to_owned(),
            opts,
            probes: Mutex::new(Vec::new()),
        };
        drop(prober.socket()?);
        Ok(prober)
    }

    pub fn options(&self) -> &ServiceOptions {
        &self.opts
    }

    fn socket(&self) -> Result<OwnedFd, ProbeError> {
        let family =
            if self.opts.dst.is_ipv6() { AddressFamily::Inet6 } else { AddressFamily::Inet };
        let ty = match self.opts.service {
            Proto::Tcp => SockType::Stream,
            Proto::Udp => SockType::Datagram,
        };
        let flags = SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC;
        let df = self.opts.service == Proto::Udp && self.opts.dont_fragment;
        let v6 = self.opts.dst.is_ipv6();
        run_in(&self.ns, "vtrace-probe", move || {
            let fd = socket(family, ty, flags, None)?;
            if df && v6 {
                set_int(&fd, libc::IPPROTO_IPV6, libc::IPV6_DONTFRAG, 1)?;
                set_int(
                    &fd,
                    libc::IPPROTO_IPV6,
                    libc::IPV6_MTU_DISCOVER,
                    libc::IPV6_PMTUDISC_PROBE,
                )?;
            } else if df {
                set_int(&fd, libc::IPPROTO_IP, libc::IP_MTU_DISCOVER, libc::IP_PMTUDISC_PROBE)?;
            }
            Ok(fd)
        })
        .map_err(|source| ProbeError::Open { ns: self.src.clone(), source })
    }

    /// Start probe number `seq` (a new socket: connect, or send the datagram).
    pub fn send(&self, _seq: u16) -> Result<(), ProbeError> {
        let fd = self.socket()?;
        let dst = SockaddrStorage::from(SocketAddr::new(self.opts.dst, self.opts.port));
        let errno = |errno| match errno {
            Errno::ENETUNREACH | Errno::EHOSTUNREACH => {
                ProbeError::NoRoute { src: self.src.clone(), dst: self.opts.dst, errno }
            }
            Errno::EMSGSIZE => {
                ProbeError::TooBig { src: self.src.clone(), len: self.opts.ip_len(), errno }
            }
            errno => ProbeError::Send { src: self.src.clone(), dst: self.opts.dst, errno },
        };
        match connect(fd.as_raw_fd(), &dst) {
            Ok(()) | Err(Errno::EINPROGRESS) => {}
            Err(e) => return Err(errno(e)),
        }
        if self.opts.service == Proto::Udp {
            send(fd.as_raw_fd(), &self.opts.payload, MsgFlags::empty()).map_err(errno)?;
        }
        let sport = getsockname::<SockaddrStorage>(fd.as_raw_fd())
            .ok()
            .and_then(|a| {
                a.as_sockaddr_in().map(|a| a.port()).or(a.as_sockaddr_in6().map(|a| a.port()))
            })
            .unwrap_or(0);
        if let Ok(mut probes) = self.probes.lock() {
            probes.push(Probe { fd: Some(fd), sport, outcome: Outcome::Pending });
        }
        Ok(())
    }

    /// The source ports of the probes answered since the last call (never blocks): a connect
    /// that completed, a datagram answered. Settled TCP sockets are closed.
    pub fn replies(&self) -> Vec<u16> {
        let Ok(mut probes) = self.probes.lock() else { return Vec::new() };
        let mut answered = Vec::new();
        for p in probes.iter_mut().filter(|p| p.outcome == Outcome::Pending) {
            let Some(fd) = p.fd.as_ref() else { continue };
            p.outcome = match self.opts.service {
                Proto::Tcp => tcp_outcome(fd),
                Proto::Udp => udp_outcome(fd),
            };
            if p.outcome == Outcome::Answered {
                answered.push(p.sport);
            }
            if p.outcome != Outcome::Pending {
                // Closed right after it settles (a connect's closing segments are traced too).
                p.fd = None;
            }
        }
        answered
    }

    /// Each probe's source port and outcome, in the order sent.
    pub fn outcomes(&self) -> Vec<(u16, Outcome)> {
        self.probes
            .lock()
            .map(|p| p.iter().map(|p| (p.sport, p.outcome)).collect())
            .unwrap_or_default()
    }
}

/// Whether a non-blocking connect settled, and how.
fn tcp_outcome(fd: &OwnedFd) -> Outcome {
    let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLOUT)];
    match poll(&mut fds, PollTimeout::ZERO) {
        Ok(n) if n > 0 => {}
        _ => return Outcome::Pending,
    }
    match getsockopt(fd, sockopt::SocketError) {
        Ok(0) => Outcome::Answered,
        Ok(e) if Errno::from_raw(e) == Errno::ECONNREFUSED => Outcome::Refused,
        Ok(e) => Outcome::Failed(Errno::from_raw(e)),
        Err(e) => Outcome::Failed(e),
    }
}

/// Whether a datagram came back on a connected UDP socket, or an ICMP error refused it.
fn udp_outcome(fd: &OwnedFd) -> Outcome {
    let mut buf = [0u8; 2048];
    match recv(fd.as_raw_fd(), &mut buf, MsgFlags::MSG_DONTWAIT) {
        Ok(_) => Outcome::Answered,
        Err(Errno::EAGAIN) => Outcome::Pending,
        Err(Errno::ECONNREFUSED) => Outcome::Refused,
        Err(e) => Outcome::Failed(e),
    }
}
