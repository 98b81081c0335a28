"""The active context's addresses, read on a second AT port while PPP holds the first;
pure.

When PPP cannot carry IPv6 (IPV6CP rejected) the modem's own sockets can: the bridge
needs the context's IPv6 address and DNS servers for the TUN, and reads them on
``--at-port``. ``ContextRead`` is the bring-up (``BringUp``) with another second script:
the same probe (synchronise, ``ATE0``, ``AT+CMEE=1``, identification: a fresh port
needs the first three too), then ``address_chats`` (+CGPIAF, +CGPADDR, +CGCONTRDP),
nothing dialled or changed. It ends with ``Attached`` or ``BringUpFailed``; the call
order is ``BringUp``'s.
"""

from __future__ import annotations

from .bringup import BringUp
from .events import BringUpOutput
from .script import address_chats


class ContextRead(BringUp):
    def _pick_profile(self, out: list[BringUpOutput]) -> None:
        super()._pick_profile(out)
        self._script = tuple(address_chats(self._settings))
        self._labels = {}
