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
import struct
import sys
import tty
from typing import TextIO

from netstack.config import AuthProtocol, LinkConfig, Role
from netstack.events import DeliverPacket, LinkDown, LinkUp, Output
from netstack.link import Link
from netstack.secret import Secret

from .pump import LinkPump

A4 = ipaddress.IPv4Address
CLIENT, GATEWAY, DNS = A4("198.51.100.2"), A4("198.51.100.1"), A4("198.51.100.53")


def checksum(data: bytes) -> int:
    """RFC 1071 Internet checksum."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def icmp_echo(src: A4, dst: A4, kind: int, ident: int, seq: int, payload: bytes) -> bytes:
    icmp = struct.pack("!BBHHH", kind, 0, 0, ident, seq) + payload
    icmp = icmp[:2] + struct.pack("!H", checksum(icmp)) + icmp[4:]
    header = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), 0, 0, 64, 1, 0, src.packed, dst.packed
    )
    header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
    return header + icmp


def echo_reply_for(packet: bytes) -> bytes | None:
    """The answer of a host to an IPv4 ICMP echo request, or None."""
    if len(packet) < 28 or packet[0] != 0x45 or packet[9] != 1 or packet[20] != 8:
        return None
    ident, seq = struct.unpack_from("!HH", packet, 24)
    src, dst = A4(packet[12:16]), A4(packet[16:20])
    return icmp_echo(dst, src, 0, ident, seq, packet[28:])


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
                client_pump.send_packet(icmp_echo(CLIENT, GATEWAY, 8, 1, seq, b"pppbridge"))
                reply = await replies.get()
                rtt = (asyncio.get_running_loop().time() - start) * 1000
                source = A4(reply[12:16])
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
