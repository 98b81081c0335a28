"""A packet pipe that stands in for the TUN where the host's kernel must not be involved.

``pppbridge probe`` tests the paths through the modem without configuring this host: the
data planes (``bridge.data_plane``, ``bridge.atsocket_plane``) move packets between the
modem and ``bridge_end``, which has the TUN's interface (``fileno``, ``read_batch``,
``write``), and the probe sends and receives whole packets on the other end. A
``SOCK_SEQPACKET`` socket pair keeps each packet's boundaries, as a TUN does.
"""

from __future__ import annotations

import asyncio
import socket

READ_SIZE = 65536


class _BridgeEnd:
    """The end the data plane reads and writes, as it would a ``TunDevice``."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def fileno(self) -> int:
        return self._sock.fileno()

    def read_batch(self, max_packets: int) -> list[bytes]:
        packets: list[bytes] = []
        for _ in range(max_packets):
            try:
                packets.append(self._sock.recv(READ_SIZE))
            except BlockingIOError:
                break
        return packets

    def write(self, packet: bytes) -> bool:
        try:
            self._sock.send(packet)
        except (BlockingIOError, ConnectionError):
            return False  # the probe is not reading: the packet is lost, as on a full TUN
        return True


class PacketPair:
    def __init__(self) -> None:
        self._probe, bridge = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._probe.setblocking(False)
        bridge.setblocking(False)
        self._bridge = bridge
        self.bridge_end = _BridgeEnd(bridge)

    def send(self, packet: bytes) -> None:
        """A packet from the probe, as if the host wrote it to the TUN."""
        self._probe.send(packet)

    async def receive(self) -> bytes:
        """The next packet the data plane wrote."""
        return await asyncio.get_running_loop().sock_recv(self._probe, READ_SIZE)

    def close(self) -> None:
        self._probe.close()
        self._bridge.close()
