"""Regressions for RFC rules the link once broke, each against a peer played by hand."""

from __future__ import annotations

import random
import struct

import pytest
from scapy.layers.inet import IP, UDP

from netstack import hdlc_reference as reference
from netstack.auth import ChapServer
from netstack.config import AuthProtocol, LinkConfig
from netstack.events import Authenticated, DownReason, LcpUp, LinkDown, LinkUp
from netstack.fsm import State, Timers
from netstack.hdlc import Framer
from netstack.link import Phase
from netstack.numbers import ChapCode, Code, Protocol
from netstack.packet import ControlPacket, emit_options, parse_options
from netstack.secret import Secret
from tests.link_pair import A4, Pair, answering_config
from tests.scripted_peer import ScriptedPeer

MRU_1400 = b"\x01\x04\x05\x78"
MRU_100 = b"\x01\x04\x00\x64"  # below 128: the link Naks it (MIN_MRU)
PAP = b"\x03\x04\xc0\x23"


def codes(packets: list[ControlPacket]) -> list[int]:
    return [p.code for p in packets]


def test_rcr_minus_in_ack_sent_returns_to_req_sent() -> None:
    """RFC 1661 4.1, RCR- in Ack-Sent is scn/6: the Ack we gave the peer's earlier
    request no longer stands once we Nak its new one, so our Ack from the peer must not
    open the link with options from the replaced request."""
    peer = ScriptedPeer()
    request = peer.open()
    assert codes(peer.reply(Protocol.LCP, Code.CONFIGURE_REQUEST, 1, MRU_1400)) == [
        Code.CONFIGURE_ACK
    ]
    assert peer.link._lcp.state == State.ACK_SENT
    naks = peer.reply(Protocol.LCP, Code.CONFIGURE_REQUEST, 2, MRU_100)
    assert codes(naks) == [Code.CONFIGURE_NAK]
    assert peer.link._lcp.state == State.REQ_SENT
    peer.reply(Protocol.LCP, Code.CONFIGURE_ACK, request.identifier, request.data)
    assert peer.link._lcp.state == State.ACK_RCVD
    assert peer.link.phase == Phase.ESTABLISH  # not opened on the replaced request
    peer.reply(Protocol.LCP, Code.CONFIGURE_REQUEST, 3, b"\x01\x04\x05\x00")
    assert peer.link._lcp.state == State.OPENED
    assert peer.link.lcp.peer.mru == 1280  # the request that stands, not 1400


def test_protocol_reject_before_lcp_opened_is_silently_discarded() -> None:
    """RFC 1661 5.7: a Protocol-Reject of IPCP while LCP negotiates must not throw the
    peer's Ack away (RXJ+ in Ack-Rcvd), and one of LCP must not end the link (RXJ-)."""
    peer = ScriptedPeer()
    request = peer.open()
    peer.reply(Protocol.LCP, Code.CONFIGURE_ACK, request.identifier, request.data)
    assert peer.link._lcp.state == State.ACK_RCVD
    for rejected in (Protocol.IPCP, Protocol.LCP):
        data = struct.pack("!H", rejected) + b"\x01\x01\x00\x04"
        assert peer.reply(Protocol.LCP, Code.PROTOCOL_REJECT, 9, data) == []
        assert peer.link._lcp.state == State.ACK_RCVD
    assert not peer.events_of(LinkDown)
    assert peer.link.statistics().drops["control_packet"] == 2
    peer.reply(Protocol.LCP, Code.CONFIGURE_REQUEST, 3, b"")
    assert peer.link.phase == Phase.NETWORK


def test_protocol_reject_while_opened_still_stops_the_protocol() -> None:
    peer = ScriptedPeer(LinkConfig(ipv6=False))
    peer.open_lcp()
    data = struct.pack("!H", Protocol.IPCP) + b"\x01\x01\x00\x04"
    peer.reply(Protocol.LCP, Code.PROTOCOL_REJECT, 9, data)
    down = peer.events_of(LinkDown)
    assert down and down[0].reason == DownReason.NO_NETWORK_PROTOCOLS  # type: ignore[attr-defined]


def test_other_protocols_are_discarded_while_authenticating() -> None:
    """RFC 1661 3.5: until authentication completes only LCP and the authentication
    protocol may pass; anything else is silently discarded, not Protocol-Rejected."""
    peer = ScriptedPeer(LinkConfig(username="alice", password=Secret("s3cret")))
    peer.open_lcp(PAP)
    assert peer.link.phase == Phase.AUTHENTICATE
    assert peer.send(0x80FD, b"\x01\x01\x00\x04") == []  # CCP
    assert peer.send(0x8281, b"\x01\x01\x00\x04") == []  # MPLSCP
    assert peer.link.statistics().drops["before_network_phase"] == 2
    ack = ControlPacket(2, peer.control(peer.sent, Protocol.PAP)[-1].identifier, b"\x00")
    peer.send(Protocol.PAP, ack)
    assert peer.link.phase == Phase.NETWORK
    rejects = peer.control(peer.send(0x8281, b"\x01\x01\x00\x04"), Protocol.LCP)
    assert codes(rejects) == [Code.PROTOCOL_REJECT]  # in the Network phase, rejected


def test_code_reject_from_an_ncp_fits_the_peers_mru() -> None:
    """RFC 1661 5.6: IPCP's Code-Reject of a 1000-octet packet to a peer whose MRU is 296
    is cut to 296 octets, like LCP's own."""
    peer = ScriptedPeer()
    peer.open_lcp(b"\x01\x04\x01\x28")  # MRU 296
    big = ControlPacket(77, 5, bytes(1000))
    for protocol in (Protocol.IPCP, Protocol.IPV6CP, Protocol.LCP):
        rejects = peer.control(peer.send(protocol, big), protocol)
        assert codes(rejects) == [Code.CODE_REJECT]
        assert len(rejects[0].emit()) == 296
        assert rejects[0].data == big.emit()[:292]
    protocol_rejects = peer.control(peer.send(0x8281, bytes(1000)), Protocol.LCP)
    assert len(protocol_rejects[0].emit()) == 296


def test_configure_reject_must_be_a_subset_of_our_request_in_order() -> None:
    """RFC 1661 5.4: options reordered, modified or never asked for make a Reject that
    answers nothing: it is discarded, and the request goes on unchanged."""
    peer = ScriptedPeer()
    request = peer.open()
    ours = parse_options(request.data)
    assert len(ours) >= 3
    bad_rejects = [
        emit_options([ours[1], ours[0]]),  # reordered
        emit_options([(ours[1][0], bytes(len(ours[1][1])))]),  # modified (Magic-Number 0)
        emit_options([(0x42, b"xy")]),  # never asked for
    ]
    for data in bad_rejects:
        assert peer.reply(Protocol.LCP, Code.CONFIGURE_REJECT, request.identifier, data) == []
    assert peer.link.statistics().drops["control_packet"] == 3
    retransmitted = peer.control(peer.advance(3.0), Protocol.LCP)
    assert retransmitted == [request]  # nothing was acted on
    good = emit_options([ours[0], ours[2]])
    new = peer.reply(Protocol.LCP, Code.CONFIGURE_REJECT, request.identifier, good)
    assert codes(new) == [Code.CONFIGURE_REQUEST]
    assert parse_options(new[0].data) == [o for i, o in enumerate(ours) if i not in (0, 2)]


def test_configure_ack_must_be_identical_to_our_request() -> None:
    """RFC 1661 5.2: an Ack whose options differ from the request in any way is
    discarded."""
    peer = ScriptedPeer()
    request = peer.open()
    ours = parse_options(request.data)
    for data in (emit_options(ours[::-1]), emit_options(ours[:-1]), request.data + b"\x07\x02"):
        peer.reply(Protocol.LCP, Code.CONFIGURE_ACK, request.identifier, data)
        assert peer.link._lcp.state == State.REQ_SENT
    peer.reply(Protocol.LCP, Code.CONFIGURE_ACK, request.identifier, request.data)
    assert peer.link._lcp.state == State.ACK_RCVD


def test_every_chap_challenge_has_a_new_identifier_and_value() -> None:
    """RFC 1994 4.1: retransmitted Challenges too; a Response to an earlier one fails."""
    secrets = {"alice": Secret("s3cret")}
    server = ChapServer(Timers(restart_interval=3.0), secrets, "net", random.Random(3))
    sent = [ControlPacket.parse(t.data) for t in server.start(0.0)]
    now = 0.0
    for _ in range(4):
        now = server.next_deadline()  # type: ignore[assignment]
        sent += [ControlPacket.parse(t.data) for t in server.handle_timer(now)]
    assert len(sent) == 5 and all(p.code == ChapCode.CHALLENGE for p in sent)
    assert len({p.identifier for p in sent}) == 5
    assert len({p.data for p in sent}) == 5
    from netstack.auth import chap_md5

    def response(challenge: ControlPacket) -> bytes:
        value = challenge.data[1 : 1 + challenge.data[0]]
        digest = chap_md5(challenge.identifier, b"s3cret", value)
        return ControlPacket(2, challenge.identifier, b"\x10" + digest + b"alice").emit()

    assert server.receive(response(sent[0]), now) == []  # stale: dropped
    answer = ControlPacket.parse(server.receive(response(sent[-1]), now)[0].data)
    assert answer.code == ChapCode.SUCCESS and server.outcome and server.outcome.ok


def test_chap_challenges_stop_after_max_configure() -> None:
    server = ChapServer(Timers(max_configure=3), {}, "net", random.Random(3))
    sent = server.start(0.0)
    while (deadline := server.next_deadline()) is not None:
        sent += server.handle_timer(deadline)
    assert len(sent) == 3
    assert server.outcome is not None and not server.outcome.ok


def test_link_down_carries_the_peers_terminate_reason_printable_and_bounded() -> None:
    peer = ScriptedPeer()
    peer.open_lcp()
    reason = b"Network \x07shut\r\ndown: \xff maintenance " + b"x" * 500
    acks = peer.reply(Protocol.LCP, Code.TERMINATE_REQUEST, 7, reason)
    assert codes(acks) == [Code.TERMINATE_ACK]
    peer.advance(10)
    down = peer.events_of(LinkDown)
    assert len(down) == 1 and down[0].reason == DownReason.PEER_TERMINATED  # type: ignore[attr-defined]
    detail = down[0].detail  # type: ignore[attr-defined]
    assert detail.startswith("Network shut down: \ufffd maintenance xxx")
    assert detail.isprintable() and len(detail) <= 100


def test_terminate_with_pppd_reason() -> None:
    pair = Pair()
    pair.start()
    assert pair.run_until(lambda: bool(pair.events_of(pair.client, LinkUp)))
    pair._handle(pair.server, pair.server.link.close(pair.now, "User request"))  # noqa: SLF001
    assert pair.run_until(lambda: bool(pair.events_of(pair.client, LinkDown)))
    down = pair.events_of(pair.client, LinkDown)[0]
    assert (down.reason, down.detail) == (DownReason.PEER_TERMINATED, "User request")  # type: ignore[attr-defined]


def test_keepalive_sends_an_echo_every_interval_on_an_idle_link() -> None:
    """An Echo-Reply is no traffic: on an idle link one Echo-Request goes out per interval
    (it once went out every second interval)."""
    pair = Pair(LinkConfig(echo_interval=10.0, echo_failures=3))
    pair.start()
    assert pair.run_until(lambda: bool(pair.events_of(pair.client, LinkUp)))
    start = pair.now
    pair.run_for(60.5)
    echoes = [b for b in pair.client.wire_bytes if b"\xc0\x21\x09" in b]
    assert len(echoes) == 6, f"{len(echoes)} echoes in 60 s from {start}"
    assert not pair.events_of(pair.client, LinkDown)


def test_answering_side_requires_auth_the_client_rejects() -> None:
    """AuthRefused from LCP is an output now, not a flag: the link still ends."""
    client = LinkConfig(allow_auth=frozenset())
    server = answering_config(require_auth=AuthProtocol.PAP, secrets={})
    pair = Pair(client, server)
    pair.start()
    assert pair.run_until(lambda: bool(pair.events_of(pair.server, LinkDown)))
    down = pair.events_of(pair.server, LinkDown)[0]
    assert down.reason == DownReason.AUTH_FAILED  # type: ignore[attr-defined]


def test_peer_that_ignores_the_accm_it_agreed_to_keeps_the_link() -> None:
    """pppd with default-asyncmap loses such a peer (every frame fails its FCS, Echo-
    Replies too); we keep it and count it."""
    client = LinkConfig(accm=0x000A0000, echo_interval=5.0, echo_failures=3)  # XON/XOFF
    pair = Pair(client)
    pair.start()
    assert pair.run_until(lambda: pair.client.link.ipv4_ready)
    pair.server.link._framer.accm = 0  # noqa: SLF001 - the peer now ignores our ACCM
    packet = bytes(IP(src="198.51.100.1", dst="198.51.100.2") / UDP() / (b"\x11\x13" * 20))
    for _ in range(10):
        pair.send_packet(pair.server, packet)
        pair.run_for(6.0)
    assert pair.client.packets == [packet] * 10
    assert not pair.events_of(pair.client, LinkDown)
    stats = pair.client.link.statistics()
    assert stats.accm_ignored_by_peer >= 10 and "bad_fcs" not in stats.drops


def test_lcp_request_with_raw_control_characters_before_lcp_opens() -> None:
    """Before LCP opens our receive ACCM is all ones (RFC 1662 7.1); a modem that sends
    its Configure-Request with ACCM 0 framing is still understood."""
    peer = ScriptedPeer()
    request = peer.open()
    peer.reply(Protocol.LCP, Code.CONFIGURE_ACK, request.identifier, request.data)
    body = b"\xff\x03\xc0\x21" + ControlPacket(1, 0x11, b"\x02\x06\x00\x00\x00\x00").emit()
    fcs = reference.pppfcs16(reference.PPPINITFCS16, body) ^ 0xFFFF
    raw = b"\x7e" + reference.escape(body + struct.pack("<H", fcs), 0) + b"\x7e"
    assert b"\x01\x11\x00\x0a\x02\x06\x00" in raw  # control characters sent raw
    acks = peer.control(peer.take(peer.link.receive_bytes(raw, peer.now)), Protocol.LCP)
    assert codes(acks) == [Code.CONFIGURE_ACK]
    assert peer.link.phase == Phase.NETWORK
    assert peer.link.statistics().accm_ignored_by_peer == 1


def test_lcp_up_and_authenticated_are_reported_in_order() -> None:
    """The phases a user sees pass (RFC 1661 3.3-3.5): LCP up, authenticated, then
    each network protocol."""
    secrets = {"alice": Secret("s3cret")}
    client = LinkConfig(username="alice", password=Secret("s3cret"), mru=1400)
    pair = Pair(client, answering_config(require_auth=AuthProtocol.CHAP_MD5, secrets=secrets))
    pair.start()
    assert pair.run_until(lambda: len(pair.events_of(pair.client, LinkUp)) == 2)
    kinds = [type(e).__name__ for e in pair.client.events]
    assert kinds[:4] == ["LcpUp", "Authenticated", "LinkUp", "LinkUp"]
    assert pair.events_of(pair.client, LcpUp) == [LcpUp(mru=1400, mtu=1500)]
    assert pair.events_of(pair.client, Authenticated) == [Authenticated(("CHAP-MD5",))]


def _opened_peer() -> tuple[ScriptedPeer, bytes]:
    config = LinkConfig(ipv6=False, request_dns=False, local_ipv4=A4("203.0.113.10"))
    peer = ScriptedPeer(config)
    peer.open_lcp()
    request = peer.control(peer.sent, Protocol.IPCP)[-1]
    peer.reply(Protocol.IPCP, Code.CONFIGURE_ACK, request.identifier, request.data)
    peer.reply(Protocol.IPCP, Code.CONFIGURE_REQUEST, 0x60, b"\x03\x06\xcb\x00\x71\x01")
    assert peer.link.ipv4_ready
    packet = bytes(IP(src="203.0.113.1", dst="203.0.113.10") / UDP() / b"\r\nNO CARRIER\r\n")
    return peer, packet


def test_no_carrier_after_a_cut_frame_is_carrier_lost() -> None:
    """The modem hung up in the middle of a frame: '<half a frame>\\r\\nNO CARRIER\\r\\n'
    and then nothing. Once a moment passes with nothing more, the carrier is lost."""
    peer, packet = _opened_peer()
    frame = Framer(accm=0).encode(Protocol.IPV4, packet)
    cut = frame[: len(frame) // 2] + b"\r\nNO CARRIER\r\n"
    peer.take(peer.link.receive_bytes(cut, peer.now))
    assert not peer.events_of(LinkDown)  # not yet: it could be data
    peer.advance(0.4)
    assert not peer.events_of(LinkDown)
    peer.advance(0.2)
    down = peer.events_of(LinkDown)
    assert down and down[0].reason == DownReason.CARRIER_LOST  # type: ignore[attr-defined]


def test_no_carrier_text_inside_a_frame_cut_between_reads_is_data() -> None:
    """The same octets as data: the frame's rest comes in the next read, soon."""
    peer, packet = _opened_peer()
    frame = Framer(accm=0).encode(Protocol.IPV4, packet)
    at = frame.index(b"\r\nNO CARRIER\r\n") + len(b"\r\nNO CARRIER\r\n")
    out = peer.link.receive_bytes(frame[:at], peer.now)
    peer.take(out)
    peer.advance(0.01)
    delivered = [o for o in peer.link.receive_bytes(frame[at:], peer.now)]
    peer.advance(5.0)
    assert not peer.events_of(LinkDown)
    assert [o.data for o in delivered if hasattr(o, "data")] == [packet]


@pytest.mark.parametrize("auth", [AuthProtocol.PAP, AuthProtocol.CHAP_MD5])
def test_no_credentials_answers_with_an_empty_name_and_secret(auth: AuthProtocol) -> None:
    """A modem that asks for PAP or CHAP while none are configured (its network side
    authenticates with +CGAUTH; seen with a Quectel BG96 NB-IoT profile) gets an empty
    name and secret, where pppd refuses ("No auth is possible")."""
    pair = Pair(LinkConfig(), answering_config(require_auth=auth, secrets={"": Secret("")}))
    pair.start()
    assert pair.run_until(lambda: bool(pair.events_of(pair.client, LinkUp)))
    assert pair.events_of(pair.client, Authenticated) == [Authenticated((auth.value,))]
