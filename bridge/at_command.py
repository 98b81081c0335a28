"""``pppbridge at "AT+CSQ"``: one AT command, the modem's reply, the exit status from
its final result.

    pppbridge at --device /dev/ttyUSB2 "AT+CSQ"     # the modem directly
    pppbridge at [--instance pppbridge0] "AT+CSQ"   # through a running bridge

Directly, the port is opened (locked, as the bridge does), what waits on it is
discarded, the command goes out and its reply is read by the product's AT layer
(``netstack.at``): the information lines, then the final result. A ``CONNECT`` (a dial)
is hung up at once (DTR, ``+++``, ``ATH``). When the device is busy because a running
bridge holds it, and through ``--instance``, the command goes over the bridge's control
socket (``bridge.control_socket``): the bridge runs it on its second AT port
(``--at-port``) or, with only one port, refuses while PPP holds the line.

Exit statuses (``bridge.client_exit``): 0 OK or CONNECT, 1 an error result (ERROR,
+CME ERROR, +CMS ERROR, NO CARRIER, BUSY, NO ANSWER, NO DIALTONE), 2 usage (a bad
switch, a command that is not AT, a device missing, busy or not a terminal), 3 no final
result within ``--timeout``, 4 refused by the running bridge, 5 no bridge running.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import dataclass
from enum import Enum
from typing import Any

from netstack.at import STANDARD_URCS, AtChannel, CommandDone, Connected, Outcome, Urc
from netstack.errors import UsageError

from .at_pump import pump
from .client_exit import ClientError, ClientExit
from .entry import LineWriter
from .errors import DeviceError
from .modem import Transcript, WriteModem
from .modem.masking import masked
from .modem.profiles import ALL_URCS
from .modem_session import hang_up
from .serial_port import BAUD_RATES, DEFAULT_BAUD, SerialPort, SerialSettings

DEFAULT_TIMEOUT = 10.0
MAX_TIMEOUT = 600.0
"""27.007 allows minutes for some commands (``AT+COPS=?`` scans every band)."""
GUARD = 5.0
"""Seconds on top of a command's timeout for the pump's last guard."""


class AtOutcome(Enum):
    OK = "ok"
    ERROR = "error"
    TIMEOUT = "timeout"
    CONNECT = "connect"
    """The modem went online (a dial); it was hung up again."""


_EXIT = {
    AtOutcome.OK: ClientExit.OK,
    AtOutcome.CONNECT: ClientExit.OK,
    AtOutcome.ERROR: ClientExit.FAILED,
    AtOutcome.TIMEOUT: ClientExit.NO_ANSWER,
}


@dataclass(frozen=True, slots=True)
class AtReply:
    """One command's reply: its information lines and its final result."""

    command: str
    outcome: AtOutcome
    lines: tuple[str, ...]
    """The information lines, in order, without framing (URCs are not among them)."""
    final: str | None
    """The final result as classified (``OK``, ``+CME ERROR: 10 SIM not inserted``,
    ``CONNECT 150000000``); None after a timeout."""

    @property
    def exit_status(self) -> ClientExit:
        return _EXIT[self.outcome]

    def to_json(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "outcome": self.outcome.value,
            "lines": list(self.lines),
            "final": self.final,
        }

    @classmethod
    def from_json(cls, data: object) -> AtReply:
        """``ValueError`` if ``data`` is not what ``to_json`` makes."""
        if not isinstance(data, dict):
            raise ValueError("an AT reply is a JSON object")
        lines, final = data.get("lines"), data.get("final")
        if not isinstance(lines, list) or not all(isinstance(x, str) for x in lines):
            raise ValueError("an AT reply's lines are strings")
        if final is not None and not isinstance(final, str):
            raise ValueError("an AT reply's final result is a string or null")
        return cls(str(data.get("command")), AtOutcome(data.get("outcome")), tuple(lines), final)


# ------------------------------------------------------------------ the machine
class OneCommand:
    """One command over an ``AtChannel``, pure: the ``bridge.at_pump`` contract, ending
    with one ``AtReply``."""

    def __init__(self, command: str, timeout: float) -> None:
        self.command = check_command(command)
        self._timeout = check_timeout(timeout)
        self._channel = AtChannel(STANDARD_URCS + ALL_URCS)
        self._done = False

    def start(self, now: float) -> list[object]:
        data = self._channel.send(self.command, now, self._timeout)
        shown = masked(self.command)  # a PIN or password typed here is never logged
        return [WriteModem(data, shown), Transcript(f"> {shown}")]

    def receive(self, data: bytes, now: float) -> list[object]:
        if self._done:
            return []
        return [self._output(event) for event in self._channel.receive(data, now)]

    def next_deadline(self) -> float | None:
        return None if self._done else self._channel.next_deadline()

    def handle_timer(self, now: float) -> list[object]:
        if self._done:
            return []
        return [self._output(event) for event in self._channel.handle_timer(now)]

    def _output(self, event: object) -> object:
        if isinstance(event, Urc):
            return Transcript(f"< {event.line} (unsolicited)")
        self._done = True
        if isinstance(event, Connected):
            final = f"CONNECT {event.text}".rstrip()
            return AtReply(self.command, AtOutcome.CONNECT, event.lines, final)
        assert isinstance(event, CommandDone)
        if event.outcome is Outcome.TIMEOUT:
            return AtReply(self.command, AtOutcome.TIMEOUT, event.lines, None)
        if event.error is not None:
            return AtReply(self.command, AtOutcome.ERROR, event.lines, str(event.error))
        return AtReply(self.command, AtOutcome.OK, event.lines, "OK")


def check_command(command: str) -> str:
    """The command line as sent; ``UsageError`` unless it is one line of AT."""
    text = command.strip() if isinstance(command, str) else ""
    if not text.upper().startswith("AT"):
        raise UsageError(f"{command!r} is not an AT command (it starts with AT: AT+CSQ, ATI)")
    if not text.isascii() or not text.isprintable():
        raise UsageError(f"{command!r}: an AT command is printable ASCII on one line")
    return text


def check_timeout(timeout: float) -> float:
    if not isinstance(timeout, int | float) or not 0 < timeout <= MAX_TIMEOUT:
        raise UsageError(f"the timeout must be more than 0 and at most {MAX_TIMEOUT:g} seconds")
    return float(timeout)


# ------------------------------------------------------------------- the shell
async def run_on_port(port: SerialPort, command: str, timeout: float) -> AtReply:
    """``command`` on an open port; a CONNECT is hung up before returning."""
    machine = OneCommand(command, timeout)
    port.discard_input()  # an old reply or URC must not pass for this command's
    reply = await pump(port.fileno(), machine, _is_reply, timeout + GUARD)
    assert isinstance(reply, AtReply)
    if reply.outcome is AtOutcome.CONNECT:
        await hang_up(port)
    return reply


async def run_on_device(settings: SerialSettings, command: str, timeout: float) -> AtReply:
    """``command`` on the device, opened for it and closed after (``DeviceError`` if it
    cannot be opened; ``UsageError`` for a command that is not AT)."""
    check_command(command)
    port = SerialPort.open(settings)
    try:
        return await run_on_port(port, command, timeout)
    finally:
        port.close()


def _is_reply(output: object) -> bool:
    return isinstance(output, AtReply)


# --------------------------------------------------------------- the command
DESCRIPTION = "send one AT command to the modem and print its reply"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from .control_socket import add_instance_arguments

    # Not "command": that is bridge.cli's subcommand (args.command).
    parser.add_argument("line", metavar="COMMAND", help='the AT command, e.g. "AT+CSQ"')
    parser.add_argument(
        "--device",
        metavar="PATH",
        help="the modem's AT port; without it, through the running bridge (--instance)",
    )
    add_baud_argument(parser)
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"how long to wait for the final result ({DEFAULT_TIMEOUT:g}, at most "
        f"{MAX_TIMEOUT:g})",
    )
    parser.add_argument("--json", action="store_true", help="the reply as one JSON object")
    add_instance_arguments(parser)


def add_baud_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--baud",
        type=int,
        choices=BAUD_RATES,
        default=DEFAULT_BAUD,
        metavar="RATE",
        help=f"line rate of a UART ({DEFAULT_BAUD})",
    )


def main_at(args: argparse.Namespace) -> int:
    """``pppbridge at``: its exit status; every ending but success is one line on
    standard error (``ClientError``, ``UsageError``, ``DeviceError`` are said here)."""
    from .control_socket import say_failure

    try:
        check_command(args.line)
        check_timeout(args.timeout)
        reply = _reply(args)
    except (ClientError, UsageError, DeviceError) as exc:
        return say_failure("pppbridge at", exc)
    out = LineWriter(sys.stdout, "standard output")
    if args.json:
        out.line(json.dumps(reply.to_json()))
    else:
        for line in reply.lines:
            out.line(line)
        out.line(reply.final or f"no final result within {args.timeout:g} s")
    return int(reply.exit_status)


def _reply(args: argparse.Namespace) -> AtReply:
    from .control_socket import ControlClient, bridge_holding

    if args.device is None:
        return ControlClient.for_instance(args.instance, args.state_dir).at(args.line, args.timeout)
    settings = SerialSettings(args.device, baud=args.baud)
    try:
        return asyncio.run(run_on_device(settings, args.line, args.timeout))
    except TimeoutError:
        raise ClientError(
            ClientExit.NO_ANSWER, f"{args.device}: no answer within {args.timeout:g} s"
        ) from None
    except DeviceError:
        holder = bridge_holding(args.device, args.state_dir)
        if holder is None:
            raise
        return holder.at(args.line, args.timeout)
