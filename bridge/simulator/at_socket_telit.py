"""Telit IP Easy socket and ping commands (LE910 / ME910 / ME310).

Reference 2 and Telit's IP Easy User Guide (80000ST10028A, "the guide"): #SCFG (2.2),
#SCFGEXT and SRING (2.3, guide 8.3.1, 8.7.3-8.7.6), #SD (2.4), #SSENDEXT (2.5:
``<CR><LF>> `` then exactly N bytes, 2N hex digits with sendDataMode 1), #SRECV (2.6),
#SI, #SS, #SH (2.7); what they share with Sequans' is in ``at_socket_ipeasy.py``.
Telit's own:

- #SGACT (2.1, guide 4.2.5): activates a context and answers the address it got.
- #SRECV's <UDPInfo> 1 (2.6) and SRING's srMode 3 (2.3) name the sender:
  ``#SRECV: "<IP>",<port>,<id>,<len>,<dataLeft>`` (dataLeft: bytes of that datagram
  still unread).
- IPv6 addresses print as 16 dotted decimals unless +CGPIAF asks for colon-hex (guide
  17.3); ``--messy`` adds the stray space inside the quotes of the guide's #PING
  example (17.4.4: ``#PING: 01," 32.1.7.0...",47,237``).
- #PING (guide 14): ``AT#PING=<IPaddr>[,<retryNum>[,<len>[,<timeout>[,<ttl>]]]]``
  (timeout in 100 ms units), one ``#PING: <replyId>,"<IP>",<replyTime>,<ttl>`` a
  request (replyTime in 100 ms units), then OK; only context 1 pings (guide 14.1). A
  request with no reply: replyTime 600 and TTL 255, as the first line of the guide's
  example [U]. Defaults 4, 32, 50 (5 s), 128 [U].
- No URC when the stack closes a socket (none in the reference).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import at_socket_ipeasy as ipeasy
from .at_commands import handles, int_arg, str_arg
from .at_parser import Command, Form
from .at_pdp import activation_error, context_families, set_active
from .at_results import OK, Reply, cme, info
from .at_sockets import (
    SETUPS,
    Datagram,
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
    from .socket_events import IpAddress

VENDOR = "telit"
FAMILY = ipeasy.Family(
    vendor=VENDOR,
    prefix="#S",
    ring="SRING",
    highest_ring_mode=3,
    ext_fields=6,
    status_protocol=False,
)
ipeasy.install(FAMILY)
PING_CID = 1
"""Guide 14.1: "The PING connection can use only the PDP context identified by <cid>=1"."""


def _quoted(modem: Modem, address: IpAddress) -> str:
    """An address in quotes (``--messy``: a space inside them, guide 17.4.4)."""
    return f'"{" " if modem.messy else ""}{address_text(modem, address)}"'


@handles("#SGACT", vendor=VENDOR)
def _sgact(modem: Modem, command: Command, now: float) -> Reply:
    """``AT#SGACT=<cid>,<stat>`` -> ``#SGACT: <address>`` (guide 4.2.5) and OK."""
    if command.form is Form.READ:
        return info(*(f"#SGACT: {c},{int(x.active)}" for c, x in sorted(modem.contexts.items())))
    if command.form is Form.TEST:
        return info("#SGACT: (1-16),(0,1)")
    cid, state = int_arg(command, 0), int_arg(command, 1)
    if cid not in modem.contexts or state not in (0, 1):
        return cme(50)
    assert cid is not None
    context = modem.contexts[cid]
    if not state:
        set_active(modem, cid, False, now, "#SGACT=0")
        return OK
    if context.active:
        return cme(3)  # already active [U]: Telit's own code for it is not in the reference
    if error := activation_error(modem, context):
        return error
    set_active(modem, cid, True, now, "#SGACT")
    families = context_families(modem, cid)
    plan = modem.plan
    shown = [str(plan.client_ipv4)] * (4 in families)
    shown += [address_text(modem, plan.client_global_ipv6)] * (6 in families)
    return info("#SGACT: " + ",".join(shown))  # both on one line when dual-stack [U]


@handles("#SD", vendor=VENDOR)
def _sd(modem: Modem, command: Command, now: float) -> Reply:
    return ipeasy.dial(modem, command)


@handles("#SSENDEXT", vendor=VENDOR)
def _ssendext(modem: Modem, command: Command, now: float) -> Reply:
    """``AT#SSENDEXT=<id>,<bytes>[,<RAI>]`` -> ``<CR><LF>> `` -> the bytes -> OK."""
    if command.form is not Form.SET:
        return OK
    try:
        sock = modem.stack.get(int_arg(command, 0))
    except StackError as error:
        return ipeasy.refusal(error)
    if len(command.args) > 3 or int_arg(command, 2, 0) not in (0, 1, 2):
        return cme(50)
    return ipeasy.send(modem, sock, int_arg(command, 1))


@handles("#SRECV", vendor=VENDOR)
def _srecv(modem: Modem, command: Command, now: float) -> Reply:
    """``AT#SRECV=<id>,<maxByte>[,<UDPInfo>]`` -> ``#SRECV: <id>,<n>`` (UDPInfo 1:
    ``#SRECV: "<IP>",<port>,<id>,<n>,<dataLeft>``), <CR><LF>, the data, OK."""
    if command.form is not Form.SET:
        return OK
    udp_info = int_arg(command, 2, 0)
    if udp_info not in (0, 1):
        return cme(50)
    piece = ipeasy.read(modem, command)
    if isinstance(piece, Reply):
        return piece
    datagram, ident = piece.datagram, piece.sock.ident
    if udp_info and datagram is not None:
        head = f"#SRECV: {_sender(modem, datagram)},{ident},{len(datagram.data)},{piece.left}"
    else:
        head = f"#SRECV: {ident},{len(datagram.data) if datagram else 0}"
    return ipeasy.response(head, piece.text)


def _sender(modem: Modem, datagram: Datagram) -> str:
    return f"{_quoted(modem, datagram.src)},{datagram.sport}"


def _setup(stack: SocketStack) -> None:
    stack.on_datagram = lambda sock: ipeasy.ring(
        FAMILY, stack.modem, sock, lambda datagram: _sender(stack.modem, datagram)
    )


SETUPS[VENDOR] = _setup


@handles("#PING", vendor=VENDOR)
def _ping(modem: Modem, command: Command, now: float) -> Reply:
    if command.form is not Form.SET:
        return OK
    values = numbers(command, (1, 4, 1, 64), (2, 32, 32, 1460), (3, 50, 1, 600), (4, 128, 1, 255))
    if values is None:
        return cme(50)
    count, size, timeout, ttl = values
    try:
        dst = resolve(modem, PING_CID, str_arg(command, 0))
        shown = _quoted(modem, dst)
        lines = PingLines(
            reply=lambda seq, rtt, hops: f"#PING: {seq:02d},{shown},{round(rtt * 10)},{hops}",
            lost=lambda seq: f"#PING: {seq:02d},{shown},600,255",
        )
        params = PingParams(count, size, ttl, timeout / 10)
        return start_ping(modem, dst, PING_CID, params, lines, after_ok=False)
    except StackError as error:
        return ipeasy.refusal(error)
