"""The serial line of the simulated modem: a pseudo-terminal, paced like a real UART.

``open_line`` gives the descriptor to serve: a new pty (we keep its other end open, so a
client closing and reopening it never makes our reads fail), a pty made and symlinked at
a path the user chose, or an existing terminal (the pppd VM's pty). ``PacedLine`` writes
without blocking and, when asked, throttles both directions to a baud rate (10 bits per
byte: start, 8 data, stop) and, in ``--messy`` mode, splits AT replies across several
writes at random places, as modems on real UARTs are seen to do.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import random
import stat
import tty
from collections.abc import Callable
from dataclasses import dataclass, field

from netstack.errors import UsageError

from ..entry import Failed, os_error_text

_READ_SIZE = 65536
_PACE_CHUNK = 64
"""Bytes released at a time when throttled, so a long frame trickles out as on a UART."""
MESSY_GAP = (0.002, 0.015)
"""Seconds between the pieces of a split reply in ``--messy`` mode."""
MAX_QUEUED = 1 << 20
"""Bytes waiting for the line at most: beyond, what the modem writes is dropped and
counted, as a UART's buffer overflows, so a client that never reads (or a pty put back
in echo mode, which loops every echo back in) cannot make the simulator grow without
bound."""


@dataclass
class Line:
    fd: int
    device: str
    """The path a client opens."""
    cleanup: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        for undo in reversed(self.cleanup):
            with contextlib.suppress(OSError):
                undo()
        self.cleanup.clear()


def open_line(path: str | None, option: str = "--link") -> Line:
    """The line to serve: see the module docstring. Raises UsageError for a bad path,
    naming the ``option`` that gave it (``--link``, ``--at-port``)."""
    if path is not None and (os.path.exists(path) or os.path.islink(path)):
        return _open_terminal(path, option)
    line = _new_pty()
    device = line.device
    if path is not None:
        try:
            os.symlink(device, path)
        except OSError as exc:
            line.close()
            raise UsageError(
                f"{option} {path}: cannot make the symlink: {os_error_text(exc)}"
            ) from None
        line.cleanup.append(lambda: _remove_our_symlink(path, device))
        line.device = path
    return line


def _new_pty() -> Line:
    try:
        controller, device_fd = os.openpty()
    except OSError as exc:
        raise Failed(f"cannot make a pseudo-terminal: {os_error_text(exc)}") from None
    line = Line(controller, "", [lambda: os.close(controller), lambda: os.close(device_fd)])
    try:
        tty.setraw(controller)
        tty.setraw(device_fd)
        os.set_blocking(controller, False)
        line.device = os.ttyname(device_fd)
    except OSError as exc:
        line.close()
        raise Failed(f"cannot set up a pseudo-terminal: {os_error_text(exc)}") from None
    return line


def _open_terminal(path: str, option: str) -> Line:
    """An existing terminal (a pty or a serial device), made raw."""
    if os.path.islink(path) and not os.path.exists(path):
        raise UsageError(f"{option} {path}: a dangling symlink; remove it or choose another path")
    not_a_terminal = UsageError(
        f"{option} {path}: not a terminal; give a pty or serial device, or a path that "
        "does not exist (a new pty is linked there)"
    )
    try:
        if not stat.S_ISCHR(os.stat(path).st_mode):
            raise not_a_terminal  # not even opened: only character devices can be one
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    except OSError as exc:
        raise UsageError(f"{option} {path}: {os_error_text(exc)}") from None
    if not os.isatty(fd):
        os.close(fd)
        raise not_a_terminal
    try:
        tty.setraw(fd)
    except OSError as exc:
        os.close(fd)
        raise UsageError(f"{option} {path}: {os_error_text(exc)}") from None
    return Line(fd, path, [lambda: os.close(fd)])


def _remove_our_symlink(path: str, device: str) -> None:
    """Remove the --link (or --at-port) symlink only while it is still the one we made: whatever has
    taken its place since is someone else's."""
    try:
        ours = os.path.islink(path) and os.readlink(path) == device
    except OSError:
        return
    if ours:
        os.unlink(path)


class PacedLine:
    """Non-blocking reads and writes on the line, throttled to ``baud`` when set."""

    def __init__(
        self,
        fd: int,
        on_data: Callable[[bytes], None],
        on_error: Callable[[str], None],
        rng: random.Random,
    ) -> None:
        self._fd = fd
        self._on_data = on_data
        self._on_error = on_error
        self._rng = rng
        self._loop = asyncio.get_running_loop()
        self.baud: int | None = None
        self.messy = False
        self._out: collections.deque[tuple[float, bytes]] = collections.deque()
        self._out_busy = self._in_busy = 0.0
        self._writing = False
        self._flush_soon = False
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False
        self.bytes_in = self.bytes_out = 0
        self.overflow = 0
        """Bytes dropped because ``MAX_QUEUED`` were already waiting."""
        self._queued = 0
        os.set_blocking(fd, False)
        self._loop.add_reader(fd, self._readable)

    def close(self) -> None:
        self._closed = True
        self._loop.remove_reader(self._fd)
        self._loop.remove_writer(self._fd)
        if self._timer is not None:
            self._timer.cancel()

    def write(self, data: bytes) -> None:
        if self._queued + len(data) > MAX_QUEUED:
            self.overflow += len(data)
            return
        self._queued += len(data)
        now = self._loop.time()
        pieces = self._split(data) if self.messy and b"\x7e" not in data else [data]
        at = max(now, self._out[-1][0]) if self._out else now
        for index, piece in enumerate(pieces):
            if index:
                at += self._rng.uniform(*MESSY_GAP)
            for chunk in self._paced(piece):
                at, self._out_busy = self._release(at, len(chunk), self._out_busy)
                self._out.append((at, chunk))
        # Written at the end of this turn of the loop: the frames of every packet handled
        # in it leave in one write (one system call, not one per frame).
        if not self._flush_soon and not self._writing:
            self._flush_soon = True
            self._loop.call_soon(self._flush)

    def _split(self, data: bytes) -> list[bytes]:
        """Cut a reply anywhere: inside ``OK``, between CR and LF..."""
        if len(data) < 2:
            return [data]
        cuts = sorted(self._rng.sample(range(1, len(data)), min(3, len(data) - 1)))
        return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]

    def _paced(self, data: bytes) -> list[bytes]:
        if self.baud is None:
            return [data]
        return [data[i : i + _PACE_CHUNK] for i in range(0, len(data), _PACE_CHUNK)]

    def _release(self, at: float, size: int, busy: float) -> tuple[float, float]:
        """When ``size`` bytes have crossed the line: (release time, new busy-until)."""
        if self.baud is None:
            return at, at
        done = max(at, busy) + size * 10 / self.baud
        return done, done

    def _flush(self) -> None:
        self._flush_soon = False
        if self._closed:
            return
        now = self._loop.time()
        ready = []
        while self._out and self._out[0][0] <= now and not (ready and self.messy):
            ready.append(self._out.popleft()[1])  # messy: each piece a write of its own
        if ready:
            data = b"".join(ready)
            try:
                written = os.write(self._fd, data)
            except BlockingIOError:
                written = 0
            except OSError as exc:
                self._out.clear()
                self._queued = 0
                self._on_error(f"write failed: {exc.strerror}")
                return
            self.bytes_out += written
            self._queued -= written
            if written < len(data):
                self._out.appendleft((now, data[written:]))
                if not self._writing:
                    self._writing = True
                    self._loop.add_writer(self._fd, self._writable)
                return
        if self._out:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = self._loop.call_at(self._out[0][0], self._flush)

    def _writable(self) -> None:
        self._writing = False
        self._loop.remove_writer(self._fd)
        self._flush()

    def _readable(self) -> None:
        try:
            data = os.read(self._fd, _READ_SIZE)
        except BlockingIOError:
            return
        except OSError as exc:  # e.g. EIO: the other end of the terminal is gone for good
            self._loop.remove_reader(self._fd)
            self._on_error(f"read failed: {exc.strerror}")
            return
        if not data:
            return
        self.bytes_in += len(data)
        if self.baud is None:
            self._on_data(data)
            return
        at, self._in_busy = self._release(self._loop.time(), len(data), self._in_busy)
        self._loop.call_at(at, self._paced_input, data)

    def _paced_input(self, data: bytes) -> None:
        if not self._closed:
            self._on_data(data)
