//! The reading side of `vtrace analyze`, on a thread of its own: read every input, decode each
//! frame, merge the inputs by timestamp, and send the observations in batches (with each new
//! capture point announced before its first observation). The analysing side runs meanwhile.
//! The thread also serves the JSON renderer, when given one: rendering first, between batches
//! and while the queue is full, then alone once every frame is read.

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use crate::sys::handoff;
use std::thread::JoinHandle;

use anyhow::{Result, anyhow};

use crate::core::decode::{decode_into, identify};
use crate::core::frame::{CookedSide, Frame, InterfaceInfo, LinkType};
use crate::core::hint::{prefetch_read, prefetch_read_all};
use crate::core::journey::Sighting;
use crate::core::line::PointIdx;
use crate::core::packet::{Packet, PacketId};
use crate::core::path::Role;
use crate::session::clocks::corrected;
use crate::session::inputs::{Input, description_field};
use crate::session::sink::Hosted;
use crate::sys::pcapfile::ReadError;

/// What the reading side says besides frames, each before the frame it precedes.
#[derive(Debug)]
pub enum Control {
    /// The next capture point (its PointIdx is the count of points announced before it), and
    /// the link type of all its frames.
    Point { id: String, role: Option<Role>, linktype: LinkType },
    /// Points may still be announced while journeys are open (a capture of several interfaces
    /// at once: its points appear with their first frames).
    PointsMayGrow,
}

/// A frame as the correlator reads it, in 32 bytes: the analysing core reads a batch of them
/// that the reading core wrote, a cache line for every two. Its bytes are kept in the batch
/// ([`Batch::decode_into`]) for the few sightings whose whole packet the correlator needs; its
/// link type is its point's ([`Control::Point`]).
#[derive(Debug, Clone, Copy)]
pub struct Obs {
    pub t_ns: u64,
    /// Its number in its file.
    pub frame: u64,
    /// [`PacketId::fp`], when [`Obs::HAS_FP`] is set.
    fp: u64,
    /// Where its bytes begin in the batch; they end where the next frame's begin.
    at: u32,
    pub point: PointIdx,
    ttl: u8,
    flags: u8,
}

impl Obs {
    const HAS_FP: u8 = 1;
    const TUNNELLED: u8 = 2;

    fn new(s: Sighting, at: u32) -> Obs {
        let id = s.id;
        let flags = if id.fp.is_some() { Obs::HAS_FP } else { 0 }
            | if id.tunnelled { Obs::TUNNELLED } else { 0 };
        let fp = id.fp.unwrap_or(0);
        Obs { t_ns: s.t_ns, frame: s.frame, fp, at, point: s.point, ttl: id.ttl, flags }
    }

    #[inline]
    pub fn sighting(&self) -> Sighting {
        let id = PacketId {
            fp: (self.flags & Obs::HAS_FP != 0).then_some(self.fp),
            ttl: self.ttl,
            tunnelled: self.flags & Obs::TUNNELLED != 0,
        };
        Sighting { point: self.point, t_ns: self.t_ns, frame: self.frame, id }
    }
}

/// What the reading side knows at the end.
#[derive(Debug)]
pub struct ReadEnd {
    /// Kernel drops reported by the capture files, by PointIdx.
    pub kernel_drops: Vec<u64>,
    /// The first read error (reading went on with the other inputs).
    pub error: Option<anyhow::Error>,
}

/// Items per batch: large enough to make the hand-over cheap, small enough to stay in cache.
const BATCH: usize = 2048;
/// How long a reader that serves a renderer waits on a full queue before it renders what came
/// meanwhile: a batch of exchanges takes the analysing thread about 130 us to settle, and it
/// sleeps only once four wait.
const SERVE_EVERY: std::time::Duration = std::time::Duration::from_micros(100);
/// Frame bytes per batch before it is handed over early (big frames).
const BATCH_BYTES: usize = 1 << 20;

/// Frames in order, what is said between them, and the frames' bytes.
#[derive(Debug, Default)]
pub struct Batch {
    pub obs: Vec<Obs>,
    /// Each before the frame at its index in `obs` (at `obs.len()`: after the last), in order.
    pub controls: Vec<(usize, Control)>,
    bytes: Vec<u8>,
}

impl Batch {
    fn with_capacity(frames: usize) -> Batch {
        Batch {
            obs: Vec::with_capacity(frames),
            controls: Vec::new(),
            bytes: Vec::with_capacity(frames * 128),
        }
    }

    /// Decode the packet of frame `i` of this batch, of link type `linktype`, into `p`.
    pub fn decode_into(&self, i: usize, linktype: LinkType, known_fp: Option<u64>, p: &mut Packet) {
        let data = self.frame_bytes(i);
        let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
        decode_into(&Frame { ifid: 0, t_ns: 0, len, linktype, data }, known_fp, p);
    }

    /// The bytes of frame `i`.
    fn frame_bytes(&self, i: usize) -> &[u8] {
        let Some(o) = self.obs.get(i) else { return &[] };
        let end = self.obs.get(i + 1).map_or(self.bytes.len(), |n| n.at as usize);
        self.bytes.get(o.at as usize..end).unwrap_or_default()
    }

    /// Ask for frame `i` and its first bytes: the reading thread wrote them on the other core,
    /// and the analysis reads the frame and, for a journey's first sighting, decodes its
    /// headers.
    #[inline(always)]
    pub fn prefetch(&self, i: usize) {
        let Some(o) = self.obs.get(i) else { return };
        prefetch_read(o);
        if let Some(b) = self.bytes.get(o.at as usize..) {
            prefetch_read_all(b.get(..64).unwrap_or(b));
        }
    }

    /// A frame's sighting, its bytes after those of the frames before it.
    #[inline]
    fn push_frame(&mut self, sighting: Sighting, data: &[u8]) {
        let at = u32::try_from(self.bytes.len()).unwrap_or(u32::MAX);
        self.bytes.extend_from_slice(data);
        self.obs.push(Obs::new(sighting, at));
    }

    fn push_control(&mut self, c: Control) {
        self.controls.push((self.obs.len(), c));
    }

    /// Empty, for reuse.
    pub fn clear(&mut self) {
        self.obs.clear();
        self.controls.clear();
        self.bytes.clear();
    }

    fn is_empty(&self) -> bool {
        self.obs.is_empty() && self.controls.is_empty()
    }

    fn full(&self) -> bool {
        self.obs.len() >= BATCH || self.controls.len() >= BATCH || self.bytes.len() >= BATCH_BYTES
    }
}

/// The point of an interface whose frames are split by the side they were seen on (`tcpdump -i
/// any`: Linux cooked headers): it is no point of its own, each side is.
const SPLIT: PointIdx = PointIdx(u16::MAX);

struct Source {
    input: Input,
    /// PointIdx of each interface id, as interfaces appear ([`SPLIT`] for a capture of several
    /// interfaces at once, whose frames go to the points of `sides`).
    points: Vec<PointIdx>,
    /// The points of the sides of such captures: (interface id, side, point).
    sides: Vec<(u32, CookedSide, PointIdx)>,
    /// The time of its last frame of such a capture: one that ties with it is taken 1 ns later.
    /// Such a capture records frames in the order the kernel handed them over, which is the
    /// order the packet crossed the interfaces (the timestamps of a veth and its bridge tie).
    last_split_t: u64,
    /// The next frame's point, time and number; its bytes are the reader's
    /// [`last_frame`](crate::sys::pcapfile::CaptureReader::last_frame), decoded only once the
    /// merge takes it. The time is on the reference clock (see `offset_ns`).
    next: Option<(PointIdx, u64, u64)>,
    /// The file's clock minus the reference's ([`crate::session::clocks`]): subtracted from
    /// its timestamps before they are merged.
    offset_ns: i64,
    error: Option<anyhow::Error>,
}

struct Reader {
    sources: Vec<Source>,
    /// Point ids announced so far (to keep them unique).
    ids: Vec<String>,
    batch: Batch,
    tx: handoff::Sender<Batch>,
    recycled: Receiver<Batch>,
    /// The analysing side hung up.
    stopped: bool,
    /// The renderer this thread serves, when it serves one.
    renderer: Option<Box<dyn Hosted>>,
}

/// The running reading side.
#[derive(Debug)]
pub struct Reading {
    /// Batches of items, in order.
    pub batches: handoff::Receiver<Batch>,
    /// Give emptied batches back here for reuse.
    pub give_back: SyncSender<Batch>,
    /// The [`ReadEnd`], once every frame is read.
    pub end: Receiver<ReadEnd>,
    /// The thread: it ends once every frame is read and, when it serves a renderer, once that
    /// renderer is dropped.
    pub thread: JoinHandle<()>,
}

/// Start reading on a thread of its own. `offsets`: each input's clock offset (ns to subtract
/// from its timestamps; missing ones are 0).
/// `renderer`: served by the reading thread, first, before each batch it hands over and while
/// it waits to hand one over, then alone once every frame is read (two busy threads for two
/// cores: the analysing thread, the critical path, keeps one to itself).
pub fn spawn(
    inputs: Vec<Input>,
    offsets: &[i64],
    renderer: Option<Box<dyn Hosted>>,
) -> Result<Reading> {
    // The reader outruns the analysing thread: once the queue is full it sleeps until one
    // batch is left, then refills it in one run (a wakeup per batch cost 4 % of the CPU).
    let (tx, rx) =
        handoff::bounded(handoff::Marks { capacity: 4, wake_consumer: 1, wake_producer: 1 });
    let (give_back, recycled) = sync_channel(8);
    let sources = inputs
        .into_iter()
        .enumerate()
        .map(|(i, input)| Source {
            input,
            offset_ns: offsets.get(i).copied().unwrap_or(0),
            points: Vec::new(),
            sides: Vec::new(),
            last_split_t: 0,
            next: None,
            error: None,
        })
        .collect();
    let reader = Reader {
        sources,
        ids: Vec::new(),
        batch: Batch::with_capacity(BATCH),
        tx,
        recycled,
        stopped: false,
        renderer,
    };
    let (end_tx, end) = sync_channel(1);
    let thread = std::thread::Builder::new()
        .name("vtrace-read".into())
        .spawn(move || {
            let (read_end, renderer) = reader.run();
            let _ = end_tx.send(read_end);
            if let Some(r) = renderer {
                r.serve_until_closed();
            }
        })
        .map_err(|e| anyhow!("starting the capture reading thread: {e}"))?;
    Ok(Reading { batches: rx, give_back, end, thread })
}

impl Reader {
    /// Read everything; the renderer is handed back to be served on (the batches' queue is
    /// closed by then).
    fn run(mut self) -> (ReadEnd, Option<Box<dyn Hosted>>) {
        if self.sources.len() == 1 {
            self.run_single();
        } else {
            for i in 0..self.sources.len() {
                self.advance(i);
            }
            // The source whose next frame is the oldest goes first (a k-way merge by time).
            while let Some(i) = self.oldest() {
                if self.stopped {
                    break;
                }
                self.take(i);
                self.advance(i);
            }
        }
        self.flush();
        let mut kernel_drops = vec![0; self.ids.len()];
        let mut error = None;
        for s in &mut self.sources {
            for (info, p) in s.input.reader.interfaces().iter().zip(&s.points) {
                if let Some(d) = kernel_drops.get_mut(p.index()) {
                    *d = info.kernel_drops.unwrap_or(0);
                }
            }
            error = error.or(s.error.take());
        }
        (ReadEnd { kernel_drops, error }, self.renderer.take())
    }

    /// One input: nothing to merge, its frames go in file order. A packet record whole in the
    /// buffer ([`CaptureReader::advance_plain`]) of a point already announced (not a side of a
    /// capture of several interfaces), with no new interface described before it, goes straight
    /// into the batch; the rest takes the general path.
    ///
    /// [`CaptureReader::advance_plain`]: crate::sys::pcapfile::CaptureReader::advance_plain
    fn run_single(&mut self) {
        while !self.stopped {
            let Some(s) = self.sources.first_mut() else { return };
            if s.error.is_some() {
                return;
            }
            let reader = &mut s.input.reader;
            let read = if reader.interfaces().len() == s.points.len() && reader.advance_plain() {
                let Some(f) = reader.last_frame() else { return };
                if let Some(&point) = s.points.get(f.ifid as usize)
                    && point != SPLIT
                {
                    let t_ns = corrected(f.t_ns, s.offset_ns);
                    let sighting =
                        Sighting { point, t_ns, frame: reader.frames_read(), id: identify(&f) };
                    self.batch.push_frame(sighting, f.data);
                    if self.batch.full() {
                        self.flush();
                    }
                    continue;
                }
                Ok(Some((f.ifid, f.t_ns)))
            } else {
                reader.next_frame().map(|f| f.map(|f| (f.ifid, f.t_ns)))
            };
            if !self.place(0, read) {
                continue;
            }
            if self.sources.first().is_none_or(|s| s.next.is_none()) {
                return;
            }
            self.take(0);
        }
    }

    /// The source whose next frame is the oldest (the first of those that tie).
    fn oldest(&self) -> Option<usize> {
        let mut best: Option<(usize, u64)> = None;
        for (i, s) in self.sources.iter().enumerate() {
            if let Some((_, t, _)) = s.next
                && best.is_none_or(|(_, b)| t < b)
            {
                best = Some((i, t));
            }
        }
        best.map(|(i, _)| i)
    }

    /// Decode source `i`'s next frame into the batch.
    fn take(&mut self, i: usize) {
        let Some(s) = self.sources.get_mut(i) else { return };
        let Some((point, t_ns, frame)) = s.next.take() else { return };
        let Some(f) = s.input.reader.last_frame() else { return };
        // The correlator reads the sighting; the frame's bytes go along for the packets it
        // needs whole (one per journey), decoded again there.
        let sighting = Sighting { point, t_ns, frame, id: identify(&f) };
        self.batch.push_frame(sighting, f.data);
        if self.batch.full() {
            self.flush();
        }
    }

    fn push(&mut self, c: Control) {
        self.batch.push_control(c);
        if self.batch.full() {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        // Rendering first: the analysing thread takes the exchanges back for its next ones.
        if let Some(r) = &self.renderer {
            r.serve_waiting();
        }
        let fresh = self.recycled.try_recv().unwrap_or_else(|_| Batch::with_capacity(BATCH));
        let mut full = std::mem::replace(&mut self.batch, fresh);
        // A closed channel means the analysing side stopped (an output error): stop quietly.
        let Some(renderer) = &self.renderer else {
            self.stopped = self.tx.send(full).is_err();
            return;
        };
        // While the queue is full, render what comes meanwhile.
        loop {
            match self.tx.send_within(full, SERVE_EVERY) {
                Ok(None) => return,
                Ok(Some(back)) => {
                    full = back;
                    renderer.serve_waiting();
                }
                Err(_) => {
                    self.stopped = true;
                    return;
                }
            }
        }
    }

    /// Announce the interfaces of source `i` not yet announced (a pcap file's one interface, a
    /// pcapng's interface blocks, even those that captured nothing).
    fn sync_points(&mut self, i: usize) {
        let Some(s) = self.sources.get(i) else { return };
        let infos = s.input.reader.interfaces();
        let mut new = Vec::new();
        for (ifid, info) in infos.iter().enumerate().skip(s.points.len()) {
            let role = description_field(info, "role").and_then(Role::parse);
            let split = CookedSide::splits(info.linktype);
            new.push((s.input.point_id(ifid, info), role, split, info.linktype));
        }
        for (id, role, split, linktype) in new {
            let idx = if split {
                self.push(Control::PointsMayGrow);
                SPLIT
            } else {
                self.announce(&id, role, linktype)
            };
            self.sources[i].points.push(idx);
        }
    }

    /// A new point named `id` (made unique) whose frames are of `linktype`, announced to the
    /// analysing side.
    fn announce(&mut self, id: &str, role: Option<Role>, linktype: LinkType) -> PointIdx {
        let mut unique = id.to_owned();
        let mut n = 2;
        while self.ids.contains(&unique) {
            unique = format!("{id}#{n}");
            n += 1;
        }
        let idx = PointIdx(u16::try_from(self.ids.len()).unwrap_or(u16::MAX - 1));
        self.ids.push(unique.clone());
        self.push(Control::Point { id: unique, role, linktype });
        idx
    }

    /// The point of the side the last frame of source `i` (on interface `ifid`, a capture of
    /// several interfaces) was seen on, announced the first time.
    fn side_point(&mut self, i: usize, ifid: u32) -> Option<PointIdx> {
        let s = self.sources.get(i)?;
        let f = s.input.reader.last_frame()?;
        let side = CookedSide::of(f.linktype, f.data)?;
        if let Some(&(_, _, p)) = s.sides.iter().find(|(id, sd, _)| *id == ifid && *sd == side) {
            return Some(p);
        }
        let info = s.input.reader.interfaces().get(ifid as usize)?;
        // `tcpdump -i any` names the interface `any` (pcapng) or not at all (pcap): the file
        // names the capture then.
        let base = match info.name.as_deref() {
            Some("any") | None => {
                s.input.point_id(0, &InterfaceInfo { name: None, ..info.clone() })
            }
            Some(_) => s.input.point_id(ifid as usize, info),
        };
        let linktype = info.linktype;
        let p = self.announce(&side.point_id(&base), None, linktype);
        self.sources.get_mut(i)?.sides.push((ifid, side, p));
        Some(p)
    }

    /// Read the next frame of source `i` into its `next`.
    fn advance(&mut self, i: usize) {
        // Until a frame with a point (a cooked frame too short to say its side is left out:
        // the decoder would find nothing in it either).
        while !self.advance_once(i) {}
    }

    /// Read one frame of source `i`; false when it was left out and the next must be read.
    fn advance_once(&mut self, i: usize) -> bool {
        let Some(s) = self.sources.get_mut(i) else { return true };
        s.next = None;
        if s.error.is_some() {
            return true;
        }
        let read = s.input.reader.next_frame().map(|f| f.map(|f| (f.ifid, f.t_ns)));
        self.place(i, read)
    }

    /// Make what was read from source `i` (a frame's interface and time on the file's clock,
    /// the end, or an error) its `next`, announcing the points it brings; false when the frame
    /// was left out and the next must be read.
    fn place(&mut self, i: usize, read: Result<Option<(u32, u64)>, ReadError>) -> bool {
        let Some(s) = self.sources.get_mut(i) else { return true };
        s.next = None;
        let read = match read {
            Ok(Some((ifid, t_ns))) => Some((ifid, corrected(t_ns, s.offset_ns))),
            Ok(None) => None,
            Err(e) => {
                s.error = Some(e.into());
                None
            }
        };
        let frame_no = s.input.reader.frames_read();
        if s.input.reader.interfaces().len() > s.points.len() {
            self.sync_points(i);
        }
        let Some((ifid, t_ns)) = read else { return true };
        let point = match self.sources.get(i).and_then(|s| s.points.get(ifid as usize)) {
            Some(&SPLIT) => match self.side_point(i, ifid) {
                Some(p) => Some(p),
                None => return false,
            },
            Some(&p) => Some(p),
            None => None,
        };
        let Some(s) = self.sources.get_mut(i) else { return true };
        let split = s.points.get(ifid as usize) == Some(&SPLIT);
        let t_ns = if split && t_ns == s.last_split_t { t_ns.saturating_add(1) } else { t_ns };
        if split {
            s.last_split_t = t_ns;
        }
        match point {
            Some(point) => s.next = Some((point, t_ns, frame_no)),
            None => {
                s.error = Some(anyhow!(
                    "{}: frame {frame_no} names interface {ifid}, which the file never described",
                    s.input.path.display()
                ));
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    use crate::sys::pcapfile::CaptureReader;

    fn block(ty: u32, body: &[u8]) -> Vec<u8> {
        let len = u32::try_from(12 + body.len()).unwrap_or_default();
        let mut b = ty.to_le_bytes().to_vec();
        b.extend_from_slice(&len.to_le_bytes());
        b.extend_from_slice(body);
        b.extend_from_slice(&len.to_le_bytes());
        b
    }

    /// A section header, then `blocks`.
    fn pcapng(blocks: &[Vec<u8>]) -> Vec<u8> {
        let mut shb = 0x1a2b_3c4d_u32.to_le_bytes().to_vec();
        shb.extend_from_slice(&[1, 0, 0, 0]);
        shb.extend_from_slice(&(-1i64).to_le_bytes());
        let mut file = block(0x0a0d_0d0a, &shb);
        for b in blocks {
            file.extend_from_slice(b);
        }
        file
    }

    /// An Ethernet interface named `name`.
    fn idb(name: &str) -> Vec<u8> {
        let mut body = vec![1, 0, 0, 0, 0, 0, 4, 0];
        let mut option = name.as_bytes().to_vec();
        option.resize(name.len().next_multiple_of(4), 0);
        body.extend_from_slice(&2u16.to_le_bytes());
        body.extend_from_slice(&u16::try_from(name.len()).unwrap_or_default().to_le_bytes());
        body.extend_from_slice(&option);
        body.extend_from_slice(&[0, 0, 0, 0]);
        block(1, &body)
    }

    /// A 60-byte frame on interface `ifid` at `us` microseconds, its first byte `tag`.
    fn epb(ifid: u32, us: u64, tag: u8) -> Vec<u8> {
        let mut body = ifid.to_le_bytes().to_vec();
        body.extend_from_slice(&u32::try_from(us >> 32).unwrap_or_default().to_le_bytes());
        body.extend_from_slice(&(us as u32).to_le_bytes());
        body.extend_from_slice(&60u32.to_le_bytes());
        body.extend_from_slice(&60u32.to_le_bytes());
        let mut frame = vec![0u8; 60];
        frame[0] = tag;
        body.extend_from_slice(&frame);
        block(6, &body)
    }

    /// What one input reads as: announced points by id, and frames as (point, time, frame
    /// number, first byte).
    #[derive(Debug, PartialEq)]
    enum Read {
        Point(String),
        Frame(u16, u64, u64, u8),
    }

    fn read(file: Vec<u8>, offset_ns: i64) -> Vec<Read> {
        let path = PathBuf::from("/tmp/trace.pcapng");
        let reader = CaptureReader::from_read(Box::new(std::io::Cursor::new(file)), &path);
        let Ok(reader) = reader else { panic!("the test capture opens") };
        let input = Input { label: None, path, reader };
        let Ok(reading) = spawn(vec![input], &[offset_ns], None) else { panic!("reading starts") };
        let mut out = Vec::new();
        for batch in reading.batches.iter() {
            let mut controls = batch.controls.iter().peekable();
            for (i, o) in batch.obs.iter().enumerate() {
                while let Some((_, c)) = controls.next_if(|(at, _)| *at <= i) {
                    if let Control::Point { id, .. } = c {
                        out.push(Read::Point(id.clone()));
                    }
                }
                let tag = batch.frame_bytes(i).first().copied().unwrap_or_default();
                assert_eq!(
                    batch.frame_bytes(i).len(),
                    60,
                    "a frame's bytes end where the next begin"
                );
                out.push(Read::Frame(o.point.0, o.t_ns, o.frame, tag));
            }
            for (_, c) in controls {
                if let Control::Point { id, .. } = c {
                    out.push(Read::Point(id.clone()));
                }
            }
        }
        assert!(reading.end.recv().is_ok_and(|end| end.error.is_none()));
        assert!(reading.thread.join().is_ok());
        out
    }

    #[test]
    fn a_frame_crosses_to_the_analysing_core_in_half_a_cache_line() {
        assert_eq!(std::mem::size_of::<Obs>(), 32);
        let id = PacketId { fp: Some(0), ttl: 63, tunnelled: true };
        let s = Sighting { point: PointIdx(3), t_ns: 7, frame: 9, id };
        assert_eq!(Obs::new(s, 0).sighting(), s, "a fingerprint of 0 is still one");
        let none = Sighting { id: PacketId { fp: None, ttl: 0, tunnelled: false }, ..s };
        assert_eq!(Obs::new(none, 0).sighting(), none);
    }

    #[test]
    fn one_input_announces_an_interface_described_midway_before_the_frame_after_it() {
        // Interface 1 is described between frames, then a frame of interface 0 comes first.
        let file = pcapng(&[idb("a"), epb(0, 1, 1), idb("b"), epb(0, 2, 2), epb(1, 3, 3)]);
        let us = 1_000;
        assert_eq!(
            read(file.clone(), 0),
            [
                Read::Point("a".into()),
                Read::Frame(0, us, 1, 1),
                Read::Point("b".into()),
                Read::Frame(0, 2 * us, 2, 2),
                Read::Frame(1, 3 * us, 3, 3),
            ]
        );
        // The file's clock is corrected by its offset on either path.
        let late: Vec<_> = read(file, 500)
            .into_iter()
            .filter_map(|r| match r {
                Read::Frame(_, t, ..) => Some(t),
                Read::Point(_) => None,
            })
            .collect();
        assert_eq!(late, [us - 500, 2 * us - 500, 3 * us - 500]);
    }

    #[test]
    fn one_input_of_many_frames_keeps_their_order_numbers_and_bytes() {
        let mut blocks = vec![idb("a"), idb("b")];
        blocks.extend((0..5_000u64).map(|i| epb((i % 2) as u32, 10 + i, (i % 251) as u8)));
        let got = read(pcapng(&blocks), 0);
        let mut want = vec![Read::Point("a".into()), Read::Point("b".into())];
        want.extend(
            (0..5_000u64)
                .map(|i| Read::Frame((i % 2) as u16, (10 + i) * 1_000, i + 1, (i % 251) as u8)),
        );
        assert_eq!(got, want);
    }
}
