"""``pppbridge probe``: which paths through the modem carry traffic, and how fast.

For people testing NB-IoT IPv6 paths. Three rows, one per path, each with its timings
(attach: the modem registered; connect: the path had an address; first reply; the median
round trip of ``count`` echoes) or the reason it failed:

- IPv4 over PPP: dial, LCP and IPCP, then UDP echoes (RFC 862, port 7) from IPCP's
  address;
- IPv6 over PPP: IPV6CP, a Router Solicitation, the global address the RA's prefix
  gives (RFC 4862), then the same echoes over IPv6;
- IPv6 UDP over AT sockets: the call hung up, the context activated without a dial, its
  address read (+CGPADDR), the echoes through the modem's own socket commands; on
  ``--at-port`` when there is one (where the bridge runs them beside PPP, and where a
  modem may send its URCs), else on the first port.

Nothing on this host changes: the data planes run against a packet pipe
(``bridge.packet_pair``) instead of a TUN, and the probe is the host that sends and
receives. With no ``--device`` it runs against the built-in simulator, and the target is
its echo host.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import statistics
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import asdict, dataclass, replace
from ipaddress import IPv4Address, IPv6Address, ip_address

from netstack.config import LinkConfig
from netstack.errors import MalformedPacket
from netstack.events import Ipv6Unavailable, LinkDown, LinkInfo, LinkUp, Output
from netstack.ipwire import IpProtocol, build_udp, parse_ip, parse_udp
from netstack.link import Link
from netstack.ra import build_router_solicitation, parse_router_advertisement, slaac_addresses

from . import atsocket_session
from .atsocket_plane import AtSocketPlane
from .data_plane import DataPlane
from .errors import DeviceError
from .line_sharing import EscapeIgnored, LineLost, LineSharing
from .modem import Attached, Dialled, ModemFound, ModemSettings, Registered
from .modem.events import Report
from .modem_session import BringUpError, bring_up, hang_up
from .packet_pair import PacketPair
from .probe_cli import ECHO_PORT
from .run_settings import SHARED_GUARD, RunSettings
from .serial_port import SerialPort
from .waiting import first_of

IpAddress = IPv4Address | IPv6Address
REPLY_TIMEOUT = 5.0
"""Seconds to wait for each echo (NB-IoT round trips take seconds)."""
NEGOTIATION_TIMEOUT = 30.0
"""Seconds for IPCP, IPV6CP and the Router Advertisement."""
CLOSE_TIMEOUT = 4.0
PATHS = ("IPv4 over PPP", "IPv6 over PPP", "IPv6 UDP over AT sockets")


@dataclass
class PathResult:
    """One row: a path, whether it carried the echoes, its timings in seconds."""

    path: str
    works: bool = False
    attach: float | None = None
    """From the start of the bring-up to registration."""
    connect: float | None = None
    """From the start of the bring-up to an address on the path."""
    first_reply: float | None = None
    """From the first echo sent to the first reply."""
    median_rtt: float | None = None
    replies: int = 0
    sent: int = 0
    address: str | None = None
    """The address the echoes came from."""
    reason: str | None = None
    """Why the path failed (None when it works)."""


@dataclass(frozen=True)
class Targets:
    ipv4: IPv4Address | None
    ipv6: IPv6Address | None
    port: int = ECHO_PORT


async def probe(
    settings: RunSettings, targets: Targets, count: int, say: Callable[[str], None]
) -> list[PathResult]:
    """The three rows, in ``PATHS`` order."""
    rows = {name: PathResult(name) for name in PATHS}
    port = SerialPort.open(settings.serial)
    try:
        await _ppp_paths(port, settings, targets, count, rows, say)
        if settings.at_port:  # where the bridge runs its sockets (and the URCs may go)
            port.close()
            try:
                port = SerialPort.open(replace(settings.serial, device=settings.at_port))
            except DeviceError as exc:
                rows[PATHS[2]].reason = f"--at-port: {exc}"
                return [rows[name] for name in PATHS]
        await _at_socket_path(port, settings, targets, count, rows[PATHS[2]], say)
    finally:
        port.close()
    return [rows[name] for name in PATHS]


# ------------------------------------------------------------------ PPP
class _Call:
    """What the PPP link tells during the probe, as events to wait on."""

    def __init__(self) -> None:
        self.info: LinkInfo | None = None
        self.ipv4 = asyncio.Event()
        self.ipv6 = asyncio.Event()
        self.ipv6_unavailable: str | None = None
        self.down: LinkDown | None = None
        self.ended = asyncio.Event()
        self.ra = asyncio.Event()
        self.ra_packet = b""

    def on_event(self, event: Output) -> None:
        if isinstance(event, LinkUp):
            self.info = event.info
            if event.info.local_ipv4 is not None:
                self.ipv4.set()
            if event.info.local_interface_id is not None:
                self.ipv6.set()
        elif isinstance(event, Ipv6Unavailable):
            self.ipv6_unavailable = event.detail
            self.ipv6.set()
        elif isinstance(event, LinkDown):
            self.down = event
            self.ended.set()
            self.ipv4.set()
            self.ipv6.set()
            self.ra.set()

    def on_ra(self, packet: bytes) -> None:
        self.ra_packet = packet
        self.ra.set()


class PathFailed(Exception):
    """A path could not be set up; the message says why, for the row."""


@dataclass
class PppCall:
    """A dialled call with PPP running against a packet pipe (``ppp_call``)."""

    pair: PacketPair
    plane: DataPlane
    events: _Call
    dialled: Dialled
    attach: float | None
    """Seconds from the start of the bring-up to registration."""
    profile: str
    """The modem's profile (``--profile``, or as identified)."""


@contextlib.asynccontextmanager
async def ppp_call(port: SerialPort, settings: RunSettings) -> AsyncIterator[PppCall]:
    """Dial, run PPP (IPv4 and IPv6 asked) on a packet pipe; on the way out LCP
    Terminate (bounded) and the hang-up. ``PathFailed`` when the bring-up fails."""
    reports = _Reports(settings)
    dialled = await _bring_up(port, replace(settings.modem, dial=True), reports.take)
    assert isinstance(dialled, Dialled)
    events = _Call()
    config = LinkConfig(
        username=settings.modem.user,
        password=settings.modem.password,
        echo_interval=0,
        ipv4=True,
        ipv6=True,
    )
    link = Link(config, random.SystemRandom())
    pair = PacketPair()
    plane = DataPlane(
        link,
        port.fileno(),
        pair.bridge_end,
        events.on_event,
        events.on_ra,
        baud=settings.serial.baud,
    )
    plane.start(dialled.trailing)
    try:
        yield PppCall(pair, plane, events, dialled, reports.attach, reports.profile)
    finally:
        if not plane.is_down:
            plane.close("pppbridge probe is done")
            await first_of(plane.wait_finished(), timeout=CLOSE_TIMEOUT)
        plane.stop()
        pair.close()
        await hang_up(port)


@dataclass
class AtSocketCall:
    """The context active, not dialled, the AT-socket plane on a packet pipe."""

    pair: PacketPair
    plane: AtSocketPlane
    address: IPv6Address
    attach: float | None


@contextlib.asynccontextmanager
async def at_socket_call(port: SerialPort, settings: RunSettings) -> AsyncIterator[AtSocketCall]:
    """Activate the context without dialling, read its address, run the AT-socket plane
    on a packet pipe; on the way out its sockets closed (bounded). ``PathFailed`` when
    the bring-up fails or the modem has no IPv6 address or socket commands."""
    reports = _Reports(settings)
    attached = await _bring_up(port, replace(settings.modem, dial=False), reports.take)
    assert isinstance(attached, Attached)
    if attached.ipv6 is None:
        raise PathFailed("the context has no IPv6 address (+CGPADDR)")
    try:
        bridge = atsocket_session.make_bridge(reports.profile, settings, attached.ipv6)
    except atsocket_session.NoAtSockets as exc:
        raise PathFailed(str(exc)) from None
    pair = PacketPair()
    plane = AtSocketPlane(bridge, port.fileno(), pair.bridge_end, read_tun=True)
    plane.start()
    try:
        yield AtSocketCall(pair, plane, attached.ipv6, reports.attach)
        await plane.close(CLOSE_TIMEOUT)
    finally:
        plane.stop()
        pair.close()


@dataclass
class SharedLineCall:
    """A PPP call whose line the AT sockets borrow between ``+++`` and ``ATO``."""

    ppp: PppCall
    sharing: LineSharing
    address: IPv6Address


@contextlib.asynccontextmanager
async def shared_line_call(
    port: SerialPort, settings: RunSettings
) -> AsyncIterator[SharedLineCall]:
    """``ppp_call`` with IPv6 through the AT sockets on the same line (the escape's
    guard time short): the host's IPv6 packets go to them, the rest to PPP."""
    guard = settings.modem.escape_guard or SHARED_GUARD
    shared = replace(settings, modem=replace(settings.modem, escape_guard=guard))
    async with ppp_call(port, shared) as call:
        sharing = LineSharing(port.fileno(), call.plane, call.dialled.escape_guard)
        try:
            attached = await sharing.borrow(
                lambda: _bring_up(port, replace(settings.modem, dial=False), lambda item: None)
            )
        except (EscapeIgnored, LineLost) as exc:
            raise PathFailed(str(exc)) from None
        assert isinstance(attached, Attached)
        if attached.ipv6 is None:
            raise PathFailed("the context has no IPv6 address (+CGPADDR)")
        try:
            bridge = atsocket_session.make_bridge(call.profile, settings, attached.ipv6)
        except atsocket_session.NoAtSockets as exc:
            raise PathFailed(str(exc)) from None
        at_plane = AtSocketPlane(
            bridge,
            port.fileno(),
            call.pair.bridge_end,
            read_tun=False,
            shared=True,
            on_wanted=sharing.wanted,
        )
        at_plane.start()
        call.plane.ipv6_elsewhere = at_plane.from_tun
        running = asyncio.ensure_future(sharing.run(at_plane))
        try:
            yield SharedLineCall(call, sharing, attached.ipv6)
        finally:
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError, EscapeIgnored, LineLost):
                await running
            call.plane.ipv6_elsewhere = None
            at_plane.stop()
            call.plane.release()


class _Reports:
    """What a probe keeps of the bring-up's reports: when the modem registered, which
    profile it has."""

    def __init__(self, settings: RunSettings) -> None:
        self.attach: float | None = None
        """Seconds from the start of the bring-up to registration."""
        self.profile = settings.modem.profile or "generic"

    def take(self, item: Report) -> None:
        if isinstance(item, Registered) and self.attach is None:
            self.attach = item.elapsed
        elif isinstance(item, ModemFound):
            self.profile = item.profile


async def _bring_up(
    port: SerialPort, modem: ModemSettings, report: Callable[[Report], None]
) -> Dialled | Attached:
    try:
        return await bring_up(port, modem, report)
    except BringUpError as exc:
        raise PathFailed(str(exc.failure)) from None
    except (OSError, TimeoutError) as exc:
        raise PathFailed(f"the modem's line failed: {exc}") from None


async def _ppp_paths(
    port: SerialPort,
    settings: RunSettings,
    targets: Targets,
    count: int,
    rows: dict[str, PathResult],
    say: Callable[[str], None],
) -> None:
    v4, v6 = rows[PATHS[0]], rows[PATHS[1]]
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        async with ppp_call(port, settings) as call:
            say(f"dialled: CONNECT after {call.dialled.elapsed:.1f} s")
            v4.attach = v6.attach = call.attach
            events = call.events
            await first_of(events.ipv4.wait(), timeout=NEGOTIATION_TIMEOUT)
            info = events.info
            if info is None or info.local_ipv4 is None:
                v4.reason = _no_address(events, "IPCP gave no IPv4 address")
            else:
                v4.connect = loop.time() - started
                await _echoes(call.pair, info.local_ipv4, targets.ipv4, targets.port, count, v4)
            await first_of(events.ipv6.wait(), timeout=NEGOTIATION_TIMEOUT)
            await _ppp_ipv6(call.pair, call.plane, events, targets, count, v6, started)
    except PathFailed as exc:
        for row in (v4, v6):
            row.reason = row.reason or str(exc)


async def _ppp_ipv6(
    pair: PacketPair,
    plane: DataPlane,
    call: _Call,
    targets: Targets,
    count: int,
    row: PathResult,
    started: float,
) -> None:
    info = call.info
    if call.ipv6_unavailable is not None:
        row.reason = call.ipv6_unavailable
        return
    if info is None or info.local_interface_id is None or info.local_ipv6_link_local is None:
        row.reason = _no_address(call, "IPV6CP did not open")
        return
    plane.send_packet(build_router_solicitation(info.local_ipv6_link_local))
    await first_of(call.ra.wait(), timeout=NEGOTIATION_TIMEOUT)
    ra = parse_router_advertisement(call.ra_packet) if call.ra_packet else None
    addresses = [] if ra is None else slaac_addresses(ra, info.local_interface_id)
    usable = [a.address for a in addresses if a.valid_lifetime]
    if not usable:
        row.reason = _no_address(call, "no Router Advertisement with a prefix")
        return
    row.connect = asyncio.get_running_loop().time() - started
    await _echoes(pair, usable[0], targets.ipv6, targets.port, count, row)


def _no_address(call: _Call, why: str) -> str:
    if call.down is not None:
        detail = f": {call.down.detail}" if call.down.detail else ""
        return f"the link went down ({call.down.reason.value}{detail})"
    return f"{why} within {NEGOTIATION_TIMEOUT:.0f} s"


# ------------------------------------------------------------ AT sockets
async def _at_socket_path(
    port: SerialPort,
    settings: RunSettings,
    targets: Targets,
    count: int,
    row: PathResult,
    say: Callable[[str], None],
) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        async with at_socket_call(port, settings) as call:
            row.attach = call.attach
            row.connect = loop.time() - started
            vendor = call.plane.bridge.vendor.name
            say(f"context active: {call.address}, through the {vendor} socket commands")
            await _echoes(call.pair, call.address, targets.ipv6, targets.port, count, row)
    except PathFailed as exc:
        row.reason = str(exc)


# ---------------------------------------------------------------- echoes
async def _echoes(
    pair: PacketPair,
    source: IpAddress,
    target: IpAddress | None,
    port: int,
    count: int,
    row: PathResult,
) -> None:
    """``count`` UDP echoes, one at a time; the row's timings and verdict."""
    row.address = str(source)
    if target is None:
        row.reason = f"no IPv{source.version} target (--target)"
        return
    rtts = await echo_round_trips(pair, source, target, port, count)
    row.sent = count
    answered = [rtt for rtt in rtts if rtt is not None]
    row.replies = len(answered)
    if answered:
        row.works = True
        row.first_reply = answered[0]
        row.median_rtt = statistics.median(answered)
    else:
        row.reason = f"no echo from [{target}]:{port} ({count} sent, {REPLY_TIMEOUT:g} s each)"


async def echo_round_trips(
    pair: PacketPair,
    source: IpAddress,
    target: IpAddress,
    port: int,
    count: int,
    size: int = 0,
    sport: int | None = None,
) -> list[float | None]:
    """``count`` UDP echoes from ``source``, one at a time (the next once the last came
    back or timed out): each one's round trip in seconds, None for a lost one. ``size``:
    octets of payload at least (the text that tells them apart, padded); ``sport``: the
    source port (the same flow as an earlier call), or a new one."""
    loop = asyncio.get_running_loop()
    sport = sport or random.randrange(49152, 65536)
    rtts: list[float | None] = []
    for seq in range(count):
        payload = f"pppbridge probe {seq} {time.time_ns()}".encode().ljust(size, b".")
        sent = loop.time()
        pair.send(build_udp(source, target, sport, port, payload))
        answered = await _reply(pair, target, sport, port, payload)
        rtts.append(loop.time() - sent if answered else None)
    return rtts


async def _reply(
    pair: PacketPair, target: IpAddress, sport: int, port: int, payload: bytes
) -> bool:
    """Until the echo of ``payload`` comes back (other packets are skipped), bounded."""
    try:
        async with asyncio.timeout(REPLY_TIMEOUT):
            while True:
                packet = await pair.receive()
                try:
                    ip = parse_ip(packet)
                    if ip.protocol != IpProtocol.UDP or ip.src != target:
                        continue
                    source_port, dest_port, data = parse_udp(ip)
                except MalformedPacket:
                    continue
                if (source_port, dest_port, data) == (port, sport, payload):
                    return True
    except TimeoutError:
        return False


# ---------------------------------------------------------------- output
def targets_from(text: str | None, simulated: bool, echo: tuple[str, str], port: int) -> Targets:
    """``--target``: an address of either family, or a name (both families, from this
    host's resolver); the simulator's echo host when simulated and not given."""
    if text is None:
        if not simulated:
            raise ValueError("give --target HOST: an address or name that answers UDP echo")
        return Targets(IPv4Address(echo[0]), IPv6Address(echo[1]), port)
    try:
        address = ip_address(text)
    except ValueError:
        return _resolved(text, port)
    if isinstance(address, IPv4Address):
        return Targets(address, None, port)
    return Targets(None, address, port)


def _resolved(name: str, port: int) -> Targets:
    import socket

    v4: IPv4Address | None = None
    v6: IPv6Address | None = None
    try:
        found = socket.getaddrinfo(name, port, type=socket.SOCK_DGRAM)
    except OSError as exc:
        raise ValueError(f"--target {name}: {exc.strerror or exc}") from None
    for family, _, _, _, sockaddr in found:
        address = ip_address(sockaddr[0])
        if family == socket.AF_INET and v4 is None and isinstance(address, IPv4Address):
            v4 = address
        elif family == socket.AF_INET6 and v6 is None and isinstance(address, IPv6Address):
            v6 = address
    return Targets(v4, v6, port)


def table(rows: Sequence[PathResult]) -> list[str]:
    """The rows for a person: one line each, the reason after a failure."""
    head = f"{'path':<26} {'result':<6} {'attach':>7} {'connect':>8} {'first':>8} {'median':>8}"
    lines = [head + "  replies"]
    for row in rows:
        result = "works" if row.works else "fails"
        lines.append(
            f"{row.path:<26} {result:<6} {_seconds(row.attach):>7} {_seconds(row.connect):>8} "
            f"{_ms(row.first_reply):>8} {_ms(row.median_rtt):>8}  {row.replies}/{row.sent}"
        )
        if row.reason:
            lines.append(f"  {row.reason}")
    return lines


def as_json(rows: Sequence[PathResult]) -> str:
    return json.dumps([asdict(row) for row in rows], indent=2)


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f} ms"
