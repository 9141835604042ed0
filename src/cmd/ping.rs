//! `vtrace ping SRC DST`: resolve both endpoints, discover the path, capture on every point of it,
//! send ICMP echoes from inside SRC, and report each exchange as it settles, then the verdict.
//!
//! Orchestration only: discovery is `sys::netlink`, endpoints `sys::endpoint`, the path
//! `core::path`, captures `sys::capture`, probes `sys::probe`, correlation `core::analysis` (the
//! same pipeline as `analyze`), the diagnosis `core::diagnosis`, rendering `report::trace`.
//! Frames pass through a short reorder buffer so that the analysis and `--write` both see them
//! in timestamp order.

use std::net::IpAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow};
use clap::Args;

use crate::cli::parse_duration;
use crate::cmd::live::{Live, Output, catch_sigint, interrupted, wants_tui, with_tui};
use crate::cmd::netfilter;
use crate::core::diagnosis::{self, ProbeFacts};
use crate::core::path::{Path, PathError, PathPoint, Role, Target, path};
use crate::core::topology::{NsIdx, Topology};
use crate::core::verdict::Verdict;
use crate::error::Outcome;
use crate::report::clock::Zone;
use crate::sys::endpoint::{Endpoint, EndpointError, endpoint_of, resolve_in};
use crate::sys::netlink::discover;
use crate::sys::nftrace::sidecar;
use crate::sys::probe::{self, ProbeError, ProbeOptions, Prober};

/// Options of `vtrace ping`.
#[derive(Debug, Clone, Args)]
pub struct PingArgs {
    /// Where the echoes are sent from: NAME (netns, then Docker container), netns:NAME,
    /// docker:NAME, pid:PID, path:FILE.
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
    #[arg(short = 's', long = "size", default_value_t = 56)]
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
    pub out: crate::cmd::live::TraceFlags,
    /// IPv6: ICMPv6 echoes to DST's IPv6 address (NDP in place of ARP).
    #[arg(short = '6', long = "ipv6")]
    pub ipv6: bool,
    #[command(flatten)]
    pub live: crate::cmd::live::LiveOptions,
}

pub fn run(args: &PingArgs, zone: Zone) -> Result<Outcome> {
    catch_sigint();
    crate::cmd::live::configure(&args.live);
    if wants_tui(args.out.json, args.out.no_tui) {
        let args = args.clone();
        return with_tui(format!("ping {} → {}", args.src, args.dst), zone, move |out| {
            trace(&args, out)
        });
    }
    trace(args, Output::Stream { json: args.out.json, zone })
}

/// The trace itself, reporting to `output`.
pub(crate) fn trace(args: &PingArgs, output: Output) -> Result<Outcome> {
    let mut topo = discover().context("discovering the network namespaces")?;
    let (src, src_idx) = locate(&topo, &args.src, None)?;
    relabel(&mut topo, src_idx, &src.label);
    let target = match (locate(&topo, &args.dst, Some(src_idx)), args.dst.parse::<IpAddr>()) {
        (Ok((dst, dst_idx)), _) => {
            relabel(&mut topo, dst_idx, &dst.label);
            match dst.ip {
                Some(ip) => Target::Ip(ip),
                None if args.ipv6 => Target::Ip(ipv6_of(&topo, dst_idx).with_context(|| {
                    format!("-6: {} has no global IPv6 address (`ip -6 addr`)", dst.label)
                })?),
                None => Target::Ns(dst_idx),
            }
        }
        // An address nobody owns (any more): trace where the source sends it.
        (Err(_), Ok(ip)) => Target::Ip(ip),
        (Err(e), Err(_)) => return Err(e),
    };
    let (route, dst_ip) = match path(&topo, src_idx, target) {
        Ok(p) => {
            let ip = p.dst_ip;
            (Some(p), ip)
        }
        Err(PathError::NextHopNotFound { dst, .. }) => (first_segment(&topo, src_idx, dst), dst),
        Err(PathError::NoRoute { dst, .. } | PathError::RouteRejects { dst, .. }) => (None, dst),
        Err(e) => {
            return Err(anyhow!(e)).context(format!("path from {} to {}", src.label, args.dst));
        }
    };
    let src_ip = src_address(&topo, src_idx, route.as_ref(), dst_ip.is_ipv6());
    if args.fresh_arp {
        let next_hop = next_hop(&topo, src_idx, dst_ip);
        if let Some(nh) = next_hop {
            probe::flush_neighbour(&src.netns, nh)
                .with_context(|| format!("flushing {}'s neighbour entry for {nh}", src.label))?;
        }
    }
    let opts = ProbeOptions { dst: dst_ip, id: echo_id(), size: args.size, dont_fragment: args.df };
    let prober = Prober::open(&src.netns, &src.label, opts)?;
    let points = route.as_ref().map_or(&[][..], |p| p.points.as_slice());
    let filter = args.filter.clone().unwrap_or_else(|| default_filter(src_ip, dst_ip));
    let window_ns = u64::try_from(args.timeout.as_nanos()).unwrap_or(u64::MAX).max(1);
    let nf_opts = args.out.netfilter_options();
    let quiet = matches!(output, Output::Tui { .. });
    // The trace tables and the captures start side by side: both are ready before any echo.
    // The qdiscs' drop counters are read before and after the trace (tc-drop).
    // A netfilter trace left next to the file by an earlier run must not be replayed with this
    // one's captures.
    if let Some(file) = &args.out.write {
        sidecar::remove(file)?;
    }
    let (nf, live, qdiscs_before) = std::thread::scope(|s| {
        let nf = s.spawn(|| netfilter::start(&topo, points, src_ip, dst_ip, nf_opts, quiet));
        let qdiscs = s.spawn(|| netfilter::qdisc_counts(&topo, points));
        let live =
            Live::start(&topo, points, &filter, args.out.write.as_deref(), output, window_ns);
        (nf.join().ok().flatten(), live, qdiscs.join().unwrap_or_default())
    });
    let mut live = live?;
    let mut sent = 0u64;
    let mut no_route = false;
    let mut send_error: Option<ProbeError> = None;
    let mut last_send = Instant::now();
    let mut seq: u16 = 0;
    loop {
        let now = Instant::now();
        let interrupted = interrupted();
        if !interrupted && seq < args.count && now >= last_send + args.interval * u32::from(seq > 0)
        {
            seq += 1;
            last_send = now;
            match prober.send(seq) {
                Ok(()) => sent += 1,
                Err(e @ ProbeError::NoRoute { .. }) => {
                    no_route = true;
                    send_error.get_or_insert(e);
                }
                Err(e) => {
                    send_error.get_or_insert(e);
                }
            }
        }
        let all_sent = seq >= args.count;
        if interrupted || (all_sent && (live.answered >= sent || now >= last_send + args.timeout)) {
            break;
        }
        live.pump()?;
        if let Some(nf) = &nf {
            live.add_netfilter_events(nf.drain());
            live.add_kernel_drops(nf.drain_drops());
        }
    }
    if let Some(nf) = &nf {
        live.add_netfilter_events(nf.drain());
        live.add_kernel_drops(nf.drain_drops());
    }
    let nf_traced = nf.is_some();
    let (done, mut traced) = netfilter::finish_with(live, nf.into_iter().collect(), quiet)?;
    let mut verdict = done.verdict();
    let attempted = u64::from(seq);
    if verdict.sent < attempted {
        let old = format!("{}/{} echo replies", verdict.received, verdict.sent);
        let new = format!("{}/{attempted} echo replies", verdict.received);
        verdict.summary = verdict.summary.replacen(&old, &new, 1);
        verdict.sent = attempted;
        verdict.reachable = false;
    }
    let facts = ProbeFacts { ip_len: opts.ip_len(), dont_fragment: args.df, no_route };
    // The qdiscs whose drop counters rose during the trace (tc-drop), read again only when
    // something was lost or the trace is kept.
    if let Some(path) = route.as_ref().filter(|_| !verdict.reachable || args.out.write.is_some()) {
        let after = netfilter::qdisc_counts(&topo, points);
        traced.qdisc_rises = diagnosis::qdisc_rises(path, &qdiscs_before, &after);
    }
    let tc_drop = |verdict: &Verdict| {
        let path = route.as_ref().filter(|_| !verdict.reachable && !no_route)?;
        diagnosis::tc_drop_on_path(path, verdict, &traced.qdisc_rises)
    };
    let diagnosis = netfilter::diagnose(&topo, points, &traced, &verdict)
        .or_else(|| tc_drop(&verdict))
        .or_else(|| {
            (!verdict.reachable)
                .then(|| diagnosis::diagnose(&topo, route.as_ref(), &verdict, &facts))
                .flatten()
        });
    if let Some(d) = diagnosis {
        diagnosis::apply(&mut verdict, &d);
    }
    netfilter::name_kernel_drop(&topo, points, done.netfilter.lost_drops(), &mut verdict);
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
    if let Some(e) = send_error
        && !no_route
    {
        return Err(anyhow!(e));
    }
    Ok(if verdict.reachable { Outcome::Success } else { Outcome::NotReached })
}

/// Resolve an endpoint in the topology; an address several namespaces own resolves to the one
/// reachable from `from`.
pub(crate) fn locate(
    topo: &Topology,
    spec: &str,
    from: Option<NsIdx>,
) -> Result<(Endpoint, NsIdx)> {
    let ep = match (resolve_in(spec, topo), from) {
        (Err(EndpointError::Ambiguous { ip, owners }), Some(prev)) => {
            let reached = path(topo, prev, Target::Ip(ip)).ok();
            reached.and_then(|p| endpoint_of(topo, p.dst, Some(ip))).with_context(|| {
                format!(
                    "endpoint {spec:?}: {ip} is owned by several namespaces ({owners}), none \
                     reachable from the source"
                )
            })?
        }
        (resolved, _) => resolved.with_context(|| format!("endpoint {spec:?}"))?,
    };
    let idx = ep.find_in(topo).with_context(|| {
        format!(
            "endpoint {spec:?} ({}) was not among the discovered namespaces: did it just \
             disappear?",
            ep.netns.path().display()
        )
    })?;
    Ok((ep, idx))
}

/// Name a namespace known only by its file after the endpoint the user typed.
pub(crate) fn relabel(topo: &mut Topology, idx: NsIdx, label: &str) {
    if topo.find_label(label).is_some() {
        return;
    }
    if let Some(ns) = topo.namespaces.get_mut(idx.0)
        && matches!(
            ns.kind,
            crate::core::topology::NsKind::Docker | crate::core::topology::NsKind::Process
        )
    {
        ns.label = label.to_owned();
    }
}

/// The source's address: on the first point of the path, else the namespace's primary one.
fn src_address(topo: &Topology, src: NsIdx, route: Option<&Path>, v6: bool) -> Option<IpAddr> {
    let usable = |ip: &IpAddr| ip.is_ipv6() == v6 && !is_link_local(ip);
    let on_path = route
        .and_then(|p| p.points.first())
        .and_then(|pt| topo.link(pt.ns, pt.ifindex))
        .and_then(|l| l.addrs.iter().map(|a| a.ip).find(usable));
    on_path.or_else(|| {
        let ns = topo.ns(src)?;
        ns.links
            .iter()
            .flat_map(|l| l.addrs.iter().map(|a| a.ip))
            .find(|ip| usable(ip) && !ip.is_loopback())
    })
}

/// A namespace's first global IPv6 address.
fn ipv6_of(topo: &Topology, idx: NsIdx) -> Option<IpAddr> {
    topo.ns(idx)?
        .links
        .iter()
        .flat_map(|l| l.addrs.iter().map(|a| a.ip))
        .find(|ip| ip.is_ipv6() && !ip.is_loopback() && !is_link_local(ip))
}

fn is_link_local(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => v6.segments().first().is_some_and(|s| s & 0xffc0 == 0xfe80),
    }
}

/// When nothing owns the next hop: the points the source's packets cross towards it up to the
/// first bridge (source link, its veth peer, that peer's bridge), where an unanswered ARP ends.
fn first_segment(topo: &Topology, src: NsIdx, dst: IpAddr) -> Option<Path> {
    let dev = topo.ns(src)?.route_to(dst)?.dev?;
    let mut hops = vec![(src, dev, Role::Endpoint)];
    if let Some(peer) = topo.link(src, dev).and_then(|l| l.peer) {
        hops.push((peer.ns, peer.ifindex, Role::VethHost));
        if let Some(bridge) = topo.ns(peer.ns).and_then(|n| n.bridge_of(peer.ifindex)) {
            hops.push((peer.ns, bridge.ifindex, Role::Bridge));
        }
    }
    let points = hops
        .into_iter()
        .map(|(ns, ifindex, role)| PathPoint {
            ns,
            point_id: topo.point_id(ns, ifindex),
            ifname: topo
                .link(ns, ifindex)
                .map_or_else(|| format!("if{ifindex}"), |l| l.name.clone()),
            ifindex,
            role,
        })
        .collect::<Vec<_>>();
    let dst_ns = points.last().map_or(src, |p| p.ns);
    Some(Path { src, dst: dst_ns, dst_ip: dst, points })
}

/// The neighbour SRC resolves to reach `dst`: the gateway of its route, or `dst` on-link.
fn next_hop(topo: &Topology, src: NsIdx, dst: IpAddr) -> Option<IpAddr> {
    let route = topo.ns(src)?.route_to(dst)?;
    Some(route.gateway.unwrap_or(dst))
}

/// The two hosts' ARP and ICMP, or ICMPv6 (NDP included) for IPv6. ICMP errors from routers on
/// the way are included: they are sent to the source.
pub fn default_filter(src: Option<IpAddr>, dst: IpAddr) -> String {
    let traffic = if dst.is_ipv6() { "icmp6" } else { "(arp or icmp)" };
    match src {
        Some(s) => format!("{traffic} and (host {s} or host {dst})"),
        None => format!("{traffic} and host {dst}"),
    }
}

/// An echo id that differs between runs and processes.
fn echo_id() -> u16 {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let mixed = std::process::id().wrapping_mul(0x9e37_79b9) ^ nanos;
    (mixed >> 16) as u16 ^ (mixed as u16)
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    #[test]
    fn the_default_filter_names_both_hosts() {
        let a = IpAddr::V4(Ipv4Addr::new(172, 18, 0, 2));
        let b = IpAddr::V4(Ipv4Addr::new(172, 18, 0, 3));
        assert_eq!(
            default_filter(Some(a), b),
            "(arp or icmp) and (host 172.18.0.2 or host 172.18.0.3)"
        );
        assert_eq!(default_filter(None, b), "(arp or icmp) and host 172.18.0.3");
        let v6: IpAddr = "fd77::2".parse().unwrap_or(b);
        assert_eq!(default_filter(None, v6), "icmp6 and host fd77::2");
    }
}
