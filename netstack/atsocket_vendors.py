"""Each vendor's UDP socket commands, as data: what ``netstack.atsocket`` sends and how
it reads the answers.

Sources, as shared/reference/at-commands.md cites them (section numbers are that
document's): Sequans Monarch 1 (TinyGSM, walter libraries, microATsocket, pycom PR #429),
Telit IP Easy 2 (Telit IP Easy User Guide, ME910C1/ME310G1 AT references), Quectel 3
(BG95/BG96 TCP/IP Application Notes), u-blox 4 (SARA-R4 AT Commands Manual
UBX-17003787). Items the reference marks [U] or [P] are marked so here too.

The framing that breaks naive code, all carried by these tables rather than by code:

* The send prompt: ``> `` with no line end on Sequans, ``<CR><LF>> `` on Telit, ``> ``
  on Quectel, ``@`` on u-blox (and 50 ms of silence after it, UBX-17003787 18.10.4).
  ``netstack.at.AtChannel`` recognises all of them; ``prompt`` records which one, and
  None means the payload travels inside the command line (no prompt).
* Results after ``OK``: Quectel answers ``AT+QIOPEN`` with ``OK`` and only later
  ``+QIOPEN: <id>,<err>`` (``open_result``); Quectel's and u-blox's ping answers come as
  URCs after ``OK`` too (``PingCommand.after_ok``). Quectel ``+QISEND`` ends with
  ``SEND OK``/``SEND FAIL`` instead of ``OK`` (``send_finals``).
* URCs inside responses: a ring or a socket-closed URC can arrive between a read's header
  and its data (Sequans GM02S prints ``+SQNSH`` there); ``parse_read`` hands such lines
  back to be handled as URCs.

Templates are ``str.format`` strings; the fields they may use are listed per command.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from enum import Enum
from ipaddress import IPv6Address

from .atsocket_text import number, parse_address, parse_hex, split_fields, unquote, value_after


@dataclass(frozen=True, slots=True)
class UrcFormat:
    """A socket URC ``<prefix> [<tag>,]<field>,...``: ``+SQNSRING: 1,5``,
    ``+QIURC: "recv",0``. Field indexes count after the tag."""

    prefix: str
    """With its colon: ``+SQNSRING:``, ``SRING:``."""
    tag: str | None = None
    """The first field, unquoted (Quectel ``"recv"``, ``"closed"``)."""
    socket: int = 0
    """Index of the socket id."""
    value: int | None = None
    """Index of a number that goes with it: a ring's byte count, an open's error code."""

    def parse(self, line: str) -> tuple[int, int | None] | None:
        """(socket id, value or None) of a line of this URC; None for any other line."""
        rest = value_after(line, self.prefix)
        if rest is None:
            return None
        fields = split_fields(rest)
        if self.tag is not None:
            if unquote(fields[0]).lower() != self.tag.lower():
                return None
            fields = fields[1:]
        socket = number(fields[self.socket]) if self.socket < len(fields) else None
        if socket is None or socket < 0:
            return None
        if self.value is None or self.value >= len(fields):
            return socket, None
        return socket, number(fields[self.value])


@dataclass(frozen=True, slots=True)
class ReadLayout:
    """Where the fields of a read response header are, for one field count."""

    fields: int
    length: int
    socket: int | None = None
    address: int | None = None
    port: int | None = None
    data: int | None = None
    """Index of the data when it is on the header line (u-blox ``+USORF``)."""


@dataclass(frozen=True, slots=True)
class ReadFormat:
    """A read response: a header line ``<prefix> <fields>`` then (unless inline) the data
    in hex on the next line that is not a URC."""

    prefix: str
    layouts: tuple[ReadLayout, ...]


@dataclass(frozen=True, slots=True)
class Received:
    """One read's result: the data and, where the modem says, who sent it."""

    data: bytes
    sender: IPv6Address | None = None
    port: int | None = None


class PingLine(Enum):
    """What one line of a ping answer says."""

    REPLY = "reply"
    LOST = "lost"
    SUMMARY = "summary"
    """A closing statistics line: ends the exchange, decides nothing by itself."""


@dataclass(frozen=True, slots=True)
class PingResult:
    line: PingLine
    ttl: int | None = None


@dataclass(frozen=True, slots=True)
class PingCommand:
    """The modem's own ICMP echo (``ping -6`` through the modem)."""

    command: str
    """Template: ``{addr}``, ``{cid}``, ``{size}`` (data octets), ``{timeout_s}``,
    ``{timeout_ds}`` (tenths), ``{timeout_ms}``."""
    prefixes: tuple[str, ...]
    """The lines that carry its results (response lines or URCs)."""
    parse: Callable[[str], PingResult | None]
    after_ok: bool
    """True when the results come as URCs after OK (Quectel, u-blox)."""
    size_range: tuple[int, int]
    summary: bool = False
    """A statistics line closes the exchange after the reply (Quectel)."""


@dataclass(frozen=True, slots=True)
class VendorSockets:
    """One vendor's UDP socket commands. Command templates may use ``{id}`` (socket
    id), ``{cid}`` (PDP context), ``{addr}``/``{port}`` (remote), ``{lport}`` (local
    port), ``{len}`` (payload octets), ``{hex}`` (payload in hex, for sends without a
    prompt) and ``{max}`` (read size)."""

    name: str
    socket_ids: range
    """The ids the modem has; their number is the socket limit."""
    modem_assigns_ids: bool
    """The open command's answer names the id (u-blox ``+USOCR: <id>``)."""
    payload_limit: int
    """Largest datagram payload one send takes, in octets."""
    read_limit: int
    """Largest read, in octets."""
    setup: tuple[str, ...]
    """Sent once, before the first socket opens (data format switches)."""
    configure: tuple[str, ...]
    """Sent once per socket id before its first open: ``{id}``, ``{cid}``."""
    open: str
    open_prefix: str | None
    """The open's response line naming the id, when ``modem_assigns_ids``."""
    open_result: UrcFormat | None
    """The URC after OK that says whether the open worked (value 0 = it did)."""
    open_timeout: float
    """How long to wait for ``open_result``."""
    send: str
    send_prefix: str | None
    prompt: bytes | None
    """What the modem prints before taking the payload; None: ``{hex}`` in the line."""
    prompt_delay: float
    """Silence the modem wants between its prompt and the payload, in seconds."""
    payload_hex: bool
    """The payload after the prompt is written in hex (two characters an octet)."""
    send_finals: tuple[tuple[str, bool], ...]
    """Vendor final results of the send command (``AtChannel.send(extra_finals=)``)."""
    rings: tuple[UrcFormat, ...]
    read: str
    read_format: ReadFormat
    drain: bool
    """Read again until empty after data: the modem rings only once per empty buffer."""
    close: str
    close_timeout: float
    closed: UrcFormat | None
    """The URC of a socket the modem closed."""
    ping: PingCommand | None
    command_timeout: float = 10.0

    @property
    def urc_prefixes(self) -> tuple[str, ...]:
        """The prefixes to add to ``AtChannel``'s URC table (without colons)."""
        formats = [*self.rings, self.closed, self.open_result]
        prefixes = [f.prefix for f in formats if f is not None]
        if self.ping is not None and self.ping.after_ok:
            prefixes += self.ping.prefixes
        return tuple(dict.fromkeys(p.rstrip(":") for p in prefixes))


def parse_read(
    vendor: VendorSockets, lines: Sequence[str]
) -> tuple[Received | None, list[str]] | None:
    """A read response's information lines: (what was read, or None when nothing was
    waiting; the lines that were URCs in the middle of it). None when it makes no sense
    (no header, a bad length, data that is not hex or not as long as announced)."""
    form = vendor.read_format
    header_at = next((i for i, ln in enumerate(lines) if _read_header(form, ln)), None)
    if header_at is None:
        return None
    stray = [ln for i, ln in enumerate(lines) if i < header_at]
    rest = value_after(lines[header_at], form.prefix) or ""
    fields = split_fields(rest)
    layout = next((lay for lay in form.layouts if lay.fields == len(fields)), None)
    if layout is None:
        return None
    length = number(fields[layout.length])
    if length is None or length < 0:
        return None
    after = list(lines[header_at + 1 :])
    if length == 0:
        return (
            None
            if layout.data is not None and unquote(fields[layout.data])
            else (
                None,
                stray + after,
            )
        )
    if layout.data is not None:
        hex_text: str | None = fields[layout.data]
    else:
        hex_text = next((ln for ln in after if parse_hex(ln) is not None), None)
        if hex_text is not None:
            after.remove(hex_text)
    data = None if hex_text is None else parse_hex(hex_text)
    if data is None or len(data) != length:
        return None
    sender, port = _sender(fields, layout)
    return Received(data, sender, port), stray + after


def _read_header(form: ReadFormat, line: str) -> bool:
    return value_after(line, form.prefix) is not None


def _sender(fields: list[str], layout: ReadLayout) -> tuple[IPv6Address | None, int | None]:
    if layout.address is None or layout.port is None:
        return None, None
    address = parse_address(fields[layout.address])
    port = number(fields[layout.port])
    if not isinstance(address, IPv6Address) or port is None or not 0 < port < 0x10000:
        return None, None
    if address.is_multicast or address.is_unspecified or address.is_loopback:
        return None, None  # no single remote node sent that: the flow's remote did
    return address, port


# --- ping answers -------------------------------------------------------------------


def _ttl(field: str) -> int | None:
    value = number(field)
    return value if value is not None and 0 < value < 256 else None


def _reply_id_ping(prefix: str) -> Callable[[str], PingResult | None]:
    """Telit ``#PING: <replyId>,<IP>,<replyTime>,<tTl>`` (IP Easy User Guide 14.1,
    17.4.4): a lost reply prints ``<tTl>`` 255 (and ``<replyTime>`` 600) [P]. Sequans
    ``+PING:`` is taken to have the same shape [U]."""

    def parse(line: str) -> PingResult | None:
        rest = value_after(line, prefix)
        if rest is None:
            return None
        fields = split_fields(rest)
        if len(fields) < 4:
            return PingResult(PingLine.LOST)
        rtt, ttl = number(fields[2]), _ttl(fields[3])
        if rtt is None or rtt < 0 or ttl is None or ttl == 255:
            return PingResult(PingLine.LOST)
        return PingResult(PingLine.REPLY, ttl)

    return parse


def _quectel_ping(line: str) -> PingResult | None:
    """Quectel ``+QPING: <result>[,"<IP>",<bytes>,<time>,<ttl>]`` per echo (result 0 =
    replied), then ``+QPING: <finresult>[,<sent>,<rcvd>,<lost>,<min>,<max>,<avg>]``
    (BG95/BG96 TCP/IP Application Note, ``AT+QPING``) [P]."""
    rest = value_after(line, "+QPING:")
    if rest is None:
        return None
    fields = split_fields(rest)
    if len(fields) == 5 and number(fields[0]) == 0:
        return PingResult(PingLine.REPLY, _ttl(fields[4]))
    if len(fields) == 7:
        return PingResult(PingLine.SUMMARY)
    return PingResult(PingLine.LOST)


def _ublox_ping(line: str) -> PingResult | None:
    """u-blox ``+UUPING: <retry_num>,<p_size>,"<host>","<ip>",<ttl>,<rtt>``, or
    ``+UUPINGER: <error>`` (UBX-17003787, +UPING) [P]."""
    if value_after(line, "+UUPINGER:") is not None:
        return PingResult(PingLine.LOST)
    rest = value_after(line, "+UUPING:")
    if rest is None:
        return None
    fields = split_fields(rest)
    rtt = number(fields[5]) if len(fields) == 6 else None
    if rtt is None or rtt < 0:
        return PingResult(PingLine.LOST)
    return PingResult(PingLine.REPLY, _ttl(fields[4]))


# --- the vendors --------------------------------------------------------------------

SEQUANS_MONARCH = VendorSockets(
    name="sequans",
    socket_ids=range(1, 7),  # 1.0: "sockets are numbered starting at 1" (TinyGSM)
    modem_assigns_ids=False,
    payload_limit=1500,  # 1.4: "SQNSSENDEXT accepts up to 1500 bytes"
    read_limit=1500,  # 1.6: <maxBytes> 1..1500
    setup=(),
    # 1.1: <maxTo> 0 so that the modem never closes an idle socket behind our back (Telit's
    # #SCFG meaning, whose syntax Sequans copies [P]); 1.2: srMode 1 (rings with the byte
    # count), recvDataMode 1 and sendDataMode 1 (hex both ways), as TinyGSM sends it.
    configure=("AT+SQNSCFG={id},{cid},300,0,600,50", "AT+SQNSCFGEXT={id},1,1,0,0,1"),
    # 1.3: UDP, command mode (connMode 1), acceptAnyRemote 0, as microATsocket dials.
    open='AT+SQNSD={id},1,{port},"{addr}",0,{lport},1,0',
    open_prefix=None,
    open_result=None,
    open_timeout=0.0,
    send="AT+SQNSSENDEXT={id},{len}",  # 1.4
    send_prefix=None,
    prompt=b"> ",  # 1.4: "> " and no line end
    prompt_delay=0.0,
    payload_hex=True,
    send_finals=(),
    rings=(UrcFormat("+SQNSRING:", socket=0, value=1),),  # 1.5
    read="AT+SQNSRECV={id},{max}",  # 1.6
    read_format=ReadFormat(
        "+SQNSRECV:",
        (
            ReadLayout(2, socket=0, length=1),
            ReadLayout(4, socket=0, length=1, address=2, port=3),  # walter's 4 fields [P]
        ),
    ),
    drain=False,
    close="AT+SQNSH={id}",  # 1.7
    close_timeout=10.0,
    closed=UrcFormat("+SQNSH:", socket=0),  # 1.7; GM02S prints it inside +SQNSRECV
    # Monarch +PING (STMicroelectronics X-CUBE-CELLULAR at_custom_modem_socket.c [U]):
    # <IPaddr>,<count>,<len> 32..1400,<interval> s,<timeout> s; synchronous, one
    # +PING line before OK. The modem pings with its own data: the size is clamped.
    ping=PingCommand(
        'AT+PING="{addr}",1,{size},1,{timeout_s}',
        ("+PING:",),
        _reply_id_ping("+PING:"),
        after_ok=False,
        size_range=(32, 1400),
    ),
)

TELIT_IP_EASY = VendorSockets(
    name="telit",
    socket_ids=range(1, 7),  # 2.3: #SCFGEXT=? lists (1-6)
    modem_assigns_ids=False,
    payload_limit=1500,  # 2.5 #SSENDEXT max by AT#SSENDEXT=? (1500 on ME910C1)
    read_limit=1500,  # 2.6: <maxByte> 1..1500
    setup=(),
    # 2.2: #SCFG <maxTo> 0 = no inactivity timeout; 2.3: srMode 1, recvDataMode 1,
    # keepalive 0, ListenAutoRsp 0, sendDataMode 1 (IP Easy User Guide 8.3.1).
    configure=("AT#SCFG={id},{cid},300,0,600,50", "AT#SCFGEXT={id},1,1,0,0,1"),
    open='AT#SD={id},1,{port},"{addr}",0,{lport},1',  # 2.4: UDP, command mode
    open_prefix=None,
    open_result=None,
    open_timeout=0.0,
    send="AT#SSENDEXT={id},{len}",  # 2.5
    send_prefix=None,
    prompt=b"\r\n> ",  # 2.5: "<CR><LF>> "
    prompt_delay=0.0,
    payload_hex=True,
    send_finals=(),
    rings=(UrcFormat("SRING:", socket=0, value=1),),  # 2.3 srMode 1
    # 2.6: UDPInfo 1 reads to the end of one datagram and names its sender.
    read="AT#SRECV={id},{max},1",
    read_format=ReadFormat(
        "#SRECV:",
        (
            ReadLayout(2, socket=0, length=1),
            ReadLayout(5, address=0, port=1, socket=2, length=3),
        ),
    ),
    drain=False,
    close="AT#SH={id}",  # 2.7
    close_timeout=10.0,
    closed=None,
    ping=PingCommand(
        'AT#PING="{addr}",1,{size},{timeout_ds}',  # IP Easy User Guide 14.1
        ("#PING:",),
        _reply_id_ping("#PING:"),
        after_ok=False,
        size_range=(32, 1460),
    ),
)

QUECTEL_BG96 = VendorSockets(
    name="quectel",
    socket_ids=range(12),  # 3.2: connectID 0..11
    modem_assigns_ids=False,
    payload_limit=1460,  # 3.3: send_length 0..1460 (BG95)
    read_limit=1500,  # 3.4: read_length 0..1500
    # Payloads in hex both ways [P]: AT+QICFG="dataformat",<send>,<recv> (after the
    # prompt, two hex digits an octet, <len> still counting octets; received data in hex
    # on its own line) and "viewmode" 0 (header and data on separate lines), as public
    # EC20/EC801E drivers set them.
    setup=('AT+QICFG="dataformat",1,1', 'AT+QICFG="viewmode",0'),
    configure=(),
    # 3.2: a "UDP" client socket per flow, buffer access mode (0).
    open='AT+QIOPEN={cid},{id},"UDP","{addr}",{port},{lport},0',
    open_prefix=None,
    open_result=UrcFormat("+QIOPEN:", socket=0, value=1),  # 3.2: after OK
    open_timeout=150.0,  # 3.2: "wait up to 150 s"
    send="AT+QISEND={id},{len}",  # 3.3: <len> octets after the prompt (here in hex)
    send_prefix=None,
    prompt=b"> ",
    prompt_delay=0.0,
    payload_hex=True,
    send_finals=(("SEND OK", True), ("SEND FAIL", False)),  # 3.3
    rings=(UrcFormat("+QIURC:", tag="recv", socket=0, value=1),),  # 3.4
    read="AT+QIRD={id},{max}",
    read_format=ReadFormat(
        "+QIRD:",
        (ReadLayout(1, length=0), ReadLayout(3, length=0, address=1, port=2)),
    ),
    drain=True,  # 3.4: no further recv URC until the buffer is drained
    close="AT+QICLOSE={id}",  # 3.5
    close_timeout=10.0,
    closed=UrcFormat("+QIURC:", tag="closed", socket=0),  # 3.5
    ping=PingCommand(
        'AT+QPING={cid},"{addr}",{timeout_s},1',
        ("+QPING:",),
        _quectel_ping,
        after_ok=True,
        size_range=(0, 0),
        summary=True,
    ),
)

UBLOX_SARA_R4 = VendorSockets(
    name="ublox",
    socket_ids=range(7),  # 4.1: R4 ids 0..6
    modem_assigns_ids=True,  # 4.1: +USOCR: <socket>
    # 4.3: the binary syntax sends 1..1024 octets, but 4.4: a read in hex mode gives 512
    # at most and a longer datagram comes in parts that nothing marks as one datagram:
    # datagrams are kept to what one read returns whole, both ways (an answer is seldom
    # longer than its question; one that is arrives cut, in parts).
    payload_limit=512,
    read_limit=512,  # 4.4: hex mode halves the 1024-octet read
    setup=("AT+UDCONF=1,1",),  # 4.2: hex mode (for +USORF; binary sends ignore it)
    configure=(),
    open="AT+USOCR=17,{lport}",  # 4.1
    open_prefix="+USOCR:",
    open_result=None,
    open_timeout=0.0,
    # 4.3 binary syntax: "@", at least 50 ms, then exactly <len> octets; UBX-17003787
    # 18.10.4: "Binary syntax is not affected by HEX mode option".
    send='AT+USOST={id},"{addr}",{port},{len}',
    send_prefix="+USOST:",
    prompt=b"@",
    prompt_delay=0.05,
    payload_hex=False,
    send_finals=(),
    rings=(UrcFormat("+UUSORF:", socket=0, value=1), UrcFormat("+UUSORD:", socket=0, value=1)),
    read="AT+USORF={id},{max}",  # 4.4
    read_format=ReadFormat(
        "+USORF:",
        (
            ReadLayout(5, socket=0, address=1, port=2, length=3, data=4),
            ReadLayout(2, socket=0, length=1),
        ),
    ),
    drain=False,
    close="AT+USOCL={id}",  # 4.5
    close_timeout=120.0,  # 4.5: "up to ~120 s on R4"
    closed=UrcFormat("+UUSOCL:", socket=0),
    ping=PingCommand(
        'AT+UPING="{addr}",1,{size},{timeout_ms},64',
        ("+UUPING:", "+UUPINGER:"),
        _ublox_ping,
        after_ok=True,
        size_range=(4, 1460),
    ),
)

UBLOX_SARA_R4_INLINE_HEX = replace(
    UBLOX_SARA_R4,
    name="ublox-inline-hex",
    payload_limit=512,  # 4.3: base syntax in hex mode, 1..512
    send='AT+USOST={id},"{addr}",{port},{len},"{hex}"',
    prompt=None,
    prompt_delay=0.0,
)
"""u-blox's base syntax with the payload in hex inside the command line: for a path that
cannot carry the binary ``@`` exchange. A line limit then caps the payload (no chunking
is possible); the bridge refuses what does not fit."""

VENDORS = {
    **{v.name: v for v in (SEQUANS_MONARCH, TELIT_IP_EASY, QUECTEL_BG96, UBLOX_SARA_R4)},
    "ublox-r5": UBLOX_SARA_R4,
}
"""The profiles by name, as bridge/modem/profiles.py names the vendors (SARA-R5 takes
the SARA-R4 commands: at-commands.md 4)."""
