//! Live libpcap captures, one per capture point, each opened on a dedicated std thread that has
//! entered the point's network namespace.
//!
//! Every capture runs in immediate mode with nanosecond timestamps (DESIGN.md: otherwise packets
//! arrive up to a second late), promiscuous where asked (bridges), with a BPF filter and a
//! kernel buffer of the size asked (`--buffer-size`). Each thread pushes what it captures into one bounded channel (when the
//! analysing side falls behind, the kernel ring absorbs the burst and counts what it cannot, so
//! memory stays flat and losses show as capture drops); [`Captures::stop`] ends every thread (an
//! open capture keeps its namespace alive) and returns the per-point kernel statistics. This
//! module captures bytes; it never decodes or interprets them.

use std::ops::ControlFlow;
use std::os::fd::BorrowedFd;
use std::path::Path;
use std::sync::mpsc::{Receiver, Sender, SyncSender, TrySendError, channel, sync_channel};
use std::time::Duration;

use thiserror::Error;

use crate::core::frame::LinkType;
use crate::sys::netns::{Netns, Target, Worker, WorkerError, spawn_in};
use crate::sys::pcapfile::CaptureReader;
use crate::sys::poll::{poll_until, wait_readable};
use crate::sys::stop::Stop;

/// Largest frame kept by default: a full 1500-byte-MTU Ethernet frame with VLAN tags. In
/// immediate mode libpcap uses TPACKET_V2, whose ring has one fixed slot of about the snapshot
/// length per frame (rounded up to a power of two): 65 535 bytes made a 4 MiB buffer hold 64
/// frames in 8 MiB of memory; this holds 2 048 in 4 MiB. Longer frames (jumbo, veth GSO) are
/// cut, their headers kept.
pub const SNAPLEN: u32 = 1_920;

/// How each capture is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaptureOptions {
    /// Kernel buffer of each capture, in bytes.
    pub buffer_bytes: u32,
    /// Largest frame kept, in bytes.
    pub snaplen: u32,
}
/// Most frames a capture thread hands over at once.
const BATCH: usize = 512;
/// Batches waiting for the analysing side, over all points, before capture threads wait (at
/// most 64 Ki frames: a few MiB; the kernel buffer absorbs longer bursts).
const QUEUED_BATCHES: usize = 128;
/// How often an idle capture thread looks at the stop flag (ms).
const POLL_MS: i32 = 20;

/// Where to capture.
#[derive(Debug, Clone)]
pub struct CaptureSpec {
    /// Index of the point (the order points were given); echoed in every [`Captured`].
    pub point: usize,
    /// The point id, for error messages (`nginx-2/eth0`).
    pub id: String,
    pub netns: Netns,
    pub ifname: String,
    pub promisc: bool,
    /// A BPF filter expression (tcpdump syntax); empty for everything.
    pub filter: String,
}

/// One captured frame.
#[derive(Debug, Clone)]
pub struct Captured {
    pub point: usize,
    /// Nanoseconds since the Unix epoch.
    pub t_ns: u64,
    /// Length on the wire.
    pub len: u32,
    pub data: Vec<u8>,
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
    threads: Vec<(String, Worker<CaptureStats>)>,
    linktypes: Vec<LinkType>,
    down: Vec<String>,
}

impl Captures {
    /// Start one capture per spec and return once every one of them is active (so nothing sent
    /// afterwards can be missed), with the channel their frames arrive on (in batches). A point whose
    /// interface is down captures nothing ([`Captures::down`]); any other failure stops the
    /// captures already started and is returned.
    pub fn start(
        specs: &[CaptureSpec],
        opts: CaptureOptions,
    ) -> Result<(Captures, Receiver<Vec<Captured>>), CaptureError> {
        let (tx, rx) = sync_channel(QUEUED_BATCHES);
        let mut caps = Captures {
            stop: Stop::new(),
            threads: Vec::new(),
            linktypes: Vec::new(),
            down: Vec::new(),
        };
        let mut pending = Vec::new();
        for spec in specs {
            let (ready_tx, ready_rx) = channel();
            match spawn(spec.clone(), opts, tx.clone(), ready_tx, caps.stop.clone()) {
                Ok(worker) => caps.threads.push((spec.id.clone(), worker)),
                Err(e) => {
                    caps.stop();
                    return Err(e);
                }
            }
            pending.push((spec.id.clone(), ready_rx));
        }
        for (id, ready) in pending {
            match ready.recv() {
                Ok(Ok(linktype)) => caps.linktypes.push(linktype),
                Ok(Err(e @ CaptureError::Down { .. })) => {
                    caps.linktypes.push(LinkType::ETHERNET);
                    caps.down.push(e.to_string());
                }
                Ok(Err(e)) => {
                    caps.stop();
                    return Err(e);
                }
                Err(_) => {
                    caps.stop();
                    return Err(CaptureError::Vanished { id });
                }
            }
        }
        Ok((caps, rx))
    }

    /// Read a capture file in place of capturing (interface N of the file is point N of
    /// `points`; frames of other interfaces are skipped), as fast as the analysing side takes
    /// the frames, through the same bounded channel. The channel closes at the end of the file
    /// (or after a read error, which ends the replay like the end of the file).
    pub fn replay(
        path: &Path,
        points: usize,
    ) -> Result<(Captures, Receiver<Vec<Captured>>), CaptureError> {
        let id = path.display().to_string();
        let mut reader = CaptureReader::open(path)
            .map_err(|e| CaptureError::Open { id: id.clone(), detail: e.to_string() })?;
        let (tx, rx) = sync_channel(QUEUED_BATCHES);
        let stop = Stop::new();
        let flag = stop.clone();
        let handle = spawn_in(Target::Here, "vtrace-replay", move || {
            replay(&mut reader, points, &tx, &flag)
        })
        .map_err(|e| CaptureError::of_worker(id.clone(), e))?;
        let caps = Captures {
            stop,
            threads: vec![(id, handle)],
            linktypes: vec![LinkType::ETHERNET; points],
            down: Vec::new(),
        };
        Ok((caps, rx))
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
    /// [`Captures::stop`] for the statistics.
    pub fn request_stop(&self) {
        self.stop.request();
    }

    /// Stop every capture, wait for its thread, and return its statistics by point.
    pub fn stop(self) -> Vec<CaptureStats> {
        self.stop.request();
        let points = self.linktypes.len();
        let mut stats: Vec<CaptureStats> =
            self.threads.into_iter().map(|(_, h)| h.join().unwrap_or_default()).collect();
        // A replay's one thread counts for every point.
        stats.resize(points.max(stats.len()), CaptureStats::default());
        stats
    }
}

type Ready = Sender<Result<LinkType, CaptureError>>;

fn spawn(
    spec: CaptureSpec,
    opts: CaptureOptions,
    tx: SyncSender<Vec<Captured>>,
    ready: Ready,
    stop: Stop,
) -> Result<Worker<CaptureStats>, CaptureError> {
    let id = spec.id.clone();
    let netns = spec.netns.clone();
    let name = format!("vtrace-cap-{}", spec.point);
    spawn_in(&netns, &name, move || {
        let cap = match open(&spec, opts) {
            Ok(cap) => cap,
            Err(e) => {
                let _ = ready.send(Err(e));
                return CaptureStats::default();
            }
        };
        let linktype = u16::try_from(cap.get_datalink().0).map_or(LinkType(0), LinkType);
        let _ = ready.send(Ok(linktype));
        run(cap, spec.point, &tx, &stop)
    })
    .map_err(|e| CaptureError::of_worker(id, e))
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
    let mut cap = pcap::Capture::from_device(spec.ifname.as_str())
        .map_err(open_err)?
        .immediate_mode(true)
        .precision(pcap::Precision::Nano)
        .promisc(spec.promisc)
        .snaplen(i32::try_from(opts.snaplen).unwrap_or(i32::MAX))
        .buffer_size(i32::try_from(opts.buffer_bytes).unwrap_or(i32::MAX))
        .timeout(POLL_MS)
        .open()
        .map_err(open_err)?;
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

/// Read until stopped; return the capture's statistics. The capture is non-blocking and the
/// thread waits in poll(2) with a short timeout, so a stop is noticed within [`POLL_MS`] whatever
/// libpcap's own timeout handling in immediate mode.
fn run(
    cap: pcap::Capture<pcap::Active>,
    point: usize,
    tx: &SyncSender<Vec<Captured>>,
    stop: &Stop,
) -> CaptureStats {
    let Ok(mut cap) = cap.setnonblock() else { return CaptureStats::default() };
    // SAFETY: `cap` is an active capture; the descriptor lives as long as it does.
    let fd = unsafe { pcap_get_selectable_fd(cap.as_ptr().cast()) };
    if fd < 0 {
        return stats(&mut cap);
    }
    let mut shed = 0u64;
    // Wait, then read everything buffered (the wait returns at once when something is): after a
    // stop, what arrived during the last wait is still read.
    let ended = poll_until(stop, || {
        // SAFETY: `fd` is the capture's descriptor, open as long as `cap` is.
        wait_readable(unsafe { BorrowedFd::borrow_raw(fd) }, POLL_MS);
        read_buffered(&mut cap, point, tx, stop, &mut shed)
    });
    let mut s = stats(&mut cap);
    s.dropped += shed;
    s.gone = ended == Some(End::Gone);
    s
}

/// Why a capture thread stopped reading before it was told to.
#[derive(Debug, PartialEq, Eq)]
enum End {
    /// The analysing side is gone.
    Disconnected,
    /// The capture broke: its interface vanished.
    Gone,
}

/// Hand over everything buffered. An error is "nothing buffered" or a broken capture (the
/// interface vanished): the statistics and the missing hops tell the story. Frames go out in
/// batches: one channel operation per wakeup, not per frame.
fn read_buffered(
    cap: &mut pcap::Capture<pcap::Active>,
    point: usize,
    tx: &SyncSender<Vec<Captured>>,
    stop: &Stop,
    shed: &mut u64,
) -> ControlFlow<End> {
    let mut batch = Vec::new();
    let mut gone = false;
    loop {
        match cap.next_packet() {
            Ok(p) => {
                let t_ns = timestamp_ns(p.header.ts.tv_sec, p.header.ts.tv_usec);
                batch.push(Captured { point, t_ns, len: p.header.len, data: p.data.to_vec() });
                if batch.len() >= BATCH && !hand_over(tx, std::mem::take(&mut batch), stop, shed) {
                    return ControlFlow::Break(End::Disconnected);
                }
            }
            // Nothing buffered (non-blocking read).
            Err(pcap::Error::TimeoutExpired) => break,
            // The socket failed: its interface is gone (ENETDOWN once it is unregistered).
            Err(_) => {
                gone = true;
                break;
            }
        }
    }
    if !batch.is_empty() && !hand_over(tx, batch, stop, shed) {
        return ControlFlow::Break(End::Disconnected);
    }
    if gone { ControlFlow::Break(End::Gone) } else { ControlFlow::Continue(()) }
}

/// Hand a batch to the analysing side, waiting while the queue is full (meanwhile the kernel ring
/// holds new frames, and counts those it cannot). Returns false when the analysing side is gone.
/// Once stopping, a queue that stays full for a second (nobody drains it) sheds the batch and
/// counts it as dropped, so a stop never hangs.
fn hand_over(
    tx: &SyncSender<Vec<Captured>>,
    mut batch: Vec<Captured>,
    stop: &Stop,
    shed: &mut u64,
) -> bool {
    let mut waited_ms = 0u32;
    loop {
        match tx.try_send(batch) {
            Ok(()) => return true,
            Err(TrySendError::Disconnected(_)) => return false,
            Err(TrySendError::Full(b)) => {
                if stop.requested() && waited_ms >= 1000 {
                    *shed += b.len() as u64;
                    return true;
                }
                batch = b;
                waited_ms += 1;
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
}

/// The replay thread: frames of the file in batches, until its end or a stop.
fn replay(
    reader: &mut CaptureReader,
    points: usize,
    tx: &SyncSender<Vec<Captured>>,
    stop: &Stop,
) -> CaptureStats {
    let mut st = CaptureStats::default();
    let mut batch = Vec::with_capacity(BATCH);
    while let Ok(Some(f)) = reader.next_frame() {
        let point = f.ifid as usize;
        if point >= points {
            continue;
        }
        batch.push(Captured { point, t_ns: f.t_ns, len: f.len, data: f.data.to_vec() });
        st.received += 1;
        if batch.len() >= BATCH {
            if stop.requested() || tx.send(std::mem::take(&mut batch)).is_err() {
                return st;
            }
            batch.reserve(BATCH);
        }
    }
    if !batch.is_empty() {
        let _ = tx.send(batch);
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
