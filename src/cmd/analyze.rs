//! `vtrace analyze`: capture files → the offline session → the report (text, JSON, or the TUI),
//! or with `--packets` the decoded packets.
//!
//! A read error stops that file only: everything read before it is still analysed and reported,
//! then the error is returned (exit 2). A netfilter trace written next to a capture
//! (`FILE.nft.json`, by `ping/watch --write`) is replayed by the session.

use std::io::BufWriter;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;

use crate::core::verdict::Verdict;
use crate::error::Outcome;
use crate::report::clock::Zone;
use crate::report::trace;
use crate::session::offline::{self, Offline};
use crate::sys::stop::Stop;

/// What `vtrace analyze` was asked.
#[derive(Debug, Clone)]
pub struct Analyze {
    /// The files, each with its `--point` label if given as LABEL=FILE, in order.
    pub files: Vec<(Option<String>, PathBuf)>,
    /// List decoded packets instead of the hop-by-hop report.
    pub packets: bool,
    pub json: bool,
    /// Open the interactive view.
    pub tui: bool,
    /// With `tui`: exchanges the view keeps.
    pub ring: usize,
    /// How long a packet may take across the points, and a reply to follow its request.
    pub window: Duration,
    /// The clock text times of day are read on.
    pub zone: Zone,
}

pub fn run(args: &Analyze, stop: &Stop) -> Result<Outcome> {
    let offline = Offline {
        files: args.files.clone(),
        window_ns: u64::try_from(args.window.as_nanos()).unwrap_or(u64::MAX),
    };
    if args.tui {
        return crate::tui::analyze::run(&offline, args.ring, args.zone, stop);
    }
    if args.packets {
        return crate::cmd::packets::run(args);
    }
    let inputs = offline::open(&offline)?;
    let stdout = std::io::stdout().lock();
    let mut report = trace::renderer(
        args.json,
        args.zone,
        Box::new(BufWriter::with_capacity(1 << 16, stdout)),
        true,
    );
    let analysed = offline::analyse(&offline, inputs, report.as_mut())?;
    drop(report);
    if let Some(err) = analysed.error {
        return Err(err);
    }
    Ok(outcome(&analysed.verdict))
}

/// Exit 1 only when something was lost.
fn outcome(verdict: &Verdict) -> Outcome {
    if verdict.lost() { Outcome::NotReached } else { Outcome::Success }
}
