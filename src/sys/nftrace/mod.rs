//! nftables trace events (`NFNLGRP_NFTRACE`) received in a namespace and decoded.
//!
//! [`TraceListener::start`] subscribes inside one namespace; [`decode`] turns datagrams into
//! [`crate::core::netfilter::NfEvent`]s. Installing the rules that mark packets for tracing is
//! `sys::nft`'s job; matching events to packets is `core::netfilter`'s.

pub mod decode;
mod listen;

pub use listen::{ListenError, TraceListener};
