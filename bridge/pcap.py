"""PPP frames as a classic libpcap file Wireshark opens: the one format of ``pppbridge run
--pcap`` and ``pppbridge simulate --pcap``.

Format: the libpcap file format (draft-ietf-opsawg-pcap), magic 0xa1b2c3d4, version 2.4,
snaplen 65535, written little-endian (readers tell the byte order by the magic). Link type
204, LINKTYPE_PPP_WITH_DIR: each record is one direction octet (0: received, 1: sent, from
the writer's side of the line) followed by the PPP frame as RFC 1662 carries it,
de-framed: no flags, no FCS, no escapes, starting at the Address field 0xff 0x03 when
present.

Call order: ``PcapWriter(path)``, any number of ``write``, then ``close`` (or use it as a
context manager). Each record is flushed, so a crash leaves a readable file.
``is_ppp_capture`` tells a file of this format (ours to rotate) from any other.
"""

from __future__ import annotations

import os
import stat
import struct
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from .entry import close_quietly

PCAP_MAGIC = 0xA1B2C3D4
PCAP_VERSION = (2, 4)
SNAPLEN = 65535
LINKTYPE_PPP_WITH_DIR = 204
DIRECTION_RECEIVED, DIRECTION_SENT = 0, 1
FILE_HEADER = struct.Struct("<IHHiIII")
RECORD_HEADER = struct.Struct("<IIII")
_MICROSECONDS = 1_000_000


class PcapWriter:
    """Writes PPP frames to a new capture file at ``path``. A file that exists is never
    overwritten (FileExistsError): it is not ours. ``mode``: the new file's permissions
    (before the umask); captures hold the traffic, so the bridge makes them 0600."""

    def __init__(self, path: str | Path, mode: int = 0o666) -> None:
        self.path = str(path)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
        self._file: BinaryIO = os.fdopen(os.open(path, flags, mode), "wb")  # see close()
        major, minor = PCAP_VERSION
        header = FILE_HEADER.pack(PCAP_MAGIC, major, minor, 0, 0, SNAPLEN, LINKTYPE_PPP_WITH_DIR)
        try:
            self._file.write(header)
            self._file.flush()
        except BaseException:
            close_quietly(self._file)
            raise
        self.size = len(header)
        """Octets in the file so far."""

    @staticmethod
    def record_size(frame: bytes) -> int:
        """What ``write(frame, ...)`` adds to the file."""
        return RECORD_HEADER.size + min(1 + len(frame), SNAPLEN)

    def write(self, frame: bytes, *, sent: bool, timestamp: float) -> None:
        """Record one de-framed PPP frame; ``sent`` is True for frames the writer's side
        sent, ``timestamp`` is seconds since the epoch. Frames beyond the snaplen are cut."""
        data = bytes([DIRECTION_SENT if sent else DIRECTION_RECEIVED]) + frame
        seconds, micros = divmod(round(timestamp * _MICROSECONDS), _MICROSECONDS)
        captured = data[:SNAPLEN]
        header = RECORD_HEADER.pack(seconds, micros, len(captured), len(data))
        self._file.write(header + captured)
        self._file.flush()
        self.size += len(header) + len(captured)

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> PcapWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def is_ppp_capture(path: str | Path) -> bool:
    """True if ``path`` is a regular file that starts like ours: a libpcap header (either
    byte order, microseconds or nanoseconds) of link type LINKTYPE_PPP_WITH_DIR. False
    for anything else, a file that cannot be read included."""
    try:
        # Non-blocking: a FIFO at that path must not hang the caller.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        header = os.read(fd, FILE_HEADER.size)
    except OSError:
        return False
    finally:
        os.close(fd)
    if len(header) < FILE_HEADER.size:
        return False
    for order in "<>":
        magic, *_, linktype = struct.unpack(order + FILE_HEADER.format[1:], header)
        if magic in (PCAP_MAGIC, _PCAP_MAGIC_NANOSECONDS):
            return bool(linktype & 0x0FFFFFFF == LINKTYPE_PPP_WITH_DIR)
    return False


_PCAP_MAGIC_NANOSECONDS = 0xA1B23C4D
