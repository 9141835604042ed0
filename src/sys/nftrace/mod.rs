//! nftables trace events (`NFNLGRP_NFTRACE`) received in a namespace and decoded.
//!
//! [`TraceListener::start`] subscribes inside one namespace; [`decode`] turns datagrams into
//! [`crate::core::netfilter::NfEvent`]s. Installing the rules that mark packets for tracing is
//! `sys::nft`'s job; matching events to packets is `core::netfilter`'s. [`NfSession`] bundles
//! listeners, trace tables and the drop monitor of one live trace; [`sidecar`] keeps what it saw
//! next to a written capture (`FILE.pcapng.nft.json`).

pub mod decode;
mod lend;
mod listen;
mod session;
pub mod sidecar;

pub use listen::{ListenError, TraceListener};
pub use session::{DROP_PROTOCOLS, NfFinished, NfSession, Options};
