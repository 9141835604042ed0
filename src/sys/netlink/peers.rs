//! Join each veth to its peer across namespaces.
//!
//! A veth whose peer lives elsewhere carries `IFLA_LINK_NETNSID`: a number meaningful only
//! inside its own namespace. To know which namespace it is, this module asks that namespace
//! (`RTM_GETNSID` with the descriptor of a candidate namespace) whether the candidate has that
//! number. Candidates are narrowed first to namespaces holding a veth that points back (its
//! ifindex is the peer index and its own peer index is ours), so a few queries suffice even with
//! many namespaces. It never changes anything: `RTM_GETNSID` does not assign ids.

use std::collections::BTreeMap;
use std::os::fd::RawFd;

use futures::StreamExt;
use futures::future::join_all;
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::nsid::{NsidAttribute, NsidMessage};
use rtnetlink::Handle;
use rtnetlink::packet_core::{NLM_F_REQUEST, NetlinkMessage, NetlinkPayload};

use crate::core::topology::{IfIndex, NsIdx, PeerRef};
use crate::sys::netlink::convert::RawLink;

/// What peer resolution needs to know of one namespace.
pub struct NsView<'a> {
    pub handle: &'a Handle,
    /// The namespace file's descriptor (valid in this process while discovering).
    pub fd: RawFd,
    pub links: &'a [RawLink],
}

/// The peer of every veth whose peer was found, keyed by (namespace, ifindex).
pub async fn resolve(views: &[NsView<'_>]) -> BTreeMap<(NsIdx, IfIndex), PeerRef> {
    let mut peers = BTreeMap::new();
    // (namespace, nsid) → the veths of that namespace that point there.
    let mut remote: BTreeMap<(usize, i32), Vec<&RawLink>> = BTreeMap::new();
    for (a, view) in views.iter().enumerate() {
        for raw in view.links {
            let Some(peer_ifindex) = raw.peer_ifindex else { continue };
            match raw.peer_nsid {
                None if view.links.iter().any(|l| l.link.ifindex == peer_ifindex) => {
                    peers.insert(
                        (NsIdx(a), raw.link.ifindex),
                        PeerRef { ns: NsIdx(a), ifindex: peer_ifindex },
                    );
                }
                None => {}
                Some(nsid) => remote.entry((a, nsid)).or_default().push(raw),
            }
        }
    }
    let lookups = remote.iter().map(|(&(a, nsid), links)| async move {
        let found = find_nsid(views, a, nsid, links).await;
        (a, links, found)
    });
    for (a, links, found) in join_all(lookups).await {
        let Some(b) = found else { continue };
        for raw in links {
            if let Some(p) = raw.peer_ifindex {
                peers.insert((NsIdx(a), raw.link.ifindex), PeerRef { ns: NsIdx(b), ifindex: p });
            }
        }
    }
    peers
}

/// Which namespace `nsid` designates as seen from namespace `a`.
async fn find_nsid(views: &[NsView<'_>], a: usize, nsid: i32, links: &[&RawLink]) -> Option<usize> {
    let view = views.get(a)?;
    for b in candidates(views, a, links) {
        let fd = views.get(b)?.fd;
        if query_nsid(view.handle, fd).await == Some(nsid) {
            return Some(b);
        }
    }
    None
}

/// Namespaces other than `a`, those holding a veth that points back at one of `links` first
/// (most back-pointers first), then those holding a veth with the peer's index.
pub fn candidates(views: &[NsView<'_>], a: usize, links: &[&RawLink]) -> Vec<usize> {
    let mut scored: Vec<(usize, usize)> = views
        .iter()
        .enumerate()
        .filter(|&(b, _)| b != a)
        .filter_map(|(b, view)| {
            let mut score = 0;
            for raw in links {
                let Some(p) = raw.peer_ifindex else { continue };
                let Some(there) = view.links.iter().find(|l| l.link.ifindex == p) else {
                    continue;
                };
                if there.peer_ifindex.is_none() {
                    continue;
                }
                score += 1;
                if there.peer_ifindex == Some(raw.link.ifindex) && there.peer_nsid.is_some() {
                    score += links.len() + 1;
                }
            }
            (score > 0).then_some((b, score))
        })
        .collect();
    scored.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
    scored.into_iter().map(|(b, _)| b).collect()
}

/// The id the handle's namespace gives the namespace open at `fd` (`None`: not assigned).
async fn query_nsid(handle: &Handle, fd: RawFd) -> Option<i32> {
    let fd = u32::try_from(fd).ok()?;
    let mut msg = NsidMessage::default();
    msg.attributes = vec![NsidAttribute::Fd(fd)];
    let mut req = NetlinkMessage::from(RouteNetlinkMessage::GetNsId(msg));
    req.header.flags = NLM_F_REQUEST;
    let mut responses = handle.clone().request(req).ok()?;
    while let Some(resp) = responses.next().await {
        if let NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewNsId(m)) = resp.payload {
            return m.attributes.iter().find_map(|a| match a {
                NsidAttribute::Id(id) if *id >= 0 => Some(*id),
                _ => None,
            });
        }
    }
    None
}
