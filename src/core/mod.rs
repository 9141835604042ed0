//! The pure core: never touches the system (no files, sockets, clocks or threads).
//!
//! Frames come in (from capture files or live captures), decoded packets and journeys come out.

pub mod decode;
pub mod fingerprint;
pub mod frame;
pub mod packet;
