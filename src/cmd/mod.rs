//! One orchestration file per command: wire `sys` → `core` → `report`.

pub mod analyze;
pub mod cleanup;
pub mod demo;
pub mod inputs;
pub mod lab;
pub mod live;
pub mod merge;
pub mod netfilter;
pub mod packets;
pub mod ping;
pub mod topo;
pub mod watch;

use anyhow::Result;

use crate::cli::Command;
use crate::error::Outcome;
use crate::report::clock::Zone;
use crate::sys::privilege::{Cap, LIVE};

/// Run one command, showing times of day on `zone`'s clock.
pub fn run(command: Command, zone: Zone) -> Result<Outcome> {
    if let Some((name, caps)) = privileges(&command) {
        crate::sys::privilege::require(name, caps)?;
    }
    match command {
        Command::Analyze(args) => analyze::run(&args, zone),
        Command::Lab(args) => lab::run(&args),
        Command::Topo(args) => topo::run(&args),
        Command::Ping(args) => ping::run(&args, zone),
        Command::Watch(args) => watch::run(&args, zone),
        Command::Demo(args) => demo::run(&args, zone),
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
