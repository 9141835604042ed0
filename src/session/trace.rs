//! One live trace from start to verdict, shared by `ping`, `watch` and `demo`: the captures
//! ([`Live`]), the netfilter and drop-reason tracing of each traced flow, the qdisc counters
//! read before and after, the probe's socket when vtrace sends, and the end every command shares
//! (drain, finish the tracing, read the counters again, conclude, write the report, keep the
//! netfilter trace beside a written capture).

use std::net::IpAddr;
use std::path::PathBuf;

use anyhow::Result;

use crate::core::analysis::Probe;
use crate::core::diagnosis::{
    Evidence, Netfilter, ProbeFacts, QdiscCount, Service as Target, Step, conclude, qdisc_rises,
    unresolved_next_hop,
};
use crate::core::line::PointIdx;
use crate::core::listen::Proto;
use crate::core::path::{Path, PathPoint, Role};
use crate::core::topology::Topology;
use crate::core::topology::nat::{CtNote, translated_flows};
use crate::core::verdict::{Cause, Segment, Verdict};
use crate::session::live::{FrameTap, Live, LiveConfig};
use crate::session::netfilter;
use crate::session::sink::TraceReport;
use crate::sys::connect::ServiceProber;
use crate::sys::conntrack;
use crate::sys::dropmon::Starting;
use crate::sys::netns::Netns;
use crate::sys::nftrace::{NfSession, Options, sidecar};
use crate::sys::probe::Prober;

/// vtrace's own probe as the session sees it: what it probes, and the answers its socket received
/// (echo sequence numbers, or the source ports of connects that completed and datagrams
/// answered).
pub trait ProbeSocket {
    fn probe(&self) -> Probe;
    fn answers(&self) -> Vec<u16>;
}

impl ProbeSocket for Prober {
    fn probe(&self) -> Probe {
        Probe::Echo { id: self.options().id }
    }

    fn answers(&self) -> Vec<u16> {
        self.replies()
    }
}

impl ProbeSocket for ServiceProber {
    fn probe(&self) -> Probe {
        let o = self.options();
        match o.service {
            Proto::Tcp => Probe::Tcp { dst: o.dst, port: o.port },
            Proto::Udp => Probe::Udp { dst: o.dst, port: o.port },
        }
    }

    fn answers(&self) -> Vec<u16> {
        self.replies()
    }
}

/// A flow whose netfilter decisions are traced, on the points of its path.
#[derive(Debug, Clone)]
pub struct Flow<'a> {
    pub points: &'a [PathPoint],
    pub src: Option<IpAddr>,
    pub dst: IpAddr,
    pub opts: Options,
}

/// What a live trace runs on.
#[derive(Debug)]
pub struct Plan<'a> {
    pub topo: &'a Topology,
    /// Every capture point, in point order.
    pub points: &'a [PathPoint],
    /// The path the diagnosis looks at (the first one for `watch`).
    pub path: Option<&'a Path>,
    /// The capture filter (tcpdump syntax).
    pub filter: &'a str,
    pub flows: Vec<Flow<'a>>,
    /// The service probed (protocol, address, port), to say what listens in the target
    /// namespace (the path's end) when the port is closed.
    pub service: Option<(Proto, IpAddr, u16)>,
    /// The address and port the service was probed at, when a DNAT rule sent it on to
    /// `service`'s (a published port).
    pub published: Option<(IpAddr, u16)>,
    /// The userland proxy that holds the probed port, when one does.
    pub proxy: Option<crate::core::diagnosis::Proxy>,
    /// A drop monitor begun before the plan was made (for the first flow that asks for drop
    /// reasons).
    pub drops: Option<Starting>,
}

/// A running live trace.
pub struct Trace<'a, 'w> {
    plan: Plan<'a>,
    live: Live<'w>,
    sessions: Vec<NfSession>,
    qdiscs_before: Vec<QdiscCount>,
    write: Option<PathBuf>,
    quiet: bool,
    probe: Option<&'a dyn ProbeSocket>,
}

impl<'a, 'w> Trace<'a, 'w> {
    /// Start tracing: the trace tables, the qdisc counters and the captures side by side, all
    /// ready before this returns. `probe`: the socket vtrace sends from (its replies count only
    /// once they reach it).
    pub fn start(
        mut plan: Plan<'a>,
        cfg: &LiveConfig,
        report: Box<dyn TraceReport + 'w>,
        tap: Option<Box<dyn FrameTap + 'w>>,
        probe: Option<&'a dyn ProbeSocket>,
    ) -> Result<Self> {
        // A netfilter trace left next to the file by an earlier run must not be replayed with
        // this one's captures.
        if let Some(file) = &cfg.write {
            sidecar::remove(file)?;
        }
        let quiet = cfg.quiet;
        let early = plan.drops.take();
        let (sessions, live, qdiscs_before) = std::thread::scope(|s| {
            let sessions = s.spawn(|| {
                let mut early = early;
                plan.flows
                    .iter()
                    .filter_map(|f| {
                        let early = early.take_if(|_| f.opts.drop_reasons);
                        netfilter::start(plan.topo, f.points, f.src, f.dst, f.opts, quiet, early)
                    })
                    .collect::<Vec<_>>()
            });
            let qdiscs = s.spawn(|| netfilter::qdisc_counts(plan.topo, plan.points));
            let live = Live::start(plan.topo, plan.points, plan.filter, cfg, report, tap);
            (sessions.join().unwrap_or_default(), live, qdiscs.join().unwrap_or_default())
        });
        let mut live = live?;
        if let Some(p) = probe {
            live.expect_probe(p.probe());
        }
        Ok(Trace { plan, live, sessions, qdiscs_before, write: cfg.write.clone(), quiet, probe })
    }

    /// True when the trace is over on its own (a replayed file was read to its end).
    pub fn ended(&self) -> bool {
        self.live.input_ended()
    }

    /// Probes settled so far: answered at the probe's socket, or refused.
    pub fn answered(&self) -> u64 {
        self.live.answered
    }

    /// Probes whose answer reached the probe's socket so far.
    pub fn delivered(&self) -> u64 {
        self.live.delivered_count() as u64
    }

    /// Stop watching kernel drops ahead of the end (every probe was answered at its socket, so
    /// the drops that concern them were read): the drops read so far go to the journeys, and
    /// removing the monitor's tracefs instance, which waits for the kernel, overlaps the rest
    /// of the trace.
    pub fn stop_drop_monitor(&mut self) {
        for nf in &mut self.sessions {
            let drops = nf.stop_drop_monitor();
            self.live.add_kernel_drops(drops);
        }
    }

    /// Wait up to one tick for frames, report what settled, take in what the tracing saw.
    pub fn pump(&mut self) -> Result<()> {
        self.take_evidence();
        self.live.pump()
    }

    fn take_evidence(&mut self) {
        if let Some(p) = self.probe {
            self.live.delivered(&p.answers());
        }
        for nf in &self.sessions {
            self.live.add_netfilter_events(nf.drain());
            self.live.add_kernel_drops(nf.drain_drops());
        }
    }

    /// End the trace: settle everything, conclude, write the end of the report and keep the
    /// netfilter trace beside a written capture. `attempted`: probes vtrace tried to send
    /// (counted even when the source refused them).
    pub fn conclude(mut self, probe: ProbeFacts, attempted: Option<u64>) -> Result<Verdict> {
        self.take_evidence();
        let sessions = std::mem::take(&mut self.sessions);
        let traced_any = !sessions.is_empty();
        let (done, mut traced) = netfilter::finish_with(self.live, sessions, self.quiet)?;
        traced.probe = done.analysis.probe_record();
        let mut verdict = done.verdict();
        if let Some(attempted) = attempted.filter(|&a| a > verdict.sent) {
            let old = format!("{}/{} {}", verdict.received, verdict.sent, verdict.unit);
            let new = format!("{}/{attempted} {}", verdict.received, verdict.unit);
            verdict.summary = if verdict.summary.contains(&old) {
                verdict.summary.replacen(&old, &new, 1)
            } else {
                // Nothing was captured: the source refused to send, or never tried.
                new
            };
            if verdict.cause == Cause::Ok {
                // No probe reached the first point: not a verdict of health. Where it died is
                // inside the source (the kernel's drop reason, when one was seen, says why).
                verdict.cause = Cause::Unknown;
                verdict.segment = Some(Segment { after: None, before: Some(PointIdx(0)) })
                    .filter(|_| !self.plan.points.is_empty());
                verdict.summary.push_str(
                    ": no probe was seen at any capture point (it never left the source)",
                );
                if let Some(why) =
                    self.plan.path.and_then(|p| unresolved_next_hop(self.plan.topo, p))
                {
                    verdict.summary = format!("{}; {why}", verdict.summary);
                }
            }
            verdict.sent = attempted;
            verdict.reachable = false;
            verdict.probed = true;
        }
        let plan = &self.plan;
        // The qdiscs whose drop counters rose during the trace (tc-drop), read again only when
        // something was lost or the trace is kept.
        if let Some(path) = plan.path.filter(|_| verdict.lost() || self.write.is_some()) {
            let after = netfilter::qdisc_counts(plan.topo, plan.points);
            traced.qdisc_rises = qdisc_rises(path, &self.qdiscs_before, &after);
        }
        if verdict.lost() {
            netfilter::fill_rule_texts(plan.topo, plan.points, &mut traced.events);
        }
        // Only a trace that saw a packet translated asks conntrack to confirm it.
        if done.analysis.saw_nat() {
            verdict.conntrack = conntrack_of(plan);
        }
        traced.conntrack.clone_from(&verdict.conntrack);
        let steps: Vec<Step<'_>> = plan
            .points
            .iter()
            .enumerate()
            .map(|(i, p)| Step {
                idx: crate::core::line::PointIdx(u16::try_from(i).unwrap_or(u16::MAX)),
                id: &p.point_id,
                netns: plan.topo.ns(p.ns).map_or("?", |n| n.label.as_str()),
                bridge: p.role == Role::Bridge,
            })
            .collect();
        let evidence = Evidence {
            steps,
            netfilter: traced_any.then_some(Netfilter {
                events: &traced.events,
                br_netfilter: &traced.br_netfilter,
            }),
            qdisc_rises: &traced.qdisc_rises,
            links: plan.path.map(|p| (plan.topo, p)),
            probe,
            lost_drops: done.netfilter.lost_drops(),
            service: plan.service.and_then(|(proto, dst, port)| {
                let ns = plan.topo.ns(plan.path?.dst)?;
                let (published, proxy) = (plan.published, plan.proxy.as_ref());
                Some(Target {
                    netns: &ns.label,
                    listening: &ns.listening,
                    proto,
                    dst,
                    port,
                    published,
                    proxy,
                })
            }),
        };
        conclude(&mut verdict, &evidence);
        // The netfilter side of the trace, for `vtrace analyze FILE` to replay (after the
        // report: failing to keep it must not cost the report).
        let kept = traced_any
            || !traced.qdisc_rises.is_empty()
            || traced.probe.is_some()
            || !traced.conntrack.is_empty();
        let keep = self.write.as_ref().filter(|_| kept);
        if keep.is_some() {
            traced.drops.extend(done.netfilter.drops().iter().cloned());
            traced.drops.sort_by_key(|d| d.t_ns);
        }
        done.write(&verdict)?;
        if let Some(file) = keep {
            sidecar::write(file, &traced)?;
        }
        Ok(verdict)
    }
}

/// The translated conntrack entries of the probed flow (the first flow, as it left the source)
/// in the namespaces of the path that forward (the ones that may translate it), read now: what
/// confirms a NAT the journeys showed. A namespace whose table cannot be read gives none.
fn conntrack_of(plan: &Plan<'_>) -> Vec<CtNote> {
    let Some(flow) = plan.flows.first() else { return Vec::new() };
    let Some(src) = flow.src else { return Vec::new() };
    let mut seen = Vec::new();
    let mut out = Vec::new();
    for p in plan.points {
        if seen.contains(&p.ns) {
            continue;
        }
        seen.push(p.ns);
        let Some(ns) = plan.topo.ns(p.ns).filter(|n| n.sysctl.forwards(flow.dst) == Some(true))
        else {
            continue;
        };
        let Ok(entries) = conntrack::dump(&Netns::Path(ns.path.clone())) else { continue };
        for entry in translated_flows(&entries, src, flow.dst) {
            out.push(CtNote { netns: ns.label.clone(), entry });
        }
    }
    out
}
