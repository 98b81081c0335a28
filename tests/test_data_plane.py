"""The data plane with real parts: a pty as the serial line, a real TUN in a network
namespace of the test, the kernel's own UDP sockets. The far end is our answering Link
(pumped on the pty's other end) in front of the simulator's hosts (``LocalResponder``).

Needs root and /dev/net/tun.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import tty
from collections.abc import Awaitable, Callable
from typing import Any

from bridge.data_plane import DataPlane
from bridge.serial_writer import BACKLOG_HIGH
from bridge.simulator.hosts import LocalResponder
from bridge.simulator.plan import DEFAULT_PLAN
from bridge.tun import TunDevice, netlink
from netstack.config import LinkConfig, Role
from netstack.events import DeliverPacket, LinkDown, LinkUp, Output
from netstack.link import Link
from netstack.ra import build_router_solicitation, is_router_advertisement, link_local_address
from tests.link_pump import LinkPump
from tests.test_tun import Namespace, namespace, needs_root

__all__ = ["namespace"]  # the fixture, used by name
pytestmark = needs_root
PLAN = DEFAULT_PLAN
TIMEOUT = 8.0


class Bridge:
    """Both ends on one pty: our client DataPlane and the answering side with hosts."""

    def __init__(self) -> None:
        self.events: list[Output] = []
        self.changed = asyncio.Event()
        self.ras: list[bytes] = []

    async def start(self, client: LinkConfig | None = None) -> None:
        controller, device = os.openpty()
        tty.setraw(controller)
        tty.setraw(device)
        self.fds = (controller, device)
        answering = LinkConfig(
            role=Role.ANSWERING,
            local_ipv4=PLAN.gateway_ipv4,
            peer_ipv4=PLAN.client_ipv4,
            dns=PLAN.dns_ipv4,
            peer_interface_id=bytes.fromhex("0000000000000002"),
            local_interface_id=bytes.fromhex("0000000000000001"),
        )
        responder = LocalResponder(PLAN)

        def on_network(output: Output) -> None:
            if isinstance(output, DeliverPacket):
                for reply in responder.answer(output.data):
                    self.peer.send_packet(reply)

        self.peer = LinkPump(Link(answering, random.Random(1)), controller, on_network)
        self.tun = TunDevice.open("pppbr-dp0")
        config = client or LinkConfig(username="test")
        self.plane = DataPlane(
            Link(config, random.Random(2)), device, self.tun, self.on_event, self.on_ra
        )
        self.peer.start()
        self.plane.start()

    def on_ra(self, packet: bytes) -> None:
        self.ras.append(packet)
        self.changed.set()

    def on_event(self, event: Output) -> None:
        if isinstance(event, LinkUp) and event.info.local_ipv4 and not self.up():
            info = event.info
            self.tun.configure(info.mtu)

            def addresses(ipr: Any) -> None:
                index = self.tun.ifindex
                ipr.addr("add", index=index, address=str(info.local_ipv4), prefixlen=32)
                ipr.route("add", dst="198.51.100.0/24", oif=index)

            netlink(addresses)
        self.events.append(event)
        self.changed.set()

    async def wait(self, condition: Callable[[], object]) -> None:
        async with asyncio.timeout(TIMEOUT):
            while not condition():
                self.changed.clear()
                await self.changed.wait()

    def up(self) -> bool:
        return any(isinstance(e, LinkUp) and e.info.local_ipv4 for e in self.events)

    def close(self) -> None:
        self.plane.stop()
        self.peer.stop()
        self.tun.close()
        for fd in self.fds:
            os.close(fd)


def run(namespace: Namespace, scenario: Callable[[Bridge], Awaitable[None]]) -> None:
    async def main() -> None:
        bridge = Bridge()
        await bridge.start()
        try:
            await bridge.wait(bridge.up)
            await scenario(bridge)
        finally:
            bridge.close()

    namespace.run(asyncio.run, main())


async def udp_echo(payloads: list[bytes]) -> list[bytes]:
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        # Room for every answer: a full socket buffer would drop them before we read.
        # (SO_RCVBUFFORCE 33, SO_SNDBUFFORCE 32: <asm-generic/socket.h>; root may.)
        sock.setsockopt(socket.SOL_SOCKET, 33, 8 << 20)
        sock.setsockopt(socket.SOL_SOCKET, 32, 8 << 20)
        sock.setblocking(False)
        sock.connect((str(PLAN.echo_ipv4), 7))
        answers = []
        for payload in payloads:
            await loop.sock_sendall(sock, payload)
        async with asyncio.timeout(TIMEOUT):
            while len(answers) < len(payloads):
                answers.append(await loop.sock_recv(sock, 65536))
        return answers


def test_udp_through_the_tun_with_the_kernels_sockets(namespace: Namespace) -> None:
    async def scenario(bridge: Bridge) -> None:
        payloads = [bytes([i]) * (100 + i) for i in range(50)]
        assert await udp_echo(payloads) == payloads
        assert bridge.plane.drops == {}

    run(namespace, scenario)


def test_a_burst_bigger_than_the_backlog_arrives_whole(namespace: Namespace) -> None:
    """More than BACKLOG_HIGH bytes in one go: the TUN is paused while the pty drains,
    and the kernel's socket buffer holds the rest; nothing is lost on the way."""

    async def scenario(bridge: Bridge) -> None:
        count = BACKLOG_HIGH // 1000 + 100
        payloads = [i.to_bytes(4, "big") * 250 for i in range(count)]
        answers = await udp_echo(payloads)
        assert sorted(answers) == sorted(payloads)

    run(namespace, scenario)


def test_router_advertisement_goes_to_the_bridge_not_the_kernel(namespace: Namespace) -> None:
    async def scenario(bridge: Bridge) -> None:
        await bridge.wait(lambda: bridge.plane.link.ipv6_ready)
        local = link_local_address(bytes.fromhex("0000000000000002"))
        bridge.plane.send_packet(build_router_solicitation(local))
        await bridge.wait(lambda: bridge.ras)
        assert is_router_advertisement(bridge.ras[0])

    run(namespace, scenario)


def test_carrier_loss_ends_the_plane(namespace: Namespace) -> None:
    async def scenario(bridge: Bridge) -> None:
        bridge.peer.stop()
        os.close(bridge.fds[0])  # the modem's end goes away: EIO on our side
        bridge.fds = (os.open("/dev/null", os.O_RDONLY), bridge.fds[1])
        await asyncio.wait_for(bridge.plane.wait_down(), TIMEOUT)
        down = [e for e in bridge.events if isinstance(e, LinkDown)]
        assert down and "serial line" in down[0].detail

    run(namespace, scenario)


def test_close_waits_for_the_terminate_ack(namespace: Namespace) -> None:
    """LinkDown comes at once on close; the Terminate exchange ends when the Ack comes."""

    async def scenario(bridge: Bridge) -> None:
        bridge.plane.close("bye")
        assert bridge.plane.is_down and not bridge.plane.link.finished
        await asyncio.wait_for(bridge.plane.wait_finished(), TIMEOUT)
        assert bridge.peer.link.statistics().frames_out > 0
        assert any(isinstance(e, LinkDown) for e in bridge.events)

    run(namespace, scenario)
