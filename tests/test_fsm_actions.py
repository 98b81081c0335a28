"""What each RFC 1661 4.4 action does, one test per kind of action.

``test_fsm_table`` shows that each cell runs the right actions; these show that each
action does the right thing: what the packet it sends carries, what it does to the
restart counter and timer, and what it tells the protocol (the negotiator)."""

from __future__ import annotations

import random

from netstack.fsm import (
    Automaton,
    Event,
    LayerSignal,
    Notice,
    Signal,
    State,
    Timers,
    Transmit,
    Unhandled,
)
from netstack.numbers import Code
from netstack.packet import ControlPacket, Option

PROTOCOL = 0x8021  # IPCP: any protocol number will do
TIMERS = Timers(restart_interval=2.0, max_terminate=3, max_configure=4, max_failure=2)


class Recorder:
    """Asks for one option; Naks a peer's request for b"no"; records every callback."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []
        self.round = 0

    def reset(self) -> None:
        self.calls.append(("reset", None))

    def build_request(self) -> list[Option]:
        self.round += 1
        return [(3, bytes((self.round,)) * 4)]

    def check_request(self, options: list[Option], reject_naks: bool) -> tuple[Code, list[Option]]:
        self.calls.append(("check", reject_naks))
        if options != [(1, b"no")]:
            return Code.CONFIGURE_ACK, options
        return (Code.CONFIGURE_REJECT if reject_naks else Code.CONFIGURE_NAK), [(1, b"ok")]

    def peer_request_acked(self, options: list[Option]) -> None:
        self.calls.append(("peer_acked", options))

    def request_acked(self, options: list[Option]) -> None:
        self.calls.append(("acked", options))

    def received_nak(self, options: list[Option], give_up: bool) -> bool:
        self.calls.append(("nak", options))
        return True

    def received_reject(self, options: list[Option]) -> bool:
        self.calls.append(("reject", options))
        return True

    def classify_extra(self, packet: ControlPacket, state: State) -> Event | Unhandled:
        if packet.code in (Code.ECHO_REQUEST, Code.ECHO_REPLY, Code.DISCARD_REQUEST):
            return Event.RXR
        return Unhandled.UNKNOWN_CODE

    def echo_reply(self, request: ControlPacket) -> bytes | None:
        return b"MAGC" + request.data[4:]

    def take_notices(self) -> list[Notice]:
        return []


def new(state: State = State.REQ_SENT) -> tuple[Automaton, Recorder, list[ControlPacket]]:
    """An automaton brought to Req-Sent (or Opened) and the packets it sent so far."""
    recorder = Recorder()
    fsm = Automaton(PROTOCOL, recorder, TIMERS, random.Random(4))  # type: ignore[arg-type]
    fsm.up(0.0)
    sent = packets(fsm.open(0.0))
    if state == State.OPENED:
        fsm.receive(ControlPacket(Code.CONFIGURE_ACK, sent[0].identifier, sent[0].data).emit(), 0)
        sent += packets(fsm.receive(ControlPacket(Code.CONFIGURE_REQUEST, 9, b"").emit(), 0.0))
    assert fsm.state == state
    return fsm, recorder, sent


def packets(outputs: list[Transmit | LayerSignal | Notice]) -> list[ControlPacket]:
    return [ControlPacket.parse(o.data) for o in outputs if isinstance(o, Transmit)]


def signals(outputs: list[Transmit | LayerSignal | Notice]) -> list[Signal]:
    return [o.signal for o in outputs if isinstance(o, LayerSignal)]


def run_out(fsm: Automaton) -> list[Transmit | LayerSignal | Notice]:
    """Fire the timer until it stops."""
    outputs: list[Transmit | LayerSignal | Notice] = []
    while fsm.deadline is not None:
        outputs += fsm.handle_timer(fsm.deadline)
    return outputs


def test_tls_tlu_tld_tlf_signal_the_owner_with_the_protocol() -> None:
    fsm = Automaton(PROTOCOL, Recorder(), TIMERS, random.Random(1))  # type: ignore[arg-type]
    assert fsm.open(0) == [LayerSignal(PROTOCOL, Signal.STARTED)]
    fsm, _, sent = new(State.OPENED)
    assert fsm.state == State.OPENED
    out = fsm.close(1.0)
    assert signals(out) == [Signal.DOWN]
    assert signals(run_out(fsm)) == [Signal.FINISHED]


def test_irc_then_scr_allows_max_configure_requests() -> None:
    fsm, _, sent = new()
    sent += packets(run_out(fsm))
    assert len(sent) == TIMERS.max_configure
    assert fsm.state == State.STOPPED


def test_irc_then_str_allows_max_terminate_requests() -> None:
    fsm, _, _ = new()
    out = fsm.close(1.0, b"bye")
    out += run_out(fsm)
    terminates = packets(out)
    assert [p.code for p in terminates] == [Code.TERMINATE_REQUEST] * TIMERS.max_terminate
    assert fsm.state == State.CLOSED


def test_zrc_runs_the_timer_once_without_retransmitting() -> None:
    fsm, _, _ = new(State.OPENED)
    out = fsm.receive(ControlPacket(Code.TERMINATE_REQUEST, 7, b"").emit(), 10.0)
    assert fsm.restart_count == 0 and fsm.deadline == 10.0 + TIMERS.restart_interval
    later = run_out(fsm)
    assert packets(later) == [] and signals(later) == [Signal.FINISHED]
    assert [p.code for p in packets(out)] == [Code.TERMINATE_ACK]


def test_scr_fresh_request_new_identifier_retransmission_same_bytes() -> None:
    fsm, recorder, sent = new()
    first = sent[0]
    assert first.code == Code.CONFIGURE_REQUEST and first.data == b"\x03\x06\x01\x01\x01\x01"
    assert fsm.deadline == TIMERS.restart_interval
    again = packets(fsm.handle_timer(2.0))
    assert again == [first] and fsm.restart_count == TIMERS.max_configure - 2
    nak = ControlPacket(Code.CONFIGURE_NAK, first.identifier, b"\x03\x06\x09\x09\x09\x09")
    fresh = packets(fsm.receive(nak.emit(), 2.5))
    assert ("nak", [(3, b"\x09" * 4)]) in recorder.calls
    assert fresh[0].identifier != first.identifier and fresh[0].data != first.data
    assert fsm.deadline == 2.5 + TIMERS.restart_interval


def test_scr_from_a_stopped_or_opened_automaton_starts_a_fresh_negotiation() -> None:
    fsm, recorder, _ = new(State.OPENED)
    resets = recorder.calls.count(("reset", None))
    fsm.receive(ControlPacket(Code.CONFIGURE_REQUEST, 11, b"").emit(), 5.0)  # tld,scr,sca/8
    assert recorder.calls.count(("reset", None)) == resets + 1


def test_sca_acks_the_peers_identifier_and_options_exactly() -> None:
    fsm, recorder, _ = new()
    request = ControlPacket(Code.CONFIGURE_REQUEST, 0x33, b"\x05\x06\x01\x02\x03\x04\x07\x02")
    (ack,) = packets(fsm.receive(request.emit(), 1.0))
    assert ack == ControlPacket(Code.CONFIGURE_ACK, 0x33, request.data)
    assert ("peer_acked", [(5, b"\x01\x02\x03\x04"), (7, b"")]) in recorder.calls


def test_scn_naks_then_rejects_after_max_failure() -> None:
    fsm, recorder, _ = new()
    bad = ControlPacket(Code.CONFIGURE_REQUEST, 0x40, b"\x01\x04no")
    replies = []
    for i in range(TIMERS.max_failure + 1):
        replies += packets(fsm.receive(bad.emit(), 1.0 + i))
    assert [p.code for p in replies] == [Code.CONFIGURE_NAK] * TIMERS.max_failure + [
        Code.CONFIGURE_REJECT
    ]
    assert all(p.identifier == 0x40 and p.data == b"\x01\x04ok" for p in replies)
    assert [c for c in recorder.calls if c[0] == "check"][-1] == ("check", True)


def test_str_carries_the_reason_and_is_retransmitted_unchanged() -> None:
    fsm, _, _ = new()
    out = packets(fsm.close(1.0, b"shutting down"))
    out += packets(fsm.handle_timer(fsm.deadline))  # type: ignore[arg-type]
    assert out[0] == out[1]
    assert out[0].code == Code.TERMINATE_REQUEST and out[0].data == b"shutting down"


def test_sta_answers_with_the_peers_identifier() -> None:
    fsm, _, _ = new()
    (ack,) = packets(fsm.receive(ControlPacket(Code.TERMINATE_REQUEST, 0x66, b"x").emit(), 1))
    assert ack == ControlPacket(Code.TERMINATE_ACK, 0x66, b"")


def test_scj_carries_the_rejected_packet_with_a_new_identifier_cut_to_fit() -> None:
    fsm, _, sent = new()
    unknown = ControlPacket(0x55, sent[0].identifier, bytes(range(200)))
    (reject,) = packets(fsm.receive(unknown.emit(), 1.0))
    assert reject.code == Code.CODE_REJECT and reject.data == unknown.emit()
    assert reject.identifier != sent[0].identifier
    fsm.max_reject = 50
    (short,) = packets(fsm.receive(unknown.emit(), 1.5))
    assert short.data == unknown.emit()[:50] and short.identifier != reject.identifier


def test_ser_answers_echo_requests_only() -> None:
    fsm, _, _ = new(State.OPENED)
    request = ControlPacket(Code.ECHO_REQUEST, 0x21, b"\x00\x00\x00\x00payload")
    (reply,) = packets(fsm.receive(request.emit(), 1.0))
    assert reply == ControlPacket(Code.ECHO_REPLY, 0x21, b"MAGCpayload")
    for code in (Code.ECHO_REPLY, Code.DISCARD_REQUEST):
        assert fsm.receive(ControlPacket(code, 0x22, bytes(8)).emit(), 1.0) == []
    assert fsm.state == State.OPENED
