//! `vtrace ping SRC DST`: resolve both endpoints, discover the path, capture on every point of it,
//! send ICMP echoes from inside SRC, and report each exchange as it settles, then the verdict.
//!
//! Orchestration only: discovery is `sys::netlink`, endpoints `sys::endpoint`, the path
//! `core::path`, probes `sys::probe`, the trace and its conclusion `session::trace`, rendering
//! `report::trace` or the TUI. The probe's socket is the last point of every reply: a reply the
//! source's interface saw that never reached it was lost in the source.

use std::net::IpAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow};
use nix::errno::Errno;

use crate::cmd::live::{LiveFlags, Output, with_tui};
use crate::cmd::tunnel_filter::through_tunnels;
use crate::core::diagnosis::{ProbeFacts, Proxy};
use crate::core::listen::Proto;
use crate::core::path::{
    Path, PathError, PathPoint, Role, Target, join, path, path_until, with_branches,
};
use crate::core::topology::nat::dnat_of;
use crate::core::topology::{LinkKind, NsIdx, NsKind, Topology};
use crate::error::Outcome;
use crate::session::trace::{Flow, Plan, ProbeSocket, Trace};
use crate::sys::connect::{ServiceOptions, ServiceProber, UDP_MARKER};
use crate::sys::docker;
use crate::sys::dropmon::Starting;
use crate::sys::endpoint::{self, Endpoint, EndpointError, endpoint_of, resolve_in};
use crate::sys::netlink::discover_paths;
use crate::sys::netns::Netns;
use crate::sys::nft;
use crate::sys::nftrace::{DROP_PROTOCOLS, Options};
use crate::sys::probe::{self, ProbeError, ProbeOptions, Prober};
use crate::sys::sockdiag;
use crate::sys::stop::Stop;

/// How long after the last probe's answer reached its socket the drop monitor still reads: the
/// window in which a drop is attributed to a packet after its last sighting.
const DROPS_AFTER_ANSWERS: Duration = Duration::from_nanos(crate::core::netfilter::DROP_AFTER_NS);

/// What `vtrace ping` was asked.
#[derive(Debug, Clone)]
pub struct Ping {
    pub src: String,
    pub dst: String,
    /// Echo requests to send.
    pub count: u16,
    /// Time between echo requests.
    pub interval: Duration,
    /// ICMP data bytes per request.
    pub size: usize,
    /// Set Don't Fragment.
    pub df: bool,
    /// How long to wait for replies after the last request.
    pub timeout: Duration,
    /// Delete SRC's neighbour entry for the next hop first, so the ARP exchange is traced.
    pub fresh_arp: bool,
    /// Capture filter in place of the two hosts' ARP and ICMP.
    pub filter: Option<String>,
    /// ICMPv6 echoes to DST's IPv6 address.
    pub ipv6: bool,
    /// Probe a TCP or UDP service on this port instead of ICMP echoes.
    pub service: Option<(Proto, u16)>,
    /// The datagram of UDP probes.
    pub payload: Option<Vec<u8>>,
    pub flags: LiveFlags,
}

pub fn run(args: &Ping, stop: &Stop) -> Result<Outcome> {
    if args.flags.wants_tui() {
        let (owned, s) = (args.clone(), stop.clone());
        let command = format!("ping {} → {}", args.src, args.dst);
        return with_tui(command, &args.flags, stop, move |out| trace(&owned, out, &s));
    }
    trace(args, Output::Stream { json: args.flags.json, zone: args.flags.zone }, stop)
}

/// The trace itself, reporting to `output`.
///
/// Bare names of named namespaces are presumed to be those while the runtimes are asked about
/// them ([`Presumption`]: `podman inspect` alone takes ~100 ms, the set-up of the captures about
/// as long), and checked before the first probe leaves or an error is told. A name a runtime
/// answers to as well ends the presumption: what was set up is dropped, nothing was reported,
/// and the trace starts over as resolved (which refuses an ambiguous name as ever).
pub(crate) fn trace(args: &Ping, output: Output, stop: &Stop) -> Result<Outcome> {
    let stream = match &output {
        Output::Stream { json, zone } => Some((*json, *zone)),
        Output::Tui { .. } => None,
    };
    // The runtimes are asked about bare names while the namespaces are discovered.
    let ahead = endpoint::prefetch(&[args.src.clone(), args.dst.clone()]);
    let mut presumption = Presumption::new(args, &output, ahead);
    match (trace_with(args, output, stop, &mut presumption), stream) {
        (Err(_), Some((json, zone))) if !presumption.holds(args) => {
            let ahead = endpoint::prefetch(&[args.src.clone(), args.dst.clone()]);
            let output = Output::Stream { json, zone };
            trace_with(args, output, stop, &mut Presumption::none(ahead))
        }
        (result, _) => result,
    }
}

/// The endpoints presumed while the runtimes answer: for the source and the destination, the
/// named namespace a bare name is ([`endpoint::presumed`]), or nothing presumed.
#[derive(Debug)]
struct Presumption {
    ahead: Option<endpoint::Prefetch>,
    src: Option<Endpoint>,
    dst: Option<Endpoint>,
    /// Whether the runtimes' answers bore it out, once checked.
    held: Option<bool>,
}

impl Presumption {
    /// Nothing presumed: the answers are waited for once the namespaces are discovered.
    fn none(ahead: endpoint::Prefetch) -> Presumption {
        Presumption { ahead: Some(ahead), src: None, dst: None, held: None }
    }

    /// Presumed when every name that asks a runtime is a bare name of a named namespace, on a
    /// stream (the interactive view shows the endpoints at once) and with nothing done to them
    /// before the first probe (`--fresh-arp` flushes the source's neighbour entry).
    fn new(args: &Ping, output: &Output, ahead: endpoint::Prefetch) -> Presumption {
        let mut p = Presumption::none(ahead);
        if !matches!(output, Output::Stream { .. }) || args.fresh_arp {
            return p;
        }
        let (src, dst) = (endpoint::presumed(&args.src), endpoint::presumed(&args.dst));
        let covered =
            |spec: &str, e: &Option<Endpoint>| e.is_some() || !endpoint::asks_runtime(spec);
        if (src.is_some() || dst.is_some()) && covered(&args.src, &src) && covered(&args.dst, &dst)
        {
            (p.src, p.dst) = (src, dst);
        }
        p
    }

    /// Once the namespaces are discovered: wait for the runtimes' answers unless something is
    /// presumed.
    fn settle_unless_presumed(&mut self) {
        if self.src.is_none() && self.dst.is_none() {
            self.held = Some(true);
            if let Some(ahead) = self.ahead.take() {
                ahead.wait();
            }
        }
    }

    /// Whether the names resolve, with the runtimes' answers, to what was presumed (true when
    /// nothing was).
    fn holds(&mut self, args: &Ping) -> bool {
        if let Some(held) = self.held {
            return held;
        }
        if let Some(ahead) = self.ahead.take() {
            ahead.wait();
        }
        let agrees = |spec: &str, presumed: &Option<Endpoint>| {
            presumed.as_ref().is_none_or(|p| endpoint::resolve(spec).ok().as_ref() == Some(p))
        };
        let held = agrees(&args.src, &self.src) && agrees(&args.dst, &self.dst);
        self.held = Some(held);
        held
    }
}

fn trace_with(
    args: &Ping,
    output: Output,
    stop: &Stop,
    presumption: &mut Presumption,
) -> Result<Outcome> {
    // The drop monitor's set-up waits for the kernel: it runs while the rest is made.
    let drops = args.flags.netfilter.drop_reasons.then(|| Starting::begin(&DROP_PROTOCOLS));
    let mut topo = discover_paths().context("discovering the network namespaces")?;
    presumption.settle_unless_presumed();
    let (src, src_idx) = match presumption.src.clone() {
        Some(ep) => place(&topo, &args.src, ep)?,
        None => locate(&topo, &args.src, None)?,
    };
    src.relabel(&mut topo, src_idx);
    tell(&src, &output);
    let dst_located = match presumption.dst.clone() {
        Some(ep) => place(&topo, &args.dst, ep),
        None => locate(&topo, &args.dst, Some(src_idx)),
    };
    let target = match (dst_located, args.dst.parse::<IpAddr>()) {
        (Ok((dst, dst_idx)), _) => {
            dst.relabel(&mut topo, dst_idx);
            tell(&dst, &output);
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
    let (mut route, dst_ip) = match path(&topo, src_idx, target) {
        Ok(p) => {
            let ip = p.dst_ip;
            (Some(p), ip)
        }
        // A namespace on the way cannot go on: the points up to where it stops (its unanswered
        // ARP, its ICMP error), or the source's first segment when the source is that one.
        Err(PathError::NextHopNotFound { dst, .. }) => {
            (path_until(&topo, src_idx, dst).or_else(|| first_segment(&topo, src_idx, dst)), dst)
        }
        // The source's own interface is the one point when the source has no route: the
        // verdict says the packet died before it.
        // So is a VXLAN tunnel that cannot reach its remote endpoint, or whose far node has no
        // device of its VNI: the path ends where its packets get to.
        Err(
            e @ (PathError::NoRoute { .. }
            | PathError::RouteRejects { .. }
            | PathError::TunnelStuck { .. }
            | PathError::TunnelNoPeer { .. }),
        ) => {
            let dst = e.stuck_towards().unwrap_or(IpAddr::from([0, 0, 0, 0]));
            (path_until(&topo, src_idx, dst).or_else(|| source_only(&topo, src_idx, dst)), dst)
        }
        Err(e) => {
            return Err(anyhow!(e)).context(format!("path from {} to {}", src.label, args.dst));
        }
    };
    // A published port: the namespace the path ends in DNATs the service on to another address
    // (a container behind it), where the path goes on.
    let mut onward = match (args.service, route.as_ref()) {
        (Some((proto, port)), Some(p)) => published(&topo, p, proto, dst_ip, port),
        _ => None,
    };
    // What listens in the target, for a service probe's `port-closed` (read now, so a server
    // that went away since is not named).
    if onward.is_none() {
        read_listeners(&mut topo, args.service.and(route.as_ref()));
        // Without DNAT, Docker's userland proxy may hold the port: it answers, and opens a
        // connection of its own to the container, which the trace follows on.
        if let (Some((proto, port)), Some(p)) = (args.service, route.as_ref()) {
            onward = userland_proxy(&topo, p, proto, dst_ip, port);
        }
    }
    if let (Some(o), Some(p)) = (onward.as_mut(), route.as_mut()) {
        // The container it leads to, named as Docker names it, then the path on to it.
        if let Some(idx) = topo.owner_of(o.to)
            && let Some(ns) =
                topo.ns(idx).filter(|n| matches!(n.kind, NsKind::Docker | NsKind::Process))
            && let Some(name) = docker::container_in(ns.inode)
        {
            topo.relabel(idx, &name, false);
        }
        match path(&topo, p.dst, Target::Ip(o.to)) {
            Ok(then) => {
                *p = join(&topo, p, &then);
                read_listeners(&mut topo, Some(p));
            }
            Err(_) => onward = None,
        }
    }
    // Where policy routing may send the packet elsewhere, its other interfaces are captured too.
    if let Some(p) = route.as_mut() {
        *p = with_branches(&topo, p);
    }
    let src_ip = src_address(&topo, src_idx, route.as_ref(), dst_ip.is_ipv6());
    if args.fresh_arp {
        let next_hop = next_hop(&topo, src_idx, dst_ip);
        if let Some(nh) = next_hop {
            probe::flush_neighbour(&src.netns, nh)
                .with_context(|| format!("flushing {}'s neighbour entry for {nh}", src.label))?;
        }
    }
    let opts = ProbeOptions { dst: dst_ip, id: echo_id(), size: args.size, dont_fragment: args.df };
    let prober: Box<dyn Probing> = match args.service {
        None => Box::new(Prober::open(&src.netns, &src.label, opts)?),
        Some((service, port)) => {
            let payload = args.payload.clone().unwrap_or_else(|| UDP_MARKER.to_vec());
            let opts =
                ServiceOptions { service, dst: dst_ip, port, payload, dont_fragment: args.df };
            Box::new(ServiceProber::open(&src.netns, &src.label, opts)?)
        }
    };
    let points = route.as_ref().map_or(&[][..], |p| p.points.as_slice());
    let filter = args.filter.clone().unwrap_or_else(|| {
        let f = match (&onward, args.service) {
            (Some(d), Some((proto, port))) => {
                nat_filter(src_ip, (dst_ip, port), (d.to, d.port), proto)
            }
            _ => default_filter(src_ip, dst_ip, args.service),
        };
        let hosts: Vec<IpAddr> = src_ip.into_iter().chain([dst_ip]).collect();
        through_tunnels(f, &topo, points, &hosts)
    });
    let window_ns = u64::try_from(args.timeout.as_nanos()).unwrap_or(u64::MAX).max(1);
    let cfg = args.flags.config(window_ns, &output);
    let (report, tap, started) = output.wire(&topo, points, cfg.snaplen);
    let plan = Plan {
        topo: &topo,
        points,
        path: route.as_ref(),
        filter: &filter,
        flows: std::iter::once(Flow {
            points,
            src: src_ip,
            dst: dst_ip,
            opts: args.flags.netfilter,
        })
        .chain(onward.as_ref().map(|d| Flow {
            points,
            // The proxy's own connection comes from the host's side.
            src: if d.proxy.is_some() { None } else { src_ip },
            dst: d.to,
            // The first flow's drop-reason monitor sees every drop (tracefs is global): a
            // second one would only cost its set-up.
            opts: Options { drop_reasons: false, ..args.flags.netfilter },
        }))
        .collect(),
        service: args.service.map(|(proto, port)| match &onward {
            Some(d) => (proto, d.to, d.port),
            None => (proto, dst_ip, port),
        }),
        published: onward
            .as_ref()
            .filter(|d| d.proxy.is_none())
            .map(|_| (dst_ip, args.service.map_or(0, |s| s.1))),
        proxy: onward.as_ref().and_then(|d| d.proxy.clone()),
        drops,
    };
    let mut trace = Trace::start(plan, &cfg, report, tap, Some(prober.socket()))?;
    // The captures are open: nothing leaves before the names are known for what they are.
    if !presumption.holds(args) {
        return Err(anyhow!("the endpoints presumed are not the ones the runtimes name"));
    }
    started();
    let mut sent = 0u64;
    let mut facts =
        ProbeFacts { ip_len: prober.ip_len(), dont_fragment: args.df, ..ProbeFacts::default() };
    let mut send_error: Option<ProbeError> = None;
    let mut last_send = Instant::now();
    let mut seq: u16 = 0;
    let (mut drops_on, mut all_delivered) = (args.flags.netfilter.drop_reasons, None);
    loop {
        let now = Instant::now();
        let stopped = stop.requested();
        if !stopped && seq < args.count && now >= last_send + args.interval * u32::from(seq > 0) {
            seq += 1;
            last_send = now;
            match prober.send(seq) {
                Ok(()) => sent += 1,
                // The source's own kernel refused: evidence of where the packet died, not an
                // error of the trace.
                Err(ProbeError::NoRoute { .. }) => facts.no_route = true,
                Err(ProbeError::Send { errno: Errno::EPERM, .. }) => facts.not_permitted = true,
                Err(e) => {
                    send_error.get_or_insert(e);
                }
            }
        }
        let all_sent = seq >= args.count;
        let waited = trace.answered() >= sent || now >= last_send + args.timeout;
        if stopped || trace.ended() || (all_sent && waited) {
            break;
        }
        // Every probe answered at its socket: the drops that could concern them came before
        // (and within the window that attributes a drop to a packet); the drop monitor stops
        // while the journeys settle.
        if all_sent && sent > 0 && drops_on && trace.delivered() >= sent {
            let since = *all_delivered.get_or_insert(now);
            if now >= since + DROPS_AFTER_ANSWERS {
                trace.stop_drop_monitor();
                drops_on = false;
            }
        }
        trace.pump()?;
    }
    let verdict = trace.conclude(facts, Some(u64::from(seq)))?;
    if let Some(e) = send_error {
        return Err(anyhow!(e));
    }
    Ok(if verdict.lost() { Outcome::NotReached } else { Outcome::Success })
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
    place(topo, spec, ep)
}

/// The endpoint `ep` (what `spec` resolved to) with its namespace in the topology.
fn place(topo: &Topology, spec: &str, ep: Endpoint) -> Result<(Endpoint, NsIdx)> {
    let idx = ep.find_in(topo).with_context(|| {
        format!(
            "endpoint {spec:?} ({}) was not among the discovered namespaces: did it just \
             disappear?",
            ep.netns.path().display()
        )
    })?;
    Ok((ep, idx))
}

/// What the user should know about an endpoint's path (a rootless container's user-mode
/// network), on stderr when the report is not the interactive view.
pub(crate) fn tell(ep: &Endpoint, output: &Output) {
    if let (Some(note), Output::Stream { .. }) = (&ep.note, output) {
        eprintln!("vtrace: {note}");
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
            turn: false,
        })
        .collect::<Vec<_>>();
    let dst_ns = points.last().map_or(src, |p| p.ns);
    Some(Path { src, dst: dst_ns, dst_ip: dst, points })
}

/// When the source has no route: its first interface that is up with an address of `dst`'s
/// family (where the packet would have left), as a path of one point.
fn source_only(topo: &Topology, src: NsIdx, dst: IpAddr) -> Option<Path> {
    let link = topo.ns(src)?.links.iter().find(|l| {
        l.kind != LinkKind::Loopback
            && l.admin_up
            && l.addrs.iter().any(|a| a.ip.is_ipv6() == dst.is_ipv6())
    })?;
    let point = PathPoint {
        ns: src,
        point_id: topo.point_id(src, link.ifindex),
        ifname: link.name.clone(),
        ifindex: link.ifindex,
        role: Role::Endpoint,
        turn: false,
    };
    Some(Path { src, dst: src, dst_ip: dst, points: vec![point] })
}

/// The neighbour SRC resolves to reach `dst`: the gateway of its route, or `dst` on-link.
fn next_hop(topo: &Topology, src: NsIdx, dst: IpAddr) -> Option<IpAddr> {
    let route = topo.ns(src)?.route_to(dst)?;
    Some(route.gateway.unwrap_or(dst))
}

/// Where a published port leads: the address a DNAT rule of the namespace the path ends in
/// sends `proto` to `dst`:`port` to, or that a userland proxy listening there connects to.
#[derive(Debug, Clone)]
struct Onward {
    to: IpAddr,
    port: u16,
    /// The proxy that answers in the DNAT's place, when one does.
    proxy: Option<Proxy>,
}

fn published(topo: &Topology, p: &Path, proto: Proto, dst: IpAddr, port: u16) -> Option<Onward> {
    let ns = topo.ns(p.dst)?;
    // A namespace with one link (a container) sends nothing on elsewhere: its rules are not
    // read (two commands, ~15 ms).
    let links = ns.links.iter().filter(|l| l.kind != LinkKind::Loopback).count();
    if links < 2 {
        return None;
    }
    let rules = nft::nat_rules(&Netns::Path(ns.path.clone())).ok()?;
    let iif = p.points.last().map(|pt| pt.ifname.as_str());
    let (to, to_port, _) = dnat_of(&rules, proto, dst, port, iif)?;
    Some(Onward { to, port: to_port, proxy: None })
}

/// Docker's userland proxy (`docker-proxy`) listening on `dst`:`port` in the namespace the path
/// ends in, and the container it forwards to (from its command line).
fn userland_proxy(
    topo: &Topology,
    p: &Path,
    proto: Proto,
    dst: IpAddr,
    port: u16,
) -> Option<Onward> {
    let ns = topo.ns(p.dst)?;
    let l = ns.listening.iter().find(|l| {
        l.proto == proto
            && l.port == port
            && (l.addr.is_unspecified() || l.addr == dst)
            && l.process.as_ref().is_some_and(|(_, cmd)| cmd.starts_with("docker-proxy"))
    })?;
    let (pid, program) = l.process.clone()?;
    let (to, to_port) = docker::proxy_target(pid)?;
    let proxy =
        Proxy { program, pid, netns: ns.label.clone(), listen: (dst, port), to: (to, to_port) };
    Some(Onward { to, port: to_port, proxy: Some(proxy) })
}

/// Read the listening sockets of the namespace `route` ends in.
fn read_listeners(topo: &mut Topology, route: Option<&Path>) {
    if let Some(ns) = route.and_then(|r| topo.namespaces.get_mut(r.dst.0)) {
        match sockdiag::listening_in(&Netns::Path(ns.path.clone())) {
            Ok(l) => ns.listening = l,
            Err(e) => ns.listening_note = Some(format!("{e:#}")),
        }
    }
}

/// [`default_filter`] for a published port: the service as sent and as DNATed.
fn nat_filter(src: Option<IpAddr>, sent: (IpAddr, u16), to: (IpAddr, u16), proto: Proto) -> String {
    let p = proto.as_str();
    let hosts: Vec<String> =
        src.into_iter().chain([sent.0, to.0]).map(|h| format!("host {h}")).collect();
    format!(
        "(arp or icmp or ({p} port {}) or ({p} port {})) and ({})",
        sent.1,
        to.1,
        hosts.join(" or ")
    )
}

/// The two hosts' ARP and ICMP, or ICMPv6 (NDP included) for IPv6; with a service probe, its
/// protocol and port too. ICMP errors from routers on the way are included: they are sent to the
/// source.
pub fn default_filter(src: Option<IpAddr>, dst: IpAddr, service: Option<(Proto, u16)>) -> String {
    let icmp = if dst.is_ipv6() { "icmp6" } else { "arp or icmp" };
    let traffic = match service {
        None if dst.is_ipv6() => icmp.to_owned(),
        None => format!("({icmp})"),
        Some((s, port)) => format!("({icmp} or ({} port {port}))", s.as_str()),
    };
    match src {
        Some(s) => format!("{traffic} and (host {s} or host {dst})"),
        None => format!("{traffic} and host {dst}"),
    }
}

/// The probe ping sends: ICMP echoes or a service's connects/datagrams.
trait Probing {
    fn send(&self, seq: u16) -> Result<(), ProbeError>;
    /// Size of each probe's IP packet.
    fn ip_len(&self) -> usize;
    fn socket(&self) -> &dyn ProbeSocket;
}

impl Probing for Prober {
    fn send(&self, seq: u16) -> Result<(), ProbeError> {
        Prober::send(self, seq)
    }

    fn ip_len(&self) -> usize {
        self.options().ip_len()
    }

    fn socket(&self) -> &dyn ProbeSocket {
        self
    }
}

impl Probing for ServiceProber {
    fn send(&self, seq: u16) -> Result<(), ProbeError> {
        ServiceProber::send(self, seq)
    }

    fn ip_len(&self) -> usize {
        self.options().ip_len()
    }

    fn socket(&self) -> &dyn ProbeSocket {
        self
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
            default_filter(Some(a), b, None),
            "(arp or icmp) and (host 172.18.0.2 or host 172.18.0.3)"
        );
        assert_eq!(default_filter(None, b, None), "(arp or icmp) and host 172.18.0.3");
        let v6: IpAddr = "fd77::2".parse().unwrap_or(b);
        assert_eq!(default_filter(None, v6, None), "icmp6 and host fd77::2");
        assert_eq!(
            default_filter(Some(a), b, Some((Proto::Tcp, 80))),
            "(arp or icmp or (tcp port 80)) and (host 172.18.0.2 or host 172.18.0.3)"
        );
    }
}
