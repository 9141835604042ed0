//! The pcapng file of `--write`, carrying vtrace's analysis: the node in its section header, each
//! point's namespace, role and container in its interface description, the containers' addresses
//! in a name resolution block, and on each frame of a journey a comment saying its exchange, hop
//! and delay ([`frame_comments`]).
//!
//! The comments are known only once the exchanges settle, so frames are captured into a
//! temporary file next to the target (`FILE.tmp`), comments are kept on disk by frame number as
//! exchanges settle ([`CommentFile`]: memory stays flat however long the trace), and at the end
//! the file is copied to the target with its comments. If that copy fails, the uncommented
//! capture is kept under the target's name and a note says so: the capture is never lost. It
//! decides nothing about what is captured.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};

use crate::core::exchange::Exchange;
use crate::core::exchange::comment::frame_comments;
use crate::sys::capture::CaptureStats;
use crate::sys::pcapfile::{CaptureReader, CommentFile, PcapngWriter, Section, WriterInterface};
use crate::sys::writes::{self, Recorded};

/// A `--write` file being captured.
pub struct Annotated {
    section: Section,
    interfaces: Vec<WriterInterface>,
    tmp: PathBuf,
    target: PathBuf,
    /// The comments so far; `Err` says why there are none (the file could not be written).
    comments: Result<CommentFile, String>,
    /// The capture recorded as in progress, for `vtrace cleanup` after a SIGKILL
    /// ([`crate::sys::writes`]); the record goes with this.
    _recorded: Option<Recorded>,
}

impl Annotated {
    /// Create the temporary capture file next to `target` and write its header.
    pub fn create(
        target: &Path,
        section: Section,
        interfaces: Vec<WriterInterface>,
    ) -> Result<(PcapngWriter<File>, Annotated)> {
        let tmp = tmp_path(target);
        let out = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        let w = PcapngWriter::with_section(out, &section, &interfaces)
            .with_context(|| format!("writing {}", tmp.display()))?;
        let dir = target.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let comments = CommentFile::create_in(dir)
            .map_err(|e| format!("creating a file for them in {}: {e}", dir.display()));
        let _recorded = writes::record(&tmp, target);
        let target = target.to_owned();
        let a = Annotated { section, interfaces, tmp, target, comments, _recorded };
        Ok((w, a))
    }

    /// The file being written to (for messages).
    pub fn writing(&self) -> &Path {
        &self.tmp
    }

    /// An exchange settled: comment its frames. `points`: the points of a complete journey.
    pub fn exchange(&mut self, ex: &Exchange, points: usize) {
        let Ok(file) = self.comments.as_mut() else { return };
        for (_, frame, c) in frame_comments(ex, points) {
            if let Err(e) = file.put(frame, &c) {
                self.comments = Err(format!("writing them: {e}"));
                return;
            }
        }
    }

    /// Complete the temporary file (statistics of each point), then copy it to the target with
    /// the comments; on failure keep the uncommented capture under the target's name. Notes go
    /// to stderr unless `quiet`.
    pub fn finish(
        mut self,
        w: PcapngWriter<File>,
        stats: &[CaptureStats],
        quiet: bool,
    ) -> Result<()> {
        write_stats(w, stats, &self.tmp)?;
        match self.rewrite(stats) {
            Ok(()) => {
                let _ = std::fs::remove_file(&self.tmp);
                Ok(())
            }
            Err(e) => {
                std::fs::rename(&self.tmp, &self.target).with_context(|| {
                    format!("keeping the capture: renaming {} failed", self.tmp.display())
                })?;
                if !quiet {
                    eprintln!(
                        "vtrace: {}: writing vtrace's analysis into the capture failed ({e:#}): \
                         kept the capture without it",
                        self.target.display()
                    );
                }
                Ok(())
            }
        }
    }

    /// The temporary file copied to the target, each frame with its comment.
    fn rewrite(&mut self, stats: &[CaptureStats]) -> Result<()> {
        let comments = std::mem::replace(&mut self.comments, Err("used".into()));
        let mut comments = comments
            .map_err(|why| anyhow::anyhow!("no comments: {why}"))?
            .finish()
            .context("reading the comments back")?;
        let mut reader = CaptureReader::open(&self.tmp)?;
        let out = File::create(&self.target)
            .with_context(|| format!("creating {}", self.target.display()))?;
        let name = self.target.display().to_string();
        let mut w = PcapngWriter::with_section(out, &self.section, &self.interfaces)
            .with_context(|| format!("writing {name}"))?;
        let mut no = 0u64;
        while let Some(f) = reader.next_frame()? {
            no += 1;
            let comment = comments.get(no).context("reading the comments back")?;
            w.write_commented(f.ifid, f.t_ns, f.data, f.len, comment.as_deref())
                .with_context(|| format!("writing {name}"))?;
        }
        write_stats(w, stats, &self.target)
    }
}

/// `FILE.tmp` next to `FILE`.
pub fn tmp_path(target: &Path) -> PathBuf {
    let mut name = target.as_os_str().to_owned();
    name.push(".tmp");
    PathBuf::from(name)
}

/// The statistics of each point, then the file flushed and synced.
fn write_stats(mut w: PcapngWriter<File>, stats: &[CaptureStats], file: &Path) -> Result<()> {
    let name = file.display();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    for (i, s) in stats.iter().enumerate() {
        let ifid = u32::try_from(i).unwrap_or(u32::MAX);
        w.write_interface_stats(ifid, now, s.received, s.dropped)
            .with_context(|| format!("writing {name}"))?;
    }
    let f = w.finish().with_context(|| format!("writing {name}"))?;
    f.sync_all().with_context(|| format!("writing {name}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    // The integration tests' precondition helper: a missing tshark fails under CI.
    use crate::core::exchange::{ExchangeKind, Leg};
    use crate::core::journey::{Hop, Journey};
    use crate::core::line::PointIdx;
    use crate::core::packet::{Echo, Icmp, Packet};
    use crate::sys::pcapfile::tests::require;

    fn iface(name: &str) -> WriterInterface {
        WriterInterface::ethernet(name)
    }

    fn echo(frames: &[u64]) -> Exchange {
        let packet = Packet {
            icmp: Some(Icmp { ty: 8, code: 0, echo: Some(Echo { id: 9, seq: 1 }), quoted: None }),
            ..Packet::default()
        };
        let hops = frames.iter().enumerate().map(|(i, &f)| Hop::new(PointIdx(i as u16), f * 10, f));
        Exchange {
            kind: ExchangeKind::IcmpEcho,
            request: Leg {
                journey: Journey::new(Box::new(packet), hops.collect()),
                lost: None,
                netfilter: Vec::new(),
            },
            reply: None,
            errors: Vec::new(),
            rtt_ns: None,
            expects_reply: false,
            probe: false,
        }
    }

    fn stats() -> Vec<CaptureStats> {
        vec![CaptureStats { received: 3, dropped: 1, gone: false }; 2]
    }

    /// A capture of three frames into `dir`, frames 1 and 3 a journey.
    fn capture(dir: &Path) -> Result<(PathBuf, PcapngWriter<File>, Annotated)> {
        let target = dir.join("t.pcapng");
        let (mut w, mut a) =
            Annotated::create(&target, Section::default(), vec![iface("a/eth0"), iface("b/eth0")])?;
        assert!(tmp_path(&target).exists() && !target.exists());
        for (ifid, f) in [(0, 1u64), (1, 2), (1, 3)] {
            w.write_packet(ifid, f * 10, &[f as u8; 60], 60)?;
        }
        a.exchange(&echo(&[1, 3]), 2);
        Ok((target, w, a))
    }

    #[test]
    fn the_target_gets_every_frame_and_the_temporary_file_goes() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let (target, w, a) = capture(dir.path())?;
        a.finish(w, &stats(), true)?;
        assert!(!tmp_path(&target).exists());
        let mut r = CaptureReader::open(&target)?;
        let mut frames = Vec::new();
        while let Some(f) = r.next_frame()? {
            frames.push((f.ifid, f.t_ns));
        }
        assert_eq!(frames, vec![(0, 10), (1, 20), (1, 30)]);
        assert_eq!(r.interfaces()[1].kernel_drops, Some(1));
        // Frames 1 and 3 carry their hop of the journey, frame 2 nothing.
        let out = std::process::Command::new("tshark")
            .arg("-r")
            .arg(&target)
            .args(["-T", "fields", "-e", "frame.comment"])
            .output();
        if require::require("tshark (apt-get install tshark)", out.is_ok()) {
            let text = out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned())?;
            assert_eq!(
                text.lines().collect::<Vec<_>>(),
                vec![
                    "echo id 9 seq 1 request hop 1/2",
                    "",
                    "echo id 9 seq 1 request hop 2/2 +20ns"
                ]
            );
        }
        Ok(())
    }

    #[test]
    fn without_comments_the_capture_is_kept_as_it_is() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let (target, w, mut a) = capture(dir.path())?;
        a.comments = Err("the disk is full".into());
        a.finish(w, &stats(), true)?;
        assert!(!tmp_path(&target).exists());
        let mut r = CaptureReader::open(&target)?;
        let mut n = 0;
        while r.next_frame()?.is_some() {
            n += 1;
        }
        assert_eq!(n, 3);
        Ok(())
    }
}
