"""``pppbridge run --mode at-socket`` end to end, for every vendor profile with AT socket
commands, plain and ``--messy``: the modem is attached, never dialled, no PPP runs, and the
host's own sockets, in a network namespace the test makes, reach the simulated operator
network's IPv6 hosts through the TUN and the modem's socket commands (issue 10):

- UDP echo of [2001:db8:1::1]:7, small and at the largest payload the TUN takes whole;
- a name resolved over IPv6 DNS ([2001:db8:1::53], the server +CGCONTRDP gave);
- more concurrent flows than the modem has sockets (least recently used evicted);
- TCP refused at once (ICMPv6 administratively prohibited: the connect fails, it does not
  time out);
- ``ping -6`` through the modem's own ping command;
- the host as it was after SIGTERM.

The same with Pycom's 124-character AT lines (``--at-line-limit``, the simulated modem
cutting longer lines): payloads go in pieces after the prompt.

Beside PPP (``--mode ppp``, the built-in simulator's second AT port): IPv4 over PPP and
IPv6 over the AT sockets at once, when the simulated modem Protocol-Rejects IPV6CP (the
automatic fallback, every vendor) and when asked (``--ipv6 at-socket``). And on one line
(a ``pppbridge simulate`` process without a second port): the AT sockets borrow the PPP
line between ``+++`` and ``ATO``, IPv4 over PPP working before and after.

The scenarios run at once (``Concurrently``).
"""

from __future__ import annotations

import errno
import os
import select
import socket
import threading
import tty
from functools import partial
from ipaddress import IPv6Address
from pathlib import Path

import pytest
from pyroute2 import IPRoute

from netstack.atsocket_vendors import VENDORS
from run_process import Concurrently, RunProcess, TestNamespace, scenarios_fixture
from run_traffic import (
    ECHO_IPV6,
    ECHO_NAME,
    ECHO_PORT,
    REPLY_TIMEOUT,
    dns_query,
    ipv4_works,
    ping,
    udp_echo,
)
from sim_process import SimProcess
from test_tun import needs_root

PROFILES = ("sequans", "telit", "quectel", "ublox")
DNS_IPV6 = "2001:db8:1::53"
MODEM_IPV6 = "2001:db8:2::2"
UDP_IPV6_OVERHEAD = 48
CONNECT_TIMEOUT = 20.0
"""Generous: only a timeout (no ICMPv6 error came) fails the refusal check."""


def concurrent_flows(count: int) -> list[bool]:
    """``count`` UDP sockets (``count`` flows), each sends its own datagram before any
    reads; whether each got its own echo back (sent again a few times if lost)."""
    sockets = [socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) for _ in range(count)]
    try:
        got = [False] * count
        for _ in range(5):
            for index, sock in enumerate(sockets):
                if not got[index]:
                    sock.sendto(f"flow {index}".encode(), (ECHO_IPV6, ECHO_PORT))
            for index, sock in enumerate(sockets):
                sock.settimeout(REPLY_TIMEOUT)
                while not got[index]:
                    try:
                        data = sock.recv(2048)
                    except TimeoutError:
                        break
                    got[index] = data == f"flow {index}".encode()
            if all(got):
                break
        return got
    finally:
        for sock in sockets:
            sock.close()


def tcp_refused() -> int:
    """The errno a TCP connect to the echo host ends with (0: it connected)."""
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
        sock.settimeout(CONNECT_TIMEOUT)
        try:
            sock.connect((ECHO_IPV6, ECHO_PORT))
        except TimeoutError:
            return errno.ETIMEDOUT
        except OSError as exc:
            return exc.errno or -1
    return 0


def mtu(ifname: str = "pppbridge0") -> int:
    with IPRoute() as ipr:
        (link,) = ipr.get_links(ifname=ifname)
        return int(link.get_attr("IFLA_MTU"))


def udp_refused(size: int) -> str:
    """The error a datagram of ``size`` octets to the echo host ends in ("echoed" if it
    came back, "lost" if nothing came)."""
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
        sock.connect((ECHO_IPV6, ECHO_PORT))
        sock.settimeout(CONNECT_TIMEOUT)
        try:
            sock.send(bytes(size))
            sock.recv(65535)
        except TimeoutError:
            return "lost"
        except OSError as exc:
            return errno.errorcode.get(exc.errno or 0, str(exc))
    return "echoed"


def traffic(sockets: int, payload_limit: int) -> dict[str, object]:
    """Everything a host application does over the AT sockets, for one assertion: the
    largest payload is what both the modem (its send limit) and the TUN (its MTU) take."""
    limit = min(payload_limit, mtu() - UDP_IPV6_OVERHEAD)
    largest = (bytes(range(256)) * 6)[:limit]
    return {
        "udp": udp_echo(ECHO_IPV6, b"hello through AT sockets"),
        "udp_largest": udp_echo(ECHO_IPV6, largest) == largest,
        # One more octet: over the modem's limit (prohibited: the MTU it leaves is under
        # IPv6's 1280), or over the TUN's MTU (the kernel fragments; fragments refused).
        "udp_past_limit": udp_refused(limit + 1),
        "dns": dns_query(DNS_IPV6, ECHO_NAME, qtype=28),
        "flows": all(concurrent_flows(sockets + 2)),
        "tcp": errno.errorcode.get(tcp_refused(), "connected"),
        "ping6": ping(ECHO_IPV6, count=2),
    }


EXPECTED = {
    "udp": b"hello through AT sockets",
    "udp_largest": True,
    "udp_past_limit": "EACCES",
    "dns": [IPv6Address(ECHO_IPV6)],
    "flows": True,
    "tcp": "EACCES",  # RFC 4443 code 1, administratively prohibited (Linux: EACCES)
    "ping6": 2,
}


def at_sockets_then_the_host_as_it_was(
    profile: str, messy: bool, workdir: Path, extra: tuple[str, ...] = ()
) -> None:
    dns = workdir / "resolv.conf"
    dns.write_bytes(b"nameserver 192.0.2.53\n")
    args = ["--mode", "at-socket", "--sim-profile", profile, "--dns", f"file:{dns}", *extra]
    args += ["--sim-messy"] if messy else []
    with TestNamespace.made() as namespace:
        with RunProcess(namespace, workdir, *args) as run:
            run.wait_line(r"context active after [0-9.]+ s, not dialled")
            run.wait_line(
                rf"IPv6 up through the modem's AT sockets \({profile}[^)]*\): {MODEM_IPV6}, "
                rf"DNS {DNS_IPV6}, MTU \d+; UDP and ping only"
            )
            run.wait_line(rf"ready: try ping -6 -I pppbridge0 {ECHO_IPV6}")
            configured = namespace.state()
            written = dns.read_bytes()
            vendor = VENDORS[profile]
            got = namespace.run(traffic, len(vendor.socket_ids), vendor.payload_limit, timeout=240)
            assert got == EXPECTED
            status = run.stop()
        assert (status, run.lines[-1]) == (0, "pppbridge: stopped; the host is as it was")
        assert run.errors == []
        assert run.count("dialled") == 0 and run.count("LCP up") == 0, "no PPP at all"
        assert f"{MODEM_IPV6}/128 on pppbridge0" in configured.addresses
        assert not any("." in address for address in configured.addresses), "IPv6 only"
        assert "::/0 dev pppbridge0" not in configured.routes  # the simulator: no default
        assert "2001:db8:1::/64 dev pppbridge0" in configured.routes
        assert written == f"nameserver {DNS_IPV6}\n".encode()
        assert namespace.state().empty, namespace.state()
    assert dns.read_bytes() == b"nameserver 192.0.2.53\n"


def beside_ppp(profile: str, messy: bool, extra: tuple[str, ...], workdir: Path) -> None:
    """IPv4 over PPP and IPv6 over the AT sockets of the simulator's second port."""
    args = ["--sim-profile", profile, "--dns", "none", *extra]
    args += ["--sim-messy"] if messy else []
    with TestNamespace.made() as namespace:
        with RunProcess(namespace, workdir, *args) as run:
            if "--sim-reject-ipv6cp" in extra:
                run.wait_line("no IPv6 on this link: .*Protocol-Rejected IPV6CP")
                run.wait_line("IPv6 through the modem's AT sockets instead, on /dev/pts/")
            run.wait_line(
                rf"IPv6 up through the modem's AT sockets on /dev/pts/\d+ \({profile}[^)]*\): "
                rf"{MODEM_IPV6}, DNS {DNS_IPV6}; UDP and ping only"
            )
            run.wait_line(r"IPv4 up: 203\.0\.113\.10")
            run.wait_line("ready")
            both = namespace.run(
                lambda: (ipv4_works(), udp_echo(ECHO_IPV6, b"v6"), ping(ECHO_IPV6, 2))
            )
            assert both == ({"ping4": 3, "udp4": True, "tcp4": True}, b"v6", 2)
            status = run.stop()
        assert (status, run.lines[-1]) == (0, "pppbridge: stopped; the host is as it was")
        assert run.errors == []
        assert namespace.state().empty, namespace.state()


def sharing_the_ppp_line(profile: str, messy: bool, extra: tuple[str, ...], workdir: Path) -> None:
    """One line: the AT sockets between +++ and ATO, PPP before, between and after."""
    sim_args = ["--profile", profile, *(["--messy"] if messy else [])]
    if "--ipv6" not in extra:
        sim_args.append("--reject-ipv6cp")
    with TestNamespace.made() as namespace, SimProcess(workdir, *sim_args) as sim:
        args = ["--device", sim.device, "--dns", "none", *extra]
        with RunProcess(namespace, workdir, *args) as run:
            if "--ipv6" not in extra:  # the fallback says what the profile knows of ports
                run.wait_line(
                    r"IPv6 through the modem's AT sockets instead, on this line, between "
                    r"\+\+\+ and ATO \(the modem's ports: .+\)"
                )
            run.wait_line(
                rf"IPv6 up through the modem's AT sockets \({profile}[^)]*\), sharing the line "
                rf"with PPP \(\+\+\+/ATO\): {MODEM_IPV6}, DNS {DNS_IPV6}; UDP and ping only"
            )
            run.wait_line("ready")

            def traffic() -> object:
                return (
                    ipv4_works(),
                    udp_echo(ECHO_IPV6, b"between frames"),
                    dns_query(DNS_IPV6, ECHO_NAME, qtype=28),
                    ping(ECHO_IPV6, 2),
                    ipv4_works(),
                )

            ipv4 = {"ping4": 3, "udp4": True, "tcp4": True}
            expected = (ipv4, b"between frames", [IPv6Address(ECHO_IPV6)], 2, ipv4)
            assert namespace.run(traffic, timeout=240) == expected
            status = run.stop()
        assert (status, run.lines[-1]) == (0, "pppbridge: stopped; the host is as it was")
        assert run.errors == []
        assert namespace.state().empty, namespace.state()
    assert "> ATS12=5" in sim.transcript(), "a short escape guard time (0.1 s)"


class Relay:
    """A pty of the test's between the bridge's ``--at-port`` and the simulator's AT
    port, so that the test can unplug it (close its end: the bridge reads EIO)."""

    def __init__(self, far: str) -> None:
        self.far = os.open(far, os.O_RDWR | os.O_NOCTTY)
        self.near, slave = os.openpty()
        for fd in (self.far, self.near, slave):
            tty.setraw(fd)
        self.device = os.ttyname(slave)
        self.slave = slave
        self.stop_r, self.stop_w = os.pipe()
        self.thread = threading.Thread(target=self._relay, daemon=True)
        self.thread.start()

    def _relay(self) -> None:
        ends = {self.far: self.near, self.near: self.far}
        while True:
            ready, _, _ = select.select([self.far, self.near, self.stop_r], [], [], 60)
            if self.stop_r in ready:
                return
            for fd in ready:
                try:
                    data = os.read(fd, 4096)
                    os.write(ends[fd], data)
                except OSError:
                    return

    def unplug(self) -> None:
        os.write(self.stop_w, b"x")
        self.thread.join(10)
        for fd in (self.near, self.slave, self.far, self.stop_r, self.stop_w):
            os.close(fd)


def at_port_unplugged(workdir: Path) -> None:
    """IPv6 on the AT port beside PPP; the port goes: the host's IPv6 goes with it (no
    address, no route left pointing at a link that drops it), IPv4 on PPP goes on."""
    at_path = str(workdir / "ttyUSB3")
    sim_args = ("--profile", "telit", "--reject-ipv6cp", "--at-port", at_path)
    with TestNamespace.made() as namespace, SimProcess(workdir, *sim_args) as sim:
        relay = Relay(at_path)
        try:
            args = ["--device", sim.device, "--at-port", relay.device, "--dns", "none"]
            with RunProcess(namespace, workdir, *args) as run:
                run.wait_line(rf"IPv6 up through the modem's AT sockets on {relay.device}")
                run.wait_line("ready")
                assert namespace.run(udp_echo, ECHO_IPV6, b"before") == b"before"
                assert f"{MODEM_IPV6}/128 on pppbridge0" in namespace.state().addresses
                relay.unplug()
                run.wait_line("IPv6 through the AT sockets ended: AT line")
                state = namespace.state()
                assert not any(":" in address for address in state.addresses), state
                assert not any(route.startswith("2001:") for route in state.routes), state
                assert namespace.run(ipv4_works) == {"ping4": 3, "udp4": True, "tcp4": True}
                status = run.stop()
        finally:
            if relay.thread.is_alive():
                relay.unplug()
        assert (status, run.lines[-1]) == (0, "pppbridge: stopped; the host is as it was")
        assert namespace.state().empty, namespace.state()


LINE_LIMIT = ("--at-line-limit", "124", "--sim-at-line-limit", "124")
SCENARIOS = {
    **{
        f"{profile}-{'messy' if messy else 'plain'}": partial(
            at_sockets_then_the_host_as_it_was, profile, messy
        )
        for profile in PROFILES
        for messy in (False, True)
    },
    **{
        f"{profile}-124-characters": partial(
            at_sockets_then_the_host_as_it_was, profile, True, extra=LINE_LIMIT
        )
        for profile in PROFILES
    },
    **{
        f"{profile}-fallback-beside-ppp-{'messy' if messy else 'plain'}": partial(
            beside_ppp, profile, messy, ("--sim-reject-ipv6cp",)
        )
        for profile in PROFILES
        for messy in (False, True)
    },
    "telit-asked-beside-ppp": partial(beside_ppp, "telit", True, ("--ipv6", "at-socket")),
    **{
        f"{profile}-fallback-sharing-the-ppp-line": partial(
            sharing_the_ppp_line, profile, False, ()
        )
        for profile in PROFILES
    },
    "telit-at-port-unplugged": at_port_unplugged,
    "quectel-asked-sharing-the-ppp-line": partial(
        sharing_the_ppp_line, "quectel", True, ("--ipv6", "at-socket")
    ),
}


running = scenarios_fixture(SCENARIOS)


@needs_root
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_at_sockets_carry_ipv6_with_no_ppp(scenario: str, running: Concurrently) -> None:
    running.outcome(scenario)
