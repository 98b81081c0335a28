"""netstack.atsocket: the corners of the state machine, each named: work overtaken by
the modem's closes, rings during a read, waiting flows at the end, a shell that did not
list the vendor's URCs, events for commands that are not ours."""

from __future__ import annotations

from dataclasses import replace

import pytest
from scapy.layers.inet import UDP
from scapy.layers.inet6 import IPv6, IPv6ExtHdrHopByHop

from atsocket_rig import (
    HOST,
    OTHER,
    REMOTE,
    Rig,
    datagram,
    echo_request,
    scripted,
    udp,
    unreachable_code,
)
from atsocket_transcripts import WORLD_HEX, sequans_send, telit_send, ublox_send
from netstack.at import STANDARD_URCS, AtChannel, CommandDone, Outcome, Prompt
from netstack.atsocket_vendors import (
    QUECTEL_BG96,
    SEQUANS_MONARCH,
    TELIT_IP_EASY,
    UBLOX_SARA_R4,
    UBLOX_SARA_R4_INLINE_HEX,
)
from netstack.errors import UsageError

SOURCE_POLICY, ADDRESS_UNREACHABLE = 5, 3


def test_events_for_commands_that_are_not_ours() -> None:
    rig = Rig.of(SEQUANS_MONARCH)
    assert rig.bridge.at_event(CommandDone("AT+CSQ", Outcome.OK), 0.0) == []
    assert rig.bridge.at_event(Prompt("AT+CMGS=5"), 0.0) == []
    assert rig.bridge.statistics().unexpected_events == 2


def test_a_send_overtaken_by_the_modems_close_goes_on_a_new_socket() -> None:
    """The datagram waited behind a read whose response said the socket closed (GM02S):
    it is not lost, it dials again."""
    rig = Rig.of(SEQUANS_MONARCH)
    sequans_send(rig)
    rig.reply("\r\n+SQNSRING: 1,5\r\n")
    rig.expect("AT+SQNSRECV=1,1500")
    rig.host(udp(b"queued"))
    rig.nothing_written()
    rig.reply(f"\r\n+SQNSRECV: 1,5\r\n+SQNSH: 1\r\n{WORLD_HEX}\r\n\r\nOK\r\n")
    assert bytes(datagram(rig.one_to_host())[UDP].payload) == b"world"
    rig.exchange('AT+SQNSD=1,1,5683,"2001:db8:1::10",0,40000,1,0', "\r\nOK\r\n")
    rig.exchange("AT+SQNSSENDEXT=1,6", "> ")
    rig.expect_payload(b"queued".hex().upper().encode())


def test_the_modem_closes_a_socket_while_it_opens() -> None:
    rig = Rig.of(SEQUANS_MONARCH)
    rig.host(udp(b"hello"))
    rig.exchange("AT+SQNSCFG=1,1,300,0,600,50", "\r\nOK\r\n")
    rig.exchange("AT+SQNSCFGEXT=1,1,1,0,0,1", "\r\nOK\r\n")
    rig.expect('AT+SQNSD=1,1,5683,"2001:db8:1::10",0,40000,1,0')
    rig.reply("\r\n+SQNSH: 1\r\n\r\nOK\r\n")
    assert unreachable_code(rig.one_to_host(), udp(b"hello")) == ADDRESS_UNREACHABLE
    assert rig.bridge.statistics().open_errors == 1 and rig.bridge.sockets() == ()
    rig.nothing_written()


def test_rings_during_a_read_each_get_a_read() -> None:
    """u-blox reads one datagram a call and rings once a datagram (at-commands.md 4.4)."""
    rig = Rig.of(UBLOX_SARA_R4)
    ublox_send(rig, 0, "\r\n+USOST: 0,5\r\n\r\nOK\r\n\r\n+UUSORF: 0,1\r\n")
    rig.expect("AT+USORF=0,512")
    rig.reply("\r\n+UUSORF: 0,1\r\n+UUSORF: 0,1\r\n")
    for data in (b"1", b"2", b"3"):
        response = f'\r\n+USORF: 0,"2001:db8:2::20",7,1,"{data.hex()}"\r\n\r\nOK\r\n'
        rig.reply(response)
        assert bytes(datagram(rig.one_to_host())[UDP].payload) == data
        if data != b"3":
            rig.expect("AT+USORF=0,512")
    rig.nothing_written()


@pytest.mark.parametrize(
    "sender",
    ['"0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0"', "192.0.2.1", '"ff02::1"', '"::1"', '"bogus"'],
)
def test_a_sender_that_is_no_single_node_is_the_flows_remote(sender: str) -> None:
    rig = Rig.of(TELIT_IP_EASY)
    telit_send(rig, final="\r\nOK\r\n\r\nSRING: 1,5\r\n")
    reply = f"\r\n#SRECV: {sender},9999,1,5,0\r\n{WORLD_HEX}\r\n\r\nOK\r\n"
    rig.exchange("AT#SRECV=1,1500,1", reply)
    packet = datagram(rig.one_to_host())
    assert (packet.src, packet[UDP].sport) == (str(REMOTE), 5683)


def test_a_shell_that_did_not_list_the_vendor_urcs() -> None:
    """+SQNSH inside a read then reaches the bridge as one of the read's lines: handled
    the same."""
    rig = Rig.of(SEQUANS_MONARCH)
    rig.channel = AtChannel(STANDARD_URCS)
    sequans_send(rig)
    rig.reply("\r\n+SQNSRING: 1,5\r\n")
    rig.exchange(
        "AT+SQNSRECV=1,1500", f"\r\n+SQNSRECV: 1,5\r\n+SQNSH: 1\r\n{WORLD_HEX}\r\n\r\nOK\r\n"
    )
    assert bytes(datagram(rig.one_to_host())[UDP].payload) == b"world"
    assert rig.bridge.sockets() == ()


def test_close_all_lets_waiting_flows_go() -> None:
    rig, modem = scripted("sequans")
    rig.modem = None  # every id stays opening
    rig.host(*(udp(b"x", dport=1000 + i) for i in range(8)))
    assert [s.state for s in rig.bridge.sockets()].count("waiting") == 2
    rig.close_all()
    assert [s.state for s in rig.bridge.sockets()] == ["opening"] * 6
    assert rig.bridge.statistics().backlog_dropped == 8


def test_more_flows_waiting_than_ids_are_dropped() -> None:
    rig, _ = scripted("telit")
    rig.modem = None
    rig.host(*(udp(b"x", dport=1000 + i) for i in range(13)))
    assert len(rig.bridge.sockets()) == 12
    assert rig.bridge.statistics().backlog_dropped == 1


def test_a_setup_error_is_counted_and_the_open_goes_on() -> None:
    rig = Rig.of(UBLOX_SARA_R4)
    rig.host(udp(b"hello"))
    rig.exchange("AT+UDCONF=1,1", "\r\nERROR\r\n")
    rig.expect("AT+USOCR=17,40000")
    assert rig.bridge.statistics().setup_errors == 1


def test_a_configure_error_is_counted_and_retried_on_the_next_open() -> None:
    rig = Rig.of(SEQUANS_MONARCH)
    rig.host(udp(b"hello"))
    rig.exchange("AT+SQNSCFG=1,1,300,0,600,50", "\r\nERROR\r\n")
    rig.exchange("AT+SQNSCFGEXT=1,1,1,0,0,1", "\r\nOK\r\n")
    rig.exchange('AT+SQNSD=1,1,5683,"2001:db8:1::10",0,40000,1,0', "\r\n+CME ERROR: 3\r\n")
    rig.exchange("AT+SQNSH=1", "\r\nOK\r\n")
    rig.host(udp(b"again"))
    rig.expect("AT+SQNSCFG=1,1,300,0,600,50")
    assert rig.bridge.statistics().setup_errors == 1


def test_inline_hex_with_room_to_spare_is_capped_by_the_payload_limit() -> None:
    rig = Rig.of(UBLOX_SARA_R4_INLINE_HEX, max_line=2000)
    assert rig.bridge.mtu == 512 + 48


@pytest.mark.parametrize(
    ("src", "dst", "counter"),
    [(str(HOST), "ff02::1", "absorbed_multicast"), ("::", str(REMOTE), "bad_source")],
)
def test_echo_requests_never_answered(src: str, dst: str, counter: str) -> None:
    parsed = IPv6(echo_request())
    parsed.src, parsed.dst = src, dst
    del parsed.payload.cksum  # recomputed for the new addresses
    rig, _ = scripted("quectel")
    rig.host(bytes(parsed))
    assert rig.log == [] and rig.host_packets() == []
    assert rig.stats()[counter] == 1


def test_echo_from_a_source_not_ours_is_refused() -> None:
    parsed = IPv6(echo_request())
    parsed.src = "2001:db8:aa::99"
    del parsed.payload.cksum
    rig, _ = scripted("telit")
    rig.host(bytes(parsed))
    assert rig.log == []
    answer = IPv6(rig.one_to_host())
    assert answer.dst == "2001:db8:aa::99" and answer.code == SOURCE_POLICY


def test_a_quectel_summary_without_a_reply_is_lost() -> None:
    rig = Rig.of(QUECTEL_BG96)
    rig.host(echo_request())
    rig.exchange('AT+QPING=1,"2001:db8:1::10",4,1', "\r\nOK\r\n\r\n+QPING: 0,1,0,1,0,0,0\r\n")
    assert rig.bridge.statistics().echo_lost == 1
    rig.host(echo_request(seq=2))
    rig.expect('AT+QPING=1,"2001:db8:1::10",4,1')


def test_too_many_extension_headers_are_malformed() -> None:
    packet = IPv6(src=str(HOST), dst=str(OTHER))
    for _ in range(9):
        packet = packet / IPv6ExtHdrHopByHop()
    rig, _ = scripted("sequans")
    rig.host(bytes(packet / UDP(sport=1, dport=2)))
    assert rig.stats()["malformed"] == 1 and rig.host_packets() == []


def test_a_bad_vendor_table_is_our_bug() -> None:
    with pytest.raises(UsageError, match="template"):
        Rig.of(replace(SEQUANS_MONARCH, open="AT+SQNSD={socket}"))
