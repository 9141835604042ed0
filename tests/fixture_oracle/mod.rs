//! What the fixture tests (tests/fixtures.rs, tests/fixtures_live.rs) compare `vtrace analyze`
//! with, all of it made outside vtrace when the fixture was recorded:
//!
//! - TShark's reading of each capture, `CAPTURE.tshark.tsv` (fixtures/oracle.sh): every frame's
//!   interface, time, ARP op and ICMP type, identifier and sequence;
//! - the report derived from those files, `expect.json` (fixtures/derive-expect.py): the exchanges
//!   with every journey's points in order and the verdict by the README's definitions;
//! - what the recording script did and what it means, `fault.json` (fixtures/faults.sh): the
//!   probe, the fault's steps, the verdict the fault means (`means`) and, for live traces with
//!   their netfilter side, what that side must name (`traced`).
//!
//! Each check takes the report `vtrace analyze --json` printed and names the fixture and the field
//! that differs.

#![allow(dead_code)] // each test file uses some of them

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};

/// What a frame is, as far as the fixtures go.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum What {
    Arp {
        op: u64,
    },
    Echo {
        ty: u64,
        id: u64,
        seq: u64,
    },
    /// Anything else (the recording scripts refuse such captures): its protocols.
    Other(String),
}

/// One frame at one point: the point's index in path order, its time (ns since the epoch) and
/// what it is.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Frame {
    pub point: usize,
    pub t_ns: u64,
    pub what: What,
}

pub fn read_json(path: &Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// `"1764255640.137389000"` → 1764255640137389000, exactly.
fn epoch_ns(text: &str) -> Option<u64> {
    let (sec, frac) = text.split_once('.').unwrap_or((text, ""));
    if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let frac = format!("{frac:0<9}");
    sec.parse::<u64>().ok()?.checked_mul(1_000_000_000)?.checked_add(frac.parse().ok()?)
}

/// The frames of `CAPTURE.tshark.tsv` as (interface id, frame); `point` is the interface id
/// (0 for a pcap, which has none).
pub fn read_oracle(capture: &Path) -> Vec<Frame> {
    let mut name = capture.as_os_str().to_owned();
    name.push(".tshark.tsv");
    let path = Path::new(&name);
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!("reading {} (make it with fixtures/oracle.sh): {e}", path.display())
    });
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split('\t').collect();
    let col = |row: &[&str], field: &str| -> String {
        let i = header
            .iter()
            .position(|h| *h == field)
            .unwrap_or_else(|| panic!("{}: no column {field}", path.display()));
        row.get(i).copied().unwrap_or("").to_owned()
    };
    let num = |row: &[&str], field: &str| -> u64 {
        col(row, field)
            .parse()
            .unwrap_or_else(|e| panic!("{}: {field} of {row:?}: {e}", path.display()))
    };
    lines
        .map(|line| {
            let row: Vec<&str> = line.split('\t').collect();
            let ifid = col(&row, "frame.interface_id");
            let point = if ifid.is_empty() { 0 } else { num(&row, "frame.interface_id") };
            let t_ns = epoch_ns(&col(&row, "frame.time_epoch"))
                .unwrap_or_else(|| panic!("{}: frame.time_epoch of {line:?}", path.display()));
            let ty = col(&row, "icmp.type");
            let what = if !col(&row, "arp.opcode").is_empty() {
                What::Arp { op: num(&row, "arp.opcode") }
            } else if ty == "0" || ty == "8" {
                What::Echo {
                    ty: num(&row, "icmp.type"),
                    id: num(&row, "icmp.ident"),
                    seq: num(&row, "icmp.seq"),
                }
            } else {
                What::Other(col(&row, "frame.protocols"))
            };
            Frame { point: usize::try_from(point).unwrap_or(usize::MAX), t_ns, what }
        })
        .collect()
}

/// The oracle of a fixture folder: each capture of its `points` file is the point of its line.
pub fn oracle_of_points(dir: &Path) -> Vec<Frame> {
    let points = std::fs::read_to_string(dir.join("points")).expect("points file");
    let files = points.lines().filter_map(|l| l.split_once('=').map(|(_, f)| f));
    files
        .enumerate()
        .flat_map(|(point, file)| {
            read_oracle(&dir.join(file)).into_iter().map(move |f| Frame { point, ..f })
        })
        .collect()
}

/// The frames of every journey of a report, as the oracle would list them.
pub fn report_frames(name: &str, report: &Value) -> Vec<Frame> {
    let ids = point_ids(report);
    let index = |p: &Value| {
        let id = p.as_str().unwrap_or("");
        ids.iter().position(|i| i == id).unwrap_or_else(|| panic!("{name}: hop at unknown {p}"))
    };
    let mut frames = Vec::new();
    for ex in exchanges(report) {
        let num = |k: &str| ex[k].as_u64().unwrap_or(u64::MAX);
        let (request, reply) = match ex["kind"].as_str() {
            Some("arp") => (What::Arp { op: 1 }, What::Arp { op: 2 }),
            Some("icmp-echo") => (
                What::Echo { ty: 8, id: num("id"), seq: num("seq") },
                What::Echo { ty: 0, id: num("id"), seq: num("seq") },
            ),
            _ => panic!("{name}: an exchange the captures do not hold: {ex}"),
        };
        for (leg, what) in [("request", request), ("reply", reply)] {
            for hop in ex[leg]["hops"].as_array().into_iter().flatten() {
                let t_ns = hop["t_ns"].as_u64().unwrap_or_else(|| panic!("{name}: t_ns of {hop}"));
                frames.push(Frame { point: index(&hop["point"]), t_ns, what: what.clone() });
            }
        }
    }
    frames
}

pub fn exchanges(report: &Value) -> Vec<Value> {
    report["exchanges"].as_array().cloned().unwrap_or_default()
}

pub fn point_ids(report: &Value) -> Vec<String> {
    let points = report["points"].as_array().into_iter().flatten();
    points.map(|p| p["id"].as_str().unwrap_or("").to_owned()).collect()
}

/// Every frame TShark read is one hop of one journey of the report, at its point, at its time to
/// the nanosecond, in the exchange of its ICMP identifier and sequence (or its ARP exchange), on
/// the request or reply leg as its type says; no hop is anything else. Each journey's `delta_ns`
/// are the differences of those times; each point's `captured` is the number of frames TShark
/// read there.
pub fn check_frames(name: &str, report: &Value, oracle: &[Frame]) {
    let mut want = oracle.to_vec();
    let mut got = report_frames(name, report);
    assert!(!got.is_empty(), "{name}: vtrace reported no journey: {report}");
    want.sort();
    got.sort();
    let missing: Vec<_> = want.iter().filter(|f| !got.contains(f)).collect();
    let extra: Vec<_> = got.iter().filter(|f| !want.contains(f)).collect();
    assert!(
        got == want,
        "{name}: the journeys' hops are not the frames TShark read\n in TShark, not in a \
         journey: {missing:?}\n in a journey, not in TShark: {extra:?}"
    );

    for ex in exchanges(report) {
        for leg in ["request", "reply"] {
            let hops = ex[leg]["hops"].as_array().cloned().unwrap_or_default();
            let mut prev = None;
            for hop in &hops {
                let t = hop["t_ns"].as_u64().unwrap_or(0);
                let want = prev.map_or(0, |p| t - p);
                assert_eq!(hop["delta_ns"], json!(want), "{name}: delta_ns of {leg} hop {hop}");
                prev = Some(t);
            }
        }
    }

    let mut per_point: BTreeMap<usize, u64> = BTreeMap::new();
    for f in oracle {
        *per_point.entry(f.point).or_default() += 1;
    }
    let points = report["points"].as_array().cloned().unwrap_or_default();
    for (i, p) in points.iter().enumerate() {
        let want = per_point.get(&i).copied().unwrap_or(0);
        assert_eq!(p["captured"], json!(want), "{name}: frames captured at {}", p["id"]);
    }
}

/// An exchange reduced to the schema of expect.json.
fn reduced(ex: &Value) -> Value {
    let points = |leg: &Value| match leg["hops"].as_array() {
        Some(hops) => hops.iter().map(|h| h["point"].clone()).collect(),
        None => Value::Null,
    };
    json!({
        "kind": ex["kind"], "id": ex["id"], "seq": ex["seq"],
        "request": points(&ex["request"]), "reply": points(&ex["reply"]), "rtt_ns": ex["rtt_ns"],
    })
}

/// `verdict.causes` without the words: `[{cause, segment, count}]`.
pub fn causes(verdict: &Value) -> Vec<Value> {
    let causes = verdict["causes"].as_array().into_iter().flatten();
    causes
        .map(|c| json!({"cause": c["cause"], "segment": c["segment"], "count": c["count"]}))
        .collect()
}

/// The report's exchanges in time order of their requests (the report streams them as they
/// settle: an answered one can come before an older lost one).
pub fn by_request_time(report: &Value) -> Vec<Value> {
    let mut all = exchanges(report);
    all.sort_by_key(|ex| ex["request"]["hops"][0]["t_ns"].as_u64());
    all
}

/// The report's exchanges (kind, id, seq, every journey's points in order, rtt; in time order of
/// their requests, as expect.json lists them) and verdict (cause, segment, sent, received,
/// reachable, causes) are those of expect.json; each cause's summary names the points of its
/// segment.
pub fn check_expect(name: &str, report: &Value, expect: &Value) {
    check_exchanges(name, report, expect);
    check_verdict(name, &report["verdict"], &expect["verdict"]);
}

/// The exchanges of [`check_expect`].
pub fn check_exchanges(name: &str, report: &Value, expect: &Value) {
    let got: Vec<Value> = by_request_time(report).iter().map(reduced).collect();
    let want = expect["exchanges"].as_array().cloned().unwrap_or_default();
    assert_eq!(
        got,
        want,
        "{name}: exchanges differ\n got: {}\nwant: {}",
        serde_json::to_string_pretty(&got).unwrap_or_default(),
        serde_json::to_string_pretty(&want).unwrap_or_default()
    );
}

/// The verdict of [`check_expect`].
pub fn check_verdict(name: &str, v: &Value, w: &Value) {
    for key in ["cause", "segment", "sent", "received", "reachable"] {
        assert_eq!(v[key], w[key], "{name}: verdict.{key} (report verdict: {v})");
    }
    assert_eq!(causes(v), w["causes"].as_array().cloned().unwrap_or_default(), "{name}: causes");
    for c in v["causes"].as_array().into_iter().flatten() {
        let summary = c["summary"].as_str().unwrap_or("");
        for end in ["after", "before"] {
            if let Some(point) = c["segment"][end].as_str() {
                assert!(summary.contains(point), "{name}: the summary of {c} names {point}");
            }
        }
    }
}

/// The verdict is what the recording's fault means (fault.json `means`): sent, received,
/// reachable, the causes with their segments and counts (a null count is one the fault does not
/// fix: any but 0), and the cause and segment of the first (`ok` and null when nothing was lost).
pub fn check_means(name: &str, verdict: &Value, fault: &Value) {
    let means = &fault["means"];
    for key in ["sent", "received", "reachable"] {
        assert_eq!(verdict[key], means[key], "{name}: verdict.{key}, the fault means {means}");
    }
    let want = means["causes"].as_array().cloned().unwrap_or_default();
    let mut got = causes(verdict);
    for (g, w) in got.iter_mut().zip(&want) {
        if w["count"].is_null() && g["count"].as_u64().is_some_and(|n| n > 0) {
            g["count"] = Value::Null;
        }
    }
    assert_eq!(got, want, "{name}: verdict.causes, the fault means {means}");
    let (cause, segment) = match want.first() {
        Some(c) => (c["cause"].clone(), c["segment"].clone()),
        None => (json!("ok"), Value::Null),
    };
    assert_eq!(verdict["cause"], cause, "{name}: verdict.cause, the fault means {means}");
    assert_eq!(verdict["segment"], segment, "{name}: verdict.segment, the fault means {means}");
}

/// The exit status the README gives a verdict: 1 when any probe was lost, else 0.
pub fn exit_code_for(expect: &Value) -> i32 {
    let lost = expect["verdict"]["causes"].as_array().is_some_and(|c| !c.is_empty());
    i32::from(lost)
}

/// The verdict line of the text report: `reachable`, `partly reachable (CAUSE)` or
/// `NOT reachable (CAUSE)`.
pub fn verdict_line(expect: &Value) -> String {
    let v = &expect["verdict"];
    let cause = v["cause"].as_str().unwrap_or("?");
    match (v["reachable"].as_bool(), exit_code_for(expect)) {
        (Some(true), 0) => "verdict: reachable — ".to_owned(),
        (Some(true), _) => format!("verdict: partly reachable ({cause}) — "),
        _ => format!("verdict: NOT reachable ({cause}) — "),
    }
}
