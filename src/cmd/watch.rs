//! `vtrace watch ENDPOINT…`: passive live tracing. Captures on every point of the path between
//! consecutive endpoints (or on one endpoint's own interfaces), and reports the ARP and ICMP
//! exchanges the containers make themselves as they settle, until Ctrl-C or `--duration`.
//! TCP connection starts and UDP are captured and correlated too (counted as other journeys).
//!
//! Netfilter decisions and kernel drop reasons are traced as in `ping`, for the flow between each
//! endpoint and the next (`--no-netfilter`, `--no-drop-reasons` turn them off).
//!
//! Orchestration only: the live session is `cmd::ping`'s [`Live`]; this file picks the points
//! and the filter, and sends nothing.

use std::collections::HashSet;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use clap::Args;

use crate::cli::parse_duration;
use crate::cmd::live::{Live, Output, catch_sigint, interrupted, wants_tui, with_tui};
use crate::cmd::netfilter;
use crate::cmd::ping::{locate, relabel};
use crate::core::diagnosis::{self, ProbeFacts};
use crate::core::path::{Path, PathPoint, Role, Target, path};
use crate::core::topology::{LinkKind, NsIdx, Topology};
use crate::core::verdict::{Cause, Verdict};
use crate::error::Outcome;
use crate::report::clock::Zone;
use crate::sys::netlink::discover;
use crate::sys::nftrace::{NfSession, Options, sidecar};

/// Options of `vtrace watch`.
#[derive(Debug, Clone, Args)]
pub struct WatchArgs {
    /// The containers to watch: NAME (netns, then Docker container), netns:NAME, docker:NAME,
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
    pub out: crate::cmd::live::TraceFlags,
    #[command(flatten)]
    pub live: crate::cmd::live::LiveOptions,
}

pub fn run(args: &WatchArgs, zone: Zone) -> Result<Outcome> {
    catch_sigint();
    crate::cmd::live::configure(&args.live);
    if wants_tui(args.out.json, args.out.no_tui) {
        let args = args.clone();
        let command = format!("watch {}", args.endpoints.join(" "));
        return with_tui(command, zone, move |out| watch(&args, out));
    }
    watch(args, Output::Stream { json: args.out.json, zone })
}

/// Watch until interrupted or `--duration`, reporting to `output`.
fn watch(args: &WatchArgs, output: Output) -> Result<Outcome> {
    let mut topo = discover().context("discovering the network namespaces")?;
    let mut located: Vec<(NsIdx, Option<IpAddr>)> = Vec::new();
    for spec in &args.endpoints {
        let (ep, idx) = locate(&topo, spec, located.last().map(|l| l.0))?;
        relabel(&mut topo, idx, &ep.label);
        located.push((idx, ep.ip));
    }
    let mut paths: Vec<Path> = Vec::new();
    for pair in located.windows(2) {
        if let [(a, _), (b, ip)] = pair {
            let target = ip.map_or(Target::Ns(*b), Target::Ip);
            paths.push(
                path(&topo, *a, target)
                    .map_err(|e| anyhow!(e))
                    .context("path between endpoints")?,
            );
        }
    }
    let points = match paths.as_slice() {
        [] => own_points(&topo, located.first().map_or(NsIdx(0), |l| l.0)),
        _ => union(&paths),
    };
    if points.is_empty() {
        return Err(anyhow!("nothing to capture on: the endpoint has no interface but loopback"));
    }
    let hosts = host_ips(&topo, &located);
    let filter = args.filter.clone().unwrap_or_else(|| default_filter(&hosts));
    let window_ns = u64::try_from(args.window.as_nanos()).unwrap_or(u64::MAX).max(1);
    let quiet = matches!(output, Output::Tui { .. });
    // Netfilter tracing of the flow between each endpoint and the next, alongside the captures
    // (one drop-reason monitor for all), and the qdiscs' drop counters before and after.
    // A netfilter trace left next to the file by an earlier run must not be replayed with this
    // one's captures.
    if let Some(file) = &args.out.write {
        sidecar::remove(file)?;
    }
    let (sessions, live, qdiscs_before) = std::thread::scope(|s| {
        let sessions = s.spawn(|| {
            paths
                .iter()
                .zip(located.windows(2))
                .enumerate()
                .filter_map(|(i, (p, pair))| {
                    let [(a, a_ip), (b, b_ip)] = pair else { return None };
                    let a_ip = a_ip.or_else(|| first_ip(&topo, *a, &hosts))?;
                    let b_ip = b_ip.or_else(|| first_ip(&topo, *b, &hosts))?;
                    let opts = Options {
                        netfilter: !args.out.no_netfilter,
                        drop_reasons: !args.out.no_drop_reasons && i == 0,
                    };
                    netfilter::start(&topo, &p.points, Some(a_ip), b_ip, opts, quiet)
                })
                .collect::<Vec<NfSession>>()
        });
        let qdiscs = s.spawn(|| netfilter::qdisc_counts(&topo, &points));
        let live =
            Live::start(&topo, &points, &filter, args.out.write.as_deref(), output, window_ns);
        (sessions.join().unwrap_or_default(), live, qdiscs.join().unwrap_or_default())
    });
    let mut live = live?;
    let start = Instant::now();
    while !interrupted() && args.duration.is_none_or(|d| start.elapsed() < d) {
        live.pump()?;
        for nf in &sessions {
            live.add_netfilter_events(nf.drain());
            live.add_kernel_drops(nf.drain_drops());
        }
    }
    for nf in &sessions {
        live.add_netfilter_events(nf.drain());
        live.add_kernel_drops(nf.drain_drops());
    }
    let nf_traced = !sessions.is_empty();
    let (done, mut traced) = netfilter::finish_with(live, sessions, quiet)?;
    let mut verdict = done.verdict();
    // The qdiscs whose drop counters rose during the trace (tc-drop), read again only when
    // something was lost or the trace is kept.
    if let Some(path) = paths.first().filter(|_| !verdict.reachable || args.out.write.is_some()) {
        let after = netfilter::qdisc_counts(&topo, &points);
        traced.qdisc_rises = diagnosis::qdisc_rises(path, &qdiscs_before, &after);
    }
    let tc_drop = |verdict: &Verdict| {
        let path = paths.first().filter(|_| !verdict.reachable)?;
        diagnosis::tc_drop_on_path(path, verdict, &traced.qdisc_rises)
    };
    let diagnosis = netfilter::diagnose(&topo, &points, &traced, &verdict)
        .or_else(|| tc_drop(&verdict))
        .or_else(|| {
            (!verdict.reachable)
                .then(|| {
                    diagnosis::diagnose(&topo, paths.first(), &verdict, &ProbeFacts::default())
                })
                .flatten()
        });
    if let Some(d) = diagnosis {
        diagnosis::apply(&mut verdict, &d);
    }
    netfilter::name_kernel_drop(&topo, &points, done.netfilter.lost_drops(), &mut verdict);
    // The netfilter side of the trace, for `vtrace analyze FILE` to replay (after the report:
    // failing to keep it must not cost the report).
    let keep = args.out.write.as_ref().filter(|_| nf_traced || !traced.qdisc_rises.is_empty());
    if keep.is_some() {
        traced.drops.extend(done.netfilter.drops().iter().cloned());
        traced.drops.sort_by_key(|d| d.t_ns);
    }
    done.write(&verdict)?;
    if let Some(file) = keep {
        sidecar::write(file, &traced)?;
    }
    let quiet = verdict.sent == 0 && verdict.cause == Cause::Unknown;
    Ok(if verdict.reachable || quiet { Outcome::Success } else { Outcome::NotReached })
}

/// The points of several paths in order, each once.
fn union(paths: &[Path]) -> Vec<PathPoint> {
    let mut seen = HashSet::new();
    paths
        .iter()
        .flat_map(|p| p.points.iter())
        .filter(|p| seen.insert(p.point_id.clone()))
        .cloned()
        .collect()
}

/// One endpoint alone: its interfaces other than loopback.
fn own_points(topo: &Topology, idx: NsIdx) -> Vec<PathPoint> {
    topo.ns(idx)
        .map(|ns| {
            ns.links
                .iter()
                .filter(|l| l.kind != LinkKind::Loopback)
                .map(|l| PathPoint {
                    ns: idx,
                    point_id: topo.point_id(idx, l.ifindex),
                    ifname: l.name.clone(),
                    ifindex: l.ifindex,
                    role: Role::Endpoint,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The endpoints' addresses: the one given, or every address of their namespace.
fn host_ips(topo: &Topology, located: &[(NsIdx, Option<IpAddr>)]) -> Vec<IpAddr> {
    let mut ips: Vec<IpAddr> = located
        .iter()
        .flat_map(|&(idx, ip)| match ip {
            Some(ip) => vec![ip],
            None => topo
                .ns(idx)
                .map(|ns| {
                    ns.links
                        .iter()
                        .filter(|l| l.kind != LinkKind::Loopback)
                        .flat_map(|l| l.addrs.iter().map(|a| a.ip))
                        .filter(|ip| !ip.is_loopback() && !is_link_local(ip))
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect();
    ips.sort();
    ips.dedup();
    ips
}

/// An endpoint's first address among the watched hosts (the flow netfilter traces).
fn first_ip(topo: &Topology, idx: NsIdx, hosts: &[IpAddr]) -> Option<IpAddr> {
    let ns = topo.ns(idx)?;
    ns.links.iter().flat_map(|l| l.addrs.iter().map(|a| a.ip)).find(|ip| hosts.contains(ip))
}

fn is_link_local(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => v6.segments().first().is_some_and(|s| s & 0xffc0 == 0xfe80),
    }
}

/// ARP, ICMP, TCP connection starts and ends, and UDP of the given hosts.
pub fn default_filter(hosts: &[IpAddr]) -> String {
    let traffic = "(arp or icmp or icmp6 or udp or tcp)";
    if hosts.is_empty() {
        return traffic.to_owned();
    }
    let hosts: Vec<String> = hosts.iter().map(|h| format!("host {h}")).collect();
    format!("{traffic} and ({})", hosts.join(" or "))
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    #[test]
    fn the_default_filter_scopes_traffic_to_the_hosts() {
        let a = IpAddr::V4(Ipv4Addr::new(172, 18, 0, 2));
        let b = IpAddr::V4(Ipv4Addr::new(172, 18, 0, 3));
        assert_eq!(
            default_filter(&[a, b]),
            "(arp or icmp or icmp6 or udp or tcp) and (host 172.18.0.2 or host 172.18.0.3)"
        );
        assert!(!default_filter(&[]).contains("host"));
    }

    #[test]
    fn link_local_addresses_are_not_hosts() {
        assert!(is_link_local(&"fe80::1".parse().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))));
        assert!(!is_link_local(&IpAddr::V4(Ipv4Addr::new(172, 18, 0, 2))));
    }
}
