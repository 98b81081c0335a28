"""The RFC 1661 automaton: the table is total and faithful, timers and identifiers."""

from __future__ import annotations

import ast
import random
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from netstack.fsm import (
    Automaton,
    Event,
    LayerSignal,
    Notice,
    Signal,
    State,
    TerminateRequested,
    Timers,
    Transmit,
    Unhandled,
    parse_table,
)
from netstack.numbers import Code
from netstack.packet import ControlPacket, Option


class AcceptAll:
    """A negotiator that asks for one option and accepts anything."""

    def __init__(self) -> None:
        self.resets = 0

    def reset(self) -> None:
        self.resets += 1

    def build_request(self) -> list[Option]:
        return [(1, b"\x05\xdc")]

    def check_request(self, options: list[Option], reject_naks: bool) -> tuple[Code, list[Option]]:
        return Code.CONFIGURE_ACK, options

    def peer_request_acked(self, options: list[Option]) -> None: ...
    def request_acked(self, options: list[Option]) -> None: ...

    def received_nak(self, options: list[Option], give_up: bool) -> bool:
        return True

    def received_reject(self, options: list[Option]) -> bool:
        return True

    def classify_extra(self, packet: ControlPacket, state: State) -> Event | Unhandled:
        return Unhandled.UNKNOWN_CODE

    def echo_reply(self, request: ControlPacket) -> bytes | None:
        return None

    def take_notices(self) -> list[Notice]:
        return []


def automaton(**timers: float) -> Automaton:
    return Automaton(0xC021, AcceptAll(), Timers(**timers), random.Random(1))  # type: ignore[arg-type]


def test_table_parser_rejects_bad_cells() -> None:
    import pytest

    with pytest.raises(ValueError):
        parse_table("   | 0\nEvents| Initial\n Up   | xyz/2\n")


@given(st.lists(st.sampled_from(list(Event)), max_size=60), st.integers(0, 2**16))
def test_random_event_sequences_never_raise_and_keep_timer_rules(
    events: list[Event], seed: int
) -> None:
    fsm = automaton()
    rng = random.Random(seed)
    now = 0.0
    for event in events:
        now += rng.random()
        if event in (Event.UP, Event.DOWN, Event.OPEN, Event.CLOSE):
            getattr(fsm, event.value.lower())(now)
        elif event in (Event.TO_PLUS, Event.TO_MINUS):
            if fsm.deadline is not None:
                now = fsm.deadline
            fsm.handle_timer(now)
        else:
            code = rng.choice([1, 2, 3, 4, 5, 6, 7, 9, 12])
            data = bytes([rng.randrange(1, 8)]) if code == 7 else b""
            fsm.receive(ControlPacket(code, rng.randrange(256), data).emit(), now)
        timer_states = {
            State.CLOSING,
            State.STOPPING,
            State.REQ_SENT,
            State.ACK_RCVD,
            State.ACK_SENT,
        }
        assert (fsm.deadline is not None) == (fsm.state in timer_states)


def test_max_configure_then_tlf_and_retransmissions_are_identical() -> None:
    fsm = automaton(max_configure=3, restart_interval=2.0)
    fsm.up(0)
    sent = [o for o in fsm.open(0) if isinstance(o, Transmit)]
    finished = []
    while fsm.deadline is not None:
        outs = fsm.handle_timer(fsm.deadline)
        sent += [o for o in outs if isinstance(o, Transmit)]
        finished += [o for o in outs if isinstance(o, LayerSignal)]
    assert len(sent) == 3 and len({o.data for o in sent}) == 1
    assert finished == [LayerSignal(0xC021, Signal.FINISHED)]
    assert fsm.state == State.STOPPED


def test_fresh_identifier_per_new_request_and_stale_replies_dropped() -> None:
    fsm = automaton()
    fsm.up(0)
    first = ControlPacket.parse(fsm.open(0)[0].data)  # type: ignore[union-attr]
    nak = ControlPacket(Code.CONFIGURE_NAK, first.identifier, b"\x01\x04\x05\xdc").emit()
    second = ControlPacket.parse(fsm.receive(nak, 1)[0].data)  # type: ignore[union-attr]
    assert second.identifier != first.identifier
    stale_ack = ControlPacket(Code.CONFIGURE_ACK, first.identifier, first.data).emit()
    assert fsm.receive(stale_ack, 2) == [] and fsm.state == State.REQ_SENT
    assert fsm.dropped == 1
    good_ack = ControlPacket(Code.CONFIGURE_ACK, second.identifier, second.data).emit()
    fsm.receive(good_ack, 2)
    assert fsm.state == State.ACK_RCVD
    wrong_options = ControlPacket(Code.CONFIGURE_ACK, second.identifier, b"\x01\x04\x00\x80").emit()
    assert fsm.receive(wrong_options, 2) == []


def test_terminate_request_in_opened_acks_and_waits_one_restart_interval() -> None:
    fsm = automaton()
    fsm.up(0)
    req = ControlPacket.parse(fsm.open(0)[0].data)  # type: ignore[union-attr]
    fsm.receive(ControlPacket(Code.CONFIGURE_ACK, req.identifier, req.data).emit(), 0.1)
    fsm.receive(ControlPacket(Code.CONFIGURE_REQUEST, 9, b"").emit(), 0.2)
    assert fsm.state == State.OPENED
    outs = fsm.receive(ControlPacket(Code.TERMINATE_REQUEST, 42, b"bye").emit(), 1.0)
    assert outs[0] == TerminateRequested(0xC021, b"bye", opened=True)  # the peer's reason
    assert outs[1] == LayerSignal(0xC021, Signal.DOWN)
    assert ControlPacket.parse(outs[2].data) == ControlPacket(Code.TERMINATE_ACK, 42, b"")  # type: ignore[union-attr]
    assert fsm.state == State.STOPPING and fsm.deadline == 4.0
    assert fsm.handle_timer(3.9) == []  # early is harmless
    assert fsm.handle_timer(4.0) == [LayerSignal(0xC021, Signal.FINISHED)]


def test_unknown_code_is_code_rejected_and_truncated() -> None:
    fsm = automaton()
    fsm.up(0)
    fsm.open(0)
    fsm.max_reject = 10
    outs = fsm.receive(ControlPacket(77, 1, bytes(100)).emit(), 0)
    reject = ControlPacket.parse(outs[0].data)  # type: ignore[union-attr]
    assert reject.code == Code.CODE_REJECT and len(reject.data) == 10


def test_netstack_is_pure() -> None:
    """STYLE.md: netstack does no I/O and makes no randomness or time of its own."""
    forbidden = {"asyncio", "os", "socket", "time", "random", "threading", "select", "subprocess"}
    # Found from this file, not the working directory: from elsewhere a relative path
    # would match nothing and the test would pass having checked nothing.
    paths = sorted((Path(__file__).resolve().parent.parent / "netstack").glob("*.py"))
    assert len(paths) >= 15, paths
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module.split(".")[0]]
            for name in names:
                assert name not in forbidden, f"{path} imports {name}"
