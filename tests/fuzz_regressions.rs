//! Inputs the fuzzers (fuzz/, scripts/fuzz.sh) found crashing, kept so they stay fixed, and
//! the malformed capture corpus through the whole `vtrace analyze` command under a 256 MiB
//! address-space limit.
//!
//! Each file under tests/data/fuzz/TARGET/ is one minimized input of fuzz target TARGET, fed
//! to the same entry point the target calls.

mod common;

use std::io::Cursor;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use vtrace::core::decode::decode;
use vtrace::core::frame::{Frame, LinkType};
use vtrace::sys::dropmon::{parse_line, parse_reasons};
use vtrace::sys::nftrace::decode::decode_datagram;
use vtrace::sys::pcapfile::CaptureReader;

const BIN: &str = env!("CARGO_BIN_EXE_vtrace");

fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fuzz").join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p, bytes)
        })
        .collect()
}

/// What fuzz_targets/pcapfile.rs does: read every frame; frames before an error count.
fn read_capture(data: &[u8]) -> Result<u64, String> {
    let mut r = CaptureReader::from_read(Box::new(Cursor::new(data.to_vec())), Path::new("fuzz"))
        .map_err(|e| e.to_string())?;
    loop {
        match r.next_frame() {
            Ok(Some(f)) => assert!(f.data.len() <= data.len()),
            Ok(None) => return Ok(r.frames_read()),
            Err(e) => return Err(e.to_string()),
        }
    }
}

fn decode_input(data: &[u8]) -> vtrace::core::packet::Packet {
    let Some((&sel, bytes)) = data.split_first() else { return Default::default() };
    let linktype = LinkType::FUZZ_SELECTION[usize::from(sel) % LinkType::FUZZ_SELECTION.len()];
    decode(&Frame { ifid: 0, t_ns: 1, len: bytes.len() as u32, linktype, data: bytes })
}

fn dropmon_input(data: &[u8]) -> usize {
    let (format, lines) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&data[..0], data),
    };
    let reasons = parse_reasons(&String::from_utf8_lossy(format));
    let text = String::from_utf8_lossy(lines);
    let offsets = [0, i128::from(i64::MAX), i128::from(i64::MIN)];
    text.lines().enumerate().filter_map(|(i, l)| parse_line(l, &reasons, offsets[i % 3])).count()
}

#[test]
fn pcapfile_crashers_end_in_frames_or_a_clean_error() {
    for (path, data) in inputs("pcapfile") {
        if let Err(e) = read_capture(&data) {
            assert!(e.contains(" at byte offset "), "{}: {e}", path.display());
        }
    }
}

#[test]
fn decode_crashers_decode() {
    for (_, data) in inputs("decode") {
        let _ = decode_input(&data);
    }
}

#[test]
fn nftrace_crashers_decode_or_error() {
    for (_, data) in inputs("nftrace") {
        if let Ok(events) = decode_datagram(&data) {
            for ev in events {
                let _ = ev.key();
            }
        }
    }
}

#[test]
fn dropmon_crashers_parse_or_are_skipped() {
    for (_, data) in inputs("dropmon") {
        let _ = dropmon_input(&data);
    }
}

/// Every malformed capture through the whole command (read, decode, correlate, report; text,
/// JSON and --packets) in a process limited to 256 MiB of address space: a result or a clean
/// error (exit 2, one `vtrace:` message), never a panic or an allocation failure.
#[test]
fn every_malformed_capture_analyzes_within_256_mib() {
    let Some(corpora) = common::corpora() else { return };
    let dir = corpora.join("mal");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| {
        let n = p.to_string_lossy();
        !n.ends_with(".tshark.tsv") && !n.ends_with(".out")
    });
    files.sort();
    assert!(files.len() >= 100, "the corpus is at {}", dir.display());
    let mut errors = 0;
    for file in &files {
        for args in [&["analyze"][..], &["analyze", "--json"], &["analyze", "--packets"]] {
            let mut cmd = Command::new(BIN);
            cmd.args(args).arg(file);
            // SAFETY: setrlimit is async-signal-safe and only reads the struct passed.
            unsafe {
                cmd.pre_exec(|| {
                    let limit = libc::rlimit { rlim_cur: 256 << 20, rlim_max: 256 << 20 };
                    if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
            let out = cmd.output().expect("running vtrace");
            let err = String::from_utf8_lossy(&out.stderr);
            let what = format!("{args:?} {}", file.display());
            assert!(matches!(out.status.code(), Some(0..=2)), "{what}: {} {err}", out.status);
            assert!(
                !err.contains("panicked") && !err.contains("memory allocation"),
                "{what}: {err}"
            );
            if out.status.code() == Some(2) {
                errors += 1;
                assert!(err.starts_with("vtrace: "), "{what}: {err}");
            }
        }
    }
    println!("{} malformed files, 3 ways each: {errors} clean errors", files.len());
}
