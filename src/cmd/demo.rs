//! `vtrace demo`: build the lab, trace `ping nginx-1 nginx-2 --fresh-arp` (in the TUI on a
//! terminal, as text otherwise), and remove the lab however the trace ends.
//!
//! The lab uses the names of the classic example (`nginx-1`, `nginx-2`, the host side in the
//! namespace `vtrace-host`, as `vtrace lab up` makes it) when none of them exists, else a
//! `vtdemo-` prefix: the demo never
//! adopts, and so never removes, a lab or namespace it did not make.

use std::time::Duration;

use anyhow::{Context, Result};

use crate::cmd::live::LiveFlags;
use crate::cmd::ping::{self, Ping};
use crate::core::lab::{LabOptions, LabSpec};
use crate::core::listen::Proto;
use crate::error::Outcome;
use crate::sys::lab::{LabGuard, lab_status};
use crate::sys::stop::Stop;

/// What `vtrace demo` was asked.
#[derive(Debug, Clone)]
pub struct Demo {
    /// Echo requests to send.
    pub count: u16,
    /// Connect to this TCP port instead (the lab serves HTTP on port 80 then).
    pub tcp: Option<u16>,
    pub flags: LiveFlags,
}

/// The lab of the demo: the classic names if free, else prefixed ones.
fn lab_spec(serve: bool) -> Result<LabSpec> {
    for prefix in ["", "vtdemo-"] {
        // The host side's namespace is named as `vtrace lab up` names it, so the demo and a
        // ping on a lab made by hand label the same points the same way.
        let options = LabOptions { prefix: prefix.to_owned(), serve, ..LabOptions::default() };
        let spec = LabSpec::from_options(&options)?;
        if lab_status(&spec).context("looking for an existing lab")?.absent() {
            return Ok(spec);
        }
    }
    Err(anyhow::anyhow!(
        "a demo lab seems to be running already (namespaces vtdemo-*): remove it with \
         `vtrace lab down --prefix vtdemo-`"
    ))
}

pub fn run(args: &Demo, stop: &Stop) -> Result<Outcome> {
    let spec = lab_spec(args.tcp.is_some())?;
    let (guard, _) = LabGuard::up(&spec).context("building the demo lab")?;
    let name = |i: usize| spec.containers.get(i).map(|c| c.netns.clone()).unwrap_or_default();
    let ping = Ping {
        src: name(0),
        dst: name(1),
        count: args.count,
        interval: Duration::from_millis(200),
        size: 56,
        df: false,
        timeout: Duration::from_secs(1),
        fresh_arp: true,
        filter: None,
        ipv6: false,
        service: args.tcp.map(|port| (Proto::Tcp, port)),
        payload: None,
        flags: args.flags.clone(),
    };
    let outcome = if stop.requested() { Ok(Outcome::NotReached) } else { ping::run(&ping, stop) };
    drop(guard);
    outcome
}
