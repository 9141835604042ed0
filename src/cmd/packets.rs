//! `vtrace analyze --packets FILE…`: list every frame of the capture files, decoded, as text like
//! `tcpdump -n` or (`--json`) one JSON object per line.
//!
//! Files are listed one after the other (frames of file 1, then file 2), in file order, numbered
//! from 1 in each file. A read error ends the listing: everything read before it is printed, then
//! the error (exit 2). This file only wires the reader, the decoder and the renderer together.

use std::io::{self, Write};

use anyhow::{Context, Result};

use crate::cmd::analyze::Analyze;
use crate::core::decode::decode;
use crate::error::Outcome;
use crate::report::clock::TimeOfDay;
use crate::report::packets::{Record, json_line, text_line};
use crate::session::inputs::{self, Input, point_id};

/// Flush the output buffer to stdout when it grows past this.
const FLUSH_AT: usize = 64 * 1024;

pub fn run(args: &Analyze) -> Result<Outcome> {
    let inputs = inputs::open_all(&args.files)?;
    let mut clock = TimeOfDay::new(args.zone);
    let mut render = |out: &mut Vec<u8>, r: &Record<'_>| {
        if args.json { json_line(out, r) } else { text_line(out, r, &mut clock) }
    };
    let mut stdout = io::stdout().lock();
    let mut out = Vec::with_capacity(FLUSH_AT * 2);
    for mut input in inputs {
        let listed = list_file(&mut input, &mut render, &mut out, &mut stdout);
        stdout.write_all(&out).context("writing the packet list")?;
        out.clear();
        listed?;
    }
    stdout.flush().context("writing the packet list")?;
    Ok(Outcome::Success)
}

/// List one file into `out`, flushing to `sink` as it grows. On a read error, `out` keeps what
/// was listed before it.
fn list_file(
    input: &mut Input,
    render: &mut impl FnMut(&mut Vec<u8>, &Record<'_>),
    out: &mut Vec<u8>,
    sink: &mut impl Write,
) -> Result<()> {
    let mut points: Vec<String> = Vec::new();
    loop {
        let Some(f) = input.reader.next_frame()? else { return Ok(()) };
        // Decoded in place (a Packet is a few hundred bytes: not moved around per frame).
        let packet = decode(&f);
        let caplen = u32::try_from(f.data.len()).unwrap_or(u32::MAX);
        let (ifid, t_ns, len, linktype) = (f.ifid, f.t_ns, f.len, f.linktype.0);
        // Wireshark's frame numbers count the pcapng blocks that hold no packet too.
        let frame = input.reader.frames_read() + input.reader.non_packet_records();
        let interfaces = input.reader.interfaces();
        while let Some(info) = interfaces.get(points.len()) {
            points.push(point_id(input.label.as_deref(), &input.path, points.len(), info));
        }
        let unknown;
        let point = match points.get(ifid as usize) {
            Some(p) => p.as_str(),
            None => {
                unknown = format!("if{ifid}");
                unknown.as_str()
            }
        };
        let record = Record { frame, ifid, t_ns, caplen, len, linktype, point, packet: &packet };
        render(out, &record);
        if out.len() >= FLUSH_AT {
            sink.write_all(out).context("writing the packet list")?;
            out.clear();
        }
    }
}
