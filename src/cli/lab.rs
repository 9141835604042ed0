//! `vtrace lab`'s command line: clap types, turned into [`Lab`] for `cmd::lab`.

use clap::{Args, Subcommand};

use crate::cmd::lab::{Action, Lab};
use crate::core::lab::{Ipv4Net, LabOptions, OVERLAY_SUBNET, PublishOption};

/// `vtrace lab …`
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    vtrace lab up\n  \
    ip netns exec nginx-1 ping -c1 172.18.0.3\n  \
    vtrace lab status --json\n  \
    vtrace lab up --containers 3 --serve\n  \
    vtrace lab up --in-root --subnet 10.250.0.0/24\n  \
    vtrace lab up --networks 2 --outside --publish 8080:nginx-2:80 --serve\n  \
    vtrace lab up --overlay && vtrace ping nginx-1 nginx-2\n  \
    vtrace ping nginx-1 nginx-2 -s 1472 --df      (on the overlay: the classic MTU failure)\n  \
    vtrace lab down")]
pub struct LabArgs {
    #[command(subcommand)]
    pub action: LabAction,
}

#[derive(Debug, Subcommand)]
pub enum LabAction {
    /// Build the lab (idempotent): container namespaces, veth pairs, a bridge, addresses,
    /// default routes. A failure half way removes what it made.
    Up(LabUpArgs),
    /// Remove everything the lab made (also after a crashed `up`); missing pieces are fine.
    Down(LabOpts),
    /// Show what of the lab exists (namespaces, links and their state, addresses) and what is
    /// missing.
    Status(LabOpts),
}

#[derive(Debug, Args)]
pub struct LabUpArgs {
    #[command(flatten)]
    pub opts: LabOpts,
    /// Start an HTTP server (busybox httpd or nginx, if installed) on port 80 in every
    /// container; `lab down` stops it.
    #[arg(long)]
    pub serve: bool,
}

/// The options that name a lab; give `down` and `status` the same ones as `up`.
#[derive(Debug, Args)]
pub struct LabOpts {
    /// Container names (each gets a namespace of that name), comma-separated.
    #[arg(long, value_name = "NAME,…", value_delimiter = ',', conflicts_with = "containers")]
    pub names: Option<Vec<String>>,
    /// Number of containers, named nginx-1 … nginx-N.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub containers: usize,
    /// Bridge name [default: docker0 in the host namespace, vtrace0 with --in-root].
    #[arg(long, value_name = "NAME")]
    pub bridge: Option<String>,
    /// The lab's subnet: .1 is the bridge (gateway), .2, .3, … the containers [default:
    /// 172.18.0.0/16; 10.42.0.0/24 with --overlay, where .2, .3, … are the containers and
    /// there is no gateway].
    #[arg(long, value_name = "CIDR", value_parser = parse_subnet)]
    pub subnet: Option<Ipv4Net>,
    /// Prepended to every name the lab creates (namespaces; with --in-root also the bridge),
    /// so that several labs can coexist.
    #[arg(long, value_name = "P", default_value = "")]
    pub prefix: String,
    /// Build the host side (bridge and host veth ends) in the root namespace, as Docker does,
    /// instead of a namespace of its own. Refused if the subnet overlaps an existing route.
    #[arg(long)]
    pub in_root: bool,
    /// Name of the namespace holding the host side (without --in-root).
    #[arg(long, value_name = "NAME", default_value = "vtrace-host", conflicts_with = "in_root")]
    pub host_netns: String,
    /// Networks, each with its own bridge (docker0, br-net2, …) and the subnet after the
    /// previous one (172.18.0.0/16, 172.19.0.0/16, …); the host routes between them and
    /// containers are spread over them in turn (nginx-1 on the first, nginx-2 on the second…).
    #[arg(long, value_name = "N", default_value_t = 1, conflicts_with = "in_root")]
    pub networks: usize,
    /// Add the outside: namespace vtrace-outside (198.51.100.2) behind the host's uplink0
    /// (198.51.100.1), with masquerade of the containers' traffic towards it, as a host's
    /// uplink to the internet.
    #[arg(long, conflicts_with = "in_root")]
    pub outside: bool,
    /// Publish a container's TCP port on the uplink's address, as `docker run -p` does (DNAT):
    /// HOST_PORT:CONTAINER:PORT, e.g. 8080:nginx-2:80. Repeatable; needs --outside.
    #[arg(long, value_name = "SPEC", value_parser = parse_publish, requires = "outside")]
    pub publish: Vec<PublishOption>,
    /// Build a VXLAN overlay instead of one host: namespaces node-1 and node-2 joined by an
    /// underlay veth pair (underlay0, 10.99.0.1/24 and 10.99.0.2/24, MTU 1500), each with a
    /// bridge br0 and a VXLAN device vxlan42 on it (VNI 42, UDP 4789, the other node as
    /// remote, MTU 1450: the kernel's 1500 minus 50 bytes of encapsulation); containers are
    /// spread over the nodes (nginx-1 on node-1, nginx-2 on node-2) on one subnet. Their eth0
    /// keeps MTU 1500, so a full-size packet (`ping -s 1472 --df`) shows the classic overlay
    /// MTU failure.
    #[arg(long, conflicts_with_all = ["in_root", "outside", "publish"])]
    pub overlay: bool,
    /// With --overlay: the MTU of the containers' eth0 (1450 makes full-size packets fit the
    /// tunnel).
    #[arg(long, value_name = "BYTES", requires = "overlay")]
    pub overlay_mtu: Option<u32>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

fn parse_publish(s: &str) -> Result<PublishOption, String> {
    s.parse().map_err(|e: crate::core::lab::LabSpecError| e.to_string())
}

fn parse_subnet(s: &str) -> Result<Ipv4Net, String> {
    s.parse().map_err(|e: crate::core::lab::LabSpecError| e.to_string())
}

impl LabOpts {
    /// The lab these options describe.
    pub fn options(&self, serve: bool) -> LabOptions {
        LabOptions {
            names: self.names.clone(),
            containers: self.containers,
            bridge: self.bridge.clone(),
            subnet: self.subnet.unwrap_or(if self.overlay {
                OVERLAY_SUBNET
            } else {
                LabOptions::default().subnet
            }),
            prefix: self.prefix.clone(),
            in_root: self.in_root,
            host_netns: Some(self.host_netns.clone()),
            serve,
            networks: self.networks,
            outside: self.outside,
            publish: self.publish.clone(),
            overlay: self.overlay,
            overlay_mtu: self.overlay_mtu,
        }
    }
}

impl LabUpArgs {
    /// The lab `up` builds.
    pub fn options(&self) -> LabOptions {
        self.opts.options(self.serve)
    }
}

impl From<LabArgs> for Lab {
    fn from(args: LabArgs) -> Lab {
        let (action, options, json) = match args.action {
            LabAction::Up(a) => (Action::Up, a.options(), a.opts.json),
            LabAction::Down(o) => (Action::Down, o.options(false), o.json),
            LabAction::Status(o) => (Action::Status, o.options(false), o.json),
        };
        Lab { action, options, json }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use std::net::Ipv4Addr;

    use super::*;
    use crate::core::lab::LabSpec;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        action: LabAction,
    }

    fn parse(args: &[&str]) -> Result<LabAction, clap::Error> {
        Cli::try_parse_from(std::iter::once("lab").chain(args.iter().copied())).map(|c| c.action)
    }

    #[test]
    fn up_options_make_the_spec() {
        let Ok(LabAction::Up(a)) = parse(&["up", "--names", "web,db", "--prefix", "x-", "--serve"])
        else {
            panic!("lab up did not parse");
        };
        let spec = LabSpec::from_options(&a.options()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(spec.namespaces(), ["x-vtrace-host", "x-web", "x-db"]);
        assert!(spec.serve);
        let Ok(LabAction::Status(o)) =
            parse(&["status", "--in-root", "--subnet", "10.9.0.0/24", "--bridge", "b"])
        else {
            panic!("lab status did not parse");
        };
        let spec = LabSpec::from_options(&o.options(false)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((spec.host_netns(), spec.bridge.name.as_str()), (None, "b"));
        assert_eq!(spec.bridge.addr, Ipv4Addr::new(10, 9, 0, 1));
    }

    #[test]
    fn contradictory_or_bad_options_are_refused() {
        assert!(parse(&["up", "--names", "a", "--containers", "3"]).is_err());
        assert!(parse(&["up", "--in-root", "--host-netns", "h"]).is_err());
        assert!(parse(&["down", "--subnet", "10.0.0.0"]).is_err());
        let Ok(LabAction::Down(o)) = parse(&["down", "--subnet", "10.0.0.1/24"]) else {
            panic!("lab down did not parse");
        };
        let err = LabSpec::from_options(&o.options(false)).err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("subnet 10.0.0.1/24 has host bits set: did you mean 10.0.0.0/24?")
        );
    }

    #[test]
    fn overlay_takes_its_own_subnet_and_refuses_in_root() {
        let Ok(LabAction::Up(a)) = parse(&["up", "--overlay"]) else {
            panic!("lab up --overlay did not parse");
        };
        let spec = LabSpec::from_options(&a.options()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(spec.subnet.to_string(), "10.42.0.0/24");
        assert!(spec.overlay.is_some());
        assert!(parse(&["up", "--overlay", "--in-root"]).is_err());
        assert!(parse(&["up", "--overlay-mtu", "1450"]).is_err());
        let Ok(LabAction::Up(a)) = parse(&["up", "--overlay", "--networks", "2"]) else {
            panic!("lab up --overlay --networks 2 did not parse");
        };
        let err = LabSpec::from_options(&a.options()).err().map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("cannot be combined with --networks")));
    }
}
