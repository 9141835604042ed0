//! The diagnosis rule "the packet was lost after point P and a netfilter chain in a namespace at
//! or after P dropped it": [`find_drop`] and the [`NfDrop`] it returns, with br_netfilter's part,
//! the verdict's sentence and the `nft` command to run in the right namespace.
//!
//! Pure: it does not decide the order of points on a path (the caller passes the namespaces that
//! follow the last point reached) and never runs the commands it names.

use std::net::IpAddr;

use super::events::{NfEvent, NfFamily, TraceKind};
use super::key::PacketKey;

/// br_netfilter's switches in one namespace (`net.bridge.bridge-nf-call-*`); `None` when the
/// module is not loaded there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BrNetfilter {
    pub call_iptables: Option<bool>,
    pub call_ip6tables: Option<bool>,
    pub call_arptables: Option<bool>,
}

/// A netfilter drop that explains a lost packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NfDrop {
    pub netns: String,
    pub family: NfFamily,
    pub table: String,
    pub chain: String,
    /// The dropping rule's text; `None` when the chain's policy dropped.
    pub rule: Option<String>,
    pub rule_handle: Option<u64>,
    /// The packet was bridged in that namespace and met an ip-family chain because
    /// `bridge-nf-call-iptables` (or ip6tables) is on.
    pub via_br_netfilter: bool,
    /// The dropped packet was a VXLAN tunnel's outer packet (UDP to a VXLAN port) carrying the
    /// traced one: its source, destination and port.
    pub tunnel: Option<(IpAddr, IpAddr, u16)>,
}

/// UDP ports VXLAN is carried on (IANA's, and Linux's old default).
const VXLAN_PORTS: [u16; 2] = [4789, 8472];

/// The outer addresses and port of a trace event's packet when it is UDP to a VXLAN port.
fn vxlan_outer(ev: &NfEvent) -> Option<(IpAddr, IpAddr, u16)> {
    let k = PacketKey::from_headers(&ev.network_header, &ev.transport_header)?;
    let port = u16::from_be_bytes(ev.transport_header.get(2..4)?.try_into().ok()?);
    (k.proto == 17 && VXLAN_PORTS.contains(&port)).then_some((k.src, k.dst, port))
}

/// The diagnosis rule: among a lost packet's trace events, the first drop in one of the
/// namespaces at or after the last point that saw it (`namespaces`, in path order). `bridged`
/// lists the namespaces where the packet crossed a bridge, with their br_netfilter switches.
pub fn find_drop(
    events: &[&NfEvent],
    namespaces: &[&str],
    bridged: &[(&str, BrNetfilter)],
) -> Option<NfDrop> {
    let ev =
        namespaces.iter().find_map(|ns| events.iter().find(|e| e.netns == *ns && e.is_drop()))?;
    let family = ev.family.unwrap_or(NfFamily::Other(0));
    let brnf = bridged.iter().find(|(ns, _)| *ns == ev.netns).map(|(_, b)| *b);
    let is_v6 = ev.nfproto == Some(10);
    // A packet routed between two interfaces (a bridge to another) meets iptables anyway;
    // br_netfilter hands ip chains bridged frames with the bridge as both in and out.
    let routed = matches!((ev.iif, ev.oif), (Some(i), Some(o)) if i != o);
    let via_br_netfilter = family.is_ip()
        && !routed
        && brnf.is_some_and(|b| {
            if is_v6 { b.call_ip6tables == Some(true) } else { b.call_iptables == Some(true) }
        });
    let policy = ev.kind == Some(TraceKind::Policy);
    let tunnel = vxlan_outer(ev);
    Some(NfDrop {
        tunnel,
        netns: ev.netns.clone(),
        family,
        table: ev.table.clone(),
        chain: ev.chain.clone(),
        rule: if policy { None } else { ev.rule_text.clone().or_else(|| Some(String::new())) },
        rule_handle: if policy { None } else { ev.rule_handle },
        // The outer packet of a tunnel is routed to the node itself, not bridged.
        via_br_netfilter: via_br_netfilter && tunnel.is_none(),
    })
}

impl NfDrop {
    /// One sentence for the verdict's summary.
    pub fn summary(&self) -> String {
        let what = match &self.rule {
            None => "policy drop".to_owned(),
            Some(r) if r.is_empty() => match self.rule_handle {
                Some(h) => format!("rule handle {h}"),
                None => "a rule".to_owned(),
            },
            Some(r) => format!("rule `{r}`"),
        };
        let mut s = format!(
            "dropped by netfilter in {}: {} {} {}, {what}",
            self.netns,
            self.family.as_str(),
            self.table,
            self.chain
        );
        if let Some((src, dst, port)) = self.tunnel {
            s.push_str(&format!(
                "; what it dropped is the tunnel's outer packet, VXLAN's UDP {src} → {dst} port \
                 {port}, which carried the traced packet between the nodes"
            ));
        }
        if self.via_br_netfilter {
            s.push_str(
                "; bridged frames meet iptables there because net.bridge.bridge-nf-call-iptables \
                 is on (br_netfilter)",
            );
        }
        s
    }

    /// The command that shows the chain, run in the right namespace.
    pub fn hint(&self) -> String {
        let nft =
            format!("nft -a list chain {} {} {}", self.family.as_str(), self.table, self.chain);
        in_namespace(&self.netns, &nft)
    }
}

/// Prefix `cmd` so that it runs in the namespace labelled `label` (`host` is the root one,
/// `pid:N` a process's, anything else a named netns).
pub fn in_namespace(label: &str, cmd: &str) -> String {
    if label == crate::core::topology::HOST_LABEL {
        cmd.to_owned()
    } else if let Some(pid) = label.strip_prefix("pid:") {
        format!("nsenter -t {pid} -n {cmd}")
    } else {
        format!("ip netns exec {label} {cmd}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::netfilter::NfVerdict;
    use crate::core::netfilter::samples::event;

    #[test]
    fn policy_drop_after_the_last_point_names_the_chain_and_br_netfilter() {
        let accept = event("nginx-1", 1, TraceKind::Policy, NfVerdict::Accept);
        let drop = event("host", 2, TraceKind::Policy, NfVerdict::Drop);
        let evs = [&accept, &drop];
        let on = BrNetfilter { call_iptables: Some(true), ..BrNetfilter::default() };
        let d = find_drop(&evs, &["host", "nginx-2"], &[("host", on)]).expect("drop");
        assert_eq!(d.rule, None);
        assert!(d.via_br_netfilter);
        assert_eq!(
            d.summary(),
            "dropped by netfilter in host: ip filter FORWARD, policy drop; bridged frames meet \
             iptables there because net.bridge.bridge-nf-call-iptables is on (br_netfilter)"
        );
        assert_eq!(d.hint(), "nft -a list chain ip filter FORWARD");
        assert_eq!(find_drop(&evs, &["nginx-2"], &[]), None);
        // Routed from one bridge to another (in and out differ), not bridged: no br_netfilter.
        let routed = NfEvent { iif: Some(4), oif: Some(7), ..drop.clone() };
        let d = find_drop(&[&routed], &["host"], &[("host", on)]).expect("drop");
        assert!(!d.via_br_netfilter, "{}", d.summary());
        // br_netfilter hands the ip chain the bridge as both in and out.
        let bridged = NfEvent { iif: Some(4), oif: Some(4), ..drop.clone() };
        assert!(
            find_drop(&[&bridged], &["host"], &[("host", on)]).is_some_and(|d| d.via_br_netfilter)
        );
    }

    #[test]
    fn rule_drop_names_the_rule_and_the_namespace_command() {
        let drop = event("nginx-2", 3, TraceKind::Rule, NfVerdict::Drop);
        let d = find_drop(&[&drop], &["nginx-2"], &[]).expect("drop");
        assert_eq!(d.rule.as_deref(), Some("icmp type echo-request drop"));
        assert!(!d.via_br_netfilter);
        assert_eq!(
            d.summary(),
            "dropped by netfilter in nginx-2: ip filter FORWARD, rule `icmp type echo-request drop`"
        );
        assert_eq!(d.hint(), "ip netns exec nginx-2 nft -a list chain ip filter FORWARD");
        assert_eq!(in_namespace("pid:42", "nft list ruleset"), "nsenter -t 42 -n nft list ruleset");
    }
}
