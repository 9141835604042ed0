//! Splits a multi-interface capture into per-node files, as if each node had captured its own
//! points on its own clock: benchmark input for `vtrace analyze n1.pcapng n2.pcapng` (see
//! bench/clocks.sh) and a way to try the clock correction by hand.
//!
//! `--node IF,IF…` names the interfaces (by index in the source) of each node after the first;
//! the first node gets every other interface. `--shift NS` shifts the clock of each node after
//! the first (one value per `--node`, in order; negative values allowed).
//!
//!     cargo run --release --example split_capture -- big.pcapng --node 3,4 --shift 3200000000 \
//!         --out n1.pcapng --out n2.pcapng

use std::fs::File;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Parser;
use vtrace::sys::pcapfile::{CaptureReader, PcapngWriter, WriterInterface};

#[derive(Debug, Parser)]
#[command(about = "Split a multi-interface capture into per-node files with shifted clocks")]
struct Args {
    /// The capture to split (pcap or pcapng).
    input: PathBuf,
    /// The interfaces of one more node, by index (comma-separated); repeat per node.
    #[arg(long)]
    node: Vec<String>,
    /// The clock shift of each node after the first, in ns (one per --node).
    #[arg(long, allow_hyphen_values = true)]
    shift: Vec<i64>,
    /// The output files, one per node (the first node's first).
    #[arg(long)]
    out: Vec<PathBuf>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let nodes: Vec<Vec<usize>> = args
        .node
        .iter()
        .map(|n| n.split(',').map(|i| i.trim().parse::<usize>()).collect())
        .collect::<Result<_, _>>()
        .context("--node takes interface indexes")?;
    let count = nodes.len() + 1;
    if args.out.len() != count {
        bail!("give one --out per node ({count})");
    }
    let mut reader = CaptureReader::open(&args.input)?;
    let infos = reader.interfaces().to_vec();
    let node_of = |i: usize| nodes.iter().position(|n| n.contains(&i)).map_or(0, |n| n + 1);
    let mut ifaces: Vec<Vec<WriterInterface>> = vec![Vec::new(); count];
    let mut ids = Vec::new();
    for (i, info) in infos.iter().enumerate() {
        let n = node_of(i);
        ids.push(ifaces[n].len() as u32);
        ifaces[n].push(WriterInterface {
            linktype: info.linktype,
            name: info.name.clone().unwrap_or_else(|| format!("if{i}")),
            description: info.description.clone().unwrap_or_default(),
            snaplen: 0,
        });
    }
    let mut writers = Vec::new();
    for (path, ifs) in args.out.iter().zip(&ifaces) {
        let f = File::create(path).with_context(|| format!("creating {}", path.display()))?;
        writers.push(PcapngWriter::new(f, ifs)?);
    }
    let mut counts = vec![0u64; count];
    while let Some(f) = reader.next_frame()? {
        let n = node_of(f.ifid as usize);
        counts[n] += 1;
        let shift = if n == 0 { 0 } else { args.shift.get(n - 1).copied().unwrap_or(0) };
        let t = u64::try_from((i128::from(f.t_ns) + i128::from(shift)).max(0)).unwrap_or(u64::MAX);
        writers[n].write_packet(ids[f.ifid as usize], t, f.data, f.len)?;
    }
    for ((w, path), n) in writers.into_iter().zip(&args.out).zip(counts) {
        w.finish()?;
        println!("{}: {n} frames", path.display());
    }
    Ok(())
}
