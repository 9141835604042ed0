//! Netfilter tracing around a live trace: start an [`NfSession`] in every namespace of the path
//! for the traced flow, finish it with the captures, read the path's qdisc drop counters, and
//! fill in rule texts the trace could not read. What the evidence means is `core::diagnosis`'s.

use std::net::IpAddr;

use anyhow::Result;

use crate::core::diagnosis::QdiscCount;
use crate::core::netfilter::NfEvent;
use crate::core::path::PathPoint;
use crate::core::topology::Topology;
use crate::session::live::{Finished, Live};
use crate::sys::dropmon::Starting;
use crate::sys::netns::Netns;
use crate::sys::nft::{Flow, RuleIndex, Tunnel};
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

/// The first VXLAN tunnel of the path: its local and remote endpoints and port.
fn tunnel(topo: &Topology, points: &[PathPoint]) -> Option<Tunnel> {
    points.iter().find_map(|p| {
        let l = topo.link(p.ns, p.ifindex)?;
        let v = l.vxlan.as_ref()?;
        let local = v.local.or_else(|| {
            let dev = topo.link(p.ns, v.underlay?)?;
            dev.addrs.first().map(|a| a.ip)
        })?;
        let remote = v.remotes().first().copied()?;
        Some(Tunnel { a: local, b: remote, port: v.port })
    })
}

/// Start tracing the flow between `src` and `dst` on the path. `None` when turned off or when
/// the source address is unknown; what could not start is printed unless `quiet` (the TUI).
/// `early`: a drop monitor begun before (used when drop reasons are on, else removed).
pub(crate) fn start(
    topo: &Topology,
    points: &[PathPoint],
    src: Option<IpAddr>,
    dst: IpAddr,
    opts: Options,
    quiet: bool,
    early: Option<Starting>,
) -> Option<NfSession> {
    let a = src?;
    if !opts.netfilter && !opts.drop_reasons {
        return None;
    }
    let flow = Flow { a, b: dst, tunnel: tunnel(topo, points) };
    let (session, notes) = NfSession::start(&namespaces(topo, points), flow, opts, early);
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
        // Each flow's session settles and removes its tables on a thread of its own: they wait
        // for their last events side by side, not one after the other.
        let finishing: Vec<_> = sessions.into_iter().map(|nf| s.spawn(|| nf.finish())).collect();
        let traced = s.spawn(|| {
            let mut all = NfFinished::default();
            for f in finishing.into_iter().filter_map(|h| h.join().ok()) {
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

/// Fill in the rule text of drop events whose rule could not be read while the trace ran (a
/// rule added meanwhile): looked up now in its namespace, once per namespace.
pub(crate) fn fill_rule_texts(topo: &Topology, points: &[PathPoint], events: &mut [NfEvent]) {
    let mut indexes: Vec<(String, Option<RuleIndex>)> = Vec::new();
    let unread = |e: &NfEvent| {
        e.is_drop() && e.rule_handle.is_some() && e.rule_text.as_deref().is_none_or(str::is_empty)
    };
    for e in events.iter_mut().filter(|e| unread(e)) {
        let Some(handle) = e.rule_handle else { continue };
        if !indexes.iter().any(|(l, _)| *l == e.netns) {
            let ns = namespaces(topo, points).into_iter().find(|(l, _)| *l == e.netns);
            indexes.push((e.netns.clone(), ns.and_then(|(_, ns)| RuleIndex::load(&ns).ok())));
        }
        let index = indexes.iter().find(|(l, _)| *l == e.netns).and_then(|(_, i)| i.as_ref());
        let family = e.family.map_or("", |f| f.as_str());
        if let Some(text) = index.and_then(|i| i.text(family, &e.table, &e.chain, handle)) {
            e.rule_text = Some(text.to_owned());
        }
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
