"""Every cell of the RFC 1661 section 4.1 table, checked by running the automaton.

The expected cells below are written out again here, state by state (the RFC's columns),
from the RFC's text, and never read from ``netstack.fsm.TABLE``: a mistake in the table
there shows up as a failure here. For each of the 160 (state, event) pairs the test drives
a fresh automaton into the state through its public inputs, applies the event and checks
what the RFC says: the actions, observed as outputs (packets sent, This-Layer signals) and
as the restart counter (irc, zrc), in order, and the next state.

Five cells cannot be reached from the wire, on purpose, and get their event injected into
the table walk directly (``_run``): a second reply to one Configure-Request is discarded
before it becomes RCA/RCN in Ack-Rcvd or Opened (RFC 1661 5.2-5.4 match the Identifier;
pppd's ``seen_ack`` does the same), and irc on entering Ack-Rcvd leaves the counter at
Max-Configure, so its timer always expires as TO+. ``test_duplicate_replies_are_discarded``
shows the first part from the wire.
"""

from __future__ import annotations

import random

import pytest

from netstack.fsm import (
    Automaton,
    Event,
    LayerSignal,
    Signal,
    State,
    Timers,
    Transmit,
    Unhandled,
)
from netstack.numbers import Code
from netstack.packet import ControlPacket, Option
from tests.test_fsm import AcceptAll

S = State
# RFC 1661 4.1, one state at a time; an event not listed is "-" (nothing happens).
EXPECTED: dict[State, dict[str, str]] = {
    S.INITIAL: {"Up": "2", "Open": "tls/1", "Close": "0"},
    S.STARTING: {"Up": "irc,scr/6", "Open": "1", "Close": "tlf/0"},
    S.CLOSED: {
        "Down": "0", "Open": "irc,scr/6", "Close": "2",
        "RCR+": "sta/2", "RCR-": "sta/2", "RCA": "sta/2", "RCN": "sta/2",
        "RTR": "sta/2", "RTA": "2", "RUC": "scj/2", "RXJ+": "2", "RXJ-": "tlf/2", "RXR": "2",
    },
    S.STOPPED: {
        "Down": "tls/1", "Open": "3", "Close": "2",
        "RCR+": "irc,scr,sca/8", "RCR-": "irc,scr,scn/6", "RCA": "sta/3", "RCN": "sta/3",
        "RTR": "sta/3", "RTA": "3", "RUC": "scj/3", "RXJ+": "3", "RXJ-": "tlf/3", "RXR": "3",
    },
    S.CLOSING: {
        "Down": "0", "Open": "5", "Close": "4", "TO+": "str/4", "TO-": "tlf/2",
        "RCR+": "4", "RCR-": "4", "RCA": "4", "RCN": "4",
        "RTR": "sta/4", "RTA": "tlf/2", "RUC": "scj/4", "RXJ+": "4", "RXJ-": "tlf/2", "RXR": "4",
    },
    S.STOPPING: {
        "Down": "1", "Open": "5", "Close": "4", "TO+": "str/5", "TO-": "tlf/3",
        "RCR+": "5", "RCR-": "5", "RCA": "5", "RCN": "5",
        "RTR": "sta/5", "RTA": "tlf/3", "RUC": "scj/5", "RXJ+": "5", "RXJ-": "tlf/3", "RXR": "5",
    },
    S.REQ_SENT: {
        "Down": "1", "Open": "6", "Close": "irc,str/4", "TO+": "scr/6", "TO-": "tlf/3",
        "RCR+": "sca/8", "RCR-": "scn/6", "RCA": "irc/7", "RCN": "irc,scr/6",
        "RTR": "sta/6", "RTA": "6", "RUC": "scj/6", "RXJ+": "6", "RXJ-": "tlf/3", "RXR": "6",
    },
    S.ACK_RCVD: {
        "Down": "1", "Open": "7", "Close": "irc,str/4", "TO+": "scr/6", "TO-": "tlf/3",
        "RCR+": "sca,tlu/9", "RCR-": "scn/7", "RCA": "scr/6", "RCN": "scr/6",
        "RTR": "sta/6", "RTA": "6", "RUC": "scj/7", "RXJ+": "6", "RXJ-": "tlf/3", "RXR": "7",
    },
    S.ACK_SENT: {
        "Down": "1", "Open": "8", "Close": "irc,str/4", "TO+": "scr/8", "TO-": "tlf/3",
        "RCR+": "sca/8", "RCR-": "scn/6", "RCA": "irc,tlu/9", "RCN": "irc,scr/8",
        "RTR": "sta/6", "RTA": "8", "RUC": "scj/8", "RXJ+": "8", "RXJ-": "tlf/3", "RXR": "8",
    },
    S.OPENED: {
        "Down": "tld/1", "Open": "9", "Close": "tld,irc,str/4",
        "RCR+": "tld,scr,sca/8", "RCR-": "tld,scr,scn/6", "RCA": "tld,scr/6", "RCN": "tld,scr/6",
        "RTR": "tld,zrc,sta/5", "RTA": "tld,scr/6", "RUC": "scj/9", "RXJ+": "9",
        "RXJ-": "tld,irc,str/5", "RXR": "ser/9",
    },
}  # fmt: skip

# Paths from a new automaton into each state, through public inputs only.
PATHS: dict[State, tuple[str, ...]] = {
    S.INITIAL: (),
    S.STARTING: ("Open",),
    S.CLOSED: ("Up", "Open", "Close", "RTA"),  # our request stays unanswered
    S.STOPPED: ("Up", "Open", "RXJ-"),
    S.CLOSING: ("Up", "Open", "Close"),
    S.STOPPING: ("Up", "Open", "Close", "Open"),  # 5r
    S.REQ_SENT: ("Up", "Open"),
    S.ACK_RCVD: ("Up", "Open", "RCA"),
    S.ACK_SENT: ("Up", "Open", "RCR+"),
    S.OPENED: ("Up", "Open", "RCA", "RCR+"),
}
UNREACHABLE_FROM_THE_WIRE = {(S.ACK_RCVD, "RCA"), (S.ACK_RCVD, "RCN"), (S.OPENED, "RCA"),
                             (S.OPENED, "RCN"), (S.ACK_RCVD, "TO-")}  # fmt: skip
TIMERS = Timers(restart_interval=3.0, max_terminate=2, max_configure=10, max_failure=5)
SIGNALS = {Signal.UP: "tlu", Signal.DOWN: "tld", Signal.STARTED: "tls", Signal.FINISHED: "tlf"}
SENDS = {1: "scr", 2: "sca", 3: "scn", 4: "scn", 5: "str", 6: "sta", 7: "scj", 10: "ser"}
TIMER_STATES = {S.CLOSING, S.STOPPING, S.REQ_SENT, S.ACK_RCVD, S.ACK_SENT}


class Peer:
    """Drives one automaton: turns event names into its public inputs, keeps the clock."""

    def __init__(self) -> None:
        self.fsm = Automaton(0xC021, ChoosyNegotiator(), TIMERS, random.Random(7))  # type: ignore[arg-type]
        self.now = 0.0
        self.request: ControlPacket | None = None

    def apply(self, event: str) -> list[Transmit | LayerSignal]:
        self.now += 0.5
        fsm, now = self.fsm, self.now
        if event in ("Up", "Down", "Open", "Close"):
            outputs = getattr(fsm, event.lower())(now)
        elif event in ("TO+", "TO-"):
            outputs = self._timeout(event == "TO+")
        else:
            outputs = fsm.receive(self._packet(event).emit(), now)
        for out in outputs:
            if isinstance(out, Transmit) and out.data[0] == Code.CONFIGURE_REQUEST:
                self.request = ControlPacket.parse(out.data)
        return list(outputs)

    def _timeout(self, plus: bool) -> list[Transmit | LayerSignal]:
        fsm = self.fsm
        if fsm.deadline is None:
            return fsm.handle_timer(self.now)  # no timer runs: nothing can expire
        state = fsm.state
        # Let the counter run down to the value the event needs while the state stays.
        while not plus and fsm.restart_count > 0 and fsm.state == state:
            fsm.handle_timer(fsm.deadline)  # type: ignore[arg-type]
        if (fsm.restart_count > 0) != plus or fsm.state != state:
            pytest.fail(f"cannot make {'TO+' if plus else 'TO-'} happen in {state.name}")
        self.now = fsm.deadline  # type: ignore[assignment]
        return fsm.handle_timer(self.now)

    def _packet(self, event: str) -> ControlPacket:
        request = self.request or ControlPacket(Code.CONFIGURE_REQUEST, 0, b"")
        packets = {
            "RCR+": ControlPacket(Code.CONFIGURE_REQUEST, 40, b"\x01\x04ok"),
            "RCR-": ControlPacket(Code.CONFIGURE_REQUEST, 41, b"\x01\x04no"),
            "RCA": ControlPacket(Code.CONFIGURE_ACK, request.identifier, request.data),
            "RCN": ControlPacket(Code.CONFIGURE_NAK, request.identifier, b"\x01\x04\x05\xd4"),
            "RTR": ControlPacket(Code.TERMINATE_REQUEST, 42, b"bye"),
            "RTA": ControlPacket(Code.TERMINATE_ACK, 43, b""),
            "RUC": ControlPacket(77, 44, b"what"),
            "RXJ+": ControlPacket(Code.CODE_REJECT, 45, bytes((77, 1, 0, 4))),
            "RXJ-": ControlPacket(Code.CODE_REJECT, 46, bytes((Code.CONFIGURE_ACK, 1, 0, 4))),
            "RXR": ControlPacket(Code.ECHO_REQUEST, 47, b"\x00\x00\x00\x00hi"),
        }
        return packets[event]


class ChoosyNegotiator(AcceptAll):
    """Acks a request whose option value is b"ok", Naks anything else; knows Echo."""

    def classify_extra(self, packet: ControlPacket, state: State) -> Event | Unhandled:
        return Event.RXR if packet.code == Code.ECHO_REQUEST else Unhandled.UNKNOWN_CODE

    def echo_reply(self, request: ControlPacket) -> bytes | None:
        return request.data

    def check_request(self, options: list[Option], reject_naks: bool) -> tuple[Code, list[Option]]:
        if options == [(1, b"ok")]:
            return Code.CONFIGURE_ACK, options
        return Code.CONFIGURE_NAK, [(1, b"ok")]


def observed(outputs: list[Transmit | LayerSignal]) -> list[str]:
    names = []
    for out in outputs:
        if isinstance(out, LayerSignal):
            names.append(SIGNALS[out.signal])
        elif isinstance(out, Transmit):
            names.append(SENDS[out.data[0]])
    return names


def expected_cell(state: State, event: str) -> tuple[list[str], State]:
    cell = EXPECTED[state].get(event)
    if cell is None:
        return [], state
    actions, _, target = cell.rpartition("/")
    return (actions.split(",") if actions else []), State(int(target))


EVENTS = ["Up", "Down", "Open", "Close", "TO+", "TO-", "RCR+", "RCR-", "RCA", "RCN", "RTR",
          "RTA", "RUC", "RXJ+", "RXJ-", "RXR"]  # fmt: skip


def test_events_cover_the_automaton() -> None:
    assert sorted(EVENTS) == sorted(e.value for e in Event)
    assert len(EXPECTED) == len(State)


@pytest.mark.parametrize("state", list(State), ids=lambda s: s.name)
def test_paths_reach_their_state(state: State) -> None:
    peer = Peer()
    for step in PATHS[state]:
        peer.apply(step)
    assert peer.fsm.state == state


@pytest.mark.parametrize("event", EVENTS)
@pytest.mark.parametrize("state", list(State), ids=lambda s: s.name)
def test_cell(state: State, event: str) -> None:
    peer = Peer()
    for step in PATHS[state]:
        peer.apply(step)
    fsm = peer.fsm
    deadline_before = fsm.deadline
    actions, next_state = expected_cell(state, event)
    if (state, event) in UNREACHABLE_FROM_THE_WIRE:
        outputs = inject(peer, event)
    else:
        outputs = peer.apply(event)
    assert observed(outputs) == [a for a in actions if a not in ("irc", "zrc")]
    assert fsm.state == next_state
    check_counter_and_timer(fsm, actions, peer.now, deadline_before, event)


def inject(peer: Peer, event: str) -> list[Transmit | LayerSignal]:
    fsm = peer.fsm
    if event == "TO-":
        assert fsm.restart_count == TIMERS.max_configure  # why it cannot happen otherwise
        fsm._restart_count = 0
        peer.now = fsm.deadline  # type: ignore[assignment]
        return fsm.handle_timer(peer.now)
    packet = peer._packet(event)
    assert fsm.receive(packet.emit(), peer.now) == []  # from the wire: discarded
    return fsm._run(Event(event), peer.now, packet)


def check_counter_and_timer(
    fsm: Automaton, actions: list[str], now: float, deadline_before: float | None, event: str
) -> None:
    sends = [a for a in actions if a in ("scr", "str")]
    if "irc" in actions:
        # RFC 1661 4.4: Max-Terminate before a Terminate-Request, else Max-Configure; each
        # scr/str that follows uses one.
        full = TIMERS.max_terminate if "str" in actions else TIMERS.max_configure
        assert fsm.restart_count == full - len(sends)
    if "zrc" in actions:
        assert fsm.restart_count == 0
    if sends or "zrc" in actions:
        assert fsm.deadline == now + TIMERS.restart_interval
    elif fsm.state not in TIMER_STATES:
        assert fsm.deadline is None
    elif event not in ("TO+", "TO-"):
        assert fsm.deadline == deadline_before  # the timer keeps running untouched


def test_duplicate_replies_are_discarded() -> None:
    """A second Ack (or a Nak) for a request already Acked: dropped, never RCA/RCN."""
    peer = Peer()
    for step in PATHS[S.ACK_RCVD]:
        peer.apply(step)
    for event in ("RCA", "RCN"):
        assert peer.apply(event) == [] and peer.fsm.state == S.ACK_RCVD
    peer.apply("RCR+")
    for event in ("RCA", "RCN"):
        assert peer.apply(event) == [] and peer.fsm.state == S.OPENED
    assert peer.fsm.dropped == 4
