//! The pure core: never touches the system (no files, sockets, clocks or threads).
//!
//! Frames come in (from capture files or live captures), decoded packets, journeys, exchanges
//! and a verdict come out.

pub mod analysis;
pub mod clocks;
pub mod decode;
pub mod diagnosis;
pub mod exchange;
pub mod fingerprint;
pub mod frame;
pub mod hint;
pub mod journey;
pub mod lab;
pub mod line;
pub mod listen;
pub mod netfilter;
pub mod packet;
pub mod path;
pub mod point;
pub mod recycle;
pub mod topology;
pub mod verdict;
