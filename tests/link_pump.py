"""A minimal pump between a serial file descriptor and a pure ``netstack.link.Link``, for
tests that need a far end on a real pty (the product's pump is ``bridge.data_plane``).

Input -> outputs -> re-arm the single timer: bytes read from the line go to
``receive_bytes``; ``WriteSerial`` output is written (buffered, non-blocking), every other
output goes to ``on_output``; after each call the one asyncio timer is set to
``next_deadline()``. ``now`` is ``loop.time()`` (monotonic). Nothing here sleeps.
"""

from __future__ import annotations

import asyncio
import errno
import os
from collections.abc import Callable

from netstack.events import Output, WriteSerial
from netstack.link import Link

_READ_SIZE = 65536


class LinkPump:
    def __init__(self, link: Link, fd: int, on_output: Callable[[Output], None]) -> None:
        self.link = link
        self._fd = fd
        self._on_output = on_output
        self._loop = asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = None
        self._pending = bytearray()
        self._closed = False
        os.set_blocking(fd, False)

    def start(self) -> None:
        self._loop.add_reader(self._fd, self._readable)
        self._apply(self.link.open(self._loop.time()))

    def send_packet(self, packet: bytes) -> None:
        self._apply(self.link.send_packet(packet, self._loop.time()))

    def close(self) -> None:
        self._apply(self.link.close(self._loop.time()))

    def stop(self) -> None:
        """Let go of the descriptor (the caller closes it)."""
        self._closed = True
        self._loop.remove_reader(self._fd)
        self._loop.remove_writer(self._fd)
        if self._timer is not None:
            self._timer.cancel()

    def _readable(self) -> None:
        try:
            data = os.read(self._fd, _READ_SIZE)
        except BlockingIOError:
            return
        except OSError as exc:  # EIO: the other end of a pty went away
            self._loop.remove_reader(self._fd)
            self._apply(self.link.lower_down(self._loop.time(), f"serial line: {exc.strerror}"))
            return
        if not data:
            self._loop.remove_reader(self._fd)
            self._apply(self.link.lower_down(self._loop.time(), "serial line closed"))
            return
        self._apply(self.link.receive_bytes(data, self._loop.time()))

    def _on_timer(self) -> None:
        self._timer = None
        self._apply(self.link.handle_timer(self._loop.time()))

    def _apply(self, outputs: list[Output]) -> None:
        for output in outputs:
            if isinstance(output, WriteSerial):
                self._write(output.data)
            else:
                self._on_output(output)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadline = self.link.next_deadline()
        if deadline is not None and not self._closed:
            self._timer = self._loop.call_at(deadline, self._on_timer)

    def _write(self, data: bytes) -> None:
        if self._closed:
            return
        self._pending += data
        self._flush()

    def _flush(self) -> None:
        while self._pending:
            try:
                written = os.write(self._fd, self._pending)
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno != errno.EINTR:
                    self._pending.clear()
                    break
                continue
            del self._pending[:written]
        if self._pending:
            self._loop.add_writer(self._fd, self._flush)
        else:
            self._loop.remove_writer(self._fd)
