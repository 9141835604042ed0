//! What a trace reports to: one [`TraceReport`] interface that the live session and the offline
//! analysis write into, exchange by exchange as they settle, then the capture points and the
//! verdict. The text and JSON renderers (`report::trace`) and the TUI's feed implement it; the
//! session knows none of them.

use std::io;

use crate::core::clocks::Basis;
use crate::core::exchange::Exchange;
use crate::core::frame::CaptureNode;
use crate::core::line::Line;
use crate::core::path::Role;
use crate::core::point::PointId;
use crate::core::verdict::Verdict;

/// A capture point as the report shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PointRow {
    /// `<namespace label>/<ifname>`.
    pub id: String,
    pub netns: Option<String>,
    pub ifname: String,
    /// What the point is on the path; `None` when its capture did not say (yet).
    pub role: Option<Role>,
    pub captured: u64,
    pub kernel_drops: u64,
}

impl PointRow {
    /// Split a point id into namespace label and interface name (the label may hold a `/`:
    /// `default/web/eth0`).
    pub fn new(id: &str, role: Option<Role>) -> PointRow {
        let (netns, ifname) = PointId::split(id);
        let (netns, ifname) = (netns.map(str::to_owned), ifname.to_owned());
        PointRow { id: id.to_owned(), netns, ifname, role, captured: 0, kernel_drops: 0 }
    }
}

/// An input file of an offline analysis as the report shows it: its clock relative to the first
/// file's ([`crate::session::clocks`]) and the node it was recorded on, when the file says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRow {
    /// The file as given on the command line.
    pub file: String,
    /// Subtracted from the file's timestamps: its clock minus the first file's (0 for the first
    /// and for files that agree with it within the uncertainty).
    pub offset_ns: i64,
    /// Half-width of the interval the true offset lies in; `None` when nothing bounds it.
    pub uncertainty_ns: Option<u64>,
    pub basis: Basis,
    /// The file it was measured against (an index into the files).
    pub via: usize,
    pub node: Option<CaptureNode>,
}

impl FileRow {
    /// True when the file's timestamps were shifted.
    pub fn shifted(&self) -> bool {
        self.offset_ns != 0
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
    /// The input files of an offline analysis (none for a live trace).
    pub files: &'a [FileRow],
}

/// A renderer of the trace report.
pub trait TraceReport {
    /// One settled exchange. `names` are the point ids by [`PointIdx`].
    fn exchange(&mut self, ex: &Exchange, line: &Line, names: &[String]) -> io::Result<()>;
    /// [`Self::exchange`] of an exchange the caller no longer needs (a renderer may keep it;
    /// otherwise its allocations go to the next exchanges, [`crate::core::recycle`]).
    fn exchange_owned(
        &mut self,
        ex: Box<Exchange>,
        line: &Line,
        names: &[String],
    ) -> io::Result<()> {
        let res = self.exchange(&ex, line, names);
        crate::core::recycle::exchange(ex);
        res
    }
    /// The points and the verdict, after the last exchange.
    fn finish(&mut self, summary: &Summary<'_>) -> io::Result<()>;
    /// Write out what is buffered: the trace went idle, and what settled must show now.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
    /// The rendering side of a renderer that would run on a thread of its own, for another
    /// thread to serve (`analyze`'s reader: two busy threads for two cores). Whoever takes it
    /// serves it until [`Self::finish`] returns.
    fn render_worker(&mut self) -> Option<Box<dyn Hosted>> {
        None
    }
}

/// Work a renderer hands to a thread that serves it between its own work.
pub trait Hosted: Send {
    /// Do the work waiting, without sleeping; false once no more will come.
    fn serve_waiting(&self) -> bool;
    /// Do the work as it comes until no more will.
    fn serve_until_closed(&self);
}
