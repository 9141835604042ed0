//! One orchestration file per command: wire `session` (and `sys` for what is not a trace) to
//! `report` and `tui`. Commands take plain configurations; `cli` builds them from the command
//! line.

pub mod analyze;
pub mod cleanup;
pub mod demo;
pub mod lab;
pub mod live;
pub mod packets;
pub mod ping;
pub mod topo;
pub mod tunnel_filter;
pub mod watch;

use anyhow::{Context, Result};

use crate::error::Outcome;
use crate::report::clock::Zone;
use crate::sys::privilege::{Cap, LIVE};
use crate::sys::stop::Stop;

/// A command and its configuration.
#[derive(Debug, Clone)]
pub enum Command {
    Analyze(analyze::Analyze),
    Lab(lab::Lab),
    Topo(topo::Topo),
    Ping(ping::Ping),
    Watch(watch::Watch),
    Demo(demo::Demo),
    Cleanup(cleanup::Cleanup),
}

impl Command {
    /// Read text times of day (and name the view's files) on `zone`'s clock.
    pub fn set_zone(&mut self, zone: Zone) {
        match self {
            Command::Analyze(a) => a.zone = zone,
            Command::Ping(p) => p.flags.zone = zone,
            Command::Watch(w) => w.flags.zone = zone,
            Command::Demo(d) => d.flags.zone = zone,
            Command::Lab(_) | Command::Topo(_) | Command::Cleanup(_) => {}
        }
    }
}

/// Run one command.
pub fn run(command: Command) -> Result<Outcome> {
    if let Some((name, caps)) = privileges(&command) {
        crate::sys::privilege::require(name, caps)?;
    }
    // SIGINT, SIGTERM and SIGHUP ask the command to stop, which then ends cleanly (captures
    // closed, trace tables removed, the pcapng complete, the lab of `demo` removed, the view
    // closed with the terminal restored).
    let stop = Stop::on_signals().context("installing the signal handlers")?;
    match command {
        Command::Analyze(args) => analyze::run(&args, &stop),
        Command::Lab(args) => lab::run(&args, &stop),
        Command::Topo(args) => topo::run(&args),
        Command::Ping(args) => ping::run(&args, &stop),
        Command::Watch(args) => watch::run(&args, &stop),
        Command::Demo(args) => demo::run(&args, &stop),
        Command::Cleanup(args) => cleanup::run(&args),
    }
}

/// The capabilities a command needs, checked before it changes anything (`analyze` needs none).
fn privileges(command: &Command) -> Option<(&'static str, &'static [Cap])> {
    match command {
        Command::Analyze(_) => None,
        Command::Lab(_) => Some(("lab", &[Cap::NetAdmin, Cap::SysAdmin])),
        Command::Topo(_) => Some(("topo", &[Cap::SysAdmin])),
        Command::Ping(_) => Some(("ping", LIVE)),
        Command::Watch(_) => Some(("watch", LIVE)),
        Command::Demo(_) => Some(("demo", LIVE)),
        Command::Cleanup(_) => Some(("cleanup", &[Cap::NetAdmin, Cap::SysAdmin])),
    }
}
