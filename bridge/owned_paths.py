"""Paths we create and remove: only ever our own inode.

A Unix socket or a file we made may be replaced while we run (another program, a second
bridge, an administrator), so a path is removed only while it still is what we made:
same device, same inode, same kind (``remove_if_ours``). Sockets are bound without
removing anything first (``bind_unix_socket``): ``bind()`` itself refuses an existing
path, unlike ``asyncio.start_unix_server(path=...)``, which deletes a socket it finds.
The mode of a new socket is set while it is bound (the umask of that moment), before
``listen()``: there is no moment when it is reachable with a wider mode.

``UnixServer`` is an asyncio server on such a socket, whose ``close`` ends its clients
and removes only its own socket.

Users: the simulator's control socket (``bridge.simulator.control``), the bridge's
control socket (``bridge.control_socket``) and the metrics file (``bridge.metrics``).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import socket
import stat
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from .entry import os_error_text


@dataclass(frozen=True, slots=True)
class Identity:
    """What a path led to when we made it: (device, inode) and its file type."""

    device: int
    inode: int
    kind: int
    """``stat.S_IFMT`` of its mode: ``S_IFSOCK``, ``S_IFREG``..."""

    @classmethod
    def of(cls, path: str) -> Identity | None:
        """What ``path`` itself is now (a symlink is not followed); None if nothing."""
        try:
            info = os.lstat(path)
        except OSError:
            return None
        return cls(info.st_dev, info.st_ino, stat.S_IFMT(info.st_mode))


def remove_if_ours(path: str, ours: Identity | None) -> bool:
    """Unlink ``path`` only while it is still ``ours``; whether it was removed."""
    if ours is None or Identity.of(path) != ours:
        return False
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError:  # e.g. a directory we may no longer write after dropping privileges
        return False
    return True


class Taken(Enum):
    """What is at a path where a new socket was to be made."""

    NOT_A_SOCKET = "exists and is not a socket"
    STALE = "a socket nobody listens on"
    """Left by a process that was killed: it may be removed (``remove_stale_socket``)."""
    LISTENING = "something is listening there"
    OTHER = "cannot be looked at"


class PathTaken(Exception):
    """The path for a new socket exists; ``kind`` says what is there."""

    def __init__(self, kind: Taken, detail: str = "") -> None:
        super().__init__(detail or kind.value)
        self.kind = kind


def bind_unix_socket(path: str, mode: int | None = None) -> tuple[socket.socket, Identity]:
    """A new stream socket bound at ``path`` (not listening yet), and its identity.

    ``mode`` (e.g. 0o660) is the socket file's permission bits; None leaves them to the
    umask. ``PathTaken`` if anything is at ``path``; ``OSError`` for other failures (no
    such directory, permission, a path too long)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        # Linux makes a socket file 0777 & ~umask: a umask for the bind is the mode, with
        # no window where the socket is wider than asked (the bridge has no other thread
        # making files at that moment).
        old = None if mode is None else os.umask(0o777 & ~mode)
        try:
            sock.bind(path)
        finally:
            if old is not None:
                os.umask(old)
        ours = Identity.of(path)
        if ours is None:  # removed between bind and lstat: nobody could reach it
            raise FileNotFoundError(errno.ENOENT, "removed as it was made", path)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:  # something is there: say what
            kind, detail = why_taken(path)
            raise PathTaken(kind, detail) from None
        raise
    return sock, ours


def why_taken(path: str) -> tuple[Taken, str]:
    """What is at ``path``, and in words when it is none of the known kinds."""
    try:
        mode = os.lstat(path).st_mode
    except OSError as exc:
        return Taken.OTHER, os_error_text(exc)
    if not stat.S_ISSOCK(mode):
        return Taken.NOT_A_SOCKET, ""
    with socket.socket(socket.AF_UNIX) as probe:
        try:
            probe.connect(path)
        except OSError:
            return Taken.STALE, ""
    return Taken.LISTENING, ""


def remove_stale_socket(path: str) -> bool:
    """Remove the socket at ``path`` if nobody listens on it; whether it was removed.
    The socket probed is the one removed (its inode is checked again just before)."""
    before = Identity.of(path)
    if before is None or before.kind != stat.S_IFSOCK:
        return False
    return why_taken(path)[0] is Taken.STALE and remove_if_ours(path, before)


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class UnixServer:
    """An asyncio stream server on a new socket at ``path`` (``bind_unix_socket``): its
    clients are tracked, and ``close`` ends them and removes the socket while it is ours."""

    def __init__(self, path: str, mode: int | None = None) -> None:
        self.path = path
        self._mode = mode
        self._server: asyncio.Server | None = None
        self._bound: Identity | None = None
        self._clients: dict[asyncio.Task[Any], asyncio.StreamWriter] = {}

    @property
    def clients(self) -> int:
        """Connections being served now."""
        return len(self._clients)

    async def start(self, handler: Handler, limit: int) -> None:
        """Listen; ``PathTaken`` if anything is at the path, ``OSError`` otherwise."""
        sock, self._bound = bind_unix_socket(self.path, self._mode)

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            self._clients[task] = writer
            try:
                await handler(reader, writer)
            except asyncio.CancelledError:
                pass  # closing
            finally:
                self._clients.pop(task, None)
                writer.close()

        try:
            self._server = await asyncio.start_unix_server(serve, sock=sock, limit=limit)
        except BaseException:
            sock.close()
            self._remove_our_socket()
            raise

    async def close(self, timeout: float = 2.0) -> None:
        """No new clients; each served one's handler cancelled (bounded) and its
        connection closed; the socket file removed while it is still ours."""
        if self._server is not None:
            self._server.close()
        for task, writer in list(self._clients.items()):
            task.cancel()
            writer.close()
        if self._clients:
            await asyncio.wait(list(self._clients), timeout=timeout)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), timeout)
            self._server = None
        self._remove_our_socket()

    def _remove_our_socket(self) -> None:
        bound, self._bound = self._bound, None
        remove_if_ours(self.path, bound)
