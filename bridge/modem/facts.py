"""What the bring-up has learnt from the modem, and the phase reports made from it.

``Facts`` is the one mutable record the script's readers write to; ``report`` turns it
into the frozen report that ends a step (``events.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address

from .events import ModemFound, Registered, Report, SignalQuality, SimReady, Step
from .parsers import PdpContext, Registration, Signal, parse_registration
from .profiles import ModemProfile
from .settings import ModemSettings


@dataclass(eq=False)
class Facts:
    settings: ModemSettings
    profile: ModemProfile
    """``--profile``, else generic until identification picks one."""
    maker: str | None = None
    model: str | None = None
    firmware: str | None = None
    imei: str | None = None
    edition: str | None = None
    sim: str | None = None
    """The last +CPIN state read: ``READY``, ``SIM PIN``..."""
    pin_sent: bool = False
    """The PIN went to the modem: it is never sent a second time."""
    sim_waits: int = 0
    iccid: str | None = None
    operator: str | None = None
    """The network's name, from +COPS? once registered."""
    contexts: tuple[PdpContext, ...] = ()
    registrations: dict[str, Registration] = field(default_factory=dict)
    """The latest status by command, from reads and URCs alike."""
    signal: Signal = field(default_factory=Signal)
    sync_tries: int = 0
    escape_guard: float = 1.0
    """V.250 S12's default, or what ``ATS12`` set."""
    context_ipv4: IPv4Address | None = None
    context_ipv6: IPv6Address | None = None
    """The active context's addresses (+CGPADDR), when the modem is not dialled."""
    context_dns: tuple[IPv4Address | IPv6Address, ...] = ()
    """Its DNS servers (+CGCONTRDP)."""
    step_started: dict[Step, float] = field(default_factory=dict)

    def note_registration(self, line: str) -> bool:
        """Keep ``line`` if it is a registration status of the profile's commands, read
        once the registration step has begun (what came before is stale)."""
        if Step.REGISTER not in self.step_started:
            return False
        status = parse_registration(line, self.profile.registration)
        if status is None:
            return False
        self.registrations[status.command] = status
        return True

    def registered(self) -> Registration | None:
        return next((r for r in self.registrations.values() if r.registered), None)

    def denied(self) -> Registration | None:
        return next((r for r in self.registrations.values() if r.denied), None)


def _modem_found(facts: Facts, duration: float, elapsed: float) -> Report:
    return ModemFound(
        maker=facts.maker,
        model=facts.model,
        firmware=facts.firmware,
        imei=facts.imei,
        profile=facts.profile.name,
        edition=facts.edition,
        duration=duration,
        elapsed=elapsed,
    )


def _sim_ready(facts: Facts, duration: float, elapsed: float) -> Report:
    return SimReady(facts.iccid, facts.pin_sent, duration, elapsed)


def _registered(facts: Facts, duration: float, elapsed: float) -> Report | None:
    status = facts.registered()
    if status is None:
        return None
    return Registered(
        roaming=status.roaming,
        technology=None
        if status.act is None
        else facts.profile.access_technologies.get(status.act, f"AcT {status.act}"),
        act=status.act,
        command=status.command,
        area=status.area,
        cell=status.cell,
        duration=duration,
        elapsed=elapsed,
        operator=facts.operator,
    )


def _signal(facts: Facts, duration: float, elapsed: float) -> Report:
    signal = facts.signal
    return SignalQuality(signal.rssi_dbm, signal.rsrp_dbm, signal.rsrq_db, duration, elapsed)


REPORTS: dict[Step, Callable[[Facts, float, float], Report | None]] = {
    Step.IDENTIFY: _modem_found,
    Step.SIM: _sim_ready,
    Step.REGISTER: _registered,
    Step.SIGNAL: _signal,
}
"""The report that ends each step that has one (the dial's is ``Dialled``)."""
