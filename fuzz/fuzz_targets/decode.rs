//! The packet decoder on arbitrary frames: the first byte picks the link type, the rest is the
//! frame. It never panics, whatever the bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vtrace::core::decode::decode;
use vtrace::core::frame::{Frame, LinkType};

const LINKTYPES: [LinkType; 13] = [
    LinkType::ETHERNET,
    LinkType::NULL,
    LinkType::PPP,
    LinkType::RAW,
    LinkType::RAW_BSD12,
    LinkType::RAW_BSD14,
    LinkType::LINUX_SLL,
    LinkType::LOOP,
    LinkType::IPV4,
    LinkType::IPV6,
    LinkType::LINUX_SLL2,
    LinkType(105), // 802.11, unknown to the decoder
    LinkType(u16::MAX),
];

fuzz_target!(|data: &[u8]| {
    let Some((&sel, bytes)) = data.split_first() else { return };
    let linktype = LINKTYPES[usize::from(sel) % LINKTYPES.len()];
    let frame = Frame { ifid: 0, t_ns: 1, len: bytes.len() as u32, linktype, data: bytes };
    let p = decode(&frame);
    let _ = format!("{p:?}");
});
