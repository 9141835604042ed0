//! Capture inputs of `vtrace analyze` (report and `--packets`): the files given as FILE… and
//! `--point LABEL=FILE…`, opened (format by magic number), and the capture point id of each of
//! their interfaces.

use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow};

use crate::core::frame::InterfaceInfo;
use crate::session::clocks::corrected;
use crate::sys::nftrace::{NfFinished, sidecar};
use crate::sys::pcapfile::CaptureReader;

/// One capture file, opened.
#[derive(Debug)]
pub struct Input {
    /// The `--point` label, if the file was given as LABEL=FILE.
    pub label: Option<String>,
    pub path: PathBuf,
    pub reader: CaptureReader,
}

/// Open every file, each with its `--point` label if it was given as LABEL=FILE, in order.
pub fn open_all(files: &[(Option<String>, PathBuf)]) -> Result<Vec<Input>> {
    let inputs = files
        .iter()
        .map(|(label, path)| {
            let reader = CaptureReader::open(path)?;
            Ok(Input { label: label.clone(), path: path.clone(), reader })
        })
        .collect::<Result<Vec<_>>>()?;
    if inputs.is_empty() {
        return Err(anyhow!(
            "no capture files: give FILE… or --point LABEL=FILE… (see `vtrace analyze --help`)"
        ));
    }
    Ok(inputs)
}

/// The netfilter traces written next to the inputs by `vtrace ping/watch --write`
/// (`FILE.nft.json`, see [`sidecar`]), merged, each on the first input's clock (`offsets`: each
/// input's clock offset, subtracted from its events' times); `None` when no input has one.
pub fn netfilter_traces(inputs: &[Input], offsets: &[i64]) -> Result<Option<NfFinished>> {
    let mut all: Option<NfFinished> = None;
    for (i, input) in inputs.iter().enumerate() {
        if let Some(mut t) = sidecar::read(&input.path)? {
            let offset = offsets.get(i).copied().unwrap_or(0);
            if offset != 0 {
                for e in &mut t.events {
                    e.t_ns = corrected(e.t_ns, offset);
                }
                for d in &mut t.drops {
                    d.t_ns = corrected(d.t_ns, offset);
                }
            }
            let merged = all.get_or_insert_with(NfFinished::default);
            merged.events.extend(t.events);
            merged.drops.extend(t.drops);
            merged.br_netfilter.extend(t.br_netfilter);
            merged.qdisc_rises.extend(t.qdisc_rises);
            merged.probe = merged.probe.take().or(t.probe);
            merged.conntrack.extend(t.conntrack);
        }
    }
    if let Some(t) = all.as_mut() {
        // Stable: the events of one namespace stay in the order it delivered them.
        t.events.sort_by_key(|e| e.t_ns);
        t.drops.sort_by_key(|d| d.t_ns);
    }
    Ok(all)
}

impl Input {
    /// The point id of interface `ifid` of this input.
    pub fn point_id(&self, ifid: usize, info: &InterfaceInfo) -> String {
        point_id(self.label.as_deref(), &self.path, ifid, info)
    }
}

/// The point id of an interface: the `--point` label (with `/ifN` for further interfaces); a
/// pcapng `if_name` as vtrace writes it (`<netns>/<ifname>`), or a bare `if_name` prefixed with
/// the `netns=` of its description; else the file name.
pub fn point_id(label: Option<&str>, path: &Path, ifid: usize, info: &InterfaceInfo) -> String {
    let stem =
        || path.file_stem().map_or_else(|| "capture".into(), |s| s.to_string_lossy().into_owned());
    match (label, info.name.as_deref()) {
        (Some(label), _) if ifid == 0 => label.to_owned(),
        (Some(label), _) => format!("{label}/if{ifid}"),
        (None, Some(name)) if name.contains('/') => name.to_owned(),
        (None, Some(name)) => match description_field(info, "netns") {
            Some(ns) => format!("{ns}/{name}"),
            None => name.to_owned(),
        },
        (None, None) if ifid == 0 => stem(),
        (None, None) => format!("{}/if{ifid}", stem()),
    }
}

/// `key=value` from a pcapng if_description such as `netns=nginx-1 ifindex=2 role=endpoint`.
pub fn description_field<'a>(info: &'a InterfaceInfo, key: &str) -> Option<&'a str> {
    info.description
        .as_deref()?
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::frame::LinkType;

    fn info(name: Option<&str>, description: Option<&str>) -> InterfaceInfo {
        InterfaceInfo {
            linktype: LinkType::ETHERNET,
            name: name.map(str::to_owned),
            description: description.map(str::to_owned),
            kernel_drops: None,
        }
    }

    #[test]
    fn point_ids() {
        let p = Path::new("/tmp/trace.pcapng");
        assert_eq!(point_id(Some("nginx-1/eth0"), p, 0, &info(None, None)), "nginx-1/eth0");
        assert_eq!(point_id(Some("n1"), p, 2, &info(None, None)), "n1/if2");
        assert_eq!(point_id(None, p, 0, &info(Some("host/docker0"), None)), "host/docker0");
        let described = info(Some("eth0"), Some("netns=nginx-2 ifindex=2 role=endpoint"));
        assert_eq!(point_id(None, p, 1, &described), "nginx-2/eth0");
        assert_eq!(description_field(&described, "role"), Some("endpoint"));
        assert_eq!(point_id(None, p, 0, &info(None, None)), "trace");
        assert_eq!(point_id(None, p, 3, &info(None, None)), "trace/if3");
    }
}
