"""What a command answers: information lines and one final result (ITU-T V.250 5.7).

Final results are classified the way ModemManager's serial parser does it: OK, CONNECT,
``+CME ERROR``, ERROR, then the call results NO CARRIER / BUSY / NO ANSWER / NO DIALTONE.
``+CME ERROR`` follows +CMEE (27.007 9.1): 0 plain ``ERROR``, 1 the number, 2 the text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class Final(Enum):
    """A final result code with its V.250 number (for ATV0)."""

    OK = (0, "OK")
    CONNECT = (1, "CONNECT")
    NO_CARRIER = (3, "NO CARRIER")
    ERROR = (4, "ERROR")
    NO_DIALTONE = (6, "NO DIALTONE")
    BUSY = (7, "BUSY")
    NO_ANSWER = (8, "NO ANSWER")
    CME_ERROR = (4, "+CME ERROR")
    SEND_OK = (0, "SEND OK")
    """Quectel's final result of +QISEND once the payload is taken."""
    PROMPT = (-1, "")
    """No final result yet: the modem wrote its data prompt (``connect_text``) and waits
    for the payload (``Modem.expect_payload``)."""
    PENDING = (-2, "")
    """No final result yet: the command goes on (a modem ping) and ends it later."""

    @property
    def number(self) -> int:
        return self.value[0]

    @property
    def text(self) -> str:
        return self.value[1]


CME_ERRORS = {
    3: "operation not allowed",
    4: "operation not supported",
    10: "SIM not inserted",
    11: "SIM PIN required",
    12: "SIM PUK required",
    13: "SIM failure",
    16: "incorrect password",
    21: "invalid index",
    30: "no network service",
    50: "incorrect parameters",
    100: "unknown",
    133: "requested service option not subscribed",
    148: "unspecified GPRS error",
    149: "PDP authentication failure",
    # Quectel's TCP/IP error codes (BG96/BG95 TCP/IP application notes, "error codes").
    550: "unknown error",
    552: "invalid parameters",
    555: "operation not supported",
    561: "open PDP context failed",
    563: "socket identity has been used",
    565: "DNS parse failed",
    567: "socket has been closed",
    569: "operation timeout",
}
"""3GPP TS 27.007 9.2: the +CME ERROR codes the simulator uses, with their verbose text."""


@dataclass(frozen=True)
class Reply:
    lines: tuple[str, ...] = ()
    """Information lines, without framing."""
    final: Final = Final.OK
    cme: int = 0
    """The +CME ERROR code when ``final`` is CME_ERROR."""
    connect_text: str = ""
    """Text after CONNECT (a rate, e.g. Quectel's ``CONNECT 150000000``)."""
    then: list[str] = field(default_factory=list, compare=False)
    """Follow-up actions for the modem once the reply is written (e.g. ``"data"``)."""
    raw: bytes = b""
    """Bytes written exactly as they are after the lines and before the final result: a
    socket read's header and payload, framed by the command itself (never re-framed by
    ``--messy``). A command with ``raw`` ends its command line."""


OK = Reply()
ERROR = Reply(final=Final.ERROR)


def cme(code: int) -> Reply:
    return Reply(final=Final.CME_ERROR, cme=code)


def info(*lines: str) -> Reply:
    return Reply(tuple(lines))


def final_text(reply: Reply, cmee: int, verbose_results: bool, messy: bool) -> str:
    """The final result line as the DTE sees it (without framing)."""
    if reply.final is Final.CME_ERROR:
        if cmee == 0 and not messy:
            return "ERROR" if verbose_results else str(Final.ERROR.number)
        detail = CME_ERRORS.get(reply.cme, "unknown") if cmee == 2 or messy else str(reply.cme)
        return f"+CME ERROR:{detail}" if messy else f"+CME ERROR: {detail}"
    if not verbose_results:
        return str(reply.final.number)
    if reply.final is Final.CONNECT and reply.connect_text:
        return f"CONNECT {reply.connect_text}"
    return reply.final.text
