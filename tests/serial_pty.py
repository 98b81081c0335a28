"""A pseudo-terminal as a modem line, for tests: open it raw, talk AT, dial.

Synchronous and bounded: every wait selects on the port's descriptor until a deadline;
nothing sleeps. The default bounds come from ``interop_bounds`` (generous: the other end
may be an emulated VM on a loaded machine; a wait returns as soon as its line comes).
Replies are split into whole lines (CR or LF ends a line) and a result code is
recognised only as a whole line, never as a substring of one (``xOK`` or the middle of
a PPP frame is not ``OK``). Lines that are not a final result (echo, ``+CSQ:``
information, stale bytes) are collected and returned.
"""

from __future__ import annotations

import re
import select
import time

import serial

from interop_bounds import AT_REPLY, DIAL, LINE_WRITE, NO_CARRIER

FINAL_RESULTS = ("OK", "CONNECT", "ERROR", "NO CARRIER", "BUSY", "NO ANSWER", "NO DIALTONE")
"""V.250 final result codes, plus the +CME/+CMS errors of 3GPP TS 27.007/27.005."""
_LINE_END = re.compile(rb"\r\n?|\n")


class AtFailure(AssertionError):
    """The modem ended a command with another result than expected, or not in time."""


def open_port(path: str) -> serial.Serial:
    """Open a tty (e.g. the pppd VM's pty) raw at 115200 baud, non-blocking reads."""
    return serial.Serial(path, 115200, timeout=0, write_timeout=LINE_WRITE)


def result_code(line: str) -> str | None:
    """The final result code a whole line is ("CONNECT 115200" -> "CONNECT",
    "+CME ERROR: 30" -> "+CME ERROR"), or None for any other line."""
    if line in FINAL_RESULTS:
        return line
    if line.startswith("CONNECT "):
        return "CONNECT"
    for prefix in ("+CME ERROR:", "+CMS ERROR:"):
        if line.startswith(prefix):
            return prefix[:-1]
    return None


def read_available(port: serial.Serial, timeout: float) -> bytes:
    """Whatever arrives within ``timeout`` seconds (b"" if nothing): one select, one read."""
    ready, _, _ = select.select([port.fileno()], [], [], max(timeout, 0.0))
    return port.read(4096) if ready else b""


def read_until(port: serial.Serial, needle: bytes, timeout: float, initial: bytes = b"") -> bytes:
    """Read until ``needle`` occurs in the bytes read (after ``initial``); return them all."""
    data = bytearray(initial)
    deadline = time.monotonic() + timeout
    while needle not in data:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"no {needle!r} within {timeout} s; read {bytes(data[-200:])!r}")
        data += read_available(port, remaining)
    return bytes(data)


class LineReader:
    """Splits a port's bytes into whole lines; keeps the bytes after the last line."""

    def __init__(self, port: serial.Serial) -> None:
        self.port = port
        self.buffer = bytearray()

    def wait_result(self, timeout: float, what: str) -> tuple[list[str], str]:
        """Lines up to and including the first final result line, and its code."""
        lines: list[str] = []
        deadline = time.monotonic() + timeout
        while True:
            # One line at a time: what follows a CONNECT line is PPP, not lines.
            while (line := self._next_line()) is not None:
                lines.append(line)
                code = result_code(line)
                if code is not None:
                    return lines, code
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AtFailure(
                    f"{what}: no final result within {timeout} s; lines {lines}, "
                    f"pending {bytes(self.buffer[-200:])!r}"
                )
            self.buffer += read_available(self.port, remaining)

    def _next_line(self) -> str | None:
        """Take the next non-empty terminated line out of the buffer, if there is one."""
        while (end := _LINE_END.search(self.buffer)) is not None:
            line = bytes(self.buffer[: end.start()]).decode("latin-1").strip()
            del self.buffer[: end.end()]
            if line:
                return line
        return None


def at_command(
    port: serial.Serial, command: str, expect: tuple[str, ...] = ("OK",), timeout: float = AT_REPLY
) -> list[str]:
    """Send ``command`` + CR and return the reply's lines (the final result last); fail
    unless the final result code is one of ``expect``."""
    lines, _ = _transact(port, command, expect, timeout)
    return lines


def dial(port: serial.Serial, command: str = "ATD*99***1#", timeout: float = DIAL) -> bytes:
    """Dial and wait for a whole ``CONNECT`` line; return the bytes that followed it in
    the same reads: they may already be the peer's first PPP frame. (When the modem's
    CR LF was split across reads they may start with a stray LF, which a PPP deframer
    discards before the first flag.)"""
    _, rest = _transact(port, command, ("CONNECT",), timeout)
    return rest


def wait_result(port: serial.Serial, expect: str, timeout: float = NO_CARRIER) -> list[str]:
    """Wait, without sending anything, for an unsolicited final result line such as
    ``NO CARRIER`` after a hang-up; returns the lines read, the result last. Binary
    data (PPP frames) before it is read and dropped."""
    reader = LineReader(port)
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while True:
        lines, code = reader.wait_result(max(deadline - time.monotonic(), 0), f"wait {expect}")
        seen += lines
        if code == expect:
            return seen


def _transact(
    port: serial.Serial, command: str, expect: tuple[str, ...], timeout: float
) -> tuple[list[str], bytes]:
    port.write(command.encode("ascii") + b"\r")
    reader = LineReader(port)
    lines, code = reader.wait_result(timeout, command)
    if code not in expect:
        raise AtFailure(f"{command}: expected {' or '.join(expect)}, got {code}; lines {lines}")
    return lines, bytes(reader.buffer)
