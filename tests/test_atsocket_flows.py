"""netstack.atsocket: flows and the modem's sockets, for each vendor against its scripted
modem (tests/atsocket_modems.py): one socket per flow, reused, closed when idle, the least
recently used one closed for a new flow at the vendor's socket limit, a datagram backlog
while a socket opens, the modem's own closes, and close_all at the end.
"""

from __future__ import annotations

import pytest
from scapy.layers.inet import UDP

from atsocket_modems import Sent
from atsocket_rig import HOST, OTHER, REMOTE, Rig, datagram, scripted, udp, unreachable_code

VENDOR_NAMES = ["sequans", "telit", "quectel", "ublox"]
IDLE = 30.0
ADDRESS_UNREACHABLE = 3


def flow_packet(i: int, payload: bytes | None = None) -> bytes:
    """A datagram of flow ``i``: its own remote port."""
    return udp(payload if payload is not None else b"flow %d" % i, dport=1000 + i)


def close_commands(rig: Rig) -> list[str]:
    close = rig.vendor.close.split("=")[0]
    return [c for c in rig.commands() if c.startswith(close + "=")]


def open_commands(rig: Rig) -> list[str]:
    opening = rig.vendor.open.split("=")[0]
    return [c for c in rig.commands() if c.startswith(opening + "=")]


@pytest.fixture(params=VENDOR_NAMES)
def vendor_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_one_socket_per_flow_reused(vendor_name: str) -> None:
    rig, modem = scripted(vendor_name, idle_timeout=IDLE)
    rig.host(udp(b"one"))
    rig.advance(1.0)
    rig.host(udp(b"two"), udp(b"three"))
    rig.advance(1.0)
    assert [s.data for s in modem.sent] == [b"one", b"two", b"three"]
    assert len({s.socket for s in modem.sent}) == 1
    assert len(open_commands(rig)) == 1
    assert all((s.remote, s.port, s.local_port) == (REMOTE, 5683, 40000) for s in modem.sent)


def test_each_flow_its_own_socket(vendor_name: str) -> None:
    rig, modem = scripted(vendor_name)
    rig.host(udp(b"a"), udp(b"b", dport=5684), udp(b"c", dst=OTHER), udp(b"d", sport=40001))
    rig.advance(1.0)
    flows = {(s.local_port, s.remote, s.port): s.socket for s in modem.sent}
    assert len(flows) == len(set(flows.values())) == 4
    assert rig.bridge.statistics().sockets_opened == 4


def test_idle_socket_closes_after_the_idle_timeout(vendor_name: str) -> None:
    rig, modem = scripted(vendor_name, idle_timeout=IDLE)
    rig.host(udp(b"one"))
    rig.advance(IDLE / 2)
    rig.host(udp(b"two"))  # used again: the idle time starts over
    rig.advance(IDLE - 1)
    assert close_commands(rig) == []
    rig.advance(1.0)
    assert len(close_commands(rig)) == 1
    assert modem.sockets == {} and rig.bridge.sockets() == ()
    assert rig.bridge.statistics().sockets_closed_idle == 1
    assert rig.deadline() is None
    rig.host(udp(b"three"))  # a new socket for the same flow
    rig.advance(1.0)
    assert len(open_commands(rig)) == 2 and modem.sent[-1].data == b"three"


def test_received_data_counts_as_use(vendor_name: str) -> None:
    rig, modem = scripted(vendor_name, idle_timeout=IDLE)
    rig.host(udp(b"one"))
    rig.advance(IDLE - 1)
    rig.reply(modem.deliver(modem.sent[0].socket, b"reply"))
    rig.advance(IDLE - 1)
    assert close_commands(rig) == []
    assert datagram(rig.one_to_host())[UDP].load == b"reply"


def test_least_recently_used_socket_evicted_at_the_limit(vendor_name: str) -> None:
    rig, modem = scripted(vendor_name, idle_timeout=1000.0)
    limit = len(rig.vendor.socket_ids)
    for i in range(limit):
        rig.host(flow_packet(i))
        rig.advance(1.0)
    rig.host(flow_packet(0, b"flow 0 again"))  # flow 1 is now the least recently used
    rig.advance(1.0)
    socket_of = {s.port: s.socket for s in modem.sent}
    rig.host(flow_packet(limit))
    rig.advance(1.0)
    assert rig.bridge.statistics().sockets_evicted == 1
    assert close_commands(rig) == [rig.vendor.close.format(id=socket_of[1001])]
    newest = modem.sent[-1]
    assert (newest.port, newest.data) == (1000 + limit, b"flow %d" % limit)
    assert newest.socket == socket_of[1001]  # the id freed by the close
    assert len(rig.bridge.sockets()) == limit
    rig.host(flow_packet(1, b"flow 1 back"))  # evicts the next least recently used: flow 2
    rig.advance(1.0)
    assert close_commands(rig)[-1] == rig.vendor.close.format(id=socket_of[1002])
    assert modem.sent[-1].data == b"flow 1 back"


def test_a_burst_of_more_flows_than_sockets(vendor_name: str) -> None:
    """Regression: with every id still opening when the extra flow came, nothing was
    evicted and its datagram waited for an idle close."""
    rig, modem = scripted(vendor_name, idle_timeout=1000.0)
    limit = len(rig.vendor.socket_ids)
    rig.host(*(flow_packet(i) for i in range(limit + 2)))
    rig.advance(1.0)
    assert sorted(s.data for s in modem.sent) == sorted(b"flow %d" % i for i in range(limit + 2))
    assert rig.bridge.statistics().sockets_evicted == 2
    assert len(rig.bridge.sockets()) == limit
    assert rig.host_packets() == []


def test_backlog_while_opening_is_bounded(vendor_name: str) -> None:
    rig, modem = scripted(vendor_name, backlog=3)
    assert modem is not None
    rig.modem = None  # hold the modem's answers: the socket stays opening
    rig.host(*(udp(b"%d" % i) for i in range(5)))
    assert rig.bridge.statistics().backlog_dropped == 2
    rig.modem = modem
    rig.reply(b"".join(modem.write(w, rig.now) for w in list(rig.writes)))
    rig.writes.clear()
    rig.advance(1.0)
    assert [s.data for s in modem.sent] == [b"0", b"1", b"2"]


@pytest.mark.parametrize("vendor_name", ["sequans", "quectel", "ublox"])  # Telit has none
def test_modem_closes_the_socket(vendor_name: str) -> None:
    rig, modem = scripted(vendor_name)
    assert rig.vendor.closed is not None
    rig.host(udp(b"one"))
    rig.advance(1.0)
    socket = modem.sent[0].socket
    modem.sockets.pop(socket)
    closed = rig.vendor.closed.prefix
    tag = f'"{rig.vendor.closed.tag}",' if rig.vendor.closed.tag else ""
    rig.reply(f"\r\n{closed} {tag}{socket}\r\n")
    assert rig.bridge.sockets() == ()
    assert rig.bridge.statistics().sockets_closed_by_modem == 1
    rig.host(udp(b"two"))
    rig.advance(1.0)
    assert len(open_commands(rig)) == 2 and close_commands(rig) == []
    assert modem.sent[-1].data == b"two"


def test_close_all_closes_every_open_socket(vendor_name: str) -> None:
    rig, modem = scripted(vendor_name)
    rig.host(udp(b"a"), udp(b"b", dport=5684))
    rig.advance(1.0)
    rig.close_all()
    assert len(close_commands(rig)) == 2
    assert modem.sockets == {} and rig.bridge.sockets() == ()
    assert rig.deadline() is None


def test_close_all_while_opening_closes_once_open(vendor_name: str) -> None:
    rig, modem = scripted(vendor_name)
    rig.modem = None
    rig.host(udp(b"a"))
    rig.close_all()
    rig.modem = modem
    rig.reply(b"".join(modem.write(w, rig.now) for w in list(rig.writes)))
    rig.writes.clear()
    rig.advance(1.0)
    assert modem.sent == [] and modem.sockets == {}
    assert rig.bridge.sockets() == ()
    assert rig.bridge.statistics().backlog_dropped == 1


def test_open_refused_answers_the_waiting_datagrams(vendor_name: str) -> None:
    rig, modem = scripted(vendor_name)
    opening = rig.vendor.open.split("=")[0]
    modem.failures[opening] = b"\r\n+CME ERROR: 3\r\n"
    packets = [udp(b"a"), udp(b"b")]
    rig.host(*packets)
    rig.advance(1.0)
    answers = rig.host_packets()
    assert [unreachable_code(a, p) for a, p in zip(answers, packets, strict=True)] == [
        ADDRESS_UNREACHABLE
    ] * 2
    assert rig.bridge.statistics().open_errors == 1
    assert rig.bridge.sockets() == ()
    del modem.failures[opening]
    rig.host(udp(b"c"))
    rig.advance(1.0)
    assert [s.data for s in modem.sent] == [b"c"]


def test_send_error_answers_and_reopens(vendor_name: str) -> None:
    rig, modem = scripted(vendor_name)
    rig.host(udp(b"a"))
    rig.advance(1.0)
    sending = rig.vendor.send.split("=")[0]
    modem.failures[sending] = b"\r\nERROR\r\n"
    failed = udp(b"b")
    rig.host(failed)
    rig.advance(1.0)
    assert unreachable_code(rig.one_to_host(), failed) == ADDRESS_UNREACHABLE
    assert rig.bridge.statistics().send_errors == 1
    del modem.failures[sending]
    rig.host(udp(b"c"))
    rig.advance(1.0)
    assert [s.data for s in modem.sent] == [b"a", b"c"]
    assert len(close_commands(rig)) == 1 and len(open_commands(rig)) == 2


def test_sender_the_modem_names_or_the_flow_remote(vendor_name: str) -> None:
    rig, modem = scripted(vendor_name)
    rig.host(udp(b"a"))
    rig.advance(1.0)
    rig.reply(modem.deliver(modem.sent[0].socket, b"reply", sender=OTHER, port=7))
    packet = datagram(rig.one_to_host())
    names_sender = vendor_name in ("telit", "ublox")  # #SRECV UDP info, +USORF
    expected = (str(OTHER), 7) if names_sender else (str(REMOTE), 5683)
    assert (packet.src, packet[UDP].sport) == expected
    assert (packet.dst, packet[UDP].dport) == (str(HOST), 40000)


def test_sockets_report(vendor_name: str) -> None:
    rig, modem = scripted(vendor_name)
    rig.host(udp(b"a"))
    rig.advance(1.0)
    (info,) = rig.bridge.sockets()
    assert info.state == "open" and info.socket_id == modem.sent[0].socket
    assert (info.flow.local_port, info.flow.remote, info.flow.remote_port) == (40000, REMOTE, 5683)
    assert all(isinstance(s, Sent) for s in modem.sent)


def test_messy_modem_same_as_tidy(vendor_name: str) -> None:
    """No echo, doubled blank lines, a prompt after CR LF, lower-case hex, Telit's space
    inside the quotes, u-blox +UUSORD and uncompressed upper-case addresses: the same
    datagrams either way."""
    results = []
    for messy in (False, True):
        rig, modem = scripted(vendor_name, messy=messy)
        rig.host(udp(b"one"), udp(b"two", dport=5684))
        rig.advance(1.0)
        for sent in list(modem.sent):
            rig.reply(modem.deliver(sent.socket, b"re " + sent.data, OTHER, 7))
        rig.advance(1.0)
        rig.host(udp(b"three"))
        rig.advance(1.0)
        results.append((modem.sent, rig.host_packets(), rig.stats()))
    assert results[0] == results[1]
