"""Everything ``pppbridge simulate`` can be told: the profile and the faults to play.

One frozen value, checked once (``UsageError`` with a message a person can act on). The
faults that can also change while a session runs (over the control socket) start from
here and live on in the modem's mutable state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum

from netstack.errors import UsageError
from netstack.secret import Secret

from ..numbers import number  # the one number check (also imported from here)


class Registration(Enum):
    """What the network answers to the modem's attach (27.007 +CREG <stat>)."""

    HOME = 1
    ROAMING = 5
    DENIED = 3
    SEARCHING = 2
    """Never finds a network."""


class DialResult(Enum):
    CONNECT = "connect"
    NO_CARRIER = "no-carrier"
    BUSY = "busy"
    NO_DIALTONE = "no-dialtone"
    NO_ANSWER = "no-answer"


class NetworkAuth(Enum):
    """The authentication the network asks of the PPP client when the PDP context has none."""

    NONE = "none"
    PAP = "pap"
    CHAP = "chap"


BAUD_RATES = (9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600)


@dataclass(frozen=True)
class SimSettings:
    profile: str = "generic"
    """Vendor profile name (``bridge.simulator.profiles.PROFILES``)."""
    pin: str | None = field(default=None, repr=False)
    """The SIM asks for this PIN at start; None: no PIN lock."""
    puk: str = field(default="12345678", repr=False)
    """Unblocks the SIM after three wrong PINs."""
    registration: Registration = Registration.HOME
    registration_delay: float = 0.0
    """Seconds from radio on (with SIM ready) to the registration result."""
    pdp_refuse: bool = False
    """+CGACT (and dialling) is refused by the network."""
    refuse_code: int = 133
    """The +CME ERROR code of a refused activation (133: service option not subscribed)."""
    dial_result: DialResult = DialResult.CONNECT
    auth: NetworkAuth = NetworkAuth.NONE
    user: str = "test"
    password: Secret = field(default_factory=lambda: Secret("secret"))
    """Credentials the network accepts when it requires PAP/CHAP and +CGAUTH set none."""
    reject_ipv6cp: bool = False
    """Protocol-Reject IPV6CP: PPP without IPv6, common on NB-IoT."""
    drop_after: float | None = None
    """Seconds after CONNECT to drop the carrier (NO CARRIER, no LCP Terminate)."""
    terminate_after: float | None = None
    """Seconds after CONNECT to send LCP Terminate-Request."""
    silent_after: float | None = None
    """Seconds after CONNECT to go silent (nothing sent, echoes unanswered)."""
    renegotiate_after: float | None = None
    """Seconds after CONNECT to renegotiate LCP while Opened."""
    corrupt_rate: float = 0.0
    """Fraction (0..1) of PPP frames sent with a corrupted byte (bad FCS)."""
    baud: int | None = None
    """Throttle the line to this rate (10 bits a byte); None: unlimited."""
    latency: float = 0.0
    """Seconds added to every packet in each direction between the link and the network."""
    messy: bool = False
    """Behave like logs from real devices: split replies, URCs mid-response, and so on."""
    quirks: bool = True
    """Play the profile's PPP quirk."""
    seed: int | None = None
    """Seed of the fault dice (corruption, messy splits); None: random."""
    ipv6_only: bool = False
    """The network grants IPv6 only: an IPV4V6 context comes up with an IPv6 address alone,
    an IP context is refused (``refuse_code``), as on IPv6-only NB-IoT networks."""
    attached: bool = False
    """The default context (cid 1) is active as soon as the modem is registered (LTE's
    default EPS bearer): +CGPADDR answers and sockets work with no dial and no +CGACT."""
    at_line_limit: int | None = None
    """Characters of a command line the modem keeps; None: the profile's own limit. Pycom
    GPy/FiPy firmware cuts commands at 124 characters (``LTE_AT_CMD_SIZE_MAX`` 128 less 4)."""

    def __post_init__(self) -> None:
        from .profiles import PROFILES

        if self.profile not in PROFILES:
            raise UsageError(
                f"unknown profile {self.profile!r}; choose one of {', '.join(PROFILES)}"
            )
        if self.pin is not None and not (self.pin.isdigit() and 4 <= len(self.pin) <= 8):
            raise UsageError("the SIM PIN must be 4 to 8 digits")
        if not (self.puk.isdigit() and len(self.puk) == 8):
            raise UsageError("the SIM PUK must be 8 digits")
        for name, (switch, high) in _NUMBERS.items():
            value = getattr(self, name)
            if value is not None:
                number(value, switch, high=high)
        if self.baud is not None and self.baud not in BAUD_RATES:
            rates = ", ".join(str(rate) for rate in BAUD_RATES)
            raise UsageError(f"baud rate {self.baud} is not one of {rates} (or unlimited)")
        if self.at_line_limit is not None and not 8 <= self.at_line_limit <= 65536:
            raise UsageError("--at-line-limit must be between 8 and 65536 characters")
        if not 1 <= self.refuse_code <= 999:
            raise UsageError("the +CME ERROR code must be between 1 and 999")
        if not isinstance(self.password, Secret):
            raise UsageError("password must be a netstack.secret.Secret")


_NUMBERS = {
    "registration_delay": ("--registration-delay", math.inf),
    "latency": ("--latency", math.inf),
    "drop_after": ("--drop-after", math.inf),
    "terminate_after": ("--terminate-after", math.inf),
    "silent_after": ("--silent-after", math.inf),
    "renegotiate_after": ("--renegotiate-after", math.inf),
    "corrupt_rate": ("--corrupt", 1.0),
}
"""The number fields of ``SimSettings``: the switch that sets each one, its upper bound."""
