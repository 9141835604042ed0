//! `vtrace analyze --tui`: analyse every capture through the offline session first (the same
//! conclusion as the text report, netfilter replay included), then open the TUI on the result.
//! The exit code follows the verdict, as for the text report. `w` reads the files again for the
//! frames of the exchanges shown.

use std::io::IsTerminal;
use std::sync::Arc;

use anyhow::{Result, bail};

use crate::error::Outcome;
use crate::report::clock::Zone;
use crate::session::offline::{self, Offline};
use crate::sys::stop::Stop;
use crate::tui::feed::StateReport;
use crate::tui::frames::CaptureFiles;
use crate::tui::state::TuiState;

/// Analyse `offline` and show it; `ring`: exchanges the view keeps.
pub fn run(offline: &Offline, ring: usize, zone: Zone, stop: &Stop) -> Result<Outcome> {
    if !std::io::stdout().is_terminal() {
        bail!("--tui needs a terminal on stdout: drop --tui for the text report (or add --json)");
    }
    let inputs = offline::open(offline)?;
    let command = format!("analyze ({} capture files)", inputs.len());
    let mut state = TuiState::new(command, ring);
    state.zone = zone;
    let analysed = offline::analyse(offline, inputs, &mut StateReport { state: &mut state })?;
    if let Some(err) = analysed.error {
        return Err(err);
    }
    let points = state.points.iter().map(|p| p.id.clone()).collect();
    let files = offline.files.iter().map(|(label, f)| (f.clone(), label.clone())).collect();
    state.frames = Some(Arc::new(CaptureFiles { files, points }));
    crate::tui::run(&mut state, None, stop)?;
    let lost = state.verdict.as_ref().is_none_or(|v| v.lost());
    Ok(if lost { Outcome::NotReached } else { Outcome::Success })
}
