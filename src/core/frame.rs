//! A captured frame as every capture source hands it to the core, and the interface it came from.

/// A pcap/pcapng link-layer header type (`LINKTYPE_*` from tcpdump.org).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LinkType(pub u16);

impl LinkType {
    pub const NULL: LinkType = LinkType(0);
    pub const ETHERNET: LinkType = LinkType(1);
    pub const PPP: LinkType = LinkType(9);
    /// Raw IP (IPv4 or IPv6 by version nibble); 12 and 14 are the BSD values of the same thing.
    pub const RAW: LinkType = LinkType(101);
    pub const RAW_BSD12: LinkType = LinkType(12);
    pub const RAW_BSD14: LinkType = LinkType(14);
    pub const LINUX_SLL: LinkType = LinkType(113);
    pub const LOOP: LinkType = LinkType(108);
    pub const IPV4: LinkType = LinkType(228);
    pub const IPV6: LinkType = LinkType(229);
    pub const LINUX_SLL2: LinkType = LinkType(276);

    /// The link types a decoder fuzz input selects by its first byte (modulo the length): every
    /// one the decoder knows, one it does not (802.11) and the largest value. The fuzz target,
    /// its seed generator and the regression test share it, so a kept input means the same thing
    /// to each.
    pub const FUZZ_SELECTION: [LinkType; 13] = [
        LinkType::ETHERNET,
        LinkType::NULL,
        LinkType::PPP,
        LinkType::RAW,
        LinkType::RAW_BSD12,
        LinkType::RAW_BSD14,
        LinkType::LINUX_SLL,
        LinkType::LOOP,
        LinkType::IPV4,
        LinkType::IPV6,
        LinkType::LINUX_SLL2,
        LinkType(105),
        LinkType(u16::MAX),
    ];
}

/// One captured frame, borrowed from the reader's buffer until the next one is read.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// Interface index: pcapng interface number counted across all sections of the file
    /// (0 for a pcap file).
    pub ifid: u32,
    /// Capture time, nanoseconds since the Unix epoch (saturating).
    pub t_ns: u64,
    /// Length on the wire (may exceed `data.len()` when the snapshot length cut it).
    pub len: u32,
    pub linktype: LinkType,
    /// The captured bytes (`caplen` = `data.len()`).
    pub data: &'a [u8],
}

/// What a capture source knows about one of its interfaces (a capture point).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceInfo {
    pub linktype: LinkType,
    /// pcapng `if_name`, e.g. `nginx-1/eth0` in files vtrace writes.
    pub name: Option<String>,
    /// pcapng `if_description`.
    pub description: Option<String>,
    /// Packets the kernel dropped on this interface, from the last interface statistics block
    /// (`isb_ifdrop`), when the file has one.
    pub kernel_drops: Option<u64>,
}
