//! A packet's identity along its way: a 64-bit hash of what does not change from hop to hop.
//!
//! For IPv4: addresses, identification, protocol, fragment field and the first bytes of the L4
//! header and payload, ignoring TTL, header checksum and the L2 header, so the same packet is
//! recognised on both sides of a bridge and of a router. For IPv6 the same without the hop limit.
//! For ARP the ARP payload. Anything else: the bytes above L2.

use std::hash::{BuildHasher, Hasher};

use foldhash::fast::FixedState;

/// How many bytes of the L4 header + payload enter the hash: enough to tell apart echo requests
/// (id, seq, timestamp) and TCP segments (ports, seq, ack, flags), cheap for big packets.
pub const L4_BYTES: usize = 64;

const SEED: u64 = 0x7674_7261_6365_2d31; // "vtrace-1"

fn hasher(domain: u8) -> impl Hasher {
    let mut h = FixedState::with_seed(SEED).build_hasher();
    h.write_u8(domain);
    h
}

fn l4_prefix(l4: &[u8]) -> &[u8] {
    &l4[..l4.len().min(L4_BYTES)]
}

/// Identity of an IPv4 packet. `frag` is the 16-bit flags + fragment offset field.
pub fn ipv4(src: [u8; 4], dst: [u8; 4], id: u16, proto: u8, frag: u16, l4: &[u8]) -> u64 {
    let mut h = hasher(4);
    h.write(&src);
    h.write(&dst);
    h.write_u16(id);
    h.write_u8(proto);
    h.write_u16(frag);
    h.write(l4_prefix(l4));
    h.finish()
}

/// Identity of an IPv6 packet (`next` is the final next-header, `l4` what follows the extension
/// headers).
pub fn ipv6(src: [u8; 16], dst: [u8; 16], next: u8, flow_label: u32, l4: &[u8]) -> u64 {
    let mut h = hasher(6);
    h.write(&src);
    h.write(&dst);
    h.write_u8(next);
    h.write_u32(flow_label);
    h.write(l4_prefix(l4));
    h.finish()
}

/// Identity of an ARP packet: its whole payload (hardware type through target address).
pub fn arp(payload: &[u8]) -> u64 {
    let mut h = hasher(1);
    h.write(l4_prefix(payload));
    h.finish()
}

/// Identity of anything else: the bytes above the L2 header and its ethertype.
pub fn other(ethertype: u16, l3: &[u8]) -> u64 {
    let mut h = hasher(0);
    h.write_u16(ethertype);
    h.write(l4_prefix(l3));
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_identity_depends_on_id_and_payload_not_on_domain_collisions() {
        let a = ipv4([10, 0, 0, 1], [10, 0, 0, 2], 7, 1, 0x4000, b"\x08\x00abcd");
        assert_eq!(a, ipv4([10, 0, 0, 1], [10, 0, 0, 2], 7, 1, 0x4000, b"\x08\x00abcd"));
        assert_ne!(a, ipv4([10, 0, 0, 1], [10, 0, 0, 2], 8, 1, 0x4000, b"\x08\x00abcd"));
        assert_ne!(a, ipv4([10, 0, 0, 1], [10, 0, 0, 2], 7, 1, 0x4000, b"\x08\x00abce"));
        assert_ne!(arp(b"abc"), other(0x0806, b"abc"));
    }

    #[test]
    fn only_the_first_l4_bytes_count() {
        let mut long = vec![0u8; 200];
        let base = ipv4([1; 4], [2; 4], 1, 17, 0, &long);
        long[150] = 1;
        assert_eq!(base, ipv4([1; 4], [2; 4], 1, 17, 0, &long));
        long[10] = 1;
        assert_ne!(base, ipv4([1; 4], [2; 4], 1, 17, 0, &long));
    }
}
