//! A packet's identity along its way: a 64-bit hash of what does not change from hop to hop.
//!
//! For IPv4: addresses, identification, protocol, fragment field and the first bytes of the L4
//! header and payload, ignoring TTL, header checksum and the L2 header, so the same packet is
//! recognised on both sides of a bridge and of a router. For IPv6 the same without the hop limit.
//! For ARP the ARP payload. Anything else: the bytes above L2.
//!
//! A second identity, [`nat`], leaves out what NAT rewrites (addresses,
//! ports, the ICMP echo identifier, checksums) and keeps what it leaves alone (the IPv4
//! identification, TCP sequence numbers, flags and timestamp, the echo sequence), from the
//! decoded fields when the correlator needs it: it to follow one packet across a DNAT or SNAT/masquerade hop.

use std::hash::{BuildHasher, Hasher};

use foldhash::fast::FixedState;

use crate::core::packet::Packet;

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
///
/// The header fields and the domain are packed into one 128-bit word, mixed in with one
/// multiply, before the L4 prefix: cheaper than feeding them one by one (this runs on every frame).
pub fn ipv4(src: [u8; 4], dst: [u8; 4], id: u16, proto: u8, frag: u16, l4: &[u8]) -> u64 {
    let mut h = FixedState::with_seed(SEED).build_hasher();
    h.write_u128(
        u128::from(u32::from_be_bytes(src)) << 96
            | u128::from(u32::from_be_bytes(dst)) << 64
            | u128::from(id) << 48
            | u128::from(frag) << 32
            | u128::from(proto) << 8
            | 4,
    );
    h.write(l4_prefix(l4));
    h.finish()
}

/// Identity of an IPv6 packet (`next` is the final next-header, `l4` what follows the extension
/// headers).
pub fn ipv6(src: [u8; 16], dst: [u8; 16], next: u8, flow_label: u32, l4: &[u8]) -> u64 {
    let mut h = FixedState::with_seed(SEED).build_hasher();
    h.write_u128(u128::from_be_bytes(src));
    h.write_u128(u128::from_be_bytes(dst));
    h.write_u128(u128::from(flow_label) << 32 | u128::from(next) << 8 | 6);
    h.write(l4_prefix(l4));
    h.finish()
}

/// The NAT-invariant identity of a decoded packet (see the module doc), from its fields alone:
/// the IPv4 identification and length; for TCP the sequence and acknowledgement numbers, flags,
/// window and timestamp; for UDP the length; for an ICMP echo its type, code and sequence (not
/// the identifier, which masquerade may change); for an ICMP error its type and code and the
/// quoted packet's identification and protocol. `None` for a later fragment or what NAT does not
/// translate (only ICMP, TCP and UDP are).
pub fn nat(p: &Packet) -> Option<u64> {
    let ip = p.ip?;
    if ip.frag_offset != 0 {
        return None;
    }
    let mut h = hasher(44);
    h.write_u64(
        u64::from(ip.id.unwrap_or(0)) << 48
            | u64::from(ip.proto) << 40
            | u64::from(ip.total_len) << 24
            | u64::from(ip.dst.is_ipv6()),
    );
    if let Some(t) = p.ports {
        h.write_u64(u64::from(t.payload_len) << 8 | u64::from(t.flags));
        if let Some(tcp) = t.tcp {
            h.write_u64(u64::from(tcp.seq) << 32 | u64::from(tcp.ack));
            let ts = tcp.options.timestamp().unwrap_or(0);
            h.write_u64(u64::from(tcp.win) << 32 | u64::from(ts));
        }
    } else {
        let (ty, code, echo, quoted) = match (p.icmp, p.icmpv6) {
            (Some(i), _) => (i.ty, i.code, i.echo, i.quoted),
            (None, Some(i)) => (i.ty, i.code, i.echo, i.quoted),
            _ => return None,
        };
        let quoted = quoted.map_or(0, |q| u64::from(q.id.unwrap_or(0)) << 8 | u64::from(q.proto));
        let seq = echo.map_or(0, |e| u64::from(e.seq));
        h.write_u64(u64::from(ty) << 56 | u64::from(code) << 48 | seq << 32 | quoted);
    }
    Some(h.finish())
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

/// The hasher of the correlator's tables, keyed by identities made here: such a key is a hash
/// already, so it is its own (hashing it again cost a multiply and a fold on every lookup, and
/// every frame looks its journey up: 1.8 % of the analysing thread's instructions).
#[derive(Debug, Clone, Copy, Default)]
pub struct Prehashed;

impl BuildHasher for Prehashed {
    type Hasher = PrehashedHasher;
    fn build_hasher(&self) -> PrehashedHasher {
        PrehashedHasher(0)
    }
}

/// See [`Prehashed`]: a `u64` key is the hash. Bytes (no key of vtrace's) are folded in, so
/// that any other key still hashes.
#[derive(Debug, Default)]
pub struct PrehashedHasher(u64);

impl Hasher for PrehashedHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_identity_is_its_own_hash() {
        let fp = ipv4([10, 0, 0, 1], [10, 0, 0, 2], 7, 1, 0, b"\x08\x00abcdefgh");
        assert_eq!(Prehashed.hash_one(fp), fp);
        let mut seen = std::collections::HashMap::with_hasher(Prehashed);
        for k in [fp, fp ^ 1, fp.rotate_left(7)] {
            seen.insert(k, k);
        }
        assert_eq!((seen.len(), seen.get(&(fp ^ 1))), (3, Some(&(fp ^ 1))));
        assert_ne!(Prehashed.hash_one("ab"), Prehashed.hash_one("ba"));
    }

    #[test]
    fn ipv4_identity_depends_on_id_and_payload_not_on_domain_collisions() {
        let a = ipv4([10, 0, 0, 1], [10, 0, 0, 2], 7, 1, 0x4000, b"\x08\x00abcd");
        assert_eq!(a, ipv4([10, 0, 0, 1], [10, 0, 0, 2], 7, 1, 0x4000, b"\x08\x00abcd"));
        assert_ne!(a, ipv4([10, 0, 0, 1], [10, 0, 0, 2], 8, 1, 0x4000, b"\x08\x00abcd"));
        assert_ne!(a, ipv4([10, 0, 0, 1], [10, 0, 0, 2], 7, 1, 0x4000, b"\x08\x00abce"));
        assert_ne!(arp(b"abc"), other(0x0806, b"abc"));
    }

    #[test]
    fn nat_identity_ignores_what_nat_rewrites_and_keeps_the_rest() {
        use crate::core::packet::{Echo, Icmp, Ip};
        use std::net::IpAddr;
        let echo = |src: [u8; 4], ty: u8, id: u16, seq: u16, ip_id: u16| Packet {
            ip: Some(Ip {
                src: IpAddr::from(src),
                dst: IpAddr::from([198, 51, 100, 2]),
                id: Some(ip_id),
                proto: 1,
                ttl: 64,
                total_len: 84,
                dont_fragment: true,
                frag_offset: 0,
                more_fragments: false,
            }),
            icmp: Some(Icmp { ty, code: 0, echo: Some(Echo { id, seq }), quoted: None }),
            ..Packet::default()
        };
        // Masquerade: a new source address and echo identifier.
        let sent = nat(&echo([10, 1, 0, 2], 8, 15065, 3, 7));
        assert!(sent.is_some());
        assert_eq!(sent, nat(&echo([198, 51, 100, 1], 8, 999, 3, 7)));
        // Another sequence, another type (the reply), another IPv4 id: another packet.
        assert_ne!(sent, nat(&echo([10, 1, 0, 2], 8, 15065, 4, 7)));
        assert_ne!(sent, nat(&echo([10, 1, 0, 2], 0, 15065, 3, 7)));
        assert_ne!(sent, nat(&echo([10, 1, 0, 2], 8, 15065, 3, 8)));
        // Later fragments and packets without ICMP, TCP or UDP have none.
        let mut frag = echo([10, 1, 0, 2], 8, 1, 1, 1);
        if let Some(ip) = frag.ip.as_mut() {
            ip.frag_offset = 1480;
        }
        assert_eq!(nat(&frag), None);
        let mut gre = echo([10, 1, 0, 2], 8, 1, 1, 1);
        gre.icmp = None;
        assert_eq!(nat(&gre), None);
        assert_eq!(nat(&Packet::default()), None);
    }

    #[test]
    fn every_header_field_counts() {
        let base = ipv4([10, 0, 0, 1], [10, 0, 0, 2], 7, 1, 0x4000, b"\x08\x00abcd");
        let changed = [
            ipv4([10, 0, 0, 3], [10, 0, 0, 2], 7, 1, 0x4000, b"\x08\x00abcd"),
            ipv4([10, 0, 0, 1], [10, 0, 0, 3], 7, 1, 0x4000, b"\x08\x00abcd"),
            ipv4([10, 0, 0, 2], [10, 0, 0, 1], 7, 1, 0x4000, b"\x08\x00abcd"),
            ipv4([10, 0, 0, 1], [10, 0, 0, 2], 7, 6, 0x4000, b"\x08\x00abcd"),
            ipv4([10, 0, 0, 1], [10, 0, 0, 2], 7, 1, 0x2000, b"\x08\x00abcd"),
        ];
        let mut seen = std::collections::HashSet::from([base]);
        for c in changed {
            assert!(seen.insert(c), "a changed field makes a new identity");
        }
        let v6 = ipv6([1; 16], [2; 16], 58, 0, b"\x80\x00ab");
        let mut seen = std::collections::HashSet::from([v6]);
        for c in [
            ipv6([2; 16], [1; 16], 58, 0, b"\x80\x00ab"),
            ipv6([1; 16], [3; 16], 58, 0, b"\x80\x00ab"),
            ipv6([1; 16], [2; 16], 6, 0, b"\x80\x00ab"),
            ipv6([1; 16], [2; 16], 58, 1, b"\x80\x00ab"),
            ipv6([1; 16], [2; 16], 58, 0, b"\x80\x00ac"),
        ] {
            assert!(seen.insert(c), "a changed IPv6 field makes a new identity");
        }
    }

    #[test]
    fn every_byte_of_the_prefix_and_its_length_count() {
        let id = |l4: &[u8]| ipv4([1; 4], [2; 4], 1, 6, 0, l4);
        let mut seen = std::collections::HashSet::new();
        for len in [0, 1, 15, 16, 17, 24, 31, 32, 40, 63, 64] {
            let base = vec![0u8; len];
            assert!(seen.insert(id(&base)), "{len} zero bytes: a new identity");
            for at in 0..len {
                let mut changed = base.clone();
                changed[at] = 0x5a;
                assert!(seen.insert(id(&changed)), "byte {at} of {len} counts");
            }
        }
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
