//! Reusing the allocations of finished exchanges for new ones.
//!
//! Every journey allocates a packet box and a hop vector, and every exchange a box of its own
//! holding two journeys; exchanges come back from their renderer in batches of hundreds, more
//! than the allocator's per-thread cache holds, so freeing them and allocating the next ones went
//! through the allocator's slow paths (a fifth of the analysing thread's time on the 5 M-packet
//! benchmark). A finished exchange is kept whole instead ([`exchange`]); the next exchange built
//! on that thread takes its box ([`boxed`]), and the old exchange's packet boxes and hop vectors
//! wait for the next journeys ([`packet`], [`hops`]). The pools are per thread and bounded
//! ([`KEEP`] of each, or as many as the thread asked for with [`keep_up_to`]): memory stays flat
//! however long the input.

use std::cell::RefCell;

use crate::core::exchange::Exchange;
use crate::core::hint::prefetch_write_all;
use crate::core::journey::{Hop, Journey};
use crate::core::packet::Packet;

/// At most this many finished exchanges, packet boxes and hop vectors wait per thread (about
/// 2 MB at most) unless the thread asks for more ([`keep_up_to`]): four of a renderer's batches.
/// 4096 kept `analyze` off malloc entirely but let a live session's peak grow by a megabyte after
/// a late burst; 512 put a tenth of the slow paths back.
pub const KEEP: usize = 1024;

struct Pools {
    exchanges: Vec<Box<Exchange>>,
    packets: Vec<Box<Packet>>,
    hops: Vec<Vec<Hop>>,
    /// The most of each kept.
    keep: usize,
}

impl Default for Pools {
    fn default() -> Self {
        Pools { exchanges: Vec::new(), packets: Vec::new(), hops: Vec::new(), keep: KEEP }
    }
}

impl Pools {
    /// Keep a finished journey's packet box and hop vector, when there is room.
    fn keep(&mut self, journey: Journey) {
        let Journey { packet, mut hops, .. } = journey;
        if self.packets.len() < self.keep {
            self.packets.push(packet);
        }
        if self.hops.len() < self.keep && hops.capacity() > 0 {
            hops.clear();
            self.hops.push(hops);
        }
    }
}

thread_local! {
    static POOLS: RefCell<Pools> = RefCell::new(Pools::default());
}

/// A packet box: a recycled one (its contents stale: the caller overwrites them) or a new one.
pub fn packet() -> Box<Packet> {
    POOLS
        .with(|p| {
            let mut pools = p.borrow_mut();
            let packet = pools.packets.pop();
            // The next one will be written over: ask for it now (the renderer read it last).
            if let Some(next) = pools.packets.last() {
                prefetch_write_all(std::slice::from_ref(&**next));
            }
            packet
        })
        .unwrap_or_default()
}

/// An empty hop vector with room for at least `capacity` hops.
pub fn hops(capacity: usize) -> Vec<Hop> {
    let popped = POOLS.with(|p| {
        let mut pools = p.borrow_mut();
        let hops = pools.hops.pop();
        if let Some(next) = pools.hops.last_mut() {
            prefetch_write_all(next.spare_capacity_mut());
        }
        hops
    });
    match popped {
        Some(mut v) => {
            v.reserve(capacity);
            v
        }
        None => Vec::with_capacity(capacity),
    }
}

/// `ex` in a box: a finished exchange's (whose journeys' packet boxes and hop vectors then wait
/// for [`packet`] and [`hops`]) or a new one.
pub fn boxed(ex: Exchange) -> Box<Exchange> {
    POOLS.with(|p| {
        let mut pools = p.borrow_mut();
        let Some(mut b) = pools.exchanges.pop() else { return Box::new(ex) };
        if let Some(next) = pools.exchanges.last() {
            prefetch_write_all(std::slice::from_ref(&**next));
        }
        let old = std::mem::replace(&mut *b, ex);
        pools.keep(old.request.journey);
        if let Some(reply) = old.reply {
            pools.keep(reply.journey);
        }
        for error in old.errors {
            pools.keep(error.journey);
        }
        b
    })
}

/// Keep a finished exchange for [`boxed`] on this thread (freed when the pool is full).
pub fn exchange(ex: Box<Exchange>) {
    POOLS.with(|p| {
        let mut pools = p.borrow_mut();
        if pools.exchanges.len() < pools.keep {
            pools.exchanges.push(ex);
        }
    });
}

/// Let this thread keep up to `n` of each (at least [`KEEP`]): for a thread whose exchanges come
/// back in bursts bigger than that, which would otherwise free what it allocates again soon after.
pub fn keep_up_to(n: usize) {
    POOLS.with(|p| p.borrow_mut().keep = n.max(KEEP));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::exchange::{ExchangeKind, Leg};

    fn leg(n_hops: usize) -> Leg {
        let hops = (0..n_hops)
            .map(|i| Hop::new(crate::core::line::PointIdx(0), i as u64, i as u64))
            .collect();
        Leg { journey: Journey::new(Box::default(), hops), lost: None, netfilter: Vec::new() }
    }

    fn echo(hops: usize, reply: bool) -> Exchange {
        Exchange {
            kind: ExchangeKind::IcmpEcho,
            request: leg(hops),
            reply: reply.then(|| leg(hops)),
            errors: Vec::new(),
            rtt_ns: None,
            expects_reply: true,
            probe: false,
        }
    }

    fn addr<T>(b: &T) -> usize {
        std::ptr::from_ref(b) as usize
    }

    /// The pools are per thread, and other tests run beside these: each runs on a thread of its
    /// own.
    fn on_own_thread(f: impl FnOnce() + Send + 'static) {
        std::thread::spawn(f).join().expect("test thread");
    }

    #[test]
    fn a_finished_exchange_lends_its_box_then_its_packets_and_hops() {
        on_own_thread(|| {
            let old = echo(5, true);
            let mut packets = [&old.request, old.reply.as_ref().expect("reply")]
                .map(|l| addr(&*l.journey.packet))
                .to_vec();
            packets.sort_unstable();
            let old = Box::new(old);
            let old_box = addr(&*old);
            exchange(old);
            // Nothing to lend before the kept exchange is reused.
            assert_ne!(addr(&*packet()), packets[0]);
            let new = boxed(echo(2, false));
            assert_eq!(addr(&*new), old_box, "the new exchange is in the old one's box");
            assert_eq!(new.request.journey.hops.len(), 2, "holding the new exchange");
            assert!(new.reply.is_none());
            let mut got = vec![addr(&*packet()), addr(&*packet())];
            got.sort_unstable();
            assert_eq!(got, packets, "both packet boxes come back");
            let (a, b) = (hops(8), hops(2));
            assert!(a.is_empty() && a.capacity() >= 8, "empty, with the room asked for");
            assert!(b.is_empty() && b.capacity() >= 2);
            // The pools are empty again: a new box.
            assert_ne!(addr(&*boxed(echo(1, false))), old_box);
        });
    }

    #[test]
    fn a_thread_may_keep_more() {
        on_own_thread(|| {
            keep_up_to(KEEP + 100);
            for _ in 0..KEEP + 200 {
                exchange(Box::new(echo(2, true)));
            }
            POOLS.with(|p| assert_eq!(p.borrow().exchanges.len(), KEEP + 100));
            keep_up_to(1);
            POOLS.with(|p| assert_eq!(p.borrow().keep, KEEP, "never fewer than KEEP"));
        });
    }

    #[test]
    fn the_pools_keep_at_most_keep_of_each() {
        on_own_thread(|| {
            for _ in 0..KEEP + 10 {
                exchange(Box::new(echo(2, true)));
            }
            let fresh: Vec<Box<Exchange>> = (0..KEEP).map(|_| boxed(echo(1, false))).collect();
            POOLS.with(|p| {
                let p = p.borrow();
                assert_eq!((p.exchanges.len(), p.packets.len(), p.hops.len()), (0, KEEP, KEEP));
            });
            drop(fresh);
        });
    }
}
