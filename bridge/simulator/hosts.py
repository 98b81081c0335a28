"""The simulated operator network's services as pure functions of packets.

A DNS server (RFC 1035) answering A and AAAA from ``NetworkPlan.names``, the gateway's
Router Advertisement (RFC 4861, RFC 4862 SLAAC), and ``LocalResponder``: the hosts of the
plan answering by themselves (ICMP/ICMPv6 echo, UDP echo on port 7 (RFC 862), DNS on port
53) when the simulator cannot build a network namespace with real ones, also for the
modem's own sockets and pings (``LocalStackNetwork``). Plus the network-initiated ping
(``echo_request`` / ``match_echo_reply``).

Pure like ``netstack``: no I/O, clocks or randomness; whole IP packets in, whole IP packets
out. Nothing here raises on the peer's bytes: garbage gives None, False or [].
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from enum import IntEnum
from ipaddress import IPv4Address, IPv6Address, IPv6Network

from netstack.errors import MalformedPacket
from netstack.ipwire import (
    IcmpType,
    IpAddress,
    IpPacket,
    IpProtocol,
    build_icmp_echo,
    build_icmpv6,
    build_udp,
    echo_reply,
    parse_icmp_echo,
    parse_ip,
    parse_udp,
    verify_icmp_checksum,
)

from .plan import DEFAULT_PLAN, NetworkPlan
from .socket_events import PING_PAYLOAD, DatagramIn, NetworkEvent, PingReply, SendDatagram, SendPing

# --- DNS (RFC 1035) ---------------------------------------------------------------------


class DnsRcode(IntEnum):
    """DNS RCODE values (RFC 1035 4.1.1)."""

    NOERROR = 0
    FORMERR = 1
    NXDOMAIN = 3
    NOTIMP = 4


class DnsType(IntEnum):
    """The record types served (RFC 1035 3.2.2, RFC 3596 2.1)."""

    A = 1
    AAAA = 28


DNS_CLASS_IN = 1  # RFC 1035 3.2.4
DNS_TTL = 60
DNS_PORT = 53
UDP_ECHO_PORT = 7  # RFC 862
_DNS_HEADER = struct.Struct("!HHHHHH")
_QUESTION_TAIL = struct.Struct("!HH")
_ANSWER = struct.Struct("!HHHIH")
# RFC 1035 4.1.1 header flags.
_QR, _AA, _RD, _RA = 0x8000, 0x0400, 0x0100, 0x0080
_OPCODE_SHIFT, _OPCODE_QUERY = 11, 0
_POINTER = 0xC0
_QUESTION_NAME_POINTER = 0xC000 | _DNS_HEADER.size  # RFC 1035 4.1.4: the name at offset 12
_MAX_NAME = 255  # RFC 1035 2.3.4, counting length octets and the root

Labels = tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class _Question:
    labels: Labels
    """As sent, case preserved (RFC 4343 4.1: the response echoes the query's case)."""
    qtype: int
    qclass: int


def dns_response(query: bytes, plan: NetworkPlan = DEFAULT_PLAN) -> bytes | None:
    """The authoritative answer of the simulated DNS server to one query message (RFC 1035
    4.1), or None when there is nothing to answer: shorter than a header, or a response.

    A and AAAA of class IN come from ``plan.names`` (ASCII case-insensitive, RFC 4343),
    TTL 60, AA and RA set, RD copied. A name with no record of the type, or one that only
    has names below it (RFC 8020), gets NOERROR with no answer; an unknown name NXDOMAIN
    (without the SOA of RFC 2308: the simulator wants no negative caching). Opcodes other
    than QUERY get NOTIMP, a question count other than 1 or an unreadable question FORMERR.
    Additional records (an EDNS OPT) are ignored and none is sent back, which RFC 6891 7
    reads as "no EDNS". Never raises.
    """
    if len(query) < _DNS_HEADER.size:
        return None
    ident, flags, qdcount, _, _, _ = _DNS_HEADER.unpack_from(query)
    if flags & _QR:
        return None
    if (flags >> _OPCODE_SHIFT) & 0xF != _OPCODE_QUERY:
        return _dns_header(ident, flags, DnsRcode.NOTIMP)
    try:
        if qdcount != 1:
            raise MalformedPacket(f"QDCOUNT {qdcount}")
        question = _parse_question(query)
    except MalformedPacket:
        return _dns_header(ident, flags, DnsRcode.FORMERR)
    return _dns_answer(ident, flags, question, plan)


def _dns_header(ident: int, query_flags: int, rcode: int, qd: int = 0, an: int = 0) -> bytes:
    flags = _QR | (query_flags & (0xF << _OPCODE_SHIFT)) | (query_flags & _RD) | _RA | rcode
    if rcode in (DnsRcode.NOERROR, DnsRcode.NXDOMAIN):
        flags |= _AA
    return _DNS_HEADER.pack(ident, flags, qd, an, 0, 0)


def _parse_question(message: bytes) -> _Question:
    labels, offset = _read_name(message, _DNS_HEADER.size)
    if offset + _QUESTION_TAIL.size > len(message):
        raise MalformedPacket("question without QTYPE/QCLASS")
    qtype, qclass = _QUESTION_TAIL.unpack_from(message, offset)
    return _Question(labels, qtype, qclass)


def _read_name(message: bytes, offset: int) -> tuple[Labels, int]:
    """The labels of the domain name at ``offset`` and the offset after it (RFC 1035
    3.1, 4.1.4). A compression pointer must point before every octet of the name read so
    far, so each one moves strictly backwards and the walk always ends; the name's length
    is bounded by RFC 1035 2.3.4."""
    labels: list[bytes] = []
    end: int | None = None
    lowest, size = offset, 1
    while True:
        if offset >= len(message):
            raise MalformedPacket("name runs past the message")
        length = message[offset]
        if length & _POINTER == _POINTER:
            target = _pointer_target(message, offset, lowest)
            end = offset + 2 if end is None else end
            offset = lowest = target
        elif length & _POINTER:
            raise MalformedPacket(f"label type {length >> 6:#x}")  # RFC 6891 5: obsolete
        elif length == 0:
            return tuple(labels), offset + 1 if end is None else end
        else:
            size += length + 1
            label = message[offset + 1 : offset + 1 + length]
            if len(label) < length or size > _MAX_NAME:
                raise MalformedPacket("label runs past the message or name too long")
            labels.append(label)
            offset += 1 + length


def _pointer_target(message: bytes, offset: int, lowest: int) -> int:
    if offset + 2 > len(message):
        raise MalformedPacket("truncated compression pointer")
    target = int.from_bytes(message[offset : offset + 2], "big") & 0x3FFF
    if target >= lowest:
        raise MalformedPacket("compression pointer does not point backwards")
    return target


def _dns_answer(ident: int, flags: int, question: _Question, plan: NetworkPlan) -> bytes:
    records = _records(plan)
    key = tuple(label.lower() for label in question.labels)
    rdata: tuple[bytes, ...] = ()
    if key in records and question.qclass == DNS_CLASS_IN:
        rdata = records[key].get(question.qtype, ())
    exists = any(name[len(name) - len(key) :] == key for name in records)
    rcode = DnsRcode.NOERROR if exists else DnsRcode.NXDOMAIN
    header = _dns_header(ident, flags, rcode, qd=1, an=len(rdata))
    return header + _encode_question(question) + b"".join(_encode_answer(question, rdata))


def _records(plan: NetworkPlan) -> dict[Labels, dict[int, tuple[bytes, ...]]]:
    """``plan.names`` as lower-case labels -> {type: rdata}; a trailing dot is tolerated."""
    table: dict[Labels, dict[int, tuple[bytes, ...]]] = {}
    for name, (v4, v6) in plan.names.items():
        labels = tuple(name.rstrip(".").lower().encode("ascii").split(b"."))
        table[labels] = {
            DnsType.A: tuple(a.packed for a in v4),
            DnsType.AAAA: tuple(a.packed for a in v6),
        }
    return table


def _encode_question(question: _Question) -> bytes:
    name = b"".join(bytes([len(label)]) + label for label in question.labels) + b"\0"
    return name + _QUESTION_TAIL.pack(question.qtype, question.qclass)


def _encode_answer(question: _Question, rdata: tuple[bytes, ...]) -> Iterator[bytes]:
    for data in rdata:
        yield _ANSWER.pack(_QUESTION_NAME_POINTER, question.qtype, DNS_CLASS_IN, DNS_TTL, len(data))
        yield data


# --- Router Advertisement (RFC 4861) -----------------------------------------------------

ALL_NODES = IPv6Address("ff02::1")
ND_HOP_LIMIT = 255  # RFC 4861 6.1.1, 6.1.2: proves the packet was not forwarded
_RA_HEADER = struct.Struct("!BBHBBHII")  # RFC 4861 4.2
_RS_HEADER_LEN = 8  # RFC 4861 4.1
_PREFIX_OPTION = struct.Struct("!BBBBIII16s")  # RFC 4861 4.6.2
_MTU_OPTION = struct.Struct("!BBHI")  # RFC 4861 4.6.4
_OPTION_SOURCE_LINK_LAYER, _OPTION_PREFIX, _OPTION_MTU = 1, 3, 5
_PREFIX_ON_LINK, _PREFIX_AUTONOMOUS = 0x80, 0x40  # the L and A flags


@dataclass(frozen=True, slots=True)
class RouterAdvertisement:
    """What the simulated gateway advertises (RFC 4861 4.2, 4.6.2, 4.6.4); M=0, O=0: the
    client configures itself by SLAAC (RFC 4862) and learns DNS elsewhere."""

    cur_hop_limit: int = 64
    """Cur Hop Limit for the client's packets (0 would mean unspecified)."""
    router_lifetime: int = 1800
    """Seconds the gateway stays a default router (RFC 4861 6.2.1 default 3 x 600)."""
    valid_lifetime: int = 86400
    """Prefix Information Valid Lifetime, seconds."""
    preferred_lifetime: int = 14400
    """Prefix Information Preferred Lifetime, seconds."""
    mtu: int = 1500
    """The MTU option's value."""


DEFAULT_RA = RouterAdvertisement()


def router_advertisement(
    plan: NetworkPlan = DEFAULT_PLAN,
    dst: IPv6Address = ALL_NODES,
    settings: RouterAdvertisement = DEFAULT_RA,
) -> bytes:
    """The whole IPv6 packet of the gateway's Router Advertisement: from its link-local
    address with hop limit 255 (RFC 4861 6.1.2), one Prefix Information option for
    ``plan.client_prefix`` with L=1 and A=1, and an MTU option."""
    message = _RA_HEADER.pack(
        IcmpType.ROUTER_ADVERTISEMENT,
        0,  # Code
        0,  # Checksum, filled in by build_icmpv6
        settings.cur_hop_limit,
        0,  # M=0, O=0: addresses by SLAAC, no DHCPv6
        settings.router_lifetime,
        0,  # Reachable Time: unspecified
        0,  # Retrans Timer: unspecified
    )
    options = _prefix_option(plan.client_prefix, settings) + _MTU_OPTION.pack(
        _OPTION_MTU, _MTU_OPTION.size // 8, 0, settings.mtu
    )
    return build_icmpv6(plan.gateway_link_local, dst, message + options, ND_HOP_LIMIT)


def _prefix_option(prefix: IPv6Network, settings: RouterAdvertisement) -> bytes:
    """RFC 4861 4.6.2 with L=1 (on-link) and A=1 (RFC 4862 5.5.3: form an address)."""
    return _PREFIX_OPTION.pack(
        _OPTION_PREFIX,
        _PREFIX_OPTION.size // 8,  # Length in units of 8 octets
        prefix.prefixlen,
        _PREFIX_ON_LINK | _PREFIX_AUTONOMOUS,
        settings.valid_lifetime,
        settings.preferred_lifetime,
        0,  # Reserved2
        prefix.network_address.packed,
    )


def is_router_solicitation(packet: bytes) -> bool:
    """Whether ``packet`` is a valid Router Solicitation (RFC 4861 4.1, 6.1.1)."""
    try:
        return _is_router_solicitation(parse_ip(packet))
    except MalformedPacket:
        return False


def _is_router_solicitation(ip: IpPacket) -> bool:
    """RFC 4861 6.1.1: hop limit 255, valid checksum, code 0, at least 8 octets, every option
    of non-zero length, and no Source Link-Layer Address option from the unspecified
    address."""
    message = ip.payload
    if ip.version != 6 or ip.protocol != IpProtocol.ICMPV6 or ip.hop_limit != ND_HOP_LIMIT:
        return False
    if len(message) < _RS_HEADER_LEN or message[:2] != bytes([IcmpType.ROUTER_SOLICITATION, 0]):
        return False
    if not verify_icmp_checksum(ip):
        return False
    options = _nd_option_types(message[_RS_HEADER_LEN:])
    if options is None:
        return False
    return not (ip.src.is_unspecified and _OPTION_SOURCE_LINK_LAYER in options)


def _nd_option_types(data: bytes) -> list[int] | None:
    """The types of Neighbor Discovery options (RFC 4861 4.6: type, length in units of 8
    octets), or None if one has length 0 or runs past the message."""
    types: list[int] = []
    offset = 0
    while offset < len(data):
        if offset + 2 > len(data) or data[offset + 1] == 0:
            return None
        types.append(data[offset])
        offset += data[offset + 1] * 8
    return types if offset == len(data) else None


# --- The hosts answering by themselves -----------------------------------------------------


class LocalResponder:
    """The plan's hosts without a network namespace: whole IP packets from the client in,
    the packets the network sends back out.

    Answers ICMP/ICMPv6 echo to the echo and DNS hosts and the gateway (IPv4 address,
    IPv6 link-local), UDP echo (RFC 862) on the echo hosts, DNS on every DNS address, and a
    Router Solicitation with a Router Advertisement (to the solicitor, or to all nodes when
    it comes from ::, RFC 4861 6.2.6). Anything else, TCP and garbage included, answers []
    and counts in ``dropped``.
    """

    def __init__(self, plan: NetworkPlan = DEFAULT_PLAN) -> None:
        self.plan = plan
        self.dropped = 0
        """Packets that got no answer."""
        self._udp_echo: frozenset[IpAddress] = frozenset({plan.echo_ipv4, plan.echo_ipv6})
        self._dns: frozenset[IpAddress] = frozenset({*plan.dns_ipv4, *plan.dns_ipv6})
        self._pingable: frozenset[IpAddress] = self._udp_echo | self._dns
        self._pingable |= {plan.gateway_ipv4, plan.gateway_link_local}

    def answer(self, packet: bytes) -> list[bytes]:
        try:
            replies = self._answer(parse_ip(packet))
        except MalformedPacket:
            replies = []
        if not replies:
            self.dropped += 1
        return replies

    def _answer(self, ip: IpPacket) -> list[bytes]:
        if ip.fragment:
            return []
        if _is_router_solicitation(ip):
            src = ip.src
            dst = src if isinstance(src, IPv6Address) and not src.is_unspecified else ALL_NODES
            return [router_advertisement(self.plan, dst)]
        if ip.src.is_unspecified or ip.src.is_multicast:
            return []  # no one to answer
        if ip.protocol == IpProtocol.UDP:
            return self._answer_udp(ip)
        reply = echo_reply(ip) if ip.dst in self._pingable else None
        return [reply] if reply is not None else []

    def _answer_udp(self, ip: IpPacket) -> list[bytes]:
        sport, dport, data = parse_udp(ip)
        reply: bytes | None = None
        if sport == 0:
            return []  # RFC 768: no source port, nowhere to answer
        if dport == UDP_ECHO_PORT and ip.dst in self._udp_echo:
            reply = data
        elif dport == DNS_PORT and ip.dst in self._dns:
            reply = dns_response(data, self.plan)
        return [] if reply is None else [build_udp(ip.dst, ip.src, dport, sport, reply)]


# --- The modem's own sockets and pings without a namespace ---------------------------------


class LocalStackNetwork:
    """The modem's own IP stack (``at_sockets``) against a ``LocalResponder``: each
    datagram or echo request is built as the packet it would be, from the modem's address,
    answered by the responder, and the answers handed back as the stack's inputs. Pure:
    the shell uses it without a namespace, and the tests on virtual time."""

    def __init__(self, responder: LocalResponder) -> None:
        self.responder = responder

    def answer(self, output: object) -> list[NetworkEvent]:
        """The network's answers to one of the stack's outputs (others: [])."""
        if isinstance(output, SendDatagram):
            packet = build_udp(output.src, output.dst, output.sport, output.dport, output.data)
            return [d for r in self.responder.answer(packet) if (d := _datagram_in(output, r))]
        if isinstance(output, SendPing):
            payload = (PING_PAYLOAD * (output.size // len(PING_PAYLOAD) + 1))[: output.size]
            ident = output.token & 0xFFFF
            packet = build_icmp_echo(
                output.src, output.dst, reply=False, ident=ident, seq=output.seq, payload=payload
            )
            return [p for r in self.responder.answer(packet) if (p := _ping_reply(output, r))]
        return []


def _datagram_in(sent: SendDatagram, packet: bytes) -> DatagramIn | None:
    try:
        ip = parse_ip(packet)
        if ip.protocol != IpProtocol.UDP or ip.dst != sent.src:
            return None
        sport, dport, data = parse_udp(ip)
    except MalformedPacket:
        return None
    return DatagramIn(sent.ident, data, ip.src, sport) if dport == sent.sport else None


def _ping_reply(sent: SendPing, packet: bytes) -> PingReply | None:
    try:
        ip = parse_ip(packet)
        echo = parse_icmp_echo(ip)
    except MalformedPacket:
        return None
    if echo is None or not echo[0] or echo[1] != sent.token & 0xFFFF or ip.dst != sent.src:
        return None
    return PingReply(sent.token, echo[2], ip.hop_limit)


# --- Network-initiated ping ---------------------------------------------------------------


def echo_request(plan: NetworkPlan, dst: IpAddress, ident: int, seq: int, payload: bytes) -> bytes:
    """An echo request from the network to the client: from the gateway over IPv4 (the
    PPP peer, the one address a PPP client always has a route to: pppd adds no default
    route) and from the echo host over IPv6 (the Router Advertisement made the gateway
    the client's default router)."""
    src: IpAddress = plan.gateway_ipv4 if isinstance(dst, IPv4Address) else plan.echo_ipv6
    return build_icmp_echo(src, dst, reply=False, ident=ident, seq=seq, payload=payload)


def match_echo_reply(packet: bytes, ident: int) -> int | None:
    """The sequence number of ``packet`` if it is an echo reply with identifier ``ident``."""
    try:
        echo = parse_icmp_echo(parse_ip(packet))
    except MalformedPacket:
        return None
    if echo is None or not echo[0] or echo[1] != ident:
        return None
    return echo[2]
