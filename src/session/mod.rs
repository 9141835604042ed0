//! The session layer, between `sys`/`core` and `report`/`tui`/`cmd`: one live trace from start to
//! verdict ([`trace`], on [`live`] captures with their [`netfilter`] tracing), the offline
//! analysis of capture files ([`offline`], reading through [`inputs`] and [`merge`], each file on
//! the first one's clock by [`clocks`]), and the interface both report into ([`sink`]). The conclusion itself is `core::diagnosis::conclude`;
//! this layer gathers its evidence. It knows no renderer, no terminal and no command line.

pub mod annotate;
pub mod clocks;
pub mod inputs;
pub mod live;
pub mod merge;
pub mod netfilter;
pub mod offline;
mod reorder;
pub mod sink;
pub mod trace;
