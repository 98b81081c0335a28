"""One AT terminal of the simulated modem, and the line-level pieces the modem uses on it.

A USB modem shows several terminals (ttyUSB0, ttyUSB2...) that talk to the same modem:
one may carry PPP while another still takes AT commands (reference 8, "second channel
while PPP runs"). Each ``AtPort`` keeps what is that terminal's own: the command line
being typed, V.250 settings E, V and Q (each port has its own, as on real modems), a
payload expected after a data prompt, a command that goes on after its first lines
(``Final.PENDING``) with the input typed meanwhile, and the URCs held until the terminal
can take them. The modem's state (SIM, registration, contexts, sockets) is shared.

The first port is the modem's data port (``WriteSerial``); the second, ``--at-port``,
only takes AT (``WriteAtPort``): no dial, no ``+++``.

Also here: ``EscapeDetector`` (``+++`` between guard times) and the transcript helpers
``printable`` and ``masked``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from .at_results import Reply
from .profiles import PROFILES

MAIN = "main"
AUX = "at-port"


@dataclass(frozen=True)
class WriteAtPort:
    """Bytes for the second AT terminal (``--at-port``)."""

    data: bytes


@dataclass
class PayloadWait:
    """After a data prompt: ``size`` bytes to take, then ``finish`` gives the result."""

    size: int
    finish: Callable[[bytes, float], Reply]
    deadline: float
    data: bytearray = field(default_factory=bytearray)


@dataclass
class AtPort:
    name: str
    """``MAIN`` (the data port) or ``AUX`` (``--at-port``)."""
    echo: bool = True
    verbose: bool = True
    quiet: bool = False
    line: bytearray = field(default_factory=bytearray)
    """The command line typed so far."""
    last_line: str = ""
    """For ``A/``."""
    payload: PayloadWait | None = None
    pending: bool = False
    """A command goes on (``Final.PENDING``); input waits in ``deferred``."""
    deferred: bytearray = field(default_factory=bytearray)
    held_urcs: list[str] = field(default_factory=list)
    """URCs that came while the port could not show them."""

    def reset(self) -> None:
        """ATZ / AT&F: the V.250 settings back to their defaults."""
        self.echo, self.verbose, self.quiet = True, True, False


class PortSetting:
    """A V.250 setting of the modem (``modem.echo``) that is the current port's own."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, modem: object, owner: type | None = None) -> bool:
        return bool(getattr(modem.port, self.name))  # type: ignore[attr-defined]

    def __set__(self, modem: object, value: bool) -> None:
        setattr(modem.port, self.name, value)  # type: ignore[attr-defined]


@dataclass
class LaterAnswer:
    """The end of a command that goes on (a vendor's ping): its lines and final result
    go to the port that typed it, whenever they come (``Modem.answer_later``)."""

    line: Callable[[str], None]
    finish: Callable[[Reply], None]


class EscapeDetector:
    """``+++`` with a guard time of silence before and after (V.250 6.3.x, S2/S12).

    Pluses that turn out to be data are handed back to be fed to PPP.
    """

    def __init__(self) -> None:
        self.deadline: float | None = None
        self._held = b""
        self._last = 0.0

    def reset(self, now: float) -> None:
        self.deadline, self._held, self._last = None, b"", now

    def feed(self, data: bytes, now: float, guard: float) -> list[bytes]:
        quiet_before = now - self._last >= guard
        self._last = now
        if self._held:
            candidate = self._held + data
            if candidate.strip(b"+") == b"" and len(candidate) <= 3:
                self._held = candidate
                self.deadline = now + guard
                return []
            held, self._held, self.deadline = self._held, b"", None
            return [held + data]
        if quiet_before and data.strip(b"+") == b"" and len(data) <= 3:
            self._held = data
            self.deadline = now + guard
            return []
        return [data]

    def expire(self, now: float) -> bytes | None:
        """At the deadline: ``b"+++"`` for an escape, other held bytes to pass on as data."""
        if self.deadline is None or now < self.deadline:
            return None
        held, self._held, self.deadline = self._held, b"", None
        return held


_SECRET_COMMANDS = sorted(
    {"+CPIN", "+CGAUTH", "+CLCK", "+CPWD"}
    | {p.vendor_auth.command for p in PROFILES.values() if p.vendor_auth is not None}
)
_SECRET_ARGS = re.compile(
    "(" + "|".join(re.escape(name) for name in _SECRET_COMMANDS) + r')=(?:"[^"]*"|[^;"])*',
    re.IGNORECASE | re.DOTALL,
)
"""The arguments of the commands that carry PINs and passwords, hidden in the transcript."""


def printable(text: str | bytes) -> str:
    """A line for the transcript: payload bytes shown as escapes, never as raw controls."""
    if isinstance(text, str):
        text = text.encode("latin-1", "replace")
    return "".join(chr(b) if 0x20 <= b < 0x7F else f"\\x{b:02x}" for b in text)


def masked(line: str) -> str:
    """The command line for the transcript, with PINs and passwords hidden."""
    return _SECRET_ARGS.sub(r"\1=<hidden>", line)
