"""The sd_notify client (bridge/notify.py) against a real AF_UNIX datagram socket that the
test binds, as systemd binds its notification socket: what arrives, byte for byte, with
the sender's credentials (systemd's ``NotifyAccess=main`` looks at the pid); a path and an
abstract name; the watchdog's cadence in real time, bounded, and its silence while the
event loop is stuck.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import select
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.notify import Notifier, socket_address, status_line, watchdog_interval

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 10.0
_UCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid
_names = itertools.count(1)


class NotifySocket:
    """The service manager's end: a bound datagram socket that passes credentials."""

    def __init__(self, address: str | bytes) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.bind(address)

    def receive(self, timeout: float = TIMEOUT) -> tuple[str, int]:
        """The next message and its sender's pid, waiting ``timeout`` at most."""
        if not select.select([self.sock], [], [], timeout)[0]:
            raise TimeoutError(f"no notification within {timeout} s")
        data, ancillary, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(_UCRED.size))
        pids = [
            _UCRED.unpack(cdata[: _UCRED.size])[0]
            for level, kind, cdata in ancillary
            if (level, kind) == (socket.SOL_SOCKET, socket.SCM_CREDENTIALS)
        ]
        return data.decode(), pids[0]

    def quiet_for(self, seconds: float) -> bool:
        """True when nothing new arrives within ``seconds`` (what was queued before this
        call is discarded first)."""
        self.sock.setblocking(False)
        try:
            while True:
                self.sock.recv(4096)
        except BlockingIOError:
            pass
        return not select.select([self.sock], [], [], seconds)[0]


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[tuple[NotifySocket, str]]:
    """A notification socket at a path, and the $NOTIFY_SOCKET naming it."""
    path = tmp_path / "notify"
    receiver = NotifySocket(str(path))
    try:
        yield receiver, str(path)
    finally:
        receiver.sock.close()


def test_messages_arrive_as_sent(manager: tuple[NotifySocket, str]) -> None:
    receiver, address = manager
    environ = {"NOTIFY_SOCKET": address, "PATH": "/usr/bin"}
    notifier = Notifier.from_environment(environ)
    assert environ == {"PATH": "/usr/bin"}  # children (the up script) do not inherit it
    assert notifier.enabled and notifier.watchdog_interval is None
    assert notifier.status("registered: home network, LTE\nafter 2.0 s")
    assert notifier.ready("ready: pppbridge0 up")
    assert notifier.watchdog()
    assert notifier.stopping("SIGTERM: hanging up")
    received = [receiver.receive() for _ in range(4)]
    assert [text for text, _ in received] == [
        "STATUS=registered: home network, LTE after 2.0 s",
        "READY=1\nSTATUS=ready: pppbridge0 up",
        "WATCHDOG=1",
        "STOPPING=1\nSTATUS=SIGTERM: hanging up",
    ]
    assert {pid for _, pid in received} == {os.getpid()}  # what NotifyAccess=main checks


def test_abstract_socket_name() -> None:
    name = f"pppbridge-test-notify-{os.getpid()}-{next(_names)}"
    receiver = NotifySocket(b"\0" + name.encode())
    try:
        notifier = Notifier.from_environment({"NOTIFY_SOCKET": f"@{name}"})
        assert notifier.address == b"\0" + name.encode()
        assert notifier.ready()
        assert receiver.receive() == ("READY=1", os.getpid())
    finally:
        receiver.sock.close()


def test_a_child_process_notifies_as_a_service_would(manager: tuple[NotifySocket, str]) -> None:
    """The variable as systemd passes it, to a fresh interpreter: its pid is the sender."""
    receiver, address = manager
    code = "from bridge.notify import Notifier; Notifier.from_environment().ready('up')"
    env = {**os.environ, "NOTIFY_SOCKET": address}
    with subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env) as child:
        try:
            assert child.wait(TIMEOUT) == 0
        finally:
            if child.poll() is None:
                child.kill()
                child.wait(TIMEOUT)
    assert receiver.receive() == ("READY=1\nSTATUS=up", child.pid)


def test_without_notify_socket_nothing_is_sent() -> None:
    notifier = Notifier.from_environment({"WATCHDOG_USEC": "30000000"})
    assert not notifier.enabled and notifier.watchdog_interval is None
    assert not notifier.ready() and not notifier.status("x") and not notifier.watchdog()

    async def scenario() -> None:
        notifier.start_watchdog(asyncio.get_running_loop())
        assert notifier._timer is None

    asyncio.run(scenario())


def test_a_manager_that_went_away_is_logged_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    notifier = Notifier.from_environment({"NOTIFY_SOCKET": str(tmp_path / "gone")})
    with caplog.at_level(logging.WARNING, logger="bridge.notify"):
        assert not notifier.ready()
    assert any("cannot notify the service manager (READY=1)" in m for m in caplog.messages)


def test_watchdog_at_half_the_interval_and_silent_while_the_loop_is_stuck(
    manager: tuple[NotifySocket, str],
) -> None:
    receiver, address = manager
    receiver.sock.setblocking(False)
    environ = {
        "NOTIFY_SOCKET": address,
        "WATCHDOG_USEC": "200000",
        "WATCHDOG_PID": str(os.getpid()),
    }
    notifier = Notifier.from_environment(environ)
    interval = 0.1  # half of 200 ms
    assert notifier.watchdog_interval == pytest.approx(interval)

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        notifier.start_watchdog(loop)
        arrivals = []
        async with asyncio.timeout(TIMEOUT):
            for _ in range(5):
                assert await loop.sock_recv(receiver.sock, 4096) == b"WATCHDOG=1"
                arrivals.append(time.monotonic())
        # Five beats are four intervals apart (the first is sent at once); one interval of
        # slack for a first arrival that was late (a loaded machine).
        assert arrivals[-1] - arrivals[0] >= 3 * interval
        # The loop stuck in a callback (here: this coroutine, not awaiting): nothing comes.
        assert receiver.quiet_for(3 * interval)
        async with asyncio.timeout(TIMEOUT):  # the loop turns again: so does the watchdog
            assert await loop.sock_recv(receiver.sock, 4096) == b"WATCHDOG=1"
        notifier.close()
        assert receiver.quiet_for(3 * interval)

    asyncio.run(scenario())


def test_watchdog_interval_from_the_environment() -> None:
    assert watchdog_interval("30000000") == 15.0
    assert watchdog_interval("30000000", pid="1", own_pid=2) is None  # another process's
    assert watchdog_interval("30000000", pid="2", own_pid=2) == 15.0
    assert watchdog_interval("") is None and watchdog_interval("0") is None
    assert watchdog_interval("soon") is None


def test_socket_addresses_and_status_lines(caplog: pytest.LogCaptureFixture) -> None:
    assert socket_address("/run/systemd/notify") == "/run/systemd/notify"
    assert socket_address("@abstract") == b"\0abstract"
    assert socket_address("") is None and socket_address("@") is None
    with caplog.at_level(logging.WARNING, logger="bridge.notify"):
        assert socket_address("vsock:2:1234") is None
    assert "not an AF_UNIX address" in caplog.text
    assert status_line("a\r\nb\nc") == "STATUS=a  b c"
