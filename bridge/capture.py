"""What ``pppbridge run`` records for a post-mortem: ``--pcap FILE`` and ``--transcript FILE``.

- ``FrameTap``: anything that wants each PPP frame of the link, both ways, as
  ``frame(sent, protocol, info)`` (``sent``: we wrote it to the modem). ``SerialTap``
  finds the frames in the raw serial bytes the data plane reads and writes and hands
  them to its taps: the data plane calls ``received(data)`` with the bytes that came
  with CONNECT and after every read, and ``sent(data)`` for every write, nothing else
  (bytes before the first flag, AT leftovers, are skipped). Its deframers are its own,
  never the link's, so a tap cannot change what the link sees.
- ``PcapCapture`` (a ``FrameTap``): the frames in ``bridge.pcap``'s format, direction 1
  for what we sent. Past ``max_bytes`` the file is rotated like logrotate: FILE becomes
  FILE.1, FILE.1 FILE.2 ... up to FILE.``keep``, and the oldest goes. Only captures are
  ever renamed or removed (``is_ppp_capture``): any other file at one of those names is
  refused when the capture opens (``UsageError``), and stops the capture if it appears
  later, never overwritten. A capture of an earlier run at FILE is rotated to FILE.1, not
  lost. Files are made 0600: they hold the traffic. The PAP password is the one thing
  changed in a frame: its octets are ``*`` (same length), as the logs hide it.
- ``TranscriptFile``: a ``logging.Handler`` for the ``pppbridge.modem`` logger, where
  ``bridge.modem_session`` puts the AT dialogue (``> AT``, ``< OK``, secrets already
  masked); one line each, after an ISO 8601 time with milliseconds. Appended to, after
  a header line per run, as the simulator's ``--transcript``.

A capture that cannot be written (disk full) logs one error on ``pppbridge`` and stops;
the bridge goes on: the link matters more than its recording.
"""

from __future__ import annotations

import datetime
import logging
import os
import time
from collections.abc import Callable, Sequence
from typing import Protocol, TextIO

from netstack.errors import UsageError
from netstack.hdlc import Deframer
from netstack.numbers import PapCode
from netstack.numbers import Protocol as PppProtocol

from .entry import close_quietly, os_error_text
from .logs import MODEM_LOGGER, one_line
from .pcap import FILE_HEADER, PcapWriter, is_ppp_capture

log = logging.getLogger("pppbridge")

DEFAULT_PCAP_BYTES = 10_000_000
"""A capture file is rotated before it grows past this (as tcpdump's -C, in octets)."""
DEFAULT_PCAP_FILES = 4
"""Rotated captures kept besides FILE: FILE.1 (newest) to FILE.4."""
_MAX_INFO = 0xFFFF
"""The tap's deframers take any frame the line carries, whatever MRU was negotiated."""


class FrameTap(Protocol):
    def frame(self, sent: bool, protocol: int, info: bytes) -> None:
        """One good PPP frame: ``sent`` True for ours, False for the peer's; the Protocol
        field and the Information field, as ``netstack.hdlc.Deframer`` gives them."""


class SerialTap:
    """Raw serial bytes, both ways -> the PPP frames in them -> every tap, in order."""

    def __init__(self, taps: Sequence[FrameTap]) -> None:
        self.taps = list(taps)
        # ACCM 0: octets are taken as they came, none deleted as line noise: what a
        # frame holds after the link negotiated ACCM 0 is data, and the FCS still
        # drops a frame that noise really did hit.
        self._deframers = {flag: Deframer(accm=0, mru=_MAX_INFO) for flag in (True, False)}

    def received(self, data: bytes) -> None:
        """Bytes read from the modem (the ones after CONNECT too)."""
        self._feed(data, sent=False)

    def sent(self, data: bytes) -> None:
        """Bytes written to the modem, already framed."""
        self._feed(data, sent=True)

    def _feed(self, data: bytes, *, sent: bool) -> None:
        for protocol, info in self._deframers[sent].iter_frames(data):
            for tap in self.taps:
                tap.frame(sent, protocol, info)


class PcapCapture:
    """``--pcap FILE``: a ``FrameTap`` writing rotated capture files (module docstring).
    ``clock`` gives the records' time, seconds since the epoch."""

    def __init__(
        self,
        path: str,
        *,
        max_bytes: int = DEFAULT_PCAP_BYTES,
        keep: int = DEFAULT_PCAP_FILES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_bytes < 1 or keep < 0:
            raise ValueError("a capture needs max_bytes >= 1 and keep >= 0")
        self.path = path
        self.max_bytes = max_bytes
        self.keep = keep
        self._clock = clock
        self._writer: PcapWriter | None = None
        self.rotations = 0
        """Files started after the first one."""

    @classmethod
    def open(
        cls,
        path: str,
        *,
        max_bytes: int = DEFAULT_PCAP_BYTES,
        keep: int = DEFAULT_PCAP_FILES,
        clock: Callable[[], float] = time.time,
    ) -> PcapCapture:
        """A capture started at ``path``; UsageError, naming the switch, if it cannot be:
        a file there (or at a rotated name) that is not a capture of ours, or an OSError."""
        capture = cls(path, max_bytes=max_bytes, keep=keep, clock=clock)
        foreign = capture._foreign_files()
        if foreign:
            raise UsageError(
                f"--pcap {path}: {foreign[0]} exists and is not a PPP capture; "
                "a capture never overwrites a file"
            )
        try:
            capture._start_file()
        except OSError as exc:
            raise UsageError(f"--pcap {path}: {os_error_text(exc)}") from None
        return capture

    @property
    def capturing(self) -> bool:
        return self._writer is not None

    def files(self) -> list[str]:
        """FILE, FILE.1 ... FILE.keep: every name a capture may use, newest first."""
        return [self.path] + [f"{self.path}.{n}" for n in range(1, self.keep + 1)]

    def frame(self, sent: bool, protocol: int, info: bytes) -> None:
        writer = self._writer
        if writer is None:
            return
        frame = b"\xff\x03" + protocol.to_bytes(2, "big") + _masked(protocol, info)
        try:
            full = writer.size + writer.record_size(frame) > self.max_bytes
            if full and writer.size > FILE_HEADER.size:  # a file holds one record at least
                writer = self._rotate()
                if writer is None:
                    return
            writer.write(frame, sent=sent, timestamp=self._clock())
        except OSError as exc:
            self._stop(os_error_text(exc))

    def close(self) -> None:
        if self._writer is not None:
            writer, self._writer = self._writer, None
            _close(writer)

    # ---------------------------------------------------------------- rotation
    def _foreign_files(self) -> list[str]:
        return [name for name in self.files() if _exists(name) and not is_ppp_capture(name)]

    def _start_file(self) -> None:
        """Make room at FILE (an earlier capture there moves on) and open it anew."""
        if _exists(self.path):
            self._shift()
        self._writer = PcapWriter(self.path, mode=0o600)

    def _shift(self) -> None:
        """FILE.(keep-1) -> FILE.keep ... FILE -> FILE.1; FILE.keep's old content goes."""
        names = self.files()
        if self.keep == 0:
            os.unlink(self.path)
            return
        for older, newer in zip(reversed(names[:-1]), reversed(names[1:]), strict=True):
            if _exists(older):
                os.replace(older, newer)

    def _rotate(self) -> PcapWriter | None:
        assert self._writer is not None
        _close(self._writer)
        self._writer = None
        foreign = self._foreign_files()
        if foreign:
            self._stop(f"{foreign[0]} appeared and is not a PPP capture; left alone")
            return None
        self._start_file()
        self.rotations += 1
        return self._writer

    def _stop(self, why: str) -> None:
        log.error("--pcap %s: %s; capture stopped", self.path, why)
        if self._writer is not None:
            _close(self._writer)
            self._writer = None


def _close(writer: PcapWriter) -> None:
    try:
        writer.close()
    except OSError:  # the failed write was reported already; closing retries its flush
        pass


def _exists(name: str) -> bool:
    return os.path.lexists(name)


def _masked(protocol: int, info: bytes) -> bytes:
    """``info`` with the Password of a PAP Authenticate-Request (RFC 1334 2.2.1) turned
    to ``*`` octets; all after the header when the Peer-ID runs past the end."""
    if protocol != PppProtocol.PAP or len(info) < 5 or info[0] != PapCode.AUTHENTICATE_REQUEST:
        return info
    at = 5 + info[4]  # Passwd-Length: after Code, Identifier, Length, Peer-ID Length, Peer-ID
    if at > len(info):
        return info[:4] + b"*" * (len(info) - 4)
    end = min(at + 1 + info[at], len(info)) if at < len(info) else at
    return info[: at + 1] + b"*" * (end - at - 1) + info[end:]


class TranscriptFile(logging.Handler):
    """``--transcript FILE``: the AT dialogue, one line a record, after its time."""

    def __init__(self, stream: TextIO, label: str) -> None:
        super().__init__(logging.DEBUG)
        self.stream = stream
        self.label = label
        """How the user named it: ``--transcript FILE``."""
        self._failed = False
        self._attached: list[tuple[logging.Logger, int]] = []

    @classmethod
    def open(cls, path: str) -> TranscriptFile:
        """Append to ``path`` (made 0600), after the run's header line; UsageError if it
        cannot be opened or written."""
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
            stream = os.fdopen(fd, "a", encoding="utf-8", errors="replace")
        except OSError as exc:
            raise UsageError(f"--transcript {path}: {os_error_text(exc)}") from None
        handler = cls(stream, f"--transcript {path}")
        try:
            handler._write(f"--- pppbridge run {timestamp(time.time())}, pid {os.getpid()} ---")
        except OSError as exc:
            close_quietly(stream)
            raise UsageError(f"--transcript {path}: {os_error_text(exc)}") from None
        return handler

    def attach(self, logger: str = MODEM_LOGGER) -> None:
        """Take the records of ``logger``, DEBUG included (the console's verbosity
        decides only what the console shows, ``bridge.logs``)."""
        target = logging.getLogger(logger)
        self._attached.append((target, target.level))
        target.addHandler(self)
        target.setLevel(logging.DEBUG)

    def emit(self, record: logging.LogRecord) -> None:
        if self._failed:
            return
        try:
            self._write(f"{timestamp(record.created)} {one_line(record.getMessage())}")
        except OSError as exc:
            self._failed = True
            log.error("%s: %s; no more lines are written there", self.label, os_error_text(exc))

    def _write(self, line: str) -> None:
        self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        """Detach (each logger gets its level back) and close the file."""
        for logger, level in reversed(self._attached):
            logger.removeHandler(self)
            logger.setLevel(level)
        self._attached.clear()
        close_quietly(self.stream)
        super().close()


def timestamp(seconds: float) -> str:
    """ISO 8601 local time with milliseconds and the offset: 2024-05-01T12:00:00.123+02:00."""
    moment = datetime.datetime.fromtimestamp(seconds).astimezone()
    return moment.isoformat(timespec="milliseconds")


__all__ = [
    "DEFAULT_PCAP_BYTES",
    "DEFAULT_PCAP_FILES",
    "FrameTap",
    "PcapCapture",
    "SerialTap",
    "TranscriptFile",
    "timestamp",
]
