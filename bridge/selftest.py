"""``pppbridge selftest``: our PPP client against our own answering side, over a real
pseudo-terminal pair, with CHAP, IPCP (address and DNS) and IPV6CP; then ICMP echo both
ways through the link. Until the bridge exists this is the whole stack running for real.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import random
import secrets
import sys
import tty
from typing import TextIO

from netstack.config import AuthProtocol, LinkConfig, Role
from netstack.events import DeliverPacket, LinkDown, LinkUp, Output
from netstack.ipwire import build_icmp_echo, echo_reply_for, parse_ip
from netstack.link import Link
from netstack.secret import Secret

from .pump import LinkPump

A4 = ipaddress.IPv4Address
CLIENT, GATEWAY, DNS = A4("198.51.100.2"), A4("198.51.100.1"), A4("198.51.100.53")


async def selftest(out: TextIO, timeout: float = 20.0) -> int:
    password = Secret(secrets.token_hex(8))
    rng = random.SystemRandom()
    client = Link(LinkConfig(username="selftest", password=password, echo_interval=5), rng)
    server = Link(
        LinkConfig(
            role=Role.ANSWERING,
            require_auth=AuthProtocol.CHAP_MD5,
            secrets={"selftest": password},
            local_ipv4=GATEWAY,
            peer_ipv4=CLIENT,
            dns=(DNS,),
        ),
        rng,
    )
    controller, line = os.openpty()
    tty.setraw(controller)
    tty.setraw(line)
    print(f"selftest: client on {os.ttyname(line)}, answering side on the pty controller", file=out)
    replies: asyncio.Queue[bytes] = asyncio.Queue()
    up = asyncio.Event()
    failed: list[LinkDown] = []

    def client_output(output: Output) -> None:
        if isinstance(output, DeliverPacket):
            replies.put_nowait(output.data)
            return
        print(f"selftest: client: {output}", file=out)
        if isinstance(output, LinkUp) and output.info.local_ipv4 and output.info.local_interface_id:
            up.set()
        if isinstance(output, LinkDown):
            failed.append(output)
            up.set()

    def server_output(output: Output) -> None:
        if isinstance(output, DeliverPacket):
            reply = echo_reply_for(output.data)
            if reply is not None:
                server_pump.send_packet(reply)

    client_pump = LinkPump(client, line, client_output)
    server_pump = LinkPump(server, controller, server_output)
    try:
        server_pump.start()
        client_pump.start()
        async with asyncio.timeout(timeout):
            await up.wait()
            if failed:
                return 1
            for seq in range(3):
                start = asyncio.get_running_loop().time()
                client_pump.send_packet(
                    build_icmp_echo(
                        CLIENT, GATEWAY, reply=False, ident=1, seq=seq, payload=b"pppbridge"
                    )
                )
                reply = await replies.get()
                rtt = (asyncio.get_running_loop().time() - start) * 1000
                source = parse_ip(reply).src
                print(
                    f"selftest: {len(reply)} bytes from {source}: seq={seq} {rtt:.2f} ms", file=out
                )
        stats = client.statistics()
        print(f"selftest: ok; client {stats}", file=out)
        return 0
    except TimeoutError:
        print(f"selftest: FAILED: nothing within {timeout} s", file=out)
        return 1
    finally:
        client_pump.stop()
        server_pump.stop()
        os.close(controller)
        os.close(line)


def main() -> int:
    return asyncio.run(selftest(sys.stdout))
