//! What the report shows on a journey's leg: a netfilter decision ([`NfDecision`]) or a kernel
//! drop, as an [`NfNote`], and the hop of the journey each trace event belongs to.
//!
//! Pure: it turns one event into one note and places it by namespace and interface; it must not
//! decide which events or drops concern a packet (that is the trace book and `kernel`).

use super::events::{NfEvent, NfFamily, NfVerdict, TraceKind, is_own_table};
use super::kernel::DropEvent;

/// One netfilter decision about a journey's packet, as the report shows it on the journey.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NfDecision {
    pub netns: String,
    pub family: String,
    pub table: String,
    pub chain: String,
    /// The rule's text, `handle N` when the text could not be read, or `policy`.
    pub rule: String,
    pub verdict: String,
    /// Index in the journey's hops of the hop it happened at (`None`: a namespace the journey
    /// never reached, or hops unknown).
    pub hop: Option<usize>,
}

/// What the kernel said about a journey's packet: a netfilter decision traced in a namespace, or
/// a kernel drop (`kfree_skb` with its reason) attributed to the packet by time and protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NfNote {
    Decision(NfDecision),
    KernelDrop(DropEvent),
}

impl NfNote {
    /// The note of an event that decided something (a rule matched or a policy applied);
    /// `None` for vtrace's own tracing table and for events without a verdict.
    pub fn from_event(e: &NfEvent) -> Option<NfNote> {
        if is_own_table(&e.table) {
            return None;
        }
        let (rule, verdict) = match e.kind {
            Some(TraceKind::Policy) => {
                ("policy".to_owned(), e.policy.as_ref().or(e.verdict.as_ref())?)
            }
            _ => {
                let rule = match (&e.rule_text, e.rule_handle) {
                    (Some(t), _) if !t.is_empty() => t.clone(),
                    (_, Some(h)) => format!("handle {h}"),
                    _ => String::new(),
                };
                (rule, e.verdict.as_ref()?)
            }
        };
        let verdict = match verdict {
            NfVerdict::Jump(c) | NfVerdict::Goto(c) => format!("{} {c}", verdict.as_str()),
            v => v.as_str().to_owned(),
        };
        Some(NfNote::Decision(NfDecision {
            netns: e.netns.clone(),
            family: e.family.map_or("?", NfFamily::as_str).to_owned(),
            table: e.table.clone(),
            chain: e.chain.clone(),
            rule,
            verdict,
            hop: None,
        }))
    }

    pub fn decision(&self) -> Option<&NfDecision> {
        match self {
            NfNote::Decision(d) => Some(d),
            NfNote::KernelDrop(_) => None,
        }
    }

    pub fn kernel_drop(&self) -> Option<&DropEvent> {
        match self {
            NfNote::KernelDrop(d) => Some(d),
            NfNote::Decision(_) => None,
        }
    }
}

/// The hop of a journey (given as (namespace label, ifname) in the order the packet passed them)
/// an event belongs to: the hop of its namespace whose interface is the event's input (else
/// output) interface, else the first hop in its namespace (the last one for a drop: the packet
/// went no further). `None` for a namespace the journey never reached.
pub fn hop_of(ev: &NfEvent, hops: &[(&str, &str)]) -> Option<usize> {
    let on = |name: &Option<String>| {
        hops.iter().position(|(ns, ifn)| *ns == ev.netns && name.as_deref() == Some(*ifn))
    };
    let mut in_ns = hops.iter().enumerate().filter(|(_, (ns, _))| *ns == ev.netns).map(|(i, _)| i);
    let fallback = if ev.is_drop() { in_ns.next_back() } else { in_ns.next() };
    on(&ev.iif_name).or_else(|| on(&ev.oif_name)).or(fallback)
}

/// Attach a packet's events to the hops of its journey ([`hop_of`]); events of a namespace the
/// journey never reached are left out. Returns one list per hop.
pub fn attach<'a>(events: &[&'a NfEvent], hops: &[(&str, &str)]) -> Vec<Vec<&'a NfEvent>> {
    let mut out: Vec<Vec<&'a NfEvent>> = vec![Vec::new(); hops.len()];
    for ev in events {
        if let Some(slot) = hop_of(ev, hops).and_then(|i| out.get_mut(i)) {
            slot.push(ev);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::netfilter::samples::event;

    #[test]
    fn events_attach_to_the_hop_of_their_interface_or_namespace() {
        let mut on_port = event("host", 1, TraceKind::Policy, NfVerdict::Accept);
        on_port.iif_name = Some("veth2".into());
        let mut out_only = event("host", 1, TraceKind::Rule, NfVerdict::Accept);
        out_only.oif_name = Some("docker0".into());
        let elsewhere = event("nginx-2", 1, TraceKind::Policy, NfVerdict::Accept);
        let unknown = event("other", 1, TraceKind::Policy, NfVerdict::Accept);
        let hops = [
            ("nginx-1", "eth0"),
            ("host", "veth1"),
            ("host", "docker0"),
            ("host", "veth2"),
            ("nginx-2", "eth0"),
        ];
        let got = attach(&[&on_port, &out_only, &elsewhere, &unknown], &hops);
        let counts: Vec<usize> = got.iter().map(Vec::len).collect();
        assert_eq!(counts, vec![0, 0, 1, 1, 1]);
        assert_eq!(got[3][0].iif_name.as_deref(), Some("veth2"));
        assert_eq!(got[2][0].oif_name.as_deref(), Some("docker0"));
    }

    #[test]
    fn own_tables_are_told_from_a_users_vtrace_table() {
        assert!(is_own_table("vtrace_4242_0"));
        for other in ["vtrace_fixture", "vtrace_12", "vtrace__1", "vtrace_1_x", "filter"] {
            assert!(!is_own_table(other), "{other}");
        }
        let mut ev = event("n", 1, TraceKind::Rule, NfVerdict::Drop);
        ev.table = "vtrace_fixture".into();
        assert!(NfNote::from_event(&ev).is_some());
        ev.table = "vtrace_7_1".into();
        assert_eq!(NfNote::from_event(&ev), None);
    }
}
