//! The command line of the live commands (`ping`, `watch`, `demo`): clap types, turned into the
//! plain configurations of `cmd` ([`Ping`], [`Watch`], [`Demo`], [`LiveFlags`]).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::cli::parse_duration;
use crate::cmd::demo::Demo;
use crate::cmd::live::{DEFAULT_BUFFER_MIB, LiveFlags, PROBE_BUFFER_MIB};
use crate::cmd::ping::Ping;
use crate::cmd::watch::Watch;
use crate::core::listen::Proto;
use crate::sys::capture::SNAPLEN;
use crate::tui::state::DEFAULT_CAPACITY;

/// Where `ping` and `watch` report, and what they trace besides the captures.
#[derive(Debug, Clone, Default, Args)]
pub struct TraceFlags {
    /// Keep every captured frame in one pcapng file (one interface per capture point), and the
    /// netfilter trace beside it (FILE.pcapng.nft.json) for `analyze` to replay.
    #[arg(long, value_name = "FILE.pcapng")]
    pub write: Option<PathBuf>,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Print the text report even on a terminal (where the interactive view is the default).
    #[arg(long)]
    pub no_tui: bool,
    /// Do not install netfilter tracing rules (read-only: nothing is added to any firewall).
    #[arg(long)]
    pub no_netfilter: bool,
    /// Do not watch the kernel's packet drop reasons (tracefs skb:kfree_skb).
    #[arg(long)]
    pub no_drop_reasons: bool,
}

/// Options of every live trace (`ping`, `watch`, `demo`): memory bounds.
#[derive(Debug, Clone, Args)]
pub struct LiveOptions {
    /// Exchanges the interactive view keeps (the oldest are forgotten first); `w` writes the
    /// frames of those shown, kept in a spool file of about 2 KiB per exchange.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_CAPACITY, value_parser = parse_ring)]
    pub ring: usize,
    /// Kernel capture buffer per capture point, in MiB (libpcap's -B): a burst this large is
    /// absorbed while vtrace catches up; what does not fit is counted as a capture drop.
    /// Default: 4 for watch, 1 for ping and demo (a probe's frames are few; a smaller ring is
    /// set up sooner).
    #[arg(long, value_name = "MIB", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub buffer_size: Option<u32>,
    /// Bytes kept of each frame (longer ones, jumbo or GSO frames, are cut after their
    /// headers). Each frame takes a slot of about this size in the kernel buffer.
    #[arg(long, value_name = "BYTES", default_value_t = SNAPLEN,
          value_parser = clap::value_parser!(u32).range(128..=262_144))]
    pub snaplen: u32,
    /// Read this capture file at full speed, on its own clock, in place of capturing
    /// (interface N is capture point N), and print the peak sizes on stderr: for memory tests
    /// and benchmarks.
    #[arg(long, value_name = "FILE", env = "VTRACE_REPLAY", hide = true)]
    pub replay: Option<PathBuf>,
}

/// ICMP data bytes per echo request by default (like ping).
const DEFAULT_SIZE: usize = 56;

/// A ring size: 1 to 10 million exchanges.
pub fn parse_ring(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if (1..=10_000_000).contains(&n) => Ok(n),
        _ => Err(format!("expected a number of exchanges from 1 to 10000000, got {s:?}")),
    }
}

/// `flags` of a command whose captures' kernel buffer is `buffer_mib` unless asked otherwise.
fn flags(out: TraceFlags, live: LiveOptions, buffer_mib: u32) -> LiveFlags {
    LiveFlags {
        write: out.write,
        json: out.json,
        no_tui: out.no_tui,
        netfilter: crate::sys::nftrace::Options {
            netfilter: !out.no_netfilter,
            drop_reasons: !out.no_drop_reasons,
        },
        ring: live.ring,
        buffer_mib: live.buffer_size.unwrap_or(buffer_mib),
        snaplen: live.snaplen,
        replay: live.replay,
        zone: Default::default(),
    }
}

/// Options of `vtrace ping`.
#[derive(Debug, Clone, Args)]
pub struct PingArgs {
    /// Where the echoes are sent from: NAME (a netns, or a container or pod of any runtime),
    /// netns:NAME, docker:NAME, podman:NAME, containerd:[NAMESPACE/]ID, pod:[NAMESPACE/]NAME,
    /// pid:PID, path:FILE.
    pub src: String,
    /// Where they go: the same forms, or an IP address.
    pub dst: String,
    /// Echo requests to send.
    #[arg(short = 'c', long = "count", default_value_t = 3,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub count: u16,
    /// Time between echo requests (e.g. 200ms, 1s).
    #[arg(short = 'i', long = "interval", default_value = "200ms", value_parser = parse_duration)]
    pub interval: Duration,
    /// ICMP data bytes per request (like ping -s).
    #[arg(short = 's', long = "size", default_value_t = DEFAULT_SIZE)]
    pub size: usize,
    /// Set Don't Fragment (a request larger than a link's MTU is dropped, not fragmented).
    #[arg(long)]
    pub df: bool,
    /// How long to wait for replies after the last request.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Delete SRC's neighbour (ARP) entry for the next hop first, so the ARP exchange is traced.
    #[arg(long)]
    pub fresh_arp: bool,
    /// Capture filter (tcpdump syntax) in place of the two hosts' ARP and ICMP.
    #[arg(long, value_name = "BPF")]
    pub filter: Option<String>,
    #[command(flatten)]
    pub out: TraceFlags,
    /// IPv6: ICMPv6 echoes to DST's IPv6 address (NDP in place of ARP).
    #[arg(short = '6', long = "ipv6")]
    pub ipv6: bool,
    /// Probe a TCP service instead: each probe is a real connect() to PORT from inside SRC,
    /// closed once it settles; says why a port does not answer (port-closed with what listens,
    /// netfilter-reject with the rule).
    #[arg(long, value_name = "PORT", conflicts_with_all = ["udp", "size", "df"])]
    pub tcp: Option<u16>,
    /// Probe a UDP service instead: each probe is a datagram to PORT from inside SRC; the answer
    /// is a datagram back, or an ICMP error (port unreachable: port-closed). With -s, a datagram
    /// of that many bytes (and --df: not fragmented, for `mtu`).
    #[arg(long, value_name = "PORT")]
    pub udp: Option<u16>,
    /// The datagram of --udp probes (default: "vtrace probe\n").
    #[arg(long, value_name = "TEXT", requires = "udp")]
    pub payload: Option<String>,
    #[command(flatten)]
    pub live: LiveOptions,
}

impl From<PingArgs> for Ping {
    fn from(a: PingArgs) -> Ping {
        Ping {
            src: a.src,
            dst: a.dst,
            count: a.count,
            interval: a.interval,
            size: a.size,
            df: a.df,
            timeout: a.timeout,
            fresh_arp: a.fresh_arp,
            filter: a.filter,
            ipv6: a.ipv6,
            service: match (a.tcp, a.udp) {
                (Some(port), _) => Some((Proto::Tcp, port)),
                (None, Some(port)) => Some((Proto::Udp, port)),
                (None, None) => None,
            },
            payload: a.payload.map(String::into_bytes).or_else(|| {
                // -s with --udp: a datagram of that size (the marker repeated).
                (a.udp.is_some() && a.size != DEFAULT_SIZE).then(|| {
                    crate::sys::connect::UDP_MARKER.iter().copied().cycle().take(a.size).collect()
                })
            }),
            flags: flags(a.out, a.live, PROBE_BUFFER_MIB),
        }
    }
}

/// Options of `vtrace watch`.
#[derive(Debug, Clone, Args)]
pub struct WatchArgs {
    /// The containers to watch: NAME (a netns, or a container or pod of any runtime),
    /// netns:NAME, docker:NAME, podman:NAME, containerd:[NAMESPACE/]ID, pod:[NAMESPACE/]NAME,
    /// pid:PID, path:FILE, or an IP. Two or more: the path from each to the next is captured.
    #[arg(value_name = "ENDPOINT", required = true)]
    pub endpoints: Vec<String>,
    /// Stop after this long (e.g. 10s); without it, run until Ctrl-C.
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Capture filter (tcpdump syntax) in place of the default: the endpoints' ARP, ICMP, TCP and
    /// UDP. Each TCP segment and UDP datagram is its own journey; a SYN is paired with its SYN-ACK.
    #[arg(long, value_name = "BPF")]
    pub filter: Option<String>,
    /// How long a packet may take across the points, and a reply to follow its request.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_duration)]
    pub window: Duration,
    #[command(flatten)]
    pub out: TraceFlags,
    #[command(flatten)]
    pub live: LiveOptions,
}

impl From<WatchArgs> for Watch {
    fn from(a: WatchArgs) -> Watch {
        Watch {
            endpoints: a.endpoints,
            duration: a.duration,
            filter: a.filter,
            window: a.window,
            flags: flags(a.out, a.live, DEFAULT_BUFFER_MIB),
        }
    }
}

/// Options of `vtrace demo`.
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Echo requests to send.
    #[arg(short = 'c', long = "count", default_value_t = 5,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub count: u16,
    /// Print the text report even on a terminal.
    #[arg(long)]
    pub no_tui: bool,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Connect to this TCP port of nginx-2 instead of pinging (the lab serves HTTP on port 80).
    #[arg(long, value_name = "PORT")]
    pub tcp: Option<u16>,
    #[command(flatten)]
    pub live: LiveOptions,
}

impl From<DemoArgs> for Demo {
    fn from(a: DemoArgs) -> Demo {
        let out = TraceFlags { json: a.json, no_tui: a.no_tui, ..TraceFlags::default() };
        Demo { count: a.count, tcp: a.tcp, flags: flags(out, a.live, PROBE_BUFFER_MIB) }
    }
}
