"""The host's network configuration for the link: addresses, routes and DNS, each change
written to a state file before it is made, all of it undone on exit or by the next start.

What is configured, all through pyroute2 (netlink), on the TUN interface:
- IPv4 (RFC 1332): our address with the peer's as point-to-point peer, as pppd does; the
  DNS servers from IPCP (RFC 1877).
- IPv6: the link-local address fe80::<IPV6CP Interface-Identifier> (RFC 5072 5), the
  peer's as its peer; then, from each Router Advertisement, handled here in userspace
  and not by the kernel's accept_ra (its sysctls are often read-only in containers),
  the address prefix::<identifier> with the advertised lifetimes (RFC 4862 5.5.3; 3GPP
  TS 29.061 11.2.1.3.2: the network expects the IPV6CP identifier as interface
  identifier) and a default route via the router's link-local address that expires with
  the Router Lifetime (RFC 4861 6.3.4).
- Default routes (IPv4 and IPv6) with a configurable metric (700, NetworkManager's for
  modems) or none; extra routes through the link.
- DNS: ``/etc/resolv.conf`` rewritten and restored byte for byte, or a pppd
  ``usepeerdns``-style file, or systemd-resolved's per-link servers on the TUN (over
  D-Bus, ``bridge.resolved``), or nothing; IPv4 servers from IPCP, IPv6 ones from the RA's
  RDNSS option (RFC 8106).
- In another network namespace (``netns``: a name under /run/netns or a path such as
  /proc/PID/ns/net, so that a container's traffic alone goes over the link): the TUN and
  everything on it live there, made by threads that enter it (``bridge.netns``). The
  ``resolvconf`` DNS mode then means that namespace's ip-netns(8) file,
  /etc/netns/NAME/resolv.conf (by default only when it exists; a namespace given by path
  has none: ``file:PATH`` there, e.g. /proc/PID/root/etc/resolv.conf).
- Policy routing for containers that keep their own network (``route_from``,
  ``bridge.policy_routing``) and source NAT for forwarded traffic (``masquerade``,
  nftables, ``bridge.nat``): made with the TUN, undone with it.
The RA's MTU option is not applied: the link MTU is the peer's negotiated MRU, which an RA
may only lower (RFC 4861 6.3.4), and 3GPP networks advertise the same or nothing.

The state file: ``<state_dir>/<ifname>.json`` lists every change this process made, and
is rewritten atomically (a new file renamed over it) before each change is made, so it
may list one change that never happened but never misses one that did. On exit each is
undone and the file removed. A bridge that was killed leaves the file; the next start on
that interface undoes what it lists first (``start``, or ``cleanup_from_state``),
tolerating what is already gone; the file names the network namespace its changes were
made in, and a namespace gone since took them along. A lock (``<ifname>.lock``, flock) held
for the process's lifetime tells a running bridge from a dead one; the kernel drops it when
the process dies. Nothing this process did not make is deleted or overwritten: an address
or route that is already there is left alone (and not recorded), an interface we attached
to is put back as it was, and a file someone else rewrote since is not restored over
theirs.

Call order: ``HostConfig(settings)``; ``start()``; ``open_tun(mtu)``; then, in any order
and as often as the link renegotiates, ``apply_ipv4``, ``apply_ipv6_link_local`` (before
the first ``apply_router_advertisement``); ``withdraw()`` when the link went down and will
be dialled again; ``teardown()`` at the end (idempotent; also the context manager's exit).
Every method is synchronous and fast (netlink answers in microseconds), safe to call from
the event loop's thread (``bridge.tun.netlink``) or any other, one at a time (a lock).
"""

from __future__ import annotations

import base64
import contextlib
import errno
import fcntl
import json
import logging
import os
import stat
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from enum import Enum
from ipaddress import (
    IPv4Address,
    IPv4Network,
    IPv6Address,
    IPv6Network,
    ip_address,
    ip_network,
)
from pathlib import Path
from typing import Any

from bridge import nat, policy_routing
from bridge.errors import HostSetupError
from bridge.hooks import HookContext
from bridge.nat import MasqueradeChange
from bridge.netns import NETNS_ETC, NamespaceGone, Netns, find_netns, is_netns_name, netns_path
from bridge.policy_routing import DEFAULT_TABLE, RuleChange, UnreachableChange
from bridge.tun import (
    DEFAULT_NAME,
    TUN_DEVICE,
    LinkState,
    TunDevice,
    check_ifname,
    delete_link,
    link_matches,
    netlink,
    restore_link,
)
from netstack.ra import RouterAdvertisement, link_local_address, slaac_addresses

from . import file_write
from .netlink_import import IPRoute, NetlinkError

log = logging.getLogger(__name__)

DEFAULT_STATE_DIR = Path("/run/pppbridge")
DEFAULT_RESOLV_CONF = Path("/etc/resolv.conf")
DEFAULT_METRIC = 700
"""NetworkManager's route metric for mobile broadband (modem) connections."""
IPV6_MIN_MTU = 1280  # RFC 8200 5: below it the kernel switches IPv6 off on the link
RTPROT_STATIC = 4  # <linux/rtnetlink.h>: a route added by an administrator
RT_SCOPE_LINK = 253  # a route without a gateway: the destination is on the link
RT_TABLE_MAIN = 254
IFA_F_NOPREFIXROUTE = 0x200  # an address whose prefix is not on-link (L=0)
STATE_VERSION = 1
_LOCK_ATTEMPTS = 5
_DEFAULT_ROUTES = {4: "0.0.0.0/0", 6: "::/0"}

Network = IPv4Network | IPv6Network


# --- settings -------------------------------------------------------------------------------


class DnsTarget(Enum):
    """Where the DNS servers go (``--dns``)."""

    RESOLVCONF = "resolvconf"
    """/etc/resolv.conf, rewritten; the original put back on exit."""
    FILE = "file"
    """A file of its own, as pppd's usepeerdns writes /etc/ppp/resolv.conf."""
    RESOLVED = "resolved"
    """systemd-resolved: the TUN's own servers and routing domain, reverted on exit."""
    NONE = "none"
    """Nowhere: the up script may use DNS1/DNS2."""


@dataclass(frozen=True, slots=True)
class DnsMode:
    """A parsed ``--dns resolvconf|resolved|file:PATH|none``."""

    target: DnsTarget
    """Where the servers go."""
    path: Path | None = None
    """The file, for ``DnsTarget.FILE``."""


def parse_dns_mode(text: str) -> DnsMode:
    """``resolvconf``, ``resolved``, ``file:PATH`` or ``none``; raise ``HostSetupError``
    otherwise."""
    if text in (DnsTarget.RESOLVCONF.value, DnsTarget.RESOLVED.value, DnsTarget.NONE.value):
        return DnsMode(DnsTarget(text))
    kind, _, path = text.partition(":")
    if kind == DnsTarget.FILE.value and path:
        return DnsMode(DnsTarget.FILE, Path(path))
    raise HostSetupError(f"--dns {text!r}: expected resolvconf, resolved, file:PATH or none")


RESOLVED_FILES = (
    Path("/run/systemd/resolve/stub-resolv.conf"),
    Path("/run/systemd/resolve/resolv.conf"),
    Path("/usr/lib/systemd/resolv.conf"),
    Path("/lib/systemd/resolv.conf"),
)
"""What /etc/resolv.conf links to when systemd-resolved manages it (systemd-resolved(8),
"/etc/resolv.conf"): its stub, its list of upstream servers, or the static stub."""


def default_dns_mode(resolv_conf: Path = DEFAULT_RESOLV_CONF) -> DnsMode:
    """``resolvconf`` when ``resolv_conf`` is a plain file, ``resolved`` when it is a
    symlink to one of systemd-resolved's files (``RESOLVED_FILES``), ``none`` otherwise
    (a symlink means another service, resolvconf for one, manages it)."""
    try:
        mode = os.lstat(resolv_conf).st_mode
    except OSError:
        return DnsMode(DnsTarget.NONE)
    if stat.S_ISREG(mode):
        return DnsMode(DnsTarget.RESOLVCONF)
    if stat.S_ISLNK(mode) and _link_target(resolv_conf) in RESOLVED_FILES:
        return DnsMode(DnsTarget.RESOLVED)
    return DnsMode(DnsTarget.NONE)


def _link_target(path: Path) -> Path:
    """Where symlink ``path`` points, a relative target (``../run/...``) made absolute, as
    written: the target need not exist."""
    return Path(os.path.normpath(path.parent / os.readlink(path)))


def parse_route(text: str) -> Network:
    """An IPv4 or IPv6 prefix for ``--route``; raise ``HostSetupError`` if it is not one."""
    try:
        return ip_network(text)
    except ValueError as exc:
        raise HostSetupError(f"--route {text!r}: {exc}") from None


@dataclass(frozen=True)
class HostSettings:
    """How the host is configured for the link (the ``run`` command's switches)."""

    ifname: str = DEFAULT_NAME
    """The TUN interface's name; a persistent TUN of that name is attached to."""
    state_dir: Path = DEFAULT_STATE_DIR
    """Where the state file and its lock live."""
    metric: int = DEFAULT_METRIC
    """Metric of every route we add."""
    default_route: bool = True
    """Whether to add default routes (IPv4 at once, IPv6 from the Router Advertisement)."""
    routes: tuple[Network, ...] = ()
    """Extra prefixes routed through the link (``--route``)."""
    dns: DnsMode | None = None
    """Where DNS servers go; None: ``default_dns_mode(resolv_conf)``."""
    resolv_conf: Path = DEFAULT_RESOLV_CONF
    """The resolv.conf to manage (a parameter so that tests never touch the real one)."""
    system_bus: str | None = None
    """The D-Bus address where systemd-resolved is (``--dns resolved``); None: the system
    bus (a parameter so that tests use a bus of their own)."""
    tun_device: str = TUN_DEVICE
    """The TUN driver's control device."""
    netns: str | None = None
    """The network namespace the TUN, its addresses, routes and DNS live in: a name (under
    /run/netns, as ``ip netns add`` makes it) or a path (``/proc/PID/ns/net``); None: this
    process's own. The state file and lock stay keyed by ``ifname`` in ``state_dir``: two
    bridges in two namespaces need two interface names (or state directories)."""
    route_from: tuple[Network, ...] = ()
    """Source prefixes whose packets go out through the link (a default route in
    ``route_table``, rules for these sources): containers that keep their own network."""
    route_table: int = DEFAULT_TABLE
    """The routing table of ``route_from``."""
    masquerade: bool = False
    """Source NAT (nftables masquerade) for forwarded traffic that leaves through the link."""

    def __post_init__(self) -> None:
        check_ifname(self.ifname)
        if not 0 <= self.metric <= 0xFFFFFFFF:
            raise HostSetupError(f"route metric {self.metric} is outside 0-4294967295")
        policy_routing.check_table(self.route_table)
        if self.netns is not None:
            netns_path(self.netns)
            if self.dns == DnsMode(DnsTarget.RESOLVED):
                raise HostSetupError(
                    f"--dns resolved with --netns {self.netns}: systemd-resolved serves its "
                    "own namespace only; use --dns resolvconf or file:PATH"
                )
            if self.managed_resolv_conf is None and self.dns == DnsMode(DnsTarget.RESOLVCONF):
                raise HostSetupError(
                    f"--dns resolvconf with --netns {self.netns}: a namespace given by path "
                    "has no resolv.conf of its own; use --dns file:PATH (a container's: "
                    "/proc/PID/root/etc/resolv.conf)"
                )

    @property
    def managed_resolv_conf(self) -> Path | None:
        """The resolv.conf that ``resolvconf`` DNS writes: ``resolv_conf``; with ``netns``
        a name and ``resolv_conf`` left as it is, /etc/netns/NAME/resolv.conf, which
        ``ip netns exec NAME`` shows as /etc/resolv.conf; None for a namespace given by
        path, which has no file of its own."""
        if self.netns is None or self.resolv_conf != DEFAULT_RESOLV_CONF:
            return self.resolv_conf
        if is_netns_name(self.netns):
            return NETNS_ETC / self.netns / "resolv.conf"
        return None


# --- the changes a state file lists ------------------------------------------------------------


@dataclass(frozen=True)
class LinkChange:
    """The TUN interface: made by us, or attached to and changed."""

    ifname: str
    """Its name."""
    ifindex: int
    """Its index, which tells it from a later interface of the same name."""
    created: bool
    """Made by us: deleted if still there. Otherwise ``previous`` is put back."""
    previous: LinkState | None = None
    """The settings of an attached interface before we changed them."""


@dataclass(frozen=True)
class AddressChange:
    """An address added to the interface."""

    ifname: str
    """The interface's name."""
    ifindex: int
    """The interface's index."""
    address: str
    """Our address (``IFA_LOCAL``)."""
    peer: str | None
    """The point-to-point peer (``IFA_ADDRESS``), if any."""
    prefixlen: int
    """Prefix length."""


@dataclass(frozen=True)
class RouteChange:
    """A route through the interface, in the main table."""

    ifname: str
    """The interface's name."""
    ifindex: int
    """The interface's index."""
    dst: str
    """Destination prefix, e.g. "0.0.0.0/0"."""
    gateway: str | None
    """Next hop (a link-local router address), or None for a route straight on the link."""
    metric: int
    """Route metric (``RTA_PRIORITY``)."""
    table: int = RT_TABLE_MAIN
    """The routing table: main, or the one of ``route_from``."""


@dataclass(frozen=True)
class FileChange:
    """A file we wrote: resolv.conf, or the ``file:PATH`` of ``--dns``."""

    path: str
    """The file."""
    original: bytes | None
    """Its content before (put back byte for byte), or None: it did not exist."""
    written: bytes
    """What we wrote: the file is put back only while it still holds this."""


@dataclass(frozen=True)
class ResolvedChange:
    """DNS servers and domains given to the interface in systemd-resolved."""

    ifname: str
    """The interface's name."""
    ifindex: int
    """The interface's index, which resolved knows it by."""
    bus: str | None
    """The D-Bus address resolved was reached at; None: the system bus."""
    servers: tuple[str, ...]
    """The servers, in order."""
    domains: tuple[str, ...]
    """The domains, ``~name`` for a routing domain (resolvectl's notation)."""


Change = (
    LinkChange
    | AddressChange
    | RouteChange
    | FileChange
    | RuleChange
    | UnreachableChange
    | MasqueradeChange
    | ResolvedChange
)
_KINDS: dict[str, type[Any]] = {
    "link": LinkChange,
    "address": AddressChange,
    "route": RouteChange,
    "file": FileChange,
    "rule": RuleChange,
    "unreachable": UnreachableChange,
    "masquerade": MasqueradeChange,
    "resolved": ResolvedChange,
}
_WITH_THE_LINK = (LinkChange, RuleChange, UnreachableChange, MasqueradeChange)
"""Changes that last as long as the TUN: not withdrawn when the link goes down."""


def _encode(change: Change) -> dict[str, Any]:
    kind = next(name for name, cls in _KINDS.items() if isinstance(change, cls))
    data = asdict(change)
    for key in ("original", "written"):
        if isinstance(data.get(key), bytes):
            data[key] = base64.b64encode(data[key]).decode()
    return {"kind": kind, **data}


def _decode(data: dict[str, Any]) -> Change:
    data = dict(data)
    cls = _KINDS[data.pop("kind")]
    for key in ("original", "written"):
        if isinstance(data.get(key), str):
            data[key] = base64.b64decode(data[key])
    if isinstance(data.get("previous"), dict):
        data["previous"] = LinkState(**data["previous"])
    change: Change = cls(**data)
    return change


# --- the state file and its lock ---------------------------------------------------------------


class _Lock:
    """An exclusive flock on ``path`` for as long as this process holds it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = -1

    def acquire(self, what: str) -> None:
        for _ in range(_LOCK_ATTEMPTS):
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except OSError as exc:
                raise HostSetupError(f"cannot open {self.path}: {exc.strerror}") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise HostSetupError(
                    f"another pppbridge is running on {what} (it holds {self.path}): stop it "
                    "first, or choose another interface name"
                ) from None
            if _same_file(fd, self.path):
                self._fd = fd
                return
            os.close(fd)  # its holder removed it as we opened it: lock the new one
        raise HostSetupError(f"cannot lock {self.path}: it keeps being replaced")

    def release(self) -> None:
        """Remove the file, then unlock: one who opened it meanwhile sees it is gone."""
        if self._fd < 0:
            return
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        os.close(self._fd)
        self._fd = -1


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except FileNotFoundError:
        return False


class _StateFile:
    """The list of changes, saved atomically on every update."""

    def __init__(
        self,
        path: Path,
        ifname: str,
        changes: Sequence[Change] = (),
        netns: Netns | None = None,
    ) -> None:
        self.path = path
        self.ifname = ifname
        self.changes: list[Change] = list(changes)
        self.netns = netns

    @classmethod
    def load(cls, path: Path) -> _StateFile:
        try:
            data = json.loads(path.read_bytes())
            changes = [_decode(item) for item in data["changes"]]
            netns = Netns(**data["netns"]) if data.get("netns") else None
            return cls(path, data["ifname"], changes, netns)
        except (ValueError, KeyError, TypeError) as exc:
            raise HostSetupError(
                f"state file {path} is unreadable ({exc}): check what it lists, then delete it"
            ) from None

    def record(self, change: Change) -> None:
        self.changes.append(change)
        self.save()

    def replace(self, old: Change, new: Change) -> None:
        self.changes[self.changes.index(old)] = new
        self.save()

    def forget(self, change: Change) -> None:
        self.changes.remove(change)
        self.save()

    def save(self) -> None:
        document = {
            "version": STATE_VERSION,
            "pid": os.getpid(),
            "ifname": self.ifname,
            "netns": self.netns.as_dict() if self.netns else None,
            "changes": [_encode(change) for change in self.changes],
        }
        try:
            _write_by_rename(self.path, json.dumps(document, indent=1).encode() + b"\n")
        except OSError as exc:
            raise HostSetupError(f"cannot write state file {self.path}: {exc.strerror}") from None

    def delete(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


def state_path(settings: HostSettings) -> Path:
    """The state file of ``settings.ifname``."""
    return settings.state_dir / f"{settings.ifname}.json"


def cleanup_from_state(path: Path) -> list[str]:
    """Undo every change the state file ``path`` lists (what is gone already is skipped),
    then remove it; one line per change says what was done. Refused while the bridge that
    wrote it still runs. What cannot be undone stays listed, and ``HostSetupError`` says
    so."""
    lock = _Lock(path.with_suffix(".lock"))
    lock.acquire(path.stem)
    try:
        if not path.exists():
            return []
        state = _StateFile.load(path)
        return _undo_all(state)
    finally:
        lock.release()


def _undo_all(state: _StateFile, before_link: Callable[[], None] = lambda: None) -> list[str]:
    """Undo the changes last first (the interface after what is on it); keep the ones that
    fail in the file, or delete the file when none did."""
    done: list[str] = []
    failures: list[str] = []
    for change in reversed(list(state.changes)):
        if isinstance(change, LinkChange):
            before_link()
        try:
            done.append(_undo(change, state.netns))
        except NamespaceGone as exc:
            done.append(f"{exc}, and with it: {_shown(change)}")
        except (HostSetupError, OSError) as exc:
            failures.append(str(exc))
            continue
        state.changes.remove(change)
    for line in done:
        log.info("%s", line)
    if not failures:
        state.delete()
        return done
    state.save()
    raise HostSetupError(f"could not undo everything listed in {state.path}: {'; '.join(failures)}")


def _undo(change: Change, netns: Netns | None) -> str:
    """Undo ``change``, made in ``netns`` (None: ours); what was done, in words."""
    if isinstance(change, LinkChange):
        return _undo_link(change, netns)
    if isinstance(change, AddressChange):
        return _undo_address(change, netns)
    if isinstance(change, RouteChange):
        return _undo_route(change, netns)
    if isinstance(change, RuleChange | UnreachableChange):
        return policy_routing.undo(change, netns)
    if isinstance(change, MasqueradeChange):
        return nat.undo_masquerade(change, netns)
    if isinstance(change, ResolvedChange):
        return _undo_resolved(change, netns)
    return _undo_file(change)


def _shown(change: Change) -> str:
    """``change`` in words."""
    if isinstance(change, LinkChange):
        return change.ifname
    if isinstance(change, AddressChange):
        return _address_text(change)
    if isinstance(change, RouteChange):
        return f"route {_route_text(change)}"
    if isinstance(change, RuleChange | UnreachableChange):
        return policy_routing.text(change)
    if isinstance(change, MasqueradeChange):
        return nat.masquerade_text(change)
    if isinstance(change, ResolvedChange):
        return _resolved_text(change)
    return change.path


def _undo_link(change: LinkChange, netns: Netns | None) -> str:
    if change.created:
        gone = not delete_link(change.ifindex, change.ifname, netns)
        return f"{change.ifname}: {'gone with our descriptor' if gone else 'deleted'}"
    if change.previous is None or not restore_link(
        change.ifindex, change.ifname, change.previous, netns
    ):
        return f"{change.ifname}: nothing to put back"
    return f"{change.ifname}: MTU {change.previous.mtu}, {'up' if change.previous.up else 'down'}"


def _undo_address(change: AddressChange, netns: Netns | None) -> str:
    def delete(ipr: IPRoute) -> None:
        ipr.addr("del", **_address_args(change))

    # ENXIO: the interface has no IPv6 at all any more (an MTU under 1280 makes the kernel
    # drop it, addresses included), so the address is gone with it.
    gone = (errno.EADDRNOTAVAIL, errno.ENXIO)
    return _undo_on_link(change, delete, gone, _address_text(change), netns)


def _undo_route(change: RouteChange, netns: Netns | None) -> str:
    def delete(ipr: IPRoute) -> None:
        ipr.route("del", **_route_args(change))

    return _undo_on_link(change, delete, (errno.ESRCH,), f"route {_route_text(change)}", netns)


def _undo_on_link(
    change: AddressChange | RouteChange,
    delete: Callable[[IPRoute], None],
    gone: tuple[int, ...],
    shown: str,
    netns: Netns | None,
) -> str:
    """Run ``delete`` if the interface is still the one we changed; the errors ``gone``
    (and a vanished interface) mean it is gone already."""

    def remove(ipr: IPRoute) -> bool:
        if not link_matches(ipr, change.ifindex, change.ifname):
            return False
        try:
            delete(ipr)
        except NetlinkError as exc:
            if exc.code not in gone:
                raise
            return False
        return True

    removed = netlink(remove, doing=f"remove {shown}", missing=False, netns=netns)
    return f"{'removed' if removed else 'already gone:'} {shown}"


def _undo_resolved(change: ResolvedChange, netns: Netns | None) -> str:
    """RevertLink, while the interface is still there: resolved forgets a link that goes
    (a TUN we made goes with a killed bridge). A resolved that is not running has nothing
    to revert."""
    from bridge import resolved  # jeepney, loaded only where resolved is used

    there = netlink(
        lambda ipr: link_matches(ipr, change.ifindex, change.ifname),
        doing=f"look at {change.ifname}",
        missing=False,
        netns=netns,
    )
    if not there:
        return f"already gone: {_resolved_text(change)} (it went with the interface)"
    try:
        resolved.revert_link(change.ifindex, bus=change.bus)
    except resolved.NoSuchLink:
        return f"already gone: {_resolved_text(change)}"
    except resolved.ResolvedUnavailable as exc:
        return f"{_resolved_text(change)}: nothing to revert ({exc})"
    return f"reverted: {_resolved_text(change)}"


def _resolved_text(change: ResolvedChange) -> str:
    return f"DNS of {change.ifname} in systemd-resolved"


def _undo_file(change: FileChange) -> str:
    path = Path(change.path)
    current = _read_or_none(path)
    if current == change.original and not path.is_symlink():
        return f"{path}: as it was"
    if current != change.written or path.is_symlink():
        return f"{path}: changed by someone else since; left as it is"
    if change.original is None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return f"{path}: removed"
    replace_file(path, change.original)
    return f"{path}: restored"


# --- netlink arguments and checks ---------------------------------------------------------------


def _address_args(change: AddressChange) -> dict[str, Any]:
    return {
        "index": change.ifindex,
        "local": change.address,
        "address": change.peer or change.address,
        "prefixlen": change.prefixlen,
    }


def _address_text(change: AddressChange) -> str:
    peer = f" peer {change.peer}" if change.peer else ""
    return f"{change.address}/{change.prefixlen}{peer} on {change.ifname}"


def _route_args(change: RouteChange) -> dict[str, Any]:
    args: dict[str, Any] = {
        "dst": change.dst,
        "oif": change.ifindex,
        "priority": change.metric,
        "table": change.table,
    }
    if change.gateway:
        args["gateway"] = change.gateway
    elif ip_network(change.dst).version == 4:
        args["scope"] = RT_SCOPE_LINK
    return args


def _route_text(change: RouteChange) -> str:
    via = f" via {change.gateway}" if change.gateway else ""
    table = f" table {change.table}" if change.table != RT_TABLE_MAIN else ""
    return f"{change.dst}{via} dev {change.ifname} metric {change.metric}{table}"


def _address_present(ipr: IPRoute, change: AddressChange) -> bool:
    """Whether the interface has this address already, whatever its prefix length."""
    wanted = ip_address(change.address)
    for item in ipr.get_addr(index=change.ifindex):
        local = item.get_attr("IFA_LOCAL") or item.get_attr("IFA_ADDRESS")
        if local and ip_address(local) == wanted:
            return True
    return False


def _route_present(ipr: IPRoute, change: RouteChange) -> bool:
    """Whether the route's table has a route to the same prefix with the same metric,
    through any interface: adding ours would fail (IPv4 and IPv6 both refuse a second one
    with NLM_F_EXCL), and replacing it would overwrite someone else's."""
    network = ip_network(change.dst)
    for route in ipr.get_routes(family=_family(network.version), table=change.table):
        if route.get_attr("RTA_TABLE") != change.table or route["dst_len"] != network.prefixlen:
            continue
        dst = route.get_attr("RTA_DST")
        if dst is not None and ip_address(dst) != network.network_address:
            continue
        if (route.get_attr("RTA_PRIORITY") or 0) == change.metric:
            return True
    return False


def _family(version: int) -> int:
    return 2 if version == 4 else 10  # AF_INET, AF_INET6


# --- files ----------------------------------------------------------------------------------


def replace_file(path: Path, data: bytes) -> None:
    """Give ``path`` the content ``data``: by renaming a new file over it where that can be
    done, so that readers see the old or the new content and never half of it; in place
    where a rename cannot replace it (a bind mount, as in containers and under ``ip netns
    exec``: EBUSY; a read-only directory around a writable file)."""
    try:
        _write_by_rename(path, data)
    except OSError as exc:
        if exc.errno not in (errno.EBUSY, errno.EXDEV, errno.EROFS, errno.EACCES, errno.EPERM):
            raise
        _write_in_place(path, data)


def _write_by_rename(path: Path, data: bytes) -> None:
    file_write.replace_file(path, data, sync=True)  # keeps the file's mode and owner


def _write_in_place(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    try:
        file_write.write_all(fd, data, sync=True)
    finally:
        os.close(fd)


def _read_or_none(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def resolv_conf_text(ifname: str, servers: Sequence[IPv4Address | IPv6Address]) -> bytes:
    """resolv.conf(5) content naming us, the servers in order (the resolver uses 3)."""
    lines = [f"# Written by pppbridge for {ifname}; the original returns when it stops."]
    lines += [f"nameserver {server}" for server in servers]
    return ("\n".join(lines) + "\n").encode()


def peer_dns_text(servers: Sequence[IPv4Address | IPv6Address]) -> bytes:
    """What pppd's usepeerdns writes to /etc/ppp/resolv.conf: one nameserver line each."""
    return "".join(f"nameserver {server}\n" for server in servers).encode()


# --- the host configuration ---------------------------------------------------------------------


@dataclass
class _Applied:
    """What the link has told us so far (to tell a repeat from a change)."""

    ipv4: tuple[IPv4Address, IPv4Address | None] | None = None
    dns4: tuple[IPv4Address, ...] = ()
    link_local: tuple[bytes, bytes | None] | None = None
    modem_ipv6: IPv6Address | None = None
    """The modem's address, when its AT sockets carry IPv6."""
    dns6: tuple[IPv6Address, ...] = ()
    notices: set[str] = field(default_factory=set)


class HostConfig:
    """The configuration of this host for one link (see the module docstring)."""

    def __init__(self, settings: HostSettings) -> None:
        self.settings = settings
        self.state_path = state_path(settings)
        self._lock = _Lock(self.state_path.with_suffix(".lock"))
        self._state: _StateFile | None = None
        self._tun: TunDevice | None = None
        self._netns: Netns | None = None
        self._mtu = 0
        self._dns = settings.dns
        self._applied = _Applied()
        self._mutex = threading.RLock()

    def __enter__(self) -> HostConfig:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.teardown()

    def start(self) -> list[str]:
        """Take the interface's lock and undo what a killed predecessor left (one line
        each, also logged); then record from an empty state. Harmless when started."""
        with self._mutex:
            if self._state is not None:
                return []
            try:
                self.settings.state_dir.mkdir(mode=0o755, parents=True, exist_ok=True)
            except OSError as exc:
                raise HostSetupError(
                    f"cannot create {self.settings.state_dir}: {exc.strerror} (run as root)"
                ) from None
            self._lock.acquire(self.settings.ifname)
            try:
                cleaned = self._clean_leftovers()
                self._netns = find_netns(self.settings.netns) if self.settings.netns else None
                self._check_forwarding()
                self._dns = self._choose_dns()
                self._state = _StateFile(self.state_path, self.settings.ifname, (), self._netns)
                self._state.save()
            except BaseException:
                self._lock.release()
                raise
            return cleaned

    def _clean_leftovers(self) -> list[str]:
        if not self.state_path.exists():
            return []
        log.warning("%s: undoing what a pppbridge that was killed left", self.state_path)
        return _undo_all(_StateFile.load(self.state_path))

    def _check_forwarding(self) -> None:
        """Refuse to start when ``route_from`` or ``masquerade`` cannot work: forwarding is
        off (``bridge.policy_routing`` says why pppbridge does not switch it on)."""
        settings = self.settings
        if settings.route_from:
            wanted = policy_routing.versions(settings.route_from)
            policy_routing.check_forwarding(wanted, self._netns, "--route-from")
        if settings.masquerade:
            policy_routing.check_forwarding([4], self._netns, "--masquerade")

    def _choose_dns(self) -> DnsMode:
        path = self.settings.managed_resolv_conf
        if path is None:  # a namespace given by path: no resolv.conf of its own
            return self.settings.dns or DnsMode(DnsTarget.NONE)
        chosen = self.settings.dns or default_dns_mode(path)
        if chosen.target == DnsTarget.RESOLVCONF and path.is_symlink():
            log.warning(
                "DNS: %s is a symlink to %s, managed by another service (systemd-resolved or "
                "resolvconf): pppbridge leaves it alone; use --dns file:PATH or the up script",
                path,
                os.readlink(path),
            )
            return DnsMode(DnsTarget.NONE)
        if self.settings.dns is None and chosen.target == DnsTarget.NONE:
            log.info("DNS: %s is not a plain file: pppbridge leaves it alone", path)
        if chosen.target == DnsTarget.RESOLVED and self.settings.netns is not None:
            return DnsMode(DnsTarget.NONE)  # resolved serves its own namespace only
        return chosen

    # --- the interface ---

    def open_tun(self, mtu: int) -> TunDevice:
        """Create or attach the TUN, set ``mtu`` (the negotiated MRU of the peer) and bring
        it up; later calls only set the MTU again (LCP renegotiated)."""
        with self._mutex:
            state = self._started()
            if self._tun is not None:
                self._tun.configure(mtu)
                self._mtu = mtu
                return self._tun
            tun = TunDevice.open(
                self.settings.ifname, device=self.settings.tun_device, netns=self._netns
            )
            change: LinkChange | None = None
            try:
                # A TUN we create lives only as long as our descriptor, so it is recorded
                # once made: killed before this line, we leave nothing behind.
                previous = None if tun.created else tun.link_state()
                change = LinkChange(tun.name, tun.ifindex, tun.created, previous)
                state.record(change)
                tun.configure(mtu)
            except BaseException:
                tun.close()
                if change in state.changes:
                    with contextlib.suppress(HostSetupError, OSError):
                        _undo(change, self._netns)
                    state.forget(change)
                raise
            self._tun, self._mtu = tun, mtu
            with self._transaction():
                self._add_link_companions()
            return tun

    def _add_link_companions(self) -> None:
        """What lasts as long as the TUN: the ``route_from`` rules with the unreachable
        defaults of their table, and the masquerade table."""
        settings = self.settings
        for change in policy_routing.policy_changes(settings.route_from, settings.route_table):
            self._add_companion(
                change, policy_routing.present, policy_routing.add, policy_routing.text(change)
            )
        if settings.masquerade:
            masquerade = nat.masquerade_change(settings.ifname)
            self._add_companion(
                masquerade, nat.table_present, nat.add_masquerade, nat.masquerade_text(masquerade)
            )

    # --- IPv4 ---

    def apply_ipv4(
        self,
        local: IPv4Address,
        peer: IPv4Address | None = None,
        dns: Sequence[IPv4Address] = (),
    ) -> None:
        """Our IPv4 address (with the peer's, when IPCP gave one), the default route, the
        extra IPv4 routes, and the DNS servers. A repeat changes nothing; a new address
        replaces the old one."""
        with self._mutex, self._transaction():
            link = self._link()
            if self._applied.ipv4 not in (None, (local, peer)):
                self._withdraw(lambda change: _version(change) == 4)
            self._applied.ipv4 = (local, peer)
            peer_text = str(peer) if peer else None
            self._add_address(AddressChange(*link, str(local), peer_text, 32))
            self._add_routes(4)
            self._applied.dns4 = tuple(dns)
            self._update_dns()

    # --- IPv6 ---

    def apply_ipv6_link_local(self, interface_id: bytes, peer_interface_id: bytes | None) -> None:
        """fe80::<our identifier>, with the peer's fe80::<identifier> as peer (RFC 5072 5),
        and the extra IPv6 routes. A new identifier replaces every IPv6 address."""
        with self._mutex, self._transaction():
            link = self._link()
            self._check_ipv6_mtu()
            wanted = (interface_id, peer_interface_id)
            if self._applied.link_local not in (None, wanted):
                self._withdraw(lambda change: _version(change) == 6)
                self._applied.dns6 = ()
            self._applied.link_local = wanted
            local = link_local_address(interface_id)
            peer = link_local_address(peer_interface_id) if peer_interface_id else None
            change = AddressChange(
                *link, str(local), str(peer) if peer else None, 128 if peer else 64
            )
            self._add_address(change)
            self._add_routes(6)
            self._update_dns()

    def apply_ipv6_address(self, address: IPv6Address, dns: Sequence[IPv6Address] = ()) -> None:
        """IPv6 that the modem's own stack carries (AT sockets, issue 10): the context's
        address (+CGPADDR) as a /128, a default route straight on the link (no router:
        every packet to the TUN goes to the modem), the extra IPv6 routes and the
        context's DNS servers (+CGCONTRDP). A new address replaces every IPv6 one."""
        with self._mutex, self._transaction():
            link = self._link()
            self._check_ipv6_mtu()
            if self._applied.modem_ipv6 not in (None, address):
                self._withdraw(lambda change: _version(change) == 6)
            self._applied.modem_ipv6 = address
            self._add_address(AddressChange(*link, str(address), None, 128))
            if self.settings.default_route:
                self._add_route(RouteChange(*link, _DEFAULT_ROUTES[6], None, self.settings.metric))
            self._add_routes(6)
            self._applied.dns6 = tuple(dns)
            self._update_dns()

    def withdraw_ipv6_address(self) -> None:
        """The modem's AT sockets no longer carry IPv6 (their port went, the modem stopped
        following): its address, the IPv6 routes and DNS servers go, so that the host's
        IPv6 does not vanish into a link that cannot carry it; IPv4 stays."""
        with self._mutex:
            if self._state is None or self._applied.modem_ipv6 is None:
                return
            with self._transaction():
                self._withdraw(
                    lambda change: not isinstance(change, _WITH_THE_LINK) and _version(change) == 6
                )
                self._applied.modem_ipv6 = None
                self._applied.dns6 = ()
                self._update_dns()

    def _check_ipv6_mtu(self) -> None:
        if self._mtu < IPV6_MIN_MTU:
            raise HostSetupError(
                f"IPv6 needs an MTU of at least {IPV6_MIN_MTU} (RFC 8200 5); "
                f"{self.settings.ifname} has {self._mtu}"
            )

    def apply_router_advertisement(self, ra: RouterAdvertisement) -> tuple[IPv6Address, ...]:
        """Form or refresh the addresses the RA's prefixes give with our identifier (RFC
        4862 5.5.3), set the default route via the router (RFC 4861 6.3.4) and take its
        DNS servers (RFC 8106). Returns our global addresses. The same RA again only
        refreshes lifetimes. An RA that comes before ``apply_ipv6_link_local`` (the network
        may send one as soon as IPV6CP opens) is ignored: the one answering our Router
        Solicitation follows."""
        with self._mutex, self._transaction():
            if self._applied.link_local is None:
                log.info("Router Advertisement before the link-local address: ignored")
                return ()
            for slaac in slaac_addresses(ra, self._applied.link_local[0]):
                change = AddressChange(*self._link(), str(slaac.address), None, 64)
                if slaac.valid_lifetime == 0:
                    # RFC 4862 5.5.3 e) keeps an address two more hours against forged RAs
                    # on shared links; on PPP only the operator's gateway can send one.
                    self._remove(change)
                    continue
                cacheinfo = {
                    "ifa_valid": slaac.valid_lifetime,
                    "ifa_preferred": slaac.preferred_lifetime,
                    "cstamp": 0,
                    "tstamp": 0,
                }
                flags = 0 if slaac.on_link else IFA_F_NOPREFIXROUTE
                self._add_address(change, IFA_CACHEINFO=cacheinfo, IFA_FLAGS=flags)
            self._apply_router(ra)
            self._applied.dns6 = ra.dns_servers if ra.dns_lifetime else ()
            self._update_dns()
            return self.ipv6_globals

    def _apply_router(self, ra: RouterAdvertisement) -> None:
        if not self.settings.default_route:
            return
        wanted = None
        if ra.router_lifetime:
            wanted = RouteChange(*self._link(), "::/0", str(ra.router), self.settings.metric)
        for change in self._state_changes():
            if (
                isinstance(change, RouteChange)
                and change.dst == "::/0"
                and change.table == RT_TABLE_MAIN
                and change != wanted
            ):
                self._remove(change)  # another router, or this one is no router any more
        if wanted is not None:
            expires = ra.router_lifetime.to_bytes(4, sys.byteorder)  # RTA_EXPIRES: u32 seconds
            self._add_route(wanted, RTA_EXPIRES=expires)

    @property
    def ipv6_globals(self) -> tuple[IPv6Address, ...]:
        """Our global IPv6 addresses from Router Advertisements."""
        found = []
        for change in self._state_changes():
            if isinstance(change, AddressChange):
                address = ip_address(change.address)
                if address.version == 6 and not address.is_link_local:
                    assert isinstance(address, IPv6Address)
                    found.append(address)
        return tuple(found)

    # --- the end ---

    def withdraw(self) -> None:
        """Remove the addresses, routes and DNS (the link went down); keep the interface."""
        with self._mutex:
            if self._state is None:
                return
            self._withdraw(lambda change: not isinstance(change, _WITH_THE_LINK))
            self._applied = _Applied()

    def teardown(self) -> list[str]:
        """Undo everything, close the TUN, remove the state file and the lock; one line
        each for what was done. Harmless when not started or already torn down."""
        with self._mutex:
            if self._state is None:
                return []
            state, self._state = self._state, None
            try:
                return _undo_all(state, before_link=self._close_tun)
            finally:
                self._close_tun()
                self._applied = _Applied()
                self._lock.release()

    def hook_context(self, device: str = "", speed: int = 0, ipparam: str = "") -> HookContext:
        """What the up and down scripts are told (``bridge.hooks``)."""
        with self._mutex:
            applied = self._applied
            ipv4 = applied.ipv4 or (None, None)
            ll = applied.link_local or (None, None)
            return HookContext(
                ifname=self.settings.ifname,
                device=device,
                speed=speed,
                ip_local=ipv4[0],
                ip_remote=ipv4[1],
                dns=applied.dns4,
                ll_local=link_local_address(ll[0]) if ll[0] else None,
                ll_remote=link_local_address(ll[1]) if ll[1] else None,
                ipv6_global=next(iter(self.ipv6_globals), None),
                ipparam=ipparam,
            )

    # --- helpers ---

    def _started(self) -> _StateFile:
        if self._state is None:
            self.start()
        assert self._state is not None
        return self._state

    def _state_changes(self) -> list[Change]:
        return list(self._state.changes) if self._state is not None else []

    def _link(self) -> tuple[str, int]:
        if self._tun is None:
            raise RuntimeError("open_tun comes before addresses and routes")
        return self._tun.name, self._tun.ifindex

    def _close_tun(self) -> None:
        if self._tun is not None:
            self._tun.close()
            self._tun = None

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """Undo the changes a call made when it fails half-way: nothing stays half-done."""
        state = self._started()
        before = list(state.changes)
        try:
            yield
        except BaseException:
            for change in reversed(state.changes):
                if change not in before:
                    with contextlib.suppress(HostSetupError, OSError):
                        self._remove(change)
            raise

    def _add_address(self, change: AddressChange, **extra: Any) -> None:
        """Add (or, when it is ours, refresh) an address; leave someone else's alone."""
        self._add(
            change,
            _address_present,
            lambda ipr: ipr.addr("replace", **_address_args(change), **extra),
            _address_text(change),
        )

    def _add_routes(self, version: int) -> None:
        networks = [str(net) for net in self.settings.routes if net.version == version]
        if self.settings.default_route and version == 4:
            networks.insert(0, _DEFAULT_ROUTES[4])  # IPv6's comes with the RA
        for dst in networks:
            self._add_route(RouteChange(*self._link(), dst, None, self.settings.metric))
        if version in policy_routing.versions(self.settings.route_from):
            table = self.settings.route_table
            default = _DEFAULT_ROUTES[version]
            self._add_route(RouteChange(*self._link(), default, None, self.settings.metric, table))

    def _add_route(self, change: RouteChange, **extra: Any) -> None:
        self._add(
            change,
            _route_present,
            lambda ipr: ipr.route("replace", **_route_args(change), proto=RTPROT_STATIC, **extra),
            f"route {_route_text(change)}",
        )

    def _add(
        self,
        change: AddressChange | RouteChange,
        present: Callable[[IPRoute, Any], bool],
        apply: Callable[[IPRoute], object],
        shown: str,
    ) -> None:
        state = self._started()
        new = change not in state.changes
        if new:
            looked = netlink(
                lambda ipr: present(ipr, change),
                doing=f"look at {change.ifname}",
                netns=self._netns,
            )
            if looked:
                if shown not in self._applied.notices:
                    self._applied.notices.add(shown)
                    log.warning("%s is there already and not ours: left as it is", shown)
                return
            state.record(change)  # before it is made
        try:
            netlink(apply, doing=f"add {shown}", netns=self._netns)
        except HostSetupError:
            if new:
                state.forget(change)  # the kernel refused it: nothing was made
            raise

    def _add_companion(
        self,
        change: Any,
        present: Callable[[Any, Netns | None], bool],
        apply: Callable[[Any, Netns | None], object],
        shown: str,
    ) -> None:
        """Make ``change`` (a rule, a route or a table that is not on the interface) once,
        recorded first; leave one that is there and not ours."""
        state = self._started()
        if change in state.changes:
            return
        if present(change, self._netns):
            log.warning("%s is there already and not ours: left as it is", shown)
            return
        state.record(change)
        try:
            apply(change, self._netns)
        except HostSetupError:
            state.forget(change)  # refused: nothing was made
            raise

    def _remove(self, change: Change) -> None:
        state = self._started()
        if change in state.changes:
            log.info("%s", _undo(change, self._netns))
            state.forget(change)

    def _withdraw(self, which: Callable[[Change], bool]) -> None:
        for change in reversed(self._state_changes()):
            if which(change):
                self._remove(change)

    def _update_dns(self) -> None:
        """Write the servers where ``--dns`` says, when they changed; put the file back
        when there are none left."""
        mode = self._dns
        if mode is None or mode.target == DnsTarget.NONE:
            return
        servers: list[IPv4Address | IPv6Address] = [*self._applied.dns4, *self._applied.dns6]
        if mode.target == DnsTarget.RESOLVED:
            self._set_resolved(servers)
            return
        path = (
            self.settings.managed_resolv_conf if mode.target == DnsTarget.RESOLVCONF else mode.path
        )
        assert path is not None
        if mode.target == DnsTarget.RESOLVCONF:
            content = resolv_conf_text(self.settings.ifname, servers)
        else:
            content = peer_dns_text(servers)
        self._write_dns_file(path, content if servers else None)

    def _set_resolved(self, servers: Sequence[IPv4Address | IPv6Address]) -> None:
        """The servers, and the routing domain ``~.`` when the link carries the default
        route, on the TUN in systemd-resolved; reverted when there are none left. A call
        that fails half-way is reverted by ``_transaction``."""
        from bridge import resolved  # jeepney, loaded only where resolved is used

        state = self._started()
        ours = next((c for c in state.changes if isinstance(c, ResolvedChange)), None)
        if not servers:
            if ours is not None:
                self._remove(ours)
            return
        domains = (resolved.ROUTE_ALL,) if self.settings.default_route else ()
        wanted = ResolvedChange(
            *self._link(), self.settings.system_bus, tuple(map(str, servers)), domains
        )
        if ours == wanted:
            return
        if ours is None:
            state.record(wanted)
        else:
            state.replace(ours, wanted)
        resolved.set_link_dns(wanted.ifindex, servers, domains, bus=wanted.bus)

    def _write_dns_file(self, path: Path, content: bytes | None) -> None:
        state = self._started()
        ours = next(
            (c for c in state.changes if isinstance(c, FileChange) and c.path == str(path)), None
        )
        if content is None:
            if ours is not None:
                self._remove(ours)
            return
        if ours is not None and ours.written == content:
            return
        current = _read_or_none(path)
        if path.is_symlink() or (ours is not None and current != ours.written):
            log.warning("%s was changed by someone else: pppbridge leaves it alone now", path)
            if ours is not None:
                state.forget(ours)
            self._dns = DnsMode(DnsTarget.NONE)
            return
        change = FileChange(str(path), ours.original if ours else current, content)
        if ours is None:
            state.record(change)
        else:
            state.replace(ours, change)
        try:
            replace_file(path, content)
        except OSError as exc:
            if ours is None:
                state.forget(change)
            else:
                state.replace(change, ours)
            raise HostSetupError(f"cannot write {path}: {exc.strerror}") from None


def _version(change: Change) -> int | None:
    if isinstance(change, AddressChange):
        return ip_address(change.address).version
    if isinstance(change, RouteChange):
        return ip_network(change.dst).version
    return None
