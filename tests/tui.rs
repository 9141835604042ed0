//! The TUI drawn from fixture captures through the core (CaptureReader → decode → Analysis →
//! TuiState), on ratatui's TestBackend at 80×24 and 120×40, compared with insta snapshots
//! (tests/snapshots). TCP connects are drawn from frames built with etherparse, decoded and fed
//! through the same pipeline. No threads, no sleeps, no terminal.

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

mod connects {
    //! `ping --tcp`: connects refused by a reset born at the target's point, accepted, or left
    //! unanswered, built as real frames on the lab's path (etherparse), decoded and analysed.

    use std::net::{IpAddr, Ipv4Addr};

    use etherparse::icmpv4::DestUnreachableHeader;
    use etherparse::{
        ArpHardwareId, ArpOperation, ArpPacket, EtherType, Icmpv4Type, PacketBuilder,
        PacketBuilderStep, TcpHeader, TcpOptionElement,
    };
    use vtrace::core::analysis::{Probe, ProbeRecord};
    use vtrace::core::exchange::ExchangeKind;
    use vtrace::core::frame::{Frame, LinkType};

    use super::*;

    const CLIENT: [u8; 4] = [172, 18, 0, 2];
    const SERVER: [u8; 4] = [172, 18, 0, 3];
    const CLIENT_MAC: [u8; 6] = [0x02, 0x42, 0xac, 0x12, 0x00, 0x02];
    const SERVER_MAC: [u8; 6] = [0x02, 0x42, 0xac, 0x12, 0x00, 0x03];
    const GATEWAY: [u8; 4] = [172, 18, 0, 1];
    const GATEWAY_MAC: [u8; 6] = [0x02, 0x42, 0x5e, 0x00, 0x00, 0x01];
    const POINTS: [&str; 5] =
        ["nginx-1/eth0", "host/veth4d1c130", "host/docker0", "host/vetha9356e9", "nginx-2/eth0"];
    /// When a packet is seen at each point after the first, along the path (ns): the bridge
    /// forwards within the same nanosecond.
    const AHEAD: [u64; 5] = [0, 7_900, 7_900, 28_000, 32_600];
    /// 2023-11-14 22:13:20 UTC.
    const T0: u64 = 1_700_000_000_000_000_000;

    /// A TCP segment, from the client when `out`, else from the server.
    fn segment(
        out: bool,
        ports: (u16, u16),
        seq: u32,
        win: u16,
        f: impl FnOnce(PacketBuilderStep<TcpHeader>) -> PacketBuilderStep<TcpHeader>,
    ) -> Vec<u8> {
        let (src, dst, smac, dmac) = if out {
            (CLIENT, SERVER, CLIENT_MAC, SERVER_MAC)
        } else {
            (SERVER, CLIENT, SERVER_MAC, CLIENT_MAC)
        };
        let builder = f(PacketBuilder::ethernet2(smac, dmac)
            .ipv4(src, dst, 64)
            .tcp(ports.0, ports.1, seq, win));
        let mut data = Vec::with_capacity(builder.size(0));
        builder.write(&mut data, &[]).expect("building a TCP segment");
        data
    }

    fn mss(step: PacketBuilderStep<TcpHeader>) -> PacketBuilderStep<TcpHeader> {
        step.options(&[TcpOptionElement::MaximumSegmentSize(1460)]).expect("the MSS option")
    }

    /// Frames seen along the path, in time order.
    #[derive(Default)]
    struct Wire {
        obs: Vec<Observation>,
    }

    impl Wire {
        /// `data` seen at the points of `path` (positions, in the order it crossed them), the
        /// first at `t`.
        fn pass(&mut self, data: &[u8], path: &[usize], t: u64) {
            let len = u32::try_from(data.len()).expect("a short frame");
            let start = path.first().map_or(0, |&p| AHEAD[p]);
            for &p in path {
                let t_ns = t + AHEAD[p].abs_diff(start);
                let frame = Frame { ifid: 0, t_ns, len, linktype: LinkType::ETHERNET, data };
                let point = PointIdx(u16::try_from(p).expect("few points"));
                let n = u64::try_from(self.obs.len()).expect("few frames") + 1;
                self.obs.push(Observation { point, t_ns, frame: n, packet: decode(&frame) });
            }
        }

        /// A connect from client port `sport` to `dport`: its SYN across the path at `t` (up to
        /// the point the answer is born at), and the answer back across it 60 µs later.
        fn connect(&mut self, sport: u16, dport: u16, t: u64, answer: Answer) {
            let isn = 1_000_000 * u32::from(dport);
            let syn = segment(true, (sport, dport), isn, 64240, |b| mss(b.syn()));
            let end = match answer {
                Answer::Reset { at } | Answer::Icmp { at } => at,
                Answer::SynAck | Answer::Nothing => 4,
            };
            self.pass(&syn, &(0..=end).collect::<Vec<_>>(), t);
            let back: Vec<usize> = (0..=end).rev().collect();
            let t = t + 60_000;
            match answer {
                Answer::SynAck => {
                    let syn_ack = segment(false, (dport, sport), 7_000_000, 65160, |b| {
                        mss(b.syn().ack(isn + 1))
                    });
                    self.pass(&syn_ack, &back, t);
                    let ack = segment(true, (sport, dport), isn + 1, 502, |b| b.ack(7_000_001));
                    self.pass(&ack, &[0, 1, 2, 3, 4], t + 40_000);
                }
                Answer::Reset { .. } => {
                    let rst = segment(false, (dport, sport), 0, 0, |b| b.rst().ack(isn + 1));
                    self.pass(&rst, &back, t);
                }
                Answer::Icmp { .. } => {
                    // The gateway's host unreachable, quoting the SYN's IP header and 8 bytes.
                    let quoted = syn.get(14..14 + 20 + 8).expect("the SYN's headers");
                    let unreachable = DestUnreachableHeader::Host;
                    let builder = PacketBuilder::ethernet2(GATEWAY_MAC, CLIENT_MAC)
                        .ipv4(GATEWAY, CLIENT, 64)
                        .icmpv4(Icmpv4Type::DestinationUnreachable(unreachable));
                    let mut data = Vec::with_capacity(builder.size(quoted.len()));
                    builder.write(&mut data, quoted).expect("building an ICMP error");
                    self.pass(&data, &back, t);
                }
                Answer::Nothing => {}
            }
        }

        /// ARP: the client asks for the server's address at `t`, the server answers, so that
        /// where the server's packets enter the path is known (its point, nginx-2/eth0).
        fn arp(&mut self, t: u64) {
            let arp = |op, sha: [u8; 6], spa: [u8; 4], tha: [u8; 6], tpa: [u8; 4]| {
                let packet = ArpPacket::new(
                    ArpHardwareId::ETHERNET,
                    EtherType::IPV4,
                    op,
                    &sha,
                    &spa,
                    &tha,
                    &tpa,
                )
                .expect("an ARP packet");
                let dst = if op == ArpOperation::REQUEST { [0xff; 6] } else { tha };
                let builder = PacketBuilder::ethernet2(sha, dst).arp(packet);
                let mut data = Vec::with_capacity(builder.size());
                builder.write(&mut data).expect("building an ARP packet");
                data
            };
            let request = arp(ArpOperation::REQUEST, CLIENT_MAC, CLIENT, [0; 6], SERVER);
            self.pass(&request, &[0, 1, 2, 3, 4], t);
            let reply = arp(ArpOperation::REPLY, SERVER_MAC, SERVER, CLIENT_MAC, CLIENT);
            self.pass(&reply, &[4, 3, 2, 1, 0], t + 50_000);
        }

        /// The state `analyze --tui` shows of these frames, with `probe` as the trace's probe.
        fn load(mut self, probe: Option<ProbeRecord>) -> TuiState {
            self.obs.sort_by_key(|o| o.t_ns);
            let mut loader = Loader::new("ping nginx-1 nginx-2 --tcp", 1_000_000_000, 1000);
            if let Some(probe) = &probe {
                loader.replay_probe(probe);
            }
            for id in POINTS {
                loader.add_point(id, None);
            }
            for obs in &self.obs {
                loader.ingest(obs);
            }
            let mut state = loader.finish(&[0; 5]);
            state.zone = Zone::Utc;
            state
        }
    }

    #[derive(Clone, Copy)]
    enum Answer {
        SynAck,
        /// A reset born at the point at this position (the target's is 4).
        Reset {
            at: usize,
        },
        /// The gateway's host unreachable, born at the point at this position.
        Icmp {
            at: usize,
        },
        Nothing,
    }

    fn probe(port: u16, received: &[u16]) -> Option<ProbeRecord> {
        let dst = IpAddr::V4(Ipv4Addr::from(SERVER));
        Some(ProbeRecord { probe: Probe::Tcp { dst, port }, received: received.to_vec() })
    }

    /// Select the (last) exchange of `kind`.
    fn select(state: &mut TuiState, kind: ExchangeKind) {
        state.update(Action::Bottom);
        for _ in 0..state.shown() {
            if state.selected_row().map(|r| r.exchange.kind) == Some(kind) {
                return;
            }
            state.update(Action::Up);
        }
        panic!("no {kind:?} exchange");
    }

    /// Port 81 of nginx-2 is closed: its stack answers the SYN with a reset, born at
    /// nginx-2/eth0. The ladder marks it `◆` there and says so; the details list the flags,
    /// numbers and window of both legs, and the MSS of the SYN.
    #[test]
    fn refused_connect() {
        let mut wire = Wire::default();
        wire.connect(40000, 81, T0, Answer::Reset { at: 4 });
        let mut state = wire.load(probe(81, &[]));
        assert_eq!(state.shown(), 1);
        let st = &state.stats;
        assert_eq!((st.connects, st.connects_refused, st.connects_answered), (1, 1, 0));
        assert_eq!(state.verdict.as_ref().map(|v| v.cause.as_str()), Some("port-closed"));
        insta::assert_snapshot!("tcp_refused_80x24", draw(&state, 80, 24).backend());

        state.update(Action::ToggleDetails);
        // The hop cursor on the reset's first hop: where it was born.
        for _ in 0..5 {
            state.update(Action::Right);
        }
        let t = draw(&state, 120, 40);
        insta::assert_snapshot!("tcp_refused_details_120x40", t.backend());
        let lines = screen(&t);
        let note = "◆ RST born at nginx-2/eth0 (the target's point): port-closed";
        assert!(lines.iter().any(|l| l.contains(note)), "{lines:#?}");
        let rst = lines.iter().find(|l| l.starts_with("│RST")).expect("the RST leg");
        let ids = lines.iter().find(|l| l.contains("host/vetha9356e9")).expect("point ids");
        let col = |l: &str, s: &str| l.find(s).map(|b| l[..b].chars().count());
        let (born, target) = (col(rst, "◆").expect("◆"), col(ids, "nginx-2/eth0").expect("id"));
        assert!(born > target && born < target + "nginx-2/eth0".len(), "◆ under nginx-2/eth0");
        for want in [
            "tcp   SYN     [S] seq 81000000 win 64240 mss 1460",
            "tcp   RST     [R.] seq 0 ack 81000001 win 0",
            "hop   RST 1/5 nginx-2/eth0",
        ] {
            assert!(lines.iter().any(|l| l.contains(want)), "{want}: {lines:#?}");
        }
    }

    /// Port 80 answers: SYN → SYN-ACK, both with their MSS, the SYN-ACK born at the target's
    /// point and received by the probe's socket.
    #[test]
    fn answered_connect() {
        let mut wire = Wire::default();
        wire.connect(40001, 80, T0, Answer::SynAck);
        let mut state = wire.load(probe(80, &[40001]));
        assert_eq!(
            state.verdict.as_ref().map(|v| (v.reachable, v.sent, v.received)),
            Some((true, 1, 1))
        );
        select(&mut state, ExchangeKind::TcpConnect);
        state.update(Action::ToggleDetails);
        let t = draw(&state, 120, 40);
        insta::assert_snapshot!("tcp_answered_details_120x40", t.backend());
        let lines = screen(&t);
        for want in [
            "◆ SYN-ACK born at nginx-2/eth0 (the target's point)",
            // Wrapped in the pane.
            "tcp   SYN-ACK [S.] seq 7000000 ack 80000001 win",
            "65160 mss 1460",
            "connects 1/1 answered, 0 refused, 0 unanswered",
        ] {
            assert!(lines.iter().any(|l| l.contains(want)), "{want}: {lines:#?}");
        }
    }

    /// A reset born on the way (host/docker0) and a gateway's ICMP error: each marked where it
    /// was born, the SYN's loss put down to them.
    #[test]
    fn refused_on_the_way() {
        let ladder = |answer| {
            let mut wire = Wire::default();
            wire.arp(T0);
            wire.connect(40000, 81, T0 + 100_000_000, answer);
            let state = wire.load(probe(81, &[]));
            let lines = screen(&draw(&state, 120, 40));
            let at = lines.iter().position(|l| l.starts_with("┌ ladder")).expect("the ladder");
            lines[at..].to_vec()
        };
        let lines = ladder(Answer::Reset { at: 2 });
        let has = |lines: &[String], s: &str| lines.iter().any(|l| l.contains(s));
        // The verdict agrees with the ladder: a reset born on the way, not the target's.
        let mut wire = Wire::default();
        wire.arp(T0);
        wire.connect(40000, 81, T0 + 100_000_000, Answer::Reset { at: 2 });
        let cause = wire.load(probe(81, &[])).verdict.map(|v| v.cause.as_str());
        assert_eq!(cause, Some("reset"));
        assert!(has(&lines, "◆ RST born at host/docker0 (on the way): reset"), "{lines:#?}");
        assert!(has(&lines, "✗ reset"), "the SYN stopped where the reset was born: {lines:#?}");
        let lines = ladder(Answer::Icmp { at: 2 });
        let note = "◆ ICMP host unreachable from 172.18.0.1 born at host/docker0 (on the way)";
        assert!(has(&lines, note), "{lines:#?}");
        assert!(lines.iter().any(|l| l.starts_with("│ICMP ")), "the answer's leg: {lines:#?}");
        assert!(has(&lines, "✗ refused"), "the SYN stopped where the error was born: {lines:#?}");
    }

    /// The header counts connects answered, refused and unanswered once the trace holds any
    /// (and echoes only when it holds echoes too).
    #[test]
    fn header_counts_connects() {
        let mut wire = Wire::default();
        wire.connect(40000, 81, T0, Answer::Reset { at: 4 });
        wire.connect(40001, 80, T0 + 100_000_000, Answer::SynAck);
        wire.connect(40002, 82, T0 + 200_000_000, Answer::Nothing);
        let state = wire.load(None);
        let st = &state.stats;
        let counts =
            (st.connects, st.connects_answered, st.connects_refused, st.connects_unanswered);
        assert_eq!(counts, (3, 1, 1, 1));
        assert_eq!(st.echoes, 0);
        let t = draw(&state, 120, 40);
        let header = row(&t, 1);
        assert!(
            header.starts_with(" connects 1/3 answered, 1 refused, 1 unanswered   rtt "),
            "{header}"
        );
        assert!(!header.contains("echoes"), "{header}");
        // A trace of echoes only keeps its echo count.
        let healthy = draw(&load("healthy"), 120, 40);
        assert!(row(&healthy, 1).starts_with(" echoes 3/3 answered"), "{}", row(&healthy, 1));
    }
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
