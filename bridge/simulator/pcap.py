"""The simulator's capture of its PPP link (``--pcap``): ``bridge.pcap``'s format, where
direction 0 is a frame the simulator received and 1 one it sent."""

from __future__ import annotations

from ..pcap import LINKTYPE_PPP_WITH_DIR, SNAPLEN, PcapWriter

__all__ = ["LINKTYPE_PPP_WITH_DIR", "SNAPLEN", "PcapWriter"]
