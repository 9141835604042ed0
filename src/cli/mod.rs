//! The command line: the only module that knows clap. Its types are the low-level arguments;
//! each becomes the plain configuration of its command in `cmd` (ripgrep's low-level →
//! high-level args), and [`main`] maps the outcome to the exit code.

mod lab;
mod trace;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::report::clock::Zone;

use crate::error::{ERROR_EXIT, Outcome, is_broken_pipe};

/// Trace packets hop by hop through the virtual networks that connect Linux containers.
///
/// Exit status: 0 success (every echo answered), 1 traced but unreachable or lost, 2 error.
#[derive(Debug, Parser)]
#[command(name = "vtrace", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Show times of day (and name `w`'s files) in UTC instead of local time.
    #[arg(long, global = true)]
    pub utc: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Analyse capture files offline: journeys hop by hop, exchanges and a verdict.
    ///
    /// Give one multi-interface pcapng (from vtrace, dumpcap or tshark), whose interface names
    /// become the capture points, or one file per capture point with --point LABEL=FILE, in path
    /// order. The format is read from the file's magic number (pcap or pcapng), never its name.
    #[command(after_help = "Examples:\n  \
        vtrace analyze trace.pcapng\n  \
        vtrace analyze --json trace.pcapng | jq .verdict\n  \
        vtrace analyze --point nginx-1/eth0=a.pcap --point host/br0=b.pcap --point nginx-2/eth0=c.pcap\n  \
        vtrace analyze --packets --json capture.pcap")]
    Analyze(AnalyzeArgs),
    /// Build, remove or inspect the lab: container namespaces joined by veth pairs to a bridge,
    /// like Docker's default network (`lab up`, `lab down`, `lab status`), or with --overlay two
    /// nodes whose containers talk through a VXLAN tunnel.
    Lab(lab::LabArgs),
    /// Show the network across namespaces: interfaces, routes, bridges, ARP and FDB tables, and
    /// each veth joined to its peer in the other namespace.
    ///
    /// Without endpoints: every namespace (named, Docker, processes', the host's). With
    /// endpoints: their namespaces and those connecting them, and the capture points from each
    /// endpoint to the next. Needs root (entering namespaces: CAP_SYS_ADMIN).
    ///
    /// When Docker runs: container namespaces carry the containers' names, and each Docker
    /// network is shown with its bridge, its ports and the container behind each veth (what
    /// `docker network inspect` and `brctl show` say together). Podman's networks,
    /// containerd's containers and Kubernetes pods (grouped by the bridge behind them) are
    /// shown the same way, their namespaces (`netns-<uuid>`, `cni-<uuid>`) named after them.
    /// VXLAN devices show their VNI, UDP port, local and remote endpoints and underlay device,
    /// and their FDB entries the remote endpoint each MAC is tunnelled to.
    #[command(
        after_help = "Endpoints: NAME (a netns, or a container or pod of any runtime; a name \
        several match is an error naming the prefix of each), netns:NAME, docker:NAME, \
        podman:NAME, containerd:[NAMESPACE/]ID (containerd's namespace, default by default; \
        CONTAINERD_ADDRESS names its socket), pod:[NAMESPACE/]NAME (a Kubernetes pod, found in \
        containerd's k8s.io namespace or by crictl; default namespace by default), pid:PID, \
        path:FILE, or an IP address.\n\nExamples:\n  \
        vtrace topo\n  \
        vtrace topo nginx-1 nginx-2\n  \
        vtrace topo podman:web pod:kube-system/coredns\n  \
        vtrace topo --json | jq '.veth_links'"
    )]
    Topo(TopoArgs),
    /// Send ICMP echoes from SRC to DST and trace every packet hop by hop: capture on every
    /// point of the path (each inside its namespace), correlate ARP and ICMP across them, and
    /// say where and why packets stopped. Needs root (CAP_NET_RAW, CAP_SYS_ADMIN).
    #[command(
        after_help = "Endpoints: NAME (a netns, or a container or pod of any runtime; a name \
        several match is an error naming the prefix of each), netns:NAME, docker:NAME, \
        podman:NAME, containerd:[NAMESPACE/]ID (containerd's namespace, default by default; \
        CONTAINERD_ADDRESS names its socket), pod:[NAMESPACE/]NAME (a Kubernetes pod, found in \
        containerd's k8s.io namespace or by crictl; default namespace by default), pid:PID, \
        path:FILE; DST may also be an IP address.\n\nExit status: 0 every echo answered, \
        1 not, 2 error.\n\nExamples:\n  \
        vtrace ping nginx-1 nginx-2\n  \
        vtrace ping nginx-1 172.18.0.3 -c 1 --json | jq .verdict\n  \
        vtrace ping nginx-1 nginx-2 --fresh-arp --write trace.pcapng\n  \
        vtrace ping nginx-1 nginx-2 -s 1472 --df\n  \
        vtrace ping nginx-1 nginx-2 -s 1472 --df   (after `vtrace lab up --overlay`: the \
        tunnel's MTU, with the arithmetic)\n  \
        vtrace ping nginx-1 nginx-2 --tcp 80\n  \
        vtrace ping podman:web containerd:db\n  \
        vtrace ping pod:default/web pod:shop/api\n  \
        vtrace ping nginx-1 nginx-2 --udp 53 --payload hello"
    )]
    Ping(trace::PingArgs),
    /// Trace, passively, what the containers send themselves: ARP, ICMP, TCP connection starts
    /// and UDP, captured on every point of the path between the endpoints and reported exchange
    /// by exchange as they settle, until Ctrl-C or --duration. Needs root.
    #[command(after_help = "Examples:\n  \
        vtrace watch nginx-1 nginx-2\n  \
        vtrace watch nginx-1 nginx-2 --duration 10s --json\n  \
        vtrace watch nginx-1 nginx-2 --write traffic.pcapng")]
    Watch(trace::WatchArgs),
    /// The whole story in one command: build the two-container lab (nginx-1, nginx-2, a bridge),
    /// trace `ping nginx-1 nginx-2 --fresh-arp` hop by hop (interactive on a terminal, text
    /// otherwise), and remove the lab however the trace ends. Needs root.
    #[command(after_help = "Examples:\n  \
        vtrace demo\n  \
        vtrace demo --no-tui -c 3\n  \
        vtrace demo --json | jq .verdict\n  \
        vtrace demo --tcp 80")]
    Demo(trace::DemoArgs),
    /// Remove what killed vtrace runs left behind: nftables tables `vtrace_<pid>_<n>` in every
    /// namespace and tracefs instances `vtrace_<pid>` whose process is gone, and recover the
    /// capture of a `--write FILE` killed with SIGKILL (its FILE.tmp becomes FILE, without
    /// vtrace's analysis). Needs root.
    Cleanup(CleanupArgs),
}

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// Capture files (pcap or pcapng); each interface of each file is a capture point.
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// A capture point given as LABEL=FILE (one point per file), e.g. nginx-1/eth0=n1.pcap.
    /// Repeat in path order, from the source to the destination.
    #[arg(long = "point", value_name = "LABEL=FILE", value_parser = parse_point)]
    pub points: Vec<(String, PathBuf)>,
    /// List every decoded packet (like `tcpdump -n`) instead of the hop-by-hop report.
    #[arg(long)]
    pub packets: bool,
    /// Print JSON: the report as one object, or with --packets one object per packet per line.
    #[arg(long)]
    pub json: bool,
    /// Open the interactive view on the analysed captures (needs a terminal).
    #[arg(long, conflicts_with_all = ["json", "packets"])]
    pub tui: bool,
    /// With --tui: exchanges the interactive view keeps (the oldest are forgotten first).
    #[arg(long, value_name = "N", requires = "tui",
          default_value_t = crate::tui::state::DEFAULT_CAPACITY,
          value_parser = trace::parse_ring)]
    pub ring: usize,
    /// How long a packet may take from its first capture point to its last, and a reply to
    /// follow its request (e.g. 1s, 250ms). Bounds memory however long the capture.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_duration)]
    pub window: Duration,
}

#[derive(Debug, Args)]
pub struct TopoArgs {
    /// Endpoints to show (and the path between consecutive ones); all namespaces when none.
    #[arg(value_name = "ENDPOINT")]
    pub endpoints: Vec<String>,
    /// Print one JSON object (namespaces, veth_links, paths, docker_networks) instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CleanupArgs {
    /// Only list what would be removed.
    #[arg(long)]
    pub dry_run: bool,
    /// Also remove every lab recorded in /run/vtrace, as `vtrace lab down --prefix P` does for
    /// each: what an interrupted `lab up` half-built, and labs that are still up.
    #[arg(long)]
    pub labs: bool,
}

impl From<Command> for crate::cmd::Command {
    fn from(c: Command) -> Self {
        use crate::cmd::{Command as C, analyze, cleanup, topo};
        match c {
            Command::Analyze(a) => C::Analyze(analyze::Analyze {
                files: a
                    .files
                    .into_iter()
                    .map(|f| (None, f))
                    .chain(a.points.into_iter().map(|(label, f)| (Some(label), f)))
                    .collect(),
                packets: a.packets,
                json: a.json,
                tui: a.tui,
                ring: a.ring,
                window: a.window,
                zone: Zone::default(),
            }),
            Command::Lab(a) => C::Lab(a.into()),
            Command::Topo(a) => C::Topo(topo::Topo { endpoints: a.endpoints, json: a.json }),
            Command::Ping(a) => C::Ping(a.into()),
            Command::Watch(a) => C::Watch(a.into()),
            Command::Demo(a) => C::Demo(a.into()),
            Command::Cleanup(a) => {
                C::Cleanup(cleanup::Cleanup { dry_run: a.dry_run, labs: a.labs })
            }
        }
    }
}

fn parse_point(s: &str) -> Result<(String, PathBuf), String> {
    match s.split_once('=') {
        Some((label, file)) if !label.is_empty() && !file.is_empty() => {
            Ok((label.to_owned(), PathBuf::from(file)))
        }
        _ => Err(format!("expected LABEL=FILE (e.g. nginx-1/eth0=n1.pcap), got {s:?}")),
    }
}

/// Parse a duration as humantime does (`1s`, `250ms`, `10us`, `500ns`, `2m`, `1.5s`, `1h 30m`)
/// or a bare number of seconds (`0.5`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return s
            .parse::<f64>()
            .ok()
            .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
            .ok_or_else(|| format!("invalid duration {s:?} (e.g. 1s, 250ms, 0.5)"));
    }
    humantime::parse_duration(s)
        .map_err(|e| format!("invalid duration {s:?}: {e} (e.g. 1s, 250ms, 10us, 2m, 0.5)"))
}

/// Parse the command line, run the command, return the exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut command: crate::cmd::Command = cli.command.into();
    command.set_zone(crate::report::clock::Zone::utc_if(cli.utc));
    match crate::cmd::run(command) {
        Ok(outcome) => outcome.exit_code(),
        Err(err) if is_broken_pipe(&err) => Outcome::Success.exit_code(),
        Err(err) => {
            eprintln!("vtrace: {err:#}");
            ExitCode::from(ERROR_EXIT)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("10us"), Ok(Duration::from_micros(10)));
        assert_eq!(parse_duration("10µs"), Ok(Duration::from_micros(10)));
        assert_eq!(parse_duration("500ns"), Ok(Duration::from_nanos(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration(" 1.5ms "), Ok(Duration::from_micros(1500)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("1.2.3").is_err());
        assert_eq!(
            parse_duration("5x"),
            Err("invalid duration \"5x\": unknown time unit \"x\", supported units: ns, us/µs, \
                 ms, sec, min, hours, days, weeks, months, years (and few variations) \
                 (e.g. 1s, 250ms, 10us, 2m, 0.5)"
                .into())
        );
    }

    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
