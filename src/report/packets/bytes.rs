//! Fast formatting primitives into a byte buffer: addresses and JSON strings (integers are
//! [`crate::report::decimal`]'s).
//!
//! The listing writes millions of short fields, so a MAC address grows the buffer by its length
//! (a constant-size fill the compiler inlines) and is written in place: no `memcpy` call and no
//! intermediate copy.

use std::io::Write;
use std::net::IpAddr;

use crate::core::packet::HwAddr;
pub(super) use crate::report::decimal::ipv4;

/// Let `write` fill up to `N` bytes at the end of `out`; it returns how many it wrote.
#[inline(always)]
fn with_room<const N: usize>(out: &mut Vec<u8>, write: impl FnOnce(&mut [u8; N]) -> usize) {
    let start = out.len();
    out.resize(start + N, 0);
    let len = match out.get_mut(start..).and_then(|s| <&mut [u8; N]>::try_from(s).ok()) {
        Some(room) => write(room),
        None => 0,
    };
    out.truncate(start + len.min(N));
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Lower-case, colon-separated MAC address.
#[inline(always)]
pub(super) fn mac(out: &mut Vec<u8>, b: &[u8; 6]) {
    with_room::<17>(out, |room| {
        for (i, chunk) in room.chunks_mut(3).enumerate() {
            if let ([hi, lo, rest @ ..], Some(byte)) = (chunk, b.get(i)) {
                *hi = HEX[usize::from(byte >> 4)];
                *lo = HEX[usize::from(byte & 0x0f)];
                if let [colon] = rest {
                    *colon = b':';
                }
            }
        }
        17
    });
}

/// Lower-case, colon-separated hardware address of any length.
pub(super) fn hwaddr(out: &mut Vec<u8>, a: &HwAddr) {
    match a.mac() {
        Some(m) => mac(out, &m.0),
        None => {
            for (i, b) in a.as_bytes().iter().enumerate() {
                if i > 0 {
                    out.push(b':');
                }
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0x0f)]);
            }
        }
    }
}

/// Lower-case hex digits of `bytes`, no separator.
pub(super) fn hex(out: &mut Vec<u8>, bytes: &[u8]) {
    for b in bytes {
        out.push(HEX[usize::from(b >> 4)]);
        out.push(HEX[usize::from(b & 0x0f)]);
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
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\' && b != 0x7f) {
        out.extend_from_slice(s.as_bytes());
    } else {
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
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn text(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = b"x".to_vec();
        f(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn primitives() {
        assert_eq!(text(|o| ipv4(o, Ipv4Addr::new(0, 10, 255, 100))), "x0.10.255.100");
        assert_eq!(text(|o| ipv4(o, Ipv4Addr::new(255, 255, 255, 255))), "x255.255.255.255");
        assert_eq!(text(|o| mac(o, &[0, 0x1b, 0xa0, 0xff, 9, 0x10])), "x00:1b:a0:ff:09:10");
        assert_eq!(text(|o| hwaddr(o, &HwAddr::new(&[0xbe]))), "xbe");
        assert_eq!(text(|o| hex(o, &[0xab, 0x01])), "xab01");
        assert_eq!(text(|o| json_str(o, "a/b")), "x\"a/b\"");
        assert_eq!(text(|o| json_str(o, "\u{1}\"")), "x\"\\u0001\\\"\"");
    }
}
