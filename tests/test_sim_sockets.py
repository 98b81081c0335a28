"""The simulated modems' own IP stacks on virtual time: each vendor's socket and ping
commands (shared/reference/at-commands.md sections 1-4, 8) against the simulated hosts
answered in-process, byte by byte as the DTE sees them, tidy and ``--messy``.

The same flows run over a real pty, with and without the operator namespace, in
``test_sim_sockets_pty.py``; the command-line switches in ``test_sim_sockets_cli.py``.
"""

from __future__ import annotations

import re

import pytest
from scapy.layers.dns import DNS, DNSQR

from bridge.simulator.at_port import AUX
from bridge.simulator.settings import SimSettings
from bridge.simulator.socket_events import SendDatagram, SendPing
from sim_socket_pair import SocketSim, lines
from sim_socket_vendors import (
    DNS6,
    DNS_PORT,
    ECHO4,
    ECHO6,
    ECHO_PORT,
    QUECTEL,
    SEQUANS,
    TELIT,
    UBLOX,
    VENDORS,
    Vendor,
)

CASES = [(v, messy) for v in VENDORS.values() for messy in (False, True)]
IDS = [f"{v.profile}{'-messy' if messy else ''}" for v, messy in CASES]


def modem(
    vendor: Vendor, messy: bool = False, ipv6_only: bool = False, at_line_limit: int | None = None
) -> SocketSim:
    """The vendor's modem, attached (context 1 up), with numeric +CME errors."""
    settings = SimSettings(
        profile=vendor.profile,
        messy=messy,
        attached=True,
        ipv6_only=ipv6_only,
        at_line_limit=at_line_limit,
    )
    sim = SocketSim(settings)
    for command in vendor.error_setup:
        assert final(sim.at(command)) == "OK"
    return sim


def final(data: bytes) -> str:
    return lines(data)[-1]


def open_socket(sim: SocketSim, vendor: Vendor, addr: str, port: int, ident: int = -1) -> int:
    """Open a socket (the first free id unless given); its id."""
    ident = vendor.ids[len(sim.modem.stack.sockets)] if ident < 0 else ident
    for command in vendor.with_id(vendor.text_mode, ident):
        assert final(sim.at(command)) == "OK"
    reply = sim.at(vendor.open.format(id=ident, addr=addr, port=port))
    assert "OK" in lines(reply), reply
    if vendor.profile == "ublox":
        assert f"+USOCR: {ident}" in lines(reply)
    if vendor.open_result:
        assert vendor.open_result.format(id=ident) in lines(reply)
    return ident


def send(
    sim: SocketSim, vendor: Vendor, ident: int, data: bytes, addr: str = ECHO6, port: int = 7
) -> bytes:
    """A send with its payload after the prompt; the bytes after the payload, before
    the network had time to answer."""
    command = vendor.send.format(id=ident, addr=addr, port=port, len=len(data))
    prompt, rest = sim.payload(command, data, settle=0.0)
    assert prompt.rstrip(b" ").endswith((b">", b"@")), prompt
    return rest


def read(sim: SocketSim, vendor: Vendor, ident: int, hex_mode: bool = False) -> bytes | None:
    most = vendor.max_read_hex if hex_mode else vendor.max_read
    reply = sim.at(vendor.read.format(id=ident, max=most))
    assert final(reply) == "OK", reply
    return vendor.read_data(lines(reply), hex_mode)


# --- the flows every vendor has ---------------------------------------------------------


@pytest.mark.parametrize(("vendor", "messy"), CASES, ids=IDS)
@pytest.mark.parametrize("addr", [ECHO6, ECHO4])
def test_udp_echo_rings_and_reads_back(vendor: Vendor, messy: bool, addr: str) -> None:
    sim = modem(vendor, messy)
    ident = open_socket(sim, vendor, addr, ECHO_PORT)
    after = send(sim, vendor, ident, b"hello", addr)
    assert final(after) == vendor.send_final, after
    ring = vendor.ring_of(ident, messy)
    assert any(line.startswith(ring) for line in lines(sim.wait_for(ring.encode())))
    assert read(sim, vendor, ident) == b"hello"
    assert read(sim, vendor, ident) is None  # one datagram, read once
    assert final(sim.at(vendor.close.format(id=ident))) == "OK"
    sent = [o for o in sim.stack_outputs if isinstance(o, SendDatagram)]
    assert [(str(o.dst), o.dport, o.data) for o in sent] == [(addr, 7, b"hello")]
    assert str(sent[0].src) == ("2001:db8:2::a" if ":" in addr else "203.0.113.11")


@pytest.mark.parametrize(("vendor", "messy"), CASES, ids=IDS)
def test_dns_query_over_ipv6_in_hex(vendor: Vendor, messy: bool) -> None:
    sim = modem(vendor, messy)
    ident = vendor.ids[0]
    for command in vendor.with_id(vendor.hex_mode, ident):
        assert final(sim.at(command)) == "OK"
    reply = sim.at(vendor.open.format(id=ident, addr=DNS6, port=DNS_PORT))
    assert "OK" in lines(reply)
    query = bytes(DNS(id=0x4242, rd=1, qd=DNSQR(qname="echo.pppbridge.test", qtype="AAAA")))
    payload = query if vendor.profile == "ublox" else query.hex().upper().encode()
    command = vendor.send.format(id=ident, addr=DNS6, port=DNS_PORT, len=len(query))
    sim.payload(command, payload, settle=0.0)
    sim.wait_for(vendor.ring_of(ident, messy).encode())
    response = read(sim, vendor, ident, hex_mode=True)
    assert response is not None
    answer = DNS(response)
    assert answer.id == 0x4242 and answer.an[0].rdata == ECHO6


@pytest.mark.parametrize(("vendor", "messy"), CASES, ids=IDS)
def test_one_socket_more_than_the_modem_has_is_refused(vendor: Vendor, messy: bool) -> None:
    sim = modem(vendor, messy)
    for ident in vendor.ids:
        open_socket(sim, vendor, ECHO6, ECHO_PORT, ident)
    one_more = vendor.ids[-1] + 1
    reply = sim.at(vendor.open.format(id=one_more, addr=ECHO6, port=ECHO_PORT))
    assert re.fullmatch(r"\+CME ERROR: ?(\d+|.+)", final(reply)), reply
    assert len(sim.modem.stack.sockets) == len(vendor.ids)


@pytest.mark.parametrize(("vendor", "messy"), CASES, ids=IDS)
def test_payload_at_the_limit_echoes_and_past_it_is_refused(vendor: Vendor, messy: bool) -> None:
    sim = modem(vendor, messy)
    ident = open_socket(sim, vendor, ECHO6, ECHO_PORT)
    data = bytes(ord("a") + i % 26 for i in range(vendor.max_send))
    assert final(send(sim, vendor, ident, data)) == vendor.send_final
    sim.wait_for(vendor.ring_of(ident, messy).encode())
    assert read(sim, vendor, ident) == data[: vendor.max_read]
    command = vendor.send.format(id=ident, addr=ECHO6, port=7, len=vendor.max_send + 1)
    reply = sim.at(command)
    assert b">" not in reply and b"@" not in reply, reply
    assert "ERROR" in final(reply)


@pytest.mark.parametrize(("vendor", "messy"), CASES, ids=IDS)
@pytest.mark.parametrize("addr", [ECHO6, ECHO4])
def test_ping_through_the_vendor_command(vendor: Vendor, messy: bool, addr: str) -> None:
    sim = modem(vendor, messy)
    reply = sim.at(vendor.ping.format(addr=addr), settle=5.0)
    got = lines(reply)
    replies = [n for n, line in enumerate(got) if line.startswith(vendor.ping_reply)]
    assert len(replies) == 1, got
    ok = got.index("OK")
    assert (ok < replies[0]) if vendor.ping_after_ok else (ok == len(got) - 1), got
    pings = [o for o in sim.stack_outputs if isinstance(o, SendPing)]
    assert [str(p.dst) for p in pings] == [addr]


@pytest.mark.parametrize("vendor", VENDORS.values(), ids=VENDORS)
def test_an_unanswered_ping_says_so(vendor: Vendor) -> None:
    sim = modem(vendor)
    sim.network_down = True
    got = lines(sim.at(vendor.ping.format(addr=ECHO6), settle=80.0))
    lost = {
        "sequans": "+PING: 1,2001:db8:1::1,-1,-1",
        "telit": '#PING: 01,"32.1.13.184.0.1.0.0.0.0.0.0.0.0.0.1",600,255',
        "quectel": "+QPING: 569",
        "ublox": '+UUPING: 1,32,"2001:db8:1::1","2001:db8:1::1",0,-1',
    }[vendor.profile]
    assert lost in got, got
    assert "OK" in got


@pytest.mark.parametrize("vendor", VENDORS.values(), ids=VENDORS)
def test_a_closed_socket_takes_no_more_sends(vendor: Vendor) -> None:
    sim = modem(vendor)
    ident = open_socket(sim, vendor, ECHO6, ECHO_PORT)
    assert final(sim.at(vendor.close.format(id=ident))) == "OK"
    reply = sim.at(vendor.send.format(id=ident, addr=ECHO6, port=7, len=5))
    assert "ERROR" in final(reply) and b">" not in reply and b"@" not in reply
    assert not sim.modem.stack.sockets


@pytest.mark.parametrize(
    ("vendor", "deactivate", "urc"),
    [
        (SEQUANS, "AT+CGACT=0,1", "+SQNSH: 1"),
        (QUECTEL, "AT+QIDEACT=1", '+QIURC: "closed",0'),
        (UBLOX, "AT+CGACT=0,1", "+UUSOCL: 0"),
        (TELIT, "AT#SGACT=1,0", None),
    ],
    ids=["sequans", "quectel", "ublox", "telit"],
)
def test_the_context_going_down_closes_its_sockets(
    vendor: Vendor, deactivate: str, urc: str | None
) -> None:
    sim = modem(vendor)
    open_socket(sim, vendor, ECHO6, ECHO_PORT)
    got = lines(sim.at(deactivate))
    assert got[-1] == "OK" and not sim.modem.stack.sockets
    if urc is not None:
        assert urc in got, got


@pytest.mark.parametrize("vendor", VENDORS.values(), ids=VENDORS)
def test_without_an_active_context_no_socket_opens(vendor: Vendor) -> None:
    sim = SocketSim(SimSettings(profile=vendor.profile))  # not --attached
    sim.at("AT+CMEE=1")
    reply = sim.at(vendor.open.format(id=vendor.ids[0], addr=ECHO6, port=7))
    got = lines(reply)
    if vendor.open_result:  # Quectel: OK, then the error as the open's result
        assert got[-1] == "+QIOPEN: 0,561", got
    else:
        assert got[-1].startswith("+CME ERROR"), got
    assert final(sim.at("AT+CGACT=1,1")) == "OK"
    assert "OK" in lines(sim.at(vendor.open.format(id=vendor.ids[0], addr=ECHO6, port=7)))


@pytest.mark.parametrize("vendor", VENDORS.values(), ids=VENDORS)
def test_ipv6_only_network_refuses_ipv4_peers(vendor: Vendor) -> None:
    sim = modem(vendor, ipv6_only=True)
    address = lines(sim.at("AT+CGPADDR=1"))[1]
    assert address.startswith("+CGPADDR: 1,") and address.count(",") == 1  # IPv6 alone
    assert lines(sim.at('AT+CGDCONT=2,"IP","v4"'))[-1] == "OK"
    assert lines(sim.at("AT+CGACT=1,2"))[-1] == "+CME ERROR: 133"
    refused = {
        "sequans": "+CME ERROR: 3",
        "telit": "+CME ERROR: 3",
        "quectel": "+QIOPEN: 0,561",  # "open PDP context failed", after OK
        "ublox": "OK",  # the socket has no peer yet: the IPv4 send is what fails
    }[vendor.profile]
    reply = sim.at(vendor.open.format(id=vendor.ids[0], addr=ECHO4, port=7))
    assert lines(reply)[-1] == refused, reply
    if vendor.profile == "ublox":
        reply = sim.at(vendor.send.format(id=0, addr=ECHO4, port=7, len=5))
        assert lines(reply)[-1] == "+CME ERROR: 3"


# --- prompts, URCs and notations: the vendors' own ----------------------------------------


@pytest.mark.parametrize(
    ("vendor", "messy", "prompt"),
    [
        (SEQUANS, False, b"> "),  # 1.4: no line end
        (SEQUANS, True, b"\r\n> "),  # as TinyGSM waits for it
        (TELIT, False, b"\r\n> "),  # 2.5
        (QUECTEL, False, b"\r\n> "),
        (UBLOX, False, b"\r\n@"),  # 4.3
    ],
)
def test_the_prompt_is_the_vendors_own(vendor: Vendor, messy: bool, prompt: bytes) -> None:
    sim = modem(vendor, messy)
    ident = open_socket(sim, vendor, ECHO6, ECHO_PORT)
    command = vendor.send.format(id=ident, addr=ECHO6, port=7, len=3)
    before, _ = sim.payload(command, b"abc")
    assert before == command.encode() + b"\r" + prompt


def test_sequans_gm02s_closes_inside_the_read_when_messy() -> None:
    """The inactivity timer closes a socket with data unread: in --messy mode the
    +SQNSH URC comes between the +SQNSRECV header and its data (GM02S)."""
    sim = modem(SEQUANS, messy=True)
    assert final(sim.at("AT+SQNSCFG=1,1,300,2,600,50")) == "OK"  # maxTo 2 s
    ident = open_socket(sim, SEQUANS, ECHO6, ECHO_PORT, 1)
    send(sim, SEQUANS, ident, b"late")
    sim.wait_for(b"+SQNSRING: 1,4")
    sim.advance(3.0)
    assert sim.take() == b""  # nothing announced yet
    reply = sim.at("AT+SQNSRECV=1,1500")
    assert reply.startswith(b"AT+SQNSRECV=1,1500\r\r\n+SQNSRECV: 1,4\r\n\r\n+SQNSH: 1\r\nlate\r\n")
    assert not sim.modem.stack.sockets


def test_sequans_tidy_inactivity_close_is_a_urc_of_its_own() -> None:
    sim = modem(SEQUANS)
    assert final(sim.at("AT+SQNSCFG=1,1,300,2,600,50")) == "OK"
    open_socket(sim, SEQUANS, ECHO6, ECHO_PORT, 1)
    assert lines(sim.wait_for(b"+SQNSH: 1", limit=5.0)) == ["+SQNSH: 1"]


def test_sequans_accept_any_remote_names_the_peer_and_the_sender() -> None:
    sim = modem(SEQUANS)
    sim.at("AT+SQNSCFGEXT=1,1,0,0,0,0")
    assert final(sim.at(f'AT+SQNSD=1,1,9,"{ECHO6}",0,4000,1,2')) == "OK"
    sim.payload(f'AT+SQNSSENDEXT=1,2,0,"{DNS6}",7', b"hi", settle=0.0)  # no echo there
    sim.payload(f'AT+SQNSSENDEXT=1,2,0,"{ECHO6}",7', b"yo", settle=0.0)
    sim.wait_for(b"+SQNSRING: 1,2")
    got = lines(sim.at("AT+SQNSRECV=1,1500"))
    assert got[1:3] == ["+SQNSRECV: 1,2,2001:db8:1::1,7", "yo"], got
    sent = [o for o in sim.stack_outputs if isinstance(o, SendDatagram)]
    assert [(str(o.dst), o.sport) for o in sent] == [(DNS6, 4000), (ECHO6, 4000)]


def test_sequans_hex_payloads_and_ring_with_data() -> None:
    sim = modem(SEQUANS)
    assert final(sim.at("AT+SQNSCFGEXT=1,2,1,0,0,1")) == "OK"  # srMode 2: data in the ring
    assert final(sim.at(f'AT+SQNSD=1,1,7,"{ECHO6}",0,0,1')) == "OK"
    sim.payload("AT+SQNSSENDEXT=1,3", b"414243", settle=0.0)
    assert lines(sim.wait_for(b"+SQNSRING"))[-1] == "+SQNSRING: 1,3,414243"
    assert read(sim, SEQUANS, 1) is None  # the ring took it


def test_telit_udp_info_reads_one_datagram_and_tells_what_is_left() -> None:
    sim = modem(TELIT)
    open_socket(sim, TELIT, ECHO6, ECHO_PORT, 1)
    send(sim, TELIT, 1, b"0123456789")
    sim.wait_for(b"SRING: 1,10")
    got = lines(sim.at("AT#SRECV=1,4,1"))
    assert got[1:3] == ['#SRECV: "32.1.13.184.0.1.0.0.0.0.0.0.0.0.0.1",7,1,4,6', "0123"], got
    got = lines(sim.at("AT#SRECV=1,100,1"))
    assert got[1:3] == ['#SRECV: "32.1.13.184.0.1.0.0.0.0.0.0.0.0.0.1",7,1,6,0', "456789"]


def test_telit_ring_mode_3_names_the_sender_messy_with_a_space() -> None:
    sim = modem(TELIT, messy=True)
    assert final(sim.at("AT#SCFGEXT=1,3,0,0,0,0")) == "OK"
    assert final(sim.at(f'AT#SD=1,1,7,"{ECHO6}",0,0,1')) == "OK"
    sim.payload("AT#SSENDEXT=1,2", b"hi", settle=0.0)
    ring = lines(sim.wait_for(b"SRING"))[-1]
    assert ring == 'SRING: " 32.1.13.184.0.1.0.0.0.0.0.0.0.0.0.1",7,1,2,0,hi'


def test_telit_colon_hex_after_cgpiaf() -> None:
    sim = modem(TELIT)
    assert final(sim.at("AT+CGPIAF=1,0,0,1")) == "OK"
    open_socket(sim, TELIT, ECHO6, ECHO_PORT, 1)
    send(sim, TELIT, 1, b"x")
    sim.wait_for(b"SRING")
    assert lines(sim.at("AT#SRECV=1,10,1"))[1] == '#SRECV: "2001:db8:1::1",7,1,1,0'


def test_quectel_open_result_comes_after_ok_and_recv_rings_once_until_drained() -> None:
    sim = modem(QUECTEL)
    sim.out["main"].clear()
    sim.write(f'AT+QIOPEN=1,0,"UDP","{ECHO6}",7,0,0\r'.encode())
    assert lines(sim.take()) == [f'AT+QIOPEN=1,0,"UDP","{ECHO6}",7,0,0', "OK"]
    assert lines(sim.wait_for(b"+QIOPEN")) == ["+QIOPEN: 0,0"]
    send(sim, QUECTEL, 0, b"one")
    send(sim, QUECTEL, 0, b"two")
    sim.advance(1.0)
    recv = [line for line in lines(sim.take()) if "recv" in line]
    assert recv == ['+QIURC: "recv",0'], recv  # once until the buffer is drained (3.4)
    assert read(sim, QUECTEL, 0) == b"one"
    assert read(sim, QUECTEL, 0) == b"two"
    assert read(sim, QUECTEL, 0) is None
    send(sim, QUECTEL, 0, b"three")
    assert '+QIURC: "recv",0' in lines(sim.wait_for(b"recv"))


def test_quectel_udp_service_sends_anywhere_and_reads_the_sender() -> None:
    sim = modem(QUECTEL)
    assert "+QIOPEN: 3,0" in lines(sim.at('AT+QIOPEN=1,3,"UDP SERVICE","127.0.0.1",0,5000,0'))
    _, after = sim.payload(f'AT+QISEND=3,2,"{ECHO4}",7', b"v4", settle=0.0)
    assert lines(after)[0] == "SEND OK"
    sim.wait_for(b"recv")
    got = lines(sim.at("AT+QIRD=3"))
    assert got[1:3] == ['+QIRD: 2,"198.51.100.1",7', "v4"], got
    assert lines(sim.at("AT+QIRD=3,0"))[1] == "+QIRD: 2,2,0"


def test_quectel_messy_recv_urc_carries_the_byte_count() -> None:
    sim = modem(QUECTEL, messy=True)
    open_socket(sim, QUECTEL, ECHO6, ECHO_PORT, 0)
    send(sim, QUECTEL, 0, b"bg95")
    assert lines(sim.wait_for(b"recv")) == ['+QIURC: "recv",0,4']  # as BG95 may (3.4)


def test_ublox_inline_text_and_hex_sends_and_a_ring_after_a_partial_read() -> None:
    sim = modem(UBLOX)
    assert lines(sim.at("AT+USOCR=17,4000"))[1] == "+USOCR: 0"
    reply = sim.at(f'AT+USOST=0,"{ECHO6}",7,5,"hello"', settle=0.0)
    assert lines(reply)[1:] == ["+USOST: 0,5", "OK"]
    assert lines(sim.wait_for(b"+UUSORF")) == ["+UUSORF: 0,5"]
    got = lines(sim.at("AT+USORF=0,2"))
    assert got[1:] == ['+USORF: 0,"2001:db8:1::1",7,2,"he"', "OK", "+UUSORF: 0,3"], got  # 4.4
    assert final(sim.at("AT+UDCONF=1,1")) == "OK"
    assert lines(sim.at("AT+USORF=0,512"))[1] == '+USORF: 0,"2001:db8:1::1",7,3,"6C6C6F"'
    assert lines(sim.at(f'AT+USOST=0,"{ECHO6}",7,2,"C0FE"'))[1] == "+USOST: 0,2"
    assert lines(sim.at(f'AT+USOST=0,"{ECHO6}",7,513,"00"'))[-1] == "+CME ERROR: 50"


def test_ublox_async_close_answers_ok_then_the_urc() -> None:
    sim = modem(UBLOX)
    sim.at("AT+USOCR=17")
    assert lines(sim.at("AT+USOCL=0,1", settle=0.0))[-1] == "OK"
    assert lines(sim.wait_for(b"+UUSOCL")) == ["+UUSOCL: 0"]


def test_ublox_messy_rings_with_uusord_and_prints_upper_case_full_ipv6() -> None:
    sim = modem(UBLOX, messy=True)
    sim.at("AT+USOCR=17")
    send(sim, UBLOX, 0, b"x")
    assert lines(sim.wait_for(b"+UUSORD")) == ["+UUSORD: 0,1"]  # 4.4: some firmware
    got = lines(sim.at("AT+USORF=0,10"))
    assert got[1] == '+USORF: 0,"2001:0DB8:0001:0000:0000:0000:0000:0001",7,1,"x"', got


# --- the line: URCs, pending commands, the line limit, +++ ---------------------------------


@pytest.mark.parametrize("messy", [False, True])
def test_tidy_urcs_wait_for_the_payload_and_come_inside_when_messy(messy: bool) -> None:
    sim = modem(UBLOX, messy)
    sim.at("AT+USOCR=17")
    send(sim, UBLOX, 0, b"x")  # its echo arrives after DELAY
    prompt = sim.at(f'AT+USOST=0,"{ECHO6}",7,2', settle=1.0)  # ... while "@" waits
    sim.write(b"ab")
    after = sim.take()
    if messy:
        assert prompt.endswith(b"@\r\n+UUSORD: 0,1\r\n"), prompt
        assert after == b"\r\n+USOST: 0,2\r\n\r\nOK\r\n", after
    else:
        assert prompt.endswith(b"@"), prompt
        assert after == b"\r\n+USOST: 0,2\r\n\r\nOK\r\n\r\n+UUSORF: 0,1\r\n", after


@pytest.mark.parametrize("messy", [False, True])
def test_a_ring_during_a_ping_waits_for_its_ok_unless_messy(messy: bool) -> None:
    """A ping's replies come before its OK (Sequans, Telit): a tidy modem holds the ring
    of a datagram that arrives meanwhile until after OK; input typed meanwhile runs
    after it."""
    sim = modem(SEQUANS, messy)
    open_socket(sim, SEQUANS, ECHO6, ECHO_PORT, 1)
    send(sim, SEQUANS, 1, b"zz")  # its echo is on its way
    sim.write(f'AT+PING="{ECHO6}",3\r'.encode())
    sim.write(b"AT\r")  # typed while the ping runs: waits
    shown = lines(sim.wait_for(b"AT\r\r\nOK\r\n"))
    pings = [f"+PING: {n},2001:{'DB8' if messy else 'db8'}:1::1,20,64" for n in (1, 2, 3)]
    ring, ping = "+SQNSRING: 1,2", f'AT+PING="{ECHO6}",3'
    if messy:
        assert shown == [ping, ring, *pings, "OK", "AT", "OK"], shown
    else:
        assert shown == [ping, *pings, "OK", ring, "AT", "OK"], shown


def test_line_limit_124_cuts_commands_not_payloads() -> None:
    """Pycom GPy/FiPy: 124 characters a command (reference 1.8)."""
    sim = modem(SEQUANS, at_line_limit=124)
    fits = 'AT+CGDCONT=2,"IP","' + "a" * 104 + '"'
    assert len(fits) == 124 and final(sim.at(fits)) == "OK"
    cut = 'AT+CGDCONT=3,"IP","' + "a" * 105 + '"'
    reply = sim.at(cut)
    assert reply.startswith(cut[:124].encode() + b"\r") and final(reply) == "ERROR"
    open_socket(sim, SEQUANS, ECHO6, ECHO_PORT, 1)
    assert final(sim.at("AT+SQNSCFGEXT=1,1,1,0,0,1")) == "OK"
    data = bytes(range(100))
    prompt = sim.at("AT+SQNSSENDEXT=1,100", settle=0.0)
    assert prompt.endswith(b"> ")
    text = data.hex().encode()
    for start in range(0, len(text), 62):  # written in pieces, as a Pycom host must
        sim.write(text[start : start + 62])
    sim.wait_for(b"+SQNSRING: 1,100")
    assert read(sim, SEQUANS, 1, hex_mode=True) == data


def test_escape_suspends_the_call_and_socket_commands_run_then_ato_resumes() -> None:
    sim = modem(TELIT)
    open_socket(sim, TELIT, ECHO6, ECHO_PORT, 1)
    assert b"CONNECT" in sim.at("ATD*99***1#")  # no PPP client: its LCP does not matter
    sim.advance(1.5)  # the guard time before
    sim.take()
    sim.write(b"+++")
    sim.advance(1.5)  # and after
    assert lines(sim.take())[-1] == "OK"
    sim.payload("AT#SSENDEXT=1,4", b"ping", settle=0.0)
    assert lines(sim.wait_for(b"SRING"))[-1] == "SRING: 1,4"
    assert read(sim, TELIT, 1) == b"ping"
    assert b"CONNECT" in sim.at("ATO", settle=0.0)
    assert sim.modem.mode.value == "online"


def test_urcs_wait_while_the_line_carries_ppp() -> None:
    sim = modem(QUECTEL)
    open_socket(sim, QUECTEL, ECHO6, ECHO_PORT, 0)
    send(sim, QUECTEL, 0, b"late")  # its echo comes back once the call is up
    assert b"CONNECT" in sim.at("ATD*99***1#", settle=1.5)
    assert sim.modem.stack.sockets[0].queue and b"+QIURC" not in sim.take()
    sim.write(b"+++")
    got = lines(sim.wait_for(b"+QIURC"))
    assert got[-2:] == ["OK", '+QIURC: "recv",0'], got


# --- the second AT port ---------------------------------------------------------------------


def test_second_port_runs_sockets_while_the_first_carries_ppp() -> None:
    sim = SocketSim(SimSettings(profile="sequans", attached=True), at_port=True)
    assert b"CONNECT" in sim.at("ATD*99***1#")
    assert final(sim.at("AT", port=AUX)) == "OK"
    assert final(sim.at("AT+SQNSCFGEXT=1,1,0,0,0,0", port=AUX)) == "OK"
    assert final(sim.at(f'AT+SQNSD=1,1,7,"{ECHO6}",0,0,1', port=AUX)) == "OK"
    prompt, after = sim.payload("AT+SQNSSENDEXT=1,3", b"aux", port=AUX, settle=0.0)
    assert prompt.endswith(b"> ") and lines(after) == ["OK"]
    assert lines(sim.wait_for(b"+SQNSRING", port=AUX)) == ["+SQNSRING: 1,3"]
    assert read_on(sim, AUX) == ["+SQNSRECV: 1,3", "aux", "OK"]
    assert b"SQNS" not in sim.take()  # nothing of it on the PPP line
    assert sim.modem.mode.value == "online"


def read_on(sim: SocketSim, port: str) -> list[str]:
    return lines(sim.at("AT+SQNSRECV=1,1500", port=port))[1:]


def test_second_port_cannot_dial_and_its_ath_drops_the_call() -> None:
    sim = SocketSim(SimSettings(profile="quectel", attached=True), at_port=True)
    sim.at("AT+CMEE=1", port=AUX)
    assert final(sim.at("ATD*99***1#", port=AUX)) == "+CME ERROR: 3"
    assert final(sim.at("ATO", port=AUX)) == "+CME ERROR: 3"
    assert b"CONNECT" in sim.at("ATD*99***1#")
    sim.take()
    assert final(sim.at("ATH", port=AUX)) == "OK"
    assert b"NO CARRIER" in sim.take()
    assert sim.modem.session is None and sim.modem.contexts[1].active  # --attached: stays up


def test_second_port_has_its_own_echo_and_gets_the_urcs() -> None:
    sim = SocketSim(SimSettings(profile="ublox", attached=True), at_port=True)
    assert sim.at("ATE0", port=AUX).startswith(b"ATE0")
    assert sim.at("AT", port=AUX) == b"\r\nOK\r\n"
    assert sim.at("AT") == b"AT\r\r\nOK\r\n"  # the first port still echoes
    sim.at("AT+USOCR=17")  # on the first port: its URCs go to the AT port all the same
    send(sim, UBLOX, 0, b"x")
    assert b"+UUSORF" not in sim.take()
    assert lines(sim.wait_for(b"+UUSORF", port=AUX)) == ["+UUSORF: 0,1"]
