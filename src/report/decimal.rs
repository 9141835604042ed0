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

/// The two-digit numbers "00" to "99", one after the other.
const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
                            2021222324252627282930313233343536373839\
                            4041424344454647484950515253545556575859\
                            6061626364656667686970717273747576777879\
                            8081828384858687888990919293949596979899";

/// `n` (below 10^8) as eight digits, zero-padded, the first in the lowest byte (not yet ASCII: each
/// byte 0 to 9). Computed in the lanes of one 64-bit word (two halves of four digits, then four
/// quarters of two, then eight digits), by multiplications that divide each lane by 100 or by
/// 10 at once: a few instructions for all eight, where digit pairs from a table take a lookup
/// and a bounds check each.
#[inline]
fn eight_lanes(n: u32) -> u64 {
    // Lanes of 32 bits: the first four digits, then the last four (each below 10^4).
    let x = u64::from(n / 10_000) | (u64::from(n % 10_000) << 32);
    // x / 100 in each lane: times 10486 / 2^20, exact for every value below 10^4 (the test
    // checks them all).
    let hundreds = ((x * 10_486) >> 20) & 0x0000_007F_0000_007F;
    // Lanes of 16 bits, each below 100.
    let x = hundreds | ((x - hundreds * 100) << 16);
    // x / 10 in each lane: 103 / 2^10 is 1/10 for values below 100.
    let tens = ((x * 103) >> 10) & 0x000F_000F_000F_000F;
    tens | ((x - tens * 10) << 8)
}

/// `n % 10^8` as exactly eight digits.
#[inline]
fn eight(n: u64) -> [u8; 8] {
    ascii(eight_lanes((n % 100_000_000) as u32))
}

/// The digits of [`eight_lanes`] as ASCII.
#[inline]
fn ascii(lanes: u64) -> [u8; 8] {
    (lanes | 0x3030_3030_3030_3030).to_le_bytes()
}

/// Nanosecond timestamps, the 19 digits of every one since 2001-09-09 (10^18 ns): the digits
/// of its second are kept from the one before when they are the same (consecutive hops of a
/// journey nearly always are), and the nanoseconds written as nine digits. Other times go
/// through [`num`]. Fewer instructions than itoa for these (no variable-length copy).
#[derive(Debug, Default)]
pub struct Stamps {
    /// The last second written (0: none) and its ten digits.
    sec: u64,
    digits: [u8; 10],
}

impl Stamps {
    pub fn write(&mut self, out: &mut Vec<u8>, t_ns: u64) {
        let mut d = [0u8; 19];
        match self.put(t_ns, &mut d) {
            Some(()) => out.extend_from_slice(&d),
            None => num(out, t_ns),
        }
    }

    /// The 19 digits of `t_ns` written into `d`, when it has 19 (`None`, nothing written, else).
    #[inline]
    pub fn put(&mut self, t_ns: u64, d: &mut [u8; 19]) -> Option<()> {
        if !(1_000_000_000_000_000_000..10_000_000_000_000_000_000).contains(&t_ns) {
            return None;
        }
        let (sec, ns) = (t_ns / 1_000_000_000, t_ns % 1_000_000_000);
        if sec != self.sec {
            self.sec = sec;
            let hi = (sec / 100_000_000 % 100) as usize * 2;
            if let Some(pair) = PAIRS.get(hi..hi + 2) {
                self.digits[..2].copy_from_slice(pair);
            }
            self.digits[2..].copy_from_slice(&eight(sec));
        }
        let first = ns / 100_000_000;
        d[..10].copy_from_slice(&self.digits);
        d[10] = b'0' + first as u8;
        d[11..].copy_from_slice(&ascii(eight_lanes((ns - first * 100_000_000) as u32)));
        Some(())
    }
}

/// The decimal digits of `n`: by [`small`] below 10^8 (an echo's id and sequence, a round trip
/// under 100 ms), a copy of a fixed size and a cut where `itoa`'s digits of any length take a
/// call to `memcpy`; by [`num`] above.
#[inline]
pub fn short(out: &mut Vec<u8>, n: u64) {
    match small(n) {
        Some((digits, len)) => {
            let end = out.len() + len;
            out.extend_from_slice(&digits);
            out.truncate(end);
        }
        None => num(out, n),
    }
}

/// The decimal digits of `n` below 10^8, left-aligned in eight bytes (the rest zero), and how
/// many they are: a fixed-size copy appends them, where the digits of a number of any size
/// take a call to `memcpy`.
#[inline]
pub fn small(n: u64) -> Option<([u8; 8], usize)> {
    if n >= 100_000_000 {
        return None;
    }
    let lanes = eight_lanes(n as u32);
    // The leading zeros are the lowest bytes that are 0 (all but the last for 0).
    let zeros = ((lanes.trailing_zeros() / 8) as usize).min(7);
    let digits = (lanes | 0x3030_3030_3030_3030) >> (8 * zeros);
    Some((digits.to_le_bytes(), 8 - zeros))
}

/// Each octet's digits followed by a dot (`7.`, `42.`, `255.`), and how many digits.
const OCTETS: [([u8; 4], u8); 256] = {
    let mut table = [([0u8; 4], 0u8); 256];
    let mut i = 0;
    while i < 256 {
        let n = i as u8;
        let (h, t, o) = (b'0' + n / 100, b'0' + n / 10 % 10, b'0' + n % 10);
        table[i] = match n {
            0..=9 => ([o, b'.', 0, 0], 1),
            10..=99 => ([t, o, b'.', 0], 2),
            _ => ([h, t, o, b'.'], 3),
        };
        i += 1;
    }
    table
};

/// Dotted decimal: `172.18.0.2`, composed in place from a table of the octets and appended at
/// once.
#[inline]
pub fn ipv4(out: &mut Vec<u8>, a: std::net::Ipv4Addr) {
    let mut text = [0u8; 16];
    let mut len = 0;
    for octet in a.octets() {
        let (digits, n) = OCTETS[usize::from(octet)];
        if let Some(to) = text.get_mut(len..len + 4) {
            to.copy_from_slice(&digits);
        }
        len += usize::from(n) + 1;
    }
    // Without the last dot: all sixteen bytes copied (a fixed size, no call to `memcpy`), then cut.
    let end = out.len() + len - 1;
    out.extend_from_slice(&text);
    out.truncate(end);
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

    #[test]
    fn dotted_decimal() {
        for a in [
            [0, 0, 0, 0],
            [172, 18, 0, 2],
            [255, 255, 255, 255],
            [1, 10, 100, 9],
            [9, 99, 199, 200],
        ] {
            let addr = std::net::Ipv4Addr::from(a);
            assert_eq!(text(|o| ipv4(o, addr)), format!("x{addr}"));
        }
        for n in 0..=255u8 {
            let addr = std::net::Ipv4Addr::new(n, 255 - n, n / 2, n % 10);
            assert_eq!(text(|o| ipv4(o, addr)), format!("x{addr}"));
        }
    }

    #[test]
    fn eight_digits_are_the_number_zero_padded() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let sample = (0..200_000u64).chain([99_999_999, 100_000_000, 123_456_789, u64::MAX]).chain(
            (0..200_000).map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed
            }),
        );
        for n in sample {
            assert_eq!(eight(n), *format!("{:08}", n % 100_000_000).as_bytes(), "{n}");
        }
    }

    #[test]
    fn small_numbers_are_their_digits_left_aligned() {
        for n in [0u64, 7, 9, 10, 99, 100, 675, 5_770, 99_999, 1_000_000, 12_345_678, 99_999_999] {
            let (digits, len) = small(n).unwrap_or_default();
            assert_eq!(digits.get(..len), Some(n.to_string().as_bytes()), "{n}");
            assert!(digits.get(len..).unwrap_or_default().iter().all(|&b| b == 0), "{n}");
        }
        assert_eq!(small(100_000_000), None);
        assert_eq!(small(u64::MAX), None);
        let values = [0u64, 9, 10, 65_535, 99_999_999, 100_000_000, 123_456_789, u64::MAX];
        for n in values {
            assert_eq!(text(|o| short(o, n)), format!("x{n}"), "after what was there");
        }
    }

    #[test]
    fn stamps_write_what_itoa_writes() {
        let mut stamps = Stamps::default();
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut values = vec![
            0,
            7,
            999_999_999_999_999_999,
            1_000_000_000_000_000_000,
            1_764_254_840_000_000_000,
            1_764_254_840_000_000_001,
            1_764_254_840_999_999_999,
            1_764_254_841_000_000_000,
            9_999_999_999_999_999_999,
            10_000_000_000_000_000_000,
            u64::MAX,
        ];
        for _ in 0..10_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            // Mostly near one another (the cache hits), now and then anywhere.
            let near = values.last().copied().unwrap_or(0).wrapping_add(seed % 3_000_000_000);
            values.push(if seed % 5 == 0 { seed } else { near });
        }
        for t in values {
            assert_eq!(text(|o| stamps.write(o, t)), format!("x{t}"), "{t}");
        }
    }
}
