//! A decoded packet: the header fields vtrace reasons about, owned and `Copy` (no heap), so that
//! decoding a million packets allocates nothing.
//!
//! Produced by [`crate::core::decode`]; consumed by the correlator and the packet listing.
//! Field names follow the JSON of `vtrace analyze --packets --json`.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An Ethernet MAC address, shown lower-case and colon-separated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Mac(pub [u8; 6]);

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(f, "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2], b[3], b[4], b[5])
    }
}

/// A hardware address of any length up to 16 bytes (ARP `hlen` is not always 6; SLL addresses
/// are up to 8), shown lower-case and colon-separated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct HwAddr {
    bytes: [u8; 16],
    len: u8,
}

impl HwAddr {
    /// The first 16 bytes of `b` (longer addresses are cut).
    pub fn new(b: &[u8]) -> Self {
        let len = b.len().min(16);
        let mut bytes = [0u8; 16];
        bytes[..len].copy_from_slice(&b[..len]);
        HwAddr { bytes, len: len as u8 }
    }
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
    /// The address as a MAC when it is 6 bytes long.
    pub fn mac(&self) -> Option<Mac> {
        <[u8; 6]>::try_from(self.as_bytes()).ok().map(Mac)
    }
}

impl fmt::Display for HwAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.as_bytes().iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EthAddrs {
    pub src: Mac,
    pub dst: Mac,
}

/// VLAN tags, outermost first. Up to 4 ids are kept; `count` is the full depth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Vlans {
    ids: [u16; 4],
    count: u8,
}

impl Vlans {
    pub fn push(&mut self, id: u16) {
        if usize::from(self.count) < self.ids.len() {
            self.ids[usize::from(self.count)] = id;
        }
        self.count = self.count.saturating_add(1);
    }
    /// The kept ids, outermost first.
    pub fn ids(&self) -> &[u16] {
        &self.ids[..usize::from(self.count).min(self.ids.len())]
    }
    /// How many tags the frame had (may exceed `ids().len()`).
    pub fn depth(&self) -> usize {
        usize::from(self.count)
    }
}

/// ARP (or RARP) over any hardware type. Protocol addresses are kept when they are IPv4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Arp {
    pub op: u16,
    pub sha: HwAddr,
    pub spa: Option<Ipv4Addr>,
    pub tha: HwAddr,
    pub tpa: Option<Ipv4Addr>,
}

impl Arp {
    pub const REQUEST: u16 = 1;
    pub const REPLY: u16 = 2;
}

/// The outermost IP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ip {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// IPv4 identification (absent for IPv6).
    pub id: Option<u16>,
    /// IPv4 protocol / IPv6 final next header.
    pub proto: u8,
    /// TTL / hop limit.
    pub ttl: u8,
    /// IPv4 total length / IPv6 payload length + 40.
    pub total_len: u16,
    pub dont_fragment: bool,
    /// Fragment offset in bytes (0 for the first or only fragment).
    pub frag_offset: u16,
    pub more_fragments: bool,
}

/// Echo request/reply identifier and sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Echo {
    pub id: u16,
    pub seq: u16,
}

/// The packet an ICMP/ICMPv6 error quotes (its IP header and the first bytes after it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quoted {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub proto: u8,
    pub id: Option<u16>,
    /// When the quoted packet is an echo request: its id and seq.
    pub echo: Option<Echo>,
    /// When the quoted packet is TCP or UDP (its first fragment): its source and destination
    /// ports, which the error quotes in its first 8 bytes.
    pub ports: Option<(u16, u16)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Icmp {
    pub ty: u8,
    pub code: u8,
    /// For echo request (8) and reply (0); also the identifier and sequence number of the other
    /// query messages that carry them (timestamp 13/14, information 15/16, address mask 17/18,
    /// extended echo 42/43 whose sequence is 8 bits): check `ty` before pairing echoes.
    pub echo: Option<Echo>,
    /// For errors (destination unreachable, time exceeded, ...).
    pub quoted: Option<Quoted>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Icmpv6 {
    pub ty: u8,
    pub code: u8,
    /// For echo request (128) and reply (129); also extended echo 160/161 (8-bit sequence).
    pub echo: Option<Echo>,
    /// NDP neighbour solicitation (135) / advertisement (136): the target address.
    pub ndp_target: Option<Ipv6Addr>,
    pub quoted: Option<Quoted>,
}

/// TCP or UDP ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ports {
    /// 6 (TCP) or 17 (UDP).
    pub proto: u8,
    pub src: u16,
    pub dst: u16,
    /// TCP flags (FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10, URG 0x20, ECE 0x40,
    /// CWR 0x80); 0 for UDP.
    pub flags: u8,
    /// Bytes after the TCP/UDP header, from the IP length fields (what tcpdump calls `length`).
    pub payload_len: u16,
}

impl Ports {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;

    /// The flags the way tcpdump writes them: `S`, `S.`, `P.`, `F.`, `R`, `.`.
    pub fn flag_letters(self) -> impl std::fmt::Display {
        struct Letters(u8);
        impl std::fmt::Display for Letters {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                for (bit, c) in [
                    (Ports::SYN, "S"),
                    (Ports::FIN, "F"),
                    (Ports::PSH, "P"),
                    (Ports::RST, "R"),
                    (Ports::ACK, "."),
                ] {
                    if self.0 & bit != 0 {
                        f.write_str(c)?;
                    }
                }
                Ok(())
            }
        }
        Letters(self.flags)
    }
}

/// How far decoding got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DecodeStatus {
    /// Every layer present was decoded.
    #[default]
    Complete,
    /// The link type is not one vtrace decodes; the frame is counted, not analysed.
    UndecodedLinkType,
    /// A layer was cut short or malformed; what came before it is kept.
    Malformed(&'static str),
}

/// The decoded view of one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Packet {
    pub eth: Option<EthAddrs>,
    /// Source address of a Linux cooked (SLL/SLL2) header.
    pub sll_src: Option<HwAddr>,
    pub vlan: Vlans,
    pub arp: Option<Arp>,
    pub ip: Option<Ip>,
    /// The innermost IP header when a tunnel (GRE, ERSPAN, GTP-U, VXLAN, IP-in-IP...) carried one;
    /// `ip` stays the outermost. `fp` identifies the innermost packet, so a journey continues
    /// across an encapsulating hop.
    pub inner_ip: Option<Ip>,
    pub icmp: Option<Icmp>,
    pub icmpv6: Option<Icmpv6>,
    pub ports: Option<Ports>,
    /// Length of what follows the innermost IP header that reached a transport layer (the ICMP
    /// message, TCP segment or UDP datagram), from the IP length fields, whether or not it was all
    /// captured: tcpdump's `length`. 0 when no IP payload was decoded.
    pub l4_len: u16,
    /// Identity of the packet along its way (see [`crate::core::fingerprint`]); `None` when the
    /// frame has nothing identifying (undecoded link type, empty frame).
    pub fp: Option<u64>,
    pub status: DecodeStatus,
}
