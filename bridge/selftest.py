"""``pppbridge selftest``: the bridge itself against the built-in simulator, checked with the
kernel's own sockets.

Everything happens in a network namespace of the selftest's own, so this host's
interfaces, routes and DNS are never touched: the bridge (``Supervisor``, the same code as
``pppbridge run``) brings the link up through the simulator (CHAP, IPCP with DNS,
IPV6CP, the Router Advertisement), configures the TUN, and then the kernel sends real
traffic through it: ICMP echo, UDP echo and TCP echo (RFC 862) over IPv4 and IPv6, and a
DNS lookup (A and AAAA) at the server the bridge configured. Then the bridge is stopped
as SIGTERM would stop it, and the interface must be gone. Needs root (a namespace, a
TUN). Every wait is bounded; an expected failure ends in one ``selftest: FAILED: ...``
line and exit status 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import random
import secrets
import socket
import struct
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from ipaddress import IPv4Address, IPv6Address, ip_address
from pathlib import Path
from typing import Any, TextIO

from netstack import ipwire
from netstack.errors import UsageError
from netstack.secret import Secret

from .entry import Failed, LineWriter
from .guard import Guard
from .modem import ModemSettings
from .netconfig import HostSettings, parse_dns_mode, parse_route
from .run import start_simulator
from .run_exit import RunEnded
from .run_settings import SIMULATED_ROUTES, RunSettings
from .serial_port import SerialSettings
from .simulator.plan import DEFAULT_PLAN as PLAN
from .simulator.settings import NetworkAuth, SimSettings
from .supervisor import Supervisor
from .tun import netlink

USER, APN, NAME = "selftest", "selftest", "echo.pppbridge.test"
IFNAME = "pppbr-selftest"
READY_TIMEOUT = 30.0
"""Seconds from start to a configured link (normally well under two)."""
STEP_TIMEOUT = 10.0
"""Seconds any one check may take."""
STOP_TIMEOUT = 15.0
"""Seconds the bridge may take to hang up and restore."""
CLONE_NEWNET = 0x40000000
Say = Callable[[str], None]


class SelftestFailed(Exception):
    """An expected failure: the message is the one line shown to the user."""


@contextlib.asynccontextmanager
async def step(what: str, seconds: float = STEP_TIMEOUT) -> AsyncIterator[None]:
    try:
        async with asyncio.timeout(seconds):
            yield
    except TimeoutError:
        raise SelftestFailed(f"{what}: no answer within {seconds:g} s") from None
    except OSError as exc:
        raise SelftestFailed(f"{what}: {exc.strerror or exc}") from None


# ----------------------------------------------------------------------- namespace
@contextlib.contextmanager
def private_namespace() -> Iterator[str]:
    """A new network namespace, entered by this thread (and the threads it starts) for
    the duration, then left and removed."""
    from pyroute2 import netns

    name = f"pppbr-selftest-{os.getpid()}"
    libc = ctypes.CDLL(None, use_errno=True)
    original = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    netns.create(name)
    try:
        fd = os.open(f"/var/run/netns/{name}", os.O_RDONLY)
        try:
            if libc.setns(fd, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns")
        finally:
            os.close(fd)
        try:
            netlink(lambda ipr: ipr.link("set", index=1, state="up"))  # lo
            yield name
        finally:
            libc.setns(original, CLONE_NEWNET)
    finally:
        os.close(original)
        netns.remove(name)


def _require_privileges() -> None:
    if os.geteuid() != 0 or not os.path.exists("/dev/net/tun"):
        raise UsageError(
            "the selftest needs root and /dev/net/tun (it makes a network namespace and a "
            "TUN device of its own, and leaves this host untouched): sudo pppbridge selftest"
        )


def selftest_settings(workdir: Path, **faults: Any) -> RunSettings:
    password = Secret(secrets.token_hex(8))
    return RunSettings(
        modem=ModemSettings(apn=APN, user=USER, password=password),
        serial=SerialSettings(device=""),
        host=HostSettings(
            ifname=IFNAME,
            state_dir=workdir / "state",
            default_route=False,
            routes=tuple(parse_route(r) for r in SIMULATED_ROUTES),
            dns=parse_dns_mode(f"file:{workdir / 'resolv.conf'}"),
        ),
        simulator=SimSettings(auth=NetworkAuth.CHAP, user=USER, password=password, **faults),
        echo_interval=5.0,
        maxfail=1,
        try_target=str(PLAN.echo_ipv4),
    )


# ------------------------------------------------------------------------- checks
async def ping(address: IPv4Address | IPv6Address, seq: int, say: Say) -> None:
    """One ICMP echo through a raw socket of the kernel (RFC 792, RFC 4443 4.1)."""
    loop = asyncio.get_running_loop()
    v6 = address.version == 6
    family = socket.AF_INET6 if v6 else socket.AF_INET
    proto = socket.IPPROTO_ICMPV6 if v6 else socket.IPPROTO_ICMP
    ident = random.randrange(1 << 16)
    request_type, reply_type = (128, 129) if v6 else (8, 0)
    body = struct.pack("!HH", ident, seq) + bytes(range(56))
    message = bytes((request_type, 0)) + b"\0\0" + body
    if not v6:  # the kernel computes ICMPv6 checksums itself (RFC 3542 3.1)
        message = message[:2] + struct.pack("!H", ipwire.checksum(message)) + message[4:]
    with socket.socket(family, socket.SOCK_RAW, proto) as sock:
        sock.setblocking(False)
        start = time.perf_counter()
        async with step(f"ping {address} icmp_seq={seq}"):
            await loop.sock_sendto(sock, message, (str(address), 0))
            while True:
                data, peer = await loop.sock_recvfrom(sock, 65536)
                icmp = data if v6 else data[(data[0] & 0xF) * 4 :]
                if ip_address(peer[0]) == address and icmp[:1] == bytes((reply_type,)):
                    if icmp[4:8] == body[:4]:
                        break
    ms = (time.perf_counter() - start) * 1000
    say(f"{len(icmp)} bytes from {address}: icmp_seq={seq} time={ms:.2f} ms")


async def udp_echo(address: IPv4Address | IPv6Address, say: Say) -> None:
    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    data = b"pppbridge selftest " + secrets.token_bytes(8).hex().encode()
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        start = time.perf_counter()
        async with step(f"UDP echo {address} port 7"):
            await loop.sock_connect(sock, (str(address), 7))
            await loop.sock_sendall(sock, data)
            answer = await loop.sock_recv(sock, 65536)
    if answer != data:
        raise SelftestFailed(f"UDP echo {address} port 7 came back as {answer!r}")
    ms = (time.perf_counter() - start) * 1000
    say(f"UDP echo {address} port 7: {len(answer)} bytes back, time={ms:.2f} ms")


async def tcp_echo(address: IPv4Address | IPv6Address, say: Say) -> None:
    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    data = secrets.token_bytes(4000)  # several segments
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setblocking(False)
        start = time.perf_counter()
        async with step(f"TCP echo {address} port 7"):
            await loop.sock_connect(sock, (str(address), 7))
            await loop.sock_sendall(sock, data)
            answer = b""
            while len(answer) < len(data):
                chunk = await loop.sock_recv(sock, 65536)
                if not chunk:
                    break
                answer += chunk
    if answer != data:
        raise SelftestFailed(f"TCP echo {address} port 7: {len(answer)} of {len(data)} bytes")
    ms = (time.perf_counter() - start) * 1000
    say(f"TCP echo {address} port 7: {len(answer)} bytes back, time={ms:.2f} ms")


def dns_query(ident: int, name: str, qtype: int = 1) -> bytes:
    """A recursive query for ``name`` (RFC 1035 4.1.1, 4.1.2); qtype 1 A, 28 AAAA."""
    labels = b"".join(bytes([len(label)]) + label for label in name.encode("ascii").split(b"."))
    header = struct.pack("!6H", ident, 0x0100, 1, 0, 0, 0)
    return header + labels + b"\0" + struct.pack("!HH", qtype, 1)


def dns_addresses(message: bytes, query: bytes) -> list[IPv4Address | IPv6Address]:
    """The A and AAAA records of the answer to ``query`` (whose question it echoes)."""
    try:
        ident, flags, _, count, _, _ = struct.unpack_from("!6H", message)
        if ident != struct.unpack_from("!H", query)[0] or not flags & 0x8000 or flags & 0xF:
            raise SelftestFailed(f"DNS answer id {ident} rcode {flags & 0xF}")
        offset, found = len(query), []
        for _ in range(count):
            while message[offset] and message[offset] < 0xC0:  # labels, then root or pointer
                offset += 1 + message[offset]
            offset += 2 if message[offset] else 1
            rtype, _, _, length = struct.unpack_from("!HHIH", message, offset)
            rdata = message[offset + 10 : offset + 10 + length]
            if (rtype, length) in ((1, 4), (28, 16)) and len(rdata) == length:
                found.append(ip_address(rdata))
            offset += 10 + length
        return found
    except (IndexError, struct.error, ValueError):
        raise SelftestFailed("malformed DNS answer") from None


def configured_nameserver(path: Path) -> IPv4Address | IPv6Address:
    """The first ``nameserver`` the bridge wrote (the pppd usepeerdns-style file)."""
    for line in path.read_text().splitlines():
        words = line.split()
        if len(words) == 2 and words[0] == "nameserver":
            return ip_address(words[1])
    raise SelftestFailed(f"the bridge configured no DNS server in {path}")


async def dns_lookup(resolv: Path, say: Say) -> None:
    loop = asyncio.get_running_loop()
    server = configured_nameserver(resolv)
    family = socket.AF_INET6 if server.version == 6 else socket.AF_INET
    for qtype, kind in ((1, "A"), (28, "AAAA")):
        query = dns_query(random.randrange(1 << 16), NAME, qtype)
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)
            async with step(f"DNS {NAME} {kind} at {server}"):
                await loop.sock_connect(sock, (str(server), 53))
                await loop.sock_sendall(sock, query)
                answer = await loop.sock_recv(sock, 65536)
        found = dns_addresses(answer, query)
        if not found:
            raise SelftestFailed(f"DNS {NAME} {kind} at {server}: no record")
        say(f"DNS {NAME} {kind} at {server} (the configured resolver): {found[0]}")


async def exercise(supervisor: Supervisor, resolv: Path, say: Say) -> None:
    if PLAN.client_global_ipv6 not in supervisor.host.ipv6_globals:
        raise SelftestFailed(f"no IPv6: the global address {PLAN.client_global_ipv6} is missing")
    for seq in (1, 2, 3):
        await ping(PLAN.echo_ipv4, seq, say)
    await ping(PLAN.echo_ipv6, 1, say)
    for address in (PLAN.echo_ipv4, PLAN.echo_ipv6):
        await udp_echo(address, say)
        await tcp_echo(address, say)
    await dns_lookup(resolv, say)


# --------------------------------------------------------------------------- run
async def _run(workdir: Path, say: Say, faults: dict[str, Any]) -> None:
    settings = selftest_settings(workdir, **faults)
    simulator, settings = await start_simulator(settings, say)
    try:
        supervisor = Supervisor(settings, lambda text: say(f"bridge: {text}"))
        task = asyncio.ensure_future(supervisor.run())
        try:
            ready = asyncio.ensure_future(supervisor.ready.wait())
            await asyncio.wait({task, ready}, timeout=READY_TIMEOUT, return_when="FIRST_COMPLETED")
            ready.cancel()
            if task.done():
                _bridge_ended(task)
            if not supervisor.ready.is_set():
                raise SelftestFailed(f"the link was not up within {READY_TIMEOUT:g} s")
            await exercise(supervisor, workdir / "resolv.conf", say)
            supervisor.stopping.set()
            async with step("stopping the bridge", STOP_TIMEOUT):
                await asyncio.shield(task)
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, RunEnded):
                    await task
        try:
            socket.if_nametoindex(IFNAME)
        except OSError:
            say(f"bridge stopped: {IFNAME} and everything on it removed")
        else:
            raise SelftestFailed(f"{IFNAME} still exists after the bridge stopped")
    finally:
        await simulator.close()


def _bridge_ended(task: asyncio.Future[None]) -> None:
    exc = task.exception()
    if isinstance(exc, RunEnded):
        raise SelftestFailed(f"the bridge ended: {exc.message}")
    if exc is not None:
        raise exc
    raise SelftestFailed("the bridge ended before the link was up")


async def selftest(out: TextIO, err: TextIO | None = None, **faults: Any) -> int:
    """0 when every step passed, else 1 after one FAILED line. ``faults``: more
    ``SimSettings`` fields, for the tests of the failure paths. Raises ``UsageError``
    without root, ``StopSignal`` on a stop signal, ``Failed`` if ``out`` cannot be
    written; cleans up first."""
    _require_privileges()
    out_writer = LineWriter(out, "standard output")

    def say(text: str) -> None:
        out_writer.line(f"selftest: {text}")

    with tempfile.TemporaryDirectory(prefix="pppbridge-selftest-") as tmp:
        with private_namespace(), Guard() as guard:
            try:
                await guard.watch(_run(Path(tmp), say, faults))
                say("ok")
                return 0
            except SelftestFailed as exc:
                say(f"FAILED: {exc}")
                return 1


def main() -> int:
    """``pppbridge selftest``; its exit status (``bridge.entry`` reports the rest)."""
    return asyncio.run(selftest(sys.stdout, sys.stderr))


__all__ = ["Failed", "SelftestFailed", "dns_addresses", "dns_query", "main", "selftest"]
