//! The event loop: a tick, terminal events and a stream of core results ([`Feed`]), multiplexed
//! so that incoming results never block input. Terminal setup and restore happen here, on every
//! exit path (ratatui's `try_init` installs a panic hook that restores the terminal too).
//!
//! A terminal that goes away (the window closed, the SSH connection or the tmux pane gone) ends
//! the view as `q` does: it hangs up, reads return end of file and writes fail with EIO, and the
//! loop sees that (`Keys`, [`terminal_gone`]) rather than waiting forever for keys.
//!
//! `analyze --tui` feeds everything before the loop starts and passes no channel; live tracing
//! passes the receiving end of a channel its capture side sends [`Feed`] items on.

use std::fs::File;
use std::io::{self, IsTerminal, Write as _};
use std::os::fd::{AsFd, AsRawFd};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::{Duration, Instant};

use anyhow::Result;
use crossterm::event::{self, Event};
use ratatui::Terminal;
use ratatui::backend::Backend;

use crate::core::exchange::Exchange;
use crate::core::line::PointIdx;
use crate::core::verdict::Verdict;
use crate::report::trace::PointRow;
use crate::sys::stop::Stop;
use crate::tui::action::{Action, action_for};
use crate::tui::frames::FrameSource;
use crate::tui::state::TuiState;

/// How often the screen is redrawn when nothing happens (and how long input is waited for).
pub const TICK: Duration = Duration::from_millis(100);

/// How long input is waited for while results keep arriving.
const BUSY_WAIT: Duration = Duration::from_millis(5);

/// Most feed items taken between two looks at the keyboard.
const FEED_BUDGET: usize = 50_000;

/// A result of the core, for the TUI to show.
#[derive(Debug)]
pub enum Feed {
    /// The next capture point (in `PointIdx` order).
    Point(PointRow),
    /// The path order the core learned.
    Order(Vec<PointIdx>),
    /// A settled exchange.
    Exchange(Box<Exchange>),
    /// Packets captured and dropped by the kernel, per point by `PointIdx`.
    Counts {
        captured: Vec<u64>,
        kernel_drops: Vec<u64>,
    },
    Verdict(Verdict),
    /// Where `w` finds the frames of the exchanges shown.
    Frames(Arc<dyn FrameSource>),
}

/// Apply one feed item to the state.
pub fn apply(state: &mut TuiState, item: Feed) {
    match item {
        Feed::Point(row) => state.push_point(row),
        Feed::Order(order) => state.set_order(&order),
        Feed::Exchange(ex) => state.push_owned(*ex),
        Feed::Counts { captured, kernel_drops } => {
            for (i, row) in state.points.iter_mut().enumerate() {
                row.captured = captured.get(i).copied().unwrap_or(row.captured);
                row.kernel_drops = kernel_drops.get(i).copied().unwrap_or(row.kernel_drops);
            }
        }
        Feed::Verdict(v) => {
            state.set_verdict(v);
            // A replayed file is over once its verdict is shown.
            state.quit |= state.quit_when_done;
        }
        Feed::Frames(source) => state.frames = Some(source),
    }
}

/// Take over the terminal, run the loop until the user quits (or the terminal goes away), and
/// give the terminal back. `stop` closes the view like `q` (SIGINT, SIGTERM, SIGHUP; the trace
/// ending on its own does not: the view stays open until the user quits).
pub fn run(state: &mut TuiState, feed: Option<Receiver<Feed>>, stop: &Stop) -> Result<()> {
    let result = match ratatui::try_init() {
        Ok(mut terminal) => {
            let mut keys = Keys::open();
            let result = run_on(&mut terminal, state, feed, stop, |wait| keys.next(wait));
            if keys.hung_up() {
                // Nothing to give back; dropping the terminal would write to it and, when that
                // fails, panic printing so to a stderr that is gone too.
                std::mem::forget(terminal);
                return result;
            }
            result
        }
        Err(e) => Err(anyhow::Error::new(e)
            .context("setting up the terminal for the TUI (is stdout a terminal?)")),
    };
    if let Err(e) = ratatui::try_restore() {
        let _ = writeln!(io::stderr(), "vtrace: restoring the terminal: {e}");
    }
    result
}

/// True when an error of the terminal says it went away: end of file (a terminal that hung up
/// reads as empty), EIO (writing to it), ENXIO or ENODEV (its device is gone).
pub fn terminal_gone(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::UnexpectedEof
        || matches!(e.raw_os_error(), Some(libc::EIO | libc::ENXIO | libc::ENODEV))
}

/// The keyboard: terminal events from crossterm, on a terminal watched for a hang-up first.
///
/// crossterm 0.28 never returns from `poll` or `read` once its terminal has hung up: the
/// terminal stays readable, read(2) returns 0 (or fails with EIO) and it reads again, forever,
/// at full CPU. So the terminal it reads (stdin when that is a terminal, else /dev/tty) is
/// polled here first, and crossterm only asked for what is already there; a hang-up
/// (POLLHUP, POLLERR, POLLNVAL) is reported as end of file. (Only a hang-up in the instant
/// between the poll and crossterm's read is not caught.)
struct Keys {
    /// The terminal crossterm reads (a duplicate of stdin, or /dev/tty); `None`: not watched.
    tty: Option<File>,
}

impl Keys {
    fn open() -> Keys {
        let stdin = io::stdin();
        let tty = if stdin.is_terminal() {
            let tty = stdin.as_fd().try_clone_to_owned().map(File::from).ok();
            if let Some(t) = &tty {
                unplug_stdin_at_hangup(t);
            }
            tty
        } else {
            File::open("/dev/tty").ok()
        };
        Keys { tty }
    }

    /// Wait up to `wait` for input on the terminal: whether it hung up.
    fn wait(&self, wait: Duration) -> io::Result<bool> {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        let Some(tty) = &self.tty else { return Ok(false) };
        let mut fds = [PollFd::new(tty.as_fd(), PollFlags::POLLIN)];
        let timeout = PollTimeout::try_from(wait).unwrap_or(PollTimeout::MAX);
        match poll(&mut fds, timeout) {
            Ok(_) => {}
            // A signal (a resize, SIGINT…): the loop looks again.
            Err(nix::errno::Errno::EINTR) => return Ok(false),
            Err(e) => return Err(e.into()),
        }
        let gone = PollFlags::POLLHUP | PollFlags::POLLERR | PollFlags::POLLNVAL;
        Ok(fds[0].revents().is_some_and(|r| r.intersects(gone)))
    }

    /// True once the terminal hung up.
    fn hung_up(&self) -> bool {
        self.wait(Duration::ZERO).unwrap_or(false)
    }

    /// The next terminal event within `wait`; end of file when the terminal hung up.
    fn next(&mut self, wait: Duration) -> io::Result<Option<Event>> {
        if self.tty.is_none() {
            return if event::poll(wait)? { event::read().map(Some) } else { Ok(None) };
        }
        if self.wait(wait)? {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the terminal hung up"));
        }
        // What is there already (keys, a resize): crossterm does not wait.
        if event::poll(Duration::ZERO)? { event::read().map(Some) } else { Ok(None) }
    }
}

/// When the terminal `tty` (a duplicate of stdin) hangs up, stdin, the descriptor crossterm
/// reads, becomes the read end of an empty non-blocking pipe. crossterm 0.28 reads a hung-up
/// terminal in a loop that only a would-block ends: a hang-up in the instant between
/// [`Keys::wait`]'s poll and crossterm's read would keep it there forever, at full CPU. With
/// the pipe, that read would-blocks, crossterm returns, and the loop sees the hang-up.
fn unplug_stdin_at_hangup(tty: &File) {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    let Ok(watched) = tty.try_clone() else { return };
    let watch = move || {
        let gone = PollFlags::POLLHUP | PollFlags::POLLERR | PollFlags::POLLNVAL;
        loop {
            // No events asked: poll returns on a hang-up (or an error) only.
            let mut fds = [PollFd::new(watched.as_fd(), PollFlags::empty())];
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) if fds[0].revents().is_some_and(|r| r.intersects(gone)) => break,
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(_) => return,
            }
        }
        let Ok((read_end, write_end)) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_NONBLOCK | nix::fcntl::OFlag::O_CLOEXEC)
        else {
            return;
        };
        // SAFETY: dup2 on two open descriptors: fd 0 now refers to the pipe (the terminal it
        // referred to is gone; `watched` and `Keys::tty` keep their own descriptors of it).
        if unsafe { libc::dup2(read_end.as_raw_fd(), libc::STDIN_FILENO) } >= 0 {
            // Open for the rest of the process: with no writer left, a read would return end
            // of file, which crossterm reads again forever too.
            std::mem::forget(write_end);
        }
    };
    // Without the thread the loop still sees a hang-up, outside that instant.
    let _ = std::thread::Builder::new().name("vtrace-hangup".into()).spawn(watch);
}

/// The loop on any backend, with any source of terminal events (tests pass scripted ones).
pub fn run_on<B: Backend>(
    terminal: &mut Terminal<B>,
    state: &mut TuiState,
    mut feed: Option<Receiver<Feed>>,
    stop: &Stop,
    mut next_event: impl FnMut(Duration) -> io::Result<Option<Event>>,
) -> Result<()> {
    // While results flow, the loop comes back for them every BUSY_WAIT (the live side waits
    // when the feed is full) and redraws at most every TICK; idle, it waits a TICK for keys.
    let mut drawn: Option<Instant> = None;
    let mut busy = false;
    let mut keyed = true;
    while !state.quit && !stop.requested() {
        if keyed || !busy || drawn.is_none_or(|t| t.elapsed() >= TICK) {
            match terminal.draw(|f| f.render_widget(&*state, f.area())) {
                Ok(_) => drawn = Some(Instant::now()),
                // As if the user quit: nobody is left to see the view.
                Err(e) if terminal_gone(&e) => {
                    state.update(Action::Quit);
                    break;
                }
                Err(e) => return Err(anyhow::Error::new(e).context("drawing the TUI")),
            }
        }
        // Terminal events first: keys are handled however fast results arrive.
        let wait = if busy { BUSY_WAIT } else { TICK };
        keyed = match take_events(state, wait, &mut next_event) {
            Ok(keyed) => keyed,
            Err(e) if terminal_gone(&e) => {
                state.update(Action::Quit);
                break;
            }
            Err(e) => return Err(anyhow::Error::new(e).context("reading terminal events")),
        };
        busy = false;
        if let Some(rx) = &feed {
            for _ in 0..FEED_BUDGET {
                match rx.try_recv() {
                    Ok(item) => {
                        apply(state, item);
                        busy = true;
                    }
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        feed = None;
                        break;
                    }
                }
            }
        }
    }
    Ok(())
}

/// Wait up to `wait` for a terminal event, then take those already there (until one quits: what
/// is typed after `q` is left to the shell); true when there was one.
fn take_events(
    state: &mut TuiState,
    wait: Duration,
    next_event: &mut impl FnMut(Duration) -> io::Result<Option<Event>>,
) -> io::Result<bool> {
    let Some(ev) = next_event(wait)? else { return Ok(false) };
    handle(state, ev);
    while !state.quit
        && let Some(ev) = next_event(Duration::ZERO)?
    {
        handle(state, ev);
    }
    Ok(true)
}

fn handle(state: &mut TuiState, ev: Event) {
    // Resize needs nothing: the next draw lays out the new size.
    if let Event::Key(key) = ev
        && let Some(action) = action_for(key, state.mode)
    {
        state.update(action);
    }
}

#[cfg(test)]
mod tests {
    use std::io;

    use ratatui::backend::TestBackend;

    use super::*;

    fn run_with(error: io::Error) -> (Result<()>, TuiState) {
        let mut terminal = Terminal::new(TestBackend::new(80, 24)).expect("test terminal");
        let mut state = TuiState::new("test", 10);
        let mut error = Some(error);
        let result = run_on(&mut terminal, &mut state, None, &Stop::new(), |_| {
            error.take().map_or(Ok(None), Err)
        });
        (result, state)
    }

    #[test]
    fn a_terminal_that_went_away_ends_the_view_like_q() {
        for gone in [
            io::Error::new(io::ErrorKind::UnexpectedEof, "the terminal hung up"),
            io::Error::from_raw_os_error(libc::EIO),
            io::Error::from_raw_os_error(libc::ENXIO),
        ] {
            let what = gone.to_string();
            let (result, state) = run_with(gone);
            assert!(result.is_ok() && state.quit, "{what}: {result:?}");
        }
        let (result, state) = run_with(io::Error::other("no such thing"));
        let err = result.map_err(|e| format!("{e:#}")).err().unwrap_or_default();
        assert_eq!(err, "reading terminal events: no such thing");
        assert!(!state.quit);
    }

    #[test]
    fn a_hang_up_is_seen_before_crossterm_reads() {
        // A pipe stands for the terminal: closing its writer is what a hang-up looks like to
        // poll(2) (POLLHUP).
        let (reader, writer) = nix::unistd::pipe().expect("pipe");
        let mut keys = Keys { tty: Some(File::from(reader)) };
        assert!(!keys.hung_up());
        drop(writer);
        assert!(keys.hung_up());
        let err = keys.next(Duration::from_secs(5)).map(|_| ()).map_err(|e| e.kind());
        assert_eq!(err, Err(io::ErrorKind::UnexpectedEof));
    }
}
