"""Our PPP client against the simulated modem: whole sessions per vendor profile, each
profile's PPP quirk on the wire, the faults the simulator plays, network pings, the
``+++`` escape with ATO/ATH, and the capture file.

The network side is ``LocalResponder`` (echo, UDP echo, DNS in-process). Packets are
checked with scapy and HDLC frames with a small decoder written here (its own FCS check),
independent of ``netstack``. Everything runs on virtual time through ``SimPair``.
"""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path

import pytest
import scapy.layers.ppp  # noqa: F401 - registers linktype 204 (DIR_PPP) with rdpcap
from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.inet6 import (
    ICMPv6EchoReply,
    ICMPv6EchoRequest,
    ICMPv6ND_RA,
    ICMPv6ND_RS,
    ICMPv6NDOptPrefixInfo,
    IPv6,
)
from scapy.layers.ppp import PPP, PPP_IPCP, PPP_LCP_Configure
from scapy.utils import rdpcap

from bridge.simulator.at_modem import Mode
from bridge.simulator.hosts import LocalResponder
from bridge.simulator.pcap import PcapWriter
from bridge.simulator.profiles import PROFILES
from bridge.simulator.settings import DialResult, SimSettings
from netstack.config import LinkConfig
from netstack.events import DownReason, Ipv6Unavailable, LinkDown, LinkRenegotiating, LinkUp
from netstack.ipwire import build_icmp_echo, build_udp, echo_reply_for
from netstack.link import Link
from tests.sim_pair import SimPair

CLIENT4 = IPv4Address("203.0.113.10")
CLIENT6 = IPv6Address("2001:db8:2::2")
ECHO4 = IPv4Address("198.51.100.1")
ECHO6 = IPv6Address("2001:db8:1::1")
GATEWAY4 = IPv4Address("203.0.113.1")
LCP, IPCP, IPV6CP, IPV4, IPV6 = 0xC021, 0x8021, 0x8057, 0x0021, 0x0057


# ------------------------------------------------------------------------ helpers


def session(
    settings: SimSettings | None = None,
    *,
    apn_type: str = "IPV4V6",
    config: LinkConfig | None = None,
    capture: bool = False,
    ready: Callable[[Link], bool] | None = None,
) -> SimPair:
    """A pair dialled in with a client Link, run until ``ready`` (both NCPs by default)."""
    pair = SimPair(settings or SimSettings(), capture=capture, responder=LocalResponder().answer)
    pair.lines()
    assert pair.at(f'ATE0;+CGDCONT=1,"{apn_type}","internet"') == [
        f'ATE0;+CGDCONT=1,"{apn_type}","internet"',
        "OK",
    ]
    assert pair.dial(config=config)[0].startswith("CONNECT")
    client = pair.client
    assert client is not None
    condition = ready or (lambda link: link.ipv4_ready and link.ipv6_ready)
    pair.run_until(lambda: condition(client), limit=30)
    return pair


def events(pair: SimPair, kind: type) -> list:  # type: ignore[type-arg]
    return [event for event in pair.client_events if isinstance(event, kind)]


def downs(pair: SimPair) -> list[DownReason]:
    return [event.reason for event in events(pair, LinkDown)]


def wait_down(pair: SimPair, limit: float = 30) -> None:
    pair.run_until(lambda: bool(downs(pair)), limit=limit)


def parse(packet: bytes) -> IP | IPv6:
    return IP(packet) if packet[0] >> 4 == 4 else IPv6(packet)


def exchange(pair: SimPair, packet: bytes) -> IP | IPv6:
    """Send ``packet`` from the client; the one packet that comes back, parsed."""
    pair.client_packets.clear()
    pair.client_send(packet)
    pair.run_until(lambda: bool(pair.client_packets), limit=5)
    [reply] = pair.client_packets
    return parse(reply)


def ping4(pair: SimPair, seq: int = 1) -> None:
    request = build_icmp_echo(CLIENT4, ECHO4, reply=False, ident=9, seq=seq, payload=b"v4")
    reply = exchange(pair, request)
    assert (reply[IP].src, reply[ICMP].type, reply[ICMP].seq) == (str(ECHO4), 0, seq)


def ping6(pair: SimPair, seq: int = 1) -> None:
    request = build_icmp_echo(CLIENT6, ECHO6, reply=False, ident=9, seq=seq, payload=b"v6")
    reply = exchange(pair, request)
    assert reply[IPv6].src == str(ECHO6) and reply[ICMPv6EchoReply].seq == seq


def fcs_ok(frame: bytes) -> bool:
    """RFC 1662 C.2: the 16-bit FCS over a frame including its FCS leaves 0xf0b8."""
    fcs = 0xFFFF
    for byte in frame:
        fcs ^= byte
        for _ in range(8):
            fcs = (fcs >> 1) ^ 0x8408 if fcs & 1 else fcs >> 1
    return fcs == 0xF0B8


def wire_frames(raw: bytes) -> list[tuple[bytes, set[int]]]:
    """RFC 1662 async frames in ``raw``: (frame without FCS, the octets that came escaped)."""
    frames = []
    for chunk in raw.split(b"\x7e")[1:-1]:
        if not chunk:
            continue
        frame, escaped, pending = bytearray(), set(), False
        for byte in chunk:
            if byte == 0x7D:
                pending = True
                continue
            value = byte ^ 0x20 if pending else byte
            if pending:
                escaped.add(value)
            frame.append(value)
            pending = False
        assert fcs_ok(bytes(frame)), bytes(frame).hex()
        frames.append((bytes(frame[:-2]), escaped))
    return frames


def split_header(frame: bytes) -> tuple[bool, int, bool]:
    """(Address/Control present, protocol, protocol field compressed) of a decoded frame."""
    full = frame.startswith(b"\xff\x03")
    rest = frame[2:] if full else frame
    if rest[0] & 1:  # RFC 1661 6.5: an odd first octet is a compressed protocol
        return full, rest[0], True
    return full, int.from_bytes(rest[:2], "big"), False


# ----------------------------------------------------------------- whole sessions


@pytest.mark.parametrize("messy", [False, True], ids=["tidy", "messy"])
@pytest.mark.parametrize("profile", list(PROFILES))
def test_full_session_per_profile(profile: str, messy: bool) -> None:
    pair = session(SimSettings(profile=profile, messy=messy))
    client = pair.client
    assert client is not None and client.ipv4_ready and client.ipv6_ready
    ups = events(pair, LinkUp)
    assert ups[-1].info.local_ipv4 == CLIENT4
    assert ups[-1].info.local_interface_id == bytes(7) + b"\x02"

    # The gateway's Router Advertisement, sent once IPV6CP opened.
    pair.run_until(lambda: bool(pair.client_packets), limit=5)
    ra = IPv6(pair.client_packets[0])
    assert (ra.src, ra.hlim) == ("fe80::1", 255)
    prefix = ra[ICMPv6ND_RA][ICMPv6NDOptPrefixInfo]
    assert (prefix.prefix, prefix.prefixlen, prefix.L, prefix.A) == ("2001:db8:2::", 64, 1, 1)

    # A Router Solicitation from the client is answered with another one.
    solicitation = IPv6(src="fe80::2", dst="ff02::2", hlim=255) / ICMPv6ND_RS()
    answer = exchange(pair, bytes(solicitation))
    assert answer.haslayer(ICMPv6ND_RA) and answer.src == "fe80::1"
    assert not any(IPv6(p).haslayer(ICMPv6ND_RS) for p in pair.network if p[0] >> 4 == 6)

    ping4(pair)
    ping6(pair)
    for src, dst in ((CLIENT4, ECHO4), (CLIENT6, ECHO6)):
        reply = exchange(pair, build_udp(src, dst, 40000, 7, b"udp echo"))
        assert (reply[UDP].sport, reply[UDP].dport, bytes(reply[UDP].payload)) == (
            7,
            40000,
            b"udp echo",
        )


def test_ip_only_context_rejects_ipv6cp() -> None:
    pair = session(apn_type="IP", capture=True, ready=lambda link: link.ipv4_ready)
    pair.run_until(lambda: bool(events(pair, Ipv6Unavailable)), limit=30)
    assert "Protocol-Rejected" in events(pair, Ipv6Unavailable)[0].detail
    rejects = [f.frame for f in pair.frames if f.sent and f.frame[2:5] == b"\xc0\x21\x08"]
    assert rejects and rejects[0][8:10] == b"\x80\x57"  # LCP Protocol-Reject of IPV6CP
    ping4(pair)
    assert not downs(pair)


def test_ipv6_only_context() -> None:
    pair = session(apn_type="IPV6", ready=lambda link: link.ipv6_ready)
    client = pair.client
    assert client is not None and not client.ipv4_ready
    pair.run_until(lambda: bool(pair.client_packets), limit=5)
    assert IPv6(pair.client_packets[0]).haslayer(ICMPv6ND_RA)
    ping6(pair)
    assert not downs(pair)


# ------------------------------------------------------------------- PPP quirks


def frames_after(pair: SimPair, start: int) -> list[tuple[bytes, set[int]]]:
    return wire_frames(b"".join(pair.writes[start:]))


@pytest.mark.parametrize("quirks", [True, False])
def test_sequans_compresses_without_agreement(quirks: bool) -> None:
    config = LinkConfig(username="test", pfc=False, acfc=False)
    pair = SimPair(SimSettings(profile="sequans", quirks=quirks))
    pair.at("ATE0")
    start = len(pair.writes)
    pair.dial(config=config)
    client = pair.client
    assert client is not None
    pair.run_until(lambda: client.ipv4_ready and client.ipv6_ready, limit=30)
    packet = build_udp(ECHO4, CLIENT4, 7, 40000, b"to the client")
    pair.from_network(packet)
    frames = [split_header(frame) for frame, _ in frames_after(pair, start + 1)]
    others = [(full, protocol, short) for full, protocol, short in frames if protocol != LCP]
    assert {protocol for _, protocol, _ in others} == {IPCP, IPV6CP, IPV4, IPV6}
    ip_frames = [short for _, protocol, short in others if protocol in (IPV4, IPV6)]
    if quirks:
        # ACFC on every non-LCP frame, PFC wherever the upper octet is zero.
        assert not any(full for full, _, _ in others)
        assert all(ip_frames)
    else:
        assert all(full for full, _, _ in others) and not any(ip_frames)
    assert all(full for full, protocol, _ in frames if protocol == LCP)  # RFC 1661 6.6
    assert pair.client_packets[-1] == packet  # our client copes either way


@pytest.mark.parametrize("quirks", [True, False])
def test_quectel_escapes_only_flag_and_escape_after_lcp_opens(quirks: bool) -> None:
    pair = session(
        SimSettings(profile="quectel", quirks=quirks),
        config=LinkConfig(username="test", accm=0x000A0000),  # escape XON/XOFF for us
    )
    packet = build_udp(ECHO4, CLIENT4, 7, 40000, bytes(range(32)) + b"\x7d\x7e")
    start = len(pair.writes)
    pair.client_packets.clear()
    pair.from_network(packet)
    [(frame, escaped)] = frames_after(pair, start)
    assert packet in frame
    raw = b"".join(pair.writes[start:])
    if quirks:
        assert escaped == {0x7D, 0x7E}
        assert b"\x11" in raw and b"\x13" in raw
        # Our client asked for XON/XOFF escaped (RFC 1662 7.1) and gets them raw: with them
        # deleted the FCS fails, with them kept it holds; the packet is saved and counted.
        assert pair.client_packets == [packet]
        assert pair.client is not None and pair.client.statistics().accm_ignored_by_peer == 1
    else:
        assert escaped == {0x11, 0x13, 0x7D, 0x7E}
        assert b"\x11" not in raw.replace(b"\x7d\x31", b"")
        assert pair.client_packets == [packet]
    # Packets without those octets go through either way.
    ping4(pair)
    ping6(pair)


@pytest.mark.parametrize("quirks", [True, False])
def test_telit_sends_discard_request_after_lcp_opens(quirks: bool) -> None:
    pair = session(SimSettings(profile="telit", quirks=quirks), capture=True)
    sent_lcp = [f.frame[4:] for f in pair.frames if f.sent and f.frame[2:4] == b"\xc0\x21"]
    codes = [packet[0] for packet in sent_lcp]
    if quirks:
        assert codes.count(11) == 1
        assert codes.index(11) > codes.index(2)  # after our Configure-Ack
        [discard] = [packet for packet in sent_lcp if packet[0] == 11]
        assert len(discard) == 8 and discard[2:4] == b"\x00\x08"
    else:
        assert 11 not in codes
    assert not downs(pair)
    ping4(pair)


@pytest.mark.parametrize("quirks", [True, False])
def test_ublox_ipcp_request_names_no_address(quirks: bool) -> None:
    pair = session(SimSettings(profile="ublox", quirks=quirks), capture=True)
    requests = [
        f.frame[4:]
        for f in pair.frames
        if f.sent and f.frame[2:4] == b"\x80\x21" and f.frame[4] == 1
    ]
    assert requests
    options = PPP_IPCP(requests[0]).options
    has_address = any(option.type == 3 for option in options)
    info = events(pair, LinkUp)[-1].info
    if quirks:
        assert not has_address and info.peer_ipv4 is None
    else:
        assert has_address and info.peer_ipv4 == IPv4Address("203.0.113.1")
    assert info.local_ipv4 == CLIENT4
    ping4(pair)


# ------------------------------------------------------------------------ faults


def test_drop_after_is_carrier_lost_and_the_modem_answers_at_again() -> None:
    pair = session(SimSettings(drop_after=2.0))
    wait_down(pair)
    assert pair.now == pytest.approx(2.0)
    [down] = events(pair, LinkDown)
    assert down.reason is DownReason.CARRIER_LOST and "NO CARRIER" in down.detail
    assert pair.writes[-1] == b"\r\nNO CARRIER\r\n"
    pair.detach_client()
    assert pair.modem.mode is Mode.COMMAND and pair.modem.session is None
    assert pair.at("AT") == ["OK"]
    assert pair.at("AT+CGACT?") == ["+CGACT: 1,0", "OK"]


def test_terminate_after_is_peer_terminated_then_no_carrier() -> None:
    pair = session(SimSettings(terminate_after=2.0))
    wait_down(pair)
    assert downs(pair) == [DownReason.PEER_TERMINATED]
    pair.run_until(lambda: pair.modem.session is None, limit=10)
    assert b"\r\nNO CARRIER\r\n" in pair.writes
    pair.detach_client()
    assert pair.at("AT") == ["OK"]


def test_silent_after_ends_in_echo_timeout() -> None:
    config = LinkConfig(username="test", echo_interval=1, echo_failures=3)
    pair = session(SimSettings(silent_after=2.0), config=config)
    wait_down(pair)
    assert downs(pair) == [DownReason.ECHO_TIMEOUT]
    assert 4.0 <= pair.now <= 7.0
    assert pair.modem.mode is Mode.ONLINE  # a silent modem does not notice anything


def test_renegotiate_after_brings_the_link_back() -> None:
    pair = session(SimSettings(renegotiate_after=2.0))
    assert len(events(pair, LinkUp)) == 2
    pair.run_until(lambda: len(events(pair, LinkUp)) == 4, limit=30)
    assert events(pair, LinkRenegotiating)
    assert pair.now == pytest.approx(2.0)
    assert not downs(pair)
    ping4(pair)
    ping6(pair)


def test_reject_ipv6cp_leaves_ipv4_working() -> None:
    pair = session(SimSettings(reject_ipv6cp=True), ready=lambda link: link.ipv4_ready)
    pair.run_until(lambda: bool(events(pair, Ipv6Unavailable)), limit=30)
    client = pair.client
    assert client is not None and not client.ipv6_ready
    ping4(pair)
    assert not downs(pair)


def test_corrupted_frames_are_counted_and_the_link_still_comes_up() -> None:
    pair = session(SimSettings(corrupt_rate=0.3))
    client = pair.client
    assert client is not None
    assert client.statistics().drops.get("bad_fcs", 0) > 0
    assert not downs(pair)


def test_pdp_refuse_makes_the_dial_no_carrier() -> None:
    pair = SimPair(SimSettings(pdp_refuse=True))
    assert pair.dial() == ["ATD*99***1#", "NO CARRIER"]
    assert pair.client is None


@pytest.mark.parametrize(
    ("result", "text"),
    [
        (DialResult.BUSY, "BUSY"),
        (DialResult.NO_ANSWER, "NO ANSWER"),
        (DialResult.NO_DIALTONE, "NO DIALTONE"),
        (DialResult.NO_CARRIER, "NO CARRIER"),
    ],
)
def test_dial_result_fault(result: DialResult, text: str) -> None:
    pair = SimPair(SimSettings(dial_result=result))
    assert pair.dial()[-1] == text
    assert pair.client is None


@pytest.mark.parametrize(
    ("fault", "reason"),
    [("drop", DownReason.CARRIER_LOST), ("terminate", DownReason.PEER_TERMINATED)],
)
def test_fault_mid_session_ends_the_call(fault: str, reason: DownReason) -> None:
    pair = session()
    pair.advance(3)
    pair._apply(pair.modem.fault(fault, pair.now))
    wait_down(pair, limit=10)
    assert downs(pair) == [reason]
    assert pair.modem.session is None and pair.modem.mode is Mode.COMMAND


def test_fault_renegotiate_mid_session() -> None:
    pair = session()
    pair._apply(pair.modem.fault("renegotiate", pair.now))
    pair.run_until(lambda: len(events(pair, LinkUp)) == 4, limit=30)
    assert len(events(pair, LinkRenegotiating)) == 1
    ping6(pair)


def test_fault_silent_then_speaking_again() -> None:
    config = LinkConfig(username="test", echo_interval=1, echo_failures=3)
    pair = session(config=config)
    pair._apply(pair.modem.fault("silent", pair.now))
    pair.advance(1.5)  # one Echo-Request goes unanswered
    pair.modem.set_silent(False)
    pair.advance(20)
    assert not downs(pair)
    ping4(pair)
    pair._apply(pair.modem.fault("silent", pair.now))
    wait_down(pair, limit=10)
    assert downs(pair) == [DownReason.ECHO_TIMEOUT]


def test_fault_without_a_call_is_only_noted() -> None:
    pair = SimPair()
    pair._apply(pair.modem.fault("drop", pair.now))
    assert pair.notes[-1].text == "drop: no data call"
    assert pair.at("AT") == ["AT", "OK"]


@pytest.mark.parametrize(
    # Over IPv4 from the gateway, the PPP peer (pppd adds no default route); over IPv6
    # from the echo host (the Router Advertisement made the gateway the default router).
    ("destination", "source"),
    [(CLIENT4, GATEWAY4), (CLIENT6, ECHO6)],
    ids=["v4", "v6"],
)
def test_network_ping_reaches_the_client_and_its_reply_is_counted(
    destination: IPv4Address | IPv6Address, source: IPv4Address | IPv6Address
) -> None:
    pair = session()
    pair.client_packets.clear()
    pair.advance(1)
    pair._apply(pair.modem.ping(destination, 7, pair.now))
    [request] = pair.client_packets
    parsed = parse(request)
    assert (parsed.src, parsed.dst) == (str(source), str(destination))
    if destination.version == 4:
        assert (parsed[ICMP].type, parsed[ICMP].seq) == (8, 7)
    else:
        assert parsed[ICMPv6EchoRequest].seq == 7
    reply = echo_reply_for(request)
    assert reply is not None
    pair.advance(0.25)
    pair.client_send(reply)
    session_ = pair.modem.session
    assert session_ is not None
    assert session_.ping_replies == [(7, pytest.approx(0.25))]
    assert reply not in pair.network  # the modem's own ping: not forwarded


# ------------------------------------------------------------------------ escape


def escaped(pair: SimPair) -> Link:
    """+++ with a second of silence either side (S12=50); returns the detached client."""
    client = pair.client
    assert client is not None
    pair.detach_client()
    pair.advance(1.1)
    pair.send(b"+++")
    assert pair.modem.mode is Mode.ONLINE  # not before the guard time after
    pair.advance(1.1)
    return client


def test_escape_to_online_command_and_back_with_ato() -> None:
    pair = session()
    ups = len(events(pair, LinkUp))
    client = escaped(pair)
    assert pair.lines() == ["OK"]
    assert pair.modem.mode is Mode.ONLINE_COMMAND
    assert pair.at("AT+CSQ") == ["+CSQ: 20,99", "OK"]
    assert pair.at("AT+CGACT?") == ["+CGACT: 1,1", "OK"]
    pair.advance(30)  # PPP is suspended: no timers, no frames
    assert pair.lines() == []
    assert pair.at("ATO") == ["CONNECT"]
    assert pair.modem.mode is Mode.ONLINE
    pair.client = client
    ping4(pair)
    ping6(pair)
    assert len(events(pair, LinkUp)) == ups and not downs(pair)


def test_escape_then_ath_hangs_up() -> None:
    pair = session()
    escaped(pair)
    assert pair.lines() == ["OK"]
    assert pair.at("ATH") == ["OK"]
    assert pair.modem.session is None and pair.modem.mode is Mode.COMMAND
    assert pair.at("AT+CGACT?") == ["+CGACT: 1,0", "OK"]
    assert pair.at("ATO") == ["NO CARRIER"]


def test_ath_is_noted_as_the_users_hang_up_not_as_a_fault() -> None:
    pair = session()
    escaped(pair)
    pair.notes.clear()
    assert pair.at("ATH") == ["OK"]
    assert [note.topic for note in pair.notes if note.topic == "fault"] == []
    assert "call hung up (ATH)" in [note.text for note in pair.notes]


def test_escape_pluses_split_over_writes() -> None:
    pair = session()
    pair.detach_client()
    pair.advance(1.1)
    for _ in range(3):
        pair.send(b"+")
        pair.advance(0.2)
    pair.advance(1.0)
    assert pair.lines() == ["OK"]
    assert pair.modem.mode is Mode.ONLINE_COMMAND


def no_escape(pair: SimPair, client: Link) -> None:
    pair.advance(3)
    assert pair.lines() == []
    assert pair.modem.mode is Mode.ONLINE
    pair.client = client
    ping4(pair)


def test_pluses_without_the_guard_time_before_are_data() -> None:
    pair = session()
    client = pair.client
    assert client is not None
    pair.detach_client()
    pair.advance(0.5)
    pair.send(b"+++")
    no_escape(pair, client)


def test_pluses_inside_data_are_data() -> None:
    pair = session()
    client = pair.client
    assert client is not None
    pair.detach_client()
    pair.advance(1.1)
    pair.send(b"a+++b")
    pair.advance(1.1)
    pair.send(b"++++")
    no_escape(pair, client)


def test_pluses_followed_by_more_bytes_within_the_guard_time_are_data() -> None:
    pair = session()
    client = pair.client
    assert client is not None
    pair.detach_client()
    pair.advance(1.1)
    pair.send(b"+++")
    pair.advance(0.5)
    pair.send(b"x")
    no_escape(pair, client)


def test_a_longer_guard_time_from_s12() -> None:
    pair = SimPair(responder=LocalResponder().answer)
    assert pair.at("ATE0S12=100") == ["ATE0S12=100", "OK"]  # 2 s
    pair.dial()
    client = pair.client
    assert client is not None
    pair.run_until(lambda: client.ipv6_ready, limit=30)
    pair.detach_client()
    pair.advance(1.5)
    pair.send(b"+++")
    no_escape(pair, client)
    pair.detach_client()
    pair.advance(2.1)
    pair.send(b"+++")
    pair.advance(2.1)
    assert pair.lines() == ["OK"]


# ------------------------------------------------------------------------ capture


def test_capture_frames_both_ways_and_scapy_reads_the_pcap(tmp_path: Path) -> None:
    pair = session(capture=True)
    ping4(pair)
    assert {f.sent for f in pair.frames} == {True, False}
    for captured in pair.frames:
        assert captured.frame[:2] == b"\xff\x03" and len(captured.frame) >= 4
    path = tmp_path / "sim.pcap"
    with PcapWriter(path) as writer:
        for index, captured in enumerate(pair.frames):
            writer.write(captured.frame, sent=captured.sent, timestamp=1000.0 + index / 100)
    packets = rdpcap(str(path))
    assert len(packets) == len(pair.frames)
    protocols = [packet[PPP].proto for packet in packets]
    assert {LCP, IPCP, IPV6CP, IPV4, IPV6} <= set(protocols)
    lcp_requests = [p for p in packets if p.haslayer(PPP_LCP_Configure) and p[PPP].proto == LCP]
    assert {bytes(p)[0] for p in lcp_requests} == {0, 1}  # both directions
    assert any(p.haslayer(PPP_IPCP) and p[PPP_IPCP].code == 2 for p in packets)  # an Ack
    echo = [p for p in packets if p.haslayer(ICMP) and p[ICMP].type == 8]
    assert echo and echo[0][IP].dst == str(ECHO4)
