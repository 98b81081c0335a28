"""netstack.atsocket, vendor by vendor: byte-exact transcripts of the modem's side
(shared/reference/at-commands.md: Sequans 1, Telit 2, Quectel 3, u-blox 4) fed through a
real AtChannel, the host's packets built and read back by scapy.

Each transcript names the framing trap it pins: the send prompt's shape, results after
OK, a socket-closed URC inside a read, ids the modem chooses.
"""

from __future__ import annotations

import pytest
from scapy.layers.inet import UDP

from atsocket_rig import HOST, OTHER, REMOTE, Rig, datagram, udp, unreachable_code
from atsocket_transcripts import (
    HELLO_HEX,
    WORLD_HEX,
    quectel_open,
    quectel_send,
    sequans_send,
    telit_send,
    ublox_open,
    ublox_send,
)
from netstack.atsocket_vendors import (
    QUECTEL_BG96,
    SEQUANS_MONARCH,
    TELIT_IP_EASY,
    UBLOX_SARA_R4,
    UBLOX_SARA_R4_INLINE_HEX,
    VENDORS,
)

ADDRESS_UNREACHABLE = 3
REMOTE_DOTTED = "32.1.13.184.0.1.0.0.0.0.0.0.0.0.0.16"  # 2001:db8:1::10, +CGPIAF=0
OTHER_DOTTED = "32.1.13.184.0.2.0.0.0.0.0.0.0.0.0.32"  # 2001:db8:2::20


def from_remote(rig: Rig, data: bytes, sender: str = str(REMOTE), sport: int = 5683) -> None:
    packet = datagram(rig.one_to_host())
    assert (packet.src, packet[UDP].sport) == (sender, sport)
    assert (packet.dst, packet[UDP].dport) == (str(HOST), 40000)
    assert bytes(packet[UDP].payload) == data


# --- Sequans Monarch ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("echo", "prompt"),
    [(True, "> "), (False, "> "), (True, "\r\n> ")],
    ids=["echo", "no-echo", "tinygsm-prompt"],
)
def test_sequans_send_is_hex_after_a_prompt_without_line_end(echo: bool, prompt: str) -> None:
    rig = Rig.of(SEQUANS_MONARCH)
    sequans_send(rig, echo=echo, prompt=prompt)
    rig.nothing_written()
    assert rig.stats() == {
        "packets_from_tun": 1,
        "datagrams_sent": 1,
        "bytes_sent": 5,
        "sockets_opened": 1,
    }


@pytest.mark.parametrize(
    ("header", "sender", "sport"),
    [
        ("+SQNSRECV: 1,5", str(REMOTE), 5683),
        ('+SQNSRECV: 1,5,"2001:db8:2::20",9999', str(OTHER), 9999),
    ],
    ids=["dialled-peer", "walter-4-fields"],
)
def test_sequans_ring_then_read(header: str, sender: str, sport: int) -> None:
    rig = Rig.of(SEQUANS_MONARCH)
    sequans_send(rig)
    rig.reply("\r\n+SQNSRING: 1,5\r\n")  # 1.5, srMode 1
    rig.exchange("AT+SQNSRECV=1,1500", f"\r\n{header}\r\n{WORLD_HEX}\r\n\r\nOK\r\n")
    from_remote(rig, b"world", sender=sender, sport=sport)
    rig.nothing_written()
    assert [s.state for s in rig.bridge.sockets()] == ["open"]


def test_sequans_gm02s_closed_urc_inside_the_read_response() -> None:
    """GM02S prints +SQNSH between the +SQNSRECV header and its data: the datagram is
    delivered, the socket is known closed, the next datagram dials again."""
    rig = Rig.of(SEQUANS_MONARCH)
    sequans_send(rig)
    rig.reply("\r\n+SQNSRING: 1,5\r\n")
    rig.exchange(
        "AT+SQNSRECV=1,1500", f"\r\n+SQNSRECV: 1,5\r\n+SQNSH: 1\r\n{WORLD_HEX}\r\n\r\nOK\r\n"
    )
    from_remote(rig, b"world")
    assert rig.bridge.sockets() == ()
    assert rig.bridge.statistics().sockets_closed_by_modem == 1
    rig.nothing_written()  # no AT+SQNSH for a socket the modem closed
    rig.host(udp(b"again"))
    rig.exchange('AT+SQNSD=1,1,5683,"2001:db8:1::10",0,40000,1,0', "\r\nOK\r\n")  # configured
    rig.exchange("AT+SQNSSENDEXT=1,5", "> ")
    rig.expect_payload(b"616761696E")


def test_sequans_empty_read_and_close_at_the_end() -> None:
    rig = Rig.of(SEQUANS_MONARCH)
    sequans_send(rig)
    rig.reply("\r\n+SQNSRING: 1\r\n")  # srMode 0: no byte count
    rig.exchange("AT+SQNSRECV=1,1500", "\r\n+SQNSRECV: 1,0\r\n\r\nOK\r\n")
    assert rig.host_packets() == []
    assert rig.bridge.statistics().empty_reads == 1
    rig.close_all()
    rig.exchange("AT+SQNSH=1", "\r\nOK\r\n")  # 1.7
    assert rig.bridge.sockets() == ()


# --- Telit IP Easy --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sender", "shown"),
    [
        (REMOTE_DOTTED, str(REMOTE)),
        (f'"{OTHER_DOTTED}"', str(OTHER)),
        (f'" {OTHER_DOTTED}"', str(OTHER)),  # IP Easy User Guide 17.4.4: a space inside
        ('"2001:DB8:2::20"', str(OTHER)),  # +CGPIAF=1
    ],
    ids=["dotted", "quoted", "space-inside-quotes", "colon-hex"],
)
def test_telit_srecv_names_the_sender(sender: str, shown: str) -> None:
    rig = Rig.of(TELIT_IP_EASY)
    telit_send(rig, echo=True)
    rig.reply("\r\nSRING: 1,5\r\n")  # 2.3 srMode 1
    reply = f"AT#SRECV=1,1500,1\r\r\n#SRECV: {sender},9999,1,5,0\r\n{WORLD_HEX}\r\n\r\nOK\r\n"
    rig.exchange("AT#SRECV=1,1500,1", reply)
    from_remote(rig, b"world", sender=shown, sport=9999)


def test_telit_srecv_without_udp_info_comes_from_the_dialled_peer() -> None:
    rig = Rig.of(TELIT_IP_EASY)
    telit_send(rig, echo=True)
    rig.reply("\r\nSRING: 1,5\r\n")
    rig.exchange("AT#SRECV=1,1500,1", f"\r\n#SRECV: 1,5\r\n{WORLD_HEX}\r\n\r\nOK\r\n")
    from_remote(rig, b"world")


def test_telit_sring_inside_another_response_is_a_ring() -> None:
    """ME910C1: SRING between a response's lines and its OK (at-commands.md 8)."""
    rig = Rig.of(TELIT_IP_EASY)
    telit_send(rig, final="\r\nSRING: 1,5\r\n\r\nOK\r\n")  # the ring before the send's OK
    rig.exchange("AT#SRECV=1,1500,1", f"\r\n#SRECV: 1,5\r\n{WORLD_HEX}\r\n\r\nOK\r\n")
    from_remote(rig, b"world")


# --- Quectel --------------------------------------------------------------------------


def test_quectel_open_result_after_ok_then_send_ok() -> None:
    rig = Rig.of(QUECTEL_BG96)
    quectel_send(rig, "\r\nSEND OK\r\n", prompt="\r\n> ")  # 3.3: never OK
    rig.nothing_written()
    assert rig.bridge.statistics().datagrams_sent == 1


def test_quectel_recv_urc_reads_until_empty() -> None:
    """3.4: no further recv URC until the buffer is drained with QIRD."""
    rig = Rig.of(QUECTEL_BG96)
    quectel_send(rig, '\r\nSEND OK\r\n\r\n+QIURC: "recv",0\r\n')
    rig.exchange("AT+QIRD=0,1500", f"\r\n+QIRD: 5\r\n{WORLD_HEX}\r\n\r\nOK\r\n")
    from_remote(rig, b"world")
    rig.exchange("AT+QIRD=0,1500", '\r\n+QIRD: 3,"2001:DB8:2::20",9999\r\n414243\r\n\r\nOK\r\n')
    from_remote(rig, b"ABC", sender=str(OTHER), sport=9999)
    rig.exchange("AT+QIRD=0,1500", "\r\n+QIRD: 0\r\n\r\nOK\r\n")
    rig.nothing_written()


@pytest.mark.parametrize("result", ["+QIOPEN: 0,565", None], ids=["error", "never"])
def test_quectel_open_fails_after_ok(result: str | None) -> None:
    """3.2: an error in +QIOPEN, or none within 150 s: AT+QICLOSE, and the waiting
    datagram is answered Address Unreachable."""
    rig = Rig.of(QUECTEL_BG96)
    quectel_open(rig, result)
    if result is None:
        rig.advance(148.0)
        rig.nothing_written()
        rig.advance(2.0)
    invoking = udp(b"hello")
    assert unreachable_code(rig.one_to_host(), invoking) == ADDRESS_UNREACHABLE
    rig.exchange("AT+QICLOSE=0", "\r\nOK\r\n")
    assert rig.bridge.sockets() == ()
    assert rig.bridge.statistics().open_errors == 1


def test_quectel_send_fail_keeps_the_socket() -> None:
    """3.3: SEND FAIL means the modem's buffer is full; UDP may drop, the socket is fine."""
    rig = Rig.of(QUECTEL_BG96)
    quectel_send(rig, "\r\nSEND FAIL\r\n")
    assert rig.host_packets() == []
    assert rig.bridge.statistics().send_errors == 1
    rig.host(udp(b"again"))
    rig.exchange("AT+QISEND=0,5", "> ")


def test_quectel_closed_urc() -> None:
    rig = Rig.of(QUECTEL_BG96)
    quectel_send(rig, '\r\nSEND OK\r\n\r\n+QIURC: "closed",0\r\n')  # 3.5
    assert rig.bridge.sockets() == ()
    rig.nothing_written()


# --- u-blox ---------------------------------------------------------------------------


@pytest.mark.parametrize("prompt", ["@", "\r\n@"], ids=["bare", "sara-r410m"])
def test_ublox_binary_send_waits_50_ms_after_the_at_sign(prompt: str) -> None:
    rig = Rig.of(UBLOX_SARA_R4)
    ublox_open(rig)
    rig.exchange('AT+USOST=3,"2001:db8:1::10",5683,5', prompt)  # 4.3, the id the modem gave
    rig.advance(0.049)
    rig.nothing_written()
    rig.advance(0.001)
    rig.expect_payload(b"hello")
    rig.reply("\r\n+USOST: 3,5\r\n\r\nOK\r\n")
    assert rig.bridge.statistics().datagrams_sent == 1


@pytest.mark.parametrize("ring", ["+UUSORF", "+UUSORD"])
def test_ublox_read_names_the_sender(ring: str) -> None:
    rig = Rig.of(UBLOX_SARA_R4)
    ublox_send(rig)
    rig.reply(f"\r\n{ring}: 3,5\r\n")  # 4.4: some firmware says +UUSORD
    reply = f'\r\n+USORF: 3,"2001:DB8:2:0:0:0:0:20",9999,5,"{WORLD_HEX}"\r\n\r\nOK\r\n'
    rig.exchange("AT+USORF=3,512", reply)
    from_remote(rig, b"world", sender=str(OTHER), sport=9999)


def test_ublox_closed_urc_frees_the_id() -> None:
    rig = Rig.of(UBLOX_SARA_R4)
    ublox_send(rig, 0, "\r\n+USOST: 0,5\r\n\r\nOK\r\n\r\n+UUSOCL: 0\r\n")  # 4.5
    assert rig.bridge.sockets() == ()
    rig.host(udp(b"again"))
    rig.exchange("AT+USOCR=17,40000", "\r\n+USOCR: 0\r\n\r\nOK\r\n")


def test_ublox_inline_hex_send() -> None:
    rig = Rig.of(UBLOX_SARA_R4_INLINE_HEX)
    ublox_open(rig)
    rig.exchange(
        f'AT+USOST=3,"2001:db8:1::10",5683,5,"{HELLO_HEX}"', "\r\n+USOST: 3,5\r\n\r\nOK\r\n"
    )
    assert rig.bridge.statistics().datagrams_sent == 1


def test_the_profiles_by_name() -> None:
    assert VENDORS["sequans"] is SEQUANS_MONARCH
    assert VENDORS["telit"] is TELIT_IP_EASY
    assert VENDORS["quectel"] is QUECTEL_BG96
    assert VENDORS["ublox"] is VENDORS["ublox-r5"] is UBLOX_SARA_R4
