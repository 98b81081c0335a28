"""A terminal of ``pppbridge simulate`` driven through the product's AT layer
(``netstack.at.AtChannel``), for the socket tests over a real pty.

    client = AtClient(sim.device, urcs=ALL_URCS)
    client.command('AT+SQNSD=1,1,7,"2001:db8:1::1",0,0,1')
    client.send("AT+SQNSSENDEXT=1,5", b"hello")       # the payload after the prompt
    client.wait_urc("+SQNSRING: 1,")

URCs (whatever the channel classifies as one, between commands or inside a response) are
kept in ``urcs`` until ``wait_urc`` takes them. Every wait selects on the port until a
deadline; nothing sleeps.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping

import serial

from netstack.at import AtChannel, AtEvent, CommandDone, Connected, Outcome, Prompt, Urc
from serial_pty import open_port, read_available

COMMAND = 30.0
"""Seconds a command may take on a loaded machine (a ping of one request takes 1 s)."""
URC = 30.0


class AtClient:
    def __init__(self, port: str | serial.Serial, urcs: Iterable[str]) -> None:
        """``port``: a terminal's path, or a port already open (after a data call)."""
        self.port: serial.Serial = open_port(port) if isinstance(port, str) else port
        self.channel = AtChannel(urcs)
        self.urcs: list[str] = []

    def close(self) -> None:
        self.port.close()

    def command(
        self,
        command: str,
        expect: tuple[str, ...] = ("OK",),
        timeout: float = COMMAND,
        extra_finals: Mapping[str, bool] | None = None,
        payload: bytes | None = None,
    ) -> list[str]:
        """Send ``command`` (and ``payload`` once the prompt came); its information lines
        then its final result ("OK", "+CME ERROR: 3", "SEND OK"...). Fails unless the
        final result's kind is in ``expect`` ("OK", "+CME ERROR", "ERROR", "CONNECT")."""
        now = time.monotonic()
        self.port.write(
            self.channel.send(
                command, now, timeout, expect_prompt=payload is not None, extra_finals=extra_finals
            )
        )
        deadline = now + timeout
        while True:
            for event in self._events(deadline):
                if isinstance(event, Prompt):
                    assert payload is not None
                    self.port.write(self.channel.send_payload(payload, time.monotonic(), timeout))
                elif isinstance(event, Connected):
                    return self._checked(command, expect, "CONNECT", [*event.lines, "CONNECT"])
                elif isinstance(event, CommandDone):
                    if event.outcome is Outcome.TIMEOUT:
                        raise AssertionError(f"{command}: no final result in {timeout} s")
                    code = "OK" if event.error is None else event.error.kind.value
                    final = "OK" if event.error is None else str(event.error)
                    return self._checked(command, expect, code, [*event.lines, final])

    def send(
        self, command: str, payload: bytes, final: str = "OK", timeout: float = COMMAND
    ) -> list[str]:
        """A send command with its payload after the prompt; ``final``: the vendor's
        success ("OK", Quectel's "SEND OK")."""
        extra = None if final == "OK" else {final: True, "SEND FAIL": False}
        return self.command(command, timeout=timeout, extra_finals=extra, payload=payload)

    def wait_urc(self, prefix: str, timeout: float = URC) -> str:
        """The first URC line that starts with ``prefix`` (taken from those kept)."""
        deadline = time.monotonic() + timeout
        while True:
            for index, line in enumerate(self.urcs):
                if line.startswith(prefix):
                    del self.urcs[index]
                    return line
            if time.monotonic() >= deadline:
                raise AssertionError(f"no URC {prefix!r} in {timeout} s; kept {self.urcs}")
            self._events(deadline)

    def _events(self, deadline: float) -> list[AtEvent]:
        """One read (bounded by ``deadline``), or the command's timeout once it is due."""
        now = time.monotonic()
        pending = self.channel.next_deadline()
        if pending is not None and now >= pending:
            return self.channel.handle_timer(now)
        wait = min(deadline, pending if pending is not None else deadline) - now
        events = self.channel.receive(read_available(self.port, wait), time.monotonic())
        self.urcs += [event.line for event in events if isinstance(event, Urc)]
        return events

    @staticmethod
    def _checked(command: str, expect: tuple[str, ...], code: str, lines: list[str]) -> list[str]:
        assert code in expect, f"{command}: expected {' or '.join(expect)}, got {lines}"
        return lines
