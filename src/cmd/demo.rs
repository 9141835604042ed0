//! `vtrace demo`: build the lab, trace `ping nginx-1 nginx-2 --fresh-arp` (in the TUI on a
//! terminal, as text otherwise), and remove the lab however the trace ends.
//!
//! The lab uses the names of the classic example (`nginx-1`, `nginx-2`, the host side in a
//! namespace named `host`) when none of them exists, else a `vtdemo-` prefix: the demo never
//! adopts, and so never removes, a lab or namespace it did not make.

use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;

use crate::cmd::live::{TraceFlags, catch_sigint, interrupted};
use crate::cmd::ping::{self, PingArgs};
use crate::core::lab::{LabOptions, LabSpec};
use crate::error::Outcome;
use crate::report::clock::Zone;
use crate::sys::lab::{LabGuard, lab_status};

#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Echo requests to send.
    #[arg(short = 'c', long = "count", default_value_t = 5,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub count: u16,
    /// Print the text report even on a terminal.
    #[arg(long)]
    pub no_tui: bool,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub live: crate::cmd::live::LiveOptions,
}

/// The lab of the demo: the classic names if free, else prefixed ones.
fn lab_spec() -> Result<LabSpec> {
    for prefix in ["", "vtdemo-"] {
        let options = LabOptions {
            prefix: prefix.to_owned(),
            host_netns: Some("host".to_owned()),
            ..LabOptions::default()
        };
        let spec = LabSpec::from_options(&options)?;
        if lab_status(&spec).context("looking for an existing lab")?.absent() {
            return Ok(spec);
        }
    }
    Err(anyhow::anyhow!(
        "a demo lab seems to be running already (namespaces vtdemo-*): remove it with \
         `vtrace lab down --prefix vtdemo- --host-netns host`"
    ))
}

pub fn run(args: &DemoArgs, zone: Zone) -> Result<Outcome> {
    catch_sigint();
    let spec = lab_spec()?;
    let (guard, _) = LabGuard::up(&spec).context("building the demo lab")?;
    let name = |i: usize| spec.containers.get(i).map(|c| c.netns.clone()).unwrap_or_default();
    let ping = PingArgs {
        src: name(0),
        dst: name(1),
        count: args.count,
        interval: Duration::from_millis(200),
        size: 56,
        df: false,
        timeout: Duration::from_secs(1),
        fresh_arp: true,
        filter: None,
        out: TraceFlags { json: args.json, no_tui: args.no_tui, ..TraceFlags::default() },
        ipv6: false,
        live: args.live.clone(),
    };
    let outcome = if interrupted() { Ok(Outcome::NotReached) } else { ping::run(&ping, zone) };
    drop(guard);
    outcome
}
