//! ICMP and ICMPv6 echo probes sent from inside a network namespace.
//!
//! A raw ICMP (or ICMPv6) socket is opened on a thread that entered the source's namespace
//! ([`crate::sys::netns::run_in`]); the socket keeps that namespace, so probes can then be sent
//! from any thread. vtrace chooses the echo id and payload, so every probe is identified exactly in
//! the captures. This module sends; it never reads replies (the captures see them) and never
//! decides what a failure means beyond naming the errno.

use std::net::IpAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use nix::errno::Errno;
use thiserror::Error;

use crate::sys::netns::{Netns, run_in};

/// The payload every probe starts with (then the sequence number, then a pattern).
pub const MAGIC: &[u8; 8] = b"vtrace\0\x01";

/// How to probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeOptions {
    /// IPv4 (ICMP echo) or IPv6 (ICMPv6 echo).
    pub dst: IpAddr,
    /// The echo identifier.
    pub id: u16,
    /// ICMP data bytes (like `ping -s`).
    pub size: usize,
    /// Set Don't Fragment and never fragment locally.
    pub dont_fragment: bool,
}

impl ProbeOptions {
    /// Size of each probe's IP packet (IPv4 or IPv6 header, 8-byte ICMP header, data).
    pub fn ip_len(&self) -> usize {
        let header = if self.dst.is_ipv6() { 40 } else { 20 };
        header + 8 + self.size
    }
}

/// Why a probe could not be opened or sent.
#[derive(Debug, Error)]
pub enum ProbeError {
    #[error("opening an ICMP socket in {ns} needs CAP_NET_RAW: run as root")]
    Permission { ns: String },
    #[error("opening an ICMP socket in {ns}: {source:#}")]
    Open { ns: String, source: anyhow::Error },
    /// The kernel of the source refused to send: no route (ENETUNREACH / EHOSTUNREACH).
    #[error("{src} has no route to {dst}: the kernel refused to send ({errno})")]
    NoRoute { src: String, dst: IpAddr, errno: Errno },
    /// The probe is larger than the source's link MTU and may not be fragmented.
    #[error("{src}: a {len}-byte probe with DF does not fit the source's link MTU ({errno})")]
    TooBig { src: String, len: usize, errno: Errno },
    #[error("sending an echo request from {src} to {dst}: {errno}")]
    Send { src: String, dst: IpAddr, errno: Errno },
    #[error("ICMP data of {0} bytes is too large (at most 65507)")]
    Size(usize),
}

/// A socket that sends echo requests from inside one namespace.
#[derive(Debug)]
pub struct Prober {
    fd: OwnedFd,
    opts: ProbeOptions,
    src: String,
}

impl Prober {
    /// Open the socket inside `ns` (`label` names it in errors).
    pub fn open(ns: &Netns, label: &str, opts: ProbeOptions) -> Result<Prober, ProbeError> {
        if opts.size > 65_507 {
            return Err(ProbeError::Size(opts.size));
        }
        let (df, v6) = (opts.dont_fragment, opts.dst.is_ipv6());
        let fd = run_in(ns, "vtrace-probe", move || open_socket(df, v6)).map_err(|source| {
            let denied = source.chain().any(|e| {
                e.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::PermissionDenied)
            });
            if denied {
                ProbeError::Permission { ns: label.to_owned() }
            } else {
                ProbeError::Open { ns: label.to_owned(), source }
            }
        })?;
        Ok(Prober { fd, opts, src: label.to_owned() })
    }

    pub fn options(&self) -> &ProbeOptions {
        &self.opts
    }

    /// Send echo request `seq`.
    pub fn send(&self, seq: u16) -> Result<(), ProbeError> {
        let mut packet = echo_request(self.opts.id, seq, self.opts.size);
        if self.opts.dst.is_ipv6() {
            // ICMPv6 echo request; the kernel computes ICMPv6 checksums on raw sockets.
            if let Some(head) = packet.get_mut(..4) {
                head.copy_from_slice(&[128, 0, 0, 0]);
            }
        }
        match send_to(&self.fd, &packet, self.opts.dst) {
            Ok(_) => Ok(()),
            Err(errno @ (Errno::ENETUNREACH | Errno::EHOSTUNREACH)) => {
                Err(ProbeError::NoRoute { src: self.src.clone(), dst: self.opts.dst, errno })
            }
            Err(errno @ Errno::EMSGSIZE) => {
                Err(ProbeError::TooBig { src: self.src.clone(), len: self.opts.ip_len(), errno })
            }
            Err(errno) => {
                Err(ProbeError::Send { src: self.src.clone(), dst: self.opts.dst, errno })
            }
        }
    }
}

impl Prober {
    /// The sequence numbers of the echo replies to this probe that reached its socket since the
    /// last call (never blocks). A reply captured on the source's interface that is not here
    /// died in the source's stack.
    pub fn replies(&self) -> Vec<u16> {
        let v6 = self.opts.dst.is_ipv6();
        let mut seqs = Vec::new();
        let mut buf = [0u8; 2048];
        loop {
            // SAFETY: recv(2) into a buffer this function owns, of the length given.
            let n = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_DONTWAIT,
                )
            };
            let Ok(n) = usize::try_from(n) else { break };
            if let Some(seq) = buf.get(..n).and_then(|b| reply_seq(b, v6, self.opts.id)) {
                seqs.push(seq);
            }
        }
        seqs
    }
}

/// The sequence number of an echo reply with id `id`: an IPv4 raw socket hands over the IP
/// header too, an ICMPv6 one the ICMPv6 message alone.
fn reply_seq(data: &[u8], v6: bool, id: u16) -> Option<u16> {
    let icmp = if v6 {
        data
    } else {
        let ihl = usize::from(data.first()? & 0x0f) * 4;
        data.get(ihl..)?
    };
    let reply_type = if v6 { 129 } else { 0 };
    if *icmp.first()? != reply_type {
        return None;
    }
    let field = |at: usize| Some(u16::from_be_bytes([*icmp.get(at)?, *icmp.get(at + 1)?]));
    (field(4)? == id).then(|| field(6)).flatten()
}

fn open_socket(dont_fragment: bool, v6: bool) -> anyhow::Result<OwnedFd> {
    let (family, proto) = if v6 {
        (libc::AF_INET6, libc::IPPROTO_ICMPV6)
    } else {
        (libc::AF_INET, libc::IPPROTO_ICMP)
    };
    // SAFETY: plain socket(2) call; the result is checked before use.
    let raw = unsafe { libc::socket(family, libc::SOCK_RAW | libc::SOCK_CLOEXEC, proto) };
    if raw < 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    // SAFETY: `raw` is a freshly opened descriptor this function owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    if v6 {
        // IPv6 routers never fragment: DF means "do not fragment at the source either".
        set_int(&fd, libc::IPPROTO_IPV6, libc::IPV6_DONTFRAG, i32::from(dont_fragment))?;
        if dont_fragment {
            set_int(&fd, libc::IPPROTO_IPV6, libc::IPV6_MTU_DISCOVER, libc::IPV6_PMTUDISC_PROBE)?;
        }
    } else {
        let pmtu = if dont_fragment { libc::IP_PMTUDISC_PROBE } else { libc::IP_PMTUDISC_DONT };
        set_int(&fd, libc::IPPROTO_IP, libc::IP_MTU_DISCOVER, pmtu)?;
    }
    // Replies are read back ([`Prober::replies`]): the socket is the probe's last point.
    Ok(fd)
}

pub(crate) fn set_int(
    fd: &OwnedFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> std::io::Result<()> {
    // SAFETY: `value` outlives the call and its size is passed.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&raw const value).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc < 0 { Err(std::io::Error::last_os_error()) } else { Ok(()) }
}

/// Delete `ip`'s neighbour (ARP) entries inside `ns`, like `ip neigh del IP dev …` on every
/// device, so the next probe starts with an ARP exchange that the captures see. Returns how many
/// entries were removed.
pub fn flush_neighbour(ns: &Netns, ip: IpAddr) -> anyhow::Result<usize> {
    use anyhow::Context;
    use futures::TryStreamExt;
    use netlink_packet_route::neighbour::NeighbourAttribute;

    crate::sys::rtnl::with_handle_in(ns, "vtrace-neigh", move |handle| async move {
        let entries: Vec<_> = handle
            .neighbours()
            .get()
            .execute()
            .try_collect()
            .await
            .context("listing neighbour entries")?;
        let mut removed = 0;
        for msg in entries {
            let matches = msg.attributes.iter().any(
                |a| matches!(a, NeighbourAttribute::Destination(d) if neighbour_ip(d) == Some(ip)),
            );
            if matches {
                handle
                    .neighbours()
                    .del(msg)
                    .execute()
                    .await
                    .with_context(|| format!("deleting the neighbour entry of {ip}"))?;
                removed += 1;
            }
        }
        Ok(removed)
    })
}

fn neighbour_ip(a: &netlink_packet_route::neighbour::NeighbourAddress) -> Option<IpAddr> {
    use netlink_packet_route::neighbour::NeighbourAddress;
    match a {
        NeighbourAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        NeighbourAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

/// sendto(2) of one datagram to `dst`.
fn send_to(fd: &OwnedFd, packet: &[u8], dst: IpAddr) -> Result<usize, Errno> {
    let send = |addr: *const libc::sockaddr, len: usize| {
        // SAFETY: `packet` and the address outlive the call and their lengths are passed.
        unsafe {
            libc::sendto(
                fd.as_raw_fd(),
                packet.as_ptr().cast(),
                packet.len(),
                0,
                addr,
                len as libc::socklen_t,
            )
        }
    };
    let n = match dst {
        IpAddr::V4(v4) => {
            let addr = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: 0,
                sin_addr: libc::in_addr { s_addr: u32::from(v4).to_be() },
                sin_zero: [0; 8],
            };
            send((&raw const addr).cast(), std::mem::size_of_val(&addr))
        }
        IpAddr::V6(v6) => {
            let addr = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: 0,
                sin6_flowinfo: 0,
                sin6_addr: libc::in6_addr { s6_addr: v6.octets() },
                sin6_scope_id: 0,
            };
            send((&raw const addr).cast(), std::mem::size_of_val(&addr))
        }
    };
    usize::try_from(n).map_err(|_| Errno::last())
}

/// An ICMP echo request (type 8) with `size` data bytes: [`MAGIC`], then a pattern.
pub fn echo_request(id: u16, seq: u16, size: usize) -> Vec<u8> {
    let mut p = Vec::with_capacity(8 + size);
    p.extend_from_slice(&[8, 0, 0, 0]);
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend(MAGIC.iter().copied().chain((0u8..=255).cycle()).take(size));
    let sum = checksum(&p);
    if let Some(c) = p.get_mut(2..4) {
        c.copy_from_slice(&sum.to_be_bytes());
    }
    p
}

/// The Internet checksum (RFC 1071).
pub fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        if let [a, b] = c {
            sum += u32::from(u16::from_be_bytes([*a, *b]));
        }
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    #[test]
    fn echo_requests_carry_id_seq_magic_and_a_valid_checksum() {
        let p = echo_request(0x1234, 7, 56);
        assert_eq!(p.len(), 64);
        assert_eq!(p.get(..2), Some(&[8u8, 0][..]));
        assert_eq!(p.get(4..8), Some(&[0x12u8, 0x34, 0, 7][..]));
        assert_eq!(p.get(8..16), Some(&MAGIC[..]));
        assert_eq!(p.get(16..18), Some(&[0u8, 1][..]));
        // A packet with its checksum in place sums to zero.
        assert_eq!(checksum(&p), 0);
    }

    #[test]
    fn short_payloads_cut_the_magic() {
        let p = echo_request(1, 1, 3);
        assert_eq!(p.len(), 11);
        assert_eq!(p.get(8..), Some(&b"vtr"[..]));
        assert_eq!(checksum(&p), 0);
    }

    #[test]
    fn replies_are_recognised_by_type_and_id() {
        let mut v4 = vec![0x45u8; 20];
        v4.extend_from_slice(&[0, 0, 0, 0, 0x12, 0x34, 0, 7]);
        assert_eq!(reply_seq(&v4, false, 0x1234), Some(7));
        assert_eq!(reply_seq(&v4, false, 0x1235), None, "another probe's reply");
        let request = [8u8, 0, 0, 0, 0x12, 0x34, 0, 7];
        let mut v4_request = vec![0x45u8; 20];
        v4_request.extend_from_slice(&request);
        assert_eq!(reply_seq(&v4_request, false, 0x1234), None, "our own request");
        assert_eq!(reply_seq(&[129, 0, 0, 0, 0x12, 0x34, 0, 9], true, 0x1234), Some(9));
        assert_eq!(reply_seq(&[0x45, 0], false, 1), None, "truncated");
    }

    #[test]
    fn checksum_of_known_bytes() {
        // RFC 1071 example: 0001 f203 f4f5 f6f7 → sum ddf2, checksum 220d.
        assert_eq!(checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]), 0x220d);
        assert_eq!(checksum(&[0xff]), 0x00ff);
    }

    #[test]
    fn ip_length_counts_headers() {
        let o = ProbeOptions {
            dst: IpAddr::V4(Ipv4Addr::LOCALHOST),
            id: 1,
            size: 1472,
            dont_fragment: true,
        };
        assert_eq!(o.ip_len(), 1500);
        let v6 = ProbeOptions { dst: IpAddr::V6(std::net::Ipv6Addr::LOCALHOST), ..o };
        assert_eq!(v6.ip_len(), 1520);
    }
}
