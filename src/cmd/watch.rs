//! `vtrace watch ENDPOINT…`: passive live tracing. Captures on every point of the path between
//! consecutive endpoints (or on one endpoint's own interfaces), and reports the ARP and ICMP
//! exchanges the containers make themselves as they settle, until Ctrl-C or `--duration`.
//! TCP connection starts and UDP are captured and correlated too (counted as other journeys).
//!
//! Netfilter decisions and kernel drop reasons are traced as in `ping`, for the flow between each
//! endpoint and the next (`--no-netfilter`, `--no-drop-reasons` turn them off).
//!
//! Orchestration only: the trace is `session::trace`'s; this file picks the points, the flows and
//! the filter, and sends nothing.

use std::collections::HashSet;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};

use crate::cmd::live::{LiveFlags, Output, with_tui};
use crate::cmd::ping::{locate, tell};
use crate::cmd::tunnel_filter::through_tunnels;
use crate::core::diagnosis::ProbeFacts;
use crate::core::path::{Path, PathPoint, Role, Target, path};
use crate::core::topology::{LinkKind, NsIdx, Topology};
use crate::error::Outcome;
use crate::session::trace::{Flow, Plan, Trace};
use crate::sys::dropmon::Starting;
use crate::sys::netlink::discover_paths;
use crate::sys::nftrace::DROP_PROTOCOLS;
use crate::sys::stop::Stop;

/// What `vtrace watch` was asked.
#[derive(Debug, Clone)]
pub struct Watch {
    /// The endpoints; the path from each to the next is captured.
    pub endpoints: Vec<String>,
    /// Stop after this long (else at Ctrl-C).
    pub duration: Option<Duration>,
    /// Capture filter in place of the endpoints' ARP, ICMP, TCP and UDP.
    pub filter: Option<String>,
    /// How long a packet may take across the points, and a reply to follow its request.
    pub window: Duration,
    pub flags: LiveFlags,
}

pub fn run(args: &Watch, stop: &Stop) -> Result<Outcome> {
    if args.flags.wants_tui() {
        let (owned, s) = (args.clone(), stop.clone());
        let command = format!("watch {}", args.endpoints.join(" "));
        return with_tui(command, &args.flags, stop, move |out| watch(&owned, out, &s));
    }
    watch(args, Output::Stream { json: args.flags.json, zone: args.flags.zone }, stop)
}

/// Watch until stopped or `--duration`, reporting to `output`.
fn watch(args: &Watch, output: Output, stop: &Stop) -> Result<Outcome> {
    // The runtimes are asked about bare names while the namespaces are discovered.
    let ahead = crate::sys::endpoint::prefetch(&args.endpoints);
    // The drop monitor's set-up waits for the kernel: it runs while the rest is made.
    let drops = args.flags.netfilter.drop_reasons.then(|| Starting::begin(&DROP_PROTOCOLS));
    let mut topo = discover_paths().context("discovering the network namespaces")?;
    ahead.wait();
    let mut located: Vec<(NsIdx, Option<IpAddr>)> = Vec::new();
    for spec in &args.endpoints {
        let (ep, idx) = locate(&topo, spec, located.last().map(|l| l.0))?;
        ep.relabel(&mut topo, idx);
        tell(&ep, &output);
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
    let filter = args
        .filter
        .clone()
        .unwrap_or_else(|| through_tunnels(default_filter(&hosts), &topo, &points, &hosts));
    let window_ns = u64::try_from(args.window.as_nanos()).unwrap_or(u64::MAX).max(1);
    // Netfilter tracing of the flow between each endpoint and the next (one drop-reason
    // monitor for all).
    let flows = paths
        .iter()
        .zip(located.windows(2))
        .enumerate()
        .filter_map(|(i, (p, pair))| {
            let [(a, a_ip), (b, b_ip)] = pair else { return None };
            let a_ip = a_ip.or_else(|| first_ip(&topo, *a, &hosts))?;
            let b_ip = b_ip.or_else(|| first_ip(&topo, *b, &hosts))?;
            let mut opts = args.flags.netfilter;
            opts.drop_reasons &= i == 0;
            Some(Flow { points: &p.points, src: Some(a_ip), dst: b_ip, opts })
        })
        .collect();
    let cfg = args.flags.config(window_ns, &output);
    let (report, tap, started) = output.wire(&topo, &points, cfg.snaplen);
    let plan = Plan {
        topo: &topo,
        points: &points,
        path: paths.first(),
        filter: &filter,
        flows,
        service: None,
        published: None,
        proxy: None,
        drops,
    };
    let mut trace = Trace::start(plan, &cfg, report, tap, None)?;
    started();
    let start = Instant::now();
    while !stop.requested() && !trace.ended() && args.duration.is_none_or(|d| start.elapsed() < d) {
        trace.pump()?;
    }
    let verdict = trace.conclude(ProbeFacts::default(), None)?;
    Ok(if verdict.lost() { Outcome::NotReached } else { Outcome::Success })
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
                    turn: false,
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
