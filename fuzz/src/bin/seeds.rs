//! Writes seed inputs for the fuzz targets that do not read capture files directly:
//! `decode` (every frame of the corpora, behind its link-type selector byte), `nftrace` (real
//! trace datagrams) and `dropmon` (the kernel's `kfree_skb` format file and `trace_pipe` lines).
//!
//! `seeds CORPORA_DIR OUT_DIR` fills OUT_DIR/{decode,nftrace,dropmon}; the capture corpora are
//! read where they are, never copied.

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

use vtrace::core::frame::LinkType;
use vtrace::sys::pcapfile::CaptureReader;

/// NFNLGRP_NFTRACE datagrams of `ping 10.9.0.1 → 10.9.0.2` (the decoder's unit-test values):
/// a rule that continues, a chain policy accept, a rule drop.
const NFTRACE: [&str; 3] = [
    "a8000000110a000000000000000000000100000008000f0000000002080004000000000308000600e4b436cf080002007072650007000100767400000c00030000000000000000020c00050008000100ffffffff08000a000000000206000b00000100001800080045000054ea25400040013c6f0a0900010a0900021800090008003db66dfc0001a9fe096b00000000d50f05001200070072400ff6299eca1d58c64fc308000000",
    "44000000110a000000000000000000000100000008000f0000000002080004000000000108000600e4b436cf080002007072650007000100767400000800100000000001",
    "ac000000110a000000000000000000000200000008000f0000000002080004000000000308000600e4b436cf0a000200696e70757400000006000100660000000c00030000000000000000020c000500080001000000000008000a000000000206000b00000100001800080045000054ea25400040013c6f0a0900010a0900021800090008003db66dfc0001a9fe096b00000000d50f05001200070072400ff6299eca1d58c64fc308000000",
];

const FORMAT_FALLBACK: &str = "name: kfree_skb\nprint fmt: \"skbaddr=%p protocol=%u location=%pS reason: %s\", REC->skbaddr, REC->protocol, REC->location, __print_symbolic(REC->reason, { 2, \"NOT_SPECIFIED\" }, { 12, \"NETFILTER_DROP\" }, { 128, \"MAX\" })\n";

const LINES: [&str; 4] = [
    "            ping-4242    [001] ..s2.  5432.123456: kfree_skb: skbaddr=00000000c0ffee00 rx_sk=0000000000000000 protocol=2048 location=nft_do_chain+0x3e8/0x5a0 [nf_tables] reason: NETFILTER_DROP\n",
    "          <idle>-0       [000] b.s3.  12.000001: kfree_skb: skbaddr=ffff8881 protocol=2054 location=arp_rcv+0x1/0x2 reason: 12\n",
    "  vtrace-1 [1] .... 1.5: kfree_skb: protocol=34525 location=ip6_rcv reason: NOT_SPECIFIED\n",
    "# tracer: nop\n",
];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(corpora), Some(out)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: seeds CORPORA_DIR OUT_DIR");
        std::process::exit(2);
    };
    let out = PathBuf::from(out);
    let frames = decode_seeds(Path::new(corpora), &out.join("decode"));
    for (i, hex) in NFTRACE.iter().enumerate() {
        write(&out.join("nftrace"), &format!("kernel{i}"), &unhex(hex));
    }
    let both: Vec<u8> = NFTRACE.iter().flat_map(|h| unhex(h)).collect();
    write(&out.join("nftrace"), "kernel-all", &both);
    let format = std::fs::read_to_string("/sys/kernel/tracing/events/skb/kfree_skb/format")
        .unwrap_or_else(|_| FORMAT_FALLBACK.to_owned());
    for (i, line) in LINES.iter().enumerate() {
        let mut seed = format.as_bytes().to_vec();
        seed.push(0);
        seed.extend_from_slice(line.as_bytes());
        write(&out.join("dropmon"), &format!("line{i}"), &seed);
    }
    let mut seed = format.as_bytes().to_vec();
    seed.push(0);
    seed.extend_from_slice(&raw_page(&format));
    write(&out.join("dropmon"), "page", &seed);
    println!(
        "seeds: {frames} decode frames, {} nftrace, {} dropmon",
        NFTRACE.len() + 1,
        LINES.len() + 1
    );
}

/// A `trace_pipe_raw` page of three `kfree_skb` records (the event id from `format`, the
/// layout of Linux 6.x: location at 16, protocol at 32, reason at 36), the second after a time
/// extension.
fn raw_page(format: &str) -> Vec<u8> {
    let id: u16 = format
        .lines()
        .find_map(|l| l.strip_prefix("ID:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(1533);
    let record = |reason: u32| {
        let mut r = [0u8; 40];
        r[..2].copy_from_slice(&id.to_le_bytes());
        r[16..24].copy_from_slice(&0xffff_ffff_820c_5e13u64.to_le_bytes());
        r[32..34].copy_from_slice(&0x0800u16.to_le_bytes());
        r[36..40].copy_from_slice(&reason.to_le_bytes());
        r
    };
    let mut data = Vec::new();
    for (i, reason) in [13u32, 12, 3].into_iter().enumerate() {
        if i == 1 {
            // A time extension: type 30, then the delta's high bits.
            data.extend_from_slice(&(30u32 | 5 << 5).to_le_bytes());
            data.extend_from_slice(&2u32.to_le_bytes());
        }
        // A record of ten 32-bit words, 100 ns after the one before.
        data.extend_from_slice(&(10u32 | 100 << 5).to_le_bytes());
        data.extend_from_slice(&record(reason));
    }
    let mut page = 5_432_000_000_000u64.to_le_bytes().to_vec();
    page.extend_from_slice(&(data.len() as u64).to_le_bytes());
    page.extend_from_slice(&data);
    page.resize(4096, 0);
    page
}

/// Every distinct frame of every capture under `corpora` (recursively), at most 4000.
fn decode_seeds(corpora: &Path, out: &Path) -> usize {
    let mut files = Vec::new();
    walk(corpora, &mut files);
    files.sort();
    let mut seen = HashSet::new();
    for file in files {
        let Ok(mut reader) = CaptureReader::open(&file) else { continue };
        while let Ok(Some(frame)) = reader.next_frame() {
            let Some(sel) = LinkType::FUZZ_SELECTION.iter().position(|&l| l == frame.linktype)
            else {
                break;
            };
            let mut seed = vec![sel as u8];
            seed.extend_from_slice(frame.data);
            let mut h = DefaultHasher::new();
            seed.hash(&mut h);
            let key = h.finish();
            if seen.insert(key) {
                write(out, &format!("{key:016x}"), &seed);
            }
            if seen.len() >= 4000 {
                return seen.len();
            }
        }
    }
    seen.len()
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    for entry in rd.flatten() {
        let p = entry.path();
        if p.is_dir() {
            walk(&p, files);
        } else if !p.to_string_lossy().ends_with(".tsv") && !p.to_string_lossy().ends_with(".out") {
            files.push(p);
        }
    }
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    if std::fs::create_dir_all(dir).is_ok() {
        let _ = std::fs::write(dir.join(name), bytes);
    }
}

fn unhex(hex: &str) -> Vec<u8> {
    (0..hex.len() / 2)
        .filter_map(|i| hex.get(2 * i..2 * i + 2))
        .filter_map(|b| u8::from_str_radix(b, 16).ok())
        .collect()
}
