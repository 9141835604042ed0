//! Reading `kfree_skb` events in the kernel's binary form, from each CPU's `trace_pipe_raw`:
//! `trace_pipe` had the kernel format every event as text (its location through a symbol
//! lookup) for the reader to parse back, and under a flood of drops that was most of the drop
//! monitor's CPU. Here a location is kept as its address, and named only where a drop is
//! shown (see [`Decoder::new`]).

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::mpsc;

use nix::sys::eventfd::EventFd;

use super::ring::{self, u64_at};
use super::symbols::Symbols;
use super::{PipeRead, offer, read_until_stopped};
use crate::core::netfilter::DropEvent;
use crate::sys::stop::Stop;

/// How long the reader lets events gather once they keep coming: drops are attributed once a
/// packet's exchange settles (the reorder delay at least, a reply's window for a lost request),
/// and a stop reads what is left.
const PACE: std::time::Duration = std::time::Duration::from_millis(4);

/// Where a `kfree_skb` record holds what a drop event needs (from the event's `format` file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// The event's id (`ID:`), in each record's first two bytes.
    id: u16,
    location: usize,
    protocol: usize,
    /// Kernels before drop reasons have none.
    reason: Option<usize>,
}

impl Layout {
    /// The layout a `format` file describes (`field:void * location;\toffset:16;\tsize:8;…`).
    pub fn parse(format: &str) -> Option<Layout> {
        let id = format.lines().find_map(|l| l.strip_prefix("ID:"))?.trim().parse().ok()?;
        let field = |name: &str, size: usize| {
            format.lines().find_map(|l| {
                let decl = l.trim().strip_prefix("field:")?;
                let (decl, rest) = decl.split_once(';')?;
                if decl.rsplit([' ', '*']).next()? != name {
                    return None;
                }
                let num = |key: &str| {
                    rest.split(';').find_map(|p| p.trim().strip_prefix(key)?.parse::<usize>().ok())
                };
                (num("size:")? == size).then_some(num("offset:")?)
            })
        };
        Some(Layout {
            id,
            location: field("location", 8)?,
            protocol: field("protocol", 2)?,
            reason: field("reason", 4),
        })
    }
}

/// Turns records into drop events.
pub struct Decoder {
    layout: Layout,
    reasons: HashMap<u32, String>,
    /// Trace clock to Unix epoch, in ns.
    offset_ns: i128,
    /// Name every location as it is read (see [`Decoder::new`]).
    eager: bool,
    /// Named locations, when set (tests); else the process's kernel symbols.
    symbols: Option<Symbols>,
}

impl Decoder {
    /// A decoder of records of `layout`. Locations are left as bare addresses, named only where
    /// a drop is shown (reading the kernel's symbols takes about 40 ms of its time, and every
    /// TCP connection closed frees its socket's queues as QUEUE_PURGE: a ping with `--tcp` would
    /// pay it every time), unless telling drops apart needs their names: a kernel without drop
    /// reasons (a netfilter drop is known by its function) or one that did not leave out the
    /// echo replies nobody asked for (`ping_rcv`) itself.
    pub fn new(
        layout: Layout,
        reasons: HashMap<u32, String>,
        offset_ns: i128,
        skips_unclaimed_replies: bool,
    ) -> Decoder {
        let eager = layout.reason.is_none() || !skips_unclaimed_replies;
        Decoder { layout, reasons, offset_ns, eager, symbols: None }
    }

    /// The drop event of a record stamped `ts` on the trace clock (`None` for another event's
    /// record or a cut one).
    pub fn event(&mut self, ts: u64, record: &[u8]) -> Option<DropEvent> {
        let l = self.layout;
        let id = u16::from_le_bytes(record.get(..2)?.try_into().ok()?);
        if id != l.id {
            return None;
        }
        // Offsets come from a format file: checked, whatever it says.
        let protocol = record.get(l.protocol..l.protocol.checked_add(2)?)?;
        let protocol = u16::from_le_bytes(protocol.try_into().ok()?);
        let reason = match l.reason {
            Some(at) => {
                let n = record.get(at..at.checked_add(4)?)?;
                let n = u32::from_le_bytes(n.try_into().ok()?);
                self.reasons.get(&n).cloned().unwrap_or_else(|| n.to_string())
            }
            None => String::new(),
        };
        let addr = u64_at(record, l.location)?;
        // A promiscuous copy (vtrace's own capture of a bridge hands the host one per frame it
        // forwards) is named by its reason alone: under a flood, nearly every event.
        let location = if reason == "OTHERHOST" {
            String::new()
        } else if !self.eager {
            format!("{addr:#x}")
        } else if let Some(symbols) = self.symbols.as_mut() {
            symbols.name(addr).to_owned()
        } else {
            super::symbols::name_address(addr).unwrap_or_else(|| format!("{addr:#x}"))
        };
        let t = i128::from(ts).checked_add(self.offset_ns)?;
        Some(DropEvent { t_ns: u64::try_from(t).ok()?, protocol, location, reason })
    }
}

/// Open every CPU's `trace_pipe_raw` of the instance `dir`, non-blocking.
pub fn open_cpus(dir: &Path) -> std::io::Result<Vec<File>> {
    let mut cpus = Vec::new();
    for entry in std::fs::read_dir(dir.join("per_cpu"))? {
        let path = entry?.path().join("trace_pipe_raw");
        cpus.push(
            std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path)?,
        );
    }
    if cpus.is_empty() {
        return Err(std::io::Error::new(std::io::ErrorKind::NotFound, "no per-CPU buffers"));
    }
    Ok(cpus)
}

/// Read the events of every CPU until stopped, then what is left.
pub fn read_cpus(
    cpus: &[File],
    wake: &EventFd,
    stop: &Stop,
    mut decoder: Decoder,
    tx: &mpsc::SyncSender<DropEvent>,
) {
    // A read hands over one page of the ring buffer (4 KiB unless the instance was set up
    // otherwise: room for larger ones).
    let mut page = vec![0u8; 64 * 1024];
    let mut read_all = |decoder: &mut Decoder| {
        let mut result = PipeRead::Empty;
        for mut cpu in cpus {
            loop {
                match cpu.read(&mut page) {
                    Ok(n) if n > 0 => {
                        result = PipeRead::Some;
                        for (ts, record) in ring::records(page.get(..n).unwrap_or_default()) {
                            let Some(ev) = decoder.event(ts, record) else { continue };
                            if !offer(tx, ev) {
                                return PipeRead::Unwanted;
                            }
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    _ => {
                        if matches!(result, PipeRead::Empty) {
                            result = PipeRead::Failed;
                        }
                        break;
                    }
                }
            }
        }
        result
    };
    // Events keep coming: let them gather (with `buffer_percent` 0 the kernel wakes the reader
    // for each one; a flood of drops made that a wakeup per event).
    let fds: Vec<BorrowedFd<'_>> = cpus.iter().map(AsFd::as_fd).collect();
    read_until_stopped(&fds, wake, stop, Some(PACE), || read_all(&mut decoder));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::dropmon::ring::tests::page;

    /// This kernel's `kfree_skb` format (6.18), cut to its fields.
    const FORMAT: &str = "name: kfree_skb\nID: 1533\nformat:\n\
        \tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\
        \tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;\n\
        \tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;\n\
        \tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n\n\
        \tfield:void * skbaddr;\toffset:8;\tsize:8;\tsigned:0;\n\
        \tfield:void * location;\toffset:16;\tsize:8;\tsigned:0;\n\
        \tfield:void * rx_sk;\toffset:24;\tsize:8;\tsigned:0;\n\
        \tfield:unsigned short protocol;\toffset:32;\tsize:2;\tsigned:0;\n\
        \tfield:enum skb_drop_reason reason;\toffset:36;\tsize:4;\tsigned:0;\n\n\
        print fmt: \"skbaddr=%p rx_sk=%p protocol=%u location=%pS reason: %s\", REC->skbaddr, \
        REC->rx_sk, REC->protocol, REC->location, __print_symbolic(REC->reason, { 2, \
        \"NOT_SPECIFIED\" }, { 13, \"OTHERHOST\" })\n";

    /// A `kfree_skb` record as 32-bit words.
    fn record(id: u16, location: u64, protocol: u16, reason: u32) -> Vec<u32> {
        let mut b = [0u8; 40];
        b[..2].copy_from_slice(&id.to_le_bytes());
        b[16..24].copy_from_slice(&location.to_le_bytes());
        b[32..34].copy_from_slice(&protocol.to_le_bytes());
        b[36..40].copy_from_slice(&reason.to_le_bytes());
        b.chunks(4).filter_map(|c| c.try_into().ok()).map(u32::from_le_bytes).collect()
    }

    #[test]
    fn the_format_file_gives_the_fields_offsets() {
        let l = Layout::parse(FORMAT);
        assert_eq!(l, Some(Layout { id: 1533, location: 16, protocol: 32, reason: Some(36) }));
        let old = FORMAT.replace("\tfield:enum skb_drop_reason reason;\toffset:36;\tsize:4;", "");
        assert_eq!(Layout::parse(&old).and_then(|l| l.reason), None);
        assert_eq!(Layout::parse("ID: 1\n"), None);
    }

    #[test]
    fn records_of_a_page_become_drop_events_on_the_epoch() {
        let layout = Layout::parse(FORMAT).unwrap_or_else(|| panic!("layout"));
        let reasons = crate::sys::dropmon::parse_reasons(FORMAT);
        let mut d = Decoder::new(layout, reasons.clone(), 1_000_000, false);
        d.symbols = Some(Symbols::parse(
            "ffffffffc0a1b000 t nft_do_chain\t[nf_tables]\nffffffffc0a1b5a0 t nft_x\t[nf_tables]\n",
        ));
        let copy = record(1533, 0xffff_ffff_8200_0000, 0x0800, 13);
        let nf = record(1533, 0xffff_ffff_c0a1_b3e8, 0x86dd, 2);
        let other = record(7, 0, 0x0800, 13);
        let p = page(5_000, &[(10, 10, &copy[..]), (10, 5, &other[..]), (10, 20, &nf[..])]);
        let got: Vec<DropEvent> = ring::records(&p).filter_map(|(t, r)| d.event(t, r)).collect();
        assert_eq!(
            got,
            vec![
                DropEvent {
                    t_ns: 1_005_010,
                    protocol: 0x0800,
                    location: String::new(),
                    reason: "OTHERHOST".into()
                },
                DropEvent {
                    t_ns: 1_005_035,
                    protocol: 0x86dd,
                    location: "nft_do_chain+0x3e8/0x5a0".into(),
                    reason: "NOT_SPECIFIED".into()
                },
            ]
        );
        // A cut record is no event, nor one the layout places beyond any record.
        assert_eq!(d.event(0, &[0xfd, 0x05, 0, 0]), None);
        let far = Layout { protocol: usize::MAX - 1, ..layout };
        assert_eq!(Decoder::new(far, HashMap::new(), 0, true).event(0, &[0xfd, 0x05, 0, 0]), None);
        // Where the kernel leaves out unclaimed replies, a location stays a bare address until
        // a drop is shown.
        let mut lazy = Decoder::new(layout, reasons, 0, true);
        let nf = ring::records(&p).filter_map(|(t, r)| lazy.event(t, r)).nth(1);
        assert_eq!(nf.map(|e| e.location), Some("0xffffffffc0a1b3e8".to_owned()));
    }
}
