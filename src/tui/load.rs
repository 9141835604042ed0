//! Builds a [`TuiState`] from observations through the core's [`Analysis`] (the same pipeline
//! `analyze` and live tracing use): capture points, settled exchanges, path order, counts and the
//! verdict. Reads no files and draws nothing; callers bring the observations.

use crate::core::analysis::Analysis;
use crate::core::journey::Observation;
use crate::report::trace::PointRow;
use crate::tui::state::TuiState;

/// Observations in, a state to show out.
#[derive(Debug)]
pub struct Loader {
    analysis: Analysis,
    state: TuiState,
    names: Vec<String>,
}

impl Loader {
    /// `window_ns` as for [`Analysis::new`]; `capacity`: exchanges the state keeps.
    pub fn new(command: &str, window_ns: u64, capacity: usize) -> Self {
        Loader {
            analysis: Analysis::new(window_ns),
            state: TuiState::new(command, capacity),
            names: Vec::new(),
        }
    }

    /// The trace's probe and what its socket received (a written trace's sidecar keeps them):
    /// call before the first observation.
    pub fn replay_probe(&mut self, record: &crate::core::analysis::ProbeRecord) {
        self.analysis.replay_probe(record);
    }

    /// The next capture point, in the order observations name them.
    pub fn add_point(&mut self, id: &str, role: Option<crate::core::path::Role>) {
        let idx = self.analysis.add_point();
        if role == Some(crate::core::path::Role::Branch) {
            self.analysis.mark_branch(idx);
        }
        self.names.push(id.to_owned());
        self.state.push_point(PointRow::new(id, role));
    }

    pub fn ingest(&mut self, obs: &Observation) {
        self.analysis.ingest(obs);
        self.drain();
    }

    fn drain(&mut self) {
        let state = &mut self.state;
        self.analysis.drain(|ex, _| state.push_exchange(&ex));
    }

    /// End of input: settle everything; `kernel_drops` per point (by index) from the captures.
    pub fn finish(mut self, kernel_drops: &[u64]) -> TuiState {
        self.analysis.finish();
        self.drain();
        let mut state = self.state;
        state.set_order(self.analysis.line().order());
        for (i, row) in state.points.iter_mut().enumerate() {
            row.captured = self.analysis.captured().get(i).copied().unwrap_or(0);
            row.kernel_drops = kernel_drops.get(i).copied().unwrap_or(0);
        }
        let drops = state.points.iter().any(|p| p.kernel_drops > 0);
        state.set_verdict(self.analysis.verdict(&self.names, drops));
        state
    }
}
