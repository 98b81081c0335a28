"""The host's end of the link: a TUN device, and the netlink calls that set its link up.

Linux TUN (Documentation/networking/tuntap.rst): ``open("/dev/net/tun")`` then
``TUNSETIFF`` with ``IFF_TUN | IFF_NO_PI`` gives a descriptor that reads and writes bare
IPv4/IPv6 packets. With the name of a device that does not exist, the kernel creates it
(CAP_NET_ADMIN needed) and deletes it again when the last descriptor closes. With the name
of a persistent TUN (``TUNSETPERSIST``) whose owner is the caller (``TUNSETOWNER``), it
attaches to it without any privilege: ``tun_setup`` makes one, once, as root, so the bridge
can run as that user afterwards.

Call order: ``TunDevice.open(name)``; ``configure(mtu)`` (link up); ``fileno()`` for
``loop.add_reader``, then ``read_batch``/``write``; ``close()`` once (more are harmless).

Netlink goes through pyroute2 (``netlink``). Its synchronous ``IPRoute`` drives an event
loop of its own, which cannot run in a thread whose asyncio loop is running; ``netlink``
then runs the call in a short-lived thread of its own and waits for it (bounded). A new
thread starts in the network namespace of the thread that made it, so the call still sees
the caller's namespace.

In another network namespace (``netns``, ``bridge.netns``): the TUN is made, and every
netlink call on it made, by a short-lived thread that entered that namespace; the TUN's
descriptor then works from the caller's thread as any other, so the data plane never
leaves its own namespace.
"""

from __future__ import annotations

import errno
import fcntl
import grp
import os
import pwd
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from bridge.errors import HostSetupError
from bridge.netns import CALL_TIMEOUT, Netns, run_in_thread, run_inside

from .netlink_import import IPRoute, NetlinkError

T = TypeVar("T")

TUN_DEVICE = "/dev/net/tun"
DEFAULT_NAME = "pppbridge0"
IFNAMSIZ = 16  # <linux/if.h>: names are at most 15 bytes and a NUL
# <linux/if_tun.h>
TUNSETIFF = 0x400454CA
TUNSETPERSIST = 0x400454CB
TUNSETOWNER = 0x400454CC
TUNSETGROUP = 0x400454CE
TUNGETIFF = 0x800454D2
IFF_TUN = 0x0001
IFF_PERSIST = 0x0800
IFF_NO_PI = 0x1000
IFF_UP = 0x1  # <linux/if.h>
IN6_ADDR_GEN_MODE_NONE = 1  # <linux/if_link.h>
MIN_MTU = 68  # RFC 791: every IPv4 module must forward a 68-octet datagram
MAX_MTU = 65535
READ_SIZE = 65536
"""Bytes asked per read: any IP packet fits, so the kernel never cuts one."""
NETLINK_TIMEOUT = CALL_TIMEOUT
"""Seconds a netlink call may take before it is given up (the kernel answers in µs)."""

_IFREQ = struct.Struct("16sH22x")  # struct ifreq: ifr_name, ifr_flags; 40 bytes
_REFUSED_WRITES = (errno.EAGAIN, errno.EINVAL, errno.EIO, errno.ENOBUFS, errno.EMSGSIZE)
_TUN_SETUP_HINT = (
    "pppbridge tun-setup --user USER (or: ip tuntap add dev {name} mode tun user USER)"
)


@dataclass(frozen=True, slots=True)
class LinkState:
    """The settings of a link that ``configure`` changes, to put back on an interface that
    was there before us."""

    mtu: int
    """The link MTU."""
    up: bool
    """Whether IFF_UP was set."""
    addr_gen_mode: int | None
    """IPv6 link-local address generation mode (``IFLA_INET6_ADDR_GEN_MODE``), or None
    when the link has no IPv6."""


class PacketDevice(Protocol):
    """What the data planes need of a TUN (``bridge.packet_pair`` has it too)."""

    def fileno(self) -> int: ...

    def read_batch(self, max_packets: int) -> list[bytes]: ...

    def write(self, packet: bytes) -> bool: ...


class TunDevice:
    """An open TUN device: bare IP packets in and out, non-blocking."""

    name: str
    """The interface name."""
    ifindex: int
    """The kernel's interface index, which identifies this very interface (a name can be
    reused, an index is not until the counter wraps)."""
    created: bool
    """Whether this open made the interface (it then vanishes when we close it) rather
    than attached to a persistent one that someone else made."""
    netns: Netns | None
    """The network namespace it lives in; None: the caller's."""

    def __init__(
        self, name: str, fd: int, ifindex: int, created: bool, netns: Netns | None = None
    ) -> None:
        self.name = name
        self.ifindex = ifindex
        self.created = created
        self.netns = netns
        self._fd = fd

    @classmethod
    def open(
        cls, name: str = DEFAULT_NAME, *, device: str = TUN_DEVICE, netns: Netns | None = None
    ) -> TunDevice:
        """Create the TUN ``name``, or attach to a persistent one of that name that we may
        use, in ``netns`` (None: here); raise ``HostSetupError`` with what to do when
        neither can be done."""
        check_ifname(name)
        if netns is None:
            return cls._open_here(name, device, None)
        return run_in_thread(
            lambda: cls._open_here(name, device, netns),
            netns=netns,
            what=f"opening {name} in {netns}",
            timeout=NETLINK_TIMEOUT,
            discard=TunDevice.close,
        )

    @classmethod
    def _open_here(cls, name: str, device: str, netns: Netns | None) -> TunDevice:
        fd = _open_control_device(device)
        try:
            created = _set_iff(fd, name)
            ifindex = socket.if_nametoindex(name)
        except BaseException:
            os.close(fd)  # a TUN we created vanishes with it
            raise
        return cls(name, fd, ifindex, created, netns)

    def fileno(self) -> int:
        return self._fd

    def link_state(self) -> LinkState:
        """What ``configure`` is about to change, to put back later (``restore_link``)."""
        return netlink(lambda ipr: read_link_state(ipr, self.ifindex), netns=self.netns)

    def configure(self, mtu: int) -> None:
        """Set the MTU (from the negotiated MRU) and bring the link up. IPv6 link-local
        address generation is switched off first: a TUN has no EUI-64, so the kernel
        would add a random fe80:: address next to the one from IPV6CP (RFC 5072 5).
        Only what differs is changed, so a persistent TUN its administrator prepared
        this way needs no privilege here."""
        if not MIN_MTU <= mtu <= MAX_MTU:
            raise HostSetupError(f"MTU {mtu} for {self.name} is outside {MIN_MTU}-{MAX_MTU}")

        def apply(ipr: IPRoute) -> None:
            state = read_link_state(ipr, self.ifindex)
            if state.addr_gen_mode not in (None, IN6_ADDR_GEN_MODE_NONE):  # None: no IPv6
                ipr.link("set", index=self.ifindex, IFLA_AF_SPEC=_addr_gen_mode_spec())
            if state.mtu != mtu or not state.up:
                ipr.link("set", index=self.ifindex, mtu=mtu, state="up")

        netlink(apply, doing=f"configure {self.name}", netns=self.netns)
        if self.created:
            run_inside(self.netns, lambda: _refuse_router_advertisements(self.name))

    def read_batch(self, max_packets: int) -> list[bytes]:
        """Up to ``max_packets`` packets that are waiting, without blocking; [] if none.
        OSError (EBADFD) when the interface was deleted under us."""
        packets: list[bytes] = []
        for _ in range(max_packets):
            try:
                packets.append(os.read(self._fd, READ_SIZE))
            except BlockingIOError:
                break
        return packets

    def write(self, packet: bytes) -> bool:
        """Hand one IP packet to the kernel; False when it refused it (not IP, the link is
        down, no buffer space): the caller counts those."""
        try:
            os.write(self._fd, packet)
        except OSError as exc:
            if exc.errno in _REFUSED_WRITES:
                return False
            raise
        return True

    def close(self) -> None:
        """Close the descriptor. A TUN we created is not persistent, so the kernel deletes
        it then, with its addresses and routes; one we attached to stays."""
        if self._fd < 0:
            return
        fd, self._fd = self._fd, -1
        os.close(fd)
        if self.created:
            # only if something else still holds it
            delete_link(self.ifindex, self.name, netns=self.netns)

    def __enter__(self) -> TunDevice:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _refuse_router_advertisements(name: str) -> None:
    """accept_ra=0 on our TUN: the bridge handles the network's RAs itself (netconfig),
    and a kernel that accepts them keeps sending Router Solicitations (RFC 7559: without
    end), each answered by an RA that wakes the bridge. Best effort: /proc/sys is often
    read-only in containers, and then only those wake-ups are lost."""
    try:
        with open(f"/proc/sys/net/ipv6/conf/{name}/accept_ra", "w") as setting:
            setting.write("0")
    except OSError:
        pass


def tun_setup(name: str, user: str | int, group: str | int | None = None) -> int:
    """Make ``name`` a persistent TUN owned by ``user`` (and ``group``), so that user can
    run the bridge without privileges; an existing persistent TUN gets the new owner.
    Returns the owner's uid. Needs CAP_NET_ADMIN."""
    check_ifname(name)
    uid = _uid(user)
    fd = _open_control_device(TUN_DEVICE)
    try:
        _set_iff(fd, name)
        _tun_ioctl(fd, name, TUNSETOWNER, uid)
        if group is not None:
            _tun_ioctl(fd, name, TUNSETGROUP, _gid(group))
        _tun_ioctl(fd, name, TUNSETPERSIST, 1)
    finally:
        os.close(fd)  # on failure before TUNSETPERSIST, a TUN made here vanishes again
    return uid


def tun_remove(name: str) -> None:
    """Undo ``tun_setup``: clear the persistent flag, so the TUN goes with our descriptor."""
    check_ifname(name)
    fd = _open_control_device(TUN_DEVICE)
    try:
        _set_iff(fd, name)
        _tun_ioctl(fd, name, TUNSETPERSIST, 0)
    finally:
        os.close(fd)


def check_ifname(name: str) -> None:
    """Raise ``HostSetupError`` unless the kernel takes ``name`` as it is (dev_valid_name:
    1 to 15 bytes, not "." or "..", no "/", ":" or white space). "%" is refused too: the
    kernel reads it as a template and picks a name we would learn only afterwards, but
    the state file records the interface before it is made."""
    if not name or len(name.encode()) >= IFNAMSIZ:
        raise HostSetupError(f"interface name {name!r} must be 1 to {IFNAMSIZ - 1} bytes long")
    if name in (".", "..") or not name.isprintable() or any(c in "/:% " for c in name):
        raise HostSetupError(
            f"interface name {name!r} is not valid: no '/', ':', '%' or white space"
        )


# --- TUN ioctls -----------------------------------------------------------------------------


def _open_control_device(device: str) -> int:
    try:
        return os.open(device, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise HostSetupError(
            f"{device} is missing: load the tun module (modprobe tun), or in a container "
            "pass the device in (--device /dev/net/tun)"
        ) from None
    except PermissionError:
        raise HostSetupError(
            f"no permission to open {device} (mode {_mode(device)}): run as root, or make it "
            "readable and writable by the bridge's user (it is 0666 on most systems)"
        ) from None


def _set_iff(fd: int, name: str) -> bool:
    """TUNSETIFF; True when it created the interface. Without IFF_TUN_EXCL it attaches to
    an existing device of that name; TUNGETIFF then shows IFF_PERSIST only on one that
    existed before (a non-persistent TUN cannot be attached: it lives only as long as the
    one descriptor that holds it, and a second attach is EBUSY)."""
    try:
        fcntl.ioctl(fd, TUNSETIFF, _IFREQ.pack(name.encode(), IFF_TUN | IFF_NO_PI))
    except OSError as exc:
        raise _attach_error(name, exc) from None
    _, flags = _IFREQ.unpack(fcntl.ioctl(fd, TUNGETIFF, bytes(_IFREQ.size)))
    return not flags & IFF_PERSIST


def _tun_ioctl(fd: int, name: str, request: int, value: int) -> None:
    try:
        fcntl.ioctl(fd, request, value)
    except PermissionError:
        raise HostSetupError(
            f"no permission to set up {name}: needs root (CAP_NET_ADMIN)"
        ) from None


def _attach_error(name: str, exc: OSError) -> HostSetupError:
    """The TUNSETIFF failure told in terms of what is there under that name."""
    existing = _existing_link(name)
    if existing is None:
        if exc.errno == errno.EPERM:
            return HostSetupError(
                f"no permission to create TUN {name}: run as root (CAP_NET_ADMIN), or make a "
                "persistent one for your user once as root: " + _TUN_SETUP_HINT.format(name=name)
            )
        return HostSetupError(f"cannot create TUN {name}: {exc.strerror}")
    kind, owner = existing
    if kind != "tun" or exc.errno == errno.EINVAL:
        return HostSetupError(
            f"interface {name} exists and is not a single-queue TUN device ({kind}): "
            "choose another name"
        )
    if exc.errno == errno.EPERM:
        whose = "root" if owner is None else f"uid {owner}"
        return HostSetupError(
            f"TUN {name} belongs to {whose}, not to uid {os.geteuid()}: run as its owner, or "
            "give it to your user once as root: " + _TUN_SETUP_HINT.format(name=name)
        )
    if exc.errno == errno.EBUSY:
        return HostSetupError(f"TUN {name} is in use by another process: choose another name")
    return HostSetupError(f"cannot attach to TUN {name}: {exc.strerror}")


def _existing_link(name: str) -> tuple[str, int | None] | None:
    """(what it is, TUN owner uid) of the interface called ``name``, or None if there is
    none. "tun" is a TUN (a TAP is "tap"); others by their kind, e.g. "bridge"."""
    links = netlink(lambda ipr: ipr.get_links(ifname=name), missing=())
    if not links:
        return None
    info = links[0].get_attr("IFLA_LINKINFO")
    kind = info.get_attr("IFLA_INFO_KIND") if info is not None else None
    if kind is None:
        return "no kind: a hardware or loopback device", None
    data = info.get_attr("IFLA_INFO_DATA")
    if kind != "tun" or data is None:
        return f"kind {kind}", None
    if data.get_attr("IFLA_TUN_TYPE") != IFF_TUN:
        return "tap", None
    return "tun", data.get_attr("IFLA_TUN_OWNER")


def _uid(user: str | int) -> int:
    return _numeric_id(user, "user", lambda name: pwd.getpwnam(name).pw_uid)


def _gid(group: str | int) -> int:
    return _numeric_id(group, "group", lambda name: grp.getgrnam(name).gr_gid)


def _numeric_id(value: str | int, what: str, lookup: Callable[[str], int]) -> int:
    if isinstance(value, int) or value.isdigit():
        return int(value)
    try:
        return lookup(value)
    except KeyError:
        raise HostSetupError(f"no {what} named {value!r} on this system") from None


def _mode(path: str) -> str:
    try:
        return f"{os.stat(path).st_mode & 0o7777:04o}"
    except OSError:
        return "unknown"


# --- netlink --------------------------------------------------------------------------------


def netlink(
    action: Callable[[IPRoute], T],
    doing: str = "",
    missing: Any = None,
    netns: Netns | None = None,
) -> T:
    """``action(ipr)`` with a fresh ``IPRoute``, from any thread (see the module docstring),
    inside ``netns`` when given.

    With ``doing``, a NetlinkError becomes a ``HostSetupError`` ("cannot <doing>: ...",
    with a hint when permission is missing); with ``missing`` given, ENODEV returns it
    (the interface went away) instead of raising."""
    try:
        return run_inside(netns, lambda: _call_netlink(action), what="netlink")
    except NetlinkError as exc:
        if missing is not None and exc.code == errno.ENODEV:
            return missing  # type: ignore[no-any-return]
        if not doing:
            raise
        if exc.code == errno.EPERM:
            raise HostSetupError(f"no permission to {doing}: needs root (CAP_NET_ADMIN)") from None
        raise HostSetupError(f"cannot {doing}: {os.strerror(exc.code)}") from None


def _call_netlink(action: Callable[[IPRoute], T]) -> T:
    with IPRoute() as ipr:
        return action(ipr)


def _addr_gen_mode_spec(mode: int = IN6_ADDR_GEN_MODE_NONE) -> dict[str, Any]:
    return {"attrs": [["AF_INET6", {"attrs": [["IFLA_INET6_ADDR_GEN_MODE", mode]]}]]}


def read_link_state(ipr: IPRoute, ifindex: int) -> LinkState:
    link = ipr.get_links(ifindex)[0]
    inet6 = link.get_nested("IFLA_AF_SPEC", "AF_INET6")
    mode = inet6.get_attr("IFLA_INET6_ADDR_GEN_MODE") if inet6 is not None else None
    return LinkState(link.get_attr("IFLA_MTU"), bool(link["flags"] & IFF_UP), mode)


def link_matches(ipr: IPRoute, ifindex: int, name: str) -> bool:
    """Whether interface ``ifindex`` still exists and is still called ``name``."""
    try:
        links = ipr.get_links(ifindex)
    except NetlinkError as exc:
        if exc.code == errno.ENODEV:
            return False
        raise
    return bool(links) and links[0].get_attr("IFLA_IFNAME") == name


def restore_link(ifindex: int, name: str, state: LinkState, netns: Netns | None = None) -> bool:
    """Put ``state`` back on interface ``ifindex`` if it is still ``name`` (changing only
    what differs, so that a link left as it was needs no privilege); False when it is
    gone."""

    def apply(ipr: IPRoute) -> bool:
        if not link_matches(ipr, ifindex, name):
            return False
        now = read_link_state(ipr, ifindex)
        if (now.mtu, now.up) != (state.mtu, state.up):
            ipr.link("set", index=ifindex, state="up" if state.up else "down", mtu=state.mtu)
        if state.addr_gen_mode is not None and now.addr_gen_mode != state.addr_gen_mode:
            ipr.link("set", index=ifindex, IFLA_AF_SPEC=_addr_gen_mode_spec(state.addr_gen_mode))
        return True

    return netlink(apply, doing=f"restore {name}", missing=False, netns=netns)


def delete_link(ifindex: int, name: str, netns: Netns | None = None) -> bool:
    """Delete interface ``ifindex`` if it is still ``name``; False when it is gone."""

    def apply(ipr: IPRoute) -> bool:
        if not link_matches(ipr, ifindex, name):
            return False
        ipr.link("del", index=ifindex)
        return True

    return netlink(apply, doing=f"delete {name}", missing=False, netns=netns)
