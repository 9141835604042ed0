//! The interactive terminal view of a trace (ratatui + crossterm): a header, the path diagram,
//! the exchanges list, the ladder of the selected exchange, its details and a help overlay.
//!
//! It renders snapshots of the core's results ([`state::TuiState`] is fed settled exchanges, the
//! capture points, the path order and the verdict); it never owns or drives the analysis. Keys
//! become [`action::Action`]s handled in one `update`; drawing reads the state and changes
//! nothing but the list's scroll offset. The event loop ([`event_loop`]) multiplexes a tick,
//! terminal events and a [`event_loop::Feed`] channel, so live tracing can plug into it.

pub mod action;
pub mod analyze;
mod details;
pub mod event_loop;
mod exchanges;
pub mod feed;
pub mod frames;
mod header;
mod help;
mod ladder;
mod legs;
pub mod load;
pub mod state;
mod style;
mod topology;
mod view;

pub use event_loop::{Feed, run};
pub use state::TuiState;
