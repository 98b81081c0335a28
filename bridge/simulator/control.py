"""The control socket: faults switched on while a session runs, and waits for tests.

A Unix stream socket; one command per line, one JSON object per reply line
(``{"ok": true, ...}`` or ``{"ok": false, "error": "..."}``). Try it with
``socat - UNIX-CONNECT:PATH``. Commands:

    status                                  what the modem and the call are doing
    drop | terminate | renegotiate          act on the current call
    silent on|off                           stop/restart sending and answering anything
    registration home|roaming|denied|searching [DELAY]
    pdp-refuse on|off                       refuse +CGACT and dialling
    dial-result connect|no-carrier|busy|no-dialtone|no-answer
    reject-ipv6cp on|off                    for the next call
    corrupt RATE                            fraction of frames sent with a bad FCS
    baud RATE|unlimited                     throttle the line
    latency SECONDS                         added to packets in each direction
    ping ADDRESS [COUNT [TIMEOUT]]          echo requests from the network to the client
    wait CONDITION [TIMEOUT]                online|ipv4|ipv6|command|registered|no-call
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import math
import os
import socket
import stat
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from netstack.errors import UsageError

from .settings import BAUD_RATES, DialResult, Registration

if TYPE_CHECKING:
    from .shell import Simulator

_MAX_LINE = 4096
_MAX_WAIT = 600.0
_SWITCH = {"on": True, "off": False}


class ControlError(Exception):
    """A command the control socket cannot do; the message goes back to the client."""


class ControlServer:
    def __init__(self, simulator: Simulator, path: str) -> None:
        self._simulator = simulator
        self.path = path
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
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
        """Raises UsageError if the path holds anything but a dead socket."""
        self._clear_stale_socket()
        self._server = await asyncio.start_unix_server(self._client, self.path, limit=_MAX_LINE)

    def _clear_stale_socket(self) -> None:
        try:
            mode = os.lstat(self.path).st_mode
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(mode):
            raise UsageError(f"--control {self.path}: exists and is not a socket; choose another")
        with socket.socket(socket.AF_UNIX) as probe:
            try:
                probe.connect(self.path)
            except OSError:
                os.unlink(self.path)  # left by a simulator that is gone
                return
        raise UsageError(f"--control {self.path}: another simulator is listening there")

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()  # a client waiting in "wait" or "ping"
        for writer in list(self._writers):
            writer.close()  # ends the client's readline: its handler returns
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)  # type: ignore[arg-type]
        try:
            while line := await reader.readline():
                reply = await self.execute(line.decode("utf-8", "replace").strip())
                writer.write(json.dumps(reply).encode() + b"\n")
                await writer.drain()
        except (ConnectionError, ValueError, asyncio.LimitOverrunError, asyncio.CancelledError):
            pass  # the client went away, sent an endless line, or we are closing
        finally:
            if task is not None:
                self._tasks.discard(task)  # type: ignore[arg-type]
            self._writers.discard(writer)
            writer.close()

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
        try:
            result = await command(words[1:])
        except ControlError as exc:
            return {"ok": False, "error": str(exc)}
        except (ValueError, OverflowError) as exc:  # never let a command kill the socket
            return {"ok": False, "error": f"{words[0]}: {exc}"}
        self._simulator.note("fault", f"control: {line}")
        return {"ok": True, **result}

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
        delay = _number(args[1], "DELAY") if len(args) > 1 else 0.0
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
        rate = _number(args[0] if args else "", "RATE")
        if not 0 <= rate <= 1:
            raise ControlError("corrupt RATE: a fraction between 0 and 1")
        self._simulator.modem.faults.corrupt_rate = rate
        if self._simulator.modem.session is not None:
            self._simulator.modem.session.corrupt_rate = rate
        return {}

    async def _baud(self, args: list[str]) -> dict[str, Any]:
        if args == ["unlimited"]:
            self._simulator.set_baud(None)
            return {}
        rate = int(_number(args[0] if args else "", "RATE"))
        if rate not in BAUD_RATES:
            raise ControlError(f"baud: one of {', '.join(map(str, BAUD_RATES))} or unlimited")
        self._simulator.set_baud(rate)
        return {}

    async def _latency(self, args: list[str]) -> dict[str, Any]:
        latency = _number(args[0] if args else "", "SECONDS")
        if latency < 0:
            raise ControlError("latency cannot be negative")
        self._simulator.latency = latency
        return {}

    async def _ping(self, args: list[str]) -> dict[str, Any]:
        if not args:
            raise ControlError("ping ADDRESS [COUNT [TIMEOUT]]")
        try:
            address = ipaddress.ip_address(args[0])
        except ValueError:
            raise ControlError(f"ping: {args[0]!r} is not an IP address") from None
        count = int(_number(args[1], "COUNT")) if len(args) > 1 else 1
        timeout = _number(args[2], "TIMEOUT") if len(args) > 2 else 5.0
        if not 1 <= count <= 100 or not 0 < timeout <= _MAX_WAIT:
            raise ControlError("ping: COUNT 1..100, TIMEOUT up to 600 s")
        return await self._simulator.ping(address, count, timeout)

    async def _wait(self, args: list[str]) -> dict[str, Any]:
        if not args:
            raise ControlError("wait CONDITION [TIMEOUT]")
        timeout = _number(args[1], "TIMEOUT") if len(args) > 1 else 10.0
        if not 0 < timeout <= _MAX_WAIT:
            raise ControlError("wait: TIMEOUT up to 600 s")
        reached = await self._simulator.wait(args[0], timeout)
        if not reached:
            raise ControlError(f"wait {args[0]}: not reached within {timeout:g} s")
        return self._simulator.status()


def _switch(args: list[str]) -> bool:
    if len(args) != 1 or args[0] not in _SWITCH:
        raise ControlError("expected on or off")
    return _SWITCH[args[0]]


def _number(text: str, name: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ControlError(f"{name} must be a number, not {text!r}")
    return value
