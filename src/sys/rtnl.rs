//! rtnetlink handles bound to a network namespace.
//!
//! rtnetlink has no per-namespace handle: the socket is opened on a thread inside the namespace
//! ([`crate::sys::netns::run_in`]) and keeps that namespace for its whole life; it is then wrapped
//! for tokio on the caller's runtime. This module only opens connections; it knows nothing of links
//! or routes.

use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd};

use anyhow::{Context, Result};
use netlink_sys::{Socket, TokioSocket, protocols::NETLINK_ROUTE};

use crate::sys::netns::{Netns, run_in};

/// Open a NETLINK_ROUTE socket inside `ns` (blocking; any thread).
pub fn open_socket_in(ns: &Netns) -> Result<OwnedFd> {
    run_in(ns, || {
        let socket = Socket::new(NETLINK_ROUTE).context("opening an rtnetlink socket")?;
        // SAFETY: `into_raw_fd` hands over ownership of the socket's descriptor.
        Ok(unsafe { OwnedFd::from_raw_fd(socket.into_raw_fd()) })
    })
}

/// An rtnetlink handle whose requests act inside `ns`. Must be called from within a tokio
/// runtime (it spawns the connection task there).
pub fn handle_in(ns: &Netns) -> Result<rtnetlink::Handle> {
    let fd = open_socket_in(ns)?;
    let raw = fd.into_raw_fd();
    // SAFETY: `raw` is an owned, open netlink socket; TokioSocket takes ownership of it.
    let socket = unsafe { TokioSocket::from_raw_fd(raw) };
    let (connection, handle, _) = rtnetlink::from_socket(socket);
    tokio::spawn(connection);
    Ok(handle)
}
