"""TUN devices (bridge/tun.py), real ones, each in a network namespace the test makes and
removes: created and attached devices, packets through the kernel, persistent TUNs used by
a non-root owner, and the clear errors.

Needs root and /dev/net/tun. ``Namespace`` and ``run_child`` are shared with
test_netconfig.py.
"""

from __future__ import annotations

import fcntl
import itertools
import os
import select
import shutil
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any, TypeVar

import pytest
from pyroute2 import IPRoute, netns

from bridge.errors import HostSetupError
from bridge.tun import TUNSETIFF, TUNSETPERSIST, TunDevice, check_ifname, tun_remove, tun_setup
from netstack import ipwire

T = TypeVar("T")
ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 10.0
NOBODY = 65534
LOCAL = IPv4Address("203.0.113.10")
PEER = IPv4Address("198.51.100.1")

needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.exists("/dev/net/tun"),
    reason="needs root and /dev/net/tun to make network namespaces and TUN devices",
)
_names = itertools.count(1)


class Namespace:
    """A network namespace of one test; ``run`` calls a function inside it, in a thread of
    its own (the test's thread never leaves the host's namespace)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def run(self, action: Callable[..., T], *args: Any) -> T:
        outcome: dict[str, Any] = {}

        def body() -> None:
            try:
                netns.setns(self.name, flags=0)
                outcome["result"] = action(*args)
            except BaseException as exc:
                outcome["error"] = exc

        thread = threading.Thread(target=body, name=f"{self.name}-test", daemon=True)
        thread.start()
        thread.join(TIMEOUT)
        if thread.is_alive():
            raise TimeoutError(f"{action.__name__} did not finish within {TIMEOUT} s")
        if "error" in outcome:
            raise outcome["error"]
        return outcome["result"]  # type: ignore[no-any-return]


@pytest.fixture
def namespace() -> Iterator[Namespace]:
    name = f"pppbr-test-{os.getpid()}-{next(_names)}"
    netns.create(name)
    try:
        yield Namespace(name)
    finally:
        netns.remove(name)  # takes every interface in it along, persistent TUNs too


def run_child(code: str, *args: str, timeout: float = TIMEOUT) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh Python from the repository root, output captured."""
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def link(name: str) -> Any:
    """The interface called ``name`` as pyroute2 dumps it, or None."""
    with IPRoute() as ipr:
        found = ipr.get_links(ifname=name) if _exists(ipr, name) else []
    return found[0] if found else None


def _exists(ipr: IPRoute, name: str) -> bool:
    return bool(ipr.link_lookup(ifname=name))


def tun_info(name: str) -> dict[str, Any]:
    data = link(name).get_nested("IFLA_LINKINFO", "IFLA_INFO_DATA")
    return dict(data["attrs"])


def add_ipv4(tun: TunDevice) -> None:
    with IPRoute() as ipr:
        ipr.addr("add", index=tun.ifindex, local=str(LOCAL), address=str(PEER), prefixlen=32)


def wait_packets(tun: TunDevice, wanted: Callable[[bytes], bool], count: int = 1) -> list[bytes]:
    """Packets read from ``tun`` until ``count`` of them are ``wanted`` (bounded)."""
    deadline = time.monotonic() + TIMEOUT
    found: list[bytes] = []
    while len(found) < count:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([tun], [], [], remaining)[0]:
            raise TimeoutError(f"{len(found)} of {count} packets within {TIMEOUT} s")
        found += [p for p in tun.read_batch(64) if wanted(p)]
    return found


def echo_request(seq: int, src: IPv4Address = PEER, dst: IPv4Address = LOCAL) -> bytes:
    return ipwire.build_icmp_echo(src, dst, reply=False, ident=0x7070, seq=seq, payload=b"tun")


def is_echo_reply(packet: bytes) -> bool:
    echo = ipwire.parse_icmp_echo(ipwire.parse_ip(packet)) if packet[0] >> 4 == 4 else None
    return echo is not None and echo[0]


# --- names: checked before anything is touched ---------------------------------------------


@pytest.mark.parametrize("name", ["", "a" * 16, "a/b", "a:b", "a b", "ppp%d", ".", "..", "a\tb"])
def test_bad_names_are_refused_with_one_line(name: str) -> None:
    with pytest.raises(HostSetupError) as caught:
        check_ifname(name)
    assert "\n" not in str(caught.value) and "interface name" in str(caught.value)


def test_fifteen_bytes_are_enough() -> None:
    check_ifname("a" * 15)


def test_missing_control_device(tmp_path: Path) -> None:
    with pytest.raises(HostSetupError, match="missing: load the tun module"):
        TunDevice.open("pbtest0", device=str(tmp_path / "tun"))


# --- a created TUN ----------------------------------------------------------------------------


@needs_root
def test_created_tun_is_ipv4_ipv6_without_packet_info(namespace: Namespace) -> None:
    def scenario() -> tuple[dict[str, Any], Any, Any]:
        with TunDevice.open("pbtest0") as tun:
            assert tun.created and tun.name == "pbtest0"
            assert os.get_blocking(tun.fileno()) is False
            tun.configure(1400)
            info, configured = tun_info("pbtest0"), link("pbtest0")
        return info, configured, link("pbtest0")

    info, configured, after = namespace.run(scenario)
    assert info["IFLA_TUN_TYPE"] == 1 and info["IFLA_TUN_PI"] == 0  # IFF_TUN, IFF_NO_PI
    assert info["IFLA_TUN_PERSIST"] == 0
    assert configured.get_attr("IFLA_MTU") == 1400 and configured["flags"] & 1  # IFF_UP
    assert after is None  # closing deleted the interface we created


@needs_root
def test_no_random_link_local_address(namespace: Namespace) -> None:
    """RFC 5072 5: the link-local address comes from IPV6CP; the kernel adds none."""

    def scenario() -> list[str]:
        with TunDevice.open("pbtest0") as tun:
            tun.configure(1500)
            with IPRoute() as ipr:
                return [a.get_attr("IFA_ADDRESS") for a in ipr.get_addr(index=tun.ifindex)]

    assert namespace.run(scenario) == []


@needs_root
def test_kernel_answers_an_echo_written_to_the_tun(namespace: Namespace) -> None:
    def scenario() -> list[bytes]:
        with TunDevice.open("pbtest0") as tun:
            tun.configure(1500)
            add_ipv4(tun)
            assert tun.read_batch(8) == []  # nothing waiting yet, and no blocking
            assert tun.write(echo_request(1))
            return wait_packets(tun, is_echo_reply)

    reply = ipwire.parse_ip(namespace.run(scenario)[0])
    assert (reply.src, reply.dst) == (LOCAL, PEER)
    assert ipwire.parse_icmp_echo(reply) == (True, 0x7070, 1, b"tun")


@needs_root
def test_read_batch_drains_at_most_what_is_asked(namespace: Namespace) -> None:
    def scenario() -> list[int]:
        with (
            TunDevice.open("pbtest0") as tun,
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s,
        ):
            tun.configure(1500)
            add_ipv4(tun)
            # A local sendto() transmits through the TUN before it returns: 5 packets queued.
            for n in range(5):
                s.sendto(b"%d" % n, (str(PEER), 9))
            return [len(tun.read_batch(2)), len(tun.read_batch(64)), len(tun.read_batch(64))]

    assert namespace.run(scenario) == [2, 3, 0]


@needs_root
def test_refused_packets_return_false(namespace: Namespace) -> None:
    def scenario() -> bool:
        with TunDevice.open("pbtest0") as tun:
            tun.configure(1500)
            return tun.write(b"\x00 not an IP packet")

    assert namespace.run(scenario) is False


@needs_root
def test_mtu_outside_the_range_is_refused(namespace: Namespace) -> None:
    def scenario() -> None:
        with TunDevice.open("pbtest0") as tun, pytest.raises(HostSetupError, match="MTU 67"):
            tun.configure(67)

    namespace.run(scenario)


# --- names in use -----------------------------------------------------------------------------


@needs_root
def test_a_tun_in_use_is_busy(namespace: Namespace) -> None:
    def scenario() -> str:
        with TunDevice.open("pbtest0"), pytest.raises(HostSetupError) as caught:
            TunDevice.open("pbtest0")
        return str(caught.value)

    assert (
        namespace.run(scenario) == "TUN pbtest0 is in use by another process: choose another name"
    )


IFF_TAP = 0x0002


def make_persistent_tap(name: str) -> None:
    fd = os.open("/dev/net/tun", os.O_RDWR)
    try:
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH22x", name.encode(), IFF_TAP))
        fcntl.ioctl(fd, TUNSETPERSIST, 1)
    finally:
        os.close(fd)


@needs_root
def test_a_name_taken_by_another_kind_of_interface(namespace: Namespace) -> None:
    def scenario() -> list[str]:
        make_persistent_tap("pbtap0")
        messages = []
        for name in ("pbtap0", "lo"):
            with pytest.raises(HostSetupError) as caught:
                TunDevice.open(name)
            assert link(name) is not None  # left alone
            messages.append(str(caught.value))
        return messages

    assert namespace.run(scenario) == [
        f"interface {name} exists and is not a single-queue TUN device ({what}): "
        "choose another name"
        for name, what in [("pbtap0", "tap"), ("lo", "no kind: a hardware or loopback device")]
    ]


# --- persistent TUNs ----------------------------------------------------------------------------


@needs_root
def test_tun_setup_makes_a_persistent_tun_that_attaching_never_deletes(
    namespace: Namespace,
) -> None:
    def scenario() -> tuple[dict[str, Any], bool, bool, bool]:
        assert tun_setup("pbpersist0", NOBODY) == NOBODY
        info = tun_info("pbpersist0")
        with TunDevice.open("pbpersist0") as tun:  # root may attach to anyone's TUN
            created = tun.created
        still_there = link("pbpersist0") is not None
        tun_remove("pbpersist0")
        return info, created, still_there, link("pbpersist0") is None

    info, created, still_there, removed = namespace.run(scenario)
    assert info["IFLA_TUN_PERSIST"] == 1 and info["IFLA_TUN_OWNER"] == NOBODY
    assert info["IFLA_TUN_PI"] == 0
    assert (created, still_there, removed) == (False, True, True)


def test_tun_setup_unknown_user() -> None:
    with pytest.raises(HostSetupError, match="no user named 'no-such-user-pppbridge'"):
        tun_setup("pbtest0", "no-such-user-pppbridge")


# A child that enters the namespace, warms pyroute2 up (imports after dropping root would
# fail: the interpreter's files may be readable by root only), becomes the given uid and
# opens the TUN through the given control device node.
AS_USER = """
import os, sys
from pyroute2 import IPRoute, netns
from bridge.errors import HostSetupError
from bridge.tun import TunDevice
from netstack import ipwire
from ipaddress import IPv4Address
namespace, name, device, uid = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
netns.setns(namespace, flags=0)
with IPRoute() as ipr:
    ipr.get_links(ifname=name)
os.setgroups([])
os.setgid(uid)
os.setuid(uid)
try:
    tun = TunDevice.open(name, device=device)
except HostSetupError as exc:
    print("error:", exc)
    sys.exit(0)
print("created" if tun.created else "attached")
request = ipwire.build_icmp_echo(
    IPv4Address("198.51.100.1"), IPv4Address("203.0.113.10"),
    reply=False, ident=1, seq=1, payload=b"as user",
)
print("written" if tun.write(request) else "refused")
import select
while select.select([tun], [], [], 10)[0]:
    for packet in tun.read_batch(16):
        echo = ipwire.parse_icmp_echo(ipwire.parse_ip(packet)) if packet[0] == 0x45 else None
        if echo and echo[0]:
            print("reply", echo[3].decode())
            sys.exit(0)
print("no reply")
"""


@pytest.fixture
def open_tun_node() -> Iterator[str]:
    """A character device node for the TUN driver (10, 200) that anyone may open, in a
    directory anyone may enter (/dev/net/tun may be 0600, and pytest's tmp_path is
    0700)."""
    directory = tempfile.mkdtemp(prefix="pppbridge-tun-")
    try:
        os.chmod(directory, 0o755)
        node = os.path.join(directory, "tun")
        os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(10, 200))
        os.chmod(node, 0o666)
        yield node
    finally:
        shutil.rmtree(directory)


@needs_root
def test_owner_attaches_without_root_and_others_are_told_whose_it_is(
    namespace: Namespace, open_tun_node: str
) -> None:
    def set_up() -> None:
        tun_setup("pbpersist0", NOBODY)
        with TunDevice.open("pbpersist0") as tun:  # as root: address and link up
            tun.configure(1500)
            add_ipv4(tun)

    namespace.run(set_up)
    owner = run_child(AS_USER, namespace.name, "pbpersist0", open_tun_node, str(NOBODY))
    assert owner.stdout.split("\n")[:3] == ["attached", "written", "reply as user"], owner.stderr
    stranger = run_child(AS_USER, namespace.name, "pbpersist0", open_tun_node, str(NOBODY - 1))
    assert stranger.stdout.strip() == (
        f"error: TUN pbpersist0 belongs to uid {NOBODY}, not to uid {NOBODY - 1}: run as its "
        "owner, or give it to your user once as root: pppbridge tun-setup --user USER "
        "(or: ip tuntap add dev pbpersist0 mode tun user USER)"
    ), stranger.stderr
    assert namespace.run(link, "pbpersist0") is not None  # neither deleted it


@needs_root
def test_creating_without_root_says_how_to_set_up(namespace: Namespace, open_tun_node: str) -> None:
    child = run_child(AS_USER, namespace.name, "pbtest0", open_tun_node, str(NOBODY))
    assert child.stdout.startswith("error: no permission to create TUN pbtest0: run as root"), (
        child.stderr
    )


@needs_root
def test_control_device_without_permission(namespace: Namespace, open_tun_node: str) -> None:
    os.chmod(open_tun_node, 0o600)
    child = run_child(AS_USER, namespace.name, "pbtest0", open_tun_node, str(NOBODY))
    assert child.stdout.startswith(f"error: no permission to open {open_tun_node} (mode 0600)")
