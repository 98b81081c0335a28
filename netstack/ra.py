"""Router Advertisements in, Router Solicitations out, and the addresses SLAAC forms.

RFC 4861 4.1 (Router Solicitation), 4.2 (Router Advertisement), 4.6 (options: 4.6.2 Prefix
Information, 4.6.4 MTU), 6.1.2 (validation of a received RA); RFC 8106 5.1 (RDNSS option);
RFC 4862 5.5.3 (which Prefix Information options form an address); RFC 5072 5 (a PPP
link's addresses are built from the IPV6CP Interface-Identifier, as 3GPP networks expect,
TS 29.061 11.2.1.3.2).

Contract: ``parse_router_advertisement`` takes a whole IPv6 packet from the peer and never
raises: it returns None for anything that is not a valid RA (the caller tells the two
apart with ``is_router_advertisement`` and counts the garbage). Inside a valid RA, parsing
is liberal: an option of unknown type is skipped, a known option of the wrong length is
ignored on its own. ``build_router_solicitation`` and ``slaac_addresses`` trust their
arguments.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from ipaddress import IPv6Address, IPv6Network

from .errors import MalformedPacket, UsageError
from .ipwire import IcmpType, IpPacket, IpProtocol, build_icmpv6, parse_ip, verify_icmp_checksum

ALL_ROUTERS = IPv6Address("ff02::2")
"""RFC 4291 2.7.1: the link-local all-routers multicast address, where RSs go (RFC 4861
6.3.7)."""
ND_HOP_LIMIT = 255
"""RFC 4861 6.1.1, 6.1.2: Neighbor Discovery messages are sent with hop limit 255, and one
received with any other value was forwarded by a router and is discarded."""
INFINITE_LIFETIME = 0xFFFFFFFF
"""RFC 4861 4.6.2: a lifetime of all one bits means infinity (the kernel's value too)."""
INTERFACE_ID_LEN = 8
"""RFC 5072 4.1: the IPV6CP Interface-Identifier is 64 bits."""
_LINK_LOCAL_SCOPE = IPv6Network("fe80::/10")  # RFC 4291 2.5.6

_RS_HEADER = struct.Struct("!BBHI")  # type, code, checksum, reserved
_RA_HEADER = struct.Struct("!BBHBBHII")  # type, code, checksum, hop limit, flags, lifetime...
_PREFIX_BODY = struct.Struct("!BBIII16s")  # after type and length (RFC 4861 4.6.2)
_MTU_BODY = struct.Struct("!HI")  # reserved, MTU (RFC 4861 4.6.4)
_RDNSS_HEAD = struct.Struct("!HI")  # reserved, lifetime (RFC 8106 5.1)
_MANAGED, _OTHER = 0x80, 0x40  # RA M and O flags
_ON_LINK, _AUTONOMOUS = 0x80, 0x40  # Prefix Information L and A flags
_OPTION_UNIT = 8  # option Length counts units of 8 octets


class NdOption(IntEnum):
    """Neighbor Discovery option types read here (RFC 4861 4.6, RFC 8106 5.1)."""

    SOURCE_LINK_LAYER_ADDRESS = 1
    PREFIX_INFORMATION = 3
    MTU = 5
    RDNSS = 25


@dataclass(frozen=True, slots=True)
class PrefixInformation:
    """One Prefix Information option (RFC 4861 4.6.2)."""

    prefix: IPv6Network
    """The prefix, bits after the Prefix Length cleared (the receiver ignores them)."""
    on_link: bool
    """L flag: the prefix is on this link."""
    autonomous: bool
    """A flag: hosts may form an address in it by SLAAC (RFC 4862 5.5.3)."""
    valid_lifetime: int
    """Seconds the prefix stays valid; ``INFINITE_LIFETIME`` for ever."""
    preferred_lifetime: int
    """Seconds addresses formed in it stay preferred; ``INFINITE_LIFETIME`` for ever."""


@dataclass(frozen=True, slots=True)
class RouterAdvertisement:
    """A valid Router Advertisement (RFC 4861 4.2) and the options that matter to a host."""

    router: IPv6Address
    """The router's link-local address: the RA's IP source (RFC 4861 6.1.2 requires it)."""
    cur_hop_limit: int
    """Hop limit the router suggests; 0 means unspecified."""
    managed: bool
    """M flag: addresses are also available by DHCPv6."""
    other_config: bool
    """O flag: other configuration is available by DHCPv6."""
    router_lifetime: int
    """Seconds the router stays a default router; 0: it is not one (RFC 4861 6.3.4)."""
    reachable_time: int
    """Milliseconds; 0 means unspecified."""
    retrans_timer: int
    """Milliseconds; 0 means unspecified."""
    prefixes: tuple[PrefixInformation, ...] = ()
    """Every well-formed Prefix Information option, in order."""
    mtu: int | None = None
    """The MTU option's value (RFC 4861 4.6.4), or None without one."""
    dns_servers: tuple[IPv6Address, ...] = ()
    """Recursive DNS servers of every RDNSS option (RFC 8106 5.1), in order."""
    dns_lifetime: int = 0
    """Seconds the servers may be used (the longest of the RDNSS options); 0 withdraws."""


@dataclass(frozen=True, slots=True)
class SlaacAddress:
    """An address RFC 4862 5.5.3 forms from one Prefix Information option."""

    address: IPv6Address
    """Prefix + our Interface-Identifier."""
    prefix: IPv6Network
    """The /64 it was formed in."""
    on_link: bool
    """Whether the prefix is on-link (the L flag): then it gets a prefix route."""
    valid_lifetime: int
    """Seconds; 0 withdraws an address formed earlier (``INFINITE_LIFETIME``: for ever)."""
    preferred_lifetime: int
    """Seconds; never more than ``valid_lifetime``."""


def link_local_address(interface_id: bytes) -> IPv6Address:
    """fe80::<Interface-Identifier>, the PPP link-local address (RFC 5072 5)."""
    _check_interface_id(interface_id)
    return IPv6Address(b"\xfe\x80" + bytes(6) + interface_id)


def build_router_solicitation(source: IPv6Address) -> bytes:
    """The whole IPv6 packet of a Router Solicitation (RFC 4861 4.1) from ``source`` (our
    link-local address) to all-routers, hop limit 255. No Source Link-Layer Address
    option: PPP has no link-layer addresses (RFC 4861 4.1: "SHOULD be included on link
    layers that have addresses")."""
    if not source.is_link_local and not source.is_unspecified:
        raise UsageError(f"a Router Solicitation comes from a link-local address, not {source}")
    message = _RS_HEADER.pack(IcmpType.ROUTER_SOLICITATION, 0, 0, 0)
    return build_icmpv6(source, ALL_ROUTERS, message, ND_HOP_LIMIT)


def is_router_advertisement(packet: bytes) -> bool:
    """Whether ``packet`` claims to be an RA (IPv6, ICMPv6, type 134), valid or not: the
    caller counts those ``parse_router_advertisement`` rejects."""
    return (
        len(packet) > 40
        and packet[0] >> 4 == 6
        and packet[6] == IpProtocol.ICMPV6
        and packet[40] == IcmpType.ROUTER_ADVERTISEMENT
    )


def parse_router_advertisement(packet: bytes) -> RouterAdvertisement | None:
    """The RA in a whole IPv6 packet, or None when it is not one that RFC 4861 6.1.2 lets a
    host accept. Never raises."""
    try:
        ip = parse_ip(packet)
    except MalformedPacket:
        return None
    if not _is_valid_ra(ip):
        return None
    message = ip.payload
    _, _, _, hop_limit, flags, lifetime, reachable, retrans = _RA_HEADER.unpack_from(message)
    options = _split_options(message[_RA_HEADER.size :])
    if options is None:
        return None
    assert isinstance(ip.src, IPv6Address)
    return _with_options(
        RouterAdvertisement(
            router=ip.src,
            cur_hop_limit=hop_limit,
            managed=bool(flags & _MANAGED),
            other_config=bool(flags & _OTHER),
            router_lifetime=lifetime,
            reachable_time=reachable,
            retrans_timer=retrans,
        ),
        options,
    )


def _is_valid_ra(ip: IpPacket) -> bool:
    """RFC 4861 6.1.2: link-local source, hop limit 255, valid checksum, code 0, ICMP
    length 16 octets or more (the option checks are ``_split_options``)."""
    if ip.version != 6 or ip.protocol != IpProtocol.ICMPV6 or ip.hop_limit != ND_HOP_LIMIT:
        return False
    if not ip.src.is_link_local or len(ip.payload) < _RA_HEADER.size:
        return False
    if ip.payload[:2] != bytes([IcmpType.ROUTER_ADVERTISEMENT, 0]):
        return False
    return verify_icmp_checksum(ip)


def _split_options(data: bytes) -> list[tuple[int, bytes]] | None:
    """(type, body after type and length) of each option; None when one has Length 0 or
    runs past the message (RFC 4861 6.1.2: the whole RA is then discarded)."""
    options: list[tuple[int, bytes]] = []
    offset = 0
    while offset < len(data):
        if offset + 2 > len(data) or data[offset + 1] == 0:
            return None
        end = offset + data[offset + 1] * _OPTION_UNIT
        if end > len(data):
            return None
        options.append((data[offset], data[offset + 2 : end]))
        offset = end
    return options


def _with_options(ra: RouterAdvertisement, options: list[tuple[int, bytes]]) -> RouterAdvertisement:
    prefixes: list[PrefixInformation] = []
    mtu: int | None = None
    servers: list[IPv6Address] = []
    dns_lifetime = 0
    for kind, body in options:
        if kind == NdOption.PREFIX_INFORMATION and (info := _prefix_information(body)):
            prefixes.append(info)
        elif kind == NdOption.MTU and len(body) == _MTU_BODY.size:
            mtu = _MTU_BODY.unpack(body)[1]
        elif kind == NdOption.RDNSS and (rdnss := _rdnss(body)):
            servers += rdnss[1]
            dns_lifetime = max(dns_lifetime, rdnss[0])
    return RouterAdvertisement(
        ra.router,
        ra.cur_hop_limit,
        ra.managed,
        ra.other_config,
        ra.router_lifetime,
        ra.reachable_time,
        ra.retrans_timer,
        tuple(prefixes),
        mtu,
        tuple(dict.fromkeys(servers)),
        dns_lifetime,
    )


def _prefix_information(body: bytes) -> PrefixInformation | None:
    """RFC 4861 4.6.2: Length 4; a Prefix Length over 128 cannot be used."""
    if len(body) != _PREFIX_BODY.size:
        return None
    length, flags, valid, preferred, _, prefix = _PREFIX_BODY.unpack(body)
    if length > 128:
        return None
    return PrefixInformation(
        prefix=IPv6Network((IPv6Address(prefix), length), strict=False),
        on_link=bool(flags & _ON_LINK),
        autonomous=bool(flags & _AUTONOMOUS),
        valid_lifetime=valid,
        preferred_lifetime=preferred,
    )


def _rdnss(body: bytes) -> tuple[int, list[IPv6Address]] | None:
    """RFC 8106 5.1: Length 3 or more and odd (2 units per address), lifetime then
    addresses; "the option MUST be silently ignored" otherwise."""
    addresses = body[_RDNSS_HEAD.size :]
    if len(addresses) < 16 or len(addresses) % 16:
        return None
    lifetime = _RDNSS_HEAD.unpack_from(body)[1]
    return lifetime, [IPv6Address(addresses[i : i + 16]) for i in range(0, len(addresses), 16)]


def slaac_addresses(ra: RouterAdvertisement, interface_id: bytes) -> tuple[SlaacAddress, ...]:
    """The addresses RFC 4862 5.5.3 lets a host form or update from ``ra`` with this
    Interface-Identifier. Options are ignored when A is clear (a), the prefix is link-local
    (b), the preferred lifetime exceeds the valid one (c), or the prefix is not 64 bits
    long, since prefix and identifier must make 128 bits (d). A valid lifetime of 0 is
    kept: it withdraws an address formed earlier, and forms none."""
    _check_interface_id(interface_id)
    found: dict[IPv6Address, SlaacAddress] = {}
    for info in ra.prefixes:
        if not info.autonomous or info.prefix.subnet_of(_LINK_LOCAL_SCOPE):
            continue
        if info.preferred_lifetime > info.valid_lifetime:
            continue
        if info.prefix.prefixlen != 128 - 8 * INTERFACE_ID_LEN:
            continue
        address = IPv6Address(info.prefix.network_address.packed[:8] + interface_id)
        found[address] = SlaacAddress(
            address, info.prefix, info.on_link, info.valid_lifetime, info.preferred_lifetime
        )
    return tuple(found.values())


def _check_interface_id(interface_id: bytes) -> None:
    if len(interface_id) != INTERFACE_ID_LEN or not any(interface_id):
        raise UsageError(f"an Interface-Identifier is 8 non-zero bytes, not {interface_id!r}")
