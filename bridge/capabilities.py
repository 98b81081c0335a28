"""Least privilege: once the TUN exists and the host is set up, the bridge keeps
CAP_NET_ADMIN and drops every other capability (capabilities(7)).

What CAP_NET_ADMIN is kept for, for the rest of the run: the netlink changes on the TUN
(MTU and link up after LCP renegotiates, addresses, routes, their removal when the link
goes down and at exit), deleting or putting back the TUN at exit, ``accept_ra`` under
``/proc/sys/net`` (writable by its owner or a holder of CAP_NET_ADMIN), and
systemd-resolved's per-link DNS (resolved lets a caller with CAP_NET_ADMIN past polkit).
Creating a TUN needs it too, but that is done before the drop.

What nothing else is needed for, once dropped, when the bridge runs as root (uid 0): a
file's owner needs no capability to write it, and root owns ``/etc/resolv.conf``, ``/etc``,
``/run/pppbridge`` (the state file) and the modem's device node (root:dialout 0660), so
``--dns resolvconf`` still rewrites and restores resolv.conf, the state file is still
written, and a modem that was unplugged is opened again. CAP_DAC_OVERRIDE is what let
root write files it does not own: a resolv.conf or ``file:PATH`` owned by another user, or
read-only to its owner, can no longer be written after the drop (the error says so).

When the bridge keeps more, or drops nothing (``Supervisor._drop_capabilities``): with
``--netns NAME`` it keeps CAP_SYS_ADMIN too, since each netlink call enters the namespace
(setns(2)); with ``--netns /proc/PID/ns/net``, with the built-in simulator (removing its
namespace at exit needs CAP_SYS_ADMIN) or with an up or down script (pppd runs its scripts
with all of root's power, and so do we: ``iptables`` needs CAP_NET_RAW, for one) it drops
nothing.

As a plain user with CAP_NET_ADMIN only (a persistent TUN from ``pppbridge tun-setup``;
the systemd unit's ``AmbientCapabilities=CAP_NET_ADMIN``) there is nothing left to drop:
``keep_only`` then changes nothing and says so.

How (capabilities(7) "Thread capability sets"): the bounding set first, with
``prctl(PR_CAPBSET_DROP)``, which needs CAP_SETPCAP in the effective set (raised for it
when only permitted), so that a child of a root bridge never gets the rest back at
``execve``; then ``capset(2)`` with the effective, permitted and inheritable sets
reduced to the kept ones. The ambient set follows by itself (the kernel clears an ambient
capability that leaves the permitted or inheritable set), so CAP_NET_ADMIN stays ambient
where it was. Capability sets belong to a thread: call ``keep_only`` from the main thread
while no other thread runs (the bridge's netlink threads live for one call); threads
started afterwards inherit the reduced sets.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

CAP_SETPCAP = 8
CAP_NET_ADMIN = 12
CAP_SYS_ADMIN = 21
"""setns(2) needs it: with ``--netns`` every netlink call enters the namespace (keep it too)."""
# <linux/prctl.h>
PR_CAPBSET_DROP = 24
_LINUX_CAPABILITY_VERSION_3 = 0x20080522  # <linux/capability.h>: two 32-bit words per set
_STATUS_FIELDS = {
    "CapInh": "inheritable",
    "CapPrm": "permitted",
    "CapEff": "effective",
    "CapBnd": "bounding",
    "CapAmb": "ambient",
}
_NAMES = (
    "chown dac_override dac_read_search fowner fsetid kill setgid setuid setpcap "
    "linux_immutable net_bind_service net_broadcast net_admin net_raw ipc_lock ipc_owner "
    "sys_module sys_rawio sys_chroot sys_ptrace sys_pacct sys_admin sys_boot sys_nice "
    "sys_resource sys_time sys_tty_config mknod lease audit_write audit_control setfcap "
    "mac_override mac_admin syslog wake_alarm block_suspend audit_read perfmon bpf "
    "checkpoint_restore"
).split()
"""capabilities(7)'s names, by number (CAP_CHOWN is 0), without the CAP_ prefix."""


@dataclass(frozen=True, slots=True)
class CapabilitySets:
    """A thread's five capability sets, each a bit mask (bit N: capability N)."""

    effective: int
    """What the kernel checks now."""
    permitted: int
    """What may be made effective."""
    inheritable: int
    """What may pass an ``execve`` (with the file's inheritable set, or ambient)."""
    bounding: int
    """The limit of what any later ``execve`` may give."""
    ambient: int
    """What passes an ``execve`` of a program without file capabilities."""

    def describe(self) -> str:
        """One line: each set's capabilities by name ("none" when empty)."""
        return ", ".join(
            f"{field} {names(getattr(self, field)) or 'none'}"
            for field in ("effective", "permitted", "inheritable", "bounding", "ambient")
        )


class _Header(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _Data(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


_libc = ctypes.CDLL(None, use_errno=True)


def mask(capabilities: Iterable[int]) -> int:
    """The bit mask of ``capabilities``."""
    bits = 0
    for capability in capabilities:
        bits |= 1 << capability
    return bits


def names(bits: int) -> str:
    """``bits`` as capabilities(7) names, e.g. "cap_net_admin,cap_sys_admin"."""
    found = []
    for number in range(bits.bit_length()):
        if bits >> number & 1:
            found.append(f"cap_{_NAMES[number]}" if number < len(_NAMES) else f"cap_{number}")
    return ",".join(found)


def current(status: Path = Path("/proc/thread-self/status")) -> CapabilitySets:
    """The calling thread's capability sets, as the kernel shows them in ``status``."""
    values = {}
    for line in status.read_text().splitlines():
        key, _, value = line.partition(":")
        if key in _STATUS_FIELDS:
            values[_STATUS_FIELDS[key]] = int(value.strip(), 16)
    return CapabilitySets(**values)


def keep_only(keep: Iterable[int] = (CAP_NET_ADMIN,)) -> CapabilitySets:
    """Drop every capability but ``keep`` from the calling thread's bounding, effective,
    permitted and inheritable sets (and so from the ambient set); the kept ones that are
    permitted are made effective (a uid change may have cleared them), one that was not
    permitted stays absent. Returns the sets afterwards. Without CAP_SETPCAP the bounding
    set stays as it is (logged); ``OSError`` if the kernel refuses anything else."""
    kept = mask(keep)
    before = current()
    excess_bounding = before.bounding & ~kept
    if excess_bounding:
        _drop_bounding(before, excess_bounding)
    effective, permitted, inheritable = _capget()
    wanted = (permitted & kept, permitted & kept, inheritable & kept)
    if wanted != (effective, permitted, inheritable):
        _capset(*wanted)
    after = current()
    if after == before:
        log.debug("capabilities: nothing to drop (%s)", after.describe())
    else:
        log.info("capabilities: kept %s only", names(after.permitted) or "none")
    return after


def _drop_bounding(before: CapabilitySets, excess: int) -> None:
    setpcap = mask([CAP_SETPCAP])
    if not before.effective & setpcap:
        if not before.permitted & setpcap:
            log.warning(
                "capabilities: bounding set kept (%s): no CAP_SETPCAP to drop it",
                names(excess),
            )
            return
        effective, permitted, inheritable = _capget()
        _capset(effective | setpcap, permitted, inheritable)  # for the prctl below only
    for number in range(excess.bit_length()):
        if excess >> number & 1:
            _prctl(PR_CAPBSET_DROP, number)


def _capget() -> tuple[int, int, int]:
    header = _Header(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_Data * 2)()
    _check(_libc.capget(ctypes.byref(header), data), "capget")
    return tuple(  # type: ignore[return-value]
        getattr(data[0], field) | getattr(data[1], field) << 32
        for field in ("effective", "permitted", "inheritable")
    )


def _capset(effective: int, permitted: int, inheritable: int) -> None:
    header = _Header(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_Data * 2)()
    for word in (0, 1):
        shift = 32 * word
        data[word].effective = effective >> shift & 0xFFFFFFFF
        data[word].permitted = permitted >> shift & 0xFFFFFFFF
        data[word].inheritable = inheritable >> shift & 0xFFFFFFFF
    _check(_libc.capset(ctypes.byref(header), data), "capset")


def _prctl(option: int, argument: int) -> int:
    zero = ctypes.c_ulong(0)
    result = _libc.prctl(ctypes.c_int(option), ctypes.c_ulong(argument), zero, zero, zero)
    return _check(result, f"prctl({option}, {argument})")


def _check(result: int, call: str) -> int:
    if result < 0:
        code = ctypes.get_errno() or errno.EPERM
        raise OSError(code, f"{call}: {os.strerror(code)}")
    return result
