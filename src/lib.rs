//! vtrace traces packets hop by hop through the virtual networks that connect Linux containers.
//!
//! Layers (DESIGN.md), imports going one way: `core` (pure, no IO) ← `sys` (thin Linux
//! adapters) ← `session` (one live trace, one offline analysis, the interface they report into)
//! ← `report` / `tui` (renderers and the interactive view) ← `cmd` (one file per command) ←
//! `cli` (the only module that knows clap) ← `main`. `tests/layers.rs` checks it.
//!
//! Public here is what the binary and the tests need: `cli::main` and the modules the tests
//! drive directly; `cmd`, `session` and `error` are the crate's own.

pub mod cli;
mod cmd;
pub mod core;
mod error;
pub mod report;
mod session;
pub mod sys;
pub mod tui;
