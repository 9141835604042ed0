//! Live libpcap captures, one per capture point, each opened on a dedicated std thread that has
//! entered the point's network namespace, then all read by one thread.
//!
//! Captures run in libpcap's default (non-immediate) mode: the kernel hands over a block of
//! frames at a time (TPACKET_V3), when the block is full or [`BLOCK_MS`] after its first frame,
//! instead of waking the reader for every frame (DESIGN.md measured per-packet wakeups at 59
//! times tcpdump's CPU). Nanosecond timestamps, promiscuous where asked (bridges), a BPF filter
//! and a kernel buffer of the size asked (`--buffer-size`). The reading thread waits in one
//! poll(2) on every capture and hands what it read over in [`Batch`]es through one bounded
//! channel (when the analysing side falls behind, the kernel rings absorb the burst and count
//! what they cannot, so memory stays flat and losses show as capture drops); a [`Watermark`]
//! says up to when everything was handed over. [`Captures::stop`] ends the reading (an open
//! capture keeps its namespace alive) and returns the per-point kernel statistics. This module
//! captures bytes; it never decodes or interprets them.

use std::ops::ControlFlow;
use std::os::fd::{BorrowedFd, RawFd};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::{Duration, Instant};

use thiserror::Error;

use crate::core::decode::identify;
use crate::core::frame::{Frame, LinkType};
use crate::core::journey::PacketId;
use crate::sys::netns::{Netns, Target, Worker, WorkerError, spawn_in};
use crate::sys::pcapfile::CaptureReader;
use crate::sys::poll::wait_any_readable;
use crate::sys::stop::Stop;

/// Largest frame kept by default: a full 1500-byte-MTU Ethernet frame with VLAN tags (the same
/// as tcpdump's measured runs, so the rings hold as many frames). Longer frames (jumbo, veth
/// GSO) are cut, their headers kept.
pub const SNAPLEN: u32 = 1_920;

/// How each capture is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaptureOptions {
    /// Kernel buffer of each capture, in bytes.
    pub buffer_bytes: u32,
    /// Largest frame kept, in bytes.
    pub snaplen: u32,
}
/// Most frames handed over at once.
const BATCH: usize = 1024;
/// Batches waiting for the analysing side, over all points, before the capture thread waits (at
/// most 96 Ki frames, about 12 MiB, 50 ms of a `ping -f` on five points: as much as the queue of
/// single frames held before; the kernel buffers absorb longer bursts).
const QUEUED_BATCHES: usize = 96;
/// The same for a replay, which always fills its queue (the file is read as fast as the analysis
/// goes): 32 Ki frames.
const REPLAY_QUEUED_BATCHES: usize = 32;
/// Spent batches kept for reuse.
const SPARE_BATCHES: usize = 8;
/// Full batches a wakeup holds before it sends them (a wakeup under `ping -f` on five points
/// reads about three).
const HELD_BATCHES: usize = 4;
/// How often an idle capture thread wakes up (ms): to look at the stop flag and to move the
/// [`Watermark`] on.
const POLL_MS: i32 = 4;
/// The kernel's block timeout (ms): a block of frames is handed over when it is full or this
/// long after it was opened, whichever comes first. It bounds how late a lone frame arrives.
pub const BLOCK_MS: i32 = 4;
/// How long after its capture a frame is surely in a block the kernel handed over: two block
/// timeouts (a timer that just missed the block) and a margin for a late timer.
const HANDED_OVER_NS: u64 = 2 * BLOCK_MS as u64 * 1_000_000 + 4_000_000;
/// Least time between two reads of the captures while frames keep coming: every ring's blocks
/// retired meanwhile are read in one wakeup. The kernel retires each ring's blocks on a timer
/// of its own, so a reader woken by whichever ring is ready first woke once per block of every
/// ring (measured under `ping -f` on five points: 1 250 wakeups a second, the context switches
/// a tenth of the capture thread's samples). A lone frame is read as soon as its block is
/// retired (the reader was idle); the frames after it at most this much later.
pub const PACE: Duration = Duration::from_millis(BLOCK_MS as u64);
/// How long the captures are still read after a stop: frames captured before the stop may sit
/// in a block the kernel hands over only at its timeout.
const STOP_DRAIN: Duration = Duration::from_nanos(HANDED_OVER_NS);

/// Where to capture.
#[derive(Debug, Clone)]
pub struct CaptureSpec {
    /// Index of the point (the order points were given); echoed in every captured frame.
    pub point: usize,
    /// The point id, for error messages (`nginx-2/eth0`).
    pub id: String,
    pub netns: Netns,
    pub ifname: String,
    pub promisc: bool,
    /// A BPF filter expression (tcpdump syntax); empty for everything.
    pub filter: String,
}

/// One captured frame of a [`Batch`]: where and when, and where its bytes are in the batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameRef {
    pub point: usize,
    /// Nanoseconds since the Unix epoch.
    pub t_ns: u64,
    /// Length on the wire.
    pub len: u32,
    start: u32,
    caplen: u32,
    /// What the correlator reads of the packet, decoded by the capture thread while the bytes
    /// were in its cache: the analysing side decodes the whole packet again only for the few
    /// frames whose packet it needs (one per journey).
    pub id: PacketId,
}

/// Frames captured together (on one or several points), their bytes in one buffer: a capture
/// hands over batches, never single frames, and allocates nothing per frame (a batch's buffers
/// come back through [`Recycle`] and are reused).
#[derive(Debug, Default)]
pub struct Batch {
    frames: Vec<FrameRef>,
    data: Vec<u8>,
}

impl Batch {
    /// An empty batch with room for `frames` frames of `bytes` bytes in all.
    pub fn with_capacity(frames: usize, bytes: usize) -> Batch {
        Batch { frames: Vec::with_capacity(frames), data: Vec::with_capacity(bytes) }
    }

    /// Append a frame of link type `linktype` (bytes beyond 4 GiB in one batch are not kept: a
    /// batch never grows so far), with its [`PacketId`].
    pub fn push(&mut self, point: usize, t_ns: u64, len: u32, linktype: LinkType, bytes: &[u8]) {
        let (Ok(start), Ok(caplen)) = (u32::try_from(self.data.len()), u32::try_from(bytes.len()))
        else {
            return;
        };
        let id = identify(&Frame { ifid: 0, t_ns, len, linktype, data: bytes });
        self.data.extend_from_slice(bytes);
        self.frames.push(FrameRef { point, t_ns, len, start, caplen, id });
    }

    pub fn frames(&self) -> &[FrameRef] {
        &self.frames
    }

    /// The captured bytes of `f`, a frame of this batch.
    pub fn bytes(&self, f: &FrameRef) -> &[u8] {
        let start = f.start as usize;
        self.data.get(start..start + f.caplen as usize).unwrap_or_default()
    }

    pub fn len(&self) -> usize {
        self.frames.len()
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Bytes held.
    pub fn data_len(&self) -> usize {
        self.data.len()
    }

    fn clear(&mut self) {
        self.frames.clear();
        self.data.clear();
    }

    /// Append the frames of `other` (those whose bytes would take this batch beyond 4 GiB are
    /// not kept).
    fn append(&mut self, other: &Batch) {
        let Ok(offset) = u32::try_from(self.data.len()) else { return };
        self.data.extend_from_slice(&other.data);
        self.frames.extend(
            other
                .frames
                .iter()
                .filter_map(|f| Some(FrameRef { start: f.start.checked_add(offset)?, ..*f })),
        );
    }
}

/// Where spent batches go back to the capture, to be filled again.
#[derive(Debug, Clone)]
pub struct Recycle(SyncSender<Batch>);

impl Recycle {
    /// Give a spent batch back (dropped when the capture has enough spare ones, or is gone).
    pub fn give(&self, batch: Batch) {
        let _ = self.0.try_send(batch);
    }
}

/// Spare batches of a capture: those given back, else new ones.
#[derive(Debug)]
struct Spares(Receiver<Batch>);

impl Spares {
    fn take(&self) -> Batch {
        match self.0.try_recv() {
            Ok(mut b) => {
                b.clear();
                b
            }
            Err(_) => Batch::with_capacity(BATCH, BATCH * 128),
        }
    }
}

fn spares() -> (Recycle, Spares) {
    let (tx, rx) = sync_channel(SPARE_BATCHES);
    (Recycle(tx), Spares(rx))
}

/// What the captures hand over: batches of frames, where spent batches go back, and how far
/// they have handed over everything.
#[derive(Debug)]
pub struct Frames {
    pub batches: Receiver<Batch>,
    pub recycle: Recycle,
    pub watermark: Watermark,
}

/// A capture time (ns since the epoch) before which every frame of every point has been sent
/// to [`Frames::batches`]: the capture thread moves it on after each time it read every ring
/// the kernel had handed a block to, and only after sending what it read. Read it *before*
/// taking batches: what was sent before it moved is then in the channel. A replay has none
/// (always `u64::MAX`: its frames come in file order).
#[derive(Debug, Clone)]
pub struct Watermark(Arc<AtomicU64>);

impl Watermark {
    fn new(t: u64) -> Watermark {
        Watermark(Arc::new(AtomicU64::new(t)))
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }

    fn set(&self, t: u64) {
        self.0.fetch_max(t, Ordering::Release);
    }
}

/// The wall clock, in ns since the epoch (the clock capture timestamps are taken on).
fn wall_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// What the kernel says about one capture at its end.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CaptureStats {
    /// Packets that passed the filter (`ps_recv`).
    pub received: u64,
    /// Packets dropped by the kernel or the interface (`ps_drop + ps_ifdrop`).
    pub dropped: u64,
    /// The capture broke during the trace: the interface (or its namespace) went away.
    pub gone: bool,
}

/// Why a capture could not be started or ended.
#[derive(Debug, Error)]
pub enum CaptureError {
    #[error("opening a capture on {id} needs CAP_NET_RAW: run as root ({detail})")]
    Permission { id: String, detail: String },
    #[error("entering the network namespace of {id} needs CAP_SYS_ADMIN: run as root ({source})")]
    Setns { id: String, source: nix::Error },
    #[error("opening the network namespace of {id}: {source:#}")]
    Netns { id: String, source: anyhow::Error },
    #[error("opening a capture on {id}: {detail} (does the interface still exist? `vtrace topo`)")]
    Open { id: String, detail: String },
    /// The interface is administratively down: libpcap cannot capture on it, and nothing
    /// crosses it anyway.
    #[error("{id} is down: nothing can be captured there")]
    Down { id: String },
    #[error("invalid capture filter {filter:?} on {id}: {detail}")]
    Filter { id: String, filter: String, detail: String },
    #[error("starting the capture thread of {id}: {source}")]
    Thread { id: String, source: std::io::Error },
    #[error("the capture thread of {id} ended before it was ready")]
    Vanished { id: String },
}

impl CaptureError {
    /// The failure of the capture thread of `id` to start inside its namespace.
    fn of_worker(id: String, e: WorkerError) -> Self {
        match e {
            WorkerError::Open(source) => CaptureError::Netns { id, source },
            WorkerError::Enter { source, .. } => CaptureError::Setns { id, source },
            WorkerError::Spawn { source, .. } | WorkerError::Runtime { source, .. } => {
                CaptureError::Thread { id, source }
            }
            WorkerError::Panicked { .. } => CaptureError::Vanished { id },
        }
    }
}

/// Running captures.
#[derive(Debug)]
pub struct Captures {
    stop: Stop,
    /// The thread that reads every capture (or the replayed file).
    thread: Option<(String, Worker<Vec<CaptureStats>>)>,
    linktypes: Vec<LinkType>,
    down: Vec<String>,
}

impl Captures {
    /// Start one capture per spec and return once every one of them is active (so nothing sent
    /// afterwards can be missed), with the batches their frames arrive in. The captures are
    /// opened at once, each on a thread inside its namespace, then read together by one thread.
    /// A point whose interface is down captures nothing ([`Captures::down`]); any other failure
    /// closes the captures already opened and is returned.
    pub fn start(
        specs: &[CaptureSpec],
        opts: CaptureOptions,
    ) -> Result<(Captures, Frames), CaptureError> {
        let opening: Vec<_> = specs
            .iter()
            .map(|spec| {
                let s = spec.clone();
                let name = format!("vtrace-open-{}", spec.point);
                spawn_in(&spec.netns, &name, move || open(&s, opts))
                    .map_err(|e| CaptureError::of_worker(spec.id.clone(), e))
            })
            .collect();
        let mut opened = Vec::new();
        let mut linktypes = Vec::new();
        let mut down = Vec::new();
        let mut failed = None;
        // Every opening thread is joined, even after a failure: none is left behind, and the
        // captures opened are closed (dropped) with the error.
        for (spec, worker) in specs.iter().zip(opening) {
            let cap = worker
                .and_then(|w| w.join().map_err(|e| CaptureError::of_worker(spec.id.clone(), e))?);
            match cap {
                Ok(cap) => {
                    linktypes
                        .push(u16::try_from(cap.get_datalink().0).map_or(LinkType(0), LinkType));
                    opened.push((spec.point, cap));
                }
                Err(e @ CaptureError::Down { .. }) => {
                    linktypes.push(LinkType::ETHERNET);
                    down.push(e.to_string());
                }
                Err(e) => {
                    linktypes.push(LinkType::ETHERNET);
                    failed.get_or_insert(e);
                }
            }
        }
        if let Some(e) = failed {
            return Err(e);
        }
        let points = specs.iter().map(|s| s.point + 1).max().unwrap_or(0);
        let (tx, rx) = sync_channel(QUEUED_BATCHES);
        let (recycle, spares) = spares();
        let stop = Stop::new();
        let flag = stop.clone();
        let id = "the captures".to_owned();
        let watermark = Watermark::new(0);
        let mark = watermark.clone();
        let worker = spawn_in(Target::Here, "vtrace-capture", move || {
            Poller::new(points, tx, spares, flag, mark).run(opened)
        })
        .map_err(|e| CaptureError::of_worker(id.clone(), e))?;
        let caps = Captures { stop, thread: Some((id, worker)), linktypes, down };
        Ok((caps, Frames { batches: rx, recycle, watermark }))
    }

    /// Read a capture file in place of capturing (interface N of the file is point N of
    /// `points`; frames of other interfaces are skipped), as fast as the analysing side takes
    /// the frames, in the same batches. The channel closes at the end of the file (or after a
    /// read error, which ends the replay like the end of the file).
    pub fn replay(path: &Path, points: usize) -> Result<(Captures, Frames), CaptureError> {
        let id = path.display().to_string();
        let mut reader = CaptureReader::open(path)
            .map_err(|e| CaptureError::Open { id: id.clone(), detail: e.to_string() })?;
        let (tx, rx) = sync_channel(REPLAY_QUEUED_BATCHES);
        let (recycle, spares) = spares();
        let stop = Stop::new();
        let flag = stop.clone();
        let handle = spawn_in(Target::Here, "vtrace-replay", move || {
            vec![replay(&mut reader, points, &tx, &spares, &flag)]
        })
        .map_err(|e| CaptureError::of_worker(id.clone(), e))?;
        let caps = Captures {
            stop,
            thread: Some((id, handle)),
            linktypes: vec![LinkType::ETHERNET; points],
            down: Vec::new(),
        };
        Ok((caps, Frames { batches: rx, recycle, watermark: Watermark::new(u64::MAX) }))
    }

    /// The link type of each capture, by point.
    pub fn linktypes(&self) -> &[LinkType] {
        &self.linktypes
    }

    /// Points whose interface was down at the start: they capture nothing (and say so).
    pub fn down(&self) -> &[String] {
        &self.down
    }

    /// Ask every capture to stop, without waiting: drain the channel until it closes, then
    /// [`Captures::stop`] for the statistics. Frames captured before the request are still
    /// handed over (those in a block the kernel has not handed over yet too).
    pub fn request_stop(&self) {
        self.stop.request();
    }

    /// Stop every capture, wait for its thread, and return its statistics by point.
    pub fn stop(mut self) -> Vec<CaptureStats> {
        self.stop.request();
        let points = self.linktypes.len();
        let mut stats =
            self.thread.take().map(|(_, h)| h.join().unwrap_or_default()).unwrap_or_default();
        // A replay's one thread counts for every point.
        stats.resize(points.max(stats.len()), CaptureStats::default());
        stats
    }
}

fn open(
    spec: &CaptureSpec,
    opts: CaptureOptions,
) -> Result<pcap::Capture<pcap::Active>, CaptureError> {
    let id = || spec.id.clone();
    let open_err = |e: pcap::Error| {
        let detail = e.to_string();
        if detail.contains("ermission") || detail.contains("not permitted") {
            CaptureError::Permission { id: id(), detail }
        } else if detail.contains("not up") {
            CaptureError::Down { id: id() }
        } else {
            CaptureError::Open { id: id(), detail }
        }
    };
    // Not immediate mode: the kernel hands over a block of frames at a time (TPACKET_V3), at
    // the latest BLOCK_MS after the block's first frame, instead of waking the reader per frame.
    let cap = pcap::Capture::from_device(spec.ifname.as_str())
        .map_err(open_err)?
        .immediate_mode(false)
        .timeout(BLOCK_MS)
        .precision(pcap::Precision::Nano)
        .promisc(spec.promisc)
        .snaplen(i32::try_from(opts.snaplen).unwrap_or(i32::MAX))
        .buffer_size(i32::try_from(opts.buffer_bytes).unwrap_or(i32::MAX))
        .open()
        .map_err(open_err)?;
    let mut cap = cap.setnonblock().map_err(open_err)?;
    // libpcap opens its socket without close-on-exec: a program vtrace starts meanwhile (`nft`)
    // would inherit it, and if vtrace closed the capture first, that program's exit would pay
    // for the socket's release (tens of ms each, measured).
    // SAFETY: `cap` is an active capture; the descriptor lives as long as it does.
    let fd = unsafe { pcap_get_selectable_fd(cap.as_ptr().cast()) };
    if fd >= 0 {
        // SAFETY: F_SETFD on the capture's own open descriptor.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    if !spec.filter.is_empty() {
        cap.filter(&spec.filter, true).map_err(|e| CaptureError::Filter {
            id: id(),
            filter: spec.filter.clone(),
            detail: e.to_string(),
        })?;
    }
    Ok(cap)
}

// libpcap's pcap_get_selectable_fd, which the pcap crate only exposes through a private module.
unsafe extern "C" {
    fn pcap_get_selectable_fd(p: *mut libc::c_void) -> libc::c_int;
}

/// One open capture of the poller.
struct Point {
    point: usize,
    linktype: LinkType,
    cap: pcap::Capture<pcap::Active>,
    fd: RawFd,
    gone: bool,
}

/// The thread that reads every capture: it waits in one poll(2) on all of them, reads every
/// block the kernel handed over into the current batch, and hands the batch over once per
/// wakeup (or when it is full).
struct Poller {
    tx: SyncSender<Batch>,
    spares: Spares,
    stop: Stop,
    batch: Batch,
    /// Batches filled in this wakeup, not yet sent: sent together at its end, so that the
    /// analysing side wakes once for all of them (at most [`HELD_BATCHES`]).
    full: Vec<Batch>,
    /// Frames shed at a stop that nobody drained, by point.
    shed: Vec<u64>,
    watermark: Watermark,
}

impl Poller {
    fn new(
        points: usize,
        tx: SyncSender<Batch>,
        spares: Spares,
        stop: Stop,
        watermark: Watermark,
    ) -> Poller {
        let batch = spares.take();
        Poller { tx, spares, stop, batch, full: Vec::new(), shed: vec![0; points], watermark }
    }

    /// Read until stopped (then for one more block timeout, so that frames the kernel still
    /// held in a block reach the analysis); return every capture's statistics by point.
    fn run(mut self, opened: Vec<(usize, pcap::Capture<pcap::Active>)>) -> Vec<CaptureStats> {
        let mut points: Vec<Point> = opened
            .into_iter()
            .map(|(point, cap)| {
                // SAFETY: `cap` is an active capture; the descriptor lives as long as it does.
                let fd = unsafe { pcap_get_selectable_fd(cap.as_ptr().cast()) };
                let linktype = u16::try_from(cap.get_datalink().0).map_or(LinkType(0), LinkType);
                Point { point, linktype, cap, fd, gone: fd < 0 }
            })
            .collect();
        let mut stopping: Option<Instant> = None;
        // When the last wakeup that read frames began.
        let mut busy: Option<Instant> = None;
        let (mut pfds, mut ready, mut live) = (Vec::new(), Vec::new(), Vec::new());
        loop {
            if stopping.is_none() && self.stop.requested() {
                stopping = Some(Instant::now());
            }
            if let Some(woke) = busy.take().filter(|_| stopping.is_none()) {
                let left = PACE.saturating_sub(woke.elapsed());
                if !left.is_zero() {
                    std::thread::sleep(left);
                }
            }
            let wait = match stopping {
                Some(at) => {
                    let left = STOP_DRAIN.saturating_sub(at.elapsed());
                    if left.is_zero() {
                        break;
                    }
                    i32::try_from(left.as_millis()).unwrap_or(POLL_MS).clamp(1, POLL_MS)
                }
                None => POLL_MS,
            };
            // Every frame captured a while before this wait is in a block handed over by the
            // time it ends, and so in a ring found readable now: read and sent below.
            let handed_over = wall_ns().saturating_sub(HANDED_OVER_NS);
            live.clear();
            live.extend(points.iter().enumerate().filter(|(_, p)| !p.gone).map(|(i, _)| i));
            if live.is_empty() {
                // Nothing left to read: wait for the stop.
                std::thread::sleep(Duration::from_millis(wait.unsigned_abs().into()));
                self.watermark.set(handed_over);
                continue;
            }
            {
                // SAFETY: each descriptor is its capture's, open as long as `points` holds it.
                let fds: Vec<BorrowedFd<'_>> = live
                    .iter()
                    .filter_map(|&i| points.get(i))
                    .map(|p| unsafe { BorrowedFd::borrow_raw(p.fd) })
                    .collect();
                wait_any_readable(&fds, wait, &mut pfds, &mut ready);
            }
            if !ready.is_empty() {
                busy = Some(Instant::now());
            }
            for &r in &ready {
                let Some(p) = live.get(r).and_then(|&i| points.get_mut(i)) else { continue };
                if self.read(p).is_break() {
                    return self.stats(points);
                }
            }
            if self.hand_over().is_break() {
                return self.stats(points);
            }
            self.watermark.set(handed_over);
        }
        // The last frames: whatever is buffered now.
        for p in points.iter_mut().filter(|p| !p.gone) {
            if self.read(p).is_break() {
                break;
            }
        }
        let _ = self.hand_over();
        self.stats(points)
    }

    /// Read everything `p` has buffered into the batch. A read error is a broken capture: its
    /// interface vanished (ENETDOWN once it is unregistered). Breaks when the analysing side
    /// is gone.
    fn read(&mut self, p: &mut Point) -> ControlFlow<()> {
        loop {
            // Every frame the kernel handed over, straight from its ring into the batch
            // (pcap_dispatch: one call per block, where pcap_next_ex is a call and a copy into
            // libpcap's own buffer per frame); at most what fits in the batch.
            let (batch, point, linktype) = (&mut self.batch, p.point, p.linktype);
            let room = BATCH.saturating_sub(batch.len()).max(1);
            let read = p.cap.dispatch(Some(room), |pkt| {
                let t_ns = timestamp_ns(pkt.header.ts.tv_sec, pkt.header.ts.tv_usec);
                batch.push(point, t_ns, pkt.header.len, linktype, pkt.data);
            });
            match read {
                // Nothing buffered (non-blocking read).
                Ok(0) => return ControlFlow::Continue(()),
                Ok(_) => {
                    if self.batch.len() >= BATCH {
                        let full = std::mem::replace(&mut self.batch, self.spares.take());
                        self.full.push(full);
                        if self.full.len() >= HELD_BATCHES {
                            self.hand_over()?;
                        }
                    }
                }
                Err(_) => {
                    p.gone = true;
                    return ControlFlow::Continue(());
                }
            }
        }
    }

    /// Hand the batches read to the analysing side: the full ones, then the one being filled
    /// (if it holds any frame).
    fn hand_over(&mut self) -> ControlFlow<()> {
        let mut full = std::mem::take(&mut self.full);
        for batch in full.drain(..) {
            self.send(batch)?;
        }
        // Its buffer serves the next wakeup.
        self.full = full;
        if self.batch.is_empty() {
            return ControlFlow::Continue(());
        }
        let batch = std::mem::replace(&mut self.batch, self.spares.take());
        self.send(batch)
    }

    /// Hand a batch to the analysing side, waiting while the queue is full (meanwhile the
    /// kernel rings hold new frames, and count those they cannot). Breaks when the analysing
    /// side is gone. Once stopping, a queue that stays full for a second (nobody drains it)
    /// sheds the batch and counts it as dropped, so a stop never hangs.
    fn send(&mut self, mut batch: Batch) -> ControlFlow<()> {
        let mut waited_ms = 0u32;
        loop {
            match self.tx.try_send(batch) {
                Ok(()) => return ControlFlow::Continue(()),
                Err(TrySendError::Disconnected(_)) => return ControlFlow::Break(()),
                Err(TrySendError::Full(b)) => {
                    if self.stop.requested() && waited_ms >= 1000 {
                        for f in b.frames() {
                            if let Some(n) = self.shed.get_mut(f.point) {
                                *n += 1;
                            }
                        }
                        return ControlFlow::Continue(());
                    }
                    batch = b;
                    waited_ms += 1;
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
    }

    /// Every capture's statistics, by point; the captures are closed.
    fn stats(&self, mut points: Vec<Point>) -> Vec<CaptureStats> {
        let mut all = vec![CaptureStats::default(); self.shed.len()];
        for p in &mut points {
            if let Some(s) = all.get_mut(p.point) {
                *s = stats(&mut p.cap);
                s.gone = p.gone;
            }
        }
        for (s, &shed) in all.iter_mut().zip(&self.shed) {
            s.dropped += shed;
        }
        close_all(points);
        all
    }
}

/// Close the captures side by side: closing a packet socket with a ring waits for an RCU grace
/// period (about 20 ms here), one after the other they would add up. Returns once all are
/// closed (their namespaces may then go).
fn close_all(points: Vec<Point>) {
    std::thread::scope(|s| {
        for p in points {
            let closing = std::thread::Builder::new()
                .name("vtrace-close".into())
                .spawn_scoped(s, move || drop(p));
            // Without a thread, `p` was dropped (closed) with the failed spawn.
            drop(closing);
        }
    });
}

/// The replay thread: frames of the file in batches, until its end or a stop.
fn replay(
    reader: &mut CaptureReader,
    points: usize,
    tx: &SyncSender<Batch>,
    spares: &Spares,
    stop: &Stop,
) -> CaptureStats {
    let mut st = CaptureStats::default();
    // Each point's frames apart, then handed over point after point in one batch, as the
    // captures hand them over (what each ring had, ring by ring).
    let mut rings: Vec<Batch> = (0..points).map(|_| Batch::default()).collect();
    let mut held = 0;
    let hand_over = |rings: &mut [Batch]| {
        let mut batch = spares.take();
        for ring in rings.iter_mut() {
            batch.append(ring);
            ring.clear();
        }
        tx.send(batch).is_ok()
    };
    while let Ok(Some(f)) = reader.next_frame() {
        let Some(ring) = rings.get_mut(f.ifid as usize) else { continue };
        ring.push(f.ifid as usize, f.t_ns, f.len, f.linktype, f.data);
        st.received += 1;
        held += 1;
        if held >= BATCH {
            held = 0;
            if stop.requested() || !hand_over(&mut rings) {
                return st;
            }
        }
    }
    if held > 0 {
        hand_over(&mut rings);
    }
    st
}

fn stats(cap: &mut pcap::Capture<pcap::Active>) -> CaptureStats {
    cap.stats()
        .map(|s| CaptureStats {
            received: u64::from(s.received),
            dropped: u64::from(s.dropped) + u64::from(s.if_dropped),
            gone: false,
        })
        .unwrap_or_default()
}

/// A nanosecond-precision pcap timestamp (`tv_usec` holds nanoseconds) as ns since the epoch.
pub fn timestamp_ns(sec: i64, nsec: i64) -> u64 {
    let sec = u64::try_from(sec).unwrap_or(0);
    let nsec = u64::try_from(nsec).unwrap_or(0);
    sec.saturating_mul(1_000_000_000).saturating_add(nsec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_nanoseconds_since_the_epoch() {
        assert_eq!(timestamp_ns(1_764_255_640, 137_389_000), 1_764_255_640_137_389_000);
        assert_eq!(timestamp_ns(-1, 5), 5);
        assert_eq!(timestamp_ns(i64::MAX, 0), u64::MAX);
    }

    #[test]
    fn a_missing_namespace_is_named() {
        let spec = CaptureSpec {
            point: 0,
            id: "nowhere/eth0".into(),
            netns: Netns::Path("/nonexistent/vtrace-test-ns".into()),
            ifname: "eth0".into(),
            promisc: false,
            filter: String::new(),
        };
        let opts = CaptureOptions { buffer_bytes: 1 << 20, snaplen: SNAPLEN };
        let err = Captures::start(&[spec], opts).map(|_| ()).err().map(|e| e.to_string());
        let err = err.unwrap_or_default();
        assert!(err.starts_with("opening the network namespace of nowhere/eth0"), "{err}");
    }
}
