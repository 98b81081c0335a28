"""How ``pppbridge status``, ``info`` and ``at`` end: one table of exit statuses.

Every ending other than success is one line on standard error, never a traceback.
"""

from __future__ import annotations

from enum import IntEnum


class ClientExit(IntEnum):
    OK = 0
    FAILED = 1
    """``at``: the modem answered an error result (ERROR, +CME ERROR, +CMS ERROR, NO
    CARRIER, BUSY...); any command: an internal error, or standard output failed."""
    USAGE = 2
    """A bad switch or value; a device missing, busy or not a terminal."""
    NO_ANSWER = 3
    """The modem did not answer: ``at``, no final result within ``--timeout``; ``info``,
    no answer to AT at all."""
    REFUSED = 4
    """``at`` through a running bridge: it cannot run the command now (its only AT port
    carries PPP; give it ``--at-port``)."""
    NO_BRIDGE = 5
    """No bridge runs as that instance (no socket, or nobody listens on it), or it did
    not answer in time."""


EXIT_HELP = """\
exit status:
  0  done (at: the modem answered OK or CONNECT)
  1  at: the modem answered an error (ERROR, +CME ERROR, NO CARRIER...);
     any: an internal error, or standard output failed
  2  bad command line: a bad switch or value; a device missing, busy or not a terminal
  3  the modem did not answer (at: no final result within --timeout)
  4  at: the running bridge cannot run it now (its only AT port carries PPP)
  5  no bridge runs as that instance, or it did not answer in time"""
"""The exit statuses as ``--help`` shows them."""


class ClientError(Exception):
    """A command ends with ``status`` and the one line of its message."""

    def __init__(self, status: ClientExit, message: str) -> None:
        super().__init__(message)
        self.status = status
