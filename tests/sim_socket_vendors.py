"""Each simulated vendor's socket commands, as a test client sends them, and how to read
the answers: one table for the virtual-time tests (``test_sim_sockets.py``) and the
process tests (``test_sim_sockets_pty.py``).

Written from shared/reference/at-commands.md (sections 1 Sequans, 2 Telit, 3 Quectel,
4 u-blox), independently of the simulator's own tables, so a change to the simulator that
leaves the reference behind fails here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from netstack.at import STANDARD_URCS

ECHO6, ECHO4 = "2001:db8:1::1", "198.51.100.1"
DNS6, DNS4 = "2001:db8:1::53", "198.51.100.53"
ECHO_PORT, DNS_PORT = 7, 53


@dataclass(frozen=True)
class Vendor:
    profile: str
    ids: range
    """The socket ids, in the order the modem gives them out."""
    max_send: int
    max_read: int
    max_read_hex: int
    text_mode: tuple[str, ...]
    """Payloads as raw bytes both ways, rings with the byte count (per socket: ``{id}``)."""
    hex_mode: tuple[str, ...]
    """Payloads in hex both ways (per socket: ``{id}``)."""
    open: str
    """``{id}``, ``{addr}``, ``{port}``; u-blox's names no peer (the modem picks the id)."""
    open_result: str | None
    """The URC after OK that says the open worked (Quectel), ``{id}``."""
    send: str
    """Takes its payload after the prompt: ``{id}``, ``{addr}``, ``{port}``, ``{len}``."""
    send_final: str
    ring: str
    """The URC line of data waiting on socket ``{id}``, as a prefix."""
    read: str
    """``{id}``, ``{max}``."""
    headers: tuple[str, ...]
    """Regular expressions for the read's header line; group ``len`` is its length
    (u-blox's: ``data``, the quoted data)."""
    inline: bool
    """The data is on the header line, in quotes (u-blox)."""
    close: str
    ping: str
    """``{addr}``: one echo request."""
    ping_reply: str
    """The prefix of the line of an answered request."""
    ping_after_ok: bool
    urcs: tuple[str, ...]
    """Prefixes to add to ``AtChannel``'s URC table."""
    error_setup: tuple[str, ...] = ("AT+CMEE=1",)
    messy_ring: str | None = None
    """The ring in ``--messy`` mode when it differs (u-blox's +UUSORD, 4.4)."""

    def ring_of(self, ident: int, messy: bool) -> str:
        return (self.messy_ring if messy and self.messy_ring else self.ring).format(id=ident)

    def with_id(self, commands: tuple[str, ...], ident: int) -> list[str]:
        return [c.format(id=ident) for c in commands]

    def read_data(self, lines: list[str], hex_mode: bool) -> bytes | None:
        """The data of a read response's lines (header, then data unless inline); None
        when nothing was waiting."""
        for index, line in enumerate(lines):
            match = next((m for h in self.headers if (m := re.fullmatch(h, line))), None)
            if match is None:
                continue
            size = int(match.group("len"))
            if size == 0:
                return None
            if self.inline:
                text = line[line.index('"', match.start("data")) + 1 : -1]
            else:
                text = lines[index + 1]
            data = bytes.fromhex(text) if hex_mode else text.encode("latin-1")
            assert len(data) == size, (lines, size)
            return data
        raise AssertionError(f"no read header in {lines}")


SEQUANS = Vendor(
    profile="sequans",
    ids=range(1, 7),  # 1: "sockets are numbered starting at 1"
    max_send=1500,  # 1.4
    max_read=1500,  # 1.6
    max_read_hex=1500,
    text_mode=("AT+SQNSCFGEXT={id},1,0,0,0,0",),  # 1.2: srMode 1, raw both ways
    hex_mode=("AT+SQNSCFGEXT={id},1,1,0,0,1",),  # 1.2: TinyGSM's hex both ways
    open='AT+SQNSD={id},1,{port},"{addr}",0,0,1',  # 1.3: UDP, command mode
    open_result=None,
    send="AT+SQNSSENDEXT={id},{len}",  # 1.4
    send_final="OK",
    ring="+SQNSRING: {id},",  # 1.5 srMode 1
    read="AT+SQNSRECV={id},{max}",  # 1.6
    headers=(r"\+SQNSRECV: \d+,(?P<len>\d+)(,.*)?",),
    inline=False,
    close="AT+SQNSH={id}",  # 1.7
    ping='AT+PING="{addr}",1',
    ping_reply="+PING: 1,",
    ping_after_ok=False,
    urcs=("+SQNSRING", "+SQNSH", "+SYSSTART"),
)
TELIT = Vendor(
    profile="telit",
    ids=range(1, 7),
    max_send=1500,  # 2.5
    max_read=1500,  # 2.6
    max_read_hex=1500,
    text_mode=("AT#SCFGEXT={id},1,0,0,0,0",),  # 2.3
    hex_mode=("AT#SCFGEXT={id},1,1,0,0,1",),
    open='AT#SD={id},1,{port},"{addr}",0,0,1',  # 2.4
    open_result=None,
    send="AT#SSENDEXT={id},{len}",  # 2.5
    send_final="OK",
    ring="SRING: {id},",  # 2.3 srMode 1
    read="AT#SRECV={id},{max},1",  # 2.6 UDPInfo 1
    headers=(r'#SRECV: "[^"]*",\d+,\d+,(?P<len>\d+),\d+', r"#SRECV: \d+,(?P<len>\d+)"),
    inline=False,
    close="AT#SH={id}",  # 2.7
    ping='AT#PING="{addr}",1',  # guide 14
    ping_reply="#PING: 01,",
    ping_after_ok=False,
    urcs=("SRING",),
)
QUECTEL = Vendor(
    profile="quectel",
    ids=range(12),  # 3.2: connectID 0..11
    max_send=1460,  # 3.3
    max_read=1500,  # 3.4
    max_read_hex=1500,
    text_mode=('AT+QICFG="dataformat",0,0',),
    hex_mode=('AT+QICFG="dataformat",1,1',),
    open='AT+QIOPEN=1,{id},"UDP","{addr}",{port},0,0',  # 3.2
    open_result="+QIOPEN: {id},0",
    send="AT+QISEND={id},{len}",  # 3.3
    send_final="SEND OK",
    ring='+QIURC: "recv",{id}',  # 3.4
    read="AT+QIRD={id},{max}",
    headers=(r'\+QIRD: (?P<len>\d+)(,"[^"]*",\d+)?',),
    inline=False,
    close="AT+QICLOSE={id}",  # 3.5
    ping='AT+QPING=1,"{addr}",4,1',
    ping_reply='+QPING: 0,"',
    ping_after_ok=True,
    urcs=("+QIURC", "+QIOPEN", "+QPING", "RDY"),
)
UBLOX = Vendor(
    profile="ublox",
    ids=range(7),  # 4.1: 0..6
    max_send=1024,  # 4.3 binary syntax
    max_read=1024,  # 4.4
    max_read_hex=512,  # 4.4: hex halves it
    text_mode=("AT+UDCONF=1,0",),  # 4.2
    hex_mode=("AT+UDCONF=1,1",),
    open="AT+USOCR=17",  # 4.1
    open_result=None,
    send='AT+USOST={id},"{addr}",{port},{len}',  # 4.3 binary: "@" then the bytes
    send_final="OK",
    ring="+UUSORF: {id},",  # 4.4
    read="AT+USORF={id},{max}",
    headers=(r'\+USORF: \d+,"[^"]*",\d+,(?P<len>\d+),(?P<data>".*")', r"\+USORF: \d+,(?P<len>\d+)"),
    inline=True,
    close="AT+USOCL={id}",  # 4.5
    ping='AT+UPING="{addr}",1',
    ping_reply="+UUPING: 1,",
    ping_after_ok=True,
    urcs=("+UUSORF", "+UUSORD", "+UUSOCL", "+UUPING", "+UUPINGER"),
    messy_ring="+UUSORD: {id},",
)
VENDORS = {v.profile: v for v in (SEQUANS, TELIT, QUECTEL, UBLOX)}
ALL_URCS = tuple(dict.fromkeys([*STANDARD_URCS, *(p for v in VENDORS.values() for p in v.urcs)]))
