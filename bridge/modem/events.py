"""Every output of the bring-up, as small frozen values.

The shell writes ``WriteModem.data`` to the serial port, logs ``Transcript`` lines at
debug level, shows the phase reports (``ModemFound``, ``SimReady``, ``Registered``,
``SignalQuality``) and ends the bring-up on ``Dialled`` (hand ``trailing`` and every
later read to the PPP deframer) or ``BringUpFailed`` (exit with the status its ``kind``
maps to). Each report has ``duration`` (seconds since the previous report, or since
``start``: the reports' durations add up to ``elapsed``) and ``elapsed`` (since ``start``).
No output shows a PIN or password: commands that carry one are shown masked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from ipaddress import IPv4Address, IPv6Address


class Step(Enum):
    """The steps of the bring-up, in order."""

    SYNC = "synchronise"
    """``AT`` until the modem answers, then ``ATE0`` and ``AT+CMEE=1``."""
    IDENTIFY = "identify"
    SIM = "SIM"
    CONTEXT = "PDP context"
    AUTH = "authentication"
    REGISTER = "registration"
    SIGNAL = "signal"
    DIAL = "dial"
    ACTIVATE = "context activation"
    """Instead of the dial when the modem is not dialled: ``+CGACT``, then the context's
    addresses (``+CGPADDR``) and DNS servers (``+CGCONTRDP``)."""


class FailureKind(Enum):
    """Why the bring-up failed: each maps to one documented exit status."""

    NOT_ANSWERING = "modem not answering"
    """No reply to AT, or the modem stopped answering: check the port, power, baud rate;
    the supervisor may send the profile's reset command."""
    SIM = "SIM problem"
    """No SIM, PIN needed or refused, PUK needed, SIM blocked or failed."""
    REGISTRATION_DENIED = "registration denied"
    REGISTRATION_TIMEOUT = "registration timeout"
    PDP = "PDP context or dial failed"
    """The context or its authentication refused, or the dial answered BUSY, NO CARRIER,
    NO ANSWER, NO DIALTONE or an error."""


@dataclass(frozen=True, slots=True)
class WriteModem:
    """Bytes to write to the modem: a command line and its CR."""

    data: bytes = field(repr=False)
    """May hold the PIN or password: never log it, log ``shown``."""
    shown: str
    """The command as it may be shown, secrets masked."""


@dataclass(frozen=True, slots=True)
class Transcript:
    """One line of the AT dialogue for a debug log: ``> command``, ``< reply``,
    ``< URC`` or ``! timeout``; secrets masked."""

    text: str


@dataclass(frozen=True, slots=True)
class ModemFound:
    maker: str | None
    model: str | None
    firmware: str | None
    imei: str | None
    profile: str
    """The vendor profile in use (``--profile`` or identified)."""
    edition: str | None
    """The firmware edition where the profile can tell it (Sequans LR5 LTE-M/LR6 NB-IoT)."""
    duration: float
    elapsed: float


@dataclass(frozen=True, slots=True)
class SimReady:
    iccid: str | None
    pin_entered: bool
    duration: float
    elapsed: float


@dataclass(frozen=True, slots=True)
class Registered:
    roaming: bool
    technology: str | None
    """From the URC's or read's <AcT>: ``LTE``, ``LTE-M``, ``NB-IoT``...; None if absent."""
    act: int | None
    command: str
    """Which registration reported it: ``+CEREG``, ``+CGREG``..."""
    area: str | None
    cell: str | None
    duration: float
    elapsed: float
    operator: str | None = None
    """The network's name, from +COPS? (27.007 7.3); None if the modem names none."""


@dataclass(frozen=True, slots=True)
class SignalQuality:
    rssi_dbm: int | None
    """From +CSQ (27.007 8.5), else +CESQ's rxlev."""
    rsrp_dbm: int | None
    """From +CESQ (27.007 8.69), LTE."""
    rsrq_db: float | None
    duration: float
    elapsed: float


@dataclass(frozen=True, slots=True)
class Dialled:
    """CONNECT: the line carries PPP from here on."""

    trailing: bytes
    """What followed CONNECT in the same read: the start of PPP, for the deframer."""
    connect_text: str
    """CONNECT's text (a rate on Quectel: ``150000000``), often empty."""
    command: str
    duration: float
    elapsed: float
    escape_guard: float = 1.0
    """The guard time of ``+++`` on this modem, in seconds (V.250 S12: ``ATS12`` set it,
    or the default)."""


@dataclass(frozen=True, slots=True)
class Attached:
    """The context is active and the modem not dialled: its own stack carries traffic
    (AT sockets). The addresses and DNS servers are the context's, as the modem read
    them (27.007 +CGPADDR, +CGCONTRDP)."""

    ipv4: IPv4Address | None
    ipv6: IPv6Address | None
    dns: tuple[IPv4Address | IPv6Address, ...]
    duration: float
    elapsed: float


@dataclass(frozen=True, slots=True)
class BringUpFailed:
    step: Step
    kind: FailureKind
    message: str
    """One line for a person: what failed, the modem's own words, what to do."""
    elapsed: float = 0.0

    def __str__(self) -> str:
        return f"{self.step.value}: {self.message}"


Report = ModemFound | SimReady | Registered | SignalQuality | Dialled | Attached
BringUpOutput = WriteModem | Transcript | Report | BringUpFailed
