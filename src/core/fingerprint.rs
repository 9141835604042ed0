//! A packet's identity along its way: a 64-bit hash of what does not change from hop to hop.
//!
//! For IPv4: addresses, identification, protocol, fragment field and the first bytes of the L4
//! header and payload, ignoring TTL, header checksum and the L2 header, so the same packet is
//! recognised on both sides of a bridge and of a router. For IPv6 the same without the hop limit.
//! For ARP the ARP payload. Anything else: the bytes above L2.
//!
//! A second identity, [`nat_ipv4`] / [`nat_ipv6`], leaves out what NAT rewrites (addresses,
//! ports, the ICMP echo identifier, checksums) and keeps what it leaves alone (the IPv4
//! identification, TCP sequence numbers, flags and options, the echo sequence and the payload):
//! the correlator uses it to follow one packet across a DNAT or SNAT/masquerade hop.

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

/// The NAT-invariant identity of an IPv4 packet (see the module doc); `None` for a later
/// fragment or a protocol NAT does not translate (only ICMP, TCP and UDP are).
pub fn nat_ipv4(id: u16, proto: u8, frag: u16, l4: &[u8]) -> Option<u64> {
    if frag & 0x1fff != 0 {
        return None;
    }
    let mut h = hasher(44);
    h.write_u16(id);
    nat_l4(&mut h, proto, l4)?;
    Some(h.finish())
}

/// The NAT-invariant identity of an IPv6 packet (NAT66, NPTv6): the flow label and what
/// [`nat_ipv4`] keeps of the transport layer.
pub fn nat_ipv6(next: u8, flow_label: u32, l4: &[u8]) -> Option<u64> {
    let mut h = hasher(66);
    h.write_u32(flow_label);
    nat_l4(&mut h, next, l4)?;
    Some(h.finish())
}

/// What NAT leaves alone of a transport header and its payload.
fn nat_l4(h: &mut impl Hasher, proto: u8, l4: &[u8]) -> Option<()> {
    let l4 = l4_prefix(l4);
    h.write_u8(proto);
    match proto {
        // TCP: sequence, acknowledgement, offset, flags, window (not ports, not the checksum),
        // then the options and payload.
        6 => {
            h.write(l4.get(4..16)?);
            h.write(l4.get(20..)?);
        }
        // UDP: the length and the payload (not ports, not the checksum).
        17 => {
            h.write(l4.get(4..6)?);
            h.write(l4.get(8..)?);
        }
        // ICMP / ICMPv6: type and code; an echo's sequence and data (masquerade may change its
        // identifier); an error's fifth to eighth bytes (MTU, pointer) and the identification
        // and protocol of the packet it quotes (whose addresses NAT rewrites too).
        1 | 58 => {
            let (ty, code) = (*l4.first()?, *l4.get(1)?);
            h.write_u8(ty);
            h.write_u8(code);
            if matches!((proto, ty), (1, 0 | 8) | (58, 128 | 129)) {
                h.write(l4.get(6..)?);
            } else {
                h.write(l4.get(4..8)?);
                if proto == 1 {
                    h.write(l4.get(12..14)?);
                    h.write_u8(*l4.get(17)?);
                }
            }
        }
        _ => return None,
    }
    Some(())
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

    /// An ICMP echo (type, code, checksum, id, seq, data).
    fn echo(ty: u8, id: u16, seq: u16) -> Vec<u8> {
        let mut v = vec![ty, 0, 0x12, 0x34];
        v.extend(id.to_be_bytes());
        v.extend(seq.to_be_bytes());
        v.extend(b"payload-bytes");
        v
    }

    #[test]
    fn nat_identity_ignores_what_nat_rewrites_and_keeps_the_rest() {
        // Masquerade: new addresses (not hashed), new echo id and checksum.
        let mut masq = echo(8, 999, 3);
        masq[2] = 0xab;
        assert_eq!(nat_ipv4(7, 1, 0x4000, &echo(8, 15065, 3)), nat_ipv4(7, 1, 0x4000, &masq));
        // Another sequence, another type (the reply), another IPv4 id: another packet.
        let base = nat_ipv4(7, 1, 0x4000, &echo(8, 15065, 3));
        assert_ne!(base, nat_ipv4(7, 1, 0x4000, &echo(8, 15065, 4)));
        assert_ne!(base, nat_ipv4(7, 1, 0x4000, &echo(0, 15065, 3)));
        assert_ne!(base, nat_ipv4(8, 1, 0x4000, &echo(8, 15065, 3)));
        // TCP: DNAT of the destination port keeps sequence numbers and flags.
        let mut syn = vec![0xc3, 0x50, 0x1f, 0x90, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff];
        syn.extend([0x11, 0x22, 0, 0]);
        let mut dnat = syn.clone();
        dnat[2..4].copy_from_slice(&80u16.to_be_bytes());
        dnat[16..18].copy_from_slice(&[0x99, 0x88]);
        assert_eq!(nat_ipv4(0, 6, 0x4000, &syn), nat_ipv4(0, 6, 0x4000, &dnat));
        dnat[7] = 2;
        assert_ne!(nat_ipv4(0, 6, 0x4000, &syn), nat_ipv4(0, 6, 0x4000, &dnat));
        // Later fragments, unknown protocols and truncated headers have none.
        assert_eq!(nat_ipv4(7, 1, 0x2001, &echo(8, 1, 1)), None);
        assert_eq!(nat_ipv4(7, 47, 0, &[0; 40]), None);
        assert_eq!(nat_ipv4(7, 6, 0, &[0; 12]), None);
        assert!(nat_ipv6(58, 0, &echo(128, 1, 1)).is_some());
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
