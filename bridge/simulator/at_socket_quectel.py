"""Quectel TCP/IP socket and ping commands (BG95/BG96, EC2x/EG9x).

Reference 3: +QIACT/+QIDEACT (3.1), +QIOPEN (3.2: OK at once, then the URC
``+QIOPEN: <id>,<err>``), +QISEND (3.3: ``> ``, the bytes, ``SEND OK``), the "recv" URC
and +QIRD (3.4, buffer access mode; ``--messy``: the URC with the byte count BG95 may
add), +QICLOSE and the "closed" URC (3.5). Service types "UDP" and "UDP SERVICE" in
buffer access mode (0); TCP, listeners and the push modes get +CME ERROR: 555. Errors are
Quectel's TCP/IP codes (552 invalid parameters, 561 open PDP context failed, 563 socket
identity used, 565 DNS parse failed, 569 timeout); +QISEND answers a plain ERROR (3.3).

+QICFG ``"dataformat",<send_hex>,<recv_hex>`` switches payloads to hex, two digits a
byte, <len> still counting bytes, and ``"viewmode",0`` keeps +QIRD's header and data on
lines of their own, as public EC20/EC801E drivers set them [P]; viewmode 1 is not
simulated (555).

+QPING: ``AT+QPING=<contextID>,"<host>"[,<timeout>[,<pingnum>]]`` -> OK, then
``+QPING: 0,"<IP>",<bytes>,<time ms>,<ttl>`` per reply (``+QPING: 569`` for none) and
the summary ``+QPING: 0,<sent>,<rcvd>,<lost>,<min>,<max>,<avg>`` (reply shapes as seen
in public drivers' parsers [P]; defaults 4 s and 4 pings).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .at_commands import handles, int_arg, str_arg
from .at_parser import Command, Form
from .at_pdp import activation_error, context_families, granted_type, set_active
from .at_results import ERROR, OK, Final, Reply, cme, info
from .at_sockets import (
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

VENDOR = "quectel"
OPEN_DELAY = 0.1
"""Seconds between +QIOPEN's OK and its result URC [U]."""
_MAX_CID = 16
_CONTEXT_TYPES = {"IP": 1, "IPV6": 2, "IPV4V6": 3}
_OPEN_ERRORS = {"busy": 563, "family": 561, "host": 565, "port": 552, "id": 552, "closed": 552}
_SENT = Reply(final=Final.SEND_OK)


@handles("+QIACT", vendor=VENDOR)
def _qiact(modem: Modem, command: Command, now: float) -> Reply:
    """``+QIACT: <ctx>,1,<type>,"<addr>"...`` per active context (type 1/2/3 [P])."""
    if command.form is Form.READ:
        lines = []
        for cid, context in sorted(modem.contexts.items()):
            families = context_families(modem, cid)
            if not families:
                continue
            kind = _CONTEXT_TYPES.get(granted_type(modem, context) or "", 1)
            shown = [f'"{modem.plan.client_ipv4}"'] * (4 in families)
            shown += [f'"{address_text(modem, modem.plan.client_global_ipv6)}"'] * (6 in families)
            lines.append(f"+QIACT: {cid},1,{kind}," + ",".join(shown))
        return info(*lines)
    if command.form is Form.TEST:
        return info(f"+QIACT: (1-{_MAX_CID})")
    chosen = int_arg(command, 0)
    if chosen is None or chosen not in modem.contexts:
        return cme(552)
    if not modem.contexts[chosen].active:
        if error := activation_error(modem, modem.contexts[chosen]):
            return error
        set_active(modem, chosen, True, now, "+QIACT")
    return OK


@handles("+QIDEACT", vendor=VENDOR)
def _qideact(modem: Modem, command: Command, now: float) -> Reply:
    cid = int_arg(command, 0)
    if command.form is not Form.SET or cid not in modem.contexts:
        return cme(552)
    assert cid is not None
    set_active(modem, cid, False, now, "+QIDEACT")
    return OK


@handles("+QICFG", vendor=VENDOR)
def _qicfg(modem: Modem, command: Command, now: float) -> Reply:
    """``"dataformat",<send_hex>,<recv_hex>`` and ``"viewmode",0``; other settings are
    taken and change nothing; with the setting alone, its value is read back."""
    stack = modem.stack
    if command.form is not Form.SET:
        return OK
    name = str_arg(command, 0).lower()
    if name == "dataformat":
        if len(command.args) == 1:
            return info(f'+QICFG: "dataformat",{int(stack.hex_send)},{int(stack.hex_read)}')
        send, read = int_arg(command, 1), int_arg(command, 2)
        if send not in (0, 1) or read not in (0, 1):
            return cme(552)
        stack.hex_send, stack.hex_read = bool(send), bool(read)
    elif name == "viewmode":
        if len(command.args) == 1:
            return info('+QICFG: "viewmode",0')
        if int_arg(command, 1) != 0:
            return cme(555)
    return OK


@handles("+QIOPEN", vendor=VENDOR)
def _qiopen(modem: Modem, command: Command, now: float) -> Reply:
    """``AT+QIOPEN=<ctx>,<id>,"UDP"|"UDP SERVICE","<host>",<rport>[,<lport>[,<mode>]]``"""
    if command.form is not Form.SET:
        return OK
    cid, ident, rport = int_arg(command, 0), int_arg(command, 1), int_arg(command, 4)
    lport, mode = int_arg(command, 5, 0), int_arg(command, 6, 0)
    service = str_arg(command, 2).upper()
    stack = modem.stack
    if None in (cid, ident, rport, lport, mode) or ident not in stack.ids():
        return cme(552)
    assert cid is not None and ident is not None and rport is not None and lport is not None
    if service not in ("UDP", "UDP SERVICE") or mode != 0:
        return cme(555)  # TCP, listeners and push/transparent access are not simulated
    udp_service = service == "UDP SERVICE"
    if not 1 <= cid <= _MAX_CID or not udp_service and not 0 < rport < 65536:
        return cme(552)
    try:
        if not context_families(modem, cid):
            raise StackError("family")
        remote = None if udp_service else resolve(modem, cid, str_arg(command, 3))
        sock = stack.open(
            ident,
            cid,
            now,
            local_port=lport,
            remote=remote,
            remote_port=0 if udp_service else rport,
            any_remote=udp_service,
        )
        sock.vendor["service"] = int(udp_service)
        result = 0
    except StackError as error:
        result = _OPEN_ERRORS[error.reason]
    modem.later_urc(OPEN_DELAY, f"+QIOPEN: {ident},{result}")
    return OK


@handles("+QISEND", vendor=VENDOR)
def _qisend(modem: Modem, command: Command, now: float) -> Reply:
    """``AT+QISEND=<id>,<len>[,"<ip>",<port>]`` -> ``> `` -> the bytes -> ``SEND OK``;
    ``AT+QISEND=<id>,0`` -> ``+QISEND: <sent>,<acked>,<unacked>``."""
    if command.form is not Form.SET:
        return OK
    stack = modem.stack
    sock = socket_named(modem, command)
    if sock is None:
        return ERROR
    size = int_arg(command, 1)
    if size == 0 and len(command.args) == 2:
        return info(f"+QISEND: {sock.sent},{sock.sent},0")  # UDP: nothing waits for an ACK
    if size is None or not 1 <= size <= stack.limits.max_send:
        return ERROR
    dst, port = None, 0
    if sock.vendor.get("service"):
        port = int_arg(command, 3) or 0
        if len(command.args) != 4 or not 0 < port < 65536:
            return ERROR
        try:
            dst = resolve(modem, sock.cid, str_arg(command, 2))
            stack.source(sock.cid, dst)
        except StackError:
            return ERROR
    elif len(command.args) > 2:
        return ERROR

    def sent(data: bytes, at: float) -> Reply:
        if stack.sockets.get(sock.ident) is not sock:
            return ERROR
        stack.send(sock, data, at, dst, port)
        return _SENT

    return take_payload(modem, size, stack.hex_send, sent)


@handles("+QIRD", vendor=VENDOR)
def _qird(modem: Modem, command: Command, now: float) -> Reply:
    """``AT+QIRD=<id>[,<len>]`` -> ``+QIRD: <n>`` (UDP SERVICE: ``,"<ip>",<port>``)
    <CR><LF> the data; ``+QIRD: 0`` when empty; ``<len>`` 0: ``+QIRD: <total>,<read>,
    <unread>``."""
    if command.form is not Form.SET:
        return OK
    stack = modem.stack
    sock = socket_named(modem, command)
    if sock is None:
        return cme(552)
    limit = int_arg(command, 1, stack.limits.max_read)
    if limit is None or not 0 <= limit <= stack.limits.max_read:
        return cme(552)
    read = sock.vendor.get("read", 0)
    if limit == 0:
        return info(f"+QIRD: {sock.received},{read},{sock.unread}")
    taken = sock.take(limit)
    if not sock.queue:
        sock.vendor["announced"] = 0  # drained: the next datagram raises a URC again
    if taken is None:
        return info("+QIRD: 0")
    datagram = taken[0]
    sock.vendor["read"] = read + len(datagram.data)
    head = f"+QIRD: {len(datagram.data)}"
    if sock.vendor.get("service"):
        head += f',"{address_text(modem, datagram.src)}",{datagram.sport}'
    text = payload_text(datagram.data, stack.hex_read)
    return Reply(raw=f"\r\n{head}\r\n".encode() + text + b"\r\n")


@handles("+QICLOSE", vendor=VENDOR)
def _qiclose(modem: Modem, command: Command, now: float) -> Reply:
    ident = int_arg(command, 0)
    if command.form is not Form.SET or ident is None or ident not in modem.stack.ids():
        return cme(552)
    modem.stack.close(ident, announce=False)
    return OK


def _recv(sock: ModemSocket, modem: Modem) -> None:
    """Buffer mode: one ``+QIURC: "recv",<id>`` until the buffer is drained (3.4);
    ``--messy`` appends the bytes waiting, as BG95 firmware may."""
    if not sock.vendor.get("announced"):
        sock.vendor["announced"] = 1
        size = f",{sock.unread}" if modem.messy else ""
        modem.urc(f'+QIURC: "recv",{sock.ident}{size}')


def _setup(stack: SocketStack) -> None:
    stack.on_datagram = lambda sock: _recv(sock, stack.modem)
    stack.on_closed = lambda sock: stack.modem.urc(f'+QIURC: "closed",{sock.ident}')


SETUPS[VENDOR] = _setup


@handles("+QPING", vendor=VENDOR)
def _qping(modem: Modem, command: Command, now: float) -> Reply:
    if command.form is Form.TEST:
        return info('+QPING: (1-16),"host",(1-255),(1-10)')
    if command.form is not Form.SET:
        return cme(552)
    values = numbers(command, (0, 0, 1, _MAX_CID), (2, 4, 1, 255), (3, 4, 1, 10))
    if values is None:
        return cme(552)
    cid, timeout, count = values
    if not context_families(modem, cid):
        return cme(561)
    try:
        dst = resolve(modem, cid, str_arg(command, 1))
    except StackError:
        modem.later_urc(OPEN_DELAY, "+QPING: 565")
        return OK
    shown = address_text(modem, dst)

    def summary(rtts: list[float]) -> str:
        ms = [round(rtt * 1000) for rtt in rtts] or [0]
        average = round(sum(ms) / len(ms))
        return f"+QPING: 0,{count},{len(rtts)},{count - len(rtts)},{min(ms)},{max(ms)},{average}"

    lines = PingLines(
        reply=lambda seq, rtt, ttl: f'+QPING: 0,"{shown}",32,{round(rtt * 1000)},{ttl}',
        lost=lambda seq: "+QPING: 569",
        done=summary,
    )
    try:
        return start_ping(modem, dst, cid, PingParams(count, 32, 64, timeout), lines, after_ok=True)
    except StackError:
        return cme(561)
