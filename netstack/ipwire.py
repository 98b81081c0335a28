"""IPv4 and IPv6 packets on the wire: a checked parse, builders, and the transport parts the
simulator answers (UDP, ICMP/ICMPv6 echo, and TCP for building only).

RFC 791 (IPv4), RFC 8200 (IPv6), RFC 1071 (the Internet checksum), RFC 768 (UDP), RFC 792
(ICMP echo), RFC 4443 (ICMPv6 echo), RFC 9293 (TCP header). Shared by the modem simulator
and, later, the AT-socket translator.

Contract: ``parse_ip`` and the ``parse_*`` transport parsers raise ``MalformedPacket`` on
the peer's garbage and nothing else; ``echo_reply_for`` never raises. The builders trust
their arguments and raise ``UsageError`` when the caller mixes families or overflows a
length field. IPv6 extension headers are not walked: ``IpPacket.protocol`` is the fixed
header's Next Header, so a packet with a Hop-by-Hop or Fragment header shows that header's
number and no transport parser accepts it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from ipaddress import IPv4Address, IPv6Address

from .errors import MalformedPacket, UsageError

IpAddress = IPv4Address | IPv6Address


class IpProtocol(IntEnum):
    """IPv4 Protocol / IPv6 Next Header values (IANA Assigned Internet Protocol Numbers)."""

    ICMP = 1  # RFC 792
    TCP = 6  # RFC 9293
    UDP = 17  # RFC 768
    ICMPV6 = 58  # RFC 4443


class IcmpType(IntEnum):
    """The ICMP and ICMPv6 message types used here (RFC 792, RFC 4443 4.1-4.2, RFC 4861 4)."""

    ECHO_REPLY = 0
    ECHO_REQUEST = 8
    ICMPV6_ECHO_REQUEST = 128
    ICMPV6_ECHO_REPLY = 129
    ROUTER_SOLICITATION = 133
    ROUTER_ADVERTISEMENT = 134


_IPV4_HEADER = struct.Struct("!BBHHHBBH4s4s")
_IPV6_HEADER = struct.Struct("!IHBB16s16s")
_UDP_HEADER = struct.Struct("!HHHH")
_ICMP_ECHO = struct.Struct("!BBHHH")
_TCP_HEADER = struct.Struct("!HHIIBBHHH")
IPV4_HEADER_LEN = _IPV4_HEADER.size
IPV6_HEADER_LEN = _IPV6_HEADER.size
UDP_HEADER_LEN = _UDP_HEADER.size
_MAX_LENGTH = 0xFFFF
_IPV4_MORE_FRAGMENTS = 0x2000
_IPV4_FRAGMENT_OFFSET = 0x1FFF


def checksum(data: bytes) -> int:
    """RFC 1071 Internet checksum: the one's complement of the one's complement sum of
    16-bit words, an odd length padded with a zero octet. Data that carries its own valid
    checksum sums to 0."""
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


@dataclass(frozen=True, slots=True)
class IpPacket:
    """A checked view of one IPv4 or IPv6 packet."""

    version: int
    """4 or 6."""
    src: IpAddress
    dst: IpAddress
    protocol: int
    """IPv4 Protocol, or the IPv6 fixed header's Next Header (extension headers are not
    skipped)."""
    hop_limit: int
    """IPv4 TTL or IPv6 Hop Limit."""
    payload: bytes
    """What follows the IP header(s), cut to the header's declared length (bytes beyond it
    are link padding: RFC 791 Total Length, RFC 8200 3 Payload Length)."""
    fragment: bool = False
    """IPv4 only: MF set or a non-zero Fragment Offset (RFC 791 3.2); the payload is then
    not a whole transport segment."""


def parse_ip(packet: bytes) -> IpPacket:
    """Parse an IPv4 or IPv6 packet; raise ``MalformedPacket`` if it is not one."""
    if not packet:
        raise MalformedPacket("empty IP packet")
    version = packet[0] >> 4
    if version == 4:
        return _parse_ipv4(packet)
    if version == 6:
        return _parse_ipv6(packet)
    raise MalformedPacket(f"IP version {version}")


def _parse_ipv4(packet: bytes) -> IpPacket:
    if len(packet) < IPV4_HEADER_LEN:
        raise MalformedPacket("IPv4 packet shorter than its header")
    vihl, _, total, _, frag, ttl, proto, _, src, dst = _IPV4_HEADER.unpack_from(packet)
    header_len = (vihl & 0x0F) * 4
    # RFC 791 3.1: IHL is at least 5 words; Total Length covers header and data.
    if header_len < IPV4_HEADER_LEN or not header_len <= total <= len(packet):
        raise MalformedPacket(f"IPv4 IHL {header_len} / Total Length {total} / {len(packet)}")
    if checksum(packet[:header_len]):
        raise MalformedPacket("IPv4 header checksum")
    fragment = bool(frag & (_IPV4_MORE_FRAGMENTS | _IPV4_FRAGMENT_OFFSET))
    return IpPacket(
        4, IPv4Address(src), IPv4Address(dst), proto, ttl, packet[header_len:total], fragment
    )


def _parse_ipv6(packet: bytes) -> IpPacket:
    if len(packet) < IPV6_HEADER_LEN:
        raise MalformedPacket("IPv6 packet shorter than its header")
    _, payload_len, next_header, hop_limit, src, dst = _IPV6_HEADER.unpack_from(packet)
    end = IPV6_HEADER_LEN + payload_len
    if end > len(packet):
        raise MalformedPacket(f"IPv6 Payload Length {payload_len} beyond {len(packet)} bytes")
    return IpPacket(
        6, IPv6Address(src), IPv6Address(dst), next_header, hop_limit, packet[IPV6_HEADER_LEN:end]
    )


def build_ip(
    src: IpAddress, dst: IpAddress, protocol: int, payload: bytes, hop_limit: int = 64
) -> bytes:
    """One IPv4 (ID 0, no flags, correct header checksum) or IPv6 (traffic class and flow
    label 0) packet, the version chosen by the addresses' family."""
    if isinstance(src, IPv4Address) and isinstance(dst, IPv4Address):
        total = IPV4_HEADER_LEN + len(payload)
        _check_length(total)
        header = _IPV4_HEADER.pack(
            0x45, 0, total, 0, 0, hop_limit, protocol, 0, src.packed, dst.packed
        )
        header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
        return header + payload
    if isinstance(src, IPv6Address) and isinstance(dst, IPv6Address):
        _check_length(len(payload))
        return (
            _IPV6_HEADER.pack(6 << 28, len(payload), protocol, hop_limit, src.packed, dst.packed)
            + payload
        )
    raise UsageError(f"mixed address families: {src} -> {dst}")


def _check_length(length: int) -> None:
    if length > _MAX_LENGTH:
        raise UsageError(f"length {length} does not fit a 16-bit length field")


def pseudo_header(src: IpAddress, dst: IpAddress, protocol: int, length: int) -> bytes:
    """The pseudo-header of the upper-layer checksum: RFC 768 (IPv4: source, destination,
    zero, protocol, UDP length) and RFC 8200 8.1 (IPv6: source, destination, 32-bit
    upper-layer length, three zero octets, next header)."""
    if isinstance(src, IPv4Address):
        return src.packed + dst.packed + struct.pack("!BBH", 0, protocol, length)
    return src.packed + dst.packed + struct.pack("!I3xB", length, protocol)


def _with_checksum(segment: bytes, offset: int, value: int) -> bytes:
    return segment[:offset] + struct.pack("!H", value) + segment[offset + 2 :]


def _transport_checksum(src: IpAddress, dst: IpAddress, protocol: int, segment: bytes) -> int:
    return checksum(pseudo_header(src, dst, protocol, len(segment)) + segment)


def build_udp(src: IpAddress, dst: IpAddress, sport: int, dport: int, payload: bytes) -> bytes:
    """A whole IP packet carrying one UDP datagram with its checksum (RFC 768; a computed
    0 is sent as 0xFFFF, which RFC 8200 8.1 also requires for IPv6)."""
    length = UDP_HEADER_LEN + len(payload)
    _check_length(length)
    segment = _UDP_HEADER.pack(sport, dport, length, 0) + payload
    value = _transport_checksum(src, dst, IpProtocol.UDP, segment) or 0xFFFF
    return build_ip(src, dst, IpProtocol.UDP, _with_checksum(segment, 6, value))


def build_icmp_echo(
    src: IpAddress, dst: IpAddress, *, reply: bool, ident: int, seq: int, payload: bytes
) -> bytes:
    """A whole IP packet with an echo request or reply: ICMP type 8/0 for IPv4 (RFC 792,
    checksum over the ICMP message), ICMPv6 type 128/129 for IPv6 (RFC 4443 4.1-4.2,
    checksum with the pseudo-header, RFC 4443 2.3)."""
    if isinstance(src, IPv4Address):
        kind = IcmpType.ECHO_REPLY if reply else IcmpType.ECHO_REQUEST
        message = _ICMP_ECHO.pack(kind, 0, 0, ident, seq) + payload
        return build_ip(src, dst, IpProtocol.ICMP, _with_checksum(message, 2, checksum(message)))
    kind = IcmpType.ICMPV6_ECHO_REPLY if reply else IcmpType.ICMPV6_ECHO_REQUEST
    return build_icmpv6(src, dst, _ICMP_ECHO.pack(kind, 0, 0, ident, seq) + payload)


def build_icmpv6(src: IpAddress, dst: IpAddress, message: bytes, hop_limit: int = 64) -> bytes:
    """A whole IPv6 packet carrying ``message`` (an ICMPv6 message with a zero checksum
    field), its checksum filled in over the pseudo-header (RFC 4443 2.3)."""
    value = _transport_checksum(src, dst, IpProtocol.ICMPV6, message)
    return build_ip(src, dst, IpProtocol.ICMPV6, _with_checksum(message, 2, value), hop_limit)


def build_tcp(
    src: IpAddress,
    dst: IpAddress,
    sport: int,
    dport: int,
    seq: int,
    ack: int,
    flags: int,
    payload: bytes,
    window: int = 65535,
) -> bytes:
    """A whole IP packet with one TCP segment without options (RFC 9293 3.1: Data Offset 5,
    ``flags`` the low byte of control bits, e.g. 0x12 SYN+ACK), checksum filled in."""
    segment = _TCP_HEADER.pack(sport, dport, seq, ack, 5 << 4, flags, window, 0, 0) + payload
    _check_length(len(segment))
    value = _transport_checksum(src, dst, IpProtocol.TCP, segment)
    return build_ip(src, dst, IpProtocol.TCP, _with_checksum(segment, 16, value))


def parse_udp(ip: IpPacket) -> tuple[int, int, bytes]:
    """(source port, destination port, payload) of a UDP datagram; raise
    ``MalformedPacket`` for a non-UDP packet, a fragment, a bad Length or checksum.

    RFC 768: Length counts header and data and may be shorter than the IP payload; a zero
    checksum means none was sent, allowed for IPv4 only (RFC 8200 8.1: IPv6 receivers
    discard it)."""
    segment = _transport_segment(ip, IpProtocol.UDP, UDP_HEADER_LEN)
    sport, dport, length, sent = _UDP_HEADER.unpack_from(segment)
    if not UDP_HEADER_LEN <= length <= len(segment):
        raise MalformedPacket(f"UDP Length {length} in {len(segment)} bytes")
    segment = segment[:length]
    if sent == 0 and ip.version == 6:
        raise MalformedPacket("IPv6 UDP without a checksum")
    if sent and _transport_checksum(ip.src, ip.dst, IpProtocol.UDP, segment):
        raise MalformedPacket("UDP checksum")
    return sport, dport, segment[UDP_HEADER_LEN:]


def parse_icmp_echo(ip: IpPacket) -> tuple[bool, int, int, bytes] | None:
    """(is_reply, identifier, sequence number, data) of an ICMP/ICMPv6 echo message, None
    for any other packet; raise ``MalformedPacket`` for a short message or a bad checksum
    (RFC 792 over the message; RFC 4443 2.3 with the pseudo-header)."""
    icmp = _icmp_protocol(ip.version)
    if ip.protocol != icmp or ip.fragment:
        return None
    message = ip.payload
    if len(message) < _ICMP_ECHO.size:
        raise MalformedPacket("ICMP echo shorter than its header")
    kind, _, _, ident, seq = _ICMP_ECHO.unpack_from(message)
    request, reply = _echo_types(ip.version)
    if kind not in (request, reply):
        return None
    if not verify_icmp_checksum(ip):
        raise MalformedPacket("ICMP checksum")
    return kind == reply, ident, seq, message[_ICMP_ECHO.size :]


def verify_icmp_checksum(ip: IpPacket) -> bool:
    """Whether the ICMP (RFC 792) or ICMPv6 (RFC 4443 2.3) checksum of ``ip.payload`` holds."""
    if ip.version == 4:
        return checksum(ip.payload) == 0
    return _transport_checksum(ip.src, ip.dst, IpProtocol.ICMPV6, ip.payload) == 0


def echo_reply(ip: IpPacket) -> bytes | None:
    """A host's answer to an ICMP/ICMPv6 echo request (RFC 792, RFC 4443 4.2: same
    identifier, sequence number and data, from the address it was sent to), or None when
    ``ip`` is not an echo request; raise ``MalformedPacket`` as ``parse_icmp_echo``."""
    echo = parse_icmp_echo(ip)
    if echo is None or echo[0]:
        return None
    _, ident, seq, data = echo
    return build_icmp_echo(ip.dst, ip.src, reply=True, ident=ident, seq=seq, payload=data)


def echo_reply_for(packet: bytes) -> bytes | None:
    """``echo_reply`` of raw bytes: None for anything but a well-formed echo request."""
    try:
        return echo_reply(parse_ip(packet))
    except MalformedPacket:
        return None


def _transport_segment(ip: IpPacket, protocol: int, minimum: int) -> bytes:
    if ip.protocol != protocol or ip.fragment:
        raise MalformedPacket(f"not a whole protocol {protocol} segment")
    if len(ip.payload) < minimum:
        raise MalformedPacket(f"protocol {protocol} segment shorter than its header")
    return ip.payload


def _icmp_protocol(version: int) -> int:
    return IpProtocol.ICMP if version == 4 else IpProtocol.ICMPV6


def _echo_types(version: int) -> tuple[int, int]:
    """(request, reply) message types for the IP version."""
    if version == 4:
        return IcmpType.ECHO_REQUEST, IcmpType.ECHO_REPLY
    return IcmpType.ICMPV6_ECHO_REQUEST, IcmpType.ICMPV6_ECHO_REPLY
