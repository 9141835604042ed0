//! The lab on the system: build (`lab up`), remove (`lab down`) and inspect (`lab status`) the
//! network a [`LabSpec`] describes, over rtnetlink only (no `ip` commands).
//!
//! The public functions are synchronous: each runs its own current-thread tokio runtime on a
//! fresh std thread ([`crate::sys::netns::block_on`]), so they can be called from anywhere,
//! including from inside another runtime (live tracing, `vtrace demo`) or from a `Drop`. What the
//! lab is comes from `core::lab`; this module only applies it.
//!
//! Files: `apply` (up), `overlay` (up of `--overlay`: nodes, underlay, VXLAN), `teardown`
//! (down), `status`, `netlink` (the requests), `state` (the
//! state file under /run/vtrace), `preflight` (--in-root checks), `serve` (HTTP servers),
//! `interrupt` (a stop request between steps), `fault` (fault injection, only with the
//! `test-hooks` feature), `error`.

mod apply;
mod error;
#[cfg(feature = "test-hooks")]
mod fault;
mod interrupt;
mod nat;
mod netlink;
mod overlay;
mod preflight;
mod serve;
mod state;
mod status;
mod teardown;

use std::future::Future;
use std::time::Duration;

pub use error::{LabError, Result};
#[cfg(feature = "test-hooks")]
pub use fault::FAIL_AT_ENV;
pub use state::{STATE_DIR, Server};
pub use status::{FoundLink, LabStatus, LinkStatus, NetnsStatus};

use crate::core::lab::LabSpec;
use crate::sys::netns::{Target, WorkerError, block_on};
use crate::sys::stop::Stop;

/// What `lab up` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabReport {
    /// What this run created (`netns nginx-1`, `bridge docker0 in netns vtrace-host`, …);
    /// empty when the lab was already up.
    pub created: Vec<String>,
    /// Things that may stop traffic (e.g. the host firewall with `--in-root`).
    pub warnings: Vec<String>,
    /// Things worth knowing (e.g. no HTTP server program installed).
    pub notes: Vec<String>,
    /// The HTTP servers of the lab (with `--serve`).
    pub servers: Vec<Server>,
    /// How long `up` took.
    pub elapsed: Duration,
}

/// Build the lab (idempotent). On failure, what this run made is removed again and the error
/// names the step that failed. A `stop` requested meanwhile (SIGINT, SIGTERM) fails the next
/// step, which removes what was made like any other failure.
pub fn lab_up(spec: &LabSpec, stop: Option<&Stop>) -> Result<LabReport> {
    let spec = spec.clone();
    let stop = stop.cloned();
    on_runtime("up", move || async move { apply::up(&spec, stop.as_ref()).await })
}

/// Remove everything the lab made (also after a crashed `up`); missing pieces are fine.
pub fn lab_down(spec: &LabSpec) -> Result<()> {
    let spec = spec.clone();
    on_runtime("down", move || async move { teardown::down(&spec).await })
}

/// What of the lab exists and what is missing.
pub fn lab_status(spec: &LabSpec) -> Result<LabStatus> {
    let spec = spec.clone();
    on_runtime("status", move || async move {
        let observed = status::observe(&spec).await?;
        let servers = status::servers(&spec)?;
        Ok(status::judge(&spec, &observed, servers))
    })
}

/// Removes the lab when dropped (for tests and `vtrace demo`).
#[derive(Debug)]
pub struct LabGuard {
    spec: LabSpec,
}

impl LabGuard {
    /// Build the lab and return a guard that removes it again.
    pub fn up(spec: &LabSpec) -> Result<(LabGuard, LabReport)> {
        let report = lab_up(spec, None)?;
        Ok((LabGuard { spec: spec.clone() }, report))
    }

    /// A guard for a lab that may exist (e.g. to clean up whatever a test made).
    pub fn adopt(spec: &LabSpec) -> LabGuard {
        LabGuard { spec: spec.clone() }
    }

    pub fn spec(&self) -> &LabSpec {
        &self.spec
    }
}

impl Drop for LabGuard {
    fn drop(&mut self) {
        if let Err(e) = lab_down(&self.spec) {
            eprintln!("vtrace: removing the lab: {e}");
        }
    }
}

/// The namespace `--in-root` builds in: the one vtrace itself runs in (the host's, normally).
/// Not `/proc/1/ns/net`, which sandboxes and containers may not let us open.
fn root_netns() -> crate::sys::netns::Netns {
    crate::sys::netns::Netns::Path("/proc/self/ns/net".into())
}

/// Run the future `make` builds to completion on a current-thread runtime owned by a fresh
/// thread.
fn on_runtime<T, F, Fut>(step: &'static str, make: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<T>>,
{
    block_on(Target::Here, &format!("vtrace-lab-{step}"), make).map_err(|e| match e {
        WorkerError::Runtime { source, .. } => {
            LabError::io(step, "starting the netlink runtime", &source)
        }
        WorkerError::Spawn { source, .. } => LabError::io(step, "starting the lab thread", &source),
        WorkerError::Panicked { .. } => {
            LabError::other(step, format!("lab {step}"), "the lab thread panicked")
        }
        // Nothing is entered: these cannot happen.
        e @ (WorkerError::Open(_) | WorkerError::Enter { .. }) => {
            LabError::chain(step, format!("lab {step}"), &e.into())
        }
    })?
}
