//! Checks before `lab up` creates anything: never adopt a namespace or root link of the same
//! name that the lab did not make (`lab down` would later delete it); with `--in-root`, refuse a
//! subnet that overlaps an existing route, and warn when the host firewall would drop bridged
//! traffic (br_netfilter on and a FORWARD policy of DROP, as Docker leaves it).
//!
//! Read-only: it lists routes and links, reads a sysctl, and may run `nft -j list ruleset` or
//! `iptables-save`; it never changes routes or firewall rules.

use std::process::{Command, Stdio};

use super::error::{LabError, Result};
use super::netlink::Rtnl;
use super::state::{self, State};
use crate::core::lab::{LabSpec, RootRoute, overlapping_routes};
use crate::sys::netns;

/// The sysctl that sends bridged IPv4 through iptables when br_netfilter is loaded.
const BR_NF_CALL_IPTABLES: &str = "/proc/sys/net/bridge/bridge-nf-call-iptables";

/// Refuse to build in a namespace that exists but is not recorded as the lab's (`owned`).
pub fn check_namespaces(spec: &LabSpec, owned: &State) -> Result<()> {
    let foreign =
        spec.namespaces().into_iter().find(|n| netns::exists(n) && !owned.namespaces.contains(*n));
    match foreign {
        None => Ok(()),
        Some(n) => Err(not_ours(spec, format!("netns {n}"), format!("ip netns del {n}"))),
    }
}

fn not_ours(spec: &LabSpec, what: String, remove: String) -> LabError {
    LabError::other(
        "preflight",
        format!("building the lab: {what}"),
        format!(
            "it exists but was not made by vtrace lab (not recorded in {})",
            state::path(&spec.prefix).display()
        ),
    )
    .with_hint(format!("remove it ({remove}) if it is not needed, or choose other names (--prefix, --names, --bridge)"))
}

/// Refuse root links the lab did not make and an overlapping subnet; return warnings about
/// the firewall.
pub async fn check_root(spec: &LabSpec, root: &Rtnl, owned: &State) -> Result<Vec<String>> {
    let links = root.links("preflight").await?;
    for want in State::of_spec(spec).root_links {
        if links.iter().any(|l| l.name == want.name) && !owned.root_links.contains(&want) {
            let remove = format!("ip link del {}", want.name);
            return Err(not_ours(
                spec,
                format!("{} {} in the root netns", want.kind, want.name),
                remove,
            ));
        }
    }
    let routes: Vec<RootRoute> = root
        .ipv4_routes("preflight")
        .await?
        .into_iter()
        .map(|r| RootRoute {
            dst: r.dst,
            dev: r.oif.and_then(|i| links.iter().find(|l| l.index == i)).map(|l| l.name.clone()),
            table: r.table,
        })
        .collect();
    if let Some(r) = overlapping_routes(spec, &routes).first() {
        let dev = r.dev.as_deref().map(|d| format!(" dev {d}")).unwrap_or_default();
        return Err(LabError::other(
            "preflight",
            format!("--in-root: subnet {} in the root netns", spec.subnet),
            format!(
                "it overlaps the existing route {}{dev} (table {})",
                r.dst,
                table_name(r.table)
            ),
        )
        .with_hint(
            "choose a free --subnet (e.g. 10.250.0.0/24), or leave out --in-root to build the \
             host side in a namespace of its own",
        ));
    }
    let mut warnings = Vec::new();
    if br_netfilter_on()
        && let Some(source) = forward_policy_drop()
    {
        warnings.push(format!(
            "br_netfilter is on (net.bridge.bridge-nf-call-iptables = 1) and the FORWARD policy \
             is DROP ({source}): the host firewall will drop traffic between the lab's containers \
             on {} unless a rule accepts it; vtrace changes nothing there",
            spec.bridge.name
        ));
    }
    Ok(warnings)
}

fn table_name(t: u32) -> String {
    match t {
        254 => "main".into(),
        255 => "local".into(),
        253 => "default".into(),
        n => n.to_string(),
    }
}

fn br_netfilter_on() -> bool {
    std::fs::read_to_string(BR_NF_CALL_IPTABLES).is_ok_and(|s| s.trim() == "1")
}

/// Where a FORWARD policy of DROP was found (`nft` or `iptables-save`), if anywhere.
fn forward_policy_drop() -> Option<&'static str> {
    if let Some(json) = read_command("nft", &["-j", "list", "ruleset"]) {
        return nft_forward_drop(&json).then_some("nft");
    }
    let text = read_command("iptables-save", &["-t", "filter"])?;
    iptables_forward_drop(&text).then_some("iptables")
}

fn read_command(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// True when an ip/inet base chain on the forward hook has policy drop.
fn nft_forward_drop(json: &str) -> bool {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(json) else { return false };
    let Some(items) = v.get("nftables").and_then(|n| n.as_array()) else { return false };
    items.iter().filter_map(|i| i.get("chain")).any(|c| {
        let s = |k: &str| c.get(k).and_then(|x| x.as_str());
        matches!(s("family"), Some("ip" | "inet"))
            && s("hook") == Some("forward")
            && s("policy") == Some("drop")
    })
}

/// True when `iptables-save` shows `:FORWARD DROP`.
fn iptables_forward_drop(text: &str) -> bool {
    text.lines().any(|l| l.starts_with(":FORWARD DROP"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nft_forward_drop_is_found_only_on_an_ip_forward_hook() {
        let docker = r#"{"nftables": [{"metainfo": {"version": "1.0.6"}},
            {"table": {"family": "ip", "name": "filter", "handle": 1}},
            {"chain": {"family": "ip", "table": "filter", "name": "FORWARD", "handle": 2,
                       "type": "filter", "hook": "forward", "prio": 0, "policy": "drop"}}]}"#;
        assert!(nft_forward_drop(docker));
        let accept = docker.replace("\"drop\"", "\"accept\"");
        assert!(!nft_forward_drop(&accept));
        let input = docker.replace("\"forward\"", "\"input\"");
        assert!(!nft_forward_drop(&input));
        let bridge =
            docker.replace("\"family\": \"ip\", \"table\"", "\"family\": \"bridge\", \"table\"");
        assert!(!nft_forward_drop(&bridge));
        assert!(!nft_forward_drop(r#"{"nftables": [{"metainfo": {}}]}"#));
        assert!(!nft_forward_drop("not json"));
    }

    #[test]
    fn iptables_save_forward_drop() {
        let text =
            "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n";
        assert!(iptables_forward_drop(text));
        assert!(!iptables_forward_drop(&text.replace("FORWARD DROP", "FORWARD ACCEPT")));
    }

    #[test]
    fn table_names() {
        assert_eq!(table_name(254), "main");
        assert_eq!(table_name(255), "local");
        assert_eq!(table_name(100), "100");
    }
}
