//! The pcap/pcapng reader on arbitrary bytes: every frame it hands out lies inside the input,
//! and reading ends in `None` or an error, never a panic, a hang or an allocation a length field
//! sized.
#![no_main]

use std::io::Cursor;
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use vtrace::sys::pcapfile::CaptureReader;

fuzz_target!(|data: &[u8]| {
    let Ok(mut reader) =
        CaptureReader::from_read(Box::new(Cursor::new(data.to_vec())), Path::new("fuzz"))
    else {
        return;
    };
    let _ = reader.format();
    let mut frames = 0u64;
    loop {
        match reader.next_frame() {
            Ok(Some(frame)) => {
                assert!(frame.data.len() <= data.len(), "a frame larger than the input");
                frames += 1;
            }
            Ok(None) => break,
            Err(e) => {
                let _ = e.to_string();
                // After an error the reader is finished.
                assert!(matches!(reader.next_frame(), Ok(None)));
                break;
            }
        }
    }
    assert_eq!(frames, reader.frames_read());
    for iface in reader.interfaces() {
        let _ = (&iface.name, &iface.description, iface.kernel_drops);
    }
});
