//! The stop handle: one flag, cloned to whoever must stop (the live session, the TUI, `lab up`),
//! set by SIGINT, SIGTERM or SIGHUP (a terminal that went away) or by the code that decides to
//! stop (`q` in the TUI, the end of a replay). No process-wide statics: every holder got its
//! handle from the command that created it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A request to stop, shared by clones.
#[derive(Debug, Clone, Default)]
pub struct Stop(Arc<AtomicBool>);

impl Stop {
    /// A handle nothing has set yet (and no signal will).
    pub fn new() -> Self {
        Stop::default()
    }

    /// A handle that SIGINT, SIGTERM and SIGHUP set (instead of killing the process, so that
    /// the trace ends cleanly: captures closed, trace tables removed, the pcapng complete).
    pub fn on_signals() -> std::io::Result<Self> {
        let stop = Stop::new();
        for signal in
            [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM, signal_hook::consts::SIGHUP]
        {
            signal_hook::flag::register(signal, Arc::clone(&stop.0))?;
        }
        Ok(stop)
    }

    /// Ask every holder to stop.
    pub fn request(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// True once a stop was requested.
    pub fn requested(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_reaches_every_clone_and_only_them() {
        let a = Stop::new();
        let b = a.clone();
        let other = Stop::new();
        assert!(!b.requested());
        a.request();
        assert!(b.requested());
        assert!(!other.requested());
    }

    #[test]
    fn a_signal_sets_the_handle() {
        let stop = Stop::on_signals().expect("registering signal handlers");
        nix::sys::signal::raise(nix::sys::signal::Signal::SIGHUP).expect("raising SIGHUP");
        assert!(stop.requested());
    }
}
