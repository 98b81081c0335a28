"""The two kinds of failure in netstack.

``MalformedPacket`` is the peer's garbage: raised by parsers internally and always caught
by the layer that called them, which drops the packet and counts it. It never escapes a
public entry point. ``UsageError`` is our own misuse of the API (a bug in the caller).
"""


class MalformedPacket(Exception):
    """Bytes from the peer that do not parse; the caller drops and counts them."""


class UsageError(Exception):
    """The library was called in a way its contract forbids."""
