"""The control socket: faults switched on while a session runs, and waits for tests.

A Unix stream socket; one command per line, one JSON object per reply line
(``{"ok": true, ...}`` or ``{"ok": false, "error": "..."}``). Try it with
``socat - UNIX-CONNECT:PATH``. The commands are ``COMMANDS_HELP`` (also in
``pppbridge simulate --help``). Commands that change what the modem does are noted in
the transcript as faults; ``status``, ``wait`` and ``ping`` are not.

The socket file is ours only if we made it: an existing path is refused whatever it is
(a file, another simulator's socket, a socket nobody listens on), and on close the path
is removed only while it is still the socket we bound.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from netstack.errors import UsageError

from ..entry import os_error_text
from ..owned_paths import PathTaken, Taken, UnixServer
from .settings import BAUD_RATES, DialResult, Registration, number

if TYPE_CHECKING:
    from .shell import Simulator

_MAX_LINE = 4096
_MAX_WAIT = 600.0
_SWITCH = {"on": True, "off": False}
COMMANDS_HELP = """\
  status                  what the modem and the call are doing
  drop                    drop the carrier of the current call (no LCP Terminate)
  terminate               LCP Terminate-Request on the current call
  renegotiate             renegotiate LCP on the current call
  silent on|off           stop/restart sending and answering anything
  registration home|roaming|denied|searching [DELAY]
                          the network's answer changes, after DELAY seconds
  pdp-refuse on|off       refuse +CGACT and dialling
  dial-result connect|no-carrier|busy|no-dialtone|no-answer
                          what the next ATD gets
  reject-ipv6cp on|off    Protocol-Reject IPV6CP, from the next call on
  corrupt RATE            fraction (0 to 1) of frames sent with a bad FCS
  baud RATE|unlimited     throttle the line
  latency SECONDS         added to packets in each direction
  ping ADDRESS [COUNT [TIMEOUT]]
                          echo requests from the network to the client
  wait CONDITION [TIMEOUT]
                          until online|ipv4|ipv6|command|registered|no-call"""
"""The control commands as ``--help`` shows them."""
_ADVICE = {
    Taken.NOT_A_SOCKET: "; choose another path",
    Taken.STALE: " (left by a simulator that was killed?); remove it yourself or choose "
    "another path",
    Taken.LISTENING: " (another simulator?); choose another path",
}
"""What to do about a path taken, after what is there."""
_QUERIES = {"status", "wait", "ping"}
"""Commands that change nothing the modem does: not noted as faults."""


class ControlError(Exception):
    """A command the control socket cannot do; the message goes back to the client."""


class ControlServer:
    def __init__(self, simulator: Simulator, path: str) -> None:
        self._simulator = simulator
        self.path = path
        self._server = UnixServer(path)
        self._commands: dict[str, Callable[[list[str]], Awaitable[dict[str, Any]]]] = {
            "status": self._status,
            "drop": self._call_fault("drop"),
            "terminate": self._call_fault("terminate"),
            "renegotiate": self._call_fault("renegotiate"),
            "silent": self._silent,
            "registration": self._registration,
            "pdp-refuse": self._pdp_refuse,
            "dial-result": self._dial_result,
            "reject-ipv6cp": self._reject_ipv6cp,
            "corrupt": self._corrupt,
            "baud": self._baud,
            "latency": self._latency,
            "ping": self._ping,
            "wait": self._wait,
        }

    async def start(self) -> None:
        """Make the socket. Raises UsageError if the path exists, whatever it is."""
        try:
            await self._server.start(self._client, _MAX_LINE)
        except PathTaken as exc:
            advice = _ADVICE.get(exc.kind, "")
            raise UsageError(f"--control {self.path}: {exc}{advice}") from None
        except OSError as exc:
            raise UsageError(f"--control {self.path}: {os_error_text(exc)}") from None

    async def close(self) -> None:
        """Clients waiting in "wait" or "ping" are cancelled; the socket removed."""
        await self._server.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                reply = await self.execute(line.decode("utf-8", "replace").strip())
                writer.write(json.dumps(reply).encode() + b"\n")
                await writer.drain()
        except (ConnectionError, ValueError, asyncio.LimitOverrunError):
            pass  # the client went away or sent an endless line

    async def execute(self, line: str) -> dict[str, Any]:
        words = line.split()
        if not words:
            return {"ok": False, "error": "empty command"}
        command = self._commands.get(words[0])
        if command is None:
            return {
                "ok": False,
                "error": f"unknown command {words[0]!r}; commands: {', '.join(self._commands)}",
            }
        fault = words[0] not in _QUERIES
        if fault:  # before its effects, so the transcript reads in order
            self._simulator.note("fault", f"control: {line}")
        try:
            result = await command(words[1:])
        except (ControlError, UsageError) as exc:
            error = str(exc)
        except (ValueError, OverflowError) as exc:  # never let a command kill the socket
            error = f"{words[0]}: {exc}"
        else:
            return {"ok": True, **result}
        if fault:
            self._simulator.note("fault", f"control: refused: {error}")
        return {"ok": False, "error": error}

    # ---------------------------------------------------------------- commands
    async def _status(self, args: list[str]) -> dict[str, Any]:
        return self._simulator.status()

    def _call_fault(self, name: str) -> Callable[[list[str]], Awaitable[dict[str, Any]]]:
        async def act(args: list[str]) -> dict[str, Any]:
            if self._simulator.modem.session is None:
                raise ControlError(f"{name}: there is no data call")
            self._simulator.apply(self._simulator.modem.fault(name, self._simulator.now()))
            return {}

        return act

    async def _silent(self, args: list[str]) -> dict[str, Any]:
        self._simulator.modem.set_silent(_switch(args))
        return {}

    async def _registration(self, args: list[str]) -> dict[str, Any]:
        if not args or args[0].upper() not in Registration.__members__:
            raise ControlError("registration home|roaming|denied|searching [DELAY]")
        delay = number(args[1], "registration DELAY") if len(args) > 1 else 0.0
        simulator = self._simulator
        target = Registration[args[0].upper()]
        simulator.apply(simulator.modem.set_registration(target, delay, simulator.now()))
        return {}

    async def _pdp_refuse(self, args: list[str]) -> dict[str, Any]:
        self._simulator.modem.faults.pdp_refuse = _switch(args)
        return {}

    async def _dial_result(self, args: list[str]) -> dict[str, Any]:
        try:
            self._simulator.modem.faults.dial_result = DialResult(args[0] if args else "")
        except ValueError:
            choices = "|".join(result.value for result in DialResult)
            raise ControlError(f"dial-result {choices}") from None
        return {}

    async def _reject_ipv6cp(self, args: list[str]) -> dict[str, Any]:
        self._simulator.modem.faults.reject_ipv6cp = _switch(args)
        return {}

    async def _corrupt(self, args: list[str]) -> dict[str, Any]:
        rate = number(args[0] if args else "", "corrupt RATE", high=1)
        self._simulator.modem.faults.corrupt_rate = rate
        if self._simulator.modem.session is not None:
            self._simulator.modem.session.corrupt_rate = rate
        return {}

    async def _baud(self, args: list[str]) -> dict[str, Any]:
        if args == ["unlimited"]:
            self._simulator.set_baud(None)
            return {}
        rate = int(number(args[0] if args else "", "baud RATE", whole=True))
        if rate not in BAUD_RATES:
            raise ControlError(f"baud: one of {', '.join(map(str, BAUD_RATES))} or unlimited")
        self._simulator.set_baud(rate)
        return {}

    async def _latency(self, args: list[str]) -> dict[str, Any]:
        self._simulator.latency = number(args[0] if args else "", "latency SECONDS")
        return {}

    async def _ping(self, args: list[str]) -> dict[str, Any]:
        if not args:
            raise ControlError("ping ADDRESS [COUNT [TIMEOUT]]")
        try:
            address = ipaddress.ip_address(args[0])
        except ValueError:
            raise ControlError(f"ping: {args[0]!r} is not an IP address") from None
        count = (
            int(number(args[1], "ping COUNT", low=1, high=100, whole=True)) if len(args) > 1 else 1
        )
        timeout = number(args[2], "ping TIMEOUT", high=_MAX_WAIT) if len(args) > 2 else 5.0
        return await self._simulator.ping(address, count, timeout)

    async def _wait(self, args: list[str]) -> dict[str, Any]:
        if not args:
            raise ControlError("wait CONDITION [TIMEOUT]")
        timeout = number(args[1], "wait TIMEOUT", high=_MAX_WAIT) if len(args) > 1 else 10.0
        reached = await self._simulator.wait(args[0], timeout)
        if not reached:
            raise ControlError(f"wait {args[0]}: not reached within {timeout:g} s")
        return self._simulator.status()


def _switch(args: list[str]) -> bool:
    if len(args) != 1 or args[0] not in _SWITCH:
        raise ControlError("expected on or off")
    return _SWITCH[args[0]]
