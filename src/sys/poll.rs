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
}
