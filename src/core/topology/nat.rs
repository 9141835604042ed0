//! NAT rules of a namespace, as far as a path needs them: which destination a DNAT rule sends a
//! packet to (a published port), read from `nft -j list ruleset` (native nftables rules) and from
//! `iptables-save -t nat` (what Docker and `iptables-nft` write with their own targets, which
//! nft's JSON does not decode).
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
    /// Leave the chain (iptables `-j RETURN`): later rules of the chain do not apply.
    Return,
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
    /// `! -i IF` (iptables): any input interface but this one.
    pub not_iifname: Option<String>,
    pub oifname: Option<String>,
    /// `! -o IF` (iptables): any output interface but this one.
    pub not_oifname: Option<String>,
    /// The rule has conditions not decoded here.
    pub partial: bool,
    /// `family table chain handle N`, to name it.
    pub name: String,
    /// The chain it is in (a `RETURN` leaves it).
    pub chain: String,
}

impl std::fmt::Display for NatRule {
    /// A short form: `dnat tcp to 198.51.100.1:8080 → 172.19.0.2:80`, `masquerade from
    /// 172.18.0.0/15 out uplink0`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let net = |(ip, len): (IpAddr, u8)| {
            if len == if ip.is_ipv4() { 32 } else { 128 } {
                ip.to_string()
            } else {
                format!("{ip}/{len}")
            }
        };
        match &self.action {
            NatAction::Dnat { to, port } => {
                f.write_str("dnat")?;
                if let Some(p) = self.proto {
                    write!(f, " {}", p.as_str())?;
                }
                let daddr = self.daddr.map_or_else(|| "*".to_owned(), net);
                match self.dport {
                    Some(d) => write!(f, " to {daddr}:{d}")?,
                    None => write!(f, " to {daddr}")?,
                }
                match port {
                    Some(p) => write!(f, " → {to}:{p}")?,
                    None => write!(f, " → {to}")?,
                }
            }
            NatAction::Return => f.write_str("return")?,
            NatAction::Snat { .. } | NatAction::Masquerade => {
                let what = match self.action {
                    NatAction::Snat { to } => format!("snat → {to}"),
                    _ => "masquerade".to_owned(),
                };
                f.write_str(&what)?;
                if let Some(p) = self.proto {
                    write!(f, " {}", p.as_str())?;
                }
                if let Some(s) = self.saddr {
                    write!(f, " from {}", net(s))?;
                }
                if self.daddr.is_some() || self.dport.is_some() {
                    let daddr = self.daddr.map_or_else(|| "*".to_owned(), net);
                    match self.dport {
                        Some(d) => write!(f, " to {daddr}:{d}")?,
                        None => write!(f, " to {daddr}")?,
                    }
                }
            }
        }
        if let Some(i) = &self.iifname {
            write!(f, " in {i}")?;
        }
        if let Some(i) = &self.not_iifname {
            write!(f, " not in {i}")?;
        }
        if let Some(o) = &self.oifname {
            write!(f, " out {o}")?;
        }
        if let Some(o) = &self.not_oifname {
            write!(f, " not out {o}")?;
        }
        if self.partial {
            f.write_str(" (and conditions not shown)")?;
        }
        Ok(())
    }
}

impl NatRule {
    /// A rule named `name` in `chain` with no condition yet (its action set once read).
    fn unconditional(name: String, chain: String) -> NatRule {
        NatRule {
            action: NatAction::Masquerade,
            proto: None,
            dport: None,
            daddr: None,
            saddr: None,
            iifname: None,
            not_iifname: None,
            oifname: None,
            not_oifname: None,
            partial: false,
            name,
            chain,
        }
    }

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
        self.applies(proto, dst, port, iif).then_some((to, to_port.unwrap_or(port)))
    }

    /// Whether the rule's conditions hold for `proto` to `dst`:`port` entering on `iif` (an
    /// unknown interface is not checked).
    fn applies(&self, proto: Proto, dst: IpAddr, port: u16, iif: Option<&str>) -> bool {
        self.proto.is_none_or(|p| p == proto)
            && self.dport.is_none_or(|p| p == port)
            && self.daddr.is_none_or(|(net, len)| contains(net, len, dst))
            && match (self.iifname.as_deref(), iif) {
                (Some(want), Some(got)) => want == got,
                _ => true,
            }
            && match (self.not_iifname.as_deref(), iif) {
                (Some(not), Some(got)) => not != got,
                _ => true,
            }
    }
}

/// The first DNAT rule of `rules` that rewrites `proto` to `dst`:`port` (entering on `iif`):
/// the new destination and the rule. Rules are taken in order; a `RETURN` that applies ends its
/// chain (Docker returns the traffic of its own bridges before its DNAT rules).
pub fn dnat_of<'r>(
    rules: &'r [NatRule],
    proto: Proto,
    dst: IpAddr,
    port: u16,
    iif: Option<&str>,
) -> Option<(IpAddr, u16, &'r NatRule)> {
    let mut left: Vec<&str> = Vec::new();
    for r in rules {
        if left.contains(&r.chain.as_str()) {
            continue;
        }
        if r.action == NatAction::Return {
            if r.applies(proto, dst, port, iif) {
                left.push(&r.chain);
            }
            continue;
        }
        if let Some((ip, p)) = r.dnat(proto, dst, port, iif) {
            return Some((ip, p, r));
        }
    }
    None
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

/// The DNAT, SNAT and MASQUERADE rules of `iptables-save -t nat` output (`-A CHAIN … -j DNAT
/// --to-destination 172.17.0.2:80`), each named `iptables nat CHAIN rule N` (its position in
/// its chain). Options not decoded here mark the rule `partial`.
pub fn parse_iptables_save(text: &str) -> Vec<NatRule> {
    let mut out = Vec::new();
    let mut counts: Vec<(String, usize)> = Vec::new();
    let mut in_nat = false;
    for line in text.lines().map(str::trim) {
        if let Some(table) = line.strip_prefix('*') {
            in_nat = table == "nat";
            continue;
        }
        let Some(rest) = line.strip_prefix("-A ").filter(|_| in_nat) else { continue };
        let words: Vec<&str> = rest.split_whitespace().collect();
        let Some((&chain, args)) = words.split_first() else { continue };
        let n = match counts.iter_mut().find(|(c, _)| c == chain) {
            Some((_, n)) => {
                *n += 1;
                *n
            }
            None => {
                counts.push((chain.to_owned(), 1));
                1
            }
        };
        if let Some(r) = iptables_rule(args, chain, format!("iptables nat {chain} rule {n}")) {
            out.push(r);
        }
    }
    out
}

/// One `-A` line's options (after the chain name).
fn iptables_rule(args: &[&str], chain: &str, name: String) -> Option<NatRule> {
    let mut r = NatRule::unconditional(name, chain.to_owned());
    let mut action = None;
    let mut negate = false;
    let mut i = 0;
    while let Some(&a) = args.get(i) {
        let value = args.get(i + 1).copied();
        i += 1;
        match (a, negate) {
            ("!", _) => {
                negate = true;
                continue;
            }
            ("-p", false) => r.proto = value.and_then(proto_of),
            ("-i", false) => r.iifname = value.map(str::to_owned),
            ("-i", true) => r.not_iifname = value.map(str::to_owned),
            ("-o", false) => r.oifname = value.map(str::to_owned),
            ("-o", true) => r.not_oifname = value.map(str::to_owned),
            ("-d", false) => r.daddr = value.and_then(iptables_net),
            ("-s", false) => r.saddr = value.and_then(iptables_net),
            ("--dport", false) => r.dport = value.and_then(|v| v.parse().ok()),
            ("-j", false) => match value {
                Some("DNAT" | "SNAT" | "MASQUERADE" | "RETURN") => action = value,
                _ => return None,
            },
            ("--to-destination" | "--to-source", false) => {
                let (ip, port) = value.and_then(to_address)?;
                action = Some(if a == "--to-destination" { "DNAT" } else { "SNAT" });
                r.action = match a {
                    "--to-destination" => NatAction::Dnat { to: ip, port },
                    _ => NatAction::Snat { to: ip },
                };
            }
            // Matches that only say which module reads the options that follow.
            ("-m", false) if matches!(value, Some("tcp" | "udp")) => {}
            _ => {
                r.partial = true;
                // An option and its value (when the next word is not an option).
                if value.is_some_and(|v| !v.starts_with('-') && v != "!") {
                    i += 1;
                }
                negate = false;
                continue;
            }
        }
        if !matches!(a, "!") && value.is_some() {
            i += 1;
        }
        negate = false;
    }
    match action? {
        "MASQUERADE" => r.action = NatAction::Masquerade,
        "RETURN" => r.action = NatAction::Return,
        "DNAT" | "SNAT" if matches!(r.action, NatAction::Masquerade) => return None,
        _ => {}
    }
    Some(r)
}

fn proto_of(v: &str) -> Option<Proto> {
    match v {
        "tcp" => Some(Proto::Tcp),
        "udp" => Some(Proto::Udp),
        _ => None,
    }
}

/// `10.0.0.0/8`, `172.17.0.2/32`, `10.0.0.1`.
fn iptables_net(v: &str) -> Option<(IpAddr, u8)> {
    let (ip, len) = match v.split_once('/') {
        Some((ip, len)) => (ip.parse::<IpAddr>().ok()?, len.parse().ok()?),
        None => {
            let ip: IpAddr = v.parse().ok()?;
            (ip, if ip.is_ipv4() { 32 } else { 128 })
        }
    };
    Some((ip, len))
}

/// `172.17.0.2:80`, `172.17.0.2`, `[fd00::2]:80` (a port range keeps its first port).
fn to_address(v: &str) -> Option<(IpAddr, Option<u16>)> {
    if let Ok(ip) = v.parse::<IpAddr>() {
        return Some((ip, None));
    }
    let (host, port) = v.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = port.split('-').next()?.parse().ok()?;
    Some((host.parse().ok()?, Some(port)))
}

fn str_of<'v>(v: &'v Value, key: &str) -> Option<&'v str> {
    v.get(key).and_then(Value::as_str)
}

fn rule(r: &Value) -> Option<NatRule> {
    let (table, chain) = (str_of(r, "table")?, str_of(r, "chain")?);
    let name = format!(
        "{} {table} {chain} handle {}",
        str_of(r, "family")?,
        r.get("handle").and_then(Value::as_u64).unwrap_or(0)
    );
    let chain = format!("{table} {chain}");
    let mut out = NatRule::unconditional(name, chain);
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

/// One end of a conntrack tuple.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CtTuple {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// TCP/UDP ports (none for ICMP).
    pub sport: Option<u16>,
    pub dport: Option<u16>,
}

impl std::fmt::Display for CtTuple {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let end = |ip: IpAddr, port: Option<u16>| match (ip, port) {
            (IpAddr::V6(v6), Some(p)) => format!("[{v6}]:{p}"),
            (ip, Some(p)) => format!("{ip}:{p}"),
            (ip, None) => ip.to_string(),
        };
        write!(f, "{} → {}", end(self.src, self.sport), end(self.dst, self.dport))
    }
}

/// A conntrack entry: the connection as it was first seen (`original`) and as its replies are
/// expected (`reply`); the two differ where the namespace translates it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CtEntry {
    /// IP protocol number.
    pub proto: u8,
    pub original: CtTuple,
    pub reply: CtTuple,
}

impl CtEntry {
    /// What the entry says the namespace does to the connection: `snat 172.18.0.2 →
    /// 198.51.100.1`, `dnat 198.51.100.1:8080 → 172.19.0.2:80`, both, or `None` when it leaves
    /// it alone.
    pub fn translation(&self) -> Option<String> {
        let (o, r) = (&self.original, &self.reply);
        let end = |ip, port| CtTuple { src: ip, dst: ip, sport: port, dport: None };
        let show = |t: CtTuple| t.to_string().split(" → ").next().unwrap_or_default().to_owned();
        let mut out = Vec::new();
        if (r.src, r.sport) != (o.dst, o.dport) {
            out.push(format!("dnat {} → {}", show(end(o.dst, o.dport)), show(end(r.src, r.sport))));
        }
        if (r.dst, r.dport) != (o.src, o.sport) {
            out.push(format!("snat {} → {}", show(end(o.src, o.sport)), show(end(r.dst, r.dport))));
        }
        (!out.is_empty()).then(|| out.join(", "))
    }
}

/// A translated conntrack entry of a traced flow, in the namespace that holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CtNote {
    pub netns: String,
    pub entry: CtEntry,
}

/// The entries of `entries` for the flow `src` → `dst` (as it left the source) that a
/// namespace translated.
pub fn translated_flows(entries: &[CtEntry], src: IpAddr, dst: IpAddr) -> Vec<CtEntry> {
    entries
        .iter()
        .filter(|e| e.original.src == src && e.original.dst == dst && e.translation().is_some())
        .copied()
        .collect()
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

    /// `iptables-save -t nat` on a host with Docker (28.2) and one container published with
    /// `-p 8080:80`, plus a Podman (netavark) chain.
    const DOCKER: &str = "# Generated by iptables-save v1.8.9 (nf_tables)
*nat
:PREROUTING ACCEPT [0:0]
:DOCKER - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
-A POSTROUTING -s 172.17.0.2/32 -d 172.17.0.2/32 -p tcp -m tcp --dport 80 -j MASQUERADE
-A DOCKER -i docker0 -j RETURN
-A DOCKER -i br-c451116ae025 -j RETURN
-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80
-A NETAVARK-HOSTPORT-MASQ -m comment --comment \"netavark portfw masq mark\" -m mark --mark 0x2000/0x2000 -j MASQUERADE
COMMIT
*filter
-A FORWARD -j DOCKER-USER
COMMIT
";

    #[test]
    fn conntrack_entries_say_which_way_they_translate() {
        let t = |src: &str, sp, dst: &str, dp| CtTuple {
            src: ip(src),
            dst: ip(dst),
            sport: sp,
            dport: dp,
        };
        let masq = CtEntry {
            proto: 1,
            original: t("172.18.0.2", None, "198.51.100.2", None),
            reply: t("198.51.100.2", None, "198.51.100.1", None),
        };
        assert_eq!(masq.translation().as_deref(), Some("snat 172.18.0.2 → 198.51.100.1"));
        let published = CtEntry {
            proto: 6,
            original: t("198.51.100.2", Some(40000), "198.51.100.1", Some(8080)),
            reply: t("172.19.0.2", Some(80), "198.51.100.2", Some(40000)),
        };
        assert_eq!(
            published.translation().as_deref(),
            Some("dnat 198.51.100.1:8080 → 172.19.0.2:80")
        );
        assert_eq!(published.original.to_string(), "198.51.100.2:40000 → 198.51.100.1:8080");
        let plain = CtEntry {
            proto: 1,
            original: t("10.1.0.2", None, "10.2.0.2", None),
            reply: t("10.2.0.2", None, "10.1.0.2", None),
        };
        assert_eq!(plain.translation(), None);
        let all = [masq, published, plain];
        assert_eq!(translated_flows(&all, ip("172.18.0.2"), ip("198.51.100.2")), [masq]);
        assert!(translated_flows(&all, ip("10.1.0.2"), ip("10.2.0.2")).is_empty());
    }

    #[test]
    fn dockers_published_port_is_read_from_iptables() {
        let rules = parse_iptables_save(DOCKER);
        let short: Vec<String> = rules.iter().map(ToString::to_string).collect();
        assert_eq!(
            short,
            [
                "masquerade from 172.17.0.0/16 not out docker0",
                "masquerade tcp from 172.17.0.2 to 172.17.0.2:80",
                "return in docker0",
                "return in br-c451116ae025",
                "dnat tcp to *:8080 → 172.17.0.2:80 not in docker0",
                "masquerade (and conditions not shown)"
            ]
        );
        assert_eq!(rules[4].name, "iptables nat DOCKER rule 3");
        // From an outside interface the port is DNATed; from docker0 and from a Docker network's
        // bridge it is not (their RETURN comes first: docker-proxy answers there).
        let from = |iif| dnat_of(&rules, Proto::Tcp, ip("10.252.1.1"), 8080, Some(iif));
        assert_eq!(from("eth0").map(|(ip, port, _)| (ip, port)), Some((ip("172.17.0.2"), 80)));
        assert!(from("docker0").is_none());
        assert!(from("br-c451116ae025").is_none());
        assert!(parse_iptables_save("-A X -j DNAT --to-destination 1.2.3.4").is_empty());
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
        let short: Vec<String> = rules.iter().map(ToString::to_string).collect();
        assert_eq!(
            short,
            [
                "masquerade from 172.18.0.0/15 out uplink0",
                "dnat tcp to 198.51.100.1:8080 → 172.19.0.2:80",
                "dnat udp to *:53 → 10.0.0.53 (and conditions not shown)"
            ]
        );
        assert!(parse_nft_json("not json").is_empty());
        assert!(parse_nft_json("{\"nftables\": 3}").is_empty());
    }
}
