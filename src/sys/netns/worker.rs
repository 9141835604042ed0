//! Work on threads of vtrace's own inside a network namespace: the one place vtrace calls
//! `setns(2)` (in `enter`).
//!
//! `setns(CLONE_NEWNET)` changes only the calling thread (DESIGN.md), so each piece of work gets
//! a fresh std thread that enters the namespace and ends with the work: never a tokio blocking
//! thread (it would be reused while still inside) and never the caller's thread. A socket opened
//! there keeps its namespace and can be handed to any thread afterwards. The shapes:
//!
//! - [`run_in`]: one-shot work, its result returned (`nft`, `/proc/sys` reads, a process forked
//!   there, a raw socket);
//! - [`spawn_in`]: a long-lived thread (a capture, a trace listener), returned once inside;
//! - [`socket_in`] / [`sockets_in`]: netlink sockets opened inside one namespace or many at once
//!   ([`socket_here`] on a thread already inside);
//! - [`block_on`]: a future run on a current-thread tokio runtime owned by such a thread.
//!
//! [`Target::Here`] gives the same shapes without entering anything. This module runs work; what
//! the work does is its callers' business.

use std::fs::File;
use std::future::Future;
use std::os::fd::{AsFd, FromRawFd, IntoRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;

use anyhow::Context;
use netlink_sys::{Socket, protocols};
use nix::sched::{CloneFlags, setns};
use thiserror::Error;

use super::Netns;

/// The namespace a worker thread runs in.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// Where the asking thread is: nothing is entered.
    Here,
    /// A namespace by name or path, opened when the work starts.
    Netns(&'a Netns),
    /// A namespace file already open: enumeration holds one per namespace, so that a namespace
    /// deleted meanwhile (`ip netns del` by someone else) is still the one that was listed, never
    /// a missing or another file. `path` names it in messages.
    Open { file: &'a File, path: &'a Path },
}

impl<'a> From<&'a Netns> for Target<'a> {
    fn from(ns: &'a Netns) -> Self {
        Target::Netns(ns)
    }
}

/// Why work could not run on its thread (the work's own failures are in its result).
#[derive(Debug, Error)]
pub enum WorkerError {
    /// The namespace file could not be opened (missing, or an invalid name).
    #[error(transparent)]
    Open(anyhow::Error),
    #[error("entering network namespace {} needs CAP_SYS_ADMIN: run as root", path.display())]
    Enter { path: PathBuf, source: nix::Error },
    #[error("spawning the thread {name}")]
    Spawn { name: String, source: std::io::Error },
    #[error("starting a tokio runtime on the thread {name}")]
    Runtime { name: String, source: std::io::Error },
    #[error("the thread {name} panicked")]
    Panicked { name: String },
}

/// A long-lived thread inside a namespace, from [`spawn_in`].
pub struct Worker<T> {
    name: String,
    /// `None` only when the thread could not enter, which [`spawn_in`] already reported.
    handle: JoinHandle<Option<T>>,
}

impl<T> std::fmt::Debug for Worker<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker").field("name", &self.name).finish_non_exhaustive()
    }
}

impl<T> Worker<T> {
    /// Wait for the thread to end; what its work returned.
    pub fn join(self) -> Result<T, WorkerError> {
        match self.handle.join() {
            Ok(Some(t)) => Ok(t),
            _ => Err(WorkerError::Panicked { name: self.name }),
        }
    }
}

/// Run `f` on a new thread inside `target` and return its result (blocking).
pub fn run_in<'a, T, F>(target: impl Into<Target<'a>>, name: &str, f: F) -> anyhow::Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> anyhow::Result<T> + Send + 'static,
{
    join(name, start(target.into(), name, f)?)?
}

/// Start `f` on a new thread `name` inside `target`; returns once the thread is inside (so a
/// failure to enter is this call's error) while `f` goes on running there.
pub fn spawn_in<'a, T, F>(
    target: impl Into<Target<'a>>,
    name: &str,
    f: F,
) -> Result<Worker<T>, WorkerError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let entry = open(target.into())?;
    let (entered_tx, entered) = mpsc::sync_channel(1);
    let handle = thread(name, move || {
        let result = enter(entry);
        let inside = result.is_ok();
        let _ = entered_tx.send(result);
        inside.then(f)
    })?;
    match entered.recv() {
        Ok(Ok(())) => Ok(Worker { name: name.to_owned(), handle }),
        Ok(Err(e)) => {
            let _ = handle.join();
            Err(e)
        }
        Err(_) => Err(WorkerError::Panicked { name: name.to_owned() }),
    }
}

/// Open a netlink socket of `protocol` (`netlink_sys::protocols::*`) inside `target`.
pub fn socket_in<'a>(target: impl Into<Target<'a>>, protocol: isize) -> anyhow::Result<OwnedFd> {
    run_in(target, "vtrace-socket", move || socket_here(protocol))
}

/// Open a netlink socket of `protocol` inside each of `targets`, all at once (one thread each);
/// the results are in the order of `targets`.
pub fn sockets_in(targets: &[Target<'_>], protocol: isize) -> Vec<anyhow::Result<OwnedFd>> {
    each_in(targets, "vtrace-socket", move || socket_here(protocol))
}

/// Run `f` inside each of `targets`, all at once (one thread each); the results are in the
/// order of `targets`.
pub fn each_in<T, F>(targets: &[Target<'_>], name: &str, f: F) -> Vec<anyhow::Result<T>>
where
    T: Send + 'static,
    F: Fn() -> anyhow::Result<T> + Clone + Send + 'static,
{
    let started: Vec<_> = targets.iter().map(|t| start(*t, name, f.clone())).collect();
    started.into_iter().map(|s| join(name, s?)?).collect()
}

/// Run the future `make` builds to completion on a current-thread tokio runtime (I/O enabled)
/// owned by a new thread `name` inside `target`; its output. The future is built on that thread,
/// so it need not be `Send`; the runtime ends with it.
pub fn block_on<'a, T, F, Fut>(
    target: impl Into<Target<'a>>,
    name: &str,
    make: F,
) -> Result<T, WorkerError>
where
    T: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T>,
{
    let owned = name.to_owned();
    let handle = start(target.into(), name, move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .map_err(|source| WorkerError::Runtime { name: owned, source })?;
        Ok(runtime.block_on(make()))
    })?;
    join(name, handle)?
}

/// A namespace opened for a thread to enter; `None` to stay.
type Entry = Option<(File, PathBuf)>;

fn open(target: Target<'_>) -> Result<Entry, WorkerError> {
    match target {
        Target::Here => Ok(None),
        Target::Netns(ns) => ns.open().map(|f| Some((f, ns.path()))).map_err(WorkerError::Open),
        Target::Open { file, path } => {
            file.try_clone().map(|f| Some((f, path.to_owned()))).map_err(|e| {
                let e = anyhow::Error::new(e);
                WorkerError::Open(
                    e.context(format!("opening network namespace {}", path.display())),
                )
            })
        }
    }
}

/// Move the calling thread into the namespace of `entry` (nothing for `None`): the only call of
/// `setns(2)` in vtrace. The namespace file closes once inside; the thread keeps the namespace.
fn enter(entry: Entry) -> Result<(), WorkerError> {
    let Some((file, path)) = entry else { return Ok(()) };
    setns(file.as_fd(), CloneFlags::CLONE_NEWNET)
        .map_err(|source| WorkerError::Enter { path, source })
}

/// Start `f` on a new thread inside `target` without waiting: the thread's result says whether
/// it got in.
fn start<T, F>(
    target: Target<'_>,
    name: &str,
    f: F,
) -> Result<JoinHandle<Result<T, WorkerError>>, WorkerError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let entry = open(target)?;
    thread(name, move || {
        enter(entry)?;
        Ok(f())
    })
}

fn thread<T, F>(name: &str, f: F) -> Result<JoinHandle<T>, WorkerError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(f)
        .map_err(|source| WorkerError::Spawn { name: name.to_owned(), source })
}

fn join<T>(name: &str, handle: JoinHandle<Result<T, WorkerError>>) -> Result<T, WorkerError> {
    handle.join().map_err(|_| WorkerError::Panicked { name: name.to_owned() })?
}

/// A netlink socket of `protocol`, opened on the calling thread (so in its namespace: for work
/// already running inside one, e.g. under [`block_on`]).
pub fn socket_here(protocol: isize) -> anyhow::Result<OwnedFd> {
    let what = match protocol {
        protocols::NETLINK_ROUTE => "an rtnetlink",
        protocols::NETLINK_NETFILTER => "a netfilter netlink",
        _ => "a netlink",
    };
    let socket = Socket::new(protocol).with_context(|| format!("opening {what} socket"))?;
    // SAFETY: `into_raw_fd` hands over ownership of the socket's descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(socket.into_raw_fd()) })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    #[test]
    fn work_here_runs_on_its_own_named_thread() {
        let name = run_in(Target::Here, "vtrace-test", || {
            Ok(std::thread::current().name().map(str::to_owned))
        });
        assert_eq!(name.ok().flatten().as_deref(), Some("vtrace-test"));
        let worker = spawn_in(Target::Here, "vtrace-test-long", || 7);
        assert_eq!(worker.and_then(Worker::join).ok(), Some(7));
        let out = block_on(Target::Here, "vtrace-test-rt", || async { 6 * 7 });
        assert_eq!(out.ok(), Some(42));
    }

    #[test]
    fn a_missing_namespace_is_named_and_nothing_runs() {
        let ns = Netns::Path("/nonexistent/vtrace-test-ns".into());
        let ran = Arc::new(AtomicBool::new(false));
        let flag = ran.clone();
        let err = spawn_in(&ns, "vtrace-test", move || flag.store(true, Ordering::SeqCst))
            .map(|_| ())
            .err()
            .map(|e| format!("{:#}", anyhow::Error::new(e)));
        let err = err.unwrap_or_default();
        assert!(err.starts_with("opening network namespace /nonexistent/vtrace-test-ns"), "{err}");
        assert!(!ran.load(Ordering::SeqCst));
        let err = run_in(&ns, "vtrace-test", || Ok(())).map_err(|e| format!("{e:#}"));
        assert!(err.is_err_and(|e| e.starts_with("opening network namespace")));
    }
}
