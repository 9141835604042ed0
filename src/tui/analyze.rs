//! `vtrace analyze --tui`: read every capture through the core first, then open the TUI on the
//! result. The exit code follows the verdict, as for the text report. `w` reads the files again
//! for the frames of the exchanges shown.

use std::io::IsTerminal;
use std::sync::Arc;

use anyhow::{Result, anyhow, bail};

use crate::cli::AnalyzeArgs;
use crate::cmd::inputs;
use crate::cmd::merge::{self, Item};
use crate::error::Outcome;
use crate::report::clock::Zone;
use crate::tui::frames::CaptureFiles;
use crate::tui::load::Loader;

pub fn run(args: &AnalyzeArgs, zone: Zone) -> Result<Outcome> {
    if !std::io::stdout().is_terminal() {
        bail!("--tui needs a terminal on stdout: drop --tui for the text report (or add --json)");
    }
    let inputs = inputs::open_all(args)?;
    let files: Vec<_> = inputs.iter().map(|i| (i.path.clone(), i.label.clone())).collect();
    let command = format!("analyze ({} capture files)", inputs.len());
    let reading = merge::spawn(inputs)?;
    let window_ns = u64::try_from(args.window.as_nanos()).unwrap_or(u64::MAX);
    let mut loader = Loader::new(&command, window_ns, args.ring);
    for mut batch in reading.batches.iter() {
        for item in &batch {
            match item {
                Item::Point { id, role } => loader.add_point(id, role),
                Item::Obs(obs) => loader.ingest(obs),
            }
        }
        batch.clear();
        let _ = reading.give_back.try_send(batch);
    }
    let end = reading.thread.join().map_err(|_| anyhow!("the capture reading thread panicked"))?;
    if let Some(err) = end.error {
        return Err(err);
    }
    let mut state = loader.finish(&end.kernel_drops);
    let points = state.points.iter().map(|p| p.id.clone()).collect();
    state.frames = Some(Arc::new(CaptureFiles { files, points }));
    state.zone = zone;
    crate::tui::run(&mut state, None)?;
    let reachable = state.verdict.as_ref().is_some_and(|v| v.reachable);
    Ok(if reachable { Outcome::Success } else { Outcome::NotReached })
}
