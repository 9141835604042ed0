//! Fast formatting primitives into a byte buffer: integers, addresses, JSON strings.
//!
//! The listing writes millions of short fields, so each primitive grows the buffer by its maximum
//! length (a constant-size fill the compiler inlines), writes its digits in place and truncates
//! to the real length: no `memcpy` call and no intermediate copy per field.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};

use crate::core::packet::HwAddr;

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

/// "00" to "99".
const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// Decimal digits of `n` into the front of `buf`, two at a time; returns how many.
#[inline(always)]
fn digits(buf: &mut [u8], mut n: u64) -> usize {
    let len = n.checked_ilog10().map_or(1, |l| l as usize + 1);
    let mut i = len;
    while n >= 10 {
        let pair = (n % 100) as usize * 2;
        n /= 100;
        i = i.saturating_sub(2);
        if let (Some(dst), Some(src)) = (buf.get_mut(i..i + 2), PAIRS.get(pair..pair + 2)) {
            dst.copy_from_slice(src);
        }
    }
    if i == 1 {
        if let Some(b) = buf.first_mut() {
            *b = b'0' + n as u8;
        }
    }
    len
}

#[inline(always)]
pub(super) fn num(out: &mut Vec<u8>, n: impl Into<u64>) {
    let n = n.into();
    with_room::<20>(out, |room| digits(room, n));
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

#[inline(always)]
pub(super) fn ipv4(out: &mut Vec<u8>, a: Ipv4Addr) {
    with_room::<15>(out, |room| {
        let mut len = 0;
        for (i, octet) in a.octets().into_iter().enumerate() {
            if i > 0 {
                if let Some(b) = room.get_mut(len) {
                    *b = b'.';
                }
                len += 1;
            }
            len += digits(room.get_mut(len..).unwrap_or_default(), u64::from(octet));
        }
        len
    });
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

    fn text(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = b"x".to_vec();
        f(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn primitives() {
        assert_eq!(text(|o| num(o, 0u8)), "x0");
        assert_eq!(text(|o| num(o, 10u16)), "x10");
        assert_eq!(text(|o| num(o, u64::MAX)), "x18446744073709551615");
        assert_eq!(text(|o| ipv4(o, Ipv4Addr::new(0, 10, 255, 100))), "x0.10.255.100");
        assert_eq!(text(|o| ipv4(o, Ipv4Addr::new(255, 255, 255, 255))), "x255.255.255.255");
        assert_eq!(text(|o| mac(o, &[0, 0x1b, 0xa0, 0xff, 9, 0x10])), "x00:1b:a0:ff:09:10");
        assert_eq!(text(|o| hwaddr(o, &HwAddr::new(&[0xbe]))), "xbe");
        assert_eq!(text(|o| json_str(o, "a/b")), "x\"a/b\"");
        assert_eq!(text(|o| json_str(o, "\u{1}\"")), "x\"\\u0001\\\"\"");
    }
}
