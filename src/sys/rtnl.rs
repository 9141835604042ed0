//! rtnetlink handles bound to a network namespace.
//!
//! rtnetlink has no per-namespace handle: the socket is opened on a thread inside the namespace
//! ([`crate::sys::netns::socket_in`]) and keeps that namespace for its whole life; it is then
//! wrapped for tokio on the caller's runtime ([`handle_in`]), or the whole request runs on a
//! runtime of a thread inside the namespace ([`with_handle_in`]). This module only opens
//! connections; it knows nothing of links or routes.

use std::future::Future;
use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd};

use anyhow::Result;
use netlink_sys::{TokioSocket, protocols::NETLINK_ROUTE};

use crate::sys::netns::{self, Netns};

/// An rtnetlink handle whose requests act inside `ns`. Must be called from within a tokio
/// runtime (it spawns the connection task there).
pub fn handle_in(ns: &Netns) -> Result<rtnetlink::Handle> {
    Ok(handle_of(netns::socket_in(ns, NETLINK_ROUTE)?))
}

/// An rtnetlink handle on `socket`, a NETLINK_ROUTE socket (its requests act in the namespace
/// it was opened in). Must be called from within a tokio runtime (it spawns the connection task
/// there).
pub fn handle_of(socket: OwnedFd) -> rtnetlink::Handle {
    // SAFETY: `socket` is an owned, open netlink socket; TokioSocket takes ownership of it.
    let socket = unsafe { TokioSocket::from_raw_fd(socket.into_raw_fd()) };
    let (connection, handle, _) = rtnetlink::from_socket(socket);
    tokio::spawn(connection);
    handle
}

/// Run `work` with a handle acting inside `ns`, on a current-thread runtime of a thread inside
/// `ns` (`name`), and return its result (blocking; callable from anywhere, also from inside
/// another runtime).
pub fn with_handle_in<T, F, Fut>(ns: &Netns, name: &str, work: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce(rtnetlink::Handle) -> Fut + Send + 'static,
    Fut: Future<Output = Result<T>>,
{
    netns::block_on(ns, name, move || async move {
        // This thread is inside `ns`: its socket is too.
        let socket = netns::socket_here(NETLINK_ROUTE)?;
        work(handle_of(socket)).await
    })?
}
