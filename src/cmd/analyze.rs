//! `vtrace analyze`: capture files → decoded packets → correlator → report.
//!
//! Each interface of each file is a capture point. Several files are merged by timestamp. A read
//! error stops that file only: everything read before it is still analysed and reported, then the
//! error is returned (exit 2).

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow};

use crate::cli::AnalyzeArgs;
use crate::core::analysis::Analysis;
use crate::core::decode::decode;
use crate::core::frame::InterfaceInfo;
use crate::core::journey::Observation;
use crate::core::line::PointIdx;
use crate::error::Outcome;
use crate::report::trace::{self, PointRow, Summary};
use crate::sys::pcapfile::CaptureReader;

/// One capture file and the points its interfaces became.
struct Source {
    reader: CaptureReader,
    /// `--point LABEL=FILE` label, if given.
    label: Option<String>,
    path: PathBuf,
    /// PointIdx of each interface id, as interfaces appear.
    points: Vec<PointIdx>,
    /// Next observation of this source, decoded (for the merge by time).
    next: Option<Observation>,
    error: Option<anyhow::Error>,
}

/// All points of the analysis: rows for the report and ids by PointIdx.
#[derive(Default)]
struct Points {
    rows: Vec<PointRow>,
    names: Vec<String>,
}

impl Points {
    fn add(&mut self, analysis: &mut Analysis, id: String, role: &str) -> PointIdx {
        let mut unique = id.clone();
        let mut n = 2;
        while self.names.contains(&unique) {
            unique = format!("{id}#{n}");
            n += 1;
        }
        self.rows.push(PointRow::new(&unique, role));
        self.names.push(unique);
        analysis.add_point()
    }
}

/// The point id of an interface: vtrace's own files name interfaces `<netns>/<ifname>`; other
/// pcapng writers give a bare `if_name` (and maybe `netns=` in the description).
fn point_id(src_label: Option<&str>, path: &Path, ifid: usize, info: &InterfaceInfo) -> String {
    let stem =
        || path.file_stem().map_or_else(|| "capture".into(), |s| s.to_string_lossy().into_owned());
    match (src_label, info.name.as_deref()) {
        (Some(label), _) if ifid == 0 => label.to_owned(),
        (Some(label), _) => format!("{label}/if{ifid}"),
        (None, Some(name)) if name.contains('/') => name.to_owned(),
        (None, Some(name)) => match description_field(info, "netns") {
            Some(ns) => format!("{ns}/{name}"),
            None => name.to_owned(),
        },
        (None, None) if ifid == 0 => stem(),
        (None, None) => format!("{}/if{ifid}", stem()),
    }
}

/// `key=value` from a pcapng if_description such as `netns=nginx-1 ifindex=2 role=endpoint`.
fn description_field<'a>(info: &'a InterfaceInfo, key: &str) -> Option<&'a str> {
    info.description
        .as_deref()?
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
}

impl Source {
    fn open(path: &Path, label: Option<String>) -> Result<Source> {
        let reader = CaptureReader::open(path)?;
        Ok(Source {
            reader,
            label,
            path: path.to_owned(),
            points: Vec::new(),
            next: None,
            error: None,
        })
    }

    /// New interfaces become points in the order they appear (a pcap file's one interface and a
    /// pcapng's interface blocks, even when no packet was captured on them).
    fn sync_points(&mut self, analysis: &mut Analysis, points: &mut Points) {
        let interfaces = self.reader.interfaces();
        while let Some(info) = interfaces.get(self.points.len()) {
            let i = self.points.len();
            let id = point_id(self.label.as_deref(), &self.path, i, info);
            let role = description_field(info, "role").unwrap_or("");
            self.points.push(points.add(analysis, id, role));
        }
    }

    /// Read the next frame into `self.next` (None at the end or after an error).
    fn advance(&mut self, analysis: &mut Analysis, points: &mut Points) {
        self.next = None;
        if self.error.is_some() {
            return;
        }
        let frame = match self.reader.next_frame() {
            Ok(Some(frame)) => frame,
            Ok(None) => {
                self.sync_points(analysis, points);
                return;
            }
            Err(e) => {
                self.error = Some(e.into());
                self.sync_points(analysis, points);
                return;
            }
        };
        let (ifid, t_ns, packet) = (frame.ifid, frame.t_ns, decode(&frame));
        let frame_no = self.reader.frames_read();
        self.sync_points(analysis, points);
        let Some(&point) = self.points.get(ifid as usize) else {
            self.error = Some(anyhow!(
                "{}: frame {frame_no} names interface {ifid}, which the file never described",
                self.path.display()
            ));
            return;
        };
        self.next = Some(Observation { point, t_ns, frame: frame_no, packet });
    }
}

pub fn run(args: &AnalyzeArgs) -> Result<Outcome> {
    if args.packets {
        return crate::cmd::packets::run(args);
    }
    let inputs: Vec<(Option<String>, &PathBuf)> = args
        .files
        .iter()
        .map(|f| (None, f))
        .chain(args.points.iter().map(|(label, f)| (Some(label.clone()), f)))
        .collect();
    if inputs.is_empty() {
        return Err(anyhow!(
            "no capture files: give FILE… or --point LABEL=FILE… (see `vtrace analyze --help`)"
        ));
    }
    let mut sources = inputs
        .into_iter()
        .map(|(label, path)| Source::open(path, label))
        .collect::<Result<Vec<_>>>()?;

    let window_ns = u64::try_from(args.window.as_nanos()).unwrap_or(u64::MAX);
    let mut analysis = Analysis::new(window_ns);
    let mut points = Points::default();
    let stdout = std::io::stdout().lock();
    let mut report =
        trace::renderer(args.json, Box::new(BufWriter::with_capacity(1 << 16, stdout)));

    for s in &mut sources {
        s.advance(&mut analysis, &mut points);
    }
    let mut progress = Progress::new();
    loop {
        progress.tick();
        // The source whose next frame is the oldest (files are merged by time).
        let Some(i) = (0..sources.len())
            .filter(|&i| sources[i].next.is_some())
            .min_by_key(|&i| sources[i].next.map_or(u64::MAX, |o| o.t_ns))
        else {
            break;
        };
        if let Some(obs) = sources[i].next.take() {
            analysis.ingest(obs);
        }
        sources[i].advance(&mut analysis, &mut points);
        let mut res = Ok(());
        analysis.drain(|ex, line| {
            if res.is_ok() {
                res = report.exchange(ex, line, &points.names);
            }
        });
        res?;
    }
    progress.done();
    analysis.finish();
    let mut res = Ok(());
    analysis.drain(|ex, line| {
        if res.is_ok() {
            res = report.exchange(ex, line, &points.names);
        }
    });
    res?;

    for (row, &n) in points.rows.iter_mut().zip(analysis.captured()) {
        row.captured = n;
    }
    for s in &sources {
        for (info, p) in s.reader.interfaces().iter().zip(&s.points) {
            if let Some(row) = points.rows.get_mut(p.index()) {
                row.kernel_drops = info.kernel_drops.unwrap_or(0);
            }
        }
    }
    let line = analysis.line();
    let n = line.len();
    for (pos, p) in line.order().iter().enumerate() {
        if let Some(row) = points.rows.get_mut(p.index())
            && row.role.is_empty()
        {
            row.role = guess_role(&row.ifname, pos == 0 || pos + 1 == n).to_owned();
        }
    }
    let capture_drops = points.rows.iter().any(|r| r.kernel_drops > 0);
    let verdict = analysis.verdict(&points.names, capture_drops);
    let (other_journeys, unidentified) = analysis.other_counts();
    let summary = Summary {
        points: line.order().iter().filter_map(|p| points.rows.get(p.index())).collect(),
        names: &points.names,
        verdict: &verdict,
        other_journeys,
        unidentified,
    };
    report.finish(&summary)?;
    drop(report);

    if let Some(err) = sources.iter_mut().find_map(|s| s.error.take()) {
        return Err(err);
    }
    std::io::stdout().flush()?;
    Ok(if verdict.reachable { Outcome::Success } else { Outcome::NotReached })
}

/// A role for points whose capture did not say: ends of the path are endpoints.
fn guess_role(ifname: &str, at_end: bool) -> &'static str {
    if at_end {
        "endpoint"
    } else if ifname.starts_with("veth") {
        "veth"
    } else if ifname.starts_with("br")
        || ifname.starts_with("docker")
        || ifname.starts_with("virbr")
    {
        "bridge"
    } else {
        "transit"
    }
}

/// "N frames read" on stderr every second, when stderr is a terminal and the work is long.
struct Progress {
    enabled: bool,
    frames: u64,
    start: std::time::Instant,
    shown: bool,
}

impl Progress {
    fn new() -> Self {
        use std::io::IsTerminal;
        let enabled = std::io::stderr().is_terminal();
        Progress { enabled, frames: 0, start: std::time::Instant::now(), shown: false }
    }

    fn tick(&mut self) {
        self.frames += 1;
        if !self.enabled || self.frames % (1 << 18) != 0 {
            return;
        }
        let secs = self.start.elapsed().as_secs_f64();
        if secs >= 1.0 {
            eprint!(
                "\rvtrace: {} frames read ({:.1} M/s)",
                self.frames,
                self.frames as f64 / secs / 1e6
            );
            self.shown = true;
        }
    }

    fn done(&self) {
        if self.shown {
            eprint!("\r\x1b[K");
        }
    }
}
