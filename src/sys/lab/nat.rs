//! The host side's routing and NAT (`lab up --networks`, `--outside`, `--publish`): IPv4
//! forwarding on in the host namespace, and the lab's nftables table (masquerade towards the
//! outside, the published ports' DNAT) from [`LabSpec::nat_script`]. The host namespace is the
//! lab's own (these options refuse `--in-root`), so `lab down` removes all of it with the
//! namespace.

use super::error::{LabError, Result};
use crate::core::lab::{HostSide, LabSpec};
use crate::sys::netns::{Netns, run_in};
use crate::sys::nft;

/// Where IPv4 forwarding is switched, read in the namespace of the thread that opens it.
const IP_FORWARD: &str = "/proc/sys/net/ipv4/ip_forward";

/// Turn forwarding on and load the NAT rules in the lab's host namespace.
pub fn apply(spec: &LabSpec) -> Result<()> {
    let HostSide::Netns(name) = &spec.host else {
        return Err(LabError::other(
            "nat",
            "routing between the lab's networks".to_owned(),
            "the host side is the root namespace, whose forwarding vtrace leaves alone",
        ));
    };
    let ns = Netns::Named(name.clone());
    let what = format!("turning on IPv4 forwarding in netns {name}");
    run_in(&ns, "vtrace-lab-forward", || Ok(std::fs::write(IP_FORWARD, "1")?))
        .map_err(|e| LabError::chain("nat", what, &e))?;
    if let Some(script) = spec.nat_script() {
        nft::load_script(&ns, script, "loading the lab's NAT rules").map_err(|e| {
            LabError::other("nat", format!("NAT rules in netns {name}"), e.to_string())
                .with_hint("install nftables (apt-get install nftables)")
        })?;
    }
    Ok(())
}
