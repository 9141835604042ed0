//! The reading side of `vtrace analyze`, on a thread of its own: read every input, decode each
//! frame, merge the inputs by timestamp, and send the observations in batches (with each new
//! capture point announced before its first observation). The analysing side runs meanwhile.

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use anyhow::{Result, anyhow};

use crate::core::decode::decode;
use crate::core::journey::Observation;
use crate::core::line::PointIdx;
use crate::core::path::Role;
use crate::session::inputs::{Input, description_field};

/// What the reading side sends, in order.
// Observations are nearly every item; boxing them would cost an allocation per frame.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Item {
    /// The next capture point (its PointIdx is the count of points announced before it).
    Point {
        id: String,
        role: Option<Role>,
    },
    Obs(Observation),
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

struct Source {
    input: Input,
    /// PointIdx of each interface id, as interfaces appear.
    points: Vec<PointIdx>,
    next: Option<Observation>,
    error: Option<anyhow::Error>,
}

struct Reader {
    sources: Vec<Source>,
    /// Point ids announced so far (to keep them unique).
    ids: Vec<String>,
    batch: Vec<Item>,
    tx: SyncSender<Vec<Item>>,
    recycled: Receiver<Vec<Item>>,
    /// The analysing side hung up.
    stopped: bool,
}

/// The running reading side.
#[derive(Debug)]
pub struct Reading {
    /// Batches of items, in order.
    pub batches: Receiver<Vec<Item>>,
    /// Give emptied batches back here for reuse.
    pub give_back: SyncSender<Vec<Item>>,
    /// Joined for the [`ReadEnd`].
    pub thread: JoinHandle<ReadEnd>,
}

/// Start reading on a thread of its own.
pub fn spawn(inputs: Vec<Input>) -> Result<Reading> {
    let (tx, rx) = sync_channel(4);
    let (give_back, recycled) = sync_channel(8);
    let sources = inputs
        .into_iter()
        .map(|input| Source { input, points: Vec::new(), next: None, error: None })
        .collect();
    let reader = Reader {
        sources,
        ids: Vec::new(),
        batch: Vec::with_capacity(BATCH),
        tx,
        recycled,
        stopped: false,
    };
    let thread = std::thread::Builder::new()
        .name("vtrace-read".into())
        .spawn(move || reader.run())
        .map_err(|e| anyhow!("starting the capture reading thread: {e}"))?;
    Ok(Reading { batches: rx, give_back, thread })
}

impl Reader {
    fn run(mut self) -> ReadEnd {
        for i in 0..self.sources.len() {
            self.advance(i);
        }
        // The source whose next frame is the oldest goes first (a k-way merge by time).
        while let Some(i) = (0..self.sources.len())
            .filter(|&i| self.sources[i].next.is_some())
            .min_by_key(|&i| self.sources[i].next.map_or(u64::MAX, |o| o.t_ns))
        {
            if self.stopped {
                break;
            }
            if let Some(obs) = self.sources[i].next.take() {
                self.push(Item::Obs(obs));
            }
            self.advance(i);
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
        ReadEnd { kernel_drops, error }
    }

    fn push(&mut self, item: Item) {
        self.batch.push(item);
        if self.batch.len() >= BATCH {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let fresh = self.recycled.try_recv().unwrap_or_else(|_| Vec::with_capacity(BATCH));
        let full = std::mem::replace(&mut self.batch, fresh);
        // A closed channel means the analysing side stopped (an output error): stop quietly.
        if self.tx.send(full).is_err() {
            self.stopped = true;
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
            new.push((s.input.point_id(ifid, info), role));
        }
        for (id, role) in new {
            let mut unique = id.clone();
            let mut n = 2;
            while self.ids.contains(&unique) {
                unique = format!("{id}#{n}");
                n += 1;
            }
            let idx = PointIdx(u16::try_from(self.ids.len()).unwrap_or(u16::MAX));
            self.ids.push(unique.clone());
            self.sources[i].points.push(idx);
            self.push(Item::Point { id: unique, role });
        }
    }

    /// Read the next frame of source `i` into its `next`.
    fn advance(&mut self, i: usize) {
        let Some(s) = self.sources.get_mut(i) else { return };
        s.next = None;
        if s.error.is_some() {
            return;
        }
        let read = match s.input.reader.next_frame() {
            Ok(Some(frame)) => Some((frame.ifid, frame.t_ns, decode(&frame))),
            Ok(None) => None,
            Err(e) => {
                s.error = Some(e.into());
                None
            }
        };
        let frame_no = s.input.reader.frames_read();
        self.sync_points(i);
        let Some((ifid, t_ns, packet)) = read else { return };
        let s = &mut self.sources[i];
        match s.points.get(ifid as usize) {
            Some(&point) => s.next = Some(Observation { point, t_ns, frame: frame_no, packet }),
            None => {
                s.error = Some(anyhow!(
                    "{}: frame {frame_no} names interface {ifid}, which the file never described",
                    s.input.path.display()
                ));
            }
        }
    }
}
