"""The command table: AT command name -> handler, filled in by the ``at_*`` modules.

A handler takes the modem, the parsed command and ``now`` and returns a ``Reply``. Vendor
commands are reached through the profile (its ICCID and authentication commands arrive
here as ``ICCID`` and ``VENDOR-AUTH``; ``aliases`` map the rest onto standard ones).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .at_parser import Command, Digits
from .at_results import Reply

if TYPE_CHECKING:
    from .at_modem import Modem

Handler = Callable[["Modem", Command, float], Reply]
HANDLERS: dict[str, Handler] = {}
VENDOR_HANDLERS: dict[str, dict[str, Handler]] = {}
"""Socket dialect (``SocketDialect.name``) -> its own commands, seen only by the profiles
that speak it (a Quectel has no +SQNSD)."""


def handles(*names: str, vendor: str | None = None) -> Callable[[Handler], Handler]:
    table = HANDLERS if vendor is None else VENDOR_HANDLERS.setdefault(vendor, {})

    def register(handler: Handler) -> Handler:
        for name in names:
            assert name not in table, f"{name} handled twice"
            table[name] = handler
        return handler

    return register


def int_arg(command: Command, index: int, default: int | None = None) -> int | None:
    """Argument ``index`` as an int; ``default`` when absent; None when not a number."""
    if index >= len(command.args) or command.args[index] is None:
        return default
    value = command.args[index]
    return value if isinstance(value, int) else None


def str_arg(command: Command, index: int, default: str = "") -> str:
    if index >= len(command.args) or command.args[index] is None:
        return default
    value = command.args[index]
    return value.text if isinstance(value, Digits) else str(value)
