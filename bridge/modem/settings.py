"""What the bring-up is told: one frozen, validated ``ModemSettings``.

Every value that ends up inside an AT command line (APN, user, password, PIN, cid) is
checked here, once, when the settings are made: a double quote would end the quoted
string parameter (V.250 5.4.2.2), CR ends the command line (S3, V.250 5.2.1), LF and
other control characters mean something else to many modems, ``;`` separates commands
(V.250 5.4.1) and a backslash starts a hex escape inside strings on some modems. Anything
of the kind, and anything outside ASCII (V.250 5.1: IA5 characters), is refused with a
one-line ``UsageError`` that names the value and what is allowed. The PIN and password
are ``Secret``: they appear in no repr and no error message.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, TypeVar

from netstack.errors import UsageError
from netstack.secret import Secret

from .pdp import AuthMode, PdpType
from .profiles import PROFILES

MAX_APN = 100
"""3GPP TS 23.003 9.1: an APN is at most 100 octets."""
MAX_CREDENTIAL = 64
"""Longest user name or password accepted: refused here rather than cut by a modem."""
MAX_CID = 16
"""27.007 10.1.1 leaves the cid range to the modem (``AT+CGDCONT=?`` lists it); 1 to 16
is what the supported modems all accept."""
_APN = re.compile(r"[A-Za-z0-9._-]*")
"""23.003 9.1: labels of letters, digits and hyphens, separated by dots; underscores,
which operators' APNs sometimes carry, are harmless inside the quoted string."""
E = TypeVar("E", bound=Enum)
_PIN = re.compile(r"[0-9]{4,8}")
"""27.007 8.3 and 3GPP TS 31.101: a PIN is 4 to 8 decimal digits."""


@dataclass(frozen=True)
class ModemSettings:
    """The bring-up's configuration, checked once when made (``UsageError`` otherwise)."""

    apn: str = ""
    """The access point name; empty asks the network for its default (27.007 10.1.1)."""
    pdp: PdpType = PdpType.IPV4V6
    """The PDP type of the context."""
    cid: int = 1
    """The PDP context identifier dialled (``ATD*99***<cid>#``)."""
    pin: Secret | None = None
    """The SIM PIN, sent once when the SIM asks for it; None: the SIM must not ask."""
    user: str = ""
    """The PDP context's user name (PAP/CHAP towards the network)."""
    password: Secret = field(default_factory=lambda: Secret(""))
    """The PDP context's password."""
    auth: AuthMode | None = None
    """None: ``AUTO`` when a user or password is given, ``NONE`` otherwise."""
    profile: str | None = None
    """A vendor profile to use whatever the modem says it is (``--profile``)."""
    command_timeout: float = 5.0
    """Seconds a command may take (27.007 commands answer within a second or two)."""
    sync_timeout: float = 1.0
    """Seconds to wait for ``OK`` to each synchronising ``AT``."""
    sync_attempts: int = 10
    """``AT`` tries before the modem is declared not answering."""
    sync_interval: float = 1.0
    """Seconds between two synchronising tries."""
    registration_timeout: float = 120.0
    """Seconds to wait for registration (home or roaming)."""
    poll_interval: float = 2.0
    """Seconds between registration polls; a URC ends the wait sooner."""
    dial_timeout: float = 60.0
    """Seconds the dial may take before CONNECT."""
    escape_guard: float | None = None
    """Set the escape's guard time (V.250 S12) to this many seconds before dialling, for
    a line shared with AT by ``+++``/``ATO`` (``bridge.line_sharing``); None: left as it
    is (one second by default)."""
    dial: bool = True
    """False: attach and activate the context, but never dial (``--mode at-socket``: the
    modem's own stack carries the traffic, microATsocket's "attached and not connected");
    the bring-up ends with ``Attached`` and the context's addresses."""

    def __post_init__(self) -> None:
        _check_apn(self.apn)
        if not isinstance(self.pdp, PdpType):
            raise UsageError(f"the PDP type must be one of {_choices(PdpType)}")
        if isinstance(self.cid, bool) or not isinstance(self.cid, int):
            raise UsageError(f"the cid must be a whole number from 1 to {MAX_CID}")
        if not 1 <= self.cid <= MAX_CID:
            raise UsageError(f"the cid must be from 1 to {MAX_CID}, not {self.cid}")
        _check_pin(self.pin)
        check_at_text(self.user, "the user name", limit=MAX_CREDENTIAL)
        if not isinstance(self.password, Secret):
            raise UsageError("the password must be a netstack.secret.Secret")
        check_at_text(_revealed(self.password), "the password", limit=MAX_CREDENTIAL, secret=True)
        if self.auth is not None and not isinstance(self.auth, AuthMode):
            raise UsageError(f"the authentication must be one of {_choices(AuthMode)}")
        if self.profile is not None and self.profile not in PROFILES:
            raise UsageError(
                f"unknown modem profile {self.profile!r}; choose one of {', '.join(PROFILES)}"
            )
        for name in TIME_SETTINGS:
            _check_seconds(name, getattr(self, name))
        guard = self.escape_guard
        if guard is not None and (
            isinstance(guard, bool)
            or not isinstance(guard, int | float)
            or not 0.02 <= guard <= 5.1
        ):
            raise UsageError("the escape guard time must be from 0.02 to 5.1 seconds (V.250 S12)")
        attempts = self.sync_attempts
        if isinstance(attempts, bool) or not isinstance(attempts, int) or not 1 <= attempts <= 100:
            raise UsageError("sync_attempts must be a whole number from 1 to 100")

    @property
    def sets_authentication(self) -> bool:
        """Whether the bring-up writes the context's authentication at all: not when
        nothing was asked and there is nothing to give (the modem's setting stays)."""
        return self.auth is not None or bool(self.user or self.password)

    @property
    def authentication(self) -> AuthMode:
        """``auth``, with None resolved (see its docstring)."""
        if self.auth is not None:
            return self.auth
        return AuthMode.AUTO if self.user or self.password else AuthMode.NONE

    @classmethod
    def from_options(
        cls,
        *,
        apn: str = "",
        pdp: str = "ipv4v6",
        cid: int | str = 1,
        pin: str | None = None,
        user: str = "",
        password: str = "",
        auth: str | None = None,
        profile: str | None = None,
        **numbers: float | int,
    ) -> ModemSettings:
        """The settings from command-line strings; ``UsageError`` names a bad one.
        ``numbers`` are the timeouts, intervals and ``sync_attempts``."""
        if pin is not None and not isinstance(pin, str):
            raise UsageError("the PIN must be 4 to 8 digits")
        if not isinstance(password, str):
            raise UsageError("the password must be text")
        unknown = sorted(set(numbers) - {*TIME_SETTINGS, "sync_attempts"})
        if unknown:
            raise UsageError(f"unknown modem setting {unknown[0]!r}")
        values: dict[str, Any] = dict(numbers)
        return cls(
            apn=apn,
            pdp=_choice(PdpType, pdp, "the PDP type"),
            cid=_whole(cid, "the cid"),
            pin=None if pin is None else Secret(pin),
            user=user,
            password=Secret(password),
            auth=None if auth is None else _choice(AuthMode, auth, "the authentication"),
            profile=profile,
            **values,
        )


TIME_SETTINGS = (
    "command_timeout",
    "sync_timeout",
    "sync_interval",
    "registration_timeout",
    "poll_interval",
    "dial_timeout",
)


def check_at_text(value: str, what: str, *, limit: int, secret: bool = False) -> None:
    """Refuse ``value`` (named ``what``) if it could break out of a quoted AT string
    parameter or cannot be carried by AT at all. A secret is never shown."""
    if not isinstance(value, str):
        raise UsageError(f"{what} must be text")
    shown = "" if secret else f" {value!r}"
    for character in value:
        problem = _problem(character, secret)
        if problem is not None:
            raise UsageError(
                f"{what}{shown} holds {problem}, which an AT command cannot carry: "
                'use printable ASCII without " ; or \\'
            )
    if len(value) > limit:
        raise UsageError(f"{what}{shown} is longer than {limit} characters")


def _problem(character: str, secret: bool = False) -> str | None:
    if character == '"':
        return "a double quote"
    if character in "\r\n":
        return "a line break"
    if character == ";":
        return "a semicolon"
    if character == "\\":
        return "a backslash"
    shown = "" if secret else f" {character!r}"  # not even one character of a secret
    if not character.isascii():
        return f"a non-ASCII character{shown}"
    if not character.isprintable():
        return f"a control character{shown}"
    return None


def _check_apn(apn: str) -> None:
    check_at_text(apn, "the APN", limit=MAX_APN)
    if not _APN.fullmatch(apn):
        bad = next(c for c in apn if not _APN.fullmatch(c))
        raise UsageError(
            f"the APN {apn!r} holds {bad!r}; an APN is letters, digits, hyphens and dots "
            "(3GPP TS 23.003 9.1)"
        )


def _check_pin(pin: Secret | None) -> None:
    if pin is None:
        return
    if not isinstance(pin, Secret):
        raise UsageError("the PIN must be a netstack.secret.Secret")
    if not _PIN.fullmatch(_revealed(pin)):
        raise UsageError("the PIN must be 4 to 8 digits")


def _revealed(secret: Secret) -> str:
    """The secret as text for checking; bytes that are not ASCII become U+FFFD, refused."""
    return secret.reveal().decode("ascii", "replace")


def _check_seconds(name: str, value: object) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise UsageError(f"{name} must be a positive number of seconds, not {value!r}")


def _choices(kind: type[Enum]) -> str:
    return ", ".join(str(member.value) for member in kind)


def _choice(kind: type[E], value: str, what: str) -> E:
    try:
        return kind(str(value).lower())
    except ValueError:
        raise UsageError(f"{what} must be one of {_choices(kind)}, not {value!r}") from None


def _whole(value: int | str, what: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise UsageError(f"{what} must be a whole number, not {value!r}") from None
