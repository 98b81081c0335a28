"""The simulated operator network: packets built with scapy, as the PPP client would send
them, go into the namespace and the real kernel's answers come back out of its TUN.

Needs root and /dev/net/tun (a network namespace and a TUN device are made for each test).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from pyroute2 import netns
from scapy.layers.dns import DNS, DNSQR
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import ICMPv6EchoReply, ICMPv6EchoRequest, IPv6
from scapy.packet import Packet, Raw

from bridge.simulator import operator
from bridge.simulator.operator import NetworkUnavailable, OperatorNetwork
from bridge.simulator.plan import DEFAULT_PLAN

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.exists("/dev/net/tun"),
    reason="needs root and /dev/net/tun to build a network namespace with a TUN",
)

TIMEOUT = 5
CLIENT4 = str(DEFAULT_PLAN.client_ipv4)
CLIENT6 = str(DEFAULT_PLAN.client_global_ipv6)
ECHO4 = str(DEFAULT_PLAN.echo_ipv4)
ECHO6 = str(DEFAULT_PLAN.echo_ipv6)
DNS4 = str(DEFAULT_PLAN.dns_ipv4[0])
DNS6 = str(DEFAULT_PLAN.dns_ipv6[0])


class Client:
    """The PPP client's end: sends scapy packets into the network, waits for answers."""

    def __init__(self, network: OperatorNetwork, received: asyncio.Queue[bytes]) -> None:
        self.network = network
        self.received = received

    def send(self, packet: Packet) -> None:
        self.network.send(bytes(packet))

    async def wait_packet(self, matches: Callable[[Packet], bool]) -> Packet:
        """The next packet from the network that ``matches``; others are passed over."""
        async with asyncio.timeout(TIMEOUT):
            while True:
                raw = await self.received.get()
                packet = IP(raw) if raw[0] >> 4 == 4 else IPv6(raw)
                if matches(packet):
                    return packet

    async def exchange(self, packet: Packet, matches: Callable[[Packet], bool]) -> Packet:
        self.send(packet)
        return await self.wait_packet(matches)


def run_in_network(scenario: Callable[[Client], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        received: asyncio.Queue[bytes] = asyncio.Queue()
        network = await asyncio.wait_for(
            OperatorNetwork.create(DEFAULT_PLAN, received.put_nowait), timeout=TIMEOUT
        )
        try:
            return await scenario(Client(network, received))
        finally:
            await asyncio.wait_for(network.close(), timeout=TIMEOUT)

    return asyncio.run(main())


def to_client4(source: str) -> Callable[[Packet], bool]:
    return lambda p: IP in p and p[IP].src == source and p[IP].dst == CLIENT4


def to_client6(source: str) -> Callable[[Packet], bool]:
    return lambda p: IPv6 in p and p[IPv6].src == source and p[IPv6].dst == CLIENT6


# --- ICMP: answered by the namespace's kernel -----------------------------------------------


def test_icmp_echo_v4() -> None:
    async def scenario(client: Client) -> Packet:
        request = IP(src=CLIENT4, dst=ECHO4) / ICMP(id=0x1234, seq=7) / b"ping"
        return await client.exchange(request, lambda p: to_client4(ECHO4)(p) and ICMP in p)

    reply = run_in_network(scenario)
    assert reply[ICMP].type == 0  # echo reply
    assert (reply[ICMP].id, reply[ICMP].seq, bytes(reply[ICMP].payload)) == (0x1234, 7, b"ping")


def test_icmp_echo_v6() -> None:
    async def scenario(client: Client) -> Packet:
        request = IPv6(src=CLIENT6, dst=ECHO6) / ICMPv6EchoRequest(id=0x4321, seq=3, data=b"p6")
        return await client.exchange(request, lambda p: ICMPv6EchoReply in p)

    reply = run_in_network(scenario)
    assert (reply[IPv6].src, reply[IPv6].dst) == (ECHO6, CLIENT6)
    assert (reply[ICMPv6EchoReply].id, reply[ICMPv6EchoReply].data) == (0x4321, b"p6")


# --- UDP echo (port 7) from every host address ----------------------------------------------


def test_udp_echo_v4_from_the_address_asked() -> None:
    async def scenario(client: Client) -> list[Packet]:
        replies = []
        for host in (ECHO4, DNS4):  # the socket is bound to the wildcard
            request = IP(src=CLIENT4, dst=host) / UDP(sport=40007, dport=7) / b"hello v4"
            replies.append(await client.exchange(request, lambda p: UDP in p))
        return replies

    for host, reply in zip((ECHO4, DNS4), run_in_network(scenario), strict=True):
        assert (reply[IP].src, reply[IP].dst) == (host, CLIENT4)
        assert (reply[UDP].sport, reply[UDP].dport) == (7, 40007)
        assert bytes(reply[UDP].payload) == b"hello v4"


def test_udp_echo_v6() -> None:
    async def scenario(client: Client) -> Packet:
        request = IPv6(src=CLIENT6, dst=ECHO6) / UDP(sport=40006, dport=7) / b"hello v6"
        return await client.exchange(request, lambda p: UDP in p)

    reply = run_in_network(scenario)
    assert (reply[IPv6].src, reply[IPv6].dst) == (ECHO6, CLIENT6)
    assert (reply[UDP].sport, reply[UDP].dport) == (7, 40006)
    assert bytes(reply[UDP].payload) == b"hello v6"


# --- TCP echo (port 7), handshake by hand -----------------------------------------------------


async def tcp_echo_by_hand(client: Client, ip: Callable[..., Packet], server: str) -> bytes:
    """SYN -> SYN/ACK -> ACK with data -> the data echoed back; then RST."""
    source = CLIENT4 if ip is IP else CLIENT6
    sport, isn, data = 40100, 1000, b"echo me over tcp"

    def from_server(p: Packet) -> bool:
        return TCP in p and p[TCP].sport == 7 and p[TCP].dport == sport

    syn = ip(src=source, dst=server) / TCP(sport=sport, dport=7, flags="S", seq=isn)
    syn_ack = await client.exchange(syn, from_server)
    assert syn_ack[TCP].flags == "SA" and syn_ack[TCP].ack == isn + 1
    server_next = syn_ack[TCP].seq + 1
    push = ip(src=source, dst=server) / TCP(
        sport=sport, dport=7, flags="PA", seq=isn + 1, ack=server_next
    )
    echoed = await client.exchange(push / data, lambda p: from_server(p) and Raw in p)
    assert echoed[TCP].seq == server_next and echoed[TCP].ack == isn + 1 + len(data)
    client.send(
        ip(src=source, dst=server) / TCP(sport=sport, dport=7, flags="R", seq=isn + 1 + len(data))
    )
    return bytes(echoed[Raw])


def test_tcp_echo_v4() -> None:
    echoed = run_in_network(lambda client: tcp_echo_by_hand(client, IP, ECHO4))
    assert echoed == b"echo me over tcp"


def test_tcp_echo_v6() -> None:
    echoed = run_in_network(lambda client: tcp_echo_by_hand(client, IPv6, ECHO6))
    assert echoed == b"echo me over tcp"


# --- garbage, statistics, clean-up ------------------------------------------------------------


def test_garbage_is_counted_not_raised() -> None:
    async def scenario(client: Client) -> Any:
        network = client.network
        for garbage in (b"", b"\x00", b"\x45" + bytes(5), b"\x60" * 39, bytes(range(256))):
            network.send(garbage)
        network.send(b"\x45" + bytes(59))  # looks like IPv4; the kernel drops it quietly
        # The network still works afterwards.
        request = IP(src=CLIENT4, dst=ECHO4) / ICMP(id=1, seq=1)
        await client.exchange(request, lambda p: to_client4(ECHO4)(p) and ICMP in p)
        return network.statistics()

    stats = run_in_network(scenario)
    assert stats.dropped_malformed == 5 and stats.dropped == 5
    assert stats.packets_in == 2 and stats.packets_out >= 1


def test_send_after_close_is_counted() -> None:
    async def main() -> Any:
        network = await OperatorNetwork.create(DEFAULT_PLAN, lambda packet: None)
        await asyncio.wait_for(network.close(), timeout=TIMEOUT)
        await asyncio.wait_for(network.close(), timeout=TIMEOUT)  # idempotent
        network.send(bytes(IP(src=CLIENT4, dst=ECHO4) / ICMP()))
        return network.statistics()

    assert asyncio.run(main()).dropped_refused == 1


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def test_close_removes_the_namespace_and_every_fd() -> None:
    async def scenario(client: Client) -> str:
        request = IPv6(src=CLIENT6, dst=ECHO6) / UDP(sport=40006, dport=7) / b"x"
        await client.exchange(request, lambda p: UDP in p)
        assert client.network.name in netns.listnetns()
        return client.network.name

    before = open_fds()
    name = run_in_network(scenario)
    assert name not in netns.listnetns()
    assert open_fds() == before


def test_failure_half_way_removes_the_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(plan: object) -> None:  # after the namespace and the TUN exist
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(operator, "_configure", fail)
    namespaces, before = set(netns.listnetns()), open_fds()
    with pytest.raises(NetworkUnavailable, match="Operation not permitted.*CAP_NET_ADMIN"):
        asyncio.run(OperatorNetwork.create(DEFAULT_PLAN, lambda packet: None))
    assert set(netns.listnetns()) == namespaces
    assert open_fds() == before


def test_unavailable_without_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(NetworkUnavailable, match="needs root"):
        asyncio.run(OperatorNetwork.create(DEFAULT_PLAN, lambda packet: None))


# --- DNS (UDP 53), answered from the plan by bridge.simulator.hosts ---------------------------


async def ask(client: Client, ip: Callable[..., Packet], server: str, name: str, kind: str) -> DNS:
    source = CLIENT4 if ip is IP else CLIENT6
    query = DNS(id=0xBEEF, rd=1, qd=DNSQR(qname=name, qtype=kind))
    request = ip(src=source, dst=server) / UDP(sport=40053, dport=53) / query
    reply = await client.exchange(request, lambda p: UDP in p and p[UDP].sport == 53)
    assert (reply.src, reply[UDP].dport) == (server, 40053)
    return reply[DNS]


def test_dns_answers_from_the_plan() -> None:
    async def scenario(client: Client) -> list[DNS]:
        garbage = IP(src=CLIENT4, dst=DNS4) / UDP(sport=40053, dport=53) / b"\x00not dns"
        client.send(garbage)  # dropped by the server, which keeps serving
        return [
            await ask(client, IP, DNS4, "echo.pppbridge.test", "A"),
            await ask(client, IPv6, DNS6, "echo.pppbridge.test", "AAAA"),
            await ask(client, IP, DNS4, "nowhere.pppbridge.test", "A"),
        ]

    a, aaaa, missing = run_in_network(scenario)
    assert (a.id, a.qr, a.rcode) == (0xBEEF, 1, 0)
    assert [answer.rdata for answer in a.an] == [ECHO4]
    assert aaaa.rcode == 0 and [answer.rdata for answer in aaaa.an] == [ECHO6]
    assert missing.rcode == 3  # NXDOMAIN
