//! The clocks of several capture files (one per node, each on its own clock), measured before
//! they are merged: a first pass over the beginning of every file ([`SAMPLE_FRAMES`] frames at
//! most, one thread per file) samples the packets it saw, and [`crate::core::clocks::estimate`]
//! turns what the files have in common into each file's offset from the first. The merge then
//! subtracts the offsets. Memory is bounded by the samples (4 × [`SAMPLE_CAP`] packets over all
//! files, [`SAMPLE_CAP`] per file at most). A file that cannot be read here is left on its own clock: the real pass
//! reports its error.

use std::path::{Path, PathBuf};

use crate::core::clocks::{Basis, Offset, SAMPLE_CAP, Sample, estimate};
use crate::core::decode::decode;
use crate::session::sink::FileRow;
use crate::sys::pcapfile::CaptureReader;

/// Frames read from the beginning of each file to measure its clock.
pub const SAMPLE_FRAMES: u64 = 1 << 18;

/// The clock offsets of `files` relative to the first; all 0 for a single file (read nothing).
pub fn measure(files: &[(Option<String>, PathBuf)], window_ns: u64) -> Vec<FileRow> {
    let offsets = if files.len() < 2 {
        files.iter().map(|_| reference()).collect()
    } else {
        // The samples of all files together stay within SAMPLE_CAP × 4 packets (~16 MB); as
        // many files are read at once as there are cores.
        let cap = (SAMPLE_CAP * 4 / files.len()).clamp(4096, SAMPLE_CAP);
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let mut samples = Vec::with_capacity(files.len());
        for chunk in files.chunks(threads) {
            std::thread::scope(|s| {
                let handles: Vec<_> =
                    chunk.iter().map(|(_, path)| s.spawn(move || sample(path, cap))).collect();
                samples.extend(handles.into_iter().map(|h| h.join().unwrap_or_default()));
            });
        }
        estimate(&samples, window_ns)
    };
    files
        .iter()
        .zip(offsets)
        .map(|((_, path), o)| FileRow {
            file: path.display().to_string(),
            offset_ns: o.offset_ns,
            uncertainty_ns: o.uncertainty_ns,
            basis: o.basis,
            via: o.via,
            node: None,
        })
        .collect()
}

fn reference() -> Offset {
    Offset { offset_ns: 0, uncertainty_ns: Some(0), basis: Basis::Reference, via: 0 }
}

/// The packets of the first [`SAMPLE_FRAMES`] frames of a file (as far as it reads).
fn sample(path: &Path, cap: usize) -> Sample {
    let mut sample = Sample::with_cap(cap);
    let Ok(mut reader) = CaptureReader::open(path) else { return sample };
    while reader.frames_read() < SAMPLE_FRAMES {
        match reader.next_frame() {
            Ok(Some(frame)) => sample.add(frame.t_ns, &decode(&frame)),
            _ => break,
        }
    }
    sample
}

/// A timestamp on the reference clock: `t_ns` minus the file's offset (saturating).
#[inline]
pub fn corrected(t_ns: u64, offset_ns: i64) -> u64 {
    if offset_ns >= 0 {
        t_ns.saturating_sub(offset_ns.unsigned_abs())
    } else {
        t_ns.saturating_add(offset_ns.unsigned_abs())
    }
}
