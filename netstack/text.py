"""Text from the peer for a person to read: a Terminate-Request's reason (RFC 1661 5.5),
PAP's Msg (RFC 1334 2.2.2), CHAP's Message (RFC 1994 4.3). Any octets may arrive there;
what reaches a log or an error is decoded leniently, printable and bounded."""

from __future__ import annotations

PEER_TEXT_LIMIT = 100
"""Characters of peer text kept; operators' reasons are short sentences."""


def peer_text(data: bytes, limit: int = PEER_TEXT_LIMIT) -> str:
    """``data`` as UTF-8 (bad sequences replaced), each run of control or other
    unprintable characters and whitespace folded into one space, cut to ``limit``."""
    text = data[: limit * 4].decode("utf-8", "replace")  # 4: the longest UTF-8 sequence
    shown = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return shown if len(shown) <= limit else shown[: limit - 1] + "\u2026"
