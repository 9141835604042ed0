//! `vtrace analyze`: capture files → decoded packets → correlator → report.

use anyhow::Result;

use crate::cli::AnalyzeArgs;
use crate::error::Outcome;

pub fn run(args: &AnalyzeArgs) -> Result<Outcome> {
    let _ = args;
    anyhow::bail!("not implemented yet")
}
