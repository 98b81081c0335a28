"""netstack.atsocket: ICMPv6 echo requests through the modem's ping command (Sequans
+PING, Telit #PING, Quectel +QPING, u-blox +UPING), answered as echo replies that scapy
reads back: the request's identifier, sequence number and data, checksum correct.

Sequans and Telit print their results before OK; Quectel and u-blox answer OK and send
the results later as URCs (at-commands.md 8), while other commands go on.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from scapy.layers.inet6 import ICMPv6EchoReply, IPv6

from atsocket_rig import (
    HOST,
    HOST_LINK_LOCAL,
    REMOTE,
    ROUTER,
    Rig,
    echo_reply,
    echo_request,
    scripted,
    udp,
    unreachable_code,
)
from netstack.atsocket_vendors import QUECTEL_BG96, SEQUANS_MONARCH, UBLOX_SARA_R4

VENDOR_NAMES = ["sequans", "telit", "quectel", "ublox"]
PING_COMMANDS = {
    "sequans": 'AT+PING="2001:db8:1::10",1,32,1,4',
    "telit": 'AT#PING="2001:db8:1::10",1,32,40',
    "quectel": 'AT+QPING=1,"2001:db8:1::10",4,1',
    "ublox": 'AT+UPING="2001:db8:1::10",1,9,4000,64',
}


@pytest.fixture(params=VENDOR_NAMES)
def vendor_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def check_reply(
    packet: bytes,
    *,
    ident: int = 0x1234,
    seq: int = 1,
    data: bytes = b"ping data",
    hop_limit: int = 57,
) -> None:
    reply = echo_reply(packet)
    assert (reply.src, reply.dst, reply.hlim) == (str(REMOTE), str(HOST), hop_limit)
    icmp = reply[ICMPv6EchoReply]
    assert (icmp.id, icmp.seq, bytes(icmp.data)) == (ident, seq, data)


def test_echo_request_becomes_the_modems_ping(vendor_name: str) -> None:
    rig, modem = scripted(vendor_name)
    rig.host(echo_request())
    rig.advance(5.0)
    assert modem.commands == [PING_COMMANDS[vendor_name]]
    check_reply(rig.one_to_host())
    assert rig.stats() == {
        "packets_from_tun": 1,
        "packets_to_tun": 1,
        "echo_requests": 1,
        "echo_replies": 1,
    }


def test_no_reply_is_no_reply(vendor_name: str) -> None:
    rig, modem = scripted(vendor_name)
    modem.ping_reply = False
    rig.host(echo_request())
    rig.advance(10.0)
    assert rig.host_packets() == []
    assert rig.bridge.statistics().echo_lost == 1
    modem.ping_reply = True
    rig.host(echo_request(seq=2))
    rig.advance(5.0)
    check_reply(rig.one_to_host(), seq=2)


def test_pings_one_at_a_time_in_order(vendor_name: str) -> None:
    rig, modem = scripted(vendor_name)
    rig.host(*(echo_request(seq=seq) for seq in (1, 2, 3)))
    rig.advance(15.0)
    replies = [IPv6(p)[ICMPv6EchoReply].seq for p in rig.host_packets()]
    assert replies == [1, 2, 3] and len(modem.commands) == 3


def test_beyond_the_ping_queue_dropped(vendor_name: str) -> None:
    rig, _ = scripted(vendor_name, ping_queue=2)
    rig.modem = None  # the first ping stays unanswered meanwhile
    rig.host(*(echo_request(seq=seq) for seq in range(5)))
    assert rig.bridge.statistics().echo_dropped == 3


def test_echo_to_the_router_answered_here() -> None:
    rig, _ = scripted("telit")
    request = echo_request(dst=ROUTER)
    local = IPv6(request)
    local.src = str(HOST_LINK_LOCAL)
    del local.payload.cksum
    rig.host(bytes(local))
    assert rig.log == []
    reply = echo_reply(rig.one_to_host())
    assert (reply.src, reply.dst) == (str(ROUTER), str(HOST_LINK_LOCAL))


def test_a_vendor_without_ping_refuses() -> None:
    rig = Rig.of(replace(SEQUANS_MONARCH, ping=None))
    request = echo_request()
    rig.host(request)
    assert rig.log == []
    assert unreachable_code(rig.one_to_host(), request) == 1
    assert rig.bridge.statistics().echo_unsupported == 1


def test_sequans_ping_results_before_ok() -> None:
    rig = Rig.of(SEQUANS_MONARCH)
    rig.host(echo_request(b"12345678901234567890"))
    rig.exchange(
        'AT+PING="2001:db8:1::10",1,32,1,4', '\r\n+PING: 1,"2001:db8:1::10",42,61\r\n\r\nOK\r\n'
    )
    check_reply(rig.one_to_host(), data=b"12345678901234567890", hop_limit=61)


def test_quectel_ping_results_after_ok_with_datagrams_in_between() -> None:
    """3: +QPING per echo after OK, then the statistics line; the AT port is free
    meanwhile, a datagram goes through."""
    rig = Rig.of(QUECTEL_BG96)
    rig.host(echo_request())
    rig.exchange('AT+QPING=1,"2001:db8:1::10",4,1', "\r\nOK\r\n")
    rig.host(udp(b"meanwhile"), echo_request(seq=2))
    rig.exchange('AT+QICFG="dataformat",1,1', "\r\nOK\r\n")
    rig.exchange('AT+QICFG="viewmode",0', "\r\nOK\r\n")
    rig.exchange('AT+QIOPEN=1,0,"UDP","2001:db8:1::10",5683,40000,0', "\r\nOK\r\n")
    rig.reply('\r\n+QPING: 0,"2001:db8:1::10",32,20,255\r\n')
    check_reply(rig.one_to_host(), hop_limit=255)
    rig.reply("\r\n+QIOPEN: 0,0\r\n")
    rig.exchange("AT+QISEND=0,9", "> ")
    rig.expect_payload(b"meanwhile".hex().upper().encode())
    rig.reply("\r\nSEND OK\r\n")
    rig.nothing_written()  # the second ping waits for the first's statistics line
    rig.reply("\r\n+QPING: 0,1,1,0,20,20,20\r\n")
    rig.exchange('AT+QPING=1,"2001:db8:1::10",4,1', "\r\nOK\r\n")


def test_quectel_ping_error_result() -> None:
    rig = Rig.of(QUECTEL_BG96)
    rig.host(echo_request())
    rig.exchange('AT+QPING=1,"2001:db8:1::10",4,1', "\r\nOK\r\n\r\n+QPING: 569\r\n")
    assert rig.host_packets() == []
    assert rig.bridge.statistics().echo_lost == 1
    rig.host(echo_request(seq=2))
    rig.nothing_written()  # a statistics line may still come
    rig.advance(1.0)
    rig.exchange('AT+QPING=1,"2001:db8:1::10",4,1', "\r\nOK\r\n")


def test_ublox_ping_urc_never_comes() -> None:
    rig = Rig.of(UBLOX_SARA_R4)
    rig.host(echo_request(), echo_request(seq=2))
    rig.exchange('AT+UPING="2001:db8:1::10",1,9,4000,64', "\r\nOK\r\n")
    rig.advance(4.0)
    rig.nothing_written()
    rig.advance(10.0)  # ping_timeout and command_timeout
    assert rig.bridge.statistics().echo_lost == 1
    rig.exchange('AT+UPING="2001:db8:1::10",1,9,4000,64', "\r\nOK\r\n")
    rig.reply('\r\n+UUPING: 1,9,"2001:db8:1::10","2001:db8:1::10",50,80\r\n')
    check_reply(rig.one_to_host(), seq=2, hop_limit=50)
    late = '\r\n+UUPING: 1,9,"2001:db8:1::10","2001:db8:1::10",50,80\r\n'
    rig.reply(late)  # a result for no ping of ours
    assert rig.host_packets() == []
    assert rig.bridge.statistics().unexpected_events == 1


def test_ping_error_result_is_lost() -> None:
    rig = Rig.of(SEQUANS_MONARCH)
    rig.host(echo_request())
    rig.exchange('AT+PING="2001:db8:1::10",1,32,1,4', "\r\n+CME ERROR: 3\r\n")
    assert rig.host_packets() == []
    assert rig.bridge.statistics().echo_lost == 1
