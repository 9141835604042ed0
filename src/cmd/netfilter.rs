//! Netfilter tracing around a live trace: start an [`NfSession`] in every namespace of the path
//! for the traced flow, read the path's qdisc drop counters, and after the trace turn a netfilter
//! drop seen at or after the segment where packets vanished into the diagnosis (`netfilter-drop`,
//! naming the namespace, family, table, chain and rule or policy, with the command that shows it;
//! also offline, from a replayed trace), and name the kernel's drop reason in the verdict.

use std::net::IpAddr;

use anyhow::Result;

use crate::cmd::live::{Finished, Live};
use crate::core::diagnosis::{Diagnosis, QdiscCount};
use crate::core::netfilter::{DropEvent, NfDrop, find_drop, kernel_drop_detail};
use crate::core::path::{PathPoint, Role};
use crate::core::topology::Topology;
use crate::core::verdict::{Cause, Verdict};
use crate::sys::netns::Netns;
use crate::sys::nft::{Flow, RuleIndex};
use crate::sys::nftrace::{NfFinished, NfSession, Options};

/// Namespace labels of the path's points, in path order, each once.
fn namespaces(topo: &Topology, points: &[PathPoint]) -> Vec<(String, Netns)> {
    let mut out: Vec<(String, Netns)> = Vec::new();
    for p in points {
        if let Some(ns) = topo.ns(p.ns)
            && !out.iter().any(|(label, _)| *label == ns.label)
        {
            out.push((ns.label.clone(), Netns::Path(ns.path.clone())));
        }
    }
    out
}

/// Start tracing the flow between `src` and `dst` on the path. `None` when turned off or when
/// the source address is unknown; what could not start is printed unless `quiet` (the TUI).
pub(crate) fn start(
    topo: &Topology,
    points: &[PathPoint],
    src: Option<IpAddr>,
    dst: IpAddr,
    opts: Options,
    quiet: bool,
) -> Option<NfSession> {
    let a = src?;
    if !opts.netfilter && !opts.drop_reasons {
        return None;
    }
    let (session, notes) = NfSession::start(&namespaces(topo, points), Flow { a, b: dst }, opts);
    if !quiet {
        for note in notes {
            eprintln!("vtrace: {note}");
        }
    }
    Some(session)
}

/// Finish the live trace and the netfilter sessions together: the trace tables are removed while
/// the captures stop and settle (their guards remove them on every other path too). The events
/// read while the trace ran (they annotated the journeys) join the rest for the diagnosis; a
/// partial trace is said unless `quiet` (the TUI).
pub(crate) fn finish_with<'w>(
    live: Live<'w>,
    sessions: Vec<NfSession>,
    quiet: bool,
) -> Result<(Finished<'w>, NfFinished)> {
    let (done, mut traced) = std::thread::scope(|s| {
        let traced = s.spawn(|| {
            let mut all = NfFinished::default();
            for nf in sessions {
                let f = nf.finish();
                all.events.extend(f.events);
                all.drops.extend(f.drops);
                all.lost_events += f.lost_events;
                all.br_netfilter.extend(f.br_netfilter);
            }
            all
        });
        let done = live.finish();
        (done, traced.join().unwrap_or_default())
    });
    let done = done?;
    if traced.lost_events > 0 && !quiet {
        eprintln!(
            "vtrace: the netfilter trace lost {} events (the traffic outran it): decisions may be \
             missing from some journeys",
            traced.lost_events
        );
    }
    traced.events.extend(done.netfilter.events().iter().cloned());
    traced.events.sort_by_key(|e| e.t_ns);
    Ok((done, traced))
}

/// The netfilter drop that explains the verdict's loss, if one was traced in a namespace at or
/// after the last point that saw the packet.
pub(crate) fn diagnose(
    topo: &Topology,
    points: &[PathPoint],
    traced: &NfFinished,
    verdict: &Verdict,
) -> Option<Diagnosis> {
    let from = verdict.segment.and_then(|s| s.after).map_or(0, |p| p.index());
    let path: Vec<(&str, bool)> = points
        .iter()
        .map(|p| (topo.ns(p.ns).map_or("?", |n| n.label.as_str()), p.role == Role::Bridge))
        .collect();
    let mut drop = netfilter_drop(&path, from, traced, verdict)?;
    // An event whose rule text could not be read while the trace ran: look it up now.
    if let (Some(""), Some(handle)) = (drop.rule.as_deref(), drop.rule_handle) {
        let ns = namespaces(topo, points).into_iter().find(|(l, _)| *l == drop.netns);
        if let Some(index) = ns.and_then(|(_, ns)| RuleIndex::load(&ns).ok()) {
            let text = index.text(drop.family.as_str(), &drop.table, &drop.chain, handle);
            drop.rule = text.map(str::to_owned).or(drop.rule);
        }
    }
    Some(diagnosis_of(&drop))
}

/// The same offline (`analyze` with a sidecar): `path` is each point's id and role in path
/// order, `after` the id of the segment's last point that saw the packet.
pub(crate) fn diagnose_offline(
    path: &[(&str, &str)],
    after: Option<&str>,
    traced: &NfFinished,
    verdict: &Verdict,
) -> Option<Diagnosis> {
    let from = after.and_then(|a| path.iter().position(|(id, _)| *id == a)).unwrap_or(0);
    let path: Vec<(&str, bool)> =
        path.iter().map(|(id, role)| (label_of(id), *role == Role::Bridge.as_str())).collect();
    netfilter_drop(&path, from, traced, verdict).map(|d| diagnosis_of(&d))
}

/// The namespace label of a point id (`nginx-1/eth0` → `nginx-1`).
pub(crate) fn label_of(id: &str) -> &str {
    id.rsplit_once('/').map_or(id, |(ns, _)| ns)
}

/// The first netfilter drop of the lost packet at or after position `from` of `path` (each
/// point's namespace label and whether it is a bridge, in path order).
fn netfilter_drop(
    path: &[(&str, bool)],
    from: usize,
    traced: &NfFinished,
    verdict: &Verdict,
) -> Option<NfDrop> {
    if verdict.reachable || verdict.cause == Cause::CaptureGap {
        return None;
    }
    let mut after: Vec<&str> = Vec::new();
    for (l, _) in path.iter().skip(from) {
        if !after.contains(l) {
            after.push(l);
        }
    }
    // br_netfilter matters only where the packet crossed a bridge.
    let bridged: Vec<(&str, _)> = traced
        .br_netfilter
        .iter()
        .filter(|(ns, _)| path.iter().any(|(l, bridge)| *bridge && *l == ns.as_str()))
        .map(|(ns, b)| (ns.as_str(), *b))
        .collect();
    let events: Vec<_> = traced.events.iter().collect();
    find_drop(&events, &after, &bridged)
}

fn diagnosis_of(drop: &NfDrop) -> Diagnosis {
    Diagnosis {
        cause: Cause::NetfilterDrop,
        detail: format!("{} (see: {})", drop.summary(), drop.hint()),
    }
}

/// Name the kernel drop reason of the lost packet in the verdict's summary, with its hint run in
/// the namespace of the segment's `before` point (else its `after` point).
pub(crate) fn name_kernel_drop(
    topo: &Topology,
    points: &[PathPoint],
    drops: &[DropEvent],
    verdict: &mut Verdict,
) {
    if verdict.reachable || verdict.cause == Cause::CaptureGap {
        return;
    }
    let seg = verdict.segment;
    let at = seg.and_then(|s| s.before.or(s.after)).and_then(|p| points.get(p.index()));
    let netns = at.and_then(|p| topo.ns(p.ns)).map(|n| n.label.as_str());
    name_kernel_drop_in(netns, drops, verdict);
}

/// Name the kernel drop reason in the verdict's summary, its hint run in `netns`.
pub(crate) fn name_kernel_drop_in(netns: Option<&str>, drops: &[DropEvent], verdict: &mut Verdict) {
    if verdict.reachable || verdict.cause == Cause::CaptureGap {
        return;
    }
    if let Some(detail) = kernel_drop_detail(drops, netns) {
        verdict.summary = if verdict.summary.is_empty() {
            detail
        } else {
            format!("{}; {detail}", verdict.summary)
        };
    }
}

/// The drop counters of every qdisc in the path's namespaces (read in parallel); a namespace
/// whose qdiscs cannot be read is left out.
pub(crate) fn qdisc_counts(topo: &Topology, points: &[PathPoint]) -> Vec<QdiscCount> {
    let mut spaces = Vec::new();
    for p in points {
        if let Some(ns) = topo.ns(p.ns)
            && !spaces.iter().any(|(i, _)| *i == p.ns)
        {
            spaces.push((p.ns, Netns::Path(ns.path.clone())));
        }
    }
    std::thread::scope(|s| {
        let handles: Vec<_> = spaces
            .iter()
            .map(|(idx, ns)| {
                s.spawn(move || {
                    let mut counts = crate::sys::qdisc::qdisc_counts(ns).unwrap_or_default();
                    for c in &mut counts {
                        c.ns = Some(*idx);
                    }
                    counts
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).flatten().collect()
    })
}
