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
