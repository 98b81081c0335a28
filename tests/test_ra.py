"""Router Advertisement parsing and Router Solicitation building (netstack/ra.py), with
scapy as the independent oracle for the bytes, and the simulator's own RA as a second
implementation."""

from __future__ import annotations

from ipaddress import IPv6Address, IPv6Network

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scapy.layers.inet6 import (
    ICMPv6ND_RA,
    ICMPv6ND_RS,
    ICMPv6NDOptMTU,
    ICMPv6NDOptPrefixInfo,
    ICMPv6NDOptRDNSS,
    ICMPv6NDOptUnknown,
    IPv6,
)
from scapy.packet import Packet

from bridge.simulator.hosts import router_advertisement
from bridge.simulator.plan import DEFAULT_PLAN
from netstack.errors import UsageError
from netstack.ra import (
    ALL_ROUTERS,
    INFINITE_LIFETIME,
    PrefixInformation,
    RouterAdvertisement,
    SlaacAddress,
    build_router_solicitation,
    is_router_advertisement,
    link_local_address,
    parse_router_advertisement,
    slaac_addresses,
)

ROUTER = "fe80::1"
IID = bytes.fromhex("0211223344556677")
PREFIX = "2001:db8:2::"


def ra(*options: Packet, src: str = ROUTER, hlim: int = 255, **fields: object) -> bytes:
    """A Router Advertisement as scapy builds it (checksum computed by scapy)."""
    packet = IPv6(src=src, dst="ff02::1", hlim=hlim) / ICMPv6ND_RA(**fields)
    for option in options:
        packet = packet / option
    return bytes(packet)


def pio(prefix: str = PREFIX, length: int = 64, **fields: object) -> Packet:
    settings: dict[str, object] = {"L": 1, "A": 1, "validlifetime": 86400}
    settings.update({"preferredlifetime": 14400, **fields})
    return ICMPv6NDOptPrefixInfo(prefix=prefix, prefixlen=length, **settings)


# --- Router Solicitation ------------------------------------------------------------------


def test_router_solicitation_per_rfc4861_4_1() -> None:
    source = link_local_address(IID)
    packet = IPv6(build_router_solicitation(source))
    assert (packet.src, packet.dst, packet.hlim, packet.nh) == (
        str(source),
        str(ALL_ROUTERS),
        255,
        58,
    )
    rs = packet[ICMPv6ND_RS]
    assert (rs.type, rs.code, rs.res) == (133, 0, 0)
    assert not rs.payload  # no Source Link-Layer Address option: PPP has no such address
    sent = rs.cksum
    del rs.cksum  # scapy recomputes it over the pseudo-header
    assert IPv6(bytes(packet))[ICMPv6ND_RS].cksum == sent


def test_router_solicitation_from_the_unspecified_address() -> None:
    assert IPv6(build_router_solicitation(IPv6Address("::"))).src == "::"


def test_router_solicitation_refuses_a_global_source() -> None:
    with pytest.raises(UsageError):
        build_router_solicitation(IPv6Address("2001:db8::1"))


def test_link_local_address_from_the_interface_identifier() -> None:
    assert link_local_address(IID) == IPv6Address("fe80::211:2233:4455:6677")
    for bad in (bytes(8), b"\x01" * 7, b"\x01" * 9):
        with pytest.raises(UsageError):
            link_local_address(bad)


# --- Router Advertisement: what a valid one says ------------------------------------------


def test_parse_the_full_advertisement() -> None:
    rdnss = ICMPv6NDOptRDNSS(lifetime=600, dns=["2001:db8:1::53", "2001:db8:1::54"])
    packet = ra(
        pio(),
        ICMPv6NDOptMTU(mtu=1400),
        rdnss,
        chlim=64,
        M=1,
        O=0,
        routerlifetime=1800,
        reachabletime=30000,
        retranstimer=1000,
    )
    assert is_router_advertisement(packet)
    assert parse_router_advertisement(packet) == RouterAdvertisement(
        router=IPv6Address(ROUTER),
        cur_hop_limit=64,
        managed=True,
        other_config=False,
        router_lifetime=1800,
        reachable_time=30000,
        retrans_timer=1000,
        prefixes=(PrefixInformation(IPv6Network("2001:db8:2::/64"), True, True, 86400, 14400),),
        mtu=1400,
        dns_servers=(IPv6Address("2001:db8:1::53"), IPv6Address("2001:db8:1::54")),
        dns_lifetime=600,
    )


def test_parse_the_simulators_advertisement() -> None:
    parsed = parse_router_advertisement(router_advertisement(DEFAULT_PLAN))
    assert parsed is not None
    assert parsed.router == DEFAULT_PLAN.gateway_link_local
    assert [p.prefix for p in parsed.prefixes] == [DEFAULT_PLAN.client_prefix]
    assert parsed.mtu == 1500 and parsed.router_lifetime == 1800


def test_prefix_bits_past_the_length_are_ignored() -> None:
    """RFC 4861 4.6.2: those bits "MUST be ... ignored by the receiver"."""
    parsed = parse_router_advertisement(ra(pio(prefix="2001:db8:2::ff", length=64)))
    assert parsed is not None and parsed.prefixes[0].prefix == IPv6Network("2001:db8:2::/64")


def test_unknown_options_are_skipped() -> None:
    unknown = ICMPv6NDOptUnknown(type=200, len=1, data=b"\x00" * 6)
    parsed = parse_router_advertisement(ra(unknown, pio()))
    assert parsed is not None and len(parsed.prefixes) == 1


@pytest.mark.parametrize(
    "option",
    [
        ICMPv6NDOptUnknown(type=3, len=1, data=b"\x00" * 6),  # Prefix Information, Length 1
        ICMPv6NDOptUnknown(type=5, len=2, data=b"\x00" * 14),  # MTU, Length 2
        ICMPv6NDOptUnknown(type=25, len=2, data=b"\x00" * 14),  # RDNSS, even Length
        ICMPv6NDOptUnknown(type=25, len=1, data=b"\x00" * 6),  # RDNSS, no address
        pio(length=129),
    ],
    ids=["pio-short", "mtu-long", "rdnss-even", "rdnss-empty", "pio-length-129"],
)
def test_a_bad_option_is_ignored_alone(option: Packet) -> None:
    parsed = parse_router_advertisement(ra(option, pio(prefix="2001:db8:9::")))
    assert parsed is not None
    assert [p.prefix for p in parsed.prefixes] == [IPv6Network("2001:db8:9::/64")]
    assert parsed.mtu is None and parsed.dns_servers == ()


# --- Router Advertisement: what RFC 4861 6.1.2 discards -----------------------------------


def corrupt_checksum(packet: bytes) -> bytes:
    return packet[:42] + bytes([packet[42] ^ 0xFF]) + packet[43:]


@pytest.mark.parametrize(
    "packet",
    [
        ra(pio(), hlim=254),
        ra(pio(), src="2001:db8::1"),
        corrupt_checksum(ra(pio())),
        ra(pio(), code=1),
        ra(ICMPv6NDOptUnknown(type=200, len=0, data=b"")),  # Length 0
        ra(pio())[:-8],  # the option runs past the end (IPv6 Payload Length cut too)
    ],
    ids=["hop-limit", "global-source", "checksum", "code", "option-length-0", "truncated"],
)
def test_invalid_advertisements_are_refused(packet: bytes) -> None:
    assert is_router_advertisement(packet)  # claims to be one: the caller counts it
    assert parse_router_advertisement(packet) is None


def test_option_running_past_the_message_is_refused() -> None:
    packet = bytearray(ra(pio()))
    packet[40 + 16 + 1] = 5  # Prefix Information claims 40 octets; 32 are there
    fixed = IPv6(bytes(packet))
    del fixed[ICMPv6ND_RA].cksum
    assert parse_router_advertisement(bytes(fixed)) is None


def test_other_packets_are_not_advertisements() -> None:
    rs = build_router_solicitation(link_local_address(IID))
    assert not is_router_advertisement(rs)
    assert parse_router_advertisement(rs) is None
    assert not is_router_advertisement(b"\x45" + bytes(60))


@given(st.binary(max_size=200))
def test_garbage_never_raises(data: bytes) -> None:
    parse_router_advertisement(data)
    parse_router_advertisement(bytes(IPv6(src=ROUTER, dst="ff02::1", hlim=255, nh=58)) + data)


@given(st.integers(min_value=40, max_value=103), st.integers(min_value=0, max_value=255))
def test_any_byte_changed_never_raises(position: int, value: int) -> None:
    packet = bytearray(ra(pio(), ICMPv6NDOptMTU(mtu=1400), ICMPv6NDOptRDNSS(dns=["2001:db8::53"])))
    packet[position % len(packet)] = value
    parse_router_advertisement(bytes(packet))


# --- SLAAC: RFC 4862 5.5.3 ----------------------------------------------------------------


def slaac(*options: Packet) -> tuple[SlaacAddress, ...]:
    parsed = parse_router_advertisement(ra(*options))
    assert parsed is not None
    return slaac_addresses(parsed, IID)


def test_slaac_forms_prefix_plus_identifier() -> None:
    assert slaac(pio(L=0)) == (
        SlaacAddress(
            IPv6Address("2001:db8:2::211:2233:4455:6677"),
            IPv6Network("2001:db8:2::/64"),
            on_link=False,
            valid_lifetime=86400,
            preferred_lifetime=14400,
        ),
    )


def test_slaac_skips_what_rfc4862_ignores() -> None:
    assert slaac(pio(A=0)) == ()  # a)
    assert slaac(pio(prefix="fe80::")) == ()  # b)
    assert slaac(pio(validlifetime=100, preferredlifetime=200)) == ()  # c)
    assert slaac(pio(length=48), pio(length=96)) == ()  # d)


def test_slaac_keeps_a_zero_valid_lifetime_and_infinity() -> None:
    withdrawn, forever = slaac(
        pio(validlifetime=0, preferredlifetime=0),
        pio(
            prefix="2001:db8:3::",
            validlifetime=INFINITE_LIFETIME,
            preferredlifetime=INFINITE_LIFETIME,
        ),
    )
    assert withdrawn.valid_lifetime == 0
    assert forever.valid_lifetime == forever.preferred_lifetime == INFINITE_LIFETIME
