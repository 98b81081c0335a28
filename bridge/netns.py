"""Network namespaces: the one the TUN and everything on it live in (``--netns``), and how a
call runs inside one.

A namespace is given by name, as ip-netns(8) names them (``/run/netns/NAME``, a bind mount
that ``ip netns add`` makes; ``/var/run`` is a link to ``/run``), or by path, e.g. a
container's ``/proc/PID/ns/net``. ``find_netns`` opens it once, checks that it is a network
namespace (``NS_GET_NSTYPE``, Linux 4.11) and keeps its identity: the device and inode of
its nsfs file. A path may name another namespace later (a PID reused, a name removed and
made again), so entering it checks that identity, and ``NamespaceGone`` says when it no
longer holds: what was in the old namespace went with it.

Why a thread: setns(2) with ``CLONE_NEWNET`` moves only the calling thread. A socket
(netlink included) and a TUN device belong to the namespace of the thread that made them,
and keep working from any thread afterwards; ``/proc/sys/net`` shows the namespace of the
thread that opens it. So ``run_in_thread`` runs a call on a short-lived thread of its own
that enters the namespace first and ends with the call (a pool thread would stay inside),
and waits for it, bounded; the caller's thread never leaves its namespace. The same thread
serves calls that must not run on the thread of a running asyncio loop (pyroute2's
synchronous sockets drive an event loop of their own): ``run_inside``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ctypes
import errno
import fcntl
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from bridge.errors import HostSetupError

T = TypeVar("T")

NETNS_RUN_DIR = Path("/run/netns")
"""Where ``ip netns add NAME`` mounts the namespace NAME."""
NETNS_ETC = Path("/etc/netns")
"""ip-netns(8): ``ip netns exec NAME`` bind-mounts each file of /etc/netns/NAME/ over the
one of the same name in /etc, so /etc/netns/NAME/resolv.conf is that namespace's."""
CLONE_NEWNET = 0x40000000  # <linux/sched.h>
NS_GET_NSTYPE = 0xB703  # <linux/nsfs.h>: _IO(0xb7, 0x3)
CALL_TIMEOUT = 10.0
"""Seconds a call inside a namespace may take (the kernel answers in microseconds)."""


class NamespaceGone(HostSetupError):
    """The namespace a change was made in exists no more: the change went with it."""


@dataclass(frozen=True, slots=True)
class Netns:
    """A network namespace, by path and identity."""

    path: str
    """``/run/netns/NAME`` or the path given, e.g. ``/proc/PID/ns/net``."""
    device: int
    """``st_dev`` of its nsfs file."""
    inode: int
    """``st_ino`` of its nsfs file: with ``device``, which namespace this is."""

    def __str__(self) -> str:
        return self.path

    def enter(self) -> None:
        """Move the calling thread into this namespace (only on a thread that ends with the
        call: ``run_in_thread``). ``NamespaceGone`` when the path is gone or names another
        namespace now; ``HostSetupError`` when we may not enter it."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise NamespaceGone(f"network namespace {self.path} is gone") from None
        except OSError as exc:
            raise HostSetupError(
                f"cannot open network namespace {self.path}: {exc.strerror}"
            ) from None
        try:
            found = os.fstat(fd)
            if (found.st_dev, found.st_ino) != (self.device, self.inode):
                raise NamespaceGone(
                    f"network namespace {self.path} is gone ({self.path} names another now)"
                )
            if _libc().setns(fd, CLONE_NEWNET) != 0:
                code = ctypes.get_errno()
                if code == errno.EPERM:
                    raise HostSetupError(
                        f"no permission to enter network namespace {self.path}: needs root "
                        "(CAP_SYS_ADMIN)"
                    )
                raise HostSetupError(
                    f"cannot enter network namespace {self.path}: {os.strerror(code)}"
                )
        finally:
            os.close(fd)

    def as_dict(self) -> dict[str, object]:
        return {"path": self.path, "device": self.device, "inode": self.inode}


def netns_path(text: str) -> Path:
    """The file of ``--netns TEXT``: a name under /run/netns, or an absolute path; raise
    ``HostSetupError`` for anything else (checked once, before anything is touched)."""
    if text.startswith("/"):
        return Path(text)
    if not text or text in (".", "..") or "/" in text or not text.isprintable() or " " in text:
        raise HostSetupError(
            f"--netns {text!r}: expected a name (as ip netns add NAME makes it, under "
            f"{NETNS_RUN_DIR}) or an absolute path such as /proc/PID/ns/net"
        )
    return NETNS_RUN_DIR / text


def is_netns_name(text: str) -> bool:
    """Whether ``--netns TEXT`` is a name (not a path)."""
    return not text.startswith("/")


def find_netns(text: str) -> Netns:
    """The network namespace ``--netns TEXT`` names; ``HostSetupError`` says what to do
    when there is none."""
    path = netns_path(text)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        hint = f"make it with ip netns add {text}" if is_netns_name(text) else "is it running?"
        raise HostSetupError(f"no network namespace {path}: {hint}") from None
    except OSError as exc:
        raise HostSetupError(f"cannot open network namespace {path}: {exc.strerror}") from None
    try:
        try:
            kind = fcntl.ioctl(fd, NS_GET_NSTYPE)
        except OSError:
            kind = None  # ENOTTY: a plain file (a stale /run/netns entry), not a namespace
        if kind != CLONE_NEWNET:
            raise HostSetupError(f"{path} is not a network namespace")
        found = os.fstat(fd)
    finally:
        os.close(fd)
    return Netns(str(path), found.st_dev, found.st_ino)


def run_inside(netns: Netns | None, action: Callable[[], T], what: str = "netlink") -> T:
    """``action()`` inside ``netns``; with None, in the caller's namespace: on the calling
    thread, unless an asyncio loop runs there (then on a thread of its own)."""
    if netns is None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return action()
    return run_in_thread(action, netns=netns, what=what)


def run_in_thread(
    action: Callable[[], T],
    *,
    netns: Netns | None = None,
    what: str = "netlink",
    timeout: float = CALL_TIMEOUT,
    discard: Callable[[T], object] | None = None,
) -> T:
    """``action()`` on a short-lived thread of its own, in ``netns`` when given; its result
    or its exception. Waited for ``timeout`` seconds, then ``HostSetupError``; a result that
    comes after that is handed to ``discard`` (a TUN made late is closed again)."""
    done: concurrent.futures.Future[T] = concurrent.futures.Future()
    guard = threading.Lock()
    abandoned = False

    def run() -> None:
        try:
            if netns is not None:
                netns.enter()
            result = action()
        except BaseException as exc:
            done.set_exception(exc)
            return
        with guard:
            late = abandoned
            if not late:
                done.set_result(result)
        if late and discard is not None:
            discard(result)

    threading.Thread(target=run, name="pppbridge-netns", daemon=True).start()
    try:
        return done.result(timeout=timeout)
    except concurrent.futures.TimeoutError:
        with guard:
            if not done.done():
                abandoned = True
                raise HostSetupError(f"{what} did not answer within {timeout:g} s") from None
        return done.result()


_LIBC: ctypes.CDLL | None = None


def _libc() -> ctypes.CDLL:
    global _LIBC
    if _LIBC is None:
        _LIBC = ctypes.CDLL(None, use_errno=True)
    return _LIBC
