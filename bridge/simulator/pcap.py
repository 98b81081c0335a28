"""A capture of the simulator's PPP link, as a classic libpcap file Wireshark opens.

Format: the libpcap file format (draft-ietf-opsawg-pcap), magic 0xa1b2c3d4, version 2.4,
snaplen 65535, written little-endian (readers tell the byte order by the magic). Link type
204, LINKTYPE_PPP_WITH_DIR: each record is one direction octet (0: received by the
simulator, 1: sent by it) followed by the PPP frame as RFC 1662 carries it, de-framed:
no flags, no FCS, no escapes, starting at the Address field 0xff 0x03 when present.

Call order: ``PcapWriter(path)``, any number of ``write``, then ``close`` (or use it as a
context manager). Each record is flushed, so a crash leaves a readable file.
"""

from __future__ import annotations

import struct
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from ..entry import close_quietly

PCAP_MAGIC = 0xA1B2C3D4
PCAP_VERSION = (2, 4)
SNAPLEN = 65535
LINKTYPE_PPP_WITH_DIR = 204
DIRECTION_RECEIVED, DIRECTION_SENT = 0, 1
_FILE_HEADER = struct.Struct("<IHHiIII")
_RECORD_HEADER = struct.Struct("<IIII")
_MICROSECONDS = 1_000_000


class PcapWriter:
    """Writes PPP frames to a new capture file at ``path``. A file that exists is never
    overwritten (FileExistsError): it is not ours."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._file: BinaryIO = open(path, "xb")  # closed by close()
        major, minor = PCAP_VERSION
        try:
            self._file.write(
                _FILE_HEADER.pack(PCAP_MAGIC, major, minor, 0, 0, SNAPLEN, LINKTYPE_PPP_WITH_DIR)
            )
            self._file.flush()
        except BaseException:
            close_quietly(self._file)
            raise

    def write(self, frame: bytes, *, sent: bool, timestamp: float) -> None:
        """Record one de-framed PPP frame; ``sent`` is True for frames the simulator sent,
        ``timestamp`` is seconds since the epoch. Frames beyond the snaplen are cut."""
        data = bytes([DIRECTION_SENT if sent else DIRECTION_RECEIVED]) + frame
        seconds, micros = divmod(round(timestamp * _MICROSECONDS), _MICROSECONDS)
        captured = data[:SNAPLEN]
        header = _RECORD_HEADER.pack(seconds, micros, len(captured), len(data))
        self._file.write(header + captured)
        self._file.flush()

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
