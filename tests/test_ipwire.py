"""IPv4/IPv6 wire helpers against scapy as an independent oracle: packets built by one are
parsed by the other, checksums re-computed by scapy, and garbage never escapes as anything
but MalformedPacket."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import ICMPv6EchoReply, ICMPv6EchoRequest, IPv6
from scapy.packet import Packet

from netstack.errors import MalformedPacket, UsageError
from netstack.ipwire import (
    IpProtocol,
    build_icmp_echo,
    build_ip,
    build_tcp,
    build_udp,
    checksum,
    echo_reply_for,
    parse_icmp_echo,
    parse_ip,
    parse_udp,
)

V4A, V4B = IPv4Address("192.0.2.1"), IPv4Address("198.51.100.7")
V6A, V6B = IPv6Address("2001:db8::1"), IPv6Address("fe80::2")
PAIRS = [(V4A, V4B), (V6A, V6B)]
FAST = settings(max_examples=200, deadline=None)


def scapy_parse(packet: bytes) -> Packet:
    return IP(packet) if packet[0] >> 4 == 4 else IPv6(packet)


def scapy_ip(src: IPv4Address | IPv6Address, dst: IPv4Address | IPv6Address) -> Packet:
    if isinstance(src, IPv4Address):
        return IP(src=str(src), dst=str(dst), ttl=64, id=0, flags=0)
    return IPv6(src=str(src), dst=str(dst), hlim=64)


# --- checksum ---------------------------------------------------------------------------


def test_checksum_rfc1071_example() -> None:
    # RFC 1071 3: the words 0001 f203 f4f5 f6f7 sum to ddf2 (one's complement: 220d).
    assert checksum(bytes.fromhex("0001f203f4f5f6f7")) == 0x220D


def test_checksum_pads_odd_length_and_validates_to_zero() -> None:
    assert checksum(b"\xab") == checksum(b"\xab\x00")
    data = b"hello world!"
    value = checksum(data)
    assert checksum(data + value.to_bytes(2, "big")) == 0


# --- builders vs scapy ------------------------------------------------------------------


@pytest.mark.parametrize(("src", "dst"), PAIRS)
def test_build_udp_matches_scapy(src: IPv4Address, dst: IPv4Address) -> None:
    ours = build_udp(src, dst, 4000, 53, b"payload")
    assert ours == bytes(scapy_ip(src, dst) / UDP(sport=4000, dport=53) / b"payload")


@pytest.mark.parametrize(("src", "dst"), PAIRS)
def test_build_icmp_echo_matches_scapy(src: IPv4Address, dst: IPv4Address) -> None:
    for reply in (False, True):
        ours = build_icmp_echo(src, dst, reply=reply, ident=0x1234, seq=7, payload=b"ping")
        if isinstance(src, IPv4Address):
            icmp: Packet = ICMP(type=0 if reply else 8, id=0x1234, seq=7)
        else:
            icmp = (ICMPv6EchoReply if reply else ICMPv6EchoRequest)(id=0x1234, seq=7)
        assert ours == bytes(scapy_ip(src, dst) / icmp / b"ping")


@pytest.mark.parametrize(("src", "dst"), PAIRS)
def test_build_tcp_matches_scapy(src: IPv4Address, dst: IPv4Address) -> None:
    ours = build_tcp(src, dst, 7, 40000, 1000, 2000, 0x12, b"data", window=1024)
    theirs = TCP(sport=7, dport=40000, seq=1000, ack=2000, flags="SA", window=1024)
    assert ours == bytes(scapy_ip(src, dst) / theirs / b"data")


def test_build_ip_hop_limit_and_protocol() -> None:
    v4 = IP(build_ip(V4A, V4B, 99, b"x", hop_limit=3))
    assert (v4.ttl, v4.proto, v4.len, bytes(v4.payload)) == (3, 99, 21, b"x")
    v6 = IPv6(build_ip(V6A, V6B, 99, b"x", hop_limit=255))
    assert (v6.hlim, v6.nh, v6.plen) == (255, 99, 1)


def test_build_ip_header_checksum_matches_scapy() -> None:
    ours = IP(build_ip(V4A, V4B, 17, b"abc"))
    sent = ours.chksum
    del ours.chksum
    assert IP(bytes(ours)).chksum == sent


def test_builder_misuse_raises_usage_error() -> None:
    with pytest.raises(UsageError):
        build_ip(V4A, V6B, 17, b"")
    with pytest.raises(UsageError):
        build_udp(V6A, V6B, 1, 2, bytes(70000))


@given(st.binary(max_size=600), st.integers(0, 0xFFFF), st.integers(0, 0xFFFF))
@FAST
def test_udp_checksums_agree_with_scapy(payload: bytes, sport: int, dport: int) -> None:
    for src, dst in PAIRS:
        packet = scapy_parse(build_udp(src, dst, sport, dport, payload))
        sent = packet[UDP].chksum
        del packet[UDP].chksum
        assert scapy_parse(bytes(packet))[UDP].chksum == sent


def test_udp_checksum_zero_is_sent_as_ffff() -> None:
    # Find a payload whose checksum computes to 0 by making the sum 0xffff (RFC 768).
    base = build_udp(V4A, V4B, 1, 2, b"\0\0")
    value = int.from_bytes(base[26:28], "big")
    patched = build_udp(V4A, V4B, 1, 2, value.to_bytes(2, "big"))
    assert patched[26:28] == b"\xff\xff"
    assert parse_udp(parse_ip(patched)) == (1, 2, value.to_bytes(2, "big"))


# --- parsers vs scapy -------------------------------------------------------------------


def test_parse_ip_of_scapy_ipv4_with_options_and_padding() -> None:
    packet = bytes(IP(src=str(V4A), dst=str(V4B), ttl=9, options=[b"\x01\x01\x01\x00"]) / b"hi")
    ip = parse_ip(packet + b"\0\0pad")
    assert (ip.version, ip.src, ip.dst, ip.protocol, ip.hop_limit) == (4, V4A, V4B, 0, 9)
    assert ip.payload == b"hi" and not ip.fragment


def test_parse_ip_of_scapy_ipv6() -> None:
    packet = bytes(IPv6(src=str(V6A), dst=str(V6B), nh=59, hlim=1) / b"xyz")
    ip = parse_ip(packet + b"pad")
    assert (ip.version, ip.src, ip.dst, ip.protocol, ip.hop_limit) == (6, V6A, V6B, 59, 1)
    assert ip.payload == b"xyz"


def test_parse_ip_marks_fragments() -> None:
    assert parse_ip(bytes(IP(src=str(V4A), dst=str(V4B), flags="MF") / b"x")).fragment
    assert parse_ip(bytes(IP(src=str(V4A), dst=str(V4B), frag=3) / b"x")).fragment


@pytest.mark.parametrize(
    "packet",
    [
        b"",
        b"\x45" * 19,
        b"\x60" + bytes(38),
        b"\x50" + bytes(40),  # version 5
        bytes(IP(src=str(V4A), dst=str(V4B), ihl=4)),
        bytes(IP(src=str(V4A), dst=str(V4B), len=200)),
        bytes(IP(src=str(V4A), dst=str(V4B), len=10)),
        bytes(IP(src=str(V4A), dst=str(V4B), chksum=0x1234)),
        bytes(IPv6(src=str(V6A), dst=str(V6B), plen=5) / b"abc"),
    ],
    ids=["empty", "short4", "short6", "version", "ihl", "long", "total<ihl", "chksum", "plen"],
)
def test_parse_ip_rejects(packet: bytes) -> None:
    with pytest.raises(MalformedPacket):
        parse_ip(packet)


@pytest.mark.parametrize(("src", "dst"), PAIRS)
def test_parse_udp_of_scapy(src: IPv4Address, dst: IPv4Address) -> None:
    packet = bytes(scapy_ip(src, dst) / UDP(sport=5353, dport=7) / b"echo me")
    assert parse_udp(parse_ip(packet)) == (5353, 7, b"echo me")


def test_parse_udp_ipv4_without_checksum_is_accepted() -> None:
    packet = bytes(IP(src=str(V4A), dst=str(V4B)) / UDP(sport=1, dport=2, chksum=0) / b"x")
    assert parse_udp(parse_ip(packet)) == (1, 2, b"x")


@pytest.mark.parametrize(
    "packet",
    [
        bytes(IPv6(src=str(V6A), dst=str(V6B)) / UDP(sport=1, dport=2, chksum=0) / b"x"),
        bytes(IP(src=str(V4A), dst=str(V4B)) / UDP(sport=1, dport=2, chksum=1) / b"x"),
        bytes(IP(src=str(V4A), dst=str(V4B)) / UDP(sport=1, dport=2, len=100) / b"x"),
        bytes(IP(src=str(V4A), dst=str(V4B)) / UDP(sport=1, dport=2, len=7) / b"x"),
        bytes(IP(src=str(V4A), dst=str(V4B), proto=17) / b"short"),
        bytes(IP(src=str(V4A), dst=str(V4B)) / TCP()),
    ],
    ids=["v6-zero", "chksum", "len-long", "len-short", "short", "tcp"],
)
def test_parse_udp_rejects(packet: bytes) -> None:
    with pytest.raises(MalformedPacket):
        parse_udp(parse_ip(packet))


def test_parse_udp_honours_length_shorter_than_ip_payload() -> None:
    datagram = bytes(IP(src=str(V4A), dst=str(V4B)) / UDP(sport=1, dport=2) / b"abc")[20:]
    assert datagram[6:8] != b"\0\0"  # scapy filled in the checksum
    packet = build_ip(V4A, V4B, IpProtocol.UDP, datagram + b"trailer")
    assert parse_udp(parse_ip(packet)) == (1, 2, b"abc")


@pytest.mark.parametrize(("src", "dst"), PAIRS)
def test_parse_icmp_echo_of_scapy(src: IPv4Address, dst: IPv4Address) -> None:
    if isinstance(src, IPv4Address):
        request, reply = ICMP(type=8, id=5, seq=6), ICMP(type=0, id=5, seq=6)
    else:
        request, reply = ICMPv6EchoRequest(id=5, seq=6), ICMPv6EchoReply(id=5, seq=6)
    base = scapy_ip(src, dst)
    assert parse_icmp_echo(parse_ip(bytes(base / request / b"d"))) == (False, 5, 6, b"d")
    assert parse_icmp_echo(parse_ip(bytes(base / reply / b"d"))) == (True, 5, 6, b"d")


def test_parse_icmp_echo_none_for_other_messages_and_raises_on_bad_checksum() -> None:
    unreachable = IP(src=str(V4A), dst=str(V4B)) / ICMP(type=3, code=1)
    assert parse_icmp_echo(parse_ip(bytes(unreachable))) is None
    assert parse_icmp_echo(parse_ip(build_udp(V4A, V4B, 1, 2, b""))) is None
    bad = IPv6(src=str(V6A), dst=str(V6B)) / ICMPv6EchoRequest(cksum=1)
    with pytest.raises(MalformedPacket):
        parse_icmp_echo(parse_ip(bytes(bad)))
    with pytest.raises(MalformedPacket):
        parse_icmp_echo(parse_ip(build_ip(V4A, V4B, IpProtocol.ICMP, b"\x08\0\0")))


@pytest.mark.parametrize(("src", "dst"), PAIRS)
def test_echo_reply_for_swaps_addresses_and_keeps_data(src: IPv4Address, dst: IPv4Address) -> None:
    request = build_icmp_echo(src, dst, reply=False, ident=9, seq=3, payload=b"abc")
    reply = echo_reply_for(request)
    assert reply == build_icmp_echo(dst, src, reply=True, ident=9, seq=3, payload=b"abc")
    assert reply is not None and echo_reply_for(reply) is None
    assert echo_reply_for(request[:-4]) is None  # Total Length beyond the bytes


# --- garbage ----------------------------------------------------------------------------


@given(st.binary(max_size=120))
@FAST
def test_parsers_raise_only_malformed_packet(data: bytes) -> None:
    for packet in (data, b"\x45" + data, b"\x60" + data):
        try:
            ip = parse_ip(packet)
        except MalformedPacket:
            continue
        for parser in (parse_udp, parse_icmp_echo):
            try:
                parser(ip)
            except MalformedPacket:
                pass
        assert echo_reply_for(packet) is None or parse_ip(packet).protocol in (1, 58)


@given(st.binary(max_size=100))
@FAST
def test_parse_icmp_echo_on_valid_headers_with_random_payload(data: bytes) -> None:
    for src, dst in PAIRS:
        protocol = IpProtocol.ICMP if isinstance(src, IPv4Address) else IpProtocol.ICMPV6
        try:
            parse_icmp_echo(parse_ip(build_ip(src, dst, protocol, data)))
        except MalformedPacket:
            pass
