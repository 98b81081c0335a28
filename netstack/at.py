"""The AT command channel: one command at a time over a modem's serial line, without I/O.

What lives here: the line codec of ITU-T V.250 5.7 (responses framed by CR and LF, blank
lines, V0 numeric result codes, the echo of the command line, E1), the classification of
final result codes in ModemManager's order (``mm-serial-parsers.c``: ``OK``,
``CONNECT[ <text>]``, the prompt, ``+CME ERROR``/``+CMS ERROR`` numeric then verbose
(3GPP TS 27.007 9.2, TS 27.005 3.2.5), ``ERROR``, then ``NO CARRIER``, ``BUSY``,
``NO ANSWER``, ``NO DIALTONE``), information lines kept with their command, unsolicited
result codes (URCs) routed through a prefix table, and each command ending in exactly one
of OK, FAIL (with the error) or TIMEOUT (a deadline).

Call-order contract:

* ``AtChannel.send(command, now, timeout)`` returns the bytes to write (the command and
  CR, V.250 5.2.1). One command at a time: ``send`` while a command is pending raises
  ``UsageError``. The command ends with one ``CommandDone`` (or ``Connected``) from
  ``receive`` or ``handle_timer``; only then may the next one be sent.
* ``receive(data, now)`` takes the bytes read from the line, in chunks of any size: the
  same bytes give the same events however they are cut (except ``Connected.trailing``,
  which is what followed ``CONNECT`` in that read, see below).
* ``next_deadline()`` is the pending command's deadline; ``handle_timer(now)`` at or after
  it ends the command with ``Outcome.TIMEOUT``. Calling it early is harmless. A result
  read before ``handle_timer`` ran is accepted even when ``now`` has passed the deadline.
* ``send(..., expect_prompt=True)`` is for commands that take a payload after the prompt
  ``>`` (Telit ``#SSENDEXT``, Sequans ``+SQNSSENDEXT``) or ``@`` (u-blox ``+USOST``):
  ``receive`` emits ``Prompt``, the caller writes the bytes that ``send_payload(data,
  now, timeout)`` returns, and the command then ends as any other.
* ``send(..., extra_finals={"SEND OK": True, "SEND FAIL": False})`` adds vendor final
  results for that one command (Quectel ``+QISEND`` ends with ``SEND OK``, ``SEND FAIL``
  or ``ERROR``, never ``OK``: BG96 TCP/IP Application Note 2.2.7): whole lines, compared
  without case; True ends it OK, False ends it FAIL with ``AtError(ERROR, text=line)``.
* ``Connected`` means the modem went to the online data state (V.250 6.3.1 ``D``,
  27.007 10.1.12 ``+CGDATA``): the bytes of that read after the CONNECT line are in
  ``trailing``, exactly once, for the PPP deframer, and every later read belongs to it
  too. ``receive`` and ``send`` raise ``UsageError`` until ``resume_command_mode(now)``
  (after ``NO CARRIER`` in the data, or the ``+++`` escape between guard times, S2/S12).

Decisions, each of which a test pins down:

* Lines: CR and LF each end a line; the blank lines this leaves (CR LF, messy modems'
  doubled separators) are ignored, and so are spaces around a line. NUL bytes are removed
  (ModemManager skips them too). A line with other control characters or the PPP flag
  0x7E is not AT text (PPP leftovers after a hang-up, line noise): dropped and counted.
  A line longer than ``max_line`` is dropped and counted, and so is everything read until
  its end: garbage without line ends never grows the buffer beyond ``max_line``.
* Whole lines only: ``OK`` inside ``+COPS: 0,0,"OK Mobile"`` or a line ``OKAY`` are not
  results. The echo of the pending command (V.250 E1) is dropped once, compared without
  case or surrounding spaces, whether or not echo is on; what the modem does is learnt
  from what it sends (used for late results only).
* V0 numeric results (V.250 5.7.1: 0 OK, 1 CONNECT, 3 NO CARRIER, 4 ERROR, 6 NO DIALTONE,
  7 BUSY, 8 NO ANSWER; 2 RING is a URC) are only recognised in numeric mode: with
  ``AtChannel(numeric=True)``, or from a command we send that sets ``V0`` (its own result
  is already numeric) until one sets ``V1``, ``Z`` or ``&F``. A lone digit is otherwise
  an information line. In numeric mode it is always a result: V0 frames information
  text in CR LF and results in CR alone, but the LF may only come in the next read.
  Verbose results are always recognised.
* Routing while a command is pending: a line with the command's ``response_prefix`` is
  an information line even when the URC table has that prefix (``+CEREG:`` answering
  ``AT+CEREG?``), as ModemManager does; so is a URC of that prefix arriving inside the
  response (the caller tells them apart by their fields, 27.007 10.1.22: the URC has no
  ``<n>``). Other lines in the URC table are ``Urc`` events, even in the middle of a
  response; any other line is an information line (``ATI``'s free text). With no command
  pending every line is a ``Urc``, unknown ones and unsolicited ``OK``/``NO CARRIER``
  included: the caller decides.
* Late results: AT has no command tags, so after a TIMEOUT the first final result read
  before the next ``send`` is the timed-out command's: dropped and counted
  (``late_results``). If the next command is sent before it came and the modem is known
  to echo (it echoed the last command that completed), results read before that
  command's echo are dropped the same way. With echo off a late result read after the
  next ``send`` cannot be told from the next command's own (ModemManager flushes and takes
  the same risk): keep echo on, or send a plain ``AT`` after a timeout to resynchronise.
  A late ``CONNECT`` still means the modem is online: it is reported as ``Connected``,
  with ``command=None`` when nothing was pending.
* ``CONNECT`` glued to the first PPP frame without a line end (``CONNECT~``): the flag
  ends the CONNECT line and starts ``trailing``. After ``CONNECT<CR>`` the LF is taken
  with it when it is in the same read; when it is not, the PPP deframer sees one LF
  before its first flag and discards it while hunting for the flag: no frame is lost.
* Not handled: ``Q1`` (V.250 6.2.5 suppresses result codes: every command would time
  out), payloads delimited by length inside a response (``+SQNSRECV``, ``+QIRD`` data
  lines are read as lines), and basic settings after an extended command on the same
  line (``AT+CMEE=1;V0``): put ``E``/``V`` first. Vendor final results such as Quectel's
  ``SEND OK``/``SEND FAIL`` after ``+QISEND`` are information lines unless the command
  names them in ``extra_finals``.

Peer garbage never raises; it is dropped and counted in ``statistics()``. ``UsageError``
is for the caller's misuse.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from enum import Enum

from .errors import UsageError

DEFAULT_MAX_LINE = 4096
"""Longest line kept, in bytes. u-blox +USORF in hex mode prints 2 x 1024 characters of
data on one line; a +COPS=? list of a dozen operators is under 1000."""
DEFAULT_MAX_INFO_LINES = 1024
"""Information lines kept for one command (AT+CLAC lists a few hundred)."""

STANDARD_URCS = (
    "RING",  # V.250 5.7.1 Table 1 (2 in V0)
    "+CRING",  # 27.007 6.11
    "+CREG",  # 27.007 7.2
    "+CGREG",  # 27.007 10.1.20
    "+CEREG",  # 27.007 10.1.22
    "+C5GREG",  # 27.007, 5G registration
    "+CGEV",  # 27.007 10.1.19
    "+CMTI",  # 27.005 3.4.1
    "+CUSD",  # 27.007 7.15
)
"""The URC prefixes of V.250, 27.007 and 27.005 a packet data modem sends. Vendor ones
(``+SYSSTART``, ``RDY``, ``+QIURC``, ``SRING``, ``+UUSORF``) are added by the caller."""


class Outcome(Enum):
    """How a command ended."""

    OK = "ok"
    FAIL = "fail"
    """A final result code reporting an error: see ``CommandDone.error``."""
    TIMEOUT = "timeout"
    """No final result code by the deadline."""


class ErrorKind(Enum):
    """The final result codes that report a failure (V.250 5.7.1, 27.007 9.2)."""

    CME = "+CME ERROR"
    CMS = "+CMS ERROR"
    ERROR = "ERROR"
    NO_CARRIER = "NO CARRIER"
    BUSY = "BUSY"
    NO_ANSWER = "NO ANSWER"
    NO_DIALTONE = "NO DIALTONE"


@dataclass(frozen=True, slots=True)
class AtError:
    """A failure result: ``+CME ERROR: 10``, ``+CMS ERROR: 500``, ``NO CARRIER``..."""

    kind: ErrorKind
    code: int | None = None
    """The +CME/+CMS number, printed or found from the verbose text (27.007 9.2)."""
    text: str = ""
    """The verbose text, printed or from 27.007 9.2 for a known number; else empty."""

    def __str__(self) -> str:
        detail = " ".join(str(part) for part in (self.code, self.text) if part not in (None, ""))
        return f"{self.kind.value}: {detail}" if detail else self.kind.value


@dataclass(frozen=True, slots=True)
class FinalResult:
    """A final result code line, classified."""

    error: AtError | None = None
    """None for success (``OK``, ``CONNECT``)."""
    connect: str | None = None
    """For ``CONNECT``, its text (``150000000`` on a Quectel BG96, often ``""``)."""


@dataclass(frozen=True, slots=True)
class CommandDone:
    """A command ended: OK, FAIL (``error`` says why) or TIMEOUT."""

    command: str
    outcome: Outcome
    lines: tuple[str, ...] = ()
    """Its information lines, in order, without framing (for a TIMEOUT: those read)."""
    error: AtError | None = None


@dataclass(frozen=True, slots=True)
class Urc:
    """A line that answers no command: an unsolicited result code or an unknown line."""

    line: str


@dataclass(frozen=True, slots=True)
class Prompt:
    """The modem waits for the payload of ``command``: call ``send_payload``."""

    command: str


@dataclass(frozen=True, slots=True)
class Connected:
    """``CONNECT``: the line now carries data (PPP). ``receive`` is closed until
    ``resume_command_mode``."""

    command: str | None
    """The command it answers; None for a late CONNECT with no command pending."""
    text: str
    trailing: bytes
    """The bytes of the same read after the CONNECT line: the start of the data."""
    lines: tuple[str, ...] = ()


AtEvent = CommandDone | Urc | Prompt | Connected


@dataclass(frozen=True, slots=True)
class AtStatistics:
    """What the channel read and what it dropped; peer garbage is counted, never raised."""

    lines: int
    """Non-blank lines of AT text read (echoes, results, information lines, URCs)."""
    urcs: int
    echoes: int
    garbage_lines: int
    """Lines dropped as not AT text: control characters or the PPP flag in them."""
    overlong_lines: int
    """Lines longer than ``max_line``, dropped."""
    excess_lines: int
    """Information lines beyond ``max_info_lines`` for one command, dropped."""
    late_results: int
    """Final results of timed-out commands, dropped."""
    dropped_bytes: int
    """Bytes of garbage and overlong lines."""


CME_ERRORS = {
    0: "phone failure",
    1: "no connection to phone",
    2: "phone-adaptor link reserved",
    3: "operation not allowed",
    4: "operation not supported",
    5: "PH-SIM PIN required",
    10: "SIM not inserted",
    11: "SIM PIN required",
    12: "SIM PUK required",
    13: "SIM failure",
    14: "SIM busy",
    15: "SIM wrong",
    16: "incorrect password",
    17: "SIM PIN2 required",
    18: "SIM PUK2 required",
    20: "memory full",
    21: "invalid index",
    22: "not found",
    23: "memory failure",
    30: "no network service",
    31: "network timeout",
    32: "network not allowed - emergency calls only",
    49: "EAP method not supported",
    50: "incorrect parameters",
    100: "unknown",
    103: "illegal MS",
    106: "illegal ME",
    107: "GPRS services not allowed",
    111: "PLMN not allowed",
    112: "location area not allowed",
    113: "roaming not allowed in this location area",
    132: "service option not supported",
    133: "requested service option not subscribed",
    134: "service option temporarily out of order",
    148: "unspecified GPRS error",
    149: "PDP authentication failure",
    150: "invalid mobile class",
}
"""3GPP TS 27.007 9.2.1 and 9.2.2: the +CME ERROR numbers a data modem reports, with the
verbose text of ``AT+CMEE=2``, so numeric and verbose errors compare equal."""
_CME_BY_TEXT = {" ".join(text.lower().split()): code for code, text in CME_ERRORS.items()}

_SUCCESS = FinalResult()
_CALL_RESULTS = {
    "NO CARRIER": ErrorKind.NO_CARRIER,
    "BUSY": ErrorKind.BUSY,
    "NO ANSWER": ErrorKind.NO_ANSWER,
    "NO DIALTONE": ErrorKind.NO_DIALTONE,
    "NO DIAL TONE": ErrorKind.NO_DIALTONE,
}
_PLAIN_ERRORS = ("ERROR", "COMMAND NOT SUPPORT")
"""ModemManager's "unknown error" lines; the second is from Motorola phones."""
_V0_RESULTS = {
    "0": _SUCCESS,
    "1": FinalResult(connect=""),
    "3": FinalResult(AtError(ErrorKind.NO_CARRIER)),
    "4": FinalResult(AtError(ErrorKind.ERROR)),
    "6": FinalResult(AtError(ErrorKind.NO_DIALTONE)),
    "7": FinalResult(AtError(ErrorKind.BUSY)),
    "8": FinalResult(AtError(ErrorKind.NO_ANSWER)),
}
"""V.250 5.7.1 Table 1, numeric forms (V0)."""
_V0_RING = "2"
_MOBILE_ERROR = re.compile(r"\+(CM[ES]) ERROR(?:\s*:|\s|$)\s*(.*)", re.IGNORECASE)
_MODEM_ERROR = re.compile(r"MODEM ERROR(?:\s*:|\s|$)\s*(.*)", re.IGNORECASE)
"""Motorola EZX phones (ModemManager ``regex_ezx_error``)."""
_NUMBER = re.compile(r"[0-9]{1,9}")

_LINE_END = re.compile(rb"[\r\n]")
_LINE_END_OR_FLAG = re.compile(rb"[\r\n\x7e]")
_NOT_TEXT = re.compile(rb"[\x01-\x08\x0b-\x1f\x7e\x7f]")
"""Bytes no AT text line holds: C0 controls other than TAB, DEL, and the PPP flag."""
_PROMPTS = b">@"
"""V.250 has none; 27.005 3.5.1 ``> `` (Telit, Sequans, Quectel), u-blox SARA ``@``."""
_BASIC = re.compile(r"S[0-9]+(?:=[0-9]*|\?)?|(&?[A-Z])([0-9]*)\??|\s+")
"""One basic command of a command line (V.250 5.3.1), S-parameters apart (5.3.2)."""


def parse_final(line: str, *, numeric: bool = False) -> FinalResult | None:
    """``line`` as a final result code, or None when it is none.

    The order is ModemManager's; whole lines only. ``numeric`` also accepts the V0 forms.
    """
    text = line.strip()
    upper = text.upper()
    if upper == "OK":
        return _SUCCESS
    if upper.startswith("CONNECT") and (len(upper) == 7 or not upper[7].isalpha()):
        return FinalResult(connect=text[7:].strip(" :"))
    match = _MOBILE_ERROR.fullmatch(text)
    if match is not None:
        kind = ErrorKind.CME if match.group(1).upper() == "CME" else ErrorKind.CMS
        return FinalResult(_mobile_error(kind, match.group(2).strip()))
    if upper in _PLAIN_ERRORS:
        return FinalResult(AtError(ErrorKind.ERROR))
    match = _MODEM_ERROR.fullmatch(text)
    if match is not None:
        detail = match.group(1).strip()
        code = int(detail) if _NUMBER.fullmatch(detail) else None
        return FinalResult(AtError(ErrorKind.ERROR, code, "" if code is not None else detail))
    call = _CALL_RESULTS.get(" ".join(upper.split()))
    if call is not None:
        return FinalResult(AtError(call))
    return _V0_RESULTS.get(text) if numeric else None


def _mobile_error(kind: ErrorKind, detail: str) -> AtError:
    """27.007 9.2 (+CME) and 27.005 3.2.5 (+CMS): a number (+CMEE=1) or a text (=2)."""
    known = CME_ERRORS if kind is ErrorKind.CME else {}
    if _NUMBER.fullmatch(detail):
        code = int(detail)
        return AtError(kind, code, known.get(code, ""))
    by_text = _CME_BY_TEXT if kind is ErrorKind.CME else {}
    return AtError(kind, by_text.get(" ".join(detail.lower().split())), detail)


class _Prefixes:
    """Line prefixes matched as whole words: ``+CEREG`` matches ``+CEREG: 1`` and
    ``+CEREG:1``, ``RING`` matches ``RING`` but not ``RINGBACK``."""

    def __init__(self, prefixes: Iterable[str]) -> None:
        if isinstance(prefixes, str):
            raise UsageError("give URC prefixes as a list of strings, not one string")
        self._prefixes = tuple(_prefix(p) for p in prefixes)

    def match(self, line: str) -> bool:
        upper = line.upper()
        return any(_starts_word(upper, prefix) for prefix in self._prefixes)


def _prefix(prefix: str) -> str:
    if not isinstance(prefix, str) or not prefix.strip():
        raise UsageError(f"a line prefix is a non-empty string, not {prefix!r}")
    return prefix.strip().upper()


def _starts_word(line: str, prefix: str) -> bool:
    if not line.startswith(prefix):
        return False
    return len(line) == len(prefix) or prefix[-1] == ":" or not line[len(prefix)].isalnum()


def _basic_settings(command: str) -> dict[str, int]:
    """The E (echo) and V (verbose) values a command line sets, Z and &F resetting both
    to 1 (V.250 6.1.1, 6.1.2, 6.2.4, 6.2.6); only the basic commands before the first
    extended one or D are read."""
    text = command.strip().upper()
    settings: dict[str, int] = {}
    if not text.startswith("AT"):
        return settings
    position = 2
    while position < len(text) and text[position] not in "D+#%$^;":
        match = _BASIC.match(text, position)
        if match is None:  # not V.250 basic syntax: read no further
            break
        name, number = match.group(1), match.group(2)
        if name in ("Z", "&F"):
            settings.update(E=1, V=1)
        elif name in ("E", "V"):
            settings[name] = int(number or 0)
        position = match.end()
    return settings


def _check_command(command: str) -> bytes:
    if not isinstance(command, str) or not command.strip():
        raise UsageError(f"an AT command is a non-empty string, not {command!r}")
    if not command.isascii() or not command.isprintable():
        # V.250 5.1: IA5 characters; CR (S3) would end the line early, LF and Ctrl-Z/ESC
        # mean something else to many modems.
        raise UsageError(f"an AT command is printable ASCII without CR/LF: {command!r}")
    return command.encode("ascii") + b"\r"


def _extra_finals(finals: Mapping[str, bool] | None) -> dict[str, bool]:
    if finals is None:
        return {}
    if not isinstance(finals, Mapping) or not all(
        isinstance(line, str) and line.strip() and isinstance(ok, bool)
        for line, ok in finals.items()
    ):
        raise UsageError(f"extra_finals maps result lines to True/False, not {finals!r}")
    return {" ".join(line.upper().split()): ok for line, ok in finals.items()}


def _vendor_failure(text: str) -> FinalResult:
    return FinalResult(AtError(ErrorKind.ERROR, None, text))


def _check_timeout(timeout: float) -> None:
    if not (isinstance(timeout, int | float) and math.isfinite(timeout) and timeout > 0):
        raise UsageError(f"a timeout is a positive number of seconds, not {timeout!r}")


@dataclass(eq=False, slots=True)
class _Pending:
    """The command in flight and what has been read for it."""

    command: str
    deadline: float
    response_prefix: _Prefixes | None
    awaiting_prompt: bool
    settings: dict[str, int]
    numeric_before: bool
    stale: bool
    """Results read before this command's echo belong to a timed-out command."""
    extra_finals: dict[str, bool]
    """Vendor final results of this command, upper case: True for success."""
    lines: list[str] = field(default_factory=list)
    echo_seen: bool = False
    payload_due: bool = False


class AtChannel:
    """One AT command at a time: bytes in, events out, timeouts as deadlines."""

    def __init__(
        self,
        urcs: Iterable[str] = STANDARD_URCS,
        *,
        numeric: bool = False,
        max_line: int = DEFAULT_MAX_LINE,
        max_info_lines: int = DEFAULT_MAX_INFO_LINES,
    ) -> None:
        if max_line < 16 or max_info_lines < 1:
            raise UsageError("max_line must be at least 16 and max_info_lines at least 1")
        self._urcs = _Prefixes(urcs)
        self._numeric = numeric
        self._max_line = max_line
        self._max_info_lines = max_info_lines
        self._buffer = bytearray()
        self._discarding = False
        """Inside an overlong line: drop everything up to its end."""
        self._pending: _Pending | None = None
        self._online = False
        self._echo: bool | None = None
        """Whether the modem echoes: seen on the last command that completed."""
        self._owed = False
        """A timed-out command's final result may still come."""
        self._counts = {counter.name: 0 for counter in fields(AtStatistics)}

    # ------------------------------------------------------------------ state
    @property
    def pending(self) -> str | None:
        """The command waiting for its result, if any."""
        return None if self._pending is None else self._pending.command

    @property
    def online(self) -> bool:
        """True from ``Connected`` until ``resume_command_mode``."""
        return self._online

    @property
    def numeric(self) -> bool:
        """Whether V0 numeric result codes are recognised now."""
        return self._numeric

    def statistics(self) -> AtStatistics:
        return AtStatistics(**self._counts)

    # ----------------------------------------------------------------- inputs
    def send(
        self,
        command: str,
        now: float,
        timeout: float,
        *,
        response_prefix: str | None = None,
        expect_prompt: bool = False,
        extra_finals: Mapping[str, bool] | None = None,
    ) -> bytes:
        """Start ``command`` (without CR); return the bytes to write."""
        if self._online:
            raise UsageError("the line is in data mode: call resume_command_mode() first")
        if self._pending is not None:
            raise UsageError(f"{self._pending.command!r} is still pending")
        data = _check_command(command)
        _check_timeout(timeout)
        prefix = None if response_prefix is None else _Prefixes([response_prefix])
        finals = _extra_finals(extra_finals)
        settings = _basic_settings(command)
        self._pending = _Pending(
            command=command.strip(),
            deadline=now + timeout,
            response_prefix=prefix,
            awaiting_prompt=expect_prompt,
            settings=settings,
            numeric_before=self._numeric,
            stale=self._owed and self._echo is True,
            extra_finals=finals,
        )
        if "V" in settings:  # V.250 6.2.6: the command's own result is already in the new form
            self._numeric = settings["V"] == 0
        return data

    def send_payload(self, data: bytes, now: float, timeout: float) -> bytes:
        """After ``Prompt``: the payload to write (returned as is); the command then waits
        ``timeout`` seconds for its final result."""
        pending = self._pending
        if pending is None or not pending.payload_due:
            raise UsageError("send_payload() only after a Prompt for the pending command")
        _check_timeout(timeout)
        pending.payload_due = False
        pending.deadline = now + timeout
        return bytes(data)

    def resume_command_mode(self, now: float) -> None:
        """Back to AT after data mode (NO CARRIER seen in the data, or ``+++``)."""
        if not self._online:
            raise UsageError("resume_command_mode() only after Connected")
        self._online = False
        self._buffer.clear()
        self._discarding = False

    def receive(self, data: bytes, now: float) -> list[AtEvent]:
        """Bytes read from the line; the events they complete, in order."""
        if self._online:
            raise UsageError("the line is in data mode: its bytes go to PPP")
        self._buffer += data
        events: list[AtEvent] = []
        while not self._online and self._take(events):
            pass
        if not self._online and len(self._buffer) > self._max_line:
            self._drop_overlong()
        return events

    def next_deadline(self) -> float | None:
        return None if self._pending is None else self._pending.deadline

    def handle_timer(self, now: float) -> list[AtEvent]:
        pending = self._pending
        if pending is None or now < pending.deadline:
            return []
        self._pending = None
        self._owed = True
        self._numeric = pending.numeric_before
        # An echo seen proves the modem echoes; without one it may be off or the modem
        # dead: unknown, so that the next command does not wait for an echo forever.
        self._echo = True if pending.echo_seen else None
        return [CommandDone(pending.command, Outcome.TIMEOUT, tuple(pending.lines))]

    # ------------------------------------------------------------ line codec
    def _take(self, events: list[AtEvent]) -> bool:
        """Consume one line (or prompt, or dropped piece) from the buffer; False when
        nothing complete is left."""
        buffer = self._buffer
        if self._discarding:
            return self._take_discarded()
        if self._take_prompt(events):
            return True
        match = _LINE_END_OR_FLAG.search(buffer)
        if match is None:
            return False
        end = match.start()
        if buffer[end] == 0x7E:
            if self._connect_before_flag(end, events):
                return False
            match = _LINE_END.search(buffer, end)
            if match is None:
                return False  # PPP leftovers: wait for the line end, then drop it all
            end = match.start()
        raw = bytes(buffer[:end])
        crlf = buffer[end : end + 2] == b"\r\n"
        del buffer[: end + (2 if crlf else 1)]
        self._line(raw, events)
        return True

    def _take_discarded(self) -> bool:
        match = _LINE_END.search(self._buffer)
        end = len(self._buffer) if match is None else match.start()
        self._counts["dropped_bytes"] += end
        del self._buffer[:end]
        if match is None:
            return False
        self._discarding = False
        return True

    def _drop_overlong(self) -> None:
        self._counts["overlong_lines"] += 1
        self._counts["dropped_bytes"] += len(self._buffer)
        self._buffer.clear()
        self._discarding = True

    def _take_prompt(self, events: list[AtEvent]) -> bool:
        """27.005 3.5.1 ``> `` (no line end follows it): the modem waits for the payload."""
        pending = self._pending
        if pending is None or not pending.awaiting_prompt:
            return False
        start = len(self._buffer) - len(self._buffer.lstrip(b" "))
        if start == len(self._buffer) or self._buffer[start] not in _PROMPTS:
            return False
        del self._buffer[: start + 1]
        pending.awaiting_prompt = False
        pending.payload_due = True
        events.append(Prompt(pending.command))
        return True

    def _connect_before_flag(self, end: int, events: list[AtEvent]) -> bool:
        """``CONNECT`` glued to the first frame's flag, no line end between them."""
        text = _text(bytes(self._buffer[:end])) if end <= self._max_line else None
        final = None if text is None else parse_final(text, numeric=self._numeric)
        if text is None or final is None or final.connect is None:
            return False
        del self._buffer[:end]
        self._counts["lines"] += 1
        self._go_online(final.connect, events)
        return True

    def _line(self, raw: bytes, events: list[AtEvent]) -> None:
        if len(raw) > self._max_line:
            self._counts["overlong_lines"] += 1
            self._counts["dropped_bytes"] += len(raw)
            return
        text = _text(raw)
        if text is None:
            self._counts["garbage_lines"] += 1
            self._counts["dropped_bytes"] += len(raw)
            return
        if not text:
            return
        self._counts["lines"] += 1
        final = parse_final(text, numeric=self._numeric)
        if final is not None and final.connect is not None:
            self._go_online(final.connect, events)
        elif self._pending is None:
            self._unsolicited(text, final, events)
        else:
            self._answer(self._pending, text, final, events)

    # --------------------------------------------------------------- routing
    def _unsolicited(self, text: str, final: FinalResult | None, events: list[AtEvent]) -> None:
        if final is not None and self._owed:
            self._owed = False
            self._counts["late_results"] += 1
            return
        self._counts["urcs"] += 1
        events.append(Urc("RING" if self._numeric and text == _V0_RING else text))

    def _answer(
        self, pending: _Pending, text: str, final: FinalResult | None, events: list[AtEvent]
    ) -> None:
        if not pending.echo_seen and text.upper() == pending.command.upper():
            pending.echo_seen = True
            pending.stale = self._owed = False
            self._counts["echoes"] += 1
        elif pending.stale:
            self._unsolicited(text, final, events)
            pending.stale = self._owed
        elif final is not None:
            self._complete(pending, final, events)
        elif " ".join(text.upper().split()) in pending.extra_finals:
            ok = pending.extra_finals[" ".join(text.upper().split())]
            self._complete(pending, _SUCCESS if ok else _vendor_failure(text), events)
        elif pending.response_prefix is not None and pending.response_prefix.match(text):
            self._keep(pending, text)
        elif self._urcs.match(text) or (self._numeric and text == _V0_RING):
            self._unsolicited(text, None, events)
        else:
            self._keep(pending, text)

    def _keep(self, pending: _Pending, text: str) -> None:
        if len(pending.lines) < self._max_info_lines:
            pending.lines.append(text)
        else:
            self._counts["excess_lines"] += 1

    def _complete(self, pending: _Pending, final: FinalResult, events: list[AtEvent]) -> None:
        self._pending = None
        self._owed = False
        ok = final.error is None
        self._echo = pending.echo_seen
        if ok and "E" in pending.settings:
            self._echo = pending.settings["E"] == 1
        if not ok:
            self._numeric = pending.numeric_before
        outcome = Outcome.OK if ok else Outcome.FAIL
        events.append(CommandDone(pending.command, outcome, tuple(pending.lines), final.error))

    def _go_online(self, text: str, events: list[AtEvent]) -> None:
        """V.250 6.3.1: after CONNECT the line carries data; the rest of this read too."""
        pending, self._pending = self._pending, None
        self._online = True
        self._owed = False
        trailing = bytes(self._buffer)
        self._buffer.clear()
        command = None if pending is None else pending.command
        lines = () if pending is None else tuple(pending.lines)
        events.append(Connected(command, text, trailing, lines))


def _text(raw: bytes) -> str | None:
    """A line's text without surrounding spaces; None when it is not AT text."""
    raw = raw.replace(b"\x00", b"")
    if _NOT_TEXT.search(raw):
        return None
    return raw.decode("utf-8", "replace").strip(" \t")
