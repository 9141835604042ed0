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

/// A `--write` file being captured.
pub struct Annotated {
    section: Section,
    interfaces: Vec<WriterInterface>,
    tmp: PathBuf,
    target: PathBuf,
    /// The comments so far; `Err` says why there are none (the file could not be written).
    comments: Result<CommentFile, String>,
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
        let a = Annotated { section, interfaces, tmp, target: target.to_owned(), comments };
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
