//! The tracefs parsers on arbitrary bytes: the part before the first NUL byte is a `kfree_skb`
//! `format` file, the rest `trace_pipe` lines and, cut in 4 KiB pages, `trace_pipe_raw` pages
//! (decoded with the format's layout, or one of this kernel's). Reasons and events or nothing,
//! never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vtrace::sys::dropmon::{Decoder, Layout, parse_line, parse_reasons, records};

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
    let format = String::from_utf8_lossy(format);
    let layout = Layout::parse(&format).or_else(|| {
        Layout::parse(
            "ID: 1533\n\tfield:void * location;\toffset:16;\tsize:8;\n\
             \tfield:unsigned short protocol;\toffset:32;\tsize:2;\n\
             \tfield:enum skb_drop_reason reason;\toffset:36;\tsize:4;\n",
        )
    });
    if let Some(layout) = layout {
        // Locations left as addresses: nothing reads the kernel's symbols.
        let mut decoder = Decoder::new(layout, reasons, 0, true);
        for page in lines.chunks(4096) {
            for (t, record) in records(page) {
                let _ = decoder.event(t, record);
            }
        }
    }
});
