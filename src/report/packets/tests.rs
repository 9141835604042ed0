//! Exact renderings of real frames (the decoder's output for bytes from ../shared/corpora).

use super::{Record, json_line, text_line};
use crate::core::decode::decode;
use crate::core::frame::{Frame, LinkType};
use crate::core::packet::Packet;
use crate::report::clock::{TimeOfDay, Zone};

fn hex(s: &str) -> Vec<u8> {
    (0..s.len() / 2).filter_map(|i| u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()).collect()
}

fn packet(lt: u16, h: &str) -> (Packet, u32) {
    let data = hex(h);
    let len = u32::try_from(data.len()).unwrap_or_default();
    (decode(&Frame { ifid: 0, t_ns: 0, len, linktype: LinkType(lt), data: &data }), len)
}

fn render(lt: u16, h: &str, point: &str) -> (String, String) {
    let (p, len) = packet(lt, h);
    let r = Record {
        frame: 7,
        ifid: 1,
        t_ns: 1_795_805_528_680_818_123,
        caplen: len,
        len,
        linktype: lt,
        point,
        packet: &p,
    };
    let (mut text, mut json) = (Vec::new(), Vec::new());
    text_line(&mut text, &r, &mut TimeOfDay::new(Zone::Utc));
    json_line(&mut json, &r);
    (String::from_utf8_lossy(&text).into_owned(), String::from_utf8_lossy(&json).into_owned())
}

const ARP_REQ: &str =
    "ffffffffffff020000000a0108060001080006040001020000000a010a4d01020000000000000a4d0101";
const TTL_EXCEEDED: &str = "020000000a01020000000afe080045c00070f0650000400172cb0a4d01010a4d01020b00f4ff000000004500005459404000010108cc0a4d01020a4d02020800c5d109be000159d1096b000000000560010000000000101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637";
const QINQ_ARP: &str = "ffffffffffff0020d25afb3f88a800c8810007d1080600010800060400010020d25afb3fac154f61000000000000ac154f640000000000000000000000000000";
const NDP_NS: &str = "3333fff50000c20054f5000086dd6e00000000183aff00000000000000000000000000000000ff0200000000000000000001fff500008700673c00000000fe80000000000000c00054fffef50000";

#[test]
fn arp_request() {
    let (text, json) = render(1, ARP_REQ, "nginx-1/eth0");
    assert_eq!(
        text,
        "18:52:08.680818123 nginx-1/eth0 ARP, Request who-has 10.77.1.1 tell 10.77.1.2, length 28\n"
    );
    assert_eq!(
        json,
        "{\"frame\":7,\"ifid\":1,\"t_ns\":1795805528680818123,\"point\":\"nginx-1/eth0\",\
         \"caplen\":42,\"len\":42,\"eth_src\":\"02:00:00:00:0a:01\",\"eth_dst\":\"ff:ff:ff:ff:ff:ff\",\
         \"arp\":{\"op\":1,\"spa\":\"10.77.1.2\",\"sha\":\"02:00:00:00:0a:01\",\
         \"tpa\":\"10.77.1.1\",\"tha\":\"00:00:00:00:00:00\"}}\n"
    );
}

#[test]
fn icmp_error_with_quote() {
    let (text, json) = render(1, TTL_EXCEEDED, "r");
    assert_eq!(
        text,
        "18:52:08.680818123 r IP 10.77.1.1 > 10.77.1.2: ICMP time exceeded in-transit \
         for 10.77.1.2 > 10.77.2.2 echo id 2494 seq 1, length 92\n"
    );
    assert!(json.contains(
        "\"ip\":{\"src\":\"10.77.1.1\",\"dst\":\"10.77.1.2\",\"id\":61541},\
         \"icmp\":{\"type\":11,\"code\":0,\"quoted\":{\"src\":\"10.77.1.2\",\"dst\":\"10.77.2.2\",\
         \"proto\":1,\"ip_id\":22848,\"echo_id\":2494,\"echo_seq\":1}}}\n"
    ));
}

#[test]
fn vlans_and_ndp() {
    let (text, json) = render(1, QINQ_ARP, "p");
    assert!(text.starts_with("18:52:08.680818123 p vlan 200,2001 ARP, Request who-has"), "{text}");
    assert!(json.contains("\"vlan\":[200,2001],\"arp\""), "{json}");

    let (text, json) = render(1, NDP_NS, "p");
    assert!(
        text.ends_with(
            "IP6 :: > ff02::1:fff5:0: ICMP6, neighbor solicitation, \
             who has fe80::c000:54ff:fef5:0, length 24\n"
        ),
        "{text}"
    );
    assert!(json.contains(
        "\"ipv6\":{\"src\":\"::\",\"dst\":\"ff02::1:fff5:0\"},\
         \"icmpv6\":{\"type\":135,\"code\":0,\"target\":\"fe80::c000:54ff:fef5:0\"}}"
    ));
}

/// The text after the time and point.
fn after_point(text: &str) -> &str {
    text.strip_prefix("18:52:08.680818123 p ").unwrap_or(text)
}

/// tcpdump's tcp-handshake-nano.pcap (Linux cooked), line for line as `tcpdump -n -S` prints it
/// after the time.
#[test]
fn tcp_handshake_as_tcpdump_prints_it() {
    use crate::core::decode::tests::{HANDSHAKE_ACK, HANDSHAKE_SYN, HANDSHAKE_SYN_ACK};
    let (syn, json) = render(113, HANDSHAKE_SYN, "p");
    assert_eq!(
        after_point(&syn),
        "IP 131.155.215.69.46656 > 137.116.81.94.80: Flags [S], seq 797190859, win 27200, \
         options [mss 1360,sackOK,TS val 1131021154 ecr 0,nop,wscale 7], length 0\n"
    );
    assert!(
        json.contains(
            "\"tcp\":{\"src\":46656,\"dst\":80,\"flags\":\"S\",\"seq\":797190859,\"ack\":0,\
             \"win\":27200,\"mss\":1360}}"
        ),
        "{json}"
    );
    let (syn_ack, json) = render(113, HANDSHAKE_SYN_ACK, "p");
    assert_eq!(
        after_point(&syn_ack),
        "IP 137.116.81.94.80 > 131.155.215.69.46656: Flags [S.], seq 3078856592, ack 797190860, \
         win 8192, options [mss 1440,nop,wscale 8,sackOK,TS val 234205008 ecr 1131021154], \
         length 0\n"
    );
    assert!(json.contains("\"flags\":\"S.\",\"seq\":3078856592,\"ack\":797190860,"), "{json}");
    let (ack, json) = render(113, HANDSHAKE_ACK, "p");
    assert_eq!(
        after_point(&ack),
        "IP 131.155.215.69.46656 > 137.116.81.94.80: Flags [.], ack 3078856593, win 213, \
         options [nop,nop,TS val 1131021186 ecr 234205008], length 0\n"
    );
    assert!(json.contains("\"win\":213}"), "no mss without the option: {json}");
}

/// Segments built with etherparse, each line as `tcpdump -n -S` 4.99 prints the same bytes: data
/// (a sequence range), a reset, every flag with the urgent pointer, no flag, an option whose
/// length byte disagrees with its size, a SACK, and a bad option that ends the line.
#[test]
fn tcp_segments_as_tcpdump_prints_them() {
    use etherparse::{PacketBuilder, PacketBuilderStep, TcpHeader};
    let tcp = |seq| {
        PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(40000, 81, seq, 100)
    };
    let line = |step: PacketBuilderStep<TcpHeader>, payload: &[u8]| {
        let mut out = Vec::new();
        step.write(&mut out, payload).expect("building a TCP segment");
        let h: String = out.iter().map(|b| format!("{b:02x}")).collect();
        let text = render(1, &h, "p").0;
        let head = "IP 10.0.0.1.40000 > 10.0.0.2.81: ";
        after_point(&text).strip_prefix(head).unwrap_or(&text).trim_end().to_owned()
    };
    let raw = |seq, options: &[u8]| tcp(seq).ack(9).options_raw(options).expect("options");
    let ts = [1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2];
    assert_eq!(
        line(raw(1001, &ts).psh(), b"GET / HTTP/1.1\r\n\r\n"),
        "Flags [P.], seq 1001:1019, ack 9, win 100, options [nop,nop,TS val 1 ecr 2], length 18"
    );
    assert_eq!(line(tcp(0).rst().ack(1001), b""), "Flags [R.], seq 0, ack 1001, win 100, length 0");
    let all = tcp(7).fin().syn().rst().psh().ack(3).urg(5).ece().cwr();
    assert_eq!(line(all, b""), "Flags [FSRP.UEW], seq 7, ack 3, win 100, urg 5, length 0");
    assert_eq!(line(tcp(7), b""), "Flags [none], win 100, length 0");
    assert_eq!(
        line(raw(7, &[2, 5, 5, 0xb4, 0, 1, 1, 1]), b""),
        "Flags [.], ack 9, win 100, options [mss 1460[len 5],eol], length 0"
    );
    let sack =
        [1, 1, 5, 18, 0, 0, 0, 100, 0, 0, 0, 200, 0, 0, 1, 44, 0, 0, 1, 144, 99, 4, 0xab, 0xcd];
    assert_eq!(
        line(raw(7, &sack), b""),
        "Flags [.], ack 9, win 100, options [nop,nop,sack 2 {100:200}{300:400},unknown-99 0xabcd], \
         length 0"
    );
    assert_eq!(
        line(raw(7, &[2, 9, 5, 0xb4]), b""),
        "Flags [.], ack 9, win 100, options [[bad opt]"
    );
    assert_eq!(
        line(raw(7, &[1, 2, 9, 0]), b""),
        "Flags [.], ack 9, win 100, options [nop,[bad opt]]"
    );
}

/// UDP's length is its payload's, as tcpdump counts it.
#[test]
fn udp_length_is_the_payload() {
    let builder = etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .udp(40000, 9999);
    let mut out = Vec::new();
    builder.write(&mut out, b"vtrace probe\n").expect("building a datagram");
    let h: String = out.iter().map(|b| format!("{b:02x}")).collect();
    let (text, json) = render(1, &h, "p");
    assert_eq!(after_point(&text), "IP 10.0.0.1.40000 > 10.0.0.2.9999: UDP, length 13\n");
    assert!(json.contains("\"udp\":{\"src\":40000,\"dst\":9999}"), "{json}");
}

#[test]
fn undecoded_malformed_and_escaped() {
    let (text, json) = render(253, ARP_REQ, "a\"b\\c\n");
    assert!(text.ends_with("link type 253 (not decoded), length 42\n"), "{text}");
    assert!(json.contains("\"point\":\"a\\\"b\\\\c\\n\""), "{json}");
    assert!(json.ends_with(",\"undecoded_linktype\":253}\n"), "{json}");

    let (text, json) = render(1, ARP_REQ.get(..40).unwrap_or_default(), "p");
    assert!(text.ends_with("non-IP, length 20 [malformed: ARP packet truncated]\n"), "{text}");
    assert!(json.ends_with(",\"malformed\":\"ARP packet truncated\"}\n"), "{json}");
}
