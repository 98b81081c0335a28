"""How ``pppbridge run`` ends: its exit statuses, in the spirit of pppd's (pppd(8) "EXIT
STATUS"), so that a script or a service manager can tell the endings apart."""

from __future__ import annotations

from enum import IntEnum


class RunExit(IntEnum):
    """``pppbridge run``'s exit statuses; ``MEANING`` says each in words."""

    STOPPED = 0
    FAILED = 1
    USAGE = 2
    MODEM_NOT_ANSWERING = 3
    SIM = 4
    REGISTRATION = 5
    DIAL_FAILED = 6
    AUTH_FAILED = 7
    MAXFAIL = 8


MEANING = {
    RunExit.STOPPED: "stopped by SIGTERM, SIGINT (Ctrl-C) or SIGHUP, after hanging up and "
    "restoring the host",
    RunExit.FAILED: "an internal error (please report it), or standard output failed",
    RunExit.USAGE: "a user mistake: a bad switch or value; a missing, busy or forbidden "
    "device; no permission for /dev/net/tun or netlink",
    RunExit.MODEM_NOT_ANSWERING: "the modem never answered AT, even after its reset command",
    RunExit.SIM: "the SIM: missing, PIN needed or refused (a PIN is never retried), PUK "
    "needed, blocked",
    RunExit.REGISTRATION: "the network denied registration, or it timed out --maxfail "
    "times in a row",
    RunExit.DIAL_FAILED: "the PDP context or the dial failed --maxfail times in a row",
    RunExit.AUTH_FAILED: "the network refused our PPP authentication (PAP/CHAP)",
    RunExit.MAXFAIL: "the link came up and went down --maxfail times in a row",
}

EXIT_STATUS_HELP = "exit status:\n" + "\n".join(
    f"  {status.value}  {MEANING[status]}" for status in RunExit
)
"""The statuses as ``pppbridge run --help`` shows them."""


class RunEnded(Exception):
    """The run is over: ``status`` to exit with, ``message`` the line to show (if any)."""

    def __init__(self, status: RunExit, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
