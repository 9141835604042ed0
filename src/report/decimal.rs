//! Integers as decimal digits appended to a byte buffer, by itoa: the one place where the
//! renderers that format by hand (the JSON report, the packet listing, times of day) turn numbers
//! into text. No allocation, no formatting machinery.

/// The decimal digits of `n` (measured with callgrind on 100 k packets: `extend_from_slice` takes
/// 2.4 % fewer instructions than a byte-by-byte extend for `analyze --json`, 0.5 % fewer for
/// `analyze --packets --json`).
#[inline]
pub fn num(out: &mut Vec<u8>, n: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// Dotted decimal: `172.18.0.2`.
pub fn ipv4(out: &mut Vec<u8>, a: std::net::Ipv4Addr) {
    let [a, b, c, d] = a.octets();
    num(out, a);
    for octet in [b, c, d] {
        out.push(b'.');
        num(out, octet);
    }
}

/// The decimal digits of `n`, zero-padded on the left to `width`: `000000042`.
#[inline]
pub fn padded(out: &mut Vec<u8>, n: u64, width: usize) {
    let mut buf = itoa::Buffer::new();
    let digits = buf.format(n);
    out.extend(std::iter::repeat_n(b'0', width.saturating_sub(digits.len())));
    out.extend(digits.bytes());
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
    fn numbers() {
        assert_eq!(text(|o| num(o, 0u8)), "x0");
        assert_eq!(text(|o| num(o, 10u16)), "x10");
        assert_eq!(text(|o| num(o, u64::MAX)), "x18446744073709551615");
        assert_eq!(text(|o| num(o, -7i32)), "x-7");
        assert_eq!(text(|o| padded(o, 42, 9)), "x000000042");
        assert_eq!(text(|o| padded(o, 0, 2)), "x00");
        assert_eq!(text(|o| padded(o, 123, 2)), "x123");
    }
}
