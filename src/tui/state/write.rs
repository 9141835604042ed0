//! `w`: the frames of every journey of the exchanges shown, written to a new pcapng file in the
//! state's `write_dir` through its [`FrameSource`](crate::tui::frames::FrameSource); the footer
//! says what was written where, or what went wrong.
//!
//! It reads the view and sets the footer message; it must not change the selection or the ring,
//! and it never raises an error (a failed write is a message).

use super::TuiState;
use crate::core::exchange::comment::frame_comments;
use crate::tui::frames::{self, FrameRef};

impl TuiState {
    /// Every frame of every journey of the exchanges shown, sorted, each once.
    pub fn shown_frames(&self) -> Vec<FrameRef> {
        let mut out: Vec<FrameRef> = (0..self.view.len())
            .filter_map(|pos| self.row(pos))
            .flat_map(|r| {
                let ex = &r.exchange;
                std::iter::once(&ex.request)
                    .chain(ex.reply.as_ref())
                    .chain(ex.errors.iter())
                    .flat_map(|leg| leg.journey.hops.iter().map(|h| (h.point, h.frame)))
            })
            .collect();
        out.sort_unstable_by_key(|&(p, f)| (f, p.0));
        out.dedup();
        out
    }

    /// vtrace's analysis of every frame of the exchanges shown, as their pcapng comments.
    pub fn shown_comments(&self) -> frames::Comments {
        let points = self.order.len().max(self.points.len());
        (0..self.view.len())
            .filter_map(|pos| self.row(pos))
            .flat_map(|r| frame_comments(&r.exchange, points))
            .map(|(p, f, c)| ((p, f), c))
            .collect()
    }

    /// `w`: write the frames of the exchanges shown to a new pcapng file in `write_dir`; the
    /// footer says what was written where, or what went wrong.
    pub(super) fn write_shown(&mut self) {
        let Some(source) = self.frames.clone() else {
            self.message = Some("w: no captured frames to write from".into());
            return;
        };
        let shown = self.view.len();
        if shown == 0 {
            self.message = Some("w: no exchange shown, nothing to write".into());
            return;
        }
        let wanted = self.shown_frames();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let path = frames::file_name(&self.write_dir, self.zone, now);
        let comments = self.shown_comments();
        self.message = Some(match source.write_pcapng(&wanted, &comments, &path) {
            Ok(w) => {
                let mut m =
                    format!("wrote {} frames of {shown} exchanges to {}", w.frames, path.display());
                if w.missing > 0 {
                    m.push_str(&format!(" ({} older frames no longer kept)", w.missing));
                }
                m
            }
            Err(e) => format!("w: {e:#}"),
        });
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::core::line::PointIdx;
    use crate::tui::action::{Action, InputMode};
    use crate::tui::frames::FrameSource;
    use crate::tui::state::tests::{echo, state_with};

    /// A frame source that records what it was asked for.
    #[derive(Debug, Default)]
    struct Recorder(std::sync::Mutex<Vec<(Vec<FrameRef>, std::path::PathBuf)>>);

    impl FrameSource for Recorder {
        fn write_pcapng(
            &self,
            wanted: &[FrameRef],
            _: &frames::Comments,
            path: &std::path::Path,
        ) -> anyhow::Result<frames::Written> {
            if let Ok(mut calls) = self.0.lock() {
                calls.push((wanted.to_vec(), path.to_path_buf()));
            }
            if wanted.len() > 6 {
                anyhow::bail!("disk full");
            }
            Ok(frames::Written { frames: wanted.len() as u64 - 1, missing: 1 })
        }
    }

    #[test]
    fn w_writes_the_frames_of_the_exchanges_shown() {
        use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
        let w = crate::tui::action::action_for(
            KeyEvent::new(KeyCode::Char('w'), KeyModifiers::NONE),
            InputMode::Normal,
        );
        assert_eq!(w, Some(Action::Write));
        let mut s = state_with(12, 100);
        s.update(Action::Write);
        assert_eq!(s.message.as_deref(), Some("w: no captured frames to write from"));
        let recorder = Arc::new(Recorder::default());
        s.frames = Some(recorder.clone());
        s.write_dir = std::path::PathBuf::from("/nonexistent-dir");
        // Only seq 1 and 10..=12 are shown; their hops (request and reply) name frame 1 at
        // point 0 in this fake: one frame, asked for once.
        s.update(Action::StartFilter);
        for c in "seq 1".chars() {
            s.update(Action::FilterChar(c));
        }
        s.update(Action::FilterApply);
        s.update(Action::Write);
        let calls = recorder.0.lock().map(|c| c.clone()).unwrap_or_default();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].0, vec![(PointIdx(0), 1)]);
        // Each frame of the exchanges shown carries vtrace's analysis as its comment (every
        // hop of this fake names the same frame: one of them).
        let comments = s.shown_comments();
        let c = comments.get(&(PointIdx(0), 1)).cloned().unwrap_or_default();
        assert!(c.starts_with("echo id 1 seq ") && c.contains(" hop "), "{comments:?}");
        assert!(calls[0].1.to_string_lossy().starts_with("/nonexistent-dir/vtrace-"));
        let msg = s.message.clone().unwrap_or_default();
        assert!(msg.starts_with("wrote 0 frames of 4 exchanges to /nonexistent-dir/vtrace-"));
        assert!(msg.ends_with(".pcapng (1 older frames no longer kept)"), "{msg}");
        // The next key clears the message.
        s.update(Action::Down);
        assert_eq!(s.message, None);
    }

    #[test]
    fn a_failed_write_is_shown_not_raised() {
        let mut s = TuiState::new("test", 10);
        for seq in 1..=8u16 {
            let mut ex = echo(seq, Some(1));
            ex.request.journey.hops[1].frame = u64::from(seq) + 100;
            s.push_exchange(&ex);
        }
        s.frames = Some(Arc::new(Recorder::default()));
        s.update(Action::Write);
        assert_eq!(s.message.as_deref(), Some("w: disk full"));
        s.update(Action::Clear);
        s.update(Action::Write);
        assert_eq!(s.message.as_deref(), Some("w: no exchange shown, nothing to write"));
    }
}
