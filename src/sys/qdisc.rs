//! Queueing disciplines' drop counters, read over rtnetlink (`RTM_GETQDISC` dump, the counters
//! `tc -s qdisc show` prints) in one namespace.
//!
//! Read before and after a trace: a qdisc on the path whose counter rose is where packets that
//! vanished were dropped by traffic control (`tc-drop`, judged by `core::diagnosis`). This module
//! only reads counters; it never changes a qdisc.

use anyhow::{Context, Result};
use futures::TryStreamExt;
use netlink_packet_route::tc::{TcAttribute, TcMessage, TcStats2};

use crate::core::diagnosis::QdiscCount;
use crate::sys::netns::Netns;
use crate::sys::rtnl::with_handle_in;

/// Every qdisc of the namespace `ns` with its drop counter (`ns` is left unset: the caller
/// knows which namespace it asked for).
pub fn qdisc_counts(ns: &Netns) -> Result<Vec<QdiscCount>> {
    let messages: Vec<TcMessage> = with_handle_in(ns, "vtrace-qdisc", |handle| async move {
        handle
            .qdisc()
            .get()
            .execute()
            .try_collect()
            .await
            .context("listing the qdiscs (RTM_GETQDISC)")
    })?;
    Ok(messages.iter().filter_map(count_of).collect())
}

/// One qdisc's kind, handle, parent and drops.
pub fn count_of(m: &TcMessage) -> Option<QdiscCount> {
    let ifindex = u32::try_from(m.header.index).ok()?;
    let mut kind = String::new();
    let mut drops: Option<u64> = None;
    for a in &m.attributes {
        match a {
            TcAttribute::Kind(k) => kind.clone_from(k),
            TcAttribute::Stats2(s) => {
                for s in s {
                    if let TcStats2::Queue(q) = s {
                        drops = Some(u64::from(q.drops));
                    }
                }
            }
            TcAttribute::Stats(s) if drops.is_none() => drops = Some(u64::from(s.drops)),
            _ => {}
        }
    }
    let handle = format!("{:x}:", m.header.handle.major);
    let parent = m.header.parent;
    let parent = format!("{:x}:{:x}", parent.major, parent.minor);
    Some(QdiscCount { ns: None, ifindex, kind, handle, parent, drops: drops.unwrap_or(0) })
}
