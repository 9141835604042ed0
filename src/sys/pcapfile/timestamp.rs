//! Turning pcapng timestamp ticks into nanoseconds since the Unix epoch.
//!
//! pcapng counts time in ticks of `if_tsresol` (10^-k or 2^-k seconds, default 10^-6) plus an
//! `if_tsoffset` in whole seconds. This module does that arithmetic once per interface
//! ([`Clock::new`]) so that per-packet conversion is one multiply, divide or shift, and saturates
//! instead of overflowing on hostile values. It does no parsing.

const NS_PER_S: u64 = 1_000_000_000;

/// How ticks of one interface become nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scale {
    /// ns = ticks * m
    Mul(u64),
    /// ns = ticks / d
    Div(u64),
    /// ns = ticks * 10^9 / 2^k (computed in 128 bits)
    Pow2(u32),
    /// The resolution is so fine that every 64-bit tick count is below one nanosecond.
    Zero,
}

/// The clock of one pcapng interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    scale: Scale,
    /// `if_tsoffset` in seconds.
    offset_s: i64,
}

impl Default for Clock {
    /// Microseconds, no offset: the pcapng default.
    fn default() -> Self {
        Clock::new(6, 0)
    }
}

impl Clock {
    /// From the raw `if_tsresol` byte (high bit set: power of 2, else power of 10) and
    /// `if_tsoffset`.
    pub fn new(tsresol: u8, offset_s: i64) -> Self {
        let exp = u32::from(tsresol & 0x7f);
        let scale = if tsresol & 0x80 != 0 {
            Scale::Pow2(exp)
        } else if exp <= 9 {
            Scale::Mul(10u64.pow(9 - exp))
        } else if exp - 9 <= 19 {
            Scale::Div(10u64.pow(exp - 9))
        } else {
            Scale::Zero
        };
        Clock { scale, offset_s }
    }

    /// Nanoseconds since the epoch for a tick count, saturating at 0 and `u64::MAX`.
    #[inline(always)]
    pub fn to_ns(self, ticks: u64) -> u64 {
        // The common case (µs or ns ticks, no offset) inline; the rest out of line.
        if let (Scale::Mul(m), 0) = (self.scale, self.offset_s) {
            return ticks.saturating_mul(m);
        }
        self.to_ns_general(ticks)
    }

    #[inline(never)]
    fn to_ns_general(self, ticks: u64) -> u64 {
        let ns = match self.scale {
            Scale::Mul(m) => ticks.saturating_mul(m),
            Scale::Div(d) => ticks / d,
            Scale::Pow2(k) => {
                let wide = (u128::from(ticks) * u128::from(NS_PER_S)) >> k;
                u64::try_from(wide).unwrap_or(u64::MAX)
            }
            Scale::Zero => 0,
        };
        if self.offset_s == 0 {
            return ns;
        }
        let off = i128::from(self.offset_s) * i128::from(NS_PER_S);
        let total = i128::from(ns) + off;
        u64::try_from(total.max(0)).unwrap_or(u64::MAX)
    }
}

/// Classic pcap: seconds plus a fraction in µs or ns (a fraction ≥ 1 s is carried, as tshark does).
#[inline]
pub fn pcap_ns(secs: u32, frac: u32, nanos: bool) -> u64 {
    let frac_ns = if nanos { u64::from(frac) } else { u64::from(frac) * 1000 };
    u64::from(secs) * NS_PER_S + frac_ns
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn powers_of_ten() {
        assert_eq!(Clock::new(6, 0).to_ns(1_500_000), 1_500_000_000);
        assert_eq!(Clock::new(9, 0).to_ns(123), 123);
        assert_eq!(Clock::new(0, 0).to_ns(2), 2_000_000_000);
        assert_eq!(Clock::new(12, 0).to_ns(123_456), 123);
        assert_eq!(Clock::new(60, 0).to_ns(u64::MAX), 0);
        assert_eq!(Clock::new(0, 0).to_ns(u64::MAX), u64::MAX);
    }

    #[test]
    fn powers_of_two() {
        // 2^-10 s ticks: 1024 ticks = 1 s.
        assert_eq!(Clock::new(0x80 | 10, 0).to_ns(1024), 1_000_000_000);
        assert_eq!(Clock::new(0x80 | 10, 0).to_ns(1), 976_562);
        // 2^0: whole seconds.
        assert_eq!(Clock::new(0x80, 0).to_ns(3), 3_000_000_000);
        assert_eq!(Clock::new(0xff, 0).to_ns(u64::MAX), 0);
        assert_eq!(Clock::new(0x80, 0).to_ns(u64::MAX), u64::MAX);
    }

    #[test]
    fn offsets_saturate_both_ways() {
        assert_eq!(Clock::new(9, 10).to_ns(5), 10_000_000_005);
        assert_eq!(Clock::new(9, -10).to_ns(5), 0);
        assert_eq!(Clock::new(9, -1).to_ns(1_000_000_007), 7);
        assert_eq!(Clock::new(9, i64::MAX).to_ns(0), u64::MAX);
    }

    #[test]
    fn pcap_fractions() {
        assert_eq!(pcap_ns(1, 2, false), 1_000_002_000);
        assert_eq!(pcap_ns(1, 2, true), 1_000_000_002);
        assert_eq!(
            pcap_ns(u32::MAX, u32::MAX, false),
            4_294_967_295_000_000_000 + 4_294_967_295_000
        );
    }
}
