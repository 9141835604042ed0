//! `lab down`: remove everything a lab made — its HTTP servers, the links it made in the root
//! namespace (`--in-root`), its namespaces and its state file — also after a crashed `up`.
//!
//! What to remove is what the state file records (written before `up` creates anything, so it
//! covers a crashed `up` too): a namespace or link that merely has a lab's name is never
//! removed, it may be someone else's. Missing pieces are not errors; a piece that cannot be
//! removed does not stop the others, and the first such failure is returned. Removing a
//! namespace removes the links in it, so only root-namespace links are deleted one by one.

use super::error::{LabError, Result};
use super::netlink::Rtnl;
use super::serve;
use super::state::{self, State};
use crate::core::lab::LabSpec;
use crate::sys::netns;

/// Remove the lab described by `spec` and by its state file.
pub async fn down(spec: &LabSpec) -> Result<()> {
    let Some(plan) = state::load(&spec.prefix)? else { return Ok(()) };
    let mut first_error: Option<LabError> = None;
    let mut note = |r: Result<()>| {
        if let Err(e) = r
            && first_error.is_none()
        {
            first_error = Some(e);
        }
    };

    // Servers first: a process inside a namespace keeps it alive after it is unmounted.
    for s in &plan.servers {
        serve::stop(s);
    }
    for ns in &plan.namespaces {
        serve::stop_strays(&serve::www_dir(ns));
    }

    if !plan.root_links.is_empty() {
        note(remove_root_links(&plan).await);
    }
    for ns in &plan.namespaces {
        note(
            netns::delete(ns)
                .map_err(|e| LabError::chain("down", format!("removing netns {ns}"), &e)),
        );
    }
    match first_error {
        Some(e) => Err(e),
        None => state::remove(&spec.prefix),
    }
}

/// Delete the root-namespace links of the plan: veths before bridges, and only a link of the
/// recorded kind (a same-named link of another kind is not the lab's).
async fn remove_root_links(plan: &State) -> Result<()> {
    let root = Rtnl::open("down", &super::root_netns(), "the root netns".into())?;
    let links = root.links("down").await?;
    let mut ordered: Vec<_> = plan.root_links.iter().collect();
    ordered.sort_by_key(|l| l.kind == "bridge");
    for want in ordered {
        let found = links.iter().find(|l| l.name == want.name);
        if let Some(l) = found.filter(|l| l.kind.as_deref() == Some(want.kind.as_str())) {
            root.del_link("down", l.index, &l.name).await?;
        }
    }
    Ok(())
}
