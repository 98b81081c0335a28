"""The log of ``pppbridge run`` on standard error: one event a line, for a person or the
journal.

``setup_logging(verbosity)`` puts one handler on the root logger. Each record is one
line: line breaks inside it (a hook's output, a traceback) become `` | ``, other control
characters ``\\xNN``, so neither a peer's text nor a modem's reply can forge a line or
drive the terminal. When standard error is the journal (systemd sets
``$JOURNAL_STREAM`` to its ``device:inode``, compared with ``fstat``, the sd-daemon
convention) a line starts with its syslog priority, ``<3>`` error, ``<4>`` warning,
``<6>`` info, ``<7>`` debug (``<2>`` critical), which journald strips and stores;
otherwise with ``pppbridge: ``.

What is shown, by ``-v`` count (standard output keeps the phase lines, ``bridge.entry``):

- 0: warnings and errors, ours and libraries'.
- 1 (``-v``): our loggers' info and debug too: the AT dialogue (``pppbridge.modem``,
  secrets masked by the bring-up), what is changed on the host, hooks' output.
- 2 (``-vv``): the PPP negotiation as pppd's debug shows it, ``sent [LCP ConfReq id=0x1
  ...]``, on ``pppbridge.ppp`` (``PppTrace``, a ``bridge.capture.FrameTap``): every
  control packet both ways, no IP packets, no LCP echoes.
- 3 (``-vvv``): the LCP Echo-Requests and Replies too (``pppbridge.ppp.echo``), as pppd's
  ``debug debug``.

Libraries' info and debug are never shown. The verbosity is a filter on the console
handler, not only logger levels, so another handler (``--transcript``) may take our
debug records without the console showing them.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from typing import TextIO

from netstack.describe import describe, is_control, is_echo

OUR_LOGGERS = ("pppbridge", "bridge")
"""Our named loggers, and our modules' own (``logging.getLogger(__name__)``)."""
MODEM_LOGGER = "pppbridge.modem"
"""The AT dialogue (``bridge.modem_session``)."""
PHASE_LOGGER = "pppbridge.phase"
"""The phase lines ("registered...", "ready..."), when they go to the journal instead of
standard output (``phase_to_journal``): shown at every verbosity, priority 6 (info)."""
PPP_LOGGER = "pppbridge.ppp"
"""The PPP negotiation in pppd's words (``PppTrace``), from ``-vv``."""
ECHO_LOGGER = "pppbridge.ppp.echo"
"""LCP echoes in pppd's words, from ``-vvv``."""
PLAIN_PREFIX = "pppbridge: "
_PRIORITIES = (
    (logging.CRITICAL, 2),
    (logging.ERROR, 3),
    (logging.WARNING, 4),
    (logging.INFO, 6),
)
"""Python level (at least) -> syslog priority (RFC 5424 6.2.1); below INFO: 7, debug."""
_ESCAPED = {code: f"\\x{code:02x}" for code in (*range(0x20), *range(0x7F, 0xA0)) if code != 0x09}
"""Control characters other than TAB (C0, DEL, C1) -> their ``\\xNN`` escape."""


def setup_logging(
    verbosity: int,
    stream: TextIO | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> logging.Handler:
    """Log to ``stream`` (standard error) at ``verbosity`` (the number of ``-v``); call it
    again to change either: it replaces its own handler, and leaves others alone.
    ``environ`` (``os.environ``) gives ``$JOURNAL_STREAM``. Returns the handler."""
    stream = sys.stderr if stream is None else stream
    journal = is_journal_stream(stream, os.environ if environ is None else environ)
    handler = ConsoleHandler(stream, journal)
    handler.addFilter(VerbosityFilter(verbosity))
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, ConsoleHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    for name in OUR_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if verbosity >= 1 else logging.WARNING)
    logging.getLogger(PPP_LOGGER).setLevel(logging.DEBUG if verbosity >= 2 else logging.WARNING)
    logging.getLogger(PHASE_LOGGER).setLevel(logging.INFO)
    logging.getLogger(ECHO_LOGGER).setLevel(logging.DEBUG if verbosity >= 3 else logging.WARNING)
    return handler


def is_journal_stream(stream: TextIO, environ: Mapping[str, str]) -> bool:
    """True if ``stream`` is the journal's stream: ``$JOURNAL_STREAM`` is the
    ``<device>:<inode>`` of its descriptor, in decimal (systemd.exec(5)). A stream that
    has no descriptor, or was redirected elsewhere since, is not."""
    device, colon, inode = environ.get("JOURNAL_STREAM", "").partition(":")
    if not (colon and device.isdecimal() and inode.isdecimal()):
        return False
    try:
        status = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):  # io.UnsupportedOperation is both
        return False
    return (status.st_dev, status.st_ino) == (int(device), int(inode))


def syslog_priority(level: int) -> int:
    for threshold, priority in _PRIORITIES:
        if level >= threshold:
            return priority
    return 7


def one_line(text: str) -> str:
    """``text`` as one line: line breaks -> `` | `` (blank lines dropped), every other
    control character but TAB -> ``\\xNN``."""
    lines = [line.rstrip() for line in text.splitlines()]
    return " | ".join(line for line in lines if line.strip()).translate(_ESCAPED)


class LineFormatter(logging.Formatter):
    """One record, one line: the message, then its exception or stack if any."""

    def __init__(self, journal: bool) -> None:
        super().__init__()
        self.journal = journal

    def format(self, record: logging.LogRecord) -> str:
        parts = [record.getMessage()]
        if record.exc_info:
            parts.append(self.formatException(record.exc_info))
        if record.stack_info:
            parts.append(self.formatStack(record.stack_info))
        text = one_line("\n".join(parts))
        if self.journal:
            return f"<{syslog_priority(record.levelno)}>{text}"
        return PLAIN_PREFIX + text


class ConsoleHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Standard error's handler. A line that cannot be written is dropped without a word:
    there is no one left to tell (``bridge.entry.say``)."""

    def __init__(self, stream: TextIO, journal: bool) -> None:
        super().__init__(stream)
        self.journal = journal
        self.setFormatter(LineFormatter(journal))

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handleError(record)  # a bug of ours (a bad format string): say so


class VerbosityFilter(logging.Filter):
    """Which records the console shows at a verbosity (the module docstring's table)."""

    def __init__(self, verbosity: int) -> None:
        super().__init__()
        self.verbosity = verbosity

    def filter(self, record: logging.LogRecord) -> bool:
        if _within(record.name, PHASE_LOGGER):
            return True
        if _within(record.name, ECHO_LOGGER):
            return self.verbosity >= 3 or record.levelno >= logging.WARNING
        if _within(record.name, PPP_LOGGER):
            return self.verbosity >= 2 or record.levelno >= logging.WARNING
        if any(_within(record.name, name) for name in OUR_LOGGERS):
            return self.verbosity >= 1 or record.levelno >= logging.WARNING
        return record.levelno >= logging.WARNING


def _within(name: str, parent: str) -> bool:
    return name == parent or name.startswith(parent + ".")


class PppTrace:
    """The ``-vv`` trace, a ``bridge.capture.FrameTap``: each control packet, in or out,
    as ``sent [...]``/``rcvd [...]`` in pppd's words (``netstack.describe``), at DEBUG on
    ``pppbridge.ppp``, LCP echoes on ``pppbridge.ppp.echo``. IP packets are not logged.
    Described only when the logger would take the line."""

    def __init__(self) -> None:
        self._log = logging.getLogger(PPP_LOGGER)
        self._echo = logging.getLogger(ECHO_LOGGER)

    @staticmethod
    def enabled() -> bool:
        """Whether a trace would log anything now (after ``setup_logging``): without it,
        the data plane need not look for frames at all."""
        return logging.getLogger(PPP_LOGGER).isEnabledFor(logging.DEBUG)

    def frame(self, sent: bool, protocol: int, info: bytes) -> None:
        if not is_control(protocol):
            return
        log = self._echo if is_echo(protocol, info) else self._log
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s %s", "sent" if sent else "rcvd", describe(protocol, info))


def phase_to_journal(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the phase lines go to the journal, as log records with their priority
    (standard error is the journal's stream), rather than to standard output."""
    return is_journal_stream(sys.stderr, os.environ if environ is None else environ)
