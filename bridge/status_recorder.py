"""The bridge's status, kept up to date from what the supervisor sees.

``StatusRecorder`` is the one mutable record of ``bridge.status``: the supervisor feeds
it the values it already has (the bring-up's reports, the link's events, its own phase
changes and failures) and anyone reads a frozen ``BridgeState`` from ``snapshot(now)``
(the control socket, the metrics writer). It does no I/O and keeps no clock: every call
that depends on time takes ``now`` (the event loop's ``loop.time()``).

Call order (the supervisor's): ``phase(...)`` as the lifecycle moves; ``report(r, now)``
with every bring-up report; ``carrying(counters)`` when a call's data plane starts, then
``link_event(e, now)`` with every event of the link, ``ipv6_globals(...)`` after each
Router Advertisement applied, and ``call_ended()`` when the data plane stops (its
counters are added to the totals); ``failure(why, now)`` whenever a failure is counted;
``reconnected()`` when a call ends other than by a stop.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, replace
from ipaddress import IPv4Address, IPv6Address

from netstack.atsocket_events import AtSocketStatistics
from netstack.events import LcpUp, LinkDown, LinkRenegotiating, LinkUp, Output
from netstack.link import LinkStatistics

from . import __version__
from .modem.events import Dialled, ModemFound, Registered, Report, SignalQuality, SimReady
from .status import (
    BridgeState,
    Counters,
    LastError,
    ModemStatus,
    NetworkStatus,
    Phase,
    RegistrationStatus,
    SignalStatus,
)


def counters_of(statistics: LinkStatistics, plane_drops: Mapping[str, int]) -> Counters:
    """One call's counters: the link's (``Link.statistics()``) and the data plane's drops
    (``DataPlane.drops``)."""
    own = Counters(
        bytes_in=statistics.bytes_in,
        bytes_out=statistics.bytes_out,
        frames_in=statistics.frames_in,
        frames_out=statistics.frames_out,
        packets_in=statistics.packets_in,
        packets_out=statistics.packets_out,
        drops={k: v for k, v in statistics.drops.items() if v},
    )
    return own.plus(Counters(drops={k: v for k, v in plane_drops.items() if v}))


NOT_DROPS = frozenset(
    {
        "packets_from_tun",
        "packets_to_tun",
        "datagrams_sent",
        "bytes_sent",
        "datagrams_received",
        "bytes_received",
        "sockets_opened",
        "sockets_closed_idle",
        "sockets_evicted",
        "sockets_closed_by_modem",
        "rings",
        "empty_reads",
        "echo_requests",
        "echo_replies",
        "icmp_errors_sent",
    }
)
"""The AT-socket bridge's counters of traffic and housekeeping; every other one counts
packets refused, absorbed or lost, by reason (``at_socket_<reason>`` in ``drops``)."""


def at_socket_counters(statistics: AtSocketStatistics, plane_drops: Mapping[str, int]) -> Counters:
    """The AT-socket plane's counters (``AtSocketBridge.statistics()``): its packets as
    the call's packets, its payload bytes as bytes, every refusal and drop by reason."""
    counts = asdict(statistics)
    drops = {f"at_socket_{k}": v for k, v in counts.items() if v and k not in NOT_DROPS}
    drops.update({k: v for k, v in plane_drops.items() if v})
    return Counters(
        bytes_in=statistics.bytes_received,
        bytes_out=statistics.bytes_sent,
        packets_in=statistics.packets_to_tun,
        packets_out=statistics.packets_from_tun,
        drops=drops,
    )


class StatusRecorder:
    def __init__(
        self,
        instance: str,
        *,
        now: float,
        started_unix: float,
        device: str | None = None,
        at_port: str | None = None,
        pid: int | None = None,
    ) -> None:
        self.instance = instance
        self._started = now
        self._started_unix = started_unix
        self._pid = os.getpid() if pid is None else pid
        self._phase = Phase.STARTING
        self._phase_since = now
        self._link_since: float | None = None
        self._modem = ModemStatus(device=device, at_port=at_port)
        self._registration: tuple[RegistrationStatus, float] | None = None
        self._signal: tuple[SignalStatus, float] | None = None
        self._network = NetworkStatus(instance)
        self._totals = Counters()
        self._current: Callable[[], Counters] | None = None
        self._error: tuple[str, float] | None = None
        self.reconnects = 0

    # ------------------------------------------------------------- lifecycle
    def phase(self, phase: Phase, now: float) -> None:
        if phase is not self._phase:
            self._phase, self._phase_since = phase, now

    def failure(self, message: str, now: float) -> None:
        """A failure the supervisor counted (the line it said), kept as the last error."""
        self._error = (message, now)

    def reconnected(self) -> None:
        self.reconnects += 1

    # ---------------------------------------------------------------- modem
    def report(self, report: Report, now: float) -> None:
        """A report of the bring-up (``bridge.modem.events``)."""
        if isinstance(report, ModemFound):
            self._modem = replace(
                self._modem,
                profile=report.profile,
                maker=report.maker,
                model=report.model,
                firmware=report.firmware,
                imei=report.imei,
                edition=report.edition,
            )
        elif isinstance(report, SimReady):
            self._modem = replace(self._modem, sim="READY", iccid=report.iccid)
        elif isinstance(report, Registered):
            status = RegistrationStatus(
                state="roaming" if report.roaming else "home",
                technology=report.technology,
                operator=report.operator,
                area=report.area,
                cell=report.cell,
            )
            self._registration = (status, now)
        elif isinstance(report, SignalQuality):
            signal = SignalStatus(report.rssi_dbm, report.rsrp_dbm, report.rsrq_db)
            self._signal = (signal, now)
        elif isinstance(report, Dialled):
            self.phase(Phase.NEGOTIATING, now)

    # ----------------------------------------------------------------- link
    def carrying(self, counters: Callable[[], Counters]) -> None:
        """A call's data plane started; ``counters`` reads its counters (``counters_of``)."""
        self.call_ended()
        self._current = counters

    def call_ended(self) -> None:
        """The data plane stopped: its counters join the totals, for good."""
        if self._current is not None:
            self._totals = self._totals.plus(self._current())
            self._current = None

    def link_event(self, event: Output, now: float) -> None:
        """An event of the link (``netstack.events``); packets and writes are ignored."""
        if isinstance(event, LcpUp):
            self._network = replace(self._network, mtu=event.mtu)
        elif isinstance(event, LinkUp):
            info = event.info
            self._network = replace(
                self._network,
                mtu=info.mtu,
                ipv4=info.local_ipv4,
                peer_ipv4=info.peer_ipv4,
                ipv6_link_local=info.local_ipv6_link_local,
                dns=tuple(info.dns),
            )
            if self._link_since is None:
                self._link_since = now
            self.phase(Phase.UP, now)
        elif isinstance(event, LinkRenegotiating):
            self.phase(Phase.NEGOTIATING, now)
        elif isinstance(event, LinkDown):
            self._network = NetworkStatus(self.instance)
            self._link_since = None
            self.phase(Phase.LINK_DOWN, now)

    def at_sockets_up(
        self, address: IPv6Address, dns: Iterable[IPv4Address | IPv6Address], mtu: int, now: float
    ) -> None:
        """IPv6 through the modem's AT sockets (``--mode at-socket``) is configured."""
        self._network = replace(self._network, mtu=mtu, ipv6_global=(address,), dns=tuple(dns))
        if self._link_since is None:
            self._link_since = now
        self.phase(Phase.UP, now)

    def ipv6_globals(self, addresses: Iterable[IPv6Address]) -> None:
        """The global addresses the host has now (``HostConfig.ipv6_globals``)."""
        self._network = replace(self._network, ipv6_global=tuple(addresses))

    # ---------------------------------------------------------------- read
    def counters(self) -> Counters:
        current = self._current() if self._current is not None else Counters()
        return self._totals.plus(current)

    def snapshot(self, now: float) -> BridgeState:
        registration = signal = None
        if self._registration is not None:
            status, at = self._registration
            registration = replace(status, age_seconds=now - at)
        if self._signal is not None:
            measured, at = self._signal
            signal = replace(measured, age_seconds=now - at)
        error = None if self._error is None else LastError(self._error[0], now - self._error[1])
        return BridgeState(
            instance=self.instance,
            pid=self._pid,
            version=__version__,
            phase=self._phase,
            phase_seconds=now - self._phase_since,
            uptime_seconds=now - self._started,
            started_unix=self._started_unix,
            link_uptime_seconds=None if self._link_since is None else now - self._link_since,
            reconnects=self.reconnects,
            last_error=error,
            modem=self._modem,
            registration=registration,
            signal=signal,
            network=self._network,
            counters=self.counters(),
        )
