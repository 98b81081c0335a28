"""A pseudo-terminal as a modem line, for tests: open it raw, talk AT, dial.

Synchronous and bounded: every wait selects on the port's descriptor until a deadline;
nothing sleeps. The default bounds come from ``interop_bounds`` (generous: the other end
may be an emulated VM on a loaded machine; a wait returns as soon as its line comes).
Replies are read by the product's own AT layer, ``netstack.at.AtChannel``: whole lines,
final results classified in ModemManager's order, the echo dropped, what follows
``CONNECT`` kept for PPP.
"""

from __future__ import annotations

import select
import time

import serial

from interop_bounds import AT_REPLY, DIAL, LINE_WRITE, NO_CARRIER
from netstack.at import AtChannel, CommandDone, Connected, Outcome, Urc, parse_final


class AtFailure(AssertionError):
    """The modem ended a command with another result than expected, or not in time."""


def open_port(path: str) -> serial.Serial:
    """Open a tty (e.g. the pppd VM's pty) raw at 115200 baud, non-blocking reads."""
    return serial.Serial(path, 115200, timeout=0, write_timeout=LINE_WRITE)


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
    data (PPP frames) before it is dropped by the channel as not AT text."""
    channel = AtChannel()
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while (remaining := deadline - time.monotonic()) > 0:
        for event in channel.receive(read_available(port, remaining), time.monotonic()):
            if isinstance(event, Urc):
                seen.append(event.line)
                if _final_code(event.line) == expect:
                    return seen
    raise AtFailure(f"wait {expect}: not within {timeout} s; lines {seen}")


def _final_code(line: str) -> str | None:
    """The final result a whole line is, by the channel's classification: "OK",
    "CONNECT", "NO CARRIER", "+CME ERROR"...; None for any other line."""
    final = parse_final(line)
    if final is None:
        return None
    if final.error is not None:
        return final.error.kind.value
    return "CONNECT" if final.connect is not None else "OK"


def _transact(
    port: serial.Serial, command: str, expect: tuple[str, ...], timeout: float
) -> tuple[list[str], bytes]:
    channel = AtChannel()
    now = time.monotonic()
    port.write(channel.send(command, now, timeout))
    deadline = now + timeout
    while True:
        now = time.monotonic()
        events = channel.handle_timer(now) if now >= deadline else []
        if not events:
            events = channel.receive(read_available(port, deadline - now), time.monotonic())
        for event in events:
            if isinstance(event, Connected):
                lines = [*event.lines, f"CONNECT {event.text}".strip()]
                return _checked(command, expect, "CONNECT", lines), event.trailing
            if isinstance(event, CommandDone):
                if event.outcome is Outcome.TIMEOUT:
                    raise AtFailure(f"{command}: no final result within {timeout} s")
                final = "OK" if event.error is None else str(event.error)
                code = "OK" if event.error is None else event.error.kind.value
                return _checked(command, expect, code, [*event.lines, final]), b""


def _checked(command: str, expect: tuple[str, ...], code: str, lines: list[str]) -> list[str]:
    if code not in expect:
        raise AtFailure(f"{command}: expected {' or '.join(expect)}, got {code}; lines {lines}")
    return lines
