"""The AT-socket plane (``bridge.atsocket_plane``) on a real pty, against a modem the
test plays byte by byte on the pty's other end, and a packet pipe for the TUN: what the
modem does wrong ends the plane with a reason, never an exception in the event loop."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from ipaddress import IPv6Address
from typing import Any

from bridge.atsocket_plane import AtSocketPlane
from bridge.packet_pair import PacketPair
from netstack.atsocket import AtSocketBridge
from netstack.atsocket_vendors import VENDORS
from netstack.ipwire import build_udp
from pty_modem import TIMEOUT, Modem, on_a_pty

HOST = IPv6Address("2001:db8:2::2")
REMOTE = IPv6Address("2001:db8:1::1")


def run_with_plane(
    vendor: str, scenario: Callable[[AtSocketPlane, Modem, PacketPair], Coroutine[Any, Any, None]]
) -> list[Any]:
    """``scenario`` with a plane on a new pty; the errors the event loop saw."""

    async def with_plane(modem: Modem, line_fd: int) -> None:
        pair = PacketPair()
        bridge = AtSocketBridge(VENDORS[vendor], local_address=HOST)
        plane = AtSocketPlane(bridge, line_fd, pair.bridge_end, read_tun=True)
        plane.start()
        try:
            await scenario(plane, modem, pair)
        finally:
            plane.stop()
            pair.close()

    return on_a_pty(with_plane)


def datagram(payload: bytes = b"hello") -> bytes:
    return build_udp(HOST, REMOTE, 40000, 7, payload)


def test_connect_on_the_at_line_ends_the_plane_with_a_reason() -> None:
    """A CONNECT nobody asked for: the command in flight fails, the queued ones are not
    sent on a line that now carries data, the plane is lost with a reason."""

    async def scenario(plane: AtSocketPlane, modem: Modem, pair: PacketPair) -> None:
        pair.send(datagram())
        pair.send(build_udp(HOST, REMOTE, 40001, 7, b"second flow"))
        await modem.line(b"AT#SCFG=")
        modem.say("\r\nCONNECT\r\n")
        async with asyncio.timeout(TIMEOUT):
            await plane.wait_lost()
        assert plane.lost_reason == "the modem went online (CONNECT) on the AT line"
        await asyncio.sleep(0.2)  # anything still due would be written by now
        assert b"AT#" not in modem.seen, "nothing more sent after CONNECT"

    assert run_with_plane("telit", scenario) == []


def test_the_line_closing_ends_the_plane_with_a_reason() -> None:
    async def scenario(plane: AtSocketPlane, modem: Modem, pair: PacketPair) -> None:
        pair.send(datagram())
        await modem.line(b"AT+SQNSCFG=")
        os.close(modem.fd)
        async with asyncio.timeout(TIMEOUT):
            await plane.wait_lost()
        assert plane.lost_reason is not None and plane.lost_reason.startswith("AT line")

    assert run_with_plane("sequans", scenario) == []


def test_close_is_bounded_when_the_modem_says_nothing() -> None:
    async def scenario(plane: AtSocketPlane, modem: Modem, pair: PacketPair) -> None:
        pair.send(datagram())
        await modem.line(b"AT+QIOPEN=")
        modem.say("\r\nOK\r\n\r\n+QIOPEN: 0,0\r\n")
        await modem.line(b"AT+QISEND=")
        modem.say("\r\n> ")
        async with asyncio.timeout(TIMEOUT):
            await plane.close(0.5)  # the send never ends: close gives up after 0.5 s
        assert plane.bridge.sockets()

    assert run_with_plane("quectel", scenario) == []


# --- a line shared with PPP (bridge.line_sharing) ------------------------------------------


def shared_plane(line_fd: int, pair: PacketPair) -> AtSocketPlane:
    bridge = AtSocketBridge(VENDORS["telit"], local_address=HOST)
    plane = AtSocketPlane(bridge, line_fd, pair.bridge_end, read_tun=False, shared=True)
    plane.start()
    return plane


def run_shared(
    scenario: Callable[[Modem, int, PacketPair], Coroutine[Any, Any, None]],
) -> list[Any]:
    """``scenario(modem, line_fd, pair)``; the errors the event loop saw."""

    async def with_pair(modem: Modem, line_fd: int) -> None:
        pair = PacketPair()
        try:
            await scenario(modem, line_fd, pair)
        finally:
            pair.close()

    return on_a_pty(with_pair)


def test_a_datagram_while_ato_is_pending_waits_for_the_next_loan() -> None:
    async def scenario(modem: Modem, line_fd: int, pair: PacketPair) -> None:
        plane = shared_plane(line_fd, pair)
        plane.command_mode()
        going = asyncio.ensure_future(plane.go_online(TIMEOUT))
        await modem.line(b"ATO")
        plane.from_tun(datagram())  # the channel has ATO pending: held, not sent
        assert plane.busy
        modem.say("\r\nCONNECT\r\n")
        async with asyncio.timeout(TIMEOUT):
            assert await going == b""
        assert not plane.commanding and plane.busy  # the datagram's commands wait
        plane.stop()

    assert run_shared(scenario) == []


def test_a_shared_plane_leaves_the_other_reader_of_its_line_alone() -> None:
    """PPP's data plane reads the same descriptor while the line is online: stopping the
    AT side must not take PPP's reader away."""

    async def scenario(modem: Modem, line_fd: int, pair: PacketPair) -> None:
        loop = asyncio.get_running_loop()
        ppp_read = asyncio.Event()
        loop.add_reader(line_fd, lambda: (os.read(line_fd, 4096), ppp_read.set()))
        plane = shared_plane(line_fd, pair)
        plane.stop()
        modem.say(b"~ppp~")
        async with asyncio.timeout(TIMEOUT):
            await ppp_read.wait()
        loop.remove_reader(line_fd)

    assert run_shared(scenario) == []
