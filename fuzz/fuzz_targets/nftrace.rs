//! The nftables trace decoder on arbitrary netlink datagrams, and the packet key read from each
//! decoded event's network header: events or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vtrace::sys::nftrace::decode::decode_datagram;

fuzz_target!(|data: &[u8]| {
    match decode_datagram(data) {
        Ok(events) => {
            for ev in events {
                let _ = ev.key();
                let _ = ev.decision();
                let _ = ev.is_drop();
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
