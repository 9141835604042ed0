//! Thin Linux adapters: namespaces, capture files, netlink. Each does one system job and hands
//! plain data to the core; none of them reasons about packets.

pub mod capture;
pub mod connect;
pub mod conntrack;
pub mod docker;
pub mod dropmon;
pub mod endpoint;
pub mod handoff;
pub mod lab;
pub mod netlink;
pub mod netns;
pub mod nft;
pub mod nftrace;
pub mod node;
pub mod pcapfile;
pub mod poll;
pub mod privilege;
pub mod probe;
pub mod qdisc;
pub mod rtnl;
pub mod runtime;
pub mod sockdiag;
pub mod stop;
pub mod sysctl;
pub mod writes;
