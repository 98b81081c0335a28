"""What a running bridge knows about itself: one frozen ``BridgeState``, and its JSON.

``bridge.status_recorder.StatusRecorder`` keeps it up to date from the supervisor's
events and makes a ``BridgeState`` on demand; the control socket (``pppbridge status``)
and the metrics file read that value and nothing else. ``pppbridge info`` shows a modem
with the same parts (``ModemStatus``, ``RegistrationStatus``, ``SignalStatus``).

The JSON (``to_json``/``from_json``) is a stable interface, documented field by field in
``docs/status-json.md``: ``schema`` is ``SCHEMA_VERSION``; within one schema version no
field is removed, renamed or given another type, new fields may be added (a reader
ignores keys it does not know), and ``null`` means not known (the modem did not say, or
not yet). An incompatible change bumps ``SCHEMA_VERSION``.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Any, TypeVar

SCHEMA_VERSION = 1
T = TypeVar("T")


class Phase(Enum):
    """Where the bridge's lifecycle is (``bridge.supervisor``)."""

    STARTING = "starting"
    """Cleaning what a killed predecessor left, opening the TUN."""
    WAITING_FOR_DEVICE = "waiting-for-device"
    """The modem's device is missing or cannot be opened yet (unplugged, udev)."""
    BRINGING_UP = "bringing-up"
    """AT: synchronise, identify, SIM, PDP context, registration, signal, dial."""
    NEGOTIATING = "negotiating"
    """Dialled (CONNECT): PPP negotiates (LCP, authentication, IPCP, IPV6CP)."""
    UP = "up"
    """A network protocol is open: IP traffic flows."""
    LINK_DOWN = "link-down"
    """The call ended: the host's configuration is withdrawn, the modem hung up."""
    WAITING_TO_REDIAL = "waiting-to-redial"
    """Backing off before the next dial."""
    STOPPING = "stopping"
    """A stop signal came: LCP Terminate, hang-up, the host restored."""


REGISTRATION_STATES = {
    0: "not-registered",
    1: "home",
    2: "searching",
    3: "denied",
    4: "unknown",
    5: "roaming",
    6: "home-sms-only",
    7: "roaming-sms-only",
    8: "emergency-only",
    9: "home",
    10: "roaming",
}
"""27.007 7.2 <stat> -> ``RegistrationStatus.state`` (9 and 10: "CSFB not preferred")."""


@dataclass(frozen=True, slots=True)
class ModemStatus:
    """The modem and its SIM; each None until known."""

    device: str | None = None
    """The serial port PPP runs on (``--device``)."""
    at_port: str | None = None
    """A second AT port for commands while PPP holds ``device`` (``--at-port``)."""
    profile: str | None = None
    """The vendor profile in use: ``generic``, ``sequans``, ``telit``..."""
    maker: str | None = None
    model: str | None = None
    firmware: str | None = None
    imei: str | None = None
    edition: str | None = None
    """What the firmware edition means where the profile can tell (Sequans: ``LTE-M``
    for LR5.x, ``NB-IoT`` for LR6.x)."""
    edition_firmware: str | None = None
    """The reply line the edition was read from (Sequans ATI1: ``LR5.1.1.0-39529``)."""
    sim: str | None = None
    """The SIM's state as +CPIN? says it (27.007 8.3): ``READY``, ``SIM PIN``, ``NO SIM``."""
    iccid: str | None = None
    imsi: str | None = None


@dataclass(frozen=True, slots=True)
class RegistrationStatus:
    """The packet-domain registration (27.007 +CEREG/+CGREG) and the operator."""

    state: str
    """``home``, ``roaming``, ``searching``, ``denied``, ``not-registered``... (the
    values of ``REGISTRATION_STATES``)."""
    technology: str | None = None
    """``LTE``, ``LTE-M``, ``NB-IoT``, ``GSM``... (27.007 7.3 <AcT>, as the profile names it)."""
    operator: str | None = None
    """As +COPS? gives it: a name, or MCC and MNC digits."""
    area: str | None = None
    """Tracking (or location) area code, hex."""
    cell: str | None = None
    """Cell identity, hex."""
    age_seconds: float | None = None
    """How long ago it was read (the bridge reads it before each dial); None: just now."""

    @property
    def registered(self) -> bool:
        return self.state in ("home", "roaming")


@dataclass(frozen=True, slots=True)
class SignalStatus:
    """Received signal; each value None where the modem does not give it."""

    rssi_dbm: int | None = None
    """+CSQ (27.007 8.5), else +CESQ's rxlev."""
    rsrp_dbm: int | None = None
    """LTE reference signal received power (+CESQ, 27.007 8.69)."""
    rsrq_db: float | None = None
    """LTE reference signal received quality (+CESQ)."""
    sinr_db: float | None = None
    """Signal to interference and noise; no 27.007 command gives it (vendor commands)."""
    age_seconds: float | None = None
    """How long ago it was read (before the last dial); None: just now."""


@dataclass(frozen=True, slots=True)
class NetworkStatus:
    """The link's addresses, as negotiated (IPCP, IPV6CP) and learnt (Router Advertisement)."""

    interface: str
    mtu: int | None = None
    """The peer's MRU: the TUN's MTU."""
    ipv4: IPv4Address | None = None
    peer_ipv4: IPv4Address | None = None
    ipv6_link_local: IPv6Address | None = None
    ipv6_global: tuple[IPv6Address, ...] = ()
    """From the network's Router Advertisement (SLAAC)."""
    dns: tuple[IPv4Address | IPv6Address, ...] = ()
    """From IPCP (RFC 1877), primary first."""


@dataclass(frozen=True, slots=True)
class Counters:
    """Traffic since the bridge started, across every call (totals only ever grow)."""

    bytes_in: int = 0
    """Octets read from the serial line by the PPP deframer."""
    bytes_out: int = 0
    frames_in: int = 0
    """PPP frames received whole (good FCS)."""
    frames_out: int = 0
    packets_in: int = 0
    """IP packets received from the peer."""
    packets_out: int = 0
    drops: Mapping[str, int] = field(default_factory=dict)
    """Frames and packets dropped, by reason (``bad_fcs``, ``unknown_protocol``,
    ``tun_refused``...): the link's and the data plane's."""

    def plus(self, other: Counters) -> Counters:
        drops = dict(self.drops)
        for reason, count in other.drops.items():
            drops[reason] = drops.get(reason, 0) + count
        return Counters(
            bytes_in=self.bytes_in + other.bytes_in,
            bytes_out=self.bytes_out + other.bytes_out,
            frames_in=self.frames_in + other.frames_in,
            frames_out=self.frames_out + other.frames_out,
            packets_in=self.packets_in + other.packets_in,
            packets_out=self.packets_out + other.packets_out,
            drops=dict(sorted(drops.items())),
        )


@dataclass(frozen=True, slots=True)
class LastError:
    message: str
    """One line, as the bridge said it (``dial: the data call failed...``)."""
    age_seconds: float


@dataclass(frozen=True, slots=True)
class BridgeState:
    """Everything ``pppbridge status`` shows, at one moment."""

    instance: str
    """The bridge's name: its interface (``pppbridge0``); names its control socket."""
    pid: int
    version: str
    phase: Phase
    phase_seconds: float
    """Time in this phase."""
    uptime_seconds: float
    """Since the bridge started."""
    started_unix: float
    """When the bridge started, in seconds since the Unix epoch."""
    link_uptime_seconds: float | None
    """Since IP came up in the current call; None while the link is not up."""
    reconnects: int
    """Calls that ended other than by a stop (each followed by a new dial)."""
    last_error: LastError | None
    modem: ModemStatus
    registration: RegistrationStatus | None
    signal: SignalStatus | None
    network: NetworkStatus
    counters: Counters
    schema: int = SCHEMA_VERSION


@dataclass(frozen=True, slots=True)
class ModemInfo:
    """What ``pppbridge info`` found: a modem's identity, SIM, registration and signal."""

    modem: ModemStatus
    registration: RegistrationStatus | None
    signal: SignalStatus | None
    schema: int = SCHEMA_VERSION


# --------------------------------------------------------------------- JSON
def to_json(value: BridgeState | ModemInfo) -> dict[str, Any]:
    """The value as JSON-ready data: addresses as text, enums as their values."""
    encoded = _encode(value)
    assert isinstance(encoded, dict)
    return encoded


def _encode(value: object) -> object:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, IPv4Address | IPv6Address):
        return str(value)
    if isinstance(value, tuple | list):
        return [_encode(item) for item in value]
    if isinstance(value, Mapping):
        return {str(k): _encode(v) for k, v in value.items()}
    return value


class SchemaError(ValueError):
    """Data that is not a state of this schema version; the message says where."""


def from_json(kind: type[T], data: object) -> T:
    """A ``BridgeState`` or ``ModemInfo`` from ``to_json``'s data (as parsed from JSON);
    ``SchemaError`` if it is not one. Unknown keys are ignored; a missing key that may
    be null is None (a bridge of the same schema but older)."""
    if not isinstance(data, dict):
        raise SchemaError("not a JSON object")
    schema = data.get("schema")
    if schema != SCHEMA_VERSION:
        raise SchemaError(f"schema {schema!r}, this pppbridge reads schema {SCHEMA_VERSION}")
    return typing.cast(T, _decode(kind, data, kind.__name__))


def _decode(kind: Any, data: object, where: str) -> object:
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(kind)
        if data is None and type(None) in options:
            return None
        errors = []
        for option in (o for o in options if o is not type(None)):
            try:
                return _decode(option, data, where)
            except SchemaError as exc:
                errors.append(str(exc))
        raise SchemaError(errors[0] if len(errors) == 1 else f"{where}: {data!r} fits no type")
    if origin is tuple:
        item = typing.get_args(kind)[0]
        items = _expect(list, data, where)
        return tuple(_decode(item, v, f"{where}[{i}]") for i, v in enumerate(items))
    if origin is Mapping:
        pairs = _expect(dict, data, where)
        return {str(k): _expect(int, v, f"{where}.{k}") for k, v in pairs.items()}
    if dataclasses.is_dataclass(kind):
        return _decode_dataclass(kind, _expect(dict, data, where), where)
    if isinstance(kind, type) and issubclass(kind, Enum):
        try:
            return kind(data)
        except ValueError:
            raise SchemaError(f"{where}: {data!r} is not a known value") from None
    if kind in (IPv4Address, IPv6Address):
        try:
            address = ip_address(_expect(str, data, where))
        except ValueError:
            raise SchemaError(f"{where}: {data!r} is not an IP address") from None
        if not isinstance(address, kind):
            raise SchemaError(f"{where}: {data!r} is not an {kind.__name__}")
        return address
    if kind is float:
        if isinstance(data, bool) or not isinstance(data, int | float):
            raise SchemaError(f"{where}: {data!r} is not a number")
        return float(data)
    return _expect(kind, data, where)


def _decode_dataclass(kind: Any, data: dict[str, object], where: str) -> object:
    hints = typing.get_type_hints(kind)
    values = {}
    for f in dataclasses.fields(kind):
        hint = hints[f.name]
        if f.name in data:
            values[f.name] = _decode(hint, data[f.name], f"{where}.{f.name}")
        elif type(None) in typing.get_args(hint):
            values[f.name] = None
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise SchemaError(f"{where}: no {f.name!r}")
    return kind(**values)


def _expect(kind: type[T], data: object, where: str) -> T:
    if not isinstance(data, kind) or (kind is int and isinstance(data, bool)):
        raise SchemaError(f"{where}: {data!r} is not a {kind.__name__}")
    return data
