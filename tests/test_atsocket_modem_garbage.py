"""netstack.atsocket: what the modem gets wrong is dropped and counted, never raised, and
the bridge carries on (named regressions beside the property tests' random lines)."""

from __future__ import annotations

from atsocket_rig import Rig, datagram, scripted, udp
from atsocket_transcripts import WORLD_HEX, sequans_send
from netstack.atsocket_vendors import QUECTEL_BG96, SEQUANS_MONARCH, TELIT_IP_EASY, UBLOX_SARA_R4


def read_answered(rig: Rig, reply: str) -> None:
    rig.reply("\r\n+SQNSRING: 1,5\r\n")
    rig.exchange("AT+SQNSRECV=1,1500", reply)


def test_ring_for_a_socket_that_is_not_ours() -> None:
    rig = Rig.of(SEQUANS_MONARCH)
    sequans_send(rig)
    rig.reply("\r\n+SQNSRING: 4,5\r\n+SQNSRING: x\r\n+SQNSRING: -1,2\r\n")
    rig.nothing_written()
    assert rig.bridge.statistics().rings_unknown_socket == 1  # the others are no rings


def test_read_responses_that_make_no_sense() -> None:
    rig = Rig.of(SEQUANS_MONARCH)
    sequans_send(rig)
    for reply in (
        "\r\n+SQNSRECV: 1,5\r\nnot hex\r\n\r\nOK\r\n",
        "\r\n+SQNSRECV: 1,6\r\n776F726C64\r\n\r\nOK\r\n",  # shorter than announced
        "\r\n+SQNSRECV: 1,5,7\r\n776F726C64\r\n\r\nOK\r\n",  # a field count of no layout
        "\r\n776F726C64\r\n\r\nOK\r\n",  # no header
        "\r\n+SQNSRECV: 1,-5\r\n\r\nOK\r\n",
    ):
        read_answered(rig, reply)
    assert rig.bridge.statistics().bad_reads == 5
    assert rig.host_packets() == []
    read_answered(rig, f"\r\n+SQNSRECV: 1,5\r\n{WORLD_HEX}\r\n\r\nOK\r\n")
    assert bytes(datagram(rig.one_to_host()).load) == b"world"


def test_a_read_that_times_out() -> None:
    rig = Rig.of(SEQUANS_MONARCH)
    sequans_send(rig)
    rig.reply("\r\n+SQNSRING: 1,5\r\n")
    rig.expect("AT+SQNSRECV=1,1500")
    rig.advance(10.0)
    assert rig.bridge.statistics().read_errors == 1
    read_answered(rig, f"\r\n+SQNSRECV: 1,5\r\n{WORLD_HEX}\r\n\r\nOK\r\n")
    assert bytes(datagram(rig.one_to_host()).load) == b"world"


def test_line_noise_and_ppp_leftovers_between_commands() -> None:
    rig = Rig.of(SEQUANS_MONARCH)
    sequans_send(rig)
    rig.reply(b"\x7e\xff\x03\xc0\x21\x7e\r\n\x00\x01garbage\x02\r\nOK\r\n> \r\n@\r\n")
    rig.nothing_written()
    assert rig.channel.statistics().garbage_lines >= 1
    read_answered(rig, f"\r\n+SQNSRECV: 1,5\r\n{WORLD_HEX}\r\n\r\nOK\r\n")
    assert bytes(datagram(rig.one_to_host()).load) == b"world"


def test_quectel_open_result_for_no_open() -> None:
    rig, _ = scripted("quectel")
    rig.host(udp(b"hello"))
    rig.reply("\r\n+QIOPEN: 0,0\r\n+QIOPEN: 5,0\r\n")  # socket 0 is open already
    assert rig.bridge.statistics().unexpected_events == 2
    assert [s.state for s in rig.bridge.sockets()] == ["open"]


def test_ublox_create_without_an_id() -> None:
    rig = Rig.of(UBLOX_SARA_R4)
    rig.host(udp(b"hello"))
    rig.exchange("AT+UDCONF=1,1", "\r\nOK\r\n")
    rig.exchange("AT+USOCR=17,40000", "\r\n+USOCR: 9\r\n\r\nOK\r\n")  # beyond 0..6
    assert rig.bridge.statistics().open_errors == 1
    rig.nothing_written()  # no id to close
    rig.host(udp(b"again"))
    rig.exchange("AT+USOCR=17,40000", "\r\n+USOCR: 0\r\n\r\nOK\r\n")


def test_ublox_reuses_an_id_we_thought_busy() -> None:
    """The modem closed socket 0 without +UUSOCL and hands it out again: the flow that
    had it is gone (counted), the new one carries on."""
    rig, modem = scripted("ublox")
    rig.host(udp(b"a"))
    rig.advance(1.0)
    modem.sockets.clear()
    rig.host(udp(b"b", dport=5684))
    rig.advance(1.0)
    assert [s.socket for s in modem.sent] == [0, 0]
    assert rig.bridge.statistics().sockets_closed_by_modem == 1
    assert [s.flow.remote_port for s in rig.bridge.sockets()] == [5684]


def test_connect_answering_the_dial() -> None:
    """Telit #SD in online mode answers CONNECT (at-commands.md 2.4): not ours, counted;
    the shell takes the line back to command mode."""
    rig = Rig.of(TELIT_IP_EASY)
    rig.host(udp(b"hello"))
    rig.exchange("AT#SCFG=1,1,300,0,600,50", "\r\nOK\r\n")
    rig.exchange("AT#SCFGEXT=1,1,1,0,0,1", "\r\nOK\r\n")
    rig.exchange('AT#SD=1,1,5683,"2001:db8:1::10",0,40000,1', "\r\nCONNECT\r\n")
    stats = rig.bridge.statistics()
    assert stats.unexpected_events == 1 and stats.open_errors == 1
    rig.exchange("AT#SH=1", "\r\nOK\r\n")


def test_unsolicited_results_and_prompts_with_nothing_pending() -> None:
    rig = Rig.of(QUECTEL_BG96)
    rig.reply('\r\nOK\r\n\r\nERROR\r\n> \r\nSEND OK\r\n+QIURC: "recv"\r\n+QIURC: "closed",3\r\n')
    rig.nothing_written()
    assert rig.host_packets() == []
    assert rig.bridge.statistics().rings_unknown_socket == 0
