"""Two small pieces every pump of the bridge needs on the event loop.

- ``OneTimer``: the pump's one timer, re-armed only when the machine's next deadline
  changed (most wake-ups leave it as it was).
- ``PausableReader``: a descriptor's reader that can be paused and resumed, as a plane
  stops reading the TUN while the serial line's backlog is high.

Users: the PPP data plane (``bridge.data_plane``) and the AT-socket plane
(``bridge.atsocket_plane``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class OneTimer:
    def __init__(self, loop: asyncio.AbstractEventLoop, fire: Callable[[], None]) -> None:
        self._loop = loop
        self._fire = fire
        self._timer: asyncio.TimerHandle | None = None
        self._deadline: float | None = None

    def arm(self, deadline: float | None) -> None:
        """Fire at ``deadline`` (loop time); None: not at all."""
        if deadline == self._deadline:
            return
        self.cancel()
        self._deadline = deadline
        if deadline is not None:
            self._timer = self._loop.call_at(deadline, self._fired)

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._deadline = None

    def _fired(self) -> None:
        self._timer = None
        self._deadline = None
        self._fire()


class PausableReader:
    def __init__(self, loop: asyncio.AbstractEventLoop, fd: int, read: Callable[[], None]) -> None:
        self._loop = loop
        self._fd = fd
        self._read = read
        self._reading = False
        self._paused = False

    def start(self) -> None:
        self._paused = False
        self._add()

    def pressure(self, paused: bool) -> None:
        """Pause (True) or resume (False) while started (``SerialWriter``'s callback)."""
        if paused and self._reading:
            self._remove()
            self._paused = True
        elif not paused and self._paused:
            self._paused = False
            self._add()

    def stop(self) -> None:
        self._paused = False
        self._remove()

    def _add(self) -> None:
        if not self._reading:
            self._loop.add_reader(self._fd, self._read)
            self._reading = True

    def _remove(self) -> None:
        if self._reading:
            self._loop.remove_reader(self._fd)
            self._reading = False
