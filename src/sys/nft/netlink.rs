//! The trace table written and removed over nf_tables netlink (what `nft -f` does, without
//! running it): one batch of messages (a table, its chains, their rules) per family, each message
//! acknowledged. The messages are encoded by netlink-packet-netfilter; which expressions make up
//! a rule is nft's own choice, read from `nft --debug=netlink` (the meta and payload loads, the
//! comparisons, the limit, `meta nftrace set`), so `nft list` prints the table as
//! [`super::script`] writes it (tests/netfilter.rs checks this).

use std::net::IpAddr;
use std::os::fd::{FromRawFd, IntoRawFd};

use netlink_packet_core::{
    DefaultNla, NLM_F_ACK, NLM_F_APPEND, NLM_F_CREATE, NLM_F_REQUEST, NetlinkMessage,
};
use netlink_packet_netfilter::nftables::{
    ChainAttribute, ChainMessage, Cmp, DataAttribute, ExpressionAttribute, Expressions,
    Hook as HookAttribute, HookNumber, Immediate, InetHookNumber, ListAttribute, Meta, MetaKey,
    NfTablesMessage, Operator, Payload, Register, RuleAttribute, RuleMessage, TableAttribute,
    TableMessage,
};
use netlink_packet_netfilter::none::ControlMessage;
use netlink_packet_netfilter::{NetfilterHeader, NetfilterMessage, NetfilterProtoFamily};
use netlink_sys::protocols::NETLINK_NETFILTER;
use netlink_sys::{Socket, SocketAddr};

use super::{CHAINS, Hook, L3, PRIORITY, TRACE_RATE, TraceRule};
use crate::sys::netns::{Netns, socket_in};

/// How long nf_tables may take to answer a batch, in seconds.
const ANSWER_TIMEOUT_S: i64 = 5;
/// `NFNL_SUBSYS_NFTABLES`: the batch's subsystem, in its header.
const SUBSYS_NFTABLES: u16 = 10;
/// `NF_ACCEPT`: the chains' policy.
const ACCEPT: u32 = 1;
/// Payload bases (`NFT_PAYLOAD_*_HEADER`).
const LINK: u32 = 0;
const NETWORK: u32 = 1;
const TRANSPORT: u32 = 2;
/// The limit expression's attributes (`NFTA_LIMIT_*`; netlink-packet-netfilter has no type for
/// it) and its unit, a second.
const LIMIT_RATE: u16 = 1;
const LIMIT_UNIT: u16 = 2;
const LIMIT_BURST: u16 = 3;
const LIMIT_TYPE: u16 = 4;
const LIMIT_FLAGS: u16 = 5;
/// `NFPROTO_IPV4`, `NFPROTO_IPV6`.
const NFPROTO_IPV4: u8 = 2;
const NFPROTO_IPV6: u8 = 10;
/// Ethertypes, as `meta protocol` and the link header hold them.
const ETH_IPV4: [u8; 2] = [0x08, 0x00];
const ETH_IPV6: [u8; 2] = [0x86, 0xdd];
const ETH_ARP: [u8; 2] = [0x08, 0x06];
const UDP: u8 = 17;

/// The families the trace table is made in, as netlink names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Inet,
    Bridge,
}

impl Family {
    fn proto(self) -> NetfilterProtoFamily {
        match self {
            Family::Inet => NetfilterProtoFamily::Inet,
            Family::Bridge => NetfilterProtoFamily::Bridge,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Family::Inet => "inet",
            Family::Bridge => "bridge",
        }
    }
}

/// What failed: the errno the kernel answered (or the socket's error) and what was asked.
#[derive(Debug)]
pub struct Refused {
    pub what: String,
    pub error: std::io::Error,
}

/// The messages that make the trace table `name` in `family`: the table, its chains (all of
/// [`CHAINS`] in `inet`, the first in `bridge`) and their rules.
pub fn table_messages(family: Family, name: &str, rules: &[TraceRule]) -> Vec<NfTablesMessage> {
    let mut out = vec![NfTablesMessage::NewTable(TableMessage {
        attributes: vec![TableAttribute::Name(name.to_owned())],
    })];
    let chains = match family {
        Family::Inet => &CHAINS[..],
        Family::Bridge => &CHAINS[..1],
    };
    for &(chain, hook) in chains {
        // The bridge family's prerouting hook has the number of inet's (NF_BR_PRE_ROUTING).
        let number = match hook {
            Hook::Prerouting => InetHookNumber::PreRouting,
            Hook::Output => InetHookNumber::LocalOut,
        };
        out.push(NfTablesMessage::NewChain(ChainMessage {
            attributes: vec![
                ChainAttribute::Table(name.to_owned()),
                ChainAttribute::Name(chain.to_owned()),
                ChainAttribute::Hook(vec![
                    HookAttribute::Number(HookNumber::Inet(number)),
                    // Two's complement: the kernel reads it as the signed priority.
                    HookAttribute::Priority(u32::from_ne_bytes(PRIORITY.to_ne_bytes())),
                ]),
                ChainAttribute::Policy(ACCEPT),
                ChainAttribute::Type("filter".to_owned()),
            ],
        }));
        for rule in rules.iter().filter(|r| family == Family::Bridge || r.l3 == L3::Ip) {
            out.push(NfTablesMessage::NewRule(RuleMessage {
                attributes: vec![
                    RuleAttribute::Table(name.to_owned()),
                    RuleAttribute::Chain(chain.to_owned()),
                    RuleAttribute::Expressions(expressions(family, rule)),
                ],
            }));
        }
    }
    out
}

/// The expressions of one rule, as nft compiles its text.
fn expressions(family: Family, rule: &TraceRule) -> Vec<ListAttribute<ExpressionAttribute>> {
    let mut e = Vec::new();
    let (src, dst) = (bytes(rule.src), bytes(rule.dst));
    match rule.l3 {
        L3::Ip => {
            let v4 = rule.src.is_ipv4();
            // The dependency nft adds: the network protocol, by family.
            match family {
                Family::Inet => {
                    e.push(meta_load(MetaKey::Nfproto));
                    e.push(equals(vec![if v4 { NFPROTO_IPV4 } else { NFPROTO_IPV6 }]));
                }
                Family::Bridge => {
                    e.push(meta_load(MetaKey::EtherTypeProtocol));
                    e.push(equals(if v4 { ETH_IPV4 } else { ETH_IPV6 }.to_vec()));
                }
            }
            let (saddr, daddr, len) = if v4 { (12, 16, 4) } else { (8, 24, 16) };
            e.push(payload(NETWORK, saddr, len));
            e.push(equals(src));
            e.push(payload(NETWORK, daddr, len));
            e.push(equals(dst));
        }
        L3::Arp => {
            e.push(payload(LINK, 12, 2));
            e.push(equals(ETH_ARP.to_vec()));
            // The sender's and the target's protocol address of an Ethernet/IPv4 ARP.
            e.push(payload(NETWORK, 14, 4));
            e.push(equals(src));
            e.push(payload(NETWORK, 24, 4));
            e.push(equals(dst));
        }
    }
    if let Some(port) = rule.udp_dport {
        e.push(meta_load(MetaKey::L4Proto));
        e.push(equals(vec![UDP]));
        e.push(payload(TRANSPORT, 2, 2));
        e.push(equals(port.to_be_bytes().to_vec()));
    }
    if rule.limited {
        let rate = u64::from(TRACE_RATE).to_be_bytes().to_vec();
        e.push(
            Expressions::Other {
                expression_type: "limit".to_owned(),
                attributes: vec![
                    DefaultNla::new(LIMIT_RATE, rate),
                    DefaultNla::new(LIMIT_UNIT, 1u64.to_be_bytes().to_vec()),
                    DefaultNla::new(LIMIT_BURST, TRACE_RATE.to_be_bytes().to_vec()),
                    // NFT_LIMIT_PKTS, no flags.
                    DefaultNla::new(LIMIT_TYPE, 0u32.to_be_bytes().to_vec()),
                    DefaultNla::new(LIMIT_FLAGS, 0u32.to_be_bytes().to_vec()),
                ],
            }
            .into(),
        );
    }
    e.push(
        Expressions::Immediate(vec![
            Immediate::DestinationRegister(Register::Reg1),
            Immediate::Data(DataAttribute::Value(vec![1])),
        ])
        .into(),
    );
    e.push(
        Expressions::Meta(vec![
            Meta::Key(MetaKey::NftraceBit),
            Meta::SourceRegister(Register::Reg1),
        ])
        .into(),
    );
    e
}

fn bytes(a: IpAddr) -> Vec<u8> {
    match a {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

fn meta_load(key: MetaKey) -> ListAttribute<ExpressionAttribute> {
    Expressions::Meta(vec![Meta::Key(key), Meta::DestinationRegister(Register::Reg1)]).into()
}

fn payload(base: u32, offset: u32, len: u32) -> ListAttribute<ExpressionAttribute> {
    Expressions::Payload(vec![
        Payload::DestinationRegister(Register::Reg1),
        Payload::Base(base),
        Payload::Offset(offset),
        Payload::Len(len),
    ])
    .into()
}

fn equals(value: Vec<u8>) -> ListAttribute<ExpressionAttribute> {
    Expressions::Cmp(vec![
        Cmp::SourceRegister(Register::Reg1),
        Cmp::Op(Operator::Equal),
        Cmp::Data(DataAttribute::Value(value)),
    ])
    .into()
}

/// One batch as sent: its bytes, and how many of its messages await an acknowledgement.
#[derive(Debug)]
pub struct Batch {
    pub bytes: Vec<u8>,
    pub messages: usize,
}

/// One batch: its begin, `messages` in `family` (each asking for an acknowledgement, sequence
/// numbers from 1), its end.
pub fn batch(family: Family, messages: Vec<NfTablesMessage>) -> Batch {
    let count = messages.len();
    let control = |m: ControlMessage| {
        NetfilterMessage::new(
            NetfilterHeader::new(NetfilterProtoFamily::Unspec, 0, SUBSYS_NFTABLES),
            m,
        )
    };
    let mut all = vec![(control(ControlMessage::BatchBegin), NLM_F_REQUEST)];
    for m in messages {
        let flags = match m {
            NfTablesMessage::NewRule(_) => NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_APPEND,
            NfTablesMessage::NewTable(_) | NfTablesMessage::NewChain(_) => {
                NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE
            }
            _ => NLM_F_REQUEST | NLM_F_ACK,
        };
        all.push((NetfilterMessage::new(NetfilterHeader::new(family.proto(), 0, 0), m), flags));
    }
    all.push((control(ControlMessage::BatchEnd), NLM_F_REQUEST));
    let mut out = Vec::new();
    for (seq, (inner, flags)) in (0u32..).zip(all) {
        let mut msg = NetlinkMessage::from(inner);
        msg.header.flags = flags;
        msg.header.sequence_number = seq;
        msg.finalize();
        let start = out.len();
        out.resize(start + msg.buffer_len(), 0);
        if let Some(buf) = out.get_mut(start..) {
            msg.serialize(buf);
        }
    }
    Batch { bytes: out, messages: count }
}

/// The message that removes table `name` (of the family its batch is in).
pub fn delete_message(name: &str) -> NfTablesMessage {
    NfTablesMessage::DeleteTable(TableMessage {
        attributes: vec![TableAttribute::Name(name.to_owned())],
    })
}

/// A netfilter netlink socket inside `ns`, bound and connected to the kernel.
fn socket(ns: &Netns) -> Result<Socket, Refused> {
    let refused = |what: &str, error| Refused { what: what.to_owned(), error };
    let fd = socket_in(ns, NETLINK_NETFILTER).map_err(|e| {
        refused("opening a netfilter socket", std::io::Error::other(format!("{e:#}")))
    })?;
    // An answer that never comes (it always does) must not hang the trace.
    nix::sys::socket::setsockopt(
        &fd,
        nix::sys::socket::sockopt::ReceiveTimeout,
        &nix::sys::time::TimeVal::new(ANSWER_TIMEOUT_S, 0),
    )
    .map_err(|e| refused("setting a netfilter socket's timeout", e.into()))?;
    // SAFETY: `into_raw_fd` hands over ownership of the descriptor to the netlink socket.
    let mut socket = unsafe { Socket::from_raw_fd(fd.into_raw_fd()) };
    socket.bind_auto().map_err(|e| refused("binding a netfilter socket", e))?;
    socket.connect(&SocketAddr::new(0, 0)).map_err(|e| refused("connecting to nf_tables", e))?;
    Ok(socket)
}

/// Send the batches to nf_tables in `ns`, each in turn; each succeeds or fails whole. The
/// result of each, in order: `Err` carries the kernel's errno for the first message it refused.
pub fn send(ns: &Netns, batches: &[Batch]) -> Result<Vec<Result<(), i32>>, Refused> {
    let socket = socket(ns)?;
    batches
        .iter()
        .map(|b| {
            socket
                .send(&b.bytes, 0)
                .map_err(|error| Refused { what: "sending to nf_tables".to_owned(), error })?;
            acknowledged(&socket, b.messages)
        })
        .collect()
}

/// Wait for the acknowledgements of a batch's `messages` (sequence numbers 1 to `messages`):
/// every one asked for one, and the kernel answers each, a refusal included, before the batch
/// is committed or aborted.
fn acknowledged(socket: &Socket, messages: usize) -> Result<Result<(), i32>, Refused> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut answered = 0usize;
    let mut refused = None;
    while answered < messages {
        let n = socket
            .recv(&mut &mut buf[..], 0)
            .map_err(|error| Refused { what: "reading nf_tables' answer".to_owned(), error })?;
        for ack in acks(buf.get(..n).unwrap_or_default()) {
            answered += 1;
            if let Some(errno) = ack.errno {
                refused.get_or_insert(errno);
                // The batch's own header refused (no message of it was looked at).
                if ack.seq == 0 {
                    return Ok(Err(errno));
                }
            }
        }
    }
    Ok(refused.map_or(Ok(()), Err))
}

/// `NLMSG_ERROR`: an acknowledgement (error 0) or a refusal.
const NLMSG_ERROR: u16 = 2;

/// One acknowledgement: the sequence number it answers and the errno of a refusal.
#[derive(Debug, PartialEq, Eq)]
struct Ack {
    seq: u32,
    errno: Option<i32>,
}

/// The acknowledgements in a datagram of netlink messages (read from their headers alone: a
/// refusal echoes the refused message, which need not be decoded); anything else is skipped,
/// and a truncated message ends the datagram.
fn acks(datagram: &[u8]) -> Vec<Ack> {
    let u32_at = |b: &[u8], at: usize| {
        b.get(at..at + 4).and_then(|w| w.try_into().ok()).map(u32::from_ne_bytes)
    };
    let mut out = Vec::new();
    let mut rest = datagram;
    while let Some(len) = u32_at(rest, 0).map(|l| l as usize) {
        let Some(msg) = rest.get(..len).filter(|_| len >= 16) else { break };
        let kind = msg.get(4..6).and_then(|w| w.try_into().ok()).map(u16::from_ne_bytes);
        if kind == Some(NLMSG_ERROR)
            && let (Some(seq), Some(code)) = (u32_at(msg, 8), u32_at(msg, 16))
        {
            let code = i32::from_ne_bytes(code.to_ne_bytes());
            out.push(Ack { seq, errno: (code != 0).then(|| code.saturating_abs()) });
        }
        rest = rest.get((len + 3) & !3..).unwrap_or_default();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A netlink message of `kind`, sequence number `seq`, with `body` after its header.
    fn message(kind: u16, seq: u32, body: &[u8]) -> Vec<u8> {
        let len = u32::try_from(16 + body.len()).unwrap_or(0);
        let mut m = Vec::new();
        m.extend_from_slice(&len.to_ne_bytes());
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(&0u16.to_ne_bytes());
        m.extend_from_slice(&seq.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(body);
        m.resize(m.len().next_multiple_of(4), 0);
        m
    }

    fn error(seq: u32, code: i32) -> Vec<u8> {
        // The error code, then the header of the message it answers.
        let mut body = code.to_ne_bytes().to_vec();
        body.extend_from_slice(&message(0xa06, seq, &[])[..16]);
        message(NLMSG_ERROR, seq, &body)
    }

    #[test]
    fn acknowledgements_and_refusals_are_read_from_the_headers() {
        let mut datagram = error(1, 0);
        datagram.extend(message(0xa10, 7, b"other")); // not an answer: skipped
        datagram.extend(error(2, -libc::ENOENT));
        datagram.extend(error(3, 0));
        assert_eq!(
            acks(&datagram),
            vec![
                Ack { seq: 1, errno: None },
                Ack { seq: 2, errno: Some(libc::ENOENT) },
                Ack { seq: 3, errno: None },
            ]
        );
        // Cut anywhere: what is whole is read, never a panic.
        for cut in 0..datagram.len() {
            assert!(acks(&datagram[..cut]).len() <= 3);
        }
        assert_eq!(acks(&datagram[..error(1, 0).len()]), vec![Ack { seq: 1, errno: None }]);
        // A length below a header's ends the datagram instead of looping.
        assert_eq!(acks(&message(NLMSG_ERROR, 1, &[])[..4].repeat(3)), vec![]);
    }

    #[test]
    fn a_batch_is_begin_messages_end_with_acknowledged_sequence_numbers() {
        let rules = super::super::rules(super::super::Flow {
            a: [10, 0, 0, 1].into(),
            b: [10, 0, 0, 2].into(),
            tunnel: None,
        })
        .1;
        let messages = table_messages(Family::Bridge, "t", &rules);
        // The table, its one chain, the flow's two IP rules and two ARP rules.
        assert_eq!(messages.len(), 6);
        let sent = batch(Family::Bridge, messages);
        assert_eq!(sent.messages, 6);
        let mut kinds = Vec::new();
        let mut rest = &sent.bytes[..];
        while rest.len() >= 16 {
            let len = u32::from_ne_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
            let kind = u16::from_ne_bytes([rest[4], rest[5]]);
            let flags = u16::from_ne_bytes([rest[6], rest[7]]);
            let seq = u32::from_ne_bytes([rest[8], rest[9], rest[10], rest[11]]);
            kinds.push((kind, flags & NLM_F_ACK != 0, seq));
            rest = &rest[len.next_multiple_of(4)..];
        }
        assert_eq!(
            kinds,
            vec![
                (0x10, false, 0), // batch begin
                (0xa00, true, 1), // new table
                (0xa03, true, 2), // new chain
                (0xa06, true, 3), // new rule ×4
                (0xa06, true, 4),
                (0xa06, true, 5),
                (0xa06, true, 6),
                (0x11, false, 7), // batch end
            ]
        );
    }
}
