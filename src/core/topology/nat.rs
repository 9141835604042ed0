//! NAT rules of a namespace, as far as a path needs them: which destination a DNAT rule sends a
//! packet to (a published port), read from `nft -j list ruleset` (native nftables rules; what
//! `iptables-nft` writes with its own targets is not decoded and is skipped).
//!
//! Pure: the JSON text comes from `sys::nft`. A rule is kept when every condition it has is one
//! of those understood here (addresses, ports, interfaces, the transport protocol); a rule with
//! other conditions (conntrack state, marks, sets by name…) is kept too, flagged `partial`: a
//! path through it is a likely one, not a certain one.

use std::net::IpAddr;

use serde_json::Value;

use crate::core::listen::Proto;

/// What a NAT rule does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NatAction {
    /// Rewrite the destination (and port).
    Dnat { to: IpAddr, port: Option<u16> },
    /// Rewrite the source.
    Snat { to: IpAddr },
    /// Rewrite the source to the outgoing interface's address.
    Masquerade,
}

/// One NAT rule: its conditions and its action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatRule {
    pub action: NatAction,
    pub proto: Option<Proto>,
    pub dport: Option<u16>,
    /// `ip daddr` / `ip saddr`: an address with its prefix length.
    pub daddr: Option<(IpAddr, u8)>,
    pub saddr: Option<(IpAddr, u8)>,
    pub iifname: Option<String>,
    pub oifname: Option<String>,
    /// The rule has conditions not decoded here.
    pub partial: bool,
    /// `family table chain handle N`, to name it.
    pub name: String,
}

impl NatRule {
    /// Where this rule sends a packet of `proto` to `dst`:`port` that entered on `iif`
    /// (`None`: unknown, not checked), if it DNATs it.
    pub fn dnat(
        &self,
        proto: Proto,
        dst: IpAddr,
        port: u16,
        iif: Option<&str>,
    ) -> Option<(IpAddr, u16)> {
        let NatAction::Dnat { to, port: to_port } = self.action else { return None };
        let ok = self.proto.is_none_or(|p| p == proto)
            && self.dport.is_none_or(|p| p == port)
            && self.daddr.is_none_or(|(net, len)| contains(net, len, dst))
            && match (self.iifname.as_deref(), iif) {
                (Some(want), Some(got)) => want == got,
                _ => true,
            };
        ok.then_some((to, to_port.unwrap_or(port)))
    }
}

/// The first DNAT rule of `rules` that rewrites `proto` to `dst`:`port` (entering on `iif`):
/// the new destination and the rule.
pub fn dnat_of<'r>(
    rules: &'r [NatRule],
    proto: Proto,
    dst: IpAddr,
    port: u16,
    iif: Option<&str>,
) -> Option<(IpAddr, u16, &'r NatRule)> {
    rules.iter().find_map(|r| r.dnat(proto, dst, port, iif).map(|(ip, p)| (ip, p, r)))
}

fn contains(net: IpAddr, len: u8, ip: IpAddr) -> bool {
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(len.min(32))).unwrap_or(0);
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(len.min(128))).unwrap_or(0);
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

/// The NAT rules in `nft -j list ruleset` output (chains of type `nat`); unreadable JSON gives
/// none.
pub fn parse_nft_json(text: &str) -> Vec<NatRule> {
    let Ok(doc) = serde_json::from_str::<Value>(text) else { return Vec::new() };
    let Some(items) = doc.get("nftables").and_then(Value::as_array) else { return Vec::new() };
    let nat_chains: Vec<(&str, &str, &str)> = items
        .iter()
        .filter_map(|i| i.get("chain"))
        .filter(|c| c.get("type").and_then(Value::as_str) == Some("nat"))
        .filter_map(|c| Some((str_of(c, "family")?, str_of(c, "table")?, str_of(c, "name")?)))
        .collect();
    items
        .iter()
        .filter_map(|i| i.get("rule"))
        .filter(|r| {
            let key = (str_of(r, "family"), str_of(r, "table"), str_of(r, "chain"));
            nat_chains.iter().any(|c| key == (Some(c.0), Some(c.1), Some(c.2)))
        })
        .filter_map(rule)
        .collect()
}

fn str_of<'v>(v: &'v Value, key: &str) -> Option<&'v str> {
    v.get(key).and_then(Value::as_str)
}

fn rule(r: &Value) -> Option<NatRule> {
    let name = format!(
        "{} {} {} handle {}",
        str_of(r, "family")?,
        str_of(r, "table")?,
        str_of(r, "chain")?,
        r.get("handle").and_then(Value::as_u64).unwrap_or(0)
    );
    let mut out = NatRule {
        action: NatAction::Masquerade,
        proto: None,
        dport: None,
        daddr: None,
        saddr: None,
        iifname: None,
        oifname: None,
        partial: false,
        name,
    };
    let mut action = None;
    for e in r.get("expr").and_then(Value::as_array)? {
        if let Some(m) = e.get("match") {
            if !condition(m, &mut out) {
                out.partial = true;
            }
        } else if let Some(d) = e.get("dnat") {
            let to = d.get("addr").and_then(Value::as_str).and_then(|a| a.parse().ok())?;
            let port = d.get("port").and_then(Value::as_u64).and_then(|p| u16::try_from(p).ok());
            action = Some(NatAction::Dnat { to, port });
        } else if let Some(d) = e.get("snat") {
            let to = d.get("addr").and_then(Value::as_str).and_then(|a| a.parse().ok())?;
            action = Some(NatAction::Snat { to });
        } else if e.get("masquerade").is_some() {
            action = Some(NatAction::Masquerade);
        } else if e.get("counter").is_none() && e.get("log").is_none() {
            out.partial = true;
        }
    }
    out.action = action?;
    Some(out)
}

/// Read one `match` into the rule; false when it is not one understood here.
fn condition(m: &Value, out: &mut NatRule) -> bool {
    if str_of(m, "op").is_some_and(|op| op != "==") {
        return false;
    }
    let (Some(left), Some(right)) = (m.get("left"), m.get("right")) else { return false };
    if let Some(key) = left.get("meta").and_then(|x| str_of(x, "key")) {
        let Some(name) = right.as_str() else { return false };
        match key {
            "iifname" => out.iifname = Some(name.to_owned()),
            "oifname" => out.oifname = Some(name.to_owned()),
            "l4proto" => return proto_into(name, out),
            _ => return false,
        }
        return true;
    }
    let Some(p) = left.get("payload") else { return false };
    match (str_of(p, "protocol"), str_of(p, "field")) {
        (Some("tcp" | "udp"), Some("dport")) => {
            let proto = str_of(p, "protocol").unwrap_or_default();
            let port = right.as_u64().and_then(|p| u16::try_from(p).ok());
            out.dport = port;
            port.is_some() && proto_into(proto, out)
        }
        (Some("ip" | "ip6"), Some(field @ ("daddr" | "saddr"))) => {
            let net = prefix(right);
            if field == "daddr" {
                out.daddr = net;
            } else {
                out.saddr = net;
            }
            net.is_some()
        }
        _ => false,
    }
}

fn proto_into(name: &str, out: &mut NatRule) -> bool {
    out.proto = match name {
        "tcp" => Some(Proto::Tcp),
        "udp" => Some(Proto::Udp),
        _ => return false,
    };
    true
}

/// `"10.0.0.1"`, `{"prefix": {"addr", "len"}}`, or a one-element anonymous set of either.
fn prefix(v: &Value) -> Option<(IpAddr, u8)> {
    if let Some(s) = v.as_str() {
        let ip: IpAddr = s.parse().ok()?;
        return Some((ip, if ip.is_ipv4() { 32 } else { 128 }));
    }
    if let Some(p) = v.get("prefix") {
        let ip: IpAddr = str_of(p, "addr")?.parse().ok()?;
        let len = p.get("len").and_then(Value::as_u64).and_then(|l| u8::try_from(l).ok())?;
        return Some((ip, len));
    }
    match v.get("set").and_then(Value::as_array).map(Vec::as_slice) {
        Some([one]) => prefix(one),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `nft -j list ruleset` printed for `vtrace lab up --outside --publish 8080:nginx-2:80`
    /// (nftables 1.0.6), with a rule nobody decodes added.
    const LAB: &str = r#"{"nftables": [{"metainfo": {"version": "1.0.6", "json_schema_version": 1}},
      {"table": {"family": "ip", "name": "vtrace_lab_nat", "handle": 2}},
      {"chain": {"family": "ip", "table": "vtrace_lab_nat", "name": "postrouting", "handle": 1,
                 "type": "nat", "hook": "postrouting", "prio": 100, "policy": "accept"}},
      {"chain": {"family": "ip", "table": "vtrace_lab_nat", "name": "prerouting", "handle": 2,
                 "type": "nat", "hook": "prerouting", "prio": -100, "policy": "accept"}},
      {"chain": {"family": "ip", "table": "filter", "name": "fwd", "handle": 3,
                 "type": "filter", "hook": "forward", "prio": 0, "policy": "accept"}},
      {"rule": {"family": "ip", "table": "vtrace_lab_nat", "chain": "postrouting", "handle": 4,
                "expr": [{"match": {"op": "==", "left": {"meta": {"key": "oifname"}}, "right": "uplink0"}},
                         {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}},
                                    "right": {"set": [{"prefix": {"addr": "172.18.0.0", "len": 15}}]}}},
                         {"masquerade": null}]}},
      {"rule": {"family": "ip", "table": "vtrace_lab_nat", "chain": "prerouting", "handle": 5,
                "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": "198.51.100.1"}},
                         {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 8080}},
                         {"dnat": {"addr": "172.19.0.2", "port": 80}}]}},
      {"rule": {"family": "ip", "table": "vtrace_lab_nat", "chain": "prerouting", "handle": 6,
                "expr": [{"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": "new"}},
                         {"match": {"op": "==", "left": {"payload": {"protocol": "udp", "field": "dport"}}, "right": 53}},
                         {"dnat": {"addr": "10.0.0.53"}}]}},
      {"rule": {"family": "ip", "table": "filter", "chain": "fwd", "handle": 7,
                "expr": [{"dnat": {"addr": "10.9.9.9"}}]}}]}"#;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
    }

    #[test]
    fn the_labs_rules_are_read() {
        let rules = parse_nft_json(LAB);
        assert_eq!(rules.len(), 3, "{rules:#?}");
        assert_eq!(rules[0].action, NatAction::Masquerade);
        assert_eq!(rules[0].oifname.as_deref(), Some("uplink0"));
        assert_eq!(rules[0].saddr, Some((ip("172.18.0.0"), 15)));
        assert!(!rules[0].partial);
        assert_eq!(rules[1].name, "ip vtrace_lab_nat prerouting handle 5");
        assert_eq!(rules[2].action, NatAction::Dnat { to: ip("10.0.0.53"), port: None });
        assert!(rules[2].partial);
    }

    #[test]
    fn a_published_port_is_found_and_others_are_not() {
        let rules = parse_nft_json(LAB);
        let hit = dnat_of(&rules, Proto::Tcp, ip("198.51.100.1"), 8080, Some("uplink0"));
        assert_eq!(
            hit.map(|(ip, port, r)| (ip, port, r.name.as_str())),
            Some((ip("172.19.0.2"), 80, "ip vtrace_lab_nat prerouting handle 5"))
        );
        assert!(dnat_of(&rules, Proto::Tcp, ip("198.51.100.1"), 8081, None).is_none());
        assert!(dnat_of(&rules, Proto::Tcp, ip("198.51.100.7"), 8080, None).is_none());
        assert!(dnat_of(&rules, Proto::Udp, ip("198.51.100.1"), 8080, None).is_none());
        // No port in the rule: the port stays.
        let dns = dnat_of(&rules, Proto::Udp, ip("1.1.1.1"), 53, None);
        assert_eq!(dns.map(|(ip, port, _)| (ip, port)), Some((ip("10.0.0.53"), 53)));
        assert!(parse_nft_json("not json").is_empty());
        assert!(parse_nft_json("{\"nftables\": 3}").is_empty());
    }
}
