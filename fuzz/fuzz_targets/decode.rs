//! The packet decoder on arbitrary frames: the first byte picks the link type, the rest is the
//! frame. It never panics, whatever the bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vtrace::core::decode::decode;
use vtrace::core::frame::{Frame, LinkType};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, bytes)) = data.split_first() else { return };
    let linktype = LinkType::FUZZ_SELECTION[usize::from(sel) % LinkType::FUZZ_SELECTION.len()];
    let frame = Frame { ifid: 0, t_ns: 1, len: bytes.len() as u32, linktype, data: bytes };
    let p = decode(&frame);
    let _ = format!("{p:?}");
});
