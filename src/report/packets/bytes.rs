//! Fast formatting primitives into a byte buffer: integers (itoa), addresses, JSON strings.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};

use crate::core::packet::HwAddr;

pub(super) fn num(out: &mut Vec<u8>, n: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Lower-case, colon-separated hardware address.
pub(super) fn hw(out: &mut Vec<u8>, bytes: &[u8]) {
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push(b':');
        }
        out.push(HEX[usize::from(b >> 4)]);
        out.push(HEX[usize::from(b & 0x0f)]);
    }
}

pub(super) fn hwaddr(out: &mut Vec<u8>, a: &HwAddr) {
    hw(out, a.as_bytes());
}

pub(super) fn ipv4(out: &mut Vec<u8>, a: Ipv4Addr) {
    for (i, b) in a.octets().into_iter().enumerate() {
        if i > 0 {
            out.push(b'.');
        }
        num(out, b);
    }
}

pub(super) fn ip(out: &mut Vec<u8>, a: IpAddr) {
    match a {
        IpAddr::V4(a) => ipv4(out, a),
        // RFC 5952 text; writing to a Vec cannot fail.
        IpAddr::V6(a) => {
            let _ = write!(out, "{a}");
        }
    }
}

/// A JSON string literal, escaped.
pub(super) fn json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for &b in s.as_bytes() {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0..0x20 | 0x7f => {
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0x0f)]);
            }
            _ => out.push(b),
        }
    }
    out.push(b'"');
}
