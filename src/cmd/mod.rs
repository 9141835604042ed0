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

/// Run one command.
pub fn run(command: Command) -> Result<Outcome> {
    match command {
        Command::Analyze(args) => analyze::run(&args),
        Command::Lab(args) => lab::run(&args),
        Command::Topo(args) => topo::run(&args),
        Command::Ping(args) => ping::run(&args),
        Command::Watch(args) => watch::run(&args),
        Command::Demo(args) => demo::run(&args),
        Command::Cleanup(args) => cleanup::run(&args),
    }
}
