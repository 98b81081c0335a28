"""Option negotiation, one protocol at a time (LCP, IPCP, IPV6CP), against byte fixtures."""

from __future__ import annotations

import random
import struct

from hypothesis import given
from hypothesis import strategies as st

from netstack.config import LinkConfig, Role
from netstack.events import DownReason, LinkDown
from netstack.fsm import Automaton, State, Timers, Transmit
from netstack.hdlc import Framer
from netstack.ipcp import IpcpNegotiator
from netstack.ipv6cp import Ipv6cpNegotiator
from netstack.lcp import LcpNegotiator
from netstack.numbers import Code, LcpOption, Protocol
from netstack.packet import ControlPacket, Option, emit_options, parse_options
from tests.link_pair import Pair, answering_config

options_strategy = st.lists(st.tuples(st.integers(0, 255), st.binary(max_size=12)), max_size=8)


def test_unknown_lcp_options_are_rejected_byte_for_byte() -> None:
    lcp = LcpNegotiator(LinkConfig(), random.Random(1))
    weird: list[Option] = [(LcpOption.MRU, b"\x05\xdc"), (42, b"\x01\x02\x03"), (13, b"\x06")]
    code, reply = lcp.check_request(weird, reject_naks=False)
    assert code == Code.CONFIGURE_REJECT
    assert emit_options(reply) == bytes.fromhex("2a05010203") + bytes.fromhex("0d0306")


def test_known_option_with_a_bad_length_is_rejected_as_sent() -> None:
    lcp = LcpNegotiator(LinkConfig(), random.Random(1))
    code, reply = lcp.check_request([(LcpOption.ACCM, b"\x00\x00")], reject_naks=False)
    assert (code, reply) == (Code.CONFIGURE_REJECT, [(LcpOption.ACCM, b"\x00\x00")])


def test_magic_number_zero_is_naked() -> None:
    lcp = LcpNegotiator(LinkConfig(), random.Random(1))
    code, reply = lcp.check_request([(LcpOption.MAGIC_NUMBER, bytes(4))], reject_naks=False)
    assert code == Code.CONFIGURE_NAK and reply[0][1] != bytes(4)


def test_nak_loop_converges_to_reject_after_max_failure() -> None:
    """A peer insisting on MRU 64 (below pppd's minimum, so we Nak 128) is answered with a
    Reject once Max-Failure Naks went unheeded (RFC 1661 4.6)."""
    config = LinkConfig(max_failure=3)
    lcp = LcpNegotiator(config, random.Random(1))
    fsm = Automaton(Protocol.LCP, lcp, Timers(max_failure=3), random.Random(2))
    fsm.up(0)
    fsm.open(0)
    replies = []
    for identifier in range(6):
        request = ControlPacket(Code.CONFIGURE_REQUEST, identifier, b"\x01\x04\x00\x40")
        out = [o for o in fsm.receive(request.emit(), 0) if isinstance(o, Transmit)]
        replies.append(ControlPacket.parse(out[-1].data).code)
    assert replies == [Code.CONFIGURE_NAK] * 3 + [Code.CONFIGURE_REJECT] * 3
    assert fsm.state == State.REQ_SENT


def test_peer_nak_loop_on_our_option_ends_in_us_not_asking() -> None:
    lcp = LcpNegotiator(LinkConfig(mru=1400, max_failure=2), random.Random(1))
    assert (LcpOption.MRU, struct.pack("!H", 1400)) in lcp.build_request()
    lcp.received_nak([(LcpOption.MRU, struct.pack("!H", 9000))], give_up=False)  # too big
    assert (LcpOption.MRU, struct.pack("!H", 1400)) in lcp.build_request()
    lcp.received_nak([(LcpOption.MRU, struct.pack("!H", 9000))], give_up=True)
    assert all(kind != LcpOption.MRU for kind, _ in lcp.build_request())


def test_ipv6cp_zero_and_colliding_identifiers_are_naked_with_a_fresh_value() -> None:
    ours = bytes.fromhex("0201020304050607")
    ncp = Ipv6cpNegotiator(LinkConfig(local_interface_id=ours), random.Random(3))
    code, reply = ncp.check_request([(1, bytes(8))], reject_naks=False)
    assert code == Code.CONFIGURE_NAK and reply[0][1] not in (bytes(8), ours)
    code, reply = ncp.check_request([(1, ours)], reject_naks=False)
    assert code == Code.CONFIGURE_NAK and reply[0][1] not in (bytes(8), ours)
    other = bytes.fromhex("0a0b0c0d0e0f1011")
    assert ncp.check_request([(1, other)], reject_naks=False) == (Code.CONFIGURE_ACK, [(1, other)])
    assert ncp.check_request([(2, b"\x00\x4f")], reject_naks=False)[0] == Code.CONFIGURE_REJECT


def test_ipv6cp_takes_the_peers_suggestion_unless_it_is_the_peers_own() -> None:
    ncp = Ipv6cpNegotiator(LinkConfig(), random.Random(3))
    suggested = bytes.fromhex("0000000000000002")
    ncp.received_nak([(1, suggested)], give_up=False)
    assert ncp.build_request() == [(1, suggested)]
    ncp.peer = bytes.fromhex("0000000000000009")
    ncp.received_nak([(1, ncp.peer)], give_up=False)
    assert ncp.build_request()[0][1] not in (ncp.peer, bytes(8))


def test_ipcp_client_asks_zero_and_dns_then_takes_the_nak() -> None:
    ipcp = IpcpNegotiator(LinkConfig())
    assert emit_options(ipcp.build_request()) == bytes.fromhex(
        "030600000000810600000000830600000000"
    )
    nak = parse_options(bytes.fromhex("0306c6336402810606060606"))
    ipcp.received_nak(nak, give_up=False)
    assert emit_options(ipcp.build_request()) == bytes.fromhex(
        "0306c6336402810606060606830600000000"
    )
    ipcp.received_reject([(131, bytes(4))])
    assert [kind for kind, _ in ipcp.build_request()] == [3, 129]


def test_ipcp_rejects_vj_compression_and_nbns() -> None:
    ipcp = IpcpNegotiator(LinkConfig(role=Role.ANSWERING))
    vj = (2, bytes.fromhex("002d0f01"))
    code, reply = ipcp.check_request([vj, (130, bytes(4))], reject_naks=False)
    assert (code, reply) == (Code.CONFIGURE_REJECT, [vj, (130, bytes(4))])


@given(options_strategy, st.booleans(), st.sampled_from(list(Role)))
def test_negotiators_never_raise_on_any_options(
    options: list[Option], flag: bool, role: Role
) -> None:
    config = LinkConfig(role=role)
    for negotiator in (
        LcpNegotiator(config, random.Random(1)),
        IpcpNegotiator(config),
        Ipv6cpNegotiator(config, random.Random(1)),
    ):
        negotiator.check_request(options, reject_naks=flag)
        negotiator.received_nak(options, give_up=flag)
        negotiator.received_reject(options)
        negotiator.peer_request_acked(options)
        negotiator.request_acked(options)
        negotiator.build_request()


@given(st.binary(max_size=64))
def test_option_parser_raises_only_malformed_packet(data: bytes) -> None:
    from netstack.errors import MalformedPacket

    try:
        options = parse_options(data)
    except MalformedPacket:
        return
    assert emit_options(options) == data


def opened_pair() -> Pair:
    pair = Pair(server=answering_config())
    pair.start()
    assert pair.run_until(lambda: pair.client.link.ipv4_ready and pair.server.link.ipv4_ready)
    return pair


def test_echo_request_is_answered_with_our_magic_and_discard_is_silent() -> None:
    pair = opened_pair()
    client = pair.client.link
    framer = Framer(accm=0)
    echo = ControlPacket(Code.ECHO_REQUEST, 77, b"\x11\x22\x33\x44payload").emit()
    out = client.receive_bytes(framer.encode(Protocol.LCP, echo), pair.now)
    reply_frame = out[0].data  # type: ignore[union-attr]
    from netstack.hdlc_reference import decode

    protocol, info = decode(reply_frame, 0)[0]
    reply = ControlPacket.parse(info)
    assert protocol == Protocol.LCP and reply.code == Code.ECHO_REPLY and reply.identifier == 77
    assert reply.data == struct.pack("!I", client.lcp.ours.magic) + b"payload"
    discard = ControlPacket(Code.DISCARD_REQUEST, 5, b"\x11\x22\x33\x44junk").emit()
    assert client.receive_bytes(framer.encode(Protocol.LCP, discard), pair.now) == []


def test_protocol_reject_of_lcp_itself_ends_the_link() -> None:
    pair = opened_pair()
    reject = ControlPacket(Code.PROTOCOL_REJECT, 9, b"\xc0\x21\x01\x01\x00\x04").emit()
    pair.inject(pair.client, Framer(accm=0).encode(Protocol.LCP, reject))
    assert pair.run_until(lambda: bool(pair.events_of(pair.client, LinkDown)))
    assert pair.events_of(pair.client, LinkDown)[0].reason == DownReason.NEGOTIATION_FAILED  # type: ignore[attr-defined]
