//! The listening sockets of a network namespace, as `ss -lntup` lists them: the listening TCP
//! sockets and the bound UDP sockets, IPv4 and IPv6, dumped over `NETLINK_SOCK_DIAG`
//! (inet_diag) on a socket opened inside the namespace, and the process holding each one found
//! by its socket inode in `/proc/*/fd`.
//!
//! The netlink socket is opened through `sys::netns` (never by entering a namespace here); the
//! dump itself is plain blocking I/O on it, with a bounded wait. The process lookup is best
//! effort: only as root, bounded, and a socket whose process cannot be found keeps `None`, never
//! an error. This module only reads; what the sockets mean for a probe is
//! `core::listen`.

use std::collections::{HashMap, HashSet};
use std::os::fd::{AsFd, FromRawFd, IntoRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;

use anyhow::Context;
use netlink_packet_core::{
    NLM_F_DUMP, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_sock_diag::SockDiagMessage;
use netlink_packet_sock_diag::constants::{AF_INET, AF_INET6, IPPROTO_TCP, IPPROTO_UDP};
use netlink_packet_sock_diag::inet::nlas::Nla;
use netlink_packet_sock_diag::inet::{
    ExtensionFlags, InetRequest, InetResponse, SocketId, StateFlags,
};
use netlink_sys::protocols::NETLINK_SOCK_DIAG;
use netlink_sys::{Socket, SocketAddr};
use thiserror::Error;

use crate::core::listen::{Listener, Proto};
use crate::sys::netns::{self, Target};
use crate::sys::poll::wait_readable;

/// How long one dump may stay silent before it is given up (the kernel answers at once).
const WAIT_MS: i32 = 2_000;

/// The receive buffer: a netlink dump datagram is at most 32 KiB.
const RECV_BUF: usize = 64 * 1024;

/// At most this many `/proc/PID/fd` entries are read when looking for the sockets' processes.
const MAX_FDS: usize = 100_000;

/// One socket of the dump: what core needs, and its inode (to find its process).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiagSocket {
    pub listener: Listener,
    /// The socket's inode (`socket:[INODE]` in `/proc/PID/fd`); 0 when the kernel gave none.
    pub inode: u64,
}

/// Why the sockets of a namespace could not be read.
#[derive(Debug, Error)]
pub enum SockDiagError {
    #[error("sending the {what} sock_diag request: {source}")]
    Send { what: &'static str, source: std::io::Error },
    #[error("reading the {what} sock_diag dump: {source}")]
    Recv { what: &'static str, source: std::io::Error },
    #[error(
        "the kernel refused the {what} sock_diag dump ({source}): is inet_diag available \
         (`modprobe {module}`)?"
    )]
    Refused { what: &'static str, module: &'static str, source: std::io::Error },
    #[error("the {what} sock_diag dump did not end within {WAIT_MS} ms")]
    Timeout { what: &'static str },
    #[error("decoding the {what} sock_diag dump: {reason}")]
    Decode { what: &'static str, reason: String },
}

/// One of the four dumps: protocol and family.
#[derive(Debug, Clone, Copy)]
struct Query {
    proto: Proto,
    family: u8,
    what: &'static str,
}

const QUERIES: [Query; 4] = [
    Query { proto: Proto::Tcp, family: AF_INET, what: "TCP/IPv4" },
    Query { proto: Proto::Tcp, family: AF_INET6, what: "TCP/IPv6" },
    Query { proto: Proto::Udp, family: AF_INET, what: "UDP/IPv4" },
    Query { proto: Proto::Udp, family: AF_INET6, what: "UDP/IPv6" },
];

/// The listening sockets of the namespace `target`, with their processes where they can be
/// found: `ss -lntup` there.
pub fn listening_in<'a>(target: impl Into<Target<'a>>) -> anyhow::Result<Vec<Listener>> {
    let (netns_inode, sockets) = netns::run_in(target, "vtrace-sockdiag", || {
        let inode = std::fs::metadata("/proc/thread-self/ns/net")
            .context("reading the namespace of the sock_diag thread")?
            .ino();
        let fd = netns::socket_here(NETLINK_SOCK_DIAG)?;
        Ok((inode, dump(fd)?))
    })?;
    let wanted: Vec<(u64, u64)> = sockets.iter().map(|s| (netns_inode, s.inode)).collect();
    Ok(with_processes(sockets, &processes(&wanted)))
}

/// The listening TCP and bound UDP sockets (IPv4 and IPv6) of the namespace the
/// `NETLINK_SOCK_DIAG` socket `fd` was opened in, sorted by protocol, port and address;
/// processes not looked up.
pub fn dump(fd: OwnedFd) -> Result<Vec<DiagSocket>, SockDiagError> {
    // SAFETY: `into_raw_fd` hands over ownership of the descriptor to the netlink socket.
    let socket = unsafe { Socket::from_raw_fd(fd.into_raw_fd()) };
    let mut buf = vec![0u8; RECV_BUF];
    let mut out = Vec::new();
    for (seq, q) in (1u32..).zip(QUERIES) {
        query(&socket, q, seq, &mut buf, &mut out)?;
    }
    out.sort_by(|a, b| {
        let key = |s: &DiagSocket| (s.listener.proto, s.listener.port, s.listener.addr);
        key(a).cmp(&key(b))
    });
    Ok(out)
}

/// Send one dump request and collect its answers until `NLMSG_DONE`.
fn query(
    socket: &Socket,
    q: Query,
    seq: u32,
    buf: &mut [u8],
    out: &mut Vec<DiagSocket>,
) -> Result<(), SockDiagError> {
    let what = q.what;
    let (protocol, states) = match q.proto {
        Proto::Tcp => (IPPROTO_TCP, StateFlags::LISTEN),
        // An unconnected UDP socket is in state CLOSE (`ss` shows UNCONN).
        Proto::Udp => (IPPROTO_UDP, StateFlags::CLOSE),
    };
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    header.sequence_number = seq;
    let socket_id = if q.family == AF_INET { SocketId::new_v4() } else { SocketId::new_v6() };
    let request = InetRequest {
        family: q.family,
        protocol,
        extensions: ExtensionFlags::empty(),
        states,
        socket_id,
    };
    let mut msg = NetlinkMessage::new(header, SockDiagMessage::InetRequest(request).into());
    msg.finalize();
    let mut bytes = vec![0u8; msg.buffer_len()];
    msg.serialize(&mut bytes);
    socket
        .send_to(&bytes, &SocketAddr::new(0, 0), 0)
        .map_err(|source| SockDiagError::Send { what, source })?;
    loop {
        if !wait_readable(socket.as_fd(), WAIT_MS) {
            return Err(SockDiagError::Timeout { what });
        }
        let n = socket
            .recv(&mut &mut buf[..], libc::MSG_TRUNC)
            .map_err(|source| SockDiagError::Recv { what, source })?;
        if n > buf.len() {
            let reason = format!("a datagram of {n} bytes exceeds the {} bytes buffer", buf.len());
            return Err(SockDiagError::Decode { what, reason });
        }
        if read_datagram(&buf[..n], q, seq, out)? {
            return Ok(());
        }
    }
}

/// Decode the messages of one datagram into `out`; true once the dump is done.
fn read_datagram(
    mut data: &[u8],
    q: Query,
    seq: u32,
    out: &mut Vec<DiagSocket>,
) -> Result<bool, SockDiagError> {
    let what = q.what;
    while !data.is_empty() {
        let msg = NetlinkMessage::<SockDiagMessage>::deserialize(data)
            .map_err(|e| SockDiagError::Decode { what, reason: e.to_string() })?;
        // Messages are 4-byte aligned; `deserialize` checked the length fits in `data`.
        let len = (msg.header.length as usize).saturating_add(3) & !3;
        data = data.get(len..).unwrap_or_default();
        if msg.header.sequence_number != seq {
            continue;
        }
        match msg.payload {
            NetlinkPayload::Done(_) => return Ok(true),
            NetlinkPayload::Error(e) if e.code.is_some() => {
                let module = match q.proto {
                    Proto::Tcp => "tcp_diag",
                    Proto::Udp => "udp_diag",
                };
                return Err(SockDiagError::Refused { what, module, source: e.to_io() });
            }
            NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(r)) => {
                if let Some(s) = socket_of(&r, q.proto) {
                    out.push(s);
                }
            }
            _ => {}
        }
    }
    Ok(false)
}

/// One answer as a socket; `None` for one with no local port (not bound).
fn socket_of(r: &InetResponse, proto: Proto) -> Option<DiagSocket> {
    let id = &r.header.socket_id;
    if id.source_port == 0 {
        return None;
    }
    let v6only =
        r.header.family == AF_INET6 && r.nlas.iter().any(|n| matches!(n, Nla::SkV6Only(true)));
    let listener =
        Listener { proto, addr: id.source_address, port: id.source_port, v6only, process: None };
    Some(DiagSocket { listener, inode: u64::from(r.header.inode) })
}

/// The sockets as core listeners, each with its process from `owners` (by inode).
pub fn with_processes(
    sockets: Vec<DiagSocket>,
    owners: &HashMap<u64, (u32, String)>,
) -> Vec<Listener> {
    sockets
        .into_iter()
        .map(|s| Listener { process: owners.get(&s.inode).cloned(), ..s.listener })
        .collect()
}

/// The process (pid, command) holding each wanted socket, given as (namespace inode, socket
/// inode): `/proc/PID/fd` of the processes of those namespaces, lowest pid first, is searched
/// for `socket:[INODE]` until every socket is found or [`MAX_FDS`] entries were read. Only as
/// root (other users' descriptors are unreadable); sockets not found are left out.
pub fn processes(wanted: &[(u64, u64)]) -> HashMap<u64, (u32, String)> {
    let mut found = HashMap::new();
    let sockets: HashSet<u64> = wanted.iter().map(|w| w.1).filter(|&i| i != 0).collect();
    if sockets.is_empty() || !nix::unistd::geteuid().is_root() {
        return found;
    }
    let namespaces: HashSet<u64> = wanted.iter().map(|w| w.0).collect();
    let Ok(rd) = std::fs::read_dir("/proc") else { return found };
    let mut pids: Vec<u32> = rd
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse().ok()))
        .collect();
    pids.sort_unstable();
    let mut budget = MAX_FDS;
    for pid in pids {
        let netns = std::fs::metadata(format!("/proc/{pid}/ns/net")).map(|m| m.ino());
        if !netns.is_ok_and(|ino| namespaces.contains(&ino)) {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { continue };
        let mut comm: Option<String> = None;
        for fd in fds.filter_map(|e| e.ok()) {
            if budget == 0 {
                return found;
            }
            budget -= 1;
            let Some(inode) = std::fs::read_link(fd.path()).ok().and_then(|t| socket_inode(&t))
            else {
                continue;
            };
            if sockets.contains(&inode) && !found.contains_key(&inode) {
                let name = comm.get_or_insert_with(|| command(pid)).clone();
                found.insert(inode, (pid, name));
            }
        }
        if found.len() == sockets.len() {
            break;
        }
    }
    found
}

/// The inode of a `socket:[INODE]` link target.
fn socket_inode(target: &std::path::Path) -> Option<u64> {
    target.to_str()?.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok()
}

/// `/proc/PID/comm`, or `?` when it cannot be read.
fn command(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|c| c.trim_end().to_owned())
        .unwrap_or_else(|_| "?".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::NetlinkPayload;
    use netlink_packet_sock_diag::inet::InetResponseHeader;
    use std::net::IpAddr;

    fn response(family: u8, addr: &str, port: u16, v6only: Option<bool>) -> InetResponse {
        let mut socket_id = if family == AF_INET { SocketId::new_v4() } else { SocketId::new_v6() };
        socket_id.source_address = addr.parse().unwrap_or(IpAddr::from([0; 4]));
        socket_id.source_port = port;
        let header = InetResponseHeader {
            family,
            state: 10,
            timer: None,
            socket_id,
            recv_queue: 0,
            send_queue: 128,
            uid: 0,
            inode: 4242,
        };
        let nlas = v6only.into_iter().map(Nla::SkV6Only).collect();
        InetResponse { header, nlas }
    }

    /// A datagram holding `messages`, as the kernel would send them (sequence 7).
    fn datagram(messages: Vec<NetlinkPayload<SockDiagMessage>>) -> Vec<u8> {
        let mut out = Vec::new();
        for payload in messages {
            let mut header = NetlinkHeader::default();
            header.sequence_number = 7;
            let mut msg = NetlinkMessage::new(header, payload);
            msg.finalize();
            let mut bytes = vec![0u8; msg.buffer_len()];
            msg.serialize(&mut bytes);
            out.extend(bytes);
        }
        out
    }

    #[test]
    fn answers_become_sockets_until_done() {
        let q = QUERIES[1];
        let inner = |r| NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(Box::new(r)));
        let data = datagram(vec![
            inner(response(AF_INET6, "::", 80, Some(false))),
            inner(response(AF_INET6, "::", 443, Some(true))),
            inner(response(AF_INET6, "::1", 0, None)),
        ]);
        let mut out = Vec::new();
        assert!(matches!(read_datagram(&data, q, 7, &mut out), Ok(false)));
        let shown: Vec<String> = out.iter().map(|s| s.listener.to_string()).collect();
        assert_eq!(shown, ["*:80", "[::]:443"]);
        assert_eq!(out[0].inode, 4242);
        let done = datagram(vec![NetlinkPayload::Done(Default::default())]);
        assert!(matches!(read_datagram(&done, q, 7, &mut out), Ok(true)));
        assert!(matches!(read_datagram(&done, q, 8, &mut out), Ok(false)), "another dump's");
        let garbage = [1u8, 0, 0];
        assert!(matches!(
            read_datagram(&garbage, q, 7, &mut out),
            Err(SockDiagError::Decode { .. })
        ));
    }

    #[test]
    fn socket_links_name_their_inode() {
        assert_eq!(socket_inode(std::path::Path::new("socket:[12345]")), Some(12345));
        assert_eq!(socket_inode(std::path::Path::new("pipe:[12345]")), None);
        assert_eq!(socket_inode(std::path::Path::new("/dev/null")), None);
    }

    #[test]
    fn nothing_wanted_scans_nothing() {
        assert!(processes(&[]).is_empty());
        assert!(processes(&[(1, 0)]).is_empty());
    }
}
