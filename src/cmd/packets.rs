//! `vtrace analyze --packets FILE…`: list every frame of the capture files, decoded, as text like
//! `tcpdump -n` or (`--json`) one JSON object per line.
//!
//! Files are listed one after the other (frames of file 1, then file 2), in file order, numbered
//! from 1 in each file. A read error ends the listing: everything read before it is printed, then
//! the error (exit 2). This file only wires the reader, the decoder and the renderer together.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::cli::AnalyzeArgs;
use crate::core::decode::decode;
use crate::core::frame::InterfaceInfo;
use crate::error::Outcome;
use crate::report::packets::{Record, json_line, text_line};
use crate::sys::pcapfile::CaptureReader;

/// Flush the output buffer to stdout when it grows past this.
const FLUSH_AT: usize = 64 * 1024;

pub fn run(args: &AnalyzeArgs) -> Result<Outcome> {
    let inputs: Vec<(Option<&str>, &PathBuf)> = args
        .files
        .iter()
        .map(|f| (None, f))
        .chain(args.points.iter().map(|(label, f)| (Some(label.as_str()), f)))
        .collect();
    if inputs.is_empty() {
        anyhow::bail!(
            "no capture files: give FILE… or --point LABEL=FILE… (see `vtrace analyze --help`)"
        );
    }
    let render = if args.json { json_line } else { text_line };
    let mut stdout = io::stdout().lock();
    let mut out = Vec::with_capacity(FLUSH_AT * 2);
    for (label, path) in inputs {
        let listed = list_file(path, label, render, &mut out, &mut stdout);
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
    path: &Path,
    label: Option<&str>,
    render: fn(&mut Vec<u8>, &Record<'_>),
    out: &mut Vec<u8>,
    sink: &mut impl Write,
) -> Result<()> {
    let mut reader = CaptureReader::open(path)?;
    let mut points: Vec<String> = Vec::new();
    loop {
        let Some(f) = reader.next_frame()? else { return Ok(()) };
        // Decoded in place (a Packet is a few hundred bytes: not moved around per frame).
        let packet = decode(&f);
        let caplen = u32::try_from(f.data.len()).unwrap_or(u32::MAX);
        let (ifid, t_ns, len, linktype) = (f.ifid, f.t_ns, f.len, f.linktype.0);
        // Wireshark's frame numbers count the pcapng blocks that hold no packet too.
        let frame = reader.frames_read() + reader.non_packet_records();
        let interfaces = reader.interfaces();
        while points.len() < interfaces.len() {
            let i = points.len();
            let info = interfaces.get(i);
            points.push(info.map_or_else(String::new, |info| point_label(label, path, i, info)));
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

/// The capture point label of an interface, as `vtrace analyze` names points: the `--point`
/// label (with `/ifN` for further interfaces), a pcapng interface name (prefixed with the
/// `netns=` of its description when the name has no `/`), or the file name.
pub(crate) fn point_label(
    label: Option<&str>,
    path: &Path,
    ifid: usize,
    info: &InterfaceInfo,
) -> String {
    let stem =
        || path.file_stem().map_or_else(|| "capture".into(), |s| s.to_string_lossy().into_owned());
    let netns =
        || info.description.as_deref()?.split_whitespace().find_map(|kv| kv.strip_prefix("netns="));
    match (label, info.name.as_deref()) {
        (Some(label), _) if ifid == 0 => label.to_owned(),
        (Some(label), _) => format!("{label}/if{ifid}"),
        (None, Some(name)) if name.contains('/') => name.to_owned(),
        (None, Some(name)) => match netns() {
            Some(ns) => format!("{ns}/{name}"),
            None => name.to_owned(),
        },
        (None, None) if ifid == 0 => stem(),
        (None, None) => format!("{}/if{ifid}", stem()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::frame::LinkType;

    fn corpus(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpora/wf").join(name)
    }

    #[test]
    fn a_read_error_keeps_what_was_listed_before_it() {
        let whole = std::fs::read(corpus("live_A_crpa0_us.pcap")).unwrap_or_default();
        let cut = std::env::temp_dir().join(format!("vtrace-packets-{}.pcap", std::process::id()));
        std::fs::write(&cut, whole.get(..5000).unwrap_or_default()).unwrap_or_default();
        let (mut out, mut sink) = (Vec::new(), Vec::new());
        let res = list_file(&cut, Some("a/eth0"), json_line, &mut out, &mut sink);
        let _ = std::fs::remove_file(&cut);
        let err = res.err().map(|e| format!("{e:#}")).unwrap_or_default();
        assert!(err.contains("byte offset 3864"), "{err}");
        assert!(err.contains(&cut.display().to_string()), "{err}");
        let text = String::from_utf8_lossy(&out);
        assert_eq!(text.lines().count(), 20);
        let last = text.lines().last().unwrap_or_default();
        assert!(last.starts_with("{\"frame\":20,\"ifid\":0,"), "{last}");
        assert!(last.contains("\"point\":\"a/eth0\""), "{last}");
    }

    #[test]
    fn point_labels() {
        let info = |name: Option<&str>, description: Option<&str>| InterfaceInfo {
            linktype: LinkType::ETHERNET,
            name: name.map(str::to_owned),
            description: description.map(str::to_owned),
            kernel_drops: None,
        };
        let p = Path::new("/x/trace.pcapng");
        assert_eq!(point_label(Some("n1/eth0"), p, 0, &info(Some("eth0"), None)), "n1/eth0");
        assert_eq!(point_label(Some("n1"), p, 2, &info(None, None)), "n1/if2");
        assert_eq!(point_label(None, p, 0, &info(Some("host/br0"), None)), "host/br0");
        let described = info(Some("eth0"), Some("netns=nginx-1 role=endpoint"));
        assert_eq!(point_label(None, p, 1, &described), "nginx-1/eth0");
        assert_eq!(point_label(None, p, 0, &info(None, None)), "trace");
        assert_eq!(point_label(None, p, 3, &info(None, None)), "trace/if3");
    }
}
