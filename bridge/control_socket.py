"""The bridge's control socket: ``<state dir>/<instance>.sock`` (``/run/pppbridge/
pppbridge0.sock``), mode 0660, where ``pppbridge status`` and ``pppbridge at`` ask a
running bridge.

One request a line, one reply a line, each a JSON object::

    {"command": "status"}
    -> {"ok": true, "status": {...}}              (docs/status-json.md)
    {"command": "at", "line": "AT+CSQ", "timeout": 10}
    -> {"ok": true, "at": {"command": "AT+CSQ", "outcome": "ok",
                           "lines": ["+CSQ: 20,99"], "final": "OK"}}
    -> {"ok": false, "reason": "refused", "error": "the bridge has one port..."}

A request may also be plain words, for ``socat - UNIX-CONNECT:PATH``: ``status``, or
``at AT+CSQ``. ``reason`` of a failure is ``usage`` (a bad request), ``refused`` (the
bridge cannot do it now: ``at`` with only one AT port), ``busy`` (too many clients),
``device`` (the AT port could not be used or did not answer) or ``internal`` (a bug).

``at`` runs on the modem's second AT port when the bridge has one (``at_port``, opened
for each command, one command at a time); with one port it is refused with the reason:
PPP holds the line (a later version multiplexes it).

The socket file is ours only if we made it: a socket nobody listens on (a bridge that
was killed) is replaced, anything else at the path is refused; on close the path is
removed only while it is still the socket we bound (``bridge.owned_paths``).

``ControlClient`` is the other end, synchronous and bounded: connect, one request, one
reply line, each within its timeout; each failure a ``ClientError`` with one line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from netstack.errors import UsageError

from .at_command import DEFAULT_TIMEOUT, AtReply, check_command, check_timeout, run_on_device
from .client_exit import ClientError, ClientExit
from .entry import internal_error, os_error_text, say
from .errors import DeviceError
from .owned_paths import PathTaken, Taken, UnixServer, remove_stale_socket
from .serial_port import SerialSettings
from .status import BridgeState, Phase, SchemaError, from_json, to_json

log = logging.getLogger("pppbridge")
SOCKET_DIR = "/run/pppbridge"
"""The bridge's state directory (``netconfig.DEFAULT_STATE_DIR``), where its state file is."""
DEFAULT_INSTANCE = "pppbridge0"
"""The default interface name (``tun.DEFAULT_NAME``): an instance is named after its TUN."""
SOCKET_MODE = 0o660
"""Root and the socket's group (the state directory's, when it is setgid)."""
MAX_REQUEST = 64 * 1024
MAX_REPLY = 4 * 1024 * 1024
MAX_CLIENTS = 16
IDLE_TIMEOUT = 60.0
"""A client that sends nothing for this long is disconnected."""
CONNECT_TIMEOUT = 2.0
STATUS_TIMEOUT = 5.0
AT_MARGIN = 10.0
"""Seconds a client waits on top of an AT command's timeout (the lock, a hang-up)."""
_PPP_PHASES = (Phase.NEGOTIATING, Phase.UP, Phase.LINK_DOWN)
_TAKEN = {
    Taken.LISTENING: "another pppbridge is running with this interface",
    Taken.NOT_A_SOCKET: "exists and is not a socket; remove it or use another state directory",
}


class ControlSocketError(Exception):
    """The control socket cannot be made; the message is one line that says why."""

    def __init__(self, message: str, *, another_bridge: bool = False) -> None:
        super().__init__(message)
        self.another_bridge = another_bridge
        """A bridge with the same interface is running: this one must not start."""


def check_instance(name: str) -> str:
    """``UsageError`` unless ``name`` is an interface name the kernel takes (what
    ``tun.check_ifname`` checks, without importing netlink for a status query)."""
    if not isinstance(name, str) or not name or len(name.encode()) > 15:
        raise UsageError(f"instance {name!r}: an interface name, 1 to 15 bytes")
    if name in (".", "..") or not name.isprintable() or any(c in "/:% " for c in name):
        raise UsageError(f"instance {name!r}: an interface name, without '/', ':', '%' or spaces")
    return name


def socket_path(instance: str, state_dir: str | os.PathLike[str] = SOCKET_DIR) -> str:
    return os.path.join(os.fspath(state_dir), f"{check_instance(instance)}.sock")


def add_instance_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--instance",
        default=DEFAULT_INSTANCE,
        metavar="NAME",
        help=f"the running bridge to ask: its interface ({DEFAULT_INSTANCE})",
    )
    parser.add_argument(
        "--state-dir",
        default=SOCKET_DIR,
        metavar="DIR",
        help=f"where running bridges keep their state and sockets ({SOCKET_DIR})",
    )


# ------------------------------------------------------------------ the server
class ControlServer:
    """Answers ``status`` from ``snapshot()`` and runs ``at`` on ``at_port``."""

    def __init__(
        self,
        path: str,
        snapshot: Callable[[], BridgeState],
        *,
        at_port: SerialSettings | None = None,
        at_port_busy: Callable[[], bool] = lambda: False,
        holder: str = "PPP holds it",
    ) -> None:
        self.path = path
        self._snapshot = snapshot
        self._at_port = at_port
        self._at_port_busy = at_port_busy
        self._holder = holder
        """Who has the first port while the link is up (``--mode at-socket``: the AT
        sockets)."""
        """True while the bridge's own AT sockets use ``at_port`` (one user at a time)."""
        self._at_lock = asyncio.Lock()
        self._server = UnixServer(path, SOCKET_MODE)

    async def start(self) -> None:
        """Make the socket (and its directory); ``ControlSocketError`` if it cannot."""
        try:
            os.makedirs(os.path.dirname(self.path) or ".", mode=0o755, exist_ok=True)
            try:
                await self._server.start(self._client, MAX_REQUEST)
            except PathTaken as exc:
                if exc.kind is not Taken.STALE or not remove_stale_socket(self.path):
                    raise
                # Left by a bridge that was killed: ours to replace.
                await self._server.start(self._client, MAX_REQUEST)
        except PathTaken as exc:
            raise ControlSocketError(
                f"{self.path}: {_TAKEN.get(exc.kind, exc)}",
                another_bridge=exc.kind is Taken.LISTENING,
            ) from None
        except OSError as exc:
            raise ControlSocketError(f"{self.path}: {os_error_text(exc)}") from None

    async def close(self) -> None:
        """Clients are disconnected (an AT command running is cancelled, its port closed);
        the socket is removed while it is still ours."""
        await self._server.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if self._server.clients > MAX_CLIENTS:
                await _send(writer, _failure("busy", f"more than {MAX_CLIENTS} clients at once"))
                return
            while True:
                async with asyncio.timeout(IDLE_TIMEOUT):
                    line = await reader.readline()
                if not line:
                    return
                await _send(writer, await self._answer_safely(line))
        except (ConnectionError, TimeoutError, ValueError, asyncio.LimitOverrunError):
            pass  # gone, idle, or an endless line: the connection ends

    async def _answer_safely(self, line: bytes) -> dict[str, Any]:
        """``answer``; a bug in it is one reply and a log line, not the bridge's end
        (the run's loop ends the bridge on any exception that escapes a callback)."""
        try:
            return await self.answer(line)
        except Exception as exc:
            log.warning("control socket: %s", internal_error(exc))
            return _failure("internal", internal_error(exc))

    async def answer(self, line: bytes | str) -> dict[str, Any]:
        """The reply to one request line."""
        try:
            request = parse_request(line)
        except UsageError as exc:
            return _failure("usage", str(exc))
        command = request.get("command")
        if command == "status":
            return {"ok": True, "status": to_json(self._snapshot())}
        if command == "at":
            return await self._at(request)
        return _failure("usage", f"unknown command {command!r}; the commands are status, at")

    async def _at(self, request: dict[str, Any]) -> dict[str, Any]:
        line, timeout = request.get("line"), request.get("timeout", DEFAULT_TIMEOUT)
        try:
            command = check_command(line if isinstance(line, str) else "")
            check_timeout(timeout)
        except UsageError as exc:
            return _failure("usage", str(exc))
        if self._at_port is None:
            return _failure("refused", self._refusal())
        if self._at_port_busy():
            return _failure(
                "refused",
                f"the AT port {self._at_port.device} carries IPv6 through the modem's AT "
                "sockets now (PPP could not); pppbridge at can use it once the bridge has "
                "stopped, or with --ipv6 ppp",
            )
        async with self._at_lock:
            try:
                reply = await run_on_device(self._at_port, command, timeout)
            except DeviceError as exc:
                return _failure("device", f"the bridge's AT port: {exc}")
            except OSError as exc:  # TimeoutError too: it is one
                why = "no answer" if isinstance(exc, TimeoutError) else os_error_text(exc)
                return _failure("device", f"the bridge's AT port {self._at_port.device}: {why}")
        return {"ok": True, "at": reply.to_json()}

    def _refusal(self) -> str:
        state = self._snapshot()
        device = state.modem.device or "the modem's port"
        if state.phase in _PPP_PHASES:
            holder = self._holder
        elif state.phase is Phase.BRINGING_UP:
            holder = "its own AT dialogue (the bring-up) runs on it"
        else:
            holder = f"the bridge keeps it ({state.phase.value})"
        return (
            f"the bridge has one port to the modem, {device}, and {holder}; give it a "
            f"second AT port (--at-port), or stop it and use pppbridge at --device {device}"
        )


def parse_request(line: bytes | str) -> dict[str, Any]:
    """A request line: a JSON object, or plain words (``status``, ``at AT+CSQ``)."""
    text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
    text = text.strip()
    if text.startswith("{"):
        try:
            request = json.loads(text)
        except ValueError:
            raise UsageError("the request is not valid JSON") from None
        if not isinstance(request, dict):
            raise UsageError("a request is a JSON object")
        return request
    word, _, rest = text.partition(" ")
    if not word:
        raise UsageError("empty request")
    return {"command": word, "line": rest.strip()} if word == "at" else {"command": word}


def _failure(reason: str, error: str) -> dict[str, Any]:
    return {"ok": False, "reason": reason, "error": error}


async def _send(writer: asyncio.StreamWriter, reply: dict[str, Any]) -> None:
    """One reply; a client that does not read it within ``IDLE_TIMEOUT`` loses its place
    (``TimeoutError``: the caller drops it) rather than hold a slot for ever."""
    writer.write(json.dumps(reply).encode() + b"\n")
    async with asyncio.timeout(IDLE_TIMEOUT):
        await writer.drain()


# ------------------------------------------------------------------ the client
_REASON_EXIT = {"usage": ClientExit.USAGE, "refused": ClientExit.REFUSED}


class ControlClient:
    """Requests to one bridge's control socket; each failure a ``ClientError``."""

    def __init__(self, path: str, instance: str) -> None:
        self.path = path
        self.instance = instance

    @classmethod
    def for_instance(
        cls, instance: str, state_dir: str | os.PathLike[str] = SOCKET_DIR
    ) -> ControlClient:
        return cls(socket_path(instance, state_dir), instance)

    def status(self, timeout: float = STATUS_TIMEOUT) -> BridgeState:
        reply = self.request({"command": "status"}, timeout)
        try:
            return from_json(BridgeState, reply.get("status"))
        except SchemaError as exc:
            raise ClientError(ClientExit.FAILED, f"{self._who} answered a status: {exc}") from None

    def at(self, command: str, timeout: float) -> AtReply:
        message = {"command": "at", "line": command, "timeout": timeout}
        reply = self.request(message, timeout + AT_MARGIN)
        try:
            return AtReply.from_json(reply.get("at"))
        except ValueError as exc:
            raise ClientError(ClientExit.FAILED, f"{self._who} answered: {exc}") from None

    def request(self, message: dict[str, Any], timeout: float) -> dict[str, Any]:
        """The reply to ``message``; a failure reply (``"ok": false``) is raised."""
        deadline = time.monotonic() + timeout
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            self._connect(sock, min(CONNECT_TIMEOUT, timeout))
            try:
                sock.settimeout(max(deadline - time.monotonic(), 0.001))
                sock.sendall(json.dumps(message).encode() + b"\n")
                raw = self._read_line(sock, deadline)
            except TimeoutError:
                raise ClientError(
                    ClientExit.NO_BRIDGE, f"{self._who} did not answer within {timeout:g} s"
                ) from None
            except OSError as exc:
                raise ClientError(
                    ClientExit.NO_BRIDGE, f"{self.path}: {os_error_text(exc)}"
                ) from None
        try:
            reply = json.loads(raw)
        except ValueError:
            reply = None
        if not isinstance(reply, dict):
            raise ClientError(ClientExit.FAILED, f"{self._who} answered something not JSON")
        if reply.get("ok") is not True:
            status = _REASON_EXIT.get(str(reply.get("reason")), ClientExit.FAILED)
            raise ClientError(status, f"{self._who}: {reply.get('error', 'refused')}")
        return reply

    @property
    def _who(self) -> str:
        return f"pppbridge {self.instance}"

    def _connect(self, sock: socket.socket, timeout: float) -> None:
        sock.settimeout(timeout)
        try:
            sock.connect(self.path)
        except FileNotFoundError:
            raise ClientError(
                ClientExit.NO_BRIDGE,
                f"no pppbridge is running as {self.instance} ({self.path} does not exist)",
            ) from None
        except ConnectionRefusedError:
            raise ClientError(
                ClientExit.NO_BRIDGE,
                f"no pppbridge is running as {self.instance} (nobody listens on {self.path}; "
                "left by a bridge that was killed?)",
            ) from None
        except PermissionError:
            raise ClientError(
                ClientExit.USAGE,
                f"{self.path}: permission denied; run as root or as a member of its group",
            ) from None
        except TimeoutError:
            raise ClientError(
                ClientExit.NO_BRIDGE, f"{self._who} did not accept within {timeout:g} s"
            ) from None
        except OSError as exc:
            raise ClientError(ClientExit.NO_BRIDGE, f"{self.path}: {os_error_text(exc)}") from None

    def _read_line(self, sock: socket.socket, deadline: float) -> bytes:
        data = bytearray()
        while not data.endswith(b"\n"):
            sock.settimeout(max(deadline - time.monotonic(), 0.001))
            chunk = sock.recv(65536)
            if not chunk:
                raise ClientError(
                    ClientExit.NO_BRIDGE, f"{self._who} closed the connection without answering"
                )
            data += chunk
            if len(data) > MAX_REPLY:
                raise ClientError(
                    ClientExit.FAILED, f"{self._who} answered more than {MAX_REPLY} bytes"
                )
        return bytes(data)


def bridge_holding(
    device: str, state_dir: str | os.PathLike[str] = SOCKET_DIR
) -> ControlClient | None:
    """The running bridge whose modem port or AT port is ``device``, if one is."""
    wanted = os.path.realpath(device)
    with contextlib.suppress(OSError):
        for path in sorted(Path(state_dir).glob("*.sock")):
            client = ControlClient(str(path), path.stem)
            try:
                modem = client.status(timeout=CONNECT_TIMEOUT).modem
            except ClientError:
                continue
            ports = (modem.device, modem.at_port)
            if any(p is not None and os.path.realpath(p) == wanted for p in ports):
                return client
    return None


def say_failure(program: str, exc: Exception) -> int:
    """One line for a ``ClientError``, ``UsageError`` or ``DeviceError``; the status."""
    say(f"{program}: error: {exc}")
    return int(exc.status if isinstance(exc, ClientError) else ClientExit.USAGE)
