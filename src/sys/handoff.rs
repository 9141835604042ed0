//! A bounded queue between two threads that wakes a sleeping side only when it has a run of
//! work: the producer, once the queue fell to a low mark; the consumer, once a few items wait.
//!
//! A pipeline whose stages differ in speed puts the faster one to sleep at every item: the
//! reader of a capture fills the queue to the analysing thread and sleeps, and each batch the
//! analysing thread takes wakes it for one more. On a virtual machine a wakeup costs an
//! interrupt between processors and a switch on each side (about 4 % of `analyze`'s CPU at one
//! wakeup per batch). With a low mark the reader, once woken, refills the queue in one run.
//!
//! `std::sync::mpsc` wakes on every item and has no marks; this is a mutex, two condition
//! variables, and a flag per side saying it sleeps (no notification when nobody does).

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

/// When a sleeping side is woken.
#[derive(Debug, Clone, Copy)]
pub struct Marks {
    /// At most this many items wait; a producer that finds it so sleeps.
    pub capacity: usize,
    /// A sleeping consumer is woken once this many items wait (1: at once). A producer that
    /// stops short of it must [`Sender::send_now`], or the consumer sleeps until it does.
    pub wake_consumer: usize,
    /// A sleeping producer is woken once no more than this many items wait.
    pub wake_producer: usize,
}

struct State<T> {
    items: VecDeque<T>,
    producer_sleeps: bool,
    consumer_sleeps: bool,
    sender_gone: bool,
    receiver_gone: bool,
}

struct Shared<T> {
    state: Mutex<State<T>>,
    not_empty: Condvar,
    not_full: Condvar,
    marks: Marks,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // A side that panicked left the queue consistent (no step leaves it half-changed).
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queue `item` (there is room), waking a sleeping consumer once `wake_at` items wait.
    fn put(&self, s: &mut State<T>, item: T, wake_at: usize) {
        s.items.push_back(item);
        if s.consumer_sleeps && s.items.len() >= wake_at {
            s.consumer_sleeps = false;
            self.not_empty.notify_one();
        }
    }

    /// The next item, waking a sleeping producer once no more than its mark wait.
    fn pop(&self, s: &mut State<T>) -> Option<T> {
        let item = s.items.pop_front()?;
        if s.producer_sleeps && s.items.len() <= self.marks.wake_producer {
            s.producer_sleeps = false;
            self.not_full.notify_one();
        }
        Some(item)
    }
}

/// The producing side.
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

/// The consuming side.
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
}

/// A queue with `marks` (a capacity of at least 1; marks outside it are brought in).
pub fn bounded<T>(marks: Marks) -> (Sender<T>, Receiver<T>) {
    let capacity = marks.capacity.max(1);
    let marks = Marks {
        capacity,
        wake_consumer: marks.wake_consumer.clamp(1, capacity),
        wake_producer: marks.wake_producer.min(capacity - 1),
    };
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            items: VecDeque::with_capacity(capacity),
            producer_sleeps: false,
            consumer_sleeps: false,
            sender_gone: false,
            receiver_gone: false,
        }),
        not_empty: Condvar::new(),
        not_full: Condvar::new(),
        marks,
    });
    (Sender { shared: Arc::clone(&shared) }, Receiver { shared })
}

impl<T> Sender<T> {
    /// Queue `item`, sleeping while the queue is full; `Err(item)` when the receiver is gone.
    pub fn send(&self, item: T) -> Result<(), T> {
        self.push(item, self.shared.marks.wake_consumer)
    }

    /// [`Self::send`], sleeping at most `timeout` while the queue is full: `Ok(None)` when
    /// queued, `Ok(Some(item))` when it is still full (the producer has other work meanwhile),
    /// `Err(item)` when the receiver is gone.
    pub fn send_within(&self, item: T, timeout: std::time::Duration) -> Result<Option<T>, T> {
        let shared = &*self.shared;
        let mut s = shared.lock();
        if s.items.len() >= shared.marks.capacity && !s.receiver_gone {
            s.producer_sleeps = true;
            s = shared.not_full.wait_timeout(s, timeout).unwrap_or_else(PoisonError::into_inner).0;
        }
        if s.receiver_gone {
            return Err(item);
        }
        if s.items.len() >= shared.marks.capacity {
            return Ok(Some(item));
        }
        shared.put(&mut s, item, shared.marks.wake_consumer);
        Ok(None)
    }

    /// [`Self::send`], and wake a sleeping consumer whatever the count (the last item for a
    /// while: a flush, the end).
    pub fn send_now(&self, item: T) -> Result<(), T> {
        self.push(item, 1)
    }

    /// Wake a sleeping consumer when anything waits below its mark (nothing more comes for a
    /// while, and the consumer's results are waited for).
    pub fn wake(&self) {
        let mut s = self.shared.lock();
        if s.consumer_sleeps && !s.items.is_empty() {
            s.consumer_sleeps = false;
            self.shared.not_empty.notify_one();
        }
    }

    fn push(&self, item: T, wake_at: usize) -> Result<(), T> {
        let shared = &*self.shared;
        let mut s = shared.lock();
        while s.items.len() >= shared.marks.capacity && !s.receiver_gone {
            s.producer_sleeps = true;
            s = shared.not_full.wait(s).unwrap_or_else(PoisonError::into_inner);
        }
        if s.receiver_gone {
            return Err(item);
        }
        shared.put(&mut s, item, wake_at);
        Ok(())
    }
}

/// What [`Receiver::try_recv`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum TryRecv<T> {
    Item(T),
    /// Nothing waits now.
    Empty,
    /// Nothing waits and the sender is gone.
    Closed,
}

impl<T> Receiver<T> {
    /// The next item, sleeping while there is none; `None` once the queue is empty and the
    /// sender gone.
    pub fn recv(&self) -> Option<T> {
        let shared = &*self.shared;
        let mut s = shared.lock();
        loop {
            if let Some(item) = shared.pop(&mut s) {
                return Some(item);
            }
            if s.sender_gone {
                return None;
            }
            s.consumer_sleeps = true;
            s = shared.not_empty.wait(s).unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// The next item if one waits (never sleeps).
    pub fn try_recv(&self) -> TryRecv<T> {
        let shared = &*self.shared;
        let mut s = shared.lock();
        match shared.pop(&mut s) {
            Some(item) => TryRecv::Item(item),
            None if s.sender_gone => TryRecv::Closed,
            None => TryRecv::Empty,
        }
    }

    /// The items until the sender is gone.
    pub fn iter(&self) -> impl Iterator<Item = T> + '_ {
        std::iter::from_fn(|| self.recv())
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut s = self.shared.lock();
        s.sender_gone = true;
        s.consumer_sleeps = false;
        self.shared.not_empty.notify_one();
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut s = self.shared.lock();
        s.receiver_gone = true;
        s.producer_sleeps = false;
        // What waits is dropped with the receiver, not when the sender goes.
        let items = std::mem::take(&mut s.items);
        self.shared.not_full.notify_one();
        drop(s);
        drop(items);
    }
}

impl<T> std::fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender").field("marks", &self.shared.marks).finish_non_exhaustive()
    }
}

impl<T> std::fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver").field("marks", &self.shared.marks).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn marks(capacity: usize, wake_consumer: usize, wake_producer: usize) -> Marks {
        Marks { capacity, wake_consumer, wake_producer }
    }

    /// Wait (10 s at most) until the other thread brought the queue to `state`.
    fn until<T>(shared: &Shared<T>, what: &str, state: impl Fn(&State<T>) -> bool) {
        let start = std::time::Instant::now();
        while !state(&shared.lock()) {
            assert!(start.elapsed() < Duration::from_secs(10), "never: {what}");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn every_item_arrives_in_order_across_threads() {
        let (tx, rx) = bounded(marks(4, 2, 1));
        let producer = std::thread::spawn(move || {
            for i in 0..10_000u32 {
                tx.send(i).expect("receiver alive");
            }
        });
        let got: Vec<u32> = rx.iter().collect();
        producer.join().expect("producer");
        assert_eq!(got, (0..10_000).collect::<Vec<_>>());
    }

    #[test]
    fn a_full_queue_holds_the_producer_until_it_falls_to_the_low_mark() {
        let (tx, rx) = bounded(marks(4, 1, 1));
        let producer = std::thread::spawn(move || {
            for i in 0..5u32 {
                tx.send(i).expect("receiver alive");
            }
        });
        // Four fit; the fifth waits.
        until(&rx.shared, "four queued, the producer asleep", |s| {
            s.items.len() == 4 && s.producer_sleeps
        });
        assert_eq!(rx.recv(), Some(0));
        assert_eq!(rx.recv(), Some(1));
        std::thread::sleep(Duration::from_millis(20));
        // Three then two left: above the low mark, the producer still sleeps.
        assert_eq!(rx.shared.lock().items.len(), 2);
        assert!(rx.shared.lock().producer_sleeps);
        assert_eq!(rx.recv(), Some(2));
        // One left: woken, it sends its last.
        producer.join().expect("producer");
        assert_eq!(rx.iter().collect::<Vec<_>>(), vec![3, 4]);
    }

    #[test]
    fn a_sleeping_consumer_waits_for_its_mark_unless_sent_now() {
        let (tx, rx) = bounded::<u32>(marks(8, 3, 0));
        let consumer = std::thread::spawn(move || rx.recv());
        until(&tx.shared, "the consumer asleep", |s| s.consumer_sleeps);
        tx.send(1).expect("receiver alive");
        tx.send(2).expect("receiver alive");
        std::thread::sleep(Duration::from_millis(20));
        assert!(tx.shared.lock().consumer_sleeps, "two of three: still asleep");
        assert!(!consumer.is_finished());
        tx.send_now(3).expect("receiver alive");
        assert_eq!(consumer.join().expect("consumer"), Some(1));

        // Below the mark, `wake` wakes it too.
        let (tx, rx) = bounded::<u32>(marks(8, 3, 0));
        let consumer = std::thread::spawn(move || rx.recv());
        until(&tx.shared, "the consumer asleep", |s| s.consumer_sleeps);
        tx.wake();
        assert!(tx.shared.lock().consumer_sleeps, "nothing waits: nothing to wake it for");
        tx.send(5).expect("receiver alive");
        tx.wake();
        assert_eq!(consumer.join().expect("consumer"), Some(5));
    }

    #[test]
    fn a_gone_receiver_fails_the_sender_and_a_gone_sender_ends_the_receiver() {
        let (tx, rx) = bounded(marks(1, 1, 0));
        tx.send(1u32).expect("receiver alive");
        let blocked = std::thread::spawn(move || tx.send(2));
        std::thread::sleep(Duration::from_millis(20));
        drop(rx);
        assert_eq!(blocked.join().expect("sender"), Err(2));

        let (tx, rx) = bounded(marks(2, 2, 0));
        tx.send(7u32).expect("receiver alive");
        let consumer = std::thread::spawn(move || rx.iter().collect::<Vec<_>>());
        std::thread::sleep(Duration::from_millis(20));
        drop(tx);
        assert_eq!(consumer.join().expect("consumer"), vec![7]);
    }

    #[test]
    fn a_bounded_send_gives_the_item_back_while_full_and_a_try_never_sleeps() {
        let (tx, rx) = bounded(marks(1, 1, 0));
        assert_eq!(rx.try_recv(), TryRecv::Empty);
        assert_eq!(tx.send_within(1u32, Duration::from_millis(1)), Ok(None));
        // Full: the item comes back after the wait, for the producer to do other work.
        assert_eq!(tx.send_within(2, Duration::from_millis(1)), Ok(Some(2)));
        assert_eq!(rx.try_recv(), TryRecv::Item(1));
        assert_eq!(tx.send_within(2, Duration::from_millis(1)), Ok(None));
        // A consumer that takes an item within the wait lets it in.
        let taker = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            let first = rx.try_recv();
            (first, rx)
        });
        assert_eq!(tx.send_within(3, Duration::from_secs(10)), Ok(None));
        let (first, rx) = taker.join().expect("taker");
        assert_eq!(first, TryRecv::Item(2));
        drop(tx);
        assert_eq!(rx.try_recv(), TryRecv::Item(3));
        assert_eq!(rx.try_recv(), TryRecv::Closed, "empty and the sender gone");
        let (tx, rx) = bounded(marks(1, 1, 0));
        drop(rx);
        assert_eq!(tx.send_within(4u32, Duration::from_millis(1)), Err(4));
    }
}
