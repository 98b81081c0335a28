"""u-blox SARA-R4/R5 socket and ping commands.

Reference 4: +USOCR (4.1: ``+USOCR: <socket>``), hex mode with +UDCONF=1 (4.2), +USOST
(4.3: the data in the command, or after the ``@`` prompt; ``+USOST: <socket>,<length>``),
+UUSORF and +USORF (4.4; ``--messy``: +UUSORD, which some firmware sends instead),
+USOCL and +UUSOCL (4.5). UDP only (protocol 17); TCP gets +CME ERROR: 4. Sockets use
context 1 [U]. u-blox's socket error numbers are not in the reference [U]: 50 for a bad
parameter, 3 for what a socket's state forbids (an unknown or closed socket, all 7 in
use, no address of that family).

The binary syntax ignores hex mode (UBX-17003787 18.10.4): after ``@`` come exactly
<length> raw bytes. The manual asks for 50 ms between the prompt and the data; the
simulator takes the data at once.

+UPING: ``AT+UPING="<host>"[,<retry_num>[,<p_size>[,<timeout ms>[,<ttl>]]]]`` -> OK, then
``+UUPING: <n>,<p_size>,"<host>","<ip>",<ttl>,<rtt ms>`` per request (rtt -1 when no
reply came, as drivers read it [P]), ``+UUPINGER: 8`` for a host that cannot be resolved
(public drivers' parsers; defaults 4, 32, 5000 ms, 32 [U]).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .at_commands import handles, int_arg, str_arg
from .at_parser import Command, Form
from .at_pdp import context_families
from .at_results import OK, Reply, cme, info
from .at_sockets import (
    INCORRECT,
    SETUPS,
    ModemSocket,
    PingLines,
    PingParams,
    SocketStack,
    StackError,
    address_text,
    numbers,
    payload_text,
    resolve,
    socket_named,
    start_ping,
    take_payload,
)

if TYPE_CHECKING:
    from .at_modem import Modem

VENDOR = "ublox"
SOCKET_CID = 1
CLOSE_DELAY = 0.1
"""Seconds from an asynchronous +USOCL to its +UUSOCL [U]."""
REFUSED = cme(3)
"""What a socket's state forbids: "operation not allowed" [U]."""


@handles("+USOCR", vendor=VENDOR)
def _usocr(modem: Modem, command: Command, now: float) -> Reply:
    """``AT+USOCR=17[,<local_port>[,<IP_type>]]`` -> ``+USOCR: <socket>``: the lowest free
    id; the IP type of newer manuals is taken and ignored (a socket sends either family)."""
    if command.form is Form.TEST:
        return info("+USOCR: (6,17),(1-65535),(0-1)")
    if command.form is not Form.SET:
        return OK
    proto, lport, ip_type = int_arg(command, 0), int_arg(command, 1, 0), int_arg(command, 2, 0)
    if proto not in (6, 17) or lport is None or ip_type not in (0, 1):
        return INCORRECT
    if proto == 6:
        return cme(4)  # TCP is not simulated
    stack = modem.stack
    free = [i for i in stack.ids() if i not in stack.sockets]
    if not free:
        return REFUSED  # all sockets in use
    try:
        stack.open(free[0], SOCKET_CID, now, local_port=lport, any_remote=True)
    except StackError:
        return REFUSED
    return info(f"+USOCR: {free[0]}")


@handles("+UDCONF", vendor=VENDOR)
def _udconf(modem: Modem, command: Command, now: float) -> Reply:
    """``AT+UDCONF=1,<0|1>`` hex mode; ``AT+UDCONF=1`` reads it; other settings are taken."""
    if command.form is not Form.SET or int_arg(command, 0) != 1:
        return OK
    if len(command.args) == 1:
        return info(f"+UDCONF: 1,{int(modem.stack.hex_read)}")
    value = int_arg(command, 1)
    if value not in (0, 1):
        return INCORRECT
    modem.stack.hex_send = modem.stack.hex_read = bool(value)
    return OK


@handles("+USOST", vendor=VENDOR)
def _usost(modem: Modem, command: Command, now: float) -> Reply:
    """``AT+USOST=<s>,"<addr>",<port>,<len>[,"<data>"]``; without data: ``@``, then
    <len> raw bytes. Up to 1024 bytes as text or binary, 512 in hex."""
    if command.form is not Form.SET:
        return OK
    stack = modem.stack
    sock = socket_named(modem, command)
    if sock is None:
        return REFUSED
    port, size = int_arg(command, 2), int_arg(command, 3)
    inline = len(command.args) == 5
    hex_mode = inline and stack.hex_send
    limit = stack.limits.max_send_hex if hex_mode else stack.limits.max_send
    if port is None or not 0 < port < 65536 or size is None or not 1 <= size <= limit:
        return INCORRECT
    if len(command.args) not in (4, 5):
        return INCORRECT
    try:
        dst = resolve(modem, sock.cid, str_arg(command, 1))
        stack.source(sock.cid, dst)
    except StackError:
        return REFUSED

    def sent(data: bytes, at: float) -> Reply:
        if stack.sockets.get(sock.ident) is not sock:
            return REFUSED
        stack.send(sock, data, at, dst, port)
        return info(f"+USOST: {sock.ident},{size}")

    if not inline:
        return take_payload(modem, size, False, sent)
    text = str_arg(command, 4)
    data = _unhex(text) if hex_mode else text.encode("latin-1", "replace")
    if data is None or len(data) != size:
        return INCORRECT
    return sent(data, now)


def _unhex(text: str) -> bytes | None:
    try:
        return bytes.fromhex(text) if " " not in text else None
    except ValueError:
        return None


@handles("+USORF", vendor=VENDOR)
def _usorf(modem: Modem, command: Command, now: float) -> Reply:
    """``AT+USORF=<s>,<len>`` -> ``+USORF: <s>,"<ip>",<port>,<n>,"<data>"``; ``<len>`` 0
    -> ``+USORF: <s>,<unread>`` (also the answer when nothing is buffered [U])."""
    if command.form is not Form.SET:
        return OK
    stack = modem.stack
    sock = socket_named(modem, command)
    if sock is None:
        return REFUSED
    limit = stack.limits.max_read_hex if stack.hex_read else stack.limits.max_read
    size = int_arg(command, 1)
    if size is None or not 0 <= size <= limit:
        return INCORRECT
    taken = sock.take(size) if size else None
    if taken is None:
        return info(f"+USORF: {sock.ident},{sock.unread}")
    datagram = taken[0]
    head = (
        f'+USORF: {sock.ident},"{address_text(modem, datagram.src)}",{datagram.sport},'
        f"{len(datagram.data)},"
    )
    text = payload_text(datagram.data, stack.hex_read)
    if sock.queue:
        modem.later_urc(0.0, f"+UUSORF: {sock.ident},{sock.unread}")  # more to read (4.4)
    return Reply(raw=f"\r\n{head}".encode() + b'"' + text + b'"\r\n')


@handles("+USOCL", vendor=VENDOR)
def _usocl(modem: Modem, command: Command, now: float) -> Reply:
    """``AT+USOCL=<s>[,1]``; with 1 the close is asynchronous: OK, then +UUSOCL."""
    if command.form is not Form.SET:
        return OK
    asynchronous = int_arg(command, 1, 0)
    if asynchronous not in (0, 1):
        return INCORRECT
    sock = socket_named(modem, command)
    if sock is None:
        return REFUSED
    modem.stack.close(sock.ident, announce=False)
    if asynchronous:
        modem.later_urc(CLOSE_DELAY, f"+UUSOCL: {sock.ident}")
    return OK


def _setup(stack: SocketStack) -> None:
    def arrived(sock: ModemSocket) -> None:
        # --messy: the +UUSORD some firmware sends instead (4.4).
        name = "+UUSORD" if stack.modem.messy else "+UUSORF"
        stack.modem.urc(f"{name}: {sock.ident},{sock.unread}")

    stack.on_datagram = arrived
    stack.on_closed = lambda sock: stack.modem.urc(f"+UUSOCL: {sock.ident}")


SETUPS[VENDOR] = _setup


@handles("+UPING", vendor=VENDOR)
def _uping(modem: Modem, command: Command, now: float) -> Reply:
    if command.form is not Form.SET:
        return OK
    host = str_arg(command, 0)
    values = numbers(
        command, (1, 4, 1, 64), (2, 32, 4, 1460), (3, 5000, 10, 60000), (4, 32, 1, 255)
    )
    if not host or values is None:
        return INCORRECT
    count, size, timeout, ttl = values
    if not context_families(modem, SOCKET_CID):
        return REFUSED
    try:
        dst = resolve(modem, SOCKET_CID, host)
    except StackError:
        modem.later_urc(0.0, "+UUPINGER: 8")
        return OK
    shown = f'{size},"{host}","{address_text(modem, dst)}"'
    lines = PingLines(
        reply=lambda seq, rtt, hops: f"+UUPING: {seq},{shown},{hops},{round(rtt * 1000)}",
        lost=lambda seq: f"+UUPING: {seq},{shown},0,-1",
    )
    params = PingParams(count, size, ttl, timeout / 1000)
    try:
        return start_ping(modem, dst, SOCKET_CID, params, lines, after_ok=True)
    except StackError:
        return REFUSED
