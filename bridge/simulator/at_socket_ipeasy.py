"""The socket commands Telit's IP Easy introduced and Sequans Monarch took over.

Sequans' +SQNSCFG, +SQNSCFGEXT, +SQNSD, +SQNSSENDEXT, +SQNSRECV, +SQNSI, +SQNSS, +SQNSH
and +SQNSRING have the syntax and meaning of Telit's #SCFG, #SCFGEXT, #SD, #SSENDEXT,
#SRECV, #SI, #SS, #SH and SRING (reference 1.1-1.7 and 2.2-2.7 side by side; TinyGSM's
Sequans driver comments them with Telit's parameter names). What both do alike lives
here, named by a ``Family`` of command names; ``at_socket_sequans.py`` and
``at_socket_telit.py`` keep what differs (Sequans' any-remote sockets and its GM02S read
quirk, Telit's UDP info and #SGACT, each one's ping).

UDP in command mode only (connMode 1, which every library sends): online-mode and TCP
sockets are not simulated and get +CME ERROR: 4. Neither vendor's socket error numbers
are in the reference [U]: 50 for a bad id or parameter, 3 for what the socket's state
forbids (closed, in use, no address of that family).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .at_commands import handles, int_arg, str_arg
from .at_parser import Command, Form
from .at_results import ERROR, OK, Reply, cme, info
from .at_sockets import (
    Datagram,
    ModemSocket,
    SocketStack,
    StackError,
    address_text,
    payload_text,
    resolve,
    take_payload,
)

if TYPE_CHECKING:
    from .at_modem import Modem
    from .socket_events import IpAddress

CFG = ("cid", "pkt", "max_to", "conn_to", "tx_to")
"""#SCFG / +SQNSCFG after the id: context, packet size, inactivity timeout (s), connect
timeout and send timer (100 ms units); defaults as Telit's own library sends them."""
CFG_DEFAULTS = {"cid": 1, "pkt": 300, "max_to": 90, "conn_to": 600, "tx_to": 50}
EXT = ("sr", "recv_hex", "keepalive", "listen", "send_hex")
"""#SCFGEXT / +SQNSCFGEXT after the id: ring format, hex reads, keepalive, listen
auto-answer, hex sends."""
EXT_HIGHEST = {"recv_hex": 1, "keepalive": 240, "listen": 1, "send_hex": 1}


@dataclass(frozen=True)
class Family:
    vendor: str
    prefix: str
    """Before each command's name: ``#S`` (Telit) or ``+SQNS`` (Sequans)."""
    ring: str
    """The data URC: ``SRING`` or ``+SQNSRING``."""
    highest_ring_mode: int
    """srMode values: 0-3 on Telit, 0-2 on Sequans (reference 1.2, 2.3)."""
    ext_fields: int
    """Most fields #SCFGEXT takes: 6 on Telit; Sequans' libraries send up to 9 (1.2)."""
    status_protocol: bool
    """+SQNSS ends its line with ``<txProt>`` (1.7); #SS does not (2.7)."""

    def name(self, command: str) -> str:
        """``"CFG"`` -> ``#SCFG`` or ``+SQNSCFG``."""
        return self.prefix + command


def config(stack: SocketStack, ident: int) -> dict[str, int]:
    """Socket ``ident``'s settings (kept across opens, as the modems keep them)."""
    return stack.config.setdefault(ident, {**CFG_DEFAULTS, **dict.fromkeys(EXT, 0)})


def refusal(error: StackError) -> Reply:
    return cme(50 if error.reason == "id" else 3)


def install(family: Family) -> None:
    """Register the family's configuration, close, information and status commands."""

    def setting(keys: tuple[str, ...], name: str, fields: range, highest: dict[str, int]) -> None:
        @handles(family.name(name), vendor=family.vendor)
        def handler(modem: Modem, command: Command, now: float) -> Reply:
            stack = modem.stack
            if command.form is Form.READ:
                name_shown = family.name(name)
                return info(*(_settings_line(name_shown, stack, i, keys) for i in stack.ids()))
            if command.form is not Form.SET:
                return OK
            return _set(stack, command, keys, fields, highest)

    ext_highest = {"sr": family.highest_ring_mode, **EXT_HIGHEST}
    setting(CFG, "CFG", range(2, 7), dict.fromkeys(CFG, 65535))
    setting(EXT, "CFGEXT", range(4, family.ext_fields + 1), ext_highest)

    @handles(family.name("H"), vendor=family.vendor)
    def _close(modem: Modem, command: Command, now: float) -> Reply:
        ident = int_arg(command, 0)
        if command.form is not Form.SET or ident is None or ident not in modem.stack.ids():
            return cme(50)
        modem.stack.close(ident, announce=False)  # closing a closed socket is no error [U]
        return OK

    @handles(family.name("I"), vendor=family.vendor)
    def _information(modem: Modem, command: Command, now: float) -> Reply:
        """``<id>,<sent>,<received>,<buff_in>,<ack_waiting>`` (1.6, 2.6)."""
        ids = _ids(modem.stack, command)
        if ids is None:
            return cme(50)
        lines = []
        for ident in ids:
            sock = modem.stack.sockets.get(ident)
            counts = (sock.sent, sock.received, sock.unread) if sock else (0, 0, 0)
            lines.append(f"{family.name('I')}: {ident}," + ",".join(map(str, counts)) + ",0")
        return info(*lines)

    @handles(family.name("S"), vendor=family.vendor)
    def _status(modem: Modem, command: Command, now: float) -> Reply:
        """``<id>,<state>[,<locIP>,<locPort>,<remIP>,<remPort>[,<txProt>]]``: 0 closed,
        2 suspended (command mode), 3 suspended with data waiting (1.7, 2.7)."""
        ids = _ids(modem.stack, command)
        if ids is None:
            return cme(50)
        return info(*(_status_line(modem, family, i) for i in ids))


def _settings_line(name: str, stack: SocketStack, ident: int, keys: tuple[str, ...]) -> str:
    return f"{name}: {ident}," + ",".join(str(config(stack, ident)[k]) for k in keys)


def _set(
    stack: SocketStack,
    command: Command,
    keys: tuple[str, ...],
    fields: range,
    highest: dict[str, int],
) -> Reply:
    """``=<id>,<value>,...``: empty fields keep their value; fields past the known ones
    (Sequans' libraries send up to three more, reference 1.2) are taken and ignored."""
    ident = int_arg(command, 0)
    values = [int_arg(command, 1 + n, -1) for n in range(len(keys))]
    if ident not in stack.ids() or len(command.args) not in fields:
        return cme(50)
    assert ident is not None
    if any(v is None or v > highest[k] for k, v in zip(keys, values, strict=True)):
        return cme(50)
    settings = config(stack, ident)
    for key, value in zip(keys, values, strict=True):
        if value is not None and value >= 0:
            settings[key] = value
    return OK


def _ids(stack: SocketStack, command: Command) -> list[int] | None:
    """The one socket named, or all of them; None for a bad id."""
    if command.form is not Form.SET:
        return list(stack.ids())
    ident = int_arg(command, 0)
    return [ident] if ident in stack.ids() and ident is not None else None


def _status_line(modem: Modem, family: Family, ident: int) -> str:
    head = f"{family.name('S')}: {ident}"
    sock = modem.stack.sockets.get(ident)
    if sock is None:
        return f"{head},0"
    remote = sock.remote or modem.plan.modem_ipv6
    local = modem.plan.modem_ipv4 if remote.version == 4 else modem.plan.modem_ipv6
    shown = address_text(modem, sock.remote) if sock.remote else ""
    line = (
        f"{head},{3 if sock.queue else 2},{address_text(modem, local)},{sock.local_port},"
        f"{shown},{sock.remote_port}"
    )
    return line + ",1" if family.status_protocol else line


# --- the socket's life: dial, send, read, ring ----------------------------------------------


def dial(modem: Modem, command: Command, any_remote: int = 0) -> Reply:
    """``=<id>,<txProt>,<rPort>,"<IP>"[,<closure>[,<lPort>[,<connMode>,...]]]`` (1.3,
    2.4): UDP (txProt 1) in command mode (connMode 1); lPort 0: the modem picks [U]."""
    if command.form is not Form.SET:
        return OK
    ident, proto, rport = (int_arg(command, n) for n in range(3))
    lport, conn_mode = int_arg(command, 5, 0), int_arg(command, 6, 0)
    if None in (ident, proto, rport, lport, conn_mode) or len(command.args) < 4:
        return cme(50)
    assert ident is not None and rport is not None and lport is not None
    if proto != 1 or conn_mode != 1:
        return cme(4)  # TCP and online mode (CONNECT) are not simulated
    if ident not in modem.stack.ids() or not 0 < rport < 65536:
        return cme(50)
    settings = config(modem.stack, ident)
    try:
        remote = resolve(modem, settings["cid"], str_arg(command, 3))
        sock = modem.stack.open(
            ident,
            settings["cid"],
            modem.now,
            local_port=lport,
            remote=remote,
            remote_port=rport,
            any_remote=bool(any_remote),
            max_idle=settings["max_to"],
        )
    except StackError as error:
        return refusal(error)
    sock.vendor["any_remote"] = any_remote
    return OK


def send(
    modem: Modem, sock: ModemSocket, size: int | None, dst: IpAddress | None = None, port: int = 0
) -> Reply:
    """The prompt, then the payload of a #SSENDEXT / +SQNSSENDEXT (1.4, 2.5): ``size``
    bytes, or ``2 * size`` hex digits with sendDataMode 1; then OK."""
    stack = modem.stack
    if size is None or not 1 <= size <= stack.limits.max_send:
        return cme(50)

    def sent(data: bytes, now: float) -> Reply:
        if stack.sockets.get(sock.ident) is not sock:
            return ERROR  # closed meanwhile (its context went down)
        try:
            stack.send(sock, data, now, dst, port)
        except StackError as error:
            return refusal(error)
        return OK

    return take_payload(modem, size, bool(config(stack, sock.ident)["send_hex"]), sent)


@dataclass
class Piece:
    """What one #SRECV / +SQNSRECV gives: the socket, a datagram or part of it (None:
    nothing waits), the bytes of it still left, and its data as printed."""

    sock: ModemSocket
    datagram: Datagram | None
    left: int
    text: bytes


def read(modem: Modem, command: Command) -> Piece | Reply:
    """``=<id>,<maxBytes>`` (1..1500; 1.6, 2.6): at most one datagram, in hex with
    recvDataMode 1; a Reply when refused."""
    stack = modem.stack
    limit = int_arg(command, 1)
    try:
        sock = stack.get(int_arg(command, 0))
    except StackError as error:
        return refusal(error)
    if limit is None or not 1 <= limit <= stack.limits.max_read:
        return cme(50)
    taken = sock.take(limit)
    datagram, left = taken if taken is not None else (None, 0)
    hex_mode = bool(config(stack, sock.ident)["recv_hex"])
    return Piece(sock, datagram, left, payload_text(datagram.data if datagram else b"", hex_mode))


def response(head: str, text: bytes, inside: str = "") -> Reply:
    """A read's response: its header line, then (after ``inside``, a URC some firmware
    prints there) the data, each ended by <CR><LF>, before the final result."""
    raw = f"\r\n{head}\r\n".encode()
    if inside:
        raw += f"\r\n{inside}\r\n".encode()
    return Reply(raw=raw + text + b"\r\n")


def ring(
    family: Family,
    modem: Modem,
    sock: ModemSocket,
    sender: Callable[[Datagram], str] | None = None,
) -> None:
    """The data URC by srMode (1.5, 2.3): 0 once until read, 1 with the bytes unread,
    2 with the data itself (taken from the buffer), 3 (Telit) the sender, the bytes left
    in the datagram and the data; ``sender`` prints ``"<IP>",<port>`` for mode 3."""
    settings = config(modem.stack, sock.ident)
    mode = settings["sr"]
    if mode == 0:
        if len(sock.queue) == 1:
            modem.urc(f"{family.ring}: {sock.ident}")
        return
    if mode == 1:
        modem.urc(f"{family.ring}: {sock.ident},{sock.unread}")
        return
    datagram = sock.queue.popleft()
    text = payload_text(datagram.data, bool(settings["recv_hex"])).decode("latin-1")
    fields = f"{sock.ident},{len(datagram.data)},{text}"
    if mode == 3:
        assert sender is not None, "srMode 3 is Telit's"
        fields = f"{sender(datagram)},{sock.ident},{len(datagram.data)},0,{text}"
    modem.urc(f"{family.ring}: {fields}")
