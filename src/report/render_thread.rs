//! Rendering exchanges off the analysing thread: `analyze --json` of a big capture spends a
//! third of its analysing thread formatting, which a second core can do meanwhile. The rendering
//! side ([`RenderWorker`]) runs on a thread of its own or on a thread that serves it between its
//! own work: `analyze`'s reader, so that two busy threads share two cores (a third, the
//! renderer woken by the analysing thread, ran beside it: the kernel places a woken thread by
//! the one that woke it).
//!
//! Exchanges go over in batches with the point ids they name; rendered bytes come back in the
//! same order, and the owner writes them out. [`RenderThread::wait`] makes everything sent so far
//! come back (before a flush or the end of the report).

use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use crate::core::exchange::Exchange;
use crate::core::hint::prefetch_read_all;
use crate::report::json::Ids;
use crate::session::sink::Hosted;
use crate::sys::handoff::{self, TryRecv};

/// Renders one exchange into the buffer; `first` is true for the very first of the stream.
pub type RenderFn = fn(&mut Vec<u8>, &Ids, &Exchange, bool);

/// Exchanges per batch: the hand-over costs a wakeup, the batch a few hundred kB at most.
const BATCH: usize = 256;
/// Batches queued for the thread and rendered batches waiting to be taken back.
const QUEUED: usize = 4;
const RENDERED: usize = 8;
/// The most exchanges away at once: queued, rendered, one being rendered and one being filled.
/// They come back in bursts of up to this many; an analysing thread that keeps this many for
/// reuse ([`crate::core::recycle::keep_up_to`]) allocates none after the first.
pub const IN_FLIGHT: usize = BATCH * (QUEUED + RENDERED + 2);

struct Job {
    ids: Arc<Ids>,
    exchanges: Vec<Box<Exchange>>,
    /// The first exchange of the batch is the first of the stream.
    first: bool,
    /// A buffer to render into (recycled).
    out: Vec<u8>,
}

/// What comes back: the bytes, and the exchanges rendered (dropped by the owner).
type Done = (Vec<u8>, Vec<Box<Exchange>>);

pub struct RenderThread {
    tx: Option<handoff::Sender<Job>>,
    rx: Receiver<Done>,
    thread: Option<JoinHandle<()>>,
    batch: Vec<Box<Exchange>>,
    ids: Arc<Ids>,
    /// Batches sent and not yet back.
    outstanding: usize,
    first: bool,
    spare: Vec<(Vec<u8>, Vec<Box<Exchange>>)>,
}

impl RenderThread {
    /// Serve `worker` (this renderer's) on a thread of its own; false when it cannot start.
    pub fn serve_on_own_thread(&mut self, worker: RenderWorker) -> bool {
        let thread = std::thread::Builder::new()
            .name("vtrace-render".into())
            .spawn(move || worker.serve_until_closed());
        self.thread = thread.ok();
        self.thread.is_some()
    }

    /// The renderer without a thread of its own: `RenderWorker` renders on the thread that
    /// serves it (`analyze`'s reader, between the batches it reads). It must be served until
    /// this side is dropped.
    pub fn hosted(render: RenderFn) -> (RenderThread, RenderWorker) {
        crate::core::recycle::keep_up_to(IN_FLIGHT);
        // The renderer outruns the analysing thread: asleep, it is woken for two batches at a
        // time (the last before a flush at once), which halves its wakeups.
        let (tx, jobs) = handoff::bounded::<Job>(handoff::Marks {
            capacity: QUEUED,
            wake_consumer: 2,
            wake_producer: QUEUED - 1,
        });
        let (done, rx) = sync_channel::<Done>(RENDERED);
        let r = RenderThread {
            tx: Some(tx),
            rx,
            thread: None,
            batch: Vec::with_capacity(BATCH),
            ids: Arc::new(Ids::default()),
            outstanding: 0,
            first: true,
            spare: Vec::new(),
        };
        (r, RenderWorker { jobs, done, render })
    }

    /// The point ids the exchanges queued from now on name (a point was added): the batch so
    /// far goes with the old ones.
    pub fn set_ids(&mut self, ids: &Ids) {
        if *self.ids != *ids {
            self.send(false);
            self.ids = Arc::new(ids.clone());
        }
    }

    /// Queue `ex` (naming points by the ids set last); `write` gets whatever rendered bytes are
    /// back.
    pub fn push(
        &mut self,
        ex: Box<Exchange>,
        write: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        self.batch.push(ex);
        if self.batch.len() >= BATCH {
            self.send(false);
        }
        while let Ok(done) = self.rx.try_recv() {
            self.back(done, write)?;
        }
        Ok(())
    }

    /// Send what is queued and write everything rendered, in order.
    pub fn wait(
        &mut self,
        write: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        self.send(true);
        while self.outstanding > 0 {
            match self.rx.recv() {
                Ok(done) => self.back(done, write)?,
                Err(_) => {
                    self.outstanding = 0;
                    return Err(std::io::Error::other("the JSON rendering thread stopped"));
                }
            }
        }
        Ok(())
    }

    fn back(
        &mut self,
        (out, exchanges): Done,
        write: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        self.outstanding = self.outstanding.saturating_sub(1);
        let res = write(&out);
        let mut exchanges = exchanges;
        // Their packet boxes and hop vectors go to the next journeys of this thread.
        exchanges.drain(..).for_each(crate::core::recycle::exchange);
        self.spare.push((out, exchanges));
        res
    }

    /// Hand the batch over; `now`: wake the renderer whatever waits (everything sent is waited
    /// for next).
    fn send(&mut self, now: bool) {
        if self.batch.is_empty() {
            if now && let Some(tx) = &self.tx {
                tx.wake();
            }
            return;
        }
        let (out, fresh) =
            self.spare.pop().unwrap_or_else(|| (Vec::new(), Vec::with_capacity(BATCH)));
        let exchanges = std::mem::replace(&mut self.batch, fresh);
        let job = Job { ids: Arc::clone(&self.ids), exchanges, first: self.first, out };
        self.first = false;
        let sent = match &self.tx {
            Some(tx) if now => tx.send_now(job),
            Some(tx) => tx.send(job),
            None => Err(job),
        };
        if sent.is_ok() {
            self.outstanding += 1;
        }
    }
}

/// The rendering side of a [`RenderThread`], on whichever thread serves it.
pub struct RenderWorker {
    jobs: handoff::Receiver<Job>,
    done: SyncSender<Done>,
    render: RenderFn,
}

impl Hosted for RenderWorker {
    /// Render the batches waiting, without sleeping; false once the other side is gone.
    fn serve_waiting(&self) -> bool {
        loop {
            match self.jobs.try_recv() {
                TryRecv::Item(job) => {
                    if !self.render_job(job) {
                        return false;
                    }
                }
                TryRecv::Empty => return true,
                TryRecv::Closed => return false,
            }
        }
    }

    /// Render every batch until the other side is gone.
    fn serve_until_closed(&self) {
        while let Some(job) = self.jobs.recv() {
            if !self.render_job(job) {
                return;
            }
        }
    }
}

impl RenderWorker {
    fn render_job(&self, mut job: Job) -> bool {
        job.out.clear();
        for (i, ex) in job.exchanges.iter().enumerate() {
            ask_ahead(&job.exchanges, i);
            (self.render)(&mut job.out, &job.ids, ex, job.first && i == 0);
        }
        // Freed where they were allocated: glibc frees to another thread's arena slowly, and
        // that arena's next allocations then miss its thread cache.
        self.done.send((job.out, job.exchanges)).is_ok()
    }
}

/// The exchanges were written on the analysing core: ask for the ones rendered next, the box
/// two ahead and the hops of the one after this (whose box is in cache by then). Reading them
/// cold was most of the rendering thread's time.
#[inline(always)]
fn ask_ahead(exchanges: &[Box<Exchange>], i: usize) {
    if let Some(ex) = exchanges.get(i + 2) {
        prefetch_read_all(std::slice::from_ref(&**ex));
    }
    if let Some(ex) = exchanges.get(i + 1) {
        prefetch_read_all(&ex.request.journey.hops);
        if let Some(r) = &ex.reply {
            prefetch_read_all(&r.journey.hops);
        }
    }
}

impl Drop for RenderThread {
    fn drop(&mut self) {
        self.tx = None;
        // Unblock a thread waiting to hand back a batch, then wait for it to end.
        while self.rx.try_recv().is_ok() {}
        drop(std::mem::replace(&mut self.rx, sync_channel(0).1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::exchange::{ExchangeKind, Leg};
    use crate::core::journey::{Hop, Journey};
    use crate::core::line::PointIdx;

    fn exchange(t: u64) -> Exchange {
        let journey = Journey::new(Box::default(), vec![Hop::new(PointIdx(0), t, 1)]);
        Exchange {
            kind: ExchangeKind::Arp,
            request: Leg { journey, lost: None, netfilter: Vec::new() },
            reply: None,
            errors: Vec::new(),
            rtt_ns: None,
            expects_reply: false,
            probe: false,
        }
    }

    fn render(buf: &mut Vec<u8>, ids: &Ids, ex: &Exchange, first: bool) {
        let t = ex.request.journey.first_t();
        buf.extend_from_slice(
            format!("{}{}@{};", if first { "^" } else { "" }, t, ids.len()).as_bytes(),
        );
    }

    /// 600 exchanges through `r`, the ids changing at 300: what comes back, in order.
    fn round_trip(r: &mut RenderThread) -> String {
        let mut out = Vec::new();
        let mut write = |b: &[u8]| {
            out.extend_from_slice(b);
            Ok(())
        };
        let one = Ids::new(&["a".to_owned()]);
        let two = Ids::new(&["a".to_owned(), "b".to_owned()]);
        for t in 0..600 {
            if t == 0 || t == 300 {
                r.set_ids(if t < 300 { &one } else { &two });
            }
            r.push(Box::new(exchange(t)), &mut write).expect("push");
        }
        r.wait(&mut write).expect("wait");
        String::from_utf8(out).expect("utf-8")
    }

    fn expected() -> String {
        (0..600)
            .map(|t| {
                format!("{}{t}@{};", if t == 0 { "^" } else { "" }, if t < 300 { 1 } else { 2 })
            })
            .collect()
    }

    #[test]
    fn everything_comes_back_in_order_with_the_ids_it_was_sent_with() {
        let (mut r, worker) = RenderThread::hosted(render);
        assert!(r.serve_on_own_thread(worker));
        assert_eq!(round_trip(&mut r), expected());
    }

    #[test]
    fn a_worker_served_between_other_work_then_alone_renders_everything_in_order() {
        let (mut r, worker) = RenderThread::hosted(render);
        // The host renders what waits now and then (a reader between batches), then serves
        // alone until the renderer is dropped.
        let host = std::thread::spawn(move || {
            for _ in 0..50 {
                if !worker.serve_waiting() {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_micros(200));
            }
            worker.serve_until_closed();
        });
        assert_eq!(round_trip(&mut r), expected());
        drop(r);
        assert!(host.join().is_ok(), "the host ends once the renderer is dropped");
    }
}
