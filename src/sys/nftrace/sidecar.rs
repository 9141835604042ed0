//! The netfilter side of a written trace: `FILE.pcapng.nft.json` next to `FILE.pcapng`, holding
//! the trace events (with their packet headers and rule text), the kernel drops, the br_netfilter
//! switches and the qdiscs whose drop counters rose during the run, so that `vtrace analyze
//! FILE.pcapng` replays the netfilter decisions, kernel drops and `netfilter-drop`/`tc-drop`
//! verdicts offline.
//!
//! Why a sidecar and not pcapng custom blocks: a custom block (type 0xBAD/0x40000BAD) needs a
//! Private Enterprise Number of its own, is invisible to every other tool (tshark shows nothing of
//! it, `editcap` and `mergecap` may drop it), and the pure-Rust readers vtrace relies on skip
//! unknown blocks without handing them over. A JSON file next to the capture is read and written
//! with serde in a few lines, is readable with `jq`, and leaves the pcapng exactly as every tool
//! expects it. The price: the two files travel together (analyze says nothing when the sidecar is
//! missing: the captures alone are analysed).
//!
//! This module reads and writes the file only; matching events to packets is `core::netfilter`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use serde::{Deserialize, Serialize};

use crate::core::topology::nat::{CtEntry, CtNote, CtTuple};

use std::net::IpAddr;

use crate::core::analysis::{Probe, ProbeRecord};
use crate::core::diagnosis::QdiscRise;
use crate::core::netfilter::{BrNetfilter, DropEvent, NfEvent, NfFamily, NfVerdict, TraceKind};
use crate::sys::nftrace::NfFinished;

/// Format version written in the file.
const VERSION: u32 = 1;

/// `FILE.pcapng` → `FILE.pcapng.nft.json`.
pub fn path_for(capture: &Path) -> PathBuf {
    let mut name = capture.as_os_str().to_owned();
    name.push(".nft.json");
    PathBuf::from(name)
}

#[derive(Serialize, Deserialize)]
struct FileDto {
    version: u32,
    events: Vec<EventDto>,
    drops: Vec<DropDto>,
    br_netfilter: Vec<BrDto>,
    /// Qdiscs of the path whose drop counters rose during the trace.
    #[serde(default)]
    qdisc_rises: Vec<RiseDto>,
    /// The trace's probe and what its socket received.
    #[serde(default)]
    probe: Option<ProbeDto>,
    /// The translated conntrack entries of the probed flow.
    #[serde(default)]
    conntrack: Vec<CtDto>,
}

#[derive(Serialize, Deserialize)]
struct CtDto {
    netns: String,
    proto: u8,
    original: TupleDto,
    reply: TupleDto,
}

#[derive(Serialize, Deserialize)]
struct TupleDto {
    src: IpAddr,
    dst: IpAddr,
    #[serde(default)]
    sport: Option<u16>,
    #[serde(default)]
    dport: Option<u16>,
}

impl From<&CtTuple> for TupleDto {
    fn from(t: &CtTuple) -> Self {
        TupleDto { src: t.src, dst: t.dst, sport: t.sport, dport: t.dport }
    }
}

impl From<&TupleDto> for CtTuple {
    fn from(t: &TupleDto) -> Self {
        CtTuple { src: t.src, dst: t.dst, sport: t.sport, dport: t.dport }
    }
}

#[derive(Serialize, Deserialize)]
struct ProbeDto {
    /// `echo`, `tcp` or `udp`.
    kind: String,
    #[serde(default)]
    id: Option<u16>,
    #[serde(default)]
    dst: Option<IpAddr>,
    #[serde(default)]
    port: Option<u16>,
    /// Echo sequence numbers or source ports of the answers the socket received.
    received: Vec<u16>,
}

impl From<&ProbeRecord> for ProbeDto {
    fn from(r: &ProbeRecord) -> Self {
        let (kind, id, dst, port) = match r.probe {
            Probe::Echo { id } => ("echo", Some(id), None, None),
            Probe::Tcp { dst, port } => ("tcp", None, Some(dst), Some(port)),
            Probe::Udp { dst, port } => ("udp", None, Some(dst), Some(port)),
        };
        ProbeDto { kind: kind.into(), id, dst, port, received: r.received.clone() }
    }
}

impl ProbeDto {
    fn record(&self) -> Option<ProbeRecord> {
        let probe = match (self.kind.as_str(), self.id, self.dst, self.port) {
            ("echo", Some(id), _, _) => Probe::Echo { id },
            ("tcp", _, Some(dst), Some(port)) => Probe::Tcp { dst, port },
            ("udp", _, Some(dst), Some(port)) => Probe::Udp { dst, port },
            _ => return None,
        };
        Some(ProbeRecord { probe, received: self.received.clone() })
    }
}

#[derive(Serialize, Deserialize)]
struct RiseDto {
    point: String,
    kind: String,
    handle: String,
    dropped: u64,
}

#[derive(Serialize, Deserialize)]
struct EventDto {
    netns: String,
    t_ns: u64,
    id: u32,
    #[serde(default)]
    kind: Option<u32>,
    /// `NFPROTO_*` of the table.
    #[serde(default)]
    family: Option<u8>,
    table: String,
    chain: String,
    #[serde(default)]
    rule_handle: Option<u64>,
    #[serde(default)]
    rule_text: Option<String>,
    /// Kernel verdict code (0 drop, 1 accept, -3 jump…).
    #[serde(default)]
    verdict: Option<i32>,
    #[serde(default)]
    verdict_chain: Option<String>,
    #[serde(default)]
    policy: Option<i32>,
    #[serde(default)]
    iif: Option<u32>,
    #[serde(default)]
    oif: Option<u32>,
    #[serde(default)]
    iif_name: Option<String>,
    #[serde(default)]
    oif_name: Option<String>,
    #[serde(default)]
    mark: Option<u32>,
    #[serde(default)]
    nfproto: Option<u8>,
    /// Hex.
    #[serde(default)]
    network_header: String,
    #[serde(default)]
    transport_header: String,
}

#[derive(Serialize, Deserialize)]
struct DropDto {
    t_ns: u64,
    protocol: u16,
    location: String,
    reason: String,
}

#[derive(Serialize, Deserialize)]
struct BrDto {
    netns: String,
    #[serde(default)]
    call_iptables: Option<bool>,
    #[serde(default)]
    call_ip6tables: Option<bool>,
    #[serde(default)]
    call_arptables: Option<bool>,
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Result<Vec<u8>> {
    if s.len() % 2 != 0 {
        return Err(anyhow!("odd length hex string"));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| {
            let pair = s.get(i..i + 2).ok_or_else(|| anyhow!("bad hex"))?;
            u8::from_str_radix(pair, 16).map_err(|e| anyhow!("bad hex {pair:?}: {e}"))
        })
        .collect()
}

impl From<&NfEvent> for EventDto {
    fn from(e: &NfEvent) -> Self {
        let (verdict, verdict_chain) = match &e.verdict {
            Some(v) => {
                let (code, chain) = v.code();
                (Some(code), chain.map(str::to_owned))
            }
            None => (None, None),
        };
        EventDto {
            netns: e.netns.clone(),
            t_ns: e.t_ns,
            id: e.id,
            kind: e.kind.map(TraceKind::code),
            family: e.family.map(NfFamily::nfproto),
            table: e.table.clone(),
            chain: e.chain.clone(),
            rule_handle: e.rule_handle,
            rule_text: e.rule_text.clone(),
            verdict,
            verdict_chain,
            policy: e.policy.as_ref().map(|p| p.code().0),
            iif: e.iif,
            oif: e.oif,
            iif_name: e.iif_name.clone(),
            oif_name: e.oif_name.clone(),
            mark: e.mark,
            nfproto: e.nfproto,
            network_header: hex(&e.network_header),
            transport_header: hex(&e.transport_header),
        }
    }
}

impl EventDto {
    fn into_event(self) -> Result<NfEvent> {
        Ok(NfEvent {
            network_header: unhex(&self.network_header)?,
            transport_header: unhex(&self.transport_header)?,
            netns: self.netns,
            t_ns: self.t_ns,
            id: self.id,
            kind: self.kind.map(TraceKind::from_code),
            family: self.family.map(NfFamily::from_nfproto),
            table: self.table,
            chain: self.chain,
            rule_handle: self.rule_handle,
            rule_text: self.rule_text,
            verdict: self.verdict.map(|c| NfVerdict::from_code(c, self.verdict_chain)),
            policy: self.policy.map(|c| NfVerdict::from_code(c, None)),
            iif: self.iif,
            oif: self.oif,
            iif_name: self.iif_name,
            oif_name: self.oif_name,
            mark: self.mark,
            nfproto: self.nfproto,
            ll_header: Vec::new(),
        })
    }
}

/// Write the sidecar of `capture`.
pub fn write(capture: &Path, traced: &NfFinished) -> Result<()> {
    // Named here (the drop monitor names only what is shown), all in one reading.
    let mut named = traced.drops.clone();
    crate::core::netfilter::name_locations(&mut named);
    let file = FileDto {
        version: VERSION,
        events: traced.events.iter().map(EventDto::from).collect(),
        drops: named
            .into_iter()
            .map(|d| DropDto {
                t_ns: d.t_ns,
                protocol: d.protocol,
                location: d.location,
                reason: d.reason,
            })
            .collect(),
        br_netfilter: traced
            .br_netfilter
            .iter()
            .map(|(ns, b)| BrDto {
                netns: ns.clone(),
                call_iptables: b.call_iptables,
                call_ip6tables: b.call_ip6tables,
                call_arptables: b.call_arptables,
            })
            .collect(),
        qdisc_rises: traced
            .qdisc_rises
            .iter()
            .map(|r| RiseDto {
                point: r.point.clone(),
                kind: r.kind.clone(),
                handle: r.handle.clone(),
                dropped: r.dropped,
            })
            .collect(),
        probe: traced.probe.as_ref().map(ProbeDto::from),
        conntrack: traced
            .conntrack
            .iter()
            .map(|c| CtDto {
                netns: c.netns.clone(),
                proto: c.entry.proto,
                original: TupleDto::from(&c.entry.original),
                reply: TupleDto::from(&c.entry.reply),
            })
            .collect(),
    };
    let path = path_for(capture);
    let text = serde_json::to_vec(&file).context("encoding the netfilter trace")?;
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
}

/// Remove the sidecar of `capture`, if there is one.
pub fn remove(capture: &Path) -> Result<()> {
    let path = path_for(capture);
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing {}", path.display()))
        }
        _ => Ok(()),
    }
}

/// Read the sidecar of `capture`; `None` when there is none.
pub fn read(capture: &Path) -> Result<Option<NfFinished>> {
    let path = path_for(capture);
    let text = match std::fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    parse(&text).with_context(|| format!("reading {}", path.display())).map(Some)
}

/// Decode a sidecar's contents.
pub fn parse(text: &[u8]) -> Result<NfFinished> {
    let file: FileDto = serde_json::from_slice(text).context("not a vtrace netfilter trace")?;
    if file.version != VERSION {
        return Err(anyhow!(
            "netfilter trace version {} (this vtrace reads version {VERSION})",
            file.version
        ));
    }
    let events = file.events.into_iter().map(EventDto::into_event).collect::<Result<_>>()?;
    let drops = file
        .drops
        .into_iter()
        .map(|d| DropEvent {
            t_ns: d.t_ns,
            protocol: d.protocol,
            location: d.location,
            reason: d.reason,
        })
        .collect();
    let br_netfilter = file
        .br_netfilter
        .into_iter()
        .map(|b| {
            let brnf = BrNetfilter {
                call_iptables: b.call_iptables,
                call_ip6tables: b.call_ip6tables,
                call_arptables: b.call_arptables,
            };
            (b.netns, brnf)
        })
        .collect();
    let qdisc_rises = file
        .qdisc_rises
        .into_iter()
        .map(|r| QdiscRise { point: r.point, kind: r.kind, handle: r.handle, dropped: r.dropped })
        .collect();
    let probe = file.probe.as_ref().and_then(ProbeDto::record);
    let conntrack = file
        .conntrack
        .iter()
        .map(|c| CtNote {
            netns: c.netns.clone(),
            entry: CtEntry {
                proto: c.proto,
                original: CtTuple::from(&c.original),
                reply: CtTuple::from(&c.reply),
            },
        })
        .collect();
    Ok(NfFinished {
        events,
        drops,
        br_netfilter,
        qdisc_rises,
        lost_events: 0,
        events_read: Vec::new(),
        probe,
        conntrack,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trace_survives_the_round_trip() {
        let ev = NfEvent {
            netns: "nginx-2".into(),
            t_ns: 42,
            id: 7,
            kind: Some(TraceKind::Rule),
            family: Some(NfFamily::Inet),
            table: "t".into(),
            chain: "input".into(),
            rule_handle: Some(2),
            rule_text: Some("icmp type echo-request drop".into()),
            verdict: Some(NfVerdict::Drop),
            iif_name: Some("eth0".into()),
            nfproto: Some(2),
            network_header: vec![0x45, 0, 0, 84],
            transport_header: vec![8, 0],
            ..NfEvent::default()
        };
        let jump = NfEvent {
            kind: Some(TraceKind::Policy),
            verdict: Some(NfVerdict::Jump("DOCKER".into())),
            policy: Some(NfVerdict::Accept),
            ..ev.clone()
        };
        let traced = NfFinished {
            events: vec![ev.clone(), jump.clone()],
            drops: vec![DropEvent {
                t_ns: 43,
                protocol: 0x0800,
                location: "nft_do_chain+0x3e8".into(),
                reason: "NETFILTER_DROP".into(),
            }],
            br_netfilter: vec![(
                "host".into(),
                BrNetfilter { call_iptables: Some(true), ..BrNetfilter::default() },
            )],
            qdisc_rises: vec![QdiscRise {
                point: "host/vethB".into(),
                kind: "pfifo".into(),
                handle: "77:".into(),
                dropped: 3,
            }],
            lost_events: 0,
            events_read: Vec::new(),
            probe: Some(ProbeRecord {
                probe: Probe::Tcp {
                    dst: "172.18.0.3".parse().unwrap_or(IpAddr::from([0; 4])),
                    port: 80,
                },
                received: vec![40000, 40002],
            }),
            conntrack: vec![CtNote {
                netns: "host".into(),
                entry: CtEntry {
                    proto: 6,
                    original: CtTuple {
                        src: IpAddr::from([198, 51, 100, 2]),
                        dst: IpAddr::from([198, 51, 100, 1]),
                        sport: Some(40000),
                        dport: Some(8080),
                    },
                    reply: CtTuple {
                        src: IpAddr::from([172, 19, 0, 2]),
                        dst: IpAddr::from([198, 51, 100, 2]),
                        sport: Some(80),
                        dport: Some(40000),
                    },
                },
            }],
        };
        let dir = std::env::temp_dir().join(format!("vtrace-sidecar-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let capture = dir.join("t.pcapng");
        assert_eq!(path_for(&capture), dir.join("t.pcapng.nft.json"));
        assert!(read(&capture).is_ok_and(|r| r.is_none()));
        assert!(write(&capture, &traced).is_ok());
        let back = read(&capture).ok().flatten().unwrap_or_default();
        assert_eq!(back.events, vec![ev, jump]);
        assert_eq!(back.drops, traced.drops);
        assert_eq!(back.br_netfilter, traced.br_netfilter);
        assert_eq!(back.qdisc_rises, traced.qdisc_rises);
        assert_eq!(back.probe, traced.probe);
        assert_eq!(back.conntrack, traced.conntrack);
        assert!(remove(&capture).is_ok() && remove(&capture).is_ok());
        assert!(read(&capture).is_ok_and(|r| r.is_none()));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn broken_files_are_errors_not_panics() {
        for text in [
            &b""[..],
            b"{",
            b"[]",
            b"{\"version\":2,\"events\":[],\"drops\":[],\"br_netfilter\":[]}",
        ] {
            assert!(parse(text).is_err(), "{}", String::from_utf8_lossy(text));
        }
        let odd = br#"{"version":1,"events":[{"netns":"a","t_ns":1,"id":1,"table":"t","chain":"c","network_header":"4"}],"drops":[],"br_netfilter":[]}"#;
        assert!(parse(odd).is_err());
        let bad = br#"{"version":1,"events":[{"netns":"a","t_ns":1,"id":1,"table":"t","chain":"c","network_header":"zz"}],"drops":[],"br_netfilter":[]}"#;
        assert!(parse(bad).is_err());
    }
}
