//! The TUI drawn from fixture captures through the core (CaptureReader → decode → Analysis →
//! TuiState), on ratatui's TestBackend at 80×24 and 120×40, compared with insta snapshots
//! (tests/snapshots). No threads, no sleeps, no terminal.

use std::path::{Path, PathBuf};

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use vtrace::core::decode::decode;
use vtrace::core::journey::Observation;
use vtrace::core::line::PointIdx;
use vtrace::sys::pcapfile::CaptureReader;
use vtrace::tui::action::Action;
use vtrace::tui::load::Loader;
use vtrace::tui::state::TuiState;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(name)
}

/// The scenario's points (LABEL=FILE, path order) read into one state, observations merged by
/// time as `analyze` merges them (ties: the earlier point first).
fn load(name: &str) -> TuiState {
    let dir = fixture(name);
    let points = std::fs::read_to_string(dir.join("points")).expect("points file");
    let mut loader = Loader::new("analyze (5 capture files)", 1_000_000_000, 1000);
    let mut all: Vec<Observation> = Vec::new();
    for (i, line) in points.lines().filter(|l| !l.trim().is_empty()).enumerate() {
        let (label, file) = line.split_once('=').expect("LABEL=FILE");
        loader.add_point(label, "");
        let mut reader = CaptureReader::open(&dir.join(file)).expect("open capture");
        let point = PointIdx(u16::try_from(i).expect("few points"));
        while let Some(frame) = reader.next_frame().expect("read frame") {
            let (t_ns, packet) = (frame.t_ns, decode(&frame));
            let frame = reader.frames_read();
            all.push(Observation { point, t_ns, frame, packet });
        }
    }
    all.sort_by_key(|o| o.t_ns);
    for obs in &all {
        loader.ingest(obs);
    }
    loader.finish(&[0; 5])
}

fn draw(state: &TuiState, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test terminal");
    terminal.draw(|f| f.render_widget(state, f.area())).expect("draw");
    terminal
}

fn snapshots(name: &str, state: &TuiState) {
    for (w, h) in [(80, 24), (120, 40)] {
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), draw(state, w, h).backend());
    }
}

/// The text of row `y` of the screen.
fn row(terminal: &Terminal<TestBackend>, y: u16) -> String {
    let buf = terminal.backend().buffer();
    (0..buf.area.width).filter_map(|x| buf.cell((x, y)).map(|c| c.symbol().to_owned())).collect()
}

fn screen(terminal: &Terminal<TestBackend>) -> Vec<String> {
    (0..terminal.backend().buffer().area.height).map(|y| row(terminal, y)).collect()
}

#[test]
fn healthy_ping() {
    let state = load("healthy");
    assert_eq!((state.shown(), state.stats.echoes, state.stats.answered), (4, 3, 3));
    snapshots("healthy", &state);
}

#[test]
fn lost_echo() {
    let state = load("veth-down");
    assert_eq!((state.stats.echoes, state.stats.answered), (3, 0));
    snapshots("veth_down", &state);
    // The ✗ sits on the segment between host/docker0 and host/vetha9356e9.
    let t = draw(&state, 120, 40);
    let lines = screen(&t);
    let ids = lines
        .iter()
        .find(|l| l.contains("nginx-1/eth0") && l.contains("nginx-2/eth0"))
        .expect("ladder point ids");
    let col = |l: &str, s: &str| l.find(s).map(|b| l[..b].chars().count());
    let docker0 = col(ids, "host/docker0").expect("docker0");
    let veth = col(ids, "host/vetha9356e9").expect("vetha9356e9");
    let request = lines.iter().find(|l| l.starts_with("│request")).expect("request leg");
    let cross = col(request, "✗").expect("✗ on the request leg");
    assert!(docker0 < cross && cross < veth, "✗ at {cross}, not between {docker0} and {veth}");
}

#[test]
fn unanswered_arp() {
    let state = load("veth-down-cold");
    assert_eq!(state.verdict.as_ref().map(|v| v.cause.as_str()), Some("no-arp-reply"));
    snapshots("veth_down_cold", &state);
}

#[test]
fn empty_start() {
    let state = TuiState::new("ping nginx-1 nginx-2", 1000);
    snapshots("empty", &state);
}

#[test]
fn details_and_help_overlay() {
    let mut state = load("healthy");
    state.update(Action::Up);
    state.update(Action::ToggleDetails);
    state.update(Action::NextPane);
    state.update(Action::Right);
    insta::assert_snapshot!("healthy_details_120x40", draw(&state, 120, 40).backend());
    state.update(Action::ToggleHelp);
    insta::assert_snapshot!("healthy_help_80x24", draw(&state, 80, 24).backend());
}
