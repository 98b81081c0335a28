"""The simulated network's hosts (bridge.simulator.hosts) with scapy as the oracle: DNS
answers parsed by scapy's DNS layer, the Router Advertisement by its ND layers, echo and
UDP replies by its IP layers; garbage never raises."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.dns import DNS, DNSQR, DNSRROPT
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import (
    ICMPv6EchoReply,
    ICMPv6EchoRequest,
    ICMPv6ND_RA,
    ICMPv6ND_RS,
    ICMPv6NDOptMTU,
    ICMPv6NDOptPrefixInfo,
    ICMPv6NDOptSrcLLAddr,
    IPv6,
)
from scapy.packet import Packet

from bridge.simulator.hosts import (
    ALL_NODES,
    LocalResponder,
    dns_response,
    echo_request,
    is_router_solicitation,
    match_echo_reply,
    router_advertisement,
)
from bridge.simulator.plan import DEFAULT_PLAN as PLAN
from netstack.ipwire import build_icmp_echo, build_udp, echo_reply_for

FAST = settings(max_examples=300, deadline=None)
CLIENT4 = PLAN.client_ipv4
CLIENT6 = PLAN.client_global_ipv6
CLIENT_LL = IPv6Address("fe80::2")
QUERY_HEADER = bytes.fromhex("abcd 0100 0001 0000 0000 0000")  # id, RD, one question


def query(name: str, qtype: str = "A", **fields: object) -> bytes:
    return bytes(DNS(id=0x4242, rd=1, qd=DNSQR(qname=name, qtype=qtype), **fields))


def answer_of(message: bytes) -> DNS:
    response = dns_response(message)
    assert response is not None
    return DNS(response)


def addresses(response: DNS) -> list[str]:
    return [str(rr.rdata) for rr in response.an]


# --- DNS --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "qtype", "expected"),
    [
        ("echo.pppbridge.test", "A", ["198.51.100.1"]),
        ("echo.pppbridge.test", "AAAA", ["2001:db8:1::1"]),
        ("dns.pppbridge.test.", "AAAA", ["2001:db8:1::53"]),
        ("v4only.pppbridge.test", "A", ["198.51.100.4"]),
        ("v6only.pppbridge.test", "AAAA", ["2001:db8:1::6"]),
    ],
)
def test_dns_answers_a_and_aaaa(name: str, qtype: str, expected: list[str]) -> None:
    response = answer_of(query(name, qtype))
    assert (response.id, response.qr, response.opcode, response.rcode) == (0x4242, 1, 0, 0)
    assert (response.aa, response.rd, response.ra, response.tc) == (1, 1, 1, 0)
    assert addresses(response) == expected
    assert [rr.ttl for rr in response.an] == [60] * len(expected)
    assert [rr.rrname for rr in response.an] == [name.rstrip(".").encode() + b"."]
    assert response.qd[0].qname == name.rstrip(".").encode() + b"."


def test_dns_is_case_insensitive_and_echoes_the_question_case() -> None:
    response = answer_of(query("ECHO.PppBridge.TEST", "A"))
    assert addresses(response) == ["198.51.100.1"]
    assert response.qd[0].qname == b"ECHO.PppBridge.TEST."


def test_dns_copies_rd_clear() -> None:
    response = answer_of(bytes(DNS(id=1, rd=0, qd=DNSQR(qname="echo.pppbridge.test"))))
    assert (response.rd, response.ra, response.aa) == (0, 1, 1)


@pytest.mark.parametrize(
    ("name", "qtype"),
    [
        ("v4only.pppbridge.test", "AAAA"),
        ("v6only.pppbridge.test", "A"),
        ("echo.pppbridge.test", "MX"),
        ("pppbridge.test", "A"),  # RFC 8020: a name with names below it exists
    ],
)
def test_dns_nodata_is_noerror_without_answers(name: str, qtype: str) -> None:
    response = answer_of(query(name, qtype))
    assert (response.rcode, response.ancount, response.aa, response.qdcount) == (0, 0, 1, 1)


def test_dns_unknown_name_is_nxdomain() -> None:
    response = answer_of(query("nosuch.pppbridge.test"))
    assert (response.rcode, response.ancount, response.aa) == (3, 0, 1)
    assert response.qd[0].qname == b"nosuch.pppbridge.test."


def test_dns_other_class_has_no_records() -> None:
    message = bytes(DNS(id=2, qd=DNSQR(qname="echo.pppbridge.test", qclass="CH")))
    assert (answer_of(message).rcode, answer_of(message).ancount) == (0, 0)


def test_dns_ignores_edns_opt_record() -> None:
    response = answer_of(query("echo.pppbridge.test", ar=DNSRROPT()))
    assert addresses(response) == ["198.51.100.1"] and response.arcount == 0


def test_dns_other_opcode_is_notimp() -> None:
    response = answer_of(bytes(DNS(id=3, opcode=2, qd=DNSQR(qname="echo.pppbridge.test"))))
    assert (response.qr, response.opcode, response.rcode, response.id) == (1, 2, 4, 3)


@pytest.mark.parametrize(
    "message",
    [
        QUERY_HEADER[:5] + b"\x00" + QUERY_HEADER[6:],  # QDCOUNT 0
        QUERY_HEADER[:5] + b"\x02" + QUERY_HEADER[6:] + bytes(10),  # QDCOUNT 2
        QUERY_HEADER + b"\x04echo",  # name runs off the end
        QUERY_HEADER + b"\x04echo\x00\x00\x01",  # no QCLASS
        QUERY_HEADER + b"\x01x\xc0\x0c\x00\x01\x00\x01",  # pointer loop
        QUERY_HEADER + b"\xc0\x0c\x00\x01\x00\x01",  # pointer to itself
        QUERY_HEADER + b"\xc0\x20" + bytes(40),  # forward pointer
        QUERY_HEADER + b"\xc0",  # truncated pointer
        QUERY_HEADER + b"\x41x\x00\x00\x01\x00\x01",  # extended label type
        QUERY_HEADER + b"\x3f" + b"a" * 63 + b"\x3f" + b"b" * 63 + b"\x3f" + b"c" * 63
        + b"\x3f" + b"d" * 63 + b"\x00\x00\x01\x00\x01",  # 257-octet name
    ],
    ids=["qd0", "qd2", "name", "qclass", "loop", "self", "forward", "ptr", "label", "long"],
)  # fmt: skip
def test_dns_malformed_question_is_formerr(message: bytes) -> None:
    response = answer_of(message)
    assert (response.id, response.qr, response.rcode, response.qdcount) == (0xABCD, 1, 1, 0)
    assert response.rd == 1


def test_dns_follows_a_backward_pointer() -> None:
    # ANCOUNT 0x0161 reads as the label "a" at offset 6, NSCOUNT's 0 ends it: "x" + ptr(6).
    header = bytes.fromhex("abcd 0100 0001 0161 0000 0000")
    message = header + b"\x01x\xc0\x06\x00\x01\x00\x01"
    response = answer_of(message)
    assert (response.rcode, response.qd[0].qname) == (3, b"x.a.")


def test_dns_name_of_255_octets_is_allowed() -> None:
    labels = b"\x3f" + b"a" * 63 + b"\x3f" + b"b" * 63 + b"\x3f" + b"c" * 63 + b"\x3d" + b"d" * 61
    response = answer_of(QUERY_HEADER + labels + b"\x00\x00\x01\x00\x01")
    assert response.rcode == 3


def test_dns_no_answer_to_responses_or_short_messages() -> None:
    assert dns_response(bytes(DNS(id=1, qr=1, qd=DNSQR(qname="echo.pppbridge.test")))) is None
    assert dns_response(QUERY_HEADER[:11]) is None


@given(st.binary(max_size=300))
@FAST
def test_dns_never_raises(data: bytes) -> None:
    for message in (data, QUERY_HEADER + data):
        response = dns_response(message)
        if response is not None:
            assert DNS(response).qr == 1


@given(st.sampled_from(sorted(PLAN.names)), st.lists(st.booleans(), min_size=64, max_size=64))
@FAST
def test_dns_any_case_of_a_known_name_is_answered(name: str, upper: list[bool]) -> None:
    shuffled = "".join(c.upper() if up else c for c, up in zip(name, upper, strict=False))
    response = answer_of(query(shuffled, "A"))
    assert response.rcode == 0
    assert addresses(response) == [str(a) for a in PLAN.names[name][0]]


# --- Router Advertisement ---------------------------------------------------------------


def test_router_advertisement_per_rfc4861() -> None:
    packet = IPv6(router_advertisement(PLAN))
    assert (packet.src, packet.dst, packet.hlim) == ("fe80::1", "ff02::1", 255)
    ra = packet[ICMPv6ND_RA]
    assert (ra.type, ra.code, ra.routerlifetime, ra.M, ra.O) == (134, 0, 1800, 0, 0)
    prefix = packet[ICMPv6NDOptPrefixInfo]
    assert (prefix.prefix, prefix.prefixlen, prefix.L, prefix.A) == ("2001:db8:2::", 64, 1, 1)
    assert (prefix.validlifetime, prefix.preferredlifetime) == (86400, 14400)
    assert packet[ICMPv6NDOptMTU].mtu == 1500
    sent = ra.cksum
    del ra.cksum
    assert IPv6(bytes(packet))[ICMPv6ND_RA].cksum == sent


def test_router_advertisement_unicast() -> None:
    assert IPv6(router_advertisement(PLAN, CLIENT_LL)).dst == "fe80::2"


def solicitation(src: str = "fe80::2", hlim: int = 255, **fields: object) -> Packet:
    return IPv6(src=src, dst="ff02::2", hlim=hlim) / ICMPv6ND_RS(**fields)


@pytest.mark.parametrize(
    ("packet", "valid"),
    [
        (solicitation(), True),
        (solicitation() / ICMPv6NDOptSrcLLAddr(), True),
        (solicitation(src="::"), True),
        (solicitation(src="::") / ICMPv6NDOptSrcLLAddr(), False),
        (solicitation(hlim=64), False),
        (solicitation(code=1), False),
        (solicitation(cksum=1), False),
        (solicitation() / ICMPv6NDOptSrcLLAddr(len=0), False),
        (solicitation() / ICMPv6NDOptSrcLLAddr(len=2), False),
        (IP(dst="203.0.113.1") / ICMP(), False),
        (IPv6(src="fe80::2", hlim=255) / ICMPv6EchoRequest(), False),
    ],
    ids=["plain", "slla", "unspec", "unspec-slla", "hlim", "code", "cksum", "len0", "len2",
         "ipv4", "echo"],
)  # fmt: skip
def test_is_router_solicitation(packet: Packet, valid: bool) -> None:
    assert is_router_solicitation(bytes(packet)) is valid


def test_is_router_solicitation_short_message() -> None:
    packet = bytes(solicitation())
    short = packet[:4] + (4).to_bytes(2, "big") + packet[6:44]
    assert not is_router_solicitation(short)
    assert not is_router_solicitation(b"\x60garbage")


# --- LocalResponder ---------------------------------------------------------------------


def ping(src: IPv4Address | IPv6Address, dst: IPv4Address | IPv6Address) -> bytes:
    return build_icmp_echo(src, dst, reply=False, ident=77, seq=5, payload=b"ping!")


PING_TARGETS4 = [PLAN.echo_ipv4, *PLAN.dns_ipv4, PLAN.gateway_ipv4]
PING_TARGETS6 = [PLAN.echo_ipv6, *PLAN.dns_ipv6, PLAN.gateway_link_local]


@pytest.mark.parametrize("target", PING_TARGETS4, ids=str)
def test_responder_answers_ipv4_pings(target: IPv4Address) -> None:
    responder = LocalResponder(PLAN)
    (reply,) = responder.answer(ping(CLIENT4, target))
    packet = IP(reply)
    assert (packet.src, packet.dst) == (str(target), str(CLIENT4))
    assert (packet[ICMP].type, packet[ICMP].id, packet[ICMP].seq) == (0, 77, 5)
    assert packet[ICMP].load == b"ping!" and responder.dropped == 0


@pytest.mark.parametrize("target", PING_TARGETS6, ids=str)
def test_responder_answers_ipv6_pings(target: IPv6Address) -> None:
    source = CLIENT_LL if target.is_link_local else CLIENT6
    (reply,) = LocalResponder(PLAN).answer(ping(source, target))
    packet = IPv6(reply)
    assert (packet.src, packet.dst) == (str(target), str(source))
    echo = packet[ICMPv6EchoReply]
    assert (echo.id, echo.seq, echo.data) == (77, 5, b"ping!")


@pytest.mark.parametrize(
    "packet",
    [
        ping(CLIENT4, IPv4Address("198.51.100.99")),
        ping(CLIENT6, IPv6Address("2001:db8:1::99")),
        build_icmp_echo(PLAN.echo_ipv4, CLIENT4, reply=True, ident=1, seq=1, payload=b""),
        bytes(IP(src=str(CLIENT4), dst=str(PLAN.echo_ipv4)) / TCP(dport=7, flags="S")),
        bytes(IP(src=str(CLIENT4), dst=str(PLAN.echo_ipv4), flags="MF") / ICMP() / b"frag"),
        bytes(IP(src="0.0.0.0", dst=str(PLAN.echo_ipv4)) / ICMP()),
        ping(IPv6Address("ff02::1"), PLAN.echo_ipv6),
        build_udp(CLIENT4, PLAN.dns_ipv4[0], 4000, 7, b"not an echo host"),
        build_udp(CLIENT4, PLAN.echo_ipv4, 4000, 53, query("echo.pppbridge.test")),
        build_udp(CLIENT4, PLAN.echo_ipv4, 0, 7, b"no source port"),
        build_udp(CLIENT4, PLAN.dns_ipv4[0], 4000, 53, b"short"),
        bytes(IP(src=str(CLIENT4), dst=str(PLAN.echo_ipv4)) / UDP(dport=7, chksum=1) / b"x"),
        b"",
        b"\xff" * 40,
    ],
    ids=["v4-other", "v6-other", "reply", "tcp", "fragment", "src-unspec", "src-mcast",
         "udp7-dns", "udp53-echo", "sport0", "dns-short", "udp-chksum", "empty", "garbage"],
)  # fmt: skip
def test_responder_drops_and_counts(packet: bytes) -> None:
    responder = LocalResponder(PLAN)
    assert responder.answer(packet) == []
    assert responder.dropped == 1


@pytest.mark.parametrize(
    ("client", "server"), [(CLIENT4, PLAN.echo_ipv4), (CLIENT6, PLAN.echo_ipv6)], ids=str
)
def test_responder_udp_echo(client: IPv4Address, server: IPv4Address) -> None:
    (reply,) = LocalResponder(PLAN).answer(build_udp(client, server, 40000, 7, b"echo me"))
    packet = IP(reply) if isinstance(client, IPv4Address) else IPv6(reply)
    assert (packet.src, packet.dst) == (str(server), str(client))
    assert (packet[UDP].sport, packet[UDP].dport, packet[UDP].load) == (7, 40000, b"echo me")
    sent = packet[UDP].chksum
    del packet[UDP].chksum
    assert packet.__class__(bytes(packet))[UDP].chksum == sent


@pytest.mark.parametrize("server", [*PLAN.dns_ipv4, *PLAN.dns_ipv6], ids=str)
def test_responder_dns_on_every_server(server: IPv4Address | IPv6Address) -> None:
    client = CLIENT4 if isinstance(server, IPv4Address) else CLIENT6
    message = query("v6only.pppbridge.test", "AAAA")
    (reply,) = LocalResponder(PLAN).answer(build_udp(client, server, 5353, 53, message))
    packet = IP(reply) if isinstance(server, IPv4Address) else IPv6(reply)
    assert (packet.src, packet[UDP].sport, packet[UDP].dport) == (str(server), 53, 5353)
    assert addresses(DNS(bytes(packet[UDP].payload))) == ["2001:db8:1::6"]


def test_responder_answers_router_solicitation() -> None:
    responder = LocalResponder(PLAN)
    (unicast,) = responder.answer(bytes(solicitation()))
    assert IPv6(unicast).dst == "fe80::2" and ICMPv6ND_RA in IPv6(unicast)
    (multicast,) = responder.answer(bytes(solicitation(src="::")))
    assert multicast == router_advertisement(PLAN, ALL_NODES)
    assert responder.answer(bytes(solicitation(hlim=1))) == [] and responder.dropped == 1


@given(st.binary(max_size=200))
@FAST
def test_responder_never_raises(data: bytes) -> None:
    responder = LocalResponder(PLAN)
    for packet in (data, b"\x45" + data, b"\x60" + data):
        for reply in responder.answer(packet):
            assert reply[0] >> 4 in (4, 6)


# --- network-initiated ping -------------------------------------------------------------


@pytest.mark.parametrize("client", [CLIENT4, CLIENT6], ids=str)
def test_echo_request_and_match_reply(client: IPv4Address | IPv6Address) -> None:
    request = echo_request(PLAN, client, 0x99, 12, b"from the network")
    if isinstance(client, IPv4Address):
        packet: Packet = IP(request)
        # From the gateway: the one address a PPP client always has a route to.
        assert (packet.src, packet[ICMP].type, packet[ICMP].id) == ("203.0.113.1", 8, 0x99)
    else:
        packet = IPv6(request)
        assert packet.src == "2001:db8:1::1" and packet[ICMPv6EchoRequest].id == 0x99
    reply = echo_reply_for(request)
    assert reply is not None
    assert match_echo_reply(reply, 0x99) == 12
    assert match_echo_reply(reply, 0x98) is None
    assert match_echo_reply(request, 0x99) is None
    assert match_echo_reply(b"\x45garbage", 0x99) is None
