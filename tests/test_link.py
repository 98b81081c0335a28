"""The composed link, client against answering side, on virtual time."""

from __future__ import annotations

import ipaddress
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.inet6 import ICMPv6EchoRequest, IPv6

from netstack.config import AuthProtocol, LinkConfig
from netstack.events import (
    DownReason,
    Ipv6Unavailable,
    LinkDown,
    LinkRenegotiating,
    LinkUp,
)
from netstack.hdlc import Framer
from netstack.link import Link, Phase
from netstack.numbers import Protocol
from netstack.secret import Secret
from tests.link_pair import A4, Faults, Pair, answering_config

SECRETS = {"alice": Secret("s3cret")}
ALICE = dict(username="alice", password=Secret("s3cret"))


def both_up(pair: Pair, count: int = 2) -> bool:
    return all(len(pair.events_of(s, LinkUp)) >= count for s in (pair.client, pair.server))


def last_info(pair: Pair, side: str = "client"):  # type: ignore[no-untyped-def]
    ups = pair.events_of(getattr(pair, side), LinkUp)
    return ups[-1].info  # type: ignore[attr-defined]


def ping4(n: int = 0) -> bytes:
    return bytes(IP(src="198.51.100.2", dst="198.51.100.1") / ICMP(id=7, seq=n) / b"ping")


def test_client_reaches_opened_and_gets_addresses_and_dns() -> None:
    pair = Pair()
    pair.start()
    assert pair.run_until(lambda: both_up(pair))
    info = last_info(pair)
    assert info.local_ipv4 == A4("198.51.100.2")
    assert info.peer_ipv4 == A4("198.51.100.1")
    assert info.dns == (A4("198.51.100.53"), A4("198.51.100.54"))
    assert info.local_interface_id == bytes.fromhex("0000000000000002")
    assert info.peer_interface_id == bytes.fromhex("0000000000000001")
    assert str(info.local_ipv6_link_local) == "fe80::2"
    assert info.mtu == 1500 and info.auth is None
    assert pair.client.link.phase == Phase.NETWORK


@pytest.mark.parametrize("auth", [AuthProtocol.PAP, AuthProtocol.CHAP_MD5])
def test_authentication(auth: AuthProtocol) -> None:
    pair = Pair(LinkConfig(**ALICE), answering_config(require_auth=auth, secrets=SECRETS))  # type: ignore[arg-type]
    pair.start()
    assert pair.run_until(lambda: both_up(pair))
    assert last_info(pair).auth == auth.value


@pytest.mark.parametrize("auth", [AuthProtocol.PAP, AuthProtocol.CHAP_MD5])
def test_wrong_password_ends_the_session(auth: AuthProtocol) -> None:
    client = LinkConfig(username="alice", password=Secret("wrong"))
    pair = Pair(client, answering_config(require_auth=auth, secrets=SECRETS))
    pair.start()
    assert pair.run_until(lambda: bool(pair.events_of(pair.client, LinkDown)))
    down = pair.events_of(pair.client, LinkDown)[0]
    server_down = pair.events_of(pair.server, LinkDown)
    assert server_down and server_down[0].reason == DownReason.AUTH_FAILED  # type: ignore[attr-defined]
    assert down.reason in (DownReason.AUTH_FAILED, DownReason.PEER_TERMINATED)  # type: ignore[attr-defined]
    assert not pair.events_of(pair.client, LinkUp)


def test_client_that_refuses_the_auth_asked_for_does_not_get_in() -> None:
    client = LinkConfig(allow_auth=frozenset({AuthProtocol.PAP}), **ALICE)  # type: ignore[arg-type]
    pair = Pair(client, answering_config(require_auth=AuthProtocol.CHAP_MD5, secrets=SECRETS))
    pair.start()
    assert pair.run_until(lambda: bool(pair.events_of(pair.server, LinkDown)))
    assert pair.events_of(pair.server, LinkDown)[0].reason == DownReason.AUTH_FAILED  # type: ignore[attr-defined]
    assert not pair.events_of(pair.client, LinkUp)


def test_chap_rechallenge_while_opened_keeps_the_link_up() -> None:
    server = answering_config(
        require_auth=AuthProtocol.CHAP_MD5, secrets=SECRETS, chap_rechallenge_interval=5.0
    )
    pair = Pair(LinkConfig(**ALICE), server)  # type: ignore[arg-type]
    pair.start()
    assert pair.run_until(lambda: both_up(pair))
    challenges_before = sum(b.count(b"\xc2\x23\x01") for b in pair.server.wire_bytes)
    pair.run_for(30)
    challenges = sum(b.count(b"\xc2\x23\x01") for b in pair.server.wire_bytes)
    assert challenges >= challenges_before + 5
    assert not pair.events_of(pair.client, LinkDown)
    pair.send_packet(pair.client, ping4())
    pair.run_for(1)
    assert pair.server.packets == [ping4()]


@pytest.mark.parametrize("seed", range(12))
def test_lossy_duplicating_reordering_corrupting_wire_still_opens_and_carries(seed: int) -> None:
    faults = Faults(loss=0.2, duplicate=0.2, reorder=0.2, corrupt=0.1)
    server = answering_config(require_auth=AuthProtocol.CHAP_MD5, secrets=SECRETS)
    pair = Pair(LinkConfig(**ALICE), server, seed=seed, faults=faults)  # type: ignore[arg-type]
    pair.start()
    assert pair.run_until(lambda: both_up(pair), max_time=300)
    # Late duplicates of old Configure-Requests make the peers renegotiate (RFC 1661 4.1,
    # RCR in Opened), as they should; stop duplicating, let that settle, then send over a
    # wire that still loses and corrupts.
    faults.duplicate = faults.reorder = 0.0
    pair.run_for(30)
    ready = (pair.client.link, pair.server.link)
    assert pair.run_until(lambda: all(x.ipv4_ready for x in ready), max_time=pair.now + 300)
    for n in range(20):
        pair.send_packet(pair.client, ping4(n))
    pair.run_for(5)
    assert 0 < len(pair.server.packets) <= 40
    assert set(pair.server.packets) <= {ping4(n) for n in range(20)}  # corrupt ones dropped
    stats = pair.server.link.statistics()
    assert stats.frames_in > 0


def test_packets_both_ways_ipv4_and_ipv6() -> None:
    pair = Pair()
    pair.start()
    assert pair.run_until(lambda: both_up(pair))
    v6 = bytes(IPv6(src="fe80::2", dst="fe80::1") / ICMPv6EchoRequest(id=1, seq=1))
    pair.send_packet(pair.client, ping4())
    pair.send_packet(pair.client, v6)
    reply = bytes(IP(src="198.51.100.1", dst="198.51.100.2") / UDP(sport=7, dport=5000) / b"x")
    pair.send_packet(pair.server, reply)
    pair.run_for(1)
    assert pair.server.packets == [ping4(), v6]
    assert pair.client.packets == [reply]
    assert pair.client.link.statistics().packets_out == 2


def test_ipv6cp_protocol_rejected_reports_ipv6_unavailable_and_ipv4_keeps_working() -> None:
    pair = Pair(server=answering_config(ipv6=False))  # an NB-IoT modem without IPv6 on PPP
    pair.start()
    assert pair.run_until(lambda: bool(pair.events_of(pair.client, Ipv6Unavailable)))
    assert pair.run_until(lambda: bool(pair.events_of(pair.client, LinkUp)))
    unavailable = pair.events_of(pair.client, Ipv6Unavailable)[0]
    assert "Protocol-Rejected" in unavailable.detail  # type: ignore[attr-defined]
    assert "IPv6 is not available on PPP" in unavailable.detail  # type: ignore[attr-defined]
    pair.send_packet(pair.client, ping4())
    pair.run_for(40)
    assert pair.server.packets == [ping4()]
    assert not pair.events_of(pair.client, LinkDown)


def test_ipv6cp_that_never_opens_reports_unavailable_without_taking_the_link_down() -> None:
    pair = Pair(faults=Faults(drop=lambda protocol: protocol == Protocol.IPV6CP))
    pair.start()
    assert pair.run_until(lambda: bool(pair.events_of(pair.client, Ipv6Unavailable)), max_time=200)
    detail = pair.events_of(pair.client, Ipv6Unavailable)[0].detail  # type: ignore[attr-defined]
    assert "did not open" in detail
    assert 29 < pair.now < 31  # Max-Configure (10) restarts of 3 s
    assert pair.events_of(pair.client, LinkUp) and pair.client.link.ipv4_ready
    assert not pair.events_of(pair.client, LinkDown)


def test_peer_terminate_reports_peer_terminated() -> None:
    pair = Pair()
    pair.start()
    assert pair.run_until(lambda: both_up(pair))
    pair._handle(pair.server, pair.server.link.close(pair.now))  # noqa: SLF001
    assert pair.run_until(lambda: bool(pair.events_of(pair.client, LinkDown)))
    assert pair.events_of(pair.client, LinkDown)[0].reason == DownReason.PEER_TERMINATED  # type: ignore[attr-defined]
    assert pair.events_of(pair.server, LinkDown)[0].reason == DownReason.LOCAL_CLOSE  # type: ignore[attr-defined]


def test_no_carrier_text_after_the_last_frame_means_carrier_lost() -> None:
    pair = Pair()
    pair.start()
    assert pair.run_until(lambda: both_up(pair))
    pair.cut = True
    pair.inject(pair.client, b"\r\nNO CAR")
    assert not pair.events_of(pair.client, LinkDown)
    pair.inject(pair.client, b"RIER\r\n")
    down = pair.events_of(pair.client, LinkDown)
    assert down and down[0].reason == DownReason.CARRIER_LOST  # type: ignore[attr-defined]


def test_no_carrier_inside_a_frame_is_just_data() -> None:
    pair = Pair()
    pair.start()
    assert pair.run_until(lambda: both_up(pair))
    packet = bytes(IP(src="198.51.100.1", dst="198.51.100.2") / UDP() / b"\r\nNO CARRIER\r\n")
    pair.send_packet(pair.server, packet)
    pair.run_for(1)
    assert pair.client.packets == [packet]
    assert not pair.events_of(pair.client, LinkDown)


def test_keepalive_declares_a_silent_peer_dead() -> None:
    pair = Pair(LinkConfig(echo_interval=2.0, echo_failures=3))
    pair.start()
    assert pair.run_until(lambda: both_up(pair))
    pair.run_for(30)
    assert not pair.events_of(pair.client, LinkDown)  # echoes answered: stays up
    pair.cut = True
    assert pair.run_until(
        lambda: bool(pair.events_of(pair.client, LinkDown)), max_time=pair.now + 30
    )
    down = pair.events_of(pair.client, LinkDown)[0]
    assert down.reason == DownReason.ECHO_TIMEOUT  # type: ignore[attr-defined]


def test_keepalive_only_when_idle_sends_no_echo_while_traffic_flows() -> None:
    pair = Pair(LinkConfig(echo_interval=1.0, echo_failures=2))
    pair.start()
    assert pair.run_until(lambda: both_up(pair))
    sent_before = sum(b.count(b"\xc0\x21\x09") for b in pair.client.wire_bytes)
    for _ in range(20):
        pair.send_packet(
            pair.server, bytes(IP(src="198.51.100.1", dst="198.51.100.2") / UDP() / b"x")
        )
        pair.run_for(0.5)
    sent = sum(b.count(b"\xc0\x21\x09") for b in pair.client.wire_bytes)
    assert sent == sent_before


def test_lcp_renegotiation_while_opened_brings_the_link_back_up() -> None:
    pair = Pair(
        LinkConfig(**ALICE), answering_config(require_auth=AuthProtocol.PAP, secrets=SECRETS)
    )  # type: ignore[arg-type]
    pair.start()
    assert pair.run_until(lambda: both_up(pair))
    # The server restarts LCP negotiation while Opened (as a Quectel BG770 does over CMUX).
    server = pair.server.link
    pair._handle(pair.server, server.renegotiate(pair.now))  # noqa: SLF001
    assert pair.run_until(lambda: both_up(pair, 4))
    assert pair.events_of(pair.client, LinkRenegotiating)
    assert not pair.events_of(pair.client, LinkDown)
    pair.send_packet(pair.client, ping4())
    pair.run_for(1)
    assert pair.server.packets[-1] == ping4()


def test_peer_that_never_answers_gives_up_after_max_configure() -> None:
    pair = Pair(LinkConfig(max_configure=4, restart_interval=1.0))
    pair.cut = True
    pair.start()
    assert pair.run_until(lambda: bool(pair.events_of(pair.client, LinkDown)))
    down = pair.events_of(pair.client, LinkDown)[0]
    assert down.reason == DownReason.PEER_NOT_RESPONDING  # type: ignore[attr-defined]
    requests = [b for b in pair.client.wire_bytes if b"\xc0\x21\x7d\x21" in b]
    assert len(requests) == 4
    assert len(set(requests)) == 1  # retransmissions resend the very same bytes
    assert 3.9 < pair.now < 4.1


def test_looped_back_line_is_detected() -> None:
    link = Link(LinkConfig(), random.Random(5))
    now = 0.0
    pending = [o for o in link.open(now)]
    down: list[LinkDown] = []
    for _ in range(200):
        writes = [o.data for o in pending if hasattr(o, "data") and not isinstance(o, LinkDown)]
        down += [o for o in pending if isinstance(o, LinkDown)]
        if down:
            break
        pending = []
        for data in writes:
            pending += link.receive_bytes(data, now)  # everything we send comes back
        if not writes:
            now = link.next_deadline() or now + 1
            pending = link.handle_timer(now)
    assert down and down[0].reason == DownReason.LOOPED_BACK


def test_unknown_protocol_is_protocol_rejected_when_opened() -> None:
    pair = Pair()
    pair.start()
    assert pair.run_until(lambda: both_up(pair))
    pair.inject(pair.client, Framer(accm=0).encode(0x8281, b"\x01\x02"))  # e.g. MPLSCP
    sent = pair.client.wire_bytes[-1]
    assert b"\x08" in sent and b"\x82\x81\x01\x02" in sent
    assert pair.client.link.statistics().drops["unknown_protocol"] == 1


def test_nak_loop_converges() -> None:
    """A server that Naks the client's IP-Address forever with values it cannot take is
    answered within Max-Failure rounds: the client stops asking."""
    client = LinkConfig(local_ipv4=A4("203.0.113.9"), ipv6=False)
    pair = Pair(client, answering_config(ipv6=False))
    pair.start()
    assert pair.run_until(lambda: both_up(pair, 1))
    assert last_info(pair).local_ipv4 == A4("198.51.100.2")


def test_garbage_from_the_peer_is_counted_never_raised() -> None:
    pair = Pair()
    pair.start()
    assert pair.run_until(lambda: both_up(pair))
    rng = random.Random(9)
    for _ in range(200):
        pair.inject(pair.client, bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 300))))
    stats = pair.client.link.statistics()
    assert sum(stats.drops.values()) > 0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(min_size=0, max_size=60), max_size=20))
def test_random_control_packets_never_raise(payloads: list[bytes]) -> None:
    pair = Pair(seed=3)
    pair.start()
    pair.run_until(lambda: both_up(pair))
    framer = Framer(accm=0)
    protocols = [Protocol.LCP, Protocol.IPCP, Protocol.IPV6CP, Protocol.PAP, Protocol.CHAP]
    for i, payload in enumerate(payloads):
        pair.inject(pair.client, framer.encode(protocols[i % len(protocols)], payload))
    pair.run_for(5)


def test_secrets_never_appear_in_reprs_logs_or_errors(caplog: pytest.LogCaptureFixture) -> None:
    password = "Tr0ub4dor&3-very-secret"
    config = LinkConfig(username="alice", password=Secret(password))
    server = answering_config(
        require_auth=AuthProtocol.PAP, secrets={"alice": Secret("other-secret-value")}
    )
    pair = Pair(config, server)
    pair.start()
    pair.run_until(lambda: bool(pair.events_of(pair.client, LinkDown)))
    texts = [
        repr(config),
        str(config),
        repr(server),
        repr(pair.client.link),
        repr(pair.server.link),
    ]
    texts += [repr(e) for e in pair.client.events + pair.server.events]
    texts += [repr(a) for a in pair.client.link._auth + pair.server.link._auth]  # noqa: SLF001
    texts += [f"{config.password}", f"{config.password!r}", caplog.text]
    try:
        LinkConfig(password=password)  # type: ignore[arg-type]
    except Exception as exc:  # noqa: BLE001
        texts.append(str(exc))
    for text in texts:
        assert password not in text and "other-secret-value" not in text


def test_dns_not_offered_gives_none() -> None:
    pair = Pair(server=answering_config(dns=()))
    pair.start()
    assert pair.run_until(lambda: both_up(pair))
    assert last_info(pair).dns == ()
    assert last_info(pair).local_ipv4 == ipaddress.IPv4Address("198.51.100.2")


def test_frames_after_the_configure_ack_in_the_same_read_use_the_new_accm() -> None:
    """Regression: the peer's first frames after LCP opens are sent with ACCM 0 and may
    share one read with the Configure-Ack; decoding them with the default ACCM deleted
    their control characters (bad FCS). The server opens late, so the client's
    retransmitted request finds it in Ack-Rcvd: its answer is Ack + CHAP + ... at once."""
    server = answering_config(require_auth=AuthProtocol.CHAP_MD5, secrets=SECRETS)
    pair = Pair(LinkConfig(**ALICE), server, faults=Faults(whole_writes=True))  # type: ignore[arg-type]
    pair._handle(pair.client, pair.client.link.open(0.0))  # noqa: SLF001
    pair._queue.clear()  # noqa: SLF001 - the first request is lost: the server is not up
    pair.now = 1.0
    pair._handle(pair.server, pair.server.link.open(pair.now))  # noqa: SLF001
    assert pair.run_until(lambda: both_up(pair))
    for side in (pair.client, pair.server):
        assert side.link.statistics().drops == {}
