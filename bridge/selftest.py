"""``pppbridge selftest``: our PPP client against the built-in modem simulator, end to end.

One asyncio program: the simulator starts on a pseudo-terminal (its operator network in a
network namespace when root, else its in-process responder); a minimal AT client
registers, sets the PDP context and CHAP credentials and dials; our ``Link`` then takes the
line through ``LinkPump`` and brings up IPCP and IPV6CP; the global IPv6 address comes from
the Router Advertisement's prefix and the IPV6CP identifier (RFC 4862 5.5.3). ICMP echo
over both families, UDP echo (RFC 862) and a DNS lookup (RFC 1035) go through the link;
LCP Terminate ends it and the modem must be back in command mode. Until ``pppbridge run``
exists this is the most complete run of the stack. Every wait is bounded; an expected
failure ends in one ``selftest: FAILED: ...`` line and exit status 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import random
import re
import secrets
import struct
import sys
import tty
from collections.abc import AsyncIterator, Callable
from ipaddress import IPv4Address, IPv6Address, IPv6Network
from typing import Any, TextIO

from netstack import ipwire
from netstack.config import LinkConfig
from netstack.errors import MalformedPacket
from netstack.events import DeliverPacket, Ipv6Unavailable, LinkDown, LinkInfo, LinkUp, Output
from netstack.ipwire import IcmpType, IpAddress, IpPacket, IpProtocol, parse_ip
from netstack.link import Link
from netstack.secret import Secret

from .entry import Failed, LineWriter
from .guard import Guard
from .pump import LinkPump
from .simulator.plan import DEFAULT_PLAN as PLAN
from .simulator.settings import NetworkAuth, SimSettings
from .simulator.shell import Simulator

USER, APN, NAME = "selftest", "selftest", "echo.pppbridge.test"
SETUP = ("AT", "ATE0", "AT+CGMI", "AT+CPIN?", "AT+CEREG?", f'AT+CGDCONT=1,"IPV4V6","{APN}"')
STEP_TIMEOUT = 10.0
"""Seconds any one step may take (the whole run normally takes well under one)."""
FINAL_RESULTS = ("OK", "ERROR", "NO CARRIER", "BUSY", "NO ANSWER", "NO DIALTONE")
"""V.250 5.7; ``CONNECT <text>`` and ``+CME ERROR: <err>`` (27.007 9.2) are matched apart."""
ALL_ROUTERS = IPv6Address("ff02::2")
Say = Callable[[str], None]


class SelftestFailed(Exception):
    """An expected failure: the message is the one line shown to the user."""


@contextlib.asynccontextmanager
async def step(what: str, seconds: float = STEP_TIMEOUT) -> AsyncIterator[None]:
    try:
        async with asyncio.timeout(seconds):
            yield
    except TimeoutError:
        raise SelftestFailed(f"{what}: nothing within {seconds:g} s") from None


def final_result(line: str) -> str | None:
    """The final result code a whole line is, or None (classified as whole lines only)."""
    if line in FINAL_RESULTS:
        return line
    if line == "CONNECT" or line.startswith("CONNECT "):
        return "CONNECT"
    return next((p[:-1] for p in ("+CME ERROR:", "+CMS ERROR:") if line.startswith(p)), None)


class AtClient:
    """One command at a time on a raw non-blocking tty. Replies are read a byte at a time
    and never past the final result line (V1 framing: lines end in CR LF), so the PPP bytes
    that follow CONNECT stay in the tty for the pump."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._loop = asyncio.get_running_loop()

    async def command(self, text: str, expect: str = "OK", shown: str = "") -> list[str]:
        os.write(self._fd, text.encode("ascii") + b"\r")
        async with step(shown or text, 5):
            lines = await self._wait_final()
        lines = [line for line in lines if line != text]  # the echo, while E1
        if final_result(lines[-1]) != expect:
            raise SelftestFailed(f"{shown or text}: expected {expect}, got {' | '.join(lines)}")
        return lines

    async def _wait_final(self) -> list[str]:
        lines: list[str] = []
        line = bytearray()
        done: asyncio.Future[list[str]] = self._loop.create_future()

        def readable() -> None:
            while not done.done():
                try:
                    byte = os.read(self._fd, 1)
                except BlockingIOError:
                    return
                except OSError as exc:
                    done.set_exception(SelftestFailed(f"modem line: {exc.strerror}"))
                    return
                if not byte:
                    done.set_exception(SelftestFailed("the modem line was closed"))
                    return
                if byte != b"\n":
                    line.extend(byte)
                    continue
                text = line.decode("latin-1").strip()
                line.clear()
                if text:
                    lines.append(text)
                if final_result(text):
                    done.set_result(lines)

        self._loop.add_reader(self._fd, readable)
        try:
            return await done
        finally:
            self._loop.remove_reader(self._fd)


async def dial(at: AtClient, password: Secret, say: Say) -> None:
    """Register, set the context and CHAP credentials, dial: the modem is then online."""
    for command in SETUP:
        lines = await at.command(command)
        say(f"{command} -> {' | '.join(lines)}")
        registered = any(re.fullmatch(r"\+CEREG: \d+,[15](,.*)?", line) for line in lines)
        if command == "AT+CEREG?" and not registered:  # 27.007 10.1.22: home or roaming
            raise SelftestFailed(f"not registered on the network: {' | '.join(lines)}")
    shown = f'AT+CGAUTH=1,2,"{USER}","***"'
    reply = await at.command(f'AT+CGAUTH=1,2,"{USER}","{password.reveal().decode()}"', shown=shown)
    say(f"{shown} -> {' | '.join(reply)}")
    say(f"ATD*99***1# -> {' | '.join(await at.command('ATD*99***1#', expect='CONNECT'))}")


class PppClient:
    """Our ``Link`` on the modem's line, with the outputs turned into things to wait on."""

    def __init__(self, fd: int, password: Secret) -> None:
        config = LinkConfig(username=USER, password=password, echo_interval=5)
        self.pump = LinkPump(Link(config, random.SystemRandom()), fd, self._on_output)
        self.info: LinkInfo | None = None
        self.down: LinkDown | None = None
        self.no_ipv6 = ""
        self._changed = asyncio.Event()
        self._packets: asyncio.Queue[bytes | LinkDown] = asyncio.Queue()
        self._loop = asyncio.get_running_loop()

    def _on_output(self, output: Output) -> None:
        if isinstance(output, DeliverPacket):
            self._packets.put_nowait(output.data)
        elif isinstance(output, LinkUp):
            self.info = output.info
        elif isinstance(output, LinkDown):
            self.down = self.down or output
            self._packets.put_nowait(output)
        elif isinstance(output, Ipv6Unavailable):
            self.no_ipv6 = output.detail
        self._changed.set()

    async def wait_until(self, condition: Callable[[], object]) -> None:
        while not condition():
            self._changed.clear()
            await self._changed.wait()

    async def wait_up(self) -> LinkInfo:
        """IPCP and IPV6CP both opened."""
        await self.wait_until(lambda: self.down or self.no_ipv6 or self._both_up())
        if self.down or self.no_ipv6:
            raise SelftestFailed(self.down_text() if self.down else f"no IPv6: {self.no_ipv6}")
        assert self.info is not None
        return self.info

    def _both_up(self) -> bool:
        return bool(self.info and self.info.local_ipv4 and self.info.local_interface_id)

    async def exchange(
        self, packet: bytes, match: Callable[[IpPacket], bool]
    ) -> tuple[IpPacket, float]:
        """Send ``packet``, then wait for the first packet ``match`` accepts; its round-trip
        time in milliseconds. Other packets are dropped, as a host would."""
        start = self._loop.time()
        self.pump.send_packet(packet)
        while True:
            item = await self._packets.get()
            if isinstance(item, LinkDown):
                raise SelftestFailed(self.down_text())
            with contextlib.suppress(MalformedPacket):
                if match(ip := parse_ip(item)):
                    return ip, (self._loop.time() - start) * 1000

    def down_text(self) -> str:
        assert self.down is not None
        detail = f" ({self.down.detail})" if self.down.detail else ""
        return f"link down: {self.down.reason.value}{detail}"


def ra_prefix(ip: IpPacket) -> IPv6Network | None:
    """The autonomous prefix of a Router Advertisement (RFC 4861 4.2, 4.6.2), or None."""
    message = ip.payload
    advertisement = bytes([IcmpType.ROUTER_ADVERTISEMENT])
    if ip.protocol != IpProtocol.ICMPV6 or ip.hop_limit != 255 or message[:1] != advertisement:
        return None
    offset = 16  # RFC 4861 4.2: the options follow 16 octets of header
    while offset + 2 <= len(message) and message[offset + 1]:
        option = message[offset : offset + message[offset + 1] * 8]
        if option[0] == 3 and len(option) == 32 and option[3] & 0x40:  # Prefix, A flag
            return IPv6Network((IPv6Address(option[16:32]), option[2]), strict=False)
        offset += len(option)
    return None


async def global_address(client: PppClient, info: LinkInfo) -> IPv6Address:
    """Solicit a Router Advertisement (RFC 4861 6.3.7) and form the SLAAC address."""
    assert info.local_interface_id and info.local_ipv6_link_local
    solicit = bytes([IcmpType.ROUTER_SOLICITATION]) + bytes(7)  # RFC 4861 4.1, no options
    packet = ipwire.build_icmpv6(info.local_ipv6_link_local, ALL_ROUTERS, solicit, hop_limit=255)
    async with step("Router Advertisement"):
        ip, _ = await client.exchange(packet, lambda ip: ra_prefix(ip) is not None)
    prefix = ra_prefix(ip)
    assert prefix is not None
    if prefix.prefixlen != 64:
        raise SelftestFailed(f"Router Advertisement prefix {prefix} is not a /64")
    return IPv6Address(prefix.network_address.packed[:8] + info.local_interface_id)


async def ping(client: PppClient, src: IpAddress, dst: IpAddress, seq: int, say: Say) -> None:
    ident = os.getpid() & 0xFFFF
    packet = ipwire.build_icmp_echo(src, dst, reply=False, ident=ident, seq=seq, payload=bytes(56))

    def is_reply(ip: IpPacket) -> bool:
        echo = ipwire.parse_icmp_echo(ip)
        return ip.src == dst and echo is not None and echo[:3] == (True, ident, seq)

    async with step(f"ping {dst} icmp_seq={seq}"):
        ip, rtt = await client.exchange(packet, is_reply)
    say(f"{len(ip.payload)} bytes from {dst}: icmp_seq={seq} ttl={ip.hop_limit} time={rtt:.2f} ms")


async def udp(
    client: PppClient, src: IpAddress, dst: IpAddress, port: int, data: bytes
) -> tuple[bytes, float]:
    sport = random.randrange(20000, 60000)

    def is_reply(ip: IpPacket) -> bool:
        ports = ipwire.parse_udp(ip)[:2] if ip.protocol == IpProtocol.UDP else None
        return ip.src == dst and ports == (port, sport)

    async with step(f"UDP to {dst} port {port}"):
        ip, rtt = await client.exchange(ipwire.build_udp(src, dst, sport, port, data), is_reply)
    return ipwire.parse_udp(ip)[2], rtt


def dns_query(ident: int, name: str) -> bytes:
    """A recursive query for the A record of ``name`` (RFC 1035 4.1.1, 4.1.2)."""
    labels = b"".join(bytes([len(label)]) + label for label in name.encode("ascii").split(b"."))
    return struct.pack("!6H", ident, 0x0100, 1, 0, 0, 0) + labels + b"\0" + struct.pack("!HH", 1, 1)


def dns_addresses(message: bytes, query: bytes) -> list[IPv4Address]:
    """The A records of the answer to ``query`` (whose question it echoes)."""
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
            if rtype == 1 and length == 4:
                found.append(IPv4Address(message[offset + 10 : offset + 14]))
            offset += 10 + length
        return found
    except (IndexError, struct.error):
        raise SelftestFailed("malformed DNS answer") from None


async def exercise(client: PppClient, say: Say) -> None:
    async with step("PPP negotiation (LCP, CHAP, IPCP, IPV6CP)"):
        info = await client.wait_up()
    assert info.local_ipv4 is not None
    me4, me6 = info.local_ipv4, await global_address(client, info)
    dns = ", ".join(map(str, info.dns)) or "none"
    say(f"IPv4 {me4} peer {info.peer_ipv4}, DNS {dns}, auth {info.auth}, mtu {info.mtu}")
    say(f"IPv6 {me6} (link-local {info.local_ipv6_link_local})")
    for seq in (1, 2, 3):
        await ping(client, me4, PLAN.echo_ipv4, seq, say)
    await ping(client, me6, PLAN.echo_ipv6, 1, say)
    data, rtt = await udp(client, me4, PLAN.echo_ipv4, 7, b"pppbridge selftest")
    if data != b"pppbridge selftest":
        raise SelftestFailed(f"UDP echo from {PLAN.echo_ipv4} came back as {data!r}")
    say(f"UDP echo {PLAN.echo_ipv4} port 7: {len(data)} bytes back, time={rtt:.2f} ms")
    if not info.dns:
        raise SelftestFailed("IPCP gave no DNS server")
    query = dns_query(random.randrange(1 << 16), NAME)
    answer, rtt = await udp(client, me4, info.dns[0], 53, query)
    found = ", ".join(map(str, dns_addresses(answer, query)))
    if not found:
        raise SelftestFailed(f"DNS {NAME} at {info.dns[0]}: no A record")
    say(f"DNS {NAME} A at {info.dns[0]}: {found}, time={rtt:.2f} ms")


async def hang_up(client: PppClient, simulator: Simulator, say: Say) -> None:
    client.pump.close()
    async with step("LCP Terminate"):
        await client.wait_until(lambda: client.down)
    say(client.down_text())
    if not await simulator.wait("command", STEP_TIMEOUT):
        raise SelftestFailed(f"the modem stayed in {simulator.modem.mode.value} mode")
    say("modem back in command mode")


class SelftestRun:
    """The simulator, the modem line and our client for one run; ``close`` undoes what
    ``steps`` got to."""

    def __init__(self, say: Say, notice: Say, faults: dict[str, Any]) -> None:
        self.say = say
        self.notice = notice
        self.password = Secret(secrets.token_hex(8))
        self.banner, self.notices = io.StringIO(), io.StringIO()
        settings = SimSettings(auth=NetworkAuth.CHAP, user=USER, password=self.password, **faults)
        self.simulator = Simulator(settings, out=self.banner, err=self.notices)
        self.fd = -1
        self.client: PppClient | None = None

    async def steps(self) -> None:
        await self.simulator.start()
        for line in self.banner.getvalue().splitlines():
            self.say(f"simulator: {line}")
        for line in self.notices.getvalue().splitlines():
            self.notice(f"simulator: {line.removeprefix('pppbridge simulate: ')}")
        self.say(f"simulator: operator network: {self.simulator.status()['network']}")
        self.fd = os.open(self.simulator.device, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(self.fd)
        await dial(AtClient(self.fd), self.password, self.say)
        self.client = PppClient(self.fd, self.password)
        self.client.pump.start()
        await exercise(self.client, self.say)
        await hang_up(self.client, self.simulator, self.say)

    async def close(self) -> None:
        if self.client is not None:
            self.client.pump.stop()
        if self.fd >= 0:
            os.close(self.fd)
        await self.simulator.close()


async def selftest(out: TextIO, err: TextIO | None = None, **faults: Any) -> int:
    """0 when every step passed, else 1 after one FAILED line. ``faults``: more
    ``SimSettings`` fields, for the tests of the failure paths. Raises ``StopSignal`` on
    a stop signal and ``Failed`` if ``out`` cannot be written, after cleaning up."""
    out_writer = LineWriter(out, "standard output")
    err_writer = LineWriter(err or out, "standard error")

    def say(text: str) -> None:
        out_writer.line(f"selftest: {text}")

    def notice(text: str) -> None:
        with contextlib.suppress(Failed):  # a notice is not worth failing for
            err_writer.line(f"selftest: {text}")

    run = SelftestRun(say, notice, faults)
    with Guard() as guard:
        try:
            await guard.watch(run.steps())
            say("ok")
            return 0
        except SelftestFailed as exc:
            say(f"FAILED: {exc}")
            return 1
        finally:
            await run.close()


def main() -> int:
    """``pppbridge selftest``; its exit status (``bridge.entry`` reports the rest)."""
    return asyncio.run(selftest(sys.stdout, sys.stderr))
