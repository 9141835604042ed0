//! A listener of nftables trace events in one namespace: a `NETLINK_NETFILTER` socket joined to
//! `NFNLGRP_NFTRACE`, opened on a thread that entered the namespace and stays there
//! ([`crate::sys::netns::spawn_in`], so interface indexes are named in that namespace), decoding
//! each datagram as it arrives.
//!
//! It only receives: the rules that make the kernel trace packets are `sys::nft`'s job.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::time::{SystemTime, UNIX_EPOCH};

use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_NETFILTER};
use thiserror::Error;

use super::decode::{DecodeError, NFNLGRP_NFTRACE, decode_trace, peek, trace_bodies};
use super::lend::Lender;
use crate::core::netfilter::{FlowFilter, NfEvent, is_own_table};
use crate::sys::netns::{Netns, Worker, WorkerError, spawn_in};
use crate::sys::poll::{poll_until, wait_readable};
use crate::sys::stop::Stop;

/// How long the receiving thread waits for a datagram before it checks whether to stop.
const POLL_MS: i32 = 10;

/// Datagrams read at one wakeup that make the thread nap for [`NAP`] before it waits again.
const BUSY: usize = 4;
/// How long a busy listener lets datagrams gather: far below the time a frame is held for
/// reordering before its journey is settled (the events reach the book before it is
/// annotated), far above a wakeup's cost.
const NAP: std::time::Duration = std::time::Duration::from_millis(1);

/// Events waiting to be drained, at most: under a flood the trace loses events (counted by
/// [`TraceListener::lost`]) rather than memory growing without bound.
pub const QUEUE: usize = 4096;

/// Why a listener could not start.
#[derive(Debug, Error)]
pub enum ListenError {
    #[error("opening network namespace {}: does it exist?", path.display())]
    OpenNamespace { path: PathBuf, source: anyhow::Error },
    #[error("entering network namespace {} needs CAP_SYS_ADMIN: run as root", path.display())]
    EnterNamespace { path: PathBuf, source: nix::Error },
    #[error(
        "opening a netfilter netlink socket subscribed to trace events needs CAP_NET_ADMIN and \
         nf_tables (`modprobe nf_tables`): {0}"
    )]
    Socket(std::io::Error),
    #[error("spawning the netfilter trace thread: {0}")]
    Thread(std::io::Error),
    #[error("the netfilter trace thread ended before it was ready")]
    Gone,
}

/// Trace events of one namespace, received on a thread until the listener is dropped or stopped.
#[derive(Debug)]
pub struct TraceListener {
    stop: Stop,
    thread: Option<Worker<()>>,
    events: Receiver<NfEvent>,
    errors: Arc<std::sync::Mutex<Vec<String>>>,
    lost: Arc<AtomicU64>,
    read: Arc<AtomicU64>,
}

impl TraceListener {
    /// Start listening in `ns`; events are labelled `label`. Returns once the socket is
    /// subscribed, so a packet sent afterwards is traced.
    pub fn start(ns: &Netns, label: &str) -> Result<Self, ListenError> {
        Self::start_with(ns, label, None)
    }

    /// The listener of a trace session: it keeps only the events of `flow` (other runs' flows
    /// are traced in the same namespaces and their events reach every listener there), and
    /// drops those of vtrace's own trace tables, which decide nothing, once their headers are
    /// kept for the events after them ([`Lender`]).
    pub fn start_for(ns: &Netns, label: &str, flow: FlowFilter) -> Result<Self, ListenError> {
        Self::start_with(ns, label, Some((flow, Lender::default())))
    }

    fn start_with(
        ns: &Netns,
        label: &str,
        session: Option<(FlowFilter, Lender)>,
    ) -> Result<Self, ListenError> {
        let path = ns.path();
        let stop = Stop::new();
        let errors = Arc::new(std::sync::Mutex::new(Vec::new()));
        let lost = Arc::new(AtomicU64::new(0));
        let read = Arc::new(AtomicU64::new(0));
        let (tx, events) = mpsc::sync_channel(QUEUE);
        let (ready_tx, ready_rx) = mpsc::channel();
        let ctx = Ctx {
            label: label.to_owned(),
            stop: stop.clone(),
            errors: errors.clone(),
            lost: lost.clone(),
            read: read.clone(),
            session,
        };
        let thread = spawn_in(ns, "vtrace-nftrace", move || match subscribe() {
            Ok(s) => {
                let _ = ready_tx.send(Ok(()));
                let mut ctx = ctx;
                ctx.receive(&s, &tx);
            }
            Err(e) => {
                let _ = ready_tx.send(Err(e));
            }
        })
        .map_err(|e| match e {
            WorkerError::Open(source) => ListenError::OpenNamespace { path, source },
            WorkerError::Enter { source, .. } => ListenError::EnterNamespace { path, source },
            WorkerError::Spawn { source, .. } | WorkerError::Runtime { source, .. } => {
                ListenError::Thread(source)
            }
            WorkerError::Panicked { .. } => ListenError::Gone,
        })?;
        match ready_rx.recv() {
            Ok(Ok(())) => {
                Ok(TraceListener { stop, thread: Some(thread), events, errors, lost, read })
            }
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => Err(ListenError::Gone),
        }
    }

    /// Events the queue had no room for (the trace is incomplete when this is not 0).
    pub fn lost(&self) -> u64 {
        self.lost.load(Ordering::Relaxed)
    }

    /// Trace events of the flow read so far, passed on or not (a session's listener passes on
    /// none of vtrace's own table's: this says that the namespace was traced at all).
    pub fn read(&self) -> u64 {
        self.read.load(Ordering::Relaxed)
    }

    /// Events received so far (non-blocking).
    pub fn drain(&self) -> Vec<NfEvent> {
        self.events.try_iter().collect()
    }

    /// Wait up to `timeout` for the next event.
    pub fn recv_timeout(&self, timeout: std::time::Duration) -> Option<NfEvent> {
        self.events.recv_timeout(timeout).ok()
    }

    /// Datagrams that could not be decoded (with the reason), so far.
    pub fn errors(&self) -> Vec<String> {
        self.errors.lock().map(|e| e.clone()).unwrap_or_default()
    }

    /// Stop the thread and return the events not yet drained.
    pub fn stop(mut self) -> Vec<NfEvent> {
        self.halt();
        self.drain()
    }

    /// Stop the thread; the events it queued stay to be drained, and the counts are final.
    pub fn halt(&mut self) {
        self.stop.request();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for TraceListener {
    fn drop(&mut self) {
        self.halt();
    }
}

fn subscribe() -> Result<Socket, ListenError> {
    let mut s = Socket::new(NETLINK_NETFILTER).map_err(ListenError::Socket)?;
    s.bind(&SocketAddr::new(0, 0)).map_err(ListenError::Socket)?;
    s.add_membership(NFNLGRP_NFTRACE).map_err(ListenError::Socket)?;
    // Bursts of events must not overflow the default buffer; failure only costs headroom.
    let _ = s.set_rx_buf_sz(4 << 20);
    let _ = s.set_no_enobufs(true);
    s.set_non_blocking(true).map_err(ListenError::Socket)?;
    Ok(s)
}

/// What the receiving thread needs besides the socket.
struct Ctx {
    label: String,
    stop: Stop,
    errors: Arc<std::sync::Mutex<Vec<String>>>,
    lost: Arc<AtomicU64>,
    /// Counts [`TraceListener::read`].
    read: Arc<AtomicU64>,
    /// A session's listener: only this flow's events are kept, and vtrace's own tables' events
    /// only lend their headers.
    session: Option<(FlowFilter, Lender)>,
}

impl Ctx {
    fn receive(&mut self, s: &Socket, tx: &SyncSender<NfEvent>) {
        let mut names: HashMap<u32, Option<String>> = HashMap::new();
        let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
        let stop = self.stop.clone();
        poll_until(&stop, || {
            if !wait_readable(s.as_fd(), POLL_MS) {
                return ControlFlow::Continue(());
            }
            // Every datagram queued, then wait again (a busy hook queues many at a time: a
            // poll per datagram doubled the calls).
            let mut got = 0;
            loop {
                buf.clear();
                if s.recv(&mut buf, 0).is_err() {
                    break;
                }
                got += 1;
                self.datagram(&buf, &mut names, tx)?;
                if stop.requested() {
                    return ControlFlow::Continue(());
                }
            }
            // Under a flood, let the next datagrams gather before waiting again: one wakeup
            // then reads many.
            if got >= BUSY {
                std::thread::sleep(NAP);
            }
            ControlFlow::Continue(())
        });
    }

    /// Decode one datagram and queue its events; `Break` when nobody takes them any more.
    fn datagram(
        &mut self,
        buf: &[u8],
        names: &mut HashMap<u32, Option<String>>,
        tx: &SyncSender<NfEvent>,
    ) -> ControlFlow<()> {
        let t_ns = now_ns();
        for body in trace_bodies(buf) {
            let mut ev = match body.and_then(|b| self.event(b)) {
                Ok(Some(ev)) => ev,
                Ok(None) => continue,
                Err(e) => {
                    if let Ok(mut errs) = self.errors.lock() {
                        errs.push(e.to_string());
                    }
                    continue;
                }
            };
            ev.netns.clone_from(&self.label);
            ev.t_ns = t_ns;
            ev.iif_name = ev.iif.and_then(|i| name(names, i));
            ev.oif_name = ev.oif.and_then(|i| name(names, i));
            match tx.try_send(ev) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => {
                    self.lost.fetch_add(1, Ordering::Relaxed);
                }
                Err(TrySendError::Disconnected(_)) => return ControlFlow::Break(()),
            }
        }
        ControlFlow::Continue(())
    }

    /// The event of one trace message, or `None` when it is not passed on. A session's listener
    /// reads the table, id and headers first and builds only the events it passes on.
    fn event(&mut self, body: &[u8]) -> Result<Option<NfEvent>, DecodeError> {
        let Some((flow, lender)) = self.session.as_mut() else {
            let ev = decode_trace(body)?;
            self.read.fetch_add(1, Ordering::Relaxed);
            return Ok(Some(ev));
        };
        let p = peek(body)?;
        if !flow.keep(p.id, p.network_header, p.transport_header) {
            return Ok(None);
        }
        self.read.fetch_add(1, Ordering::Relaxed);
        if !p.network_header.is_empty() {
            lender.keep(p.id, p.network_header, p.transport_header);
        }
        if std::str::from_utf8(p.table).is_ok_and(is_own_table) {
            return Ok(None);
        }
        let mut ev = decode_trace(body)?;
        lender.lend(&mut ev);
        Ok(Some(ev))
    }
}

/// Name of an interface of this thread's namespace, cached.
fn name(cache: &mut HashMap<u32, Option<String>>, index: u32) -> Option<String> {
    cache.entry(index).or_insert_with(|| if_name(index)).clone()
}

fn if_name(index: u32) -> Option<String> {
    let mut b = [0u8; libc::IF_NAMESIZE];
    // SAFETY: the buffer holds IF_NAMESIZE bytes, as if_indextoname requires.
    let p = unsafe { libc::if_indextoname(index, b.as_mut_ptr().cast()) };
    if p.is_null() {
        return None;
    }
    std::ffi::CStr::from_bytes_until_nul(&b).ok().and_then(|c| c.to_str().ok()).map(str::to_owned)
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
