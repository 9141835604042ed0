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

/// The tunnel a packet was seen inside: a VXLAN header's network identifier and the outer IP
/// header's addresses (the tunnel's endpoints).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Encap {
    pub vni: u32,
    pub outer_src: IpAddr,
    pub outer_dst: IpAddr,
    /// The outer IPv4 header's identification (what ties a netfilter trace event of the outer
    /// packet to this sighting).
    pub outer_id: Option<u16>,
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
    /// The rest of the TCP header (`None` for UDP).
    pub tcp: Option<Tcp>,
}

impl Ports {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
    pub const ECE: u8 = 0x40;
    pub const CWR: u8 = 0x80;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;

    /// The flags the way tcpdump writes them, in its order: `S`, `S.`, `P.`, `F.`, `R`, `R.`,
    /// `.`, `FSRPUEW` for all eight, `none` for none.
    pub fn flag_letters(self) -> impl fmt::Display {
        struct Letters(u8);
        impl fmt::Display for Letters {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                if self.0 == 0 {
                    return f.write_str("none");
                }
                for (bit, c) in [
                    (Ports::FIN, "F"),
                    (Ports::SYN, "S"),
                    (Ports::RST, "R"),
                    (Ports::PSH, "P"),
                    (Ports::ACK, "."),
                    (Ports::URG, "U"),
                    (Ports::ECE, "E"),
                    (Ports::CWR, "W"),
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

    /// The TCP header's MSS option, if it has one.
    pub fn mss(self) -> Option<u16> {
        self.tcp.and_then(|t| t.mss())
    }
}

/// The TCP header past the ports and flags: sequence and acknowledgement numbers (absolute, as on
/// the wire), window, urgent pointer and the options, kept as their bytes (at most 40) so that
/// the packet stays `Copy`; [`TcpOptions::iter`] reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tcp {
    pub seq: u32,
    pub ack: u32,
    /// The window field as sent (not scaled).
    pub win: u16,
    pub urg: u16,
    pub options: TcpOptions,
}

impl Tcp {
    /// The MSS option (SYN and SYN-ACK carry it), if present and readable.
    pub fn mss(&self) -> Option<u16> {
        self.options.iter().find_map(|o| match o.option {
            TcpOption::Mss(mss) if o.odd_len.is_none() => Some(mss),
            _ => None,
        })
    }
}

/// The bytes of a TCP header's options (the header holds at most 40).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TcpOptions {
    bytes: [u8; 40],
    len: u8,
}

impl Default for TcpOptions {
    fn default() -> Self {
        TcpOptions { bytes: [0; 40], len: 0 }
    }
}

impl fmt::Debug for TcpOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl TcpOptions {
    /// The first 40 bytes of `b` (a TCP header has no more).
    pub fn new(b: &[u8]) -> Self {
        let len = b.len().min(40);
        let mut bytes = [0u8; 40];
        bytes[..len].copy_from_slice(&b[..len]);
        TcpOptions { bytes, len: len as u8 }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The options in order, read the way tcpdump reads them: an option of a fixed size takes
    /// that many bytes whatever its length byte says (then [`TcpOptionItem::odd_len`] has it),
    /// `eol` ends the list, and an option whose length does not fit ends it with
    /// [`TcpOption::Bad`].
    pub fn iter(&self) -> TcpOptionIter<'_> {
        TcpOptionIter { rest: self.as_bytes() }
    }

    /// The timestamp option's value (TSval), if present.
    pub fn timestamp(&self) -> Option<u32> {
        self.iter().find_map(|o| match o.option {
            TcpOption::Timestamp { val, .. } => Some(val),
            _ => None,
        })
    }
}

/// One TCP option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpOption<'a> {
    /// End of the option list (kind 0).
    Eol,
    /// No-operation (kind 1).
    Nop,
    /// Maximum segment size (kind 2).
    Mss(u16),
    /// Window scale shift (kind 3).
    WindowScale(u8),
    /// SACK permitted (kind 4).
    SackPermitted,
    /// SACK blocks (kind 5): pairs of left and right edges, 8 bytes each; [`sack_blocks`] reads
    /// them (a length that is not a multiple of 8 is malformed).
    Sack(&'a [u8]),
    /// RFC 1072 echo (kind 6) and echo reply (kind 7).
    Echo(u32),
    EchoReply(u32),
    /// Timestamps (kind 8).
    Timestamp {
        val: u32,
        ecr: u32,
    },
    /// T/TCP connection counts: CC (11), CC.NEW (12), CC.ECHO (13).
    Cc {
        kind: u8,
        value: u32,
    },
    /// Any other kind, with its data bytes.
    Other {
        kind: u8,
        data: &'a [u8],
    },
    /// A length byte below 2 or past the end of the options, or data cut short: the rest of the
    /// options cannot be read.
    Bad,
}

/// The (left, right) edges of the blocks of a SACK option's data.
pub fn sack_blocks(data: &[u8]) -> impl Iterator<Item = (u32, u32)> + '_ {
    data.chunks_exact(8).map(|c| {
        let be = |i: usize| c.get(i..i + 4).and_then(|b| b.try_into().ok()).map(u32::from_be_bytes);
        (be(0).unwrap_or_default(), be(4).unwrap_or_default())
    })
}

/// An option and, when it disagrees with the option's fixed size, its length byte (tcpdump's
/// `[len N]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpOptionItem<'a> {
    pub option: TcpOption<'a>,
    pub odd_len: Option<u8>,
}

/// Iterator of [`TcpOptions::iter`].
#[derive(Debug, Clone)]
pub struct TcpOptionIter<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for TcpOptionIter<'a> {
    type Item = TcpOptionItem<'a>;

    fn next(&mut self) -> Option<TcpOptionItem<'a>> {
        let (&kind, after_kind) = self.rest.split_first()?;
        let item = |option| TcpOptionItem { option, odd_len: None };
        match kind {
            0 => {
                self.rest = &[];
                return Some(item(TcpOption::Eol));
            }
            1 => {
                self.rest = after_kind;
                return Some(item(TcpOption::Nop));
            }
            _ => {}
        }
        let bad = |it: &mut Self| {
            it.rest = &[];
            Some(item(TcpOption::Bad))
        };
        let Some((&len, body)) = after_kind.split_first() else { return bad(self) };
        if len < 2 || usize::from(len) > self.rest.len() {
            return bad(self);
        }
        // Fixed-size options take their size, whatever the length byte says (as tcpdump does).
        let size = match kind {
            2 => 2,
            3 => 1,
            4 => 0,
            6 | 7 | 11..=13 => 4,
            8 => 8,
            _ => usize::from(len) - 2,
        };
        let Some(data) = body.get(..size) else { return bad(self) };
        self.rest = body.get(size..).unwrap_or_default();
        let byte = |i: usize| data.get(i).copied().unwrap_or_default();
        let be32 = |i: usize| {
            data.get(i..i + 4).and_then(|b| b.try_into().ok()).map_or(0, u32::from_be_bytes)
        };
        let option = match kind {
            2 => TcpOption::Mss(u16::from_be_bytes([byte(0), byte(1)])),
            3 => TcpOption::WindowScale(byte(0)),
            4 => TcpOption::SackPermitted,
            5 => TcpOption::Sack(data),
            6 => TcpOption::Echo(be32(0)),
            7 => TcpOption::EchoReply(be32(0)),
            8 => TcpOption::Timestamp { val: be32(0), ecr: be32(4) },
            11..=13 => TcpOption::Cc { kind, value: be32(0) },
            _ => TcpOption::Other { kind, data },
        };
        let odd_len = (size + 2 != usize::from(len)).then_some(len);
        Some(TcpOptionItem { option, odd_len })
    }
}

impl Packet {
    /// The packet a VXLAN tunnel carried, as the containers' own interfaces see it: the inner IP
    /// header in place of the outer one, without the tunnel's Ethernet addresses and UDP ports
    /// (the decoder keeps the outermost of those; the inner ones are not kept). The packet itself
    /// when no tunnel carried it. A journey first seen on an underlay link is the inner packet's.
    /// Borrowed when no tunnel carried it: the correlator asks for every sighting it looks up.
    pub fn inner_view(&self) -> std::borrow::Cow<'_, Packet> {
        if self.encap.is_none() {
            return std::borrow::Cow::Borrowed(self);
        }
        std::borrow::Cow::Owned(Packet {
            eth: None,
            ip: self.inner_ip,
            inner_ip: None,
            ports: None,
            ..*self
        })
    }
}

/// What the correlator reads of a packet on every sighting: its identity, the TTL that says it
/// was routed, and whether a tunnel carried it. Computed where the frame is decoded (a capture
/// thread, a file's reading thread) while its bytes are in cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PacketId {
    /// [`Packet::fp`].
    pub fp: Option<u64>,
    /// The innermost IP header's TTL or hop limit (0 without IP): see [`crate::core::journey::Hop::ttl`].
    pub ttl: u8,
    /// A tunnel carried the packet here (its decoded packet says which).
    pub tunnelled: bool,
}

impl PacketId {
    pub fn of(packet: &Packet) -> PacketId {
        PacketId {
            fp: packet.fp,
            ttl: packet.inner_ip.or(packet.ip).map_or(0, |ip| ip.ttl),
            tunnelled: packet.encap.is_some(),
        }
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
    /// The outermost VXLAN tunnel the packet was inside, when one carried it.
    pub encap: Option<Encap>,
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
