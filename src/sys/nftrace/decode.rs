//! Hand decoder of nftables trace messages (`NFT_MSG_TRACE` on `NFNLGRP_NFTRACE`): the netlink
//! envelope (`nlmsghdr` + `nfgenmsg`) and the `NFTA_TRACE_*` attributes.
//!
//! Pure and total: any byte string yields events or a [`DecodeError`], never a panic (it is fed
//! whatever the kernel, or a fuzzer, sends). It does not name interfaces nor look up rule text.

use thiserror::Error;

use crate::core::netfilter::{NfEvent, NfFamily, NfVerdict, TraceKind};

/// `NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_TRACE`.
pub const NFT_TRACE_MSG_TYPE: u16 = (10 << 8) | 17;
/// `NFNLGRP_NFTRACE`.
pub const NFNLGRP_NFTRACE: u32 = 9;

const NLMSG_HDRLEN: usize = 16;
const NFGENMSG_LEN: usize = 4;
const NLA_TYPE_MASK: u16 = 0x3fff;

const NFTA_TRACE_TABLE: u16 = 1;
const NFTA_TRACE_CHAIN: u16 = 2;
const NFTA_TRACE_RULE_HANDLE: u16 = 3;
const NFTA_TRACE_TYPE: u16 = 4;
const NFTA_TRACE_VERDICT: u16 = 5;
const NFTA_TRACE_ID: u16 = 6;
const NFTA_TRACE_LL_HEADER: u16 = 7;
const NFTA_TRACE_NETWORK_HEADER: u16 = 8;
const NFTA_TRACE_TRANSPORT_HEADER: u16 = 9;
const NFTA_TRACE_IIF: u16 = 10;
const NFTA_TRACE_OIF: u16 = 12;
const NFTA_TRACE_MARK: u16 = 14;
const NFTA_TRACE_NFPROTO: u16 = 15;
const NFTA_TRACE_POLICY: u16 = 16;

const NFTA_VERDICT_CODE: u16 = 1;
const NFTA_VERDICT_CHAIN: u16 = 2;

/// A trace message that could not be decoded.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("netlink message truncated: header says {claimed} bytes, {available} received")]
    Truncated { claimed: usize, available: usize },
    #[error("netlink attribute {ty} has a bad length {len}")]
    BadAttribute { ty: u16, len: usize },
    #[error("trace attribute {ty} should be {expected} bytes, got {got}")]
    BadValue { ty: u16, expected: usize, got: usize },
}

/// Decode every trace message in one datagram; other messages (errors, no-ops) are skipped.
pub fn decode_datagram(buf: &[u8]) -> Result<Vec<NfEvent>, DecodeError> {
    trace_bodies(buf).map(|body| decode_trace(body?)).collect()
}

/// The body of every trace message in one datagram, in order; other messages (errors, no-ops)
/// are skipped. A message whose length runs past the datagram ends it with an error.
pub fn trace_bodies(buf: &[u8]) -> impl Iterator<Item = Result<&[u8], DecodeError>> {
    let mut rest = buf;
    std::iter::from_fn(move || {
        while rest.len() >= NLMSG_HDRLEN {
            let len = u32::from_ne_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
            let ty = u16::from_ne_bytes([rest[4], rest[5]]);
            if len < NLMSG_HDRLEN || len > rest.len() {
                let available = rest.len();
                rest = &[];
                return Some(Err(DecodeError::Truncated { claimed: len, available }));
            }
            let body = rest.get(NLMSG_HDRLEN..len).unwrap_or_default();
            rest = rest.get(align4(len)..).unwrap_or_default();
            if ty == NFT_TRACE_MSG_TYPE {
                return Some(Ok(body));
            }
        }
        None
    })
}

/// What a trace message says about its packet, borrowed from the datagram: enough to keep a
/// flow's events and to lend headers by trace id without building an event
/// ([`decode_trace`] builds it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Peek<'a> {
    /// The table's name (without the terminating NUL).
    pub table: &'a [u8],
    pub id: u32,
    pub network_header: &'a [u8],
    pub transport_header: &'a [u8],
}

/// Read an `NFT_MSG_TRACE` body's table, trace id and headers (the same errors as
/// [`decode_trace`] for those attributes and the attribute framing).
pub fn peek(body: &[u8]) -> Result<Peek<'_>, DecodeError> {
    let attrs = body
        .get(NFGENMSG_LEN..)
        .ok_or(DecodeError::Truncated { claimed: NFGENMSG_LEN, available: body.len() })?;
    let mut p = Peek::default();
    for attr in Attrs(attrs) {
        let (ty, v) = attr?;
        match ty {
            NFTA_TRACE_TABLE => p.table = until_nul(v),
            NFTA_TRACE_ID => p.id = be_u32(ty, v)?,
            NFTA_TRACE_NETWORK_HEADER => p.network_header = v,
            NFTA_TRACE_TRANSPORT_HEADER => p.transport_header = v,
            _ => {}
        }
    }
    Ok(p)
}

/// Decode one `NFT_MSG_TRACE` body: `nfgenmsg` then attributes.
pub fn decode_trace(body: &[u8]) -> Result<NfEvent, DecodeError> {
    let Some(family) = body.first() else {
        return Err(DecodeError::Truncated { claimed: NFGENMSG_LEN, available: 0 });
    };
    let attrs = body
        .get(NFGENMSG_LEN..)
        .ok_or(DecodeError::Truncated { claimed: NFGENMSG_LEN, available: body.len() })?;
    let mut ev = NfEvent { family: Some(NfFamily::from_nfproto(*family)), ..NfEvent::default() };
    for attr in Attrs(attrs) {
        let (ty, v) = attr?;
        match ty {
            NFTA_TRACE_TABLE => ev.table = string(v),
            NFTA_TRACE_CHAIN => ev.chain = string(v),
            NFTA_TRACE_RULE_HANDLE => ev.rule_handle = Some(be_u64(ty, v)?),
            NFTA_TRACE_TYPE => ev.kind = Some(TraceKind::from_code(be_u32(ty, v)?)),
            NFTA_TRACE_VERDICT => ev.verdict = Some(verdict(v)?),
            NFTA_TRACE_ID => ev.id = be_u32(ty, v)?,
            NFTA_TRACE_LL_HEADER => ev.ll_header = v.to_vec(),
            NFTA_TRACE_NETWORK_HEADER => ev.network_header = v.to_vec(),
            NFTA_TRACE_TRANSPORT_HEADER => ev.transport_header = v.to_vec(),
            NFTA_TRACE_IIF => ev.iif = Some(be_u32(ty, v)?),
            NFTA_TRACE_OIF => ev.oif = Some(be_u32(ty, v)?),
            NFTA_TRACE_MARK => ev.mark = Some(be_u32(ty, v)?),
            NFTA_TRACE_NFPROTO => ev.nfproto = u8::try_from(be_u32(ty, v)?).ok(),
            NFTA_TRACE_POLICY => {
                ev.policy = Some(NfVerdict::from_code(be_u32(ty, v)? as i32, None));
            }
            _ => {}
        }
    }
    Ok(ev)
}

/// A nested `NFTA_VERDICT_*` attribute.
fn verdict(nested: &[u8]) -> Result<NfVerdict, DecodeError> {
    let mut code = None;
    let mut chain = None;
    for attr in Attrs(nested) {
        let (ty, v) = attr?;
        match ty {
            NFTA_VERDICT_CODE => code = Some(be_u32(ty, v)? as i32),
            NFTA_VERDICT_CHAIN => chain = Some(string(v)),
            _ => {}
        }
    }
    let code = code.ok_or(DecodeError::BadValue { ty: NFTA_VERDICT_CODE, expected: 4, got: 0 })?;
    Ok(NfVerdict::from_code(code, chain))
}

/// Netlink attributes: (type without flags, payload).
struct Attrs<'a>(&'a [u8]);

impl<'a> Iterator for Attrs<'a> {
    type Item = Result<(u16, &'a [u8]), DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        let buf = self.0;
        if buf.len() < 4 {
            return None;
        }
        let len = usize::from(u16::from_ne_bytes([buf[0], buf[1]]));
        let ty = u16::from_ne_bytes([buf[2], buf[3]]) & NLA_TYPE_MASK;
        let Some(value) = buf.get(4..len).filter(|_| len >= 4) else {
            self.0 = &[];
            return Some(Err(DecodeError::BadAttribute { ty, len }));
        };
        self.0 = buf.get(align4(len)..).unwrap_or_default();
        Some(Ok((ty, value)))
    }
}

fn align4(n: usize) -> usize {
    n.saturating_add(3) & !3
}

fn string(v: &[u8]) -> String {
    String::from_utf8_lossy(until_nul(v)).into_owned()
}

/// A netlink string attribute without its terminating NUL (and anything after it).
fn until_nul(v: &[u8]) -> &[u8] {
    let end = v.iter().position(|&b| b == 0).unwrap_or(v.len());
    v.get(..end).unwrap_or_default()
}

fn be_u32(ty: u16, v: &[u8]) -> Result<u32, DecodeError> {
    let b: [u8; 4] =
        v.try_into().map_err(|_| DecodeError::BadValue { ty, expected: 4, got: v.len() })?;
    Ok(u32::from_be_bytes(b))
}

fn be_u64(ty: u16, v: &[u8]) -> Result<u64, DecodeError> {
    let b: [u8; 8] =
        v.try_into().map_err(|_| DecodeError::BadValue { ty, expected: 8, got: v.len() })?;
    Ok(u64::from_be_bytes(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::netfilter::PacketKey;

    /// Datagrams received on NFNLGRP_NFTRACE (kernel 6.18) for `ping 10.9.0.1 → 10.9.0.2`, with
    /// `table inet vt { chain pre { … prerouting priority -350; ip saddr 10.9.0.1 meta nftrace set
    /// 1 } }` and `table ip f { chain input { … icmp type echo-request drop } }` (handle 2).
    const RULE_CONTINUE: &str = "a8000000110a000000000000000000000100000008000f0000000002080004000000000308000600e4b436cf080002007072650007000100767400000c00030000000000000000020c00050008000100ffffffff08000a000000000206000b00000100001800080045000054ea25400040013c6f0a0900010a0900021800090008003db66dfc0001a9fe096b00000000d50f05001200070072400ff6299eca1d58c64fc308000000";
    const POLICY_ACCEPT: &str = "44000000110a000000000000000000000100000008000f0000000002080004000000000108000600e4b436cf080002007072650007000100767400000800100000000001";
    const RULE_DROP: &str = "ac000000110a000000000000000000000200000008000f0000000002080004000000000308000600e4b436cf0a000200696e70757400000006000100660000000c00030000000000000000020c000500080001000000000008000a000000000206000b00000100001800080045000054ea25400040013c6f0a0900010a0900021800090008003db66dfc0001a9fe096b00000000d50f05001200070072400ff6299eca1d58c64fc308000000";

    fn bytes(hex: &str) -> Vec<u8> {
        (0..hex.len() / 2)
            .filter_map(|i| hex.get(2 * i..2 * i + 2))
            .filter_map(|b| u8::from_str_radix(b, 16).ok())
            .collect()
    }

    fn one(hex: &str) -> NfEvent {
        let evs = decode_datagram(&bytes(hex)).expect("decodes");
        assert_eq!(evs.len(), 1);
        evs.into_iter().next().expect("one event")
    }

    #[test]
    fn a_rule_drop_names_table_chain_handle_and_packet() {
        let ev = one(RULE_DROP);
        assert_eq!(ev.family, Some(NfFamily::Ip));
        assert_eq!((ev.table.as_str(), ev.chain.as_str()), ("f", "input"));
        assert_eq!(ev.kind, Some(TraceKind::Rule));
        assert_eq!(ev.rule_handle, Some(2));
        assert_eq!(ev.verdict, Some(NfVerdict::Drop));
        assert!(ev.is_drop());
        assert_eq!(ev.id, 0xe4b4_36cf);
        assert_eq!((ev.iif, ev.oif, ev.nfproto), (Some(2), None, Some(2)));
        assert_eq!(ev.network_header.len(), 20);
        assert_eq!(ev.transport_header.len(), 20);
        assert_eq!(ev.ll_header.len(), 14);
        let key = ev.key().expect("key");
        assert_eq!(key.src, std::net::IpAddr::from([10, 9, 0, 1]));
        assert_eq!(key.dst, std::net::IpAddr::from([10, 9, 0, 2]));
        assert_eq!((key.proto, key.ip_id, key.echo), (1, Some(0xea25), Some((0x6dfc, 1))));
    }

    #[test]
    fn a_policy_event_carries_the_policy_and_no_headers() {
        let ev = one(POLICY_ACCEPT);
        assert_eq!(ev.family, Some(NfFamily::Inet));
        assert_eq!((ev.table.as_str(), ev.chain.as_str()), ("vt", "pre"));
        assert_eq!(ev.kind, Some(TraceKind::Policy));
        assert_eq!(ev.policy, Some(NfVerdict::Accept));
        assert_eq!(ev.decision(), Some(&NfVerdict::Accept));
        assert_eq!(ev.rule_handle, None);
        assert!(ev.network_header.is_empty());
        assert_eq!(ev.key(), None::<PacketKey>);
    }

    #[test]
    fn the_nftrace_rule_continues() {
        let ev = one(RULE_CONTINUE);
        assert_eq!(ev.verdict, Some(NfVerdict::Continue));
        assert_eq!(ev.rule_handle, Some(2));
        assert_eq!(ev.id, 0xe4b4_36cf);
    }

    #[test]
    fn several_messages_in_one_datagram_and_other_types_skipped() {
        let mut dgram = bytes(RULE_DROP);
        dgram.extend(bytes(POLICY_ACCEPT));
        // An NLMSG_NOOP (type 1) of 16 bytes.
        dgram.extend([16, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        let evs = decode_datagram(&dgram).expect("decodes");
        assert_eq!(evs.len(), 2);
        assert_eq!(evs[1].chain, "pre");
    }

    #[test]
    fn every_truncation_and_corruption_is_an_error_or_a_value_never_a_panic() {
        let full = bytes(RULE_DROP);
        for n in 0..full.len() {
            let _ = decode_datagram(full.get(..n).unwrap_or_default());
        }
        for i in 0..full.len() {
            for v in [0u8, 1, 3, 0x7f, 0xff] {
                let mut b = full.clone();
                if let Some(x) = b.get_mut(i) {
                    *x = v;
                }
                let _ = decode_datagram(&b);
            }
        }
        let mut short = full.clone();
        short.truncate(100);
        assert_eq!(
            decode_datagram(&short),
            Err(DecodeError::Truncated { claimed: 0xac, available: 100 })
        );
    }

    #[test]
    fn a_peek_reads_what_the_decoded_event_says_of_table_id_and_headers() {
        for hex in [RULE_DROP, POLICY_ACCEPT, RULE_CONTINUE] {
            let dgram = bytes(hex);
            let bodies: Vec<&[u8]> = trace_bodies(&dgram).map(|b| b.expect("frames")).collect();
            assert_eq!(bodies.len(), 1);
            let p = peek(bodies[0]).expect("peeks");
            let ev = one(hex);
            assert_eq!(p.table, ev.table.as_bytes());
            assert_eq!(p.id, ev.id);
            assert_eq!(p.network_header, ev.network_header.as_slice());
            assert_eq!(p.transport_header, ev.transport_header.as_slice());
        }
        let drop = bytes(RULE_DROP);
        let p = peek(trace_bodies(&drop).next().and_then(Result::ok).unwrap_or(&[]));
        let expected = (&b"f"[..], 0xe4b4_36cf, 20);
        assert_eq!(p.map(|p| (p.table, p.id, p.network_header.len())), Ok(expected));
        // The attribute errors of a decode are a peek's too.
        let body = [2, 0, 0, 0, 2, 0, 1, 0];
        assert_eq!(peek(&body), Err(DecodeError::BadAttribute { ty: 1, len: 2 }));
        let body = [2, 0, 0, 0, 6, 0, 6, 0, 1, 2, 0, 0];
        assert_eq!(peek(&body), Err(DecodeError::BadValue { ty: 6, expected: 4, got: 2 }));
        assert_eq!(peek(&[2]), Err(DecodeError::Truncated { claimed: 4, available: 1 }));
    }

    #[test]
    fn a_truncated_message_ends_the_datagram_after_the_whole_ones() {
        let mut dgram = bytes(POLICY_ACCEPT);
        dgram.extend(bytes(RULE_DROP).get(..100).unwrap_or_default());
        let bodies: Vec<_> = trace_bodies(&dgram).collect();
        assert_eq!(bodies.len(), 2);
        assert!(bodies[0].is_ok());
        assert_eq!(bodies[1], Err(DecodeError::Truncated { claimed: 0xac, available: 100 }));
    }

    #[test]
    fn bad_attribute_lengths_are_reported() {
        // nfgenmsg + an attribute claiming 2 bytes.
        let body = [2, 0, 0, 0, 2, 0, 1, 0];
        assert_eq!(decode_trace(&body), Err(DecodeError::BadAttribute { ty: 1, len: 2 }));
        // NFTA_TRACE_ID with 2 bytes of value.
        let body = [2, 0, 0, 0, 6, 0, 6, 0, 1, 2, 0, 0];
        assert_eq!(decode_trace(&body), Err(DecodeError::BadValue { ty: 6, expected: 4, got: 2 }));
    }
}
