"""LCP option negotiation and LCP's own codes (RFC 1661 sections 5.7-5.9 and 6, RFC 1662 7.1).

``LcpNegotiator`` is plugged into an ``Automaton``. In pppd's terms it keeps what we want
(``want``), what the peer acknowledged of ours (``ours``) and what we acknowledged of the
peer's (``peer``). ``ours`` decides how the peer sends to us (our MRU, receive ACCM);
``peer`` decides how we send (its MRU, our transmit ACCM, compression, and which
authentication we must do). What the link must act on (a Protocol-Reject, an Echo-Reply,
a loop, a refused authentication) leaves as ``Notice`` values among the automaton's
outputs.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

from .config import AuthProtocol, LinkConfig, Role
from .errors import MalformedPacket
from .fsm import Event, Notice, State, Unhandled
from .ncp import OptionJudge
from .numbers import CHAP_MD5, Code, LcpOption, Protocol
from .packet import ControlPacket, Option, has_valid_length
from .rng import Rng

_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")
DEFAULT_MRU = 1500
MIN_MRU = 128  # what pppd Naks up to (MINMRU)
DEFAULT_ACCM = 0xFFFFFFFF  # RFC 1662 7.1: until negotiated, escape every control character

_FIXED_LENGTHS = {
    LcpOption.MRU: 2,
    LcpOption.ACCM: 4,
    LcpOption.MAGIC_NUMBER: 4,
    LcpOption.PFC: 0,
    LcpOption.ACFC: 0,
}
_AUTH_VALUES = {
    AuthProtocol.PAP: _U16.pack(Protocol.PAP),
    AuthProtocol.CHAP_MD5: _U16.pack(Protocol.CHAP) + bytes((CHAP_MD5,)),
}
_AUTH_BY_VALUE = {value: proto for proto, value in _AUTH_VALUES.items()}
# What an option of ours goes back to when we stop asking for it (Reject, or Max-Failure).
_NOT_ASKED: dict[int, dict[str, Any]] = {
    LcpOption.MRU: {"mru": DEFAULT_MRU},
    LcpOption.ACCM: {"accm": None},
    LcpOption.AUTH_PROTOCOL: {"auth": None},
    LcpOption.MAGIC_NUMBER: {"magic": 0},
    LcpOption.PFC: {"pfc": False},
    LcpOption.ACFC: {"acfc": False},
}


@dataclass(frozen=True, slots=True)
class ProtocolRejected(Notice):
    """RFC 1661 5.7: the peer does not run ``rejected`` and we must stop sending it."""

    rejected: int


@dataclass(frozen=True, slots=True)
class EchoReplied(Notice):
    """An Echo-Reply came back (RFC 1661 5.8): the peer is alive."""


@dataclass(frozen=True, slots=True)
class LoopedBack(Notice):
    """Our own Magic-Number came back Max-Failure times: the line is looped (RFC 1661
    6.4)."""


@dataclass(frozen=True, slots=True)
class AuthRefused(Notice):
    """Answering role: the peer Rejected our authentication protocol, or Nak'd it for
    one we do not require."""


@dataclass(frozen=True, slots=True)
class LcpOptions:
    """One direction's LCP option set."""

    mru: int = DEFAULT_MRU
    accm: int | None = None  # None: not negotiated (the default, all ones, applies)
    auth: AuthProtocol | None = None
    magic: int = 0  # 0: not negotiated
    pfc: bool = False
    acfc: bool = False


class LcpNegotiator(OptionJudge):
    """The LCP half of the automaton callbacks, plus Echo/Discard/Protocol-Reject."""

    def __init__(self, config: LinkConfig, rng: Rng) -> None:
        self._config = config
        self._rng = rng
        self.want = LcpOptions()
        self.ours = LcpOptions()
        self.peer = LcpOptions()
        self._notices: list[Notice] = []
        self._loop_suspicions = 0
        self.reset()

    def take_notices(self) -> list[Notice]:
        notices, self._notices = self._notices, []
        return notices

    def reset(self) -> None:
        config = self._config
        auth = config.require_auth if config.role == Role.ANSWERING else None
        self.want = LcpOptions(
            mru=config.mru,
            accm=config.accm,
            auth=auth,
            magic=self._new_magic(),
            pfc=config.pfc,
            acfc=config.acfc,
        )
        self.ours = LcpOptions()
        self.peer = LcpOptions()

    def _new_magic(self) -> int:
        magic = 0
        while magic == 0 or magic == self.peer.magic:
            magic = self._rng.getrandbits(32)
        return magic

    # ----- our request -----
    def build_request(self) -> list[Option]:
        w = self.want
        options: list[Option] = []
        if w.mru != DEFAULT_MRU:
            options.append((LcpOption.MRU, _U16.pack(w.mru)))
        if w.accm is not None:
            options.append((LcpOption.ACCM, _U32.pack(w.accm)))
        if w.auth is not None:
            options.append((LcpOption.AUTH_PROTOCOL, _AUTH_VALUES[w.auth]))
        if w.magic:
            options.append((LcpOption.MAGIC_NUMBER, _U32.pack(w.magic)))
        if w.pfc:
            options.append((LcpOption.PFC, b""))
        if w.acfc:
            options.append((LcpOption.ACFC, b""))
        return options

    def request_acked(self, options: list[Option]) -> None:
        self.ours = self._decode(options)

    def received_nak(self, options: list[Option], give_up: bool) -> bool:
        w = self.want
        for kind, value in options:
            if give_up:  # RFC 1661 4.6: not converging; stop asking for what is Nak'd
                w = self._without(w, kind)
            elif kind == LcpOption.MRU and len(value) == 2:
                suggested = _U16.unpack(value)[0]
                if MIN_MRU <= suggested <= max(self._config.mru, DEFAULT_MRU):
                    w = replace(w, mru=suggested)
            elif kind == LcpOption.ACCM and len(value) == 4:
                # Escaping more than asked is always safe: take the union.
                w = replace(w, accm=(w.accm or 0) | _U32.unpack(value)[0])
            elif kind == LcpOption.MAGIC_NUMBER and len(value) == 4:
                # RFC 1661 6.4: a Nak of our magic may mean the line is looped back.
                self._suspect_loop(_U32.unpack(value)[0] == w.magic)
                w = replace(w, magic=self._new_magic())
            elif kind == LcpOption.AUTH_PROTOCOL:
                suggested_auth = _AUTH_BY_VALUE.get(value)
                if suggested_auth is not None and suggested_auth == self._config.require_auth:
                    w = replace(w, auth=suggested_auth)
                elif w.auth is not None:
                    self._notices.append(AuthRefused(Protocol.LCP))
            elif kind in (LcpOption.PFC, LcpOption.ACFC):
                w = self._without(w, kind)  # a Nak of a boolean option means "no"
        self.want = w
        return True

    def received_reject(self, options: list[Option]) -> bool:
        w = self.want
        for kind, _ in options:
            if kind == LcpOption.AUTH_PROTOCOL and w.auth is not None:
                self._notices.append(AuthRefused(Protocol.LCP))
            w = self._without(w, kind)
        self.want = w
        return True

    @staticmethod
    def _without(w: LcpOptions, kind: int) -> LcpOptions:
        change = _NOT_ASKED.get(kind)
        return replace(w, **change) if change else w

    # ----- the peer's request -----
    def _judge(self, option: Option) -> Option | None:
        """The option itself (acceptable), a Nak'd replacement, or None (reject)."""
        kind, value = option
        if kind == LcpOption.AUTH_PROTOCOL:
            return self._judge_auth(value)
        if not has_valid_length(option, _FIXED_LENGTHS):
            return None  # unknown, or a known option with a bad length: reject as sent
        if kind == LcpOption.MRU and _U16.unpack(value)[0] < MIN_MRU:
            return (kind, _U16.pack(MIN_MRU))
        if kind == LcpOption.MAGIC_NUMBER:
            magic = _U32.unpack(value)[0]
            if magic == 0:  # RFC 1661 6.4: zero MUST always be Nak'd if not rejected
                return (kind, _U32.pack(self._rng.getrandbits(31) | 1))
            if self.want.magic and magic == self.want.magic:
                # RFC 1661 6.4: our own magic back: maybe a loop. Nak with another value
                # and choose a new magic of our own for the next request.
                self._suspect_loop(True)
                self.want = replace(self.want, magic=self._new_magic())
                return (kind, _U32.pack(self._new_magic()))
        return option

    def _judge_auth(self, value: bytes) -> Option | None:
        config = self._config
        if config.role == Role.ANSWERING or not config.allow_auth:
            return None  # we are the network: we do not authenticate ourselves to the peer
        asked = _AUTH_BY_VALUE.get(value)
        if asked in config.allow_auth:
            return (LcpOption.AUTH_PROTOCOL, value)
        preferred = (
            AuthProtocol.CHAP_MD5
            if AuthProtocol.CHAP_MD5 in config.allow_auth
            else AuthProtocol.PAP
        )
        return (LcpOption.AUTH_PROTOCOL, _AUTH_VALUES[preferred])

    def _suspect_loop(self, same_magic: bool) -> None:
        if same_magic:
            self._loop_suspicions += 1
            if self._loop_suspicions == self._config.max_failure:
                self._notices.append(LoopedBack(Protocol.LCP))

    def peer_request_acked(self, options: list[Option]) -> None:
        self.peer = self._decode(options)
        self._loop_suspicions = 0

    @staticmethod
    def _decode(options: list[Option]) -> LcpOptions:
        result = LcpOptions()
        for kind, value in options:
            if kind == LcpOption.MRU and len(value) == 2:
                result = replace(result, mru=_U16.unpack(value)[0])
            elif kind == LcpOption.ACCM and len(value) == 4:
                result = replace(result, accm=_U32.unpack(value)[0])
            elif kind == LcpOption.AUTH_PROTOCOL:
                result = replace(result, auth=_AUTH_BY_VALUE.get(value))
            elif kind == LcpOption.MAGIC_NUMBER and len(value) == 4:
                result = replace(result, magic=_U32.unpack(value)[0])
            elif kind == LcpOption.PFC:
                result = replace(result, pfc=True)
            elif kind == LcpOption.ACFC:
                result = replace(result, acfc=True)
        return result

    # ----- codes 8 to 11 (RFC 1661 5.7-5.9) -----
    def classify_extra(self, packet: ControlPacket, state: State) -> Event | Unhandled:
        code = packet.code
        if code == Code.PROTOCOL_REJECT:
            if len(packet.data) < 2:
                raise MalformedPacket("Protocol-Reject without a protocol")
            if state != State.OPENED:
                # RFC 1661 5.7: "Protocol-Reject packets received in any state other than
                # the LCP Opened state SHOULD be silently discarded."
                return Unhandled.DISCARD
            rejected = _U16.unpack_from(packet.data)[0]
            if rejected == Protocol.LCP:
                return Event.RXJ_MINUS
            self._notices.append(ProtocolRejected(Protocol.LCP, rejected))
            return Event.RXJ_PLUS
        if code in (Code.ECHO_REQUEST, Code.ECHO_REPLY, Code.DISCARD_REQUEST):
            if len(packet.data) < 4:
                raise MalformedPacket("LCP Echo/Discard without a Magic-Number")
            if state == State.OPENED:
                self._check_echo(code, _U32.unpack_from(packet.data)[0])
            return Event.RXR  # outside Opened the table does nothing with it (RFC 1661 5.8)
        return Unhandled.UNKNOWN_CODE

    def _check_echo(self, code: int, magic: int) -> None:
        # RFC 1661 5.8: an Echo carrying our own magic number means the link is looped back.
        if self.ours.magic and magic == self.ours.magic:
            self._suspect_loop(True)
        elif code == Code.ECHO_REPLY:
            self._notices.append(EchoReplied(Protocol.LCP))

    def echo_reply(self, request: ControlPacket) -> bytes | None:
        data = _U32.pack(self.ours.magic) + request.data[4:]
        return data[: max(self.peer.mru - 4, 4)]

    # ----- what the rest of the link needs -----
    @property
    def auth_we_do(self) -> AuthProtocol | None:
        """How we must authenticate to the peer (it asked in its Configure-Request)."""
        return self.peer.auth

    @property
    def auth_peer_does(self) -> AuthProtocol | None:
        """How the peer must authenticate to us (we asked and it acknowledged)."""
        return self.ours.auth


class KeepaliveAction(Enum):
    """What the keepalive wants done at its deadline."""

    SEND_ECHO = "send an Echo-Request"
    DECLARE_DEAD = "declare the peer dead"


class Keepalive:
    """LCP Echo keepalive (RFC 1661 5.8): decides when to send an Echo-Request and when
    the peer is to be declared dead. With ``only_when_idle``, an interval in which traffic
    arrived counts as proof of life and no echo is sent. Traffic is what the link reports
    through ``heard_from_peer``: not the Echo-Replies themselves, or on an idle link every
    second interval would pass without an echo."""

    def __init__(self, interval: float, failures: int, only_when_idle: bool) -> None:
        self.interval = interval
        self.failures = failures
        self.only_when_idle = only_when_idle
        self.deadline: float | None = None
        self.outstanding = 0
        self._heard = False

    def start(self, now: float) -> None:
        if self.interval > 0:
            self.deadline = now + self.interval
            self.outstanding = 0
            self._heard = False

    def stop(self) -> None:
        self.deadline = None

    def heard_from_peer(self) -> None:
        self._heard = True

    def reply_received(self) -> None:
        self.outstanding = 0

    def expire(self, now: float) -> KeepaliveAction | None:
        """At the deadline, what to do; None when nothing is due."""
        if self.deadline is None or now < self.deadline:
            return None
        self.deadline = now + self.interval
        heard, self._heard = self._heard, False
        if heard and self.only_when_idle:
            self.outstanding = 0
            return None
        if self.outstanding >= self.failures:
            self.deadline = None
            return KeepaliveAction.DECLARE_DEAD
        self.outstanding += 1
        return KeepaliveAction.SEND_ECHO
