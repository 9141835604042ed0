//! The hop-by-hop report of a trace (`analyze`, later `ping`): streamed exchange by exchange, then
//! the capture points and the verdict. One [`TraceReport`] interface, two renderers (text, JSON).

use std::io::Write;

use crate::core::line::PointIdx;
use crate::report::clock::Zone;
use crate::report::{json, text};
pub use crate::session::sink::{FileRow, PointRow, Summary, TraceReport};

/// The renderer for `--json` or text (times of day on `zone`'s clock; JSON has nanoseconds).
/// `threaded`: JSON is rendered on a second thread (`analyze` of a big capture).
pub fn renderer<'w>(
    json: bool,
    zone: Zone,
    out: Box<dyn Write + 'w>,
    threaded: bool,
) -> Box<dyn TraceReport + 'w> {
    if json && threaded {
        Box::new(json::JsonTrace::threaded(out))
    } else if json {
        Box::new(json::JsonTrace::new(out))
    } else {
        Box::new(text::TextTrace::new(out, zone))
    }
}

/// Name of a point, `?` when unknown.
pub fn name(names: &[String], p: Option<PointIdx>) -> Option<&str> {
    p.and_then(|p| names.get(p.index())).map(String::as_str)
}
