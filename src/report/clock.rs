//! Calendar time for people, by chrono: times of day of timestamps (nanoseconds since the Unix
//! epoch) and the date-and-time stamp of file names, in local time by default (as tcpdump shows
//! them) or in UTC (`--utc`). JSON never comes here: it keeps integer nanoseconds.
//!
//! The clock is a plain value ([`Zone`]) handed to each renderer by the command that made it.

use std::fmt::Write as _;

use chrono::{DateTime, Local, NaiveDateTime, Utc};

use crate::report::decimal;

const NS: u64 = 1_000_000_000;

/// Which clock times are read on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Zone {
    /// The local time zone (`TZ`, else /etc/localtime), as tcpdump shows times.
    #[default]
    Local,
    Utc,
}

impl Zone {
    /// UTC when `utc` (`--utc`), else local time.
    pub fn utc_if(utc: bool) -> Zone {
        if utc { Zone::Utc } else { Zone::Local }
    }

    /// The calendar date and time of `secs` and `nanos` since the epoch on this clock.
    fn at(self, secs: u64, nanos: u32) -> NaiveDateTime {
        // Any u64 of nanoseconds is within chrono's range (up to the year 2554).
        let utc = i64::try_from(secs)
            .ok()
            .and_then(|s| DateTime::<Utc>::from_timestamp(s, nanos))
            .unwrap_or_default();
        match self {
            Zone::Utc => utc.naive_utc(),
            Zone::Local => utc.with_timezone(&Local).naive_local(),
        }
    }

    fn at_ns(self, t_ns: u64) -> NaiveDateTime {
        self.at(t_ns / NS, (t_ns % NS) as u32)
    }

    /// `20:47:20.721234259`: the time of day of `t_ns`, to the nanosecond.
    pub fn time_of_day(self, t_ns: u64) -> String {
        self.at_ns(t_ns).format("%H:%M:%S%.9f").to_string()
    }

    /// `20:47:20.721234`: the time of day of `t_ns`, to the microsecond.
    pub fn time_of_day_us(self, t_ns: u64) -> String {
        self.at_ns(t_ns).format("%H:%M:%S%.6f").to_string()
    }

    /// `20261127-230509`: the date and time of `unix_secs`, for file names.
    pub fn file_stamp(self, unix_secs: u64) -> String {
        self.at(unix_secs, 0).format("%Y%m%d-%H%M%S").to_string()
    }
}

/// Times of day `HH:MM:SS.nnnnnnnnn` appended to a buffer, for reports of millions of packets
/// or exchanges: the calendar is looked up once per second of capture, not once per line.
#[derive(Debug, Clone)]
pub struct TimeOfDay {
    zone: Zone,
    /// The second whose `HH:MM:SS` is in `hms`.
    second: Option<u64>,
    hms: String,
}

impl TimeOfDay {
    pub fn new(zone: Zone) -> TimeOfDay {
        TimeOfDay { zone, second: None, hms: String::with_capacity(8) }
    }

    /// `HH:MM:SS` of the second `t_ns` falls in.
    fn hms(&mut self, t_ns: u64) -> &str {
        let second = t_ns / NS;
        if self.second != Some(second) {
            self.hms.clear();
            let _ = write!(self.hms, "{}", self.zone.at(second, 0).format("%H:%M:%S"));
            self.second = Some(second);
        }
        &self.hms
    }

    /// Append the time of day of `t_ns` to bytes.
    pub fn write(&mut self, out: &mut Vec<u8>, t_ns: u64) {
        out.extend_from_slice(self.hms(t_ns).as_bytes());
        out.push(b'.');
        decimal::padded(out, t_ns % NS, 9);
    }

    /// Append the time of day of `t_ns` to text.
    pub fn push(&mut self, out: &mut String, t_ns: u64) {
        out.push_str(self.hms(t_ns));
        let _ = write!(out, ".{:09}", t_ns % NS);
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;

    /// 2026-11-27 18:52:06.721234259 UTC.
    const T: u64 = 1_795_805_526_721_234_259;

    #[test]
    fn utc() {
        assert_eq!(Zone::Utc.time_of_day(T), "18:52:06.721234259");
        assert_eq!(Zone::Utc.time_of_day_us(T), "18:52:06.721234");
        assert_eq!(Zone::Utc.time_of_day(5), "00:00:00.000000005");
        assert_eq!(Zone::Utc.file_stamp(1_795_820_709), "20261127-230509");
        // The largest timestamp there is still has a time of day.
        assert_eq!(Zone::Utc.time_of_day(u64::MAX), "23:34:33.709551615");
        let mut out = Vec::new();
        let mut clock = TimeOfDay::new(Zone::Utc);
        for t in [T, T + 1, T + NS - T % NS, 42] {
            clock.write(&mut out, t);
            out.push(b' ');
        }
        assert_eq!(
            String::from_utf8_lossy(&out),
            "18:52:06.721234259 18:52:06.721234260 18:52:07.000000000 00:00:00.000000042 "
        );
        let mut text = String::new();
        clock.push(&mut text, T);
        clock.push(&mut text, T + 1);
        assert_eq!(text, "18:52:06.72123425918:52:06.721234260");
    }

    #[test]
    fn local_time_is_the_offset_chrono_finds() {
        // Whatever the zone of the machine running the tests: local time is UTC moved by the
        // offset of the local zone at that instant.
        let offset = Local
            .timestamp_opt(i64::try_from(T / NS).unwrap_or_default(), 0)
            .single()
            .map_or(0, |t| t.offset().local_minus_utc());
        let local = |zone: Zone| zone.at_ns(T);
        assert_eq!(
            local(Zone::Local) - local(Zone::Utc),
            chrono::TimeDelta::seconds(i64::from(offset))
        );
        let mut out = Vec::new();
        let mut clock = TimeOfDay::new(Zone::Local);
        clock.write(&mut out, T);
        assert_eq!(String::from_utf8_lossy(&out), Zone::Local.time_of_day(T));
        let mut text = String::new();
        clock.push(&mut text, T);
        assert_eq!(text, Zone::Local.time_of_day(T));
        assert_eq!(Zone::default(), Zone::Local);
        assert_eq!((Zone::utc_if(true), Zone::utc_if(false)), (Zone::Utc, Zone::Local));
    }
}
