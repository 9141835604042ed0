//! The [`TraceBook`]: a run's trace events indexed by packet, and its kernel drops, bounded in
//! memory; it annotates each exchange's legs with their decisions (on their hop) and, on a lost
//! leg, the kernel drops attributed to it.
//!
//! Pure bookkeeping fed by the live session or a sidecar file; it must not read the system, and
//! it leaves the diagnosis of a loss to `find` and the choice of drops to `kernel`.

use std::collections::HashMap;

use foldhash::fast::FixedState;

use super::events::{NfEvent, NfVerdict, is_own_table};
use super::kernel::{DropEvent, attribute_drops};
use super::key::PacketKey;
use super::note::{NfNote, hop_of};
use crate::core::exchange::Exchange;
use crate::core::packet::Packet;
use crate::core::point::PointId;

/// A trace event's network and transport headers.
type Headers = (Vec<u8>, Vec<u8>);

/// Trace events of a run, indexed by packet. Events after the first of a packet's pass through
/// a hook carry no headers; they inherit those of the previous event with the same trace id in
/// the same namespace.
#[derive(Debug, Default)]
pub struct TraceBook {
    events: Vec<NfEvent>,
    by_key: HashMap<PacketKey, Vec<usize>, FixedState>,
    /// By namespace, then trace id: the headers of its latest event that had any.
    last_headers: HashMap<String, HashMap<u32, Headers, FixedState>, FixedState>,
    /// Kernel drops (every namespace's: tracefs is global), in arrival order.
    drops: Vec<DropEvent>,
    /// The kernel drops attributed to the first lost leg that had any.
    lost_drops: Option<Vec<DropEvent>>,
}

impl TraceBook {
    pub fn new() -> Self {
        Self::default()
    }

    /// Add one event (in the order its namespace delivered it); those of vtrace's own table only
    /// lend their headers to the packet's later events. Past [`MAX_EVENTS`] the older half is
    /// forgotten (a long `watch` keeps memory flat).
    pub fn ingest(&mut self, mut ev: NfEvent) {
        if self.events.len() >= MAX_EVENTS {
            self.forget_older_half();
        }
        // A live trace's events come with their headers lent already (its listeners lend
        // them): nothing is copied then, and nothing allocated but a namespace's first entry.
        let lent = match self.last_headers.get_mut(ev.netns.as_str()) {
            Some(by_id) => by_id,
            None => self.last_headers.entry(ev.netns.clone()).or_default(),
        };
        if ev.network_header.is_empty() {
            if let Some((nh, th)) = lent.get(&ev.id) {
                ev.network_header.clone_from(nh);
                ev.transport_header.clone_from(th);
            }
        } else if lent
            .get(&ev.id)
            .is_none_or(|(nh, th)| *nh != ev.network_header || *th != ev.transport_header)
        {
            // Bounded on its own: vtrace's own events never reach `events`.
            if lent.len() >= MAX_EVENTS {
                lent.clear();
            }
            lent.insert(ev.id, (ev.network_header.clone(), ev.transport_header.clone()));
        }
        // vtrace's own tracing table decides nothing: its events only lend their headers.
        if is_own_table(&ev.table) {
            return;
        }
        if let Some(key) = ev.key() {
            self.by_key.entry(key).or_default().push(self.events.len());
        }
        self.events.push(ev);
    }

    fn forget_older_half(&mut self) {
        self.events.drain(..self.events.len() / 2);
        self.by_key.clear();
        for (i, ev) in self.events.iter().enumerate() {
            if let Some(key) = ev.key() {
                self.by_key.entry(key).or_default().push(i);
            }
        }
        self.last_headers.clear();
    }

    /// Every event, in arrival order.
    pub fn events(&self) -> &[NfEvent] {
        &self.events
    }

    /// True before the first event or kernel drop.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty() && self.drops.is_empty()
    }

    /// Add kernel drops (any order). The oldest are forgotten past [`MAX_DROPS`].
    pub fn add_drops(&mut self, drops: Vec<DropEvent>) {
        self.drops.extend(drops);
        if self.drops.len() > MAX_DROPS {
            self.drops.sort_by_key(|d| d.t_ns);
            self.drops.drain(..self.drops.len() - MAX_DROPS / 2);
        }
    }

    /// Every kernel drop kept.
    pub fn drops(&self) -> &[DropEvent] {
        &self.drops
    }

    /// The kernel drops attributed to the first lost leg that had any (what the verdict names).
    pub fn lost_drops(&self) -> &[DropEvent] {
        self.lost_drops.as_deref().unwrap_or_default()
    }

    /// The exchange with, on each leg, the netfilter decisions traced for its packet and, on a
    /// lost leg (or an unanswered request), the kernel drops attributed to it.
    /// `names` are the point ids (`<namespace label>/<ifname>`) by point index: they place each
    /// decision on its hop.
    pub fn annotate(&mut self, ex: &Exchange, names: &[String]) -> Exchange {
        let mut ex = ex.clone();
        self.annotate_in_place(&mut ex, names);
        ex
    }

    /// [`Self::annotate`] on the exchange itself (a live trace's exchanges are annotated one by
    /// one as they are reported, most with nothing to add: no copy, no allocation for those).
    pub fn annotate_in_place(&mut self, ex: &mut Exchange, names: &[String]) {
        // A request that reached the end of the line unanswered was lost after its last point.
        let unanswered = ex.expects_reply && ex.reply.is_none();
        let legs = std::iter::once((&mut ex.request, unanswered))
            .chain(ex.reply.as_mut().map(|r| (r, false)))
            .chain(ex.errors.iter_mut().map(|e| (e, false)));
        for (leg, unanswered) in legs {
            let mut notes: Vec<NfNote> = Vec::new();
            // The packet's own events, and those of the tunnel's outer packets that carried it
            // (tied to it by the sighting on the underlay).
            let outer = leg.journey.encaps.iter().filter_map(PacketKey::of_encap);
            let events: Vec<&NfEvent> = if self.by_key.is_empty() {
                Vec::new()
            } else {
                self.for_packet(&leg.journey.packet)
                    .into_iter()
                    .chain(outer.flat_map(|k| self.for_key(&k)))
                    .collect()
            };
            let hops: Vec<(&str, &str)> = if events.is_empty() {
                Vec::new()
            } else {
                leg.journey
                    .hops
                    .iter()
                    .map(|h| {
                        let id = names.get(h.point.index()).map_or("", String::as_str);
                        match PointId::split(id) {
                            (Some(label), ifname) => (label, ifname),
                            (None, _) => (id, ""),
                        }
                    })
                    .collect()
            };
            for ev in events {
                if let Some(NfNote::Decision(mut d)) = NfNote::from_event(ev) {
                    d.hop = hop_of(ev, &hops);
                    notes.push(NfNote::Decision(d));
                }
            }
            if leg.lost.is_some() || unanswered {
                let nf_dropped = notes
                    .iter()
                    .any(|n| n.decision().is_some_and(|d| d.verdict == NfVerdict::Drop.as_str()));
                let mut drops = attribute_drops(&self.drops, leg, nf_dropped);
                super::name_locations(&mut drops);
                if self.lost_drops.is_none() && !drops.is_empty() {
                    self.lost_drops = Some(drops.clone());
                }
                notes.extend(drops.into_iter().map(NfNote::KernelDrop));
            }
            leg.netfilter = notes;
        }
    }

    /// The events of one packet, in arrival order.
    pub fn for_packet(&self, p: &Packet) -> Vec<&NfEvent> {
        PacketKey::from_packet(p).map(|k| self.for_key(&k)).unwrap_or_default()
    }

    /// The events of one packet identity, in arrival order.
    pub fn for_key(&self, k: &PacketKey) -> Vec<&NfEvent> {
        self.by_key
            .get(k)
            .map(|ix| ix.iter().filter_map(|&i| self.events.get(i)).collect())
            .unwrap_or_default()
    }
}

/// Trace events kept by a [`TraceBook`] at most.
pub const MAX_EVENTS: usize = 8_000;
/// Kernel drops kept by a [`TraceBook`] at most.
pub const MAX_DROPS: usize = 8_000;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::exchange::Leg;
    use crate::core::netfilter::samples::{drop_at, event, headers, unanswered_echo};
    use crate::core::netfilter::{TraceKind, kernel_drop_detail};

    #[test]
    fn later_events_of_a_trace_id_inherit_the_headers() {
        let (nh, th) = headers();
        let mut book = TraceBook::new();
        let mut first = event("host", 9, TraceKind::Rule, NfVerdict::Continue);
        first.network_header = nh.clone();
        first.transport_header = th.clone();
        book.ingest(first);
        book.ingest(event("host", 9, TraceKind::Policy, NfVerdict::Drop));
        book.ingest(event("other", 9, TraceKind::Policy, NfVerdict::Accept));
        let key = PacketKey::from_headers(&nh, &th).expect("key");
        let evs = book.for_key(&key);
        assert_eq!(evs.len(), 2);
        assert_eq!(evs[1].decision(), Some(&NfVerdict::Drop));
        assert_eq!(book.events().len(), 3);
    }

    #[test]
    fn an_unanswered_request_carries_the_nearest_drops_of_its_protocol() {
        let t = 1_000_000_000;
        let mut book = TraceBook::new();
        book.add_drops(vec![
            drop_at(t + 50_000, 0x0800, "NETFILTER_DROP", "nft_do_chain+0x3e8"),
            drop_at(t + 60_000, 0x86dd, "NO_SOCKET", "x"),
            drop_at(t + 40_000, 0x0800, "NOT_SPECIFIED", "sk_stream_kill_queues+0x50"),
            drop_at(t + 500_000_000, 0x0800, "NETFILTER_DROP", "too late"),
            drop_at(t - 10_000_000, 0x0800, "NETFILTER_DROP", "too early"),
        ]);
        let names = ["n2/eth0".to_owned()];
        let (nh, th) = headers();
        let mut dropped = event("n2", 5, TraceKind::Rule, NfVerdict::Drop);
        dropped.iif_name = Some("eth0".into());
        dropped.network_header = nh;
        dropped.transport_header = th;
        let elsewhere = NfEvent { netns: "n9".into(), id: 6, ..dropped.clone() };
        book.ingest(dropped);
        book.ingest(elsewhere);
        let ex = book.annotate(&unanswered_echo(t), &names);
        let at: Vec<(&str, Option<usize>)> = ex
            .request
            .netfilter
            .iter()
            .filter_map(NfNote::decision)
            .map(|d| (d.netns.as_str(), d.hop))
            .collect();
        assert_eq!(at, vec![("n2", Some(0)), ("n9", None)]);
        let reasons: Vec<&str> = ex
            .request
            .netfilter
            .iter()
            .filter_map(NfNote::kernel_drop)
            .map(|d| d.reason.as_str())
            .collect();
        // Netfilter dropped it: the netfilter drop only (the other one is another packet's).
        assert_eq!(reasons, vec!["NETFILTER_DROP"]);
        assert_eq!(book.lost_drops().len(), 1);
        // Without a traced decision, every drop near it of its protocol.
        let mut bare = TraceBook::new();
        bare.add_drops(book.drops().to_vec());
        let ex = bare.annotate(&unanswered_echo(t), &names);
        let n = ex.request.netfilter.iter().filter_map(NfNote::kernel_drop).count();
        assert_eq!(n, 2);
        assert_eq!(
            kernel_drop_detail(book.lost_drops(), Some("nginx-2")).as_deref(),
            Some(
                "kernel drop reason NETFILTER_DROP at nft_do_chain+0x3e8 (see: ip netns exec \
                 nginx-2 nft -a list ruleset)"
            )
        );
        // An answered exchange gets no drops.
        let mut answered = unanswered_echo(t);
        answered.reply = Some(answered.request.clone());
        let ex = book.annotate(&answered, &names);
        let drops = |l: &Leg| l.netfilter.iter().filter_map(NfNote::kernel_drop).count();
        assert_eq!(drops(&ex.request), 0);
        assert_eq!(ex.reply.as_ref().map(drops), Some(0));
    }
}
