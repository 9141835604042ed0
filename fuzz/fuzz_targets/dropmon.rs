//! The tracefs parsers on arbitrary text: the part before the first NUL byte is a `kfree_skb`
//! `format` file, the rest `trace_pipe` lines. Reasons and events or nothing, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vtrace::sys::dropmon::{parse_line, parse_reasons};

fuzz_target!(|data: &[u8]| {
    let (format, lines) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&data[..0], data),
    };
    let reasons = parse_reasons(&String::from_utf8_lossy(format));
    let text = String::from_utf8_lossy(lines);
    for (i, line) in text.lines().enumerate() {
        let offset = match i % 3 {
            0 => 0,
            1 => i128::from(i64::MAX),
            _ => i128::from(i64::MIN),
        };
        let _ = parse_line(line, &reasons, offset);
    }
});
