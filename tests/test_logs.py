"""The log on standard error (``bridge.logs``): syslog priorities when it is the journal,
``pppbridge: `` otherwise; one line a record; what each ``-v`` shows; the ``-vv`` trace.

The journal cases run a child process whose standard error is a Unix stream socket, as
journald gives a service, with ``$JOURNAL_STREAM`` set to that socket's device and inode
as systemd sets it, or to something else."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.logs import (
    ECHO_LOGGER,
    MODEM_LOGGER,
    OUR_LOGGERS,
    PPP_LOGGER,
    PppTrace,
    is_journal_stream,
    one_line,
    setup_logging,
    syslog_priority,
)

REPO = Path(__file__).resolve().parent.parent
CHILD_BOUND = 60.0
"""The child process: a Python start-up and a few lines (idle: 0.2 s)."""
CHILD = """
import logging, sys
from bridge.logs import setup_logging
setup_logging(int(sys.argv[1]))
log = logging.getLogger("pppbridge")
log.critical("critical")
log.error("no carrier")
log.warning("a warning")
log.info("an info")
logging.getLogger("pppbridge.modem").debug("> AT+CPIN=****")
log.warning("two\\nlines")
logging.getLogger("pyroute2").info("a library's info")
"""
LCP_REQUEST = bytes.fromhex("010100140206000000000506074cc23e07020802")
ECHO_REQUEST = bytes.fromhex("09000008074cc23e")


def run_child(verbosity: int, journal_stream: str | None) -> list[str]:
    """The child's standard error, a socket: its lines. ``journal_stream``: "socket" for
    the socket's own device:inode, another value as it is, None for no variable."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with ours, theirs:
        env = {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"}
        if journal_stream == "socket":
            status = os.fstat(theirs.fileno())
            env["JOURNAL_STREAM"] = f"{status.st_dev}:{status.st_ino}"
        elif journal_stream is not None:
            env["JOURNAL_STREAM"] = journal_stream
        result = subprocess.run(
            [sys.executable, "-c", CHILD, str(verbosity)],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=theirs,
            timeout=CHILD_BOUND,
            check=True,
        )
        assert result.returncode == 0
        theirs.close()  # our copy: the reads below end at the child's end
        ours.settimeout(CHILD_BOUND)
        data = b""
        while chunk := ours.recv(65536):
            data += chunk
    return data.decode().splitlines()


def test_journal_gets_syslog_priorities() -> None:
    assert run_child(1, "socket") == [
        "<2>critical",
        "<3>no carrier",
        "<4>a warning",
        "<6>an info",
        "<7>> AT+CPIN=****",
        "<4>two | lines",
    ]


def test_plain_prefix_when_not_the_journal() -> None:
    expected = [
        "pppbridge: critical",
        "pppbridge: no carrier",
        "pppbridge: a warning",
        "pppbridge: two | lines",
    ]
    assert run_child(0, None) == expected
    # $JOURNAL_STREAM inherited, but standard error went elsewhere (a redirection):
    # the sd-daemon convention says the journal is not standard error any more.
    status = os.stat(REPO / "README.md")
    assert run_child(0, f"{status.st_dev}:{status.st_ino}") == expected
    assert run_child(0, "garbage") == expected


def test_journal_stream_of_a_file(tmp_path: Path) -> None:
    path = tmp_path / "stderr"
    with open(path, "w") as stream, open(tmp_path / "other", "w") as other:
        status = os.fstat(stream.fileno())
        value = f"{status.st_dev}:{status.st_ino}"
        assert is_journal_stream(stream, {"JOURNAL_STREAM": value})
        assert not is_journal_stream(other, {"JOURNAL_STREAM": value})
        assert not is_journal_stream(stream, {})
        assert not is_journal_stream(stream, {"JOURNAL_STREAM": f"{value}:1"})
        assert not is_journal_stream(stream, {"JOURNAL_STREAM": f"-{value}"})
    assert not is_journal_stream(io.StringIO(), {"JOURNAL_STREAM": value})
    assert not is_journal_stream(stream, {"JOURNAL_STREAM": value})  # closed


def test_priorities() -> None:
    levels = [logging.CRITICAL, logging.ERROR, logging.WARNING, logging.INFO, logging.DEBUG]
    assert [syslog_priority(level) for level in levels] == [2, 3, 4, 6, 7]
    assert [syslog_priority(level) for level in (45, 35, 25, 15, 5)] == [3, 4, 6, 7, 7]


def test_one_line() -> None:
    assert one_line("a\nb\r\nc\rd") == "a | b | c | d"
    assert one_line("a\n\n  \nb\n") == "a | b"
    assert one_line("tab\tstays, escape \x1b[2J, nul \x00, del \x7f, c1 \x9b") == (
        "tab\tstays, escape \\x1b[2J, nul \\x00, del \\x7f, c1 \\x9b"
    )
    assert one_line("unicode \u2028separator é") == "unicode | separator é"


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """The logging configuration as it was before the test."""
    root = logging.getLogger()
    names = [*OUR_LOGGERS, MODEM_LOGGER, PPP_LOGGER, ECHO_LOGGER]
    levels = {name: logging.getLogger(name).level for name in names}
    handlers, root_level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(root_level)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def shown(verbosity: int) -> list[str]:
    """What the console shows at ``verbosity`` of one record of each kind."""
    out = io.StringIO()
    setup_logging(verbosity, out, environ={})
    logging.getLogger("pppbridge").warning("warning")
    logging.getLogger("bridge.netconfig").info("host change")
    logging.getLogger(MODEM_LOGGER).debug("> AT")
    trace = PppTrace()
    trace.frame(True, 0xC021, LCP_REQUEST)
    trace.frame(False, 0xC021, ECHO_REQUEST)
    trace.frame(False, 0x0021, b"\x45" + bytes(19))  # an IPv4 packet: never logged
    logging.getLogger("pyroute2").info("library info")
    logging.getLogger("pyroute2").warning("library warning")
    return out.getvalue().splitlines()


@pytest.mark.usefixtures("restored_logging")
def test_what_each_verbosity_shows() -> None:
    base = ["pppbridge: warning"]
    library = ["pppbridge: library warning"]
    ours = ["pppbridge: host change", "pppbridge: > AT"]
    negotiation = ["pppbridge: sent [LCP ConfReq id=0x1 <asyncmap 0x0> <magic 0x74cc23e>"
                   " <pcomp> <accomp>]"]  # fmt: skip
    echo = ["pppbridge: rcvd [LCP EchoReq id=0x0 magic=0x74cc23e]"]
    assert shown(0) == base + library
    assert shown(1) == base + ours + library
    assert shown(2) == base + ours + negotiation + library
    assert shown(3) == base + ours + negotiation + echo + library


@pytest.mark.usefixtures("restored_logging")
def test_trace_enabled_from_two() -> None:
    setup_logging(1, io.StringIO(), environ={})
    assert not PppTrace.enabled()
    setup_logging(2, io.StringIO(), environ={})
    assert PppTrace.enabled()


@pytest.mark.usefixtures("restored_logging")
def test_set_up_again_replaces_only_its_own_handler() -> None:
    other = logging.NullHandler()
    logging.getLogger().addHandler(other)
    first, second = io.StringIO(), io.StringIO()
    setup_logging(0, first, environ={})
    setup_logging(0, second, environ={})
    logging.getLogger("pppbridge").error("once")
    assert (first.getvalue(), second.getvalue()) == ("", "pppbridge: once\n")
    assert other in logging.getLogger().handlers


@pytest.mark.usefixtures("restored_logging")
def test_a_closed_stream_is_no_error(capsys: pytest.CaptureFixture[str]) -> None:
    """No one is left to tell: no 'Logging error' traceback on the real standard error."""
    read, write = os.pipe()
    os.close(read)
    stream = open(write, "w")  # noqa: SIM115 - closed below, whatever happens
    try:
        setup_logging(0, stream, environ={})
        logging.getLogger("pppbridge").error("lost")  # a pipe without a reader: EPIPE
        assert capsys.readouterr().err == ""
    finally:
        logging.getLogger().handlers[:] = []
        with contextlib.suppress(BrokenPipeError):  # the line is still in its buffer
            stream.close()


@pytest.mark.usefixtures("restored_logging")
def test_an_exception_stays_on_its_line() -> None:
    out = io.StringIO()
    setup_logging(0, out, environ={})
    try:
        raise ValueError("bad\nvalue")
    except ValueError:
        logging.getLogger("pppbridge").exception("failed")
    [line] = out.getvalue().splitlines()
    assert line.startswith("pppbridge: failed | Traceback (most recent call last):")
    assert line.endswith("ValueError: bad | value")
