"""The simulated operator network: a network namespace with real hosts behind a TUN.

IP packets from the PPP client go into a TUN device ``gw0`` that lives in a network
namespace of its own; the namespace's kernel answers ICMP echo from the host addresses of
the plan (``plan.py``), and sockets made inside it serve UDP and TCP echo (RFC 862, port 7)
and DNS (UDP port 53, answers from ``hosts.dns_response``). Whatever the namespace sends
back out of ``gw0`` is handed to ``on_packet``.

The modem's own IP stack lives here too: its addresses (``plan.modem_ipv4``,
``plan.modem_ipv6``) sit on ``lo``, so the hosts' answers to them are delivered locally
rather than routed to the PPP client; ``make_modem_socket`` makes its UDP sockets inside
the namespace, and two ping sockets (ICMP and ICMPv6, ``ping_group_range`` opened to
every group inside the namespace) carry its echo requests. ``socket_shell.py`` drives
them.

Call order: ``await OperatorNetwork.create(plan, on_packet)`` on the event loop that will
serve the network; then ``send(packet)`` any number of times; ``await close()`` once (more
calls are harmless). ``create`` raises ``NetworkUnavailable`` when namespaces cannot be made
here; the caller then falls back to the in-process responder.

Why a thread: a TUN device is born in the network namespace of the thread that opens
``/dev/net/tun``, and a socket stays in the namespace it was created in. A short-lived
thread ``setns``-es into the new namespace, makes the device, configures it over netlink,
makes the sockets and exits; the event loop's thread keeps the descriptors and never leaves
its own namespace. ``/proc/sys/net`` shows the namespace of the thread that opens it, so the
same thread sets the sysctls.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import fcntl
import ipaddress
import itertools
import os
import socket
import struct
import threading
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from pyroute2 import IPRoute, netns
from pyroute2.netlink.exceptions import NetlinkError

from bridge.simulator.plan import NetworkPlan

TUN_DEVICE = "/dev/net/tun"
TUN_NAME = "gw0"
MTU = 1500
TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
IP_PKTINFO = 8  # <linux/in.h>; Python 3.11's socket module does not export it
IFA_F_NODAD = 0x02
RT_SCOPE_LINK = 253
ECHO_PORT = 7
DNS_PORT = 53
SETUP_TIMEOUT = 10.0
CLOSE_TIMEOUT = 5.0
READS_PER_WAKEUP = 64
"""Datagrams or packets read per readiness callback, so one busy source cannot starve the
loop."""
TCP_CHUNK = 4096
"""TCP echo reads at most this much and sends it all before reading again: the buffer held
per connection is bounded."""
MAX_TCP_CONNECTIONS = 32

# Set before gw0 exists, so the device inherits them from "default". The TUN is NOARP, so
# the kernel skips duplicate address detection on it anyway; accept_dad=0 also covers lo.
# addr_gen_mode=1 (none): without it the kernel gives gw0 a random link-local address
# (ARPHRD_NONE has no EUI-64) besides fe80::1. accept_ra=0: a host interface that accepts
# RAs sends Router Solicitations, and the client would receive them.
SYSCTLS = (
    ("ipv6/conf/all/accept_dad", "0"),
    ("ipv6/conf/default/accept_dad", "0"),
    ("ipv6/conf/default/addr_gen_mode", "1"),
    ("ipv6/conf/default/accept_ra", "0"),
    ("ipv4/ping_group_range", "0 2147483647"),  # ICMP datagram sockets for the modem's ping
)
IP_RECVTTL = 12  # <linux/in.h>; not exported by Python's socket module

_names = itertools.count(1)


class NetworkUnavailable(Exception):
    """The simulated operator network cannot be built on this machine; the message says why
    and what to do."""


@dataclass(frozen=True)
class OperatorStatistics:
    packets_in: int
    """Packets from the client written into the network."""
    packets_out: int
    """Packets the network sent towards the client (handed to ``on_packet``)."""
    dropped_malformed: int
    """Packets from the client that were not IPv4 or IPv6 at all (too short, bad version)."""
    dropped_refused: int
    """Packets the TUN device refused, or that came after ``close()``."""

    @property
    def dropped(self) -> int:
        return self.dropped_malformed + self.dropped_refused


@dataclass
class _Handles:
    """What the setup thread made inside the namespace; the loop's thread owns it after."""

    tun_fd: int
    udp_echo: list[socket.socket]
    dns: list[socket.socket]
    tcp_echo: list[socket.socket]
    pings: dict[int, socket.socket]
    """IP version -> the modem's ping socket, bound to its address."""

    def sockets(self) -> list[socket.socket]:
        return [*self.udp_echo, *self.dns, *self.tcp_echo, *self.pings.values()]

    def close(self) -> None:
        for sock in self.sockets():
            sock.close()
        os.close(self.tun_fd)


class OperatorNetwork:
    """The simulated operator network: a network namespace with real hosts behind a TUN."""

    name: str
    """The network namespace's name (``/run/netns/<name>``), unique on this machine."""

    def __init__(
        self,
        name: str,
        plan: NetworkPlan,
        handles: _Handles,
        on_packet: Callable[[bytes], None],
    ) -> None:
        self.name = name
        self._plan = plan
        self._handles = handles
        self._on_packet = on_packet
        self._loop = asyncio.get_running_loop()
        self._tasks: set[asyncio.Task[None]] = set()
        self._connections: set[socket.socket] = set()
        self._closed = False
        self._packets_in = 0
        self._packets_out = 0
        self._dropped_malformed = 0
        self._dropped_refused = 0

    @classmethod
    async def create(cls, plan: NetworkPlan, on_packet: Callable[[bytes], None]) -> OperatorNetwork:
        """Build the namespace and start its services on the running loop."""
        _check_prerequisites()
        name = _fresh_name()
        handles = await _build_in_thread(name, plan)
        network = cls(name, plan, handles, on_packet)
        try:
            network._start()
        except BaseException:
            await network.close()
            raise
        return network

    def send(self, packet: bytes) -> None:
        """Write one IP packet from the client into the network; bad packets are counted."""
        if not _looks_like_ip(packet):
            self._dropped_malformed += 1
            return
        if self._closed:
            self._dropped_refused += 1
            return
        try:
            os.write(self._handles.tun_fd, packet)
        except OSError:  # EINVAL for what the TUN cannot parse, ENOBUFS, EAGAIN
            self._dropped_refused += 1
            return
        self._packets_in += 1

    @property
    def ping_sockets(self) -> dict[int, socket.socket]:
        """IP version -> the modem's ICMP datagram socket (the caller reads it)."""
        return self._handles.pings

    async def make_modem_socket(self, version: int, port: int) -> socket.socket:
        """A non-blocking UDP socket inside the namespace, bound to the modem's address of
        IP ``version`` and ``port``. Made by a short-lived thread that enters the namespace
        (a socket stays in the namespace it was made in)."""
        address = self._plan.modem_ipv4 if version == 4 else self._plan.modem_ipv6
        family = socket.AF_INET if version == 4 else socket.AF_INET6

        def make() -> socket.socket:
            sock = socket.socket(family, socket.SOCK_DGRAM)
            try:
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.setblocking(False)
                sock.bind((str(address), port))
            except BaseException:
                sock.close()
                raise
            return sock

        return await _in_namespace(self.name, make)

    def statistics(self) -> OperatorStatistics:
        return OperatorStatistics(
            packets_in=self._packets_in,
            packets_out=self._packets_out,
            dropped_malformed=self._dropped_malformed,
            dropped_refused=self._dropped_refused,
        )

    async def close(self) -> None:
        """Stop the services, close every descriptor and remove the namespace."""
        if self._closed:
            return
        self._closed = True
        self._loop.remove_reader(self._handles.tun_fd)
        for sock in [*self._handles.udp_echo, *self._handles.dns]:
            self._loop.remove_reader(sock.fileno())
        for task in self._tasks:
            task.cancel()
        try:
            if self._tasks:
                await asyncio.wait(self._tasks, timeout=CLOSE_TIMEOUT)
        finally:  # even if close() itself is cancelled
            for conn in self._connections:
                conn.close()
            self._handles.close()
            _remove_netns(self.name)

    # --- services -----------------------------------------------------------------------

    def _start(self) -> None:
        self._loop.add_reader(self._handles.tun_fd, self._read_tun)
        for sock in self._handles.udp_echo:
            self._loop.add_reader(sock.fileno(), self._serve_udp, sock, _echo)
        for sock in self._handles.dns:
            self._loop.add_reader(sock.fileno(), self._serve_udp, sock, self._answer_dns)
        for listener in self._handles.tcp_echo:
            self._spawn(self._accept_tcp(listener))

    def _spawn(self, coro: Coroutine[None, None, None]) -> None:
        task = self._loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _read_tun(self) -> None:
        for _ in range(READS_PER_WAKEUP):
            try:
                packet = os.read(self._handles.tun_fd, 65536)
            except BlockingIOError:
                return
            self._packets_out += 1
            self._on_packet(packet)

    def _serve_udp(self, sock: socket.socket, answer: Callable[[bytes], bytes | None]) -> None:
        for _ in range(READS_PER_WAKEUP):
            try:
                data, ancillary, _flags, peer = sock.recvmsg(65536, _PKTINFO_SPACE)
            except BlockingIOError:
                return
            except OSError:  # a pending socket error, consumed by this call
                continue
            reply = answer(data)
            if reply is None:
                continue
            # Reply from the address the request was sent to: the socket is bound to the
            # wildcard, and the route towards the client would pick 203.0.113.1 instead.
            with contextlib.suppress(OSError):
                sock.sendmsg([reply], _reply_pktinfo(ancillary), 0, peer)

    def _answer_dns(self, query: bytes) -> bytes | None:
        from bridge.simulator.hosts import dns_response  # written alongside; loaded on use

        return dns_response(query, self._plan)

    async def _accept_tcp(self, listener: socket.socket) -> None:
        while True:
            conn, _peer = await self._loop.sock_accept(listener)
            if len(self._connections) >= MAX_TCP_CONNECTIONS:
                conn.close()
                continue
            self._connections.add(conn)
            self._spawn(self._echo_tcp(conn))

    async def _echo_tcp(self, conn: socket.socket) -> None:
        try:
            while data := await self._loop.sock_recv(conn, TCP_CHUNK):
                await self._loop.sock_sendall(conn, data)
        except OSError:  # the client reset the connection
            pass
        finally:
            self._connections.discard(conn)
            conn.close()


# --- set-up, in a thread inside the namespace ---------------------------------------------


def _check_prerequisites() -> None:
    if os.geteuid() != 0:
        raise NetworkUnavailable(
            "the simulated operator network needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN) to "
            "create a network namespace: run pppbridge simulate as root"
        )
    if not os.path.exists(TUN_DEVICE):
        raise NetworkUnavailable(
            f"{TUN_DEVICE} is missing: load the tun module (modprobe tun), or in a container "
            "pass the device in (--device /dev/net/tun)"
        )


def _fresh_name() -> str:
    taken = set(netns.listnetns())
    while True:
        name = f"pppsim-{os.getpid()}-{next(_names)}"
        if name not in taken:
            return name


async def _build_in_thread(name: str, plan: NetworkPlan) -> _Handles:
    """Run ``_build`` in a thread of its own, which ends with it (a pool thread would be
    left inside the namespace). If the wait is given up, whatever the thread makes later is
    closed and the namespace removed."""
    done: concurrent.futures.Future[_Handles] = concurrent.futures.Future()

    def run() -> None:
        done.set_running_or_notify_cancel()  # from here on, cancel() cannot drop a result
        try:
            done.set_result(_build(name, plan))
        except BaseException as exc:
            done.set_exception(exc)

    threading.Thread(target=run, name=f"{name}-setup", daemon=True).start()
    try:
        async with asyncio.timeout(SETUP_TIMEOUT):
            return await asyncio.wrap_future(done)
    except TimeoutError:
        done.add_done_callback(_discard_late_result(name))
        raise NetworkUnavailable(
            f"building network namespace {name} took more than {SETUP_TIMEOUT:g} s"
        ) from None
    except (OSError, NetlinkError, RuntimeError) as exc:  # RuntimeError: pyroute2's child died
        hint = ""
        if isinstance(exc, PermissionError):
            hint = (
                " (in a container: run it with CAP_SYS_ADMIN and CAP_NET_ADMIN, e.g. --privileged)"
            )
        raise NetworkUnavailable(f"cannot build network namespace {name}: {exc}{hint}") from exc
    except BaseException:  # cancelled (a stop signal): the thread may be half-way
        done.add_done_callback(_discard_late_result(name))
        await _wait_thread(done)
        raise


async def _wait_thread(done: concurrent.futures.Future[_Handles]) -> None:
    """Give the setup thread (bounded) time to finish, so the namespace it may still make
    is removed by ``_discard_late_result`` before this process exits. Whatever ends the
    wait, the caller goes on raising what it was raising."""
    try:
        async with asyncio.timeout(SETUP_TIMEOUT):
            await asyncio.shield(asyncio.wrap_future(done))
    except BaseException:  # the thread's own failure, or a second signal
        pass


def _discard_late_result(name: str) -> Callable[[concurrent.futures.Future[_Handles]], None]:
    def discard(done: concurrent.futures.Future[_Handles]) -> None:
        if done.exception() is None:
            done.result().close()
            _remove_netns(name)

    return discard


def _build(name: str, plan: NetworkPlan) -> _Handles:
    """Create the namespace, enter it (this thread only) and make everything inside it.
    On failure, close what was made and remove the namespace again."""
    try:
        netns.create(name)
    except FileExistsError:
        raise  # someone else's namespace: leave it alone
    except BaseException:
        _remove_netns(name)  # the mount point may exist without a namespace behind it
        raise
    with contextlib.ExitStack() as undo:
        undo.callback(_remove_netns, name)
        netns.setns(name, flags=0)
        _write_sysctls()
        tun_fd = _open_tun(TUN_NAME)
        undo.callback(os.close, tun_fd)
        _configure(plan)
        handles = _Handles(
            tun_fd=tun_fd,
            udp_echo=[_udp_socket(undo, family, ECHO_PORT) for family in _FAMILIES],
            dns=[_udp_socket(undo, family, DNS_PORT) for family in _FAMILIES],
            tcp_echo=[_tcp_listener(undo, family, ECHO_PORT) for family in _FAMILIES],
            pings={4: _ping_socket(undo, plan, 4), 6: _ping_socket(undo, plan, 6)},
        )
        undo.pop_all()
    return handles


def _write_sysctls() -> None:
    for key, value in SYSCTLS:
        with open(f"/proc/sys/net/{key}", "w") as knob:
            knob.write(value)


def _open_tun(ifname: str) -> int:
    fd = os.open(TUN_DEVICE, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", ifname.encode(), IFF_TUN | IFF_NO_PI))
    except BaseException:
        os.close(fd)
        raise
    return fd


def _configure(plan: NetworkPlan) -> None:
    """lo carries the hosts; gw0 the gateway's addresses and the routes to the client."""
    with IPRoute() as ipr:
        lo = ipr.link_lookup(ifname="lo")[0]
        gw = ipr.link_lookup(ifname=TUN_NAME)[0]
        ipr.link("set", index=lo, state="up")
        ipr.link("set", index=gw, state="up", mtu=MTU)
        for host in [*_host_addresses(plan), plan.modem_ipv4, plan.modem_ipv6]:
            _add_address(ipr, lo, host, host.max_prefixlen)
        _add_address(ipr, gw, plan.gateway_ipv4, 32)
        _add_address(ipr, gw, plan.gateway_link_local, 64)
        for network in (plan.client_ipv4_network, plan.client_prefix):
            ipr.route("add", dst=str(network), oif=gw, scope=RT_SCOPE_LINK)


def _add_address(ipr: IPRoute, index: int, address: ipaddress._BaseAddress, length: int) -> None:
    ipr.addr("add", index=index, address=str(address), prefixlen=length, flags=IFA_F_NODAD)


def _host_addresses(plan: NetworkPlan) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """Every address a host of the plan answers on: echo, DNS and those the names give."""
    found: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = [
        plan.echo_ipv4,
        *plan.dns_ipv4,
        plan.echo_ipv6,
        *plan.dns_ipv6,
    ]
    for v4, v6 in plan.names.values():
        found += [*v4, *v6]
    return list(dict.fromkeys(found))


_FAMILIES = (socket.AF_INET, socket.AF_INET6)


def _udp_socket(undo: contextlib.ExitStack, family: int, port: int) -> socket.socket:
    sock = _bound_socket(undo, family, socket.SOCK_DGRAM, port)
    if family == socket.AF_INET:
        sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
    else:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
    return sock


def _tcp_listener(undo: contextlib.ExitStack, family: int, port: int) -> socket.socket:
    sock = _bound_socket(undo, family, socket.SOCK_STREAM, port)
    sock.listen(8)
    return sock


def _bound_socket(undo: contextlib.ExitStack, family: int, kind: int, port: int) -> socket.socket:
    sock = socket.socket(family, kind)
    undo.callback(sock.close)
    if family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    sock.setblocking(False)
    sock.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", port))
    return sock


def _ping_socket(undo: contextlib.ExitStack, plan: NetworkPlan, version: int) -> socket.socket:
    """An ICMP datagram ("ping") socket from the modem's address: the kernel fills in the
    identifier and checksum and hands back only the answers to it, with their TTL."""
    if version == 4:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)
        undo.callback(sock.close)
        sock.setsockopt(socket.IPPROTO_IP, IP_RECVTTL, 1)
        sock.bind((str(plan.modem_ipv4), 0))
    else:
        sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM, socket.IPPROTO_ICMPV6)
        undo.callback(sock.close)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
        sock.bind((str(plan.modem_ipv6), 0))
    sock.setblocking(False)
    return sock


_T = TypeVar("_T")


async def _in_namespace(name: str, make: Callable[[], _T]) -> _T:
    """``make()`` in a thread of its own that first enters namespace ``name``; what it
    makes after the wait is given up (timeout, cancellation) is closed."""
    done: concurrent.futures.Future[_T] = concurrent.futures.Future()

    def run() -> None:
        done.set_running_or_notify_cancel()
        try:
            netns.setns(name, flags=0)
            done.set_result(make())
        except BaseException as exc:
            done.set_exception(exc)

    threading.Thread(target=run, name=f"{name}-socket", daemon=True).start()
    try:
        async with asyncio.timeout(SETUP_TIMEOUT):
            return await asyncio.shield(asyncio.wrap_future(done))
    except BaseException:
        done.add_done_callback(_close_late)
        raise


def _close_late(done: concurrent.futures.Future[Any]) -> None:
    if not done.cancelled() and done.exception() is None:
        with contextlib.suppress(OSError):
            done.result().close()


def stale_namespaces() -> list[str]:
    """The ``pppsim-<pid>-<n>`` namespaces whose simulator process is gone (killed with
    SIGKILL before it could clean up). Only reported, never removed: this process did
    not make them, and a pid that looks gone here may live in another pid namespace."""
    stale = []
    with contextlib.suppress(OSError):
        for name in netns.listnetns():
            parts = name.split("-")
            if len(parts) != 3 or parts[0] != "pppsim" or not parts[1].isdigit():
                continue
            if not _alive(int(parts[1])):
                stale.append(name)
    return stale


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_netns(name: str) -> None:
    try:
        netns.remove(name)
    except FileNotFoundError:
        pass


# --- packets and ancillary data -----------------------------------------------------------

_IN_PKTINFO = struct.Struct("=I4s4s")  # ipi_ifindex, ipi_spec_dst, ipi_addr
_IN6_PKTINFO = struct.Struct("=16sI")  # ipi6_addr, ipi6_ifindex
_PKTINFO_SPACE = socket.CMSG_SPACE(max(_IN_PKTINFO.size, _IN6_PKTINFO.size))


def _reply_pktinfo(ancillary: Iterable[tuple[int, int, bytes]]) -> list[tuple[int, int, bytes]]:
    """The ancillary data that makes a reply leave from the request's destination."""
    for level, kind, data in ancillary:
        if level == socket.IPPROTO_IP and kind == IP_PKTINFO:
            _ifindex, _spec_dst, destination = _IN_PKTINFO.unpack_from(data)
            return [(level, kind, _IN_PKTINFO.pack(0, destination, bytes(4)))]
        if level == socket.IPPROTO_IPV6 and kind == socket.IPV6_PKTINFO:
            destination, _ifindex = _IN6_PKTINFO.unpack_from(data)
            return [(level, kind, _IN6_PKTINFO.pack(destination, 0))]
    return []


def _echo(data: bytes) -> bytes:
    return data


def _looks_like_ip(packet: bytes) -> bool:
    """IPv4 or IPv6 by its version nibble and at least a fixed header long; the kernel
    checks the rest (and drops what is wrong without telling us)."""
    if not packet:
        return False
    version = packet[0] >> 4
    return (version == 4 and len(packet) >= 20) or (version == 6 and len(packet) >= 40)


__all__ = ["NetworkUnavailable", "OperatorNetwork", "OperatorStatistics"]
