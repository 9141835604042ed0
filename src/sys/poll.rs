//! The loop of a worker thread that polls a source until it is told to stop (a capture, a trace
//! listener, the drop monitor's trace pipe): one shape for all of them.
//!
//! [`poll_until`] asks the [`Stop`] before every step; each step waits a bounded time for its
//! source (e.g. [`wait_readable`]) and handles what came, so a stop is noticed within one wait.
//! The waits are the callers' (their timeouts are theirs); this module never sleeps by itself.

use std::ops::ControlFlow;
use std::os::fd::{AsRawFd, BorrowedFd};

use crate::sys::stop::Stop;

/// Run `step` until `stop` is requested (asked before every step) or `step` ends the loop with
/// `Break(value)`; `Some(value)` then, `None` when stopped.
pub fn poll_until<B>(stop: &Stop, mut step: impl FnMut() -> ControlFlow<B>) -> Option<B> {
    while !stop.requested() {
        if let ControlFlow::Break(value) = step() {
            return Some(value);
        }
    }
    None
}

/// Wait up to `timeout_ms` for `fd` to be readable (poll(2)); true when it is.
pub fn wait_readable(fd: BorrowedFd<'_>, timeout_ms: i32) -> bool {
    let mut pfd = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd, its count passed; the descriptor is borrowed for the call.
    unsafe { libc::poll(&raw mut pfd, 1, timeout_ms) > 0 }
}

/// Wait up to `timeout_ms` for any of `fds` to be readable (or broken: an error or hang-up is
/// for the reader to find); the indexes in `fds` of those that are go into `ready` (cleared
/// first). `pfds` is scratch space the caller keeps, so a wait allocates nothing.
pub fn wait_any_readable(
    fds: &[BorrowedFd<'_>],
    timeout_ms: i32,
    pfds: &mut Vec<libc::pollfd>,
    ready: &mut Vec<usize>,
) {
    ready.clear();
    pfds.clear();
    pfds.extend(fds.iter().map(|fd| libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    }));
    let Ok(n) = libc::nfds_t::try_from(pfds.len()) else { return };
    // SAFETY: `pfds` holds `n` valid pollfds; the descriptors are borrowed for the call.
    if unsafe { libc::poll(pfds.as_mut_ptr(), n, timeout_ms) } > 0 {
        ready.extend(pfds.iter().enumerate().filter(|(_, p)| p.revents != 0).map(|(i, _)| i));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_ends_the_loop_or_the_stop_does() {
        let stop = Stop::new();
        let mut n = 0;
        let ended = poll_until(&stop, || {
            n += 1;
            if n == 3 { ControlFlow::Break(n) } else { ControlFlow::Continue(()) }
        });
        assert_eq!(ended, Some(3));
        let mut steps = 0;
        let ended: Option<()> = poll_until(&stop, || {
            steps += 1;
            stop.request();
            ControlFlow::Continue(())
        });
        assert_eq!((ended, steps), (None, 1));
    }

    #[test]
    fn only_the_readable_descriptors_are_ready() {
        use std::io::Write;
        use std::os::fd::AsFd;
        use std::os::unix::net::UnixStream;
        let (mut a_tx, a_rx) = UnixStream::pair().expect("a socket pair");
        let (_b_tx, b_rx) = UnixStream::pair().expect("a socket pair");
        let (mut pfds, mut ready) = (Vec::new(), vec![7]);
        let fds = [a_rx.as_fd(), b_rx.as_fd()];
        wait_any_readable(&fds, 0, &mut pfds, &mut ready);
        assert_eq!(ready, Vec::<usize>::new());
        a_tx.write_all(b"x").expect("writing");
        wait_any_readable(&fds, 1000, &mut pfds, &mut ready);
        assert_eq!(ready, vec![0]);
    }
}
