//! Renderers of core results: text for people, JSON for scripts. Serde DTOs live here, not in core.

pub mod clock;
pub(crate) mod decimal;
pub mod json;
pub mod packets;
pub(crate) mod render_thread;
pub mod text;
pub mod topo;
pub mod trace;
