"""Authentication phase: PAP (RFC 1334) and CHAP with MD5 (RFC 1994), both sides.

Each class is one direction of authentication: ``PapClient``/``ChapClient`` prove our
identity to the peer; ``PapServer``/``ChapServer`` check the peer's (the simulator's side).
They share one shape: ``start(now)``, ``receive(data, now)``, ``handle_timer(now)``, each
returning ``Transmit`` packets; ``deadline``; and ``outcome`` (``None`` while pending,
then ``Outcome``). Secrets are ``Secret`` values and never reach a repr or a message.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass

from .errors import MalformedPacket
from .fsm import Timers, Transmit
from .numbers import ChapCode, PapCode, Protocol
from .packet import ControlPacket
from .rng import Rng
from .secret import Secret
from .text import peer_text

_CHALLENGE_LEN = 16  # RFC 1994 2.3 leaves it open; pppd uses 16 to 24 octets


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    detail: str


class Authentication:
    """Shared plumbing: a retransmitted packet and a bounded number of tries."""

    protocol: int = 0

    def __init__(self, timers: Timers) -> None:
        self.timers = timers
        self.deadline: float | None = None
        self.outcome: Outcome | None = None
        self.dropped = 0
        self._pending: ControlPacket | None = None
        self._tries = 0

    @property
    def name(self) -> str:
        return "PAP" if self.protocol == Protocol.PAP else "CHAP-MD5"

    def start(self, now: float) -> list[Transmit]:
        return []

    def next_deadline(self) -> float | None:
        return self.deadline

    def receive(self, data: bytes, now: float) -> list[Transmit]:
        try:
            return self._receive(ControlPacket.parse(data), now)
        except MalformedPacket:
            self.dropped += 1
            return []

    def _receive(self, packet: ControlPacket, now: float) -> list[Transmit]:
        raise NotImplementedError

    def handle_timer(self, now: float) -> list[Transmit]:
        if self.deadline is None or now < self.deadline:
            return []
        if self._pending is None or self._tries >= self.timers.max_configure:
            self.deadline = None
            self._finish(False, f"{self.name}: no answer from the peer")
            return []
        return self._send(self._pending, now)

    def _send(self, packet: ControlPacket, now: float) -> list[Transmit]:
        self._pending = packet
        self._tries += 1
        self.deadline = now + self.timers.restart_interval
        return [Transmit(self.protocol, packet.emit())]

    def _wait(self, now: float) -> None:
        """Wait for the peer to speak first, as long as Max-Configure restarts would take."""
        self._pending = None
        self._tries = self.timers.max_configure
        self.deadline = now + self.timers.restart_interval * self.timers.max_configure

    def _finish(self, ok: bool, detail: str) -> None:
        if self.outcome is None or self.outcome.ok:
            self.outcome = Outcome(ok, detail)
        self._pending = None
        self.deadline = None


def _field(data: bytes, offset: int) -> tuple[bytes, int]:
    """A one-octet length followed by that many octets (RFC 1334 2.2.1)."""
    if offset >= len(data) or offset + 1 + data[offset] > len(data):
        raise MalformedPacket("length-prefixed field runs past the packet")
    end = offset + 1 + data[offset]
    return data[offset + 1 : end], end


class PapClient(Authentication):
    """RFC 1334 2: send Authenticate-Request until Ack or Nak."""

    protocol = Protocol.PAP

    def __init__(self, timers: Timers, username: str, password: Secret, rng: Rng) -> None:
        super().__init__(timers)
        self._username = username.encode()
        self._password = password
        self._identifier = rng.randrange(256)

    def __repr__(self) -> str:
        return f"<PapClient user={self._username!r} outcome={self.outcome}>"

    def start(self, now: float) -> list[Transmit]:
        secret = self._password.reveal()
        data = bytes((len(self._username),)) + self._username + bytes((len(secret),)) + secret
        return self._send(ControlPacket(PapCode.AUTHENTICATE_REQUEST, self._identifier, data), now)

    def _receive(self, packet: ControlPacket, now: float) -> list[Transmit]:
        if self._pending is None or packet.identifier != self._pending.identifier:
            self.dropped += 1
            return []
        message = _message(packet.data)
        if packet.code == PapCode.AUTHENTICATE_ACK:
            self._finish(True, f"PAP accepted {message}".strip())
        elif packet.code == PapCode.AUTHENTICATE_NAK:
            self._finish(False, f"PAP refused by the peer {message}".strip())
        else:
            self.dropped += 1
        return []


def _message(data: bytes) -> str:
    """The peer's Msg field (RFC 1334 2.2.2), printable and short, for a person to read."""
    try:
        text, _ = _field(data, 0)
    except MalformedPacket:
        return ""
    return _quoted(text)


def _quoted(text: bytes) -> str:
    shown = peer_text(text)
    return f"({shown!r})" if shown else ""


class PapServer(Authentication):
    """RFC 1334 2: check the peer's Authenticate-Request against our secrets."""

    protocol = Protocol.PAP

    def __init__(self, timers: Timers, secrets: Mapping[str, Secret]) -> None:
        super().__init__(timers)
        self._secrets = secrets
        self._answer: ControlPacket | None = None

    def __repr__(self) -> str:
        return f"<PapServer users={sorted(self._secrets)} outcome={self.outcome}>"

    def start(self, now: float) -> list[Transmit]:
        self._wait(now)
        return []

    def _receive(self, packet: ControlPacket, now: float) -> list[Transmit]:
        if packet.code != PapCode.AUTHENTICATE_REQUEST:
            self.dropped += 1
            return []
        if self._answer is not None and self._answer.identifier == packet.identifier:
            return [Transmit(self.protocol, self._answer.emit())]  # our answer was lost
        user, offset = _field(packet.data, 0)
        password, _ = _field(packet.data, offset)
        name = user.decode("utf-8", "replace")
        expected = self._secrets.get(name)
        ok = expected is not None and hmac.compare_digest(expected.reveal(), password)
        code = PapCode.AUTHENTICATE_ACK if ok else PapCode.AUTHENTICATE_NAK
        text = b"Login ok" if ok else b"Login incorrect"
        self._answer = ControlPacket(code, packet.identifier, bytes((len(text),)) + text)
        self._finish(ok, f"PAP {'accepted' if ok else 'refused'} user {name!r}")
        return [Transmit(self.protocol, self._answer.emit())]


def chap_md5(identifier: int, secret: bytes, challenge: bytes) -> bytes:
    """RFC 1994 2.2 / RFC 1321: MD5 over Identifier, secret and Challenge Value."""
    return hashlib.md5(bytes((identifier,)) + secret + challenge).digest()


def _chap_value(data: bytes) -> tuple[bytes, bytes]:
    """RFC 1994 4.1: Value-Size, Value, then Name up to the end of the packet."""
    value, end = _field(data, 0)
    return value, data[end:]


class ChapClient(Authentication):
    """RFC 1994 4: answer every Challenge (re-challenges too, while Opened)."""

    protocol = Protocol.CHAP

    def __init__(self, timers: Timers, username: str, password: Secret) -> None:
        super().__init__(timers)
        self._username = username.encode()
        self._password = password
        self._answered: int | None = None

    def __repr__(self) -> str:
        return f"<ChapClient user={self._username!r} outcome={self.outcome}>"

    def start(self, now: float) -> list[Transmit]:
        self._wait(now)
        return []

    def _receive(self, packet: ControlPacket, now: float) -> list[Transmit]:
        if packet.code == ChapCode.CHALLENGE:
            challenge, _ = _chap_value(packet.data)
            response = chap_md5(packet.identifier, self._password.reveal(), challenge)
            self._answered = packet.identifier
            self._tries = 0
            data = bytes((len(response),)) + response + self._username
            # Retransmitted until Success or Failure: that answer may be lost, and RFC 1994
            # 4.2 has the authenticator repeat it for a repeated Response.
            return self._send(ControlPacket(ChapCode.RESPONSE, packet.identifier, data), now)
        if packet.identifier != self._answered:
            self.dropped += 1
        elif packet.code == ChapCode.SUCCESS:
            self._finish(True, "CHAP accepted")
        elif packet.code == ChapCode.FAILURE:
            self._finish(False, f"CHAP refused by the peer {_quoted(packet.data)}".strip())
        else:
            self.dropped += 1
        return []


class ChapServer(Authentication):
    """RFC 1994 4: challenge the peer, check its Response; re-challenge periodically."""

    protocol = Protocol.CHAP

    def __init__(
        self,
        timers: Timers,
        secrets: Mapping[str, Secret],
        hostname: str,
        rng: Rng,
        rechallenge_interval: float = 0.0,
    ) -> None:
        super().__init__(timers)
        self._secrets = secrets
        self._hostname = hostname.encode()
        self._rng = rng
        self._rechallenge_interval = rechallenge_interval
        self._identifier = rng.randrange(256)
        self._challenge = b""
        self._answer: ControlPacket | None = None
        self._rechallenge_at: float | None = None

    def __repr__(self) -> str:
        return f"<ChapServer users={sorted(self._secrets)} outcome={self.outcome}>"

    def start(self, now: float) -> list[Transmit]:
        self._tries = 0
        return self._challenge_again(now)

    def _challenge_again(self, now: float) -> list[Transmit]:
        # RFC 1994 4.1: "The Identifier field MUST be changed each time a Challenge is
        # sent", and the Value "SHOULD be changed" too: a retransmission is a new
        # Challenge, and a Response to an earlier one no longer counts.
        self._identifier = (self._identifier + 1) & 0xFF
        self._challenge = self._rng.getrandbits(8 * _CHALLENGE_LEN).to_bytes(_CHALLENGE_LEN)
        self._answer = None
        data = bytes((len(self._challenge),)) + self._challenge + self._hostname
        return self._send(ControlPacket(ChapCode.CHALLENGE, self._identifier, data), now)

    def handle_timer(self, now: float) -> list[Transmit]:
        if self._rechallenge_at is not None and now >= self._rechallenge_at:
            self._rechallenge_at = None
            return self.start(now)  # RFC 1994 3: challenges may be repeated while Opened
        if self._pending is not None and self.deadline is not None and now >= self.deadline:
            if self._tries < self.timers.max_configure:
                return self._challenge_again(now)
        return super().handle_timer(now)

    def next_deadline(self) -> float | None:
        times = [t for t in (self.deadline, self._rechallenge_at) if t is not None]
        return min(times) if times else None

    def _receive(self, packet: ControlPacket, now: float) -> list[Transmit]:
        if packet.code != ChapCode.RESPONSE or packet.identifier != self._identifier:
            self.dropped += 1
            return []
        if self._answer is not None:  # RFC 1994 4.2: our Success/Failure was lost; repeat it
            return [Transmit(self.protocol, self._answer.emit())]
        value, name_bytes = _chap_value(packet.data)
        name = name_bytes.decode("utf-8", "replace")
        secret = self._secrets.get(name)
        ok = secret is not None and hmac.compare_digest(
            value, chap_md5(self._identifier, secret.reveal(), self._challenge)
        )
        code = ChapCode.SUCCESS if ok else ChapCode.FAILURE
        self._answer = ControlPacket(
            code, packet.identifier, b"Welcome" if ok else b"Access denied"
        )
        self._finish(ok, f"CHAP {'accepted' if ok else 'refused'} user {name!r}")
        if ok and self._rechallenge_interval > 0:
            self._rechallenge_at = now + self._rechallenge_interval
        return [Transmit(self.protocol, self._answer.emit())]
