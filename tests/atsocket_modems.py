"""Scripted modems for the AT-socket bridge's tests: each answers the bridge's socket
commands with the bytes shared/reference/at-commands.md gives for its vendor (Sequans 1,
Telit 2, Quectel 3, u-blox 4), keeps what was sent per socket, and rings when a test
hands it a datagram from the network.

Tidy by default (echo on, CR LF framing); ``messy=True`` picks each vendor's messy
variants: no echo, doubled blank lines, lower-case hex and addresses, Telit's dotted
address with a space inside the quotes, u-blox's ``+UUSORD`` ring.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv6Address

ENDL = b"\r\n"


@dataclass(frozen=True)
class Sent:
    """A datagram the modem sent to the network."""

    socket: int
    remote: IPv6Address
    port: int
    data: bytes
    local_port: int | None = None


@dataclass
class Dialled:
    """A socket the modem opened for the bridge."""

    remote: IPv6Address | None
    port: int | None
    local_port: int


@dataclass(frozen=True)
class Incoming:
    data: bytes
    sender: IPv6Address
    port: int


Handler = Callable[[re.Match[str], float], bytes]


@dataclass
class ScriptedModem:
    """The line discipline common to the vendors: echo, command lines, payloads after a
    prompt counted in octets. Subclasses give the command table."""

    echo: bool = True
    messy: bool = False
    sockets: dict[int, Dialled] = field(default_factory=dict)
    sent: list[Sent] = field(default_factory=list)
    inbox: dict[int, deque[Incoming]] = field(default_factory=dict)
    commands: list[str] = field(default_factory=list)
    failures: dict[str, bytes] = field(default_factory=dict)
    """Command prefix -> what the modem prints instead of its answer."""
    ping_reply: bool = True
    ping_ttl: int = 57
    early_payloads: int = 0
    """Payloads written sooner after the prompt than the modem wants (u-blox 50 ms)."""
    _buffer: bytearray = field(default_factory=bytearray)
    _payload_len: int | None = None
    _payload_for: tuple[int, IPv6Address | None, int | None, int] | None = None
    _prompt_time: float = 0.0

    def table(self) -> list[tuple[str, Handler]]:
        raise NotImplementedError

    prompt: bytes = b"> "
    hex_payload: bool = False
    prompt_delay: float = 0.0

    # ------------------------------------------------------------------ wire
    def write(self, data: bytes, now: float) -> bytes:
        self._buffer += data
        out = b""
        while True:
            if self._payload_len is not None:
                if len(self._buffer) < self._payload_len:
                    return out
                payload = bytes(self._buffer[: self._payload_len])
                del self._buffer[: self._payload_len]
                self._payload_len = None
                if now - self._prompt_time < self.prompt_delay:
                    self.early_payloads += 1
                out += self._payload(payload)
                continue
            end = self._buffer.find(b"\r")
            if end < 0:
                return out
            line = self._buffer[:end].decode("ascii")
            del self._buffer[: end + 1]
            if self.echo:
                out += line.encode("ascii") + b"\r"
            out += self._command(line, now)

    def _command(self, line: str, now: float) -> bytes:
        self.commands.append(line)
        for prefix, reply in self.failures.items():
            if line.startswith(prefix):
                return reply
        for pattern, handler in self.table():
            match = re.fullmatch(pattern, line)
            if match is not None:
                return handler(match, now)
        return self.lines("ERROR")

    def lines(self, *lines: str) -> bytes:
        gap = ENDL + ENDL if self.messy else ENDL
        return b"".join(gap + line.encode("latin-1") + ENDL for line in lines)

    def ok(self, *lines: str) -> bytes:
        return self.lines(*lines, "OK")

    def hex(self, data: bytes) -> str:
        text = data.hex()
        return text if self.messy else text.upper()

    # ---------------------------------------------------------------- payload
    def expect_payload(
        self, socket: int, remote: IPv6Address | None, port: int | None, n: int, now: float
    ) -> bytes:
        self._payload_len = 2 * n if self.hex_payload else n
        self._payload_for = (socket, remote, port, n)
        self._prompt_time = now
        if self.messy and not self.prompt.startswith(ENDL):
            return ENDL + self.prompt  # TinyGSM waits for "<CR><LF>> "; SARA-R410M "\r\n@"
        return self.prompt

    def _payload(self, payload: bytes) -> bytes:
        assert self._payload_for is not None
        socket, remote, port, n = self._payload_for
        data = bytes.fromhex(payload.decode("ascii")) if self.hex_payload else payload
        assert len(data) == n
        return self.record_send(socket, remote, port, data)

    def dial(self, m: re.Match[str], now: float) -> bytes:
        """A connected socket: groups ``id``, ``port``, ``addr``, ``lport``."""
        self.open_socket(int(m["id"]), m["addr"], int(m["port"]), int(m["lport"]))
        return self.ok()

    def prompted(self, m: re.Match[str], now: float) -> bytes:
        """A send on a connected socket, the payload after the prompt: ``id``, ``len``."""
        return self.expect_payload(int(m["id"]), None, None, int(m["len"]), now)

    def record_send(
        self, socket: int, remote: IPv6Address | None, port: int | None, data: bytes
    ) -> bytes:
        dialled = self.sockets.get(socket)
        if dialled is None:
            return self.lines("ERROR")
        remote = remote or dialled.remote
        port = port or dialled.port
        assert remote is not None and port is not None
        self.sent.append(Sent(socket, remote, port, data, dialled.local_port))
        return self.send_done(socket, len(data))

    def send_done(self, socket: int, n: int) -> bytes:
        return self.ok()

    # ---------------------------------------------------------------- network
    def deliver(
        self, socket: int, data: bytes, sender: IPv6Address | None = None, port: int | None = None
    ) -> bytes:
        """A datagram arrives for ``socket``: the ring URC to feed to the bridge."""
        dialled = self.sockets[socket]
        peer = next((s for s in reversed(self.sent) if s.socket == socket), None)
        sender = sender or dialled.remote or (peer.remote if peer else IPv6Address("2001:db8::1"))
        incoming = Incoming(data, sender, port or dialled.port or (peer.port if peer else 1))
        self.inbox.setdefault(socket, deque()).append(incoming)
        return self.ring(socket, len(data))

    def ring(self, socket: int, n: int) -> bytes:
        raise NotImplementedError

    def next_incoming(self, socket: int) -> Incoming | None:
        queue = self.inbox.get(socket)
        return queue.popleft() if queue else None

    def open_socket(self, socket: int, remote: str | None, port: int | None, lport: int) -> None:
        assert socket not in self.sockets, f"socket {socket} opened twice"
        address = None if remote is None else IPv6Address(remote)
        self.sockets[socket] = Dialled(address, port, lport)

    def close_socket(self, socket: int) -> bytes:
        if self.sockets.pop(socket, None) is None:
            return self.lines("ERROR")
        self.inbox.pop(socket, None)
        return self.ok()


@dataclass
class SequansModem(ScriptedModem):
    """Sequans Monarch (at-commands.md 1): "> " without a line end, hex both ways."""

    prompt: bytes = b"> "
    hex_payload: bool = True
    close_inside_read: bool = False
    """GM02S: ``+SQNSH`` printed between the +SQNSRECV header and its data."""

    def table(self) -> list[tuple[str, Handler]]:
        return [
            (r"AT\+SQNSCFG=\d,\d+,300,0,600,50", lambda m, t: self.ok()),
            (r"AT\+SQNSCFGEXT=\d,1,1,0,0,1", lambda m, t: self.ok()),
            (
                r'AT\+SQNSD=(?P<id>\d),1,(?P<port>\d+),"(?P<addr>[^"]+)",0,(?P<lport>\d+),1,0',
                self.dial,
            ),
            (r"AT\+SQNSSENDEXT=(?P<id>\d),(?P<len>\d+)", self.prompted),
            (r"AT\+SQNSRECV=(\d),(\d+)", self._recv),
            (r"AT\+SQNSH=(\d)", lambda m, t: self.close_socket(int(m[1]))),
            (r'AT\+PING="([^"]+)",1,(\d+),1,(\d+)', self._ping),
        ]

    def ring(self, socket: int, n: int) -> bytes:
        return self.lines(f"+SQNSRING: {socket},{n}")

    def _recv(self, m: re.Match[str], now: float) -> bytes:
        socket = int(m[1])
        incoming = self.next_incoming(socket)
        if incoming is None:
            return self.ok(f"+SQNSRECV: {socket},0")
        assert len(incoming.data) <= int(m[2])
        header = f"+SQNSRECV: {socket},{len(incoming.data)}"
        if self.close_inside_read:
            self.sockets.pop(socket, None)
            return self.ok(header, f"+SQNSH: {socket}", self.hex(incoming.data))
        return self.ok(header, self.hex(incoming.data))

    def _ping(self, m: re.Match[str], now: float) -> bytes:
        if not self.ping_reply:
            return self.ok(f'+PING: 1,"{m[1]}",-1,-1')
        return self.ok(f'+PING: 1,"{m[1]}",42,{self.ping_ttl}')


def dotted(address: IPv6Address) -> str:
    """27.007 +CGPIAF format 0: 16 dot-separated decimal bytes (Telit's default)."""
    return ".".join(str(b) for b in address.packed)


@dataclass
class TelitModem(ScriptedModem):
    """Telit IP Easy (at-commands.md 2): "<CR><LF>> ", hex both ways, #SRECV UDP info
    with the sender in dotted decimal."""

    prompt: bytes = b"\r\n> "
    hex_payload: bool = True

    def table(self) -> list[tuple[str, Handler]]:
        return [
            (r"AT#SCFG=\d,\d+,300,0,600,50", lambda m, t: self.ok()),
            (r"AT#SCFGEXT=\d,1,1,0,0,1", lambda m, t: self.ok()),
            (r'AT#SD=(?P<id>\d),1,(?P<port>\d+),"(?P<addr>[^"]+)",0,(?P<lport>\d+),1', self.dial),
            (r"AT#SSENDEXT=(?P<id>\d),(?P<len>\d+)", self.prompted),
            (r"AT#SRECV=(\d),(\d+),1", self._recv),
            (r"AT#SH=(\d)", lambda m, t: self.close_socket(int(m[1]))),
            (r'AT#PING="([^"]+)",1,(\d+),(\d+)', self._ping),
        ]

    def ring(self, socket: int, n: int) -> bytes:
        return self.lines(f"SRING: {socket},{n}")

    def _recv(self, m: re.Match[str], now: float) -> bytes:
        socket = int(m[1])
        incoming = self.next_incoming(socket)
        if incoming is None:
            return self.ok(f"#SRECV: {socket},0")
        sender = f'" {dotted(incoming.sender)}"' if self.messy else dotted(incoming.sender)
        header = f"#SRECV: {sender},{incoming.port},{socket},{len(incoming.data)},0"
        return self.ok(header, self.hex(incoming.data))

    def _ping(self, m: re.Match[str], now: float) -> bytes:
        address = dotted(IPv6Address(m[1]))
        if not self.ping_reply:
            return self.ok(f'#PING: 01,"{address}",600,255')
        return self.ok(f'#PING: 01,"{address}",6,{self.ping_ttl}')


@dataclass
class QuectelModem(ScriptedModem):
    """Quectel BG96 (at-commands.md 3): +QIOPEN after OK, the payload in hex after "> "
    (+QICFG "dataformat",1,1), SEND OK, hex reads, +QPING after OK."""

    prompt: bytes = b"> "
    hex_payload: bool = True
    open_error: int = 0

    def table(self) -> list[tuple[str, Handler]]:
        return [
            (r'AT\+QICFG="dataformat",1,1', lambda m, t: self.ok()),
            (r'AT\+QICFG="viewmode",0', lambda m, t: self.ok()),
            (r'AT\+QIOPEN=1,(\d+),"UDP","([^"]+)",(\d+),(\d+),0', self._open),
            (r"AT\+QISEND=(?P<id>\d+),(?P<len>\d+)", self.prompted),
            (r"AT\+QIRD=(\d+),(\d+)", self._read),
            (r"AT\+QICLOSE=(\d+)", lambda m, t: self.close_socket(int(m[1]))),
            (r'AT\+QPING=1,"([^"]+)",(\d+),1', self._ping),
        ]

    def _open(self, m: re.Match[str], now: float) -> bytes:
        socket = int(m[1])
        if self.open_error:
            return self.ok() + self.lines(f"+QIOPEN: {socket},{self.open_error}")
        self.open_socket(socket, m[2], int(m[3]), int(m[4]))
        return self.ok() + self.lines(f"+QIOPEN: {socket},0")

    def send_done(self, socket: int, n: int) -> bytes:
        return self.lines("SEND OK")

    def ring(self, socket: int, n: int) -> bytes:
        return self.lines(f'+QIURC: "recv",{socket}')

    def _read(self, m: re.Match[str], now: float) -> bytes:
        incoming = self.next_incoming(int(m[1]))
        if incoming is None:
            return self.ok("+QIRD: 0")
        return self.ok(f"+QIRD: {len(incoming.data)}", self.hex(incoming.data))

    def _ping(self, m: re.Match[str], now: float) -> bytes:
        if not self.ping_reply:
            return self.ok() + self.lines("+QPING: 569", "+QPING: 0,1,0,1,0,0,0")
        reply = f'+QPING: 0,"{m[1]}",32,20,{self.ping_ttl}'
        return self.ok() + self.lines(reply, "+QPING: 0,1,1,0,20,20,20")


@dataclass
class UbloxModem(ScriptedModem):
    """u-blox SARA-R4 (at-commands.md 4): ids from +USOCR, "@" then 50 ms then the raw
    payload, +USORF with the sender and hex data, +UUPING after OK."""

    prompt: bytes = b"@"
    prompt_delay: float = 0.05
    first_id: int = 0

    def table(self) -> list[tuple[str, Handler]]:
        return [
            (r"AT\+UDCONF=1,1", lambda m, t: self.ok()),
            (r"AT\+USOCR=17,(\d+)", self._create),
            (r'AT\+USOST=(\d),"([^"]+)",(\d+),(\d+)', self._send),
            (r'AT\+USOST=(\d),"([^"]+)",(\d+),(\d+),"([0-9A-F]*)"', self._send_inline),
            (r"AT\+USORF=(\d),(\d+)", self._read),
            (r"AT\+USOCL=(\d)", lambda m, t: self.close_socket(int(m[1]))),
            (r'AT\+UPING="([^"]+)",1,(\d+),(\d+),64', self._ping),
        ]

    def _create(self, m: re.Match[str], now: float) -> bytes:
        socket = next(i for i in range(self.first_id, 7) if i not in self.sockets)
        self.open_socket(socket, None, None, int(m[1]))
        return self.ok(f"+USOCR: {socket}")

    def _send(self, m: re.Match[str], now: float) -> bytes:
        return self.expect_payload(int(m[1]), IPv6Address(m[2]), int(m[3]), int(m[4]), now)

    def _send_inline(self, m: re.Match[str], now: float) -> bytes:
        data = bytes.fromhex(m[5])
        assert len(data) == int(m[4])
        return self.record_send(int(m[1]), IPv6Address(m[2]), int(m[3]), data)

    def send_done(self, socket: int, n: int) -> bytes:
        return self.ok(f"+USOST: {socket},{n}")

    def ring(self, socket: int, n: int) -> bytes:
        name = "+UUSORD" if self.messy else "+UUSORF"
        return self.lines(f"{name}: {socket},{n}")

    def _read(self, m: re.Match[str], now: float) -> bytes:
        socket = int(m[1])
        incoming = self.next_incoming(socket)
        if incoming is None:
            return self.ok(f"+USORF: {socket},0")
        sender = str(incoming.sender)
        sender = sender if self.messy else IPv6Address(sender).exploded.upper()
        data = self.hex(incoming.data)
        return self.ok(f'+USORF: {socket},"{sender}",{incoming.port},{len(incoming.data)},"{data}"')

    def _ping(self, m: re.Match[str], now: float) -> bytes:
        if not self.ping_reply:
            return self.ok() + self.lines("+UUPINGER: 8")
        reply = f'+UUPING: 1,{m[2]},"{m[1]}","{m[1]}",{self.ping_ttl},120'
        return self.ok() + self.lines(reply)


MODEMS: dict[str, type[ScriptedModem]] = {
    "sequans": SequansModem,
    "telit": TelitModem,
    "quectel": QuectelModem,
    "ublox": UbloxModem,
}
