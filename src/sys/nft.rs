//! nftables through the `nft` binary, in a given namespace: the trace table of vtrace's own
//! (`vtrace_<pid>_<n>`, chains at the earliest hooks holding `meta nftrace set 1` for the traced
//! flow only), its removal, the text of rules by handle, and br_netfilter's switches.
//!
//! Why the `nft` binary (`nft -f -`) and not the nf_tables netlink API: writing rules over
//! netlink means hand-encoding a batch of expressions (payload loads, comparisons, meta set) per
//! rule, and rule text for display would still need nft's printer. `nft` is installed wherever
//! nftables is used (iptables-nft depends on the same kernel side), one call per namespace costs a
//! few milliseconds, and the text users read is exactly what `nft -a list` prints. The binary runs
//! on a thread that entered the namespace (`sys::netns::run_in`), so it works for named, Docker
//! and process namespaces alike. This module does not receive trace events (`sys::nftrace`).

use std::collections::HashMap;
use std::io::Write;
use std::net::IpAddr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use thiserror::Error;

use crate::core::netfilter::{BrNetfilter, NfEvent};
use crate::core::topology::nat::{NatRule, parse_iptables_save, parse_nft_json};
use crate::sys::netns::{Netns, run_in};

/// Prefix of every table vtrace installs.
pub const TABLE_PREFIX: &str = "vtrace_";
/// Families the trace table is installed in.
const FAMILIES: [&str; 2] = ["inet", "bridge"];

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

/// The `nft -f` script of the trace table.
pub fn script(name: &str, flow: Flow) -> String {
    let ip = |a: IpAddr| if a.is_ipv4() { "ip" } else { "ip6" };
    let (a, b) = (flow.a, flow.b);
    let set =
        format!("limit rate {TRACE_RATE}/second burst {TRACE_RATE} packets meta nftrace set 1");
    let mut matches = vec![
        format!("{} saddr {a} {} daddr {b} {set}", ip(a), ip(b)),
        format!("{} saddr {b} {} daddr {a} {set}", ip(b), ip(a)),
    ];
    if let Some(t) = flow.tunnel {
        // The tunnel's outer packets, which carry the flow between the nodes.
        let (ta, tb, port) = (t.a, t.b, t.port);
        matches.push(format!(
            "{} saddr {ta} {} daddr {tb} udp dport {port} meta nftrace set 1",
            ip(ta),
            ip(tb)
        ));
        matches.push(format!(
            "{} saddr {tb} {} daddr {ta} udp dport {port} meta nftrace set 1",
            ip(tb),
            ip(ta)
        ));
    }
    let inet = matches.len();
    if a.is_ipv4() && b.is_ipv4() && a != b {
        // Keep the flow's ARP in the bridge trace too.
        matches.push(format!("arp saddr ip {a} arp daddr ip {b} {set}"));
        matches.push(format!("arp saddr ip {b} arp daddr ip {a} {set}"));
    }
    let chain = |cname: &str, hook: &str, rules: &[String]| {
        let mut s = format!(
            "\tchain {cname} {{\n\t\ttype filter hook {hook} priority -350; policy accept;\n"
        );
        for r in rules {
            s.push_str(&format!("\t\t{r}\n"));
        }
        s.push_str("\t}\n");
        s
    };
    let inet_rules = matches.get(..inet).unwrap_or_default();
    format!(
        "table inet {name} {{\n{}{}}}\ntable bridge {name} {{\n{}}}\n",
        chain("pre", "prerouting", inet_rules),
        chain("out", "output", inet_rules),
        chain("pre", "prerouting", &matches),
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
    /// Install the trace table for `flow` in `ns`.
    pub fn install(ns: &Netns, flow: Flow) -> Result<Self, NftError> {
        let name = table_name(std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        nft(ns, &["-f", "-"], Some(script(&name, flow)), "adding the trace table")?;
        Ok(TraceTable { ns: ns.clone(), name, removed: false })
    }

    /// Install the trace table and, in the same `nft` call, read the namespace's rules (the
    /// text of other tables' rules by handle): one process instead of two per namespace.
    pub fn install_listing(ns: &Netns, flow: Flow) -> Result<(Self, RuleIndex), NftError> {
        let name = table_name(std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let script = format!("{}list ruleset\n", script(&name, flow));
        let out = nft(ns, &["-a", "-f", "-"], Some(script), "adding the trace table")?;
        Ok((TraceTable { ns: ns.clone(), name, removed: false }, RuleIndex::parse(&out)))
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

/// Delete `name` in every family vtrace uses; a family where it is missing is not an error.
fn delete_tables(ns: &Netns, name: &str) -> Result<(), NftError> {
    let all: String = FAMILIES.iter().map(|f| format!("delete table {f} {name}\n")).collect();
    if nft(ns, &["-f", "-"], Some(all), "deleting the trace table").is_ok() {
        return Ok(());
    }
    let present = list_tables(ns)?;
    for (family, table) in present.iter().filter(|(_, t)| t == name) {
        nft(ns, &["delete", "table", family, table], None, "deleting the trace table")?;
    }
    Ok(())
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
        assert!(s.starts_with("table inet vtrace_1_0 {\n\tchain pre {\n\t\ttype filter hook prerouting priority -350; policy accept;\n\t\tip saddr 10.0.0.1 ip daddr 10.0.0.2 limit rate 1000/second burst 1000 packets meta nftrace set 1\n\t\tip saddr 10.0.0.2 ip daddr 10.0.0.1 limit rate 1000/second burst 1000 packets meta nftrace set 1\n\t}\n\tchain out {\n\t\ttype filter hook output priority -350;"), "{s}");
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
