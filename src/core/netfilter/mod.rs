//! Netfilter trace events and kernel drop reasons, and what they say about a packet.
//!
//! Pure: the types the `sys::nftrace` and `sys::dropmon` adapters produce, the packet identity
//! carried by a trace event's headers (so an event is matched to the packet a capture saw), the
//! [`TraceBook`] that annotates each exchange's legs with their decisions (on their hop) and the
//! kernel drops attributed to a lost packet (by protocol and time), and the diagnosis rule "the
//! packet was lost after point P and a netfilter chain in a namespace at or after P dropped it",
//! with the verdict's sentence on the kernel's drop reason. It never opens sockets or files, and
//! it does not decide the order of points on a path (the caller passes the namespaces that follow
//! the last point reached).
//!
//! Laid out as: `events` (the trace events and their vocabulary), `key` (the packet identity an
//! event carries, the flow filter), `note` (what a leg shows: decisions and kernel drops, on
//! their hop), `book` (the [`TraceBook`]), `kernel` (kernel drops and which explain a loss) and
//! `find` (the netfilter-drop rule, its sentence and hint).

mod book;
mod events;
mod find;
mod kernel;
mod key;
mod note;
#[cfg(test)]
mod samples;

pub use book::{MAX_DROPS, MAX_EVENTS, TraceBook};
pub use events::{NfEvent, NfFamily, NfVerdict, TraceKind, is_own_table};
pub use find::{BrNetfilter, NfDrop, find_drop, in_namespace};
pub use kernel::{
    DROP_AFTER_NS, DROP_BEFORE_NS, DropEvent, attribute_drops, drops_between, ethertype,
    kernel_drop_detail, name_locations, set_location_namer,
};
pub use key::{FlowFilter, PacketKey};
pub use note::{NfDecision, NfNote, attach, hop_of};
