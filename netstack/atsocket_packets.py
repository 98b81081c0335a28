"""The TUN side of the AT-socket bridge: what the host sends, sorted; what goes back to
it, built.

RFC 8200 4 (extension headers: Hop-by-Hop and Destination Options are skipped, a Routing
or Fragment header is not ours to handle), RFC 4443 (ICMPv6: 2.4 the rules for errors,
3.1 Destination Unreachable and its codes, 3.2 Packet Too Big, 4.1-4.2 echo), RFC 4861 4
(Neighbor Discovery types), RFC 2710 and RFC 3810 (MLD), RFC 768 (UDP).

Contract: ``sort_packet`` takes any bytes and never raises; it does the checks that need
nothing but the packet (lengths, checksums, protocols, RFC 4443 2.4 (e): no error answers
a packet whose source is not one node). The bridge adds those that need its settings
(our address, the modem's payload limit). The builders trust their arguments.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from ipaddress import IPv6Address

from .errors import MalformedPacket
from .ipwire import (
    IPV6_HEADER_LEN,
    IcmpType,
    IpPacket,
    IpProtocol,
    build_icmp_echo,
    build_icmpv6,
    parse_icmp_echo,
    parse_ip,
    parse_udp,
)

IPV6_MIN_MTU = 1280
"""RFC 8200 5: every link carries packets of 1280 octets; an ICMPv6 error holds as much
of the invoking packet as fits in it (RFC 4443 2.4 (c))."""
UDP_OVERHEAD = IPV6_HEADER_LEN + 8
"""An IPv6 header and a UDP header: what a datagram's payload adds up to a packet."""

_EXTENSION = struct.Struct("!BB")  # Next Header, Hdr Ext Len (RFC 8200 4.3, 4.4, 4.6)
_FRAGMENT = struct.Struct("!BxH")  # Next Header, reserved, offset and M (RFC 8200 4.5)
_ICMPV6_ERROR = struct.Struct("!BBHI")  # type, code, checksum, unused or MTU


class Unreachable(IntEnum):
    """ICMPv6 Destination Unreachable codes (RFC 4443 3.1)."""

    NO_ROUTE = 0
    ADMINISTRATIVELY_PROHIBITED = 1
    BEYOND_SCOPE = 2
    ADDRESS_UNREACHABLE = 3
    PORT_UNREACHABLE = 4
    SOURCE_POLICY = 5


class Icmpv6(IntEnum):
    """ICMPv6 types (RFC 4443 2.1, RFC 4861 4, RFC 2710 3, RFC 3810 5)."""

    DESTINATION_UNREACHABLE = 1
    PACKET_TOO_BIG = 2
    MLD_QUERY = 130
    MLD_REPORT = 131
    MLD_DONE = 132
    ROUTER_SOLICITATION = 133
    ROUTER_ADVERTISEMENT = 134
    NEIGHBOR_SOLICITATION = 135
    NEIGHBOR_ADVERTISEMENT = 136
    REDIRECT = 137
    MLDV2_REPORT = 143


_ABSORBED = {
    Icmpv6.ROUTER_SOLICITATION: "absorbed_router_solicitations",
    Icmpv6.MLD_QUERY: "absorbed_mld",
    Icmpv6.MLD_REPORT: "absorbed_mld",
    Icmpv6.MLD_DONE: "absorbed_mld",
    Icmpv6.MLDV2_REPORT: "absorbed_mld",
    Icmpv6.ROUTER_ADVERTISEMENT: "absorbed_neighbor_discovery",
    Icmpv6.NEIGHBOR_SOLICITATION: "absorbed_neighbor_discovery",
    Icmpv6.NEIGHBOR_ADVERTISEMENT: "absorbed_neighbor_discovery",
    Icmpv6.REDIRECT: "absorbed_neighbor_discovery",
}
"""The kernel's own ICMPv6 on the TUN: nothing the modem could carry or should see."""
_SKIPPED_EXTENSIONS = (0, 60)  # Hop-by-Hop Options, Destination Options
_ROUTING, _FRAGMENT_HEADER = 43, 44
_MAX_EXTENSIONS = 8


@dataclass(frozen=True, slots=True)
class Datagram:
    """A checked UDP datagram from the host."""

    src: IPv6Address
    dst: IPv6Address
    sport: int
    dport: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class EchoRequest:
    """A checked ICMPv6 echo request from the host (RFC 4443 4.1)."""

    src: IPv6Address
    dst: IPv6Address
    ident: int
    seq: int
    data: bytes


@dataclass(frozen=True, slots=True)
class Refused:
    """Answer with Destination Unreachable ``code``; ``reason`` names the counter."""

    reason: str
    code: Unreachable


@dataclass(frozen=True, slots=True)
class Dropped:
    """Dropped without an answer; ``reason`` names the counter."""

    reason: str


Sorted = Datagram | EchoRequest | Refused | Dropped


def sort_packet(packet: bytes) -> Sorted:
    """What the bridge does with one packet from the TUN; never raises."""
    try:
        ip = parse_ip(packet)
    except MalformedPacket:
        return Dropped("malformed")
    if ip.version != 6:
        return Dropped("not_ipv6")
    assert isinstance(ip.src, IPv6Address) and isinstance(ip.dst, IPv6Address)
    try:
        return _sort_ipv6(ip, ip.src, ip.dst)
    except MalformedPacket:
        return Dropped("malformed")


def _sort_ipv6(ip: IpPacket, src: IPv6Address, dst: IPv6Address) -> Sorted:
    protocol, payload, fragment = _upper_layer(ip)
    upper = IpPacket(6, src, dst, protocol, ip.hop_limit, payload, fragment is not None)
    if protocol == IpProtocol.ICMPV6 and fragment is None:
        return _sort_icmpv6(upper, src, dst)
    if dst.is_multicast:
        return Dropped("absorbed_multicast")  # RFC 4443 2.4 (e.3): no error for these
    if src.is_unspecified or src.is_multicast:
        return Dropped("bad_source")  # RFC 4443 2.4 (e.5, e.6)
    if fragment is not None:
        # Only the first fragment holds the ports an error can name (RFC 8200 4.5).
        return (
            Refused("refused_fragments", Unreachable.ADMINISTRATIVELY_PROHIBITED)
            if (fragment == 0)
            else Dropped("refused_fragments")
        )
    if protocol == _ROUTING:
        return Refused("refused_extension_headers", Unreachable.ADMINISTRATIVELY_PROHIBITED)
    if protocol == IpProtocol.TCP:
        return Refused("refused_tcp", Unreachable.ADMINISTRATIVELY_PROHIBITED)
    if protocol != IpProtocol.UDP:
        return Refused("refused_protocols", Unreachable.ADMINISTRATIVELY_PROHIBITED)
    sport, dport, data = parse_udp(upper)
    return Datagram(src, dst, sport, dport, data)


def _sort_icmpv6(ip: IpPacket, src: IPv6Address, dst: IPv6Address) -> Sorted:
    if len(ip.payload) < 4:
        raise MalformedPacket("ICMPv6 message shorter than its header")
    kind = ip.payload[0]
    if kind < 128:  # RFC 4443 2.1: error messages; never answered (2.4 (e.1))
        return Dropped("absorbed_icmpv6_errors")
    if kind in _ABSORBED:
        return Dropped(_ABSORBED[Icmpv6(kind)])
    if kind != IcmpType.ICMPV6_ECHO_REQUEST:
        return Dropped("absorbed_icmpv6_other")
    echo = parse_icmp_echo(ip)  # checks the checksum (RFC 4443 2.3)
    assert echo is not None  # an unfragmented echo request, as checked above
    if dst.is_multicast:
        return Dropped("absorbed_multicast")
    if src.is_unspecified or src.is_multicast:
        return Dropped("bad_source")
    _, ident, seq, data = echo
    return EchoRequest(src, dst, ident, seq, data)


def _upper_layer(ip: IpPacket) -> tuple[int, bytes, int | None]:
    """(upper-layer protocol, its bytes, fragment offset or None) after skipping the
    Hop-by-Hop and Destination Options headers (RFC 8200 4.1 order); a Routing header is
    returned as the protocol, not walked."""
    protocol, payload = ip.protocol, ip.payload
    for _ in range(_MAX_EXTENSIONS):
        if protocol in _SKIPPED_EXTENSIONS:
            if len(payload) < _EXTENSION.size:
                raise MalformedPacket("extension header cut short")
            following, units = _EXTENSION.unpack_from(payload)
            length = (units + 1) * 8
            if length > len(payload):
                raise MalformedPacket("extension header longer than the packet")
            protocol, payload = following, payload[length:]
        elif protocol == _FRAGMENT_HEADER:
            if len(payload) < 8:
                raise MalformedPacket("Fragment header cut short")
            following, offset_flags = _FRAGMENT.unpack_from(payload)
            return following, payload[8:], offset_flags >> 3
        else:
            return protocol, payload, None
    raise MalformedPacket("too many extension headers")


def destination_unreachable(source: IPv6Address, invoking: bytes, code: Unreachable) -> bytes:
    """RFC 4443 3.1, sent back to the invoking packet's source from ``source``."""
    return _icmpv6_error(source, invoking, Icmpv6.DESTINATION_UNREACHABLE, code, 0)


def packet_too_big(source: IPv6Address, invoking: bytes, mtu: int) -> bytes:
    """RFC 4443 3.2: the next hop takes packets of ``mtu`` octets at the most."""
    return _icmpv6_error(source, invoking, Icmpv6.PACKET_TOO_BIG, 0, mtu)


def _icmpv6_error(source: IPv6Address, invoking: bytes, kind: int, code: int, word: int) -> bytes:
    ip = parse_ip(invoking)  # the caller sorted it: a whole IPv6 packet
    room = IPV6_MIN_MTU - IPV6_HEADER_LEN - _ICMPV6_ERROR.size
    message = _ICMPV6_ERROR.pack(kind, code, 0, word) + invoking[:room]
    return build_icmpv6(source, ip.src, message)


def echo_reply(request: EchoRequest, hop_limit: int = 64) -> bytes:
    """RFC 4443 4.2: from the address the request went to, same identifier, sequence
    number and data; ``hop_limit`` as the modem saw the reply arrive when it says."""
    packet = build_icmp_echo(
        request.dst,
        request.src,
        reply=True,
        ident=request.ident,
        seq=request.seq,
        payload=request.data,
    )
    if hop_limit == packet[7]:
        return packet
    return packet[:7] + bytes([hop_limit]) + packet[8:]  # not covered by the checksum
