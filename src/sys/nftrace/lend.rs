//! The headers of the packets traced lately in one namespace, by trace id.
//!
//! The kernel sends a packet's network and transport headers with its first trace event at a
//! hook only; the events after it carry the trace id alone. vtrace's own table sees the packet
//! first and decides nothing, so a session's listener drops its events where it reads them
//! (under a flood they are nearly all the events there are) and lends their headers to the
//! events of other tables that follow without any ([`Lender::lend`]).

use std::collections::HashMap;

use crate::core::netfilter::NfEvent;

/// Trace ids remembered before they are forgotten together (a packet's events in one namespace
/// come within microseconds of each other; this bounds memory under a flood).
const MAX_IDS: usize = 4096;

/// Headers by trace id; the vectors of forgotten ids are reused (no allocation once warm).
#[derive(Debug, Default)]
pub struct Lender {
    /// The network header then the transport header, and where the second begins.
    by_id: HashMap<u32, (Vec<u8>, usize)>,
    spare: Vec<Vec<u8>>,
}

impl Lender {
    /// Remember the headers of trace `id` (those of its latest event that had any).
    pub fn keep(&mut self, id: u32, network_header: &[u8], transport_header: &[u8]) {
        if self.by_id.len() >= MAX_IDS && !self.by_id.contains_key(&id) {
            self.spare.extend(self.by_id.drain().map(|(_, (bytes, _))| bytes));
        }
        let spare = &mut self.spare;
        let (bytes, split) =
            self.by_id.entry(id).or_insert_with(|| (spare.pop().unwrap_or_default(), 0));
        bytes.clear();
        bytes.extend_from_slice(network_header);
        bytes.extend_from_slice(transport_header);
        *split = network_header.len();
    }

    /// Give `ev`, when it has no headers, those of the last event of its trace id that had.
    pub fn lend(&self, ev: &mut NfEvent) {
        if !ev.network_header.is_empty() {
            return;
        }
        if let Some((bytes, split)) = self.by_id.get(&ev.id) {
            let (network, transport) = bytes.split_at((*split).min(bytes.len()));
            ev.network_header = network.to_vec();
            ev.transport_header = transport.to_vec();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: u32) -> NfEvent {
        NfEvent { id, ..NfEvent::default() }
    }

    #[test]
    fn an_event_without_headers_borrows_its_trace_ids_latest() {
        let mut l = Lender::default();
        l.keep(7, &[0x45; 20], &[8; 8]);
        l.keep(9, &[0x46; 20], &[]);
        l.keep(7, &[0x47; 20], &[0, 1, 2, 3]);
        let mut ev = event(7);
        l.lend(&mut ev);
        assert_eq!((ev.network_header, ev.transport_header), (vec![0x47; 20], vec![0, 1, 2, 3]));
        let mut ev = event(9);
        l.lend(&mut ev);
        assert_eq!((ev.network_header, ev.transport_header), (vec![0x46; 20], vec![]));
        // An unknown id borrows nothing; an event with headers keeps its own.
        let mut ev = event(8);
        l.lend(&mut ev);
        assert!(ev.network_header.is_empty());
        let mut ev = NfEvent { network_header: vec![1], ..event(7) };
        l.lend(&mut ev);
        assert_eq!(ev.network_header, vec![1]);
    }

    #[test]
    fn memory_is_bounded_and_the_latest_id_survives_the_forgetting() {
        let mut l = Lender::default();
        for id in 0..(3 * MAX_IDS as u32) {
            l.keep(id, &id.to_be_bytes(), &[]);
            assert!(l.by_id.len() <= MAX_IDS);
        }
        let last = 3 * MAX_IDS as u32 - 1;
        let mut ev = event(last);
        l.lend(&mut ev);
        assert_eq!(ev.network_header, last.to_be_bytes().to_vec());
        assert!(l.spare.len() + l.by_id.len() <= 2 * MAX_IDS);
    }
}
