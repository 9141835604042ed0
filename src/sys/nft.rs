//! nftables in a given namespace: the trace table of vtrace's own (`vtrace_<pid>_<n>`, chains at
//! the earliest hooks holding `meta nftrace set 1` for the traced flow only) and its removal, the
//! text of rules by handle, NAT rules, and br_netfilter's switches.
//!
//! The trace table is written and removed over nf_tables netlink ([`netlink`]): its rules are few
//! and always of the same shapes, and a run of `nft` costs 10-30 ms of CPU and wall time (start,
//! libraries, cache), three to six of them per trace, where a batch costs under a millisecond.
//! Everything that reads rules goes through the `nft` binary, whose printer gives the text users
//! read (`nft -a list`) and whose JSON decodes every expression. The binary runs on a thread that
//! entered the namespace (`sys::netns::run_in`), so it works for named, Docker and process
//! namespaces alike. This module does not receive trace events (`sys::nftrace`).

use std::collections::HashMap;
use std::io::Write;
use std::net::IpAddr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use thiserror::Error;

use crate::core::netfilter::{BrNetfilter, NfEvent};
use crate::core::topology::nat::{NatRule, parse_iptables_save, parse_nft_json};
use crate::sys::netns::{Netns, run_in};

mod netlink;

use netlink::Family;

/// Prefix of every table vtrace installs.
pub const TABLE_PREFIX: &str = "vtrace_";

static NEXT: AtomicU32 = AtomicU32::new(0);

/// An `nft` call that failed.
#[derive(Debug, Error)]
pub enum NftError {
    #[error("running nft in namespace {ns}: {source:#}")]
    Namespace { ns: String, source: anyhow::Error },
    #[error("nft {what} in namespace {ns} failed: {stderr}")]
    Failed { ns: String, what: String, stderr: String },
}

/// The two endpoints of the traced flow: packets between them (either way) are traced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flow {
    pub a: IpAddr,
    pub b: IpAddr,
    /// A VXLAN tunnel the flow crosses: its outer packets (UDP to its port, between its
    /// endpoints) are traced too.
    pub tunnel: Option<Tunnel>,
}

/// A tunnel's endpoints and UDP port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tunnel {
    pub a: IpAddr,
    pub b: IpAddr,
    pub port: u16,
}

/// `vtrace_<pid>_<n>`.
pub fn table_name(pid: u32, n: u32) -> String {
    format!("{TABLE_PREFIX}{pid}_{n}")
}

/// The pid in a vtrace table name, `None` for any other table.
pub fn table_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(TABLE_PREFIX)?;
    let (pid, n) = rest.split_once('_')?;
    n.parse::<u32>().ok()?;
    pid.parse().ok()
}

/// At most this many packets a second are traced per direction of the flow and hook: a probe
/// (a few a second) is always traced whole, while a flood costs what tracing a sample costs
/// (every traced packet makes the kernel send an event per rule it meets, in every namespace).
pub const TRACE_RATE: u32 = 1000;

/// What one rule of the trace table matches: packets of `l3` from `src` to `dst`, to a UDP
/// port when there is one, at most [`TRACE_RATE`] a second when `limited`. Every rule sets
/// `meta nftrace`. The table's text ([`script`]) and its netlink messages (`netlink`) are both
/// made from these, so what `nft list` prints is what the text says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceRule {
    pub l3: L3,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub udp_dport: Option<u16>,
    pub limited: bool,
}

/// The header a trace rule matches addresses in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L3 {
    /// IPv4 or IPv6, by the addresses.
    Ip,
    /// ARP between two IPv4 addresses (the bridge family only).
    Arp,
}

impl TraceRule {
    /// The rule as `nft` writes it.
    pub fn text(&self) -> String {
        let ip = |a: IpAddr| if a.is_ipv4() { "ip" } else { "ip6" };
        let (src, dst) = (self.src, self.dst);
        let mut s = match self.l3 {
            L3::Ip => format!("{} saddr {src} {} daddr {dst}", ip(src), ip(dst)),
            L3::Arp => format!("arp saddr ip {src} arp daddr ip {dst}"),
        };
        if let Some(port) = self.udp_dport {
            s.push_str(&format!(" udp dport {port}"));
        }
        if self.limited {
            s.push_str(&format!(" limit rate {TRACE_RATE}/second burst {TRACE_RATE} packets"));
        }
        s.push_str(" meta nftrace set 1");
        s
    }
}

/// The rules of the trace table: those of its `inet` chains, then those of its `bridge` chain
/// (the same, then the flow's ARP).
pub fn rules(flow: Flow) -> (Vec<TraceRule>, Vec<TraceRule>) {
    let (a, b) = (flow.a, flow.b);
    let ip = |src, dst| TraceRule { l3: L3::Ip, src, dst, udp_dport: None, limited: true };
    let mut inet = vec![ip(a, b), ip(b, a)];
    if let Some(t) = flow.tunnel {
        // The tunnel's outer packets, which carry the flow between the nodes.
        let outer =
            |src, dst| TraceRule { udp_dport: Some(t.port), limited: false, ..ip(src, dst) };
        inet.extend([outer(t.a, t.b), outer(t.b, t.a)]);
    }
    let mut bridge = inet.clone();
    if a.is_ipv4() && b.is_ipv4() && a != b {
        // Keep the flow's ARP in the bridge trace too.
        bridge
            .extend([TraceRule { l3: L3::Arp, ..ip(a, b) }, TraceRule { l3: L3::Arp, ..ip(b, a) }]);
    }
    (inet, bridge)
}

/// The hooks of the trace table's chains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    Prerouting,
    Output,
}

impl Hook {
    pub fn name(self) -> &'static str {
        match self {
            Hook::Prerouting => "prerouting",
            Hook::Output => "output",
        }
    }
}

/// The chains of the trace table: (name, hook) in the `inet` family; the `bridge` family has
/// the first.
pub const CHAINS: [(&str, Hook); 2] = [("pre", Hook::Prerouting), ("out", Hook::Output)];

/// The priority of the trace table's chains: before every other table's (conntrack's -200,
/// raw's -300).
pub const PRIORITY: i32 = -350;

/// The trace table as an `nft -f` script (what `nft list` prints of it, and the form tests
/// compare with).
pub fn script(name: &str, flow: Flow) -> String {
    let (inet, bridge) = rules(flow);
    let chain = |(cname, hook): (&str, Hook), rules: &[TraceRule]| {
        let hook = hook.name();
        let mut s = format!(
            "\tchain {cname} {{\n\t\ttype filter hook {hook} priority {PRIORITY}; policy accept;\n"
        );
        for r in rules {
            s.push_str(&format!("\t\t{}\n", r.text()));
        }
        s.push_str("\t}\n");
        s
    };
    let [pre, out] = CHAINS;
    format!(
        // A blank line between chains, as nft prints a table.
        "table inet {name} {{\n{}\n{}}}\ntable bridge {name} {{\n{}}}\n",
        chain(pre, &inet),
        chain(out, &inet),
        chain(pre, &bridge),
    )
}

/// vtrace's trace table in one namespace; dropping it removes the table.
#[derive(Debug)]
pub struct TraceTable {
    ns: Netns,
    name: String,
    removed: bool,
}

impl TraceTable {
    /// Install the trace table for `flow` in `ns`: one nf_tables batch per family, over netlink
    /// (a millisecond, where running `nft` costs tens).
    pub fn install(ns: &Netns, flow: Flow) -> Result<Self, NftError> {
        let name = table_name(std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let (inet, bridge) = rules(flow);
        let batches: Vec<netlink::Batch> = [(Family::Inet, inet), (Family::Bridge, bridge)]
            .into_iter()
            .map(|(family, rules)| {
                netlink::batch(family, netlink::table_messages(family, &name, &rules))
            })
            .collect();
        // Its guard from the start: whatever fails below, what was made of it is removed.
        let table = TraceTable { ns: ns.clone(), name, removed: false };
        let what = "adding the trace table";
        let results = netlink::send(ns, &batches).map_err(|r| refused(ns, what, &r))?;
        for (family, result) in [Family::Inet, Family::Bridge].into_iter().zip(results) {
            if let Err(errno) = result {
                return Err(NftError::Failed {
                    ns: ns.path().display().to_string(),
                    what: format!("{what} ({} family)", family.name()),
                    stderr: std::io::Error::from_raw_os_error(errno).to_string(),
                });
            }
        }
        Ok(table)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn netns(&self) -> &Netns {
        &self.ns
    }

    /// Remove the table now (reporting failure, unlike drop).
    pub fn remove(mut self) -> Result<(), NftError> {
        self.removed = true;
        delete_tables(&self.ns, &self.name)
    }
}

impl Drop for TraceTable {
    fn drop(&mut self) {
        if !self.removed {
            let _ = delete_tables(&self.ns, &self.name);
        }
    }
}

/// An error of nf_tables netlink as an [`NftError`].
fn refused(ns: &Netns, what: &str, r: &netlink::Refused) -> NftError {
    NftError::Failed {
        ns: ns.path().display().to_string(),
        what: format!("{what}: {}", r.what),
        stderr: r.error.to_string(),
    }
}

/// Delete `name` in every family vtrace uses, over netlink (one batch each, so a family where
/// it is missing, not an error, does not hold back the other).
fn delete_tables(ns: &Netns, name: &str) -> Result<(), NftError> {
    let what = "deleting the trace table";
    let batches: Vec<netlink::Batch> = [Family::Inet, Family::Bridge]
        .into_iter()
        .map(|family| netlink::batch(family, vec![netlink::delete_message(name)]))
        .collect();
    let results = netlink::send(ns, &batches).map_err(|r| refused(ns, what, &r))?;
    match results.into_iter().find_map(|r| r.err().filter(|&errno| errno != libc::ENOENT)) {
        None => Ok(()),
        Some(errno) => Err(NftError::Failed {
            ns: ns.path().display().to_string(),
            what: what.to_owned(),
            stderr: std::io::Error::from_raw_os_error(errno).to_string(),
        }),
    }
}

/// Every table of a namespace as (family, name).
pub fn list_tables(ns: &Netns) -> Result<Vec<(String, String)>, NftError> {
    let out = nft(ns, &["list", "tables"], None, "listing tables")?;
    Ok(out
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            match (w.next(), w.next(), w.next()) {
                (Some("table"), Some(f), Some(t)) => Some((f.to_owned(), t.to_owned())),
                _ => None,
            }
        })
        .collect())
}

/// Delete one table.
/// A table gone meanwhile (its run finished its own teardown) counts as deleted.
pub fn delete_table(ns: &Netns, family: &str, name: &str) -> Result<(), NftError> {
    match nft(ns, &["delete", "table", family, name], None, "deleting a table") {
        Err(NftError::Failed { stderr, .. }) if stderr.contains("No such file or directory") => {
            Ok(())
        }
        r => r.map(|_| ()),
    }
}

/// Rule text by (family, table, chain, handle), from one `nft -a list ruleset`.
#[derive(Debug, Default, Clone)]
pub struct RuleIndex {
    rules: HashMap<(String, String, String, u64), String>,
}

impl RuleIndex {
    /// Read the ruleset of `ns` once. Load it after the traffic, so rules added meanwhile show.
    pub fn load(ns: &Netns) -> Result<Self, NftError> {
        nft(ns, &["-a", "list", "ruleset"], None, "listing the ruleset").map(|t| Self::parse(&t))
    }

    /// Parse `nft -a list ruleset` output.
    pub fn parse(text: &str) -> Self {
        let mut rules = HashMap::new();
        let mut table: Option<(String, String)> = None;
        let mut chain: Option<String> = None;
        for line in text.lines() {
            let l = line.trim();
            let mut words = l.split_whitespace();
            match (words.next(), words.next(), words.next()) {
                (Some("table"), Some(f), Some(t)) if l.contains('{') => {
                    table = Some((f.to_owned(), t.to_owned()));
                    chain = None;
                    continue;
                }
                (Some("chain"), Some(c), _) if l.contains('{') => {
                    chain = Some(c.to_owned());
                    continue;
                }
                _ => {}
            }
            let (Some((f, t)), Some(c)) = (&table, &chain) else { continue };
            let Some((rule, handle)) = l.rsplit_once(" # handle ") else { continue };
            let Ok(handle) = handle.trim().parse::<u64>() else { continue };
            rules.insert((f.clone(), t.clone(), c.clone(), handle), rule.trim().to_owned());
        }
        RuleIndex { rules }
    }

    /// The text of one rule.
    pub fn text(&self, family: &str, table: &str, chain: &str, handle: u64) -> Option<&str> {
        self.rules
            .get(&(family.to_owned(), table.to_owned(), chain.to_owned(), handle))
            .map(String::as_str)
    }

    /// Fill an event's `rule_text` from its family, table, chain and handle.
    pub fn annotate(&self, ev: &mut NfEvent) {
        if let (Some(f), Some(h)) = (ev.family, ev.rule_handle) {
            ev.rule_text = self.text(f.as_str(), &ev.table, &ev.chain, h).map(str::to_owned);
        }
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

/// `net.bridge.bridge-nf-call-{iptables,ip6tables,arptables}` in `ns` (per namespace since
/// Linux 5.3); all `None` when br_netfilter is not loaded.
pub fn br_netfilter(ns: &Netns) -> BrNetfilter {
    run_in(ns, "vtrace-nft", || {
        let read = |name: &str| {
            std::fs::read_to_string(format!("/proc/sys/net/bridge/bridge-nf-call-{name}"))
                .ok()
                .map(|s| s.trim() == "1")
        };
        Ok(BrNetfilter {
            call_iptables: read("iptables"),
            call_ip6tables: read("ip6tables"),
            call_arptables: read("arptables"),
        })
    })
    .unwrap_or_default()
}

/// The NAT rules of `ns`: its native nftables rules, then what `iptables-save -t nat` shows
/// (Docker's and other iptables rules, which nft's JSON leaves undecoded); see
/// [`crate::core::topology::nat`]. Without `iptables-save` only the first.
pub fn nat_rules(ns: &Netns) -> Result<Vec<NatRule>, NftError> {
    let json = nft(ns, &["-j", "list", "ruleset"], None, "listing the ruleset")?;
    let mut rules = parse_nft_json(&json);
    let saved = run_in(ns, "vtrace-iptables", || {
        let out = Command::new("iptables-save").args(["-t", "nat"]).stderr(Stdio::null()).output();
        Ok(out.ok().filter(|o| o.status.success()).map(|o| o.stdout))
    });
    if let Ok(Some(text)) = saved {
        rules.extend(parse_iptables_save(&String::from_utf8_lossy(&text)));
    }
    Ok(rules)
}

/// Load an `nft -f` script into `ns` (`what` names it in errors).
pub fn load_script(ns: &Netns, script: String, what: &str) -> Result<(), NftError> {
    nft(ns, &["-f", "-"], Some(script), what).map(|_| ())
}

/// Run `nft ARGS` inside `ns`, feeding `stdin`, and return its standard output.
fn nft(ns: &Netns, args: &[&str], stdin: Option<String>, what: &str) -> Result<String, NftError> {
    let label = ns.path().display().to_string();
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    let out = run_in(ns, "vtrace-nft", move || {
        let mut child = Command::new("nft")
            .args(&args)
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| anyhow::anyhow!("starting nft ({e}): install nftables"))?;
        if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(text.as_bytes())?;
        }
        Ok(child.wait_with_output()?)
    })
    .map_err(|source| NftError::Namespace { ns: label.clone(), source })?;
    if !out.status.success() {
        return Err(NftError::Failed {
            ns: label,
            what: what.to_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_carry_the_pid() {
        assert_eq!(table_name(4242, 3), "vtrace_4242_3");
        assert_eq!(table_pid("vtrace_4242_3"), Some(4242));
        for other in ["filter", "vtrace_x_1", "vtrace_12", "vtrace_12_", "nat_1_2"] {
            assert_eq!(table_pid(other), None, "{other}");
        }
    }

    #[test]
    fn the_script_traces_the_flow_both_ways_at_the_earliest_hooks() {
        let flow = Flow { a: [10, 0, 0, 1].into(), b: [10, 0, 0, 2].into(), tunnel: None };
        let s = script("vtrace_1_0", flow);
        assert!(s.starts_with("table inet vtrace_1_0 {\n\tchain pre {\n\t\ttype filter hook prerouting priority -350; policy accept;\n\t\tip saddr 10.0.0.1 ip daddr 10.0.0.2 limit rate 1000/second burst 1000 packets meta nftrace set 1\n\t\tip saddr 10.0.0.2 ip daddr 10.0.0.1 limit rate 1000/second burst 1000 packets meta nftrace set 1\n\t}\n\n\tchain out {\n\t\ttype filter hook output priority -350;"), "{s}");
        assert!(s.contains("table bridge vtrace_1_0 {"));
        assert_eq!(s.matches("meta nftrace set 1").count(), 8);
        assert_eq!(s.matches("arp saddr ip").count(), 2);
        let v6 = script(
            "t",
            Flow {
                a: "fd00::1".parse().unwrap_or(flow.a),
                b: "fd00::2".parse().unwrap_or(flow.b),
                tunnel: None,
            },
        );
        assert!(v6.contains("ip6 saddr fd00::1 ip6 daddr fd00::2 limit rate 1000/second"));
        assert!(!v6.contains("arp"));
    }

    #[test]
    fn rule_text_is_found_by_family_table_chain_and_handle() {
        let text = "table ip filter { # handle 3\n\tchain FORWARD { # handle 2\n\t\ttype filter hook forward priority filter; policy drop;\n\t\tcounter packets 0 bytes 0 jump DOCKER-USER # handle 7\n\t}\n\tchain DOCKER-USER { # handle 5\n\t\treturn # handle 8\n\t}\n}\ntable inet t { # handle 4\n\tchain input { # handle 1\n\t\ticmp type echo-request drop # handle 2\n\t}\n}\n";
        let idx = RuleIndex::parse(text);
        assert_eq!(idx.len(), 3);
        assert_eq!(
            idx.text("ip", "filter", "FORWARD", 7),
            Some("counter packets 0 bytes 0 jump DOCKER-USER")
        );
        assert_eq!(idx.text("ip", "filter", "DOCKER-USER", 8), Some("return"));
        assert_eq!(idx.text("inet", "t", "input", 2), Some("icmp type echo-request drop"));
        assert_eq!(idx.text("ip", "t", "input", 2), None);
    }
}
