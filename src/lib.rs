//! vtrace traces packets hop by hop through the virtual networks that connect Linux containers.
//!
//! Layout (see DESIGN.md): `core` is pure (no IO), `sys` holds the thin Linux adapters, `report`
//! renders core results as text or JSON, `cmd` wires one command each.

pub mod cli;
pub mod cmd;
pub mod core;
pub mod error;
pub mod report;
pub mod session;
pub mod sys;
pub mod tui;
