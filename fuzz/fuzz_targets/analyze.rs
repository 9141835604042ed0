//! The whole offline path on arbitrary bytes: a capture file read, every frame decoded and
//! correlated across its interface (one capture point per interface, at most 8), and every
//! exchange rendered as text and as JSON. Never a panic, whatever the file.
#![no_main]

use std::io::Cursor;
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use vtrace::core::analysis::Analysis;
use vtrace::core::decode::decode;
use vtrace::core::journey::Observation;
use vtrace::core::line::PointIdx;
use vtrace::report::clock::Zone;
use vtrace::report::trace::renderer;
use vtrace::sys::pcapfile::CaptureReader;

const POINTS: u16 = 8;

fuzz_target!(|data: &[u8]| {
    let Ok(mut reader) =
        CaptureReader::from_read(Box::new(Cursor::new(data.to_vec())), Path::new("fuzz"))
    else {
        return;
    };
    // A short window so that exchanges settle while frames are still coming.
    let mut analysis = Analysis::new(1_000_000);
    for _ in 0..POINTS {
        analysis.add_point();
    }
    let names: Vec<String> = (0..POINTS).map(|p| format!("ns{p}/eth{p}")).collect();
    let mut text = renderer(false, Zone::Local, Box::new(std::io::sink()), false);
    let mut json = renderer(true, Zone::Local, Box::new(std::io::sink()), false);
    let mut frame_no = 0u64;
    while let Ok(Some(frame)) = reader.next_frame() {
        frame_no += 1;
        let packet = decode(&frame);
        let point = PointIdx((frame.ifid % u32::from(POINTS)) as u16);
        analysis.ingest(&Observation { point, t_ns: frame.t_ns, frame: frame_no, packet });
        analysis.drain(|ex, line| {
            let _ = text.exchange(&ex, line, &names);
            let _ = json.exchange(&ex, line, &names);
        });
    }
    analysis.finish();
    analysis.drain(|ex, line| {
        let _ = text.exchange(&ex, line, &names);
        let _ = json.exchange(&ex, line, &names);
    });
    let verdict = analysis.verdict(&names, false);
    let _ = verdict.summary.len();
});
