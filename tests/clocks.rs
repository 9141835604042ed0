//! Per-node captures merged on one clock: each recorded lab capture of fixtures/live (one pcapng,
//! five points) split into two "node" files by point (node 1: nginx-1/eth0, its host veth and the
//! bridge; node 2: nginx-2's host veth and nginx-2/eth0), the second file's clock shifted, then
//! `vtrace analyze n1.pcapng n2.pcapng --json` against `vtrace analyze whole.pcapng --json`: the
//! same exchanges, every journey through the same points in the same order, hop times back on the
//! first file's clock within 20 µs, no hop before the one it follows, the same verdict, and the
//! offset recovered within 20 µs and reported in `clocks`. Also: the files of one host (one file
//! per point, one clock) are left exactly as they are. The netfilter trace recorded beside the
//! capture goes with node 2's file, on node 2's clock: the verdict it gives (the rule that
//! dropped) must come out the same.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use vtrace::sys::pcapfile::{CaptureReader, PcapngWriter, WriterInterface};

const SHIFTS: [i64; 2] = [3_200_000_000, -40_000];
const TOLERANCE_NS: i64 = 20_000;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vtrace-clocks-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

/// True for the points of node 2.
fn on_node_2(if_name: &str) -> bool {
    if_name.ends_with("nginx-2/eth0") || if_name.ends_with("veth01f51ea")
}

/// Write the frames of `src` into two files by point, the second one's timestamps shifted by
/// `shift_ns`; the netfilter trace recorded beside `src` goes beside the first.
fn split(src: &Path, dir: &Path, shift_ns: i64) -> [PathBuf; 2] {
    split_by(src, dir, shift_ns, on_node_2)
}

/// [`split`] with the points of node 2 chosen by `node_2`.
fn split_by(src: &Path, dir: &Path, shift_ns: i64, node_2: fn(&str) -> bool) -> [PathBuf; 2] {
    let mut reader = CaptureReader::open(src).expect("open the fixture");
    let infos = reader.interfaces().to_vec();
    let node = |i: usize| usize::from(node_2(infos[i].name.as_deref().unwrap_or("")));
    // Per node: its interfaces as written, and each fixture interface's id in its node's file.
    let mut ifaces: [Vec<WriterInterface>; 2] = [Vec::new(), Vec::new()];
    let mut ids = Vec::new();
    for (i, info) in infos.iter().enumerate() {
        let n = node(i);
        ids.push(ifaces[n].len() as u32);
        ifaces[n].push(WriterInterface {
            linktype: info.linktype,
            name: info.name.clone().unwrap_or_default(),
            description: info.description.clone().unwrap_or_default(),
            snaplen: 0,
        });
    }
    let paths = [dir.join("n1.pcapng"), dir.join("n2.pcapng")];
    let mut writers = [0, 1].map(|n| {
        let f = std::fs::File::create(&paths[n]).expect("create a node file");
        PcapngWriter::new(f, &ifaces[n]).expect("write its header")
    });
    let mut on_2 = 0;
    while let Some(f) = reader.next_frame().expect("read the fixture") {
        let n = node(f.ifid as usize);
        on_2 += n;
        let t = if n == 1 { (i128::from(f.t_ns) + i128::from(shift_ns)) as u64 } else { f.t_ns };
        writers[n].write_packet(ids[f.ifid as usize], t, f.data, f.len).expect("write a frame");
    }
    for w in writers {
        w.finish().expect("finish a node file");
    }
    // The netfilter trace goes with node 2 when it saw traffic (its times on node 2's clock:
    // the merge must correct them too), else with node 1.
    let sidecar = PathBuf::from(format!("{}.nft.json", src.display()));
    if let Ok(text) = std::fs::read_to_string(&sidecar) {
        let mut v: Value = serde_json::from_str(&text).expect("sidecar JSON");
        let (to, shift) = if on_2 > 0 { (&paths[1], shift_ns) } else { (&paths[0], 0) };
        for key in ["events", "drops"] {
            for e in v[key].as_array_mut().into_iter().flatten() {
                let t = e["t_ns"].as_u64().expect("t_ns");
                e["t_ns"] = Value::from((i128::from(t) + i128::from(shift)) as u64);
            }
        }
        std::fs::write(format!("{}.nft.json", to.display()), v.to_string()).expect("sidecar");
    }
    paths
}

fn analyze(files: &[&Path]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_vtrace"))
        .args(["analyze", "--json"])
        .args(files)
        .output()
        .expect("run vtrace");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "analyze {files:?}: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

/// A hop as the report gives it: point, t_ns, delta_ns.
type Hop = (String, i64, i64);

/// Every journey of the report, in order of its first hop: (summary, leg, [(point, t_ns,
/// delta_ns)]).
fn journeys(report: &Value) -> Vec<(String, &'static str, Vec<Hop>)> {
    let mut out = Vec::new();
    for ex in report["exchanges"].as_array().expect("exchanges") {
        for leg in ["request", "reply"] {
            let Some(hops) = ex[leg]["hops"].as_array() else { continue };
            let hops: Vec<Hop> = hops
                .iter()
                .map(|h| {
                    let point = h["point"].as_str().expect("point").to_owned();
                    (point, h["t_ns"].as_i64().expect("t_ns"), h["delta_ns"].as_i64().expect("d"))
                })
                .collect();
            out.push((ex["summary"].as_str().unwrap_or("").to_owned(), leg, hops));
        }
    }
    out.sort_by_key(|(s, leg, hops)| (hops.first().map(|h| h.1), s.clone(), *leg));
    out
}

fn check(name: &str, shift_ns: i64) {
    let whole = fixtures().join("live").join(format!("{name}.pcapng"));
    check_split(&whole, name, shift_ns, on_node_2);
}

fn check_split(whole: &Path, name: &str, shift_ns: i64, node_2: fn(&str) -> bool) {
    let dir = scratch(&format!("{name}{shift_ns}"));
    let [n1, n2] = split_by(whole, &dir, shift_ns, node_2);
    let one = analyze(&[whole]);
    let two = analyze(&[&n1, &n2]);
    let what = format!("{name} shifted by {shift_ns} ns");

    let (a, b) = (journeys(&one), journeys(&two));
    assert_eq!(a.len(), b.len(), "{what}: journeys");
    for ((sa, la, ha), (sb, lb, hb)) in a.iter().zip(&b) {
        assert_eq!((sa, la), (sb, lb), "{what}: exchange");
        let pa: Vec<&str> = ha.iter().map(|h| h.0.as_str()).collect();
        let pb: Vec<&str> = hb.iter().map(|h| h.0.as_str()).collect();
        assert_eq!(pa, pb, "{what}: {sa} {la}: hop order");
        for ((p, ta, _), (_, tb, db)) in ha.iter().zip(hb) {
            assert!((ta - tb).abs() <= TOLERANCE_NS, "{what}: {sa} {la} at {p}: {ta} vs {tb}");
            assert!(*db >= 0, "{what}: {sa} {la} at {p}: negative delta {db}");
        }
        // Corrected times never go back along a journey.
        assert!(hb.windows(2).all(|w| w[0].1 <= w[1].1), "{what}: {sa} {la}: {hb:?}");
    }
    for key in ["cause", "segment", "sent", "received", "reachable"] {
        assert_eq!(one["verdict"][key], two["verdict"][key], "{what}: verdict {key}");
    }
    let points = |r: &Value| {
        r["points"].as_array().map(|p| p.iter().map(|p| p["id"].clone()).collect::<Vec<_>>())
    };
    assert_eq!(points(&one), points(&two), "{what}: points in path order");

    let clocks = two["clocks"].as_array().expect("clocks");
    assert_eq!(clocks.len(), 2, "{what}: {clocks:?}");
    assert_eq!(clocks[0]["offset_ns"], 0);
    assert_eq!(clocks[0]["file"], n1.display().to_string());
    assert_eq!(clocks[1]["file"], n2.display().to_string());
    // A node whose packets never reached the other has nothing to measure: only the captures
    // where both saw traffic must recover the shift.
    if clocks[1]["basis"] != "no-common-packets" {
        let offset = clocks[1]["offset_ns"].as_i64().expect("offset_ns");
        let unc = clocks[1]["uncertainty_ns"].as_i64().expect("uncertainty_ns");
        assert!((offset - shift_ns).abs() <= TOLERANCE_NS, "{what}: offset {offset}");
        assert!((offset - shift_ns).abs() <= unc, "{what}: {offset} ± {unc}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn measurable(name: &str) {
    for shift in SHIFTS {
        check(name, shift);
    }
}

#[test]
fn healthy_node_files_merge_on_one_clock() {
    measurable("healthy");
    // Text: the correction is said.
    let dir = scratch("text");
    let [n1, n2] = split(&fixtures().join("live/healthy.pcapng"), &dir, 3_200_000_000);
    let out = Command::new(env!("CARGO_BIN_EXE_vtrace"))
        .arg("analyze")
        .args([&n1, &n2])
        .output()
        .expect("run vtrace");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.contains("n2.pcapng")).unwrap_or_default();
    assert!(line.contains("clock +3.200") && line.contains("corrected"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The overlay lab's two nodes (fixtures/overlay/healthy.pcapng, recorded by
/// fixtures/record-overlay.sh): node 2 is its own namespace, its underlay, tunnel, bridge and
/// veth, and nginx-2. The same inner packet leaves node 1's underlay and enters node 2's.
#[test]
fn overlay_node_files_merge_on_one_clock() {
    let whole = fixtures().join("overlay/healthy.pcapng");
    let node_2 = |name: &str| name.starts_with("node-2/") || name == "nginx-2/eth0";
    for shift in SHIFTS {
        check_split(&whole, "overlay", shift, node_2);
    }
    // The tunnel's hops keep their encapsulation across the merge.
    let dir = scratch("overlay-encap");
    let [n1, n2] = split_by(&whole, &dir, 3_200_000_000, node_2);
    let two = analyze(&[&n1, &n2]);
    let encap: Vec<&Value> = two["exchanges"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["kind"] == "icmp-echo")
        .flat_map(|e| e["request"]["hops"].as_array().into_iter().flatten())
        .filter(|h| h.get("encap").is_some())
        .collect();
    assert_eq!(encap.len(), 10, "two underlay hops for each of the 5 echoes: {two}");
    assert!(encap.iter().all(|h| h["encap"]["vni"] == 42), "{two}");
    assert_eq!(two["clocks"][1]["basis"], "both-ways", "measured, not assumed: {two}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn faulty_node_files_merge_on_one_clock() {
    for name in ["forward-drop", "input-drop", "mtu", "link-down", "no-arp-reply", "tc-drop"] {
        measurable(name);
    }
}

/// One file per point of one host (the fixtures of fixtures/healthy): every clock agrees, none
/// is shifted, and the text says nothing of clocks.
#[test]
fn files_of_one_host_keep_their_timestamps() {
    let dir = fixtures().join("healthy");
    let files: Vec<PathBuf> = std::fs::read_to_string(dir.join("points"))
        .expect("points")
        .lines()
        .filter_map(|l| l.split_once('=').map(|(_, f)| dir.join(f)))
        .collect();
    let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let report = analyze(&refs);
    for c in report["clocks"].as_array().expect("clocks") {
        assert_eq!(c["offset_ns"], 0, "{c}");
        assert!(c["uncertainty_ns"].as_u64().is_some(), "{c}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_vtrace"))
        .arg("analyze")
        .args(&files)
        .output()
        .expect("run vtrace");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("clocks relative"));
}
