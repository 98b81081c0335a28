"""``pppbridge simulate`` as a real process, for tests: start, control socket, stop.

    with SimProcess(tmp_path, "--profile", "telit") as sim:
        port = open_port(sim.device)
        sim.control("drop")

The simulator prints its device path on standard output, on a line of its own
(``device: /dev/pts/N``); notices go to standard error (returned by ``stop``); the
transcript goes to a file (``sim.transcript()``). Every wait is bounded; ``stop`` always
ends the process (SIGTERM, then SIGKILL) so a failing test leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pyroute2 import netns

START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0


class SimProcess:
    def __init__(self, workdir: Path, *args: str) -> None:
        self.workdir = workdir
        self.args = list(args)
        self.control_path = str(workdir / "sim.ctl")
        self.transcript_path = workdir / "transcript.txt"
        self.process: subprocess.Popen[bytes] | None = None
        self.device = ""
        self.header: list[str] = []
        """The lines the simulator printed before its device path."""

    def __enter__(self) -> SimProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> str:
        command = [
            sys.executable,
            "-m",
            "bridge",
            "simulate",
            "--control",
            self.control_path,
            "--transcript",
            str(self.transcript_path),
            *self.args,
        ]
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=Path(__file__).resolve().parent.parent,
        )
        assert self.process.stdout is not None
        stdout = self.process.stdout.fileno()  # raw reads: a text buffer would hide lines
        deadline = time.monotonic() + START_TIMEOUT
        pending = b""
        while not self.device:
            remaining = deadline - time.monotonic()
            ready, _, _ = select.select([stdout], [], [], max(remaining, 0))
            if not ready:
                self.stop()
                raise AssertionError(f"simulator printed no device within {START_TIMEOUT} s")
            chunk = os.read(stdout, 4096)
            if not chunk:
                _, _, err = self.stop()
                raise AssertionError(f"simulator exited: {err.strip()}")
            pending += chunk
            *lines, rest = pending.split(b"\n")
            pending = rest
            for raw in lines:
                line = raw.decode()
                self.header.append(line)
                match = re.fullmatch(r"device: (/\S+)", line.strip())
                if match:
                    self.device = match.group(1)
        self._wait_control(deadline)
        return self.device

    def _wait_control(self, deadline: float) -> None:
        """The simulator makes its control socket before it prints the device line."""
        assert os.path.exists(self.control_path), "no control socket after start-up"
        self.control("status", timeout=max(deadline - time.monotonic(), 1.0))

    def control(self, command: str, timeout: float = 30.0) -> dict[str, Any]:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(self.control_path)
            sock.sendall(command.encode() + b"\n")
            reply = b""
            while not reply.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                reply += chunk
        return json.loads(reply)

    def transcript(self) -> str:
        return self.transcript_path.read_text() if self.transcript_path.exists() else ""

    def stop(self) -> tuple[int | None, str, str]:
        """End the process; its exit status and what it printed."""
        if self.process is None:
            return None, "", ""
        process, self.process = self.process, None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            out, err = process.communicate(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate(timeout=STOP_TIMEOUT)
        return process.returncode, out.decode(errors="replace"), err.decode(errors="replace")


@contextlib.contextmanager
def leaving_no_namespace(workdir: Path, *args: str) -> Iterator[SimProcess]:
    """A started ``SimProcess``; once it is stopped, no namespace named after its pid
    (``pppsim-<pid>-<n>``) may be left. Only its own: other simulators may run on this
    machine meanwhile."""
    sim = SimProcess(workdir, *args)
    sim.start()
    assert sim.process is not None
    pid = sim.process.pid
    try:
        yield sim
    finally:
        sim.stop()
    left = [name for name in netns.listnetns() if name.startswith(f"pppsim-{pid}-")]
    assert not left, f"the simulator left its network namespace behind: {left}"
