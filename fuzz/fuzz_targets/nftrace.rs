//! The nftables trace decoder on arbitrary netlink datagrams, and the packet key read from each
//! decoded event's network header: events or an error, never a panic. A message that decodes
//! is peeked at alike (what a session's listener reads first).
#![no_main]

use libfuzzer_sys::fuzz_target;
use vtrace::sys::nftrace::decode::{decode_datagram, decode_trace, peek, trace_bodies};

fuzz_target!(|data: &[u8]| {
    for body in trace_bodies(data).flatten() {
        let peeked = peek(body);
        if let Ok(ev) = decode_trace(body) {
            let p = peeked.expect("a message that decodes is peeked at");
            assert_eq!((String::from_utf8_lossy(p.table), p.id), (ev.table.as_str().into(), ev.id));
            assert_eq!(p.network_header, ev.network_header.as_slice());
        }
    }
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
