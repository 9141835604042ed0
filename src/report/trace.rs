//! The hop-by-hop report of a trace (`analyze`, later `ping`): streamed exchange by exchange, then
//! the capture points and the verdict. One [`TraceReport`] interface, two renderers (text, JSON).

use std::io::{self, Write};

use crate::core::exchange::Exchange;
use crate::core::line::{Line, PointIdx};
use crate::core::verdict::Verdict;
use crate::report::clock::Zone;
use crate::report::{json, text};

/// A capture point as the report shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PointRow {
    /// `<namespace label>/<ifname>`.
    pub id: String,
    pub netns: Option<String>,
    pub ifname: String,
    pub role: String,
    pub captured: u64,
    pub kernel_drops: u64,
}

impl PointRow {
    /// Split a point id into namespace label and interface name.
    pub fn new(id: &str, role: &str) -> PointRow {
        let (netns, ifname) = match id.split_once('/') {
            Some((ns, ifname)) => (Some(ns.to_owned()), ifname.to_owned()),
            None => (None, id.to_owned()),
        };
        PointRow {
            id: id.to_owned(),
            netns,
            ifname,
            role: role.to_owned(),
            captured: 0,
            kernel_drops: 0,
        }
    }
}

/// Everything the report needs at the end.
#[derive(Debug)]
pub struct Summary<'a> {
    /// Points in path order.
    pub points: Vec<&'a PointRow>,
    /// Point ids by [`PointIdx`].
    pub names: &'a [String],
    pub verdict: &'a Verdict,
    /// Journeys that were not ARP/ICMP exchanges, and frames vtrace could not identify.
    pub other_journeys: u64,
    pub unidentified: u64,
}

/// A renderer of the trace report.
pub trait TraceReport {
    /// One settled exchange. `names` are the point ids by [`PointIdx`].
    fn exchange(&mut self, ex: &Exchange, line: &Line, names: &[String]) -> io::Result<()>;
    /// The points and the verdict, after the last exchange.
    fn finish(&mut self, summary: &Summary<'_>) -> io::Result<()>;
}

/// The renderer for `--json` or text (times of day on `zone`'s clock; JSON has nanoseconds).
pub fn renderer<'w>(json: bool, zone: Zone, out: Box<dyn Write + 'w>) -> Box<dyn TraceReport + 'w> {
    if json {
        Box::new(json::JsonTrace::new(out))
    } else {
        Box::new(text::TextTrace::new(out, zone))
    }
}

/// Name of a point, `?` when unknown.
pub fn name(names: &[String], p: Option<PointIdx>) -> Option<&str> {
    p.and_then(|p| names.get(p.index())).map(String::as_str)
}
