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

/// The node a capture file was recorded on, from its (first) pcapng section header: what vtrace
/// writes there (`shb_hardware`, `shb_os`, `shb_userappl`, and a `node=HOSTNAME` comment), or
/// what another tool wrote. Empty for a pcap file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaptureNode {
    pub hostname: Option<String>,
    pub hardware: Option<String>,
    pub os: Option<String>,
    pub application: Option<String>,
}

impl CaptureNode {
    /// True when the file said nothing of it.
    pub fn is_empty(&self) -> bool {
        *self == CaptureNode::default()
    }
}

/// Where a frame of a capture that sees several interfaces at once was taken (`tcpdump -i any`
/// writes Linux cooked v2 headers, which carry the interface index), so that such a capture
/// becomes one point per interface and a packet it sees enter and leave a router is two hops,
/// not two packets. Cooked v1 headers carry no index (only whether the host sent or received
/// the frame, which says nothing of where a path goes on): such a capture stays one point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CookedSide(pub u32);

impl CookedSide {
    /// The interface of a cooked v2 frame; `None` for other link types and for a header too
    /// short to tell.
    pub fn of(linktype: LinkType, data: &[u8]) -> Option<CookedSide> {
        if linktype != LinkType::LINUX_SLL2 {
            return None;
        }
        let b = data.get(4..8)?;
        Some(CookedSide(u32::from_be_bytes([b[0], b[1], b[2], b[3]])))
    }

    /// True for the link types whose frames say their interface.
    pub fn splits(linktype: LinkType) -> bool {
        linktype == LinkType::LINUX_SLL2
    }

    /// The point id of this interface of the capture point `base`: `router/if5`.
    pub fn point_id(self, base: &str) -> String {
        format!("{base}/if{}", self.0)
    }
}

#[cfg(test)]
mod cooked_tests {
    use super::*;

    #[test]
    fn a_cooked_v2_frame_says_which_interface_it_was_seen_on() {
        // SLL2: protocol, reserved, ifindex 5, ARPHRD, packet type, address length, address.
        let sll2 = [0x08, 0x00, 0, 0, 0, 0, 0, 5, 0, 1, 4, 6, 2, 0x42, 0, 0, 0, 1, 0, 0];
        assert_eq!(CookedSide::of(LinkType::LINUX_SLL2, &sll2), Some(CookedSide(5)));
        assert_eq!(CookedSide::of(LinkType::LINUX_SLL2, &sll2[..6]), None);
        // Cooked v1 and Ethernet frames say nothing of it.
        assert_eq!(CookedSide::of(LinkType::LINUX_SLL, &sll2), None);
        assert_eq!(CookedSide::of(LinkType::ETHERNET, &sll2), None);
        assert_eq!(CookedSide(5).point_id("router"), "router/if5");
        assert!(CookedSide::splits(LinkType::LINUX_SLL2));
        assert!(
            !CookedSide::splits(LinkType::LINUX_SLL) && !CookedSide::splits(LinkType::ETHERNET)
        );
    }
}
