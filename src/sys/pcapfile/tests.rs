//! Reader and writer tests on hand-built files: every block type, both byte orders, and damage.

use std::io::Cursor;
use std::path::Path;

use super::*;
use crate::core::frame::CaptureNode;

/// The integration tests' precondition helper, the same file: a missing tool fails under CI.
#[path = "../../../tests/common/require.rs"]
pub(crate) mod require;

/// Builds pcapng blocks in either byte order.
struct Ng {
    big: bool,
    out: Vec<u8>,
}

impl Ng {
    fn new(big: bool) -> Self {
        let mut ng = Ng { big, out: Vec::new() };
        ng.shb(big);
        ng
    }
    fn u16b(&self, v: u16) -> [u8; 2] {
        if self.big { v.to_be_bytes() } else { v.to_le_bytes() }
    }
    fn u32b(&self, v: u32) -> [u8; 4] {
        if self.big { v.to_be_bytes() } else { v.to_le_bytes() }
    }
    fn shb(&mut self, big: bool) {
        self.big = big;
        let mut body = Vec::new();
        body.extend(self.u32b(0x1A2B_3C4D));
        body.extend(self.u16b(1));
        body.extend(self.u16b(0));
        body.extend([0xff; 8]);
        self.block(0x0A0D_0D0A, &body);
    }
    fn opt(&self, body: &mut Vec<u8>, code: u16, value: &[u8]) {
        body.extend(self.u16b(code));
        body.extend(self.u16b(value.len() as u16));
        body.extend(value);
        body.resize(body.len() + (4 - value.len() % 4) % 4, 0);
    }
    fn idb(&mut self, linktype: u16, snaplen: u32, opts: &[(u16, Vec<u8>)]) {
        let mut body = Vec::new();
        body.extend(self.u16b(linktype));
        body.extend(self.u16b(0));
        body.extend(self.u32b(snaplen));
        for (code, v) in opts {
            self.opt(&mut body, *code, v);
        }
        if !opts.is_empty() {
            body.extend([0; 4]);
        }
        self.block(1, &body);
    }
    fn epb(&mut self, ifid: u32, ticks: u64, data: &[u8], orig: u32) {
        let mut body = Vec::new();
        body.extend(self.u32b(ifid));
        body.extend(self.u32b((ticks >> 32) as u32));
        body.extend(self.u32b(ticks as u32));
        body.extend(self.u32b(data.len() as u32));
        body.extend(self.u32b(orig));
        body.extend(data);
        body.resize(body.len() + (4 - data.len() % 4) % 4, 0);
        self.block(6, &body);
    }
    fn opb(&mut self, ifid: u16, ticks: u64, data: &[u8], orig: u32) {
        let mut body = Vec::new();
        body.extend(self.u16b(ifid));
        body.extend(self.u16b(0));
        body.extend(self.u32b((ticks >> 32) as u32));
        body.extend(self.u32b(ticks as u32));
        body.extend(self.u32b(data.len() as u32));
        body.extend(self.u32b(orig));
        body.extend(data);
        body.resize(body.len() + (4 - data.len() % 4) % 4, 0);
        self.block(2, &body);
    }
    fn spb(&mut self, orig: u32, data: &[u8]) {
        let mut body = Vec::new();
        body.extend(self.u32b(orig));
        body.extend(data);
        body.resize(body.len() + (4 - data.len() % 4) % 4, 0);
        self.block(3, &body);
    }
    fn isb(&mut self, ifid: u32, drops: u64) {
        let mut body = Vec::new();
        body.extend(self.u32b(ifid));
        body.extend([0; 8]);
        let d = if self.big { drops.to_be_bytes() } else { drops.to_le_bytes() };
        self.opt(&mut body, 5, &d);
        body.extend([0; 4]);
        self.block(5, &body);
    }
    fn block(&mut self, block_type: u32, body: &[u8]) {
        let len = 12 + body.len() as u32;
        let (t, l) = (self.u32b(block_type), self.u32b(len));
        self.out.extend(t);
        self.out.extend(l);
        self.out.extend(body);
        self.out.extend(l);
    }
}

fn reader(bytes: Vec<u8>) -> Result<CaptureReader, ReadError> {
    CaptureReader::from_read(Box::new(Cursor::new(bytes)), Path::new("test.cap"))
}

/// (ifid, t_ns, len, linktype, data) of every frame, and the error that ended reading, if any.
type Row = (u32, u64, u32, u16, Vec<u8>);
fn read_all(r: &mut CaptureReader) -> (Vec<Row>, Option<ReadError>) {
    let mut rows = Vec::new();
    loop {
        match r.next_frame() {
            Ok(Some(f)) => rows.push((f.ifid, f.t_ns, f.len, f.linktype.0, f.data.to_vec())),
            Ok(None) => return (rows, None),
            Err(e) => return (rows, Some(e)),
        }
    }
}

fn pcap_file(big: bool, nanos: bool, records: &[(u32, u32, &[u8], u32)]) -> Vec<u8> {
    let u32b = |v: u32| if big { v.to_be_bytes() } else { v.to_le_bytes() };
    let u16b = |v: u16| if big { v.to_be_bytes() } else { v.to_le_bytes() };
    let mut out = Vec::new();
    out.extend(u32b(if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 }));
    out.extend(u16b(2));
    out.extend(u16b(4));
    out.extend([0; 8]);
    out.extend(u32b(65535));
    out.extend(u32b(1));
    for (s, frac, data, orig) in records {
        out.extend(u32b(*s));
        out.extend(u32b(*frac));
        out.extend(u32b(data.len() as u32));
        out.extend(u32b(*orig));
        out.extend(*data);
    }
    out
}

#[test]
fn pcap_in_both_byte_orders_and_resolutions() -> Result<(), ReadError> {
    for (big, nanos) in [(false, false), (true, false), (false, true), (true, true)] {
        let file = pcap_file(big, nanos, &[(10, 5, b"abc", 60), (11, 0, b"", 0)]);
        let mut r = reader(file)?;
        assert_eq!(r.format(), Format::Pcap { nanos, big_endian: big });
        let (rows, err) = read_all(&mut r);
        assert!(err.is_none());
        let t0 = if nanos { 10_000_000_005 } else { 10_000_005_000 };
        assert_eq!(rows, vec![(0, t0, 60, 1, b"abc".to_vec()), (0, 11_000_000_000, 0, 1, vec![])]);
        assert_eq!(r.frames_read(), 2);
        assert_eq!(r.interfaces().len(), 1);
        assert_eq!(r.interfaces()[0].linktype, LinkType::ETHERNET);
    }
    Ok(())
}

#[test]
fn pcap_truncated_record_keeps_earlier_frames_and_names_the_offset() -> Result<(), ReadError> {
    let mut file = pcap_file(false, false, &[(1, 0, b"abcd", 4), (2, 0, b"efgh", 4)]);
    file.truncate(file.len() - 2);
    let mut r = reader(file)?;
    let (rows, err) = read_all(&mut r);
    assert_eq!(rows.len(), 1);
    let err = err.ok_or_else(|| panic_free("expected an error"))?;
    assert_eq!(err.offset, 24 + 16 + 4);
    assert_eq!(err.record, 1);
    assert_eq!(
        err.to_string(),
        "test.cap: the file ends inside a pcap record (needs 20 bytes, 18 left) at byte offset 44 \
         (after 1 records)"
    );
    assert!(r.next_frame()?.is_none(), "finished after an error");
    Ok(())
}

/// Turns a test expectation failure into a `ReadError` so tests can use `?` without `unwrap`.
fn panic_free(msg: &str) -> ReadError {
    ReadError {
        path: msg.into(),
        offset: 0,
        record: 0,
        kind: ReadErrorKind::Malformed("test expectation"),
    }
}

#[test]
fn pcap_caplen_beyond_the_limit_is_an_error_not_an_allocation() -> Result<(), ReadError> {
    let mut file = pcap_file(false, false, &[]);
    file.extend([0; 8]);
    file.extend(0xFFFF_FFF0u32.to_le_bytes());
    file.extend(100u32.to_le_bytes());
    let (rows, err) = read_all(&mut reader(file)?);
    assert!(rows.is_empty());
    assert!(matches!(err.map(|e| e.kind), Some(ReadErrorKind::TooBig { .. })));
    Ok(())
}

#[test]
fn pcap_bad_version_and_bad_magic_fail_at_open() {
    let mut file = pcap_file(false, false, &[]);
    file[4] = 7;
    assert!(matches!(reader(file).map_err(|e| e.kind), Err(ReadErrorKind::PcapVersion { .. })));
    let e = reader(b"hello world".to_vec()).err();
    assert!(matches!(e.map(|e| e.kind), Some(ReadErrorKind::NotACapture(_))));
    let e = reader(Vec::new()).err();
    assert!(matches!(e.map(|e| e.kind), Some(ReadErrorKind::NotACapture(_))));
}

fn name_opts(name: &str, desc: &str) -> Vec<(u16, Vec<u8>)> {
    vec![(2, name.as_bytes().to_vec()), (3, desc.as_bytes().to_vec())]
}

#[test]
fn pcapng_sections_interfaces_resolutions_and_block_types() -> Result<(), ReadError> {
    let mut ng = Ng::new(false);
    ng.idb(1, 0, &name_opts("a/eth0", "netns=a"));
    // 2^-10 s ticks, offset +100 s, Linux SLL.
    ng.idb(113, 0, &[(9, vec![0x80 | 10]), (14, 100u64.to_le_bytes().to_vec())]);
    ng.epb(1, 2048, b"sll!", 4);
    ng.epb(0, 1_000_000, b"eth", 70);
    ng.block(0x0BAD_BEEF, &[1, 2, 3, 4]); // unknown: skipped
    ng.isb(1, 42);
    // Second section, big-endian: its interface 0 is global interface 2.
    ng.shb(true);
    ng.idb(101, 3, &[(9, vec![9]), (2, b"b/eth0\0".to_vec())]);
    ng.isb(0, 7);
    ng.epb(0, 5, b"\x45raw", 100);
    ng.spb(10, b"0123456789");
    ng.opb(0, 9_000, b"opb", 3);
    let mut r = reader(ng.out)?;
    assert_eq!(r.format(), Format::Pcapng);
    assert_eq!(r.interfaces().len(), 2, "interfaces before the first packet are read at open");
    let (rows, err) = read_all(&mut r);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(
        rows,
        vec![
            (1, 102_000_000_000, 4, 113, b"sll!".to_vec()),
            (0, 1_000_000_000, 70, 1, b"eth".to_vec()),
            (2, 5, 100, 101, b"\x45raw".to_vec()),
            (2, 0, 10, 101, b"012".to_vec()),
            (2, 9_000, 3, 101, b"opb".to_vec()),
        ]
    );
    let ifs = r.interfaces();
    assert_eq!(ifs.len(), 3);
    assert_eq!(ifs[0].name.as_deref(), Some("a/eth0"));
    assert_eq!(ifs[0].description.as_deref(), Some("netns=a"));
    assert_eq!(ifs[0].kernel_drops, None);
    assert_eq!(ifs[1].kernel_drops, Some(42));
    assert_eq!(ifs[2].name.as_deref(), Some("b/eth0"));
    assert_eq!(ifs[2].linktype, LinkType::RAW);
    assert_eq!(ifs[2].kernel_drops, Some(7));
    Ok(())
}

/// Frames read as the single-input loop of `analyze` reads them: [`CaptureReader::advance_plain`]
/// first, [`CaptureReader::next_frame`] where it declines; how many the first took.
fn read_plain_first(r: &mut CaptureReader) -> (Vec<Row>, Option<ReadError>, usize) {
    let (mut rows, mut plain) = (Vec::new(), 0);
    let row = |f: Frame<'_>| (f.ifid, f.t_ns, f.len, f.linktype.0, f.data.to_vec());
    loop {
        if r.advance_plain() {
            plain += 1;
            rows.extend(r.last_frame().map(row));
            continue;
        }
        match r.next_frame() {
            Ok(Some(f)) => rows.push(row(f)),
            Ok(None) => return (rows, None, plain),
            Err(e) => return (rows, Some(e), plain),
        }
    }
}

#[test]
fn plain_records_read_inline_are_the_frames_next_frame_reads() -> Result<(), ReadError> {
    let mut ng = Ng::new(false);
    ng.idb(1, 0, &name_opts("a/eth0", ""));
    for i in 0..50u8 {
        ng.epb(0, u64::from(i), &[i; 60], 60);
        if i % 7 == 0 {
            ng.isb(0, u64::from(i)); // not a packet: the general path reads past it
        }
    }
    ng.spb(10, b"0123456789");
    ng.epb(0, 99, b"last", 4);
    let bytes = ng.out;
    let (want, err) = read_all(&mut reader(bytes.clone())?);
    assert!(err.is_none(), "{err:?}");
    let mut r = reader(bytes.clone())?;
    let (got, err, plain) = read_plain_first(&mut r);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(got, want);
    assert_eq!(r.frames_read(), 52);
    assert!(plain >= 40, "most records read inline: {plain}");
    // Damage after the first frames: the same frames, then the same error at the same offset.
    let mut cut = bytes;
    cut.truncate(cut.len() - 3);
    let (want, want_err) = read_all(&mut reader(cut.clone())?);
    let (got, err, _) = read_plain_first(&mut reader(cut)?);
    assert_eq!(got, want);
    assert_eq!(err.map(|e| e.to_string()), want_err.map(|e| e.to_string()));
    // A classic pcap: every record inline.
    let records: Vec<(u32, u32, &[u8], u32)> =
        (0..20u32).map(|i| (i, i * 10, &b"0123456789abcdef"[..(i % 16) as usize], 16)).collect();
    let file = pcap_file(false, true, &records);
    let (want, _) = read_all(&mut reader(file.clone())?);
    let (got, err, plain) = read_plain_first(&mut reader(file)?);
    assert!(err.is_none(), "{err:?}");
    assert_eq!((got, plain), (want, 20));
    Ok(())
}

fn ng_error(bytes: Vec<u8>) -> Result<(usize, ReadError), ReadError> {
    let mut r = reader(bytes)?;
    let (rows, err) = read_all(&mut r);
    Ok((rows.len(), err.ok_or_else(|| panic_free("expected an error"))?))
}

/// A file with one interface and one good packet; returns it and the offset where the next
/// block would start.
fn ng_one_packet() -> (Ng, u64) {
    let mut ng = Ng::new(false);
    ng.idb(1, 0, &[]);
    ng.epb(0, 1, b"ok", 2);
    let at = ng.out.len() as u64;
    (ng, at)
}

#[test]
fn pcapng_bad_block_lengths_are_errors_at_the_right_offset() -> Result<(), ReadError> {
    for bad_len in [0u32, 13, 8, 0xFFFF_FFF0] {
        let (mut ng, at) = ng_one_packet();
        ng.out.extend(6u32.to_le_bytes());
        ng.out.extend(bad_len.to_le_bytes());
        ng.out.extend([0; 40]);
        let (frames, err) = ng_error(ng.out)?;
        assert_eq!(frames, 1);
        assert_eq!(err.offset, at, "len {bad_len}");
        assert!(
            matches!(err.kind, ReadErrorKind::BlockLength { .. } | ReadErrorKind::TooBig { .. }),
            "len {bad_len}: {err}"
        );
    }
    Ok(())
}

#[test]
fn pcapng_damage_inside_blocks() -> Result<(), ReadError> {
    // Trailing length differs.
    let (mut ng, at) = ng_one_packet();
    ng.epb(0, 2, b"xx", 2);
    let n = ng.out.len();
    ng.out[n - 4] ^= 4;
    let (frames, err) = ng_error(ng.out)?;
    assert_eq!((frames, err.offset), (1, at));
    assert!(matches!(err.kind, ReadErrorKind::BlockLengthMismatch { .. }));

    // Captured length larger than the block.
    let (mut ng, at) = ng_one_packet();
    ng.epb(0, 2, b"xxxx", 4);
    let n = ng.out.len();
    ng.out[n - 16..n - 12].copy_from_slice(&400u32.to_le_bytes());
    let (frames, err) = ng_error(ng.out)?;
    assert_eq!((frames, err.offset), (1, at));
    assert!(matches!(err.kind, ReadErrorKind::CaplenOverflow { caplen: 400, room: 4, .. }));

    // Packet on an interface the section does not have.
    let (mut ng, at) = ng_one_packet();
    ng.epb(7, 2, b"xx", 2);
    let (frames, err) = ng_error(ng.out)?;
    assert_eq!((frames, err.offset), (1, at));
    assert!(matches!(err.kind, ReadErrorKind::UnknownInterface { local: 7, count: 1, .. }));

    // Truncated block.
    let (mut ng, at) = ng_one_packet();
    ng.epb(0, 2, b"xx", 2);
    ng.out.truncate(ng.out.len() - 1);
    let (frames, err) = ng_error(ng.out)?;
    assert_eq!((frames, err.offset), (1, at));
    assert!(matches!(err.kind, ReadErrorKind::Truncated { needed: 36, got: 35, .. }));

    // Bad byte-order magic in a later section.
    let (mut ng, at) = ng_one_packet();
    ng.shb(false);
    ng.out[at as usize + 8] = 0x77;
    let (frames, err) = ng_error(ng.out)?;
    assert_eq!((frames, err.offset), (1, at));
    assert!(matches!(err.kind, ReadErrorKind::ByteOrderMagic(_)));
    Ok(())
}

#[test]
fn pcapng_damage_before_the_first_packet_is_reported_by_next_frame() -> Result<(), ReadError> {
    let mut ng = Ng::new(false);
    ng.spb(4, b"abcd"); // simple packet block before any interface block
    let (frames, err) = ng_error(ng.out)?;
    assert_eq!(frames, 0);
    assert!(matches!(err.kind, ReadErrorKind::UnknownInterface { local: 0, count: 0, .. }));
    // A bad section header is not a capture at all.
    let mut ng = Ng::new(false);
    ng.out[8] = 0;
    assert!(matches!(reader(ng.out).map_err(|e| e.kind), Err(ReadErrorKind::ByteOrderMagic(_))));
    Ok(())
}

fn lab_interfaces() -> Vec<WriterInterface> {
    vec![
        WriterInterface {
            linktype: LinkType::ETHERNET,
            name: "nginx-1/eth0".into(),
            description: "netns=nginx-1 role=endpoint".into(),
            snaplen: 262_144,
        },
        WriterInterface {
            linktype: LinkType::LINUX_SLL2,
            name: "host/br0".into(),
            description: String::new(),
            snaplen: 0,
        },
    ]
}

fn written_file() -> std::io::Result<Vec<u8>> {
    let mut w = PcapngWriter::new(Vec::new(), &lab_interfaces())?;
    w.write_packet(0, 1_764_255_640_137_389_123, b"hello", 60)?;
    w.write_packet(1, 1_764_255_640_137_390_000, b"", 0)?;
    w.write_packet(1, u64::MAX, &[0xab; 1500], 1500)?;
    w.write_interface_stats(1, 1_764_255_641_000_000_000, 3, 9)?;
    w.finish()
}

#[test]
fn writer_round_trip() -> Result<(), Box<dyn std::error::Error>> {
    let mut r = reader(written_file()?)?;
    let (rows, err) = read_all(&mut r);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(
        rows,
        vec![
            (0, 1_764_255_640_137_389_123, 60, 1, b"hello".to_vec()),
            (1, 1_764_255_640_137_390_000, 0, 276, vec![]),
            (1, u64::MAX, 1500, 276, vec![0xab; 1500]),
        ]
    );
    let ifs = r.interfaces();
    assert_eq!(ifs.len(), 2);
    assert_eq!(ifs[0].name.as_deref(), Some("nginx-1/eth0"));
    assert_eq!(ifs[0].description.as_deref(), Some("netns=nginx-1 role=endpoint"));
    assert_eq!(ifs[1].name.as_deref(), Some("host/br0"));
    assert_eq!(ifs[1].description, None);
    assert_eq!(ifs[0].kernel_drops, None);
    assert_eq!(ifs[1].kernel_drops, Some(9));
    Ok(())
}

#[test]
fn writer_rejects_unknown_interfaces() -> std::io::Result<()> {
    let mut w = PcapngWriter::new(Vec::new(), &lab_interfaces())?;
    assert!(w.write_packet(2, 0, b"x", 1).is_err());
    assert!(w.write_interface_stats(5, 0, 0, 0).is_err());
    Ok(())
}

/// Runs a tool on a file; `None` when the tool is not installed (a failure under CI).
fn run_tool(tool: &str, args: &[&str]) -> Option<std::process::Output> {
    let out = std::process::Command::new(tool).args(args).output();
    if !require::require(&format!("{tool} (apt-get install {tool})"), out.is_ok()) {
        return None;
    }
    out.ok()
}

/// A temporary file removed when dropped (also when an assertion fails).
struct TempFile(std::path::PathBuf);

impl TempFile {
    fn with(tag: &str, bytes: &[u8]) -> std::io::Result<Self> {
        let path = std::env::temp_dir().join(format!("vtrace-{tag}-{}.pcapng", std::process::id()));
        std::fs::write(&path, bytes)?;
        Ok(TempFile(path))
    }
    fn arg(&self) -> String {
        self.0.to_string_lossy().into_owned()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn tshark_and_tcpdump_accept_what_the_writer_writes() -> Result<(), Box<dyn std::error::Error>> {
    // tcpdump (libpcap) needs one link type per file: write an Ethernet-only file for it.
    let eth = vec![lab_interfaces()[0].clone(), lab_interfaces()[0].clone()];
    let mut w = PcapngWriter::new(Vec::new(), &eth)?;
    w.write_packet(0, 1_764_255_640_137_389_123, &[0x11; 42], 42)?;
    w.write_packet(1, 1_764_255_640_137_390_456, &[0x22; 60], 98)?;
    w.write_interface_stats(1, 1_764_255_641_000_000_000, 2, 1)?;
    let file = TempFile::with("writer", &w.finish()?)?;
    let p = file.arg();
    if let Some(out) = run_tool(
        "tshark",
        &["-r", &p, "-T", "fields", "-e", "frame.interface_name", "-e", "frame.time_epoch"],
    ) {
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "tshark: {}", String::from_utf8_lossy(&out.stderr));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            vec!["nginx-1/eth0\t1764255640.137389123", "nginx-1/eth0\t1764255640.137390456"]
        );
    }
    if let Some(out) = run_tool("tcpdump", &["-r", &p, "-nn", "--nano", "-tt"]) {
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "tcpdump: {}", String::from_utf8_lossy(&out.stderr));
        let stamps: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("1764"))
            .filter_map(|l| l.split(' ').next())
            .collect();
        assert_eq!(stamps, vec!["1764255640.137389123", "1764255640.137390456"], "{text}");
    }
    Ok(())
}

#[test]
fn tshark_reads_mixed_link_types_from_the_writer() -> Result<(), Box<dyn std::error::Error>> {
    let file = TempFile::with("writer-mixed", &written_file()?)?;
    let p = file.arg();
    let out = run_tool(
        "tshark",
        &["-r", &p, "-T", "fields", "-e", "frame.interface_id", "-e", "frame.cap_len"],
    );
    if let Some(out) = out {
        assert!(out.status.success(), "tshark: {}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(text.lines().collect::<Vec<_>>(), vec!["0\t5", "1\t0", "1\t1500"]);
    }
    Ok(())
}

fn lab_section() -> Section {
    Section {
        node: CaptureNode {
            hostname: Some("node-1".into()),
            hardware: Some("x86_64".into()),
            os: Some("Linux 6.1.0".into()),
            application: None,
        },
        names: vec![
            (
                "172.18.0.2".parse().unwrap_or(std::net::IpAddr::from([0, 0, 0, 0])),
                "nginx-1".into(),
            ),
            ("fd00::3".parse().unwrap_or(std::net::IpAddr::from([0u8; 16])), "nginx-2".into()),
        ],
    }
}

/// A file with the node, names and comments vtrace writes with `--write`.
fn annotated_file() -> std::io::Result<Vec<u8>> {
    let mut w = PcapngWriter::with_section(Vec::new(), &lab_section(), &lab_interfaces())?;
    w.write_commented(
        0,
        1_764_255_640_137_389_123,
        b"hello",
        60,
        Some("echo seq 3 request hop 1/5"),
    )?;
    w.write_commented(1, 1_764_255_640_137_390_000, b"abc", 3, None)?;
    w.write_commented(1, 1_764_255_640_137_391_000, &[7; 9], 9, Some("réponse +6.4µs"))?;
    w.write_interface_stats(1, 1_764_255_641_000_000_000, 3, 9)?;
    w.finish()
}

#[test]
fn section_names_and_comments_round_trip() -> Result<(), Box<dyn std::error::Error>> {
    let mut r = reader(annotated_file()?)?;
    let node = r.node().cloned().unwrap_or_default();
    assert_eq!(node.hostname.as_deref(), Some("node-1"));
    assert_eq!(node.hardware.as_deref(), Some("x86_64"));
    assert_eq!(node.os.as_deref(), Some("Linux 6.1.0"));
    assert_eq!(node.application.as_deref(), Some(concat!("vtrace ", env!("CARGO_PKG_VERSION"))));
    assert_eq!(r.names(), lab_section().names.as_slice());
    // Comments change no frame.
    let (rows, err) = read_all(&mut r);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(
        rows,
        vec![
            (0, 1_764_255_640_137_389_123, 60, 1, b"hello".to_vec()),
            (1, 1_764_255_640_137_390_000, 3, 276, b"abc".to_vec()),
            (1, 1_764_255_640_137_391_000, 9, 276, vec![7; 9]),
        ]
    );
    assert_eq!(r.interfaces()[1].kernel_drops, Some(9));
    // A file without a section of its own says only vtrace; a pcap file says nothing.
    let plain = reader(written_file()?)?;
    assert_eq!(plain.node().and_then(|n| n.hostname.clone()), None);
    assert!(plain.names().is_empty());
    Ok(())
}

#[test]
fn tshark_shows_the_comments_names_and_node() -> Result<(), Box<dyn std::error::Error>> {
    let file = TempFile::with("writer-annotated", &annotated_file()?)?;
    let p = file.arg();
    let fields = [
        "-r",
        &p,
        "-T",
        "fields",
        "-e",
        "frame.comment",
        "-e",
        "frame.interface_name",
        "-e",
        "frame.interface_description",
    ];
    if let Some(out) = run_tool("tshark", &fields) {
        assert!(out.status.success(), "tshark: {}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            text.lines().collect::<Vec<_>>(),
            vec![
                "echo seq 3 request hop 1/5\tnginx-1/eth0\tnetns=nginx-1 role=endpoint",
                "\thost/br0\t",
                "réponse +6.4µs\thost/br0\t",
            ]
        );
    }
    // The name resolution block: tshark resolves the containers' addresses from it.
    if let Some(out) = run_tool("tshark", &["-r", &p, "-q", "-z", "hosts"]) {
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("172.18.0.2\tnginx-1"), "{text}");
        assert!(text.contains("fd00::3\tnginx-2"), "{text}");
    }
    if let Some(out) = run_tool("capinfos", &[&p]) {
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("node=node-1"), "{text}");
        assert!(text.contains("Linux 6.1.0"), "{text}");
    }
    Ok(())
}

/// Reader throughput on a large file (run in release, file in the page cache):
/// `VTRACE_READ_BENCH=big.pcapng cargo test --release --lib read_speed -- --ignored --nocapture`
#[test]
#[ignore = "benchmark: needs VTRACE_READ_BENCH=FILE and a release build"]
fn read_speed() -> Result<(), ReadError> {
    let Some(file) = std::env::var_os("VTRACE_READ_BENCH") else {
        println!("set VTRACE_READ_BENCH=FILE");
        return Ok(());
    };
    let path = std::path::PathBuf::from(file);
    for _ in 0..3 {
        let started = std::time::Instant::now();
        let mut r = CaptureReader::open(&path)?;
        let (mut frames, mut bytes) = (0u64, 0u64);
        while let Some(f) = r.next_frame()? {
            frames += 1;
            bytes += f.data.len() as u64 + u64::from(f.ifid) + (f.t_ns & 1);
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "{}: {frames} frames ({bytes} bytes) in {secs:.3} s: {:.1} M frames/s",
            path.display(),
            frames as f64 / secs / 1e6
        );
    }
    Ok(())
}
