"""netstack.atsocket, properties: any bytes from the TUN and any lines from the modem
never raise and never make the bridge send a command while one is pending; payloads of
every length within the limits go through and come back byte for byte (scapy checks the
checksums); flows churned through the socket limit lose nothing and keep their order.
"""

from __future__ import annotations

from collections import defaultdict

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.layers.inet import UDP
from scapy.layers.inet6 import IPv6

from atsocket_rig import (
    HOST,
    OTHER,
    REMOTE,
    Rig,
    checksum_ok,
    datagram,
    echo_request,
    scripted,
    tcp_syn,
    udp,
)
from netstack.atsocket_vendors import UBLOX_SARA_R4_INLINE_HEX, VENDORS

VENDOR_NAMES = ["sequans", "telit", "quectel", "ublox"]
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PYCOM_LINE = 124


def well_formed(packets: list[bytes]) -> None:
    """What the bridge gives the host is IPv6 with a correct upper-layer checksum."""
    for packet in packets:
        parsed = IPv6(packet)
        assert parsed.version == 6 and parsed.plen == len(packet) - 40
        assert checksum_ok(parsed)


def busy_rig(name: str) -> Rig:
    """A rig with an open socket, a read under way and a send and a ping queued; the
    modem then answers nothing more but what the test feeds."""
    rig, modem = scripted(name)
    rig.host(udp(b"first"))
    rig.advance(1.0)
    rig.modem = None
    rig.reply(modem.deliver(modem.sent[0].socket, b"data"))
    rig.host(udp(b"second"), echo_request())
    return rig


# --- never raises ---------------------------------------------------------------------

IPV6_HEADER = bytes(IPv6(src=str(HOST), dst=str(REMOTE), nh=17, plen=0))


@st.composite
def tun_packets(draw: st.DrawFn) -> bytes:
    """Arbitrary bytes, valid packets with bytes changed, or an IPv6 header with any
    next header and payload (lengths right, so the parsers go deep)."""
    kind = draw(st.integers(0, 2))
    if kind == 0:
        return draw(st.binary(max_size=200))
    if kind == 1:
        base = bytearray(
            draw(st.sampled_from([udp(b"hello"), tcp_syn(), echo_request(), udp(bytes(300))]))
        )
        for _ in range(draw(st.integers(1, 4))):
            base[draw(st.integers(0, len(base) - 1))] = draw(st.integers(0, 255))
        return bytes(base)
    nh = draw(st.sampled_from([0, 6, 17, 43, 44, 58, 60, 59, draw(st.integers(0, 255))]))
    payload = draw(st.binary(max_size=120))
    header = bytearray(IPV6_HEADER)
    header[4:6] = len(payload).to_bytes(2, "big")
    header[6] = nh
    return bytes(header) + payload


@FAST
@given(st.sampled_from(VENDOR_NAMES), st.lists(tun_packets(), max_size=8))
def test_any_bytes_from_the_tun_never_raise(name: str, packets: list[bytes]) -> None:
    rig, _ = scripted(name)
    rig.host(*packets)
    rig.advance(1.0)
    well_formed(rig.host_packets())
    assert rig.bridge.statistics().packets_from_tun == len(packets)


@st.composite
def modem_lines(draw: st.DrawFn, name: str) -> bytes:
    """A line as the vendor's modem might print it, or might garble it."""
    vendor = VENDORS[name]
    prefixes = [
        *(f"{p}:" for p in vendor.urc_prefixes),
        vendor.read_format.prefix,
        "+USOCR:",
        "+USOST:",
        "#PING:",
        "+PING:",
        "",
    ]
    words = st.sampled_from(
        ["OK", "ERROR", "SEND OK", "SEND FAIL", "> ", "@", "CONNECT", "NO CARRIER", "+CME ERROR: 3"]
    )
    field = st.one_of(
        st.integers(-2, 70000).map(str),
        st.sampled_from(['"recv"', '"closed"', '"2001:db8:1::10"', "32.1.13.184", '""']),
        st.text("0123456789ABCDEFabcdef", max_size=12),
        st.text(max_size=6),
    )
    if draw(st.booleans()):
        text = draw(words)
    else:
        fields = draw(st.lists(field, max_size=6))
        text = draw(st.sampled_from(prefixes)) + " " + ",".join(fields)
    raw = text.encode("utf-8", "replace")
    if draw(st.integers(0, 9)) == 0:
        raw = draw(st.binary(max_size=40))
    return raw + draw(st.sampled_from([b"\r\n", b"\r", b"\n", b"", b"\r\n\r\n"]))


@FAST
@given(st.data())
def test_any_modem_lines_never_raise(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(VENDOR_NAMES))
    rig = busy_rig(name)
    for line in data.draw(st.lists(modem_lines(name), max_size=12)):
        rig.reply(line)
        if data.draw(st.booleans()):
            rig.advance(data.draw(st.sampled_from([0.01, 0.06, 1.0, 30.0])))
        if data.draw(st.integers(0, 4)) == 0:
            rig.host(udp(b"more", dport=data.draw(st.integers(1, 3))))
    well_formed(rig.host_packets())
    # Not wedged: with the modem silent, every command ends in a TIMEOUT and the queue
    # moves on until a fresh flow's open is written.
    rig.host(udp(b"after", sport=9999))
    opening = rig.vendor.open.split("=")[0] + "="
    for _ in range(100):
        rig.advance(30.0)
        if any(c.startswith(opening) and "9999" in c for c in rig.commands()):
            break
    else:
        raise AssertionError(f"wedged: {rig.commands()[-5:]}")


# --- round trips ----------------------------------------------------------------------


@FAST
@given(st.sampled_from(VENDOR_NAMES), st.booleans(), st.data())
def test_payloads_of_any_length_round_trip(name: str, pycom: bool, data: st.DataObject) -> None:
    options = {"max_line": PYCOM_LINE} if pycom else {}
    rig, modem = scripted(name, messy=data.draw(st.booleans()), **options)
    limit = rig.vendor.payload_limit
    size = data.draw(st.one_of(st.integers(1, 64), st.integers(1, limit), st.just(limit)))
    payload = data.draw(st.binary(min_size=size, max_size=size))
    rig.host(udp(payload, sport=20000, dport=7))
    rig.advance(1.0)
    assert [s.data for s in modem.sent] == [payload]
    back = data.draw(st.binary(min_size=1, max_size=rig.vendor.read_limit))
    rig.reply(modem.deliver(modem.sent[0].socket, back))
    rig.advance(1.0)
    packet = datagram(rig.one_to_host())
    assert bytes(packet[UDP].payload) == back
    assert (packet[UDP].sport, packet[UDP].dport) == (7, 20000)
    if pycom:
        assert max(len(w) for w in rig.log) <= PYCOM_LINE


@FAST
@given(st.binary(min_size=1, max_size=512), st.sampled_from([None, 124, 200]))
def test_inline_hex_payloads_that_fit_the_line_round_trip(
    payload: bytes, max_line: int | None
) -> None:
    rig = Rig.of(UBLOX_SARA_R4_INLINE_HEX, max_line=max_line)
    packet = udp(payload)
    rig.host(packet)
    if rig.to_host:  # refused: only when the line could not hold it
        assert max_line is not None
        assert rig.bridge.statistics().refused_line_limit == 1
        return
    rig.exchange("AT+UDCONF=1,1", "\r\nOK\r\n")
    rig.exchange("AT+USOCR=17,40000", "\r\n+USOCR: 0\r\n\r\nOK\r\n")
    command = rig.take_write()
    assert max_line is None or len(command) - 1 <= max_line
    assert command.endswith(b',"' + payload.hex().upper().encode() + b'"\r')


# --- churn through the socket limit ---------------------------------------------------

operation = st.one_of(
    st.tuples(st.just("send"), st.integers(0, 9), st.binary(min_size=1, max_size=20)),
    st.tuples(st.just("wait"), st.sampled_from([0.01, 0.05, 1.0, 20.0, 70.0])),
    st.tuples(st.just("deliver"), st.integers(0, 9), st.binary(min_size=1, max_size=20)),
)


@FAST
@given(st.sampled_from(VENDOR_NAMES), st.lists(operation, max_size=40))
def test_flows_churned_through_the_limit_lose_nothing(
    name: str, ops: list[tuple[str, int | float, bytes]]
) -> None:
    rig, modem = scripted(name, backlog=64, idle_timeout=60.0)
    expected: dict[int, list[bytes]] = defaultdict(list)
    delivered: list[tuple[str, int, bytes]] = []
    for op in ops:
        if op[0] == "send":
            _, flow, payload = op
            port = 1000 + int(flow)
            rig.host(udp(payload, dport=port, dst=REMOTE if port % 2 else OTHER))
            expected[port].append(payload)
        elif op[0] == "wait":
            rig.advance(op[1])
        else:
            _, index, payload = op
            last = {s.socket: s for s in modem.sent}  # a reused id: its latest flow
            used = [s for i, s in sorted(last.items()) if i in modem.sockets]
            if used:
                peer = used[int(index) % len(used)]
                rig.reply(modem.deliver(peer.socket, payload, peer.remote, peer.port))
                delivered.append((str(peer.remote), peer.port, payload))
        assert len(modem.sockets) <= len(rig.vendor.socket_ids)
    rig.advance(1.0)
    sent: dict[int, list[bytes]] = defaultdict(list)
    for s in modem.sent:
        sent[s.port].append(s.data)
    assert sent == expected
    received = [datagram(p) for p in rig.host_packets()]
    assert [(p.src, p[UDP].sport, bytes(p[UDP].payload)) for p in received] == delivered
    stats = rig.bridge.statistics()
    assert stats.backlog_dropped == stats.open_errors == stats.send_errors == 0
    rig.advance(61.0)
    assert modem.sockets == {} and rig.bridge.sockets() == ()
