//! Where the `w` key finds the frames of the exchanges shown, and how it writes them: a
//! [`FrameSource`] copies frames, named by (capture point, frame number) as the journeys' hops
//! name them, into a new pcapng file (one interface per capture point).
//!
//! Two sources: [`Spool`], the live session's bounded spool (a fixed-size ring file, unnamed and
//! so gone with the process, plus a compact index by frame number: memory stays flat however long
//! the trace), and [`CaptureFiles`], the inputs of `analyze --tui`, read again. Neither decodes
//! anything; they move bytes.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};

use crate::core::frame::LinkType;
use crate::core::line::PointIdx;
use crate::report::clock::Zone;
use crate::sys::pcapfile::{CaptureReader, PcapngWriter, Section, WriterInterface};

/// A frame as hops name it: its capture point and its frame number there.
pub type FrameRef = (PointIdx, u64);

/// vtrace's analysis of frames, written as their pcapng comments
/// ([`crate::core::exchange::comment`]).
pub type Comments = HashMap<FrameRef, String>;

/// What `w` wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Written {
    /// Frames written.
    pub frames: u64,
    /// Frames asked for that the source no longer holds (the live spool forgot the oldest).
    pub missing: u64,
}

/// A source of the frames behind the exchanges shown.
pub trait FrameSource: fmt::Debug + Send + Sync {
    /// Write the frames of `wanted` (sorted, without duplicates) that the source holds, in
    /// capture order, to a new pcapng file at `path`, each with its comment in `comments`.
    fn write_pcapng(
        &self,
        wanted: &[FrameRef],
        comments: &Comments,
        path: &Path,
    ) -> Result<Written>;
}

/// Create `path` (never overwrite) and write the section, interface and name blocks.
fn create(
    path: &Path,
    section: &Section,
    interfaces: &[WriterInterface],
) -> Result<PcapngWriter<File>> {
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    PcapngWriter::with_section(file, section, interfaces)
        .with_context(|| format!("writing {}", path.display()))
}

fn complete(w: PcapngWriter<File>, path: &Path) -> Result<()> {
    let f = w.finish().with_context(|| format!("writing {}", path.display()))?;
    f.sync_all().with_context(|| format!("writing {}", path.display()))
}

/// Bytes before each frame in the spool: point, length on the wire, captured length, time.
const HEAD: usize = 20;

/// The live session's frames, kept for `w`: a ring file of `capacity` bytes (the oldest frames
/// are overwritten) and the offset of each frame still in it, by frame number. Frames are
/// appended in frame-number order (the order the analysis numbers them).
#[derive(Debug)]
pub struct Spool {
    file: File,
    capacity: u64,
    /// Logical offset (bytes ever written) of the end of the spool.
    end: u64,
    /// Not yet written out: bytes from logical offset `end - buf.len()`.
    buf: Vec<u8>,
    /// Frame number of `offsets[0]`.
    first: u64,
    /// Logical offset of each frame kept, modulo 2^32 (the spool is smaller than that).
    offsets: VecDeque<u32>,
    interfaces: Vec<WriterInterface>,
    /// The node and the containers' names, for the files written from it.
    section: Section,
    /// Why the spool stopped keeping frames (a write failed: the disk is full…).
    broken: Option<String>,
}

/// The spool is written out in pieces of this size.
const SPOOL_BUF: usize = 1 << 20;
/// Largest spool (offsets are kept modulo 2^32).
pub const SPOOL_MAX: u64 = 1 << 31;

impl Spool {
    /// An unnamed file in the temporary directory (gone when closed, even after a crash) of
    /// `capacity` bytes at most, for frames of `interfaces` (by point index).
    pub fn new(capacity: u64, interfaces: Vec<WriterInterface>) -> Result<Spool> {
        let file = tempfile::tempfile().with_context(|| {
            format!("creating the frame spool in {}", std::env::temp_dir().display())
        })?;
        let capacity = capacity.clamp((SPOOL_BUF * 2) as u64, SPOOL_MAX);
        Ok(Spool {
            file,
            capacity,
            end: 0,
            buf: Vec::with_capacity(SPOOL_BUF),
            first: 1,
            offsets: VecDeque::new(),
            interfaces,
            section: Section::default(),
            broken: None,
        })
    }

    /// Files written from the spool name this node and these containers.
    pub fn with_section(mut self, section: Section) -> Spool {
        self.section = section;
        self
    }

    /// Frames the spool can still give back.
    pub fn len(&self) -> usize {
        self.offsets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }

    /// Bytes the index takes (it is the spool's only growth in memory).
    pub fn index_bytes(&self) -> usize {
        self.offsets.capacity() * std::mem::size_of::<u32>() + self.buf.capacity()
    }

    /// Keep frame `frame` (numbers are consecutive; a gap restarts the index there). A failed
    /// write stops the spool (`w` then says why); the trace goes on.
    pub fn push(&mut self, frame: u64, point: usize, t_ns: u64, len: u32, data: &[u8]) {
        if self.broken.is_some() {
            return;
        }
        if let Err(e) = self.append(frame, point, t_ns, len, data) {
            self.broken = Some(format!("{e:#}"));
            self.offsets = VecDeque::new();
            self.buf = Vec::new();
        }
    }

    fn append(&mut self, frame: u64, point: usize, t_ns: u64, len: u32, data: &[u8]) -> Result<()> {
        let next = self.first + self.offsets.len() as u64;
        if frame != next {
            self.offsets.clear();
            self.first = frame;
        }
        // A frame larger than the spool cannot be kept (it would overwrite itself).
        let data = &data[..data.len().min(self.capacity as usize / 4)];
        self.offsets.push_back(self.end as u32);
        let point = u32::try_from(point).unwrap_or(u32::MAX);
        let caplen = data.len() as u32;
        self.buf.extend_from_slice(&point.to_le_bytes());
        self.buf.extend_from_slice(&len.to_le_bytes());
        self.buf.extend_from_slice(&caplen.to_le_bytes());
        self.buf.extend_from_slice(&t_ns.to_le_bytes());
        self.buf.extend_from_slice(data);
        self.end += (HEAD + data.len()) as u64;
        if self.buf.len() >= SPOOL_BUF {
            self.flush()?;
        }
        self.forget_overwritten();
        Ok(())
    }

    /// Drop from the index the frames the ring has overwritten.
    fn forget_overwritten(&mut self) {
        let oldest = self.end.saturating_sub(self.capacity);
        while let Some(&off) = self.offsets.front() {
            if self.logical(off) >= oldest {
                break;
            }
            self.offsets.pop_front();
            self.first += 1;
        }
    }

    /// The logical offset of a kept frame from its offset modulo 2^32.
    fn logical(&self, off: u32) -> u64 {
        self.end - u64::from((self.end as u32).wrapping_sub(off))
    }

    fn flush(&mut self) -> Result<()> {
        let start = self.end - self.buf.len() as u64;
        let buf = std::mem::take(&mut self.buf);
        let res = self.write_at(start, &buf);
        self.buf = buf;
        self.buf.clear();
        res.context("writing the frame spool")
    }

    fn write_at(&self, logical: u64, bytes: &[u8]) -> io::Result<()> {
        let mut done = 0;
        while done < bytes.len() {
            let pos = (logical + done as u64) % self.capacity;
            let room = (self.capacity - pos) as usize;
            let n = room.min(bytes.len() - done);
            self.file.write_all_at(&bytes[done..done + n], pos)?;
            done += n;
        }
        Ok(())
    }

    fn read_at(&self, logical: u64, out: &mut [u8]) -> io::Result<()> {
        let mut done = 0;
        while done < out.len() {
            let pos = (logical + done as u64) % self.capacity;
            let room = (self.capacity - pos) as usize;
            let n = room.min(out.len() - done);
            self.file.read_exact_at(&mut out[done..done + n], pos)?;
            done += n;
        }
        Ok(())
    }

    /// Read frame `frame` if the spool still holds it: (point, t_ns, length on the wire),
    /// its bytes in `data`.
    fn read(&self, frame: u64, data: &mut Vec<u8>) -> Result<Option<(u32, u64, u32)>> {
        let Some(i) = frame.checked_sub(self.first).and_then(|i| usize::try_from(i).ok()) else {
            return Ok(None);
        };
        let Some(&off) = self.offsets.get(i) else { return Ok(None) };
        let off = self.logical(off);
        let mut head = [0u8; HEAD];
        self.read_at(off, &mut head).context("reading the frame spool")?;
        let word = |i: usize| u32::from_le_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]);
        let (point, len, caplen) = (word(0), word(4), word(8));
        let mut t = [0u8; 8];
        t.copy_from_slice(&head[12..20]);
        data.resize(caplen as usize, 0);
        self.read_at(off + HEAD as u64, data).context("reading the frame spool")?;
        Ok(Some((point, u64::from_le_bytes(t), len)))
    }

    fn write_pcapng(
        &mut self,
        wanted: &[FrameRef],
        comments: &Comments,
        path: &Path,
    ) -> Result<Written> {
        if let Some(why) = &self.broken {
            anyhow::bail!("the frame spool stopped keeping frames: {why}");
        }
        self.flush()?;
        let mut w = create(path, &self.section, &self.interfaces)?;
        let mut out = Written::default();
        let mut data = Vec::new();
        // Frame numbers are in capture order already.
        let mut frames: Vec<u64> = wanted.iter().map(|&(_, f)| f).collect();
        frames.sort_unstable();
        frames.dedup();
        for f in frames {
            match self.read(f, &mut data)? {
                Some((point, t_ns, len)) => {
                    let p = PointIdx(u16::try_from(point).unwrap_or(u16::MAX));
                    let comment = comments.get(&(p, f)).map(String::as_str);
                    w.write_commented(point, t_ns, &data, len, comment)
                        .with_context(|| format!("writing {}", path.display()))?;
                    out.frames += 1;
                }
                None => out.missing += 1,
            }
        }
        complete(w, path)?;
        Ok(out)
    }
}

/// No frames to write, and why (the live session could not create its spool).
#[derive(Debug, Clone)]
pub struct Unavailable(pub String);

impl FrameSource for Unavailable {
    fn write_pcapng(&self, _: &[FrameRef], _: &Comments, _: &Path) -> Result<Written> {
        anyhow::bail!("no frames kept: {}", self.0)
    }
}

/// A [`Spool`] shared by the live session (which fills it) and the TUI (which reads it on `w`).
#[derive(Debug, Clone)]
pub struct SharedSpool(pub Arc<Mutex<Spool>>);

impl FrameSource for SharedSpool {
    fn write_pcapng(
        &self,
        wanted: &[FrameRef],
        comments: &Comments,
        path: &Path,
    ) -> Result<Written> {
        let mut spool = self.0.lock().map_err(|_| anyhow::anyhow!("the frame spool is broken"))?;
        spool.write_pcapng(wanted, comments, path)
    }
}

/// The capture files of `analyze --tui`, read again on `w`. Frames are named as the analysis
/// named them: the point of each file's interface, the frame's number in its file.
#[derive(Debug, Clone)]
pub struct CaptureFiles {
    /// Each file and its `--point` label.
    pub files: Vec<(PathBuf, Option<String>)>,
    /// Capture point ids by [`PointIdx`].
    pub points: Vec<String>,
}

/// One file being read for `w`: its next wanted frame.
struct Next {
    t_ns: u64,
    ifid: u32,
    len: u32,
    data: Vec<u8>,
}

impl CaptureFiles {
    /// The point index of each file's interfaces, by matching the point ids the analysis gave
    /// them (an id given twice was made unique with `#2`, `#3`… in the order first met).
    fn point_map(&self, readers: &[CaptureReader]) -> Vec<Vec<Option<u32>>> {
        let mut taken: HashSet<usize> = HashSet::new();
        readers
            .iter()
            .zip(&self.files)
            .map(|(r, (path, label))| {
                (0..r.interfaces().len())
                    .map(|ifid| {
                        let info = &r.interfaces()[ifid];
                        let id =
                            crate::session::inputs::point_id(label.as_deref(), path, ifid, info);
                        let hit = self.points.iter().enumerate().position(|(i, p)| {
                            !taken.contains(&i)
                                && (*p == id
                                    || p.strip_prefix(id.as_str())
                                        .is_some_and(|rest| rest.starts_with('#')))
                        })?;
                        taken.insert(hit);
                        u32::try_from(hit).ok()
                    })
                    .collect()
            })
            .collect()
    }
}

impl FrameSource for CaptureFiles {
    fn write_pcapng(
        &self,
        wanted: &[FrameRef],
        comments: &Comments,
        path: &Path,
    ) -> Result<Written> {
        let mut readers = Vec::new();
        for (file, _) in &self.files {
            readers.push(CaptureReader::open(file)?);
        }
        // The interfaces of a pcapng appear as it is read: read each file up to its first
        // frame so the map knows them (interfaces declared later are mapped when met).
        let mut next: Vec<Option<Next>> = Vec::new();
        let mut numbers: Vec<u64> = Vec::new();
        let by_point: HashMap<u32, HashSet<u64>> =
            wanted.iter().fold(HashMap::new(), |mut m, &(p, f)| {
                m.entry(u32::from(p.0)).or_default().insert(f);
                m
            });
        let mut maps = Vec::new();
        for r in &mut readers {
            next.push(read_next(r)?);
            numbers.push(r.frames_read());
        }
        maps.extend(self.point_map(&readers));
        let mut interfaces: Vec<WriterInterface> = self
            .points
            .iter()
            .map(|p| WriterInterface {
                linktype: LinkType::ETHERNET,
                name: p.clone(),
                description: String::new(),
                snaplen: 0,
            })
            .collect();
        for ((r, map), _) in readers.iter().zip(&maps).zip(&self.files) {
            for (info, p) in r.interfaces().iter().zip(map) {
                if let Some(iface) = p.and_then(|p| interfaces.get_mut(p as usize)) {
                    iface.linktype = info.linktype;
                    iface.description = info.description.clone().unwrap_or_default();
                }
            }
        }
        // The node of the first file, the names of every file.
        let section = Section {
            node: readers.first().and_then(|r| r.node().cloned()).unwrap_or_default(),
            names: readers.iter().flat_map(|r| r.names().iter().cloned()).collect(),
        };
        let mut w = create(path, &section, &interfaces)?;
        let mut out = Written::default();
        let want = |maps: &[Vec<Option<u32>>], i: usize, n: &Next, no: u64| {
            maps.get(i)
                .and_then(|m| m.get(n.ifid as usize).copied().flatten())
                .and_then(|p| by_point.get(&p).filter(|s| s.contains(&no)).map(|_| p))
        };
        // A merge by time of the files, keeping only the frames wanted.
        while let Some(i) = (0..next.len())
            .filter(|&i| next[i].is_some())
            .min_by_key(|&i| next[i].as_ref().map_or(u64::MAX, |n| n.t_ns))
        {
            if let Some(n) = next[i].take() {
                if readers[i].interfaces().len() > maps[i].len() {
                    maps = self.point_map(&readers);
                }
                if let Some(p) = want(&maps, i, &n, numbers[i]) {
                    let at = (PointIdx(u16::try_from(p).unwrap_or(u16::MAX)), numbers[i]);
                    let comment = comments.get(&at).map(String::as_str);
                    w.write_commented(p, n.t_ns, &n.data, n.len, comment)
                        .with_context(|| format!("writing {}", path.display()))?;
                    out.frames += 1;
                }
                next[i] = read_next(&mut readers[i])?;
                numbers[i] = readers[i].frames_read();
            }
        }
        complete(w, path)?;
        out.missing = (wanted.len() as u64).saturating_sub(out.frames);
        Ok(out)
    }
}

fn read_next(r: &mut CaptureReader) -> Result<Option<Next>> {
    Ok(r.next_frame()?.map(|f| Next {
        t_ns: f.t_ns,
        ifid: f.ifid,
        len: f.len,
        data: f.data.to_vec(),
    }))
}

/// A new file name in `dir` for `w`: `vtrace-YYYYMMDD-HHMMSS.pcapng` (the time `unix_secs` on
/// `zone`'s clock), `-2`, `-3`… when taken.
pub fn file_name(dir: &Path, zone: Zone, unix_secs: u64) -> PathBuf {
    let stem = format!("vtrace-{}", zone.file_stamp(unix_secs));
    let mut path = dir.join(format!("{stem}.pcapng"));
    let mut n = 2;
    while path.exists() {
        path = dir.join(format!("{stem}-{n}.pcapng"));
        n += 1;
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iface(name: &str) -> WriterInterface {
        WriterInterface::ethernet(name)
    }

    fn frames_of(path: &Path) -> Vec<(u32, u64, Vec<u8>)> {
        let mut r = CaptureReader::open(path).expect("open");
        let mut out = Vec::new();
        while let Some(f) = r.next_frame().expect("read") {
            out.push((f.ifid, f.t_ns, f.data.to_vec()));
        }
        out
    }

    #[test]
    fn names_are_dates_on_the_clock_asked_and_never_overwrite() {
        let dir = std::env::temp_dir().join(format!("vtrace-names-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        // 2026-11-27 23:05:09 UTC
        let p = file_name(&dir, Zone::Utc, 1_795_820_709);
        assert_eq!(p.file_name().and_then(|n| n.to_str()), Some("vtrace-20261127-230509.pcapng"));
        std::fs::write(&p, b"x").expect("write");
        let q = file_name(&dir, Zone::Utc, 1_795_820_709);
        assert_eq!(q.file_name().and_then(|n| n.to_str()), Some("vtrace-20261127-230509-2.pcapng"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_spool_that_failed_says_why_and_keeps_nothing() {
        let mut spool = Spool::new(0, vec![iface("a/eth0")]).expect("spool");
        spool.push(1, 0, 10, 60, &[1; 60]);
        // A write error (here: a file that cannot be written) stops the spool.
        spool.file = File::open("/dev/null").expect("read-only file");
        for f in 2..=40_000 {
            spool.push(f, 0, f * 10, 60, &[1; 60]);
        }
        assert!(spool.broken.is_some() && spool.is_empty());
        let path =
            std::env::temp_dir().join(format!("vtrace-broken-{}.pcapng", std::process::id()));
        let err = SharedSpool(Arc::new(Mutex::new(spool)))
            .write_pcapng(&[(PointIdx(0), 1)], &Comments::new(), &path)
            .map(|_| ())
            .map_err(|e| format!("{e:#}"));
        assert!(!path.exists(), "no file written");
        let err = err.err().unwrap_or_default();
        assert!(
            err.starts_with("the frame spool stopped keeping frames: writing the frame spool"),
            "{err}"
        );
        let none = Unavailable("creating the frame spool in /x: denied".into());
        let err =
            none.write_pcapng(&[], &Comments::new(), &path).map(|_| ()).map_err(|e| e.to_string());
        assert_eq!(err, Err("no frames kept: creating the frame spool in /x: denied".into()));
    }

    #[test]
    fn the_spool_gives_back_the_frames_asked_for_and_forgets_the_oldest() {
        let mut spool = Spool::new(0, vec![iface("a/eth0"), iface("b/eth0")]).expect("spool");
        let cap = spool.capacity;
        // Frames of 1000 bytes: the ring holds about cap / 1020 of them.
        let n = cap / 1020 * 3;
        for f in 1..=n {
            let data = vec![(f % 251) as u8; 1000];
            spool.push(f, (f % 2) as usize, f * 10, 1500, &data);
        }
        assert!(spool.len() as u64 <= cap / 1020 + 1, "{} frames kept", spool.len());
        assert!(spool.len() as u64 >= cap / 1020 - 1);
        let dir = std::env::temp_dir();
        let path = dir.join(format!("vtrace-spool-{}.pcapng", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let wanted = [(PointIdx(1), n - 1), (PointIdx(0), n), (PointIdx(1), 1)];
        let shared = SharedSpool(Arc::new(Mutex::new(spool)));
        let written = shared.write_pcapng(&wanted, &Comments::new(), &path).expect("write");
        assert_eq!(written, Written { frames: 2, missing: 1 });
        let frames = frames_of(&path);
        let _ = std::fs::remove_file(&path);
        let expect: Vec<(u32, u64, Vec<u8>)> = [n - 1, n]
            .iter()
            .map(|&f| ((f % 2) as u32, f * 10, vec![(f % 251) as u8; 1000]))
            .collect();
        assert_eq!(frames, expect);
    }
}
