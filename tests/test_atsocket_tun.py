"""netstack.atsocket, the TUN side: what cannot travel through the modem's UDP sockets is
answered at once (RFC 4443), or absorbed and counted, and never reaches the modem; what
can is cut to the maximum AT line length where the command allows it.

Packets are built with scapy; the ICMPv6 errors are read back with scapy (type, code,
MTU, checksum, the invoking packet quoted within 1280 octets).
"""

from __future__ import annotations

from ipaddress import IPv6Address

import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import (
    ICMPv6DestUnreach,
    ICMPv6MLReport,
    ICMPv6MLReport2,
    ICMPv6ND_NA,
    ICMPv6ND_NS,
    ICMPv6ND_RS,
    ICMPv6NIQueryName,
    IPv6,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    IPv6ExtHdrRouting,
    RouterAlert,
)
from scapy.packet import Raw

from atsocket_rig import (
    ALL_ROUTERS,
    HOST,
    HOST_LINK_LOCAL,
    MLDV2_ROUTERS,
    REMOTE,
    ROUTER,
    Rig,
    icmp_error,
    scripted,
    tcp_syn,
    too_big_mtu,
    udp,
    unreachable_code,
)
from netstack.atsocket import AtSocketBridge
from netstack.atsocket_vendors import UBLOX_SARA_R4_INLINE_HEX, VENDORS
from netstack.errors import UsageError

VENDOR_NAMES = ["sequans", "telit", "quectel", "ublox"]
NO_ROUTE, PROHIBITED, BEYOND_SCOPE, ADDRESS_UNREACHABLE, SOURCE_POLICY = 0, 1, 2, 3, 5
PYCOM_LINE = 124
"""Pycom firmware: LTE_AT_CMD_SIZE_MAX 128 less 4 reserved (at-commands.md 1.8)."""


@pytest.fixture(params=VENDOR_NAMES)
def vendor_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def refused(rig: Rig, packet: bytes) -> int:
    """The packet is answered Destination Unreachable at once and nothing goes to the
    modem; its code."""
    rig.host(packet)
    assert rig.log == []
    return unreachable_code(rig.one_to_host(), packet)


def absorbed(rig: Rig, packet: bytes) -> dict[str, int]:
    """The packet is dropped without a word: nothing to the modem or to the host."""
    rig.host(packet)
    assert rig.log == [] and rig.host_packets() == []
    return rig.stats()


# --- refused at once ------------------------------------------------------------------


def test_tcp_is_administratively_prohibited(vendor_name: str) -> None:
    rig, _ = scripted(vendor_name)
    assert refused(rig, tcp_syn()) == PROHIBITED
    assert rig.stats()["refused_tcp"] == 1


@pytest.mark.parametrize("protocol", [132, 136, 59])  # SCTP, UDP-Lite, No Next Header
def test_other_protocols_are_administratively_prohibited(protocol: int) -> None:
    rig, _ = scripted("sequans")
    packet = bytes(IPv6(src=str(HOST), dst=str(REMOTE), nh=protocol) / Raw(b"\0" * 12))
    assert refused(rig, packet) == PROHIBITED
    assert rig.stats()["refused_protocols"] == 1


def test_a_routing_header_is_prohibited() -> None:
    rig, _ = scripted("telit")
    packet = bytes(
        IPv6(src=str(HOST), dst=str(REMOTE))
        / IPv6ExtHdrRouting(addresses=["2001:db8::99"])
        / UDP(sport=40000, dport=53)
    )
    assert refused(rig, packet) == PROHIBITED
    assert rig.stats()["refused_extension_headers"] == 1


def test_a_first_fragment_is_prohibited_later_ones_dropped() -> None:
    rig, _ = scripted("quectel")
    base = IPv6(src=str(HOST), dst=str(REMOTE))
    first = bytes(base / IPv6ExtHdrFragment(offset=0, m=1, id=7) / UDP(sport=1, dport=2))
    later = bytes(base / IPv6ExtHdrFragment(offset=100, m=0, id=7) / Raw(b"x" * 16))
    assert refused(rig, first) == PROHIBITED
    assert absorbed(rig, later)["refused_fragments"] == 2


def test_hop_by_hop_options_are_skipped_for_udp() -> None:
    rig, modem = scripted("sequans")
    packet = bytes(
        IPv6(src=str(HOST), dst=str(REMOTE))
        / IPv6ExtHdrHopByHop()
        / UDP(sport=40000, dport=5683)
        / Raw(b"hbh")
    )
    rig.host(packet)
    assert [s.data for s in modem.sent] == [b"hbh"]


@pytest.mark.parametrize(
    ("src", "dst", "code", "counter"),
    [
        ("2001:db8:aa::99", str(REMOTE), SOURCE_POLICY, "refused_source"),
        (str(HOST_LINK_LOCAL), str(REMOTE), BEYOND_SCOPE, "refused_source"),
        (str(HOST), "fe80::99", ADDRESS_UNREACHABLE, "refused_destination"),
        (str(HOST), "::1", NO_ROUTE, "refused_destination"),
        (str(HOST), "::ffff:192.0.2.1", NO_ROUTE, "refused_destination"),
    ],
)
def test_addresses_the_modem_cannot_use(src: str, dst: str, code: int, counter: str) -> None:
    rig, _ = scripted("ublox")
    packet = udp(src=src, dst=dst)
    rig.host(packet)
    assert rig.log == []
    answer = rig.one_to_host()
    parsed = IPv6(answer)
    assert parsed.dst == src and parsed.src == str(ROUTER)
    assert parsed[ICMPv6DestUnreach].code == code
    assert answer[48:] == packet
    assert rig.stats()[counter] == 1


@pytest.mark.parametrize(("sport", "dport"), [(0, 53), (40000, 0)])
def test_port_zero_is_prohibited(sport: int, dport: int) -> None:
    rig, _ = scripted("telit")
    assert refused(rig, udp(sport=sport, dport=dport)) == PROHIBITED
    assert rig.stats()["refused_ports"] == 1


def test_an_empty_datagram_is_prohibited(vendor_name: str) -> None:
    """No send command takes zero octets (Quectel AT+QISEND=<id>,0 is a query)."""
    rig, _ = scripted(vendor_name)
    assert refused(rig, udp(b"")) == PROHIBITED
    assert rig.stats()["refused_empty"] == 1


# --- absorbed -----------------------------------------------------------------------


def test_router_solicitation_absorbed(vendor_name: str) -> None:
    rig, _ = scripted(vendor_name)
    rs = IPv6(src=str(HOST_LINK_LOCAL), dst=ALL_ROUTERS, hlim=255) / ICMPv6ND_RS()
    assert absorbed(rig, bytes(rs))["absorbed_router_solicitations"] == 1


def test_mld_reports_absorbed(vendor_name: str) -> None:
    """RFC 3810 5.2 / RFC 2710 3: with a Hop-by-Hop Router Alert, from :: during DAD."""
    rig, _ = scripted(vendor_name)
    hop = IPv6ExtHdrHopByHop(options=[RouterAlert()])
    v2 = IPv6(src="::", dst=MLDV2_ROUTERS, hlim=1) / hop / ICMPv6MLReport2()
    v1 = IPv6(src=str(HOST_LINK_LOCAL), dst="ff02::1:ff00:2", hlim=1) / hop / ICMPv6MLReport()
    absorbed(rig, bytes(v2))
    assert absorbed(rig, bytes(v1))["absorbed_mld"] == 2


def test_neighbor_discovery_absorbed(vendor_name: str) -> None:
    rig, _ = scripted(vendor_name)
    dad = IPv6(src="::", dst="ff02::1:ff00:2", hlim=255) / ICMPv6ND_NS(tgt=str(HOST))
    na = IPv6(src=str(HOST_LINK_LOCAL), dst=str(ROUTER), hlim=255) / ICMPv6ND_NA(tgt=str(HOST))
    absorbed(rig, bytes(dad))
    assert absorbed(rig, bytes(na))["absorbed_neighbor_discovery"] == 2


def test_multicast_udp_absorbed() -> None:
    rig, _ = scripted("quectel")
    mdns = udp(b"query", sport=5353, dport=5353, src=HOST_LINK_LOCAL, dst="ff02::fb")
    assert absorbed(rig, mdns)["absorbed_multicast"] == 1


def test_icmpv6_errors_and_other_informational_absorbed() -> None:
    rig, _ = scripted("telit")
    error = IPv6(src=str(HOST), dst=str(REMOTE)) / ICMPv6DestUnreach() / Raw(tcp_syn())
    query = IPv6(src=str(HOST), dst=str(REMOTE)) / ICMPv6NIQueryName(data="example")
    absorbed(rig, bytes(error))
    stats = absorbed(rig, bytes(query))
    assert stats["absorbed_icmpv6_errors"] == stats["absorbed_icmpv6_other"] == 1


@pytest.mark.parametrize(
    ("packet", "counter"),
    [
        (b"", "malformed"),
        (b"\x60" + bytes(20), "malformed"),  # shorter than the IPv6 header
        (udp(b"hello")[:-2], "malformed"),  # Payload Length beyond the bytes
        (udp(b"hello")[:-1] + b"!", "malformed"),  # the UDP checksum fails
        (udp(b"hello")[:46] + b"\0\0" + udp(b"hello")[48:], "malformed"),  # IPv6 needs one
        (bytes(IP(src="192.0.2.1", dst="192.0.2.2") / UDP()), "not_ipv6"),
    ],
    ids=["empty", "short", "cut", "checksum", "zero-checksum", "ipv4"],
)
def test_garbage_from_the_host_dropped_and_counted(packet: bytes, counter: str) -> None:
    rig, _ = scripted("sequans")
    assert absorbed(rig, packet)[counter] == 1


def test_unspecified_source_never_answered() -> None:
    rig, _ = scripted("sequans")
    assert absorbed(rig, udp(src="::"))["bad_source"] == 1


# --- sizes ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "limit", "mtu"),
    [("sequans", 1500, 1548), ("telit", 1500, 1548), ("quectel", 1460, 1508)],
)
def test_oversize_gets_packet_too_big(name: str, limit: int, mtu: int) -> None:
    """RFC 4443 3.2 with the MTU the modem's payload limit leaves (>= 1280)."""
    rig, modem = scripted(name)
    assert rig.bridge.mtu == mtu
    rig.host(udp(bytes(limit)))
    rig.advance(1.0)
    assert [len(s.data) for s in modem.sent] == [limit]
    too_big = udp(bytes(limit + 1))
    rig.host(too_big)
    assert too_big_mtu(rig.one_to_host(), too_big) == mtu
    assert rig.bridge.statistics().refused_oversize == 1


def test_oversize_below_1280_is_prohibited() -> None:
    """u-blox datagrams are kept to what one hex-mode read returns whole, 512 octets
    (at-commands.md 4.4): an MTU of 560 would be ignored by the host (RFC 8201 4), so the
    answer is administratively prohibited."""
    rig, modem = scripted("ublox")
    assert rig.bridge.mtu == 560
    rig.host(udp(bytes(512)))
    rig.advance(1.0)
    assert [len(s.data) for s in modem.sent] == [512]
    too_big = udp(bytes(513))
    rig.host(too_big)
    assert unreachable_code(rig.one_to_host(), too_big) == PROHIBITED
    assert rig.bridge.statistics().refused_oversize == 1


def test_an_error_quotes_at_most_what_fits_1280() -> None:
    rig, _ = scripted("sequans")
    big = bytes(
        IPv6(src=str(HOST), dst=str(REMOTE)) / TCP(sport=1, dport=2) / Raw(bytes(range(256)) * 6)
    )
    rig.host(big)
    answer = rig.one_to_host()
    assert len(answer) == 1280
    assert unreachable_code(answer, big) == PROHIBITED


# --- the maximum AT line length -----------------------------------------------------


@pytest.mark.parametrize("name", VENDOR_NAMES)
def test_payload_after_a_prompt_is_written_in_pieces_of_the_line_limit(name: str) -> None:
    rig, modem = scripted(name, max_line=PYCOM_LINE)
    limit = rig.vendor.payload_limit
    payload = bytes(i % 251 for i in range(limit))
    rig.host(udp(payload))
    rig.advance(1.0)
    assert [s.data for s in modem.sent] == [payload]
    assert max(len(w) for w in rig.log) <= PYCOM_LINE
    written = len(payload) * (2 if rig.vendor.payload_hex else 1)
    pieces = [w for w in rig.log if not w.endswith(b"\r")]
    assert len(pieces) == -(-written // PYCOM_LINE)  # Sequans hex: 62 octets a piece
    assert rig.bridge.mtu == limit + 48


def test_payload_inside_the_line_refused_beyond_the_line_limit() -> None:
    """u-blox base syntax in hex: the line cannot be cut, the room it leaves is the
    limit; beyond it, prohibited (an MTU that small is no use), counted."""
    rig = Rig.of(UBLOX_SARA_R4_INLINE_HEX, max_line=PYCOM_LINE)
    longest = f'AT+USOST=6,"{IPv6Address(int("f" * 32, 16))}",65535,512,""'
    assert rig.bridge.mtu == (PYCOM_LINE - len(longest)) // 2 + 48  # to any address
    line = f'AT+USOST=6,"{REMOTE}",5683,512,""'  # the widest id and length
    room = (PYCOM_LINE - len(line)) // 2
    too_long = udp(bytes(room + 1))
    rig.host(too_long)
    assert rig.log == []
    assert unreachable_code(rig.one_to_host(), too_long) == PROHIBITED
    assert rig.bridge.statistics().refused_line_limit == 1
    rig.host(udp(bytes(room)))
    rig.exchange("AT+UDCONF=1,1", "\r\nOK\r\n")
    rig.exchange("AT+USOCR=17,40000", "\r\n+USOCR: 0\r\n\r\nOK\r\n")
    command = rig.take_write()
    assert len(command) - 1 <= PYCOM_LINE and command.endswith(b'"' + b"00" * room + b'"\r')


def test_inline_hex_without_a_line_limit_is_capped_by_the_payload_limit() -> None:
    rig = Rig.of(UBLOX_SARA_R4_INLINE_HEX)
    assert rig.bridge.mtu == 512 + 48
    too_big = udp(bytes(513))
    rig.host(too_big)
    assert unreachable_code(rig.one_to_host(), too_big) == PROHIBITED
    assert rig.bridge.statistics().refused_oversize == 1


# --- rate limit -----------------------------------------------------------------------


def test_icmpv6_errors_are_rate_limited() -> None:
    """RFC 4443 2.4 (f): a token bucket of icmp_errors_per_second."""
    rig, _ = scripted("telit", icmp_errors_per_second=5.0)
    rig.host(*[tcp_syn(port) for port in range(1, 9)])
    assert len(rig.host_packets()) == 5
    assert rig.stats()["icmp_rate_limited"] == 3 and rig.stats()["refused_tcp"] == 8
    rig.advance(0.2)  # one token back
    rig.host(tcp_syn(), tcp_syn())
    assert len(rig.host_packets()) == 1


def test_every_error_is_well_formed() -> None:
    rig, _ = scripted("quectel")
    for packet in (tcp_syn(), udp(bytes(1461)), udp(sport=0)):
        rig.host(packet)
        icmp_error(rig.one_to_host())


# --- settings -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {"local_address": IPv6Address("fe80::1")},
        {"local_address": IPv6Address("::")},
        {"local_address": "2001:db8::1"},
        {"cid": -1},
        {"max_line": 15},
        {"max_line": 44},  # AT+SQNSD=6,1,65535,"<39 characters>",... takes more
        {"idle_timeout": 0},
        {"ping_timeout": float("nan")},
        {"ping_queue": 0},
        {"backlog": 0},
        {"icmp_errors_per_second": 0},
    ],
)
def test_bad_settings_are_misuse(options: dict[str, object]) -> None:
    options.setdefault("local_address", HOST)
    with pytest.raises(UsageError):
        AtSocketBridge(VENDORS["sequans"], **options)  # type: ignore[arg-type]
