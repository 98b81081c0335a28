"""The RFC 1661 option negotiation automaton, as a data table.

Everything that moves the automaton lives here; this file knows nothing of LCP, IPCP or
IPV6CP. A protocol plugs in through a ``Negotiator`` (in the shape of pppd's
``fsm_callbacks``): it builds our Configure-Request and judges the peer's, and it is told
what the peer thought of ours. The automaton owns identifiers, retransmission, the
restart counter and the Max-Terminate / Max-Configure / Max-Failure limits (RFC 1661 4.6).

Call-order contract: every input method (``up``, ``down``, ``open``, ``close``,
``receive``, ``handle_timer``) takes ``now`` and returns a list of outputs: ``Transmit``
packets for the peer, ``LayerSignal`` values (the RFC's tlu/tld/tls/tlf) for the layer
that owns the automaton, and ``Notice`` values: what the peer told us that is not an
action of the table (its Terminate-Request's reason, and the protocol's own notices, such
as LCP's Protocol-Reject). ``deadline`` is when ``handle_timer`` next wants to run;
calling it early is harmless.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, IntEnum
from typing import Protocol

from .errors import MalformedPacket
from .numbers import Code
from .packet import ControlPacket, Option, emit_options, parse_options
from .rng import Rng


class State(IntEnum):
    """RFC 1661 4.2."""

    INITIAL = 0
    STARTING = 1
    CLOSED = 2
    STOPPED = 3
    CLOSING = 4
    STOPPING = 5
    REQ_SENT = 6
    ACK_RCVD = 7
    ACK_SENT = 8
    OPENED = 9


class Event(Enum):
    """RFC 1661 4.3, named as in the table."""

    UP = "Up"
    DOWN = "Down"
    OPEN = "Open"
    CLOSE = "Close"
    TO_PLUS = "TO+"
    TO_MINUS = "TO-"
    RCR_PLUS = "RCR+"
    RCR_MINUS = "RCR-"
    RCA = "RCA"
    RCN = "RCN"
    RTR = "RTR"
    RTA = "RTA"
    RUC = "RUC"
    RXJ_PLUS = "RXJ+"
    RXJ_MINUS = "RXJ-"
    RXR = "RXR"


# RFC 1661 section 4.1, State Transition Table, copied cell for cell. "-" is an event that
# cannot happen in that state (or is ignored there). Suffixes: r = restart option, x =
# crossed connection, p = passive option (annotations only: see 4.1; we keep the state).
TRANSITION_TABLE = """
      | 0         1         2         3             4         5
Events| Initial   Starting  Closed    Stopped       Closing   Stopping
 Up   | 2         irc,scr/6 -         -             -         -
 Down | -         -         0         tls/1         0         1
 Open | tls/1     1         irc,scr/6 3r            5r        5r
 Close| 0         tlf/0     2         2             4         4
 TO+  | -         -         -         -             str/4     str/5
 TO-  | -         -         -         -             tlf/2     tlf/3
 RCR+ | -         -         sta/2     irc,scr,sca/8 4         5
 RCR- | -         -         sta/2     irc,scr,scn/6 4         5
 RCA  | -         -         sta/2     sta/3         4         5
 RCN  | -         -         sta/2     sta/3         4         5
 RTR  | -         -         sta/2     sta/3         sta/4     sta/5
 RTA  | -         -         2         3             tlf/2     tlf/3
 RUC  | -         -         scj/2     scj/3         scj/4     scj/5
 RXJ+ | -         -         2         3             4         5
 RXJ- | -         -         tlf/2     tlf/3         tlf/2     tlf/3
 RXR  | -         -         2         3             4         5

      | 6          7          8          9
Events| Req-Sent   Ack-Rcvd   Ack-Sent   Opened
 Up   | -          -          -          -
 Down | 1          1          1          tld/1
 Open | 6          7          8          9r
 Close| irc,str/4  irc,str/4  irc,str/4  tld,irc,str/4
 TO+  | scr/6      scr/6      scr/8      -
 TO-  | tlf/3p     tlf/3p     tlf/3p     -
 RCR+ | sca/8      sca,tlu/9  sca/8      tld,scr,sca/8
 RCR- | scn/6      scn/7      scn/6      tld,scr,scn/6
 RCA  | irc/7      scr/6x     irc,tlu/9  tld,scr/6x
 RCN  | irc,scr/6  scr/6x     irc,scr/8  tld,scr/6x
 RTR  | sta/6      sta/6      sta/6      tld,zrc,sta/5
 RTA  | 6          6          8          tld,scr/6
 RUC  | scj/6      scj/7      scj/8      scj/9
 RXJ+ | 6          6          8          9
 RXJ- | tlf/3      tlf/3      tlf/3      tld,irc,str/5
 RXR  | 6          7          8          ser/9
"""

ACTIONS = frozenset("tlu tld tls tlf irc zrc scr sca scn str sta scj ser".split())


@dataclass(frozen=True, slots=True)
class Cell:
    """One cell: the actions in order and the next state (None: event ignored here)."""

    actions: tuple[str, ...]
    next_state: State | None
    note: str = ""


def parse_table(text: str) -> dict[tuple[Event, State], Cell]:
    """Turn the RFC's table text into {(event, state): Cell}."""
    table: dict[tuple[Event, State], Cell] = {}
    states: list[State] = []
    for line in text.splitlines():
        if "|" not in line:
            continue
        head, _, rest = line.partition("|")
        head, cells = head.strip(), rest.split()
        if head == "":
            states = [State(int(c)) for c in cells]
        elif head != "Events":
            event = Event(head)
            if len(cells) != len(states):
                raise ValueError(f"row {head} has {len(cells)} cells for {len(states)} states")
            for state, text_cell in zip(states, cells, strict=True):
                table[(event, state)] = _parse_cell(text_cell)
    return table


def _parse_cell(text: str) -> Cell:
    if text == "-":
        return Cell((), None)
    actions, _, target = text.rpartition("/")
    note = target.lstrip("0123456789")
    acts = tuple(actions.split(",")) if actions else ()
    if not set(acts) <= ACTIONS:
        raise ValueError(f"unknown action in cell {text!r}")
    return Cell(acts, State(int(target[: len(target) - len(note)])), note)


TABLE = parse_table(TRANSITION_TABLE)

# The restart timer runs only in these states (RFC 1661 4.2: Closing, Stopping, Req-Sent,
# Ack-Rcvd, Ack-Sent).
_TIMER_STATES = frozenset(
    {State.CLOSING, State.STOPPING, State.REQ_SENT, State.ACK_RCVD, State.ACK_SENT}
)
_NEGOTIATING = frozenset({State.REQ_SENT, State.ACK_RCVD, State.ACK_SENT})


@dataclass(frozen=True, slots=True)
class Transmit:
    """A packet for the peer, on PPP protocol ``protocol``."""

    protocol: int
    data: bytes


class Signal(Enum):
    """The This-Layer-* actions, passed up to the owner (RFC 1661 4.4)."""

    UP = "tlu"
    DOWN = "tld"
    STARTED = "tls"
    FINISHED = "tlf"


@dataclass(frozen=True, slots=True)
class LayerSignal:
    protocol: int
    signal: Signal


@dataclass(frozen=True, slots=True)
class Notice:
    """Base of the facts an automaton reports besides the table's actions."""

    protocol: int


@dataclass(frozen=True, slots=True)
class TerminateRequested(Notice):
    """The peer sent a Terminate-Request (RFC 1661 5.5) that the table acted on."""

    reason: bytes
    """Its Data field: free text some peers fill with the reason (pppd: "User request")."""
    opened: bool
    """Whether the layer was Opened when it came, i.e. the peer ended an open layer."""


class Unhandled(Enum):
    """What ``Negotiator.classify_extra`` returns for a code that is no event."""

    UNKNOWN_CODE = "unknown code"
    """A code this protocol does not know: RUC, answered with Code-Reject (RFC 1661 5.6)."""
    DISCARD = "discard"
    """A known code that the RFC has silently discarded in this state (counted)."""


AutomatonOutput = Transmit | LayerSignal | Notice


@dataclass(frozen=True, slots=True)
class Timers:
    """RFC 1661 4.6 counters and timer; defaults are the RFC's."""

    restart_interval: float = 3.0
    max_terminate: int = 2
    max_configure: int = 10
    max_failure: int = 5


class Negotiator(Protocol):
    """What a protocol supplies to the automaton (cf. pppd ``fsm_callbacks``)."""

    def reset(self) -> None:
        """A fresh negotiation starts: go back to the options we want at first."""

    def build_request(self) -> list[Option]:
        """The options of our next Configure-Request."""

    def check_request(self, options: list[Option], reject_naks: bool) -> tuple[Code, list[Option]]:
        """Judge the peer's Configure-Request: (CONFIGURE_ACK, its options) or a Nak or
        Reject with the options to send. With ``reject_naks`` (Max-Failure reached),
        options that would be Nak'd are Rejected instead (RFC 1661 4.6)."""

    def peer_request_acked(self, options: list[Option]) -> None:
        """We acknowledged the peer's request: these are now the peer's options."""

    def request_acked(self, options: list[Option]) -> None:
        """The peer acknowledged our request: these are now our options."""

    def received_nak(self, options: list[Option], give_up: bool) -> bool:
        """Adjust our request; ``give_up`` (Max-Failure Naks received): stop asking for the
        Nak'd options. Return False if the Nak is invalid (then it is dropped)."""

    def received_reject(self, options: list[Option]) -> bool:
        """Stop asking for these options; False if the Reject is invalid."""

    def classify_extra(self, packet: ControlPacket, state: State) -> Event | Unhandled:
        """For codes beyond 7 (LCP's Protocol-Reject, Echo, Discard): the event, or why
        there is none."""

    def echo_reply(self, request: ControlPacket) -> bytes | None:
        """LCP only: the Data of an Echo-Reply to ``request`` (the 'ser' action)."""

    def take_notices(self) -> list[Notice]:
        """What the callbacks since the last call found for the owner (LCP: a Protocol-
        Reject, an Echo-Reply, a loop); the automaton passes them on as outputs."""


class Automaton:
    """One instance of the RFC 1661 automaton for one protocol."""

    def __init__(self, protocol: int, negotiator: Negotiator, timers: Timers, rng: Rng) -> None:
        self.protocol = protocol
        self.negotiator = negotiator
        self.timers = timers
        self.state = State.INITIAL
        self.deadline: float | None = None
        self.dropped = 0
        self._rng = rng
        self._identifier = rng.randrange(256)
        self._restart_count = 0
        self._naks_sent = 0
        self._naks_received = 0
        self._request: ControlPacket | None = None
        self._request_options = b""
        self._reply_seen = False
        self._terminate: ControlPacket | None = None
        self._terminate_data = b""
        self._response: ControlPacket | None = None
        self._out: list[AutomatonOutput] = []
        self.max_reject = 1496
        """Longest Rejected-Packet field for a Code-Reject (peer's MRU less the header)."""

    def __repr__(self) -> str:
        return f"<Automaton {self.protocol:#06x} {self.state.name}>"

    @property
    def restart_count(self) -> int:
        """The Restart counter (RFC 1661 4.6): transmissions left before TO-."""
        return self._restart_count

    # ----- administrative events (RFC 1661 4.3) -----
    def up(self, now: float) -> list[AutomatonOutput]:
        return self._run(Event.UP, now)

    def down(self, now: float) -> list[AutomatonOutput]:
        return self._run(Event.DOWN, now)

    def open(self, now: float) -> list[AutomatonOutput]:
        return self._run(Event.OPEN, now)

    def close(self, now: float, reason: bytes = b"") -> list[AutomatonOutput]:
        self._terminate_data = reason
        return self._run(Event.CLOSE, now)

    def renegotiate(self, now: float) -> list[AutomatonOutput]:
        """Start a new negotiation from Opened: the table's RCN cell there (tld,scr/6x),
        which is what a peer sees when a modem renegotiates mid-session."""
        return self._run(Event.RCN, now) if self.state == State.OPENED else []

    def protocol_rejected(self, now: float) -> list[AutomatonOutput]:
        """The peer Protocol-Rejected this protocol (RFC 1661 5.7): RXJ-."""
        return self._run(Event.RXJ_MINUS, now)

    def handle_timer(self, now: float) -> list[AutomatonOutput]:
        if self.deadline is None or now < self.deadline:
            return []
        self.deadline = None
        return self._run(Event.TO_PLUS if self._restart_count > 0 else Event.TO_MINUS, now)

    # ----- packets from the peer -----
    def receive(self, data: bytes, now: float) -> list[AutomatonOutput]:
        """One control packet (the information field of a frame of our protocol)."""
        try:
            packet = ControlPacket.parse(data)
            event = self._classify(packet)
        except MalformedPacket:
            event = None
        if event is None:
            self.dropped += 1
            return [*self.negotiator.take_notices()]
        return self._run(event, now, packet)

    def _classify(self, packet: ControlPacket) -> Event | None:
        code = packet.code
        if code == Code.CONFIGURE_REQUEST:
            return self._classify_request(packet)
        if code in (Code.CONFIGURE_ACK, Code.CONFIGURE_NAK, Code.CONFIGURE_REJECT):
            return self._classify_reply(packet)
        if code == Code.TERMINATE_REQUEST:
            return Event.RTR
        if code == Code.TERMINATE_ACK:
            return Event.RTA
        if code == Code.CODE_REJECT:
            if not packet.data:
                raise MalformedPacket("empty Code-Reject")
            # RFC 1661 5.6: rejecting a code we need to negotiate at all is catastrophic.
            rejected = packet.data[0]
            return Event.RXJ_MINUS if 1 <= rejected <= 7 else Event.RXJ_PLUS
        extra = self.negotiator.classify_extra(packet, self.state)
        if extra is Unhandled.UNKNOWN_CODE:
            return Event.RUC
        return None if extra is Unhandled.DISCARD else extra

    def _classify_request(self, packet: ControlPacket) -> Event:
        options = parse_options(packet.data)
        plus, minus = TABLE[(Event.RCR_PLUS, self.state)], TABLE[(Event.RCR_MINUS, self.state)]
        if plus == minus:  # the verdict makes no difference here: do not judge
            self._response = None
            return Event.RCR_PLUS
        reject_naks = self._naks_sent >= self.timers.max_failure
        verdict, reply = self.negotiator.check_request(options, reject_naks)
        self._response = ControlPacket(verdict, packet.identifier, emit_options(reply))
        return Event.RCR_PLUS if verdict == Code.CONFIGURE_ACK else Event.RCR_MINUS

    def _classify_reply(self, packet: ControlPacket) -> Event | None:
        # RFC 1661 5.2-5.4: a reply must carry the Identifier of our last Configure-Request;
        # others are stale (or forged) and silently discarded.
        # Once one reply to a request was taken, later copies are stale too (cf. pppd's
        # seen_ack): a duplicated Ack must not renegotiate an Opened link.
        if self._request is None or packet.identifier != self._request.identifier:
            return None
        if self._reply_seen:
            return None
        if self.state not in _NEGOTIATING and self.state != State.OPENED:
            return Event.RCA if packet.code == Code.CONFIGURE_ACK else Event.RCN
        options = parse_options(packet.data)
        if packet.code == Code.CONFIGURE_ACK:
            # RFC 1661 5.2: the options of an Ack MUST match our request exactly.
            if packet.data != self._request_options:
                return None
            self.negotiator.request_acked(options)
            self._naks_received = 0
            self._reply_seen = True
            return Event.RCA
        if packet.code == Code.CONFIGURE_NAK:
            self._naks_received += 1
            give_up = self._naks_received >= self.timers.max_failure
            valid = self.negotiator.received_nak(options, give_up)
        elif not _is_subsequence(options, parse_options(self._request_options)):
            # RFC 1661 5.4: the Rejected options MUST NOT be reordered or modified, and
            # come from our request; anything else is no answer to it.
            return None
        else:
            valid = self.negotiator.received_reject(options)
        self._reply_seen = valid
        return Event.RCN if valid else None

    # ----- the table walk -----
    def _run(
        self, event: Event, now: float, packet: ControlPacket | None = None
    ) -> list[AutomatonOutput]:
        cell = TABLE[(event, self.state)]
        if cell.next_state is None:
            return [*self.negotiator.take_notices()]
        self._out = []
        if event == Event.RTR and packet is not None:
            self._out.append(
                TerminateRequested(self.protocol, packet.data, self.state == State.OPENED)
            )
        for action in cell.actions:
            getattr(self, "_" + action)(event, now, packet)
        self.state = cell.next_state
        if self.state not in _TIMER_STATES:
            self.deadline = None
        out, self._out = self._out, []
        out += self.negotiator.take_notices()
        return out

    def _emit(self, packet: ControlPacket) -> None:
        self._out.append(Transmit(self.protocol, packet.emit()))

    def _new_identifier(self) -> int:
        self._identifier = (self._identifier + 1) & 0xFF
        return self._identifier

    def _start_timer(self, now: float) -> None:
        self.deadline = now + self.timers.restart_interval

    # RFC 1661 4.4 actions. Each takes (event, now, received packet or None).
    def _tlu(self, event: Event, now: float, packet: ControlPacket | None) -> None:
        self._out.append(LayerSignal(self.protocol, Signal.UP))

    def _tld(self, event: Event, now: float, packet: ControlPacket | None) -> None:
        self._out.append(LayerSignal(self.protocol, Signal.DOWN))

    def _tls(self, event: Event, now: float, packet: ControlPacket | None) -> None:
        self._out.append(LayerSignal(self.protocol, Signal.STARTED))

    def _tlf(self, event: Event, now: float, packet: ControlPacket | None) -> None:
        self._out.append(LayerSignal(self.protocol, Signal.FINISHED))

    def _irc(self, event: Event, now: float, packet: ControlPacket | None) -> None:
        # Max-Terminate when a Terminate-Request follows (Close, RXJ-), else Max-Configure.
        terminating = event in (Event.CLOSE, Event.RXJ_MINUS)
        self._restart_count = (
            self.timers.max_terminate if terminating else self.timers.max_configure
        )

    def _zrc(self, event: Event, now: float, packet: ControlPacket | None) -> None:
        # RFC 1661 4.4: zero the counter and run the timer once, so Stopping ends in TO-.
        self._restart_count = 0
        self._start_timer(now)

    def _scr(self, event: Event, now: float, packet: ControlPacket | None) -> None:
        if event == Event.TO_PLUS and self._request is not None:
            request = self._request  # a retransmission resends the very same bytes
        else:
            if self.state not in _NEGOTIATING:
                # A fresh negotiation (cf. pppd fsm_sconfreq): want our first choices again.
                self.negotiator.reset()
                self._naks_sent = self._naks_received = 0
            self._request_options = emit_options(self.negotiator.build_request())
            request = ControlPacket(
                Code.CONFIGURE_REQUEST, self._new_identifier(), self._request_options
            )
            self._request = request
        # Each transmission may be answered once more (the previous Ack may have been the
        # one that got lost, or Ack-Rcvd timed out back to Req-Sent).
        self._reply_seen = False
        self._restart_count -= 1
        self._start_timer(now)
        self._emit(request)

    def _sca(self, event: Event, now: float, packet: ControlPacket | None) -> None:
        assert packet is not None and self._response is not None
        self.negotiator.peer_request_acked(parse_options(packet.data))
        self._naks_sent = 0
        self._emit(self._response)

    def _scn(self, event: Event, now: float, packet: ControlPacket | None) -> None:
        assert self._response is not None
        self._naks_sent += 1
        self._emit(self._response)

    def _str(self, event: Event, now: float, packet: ControlPacket | None) -> None:
        if event != Event.TO_PLUS or self._terminate is None:
            self._terminate = ControlPacket(
                Code.TERMINATE_REQUEST, self._new_identifier(), self._terminate_data
            )
        self._restart_count -= 1
        self._start_timer(now)
        self._emit(self._terminate)

    def _sta(self, event: Event, now: float, packet: ControlPacket | None) -> None:
        assert packet is not None
        self._emit(ControlPacket(Code.TERMINATE_ACK, packet.identifier, b""))

    def _scj(self, event: Event, now: float, packet: ControlPacket | None) -> None:
        assert packet is not None
        # RFC 1661 5.6: the Rejected-Packet field carries the offending packet (it may be
        # truncated to fit the peer's MRU; the link does that when it frames).
        rejected = packet.emit()[: self.max_reject]
        self._emit(ControlPacket(Code.CODE_REJECT, self._new_identifier(), rejected))

    def _ser(self, event: Event, now: float, packet: ControlPacket | None) -> None:
        assert packet is not None
        if packet.code == Code.ECHO_REQUEST:
            data = self.negotiator.echo_reply(packet)
            if data is not None:
                self._emit(ControlPacket(Code.ECHO_REPLY, packet.identifier, data))


def _is_subsequence(options: list[Option], request: list[Option]) -> bool:
    """True if ``options`` are some of ``request``'s, unmodified and in the same order."""
    remaining = iter(request)
    return all(option in remaining for option in options)
