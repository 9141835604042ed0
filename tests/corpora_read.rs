//! The capture readers against real captures nobody on this project wrote
//! (`../shared/corpora`, see its README): well-formed files must read exactly as tshark reads
//! them; malformed ones must end cleanly or with an error naming the file and offset, quickly,
//! and within a small address space. Without the corpora (a plain clone) the tests skip, saying
//! so, unless `VTRACE_REQUIRE_CORPORA=1`.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use vtrace::sys::pcapfile::{CaptureReader, ReadError};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// MANIFEST.tsv rows by file (`wf/NAME` or `mal/NAME`), as column name → value.
fn manifest(
    corpora: &Path,
) -> Result<HashMap<String, HashMap<String, String>>, Box<dyn std::error::Error>> {
    let text = std::fs::read_to_string(corpora.join("MANIFEST.tsv"))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().ok_or("empty MANIFEST.tsv")?.split('\t').collect();
    let mut rows = HashMap::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let row: HashMap<String, String> = header
            .iter()
            .zip(line.split('\t'))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let file = row.get("file").ok_or("row without file")?.clone();
        rows.insert(file, row);
    }
    Ok(rows)
}

/// Capture files in a corpus folder (not the oracles or tcpdump's expected outputs).
fn captures(corpora: &Path, dir: &str) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(corpora.join(dir))? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".tshark.tsv") && !name.ends_with(".out") {
            names.push(format!("{dir}/{name}"));
        }
    }
    names.sort();
    Ok(names)
}

/// What the reader made of one frame.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    ifid: u32,
    t_ns: u64,
    caplen: usize,
    len: u32,
}

/// A whole file as read: frames, interface count, skipped non-packet records, how it ended.
struct Read {
    frames: Vec<Seen>,
    interfaces: usize,
    non_packet: u64,
    end: Result<(), ReadError>,
}

fn read(path: &Path) -> Read {
    let mut frames = Vec::new();
    let mut reader = match CaptureReader::open(path) {
        Ok(r) => r,
        Err(e) => return Read { frames, interfaces: 0, non_packet: 0, end: Err(e) },
    };
    let end = loop {
        match reader.next_frame() {
            Ok(Some(f)) => {
                frames.push(Seen { ifid: f.ifid, t_ns: f.t_ns, caplen: f.data.len(), len: f.len })
            }
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    Read {
        frames,
        interfaces: reader.interfaces().len(),
        non_packet: reader.non_packet_records(),
        end,
    }
}

#[test]
fn well_formed_captures_read_as_tshark_reads_them() -> TestResult {
    let Some(corpora) = common::corpora() else { return Ok(()) };
    let manifest = manifest(&corpora)?;
    let files = captures(&corpora, "wf")?;
    assert_eq!(files.len(), 50, "the corpus has 50 well-formed captures");
    let mut checked_lines = 0;
    for file in &files {
        let row = manifest.get(file).ok_or_else(|| format!("{file} missing from MANIFEST.tsv"))?;
        let path = corpora.join(file);
        let Read { frames, interfaces, non_packet, end } = read(&path);
        if let Err(e) = end {
            return Err(format!("{file}: unexpected error: {e}").into());
        }
        // tshark numbers pcapng custom blocks as frames too; the reader skips them.
        let records = frames.len() as u64 + non_packet;
        assert_eq!(records.to_string(), row["packets"], "{file}: packet count");
        // A pcap file has exactly one interface; the manifest says 0 for the one "modified
        // pcap" file (its walker skipped that variant), which tcpdump and tshark read as one.
        let n_idb = if row["format"].starts_with("pcap-modified") { "1" } else { &row["n_idb"] };
        assert_eq!(interfaces.to_string(), n_idb, "{file}: interface count");
        let oracle = std::fs::read_to_string(format!("{}.tshark.tsv", path.display()))?;
        let mut lines = oracle.lines();
        let cols: Vec<&str> = lines.next().ok_or("empty oracle")?.split('\t').collect();
        let col = |name: &str| cols.iter().position(|c| c.trim_start_matches('#') == name);
        let (fno, ifid, t, cap, len) = (
            col("frame").ok_or("no frame column")?,
            col("ifid").ok_or("no ifid column")?,
            col("epoch_ns").ok_or("no epoch_ns column")?,
            col("cap_len").ok_or("no cap_len column")?,
            col("len").ok_or("no len column")?,
        );
        let mut lines = lines.filter(|l| !l.is_empty()).peekable();
        if non_packet > 0 {
            // Frame numbers would then need the positions of the custom blocks; no such file
            // has oracle lines.
            assert!(lines.peek().is_none(), "{file}: oracle lines with custom blocks");
        }
        for line in lines {
            let f: Vec<&str> = line.split('\t').collect();
            let n: usize = f[fno].parse()?;
            let seen = frames.get(n - 1).ok_or_else(|| format!("{file}: no frame {n}"))?;
            let want = Seen {
                ifid: f[ifid].parse()?,
                t_ns: f[t].parse()?,
                caplen: f[cap].parse()?,
                len: f[len].parse()?,
            };
            assert_eq!(seen, &want, "{file}: frame {n}");
            checked_lines += 1;
        }
    }
    assert_eq!(checked_lines, 2427, "oracle lines checked");
    Ok(())
}

/// Reads a file on another thread and gives up after `limit`.
fn read_with_deadline(path: PathBuf, limit: Duration) -> Option<(usize, Result<(), ReadError>)> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let r = read(&path);
        let _ = tx.send((r.frames.len(), r.end));
    });
    rx.recv_timeout(limit).ok()
}

/// Checks that reading one malformed file ended cleanly or with a proper error.
fn check_malformed(corpora: &Path, file: &str) -> Result<usize, String> {
    let path = corpora.join(file);
    let size = std::fs::metadata(&path).map_err(|e| format!("{file}: {e}"))?.len();
    let started = Instant::now();
    let (frames, end) = read_with_deadline(path.clone(), Duration::from_secs(5))
        .ok_or_else(|| format!("{file}: reading did not finish within 5 s"))?;
    assert!(started.elapsed() < Duration::from_secs(5));
    if let Err(e) = end {
        let msg = e.to_string();
        let prefix = format!("{}: ", path.display());
        assert!(msg.starts_with(&prefix), "{file}: error does not name the file: {msg}");
        assert!(
            msg.contains(&format!(" at byte offset {} ", e.offset)),
            "{file}: error does not give the offset: {msg}"
        );
        assert!(e.offset <= size, "{file}: offset {} beyond the file's {size} bytes", e.offset);
        assert_eq!(e.record as usize, frames, "{file}: records before the error");
    }
    Ok(frames)
}

#[test]
fn malformed_captures_end_cleanly_or_with_a_located_error() -> TestResult {
    let Some(corpora) = common::corpora() else { return Ok(()) };
    let manifest = manifest(&corpora)?;
    let files = captures(&corpora, "mal")?;
    assert_eq!(files.len(), 147, "the corpus has 147 malformed captures");
    for file in &files {
        let frames = check_malformed(&corpora, file)?;
        let row = manifest.get(file).ok_or_else(|| format!("{file} missing from MANIFEST.tsv"))?;
        // As many frames as tshark reads before the damage, except where tshark refuses a
        // link type it does not support (vtrace reads those frames and leaves them undecoded).
        let tshark_refuses = [
            "mal/tcpdump__juniper_monitor_invalid_cookie_length.pcap",
            "mal/tcpdump__vtp_asan.pcap",
        ];
        if !tshark_refuses.contains(&file.as_str()) {
            assert_eq!(frames.to_string(), row["packets"], "{file}: frames");
        }
    }
    Ok(())
}

/// Exact outcomes for the derived files whose damage is known.
#[test]
fn derived_malformed_captures_stop_where_the_damage_is() -> TestResult {
    let Some(corpora) = common::corpora() else { return Ok(()) };
    let cases: &[(&str, usize, Option<&str>)] = &[
        ("drv_pcap_empty0.pcap", 0, Some("not a pcap or pcapng capture")),
        ("drv_pcap_magic_only.pcap", 0, Some("the file ends inside the pcap file header")),
        ("drv_pcap_hdr_trunc20.pcap", 0, Some("the file ends inside the pcap file header")),
        ("drv_pcap_rechdr_trunc.pcap", 0, Some("the file ends inside a pcap record header")),
        ("drv_pcap_caplen_snaplen_plus1.pcap", 2, Some("the file ends inside a pcap record")),
        ("drv_pcap_caplen_gt_len.pcap", 46, None),
        ("drv_pcap_ts_backwards.pcap", 46, None),
        ("drv_pcap_swapped_magic.pcap", 0, Some("unsupported pcap version 512.1024")),
        ("drv_ng_blocklen0.pcapng", 0, Some("invalid total length 0")),
        ("drv_ng_blocklen_huge.pcapng", 0, Some("pcapng block of 4294967280 bytes exceeds")),
        ("drv_ng_epb_ifid7.pcapng", 0, Some("refers to interface 7")),
        ("drv_ng_epb_caplen_gt_origlen.pcapng", 87, None),
        ("drv_ng_epb_ts_allones.pcapng", 87, None),
        ("drv_ng_tsresol_ff.pcapng", 87, None),
        ("drv_ng_tsresol_0.pcapng", 87, None),
        ("drv_ng_unknown_block.pcapng", 87, None),
        ("drv_ng_bom_garbage.pcapng", 0, Some("unknown byte-order magic")),
        ("drv_ng_shb_only_then_garbage.pcapng", 0, Some("ends inside a pcapng block header")),
        ("drv_ng_spb_no_idb.pcapng", 0, Some("simple packet block refers to interface 0")),
    ];
    for (name, want_frames, want_err) in cases {
        let path = corpora.join("mal").join(name);
        let r = read(&path);
        assert_eq!(r.frames.len(), *want_frames, "{name}: frames");
        match (r.end, want_err) {
            (Ok(()), None) => {}
            (Err(e), Some(what)) => {
                let msg = e.to_string();
                assert!(msg.contains(what), "{name}: {msg}");
            }
            (end, _) => return Err(format!("{name}: unexpected end {end:?}").into()),
        }
    }
    Ok(())
}

/// The first EPB of drv_ng_epb_caplen_gt_origlen says 1 byte on the wire but holds 170: like
/// tshark, keep both as written.
#[test]
fn caplen_larger_than_orig_len_is_kept_as_tshark_does() -> TestResult {
    let Some(corpora) = common::corpora() else { return Ok(()) };
    let path = corpora.join("mal/drv_ng_epb_caplen_gt_origlen.pcapng");
    let r = read(&path);
    r.end?;
    let first = r.frames.first().ok_or("no frames")?;
    assert_eq!((first.caplen, first.len), (170, 1));
    Ok(())
}

const CHILD_ENV: &str = "VTRACE_CORPORA_LIMITED_CHILD";

/// Reads every malformed file in a child process whose address space is limited to 256 MiB: a
/// reader that sized an allocation by a length field would abort there.
#[test]
fn malformed_captures_read_within_256_mib_of_address_space() -> TestResult {
    if common::corpora().is_none() {
        return Ok(());
    }
    let exe = std::env::current_exe()?;
    let out = std::process::Command::new(exe)
        .args(["--exact", "limited_child", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("limited child read 147 files"),
        "child failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// The body of the test above; does nothing unless started by it (with the corpora there).
#[test]
fn limited_child() -> TestResult {
    if std::env::var_os(CHILD_ENV).is_none() {
        return Ok(());
    }
    let corpora = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpora");
    let limit = libc::rlimit { rlim_cur: 256 << 20, rlim_max: 256 << 20 };
    // SAFETY: setrlimit only reads the struct we pass.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_AS, &limit) };
    assert_eq!(rc, 0, "setrlimit failed");
    let files = captures(&corpora, "mal")?;
    for file in &files {
        let path = corpora.join(file);
        if let Err(e) = read(&path).end {
            assert!(e.to_string().contains(" at byte offset "), "{e}");
        }
    }
    println!("limited child read {} files", files.len());
    Ok(())
}
