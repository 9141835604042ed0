//! Kernel drop reasons: a private tracefs instance (`/sys/kernel/tracing/instances/vtrace_<pid>`)
//! with the `skb:kfree_skb` event filtered by protocol (and without the echo replies nobody asked
//! for, see [`filter`]), read on a thread: in the kernel's binary form from each CPU's
//! `trace_pipe_raw` ([`raw`]: the records of ring-buffer pages, [`ring`]; a location kept as its
//! address until a drop is shown, then named from `/proc/kallsyms`, [`symbols`]), or as text
//! from its `trace_pipe` where the record layout is not understood.
//!
//! Reason names come from the event's `format` file (their numbers differ between kernels);
//! timestamps use the instance's `boot` trace clock, mapped to the Unix epoch. tracefs is global
//! to the machine: the events are every namespace's, so attributing them to a packet (by time and
//! protocol) is `core::netfilter`'s job, not this module's. Dropping the monitor removes the
//! instance; `vtrace cleanup` removes those of killed runs.

use std::collections::HashMap;
use std::io::Read;
use std::ops::ControlFlow;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

use nix::sys::eventfd::{EfdFlags, EventFd};
use thiserror::Error;

use crate::core::netfilter::DropEvent;
use crate::sys::netns::{Target, Worker, WorkerError, spawn_in};
use crate::sys::poll::{poll_until, wait_any_readable};
use crate::sys::stop::Stop;

mod raw;
mod ring;
mod symbols;

pub use raw::{Decoder, Layout};
pub use ring::records;

/// Where tracefs is (or gets) mounted.
pub const TRACEFS: &str = "/sys/kernel/tracing";
/// Prefix of vtrace's instances.
pub const INSTANCE_PREFIX: &str = "vtrace_";
const EVENT: &str = "events/skb/kfree_skb";
/// Drops waiting to be drained, at most (memory stays bounded under a flood of drops).
const QUEUE: usize = 4096;
/// How long the reader waits in poll(2) for events (or its stop) before it looks again.
const IDLE_MS: i32 = 100;

static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// Why the monitor could not start.
#[derive(Debug, Error)]
pub enum DropmonError {
    #[error(
        "tracefs is not available at {TRACEFS} and mounting it failed ({0}): run as root, or pass \
         --no-drop-reasons"
    )]
    NoTracefs(nix::Error),
    #[error("the kernel has no skb:kfree_skb trace event ({0}); pass --no-drop-reasons")]
    NoEvent(std::io::Error),
    #[error("{what} {}: {source}", path.display())]
    Io { what: &'static str, path: PathBuf, source: std::io::Error },
    #[error("the kernel's time could not be read: {0}")]
    Clock(std::io::Error),
    #[error("starting the reader of the trace pipe: {0}")]
    Thread(WorkerError),
}

/// `vtrace_<pid>_<n>`: the pid tells `vtrace cleanup` whether its run is gone; `n` keeps two
/// monitors of one process apart.
pub fn instance_name(pid: u32, n: u32) -> String {
    format!("{INSTANCE_PREFIX}{pid}_{n}")
}

/// The pid in a vtrace instance name (`vtrace_<pid>` or `vtrace_<pid>_<n>`).
pub fn instance_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(INSTANCE_PREFIX)?;
    match rest.split_once('_') {
        Some((pid, n)) => n.parse::<u32>().ok().and_then(|_| pid.parse().ok()),
        None => rest.parse().ok(),
    }
}

/// Mount tracefs at [`TRACEFS`] unless it is there already; returns the instances directory.
pub fn ensure_tracefs() -> Result<PathBuf, DropmonError> {
    let instances = Path::new(TRACEFS).join("instances");
    if !instances.is_dir() {
        nix::mount::mount(
            Some("tracefs"),
            TRACEFS,
            Some("tracefs"),
            nix::mount::MsFlags::empty(),
            None::<&str>,
        )
        .map_err(DropmonError::NoTracefs)?;
    }
    Ok(instances)
}

/// Names of the reasons in a `kfree_skb` `format` file, by number (from its
/// `__print_symbolic(REC->reason, { 2, "NOT_SPECIFIED" }, …)`).
pub fn parse_reasons(format: &str) -> HashMap<u32, String> {
    let Some(start) = format.find("__print_symbolic(REC->reason") else { return HashMap::new() };
    let rest = format.get(start..).unwrap_or_default();
    rest.split('{')
        .skip(1)
        .filter_map(|item| {
            let item = item.split('}').next()?;
            let (num, name) = item.split_once(',')?;
            let num = num.trim().parse().ok()?;
            Some((num, name.trim().trim_matches('"').to_owned()))
        })
        .collect()
}

/// Parse one `trace_pipe` line of `kfree_skb`; `offset_ns` maps the trace clock to the epoch.
pub fn parse_line(
    line: &str,
    reasons: &HashMap<u32, String>,
    offset_ns: i128,
) -> Option<DropEvent> {
    let (head, body) = line.split_once(": kfree_skb: ")?;
    let ts = head.rsplit(' ').next()?.trim_end_matches(':');
    let (secs, frac) = ts.split_once('.')?;
    let frac_ns: i128 = format!("{frac:0<9}").get(..9)?.parse().ok()?;
    // Checked: a line is whatever tracefs (or a fuzzer) hands over, and 30 digits of seconds
    // must be a skipped line, not an overflow.
    let t = secs
        .parse::<i128>()
        .ok()?
        .checked_mul(1_000_000_000)?
        .checked_add(frac_ns)?
        .checked_add(offset_ns)?;
    let field =
        |key: &str| body.split_whitespace().find_map(|w| w.strip_prefix(key)).map(str::to_owned);
    let protocol = field("protocol=")?.parse().ok()?;
    let location = field("location=").unwrap_or_default();
    let reason = body.split_once("reason: ").map(|(_, r)| r.trim()).unwrap_or_default();
    let reason = match reason.parse::<u32>() {
        Ok(n) => reasons.get(&n).cloned().unwrap_or_else(|| n.to_string()),
        Err(_) => reason.to_owned(),
    };
    Some(DropEvent { t_ns: u64::try_from(t).ok()?, protocol, location, reason })
}

/// A running `kfree_skb` monitor; dropping it removes its tracefs instance.
#[derive(Debug)]
pub struct DropMonitor {
    dir: PathBuf,
    stop: Stop,
    /// Wakes the reader from its wait at a stop (the instance is removed only once its reader
    /// closed the pipe).
    wake: Option<Arc<EventFd>>,
    thread: Option<Worker<()>>,
    events: Receiver<DropEvent>,
    reasons: HashMap<u32, String>,
    /// The kernel leaves out the drops of echo replies no ICMP socket asked for (see
    /// [`filter`]).
    skips_unclaimed_replies: bool,
}

impl DropMonitor {
    /// Create the instance `vtrace_<pid>_<n>`, enable `kfree_skb` for these ethertypes, and
    /// start reading.
    pub fn start(protocols: &[u16]) -> Result<Self, DropmonError> {
        Self::start_at(&next_dir(), protocols)
    }

    /// The same, in the instance `dir`.
    fn start_at(dir: &Path, protocols: &[u16]) -> Result<Self, DropmonError> {
        ensure_tracefs()?;
        let dir = dir.to_path_buf();
        std::fs::create_dir(&dir).map_err(io("creating the tracefs instance", &dir))?;
        let mut mon = DropMonitor {
            dir: dir.clone(),
            stop: Stop::new(),
            wake: None,
            thread: None,
            events: mpsc::sync_channel(0).1,
            reasons: HashMap::new(),
            skips_unclaimed_replies: false,
        };
        let format_path = dir.join(EVENT).join("format");
        let format = std::fs::read_to_string(&format_path).map_err(DropmonError::NoEvent)?;
        mon.reasons = parse_reasons(&format);
        write(&dir.join("trace_clock"), "boot")?;
        let filter_path = dir.join(EVENT).join("filter");
        mon.skips_unclaimed_replies = std::fs::write(&filter_path, filter(protocols, true)).is_ok();
        if !mon.skips_unclaimed_replies {
            // A kernel that cannot filter on a function: the protocols alone (the attribution
            // leaves those drops out, see `DropEvent::is_unclaimed_echo_reply`).
            write(&filter_path, &filter(protocols, false))?;
        }
        let offset_ns = clock_offset()?;
        // The events in the kernel's binary form when this kernel's layout is understood (each
        // CPU's buffer read as soon as it holds one: `buffer_percent` 0), else as text.
        let raw = raw::Layout::parse(&format).and_then(|layout| {
            let _ = std::fs::write(dir.join("buffer_percent"), "0");
            raw::open_cpus(&dir).ok().map(|cpus| (layout, cpus))
        });
        let pipe_path = dir.join("trace_pipe");
        let source = match raw {
            Some((layout, cpus)) => Source::Raw(layout, cpus),
            None => Source::Text(
                std::fs::OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_NONBLOCK)
                    .open(&pipe_path)
                    .map_err(io("opening", &pipe_path))?,
            ),
        };
        let wake = EventFd::from_value_and_flags(0, EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK)
            .map(Arc::new)
            .map_err(|e| io("making the stop event of", &pipe_path)(e.into()))?;
        mon.wake = Some(Arc::clone(&wake));
        write(&dir.join(EVENT).join("enable"), "1")?;
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        mon.events = rx;
        let stop = mon.stop.clone();
        let reasons = mon.reasons.clone();
        let skips = mon.skips_unclaimed_replies;
        crate::core::netfilter::set_location_namer(symbols::name_addresses);
        let thread = spawn_in(Target::Here, "vtrace-dropmon", move || match source {
            Source::Raw(layout, cpus) => {
                let decoder = raw::Decoder::new(layout, reasons, offset_ns, skips);
                raw::read_cpus(&cpus, &wake, &stop, decoder, &tx);
            }
            Source::Text(pipe) => read_pipe(pipe, &wake, &stop, &reasons, offset_ns, &tx),
        })
        .map_err(|e| match e {
            WorkerError::Spawn { source, .. } => io("spawning the reader of", &pipe_path)(source),
            other => DropmonError::Thread(other),
        })?;
        mon.thread = Some(thread);
        Ok(mon)
    }

    /// The reason names this kernel knows, by number.
    pub fn reasons(&self) -> &HashMap<u32, String> {
        &self.reasons
    }

    /// True when the kernel itself leaves out the drops of echo replies no ICMP socket asked
    /// for ([`filter`]); else they are read, and the attribution leaves them out.
    pub fn skips_unclaimed_replies(&self) -> bool {
        self.skips_unclaimed_replies
    }

    /// The instance's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Events read so far.
    pub fn drain(&self) -> Vec<DropEvent> {
        self.events.try_iter().collect()
    }

    /// Stop, remove the instance, and return the events not yet drained.
    pub fn stop(mut self) -> Vec<DropEvent> {
        self.halt();
        self.drain()
    }

    /// Stop reading (what the kernel wrote so far is read) and return the events not yet
    /// drained; the instance stays until the monitor is stopped or dropped.
    pub fn stop_reading(&mut self) -> Vec<DropEvent> {
        self.stop_reader();
        self.drain()
    }

    fn stop_reader(&mut self) {
        self.stop.request();
        if let Some(w) = &self.wake {
            let _ = w.write(1);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    fn halt(&mut self) {
        self.stop_reader();
        let _ = remove_instance(&self.dir);
    }
}

impl Drop for DropMonitor {
    fn drop(&mut self) {
        self.halt();
    }
}

/// The directory of this process's next instance.
fn next_dir() -> PathBuf {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    Path::new(TRACEFS).join("instances").join(instance_name(std::process::id(), n))
}

/// A monitor being started on a thread of its own, begun before the trace knows its path: making
/// the instance and changing its clock each wait for the kernel (an RCU grace period, 25-75 ms
/// here), which then overlaps discovery and the captures' opening instead of holding back the
/// first probe. Dropped unused, it waits for the start and removes the instance.
#[derive(Debug)]
pub struct Starting {
    dir: PathBuf,
    protocols: &'static [u16],
    thread: Option<std::thread::JoinHandle<Result<DropMonitor, DropmonError>>>,
}

impl Starting {
    /// Begin starting a monitor of these ethertypes.
    pub fn begin(protocols: &'static [u16]) -> Starting {
        let dir = next_dir();
        let at = dir.clone();
        let thread = std::thread::Builder::new()
            .name("vtrace-dropmon-start".into())
            .spawn(move || DropMonitor::start_at(&at, protocols))
            // No thread: the monitor starts when it is waited for.
            .ok();
        Starting { dir, protocols, thread }
    }

    /// The instance the monitor is made in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The started monitor, or why it could not start.
    pub fn wait(mut self) -> Result<DropMonitor, DropmonError> {
        match self.thread.take().map(std::thread::JoinHandle::join) {
            Some(Ok(started)) => started,
            Some(Err(_)) => Err(DropmonError::Thread(WorkerError::Panicked {
                name: "vtrace-dropmon-start".into(),
            })),
            None => DropMonitor::start_at(&self.dir, self.protocols),
        }
    }
}

impl Drop for Starting {
    fn drop(&mut self) {
        if let Some(handle) = self.thread.take() {
            // The monitor, once started, is dropped here: its instance is removed.
            let _ = handle.join();
        }
    }
}

/// Disable the event and remove an instance directory (its trace_pipe must be closed).
pub fn remove_instance(dir: &Path) -> std::io::Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    let _ = std::fs::write(dir.join(EVENT).join("enable"), "0");
    // The kernel answers EBUSY while the instance is still referenced (a reader only just
    // closed trace_pipe): retry briefly rather than leave the instance behind.
    let mut tries = 0;
    loop {
        match std::fs::remove_dir(dir) {
            // Removed meanwhile (its run finished its own teardown).
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && tries < 20 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

/// Read the trace pipe until stopped (it is non-blocking: with nothing to read, the reader
/// waits in poll(2) for events, or for `wake` at a stop).
fn read_pipe(
    pipe: std::fs::File,
    wake: &EventFd,
    stop: &Stop,
    reasons: &HashMap<u32, String>,
    offset_ns: i128,
    tx: &mpsc::SyncSender<DropEvent>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    // Bytes at the front of `buf`: the start of a line the last read did not complete.
    let mut kept = 0;
    // One read and the events it completes, parsed where they were read (under a flood of
    // drops, each line taken off the front of a string moved all the bytes behind it).
    let read_once = || match (&pipe).read(buf.get_mut(kept..).unwrap_or_default()) {
        Ok(n) if n > 0 => {
            let end = kept + n;
            let mut start = 0;
            let read = buf.get(..end).unwrap_or_default();
            while let Some(nl) = read.get(start..).and_then(|r| r.iter().position(|&b| b == b'\n'))
            {
                let line = read.get(start..start + nl).unwrap_or_default();
                start += nl + 1;
                // tracefs writes ASCII; a line that is not UTF-8 is no event.
                let Ok(line) = std::str::from_utf8(line) else { continue };
                if let Some(ev) = parse_line(line, reasons, offset_ns)
                    && !offer(tx, ev)
                {
                    return PipeRead::Unwanted;
                }
            }
            // The incomplete line to the front; one that fills the buffer is no event.
            kept = if start == 0 && end == buf.len() { 0 } else { end - start };
            buf.copy_within(end - kept..end, 0);
            PipeRead::Some
        }
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => PipeRead::Empty,
        _ => PipeRead::Failed,
    };
    read_until_stopped(&[pipe.as_fd()], wake, stop, None, read_once);
}

/// Queue an event for the trace; false once nobody takes them. When a flood of drops outran
/// the trace, the newest are not kept.
fn offer(tx: &mpsc::SyncSender<DropEvent>, ev: DropEvent) -> bool {
    !matches!(tx.try_send(ev), Err(mpsc::TrySendError::Disconnected(_)))
}

/// Call `read` until stopped, waiting on `fds` (or the stop's `wake`) while it finds nothing,
/// and, with a `pace`, that long after each read that found events (they gather meanwhile);
/// then read what the kernel wrote before the stop, to the end (a stop does not cost the last
/// drops).
fn read_until_stopped(
    fds: &[BorrowedFd<'_>],
    wake: &EventFd,
    stop: &Stop,
    pace: Option<Duration>,
    mut read: impl FnMut() -> PipeRead,
) {
    let mut waited: Vec<BorrowedFd<'_>> = fds.to_vec();
    waited.push(wake.as_fd());
    let (mut pfds, mut ready) = (Vec::new(), Vec::new());
    let unwanted = poll_until(stop, || {
        match read() {
            PipeRead::Some => {
                if let Some(pace) = pace {
                    std::thread::sleep(pace);
                }
            }
            // Nothing yet: wait for events, or the stop.
            PipeRead::Empty => wait_any_readable(&waited, IDLE_MS, &mut pfds, &mut ready),
            PipeRead::Unwanted => return ControlFlow::Break(()),
            // A pipe that fails would stay readable: no busy loop on it.
            PipeRead::Failed => std::thread::sleep(Duration::from_millis(10)),
        }
        ControlFlow::Continue(())
    });
    if unwanted.is_none() {
        while let PipeRead::Some = read() {}
    }
}

/// Where the reader takes the events from.
enum Source {
    /// Each CPU's `trace_pipe_raw`, records of this layout.
    Raw(raw::Layout, Vec<std::fs::File>),
    /// The instance's `trace_pipe`, as text.
    Text(std::fs::File),
}

/// What one read of the trace pipe gave.
enum PipeRead {
    /// Bytes (and the events they completed).
    Some,
    /// Nothing to read now.
    Empty,
    /// The pipe failed.
    Failed,
    /// Nobody takes events any more.
    Unwanted,
}

/// Epoch minus boot time, in ns.
fn clock_offset() -> Result<i128, DropmonError> {
    let ns = |c: libc::clockid_t| -> Result<i128, DropmonError> {
        let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: `t` is a valid timespec for the call to fill.
        if unsafe { libc::clock_gettime(c, &mut t) } != 0 {
            return Err(DropmonError::Clock(std::io::Error::last_os_error()));
        }
        Ok(i128::from(t.tv_sec) * 1_000_000_000 + i128::from(t.tv_nsec))
    };
    let boot = ns(libc::CLOCK_BOOTTIME)?;
    let real = ns(libc::CLOCK_REALTIME)?;
    Ok(real - boot)
}

/// The event filter: these ethertypes (all when none), and with `skip_unclaimed_replies`, no
/// drop in `ping_rcv`. That function frees every ICMP echo reply that no ICMP datagram socket
/// asked for, as NO_SOCKET, after raw sockets got their copy: every reply to `ping` run as root
/// and to vtrace's own probe (both raw). Such a reply has reached its host, past the last
/// capture point: never the fate of a packet lost on the way, but an event per reply for the
/// kernel to format and the reader to parse (under `ping -f`, tens of thousands a second), and
/// the nearest "drop" to any packet lost meanwhile. Kernels that filter on a function by name
/// (`location.function`) leave them out; others refuse the filter.
fn filter(protocols: &[u16], skip_unclaimed_replies: bool) -> String {
    let any = protocols.iter().map(|p| format!("protocol == {p}")).collect::<Vec<_>>();
    let mut parts = Vec::new();
    match any.len() {
        0 => {}
        1 => parts.extend(any),
        _ => parts.push(format!("({})", any.join(" || "))),
    }
    if skip_unclaimed_replies {
        parts.push("location.function != ping_rcv".to_owned());
    }
    parts.join(" && ")
}

fn write(path: &Path, value: &str) -> Result<(), DropmonError> {
    std::fs::write(path, value).map_err(io("writing", path))
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> DropmonError {
    let path = path.to_path_buf();
    move |source| DropmonError::Io { what, path, source }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_names_come_from_the_format_file() {
        let format = "print fmt: \"skbaddr=%p protocol=%u location=%pS reason: %s\", REC->skbaddr, \
                      REC->protocol, REC->location, __print_symbolic(REC->reason, { 2, \
                      \"NOT_SPECIFIED\" }, { 12, \"NETFILTER_DROP\" }, { 128, \"MAX\" })";
        let r = parse_reasons(format);
        assert_eq!(r.len(), 3);
        assert_eq!(r.get(&12).map(String::as_str), Some("NETFILTER_DROP"));
        assert!(parse_reasons("no symbols").is_empty());
    }

    #[test]
    fn lines_split_across_reads_become_events_in_order() -> Result<(), Box<dyn std::error::Error>> {
        use std::io::Write;
        let line = |t: u32, reason: u32| {
            format!(
                "          ping-1 [000] ..s1.  5432.{t:06}: kfree_skb: skbaddr=0000000000000000 \
                 protocol=2048 location=ip_rcv_core+0x22c/0x350 reason: {reason}\n"
            )
        };
        let reasons: HashMap<u32, String> =
            [(13, "OTHERHOST".to_owned()), (16, "IP_RPFILTER".to_owned())].into();
        // Enough lines to fill the reader's buffer several times, written in pieces that cut
        // lines anywhere (and one line that is not UTF-8, skipped).
        let mut text = Vec::new();
        for i in 0..2_000 {
            text.extend_from_slice(line(i, if i % 2 == 0 { 13 } else { 16 }).as_bytes());
            if i == 1_000 {
                text.extend_from_slice(b"\xff\xfe not a line\n");
            }
        }
        let (rx_end, tx_end) = nix::unistd::pipe()?;
        let pipe = std::fs::File::from(rx_end);
        let wake = Arc::new(EventFd::from_value_and_flags(0, EfdFlags::EFD_NONBLOCK)?);
        let stop = Stop::new();
        let (tx, rx) = mpsc::sync_channel(4_096);
        let reader = {
            let (wake, stop) = (Arc::clone(&wake), stop.clone());
            std::thread::spawn(move || read_pipe(pipe, &wake, &stop, &reasons, 0, &tx))
        };
        let mut w = std::fs::File::from(tx_end);
        for piece in text.chunks(977) {
            w.write_all(piece)?;
        }
        drop(w);
        std::thread::sleep(Duration::from_millis(50));
        stop.request();
        wake.write(1)?;
        reader.join().map_err(|_| "the reader panicked")?;
        let events: Vec<DropEvent> = rx.try_iter().collect();
        assert_eq!(events.len(), 2_000);
        for (i, e) in events.iter().enumerate() {
            assert_eq!(e.t_ns, 5_432_000_000_000 + i as u64 * 1_000, "event {i}");
            let want = if i % 2 == 0 { "OTHERHOST" } else { "IP_RPFILTER" };
            assert_eq!((e.reason.as_str(), e.location.as_str()), (want, "ip_rcv_core+0x22c/0x350"));
        }
        Ok(())
    }

    #[test]
    fn the_filter_takes_the_protocols_and_leaves_out_unclaimed_echo_replies() {
        assert_eq!(filter(&[0x0800], false), "protocol == 2048");
        assert_eq!(
            filter(&[0x0800, 0x0806], true),
            "(protocol == 2048 || protocol == 2054) && location.function != ping_rcv"
        );
        assert_eq!(filter(&[0x86dd], true), "protocol == 34525 && location.function != ping_rcv");
        assert_eq!(filter(&[], true), "location.function != ping_rcv");
        assert_eq!(filter(&[], false), "");
    }

    #[test]
    fn a_trace_pipe_line_becomes_an_event_on_the_epoch() {
        let reasons = HashMap::from([(12, "NETFILTER_DROP".to_owned())]);
        let line = "            ping-4242    [001] ..s2.  5432.123456: kfree_skb: \
                    skbaddr=00000000c0ffee00 rx_sk=0000000000000000 protocol=2048 \
                    location=nft_do_chain+0x3e8/0x5a0 [nf_tables] reason: NETFILTER_DROP\n";
        let ev = parse_line(line, &reasons, 1_000).expect("parses");
        assert_eq!(ev.t_ns, 5_432_123_456_000 + 1_000);
        assert_eq!(ev.protocol, 2048);
        assert_eq!(ev.location, "nft_do_chain+0x3e8/0x5a0");
        assert_eq!(ev.reason, "NETFILTER_DROP");
        let numeric = line.replace("reason: NETFILTER_DROP", "reason: 12");
        assert_eq!(
            parse_line(&numeric, &reasons, 0).map(|e| e.reason),
            Some("NETFILTER_DROP".into())
        );
        assert_eq!(parse_line("garbage", &reasons, 0), None);
        assert_eq!(parse_line("x 1.5: kfree_skb: protocol=abc", &reasons, 0), None);
        // Found by fuzzing: seconds that overflow on the way to nanoseconds.
        let huge = "777777777777777777777777777771.: kfree_skb: protocol=2048";
        assert_eq!(parse_line(huge, &reasons, 0), None);
        assert_eq!(parse_line("1.5: kfree_skb: protocol=2048", &reasons, i128::MAX), None);
    }

    #[test]
    fn instance_names_carry_the_pid() {
        assert_eq!(instance_name(77, 1), "vtrace_77_1");
        assert_eq!(instance_pid("vtrace_77"), Some(77));
        assert_eq!(instance_pid("vtrace_77_1"), Some(77));
        assert_eq!(instance_pid("vtrace_77_x"), None);
        assert_eq!(instance_pid("other"), None);
    }
}
