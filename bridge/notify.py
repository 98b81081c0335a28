"""sd_notify(3) without libsystemd: tell the service manager how the bridge is doing.

The protocol (sd_notify(3); systemd.service(5), ``Type=notify``): one datagram per message
on an AF_UNIX socket whose address is in ``$NOTIFY_SOCKET`` (a path, or ``@name`` for
Linux's abstract namespace, where the ``@`` stands for a leading NUL), holding
newline-separated ``VARIABLE=VALUE`` assignments:

- ``READY=1``: start-up is over; for the bridge, the link is up and configured;
- ``STATUS=...``: one line that ``systemctl status`` shows, here the phase;
- ``WATCHDOG=1``: still alive (``WatchdogSec=``);
- ``STOPPING=1``: stopping (the first stop signal).

The service manager learns the sender's pid from the socket's credentials (SO_PASSCRED),
and with ``NotifyAccess=main`` (the default) listens to the main process only: the bridge's
re-exec with its secrets in the environment keeps its pid, so it may speak.

The watchdog (sd_watchdog_enabled(3)): with ``WatchdogSec=`` set, systemd passes
``$WATCHDOG_USEC`` (and ``$WATCHDOG_PID``, the process it is meant for); WATCHDOG=1 must
come at least that often, and the manual advises every half of it. ``start_watchdog(loop)``
sends it from a timer of the event loop, which fires only while the loop turns: a loop
stuck in a callback stops sending, and systemd kills and restarts the service.

Without ``$NOTIFY_SOCKET`` (not started by systemd as ``Type=notify``) every call is a
no-op. A message that cannot be sent (the manager is gone, its queue full for
``SEND_TIMEOUT``) is logged and dropped: the bridge never stops for it.

Call order: ``Notifier.from_environment()`` once, as the run starts (it takes the three
variables out of the environment, so that the up and down scripts do not inherit them);
``start_watchdog(loop)``; ``status(text)`` for each phase; ``ready(text)`` when the link
is up (again after each redial: harmless); ``stopping()`` at the first stop signal;
``close()`` at the end (stops the watchdog's timer).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import MutableMapping

log = logging.getLogger(__name__)

NOTIFY_SOCKET = "NOTIFY_SOCKET"
WATCHDOG_USEC = "WATCHDOG_USEC"
WATCHDOG_PID = "WATCHDOG_PID"
SEND_TIMEOUT = 1.0
"""Seconds a message may wait for room in the manager's queue before it is dropped (PID 1
reads its socket at once; this bounds the event loop's stall when it does not)."""


class Notifier:
    """Messages to the service manager; every method is a no-op when ``address`` is None."""

    address: str | bytes | None
    """Where messages go: a path, or bytes starting with NUL for an abstract name."""
    watchdog_interval: float | None
    """Seconds between two WATCHDOG=1 (half of ``$WATCHDOG_USEC``), or None: no watchdog."""

    def __init__(self, address: str | bytes | None, watchdog_interval: float | None = None) -> None:
        self.address = address
        self.watchdog_interval = watchdog_interval if address is not None else None
        self._timer: asyncio.TimerHandle | None = None

    @classmethod
    def from_environment(
        cls, environ: MutableMapping[str, str] | None = None, *, unset: bool = True
    ) -> Notifier:
        """The notifier ``$NOTIFY_SOCKET`` and ``$WATCHDOG_USEC`` ask for (``environ``:
        ``os.environ`` by default); with ``unset``, the variables are removed from
        ``environ`` (sd_notify's ``unset_environment``), so child processes do not see
        them."""
        env = os.environ if environ is None else environ
        raw = env.get(NOTIFY_SOCKET, "")
        usec = env.get(WATCHDOG_USEC, "")
        pid = env.get(WATCHDOG_PID, "")
        if unset:
            for name in (NOTIFY_SOCKET, WATCHDOG_USEC, WATCHDOG_PID):
                env.pop(name, None)
        return cls(socket_address(raw), watchdog_interval(usec, pid))

    @property
    def enabled(self) -> bool:
        """Whether a service manager listens."""
        return self.address is not None

    def send(self, *assignments: str) -> bool:
        """One datagram of ``VARIABLE=VALUE`` lines; False if it was not sent."""
        if self.address is None or not assignments:
            return False
        data = "\n".join(assignments).encode()
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.settimeout(SEND_TIMEOUT)
                sock.sendto(data, self.address)
        except OSError as exc:  # TimeoutError included: the manager did not read in time
            log.warning("cannot notify the service manager (%s): %s", assignments[0], exc)
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        """READY=1, with a STATUS= line when ``status`` is given."""
        return self.send("READY=1", *([status_line(status)] if status is not None else []))

    def status(self, text: str) -> bool:
        """STATUS=``text`` (made one line)."""
        return self.send(status_line(text))

    def watchdog(self) -> bool:
        """WATCHDOG=1: still alive."""
        return self.send("WATCHDOG=1")

    def stopping(self, status: str | None = None) -> bool:
        """STOPPING=1, with a STATUS= line when ``status`` is given."""
        return self.send("STOPPING=1", *([status_line(status)] if status is not None else []))

    def start_watchdog(self, loop: asyncio.AbstractEventLoop) -> None:
        """WATCHDOG=1 now and every ``watchdog_interval`` from ``loop``'s timer, until
        ``close()``; nothing without a watchdog. Only a turning loop sends."""
        if self.watchdog_interval is None or self._timer is not None:
            return
        self._beat(loop, self.watchdog_interval)

    def _beat(self, loop: asyncio.AbstractEventLoop, interval: float) -> None:
        self.watchdog()
        self._timer = loop.call_later(interval, self._beat, loop, interval)

    def close(self) -> None:
        """Stop the watchdog's timer (a later ``start_watchdog`` starts it again)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def socket_address(text: str) -> str | bytes | None:
    """``$NOTIFY_SOCKET`` as an AF_UNIX address: a path as it is, ``@name`` as the abstract
    name (bytes: NUL, then the name); None when unset or of a kind not handled (systemd
    253's ``vsock:`` addresses, for services in virtual machines)."""
    if text.startswith("/"):
        return text
    if text.startswith("@") and len(text) > 1:
        return b"\0" + text[1:].encode()
    if text:
        log.warning("$NOTIFY_SOCKET=%r is not an AF_UNIX address: not notifying", text)
    return None


def watchdog_interval(usec: str, pid: str = "", own_pid: int | None = None) -> float | None:
    """Half of ``$WATCHDOG_USEC`` in seconds (sd_watchdog_enabled(3)), or None: unset,
    not a positive number, or meant for another process (``$WATCHDOG_PID``)."""
    if pid and pid != str(os.getpid() if own_pid is None else own_pid):
        return None
    try:
        value = int(usec)
    except ValueError:
        return None
    return value / 2e6 if value > 0 else None


def status_line(text: str) -> str:
    """STATUS=``text``, its line breaks made spaces (a newline would end the assignment)."""
    return "STATUS=" + " ".join(text.split("\n")).replace("\r", " ")
