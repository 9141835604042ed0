//! Everything netfilter tracing needs during one live trace, started and stopped as one: in each
//! namespace of the path a trace listener and vtrace's trace table (listener first, so no event
//! is missed), plus the kernel drop-reason monitor. Dropping the session (normal end, error,
//! Ctrl-C handled by the caller, panic unwinding) removes every table and the tracefs instance.
//!
//! This is the integration API for `ping`/`watch`; it does not match events to packets
//! (`core::netfilter` does).

use std::sync::Mutex;

use crate::core::diagnosis::QdiscRise;
use crate::core::netfilter::{BrNetfilter, DropEvent, FlowFilter, NfEvent};
use crate::sys::dropmon::{DropMonitor, Starting};
use crate::sys::netns::Netns;
use crate::sys::nft::{self, Flow, RuleIndex, TraceTable};

use super::TraceListener;

/// Ethertypes whose kernel drops are monitored: IPv4, ARP, IPv6.
pub const DROP_PROTOCOLS: [u16; 3] = [0x0800, 0x0806, 0x86dd];

/// What to trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Options {
    /// Install trace tables and listen to trace events (`--no-netfilter` turns it off).
    pub netfilter: bool,
    /// Monitor `kfree_skb` drop reasons (`--no-drop-reasons` turns it off).
    pub drop_reasons: bool,
}

/// A running netfilter trace over several namespaces.
#[derive(Debug)]
pub struct NfSession {
    /// Per namespace: label, namespace, listener, table (declared in drop order: the table goes
    /// before its listener).
    parts: Vec<Part>,
    monitor: Option<DropMonitor>,
    /// The monitor stopped ahead ([`NfSession::stop_drop_monitor`]), its instance being removed
    /// on this thread: waited for by finish (or drop).
    removing: Option<std::thread::JoinHandle<()>>,
}

impl Drop for NfSession {
    fn drop(&mut self) {
        if let Some(removing) = self.removing.take() {
            let _ = removing.join();
        }
    }
}

#[derive(Debug)]
struct Part {
    label: String,
    ns: Netns,
    table: TraceTable,
    listener: TraceListener,
    /// The namespace's rules by handle, read when an event first names a rule of another table,
    /// and again (a few times at most) when one names a rule added since.
    rules: Mutex<Rules>,
}

/// Times a namespace's ruleset is read again for a rule added during the trace, at most.
const MAX_RELOADS: u8 = 3;

#[derive(Debug, Default)]
struct Rules {
    /// Read yet (a trace that meets only vtrace's own rules never runs `nft` to list them).
    loaded: bool,
    index: RuleIndex,
    reloads: u8,
}

impl Part {
    /// Fill in the rule text of events as they are read.
    fn annotate(&self, events: &mut [NfEvent]) {
        annotate(&self.ns, &self.rules, events);
    }
}

/// Fill in the rule text of one namespace's events (reading its rules again when one is missing;
/// vtrace's own table's events are not among them, see [`TraceListener::start_for`]).
fn annotate(ns: &Netns, rules: &Mutex<Rules>, events: &mut [NfEvent]) {
    let Ok(mut rules) = rules.lock() else { return };
    for ev in events.iter_mut() {
        if ev.rule_handle.is_none() || ev.rule_text.is_some() {
            continue;
        }
        // Read the first time one is asked for; again only when a rule is missing from what
        // was read before this event.
        let fresh = !rules.loaded;
        if fresh {
            rules.loaded = true;
            if let Ok(index) = RuleIndex::load(ns) {
                rules.index = index;
            }
        }
        rules.index.annotate(ev);
        if ev.rule_text.is_none() && !fresh && rules.reloads < MAX_RELOADS {
            rules.reloads += 1;
            if let Ok(index) = RuleIndex::load(ns) {
                rules.index = index;
            }
            rules.index.annotate(ev);
        }
    }
}

/// What a session saw, once stopped.
#[derive(Debug, Default)]
pub struct NfFinished {
    /// Trace events of every namespace, with rule text filled in.
    pub events: Vec<NfEvent>,
    pub drops: Vec<DropEvent>,
    /// br_netfilter's switches per namespace label.
    pub br_netfilter: Vec<(String, BrNetfilter)>,
    /// Qdiscs of the path whose drop counters rose during the trace (filled by the caller, which
    /// reads the counters; kept so that a written trace replays `tc-drop`).
    pub qdisc_rises: Vec<QdiscRise>,
    /// Trace events the listeners had no room for (a flood outran them): the trace is partial.
    pub lost_events: u64,
    /// Trace events of the flow read in each namespace (label), vtrace's own table's included,
    /// which are not passed on: a namespace that read none was not traced at all.
    pub events_read: Vec<(String, u64)>,
    /// The trace's probe and what its socket received (kept so that `analyze` replays it).
    pub probe: Option<crate::core::analysis::ProbeRecord>,
    /// The translated conntrack entries of the probed flow (kept so that `analyze` replays
    /// them).
    pub conntrack: Vec<crate::core::topology::nat::CtNote>,
}

impl NfSession {
    /// Start tracing `flow` in each namespace (label, namespace). What cannot be started is
    /// returned as notes ("… : pass --no-netfilter"), the rest goes on.
    /// The drop monitor is `early`'s when the caller began starting one before (see
    /// [`Starting`]).
    pub fn start(
        namespaces: &[(String, Netns)],
        flow: Flow,
        opts: Options,
        early: Option<Starting>,
    ) -> (Self, Vec<String>) {
        let mut notes = Vec::new();
        // The tracefs instance (made with its ring buffers and filter) and each namespace's
        // trace table (a netlink batch) are made side by side.
        let (monitor, started) = std::thread::scope(|s| {
            let monitor = opts.drop_reasons.then(|| {
                s.spawn(|| {
                    let started = match early {
                        Some(early) => early.wait(),
                        None => DropMonitor::start(&DROP_PROTOCOLS),
                    };
                    started.map_err(|e| e.to_string())
                })
            });
            let handles: Vec<_> = namespaces
                .iter()
                .filter(|_| opts.netfilter)
                .map(|(label, ns)| s.spawn(move || start_part(label, ns, flow)))
                .collect();
            let started: Vec<Result<Part, String>> = handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err("a trace thread panicked".into())))
                .collect();
            let monitor =
                monitor.map(|h| h.join().unwrap_or_else(|_| Err("its start panicked".into())));
            (monitor, started)
        });
        let monitor = match monitor {
            Some(Ok(m)) => Some(m),
            Some(Err(e)) => {
                notes.push(format!("no kernel drop reasons: {e}"));
                None
            }
            None => None,
        };
        let mut parts = Vec::new();
        for p in started {
            match p {
                Ok(p) => parts.push(p),
                Err(e) => notes.push(e),
            }
        }
        (NfSession { parts, monitor, removing: None }, notes)
    }

    /// Trace events received so far, with the text of their rules.
    pub fn drain(&self) -> Vec<NfEvent> {
        let mut out = Vec::new();
        for p in &self.parts {
            let mut events = p.listener.drain();
            p.annotate(&mut events);
            out.extend(events);
        }
        out
    }

    /// Kernel drops read so far.
    pub fn drain_drops(&self) -> Vec<DropEvent> {
        self.monitor.as_ref().map(DropMonitor::drain).unwrap_or_default()
    }

    /// Stop the drop monitor ahead of the rest: the drops it read that were not drained yet,
    /// while its tracefs instance is removed on a thread of its own (the kernel makes that wait
    /// tens of milliseconds), which [`NfSession::finish`] waits for.
    pub fn stop_drop_monitor(&mut self) -> Vec<DropEvent> {
        let Some(mut monitor) = self.monitor.take() else { return Vec::new() };
        let drops = monitor.stop_reading();
        // Without a thread, the monitor (moved into the closure) is dropped, so removed, here.
        self.removing = std::thread::Builder::new()
            .name("vtrace-dropmon-stop".into())
            .spawn(move || drop(monitor))
            .ok();
        drops
    }

    /// Stop: remove the tables, read each namespace's ruleset once for rule text and its
    /// br_netfilter switches, stop the listeners and the drop monitor.
    pub fn finish(mut self) -> NfFinished {
        let mut out = NfFinished::default();
        let parts = std::mem::take(&mut self.parts);
        let monitor = self.monitor.take();
        let removing = self.removing.take();
        // Removing the tracefs instance waits for an RCU grace period (~50 ms): overlap it.
        let (finished, drops) = std::thread::scope(|s| {
            let drops = s.spawn(move || {
                if let Some(removing) = removing {
                    let _ = removing.join();
                }
                monitor.map(DropMonitor::stop).unwrap_or_default()
            });
            let handles: Vec<_> =
                parts.into_iter().map(|p| s.spawn(move || finish_part(p))).collect();
            let finished: Vec<Finished> =
                handles.into_iter().filter_map(|h| h.join().ok()).collect();
            (finished, drops.join().unwrap_or_default())
        });
        out.drops = drops;
        for f in finished {
            out.events.extend(f.events);
            out.events_read.push((f.br_netfilter.0.clone(), f.read));
            out.br_netfilter.push(f.br_netfilter);
            out.lost_events += f.lost;
        }
        out.events.sort_by_key(|e| e.t_ns);
        out
    }
}

/// What one namespace's part of a session saw.
struct Finished {
    events: Vec<NfEvent>,
    br_netfilter: (String, BrNetfilter),
    lost: u64,
    read: u64,
}

/// Remove one namespace's table and collect its events with their rule text.
fn finish_part(p: Part) -> Finished {
    let Part { label, ns, table, mut listener, rules } = p;
    listener.halt();
    let (lost, read) = (listener.lost(), listener.read());
    let mut events = listener.drain();
    // Rules are read again only when an event names one the index does not know.
    annotate(&ns, &rules, &mut events);
    let _ = table.remove();
    let brnf = nft::br_netfilter(&ns);
    Finished { events, br_netfilter: (label, brnf), lost, read }
}

fn start_part(label: &str, ns: &Netns, flow: Flow) -> Result<Part, String> {
    let listener = TraceListener::start_for(
        ns,
        label,
        match flow.tunnel {
            Some(t) => FlowFilter::new(flow.a, flow.b).with_tunnel(t.a, t.b),
            None => FlowFilter::new(flow.a, flow.b),
        },
    )
    .map_err(|e| format!("no netfilter trace in {label}: {e} (or pass --no-netfilter)"))?;
    let table = TraceTable::install(ns, flow)
        .map_err(|e| format!("no netfilter trace in {label}: {e} (or pass --no-netfilter)"))?;
    let rules = Mutex::new(Rules::default());
    Ok(Part { label: label.to_owned(), ns: ns.clone(), table, listener, rules })
}
