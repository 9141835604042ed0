//! Bounded memory of the live path (root: `watch` needs the lab's namespaces): a synthetic capture
//! of the lab is fed through the live session at full speed (`VTRACE_REPLAY`, the session's debug
//! input in place of libpcap), once with N echo exchanges and once with 4×N spread over an hour.
//! Every exchange must come out, and the bounded structures (the reorder buffer) and the peak
//! resident memory must not grow with the length of the input. Sizes, not timings.

#![cfg(feature = "root-tests")]

use std::path::{Path, PathBuf};
use std::process::Command;

use etherparse::PacketBuilder;
use vtrace::core::frame::LinkType;
use vtrace::core::lab::{LabOptions, LabSpec};
use vtrace::sys::lab::LabGuard;
use vtrace::sys::pcapfile::{PcapngWriter, WriterInterface};

const BIN: &str = env!("CARGO_BIN_EXE_vtrace");

struct Lab {
    guard: LabGuard,
}

impl Lab {
    fn up(tag: &str) -> Lab {
        let opts = LabOptions {
            prefix: format!("m{}{tag}-", std::process::id()),
            ..LabOptions::default()
        };
        let spec = LabSpec::from_options(&opts).unwrap_or_else(|e| panic!("lab spec: {e}"));
        let guard = LabGuard::adopt(&spec);
        if let Err(e) = vtrace::sys::lab::lab_up(&spec, None) {
            panic!("lab up: {e}");
        }
        Lab { guard }
    }

    fn container(&self, n: usize) -> String {
        self.guard.spec().containers.get(n - 1).map(|c| c.netns.clone()).unwrap_or_default()
    }
}

/// A file removed on drop.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

const MAC1: [u8; 6] = [2, 0x42, 172, 18, 0, 2];
const MAC2: [u8; 6] = [2, 0x42, 172, 18, 0, 3];

fn echo_frame(request: bool, seq: u16) -> Vec<u8> {
    let (src, dst, smac, dmac) = if request {
        ([172, 18, 0, 2], [172, 18, 0, 3], MAC1, MAC2)
    } else {
        ([172, 18, 0, 3], [172, 18, 0, 2], MAC2, MAC1)
    };
    let b = PacketBuilder::ethernet2(smac, dmac).ipv4(src, dst, 64);
    let b = if request { b.icmpv4_echo_request(7, seq) } else { b.icmpv4_echo_reply(7, seq) };
    let payload = [0u8; 56];
    let mut out = Vec::with_capacity(b.size(payload.len()));
    b.write(&mut out, &payload).expect("build frame");
    out
}

/// `echoes` echo exchanges, one every `gap_ns`, each request crossing the five points forwards
/// and its reply backwards (10 frames), as vtrace's own capture of the lab records them.
fn capture(path: &Path, echoes: u64, gap_ns: u64) {
    let names = ["nginx-1/eth0", "host/veth1", "host/docker0", "host/veth2", "nginx-2/eth0"];
    let ifaces: Vec<WriterInterface> = names
        .iter()
        .map(|n| WriterInterface {
            linktype: LinkType::ETHERNET,
            name: (*n).into(),
            description: String::new(),
            snaplen: 0,
        })
        .collect();
    let file = std::fs::File::create(path).expect("create capture");
    let mut w = PcapngWriter::new(file, &ifaces).expect("pcapng header");
    let start = 1_764_254_840_000_000_000u64;
    for i in 0..echoes {
        let t0 = start + i * gap_ns;
        let seq = (i % 65_536) as u16;
        let (req, rep) = (echo_frame(true, seq), echo_frame(false, seq));
        for p in 0..5u32 {
            let t = t0 + u64::from(p) * 5_000;
            w.write_packet(p, t, &req, req.len() as u32).expect("write");
        }
        for p in (0..5u32).rev() {
            let t = t0 + 60_000 + u64::from(4 - p) * 5_000;
            w.write_packet(p, t, &rep, rep.len() as u32).expect("write");
        }
    }
    w.finish().expect("finish capture");
}

/// What a replay says on stderr: frames, peak reorder buffer, peak RSS (kB).
#[derive(Debug)]
struct Replayed {
    frames: u64,
    peak_pending: u64,
    rss_kb: u64,
    sent: u64,
    received: u64,
}

fn replay(lab: &Lab, file: &Path) -> Replayed {
    let out = Command::new(BIN)
        .args(["watch", &lab.container(1), &lab.container(2), "--json"])
        .args(["--no-netfilter", "--no-drop-reasons"])
        .env("VTRACE_REPLAY", file)
        .output()
        .expect("run vtrace watch");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let line = stderr
        .lines()
        .find_map(|l| l.strip_prefix("vtrace: replay: "))
        .unwrap_or_else(|| panic!("no replay line: {stderr}"));
    let num = |key: &str| -> u64 {
        let before = line.split(key).next().unwrap_or("");
        before.split_whitespace().last().and_then(|n| n.parse().ok()).unwrap_or(u64::MAX)
    };
    let rss = line.rsplit("peak RSS ").next().unwrap_or("");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    Replayed {
        frames: num(" frames,"),
        peak_pending: line
            .split("peak reorder buffer ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(u64::MAX),
        rss_kb: rss.split_whitespace().next().and_then(|n| n.parse().ok()).unwrap_or(u64::MAX),
        sent: json["verdict"]["sent"].as_u64().unwrap_or(0),
        received: json["verdict"]["received"].as_u64().unwrap_or(0),
    }
}

#[test]
fn a_long_replay_through_the_live_path_stays_bounded() {
    let lab = Lab::up("rp");
    let dir = std::env::temp_dir();
    let short = TempFile(dir.join(format!("vtrace-mem-{}-short.pcapng", std::process::id())));
    let long = TempFile(dir.join(format!("vtrace-mem-{}-long.pcapng", std::process::id())));
    const N: u64 = 20_000;
    // 200 000 frames over 2 s, then 800 000 over an hour.
    capture(&short.0, N, 100_000);
    capture(&long.0, 4 * N, 3_600_000_000_000 / (4 * N));
    let a = replay(&lab, &short.0);
    let b = replay(&lab, &long.0);
    eprintln!("short: {a:?}\nlong: {b:?}");
    assert_eq!((a.frames, a.sent, a.received), (10 * N, N, N), "every echo traced: {a:?}");
    assert_eq!((b.frames, b.sent, b.received), (40 * N, 4 * N, 4 * N), "every echo traced: {b:?}");
    // The reorder buffer holds what one pump takes from the captures (32 batches of 512
    // frames) plus the last 30 ms of traffic (3 000 frames in the short file): never the input.
    for r in [&a, &b] {
        assert!(r.peak_pending <= 2 * 32 * 512, "reorder buffer grew: {r:?}");
    }
    // Four times the input over an hour: the same peak memory, give or take allocator noise.
    assert!(b.rss_kb <= a.rss_kb + 8 * 1024, "peak RSS grew with the input: {a:?} → {b:?}");
    assert!(b.rss_kb < 64 * 1024, "peak RSS {} kB", b.rss_kb);
}
