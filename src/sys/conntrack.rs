//! The conntrack table of a namespace, over netlink (`conntrack -L`): a dump request on a
//! NETLINK_NETFILTER socket opened inside the namespace, its entries decoded by
//! netlink-packet-netfilter into [`CtEntry`]. Only reads.

use std::net::IpAddr;
use std::os::fd::{FromRawFd, IntoRawFd};

use anyhow::{Context, Result, anyhow};
use netlink_packet_core::{
    NLM_F_DUMP, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_netfilter::conntrack::{
    ConntrackAttribute, ConntrackMessage, IPTuple, ProtoTuple, Protocol, Tuple,
};
use netlink_packet_netfilter::{
    NetfilterHeader, NetfilterMessage, NetfilterMessageInner, NetfilterProtoFamily,
};
use netlink_sys::protocols::NETLINK_NETFILTER;
use netlink_sys::{Socket, SocketAddr};

use crate::core::topology::nat::{CtEntry, CtTuple};
use crate::sys::netns::{Netns, socket_in};

/// Every IPv4 and IPv6 conntrack entry of `ns`.
pub fn dump(ns: &Netns) -> Result<Vec<CtEntry>> {
    let fd = socket_in(ns, NETLINK_NETFILTER)
        .with_context(|| format!("opening a netfilter socket in {}", ns.path().display()))?;
    // SAFETY: `into_raw_fd` hands over ownership of the descriptor to the netlink socket.
    let mut socket = unsafe { Socket::from_raw_fd(fd.into_raw_fd()) };
    socket.bind_auto().context("binding the netfilter socket")?;
    socket.connect(&SocketAddr::new(0, 0)).context("connecting the netfilter socket")?;
    let mut out = Vec::new();
    for family in [NetfilterProtoFamily::IPv4, NetfilterProtoFamily::IPv6] {
        request(&socket, family)?;
        receive(&socket, &mut out)?;
    }
    Ok(out)
}

fn request(socket: &Socket, family: NetfilterProtoFamily) -> Result<()> {
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    let mut msg = NetlinkMessage::new(
        header,
        NetlinkPayload::from(NetfilterMessage::new(
            NetfilterHeader::new(family, 0, 0),
            ConntrackMessage::Get(vec![]),
        )),
    );
    msg.finalize();
    let mut buf = vec![0; msg.buffer_len()];
    msg.serialize(&mut buf);
    socket.send(&buf, 0).context("asking for the conntrack table")?;
    Ok(())
}

/// Read the dump's messages until it is done.
fn receive(socket: &Socket, out: &mut Vec<CtEntry>) -> Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = socket.recv(&mut &mut buf[..], 0).context("reading the conntrack table")?;
        let mut offset = 0;
        while offset < n {
            let bytes = buf.get(offset..n).unwrap_or_default();
            let msg = NetlinkMessage::<NetfilterMessage>::deserialize(bytes)
                .map_err(|e| anyhow!("decoding a conntrack message: {e}"))?;
            let len = msg.header.length as usize;
            match msg.payload {
                NetlinkPayload::Done(_) => return Ok(()),
                NetlinkPayload::Error(e) if e.code.is_some() => {
                    return Err(anyhow!("the conntrack dump failed: {e}"));
                }
                NetlinkPayload::InnerMessage(m) => {
                    if let NetfilterMessageInner::Conntrack(ConntrackMessage::New(attrs)) = m.inner
                        && let Some(e) = entry(&attrs)
                    {
                        out.push(e);
                    }
                }
                _ => {}
            }
            if len == 0 {
                break;
            }
            offset += len;
        }
    }
}

fn entry(attrs: &[ConntrackAttribute]) -> Option<CtEntry> {
    let (mut original, mut reply, mut proto) = (None, None, 0);
    for a in attrs {
        match a {
            ConntrackAttribute::CtaTupleOrig(t) => original = tuple(t, &mut proto),
            ConntrackAttribute::CtaTupleReply(t) => reply = tuple(t, &mut proto),
            _ => {}
        }
    }
    Some(CtEntry { proto, original: original?, reply: reply? })
}

fn tuple(parts: &[Tuple], proto: &mut u8) -> Option<CtTuple> {
    let (mut src, mut dst): (Option<IpAddr>, Option<IpAddr>) = (None, None);
    let (mut sport, mut dport) = (None, None);
    for p in parts {
        match p {
            Tuple::Ip(ips) => {
                for ip in ips {
                    match ip {
                        IPTuple::SourceAddress(a) => src = Some(*a),
                        IPTuple::DestinationAddress(a) => dst = Some(*a),
                        _ => {}
                    }
                }
            }
            Tuple::Proto(ps) => {
                for x in ps {
                    match x {
                        ProtoTuple::Protocol(p) => *proto = u8::from(*p),
                        ProtoTuple::SourcePort(port) => sport = Some(*port),
                        ProtoTuple::DestinationPort(port) => dport = Some(*port),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    if matches!(Protocol::from(*proto), Protocol::Icmp | Protocol::Ipv6Icmp) {
        (sport, dport) = (None, None);
    }
    Some(CtTuple { src: src?, dst: dst?, sport, dport })
}
