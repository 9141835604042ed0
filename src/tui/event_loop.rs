//! The event loop: a tick, terminal events and a stream of core results ([`Feed`]), multiplexed
//! so that incoming results never block input. Terminal setup and restore happen here, on every
//! exit path (ratatui's `try_init` installs a panic hook that restores the terminal too).
//!
//! `analyze --tui` feeds everything before the loop starts and passes no channel; live tracing
//! passes the receiving end of a channel its capture side sends [`Feed`] items on.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use crossterm::event::{self, Event};
use ratatui::Terminal;
use ratatui::backend::Backend;

use crate::core::exchange::Exchange;
use crate::core::line::PointIdx;
use crate::core::verdict::Verdict;
use crate::report::trace::PointRow;
use crate::sys::stop::Stop;
use crate::tui::action::action_for;
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
        Feed::Verdict(v) => state.set_verdict(v),
        Feed::Frames(source) => state.frames = Some(source),
    }
}

/// Take over the terminal, run the loop until the user quits, and give the terminal back.
/// `stop` closes the view like `q` (SIGINT, SIGTERM, SIGHUP; the trace ending on its own does
/// not: the view stays open until the user quits).
pub fn run(state: &mut TuiState, feed: Option<Receiver<Feed>>, stop: &Stop) -> Result<()> {
    let terminal = ratatui::try_init();
    let result = match terminal {
        Ok(mut terminal) => run_on(&mut terminal, state, feed, stop, read_event),
        Err(e) => Err(anyhow::Error::new(e)
            .context("setting up the terminal for the TUI (is stdout a terminal?)")),
    };
    ratatui::restore();
    result
}

/// Wait up to `timeout` for a terminal event.
fn read_event(timeout: Duration) -> std::io::Result<Option<Event>> {
    if event::poll(timeout)? { event::read().map(Some) } else { Ok(None) }
}

/// The loop on any backend, with any source of terminal events (tests pass scripted ones).
pub fn run_on<B: Backend>(
    terminal: &mut Terminal<B>,
    state: &mut TuiState,
    mut feed: Option<Receiver<Feed>>,
    stop: &Stop,
    mut next_event: impl FnMut(Duration) -> std::io::Result<Option<Event>>,
) -> Result<()> {
    // While results flow, the loop comes back for them every BUSY_WAIT (the live side waits
    // when the feed is full) and redraws at most every TICK; idle, it waits a TICK for keys.
    let mut drawn: Option<Instant> = None;
    let mut busy = false;
    let mut keyed = true;
    while !state.quit && !stop.requested() {
        if keyed || !busy || drawn.is_none_or(|t| t.elapsed() >= TICK) {
            terminal.draw(|f| f.render_widget(&*state, f.area())).context("drawing the TUI")?;
            drawn = Some(Instant::now());
        }
        // Terminal events first: keys are handled however fast results arrive.
        keyed = false;
        let wait = if busy { BUSY_WAIT } else { TICK };
        if let Some(ev) = next_event(wait).context("reading terminal events")? {
            handle(state, ev);
            keyed = true;
            while let Some(ev) = next_event(Duration::ZERO).context("reading terminal events")? {
                handle(state, ev);
            }
        }
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

fn handle(state: &mut TuiState, ev: Event) {
    // Resize needs nothing: the next draw lays out the new size.
    if let Event::Key(key) = ev
        && let Some(action) = action_for(key, state.mode)
    {
        state.update(action);
    }
}
