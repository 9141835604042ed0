//! Decoder tests on real frames taken from ../shared/corpora (hex as `tcpdump -xx` prints them),
//! plus truncation and garbage sweeps that must never panic.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{decode, decode_into};
use crate::core::fingerprint;
use crate::core::frame::{Frame, LinkType};
use crate::core::packet::{
    Arp, DecodeStatus, Echo, HwAddr, Mac, Packet, Ports, Quoted, Tcp, TcpOption, TcpOptionItem,
    TcpOptions,
};

fn hex(s: &str) -> Vec<u8> {
    (0..s.len() / 2).filter_map(|i| u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()).collect()
}

fn dec(lt: u16, data: &[u8]) -> Packet {
    let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
    decode(&Frame { ifid: 0, t_ns: 0, len, linktype: LinkType(lt), data })
}

fn v4(s: &str) -> IpAddr {
    IpAddr::V4(s.parse().unwrap_or(Ipv4Addr::UNSPECIFIED))
}

fn mac(s: &str) -> Mac {
    let b = hex(&s.replace(':', ""));
    Mac(<[u8; 6]>::try_from(b.as_slice()).unwrap_or_default())
}

// live_A_crpa0_us.pcap frame 7: ARP request.
const ARP_REQ: &str =
    "ffffffffffff020000000a0108060001080006040001020000000a010a4d01020000000000000a4d0101";
// live_A_crpa0_us.pcap frame 9: ICMP echo request, 98 bytes.
const ECHO: &str = "020000000afe020000000a01080045000054591340004001c9f80a4d01020a4d0202080058d009bd000158d1096b000000006a620a0000000000101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637";
// live_A_crpa0_us.pcap frame 16: time exceeded quoting an echo request.
const TTL_EXCEEDED: &str = "020000000a01020000000afe080045c00070f0650000400172cb0a4d01010a4d01020b00f4ff000000004500005459404000010108cc0a4d01020a4d02020800c5d109be000159d1096b000000000560010000000000101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637";
// tcpdump 802.1ad_QinQ.pcap frame 1: ARP under an 802.1ad and an 802.1Q tag.
const QINQ_ARP: &str = "ffffffffffff0020d25afb3f88a800c8810007d1080600010800060400010020d25afb3fac154f61000000000000ac154f640000000000000000000000000000";
// pcpp sll.pcap frame 10: ARP in a Linux cooked header.
const SLL_ARP: &str =
    "000400010006080027191c78000008060001080006040001080027191c780a0000080000000000000a00008a";
// pcpp Sll2Packet.pcap: TCP in a Linux cooked v2 header.
const SLL2_TCP: &str = "080000000000001400010406d2cfc25015ea0000450000288b2240004006599707f99772743f426cdfcc01bba7ab9fbfaaceb5e95010042256310000";
// tcpdump various_gre.pcap frame 25: VLAN, IPv4, GRE with Cisco MetaData, IPv4, ICMP echo.
const GRE_CMD: &str = "aabbcc000200aabbcc000100810004bd08004500008800910000ff2f25510aac40060aac4007200089090000002808000101000100004500006400050000ff016104ac110136ac110137080064fe0001000000000000000c193fabcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabcd";
// tcpdump erspan-type-ii-3.pcap frame 70: ARP request with a VLAN tag inside ERSPAN II.
const ERSPAN2_ARP: &str = "001018b38f10881dfcc9dc0308004500006400000000ff2f3675c0a801acc0a801f9100088be0001a20f136110650000abc5ffffffffffff14187760aa75810003610806000108000604000114187760aa750af0138b0000000000000af01381000000000000000000000000000000000000";
// tcpdump tcp-handshake-nano.pcap frames 1-3 (Linux cooked): SYN, SYN-ACK and ACK.
pub(crate) const HANDSHAKE_SYN: &str = "000402000000000000000000000008004500003c29a940004006db5f839bd7458974515eb64000502f842acb00000000a0026a4050c40000020405500402080a436a03620000000001030307";
pub(crate) const HANDSHAKE_SYN_ACK: &str = "000002000000000000000000000008004500003c1c4440007506b3c48974515e839bd7450050b640b7839f902f842acca012200086480000020405a0010303080402080a0df5af50436a0362";
pub(crate) const HANDSHAKE_ACK: &str = "000402000000000000000000000008004500003429aa40004006db66839bd7458974515eb64000502f842accb7839f91801000d5d40c00000101080a436a03820df5af50";
// pcpp gtp-u.pcap frame 1: ICMP echo request inside GTP-U.
const GTP_ECHO: &str = "000c29dad1de000c29e3c64d08004500007c00004000401167bbc0a828b3c0a828b2086808680068bf6432ff00580000000128db0000450000540000400040015ea5ca0b289ec0a828b20800bee70000287b0411204bf43d0d0008090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637";
// pcpp IcmpV6_NeighAdvSoli.pcap frame 1: neighbour solicitation.
const NDP_NS: &str = "3333fff50000c20054f5000086dd6e00000000183aff00000000000000000000000000000000ff0200000000000000000001fff500008700673c00000000fe80000000000000c00054fffef50000";
// tcpdump icmpv6-RFC2894-RR.pcap frame 1 (NULL link type, AF 28 little-endian).
const NULL_V6: &str = "1c0000006000000000483a4020010db8000100000a0027fffef44dcf20010db8000100000a0027fffef44dcf8a00df3a0000000000100000000000000107003000800000fec000000000000000000000000000003010000000278d0000093a80000000003ffe0501fffe00000000000000000000";

#[test]
fn arp_request() {
    let data = hex(ARP_REQ);
    let p = dec(1, &data);
    assert_eq!(p.status, DecodeStatus::Complete);
    let eth = p.eth.map(|e| (e.src, e.dst));
    assert_eq!(eth, Some((mac("02:00:00:00:0a:01"), mac("ff:ff:ff:ff:ff:ff"))));
    assert_eq!(
        p.arp,
        Some(Arp {
            op: Arp::REQUEST,
            sha: HwAddr::new(&hex("02000000 0a01".replace(' ', "").as_str())),
            spa: Some(Ipv4Addr::new(10, 77, 1, 2)),
            tha: HwAddr::new(&[0; 6]),
            tpa: Some(Ipv4Addr::new(10, 77, 1, 1)),
        })
    );
    assert_eq!(p.fp, Some(fingerprint::arp(data.get(14..42).unwrap_or_default())));
    assert_eq!(p.ip, None);
}

#[test]
fn icmp_echo_request() {
    let data = hex(ECHO);
    let p = dec(1, &data);
    assert_eq!(p.status, DecodeStatus::Complete);
    let ip =
        p.ip.map(|ip| (ip.src, ip.dst, ip.id, ip.proto, ip.ttl, ip.total_len, ip.dont_fragment));
    assert_eq!(ip, Some((v4("10.77.1.2"), v4("10.77.2.2"), Some(22803), 1, 64, 84, true)));
    let icmp = p.icmp.map(|i| (i.ty, i.code, i.echo, i.quoted));
    assert_eq!(icmp, Some((8, 0, Some(Echo { id: 2493, seq: 1 }), None)));
    assert_eq!(p.l4_len, 64);
    let l4 = data.get(34..).unwrap_or_default();
    let fp = fingerprint::ipv4([10, 77, 1, 2], [10, 77, 2, 2], 22803, 1, 0x4000, l4);
    assert_eq!(p.fp, Some(fp));
    assert_eq!(p.inner_ip, None);
}

#[test]
fn decoding_into_a_used_packet_leaves_nothing_of_the_old_one() {
    fn frame(data: &[u8]) -> Frame<'_> {
        let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
        Frame { ifid: 0, t_ns: 0, len, linktype: LinkType(1), data }
    }
    let (arp, ttl) = (hex(ARP_REQ), hex(TTL_EXCEEDED));
    // A time-exceeded message (IP, ICMP, a quoted packet) decoded into an ARP request's packet,
    // and the other way round: the same as decoding each afresh.
    let mut p = dec(1, &arp);
    decode_into(&frame(&ttl), None, &mut p);
    assert_eq!(p, dec(1, &ttl));
    decode_into(&frame(&arp), None, &mut p);
    assert_eq!(p, dec(1, &arp));
    assert!(p.ip.is_none() && p.icmp.is_none() && p.arp.is_some());
    // Given the identity `identify` computed, the same packet without hashing it again.
    for data in [&ttl, &hex(ECHO)] {
        let known = super::identify(&frame(data)).fp;
        assert!(known.is_some());
        decode_into(&frame(data), known, &mut p);
        assert_eq!(p, dec(1, data));
    }
}

#[test]
fn ethernet_padding_is_not_payload() {
    let mut data = hex(ECHO);
    let unpadded = dec(1, &data).fp;
    data.extend_from_slice(&[0; 6]);
    assert_eq!(dec(1, &data).fp, unpadded);
}

#[test]
fn time_exceeded_quotes_the_echo() {
    let p = dec(1, &hex(TTL_EXCEEDED));
    assert_eq!(p.status, DecodeStatus::Complete);
    assert_eq!(p.ip.map(|ip| (ip.src, ip.id)), Some((v4("10.77.1.1"), Some(61541))));
    let icmp = p.icmp.map(|i| (i.ty, i.code, i.echo, i.quoted));
    let quoted = Quoted {
        src: v4("10.77.1.2"),
        dst: v4("10.77.2.2"),
        proto: 1,
        id: Some(22848),
        echo: Some(Echo { id: 2494, seq: 1 }),
        ports: None,
    };
    assert_eq!(icmp, Some((11, 0, None, Some(quoted))));
}

#[test]
fn qinq_tags_outermost_first() {
    let p = dec(1, &hex(QINQ_ARP));
    assert_eq!(p.vlan.ids(), &[200, 2001]);
    assert_eq!(p.arp.map(|a| (a.op, a.tpa)), Some((1, Some(Ipv4Addr::new(172, 21, 79, 100)))));
}

#[test]
fn linux_cooked_v1_and_v2() {
    let p = dec(113, &hex(SLL_ARP));
    assert_eq!(p.sll_src.map(|a| a.to_string()), Some("08:00:27:19:1c:78".to_owned()));
    assert_eq!(p.arp.and_then(|a| a.spa), Some(Ipv4Addr::new(10, 0, 0, 8)));
    assert_eq!(p.eth, None);

    let p = dec(276, &hex(SLL2_TCP));
    assert_eq!(p.status, DecodeStatus::Complete);
    assert_eq!(p.sll_src.map(|a| a.to_string()), Some("d2:cf:c2:50:15:ea".to_owned()));
    assert_eq!(
        p.ports,
        Some(Ports {
            proto: 6,
            src: 57292,
            dst: 443,
            flags: Ports::ACK,
            payload_len: 0,
            tcp: Some(Tcp {
                seq: 0xa7ab_9fbf,
                ack: 0xaace_b5e9,
                win: 1058,
                urg: 0,
                options: TcpOptions::default()
            }),
        })
    );
    assert_eq!(p.ip.map(|ip| ip.src), Some(v4("7.249.151.114")));
}

/// The handshake of tcpdump's tcp-handshake-nano.pcap, as `tcpdump -n -S` reads it:
/// `Flags [S], seq 797190859, win 27200, options [mss 1360,sackOK,TS val 1131021154 ecr 0,nop,
/// wscale 7]`, `Flags [S.], seq 3078856592, ack 797190860, win 8192, options [mss 1440,nop,
/// wscale 8,sackOK,TS val 234205008 ecr 1131021154]`, `Flags [.], ack 3078856593, win 213,
/// options [nop,nop,TS val 1131021186 ecr 234205008]`.
#[test]
fn tcp_handshake_sequence_numbers_window_and_options() {
    let tcp = |h: &str| {
        let p = dec(113, &hex(h));
        assert_eq!(p.status, DecodeStatus::Complete);
        p.ports.and_then(|t| t.tcp.map(|tcp| (t.flags, tcp)))
    };
    fn opts(tcp: &Tcp) -> Vec<TcpOption<'_>> {
        tcp.options.iter().map(|o| o.option).collect()
    }

    let (flags, syn) = tcp(HANDSHAKE_SYN).expect("a TCP header");
    assert_eq!(flags, Ports::SYN);
    assert_eq!((syn.seq, syn.ack, syn.win, syn.urg), (797_190_859, 0, 27200, 0));
    assert_eq!(syn.mss(), Some(1360));
    assert_eq!(
        opts(&syn),
        [
            TcpOption::Mss(1360),
            TcpOption::SackPermitted,
            TcpOption::Timestamp { val: 1_131_021_154, ecr: 0 },
            TcpOption::Nop,
            TcpOption::WindowScale(7),
        ]
    );

    let (flags, syn_ack) = tcp(HANDSHAKE_SYN_ACK).expect("a TCP header");
    assert_eq!(flags, Ports::SYN | Ports::ACK);
    assert_eq!((syn_ack.seq, syn_ack.ack, syn_ack.win), (3_078_856_592, 797_190_860, 8192));
    assert_eq!(syn_ack.mss(), Some(1440));
    assert_eq!(opts(&syn_ack).get(1..3), Some(&[TcpOption::Nop, TcpOption::WindowScale(8)][..]));

    let (flags, ack) = tcp(HANDSHAKE_ACK).expect("a TCP header");
    assert_eq!(flags, Ports::ACK);
    assert_eq!((ack.seq, ack.ack, ack.win, ack.mss()), (797_190_860, 3_078_856_593, 213, None));
    assert_eq!(
        opts(&ack),
        [
            TcpOption::Nop,
            TcpOption::Nop,
            TcpOption::Timestamp { val: 1_131_021_186, ecr: 234_205_008 }
        ]
    );
}

/// Options read the way tcpdump reads them (checked against `tcpdump -n -S` 4.99 on the same
/// bytes): fixed sizes whatever the length byte says, `eol` ends the list, a length that does
/// not fit ends it as bad.
#[test]
fn odd_tcp_options() {
    fn items(o: &TcpOptions) -> Vec<TcpOptionItem<'_>> {
        o.iter().collect()
    }
    let ok = |option| TcpOptionItem { option, odd_len: None };
    // mss with length 5: `mss 1460[len 5],eol`.
    assert_eq!(
        items(&TcpOptions::new(&[2, 5, 5, 0xb4, 0, 1, 1, 1])),
        [TcpOptionItem { option: TcpOption::Mss(1460), odd_len: Some(5) }, ok(TcpOption::Eol)]
    );
    // A length past the end: `[bad opt]`.
    assert_eq!(
        items(&TcpOptions::new(&[1, 2, 9, 5, 0xb4])),
        [ok(TcpOption::Nop), ok(TcpOption::Bad)]
    );
    assert_eq!(
        items(&TcpOptions::new(&[1, 1, 1, 2])),
        [ok(TcpOption::Nop), ok(TcpOption::Nop), ok(TcpOption::Nop), ok(TcpOption::Bad)]
    );
    // SACK blocks, an unknown kind with its data, then eol and what follows it unread.
    let b = [
        1, 1, 5, 18, 0, 0, 0, 100, 0, 0, 0, 200, 0, 0, 1, 44, 0, 0, 1, 144, 99, 4, 0xab, 0xcd, 0,
        2, 4,
    ];
    let options = TcpOptions::new(&b);
    let got = items(&options);
    assert_eq!(got.len(), 5, "{got:?}");
    let Some(TcpOption::Sack(data)) = got.get(2).map(|i| i.option) else { panic!("{got:?}") };
    let blocks: Vec<_> = crate::core::packet::sack_blocks(data).collect();
    assert_eq!(blocks, [(100, 200), (300, 400)]);
    assert_eq!(
        got.get(3).map(|i| i.option),
        Some(TcpOption::Other { kind: 99, data: &[0xab, 0xcd] })
    );
    assert_eq!(got.get(4).map(|i| i.option), Some(TcpOption::Eol));
    // No MSS read from a bad option; the window scale read from the byte after a short length.
    assert_eq!(
        Tcp { seq: 0, ack: 0, win: 0, urg: 0, options: TcpOptions::new(&[2, 9, 5, 0xb4]) }.mss(),
        None
    );
    assert_eq!(
        items(&TcpOptions::new(&[3, 2, 0, 0])),
        [TcpOptionItem { option: TcpOption::WindowScale(0), odd_len: Some(2) }, ok(TcpOption::Eol)]
    );
}

#[test]
fn null_loopback_in_either_byte_order() {
    let mut data = hex(NULL_V6);
    let p = dec(0, &data);
    let want: Ipv6Addr = "2001:db8:1:0:a00:27ff:fef4:4dcf".parse().unwrap_or(Ipv6Addr::UNSPECIFIED);
    assert_eq!(p.ip.map(|ip| ip.src), Some(IpAddr::V6(want)));
    assert_eq!(p.icmpv6.map(|i| (i.ty, i.code)), Some((138, 0)));
    data.get_mut(..4).unwrap_or_default().copy_from_slice(&[0, 0, 0, 28]);
    assert_eq!(dec(108, &data).icmpv6.map(|i| i.ty), Some(138));
}

#[test]
fn gre_cisco_metadata_tunnel() {
    let p = dec(1, &hex(GRE_CMD));
    assert_eq!(p.status, DecodeStatus::Complete);
    assert_eq!(p.vlan.ids(), &[1213]);
    assert_eq!(p.ip.map(|ip| (ip.src, ip.id)), Some((v4("10.172.64.6"), Some(145))));
    assert_eq!(
        p.inner_ip.map(|ip| (ip.src, ip.dst, ip.id)),
        Some((v4("172.17.1.54"), v4("172.17.1.55"), Some(5)))
    );
    assert_eq!(p.icmp.map(|i| (i.ty, i.echo)), Some((8, Some(Echo { id: 1, seq: 0 }))));
}

#[test]
fn erspan_ii_inner_arp_and_vlan() {
    let p = dec(1, &hex(ERSPAN2_ARP));
    assert_eq!(p.status, DecodeStatus::Complete);
    assert_eq!(p.eth.map(|e| e.src), Some(mac("88:1d:fc:c9:dc:03")));
    assert_eq!(p.vlan.ids(), &[865]);
    assert_eq!(p.ip.map(|ip| ip.src), Some(v4("192.168.1.172")));
    let arp = p.arp.map(|a| (a.op, a.spa, a.tpa, a.sha.to_string()));
    let spa = Some(Ipv4Addr::new(10, 240, 19, 139));
    let tpa = Some(Ipv4Addr::new(10, 240, 19, 129));
    assert_eq!(arp, Some((1, spa, tpa, "14:18:77:60:aa:75".to_owned())));
}

#[test]
fn gtp_u_inner_icmp() {
    let p = dec(1, &hex(GTP_ECHO));
    assert_eq!(p.status, DecodeStatus::Complete);
    let udp = Ports { proto: 17, src: 2152, dst: 2152, flags: 0, payload_len: 96, tcp: None };
    assert_eq!(p.ports, Some(udp));
    assert_eq!(p.inner_ip.map(|ip| ip.src), Some(v4("202.11.40.158")));
    assert_eq!(p.icmp.map(|i| (i.ty, i.echo)), Some((8, Some(Echo { id: 0, seq: 10363 }))));
}

#[test]
fn ndp_target() {
    let p = dec(1, &hex(NDP_NS));
    let target: Ipv6Addr = "fe80::c000:54ff:fef5:0".parse().unwrap_or(Ipv6Addr::UNSPECIFIED);
    assert_eq!(p.icmpv6.map(|i| (i.ty, i.ndp_target)), Some((135, Some(target))));
    assert_eq!(p.l4_len, 24);
    assert_eq!(p.ip.map(|ip| ip.dst.to_string()), Some("ff02::1:fff5:0".to_owned()));
}

#[test]
fn later_fragments_have_no_transport_layer() {
    let mut data = hex(ECHO);
    // Fragment offset 185 (1480 bytes); fix nothing else: the decoder does not check checksums.
    data.get_mut(20..22).unwrap_or_default().copy_from_slice(&[0x00, 0xb9]);
    let p = dec(1, &data);
    assert_eq!(p.ip.map(|ip| (ip.frag_offset, ip.more_fragments)), Some((1480, false)));
    assert_eq!(p.icmp, None);
    assert_eq!(p.status, DecodeStatus::Complete);
}

#[test]
fn arp_with_odd_lengths() {
    // hlen 0, plen 0: an ARP packet of 8 bytes, no addresses.
    let mut data = hex(ARP_REQ);
    data.get_mut(18..20).unwrap_or_default().copy_from_slice(&[0, 0]);
    let p = dec(1, &data);
    assert_eq!(p.arp.map(|a| (a.op, a.spa, a.sha.as_bytes().len())), Some((1, None, 0)));
    // plen 16 (claims IPv6-sized protocol addresses): the frame is too short for it.
    data.get_mut(18..20).unwrap_or_default().copy_from_slice(&[6, 16]);
    let p = dec(1, &data);
    assert_eq!(p.status, DecodeStatus::Malformed("ARP packet truncated"));
    assert_eq!(p.arp, None);
    assert!(p.fp.is_some());
}

#[test]
fn truncated_icmp_keeps_type_and_code() {
    let data = hex(ECHO);
    let p = dec(1, data.get(..38).unwrap_or_default());
    assert_eq!(p.icmp.map(|i| (i.ty, i.code, i.echo)), Some((8, 0, None)));
    assert_eq!(p.status, DecodeStatus::Malformed("ICMP header truncated"));
    assert!(p.ip.is_some());
}

#[test]
fn unknown_link_type_is_undecoded() {
    let p = dec(253, &hex(ECHO));
    assert_eq!(p.status, DecodeStatus::UndecodedLinkType);
    assert_eq!(p.fp, None);
}

#[test]
fn deep_encapsulation_stops() {
    // IPv4-in-IPv4, 20 levels deep (total length 0: "use the frame"): decoding stops at the depth limit without recursing further.
    let mut data = Vec::new();
    for _ in 0..20 {
        data.extend_from_slice(&hex("4500000000000000400400000a0000010a000002"));
    }
    let p = dec(228, &data);
    assert_eq!(p.status, DecodeStatus::Malformed("too many nested encapsulations"));
}

#[test]
fn ipv6_extension_chain_cut_after_a_valid_header() {
    // Hop-by-hop (valid, next: destination options), then destination options claiming 48 bytes
    // of which 4 are there. etherparse's extension iterator would read past the end here.
    let mut data = hex("6000000000000040").into_iter().collect::<Vec<_>>();
    data.extend_from_slice(&[0; 32]);
    data.extend_from_slice(&hex("3c00010400000000"));
    data.extend_from_slice(&hex("3a050000"));
    let p = dec(229, &data);
    assert_eq!(p.status, DecodeStatus::Malformed("IPv6 extension header truncated"));
    assert_eq!(p.ip.map(|ip| (ip.proto, ip.frag_offset)), Some((60, 0)));
    assert_eq!(p.icmpv6, None);
}

/// Read every TCP option of `p` (their iterator must not panic either).
fn read_all(p: Packet) {
    if let Some(tcp) = p.ports.and_then(|t| t.tcp) {
        let _ = tcp.options.iter().count();
        let _ = tcp.mss();
    }
}

#[test]
fn every_truncation_and_garbage_decodes_without_panic() {
    let frames = [
        ARP_REQ,
        ECHO,
        TTL_EXCEEDED,
        QINQ_ARP,
        SLL_ARP,
        SLL2_TCP,
        HANDSHAKE_SYN,
        HANDSHAKE_SYN_ACK,
        GRE_CMD,
        ERSPAN2_ARP,
        GTP_ECHO,
        NDP_NS,
        NULL_V6,
    ];
    let linktypes = [0, 1, 9, 12, 14, 50, 101, 104, 108, 113, 129, 226, 228, 229, 242, 276];
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    for f in frames {
        let data = hex(f);
        for lt in linktypes {
            for cut in 0..=data.len() {
                let part = data.get(..cut).unwrap_or_default();
                read_all(dec(lt, part));
                // Flip one byte of the prefix pseudo-randomly too.
                let mut bent = part.to_vec();
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                if let Some(b) = bent.get_mut((seed as usize) % cut.max(1)) {
                    *b ^= (seed >> 32) as u8 | 1;
                }
                read_all(dec(lt, &bent));
            }
        }
        // Whole frames with several bytes bent at once (lengths, flags, next headers).
        for _ in 0..3000 {
            let mut bent = data.clone();
            for _ in 0..4 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                if let Some(b) = bent.get_mut((seed as usize) % data.len().max(1)) {
                    *b = (seed >> 40) as u8;
                }
            }
            read_all(dec(1, &bent));
            let _ = dec(229, bent.get(14..).unwrap_or_default());
        }
    }
}

/// Decode speed on a 98-byte Ethernet ICMP echo and a 42-byte ARP frame.
/// `cargo test --release --lib decode_speed -- --ignored --nocapture`
#[test]
#[ignore = "benchmark; run with --release -- --ignored --nocapture"]
fn decode_speed() {
    use std::hint::black_box;
    use std::time::Instant;
    const N: u32 = 5_000_000;
    for (name, f) in [("ICMP echo (98 B)", ECHO), ("ARP (42 B)", ARP_REQ)] {
        let data = hex(f);
        let frame = Frame { ifid: 0, t_ns: 0, len: 98, linktype: LinkType::ETHERNET, data: &data };
        // Kept where the caller reads it (no copy of the 360-byte Packet into the black box).
        let start = Instant::now();
        for _ in 0..N {
            let p = decode(black_box(&frame));
            black_box(&p);
        }
        let ns = start.elapsed().as_nanos() as f64 / f64::from(N);
        println!("decode {name}: {ns:.1} ns/packet");
    }
}

/// An Ethernet frame of nginx-1's echo request (10.42.0.2 → 10.42.0.3, id 7, seq 3).
fn inner_echo() -> Vec<u8> {
    let mut inner = Vec::new();
    let b = etherparse::PacketBuilder::ethernet2([2, 0x42, 10, 42, 0, 2], [2, 0x42, 10, 42, 0, 3])
        .ipv4([10, 42, 0, 2], [10, 42, 0, 3], 64)
        .icmpv4_echo_request(7, 3);
    let _ = b.write(&mut inner, &[0xab; 56]);
    inner
}

/// `inner` inside VXLAN (VNI `vni`) from node-1's underlay to node-2's, as `underlay0` sees it.
fn in_vxlan(vni: u32, inner: &[u8]) -> Vec<u8> {
    let mut payload = vec![0x08, 0, 0, 0];
    payload.extend_from_slice(&(vni << 8).to_be_bytes());
    payload.extend_from_slice(inner);
    let mut outer = Vec::new();
    let b =
        etherparse::PacketBuilder::ethernet2([2, 0x75, 0x6c, 0, 0, 1], [2, 0x75, 0x6c, 0, 0, 2])
            .ipv4([10, 99, 0, 1], [10, 99, 0, 2], 64)
            .udp(51234, 4789);
    let _ = b.write(&mut outer, &payload);
    outer
}

#[test]
fn vxlan_keeps_its_vni_and_endpoints_and_the_inner_identity() {
    let inner = inner_echo();
    let p = dec(1, &in_vxlan(42, &inner));
    assert_eq!(p.status, DecodeStatus::Complete);
    let encap = p.encap.map(|e| (e.vni, e.outer_src, e.outer_dst));
    assert_eq!(encap, Some((42, v4("10.99.0.1"), v4("10.99.0.2"))));
    assert_eq!(p.ip.map(|ip| ip.dst), Some(v4("10.99.0.2")));
    assert_eq!(p.inner_ip.map(|ip| ip.dst), Some(v4("10.42.0.3")));
    assert_eq!(p.icmp.and_then(|i| i.echo), Some(Echo { id: 7, seq: 3 }));
    // The same packet as the containers' interfaces see it: one identity, no tunnel.
    let bare = dec(1, &inner);
    assert_eq!(bare.encap, None);
    assert!(bare.fp.is_some());
    assert_eq!(p.fp, bare.fp);
    // A 24-bit VNI is read whole; a header without the I flag carries nothing.
    assert_eq!(dec(1, &in_vxlan(0x00ab_cdef, &inner)).encap.map(|e| e.vni), Some(0x00ab_cdef));
    let mut no_flag = in_vxlan(42, &inner);
    if let Some(b) = no_flag.get_mut(14 + 20 + 8) {
        *b = 0;
    }
    assert_eq!(dec(1, &no_flag).encap, None);
}

#[test]
fn an_arp_request_across_vxlan_is_the_inner_arp() {
    let mut arp = Vec::new();
    let b = etherparse::PacketBuilder::ethernet2([2, 0x42, 10, 42, 0, 2], [0xff; 6]).arp(
        etherparse::ArpPacket::new(
            etherparse::ArpHardwareId::ETHERNET,
            etherparse::EtherType::IPV4,
            etherparse::ArpOperation::REQUEST,
            &[2, 0x42, 10, 42, 0, 2],
            &[10, 42, 0, 2],
            &[0; 6],
            &[10, 42, 0, 3],
        )
        .unwrap_or_else(|e| panic!("{e}")),
    );
    let _ = b.write(&mut arp);
    let p = dec(1, &in_vxlan(42, &arp));
    assert_eq!(
        p.arp.map(|a| (a.op, a.tpa)),
        Some((Arp::REQUEST, Some(Ipv4Addr::new(10, 42, 0, 3))))
    );
    assert_eq!(p.encap.map(|e| e.vni), Some(42));
    assert_eq!(p.fp, dec(1, &arp).fp);
}

/// The echo fast path against the general decoder: the same packet for every frame it takes,
/// and it takes the plain echoes (requests and replies, padded or cut to their IP length), with
/// bytes of their Ethernet, IPv4 and ICMP headers changed at random, and cut short anywhere.
#[test]
fn the_echo_fast_path_decodes_as_the_general_decoder_does() {
    let general = |data: &[u8]| dec(1, data);
    let request = hex(ECHO);
    let mut reply = request.clone();
    reply[34] = 0;
    let mut padded = request.clone();
    padded.extend_from_slice(&[0; 6]);
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut rand = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let (mut taken, mut tried) = (0, 0);
    let mut check = |data: &[u8]| {
        tried += 1;
        let want = general(data);
        let mut p = dec(1, &hex(ARP_REQ));
        if super::echo::decode(data, None, &mut p) {
            taken += 1;
            assert_eq!(p, want, "{data:02x?}");
            let known = want.fp;
            let mut q = Packet::default();
            assert!(super::echo::decode(data, known, &mut q));
            assert_eq!(q, want);
        } else {
            assert_eq!(
                p,
                dec(1, &hex(ARP_REQ)),
                "a frame it does not take leaves the packet alone"
            );
        }
    };
    for base in [&request, &reply, &padded] {
        check(base);
        for cut in 0..base.len() {
            check(&base[..cut]);
        }
        for _ in 0..20_000 {
            let mut data = base.clone();
            for _ in 0..1 + rand() % 3 {
                // Mostly the headers (bytes 0 to 41), now and then the payload.
                let at = (rand() % 48) as usize % data.len();
                data[at] = match rand() % 4 {
                    0 => 0,
                    1 => 0xff,
                    _ => rand() as u8,
                };
            }
            check(&data);
            let cut = (rand() as usize) % (data.len() + 1);
            check(&data[..cut]);
        }
    }
    assert!(tried > 100_000);
    assert!(taken > tried / 4, "the fast path took {taken} of {tried} frames");
}
