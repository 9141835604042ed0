//! Inputs of every fuzz target (fuzz/, scripts/fuzz.sh) replayed through the entry point the
//! target calls: the crashes the fuzzers found, kept so they stay fixed, and small inputs that
//! reach the parsers' edges (truncated pcap and pcapng records, lengths past their blocks, a
//! frame with 40 VLAN tags, netlink attributes with bad lengths, tracefs lines with numbers out
//! of range). And the malformed capture corpus through the whole `vtrace analyze` command under
//! a 256 MiB address-space limit.
//!
//! Each file under tests/data/fuzz/TARGET/ is one input of fuzz target TARGET (a few hundred
//! bytes; see tests/data/fuzz/README.md). Every target has some: a missing or empty folder is
//! a failure, not a test that replays nothing.

mod common;

use std::io::Cursor;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use vtrace::core::analysis::Analysis;
use vtrace::core::decode::decode;
use vtrace::core::frame::{Frame, LinkType};
use vtrace::core::journey::Observation;
use vtrace::core::line::PointIdx;
use vtrace::report::trace::{PointRow, Summary, renderer};
use vtrace::sys::dropmon::{parse_line, parse_reasons};
use vtrace::sys::nftrace::decode::{decode_datagram, decode_trace, peek, trace_bodies};
use vtrace::sys::pcapfile::CaptureReader;

const BIN: &str = env!("CARGO_BIN_EXE_vtrace");

/// The inputs of one target, sorted by name: at least one, each no larger than 4 KiB.
fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fuzz").join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}: the inputs of fuzz target {target}", dir.display()))
        .map(|e| e.map(|e| e.path()).unwrap_or_else(|e| panic!("{}: {e}", dir.display())))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{}: no inputs for fuzz target {target}", dir.display());
    files
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            assert!(
                bytes.len() <= 4096,
                "{}: {} bytes, keep inputs small",
                p.display(),
                bytes.len()
            );
            (p, bytes)
        })
        .collect()
}

/// What fuzz_targets/pcapfile.rs does: read every frame; frames before an error count. Every
/// frame lies inside the input, and after an error the reader is finished.
fn read_capture(data: &[u8]) -> Result<u64, String> {
    let mut r = CaptureReader::from_read(Box::new(Cursor::new(data.to_vec())), Path::new("fuzz"))
        .map_err(|e| e.to_string())?;
    let mut frames = 0;
    loop {
        match r.next_frame() {
            Ok(Some(f)) => {
                assert!(f.data.len() <= data.len(), "a frame larger than the input");
                frames += 1;
            }
            Ok(None) => {
                assert_eq!(frames, r.frames_read());
                return Ok(frames);
            }
            Err(e) => {
                let e = e.to_string();
                assert!(matches!(r.next_frame(), Ok(None)), "the reader goes on after {e}");
                assert_eq!(frames, r.frames_read());
                return Err(e);
            }
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

/// What an analysis of fuzz input rendered: frames read, exchanges drained, the text report,
/// the JSON report, the verdict's summary.
struct Analyzed {
    frames: u64,
    exchanges: usize,
    text: String,
    json: String,
    verdict: String,
}

/// What fuzz_targets/analyze.rs does (the reader, the decoder, the analysis over 8 points, the
/// text and JSON renderers), finishing both reports; `None` when the input is no capture.
fn analyze_input(data: &[u8]) -> Option<Analyzed> {
    const POINTS: u16 = 8;
    let mut reader =
        CaptureReader::from_read(Box::new(Cursor::new(data.to_vec())), Path::new("fuzz")).ok()?;
    let mut analysis = Analysis::new(1_000_000);
    for _ in 0..POINTS {
        analysis.add_point();
    }
    let names: Vec<String> = (0..POINTS).map(|p| format!("ns{p}/eth{p}")).collect();
    let rows: Vec<PointRow> =
        names.iter().map(|n| PointRow::new(n, Some(vtrace::core::path::Role::Endpoint))).collect();
    let (mut text_out, mut json_out) = (Vec::new(), Vec::new());
    let mut exchanges = 0;
    let verdict = {
        let mut text =
            renderer(false, vtrace::report::clock::Zone::Utc, Box::new(&mut text_out), false);
        let mut json =
            renderer(true, vtrace::report::clock::Zone::Utc, Box::new(&mut json_out), true);
        let mut render = |analysis: &mut Analysis| {
            analysis.drain(|ex, line| {
                exchanges += 1;
                text.exchange(&ex, line, &names).expect("text into memory");
                // JSON as `analyze` renders it, on its own thread.
                json.exchange_owned(ex, line, &names).expect("JSON into memory");
            })
        };
        let mut frame_no = 0u64;
        while let Ok(Some(frame)) = reader.next_frame() {
            frame_no += 1;
            let packet = decode(&frame);
            let point = PointIdx((frame.ifid % u32::from(POINTS)) as u16);
            analysis.ingest(&Observation { point, t_ns: frame.t_ns, frame: frame_no, packet });
            render(&mut analysis);
        }
        analysis.finish();
        render(&mut analysis);
        let verdict = analysis.verdict(&names, false);
        let summary = Summary {
            points: rows.iter().collect(),
            names: &names,
            verdict: &verdict,
            other_journeys: 0,
            unidentified: 0,
            files: &[],
        };
        text.finish(&summary).expect("text into memory");
        json.finish(&summary).expect("JSON into memory");
        verdict.summary
    };
    Some(Analyzed {
        frames: reader.frames_read(),
        exchanges,
        text: String::from_utf8(text_out).expect("the text report is UTF-8"),
        json: String::from_utf8(json_out).expect("the JSON report is UTF-8"),
        verdict,
    })
}

#[test]
fn pcapfile_inputs_end_in_frames_or_a_clean_error() {
    for (path, data) in inputs("pcapfile") {
        if let Err(e) = read_capture(&data) {
            assert!(e.contains(" at byte offset "), "{}: {e}", path.display());
        }
    }
}

#[test]
fn decode_inputs_decode() {
    for (path, data) in inputs("decode") {
        let p = decode_input(&data);
        assert!(!format!("{p:?}").is_empty(), "{}", path.display());
    }
}

#[test]
fn nftrace_inputs_decode_or_error() {
    for (path, data) in inputs("nftrace") {
        match decode_datagram(&data) {
            Ok(events) => {
                for ev in events {
                    let _ = (ev.key(), ev.decision(), ev.is_drop());
                }
            }
            Err(e) => assert!(!e.to_string().is_empty(), "{}", path.display()),
        }
        // What a session's listener reads first agrees with the decoded event.
        for body in trace_bodies(&data).flatten() {
            if let Ok(ev) = decode_trace(body) {
                let p = peek(body);
                let p = p.unwrap_or_else(|e| panic!("{}: peek {e}", path.display()));
                let table = String::from_utf8_lossy(p.table);
                assert_eq!(
                    (table.as_ref(), p.id),
                    (ev.table.as_str(), ev.id),
                    "{}",
                    path.display()
                );
            }
        }
    }
}

#[test]
fn dropmon_inputs_parse_or_are_skipped() {
    for (_, data) in inputs("dropmon") {
        let _ = dropmon_input(&data);
    }
}

/// Each input is a capture with frames; whatever they hold, the pipeline renders every
/// exchange, the text report ends with the verdict and the JSON report is one object with every
/// exchange, the eight points and the verdict.
#[test]
fn analyze_inputs_render_every_exchange() {
    for (path, data) in inputs("analyze") {
        let what = path.display();
        let a = analyze_input(&data).unwrap_or_else(|| panic!("{what}: not a capture"));
        assert!(a.frames > 0, "{what}: no frame to analyze");
        assert!(!a.verdict.is_empty(), "{what}: no verdict");
        assert!(
            a.text.contains(&a.verdict),
            "{what}: the text report lacks the verdict:\n{}",
            a.text
        );
        let v: Value = serde_json::from_str(&a.json)
            .unwrap_or_else(|e| panic!("{what}: not one JSON report ({e}): {}", a.json));
        let exchanges = v["exchanges"].as_array().map_or(0, Vec::len);
        assert_eq!(exchanges, a.exchanges, "{what}: {v}");
        assert_eq!(v["points"].as_array().map_or(0, Vec::len), 8, "{what}: {v}");
        assert_eq!(v["verdict"]["summary"], a.verdict.as_str(), "{what}: {v}");
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
