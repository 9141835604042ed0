//! The TUI drawn from fixture captures through the core (CaptureReader → decode → Analysis →
//! TuiState), on ratatui's TestBackend at 80×24 and 120×40, compared with insta snapshots
//! (tests/snapshots). No threads, no sleeps, no terminal.

use std::path::{Path, PathBuf};

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use vtrace::core::decode::decode;
use vtrace::core::journey::Observation;
use vtrace::core::line::PointIdx;
use vtrace::report::clock::Zone;
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
        loader.add_point(label, None);
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
    let mut state = loader.finish(&[0; 5]);
    // The snapshots show times of day: in UTC, whatever the zone of the machine.
    state.zone = Zone::Utc;
    state
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

/// Resident memory of this process, in MiB (Linux).
fn rss_mib() -> f64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: f64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0.0);
    pages * 4096.0 / (1024.0 * 1024.0)
}

/// `cargo test --release --test tui -- --ignored --nocapture draw_benchmark`: one frame at
/// 120×40 with 100 000 exchanges loaded (the healthy fixture's, repeated), median of 200 draws.
#[test]
#[ignore]
fn draw_benchmark() {
    let healthy = load("healthy");
    let exchanges: Vec<_> =
        (0..healthy.shown()).filter_map(|i| healthy.row(i)).map(|r| r.exchange.clone()).collect();
    let before = rss_mib();
    let mut state = TuiState::new("bench", 100_000);
    for row in &healthy.points {
        state.push_point(row.clone());
    }
    for i in 0..100_000 {
        state.push_exchange(&exchanges[i % exchanges.len()]);
    }
    let loaded = rss_mib() - before;
    state.update(Action::PageUp);
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).expect("test terminal");
    let mut times: Vec<f64> = (0..200)
        .map(|i| {
            if i % 2 == 0 {
                state.update(Action::Up);
            }
            let t = std::time::Instant::now();
            terminal.draw(|f| f.render_widget(&state, f.area())).expect("draw");
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    println!(
        "draw 120x40 with {} exchanges: median {median:.3} ms, max {:.3} ms; state ~{loaded:.0} MiB",
        state.shown(),
        times[times.len() - 1]
    );
    if !cfg!(debug_assertions) {
        assert!(median < 5.0, "median draw {median:.3} ms ≥ 5 ms");
    }
}

/// The event loop on a TestBackend: exchanges arrive over the feed channel while scripted keys
/// come in; `q` ends it. No terminal, no threads, no sleeps.
#[test]
fn the_event_loop_applies_the_feed_and_quits_on_q() {
    use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
    use vtrace::tui::Feed;

    let healthy = load("healthy");
    let (tx, rx) = std::sync::mpsc::channel();
    for row in &healthy.points {
        tx.send(Feed::Point(row.clone())).expect("send");
    }
    for i in 0..healthy.shown() {
        let ex = healthy.row(i).expect("row").exchange.clone();
        tx.send(Feed::Exchange(Box::new(ex))).expect("send");
    }
    let mut state = TuiState::new("ping nginx-1 nginx-2", 100);
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).expect("test terminal");
    let mut script = vec![None, Some('k'), None, Some('q')].into_iter();
    let mut draws = 0;
    let stop = vtrace::sys::stop::Stop::new();
    vtrace::tui::event_loop::run_on(&mut terminal, &mut state, Some(rx), &stop, |timeout| {
        draws += usize::from(!timeout.is_zero());
        let key = |c| Event::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
        Ok(script.next().flatten().map(key))
    })
    .expect("event loop");
    assert!(state.quit);
    assert_eq!((state.points.len(), state.shown(), state.stats.answered), (5, 4, 3));
    // `k` came after the feed: the selection moved up from the newest exchange.
    assert_eq!(state.selected(), Some(2));
    assert!(draws >= 3, "drew {draws} times");
}

/// Without a terminal on stdout, `--tui` says so and exits 2.
#[test]
fn tui_without_a_terminal_is_a_clear_error() {
    let dir = fixture("healthy");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vtrace"))
        .args(["analyze", "--tui"])
        .arg(dir.join("1-nginx-1_eth0.pcap"))
        .output()
        .expect("run vtrace");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--tui needs a terminal"), "{stderr}");
}

/// Tiny and odd terminal sizes draw without panicking, with every pane open.
#[test]
fn any_size_draws() {
    let mut state = load("veth-down");
    state.update(Action::ToggleDetails);
    state.update(Action::ToggleHelp);
    for (w, h) in [(1, 1), (2, 30), (10, 5), (20, 12), (40, 8), (300, 3), (79, 100)] {
        let t = draw(&state, w, h);
        assert_eq!(t.backend().buffer().area.width, w);
    }
}

/// `w` in `analyze --tui`: the frames of the exchanges shown (after a filter) are read again from
/// the capture files and written to a pcapng that reads back with exactly those frames, each on
/// its capture point's interface, in time order.
#[test]
fn w_writes_the_shown_exchanges_frames_to_a_pcapng() {
    use std::sync::Arc;
    use vtrace::tui::frames::CaptureFiles;

    let dir = fixture("healthy");
    let mut state = load("healthy");
    let points = std::fs::read_to_string(dir.join("points")).expect("points file");
    let files = points
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (label, file) = l.split_once('=').expect("LABEL=FILE");
            (dir.join(file), Some(label.to_owned()))
        })
        .collect();
    let ids: Vec<String> = state.points.iter().map(|p| p.id.clone()).collect();
    state.frames = Some(Arc::new(CaptureFiles { files, points: ids.clone() }));
    let out = std::env::temp_dir().join(format!("vtrace-tui-w-{}", std::process::id()));
    std::fs::create_dir_all(&out).expect("out dir");
    state.write_dir = out.clone();

    // The echoes only: the ARP exchange is filtered out.
    state.update(Action::StartFilter);
    for c in "echo".chars() {
        state.update(Action::FilterChar(c));
    }
    state.update(Action::FilterApply);
    assert_eq!(state.shown(), 3);
    let mut expect: Vec<(u32, u64)> = (0..state.shown())
        .filter_map(|i| state.row(i))
        .flat_map(|r| {
            let ex = &r.exchange;
            std::iter::once(&ex.request)
                .chain(ex.reply.as_ref())
                .flat_map(|l| l.journey.hops.iter().map(|h| (u32::from(h.point.0), h.t_ns)))
                .collect::<Vec<_>>()
        })
        .collect();
    expect.sort_by_key(|&(p, t)| (t, p));
    assert_eq!(expect.len(), 30, "3 echoes × 5 hops × 2 legs");

    state.update(Action::Write);
    let msg = state.message.clone().unwrap_or_default();
    let written = msg
        .strip_prefix("wrote 30 frames of 3 exchanges to ")
        .unwrap_or_else(|| panic!("status line: {msg}"));
    let mut reader = CaptureReader::open(Path::new(written)).expect("open the written file");
    let mut got: Vec<(u32, u64)> = Vec::new();
    let mut icmp = 0;
    while let Some(frame) = reader.next_frame().expect("read back") {
        got.push((frame.ifid, frame.t_ns));
        icmp += usize::from(decode(&frame).icmp.is_some());
    }
    let names: Vec<Option<String>> = reader.interfaces().iter().map(|i| i.name.clone()).collect();
    let _ = std::fs::remove_dir_all(&out);
    assert_eq!(got, expect, "the frames of the shown exchanges, in time order");
    assert_eq!(icmp, 30, "every frame written is an ICMP echo or reply");
    assert_eq!(names, ids.into_iter().map(Some).collect::<Vec<_>>());
}
