"""``pppbridge run``: the lifecycle around one modem, kept up until stopped.

    start: clean what a killed predecessor left, open the TUN (a user mistake shows now,
           before the modem is touched)
    loop:  open the serial port (wait for it to appear) -> bring-up (AT, until CONNECT)
           -> PPP on the data plane, host configured as each layer comes up
           (``--mode at-socket``: bring-up until the context is active, never dialled ->
           the modem's own sockets carry IPv6 on the AT-socket plane; ``--at-port``: the
           same beside PPP, for IPv6 that PPP cannot carry)
           -> link down: host configuration withdrawn, modem hung up
           -> stop, or wait (exponential backoff with jitter) and dial again
    end:   LCP Terminate, hang up, everything restored

What ends the loop (``RunEnded`` with an exit status, ``bridge.run_exit``): a stop
signal (0), a fatal problem that redialling cannot fix (SIM, registration denied, PPP
authentication refused), a modem that stays silent even after a reset, or ``--maxfail``
failures in a row. A session that stayed up ``STABLE_SESSION`` seconds resets the count.

Phases are reported to ``say`` as one line each, with durations, as they pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from ipaddress import IPv6Address
from typing import TypeVar

from netstack.atsocket import AtSocketBridge
from netstack.config import LinkConfig
from netstack.events import (
    Authenticated,
    DownReason,
    Ipv6Unavailable,
    LcpUp,
    LinkDown,
    LinkInfo,
    LinkRenegotiating,
    LinkUp,
    Output,
)
from netstack.link import Link
from netstack.ra import (
    RouterAdvertisement,
    build_router_solicitation,
    parse_router_advertisement,
)

from . import atsocket_session
from .at_pump import pump
from .atsocket_plane import AtSocketPlane
from .capabilities import CAP_NET_ADMIN, CAP_SYS_ADMIN, keep_only
from .capture import FrameTap, SerialTap
from .data_plane import DataPlane
from .device_watch import wait_for_device
from .errors import DeviceError, HostSetupError
from .hooks import HookContext, run_hook
from .line_sharing import EscapeIgnored, LineLost, LineSharing
from .modem import (
    PROFILES,
    Attached,
    BringUpFailed,
    Dialled,
    FailureKind,
    ModemFound,
    Registered,
    SignalQuality,
    SimReady,
)
from .modem.context_read import ContextRead
from .modem.events import Report
from .modem_session import BringUpError, bring_up, bring_up_limit, hang_up, reset_modem
from .netconfig import HostConfig
from .run_exit import RunEnded, RunExit
from .run_settings import RunSettings
from .serial_port import SerialPort, check_device
from .status import Counters, Phase
from .status_recorder import StatusRecorder, at_socket_counters, counters_of
from .tun import TunDevice
from .waiting import first_of

T = TypeVar("T")
log = logging.getLogger("pppbridge")
STABLE_SESSION = 60.0
"""Seconds a session must stay up for its end not to count as a failure in a row."""
MAX_BACKOFF = 120.0
"""The longest wait between two dials."""
TERMINATE_WAIT = 4.0
"""How long LCP's Terminate exchange may take on the way out (pppd waits 3 s x 2)."""
RA_REFRESH = 60.0
"""An RA identical to the last one applied is applied again only after this many seconds
(its lifetimes restart then); RAs repeat every few minutes, or on every solicitation."""
MAX_RTR_SOLICITATIONS = 3
RTR_SOLICITATION_INTERVAL = 4.0
"""RFC 4861 10: a host sends at most 3 Router Solicitations, 4 s apart."""
IPV6_MIN_MTU = 1280
"""RFC 8200 5: IPv6 needs links of at least 1280 octets."""
IPV6_PATIENCE = 5.0
"""Seconds after IPv4 is up that "ready" waits for IPv6's global address at most."""
_FATAL = {
    FailureKind.SIM: RunExit.SIM,
    FailureKind.REGISTRATION_DENIED: RunExit.REGISTRATION,
}
_LAST_FAILURE = {
    FailureKind.NOT_ANSWERING: RunExit.MODEM_NOT_ANSWERING,
    FailureKind.REGISTRATION_TIMEOUT: RunExit.REGISTRATION,
    FailureKind.PDP: RunExit.DIAL_FAILED,
}


@dataclass
class _Session:
    """What one call brought up, for the lines the user reads."""

    dialled_at: float
    info: LinkInfo | None = None
    ipv4_said: bool = False
    ipv6_said: bool = False
    ready_said: bool = False
    ipv6_settled: bool = False
    """IPv6 will not bring more: unavailable, or slower than ``IPV6_PATIENCE``."""
    ready_timer: asyncio.TimerHandle | None = None
    down: LinkDown | None = None
    ended: bool = False
    """The call is over (the data plane stopped): nothing of it may say "ready" now."""
    up_hook: asyncio.Task[None] | None = None
    """The up script, started when "ready" was said."""
    solicitations: int = 0
    """Router Solicitations sent (RFC 4861 6.3.7: at most MAX_RTR_SOLICITATIONS)."""
    rs_timer: asyncio.TimerHandle | None = None
    at_side: asyncio.Task[None] | None = None
    """IPv6 through the modem's AT sockets on ``--at-port``, or on the PPP line itself
    between ``+++`` and ``ATO``, beside PPP."""
    line: int = -1
    """The PPP line's descriptor (shared with AT when there is no ``--at-port``)."""
    escape_guard: float = 1.0
    at_address: tuple[IPv6Address, list[IPv6Address]] | None = None
    """The context's IPv6 address and DNS servers, once the AT side has read them."""
    at_counters: Callable[[], Counters] | None = None
    """The AT side's counters beside PPP's, once it runs."""


class Supervisor:
    def __init__(
        self,
        settings: RunSettings,
        say: Callable[[str], None],
        *,
        stopping: asyncio.Event | None = None,
        hurry: asyncio.Event | None = None,
        rng: random.Random | None = None,
        taps: Sequence[FrameTap] = (),
    ) -> None:
        self.settings = settings
        self.say = say
        self.host = HostConfig(settings.host)
        self.stopping = stopping or asyncio.Event()
        """Set by the first stop signal: finish the call politely, then end."""
        self.hurry = hurry or asyncio.Event()
        self.taps = tuple(taps)
        self.status = StatusRecorder(
            settings.host.ifname,
            now=asyncio.get_running_loop().time(),
            started_unix=time.time(),
            device=settings.serial.device,
            at_port=settings.at_port,
        )
        """What ``pppbridge status`` and the metrics show (``bridge.status``)."""
        """What sees each call's PPP frames (``--pcap``, ``-vv``)."""
        """Set by a second stop signal: skip the politeness, restore and end."""
        self.ready = asyncio.Event()
        """Set while the link is up and configured ("ready" was said); cleared when it
        goes down."""
        self._rng = rng or random.SystemRandom()
        self._loop = asyncio.get_running_loop()
        self._tun: TunDevice | None = None
        self._plane: DataPlane | None = None
        self._session: _Session | None = None
        self._failures = 0
        self._silent_bring_ups = 0
        self._had_device = False
        self._host_failure: str | None = None
        self.session_mtu = 1500
        """The peer's MRU in the current call: what the TUN's MTU is set to."""
        self._last_ra: tuple[RouterAdvertisement, float] | None = None
        self._profile = "generic"
        """The modem's profile, as the last bring-up found it (its AT socket commands)."""

    # ------------------------------------------------------------------ the loop
    async def run(self) -> None:
        """Until stopped (returns) or ended (raises ``RunEnded``); restores the host."""
        check_device(self.settings.serial.device)  # the user's mistakes first, then ours
        if self.settings.at_port:
            check_device(self.settings.at_port)
        try:
            for line in self.host.start():
                self.say(f"cleaned up after an earlier run: {line}")
            self._tun = self.host.open_tun(1500)
            self._drop_capabilities()
            while not self.stopping.is_set():
                await self._one_call()
                if self.stopping.is_set():
                    break
                await self._wait_before_redial()
        finally:
            for line in self.host.teardown():
                log.info("restored: %s", line)

    def _drop_capabilities(self) -> None:
        """The TUN is open and leftovers cleaned: from here on only CAP_NET_ADMIN is
        needed (addresses, routes; CAP_SYS_ADMIN too to enter ``--netns``). Not when an
        up or down script runs (pppd gives them root's powers, and so do we) nor with the
        built-in simulator (its namespace's removal needs CAP_SYS_ADMIN)."""
        s = self.settings
        if s.simulator is not None or s.up_script or s.down_script or os.geteuid() != 0:
            return
        if s.host.netns and "/" in s.host.netns:
            return  # /proc/PID/ns/net: opening it again later needs ptrace rights too
        keep = (CAP_NET_ADMIN, CAP_SYS_ADMIN) if s.host.netns else (CAP_NET_ADMIN,)
        try:
            keep_only(keep)
        except OSError as exc:  # a kernel or a sandbox that refuses: run on, and say so
            log.warning("capabilities could not be dropped: %s", exc)

    async def _one_call(self) -> None:
        port = await self._open_port()
        if port is None:
            return  # stopped while waiting for the device
        try:
            try:
                dialled = await self._unless_stopped(
                    bring_up(port, self.settings.modem, self._report)
                )
            except BringUpError as exc:
                self._bring_up_failed(exc, port)
                if exc.failure.kind is FailureKind.NOT_ANSWERING:
                    # A modem still in a data call (a bridge killed mid-call on a line whose
                    # DTR it ignores or lacks) takes AT for data: escape, hang up, try again.
                    await self._unless_stopped(hang_up(port))
                return
            except TimeoutError:
                limit = bring_up_limit(self.settings.modem)
                self._count_failure(RunExit.DIAL_FAILED, f"no CONNECT within {limit:.0f} s")
                return
            except OSError as exc:  # the line itself failed (unplugged mid-way)
                self._count_failure(RunExit.MODEM_NOT_ANSWERING, f"the modem's line failed: {exc}")
                return
            if dialled is None:
                return  # stopped during the bring-up: nothing dialled, nothing to hang up
            self._silent_bring_ups = 0
            started = self._loop.time()
            if isinstance(dialled, Attached):  # --mode at-socket: nothing to hang up
                down = await self._carry_at_sockets(port, dialled)
                await self._after_call()
                self._link_ended(down, self._loop.time() - started)
                return
            down = await self._carry(port, dialled)
            lasted = self._loop.time() - started
            await self._after_call()
            if not self.hurry.is_set() and port.exists():
                await self._unless_stopped(hang_up(port), self.hurry)  # a second signal cuts it
            self._link_ended(down, lasted)
        finally:
            port.close()

    async def _unless_stopped(
        self, work: Awaitable[T], stop_event: asyncio.Event | None = None
    ) -> T | None:
        """``work``'s result, or None when a stop (``stop_event``, by default the first
        stop signal) came first (``work`` is cancelled)."""
        task = asyncio.ensure_future(work)
        stop = asyncio.ensure_future((stop_event or self.stopping).wait())
        try:
            await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        return None if task.cancelled() else task.result()

    async def _open_port(self) -> SerialPort | None:
        """The port, once it opens; None if a stop came while waiting for it."""
        device = self.settings.serial.device
        while True:
            try:
                port = SerialPort.open(self.settings.serial)
                self._had_device = True
                self.status.phase(Phase.BRINGING_UP, self._loop.time())
                return port
            except DeviceError as exc:
                if not self._had_device:
                    raise  # never seen it: a user mistake, said at once
                self.status.phase(Phase.WAITING_FOR_DEVICE, self._loop.time())
                if os.path.exists(device):  # there, but not usable yet (udev, busy)
                    self.say(f"{exc}; trying again in {self.settings.holdoff:g} s")
                    await first_of(self.stopping.wait(), timeout=max(self.settings.holdoff, 0.5))
                else:
                    self.say(f"waiting for {device} to come back ({exc})")
                    await wait_for_device(device, self.stopping, timeout=MAX_BACKOFF)
                if self.stopping.is_set():
                    return None

    # ------------------------------------------------------------- the session
    async def _carry(self, port: SerialPort, dialled: Dialled) -> LinkDown:
        """PPP over the line until the link goes down (or a stop ends it politely)."""
        assert self._tun is not None
        self._session = _Session(self._loop.time())
        self._last_ra = None  # a new call: the host's IPv6 was withdrawn with the last one
        link = Link(self._link_config(), random.SystemRandom())
        tap = SerialTap(self.taps) if self.taps else None
        plane = DataPlane(
            link,
            port.fileno(),
            self._tun,
            self._on_event,
            self._on_ra,
            tap,
            baud=self.settings.serial.baud,
        )
        session = self._session

        def counters() -> Counters:
            own = counters_of(link.statistics(), plane.drops)
            return own if session.at_counters is None else own.plus(session.at_counters())

        self.status.carrying(counters)
        self._plane = plane
        session.line, session.escape_guard = port.fileno(), dialled.escape_guard
        plane.start(dialled.trailing)
        try:
            await first_of(self.stopping.wait(), plane.wait_down())
            if session.at_side is not None:
                await self._stop_at_side(session.at_side)
            if not plane.is_down:
                await self._terminate(plane)
        finally:
            if session.at_side is not None and not session.at_side.done():
                session.at_side.cancel()
            plane.stop()
            self._plane = None
            self.status.call_ended()
            session.ended = True
            for timer in (session.ready_timer, session.rs_timer):
                if timer is not None:
                    timer.cancel()
        return session.down or LinkDown(DownReason.LOCAL_CLOSE, "stopped")

    # ------------------------------------------- IPv6 on the AT port, beside PPP
    @property
    def at_port_in_use(self) -> bool:
        """Whether the AT sockets hold ``--at-port`` now (``pppbridge at`` waits)."""
        session = self._session
        return session is not None and session.at_side is not None and not session.at_side.done()

    def _start_at_side(self, session: _Session, plane: DataPlane) -> None:
        if session.at_side is None and not session.ended:
            if self.settings.at_port:
                side = self._ipv6_on_at_port(session, plane)
            else:
                side = self._ipv6_on_the_ppp_line(session, plane)
            session.at_side = self._loop.create_task(side)
            session.at_side.add_done_callback(self._at_side_ended)

    def _at_side_ended(self, task: asyncio.Task[None]) -> None:
        """An error of the AT side is a bug: the run's exception handler says so (one
        line) and stops, as for any callback of the loop."""
        if not task.cancelled() and task.exception() is not None:
            self._loop.call_exception_handler(
                {"message": "the AT sockets' task failed", "exception": task.exception()}
            )

    async def _stop_at_side(self, task: asyncio.Task[None]) -> None:
        """End the AT side: its sockets closed (bounded), its port let go."""
        if not task.done():
            task.cancel()
            await first_of(asyncio.shield(task), self.hurry.wait(), timeout=TERMINATE_WAIT + 1)

    async def _ipv6_on_at_port(self, session: _Session, plane: DataPlane) -> None:
        """Read the context's IPv6 address on ``--at-port``, configure it, and carry the
        host's IPv6 there until the call ends; a failure costs IPv6 only, never the call."""
        at_port = self.settings.at_port
        assert at_port is not None and self._tun is not None
        try:
            port = SerialPort.open(replace(self.settings.serial, device=at_port))
        except DeviceError as exc:
            self._no_at_ipv6(session, str(exc))
            return
        at_plane: AtSocketPlane | None = None
        why = None
        try:
            context = await self._read_context(port.fileno())
            bridge = self._at_side_bridge(session, context)
            if bridge is None:
                return
            at_plane = AtSocketPlane(bridge, port.fileno(), self._tun, read_tun=False)
            at_plane.start()
            self._at_side_up(session, plane, at_plane, f" on {at_port} ({bridge.vendor.name})")
            await at_plane.wait_lost()
            why = at_plane.lost_reason
        except asyncio.CancelledError:
            if at_plane is not None and not self.hurry.is_set():
                await at_plane.close(TERMINATE_WAIT)
            raise
        finally:
            if at_plane is not None:
                self._at_side_down(session, plane, at_plane, why)
            port.close()

    async def _ipv6_on_the_ppp_line(self, session: _Session, plane: DataPlane) -> None:
        """The same on the line PPP holds, lent to AT between ``+++`` and ``ATO``
        (``bridge.line_sharing``): the address read in one suspension, the sockets' work
        in the next ones. A modem that stops following ends the call."""
        assert self._tun is not None
        sharing = LineSharing(session.line, plane, session.escape_guard)
        try:
            context = await sharing.borrow(lambda: self._read_context(session.line))
        except EscapeIgnored as exc:
            self._no_at_ipv6(session, str(exc))
            return
        except LineLost as exc:
            self._no_at_ipv6(session, str(exc))
            plane.lost(str(exc))
            return
        bridge = self._at_side_bridge(session, context)
        if bridge is None:
            return
        at_plane = AtSocketPlane(
            bridge, session.line, self._tun, read_tun=False, shared=True, on_wanted=sharing.wanted
        )
        at_plane.start()
        why = None
        try:
            self._at_side_up(
                session,
                plane,
                at_plane,
                f" ({bridge.vendor.name}), sharing the line with PPP (+++/ATO)",
            )
            try:
                await sharing.run(at_plane)
            except EscapeIgnored as exc:
                why = str(exc)
            except LineLost as exc:
                why = f"{exc}; the call is over"
                plane.lost(str(exc))
        finally:
            self._at_side_down(session, plane, at_plane, why)
            plane.release()

    def _at_side_bridge(
        self, session: _Session, context: tuple[IPv6Address, list[IPv6Address]] | str
    ) -> AtSocketBridge | None:
        """The translation for the context just read, its address on the TUN; None (and
        said) when there is none."""
        if isinstance(context, str):
            self._no_at_ipv6(session, context)
            return None
        address, dns = context
        try:
            bridge = atsocket_session.make_bridge(self._profile, self.settings, address)
            self.host.apply_ipv6_address(address, dns)
        except (atsocket_session.NoAtSockets, HostSetupError) as exc:
            self._no_at_ipv6(session, str(exc))
            return None
        session.at_address = (address, dns)
        return bridge

    def _at_side_up(
        self, session: _Session, plane: DataPlane, at_plane: AtSocketPlane, where: str
    ) -> None:
        """The host's IPv6 goes to the AT sockets from now on; said, counted, ready."""
        assert session.at_address is not None
        address, dns = session.at_address
        plane.ipv6_elsewhere = at_plane.from_tun
        bridge = at_plane.bridge
        session.at_counters = lambda: at_socket_counters(bridge.statistics(), at_plane.drops)
        self.status.ipv6_globals(self.host.ipv6_globals)
        shown = " ".join(str(a) for a in dns) or "none"
        self.say(
            f"IPv6 up through the modem's AT sockets{where}: {address}, DNS {shown}; "
            "UDP and ping only"
        )
        session.ipv6_settled = True
        self._maybe_ready(session)

    def _at_side_down(
        self, session: _Session, plane: DataPlane, at_plane: AtSocketPlane, why: str | None
    ) -> None:
        """The AT sockets no longer carry IPv6: the host's IPv6 configuration goes with
        them (not left pointing at a link that drops it); PPP goes on. ``why``: said
        once that is done (None: the call is ending anyway)."""
        plane.ipv6_elsewhere = None
        at_plane.stop()
        try:
            self.host.withdraw_ipv6_address()
        except HostSetupError as exc:
            log.warning("the modem's IPv6 address could not be withdrawn: %s", exc)
        self.status.ipv6_globals(self.host.ipv6_globals)
        if why is not None:
            more = "" if why.endswith("the call is over") else "; IPv6 is off for this call"
            self.say(f"IPv6 through the AT sockets ended: {why}{more}")

    async def _read_context(self, line: int) -> tuple[IPv6Address, list[IPv6Address]] | str:
        """The context's IPv6 address and DNS servers, read on ``line``; or why not."""
        modem = replace(self.settings.modem, profile=self._profile)
        machine = ContextRead(modem)
        try:
            result = await pump(
                line,
                machine,
                lambda output: isinstance(output, (Attached, BringUpFailed)),
                bring_up_limit(modem),
            )
        except (OSError, TimeoutError) as exc:
            return f"the AT port did not answer: {exc}"
        if isinstance(result, BringUpFailed):
            return str(result)
        assert isinstance(result, Attached)
        if result.ipv6 is None:
            return "the context has no IPv6 address (+CGPADDR)"
        return result.ipv6, [a for a in result.dns if isinstance(a, IPv6Address)]

    def _no_at_ipv6(self, session: _Session, why: str) -> None:
        self.say(f"no IPv6 through the AT sockets: {why}")
        session.ipv6_settled = True
        self._maybe_ready(session)

    # ---------------------------------------------------- --mode at-socket
    async def _carry_at_sockets(self, port: SerialPort, attached: Attached) -> LinkDown:
        """``--mode at-socket``: no PPP; the modem's own sockets carry the host's IPv6 UDP
        until the line fails, the network ends the context, or a stop."""
        assert self._tun is not None
        session = self._session = _Session(self._loop.time())
        address = attached.ipv6
        if address is None:
            return LinkDown(DownReason.NO_NETWORK_PROTOCOLS, "the context has no IPv6 address")
        bridge = self._at_socket_bridge(address)
        mtu = atsocket_session.tun_mtu(bridge)
        dns = [a for a in attached.dns if isinstance(a, IPv6Address)]
        ended: list[str] = []
        context_gone = asyncio.Event()

        def on_urc(line: str) -> None:
            why = atsocket_session.context_ended(line, self.settings.modem.cid)
            if why is not None and not ended:
                ended.append(why)
                context_gone.set()

        plane = AtSocketPlane(bridge, port.fileno(), self._tun, read_tun=True, on_urc=on_urc)
        self.status.carrying(lambda: at_socket_counters(bridge.statistics(), plane.drops))
        try:
            if not self._configure(lambda: self._apply_at_socket_ipv6(mtu, address, dns)):
                return LinkDown(DownReason.LOCAL_CLOSE, "the host cannot be configured")
            now = self._loop.time()
            self.status.at_sockets_up(address, dns, mtu, now)
            shown = " ".join(str(a) for a in dns) or "none"
            self.say(
                f"IPv6 up through the modem's AT sockets ({bridge.vendor.name}): {address}, "
                f"DNS {shown}, MTU {mtu}; UDP and ping only"
            )
            plane.start()
            self._say_ready(session, self.settings.try_target_ipv6, "ping -6")
            await first_of(self.stopping.wait(), plane.wait_lost(), context_gone.wait())
            if self.stopping.is_set() and not plane.lost_reason:
                self.status.phase(Phase.STOPPING, self._loop.time())
                await first_of(self.hurry.wait(), plane.close(TERMINATE_WAIT))
        finally:
            plane.stop()
            self.status.call_ended()
            session.ended = True
            self.ready.clear()
        if ended:
            down = LinkDown(DownReason.CARRIER_LOST, ended[0])
        elif plane.lost_reason:
            down = LinkDown(DownReason.CARRIER_LOST, plane.lost_reason)
        else:
            down = LinkDown(DownReason.LOCAL_CLOSE, "stopped")
        self.status.link_event(down, self._loop.time())  # no address, no uptime now
        return down

    def _at_socket_bridge(self, address: IPv6Address) -> AtSocketBridge:
        try:
            return atsocket_session.make_bridge(self._profile, self.settings, address)
        except atsocket_session.NoAtSockets as exc:
            raise RunEnded(RunExit.USAGE, str(exc)) from None

    def _apply_at_socket_ipv6(
        self, mtu: int, address: IPv6Address, dns: Sequence[IPv6Address]
    ) -> None:
        self.host.open_tun(mtu)
        self.host.apply_ipv6_address(address, dns)

    async def _terminate(self, plane: DataPlane) -> None:
        """LCP Terminate-Request, and its Ack awaited a little (a second signal skips it)."""
        self.status.phase(Phase.STOPPING, self._loop.time())
        plane.close("pppbridge is stopping")
        await first_of(self.hurry.wait(), plane.wait_finished(), timeout=TERMINATE_WAIT)

    def _link_config(self) -> LinkConfig:
        s = self.settings
        return LinkConfig(
            username=s.modem.user,
            password=s.modem.password,
            echo_interval=s.echo_interval,
            echo_failures=s.echo_failures,
            ipv4=s.ipv4,
            ipv6=s.ppp_ipv6,
        )

    def _on_event(self, event: Output) -> None:
        session = self._session
        assert session is not None
        now = self._loop.time()
        self.status.link_event(event, now)
        if isinstance(event, LcpUp):
            self.session_mtu = event.mtu
            if not self._configure(lambda: self.host.open_tun(event.mtu)):
                return
            self.say(
                f"LCP up after {now - session.dialled_at:.1f} s "
                f"(MRU {event.mru}, peer's MRU {event.mtu})"
            )
            # --ipv6 at-socket: once the TUN has the call's MTU (IPv6 needs 1280).
            if self.settings.ipv6 and self.settings.ipv6_path == "at-socket" and self._plane:
                self._start_at_side(session, self._plane)
        elif isinstance(event, Authenticated):
            if event.protocols:
                self.say(f"authenticated ({', '.join(event.protocols)})")
        elif isinstance(event, LinkUp):
            session.info = event.info
            self._link_up(event.info, session)
        elif isinstance(event, Ipv6Unavailable):
            self.say(f"no IPv6 on this link: {event.detail}")
            plane = self._plane
            fallback = self.settings.at_socket_fallback and plane is not None
            if fallback and plane and atsocket_session.has_sockets(self._profile):
                where = self.settings.at_port or "this line, between +++ and ATO"
                ports = PROFILES[self._profile].ports if self._profile in PROFILES else ""
                hint = (
                    f" (the modem's ports: {ports})" if ports and not self.settings.at_port else ""
                )
                self.say(f"IPv6 through the modem's AT sockets instead, on {where}{hint}")
                self._start_at_side(session, plane)
                return
            session.ipv6_settled = True
            self._maybe_ready(session)
        elif isinstance(event, LinkRenegotiating):
            self.say("the modem renegotiates LCP; traffic waits")
            session.ipv4_said = session.ipv6_said = False
            session.solicitations = 0
            self._last_ra = None  # the Interface-Identifier may change: the next RA counts
        elif isinstance(event, LinkDown):
            session.down = event
            self.ready.clear()

    def _link_up(self, info: LinkInfo, session: _Session) -> None:
        local = info.local_ipv4
        if local is not None and not session.ipv4_said:
            session.ipv4_said = True
            if not self._configure(lambda: self.host.apply_ipv4(local, info.peer_ipv4, info.dns)):
                return
            dns = " ".join(str(a) for a in info.dns) or "none"
            peer = f" peer {info.peer_ipv4}" if info.peer_ipv4 else ""
            self.say(f"IPv4 up: {info.local_ipv4}{peer}, DNS {dns}")
        if info.local_interface_id is not None and not session.ipv6_said:
            session.ipv6_said = True
            iid, peer_iid = info.local_interface_id, info.peer_interface_id
            if self.session_mtu < IPV6_MIN_MTU:
                self.say(f"no IPv6: the link's MTU {self.session_mtu} is below IPv6's 1280")
                session.ipv6_settled = True
            elif self._configure(lambda: self.host.apply_ipv6_link_local(iid, peer_iid)):
                self.say(f"IPv6 up: link-local {info.local_ipv6_link_local}; asking for a prefix")
                self._solicit(session)
        self._maybe_ready(session)

    def _solicit(self, session: _Session) -> None:
        """A Router Solicitation, again every RTR_SOLICITATION_INTERVAL until an RA gave
        an address, MAX_RTR_SOLICITATIONS at most (RFC 4861 6.3.7)."""
        session.rs_timer = None
        info = session.info
        if session.ended or self._plane is None or info is None or self.host.ipv6_globals:
            return
        if session.solicitations >= MAX_RTR_SOLICITATIONS or info.local_ipv6_link_local is None:
            return
        session.solicitations += 1
        self._plane.send_packet(build_router_solicitation(info.local_ipv6_link_local))
        session.rs_timer = self._loop.call_later(RTR_SOLICITATION_INTERVAL, self._solicit, session)

    def _configure(self, change: Callable[[], object]) -> bool:
        """Apply one change to the host; one that fails (no CAP_NET_ADMIN...) ends the
        call with its reason, instead of escaping from the data plane's callback."""
        try:
            change()
        except HostSetupError as exc:
            self.say(f"cannot configure the host: {exc}")
            self._host_failure = str(exc)
            if self._plane is not None:
                self._plane.close("the host cannot be configured")
            return False
        return True

    def _on_ra(self, packet: bytes) -> None:
        ra = parse_router_advertisement(packet)
        if ra is None:
            if self._plane is not None:
                self._plane.drops["bad_router_advertisement"] += 1
            return
        now = self._loop.time()
        if self._last_ra is not None and self._last_ra[0] == ra:
            if now - self._last_ra[1] < RA_REFRESH:
                return  # the same news again (an answer to someone's solicitation)
        self._last_ra = (ra, now)
        before = set(self.host.ipv6_globals)
        applied: list[IPv6Address] = []
        if not self._configure(lambda: applied.extend(self.host.apply_router_advertisement(ra))):
            return
        added = [a for a in applied if a not in before]
        self.status.ipv6_globals(self.host.ipv6_globals)
        for address in added:
            self.say(f"IPv6 global address {address} (from the network's Router Advertisement)")
        if self._session is not None:
            self._maybe_ready(self._session)

    def _maybe_ready(self, session: _Session) -> None:
        """Say "ready" once IPv4 is up and IPv6 has settled: its global address came, it
        is not available on this link, or it is taking longer than ``IPV6_PATIENCE``."""
        info = session.info
        if session.ready_said or session.ended or session.down is not None or info is None:
            return
        if self.settings.ipv4 and not session.ipv4_said:
            return
        if self.settings.ipv6 and not (self.host.ipv6_globals or session.ipv6_settled):
            if session.ready_timer is None:
                session.ready_timer = self._loop.call_later(IPV6_PATIENCE, self._ipv6_slow, session)
            return
        if session.ready_timer is not None:
            session.ready_timer.cancel()
        target = self.settings.try_target or (str(info.peer_ipv4) if info.peer_ipv4 else None)
        self._say_ready(session, target, "ping")

    def _say_ready(self, session: _Session, target: str | None, ping: str) -> None:
        """ "ready", with what to try; the up script starts."""
        session.ready_said = True
        self.ready.set()
        netns = self.settings.host.netns
        where = f"ip netns exec {netns} " if netns and "/" not in netns else ""
        hint = f": try {where}{ping} -I {self.settings.host.ifname} {target}" if target else ""
        self.say(f"ready{hint}")
        if self.settings.up_script:
            session.up_hook = self._loop.create_task(self._hook(self.settings.up_script))

    def _ipv6_slow(self, session: _Session) -> None:
        session.ready_timer = None
        session.ipv6_settled = True
        self._maybe_ready(session)

    async def _hook(self, script: str | None, context: HookContext | None = None) -> None:
        if script:
            context = context or self.host.hook_context(device=self.settings.serial.device)
            await run_hook(script, context)

    async def _after_call(self) -> None:
        """The host's configuration withdrawn; the down script, told what the up script
        was (pppd's ip-down gets ip-up's values), once the up script has ended."""
        session = self._session
        context = self.host.hook_context(device=self.settings.serial.device)
        self.host.withdraw()
        if session is None or session.up_hook is None:
            return  # the link never came up: no down script either (as pppd)
        await self._unless_stopped(session.up_hook, self.hurry)
        await self._unless_stopped(self._hook(self.settings.down_script, context), self.hurry)

    # ------------------------------------------------------------- bring-up
    def _report(self, report: Report) -> None:
        self.status.report(report, self._loop.time())
        if isinstance(report, ModemFound):
            parts = [p for p in (report.maker, report.model) if p]
            extra = [f"firmware {report.firmware}"] if report.firmware else []
            extra += [f"IMEI {report.imei}"] if report.imei else []
            extra += [report.edition] if report.edition else []
            detail = f" ({', '.join(extra)})" if extra else ""
            name = " ".join(parts) or "a modem"
            self._profile = report.profile
            self.say(f"modem found: {name}{detail}, profile {report.profile}")
        elif isinstance(report, SimReady):
            iccid = f", ICCID {report.iccid}" if report.iccid else ""
            pin = ", PIN accepted" if report.pin_entered else ""
            self.say(f"SIM ready{pin}{iccid}")
        elif isinstance(report, Registered):
            where = "roaming" if report.roaming else "home network"
            if report.operator:
                where += f" ({report.operator})"
            tech = f", {report.technology}" if report.technology else ""
            self.say(f"registered: {where}{tech}, after {report.duration:.1f} s")
        elif isinstance(report, SignalQuality):
            self.say(f"signal: {_signal_text(report)}")
        elif isinstance(report, Dialled):
            text = f" {report.connect_text}" if report.connect_text else ""
            self.say(f"dialled {report.command}: CONNECT{text} after {report.elapsed:.1f} s")
        elif isinstance(report, Attached):
            self.say(f"context active after {report.elapsed:.1f} s, not dialled (--mode at-socket)")

    def _bring_up_failed(self, exc: BringUpError, port: SerialPort) -> None:
        failure: BringUpFailed = exc.failure
        fatal = _FATAL.get(failure.kind)
        if fatal is not None:
            raise RunEnded(fatal, str(failure))
        if failure.kind is FailureKind.NOT_ANSWERING:
            self._silent_bring_ups += 1
            if self._silent_bring_ups > 2:
                raise RunEnded(RunExit.MODEM_NOT_ANSWERING, str(failure))
            if exc.reset is not None and self._silent_bring_ups == 2:
                reset_modem(port, exc.reset)
        self._count_failure(_LAST_FAILURE.get(failure.kind, RunExit.MAXFAIL), str(failure))

    # ------------------------------------------------------------- endings
    def _link_ended(self, down: LinkDown, lasted: float) -> None:
        if self.stopping.is_set():
            return
        if self._host_failure is not None:  # e.g. no CAP_NET_ADMIN: redialling cannot help
            raise RunEnded(RunExit.USAGE, f"cannot configure the host: {self._host_failure}")
        detail = f": {down.detail}" if down.detail else ""
        self.say(f"link down after {lasted:.0f} s: {down.reason.value}{detail}")
        if down.reason is DownReason.AUTH_FAILED:
            raise RunEnded(RunExit.AUTH_FAILED, f"PPP authentication failed{detail}")
        if lasted >= STABLE_SESSION:
            self._failures = 0
        self.status.reconnected()
        self._count_failure(RunExit.MAXFAIL, f"{down.reason.value}{detail}")

    def _count_failure(self, status: RunExit, why: str) -> None:
        self.status.failure(why, self._loop.time())
        self._failures += 1
        maxfail = self.settings.maxfail
        if maxfail and self._failures >= maxfail:
            raise RunEnded(status, f"{why} ({self._failures} failures in a row: --maxfail)")
        again = "dialling again" if self.settings.mode == "ppp" else "attaching again"
        self.say(f"{why}; {again}")

    async def _wait_before_redial(self) -> None:
        base = self.settings.holdoff * 2 ** min(max(self._failures - 1, 0), 16)
        delay = min(base, MAX_BACKOFF) * self._rng.uniform(0.75, 1.25)
        what = "dial" if self.settings.mode == "ppp" else "attach"
        self.say(f"next {what} in {delay:.1f} s")
        self.status.phase(Phase.WAITING_TO_REDIAL, self._loop.time())
        await first_of(self.stopping.wait(), timeout=delay)


def _signal_text(report: SignalQuality) -> str:
    parts = []
    if report.rssi_dbm is not None:
        parts.append(f"RSSI {report.rssi_dbm} dBm")
    if report.rsrp_dbm is not None:
        parts.append(f"RSRP {report.rsrp_dbm} dBm")
    if report.rsrq_db is not None:
        parts.append(f"RSRQ {report.rsrq_db:g} dB")
    return ", ".join(parts) or "not known"
