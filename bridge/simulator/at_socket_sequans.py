"""Sequans Monarch socket and ping commands (Pycom GPy/FiPy, GM01Q, Walter/GM02S).

Reference 1: +SQNSCFG (1.1), +SQNSCFGEXT (1.2), +SQNSD (1.3), +SQNSSENDEXT (1.4),
+SQNSRING (1.5), +SQNSRECV and +SQNSI (1.6), +SQNSS and +SQNSH (1.7); what they share
with Telit's commands is in ``at_socket_ipeasy.py``. Sequans' own:

- acceptAnyRemote (1.3, the 8th field of +SQNSD): 1 takes datagrams from any peer,
  2 also lets +SQNSSENDEXT name the peer; such a socket's +SQNSRECV header names the
  sender, ``+SQNSRECV: <id>,<len>,<IP>,<port>`` (the 4-field form walter's parser
  reads, 1.6 [P]).
- ``--messy``: when the inactivity timer (<maxTo> of +SQNSCFG) closes a socket whose
  data was not read yet, the ``+SQNSH: <id>`` URC comes inside the next +SQNSRECV
  response, between its header and its data, and the socket is gone after it (seen on
  Sequans GM02S; the exact place is our field notes' [U]).
- +PING, from STMicroelectronics' Monarch driver (X-CUBE-CELLULAR
  ``at_custom_modem_socket.c``): ``AT+PING=<IPaddr>[,<count>[,<len>[,<interval>
  [,<timeout>[,<ttl>[,<cid>]]]]]]``, ranges count 1-64, len 32-1400, interval 1-600 s,
  timeout 1-60 s, ttl 1-255, cid 0-6 (0 or absent: the Internet PDN, here 1). "PING
  requests are synchronous for this modem": one ``+PING: <replyId>,<IPaddr>,<time ms>,
  <ttl>`` a request (``-1,-1`` when none came), then OK.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import at_socket_ipeasy as ipeasy
from .at_commands import handles, int_arg, str_arg
from .at_parser import Command, Form
from .at_results import OK, Reply, cme
from .at_sockets import (
    SETUPS,
    ModemSocket,
    PingLines,
    PingParams,
    SocketStack,
    StackError,
    address_text,
    numbers,
    resolve,
    start_ping,
)

if TYPE_CHECKING:
    from .at_modem import Modem

VENDOR = "sequans"
FAMILY = ipeasy.Family(
    vendor=VENDOR,
    prefix="+SQNS",
    ring="+SQNSRING",
    highest_ring_mode=2,
    ext_fields=9,
    status_protocol=True,
)
ipeasy.install(FAMILY)


@handles("+SQNSD", vendor=VENDOR)
def _sqnsd(modem: Modem, command: Command, now: float) -> Reply:
    any_remote = int_arg(command, 7, 0)
    if any_remote not in (0, 1, 2):
        return cme(50)
    assert any_remote is not None
    return ipeasy.dial(modem, command, any_remote)


@handles("+SQNSSENDEXT", vendor=VENDOR)
def _sqnssendext(modem: Modem, command: Command, now: float) -> Reply:
    """``AT+SQNSSENDEXT=<id>,<len>[,<rai>[,<remIP>,<remPort>]]``: ``> `` (no line end),
    then the payload, then OK. The peer may be named only on a socket dialled with
    acceptAnyRemote 2 (1.4)."""
    if command.form is not Form.SET:
        return OK
    try:
        sock = modem.stack.get(int_arg(command, 0))
    except StackError as error:
        return ipeasy.refusal(error)
    if int_arg(command, 2, 0) not in (0, 1, 2) or len(command.args) not in (2, 3, 5):
        return cme(50)
    if len(command.args) < 5:
        return ipeasy.send(modem, sock, int_arg(command, 1))
    port = int_arg(command, 4)
    if sock.vendor.get("any_remote") != 2 or port is None or not 0 < port < 65536:
        return cme(50)
    try:
        dst = resolve(modem, sock.cid, str_arg(command, 3))
    except StackError as error:
        return ipeasy.refusal(error)
    return ipeasy.send(modem, sock, int_arg(command, 1), dst, port)


@handles("+SQNSRECV", vendor=VENDOR)
def _sqnsrecv(modem: Modem, command: Command, now: float) -> Reply:
    """``AT+SQNSRECV=<id>,<maxBytes>`` -> ``+SQNSRECV: <id>,<len>[,<IP>,<port>]``, the
    data, OK (1.6)."""
    if command.form is not Form.SET:
        return OK
    piece = ipeasy.read(modem, command)
    if isinstance(piece, Reply):
        return piece
    sock, datagram = piece.sock, piece.datagram
    head = f"+SQNSRECV: {sock.ident},{len(datagram.data) if datagram else 0}"
    if datagram is not None and sock.vendor.get("any_remote"):
        head += f",{address_text(modem, datagram.src)},{datagram.sport}"
    inside = ""
    if sock.vendor.get("idle_done") and not sock.queue:
        inside = f"+SQNSH: {sock.ident}"  # GM02S: the close inside the response
        modem.stack.close(sock.ident, announce=False, why="closed by its inactivity timeout")
    return ipeasy.response(head, piece.text, inside)


def _idle(stack: SocketStack, sock: ModemSocket) -> bool:
    """``--messy``: a socket with unread data closes inside the next read (GM02S)."""
    if not (stack.modem.messy and sock.queue):
        return False
    sock.vendor["idle_done"] = 1
    stack.modem.note("net", f"socket {sock.ident} inactivity timeout, data still unread")
    return True


def _setup(stack: SocketStack) -> None:
    stack.on_datagram = lambda sock: ipeasy.ring(FAMILY, stack.modem, sock)
    stack.on_closed = lambda sock: stack.modem.urc(f"+SQNSH: {sock.ident}")
    stack.on_idle = lambda sock: _idle(stack, sock)


SETUPS[VENDOR] = _setup


@handles("+PING", vendor=VENDOR)
def _ping(modem: Modem, command: Command, now: float) -> Reply:
    if command.form is not Form.SET:
        return OK
    values = numbers(
        command, (1, 4, 1, 64), (2, 32, 32, 1400), (3, 1, 1, 600), (4, 10, 1, 60), (5, 128, 1, 255)
    )
    cid = int_arg(command, 6, 0)
    if values is None or cid is None or not 0 <= cid <= 6:
        return cme(50)
    cid = cid or 1  # 0: the Internet PDN
    count, size, interval, timeout, ttl = values
    try:
        dst = resolve(modem, cid, str_arg(command, 0))
        shown = address_text(modem, dst)
        lines = PingLines(
            reply=lambda seq, rtt, hops: f"+PING: {seq},{shown},{round(rtt * 1000)},{hops}",
            lost=lambda seq: f"+PING: {seq},{shown},-1,-1",
        )
        params = PingParams(count, size, ttl, timeout, interval)
        return start_ping(modem, dst, cid, params, lines, after_ok=False)
    except StackError as error:
        return ipeasy.refusal(error)
